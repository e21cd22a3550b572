//! Reading a compose file the way Compose reads it: parsed strictly, `<<` merge keys
//! applied, values looked up per service.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::command_flags::{self, Form};
use super::{ComposeError, ComposeFile};
use crate::roles::{Role, RoleMap};
use crate::settings::{Observed, ObservedMysql, ObservedRedis};

/// Parses `text` strictly and applies merge keys. The top level must be a mapping with a
/// `services:` mapping.
pub(crate) fn parse_document(path: &Path, text: &str) -> Result<Mapping, ComposeError> {
    let mut value: Value = serde_yaml_ng::from_str(text).map_err(|e| invalid_yaml(path, &e))?;
    value.apply_merge().map_err(|e| invalid_yaml(path, &e))?;
    let not_compose = |reason: &str| ComposeError::NotCompose {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let Value::Mapping(doc) = value else {
        return Err(not_compose(if value.is_null() {
            "it is empty"
        } else {
            "its top level is not a mapping of keys"
        }));
    };
    match doc.get("services") {
        Some(Value::Mapping(services)) => {
            if services.values().any(|s| !s.is_mapping()) {
                return Err(not_compose("a service under `services:` is not a mapping"));
            }
        }
        Some(_) => return Err(not_compose("`services:` is not a mapping of services")),
        None => return Err(not_compose("it has no `services:`")),
    }
    Ok(doc)
}

fn invalid_yaml(path: &Path, e: &serde_yaml_ng::Error) -> ComposeError {
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    // libyaml's message ends with its own copy of the position; it is given once, up front.
    let message = e
        .to_string()
        .replacen(&format!(" at line {line} column {column}"), "", 1);
    ComposeError::InvalidYaml {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

fn services(doc: &Mapping) -> impl Iterator<Item = (String, &Mapping)> {
    doc.get("services")
        .and_then(Value::as_mapping)
        .into_iter()
        .flat_map(|s| s.iter())
        .filter_map(|(k, v)| Some((scalar_text(k)?, v.as_mapping()?)))
}

/// The service `name`. A lookup by key, as this is called per service (a scan per call
/// made the role resolution quadratic in the number of services); only a name written as
/// a number or a boolean (`1:`) takes the scan.
pub(crate) fn service<'a>(doc: &'a Mapping, name: &str) -> Option<&'a Mapping> {
    let all = doc.get("services")?.as_mapping()?;
    match all.get(name) {
        Some(svc) => svc.as_mapping(),
        None => all
            .iter()
            .filter(|(k, _)| !k.is_string())
            .find(|(k, _)| scalar_text(k).as_deref() == Some(name))
            .and_then(|(_, s)| s.as_mapping()),
    }
}

pub(crate) fn service_names(doc: &Mapping) -> Vec<String> {
    services(doc).map(|(n, _)| n).collect()
}

/// A scalar as text, the way Compose reads `cpus: 0.5` and `cpus: '0.5'` alike.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The value at `keys` under `map`.
pub(crate) fn lookup<'a>(map: &'a Mapping, keys: &[&str]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    let value = map.get(*first)?;
    if rest.is_empty() {
        Some(value)
    } else {
        lookup(value.as_mapping()?, rest)
    }
}

/// The name of the service playing `role`, or an error when the role is not here.
pub(crate) fn role_name<'r>(
    file: &ComposeFile,
    roles: &'r RoleMap,
    role: Role,
) -> Result<&'r str, ComposeError> {
    roles
        .service(role)
        .ok_or_else(|| ComposeError::RoleNotHere {
            path: file.path.clone(),
            role,
        })
}

/// The service playing `role`, or an error saying how to map it.
pub(crate) fn role_service<'a>(
    file: &'a ComposeFile,
    roles: &RoleMap,
    role: Role,
) -> Result<&'a Mapping, ComposeError> {
    let name = role_name(file, roles, role)?;
    service(&file.doc, name).ok_or_else(|| ComposeError::MissingService {
        path: file.path.clone(),
        role,
        service: name.to_string(),
        available: service_names(&file.doc),
    })
}

/// A service's `command:` as words, and how it is written. `None` when it has none.
pub(crate) fn command_words(
    file: &ComposeFile,
    name: &str,
    service: &Mapping,
) -> Result<Option<(Form, Vec<String>)>, ComposeError> {
    let bad = |value: String, reason: &str| ComposeError::BadValue {
        path: file.path.clone(),
        service: name.to_string(),
        key: "command".to_string(),
        value,
        reason: reason.to_string(),
    };
    match service.get("command") {
        None | Some(Value::Null) => Ok(None),
        // A script (a `|` block of shell commands) holds no flags xzup reads or edits.
        Some(Value::String(s)) if command_flags::is_script(s) => Ok(None),
        Some(Value::String(s)) => match command_flags::split_string(s) {
            Some(tokens) => Ok(Some((
                Form::String,
                tokens.into_iter().map(|t| t.text).collect(),
            ))),
            // Not the text: a command line can hold a password.
            None => Err(bad("…".to_string(), "a quote in it is not closed")),
        },
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|item| {
                scalar_text(item).ok_or_else(|| bad("[…]".to_string(), "an item is not a string"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|words| Some((Form::List, words))),
        Some(_) => Err(bad(
            "{…}".to_string(),
            "it is neither a string nor a list of strings",
        )),
    }
}

fn flag_error(file: &ComposeFile, name: &str, e: command_flags::FlagError) -> ComposeError {
    ComposeError::BadValue {
        path: file.path.clone(),
        service: name.to_string(),
        key: "command".to_string(),
        value: e.flag,
        reason: e.reason,
    }
}

pub(crate) fn observe(file: &ComposeFile, roles: &RoleMap) -> Result<Observed, ComposeError> {
    let mut services = BTreeMap::new();
    for (role, name) in roles.iter() {
        let service = role_service(file, roles, role)?;
        services.insert(role, super::resources::observe(file, name, service)?);
    }
    // The flags of a role that is not here (MySQL on another host) are nobody's to read.
    let mysql = match roles.service(Role::Db) {
        Some(db) => match command_words(file, db, role_service(file, roles, Role::Db)?)? {
            Some((_, words)) => command_flags::read_mysql(&substituted(file, &words))
                .map_err(|e| flag_error(file, db, e))?,
            None => ObservedMysql::default(),
        },
        None => ObservedMysql::default(),
    };
    let redis = match roles.service(Role::Redis) {
        Some(name) => match command_words(file, name, role_service(file, roles, Role::Redis)?)? {
            Some((_, words)) => command_flags::read_redis(&substituted(file, &words))
                .map_err(|e| flag_error(file, name, e))?,
            None => ObservedRedis::default(),
        },
        None => ObservedRedis::default(),
    };
    Ok(Observed {
        services,
        mysql,
        redis,
    })
}

/// Command words as Compose passes them: variables substituted (a word that cannot be
/// substituted is kept as written, and reads as what it is).
pub(crate) fn substituted(file: &ComposeFile, words: &[String]) -> Vec<String> {
    words
        .iter()
        .map(|w| super::env::interpolate(w, &file.env).unwrap_or_else(|_| w.clone()))
        .collect()
}

pub(crate) fn images(doc: &Mapping) -> BTreeMap<String, String> {
    services(doc)
        .filter_map(|(name, s)| Some((name, scalar_text(s.get("image")?)?)))
        .collect()
}

pub(crate) fn container_names(doc: &Mapping) -> BTreeMap<String, String> {
    services(doc)
        .filter_map(|(name, s)| Some((name, scalar_text(s.get("container_name")?)?)))
        .collect()
}

/// `environment:` as Compose reads it: `- KEY=VALUE` items or a `KEY: VALUE` mapping.
/// A bare `- KEY` or `KEY:` takes its value from xzup's caller's environment in Compose;
/// such names are left out, as xzup does not know the value.
pub(crate) fn environment(doc: &Mapping, name: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    match service(doc, name).and_then(|s| s.get("environment")) {
        Some(Value::Sequence(items)) => {
            for item in items.iter().filter_map(scalar_text) {
                if let Some((key, value)) = item.split_once('=') {
                    env.insert(key.to_string(), value.to_string());
                }
            }
        }
        Some(Value::Mapping(map)) => {
            for (key, value) in map {
                if let (Some(key), Some(value)) = (scalar_text(key), scalar_text(value)) {
                    env.insert(key, value);
                }
            }
        }
        _ => {}
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ComposeFile {
        ComposeFile::parse(Path::new("/srv/xz/docker-compose.yml"), text.to_string()).unwrap()
    }

    fn parse_err(text: &str) -> ComposeError {
        ComposeFile::parse(Path::new("/srv/xz/docker-compose.yml"), text.to_string()).unwrap_err()
    }

    #[test]
    fn invalid_yaml_has_line_and_column() {
        let err = parse_err("services:\n  a:\n    image: x: y\n");
        assert_eq!(
            err.to_string(),
            "`/srv/xz/docker-compose.yml` is not valid YAML at line 3, column 13: \
             mapping values are not allowed in this context"
        );
        assert!(err.hint().is_some());

        // A key indented wrong: the lossless editor would take it silently.
        let err = parse_err("services:\n  a:\n    image: x\n   bad: 1\n");
        let ComposeError::InvalidYaml { line, column, .. } = err else {
            panic!("{err}")
        };
        assert_eq!((line, column), (4, 4));

        let err = parse_err("services:\n\ta: 1\n");
        assert!(
            matches!(
                err,
                ComposeError::InvalidYaml {
                    line: 2,
                    column: 1,
                    ..
                }
            ),
            "{err}"
        );

        let err = parse_err("services:\n  a:\n    image: \"x\n");
        assert!(
            matches!(err, ComposeError::InvalidYaml { line: 4, .. }),
            "{err}"
        );

        let err = parse_err("services:\n  a:\n    image: x\n  a:\n    image: y\n");
        assert!(err.to_string().contains("duplicate entry"), "{err}");
    }

    #[test]
    fn unreadable_files() {
        let err = ComposeFile::load(Path::new("/nonexistent/docker-compose.yml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read `/nonexistent/docker-compose.yml`: No such file or directory (os error 2)"
        );
        assert!(err.hint().is_some());
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("compose.yml");
        std::fs::write(&path, b"services:\n  a: {image: \xff}\n").unwrap();
        let err = ComposeFile::load(&path).unwrap_err();
        assert!(matches!(err, ComposeError::Read { .. }), "{err}");
        let err = ComposeFile::load(tmp.path()).unwrap_err();
        assert!(matches!(err, ComposeError::Read { .. }), "{err}");
    }

    #[test]
    fn not_a_compose_file() {
        assert_eq!(
            parse_err("").to_string(),
            "`/srv/xz/docker-compose.yml` is not a compose file: it is empty"
        );
        assert_eq!(
            parse_err("- a\n- b\n").to_string(),
            "`/srv/xz/docker-compose.yml` is not a compose file: its top level is not a \
             mapping of keys"
        );
        assert_eq!(
            parse_err("version: '3'\n").to_string(),
            "`/srv/xz/docker-compose.yml` is not a compose file: it has no `services:`"
        );
        assert!(matches!(
            parse_err("services: [a]\n"),
            ComposeError::NotCompose { .. }
        ));
    }

    #[test]
    fn services_in_file_order() {
        let f = file("services:\n  zeta: {image: z}\n  alpha: {image: a}\n  mid:\n    image: m\n");
        assert_eq!(f.services(), ["zeta", "alpha", "mid"]);
        assert_eq!(f.images()["alpha"], "a");
    }

    #[test]
    fn environment_in_both_forms() {
        let f = file(
            "services:\n  a:\n    environment:\n      - TZ=Asia/Shanghai\n      - URL=x?a=b\n      - FROM_HOST\n  b:\n    environment:\n      PORT: 6379\n      EMPTY:\n      NAME: \"n\"\n",
        );
        let a = f.environment("a");
        assert_eq!(a.len(), 2);
        assert_eq!(a["URL"], "x?a=b");
        let b = f.environment("b");
        assert_eq!(b.len(), 2);
        assert_eq!(b["PORT"], "6379");
        assert!(f.environment("nope").is_empty());
    }

    #[test]
    fn secrets_from_environment_and_redis_command() {
        let f = file(
            "services:\n  db:\n    environment:\n      - MYSQL_ROOT_PASSWORD=123456\n      - MYSQL_DATABASE=x\n      - SPRING_DATA_REDIS_PASSWORD=\n  web:\n    environment:\n      API_TOKEN: \"tok\"\n      my_secret_key: 42\n      PASSWD: '\"quoted\"'\n  redis:\n    command: redis-server --requirepass hunter2\n",
        );
        assert_eq!(
            f.secrets(),
            ["\"quoted\"", "123456", "42", "hunter2", "quoted", "tok"]
        );
    }

    #[test]
    fn debug_output_hides_the_text() {
        let f = file("services:\n  db:\n    environment:\n      - MYSQL_ROOT_PASSWORD=123456\n");
        let shown = format!("{f:?}");
        assert!(!shown.contains("123456"), "{shown}");
        assert!(shown.contains("\"db\""), "{shown}");
    }

    #[test]
    fn container_names() {
        let f = file("services:\n  a:\n    container_name: pinned\n  b:\n    image: x\n");
        assert_eq!(f.container_name("a").as_deref(), Some("pinned"));
        assert_eq!(f.container_name("b"), None);
        assert_eq!(f.container_names().len(), 1);
    }

    #[test]
    fn a_service_is_found_by_its_name_however_the_name_is_written() {
        let f = file("services:\n  web: {image: w}\n  8080: {image: n}\n  true: {image: b}\n");
        let image = |name: &str| {
            service(&f.doc, name)
                .and_then(|s| s.get("image"))
                .and_then(scalar_text)
        };
        assert_eq!(image("web").as_deref(), Some("w"));
        assert_eq!(image("8080").as_deref(), Some("n"));
        assert_eq!(image("true").as_deref(), Some("b"));
        assert_eq!(image("nope"), None);
    }

    #[test]
    fn merge_keys_are_applied_when_reading() {
        let f = file(
            "x-res: &res\n  deploy:\n    resources:\n      limits: {cpus: '1', memory: 1G}\nservices:\n  a:\n    <<: *res\n    image: x\n",
        );
        let svc = service(&f.doc, "a").unwrap();
        assert_eq!(
            lookup(svc, &["deploy", "resources", "limits", "memory"]).and_then(scalar_text),
            Some("1G".to_string())
        );
    }
}
