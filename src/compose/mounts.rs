//! A service's mounts as Compose reads them: every entry of its `volumes:`, in the short
//! (`SOURCE:TARGET[:MODE]`) and the long (`type: bind|volume|tmpfs`) syntax, with `${VAR}`
//! substituted the way Compose substitutes it ([`super::env`]: the shell over `.env`), host
//! paths resolved against the project directory, and each named volume tied to the engine
//! volume the top-level `volumes:` makes of it.
//!
//! Compose interpolates the whole file before it reads any value, so a short entry is
//! substituted first and split second (`${DATA:-./mysql}/data:/var/lib/mysql` is a bind of
//! `./mysql/data`). A short source is a host path when it starts with `.`, `/` or `~`;
//! anything else names a volume (v1 `compose/config/types.py`, v2 compose-go `loader`).
//! Symlinks are not followed here: that is the data paths' business (`crate::datapath`).

use std::path::{Component, Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::env::{self, Env};
use super::read::{scalar_text, service};
use super::{ComposeError, ComposeFile};

/// One entry of a service's `volumes:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub service: String,
    /// The entry as the file writes it (the short text, or `SOURCE:TARGET` of a long one),
    /// before substitution: what the operator recognises.
    pub written: String,
    /// The source part of it as written (`${DATA:-./mysql}/data`, `dbdata`); empty for an
    /// anonymous volume.
    pub source: String,
    /// The path inside the container.
    pub target: String,
    pub read_only: bool,
    pub kind: MountKind,
}

/// What a mount brings into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A host path, absolute, `.` and `..` resolved lexically against the project dir.
    /// `relative`: the file wrote it relative (`./mysql/data`, `../shared`).
    Bind { source: PathBuf, relative: bool },
    /// A named volume: its key in the file, and which engine volume that is.
    Volume { key: String, volume: VolumeRef },
    /// A volume without a name (`- /var/lib/mysql`): Compose makes a new one for a new
    /// container, so its content does not survive `down` and `up`.
    Anonymous,
    /// `type: tmpfs`: memory only.
    Tmpfs,
}

/// Which engine volume a named volume of the file is (the top-level `volumes:` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeRef {
    /// Compose's own: `<project>_<key>`, created on the first `up`.
    Project,
    /// `name: NAME`: the engine name as written (not prefixed with the project).
    Named(String),
    /// `external: true` (or v1's `external: {name: NAME}`): made outside Compose.
    External(String),
}

impl VolumeRef {
    /// The engine's name for the volume `key` of `project`. Both flavours prefix the project
    /// as it is (v2 compose-go `types.Project.VolumeName`; v1 `Volume.full_name`); v1 also
    /// drops a leading `-`/`_` of the project there, a name xzup's callers check against the
    /// volume's labels anyway.
    pub fn engine_name(&self, key: &str, project: &str) -> String {
        match self {
            VolumeRef::Project => format!("{project}_{key}"),
            VolumeRef::Named(name) | VolumeRef::External(name) => name.clone(),
        }
    }

    /// Whether Compose manages it (creates it, labels it with the project).
    pub fn is_compose_managed(&self) -> bool {
        !matches!(self, VolumeRef::External(_))
    }
}

/// The mounts of `service`, in file order; `project_dir` is what relative paths and `.env`
/// are read against (xzup passes it to Compose as `--project-directory`).
pub(crate) fn mounts(
    file: &ComposeFile,
    name: &str,
    env: &Env,
    project_dir: &Path,
) -> Result<Vec<Mount>, ComposeError> {
    let Some(svc) = service(&file.doc, name) else {
        return Ok(Vec::new());
    };
    let volumes = match svc.get("volumes") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            return Err(bad_value(
                file,
                name,
                "…",
                "`volumes:` is not a list".into(),
            ));
        }
    };
    let mut out = Vec::new();
    for item in volumes {
        let mount = match item {
            Value::String(short) => short_mount(file, name, short, env, project_dir)?,
            Value::Mapping(long) => long_mount(file, name, long, env, project_dir)?,
            _ => None,
        };
        out.extend(mount);
    }
    Ok(out)
}

/// `SOURCE:TARGET[:MODE]`, `TARGET` alone (anonymous).
fn short_mount(
    file: &ComposeFile,
    name: &str,
    short: &str,
    env: &Env,
    project_dir: &Path,
) -> Result<Option<Mount>, ComposeError> {
    let text = substitute(file, name, short, env)?;
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => ("", *target, ""),
        [source, target] => (*source, *target, ""),
        [source, target, mode] => (*source, *target, *mode),
        _ => {
            return Err(bad_value(
                file,
                name,
                short,
                "it is not `SOURCE:TARGET[:MODE]`".into(),
            ));
        }
    };
    let read_only = mode.split(',').any(|m| m == "ro");
    // The source as written: the entry without its (rarely substituted) `:TARGET[:MODE]`.
    let suffix = match (source.is_empty(), mode.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!(":{target}"),
        (false, false) => format!(":{target}:{mode}"),
    };
    let source_written = if source.is_empty() {
        String::new()
    } else {
        short
            .strip_suffix(suffix.as_str())
            .unwrap_or(source)
            .to_string()
    };
    let kind = if source.is_empty() {
        MountKind::Anonymous
    } else if is_host_path(source) {
        MountKind::Bind {
            source: resolve(project_dir, source),
            relative: is_relative(source),
        }
    } else {
        MountKind::Volume {
            key: source.to_string(),
            volume: volume_ref(file, source, env)?,
        }
    };
    Ok(Some(Mount {
        service: name.to_string(),
        written: short.to_string(),
        source: source_written,
        target: target.to_string(),
        read_only,
        kind,
    }))
}

/// `type: bind|volume|tmpfs`, `source:`, `target:`, `read_only:`. Types xzup has no use
/// for (`npipe`, `cluster`, `image`) are left out.
fn long_mount(
    file: &ComposeFile,
    name: &str,
    long: &Mapping,
    env: &Env,
    project_dir: &Path,
) -> Result<Option<Mount>, ComposeError> {
    let field = |key: &str| -> Result<Option<String>, ComposeError> {
        long.get(key)
            .and_then(scalar_text)
            .map(|raw| substitute(file, name, &raw, env))
            .transpose()
    };
    let kind = field("type")?.unwrap_or_default();
    let source = field("source")?.filter(|s| !s.is_empty());
    let Some(target) = field("target")? else {
        return Ok(None);
    };
    let raw_source = long.get("source").and_then(scalar_text).unwrap_or_default();
    let written = if raw_source.is_empty() {
        target.clone()
    } else {
        format!("{raw_source}:{target}")
    };
    let read_only = matches!(long.get("read_only"), Some(Value::Bool(true)))
        || field("read_only")?.as_deref() == Some("true");
    let kind = match (kind.as_str(), source) {
        ("bind", Some(source)) => MountKind::Bind {
            relative: is_relative(&source),
            source: resolve(project_dir, &source),
        },
        ("volume", Some(key)) => MountKind::Volume {
            volume: volume_ref(file, &key, env)?,
            key,
        },
        ("volume", None) => MountKind::Anonymous,
        ("tmpfs", _) => MountKind::Tmpfs,
        _ => return Ok(None),
    };
    Ok(Some(Mount {
        service: name.to_string(),
        written,
        source: raw_source,
        target,
        read_only,
        kind,
    }))
}

/// The top-level `volumes.KEY` entry: `name:`, `external:` (true, or v1's `{name: …}`).
fn volume_ref(file: &ComposeFile, key: &str, env: &Env) -> Result<VolumeRef, ComposeError> {
    let entry = file
        .doc
        .get("volumes")
        .and_then(Value::as_mapping)
        .and_then(|v| v.get(key))
        .and_then(Value::as_mapping);
    let Some(entry) = entry else {
        return Ok(VolumeRef::Project);
    };
    let top_level = |raw: &str| -> Result<String, ComposeError> {
        env::interpolate(raw, env).map_err(|e| ComposeError::Variable {
            path: file.path.clone(),
            place: format!("volumes.{key}"),
            value: raw.to_string(),
            reason: e.to_string(),
        })
    };
    let name = entry
        .get("name")
        .and_then(scalar_text)
        .map(|n| top_level(&n))
        .transpose()?;
    let external = match entry.get("external") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        Some(Value::Mapping(m)) => {
            // v1's legacy `external: {name: NAME}`.
            if let Some(n) = m.get("name").and_then(scalar_text) {
                return Ok(VolumeRef::External(top_level(&n)?));
            }
            true
        }
        _ => false,
    };
    Ok(match (external, name) {
        (true, name) => VolumeRef::External(name.unwrap_or_else(|| key.to_string())),
        (false, Some(name)) => VolumeRef::Named(name),
        (false, None) => VolumeRef::Project,
    })
}

fn substitute(
    file: &ComposeFile,
    service: &str,
    raw: &str,
    env: &Env,
) -> Result<String, ComposeError> {
    env::interpolate(raw, env).map_err(|e| ComposeError::Variable {
        path: file.path.clone(),
        place: format!("services.{service}.volumes"),
        value: raw.to_string(),
        reason: e.to_string(),
    })
}

fn bad_value(file: &ComposeFile, service: &str, value: &str, reason: String) -> ComposeError {
    ComposeError::BadValue {
        path: file.path.clone(),
        service: service.to_string(),
        key: "volumes".to_string(),
        value: value.to_string(),
        reason,
    }
}

/// Whether a short-syntax source is a host path rather than a volume name.
fn is_host_path(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

/// Whether a host path is written relative to the project dir (not absolute, not `~`).
fn is_relative(source: &str) -> bool {
    !source.starts_with('/') && !source.starts_with('~')
}

/// `base.join(path)` with `~` expanded and `.`/`..` taken out, as Compose resolves a bind
/// source against the project directory.
fn resolve(base: &Path, path: &str) -> PathBuf {
    let path = match path.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(rest),
            None => PathBuf::from(path),
        },
        None if path == "~" => std::env::var_os("HOME").map_or(PathBuf::from(path), PathBuf::from),
        None => PathBuf::from(path),
    };
    let joined = base.join(path);
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "/srv/xz";

    fn file(text: &str) -> ComposeFile {
        ComposeFile::parse(Path::new("/srv/xz/docker-compose.yml"), text.to_string()).unwrap()
    }

    fn mounts_of(text: &str, env: &Env) -> Vec<Mount> {
        mounts(&file(text), "a", env, Path::new(DIR)).unwrap()
    }

    fn bind(source: &str, relative: bool) -> MountKind {
        MountKind::Bind {
            source: source.into(),
            relative,
        }
    }

    /// (kind, target, read_only) of each mount.
    fn summary(mounts: &[Mount]) -> Vec<(MountKind, String, bool)> {
        mounts
            .iter()
            .map(|m| (m.kind.clone(), m.target.clone(), m.read_only))
            .collect()
    }

    #[test]
    fn short_syntax_binds_volumes_and_anonymous() {
        let m = mounts_of(
            "services:\n  a:\n    volumes:\n      - ./mysql/data:/var/lib/mysql\n      - ./conf/my.cnf:/etc/my.cnf:ro\n      - named:/data\n      - /abs/path:/x:rw,z\n      - /anonymous\n      - ../shared:/shared\n      - ./a/../b/./c:/c\nvolumes:\n  named:\n",
            &Env::default(),
        );
        assert_eq!(
            summary(&m),
            [
                (
                    bind("/srv/xz/mysql/data", true),
                    "/var/lib/mysql".into(),
                    false
                ),
                (
                    bind("/srv/xz/conf/my.cnf", true),
                    "/etc/my.cnf".into(),
                    true
                ),
                (
                    MountKind::Volume {
                        key: "named".into(),
                        volume: VolumeRef::Project
                    },
                    "/data".into(),
                    false
                ),
                (bind("/abs/path", false), "/x".into(), false),
                (MountKind::Anonymous, "/anonymous".into(), false),
                (bind("/srv/shared", true), "/shared".into(), false),
                (bind("/srv/xz/b/c", true), "/c".into(), false),
            ]
        );
        assert_eq!(m[0].written, "./mysql/data:/var/lib/mysql");
        assert_eq!(m[1].source, "./conf/my.cnf");
        assert_eq!(m[4].source, "");
        assert!(m.iter().all(|m| m.service == "a"));
    }

    #[test]
    fn long_syntax_every_type() {
        let m = mounts_of(
            "services:\n  a:\n    volumes:\n      - type: bind\n        source: ../shared\n        target: /shared\n        read_only: true\n      - type: volume\n        source: dbdata\n        target: /var/lib/mysql\n      - type: volume\n        target: /anon\n      - type: tmpfs\n        target: /tmp\n      - type: npipe\n        source: x\n        target: y\n      - {type: bind, source: /srv/data, target: /d}\nvolumes:\n  dbdata: {name: custom-db}\n",
            &Env::default(),
        );
        assert_eq!(
            summary(&m),
            [
                (bind("/srv/shared", true), "/shared".into(), true),
                (
                    MountKind::Volume {
                        key: "dbdata".into(),
                        volume: VolumeRef::Named("custom-db".into())
                    },
                    "/var/lib/mysql".into(),
                    false
                ),
                (MountKind::Anonymous, "/anon".into(), false),
                (MountKind::Tmpfs, "/tmp".into(), false),
                (bind("/srv/data", false), "/d".into(), false),
            ]
        );
        assert_eq!(m[0].written, "../shared:/shared");
        assert_eq!(m[2].written, "/anon");
    }

    #[test]
    fn variables_are_substituted_before_the_entry_is_split() {
        let text = "services:\n  a:\n    volumes:\n      - ${DATA_DIR:-./mysql}/data:/var/lib/mysql\n      - ${UPLOADS}:/uploadfile\n      - type: bind\n        source: ${HOST_DATA_PATH:-/opt/xz}/files\n        target: /files\n      - ${VOL_NAME:-dbvol}:/v\n";
        let unset = mounts_of(text, &Env::from_pairs([("UPLOADS", "/mnt/up")]));
        let sources: Vec<_> = unset.iter().map(|m| m.kind.clone()).collect();
        assert_eq!(
            sources,
            [
                bind("/srv/xz/mysql/data", true),
                bind("/mnt/up", false),
                bind("/opt/xz/files", false),
                MountKind::Volume {
                    key: "dbvol".into(),
                    volume: VolumeRef::Project
                },
            ]
        );
        assert_eq!(unset[0].written, "${DATA_DIR:-./mysql}/data:/var/lib/mysql");
        assert_eq!(unset[0].source, "${DATA_DIR:-./mysql}/data");
        assert_eq!(unset[2].source, "${HOST_DATA_PATH:-/opt/xz}/files");
        let set = mounts_of(
            text,
            &Env::from_pairs([
                ("DATA_DIR", "/data/db"),
                ("UPLOADS", "./up"),
                ("HOST_DATA_PATH", "/big"),
                ("VOL_NAME", "other"),
            ]),
        );
        let sources: Vec<_> = set.iter().map(|m| m.kind.clone()).collect();
        assert_eq!(
            sources,
            [
                bind("/data/db/data", false),
                bind("/srv/xz/up", true),
                bind("/big/files", false),
                MountKind::Volume {
                    key: "other".into(),
                    volume: VolumeRef::Project
                },
            ]
        );
    }

    #[test]
    fn a_dot_env_beside_the_file_sets_the_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "DB_DATA=./db-on-ssd\n").unwrap();
        let env = Env::load(dir.path()).unwrap();
        let f = ComposeFile::parse(
            &dir.path().join("docker-compose.yml"),
            "services:\n  a:\n    volumes:\n      - ${DB_DATA:-./mysql/data}:/var/lib/mysql\n"
                .into(),
        )
        .unwrap();
        let m = mounts(&f, "a", &env, dir.path()).unwrap();
        assert_eq!(
            m[0].kind,
            bind(dir.path().join("db-on-ssd").to_str().unwrap(), true)
        );
    }

    #[test]
    fn a_required_variable_that_is_unset_is_an_error_naming_it() {
        let f = file("services:\n  a:\n    volumes:\n      - ${DATA:?set DATA}:/var/lib/mysql\n");
        let err = mounts(&f, "a", &Env::default(), Path::new(DIR)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`/srv/xz/docker-compose.yml`: `services.a.volumes` has `${DATA:?set DATA}:/var/lib/mysql`, \
             which Compose cannot substitute: variable `DATA` is required: set DATA"
        );
        assert!(err.hint().unwrap().contains(".env"), "{:?}", err.hint());
    }

    #[test]
    fn top_level_names_and_external_volumes() {
        let m = mounts_of(
            "services:\n  a:\n    volumes:\n      - plain:/1\n      - named:/2\n      - ext:/3\n      - extnamed:/4\n      - legacy:/5\n      - undeclared:/6\n      - ${P}:/7\nvolumes:\n  plain:\n    driver: local\n  named:\n    name: ${PREFIX:-xz}-named\n  ext:\n    external: true\n  extnamed:\n    external: true\n    name: the-real-one\n  legacy:\n    external:\n      name: old-style\n  fromenv:\n",
            &Env::from_pairs([("P", "fromenv")]),
        );
        let refs: Vec<_> = m
            .iter()
            .map(|m| match &m.kind {
                MountKind::Volume { key, volume } => (key.clone(), volume.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            refs,
            [
                ("plain".into(), VolumeRef::Project),
                ("named".into(), VolumeRef::Named("xz-named".into())),
                ("ext".into(), VolumeRef::External("ext".into())),
                (
                    "extnamed".into(),
                    VolumeRef::External("the-real-one".into())
                ),
                ("legacy".into(), VolumeRef::External("old-style".into())),
                ("undeclared".into(), VolumeRef::Project),
                ("fromenv".into(), VolumeRef::Project),
            ]
        );
        assert_eq!(VolumeRef::Project.engine_name("plain", "xz"), "xz_plain");
        assert_eq!(
            VolumeRef::Named("xz-named".into()).engine_name("named", "xz"),
            "xz-named"
        );
        assert!(!VolumeRef::External("e".into()).is_compose_managed());
    }

    #[test]
    fn services_without_volumes_and_bad_entries() {
        assert!(mounts_of("services:\n  a: {image: x}\n", &Env::default()).is_empty());
        let f = file("services:\n  a:\n    volumes: ./x:/y\n");
        assert!(mounts(&f, "a", &Env::default(), Path::new(DIR)).is_err());
        let f = file("services:\n  a:\n    volumes:\n      - a:b:c:d\n");
        let err = mounts(&f, "a", &Env::default(), Path::new(DIR)).unwrap_err();
        assert!(err.to_string().contains("SOURCE:TARGET"), "{err}");
        assert!(
            mounts(
                &file("services:\n  b: {}\n"),
                "a",
                &Env::default(),
                Path::new(DIR)
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn home_is_expanded() {
        let Some(home) = std::env::var_os("HOME") else {
            return;
        };
        let m = mounts_of(
            "services:\n  a:\n    volumes:\n      - ~/xz/db:/var/lib/mysql\n",
            &Env::default(),
        );
        assert_eq!(
            m[0].kind,
            MountKind::Bind {
                source: PathBuf::from(home).join("xz/db"),
                relative: false
            }
        );
    }
}
