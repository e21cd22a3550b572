//! Entry points for the cargo-fuzz targets of `fuzz/` (feature `fuzzing`, not default;
//! `scripts/fuzz.sh` runs them). Each takes arbitrary input, runs one reader of xzup
//! over it, and panics when a property does not hold; an error returned by the reader is
//! an outcome, not a finding. Not an API: the modules stay `pub(crate)`.

use std::io::Write as _;
use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use crate::compose::{ComposeFile, Env};
use crate::roles::{Overrides, Role};
use crate::settings::Target;
use crate::tiers::{Catalog, CatalogSource};

/// The compose render. For each tier of the built-in catalog that renders: the output
/// parses, reads as the same document as the input once the tier's keys are taken out of
/// both (an independent check, not the render's own), renders to itself again, and its
/// diff and redacted text can be made.
pub fn compose_render(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/docker-compose.yml");
    let Ok(file) = ComposeFile::parse_with_env(path, text.to_string(), Env::default()) else {
        return;
    };
    let _ = file.redacted();
    let _ = file.secrets();
    let Ok(roles) = file.roles(&Overrides::default()) else {
        return;
    };
    let _ = file.warnings(&roles);
    let catalog = Catalog::embedded();
    for name in catalog.names() {
        let tier = catalog.get(&name).expect("a listed tier");
        let target = tier.target(&roles.present());
        let Ok(rendered) = file.render(&roles, &target) else {
            continue;
        };
        let out = &rendered.file.text;
        let before = parsed(text).expect("the source parsed once");
        let after =
            parsed(out).unwrap_or_else(|e| panic!("tier {name}: output does not parse: {e}"));
        let (mut before, mut after) = (before, after);
        for (role, service) in roles.iter() {
            for doc in [&mut before, &mut after] {
                if let Some(Value::Mapping(svc)) = doc
                    .get_mut("services")
                    .and_then(|s| s.as_mapping_mut())
                    .and_then(|s| s.get_mut(service))
                {
                    strip_tier_keys(svc, role, &target);
                }
            }
        }
        assert!(
            before == after,
            "tier {name}: the render changed more than the tier's keys"
        );
        let again = rendered
            .file
            .render(&roles, &target)
            .unwrap_or_else(|e| panic!("tier {name}: the output does not render again: {e}"));
        assert!(
            again.file.text == *out,
            "tier {name}: rendering the output again changes it"
        );
        let _ = crate::diff::unified(
            &crate::diff::Side {
                text,
                secrets: &rendered.source_secrets,
                name: "a",
            },
            &crate::diff::Side {
                text: out,
                secrets: &rendered.secrets,
                name: "b",
            },
        );
        let _ = rendered.redacted();
    }
}

/// `text` as a YAML document with merge keys applied (what Compose reads).
fn parsed(text: &str) -> Result<Mapping, serde_yaml_ng::Error> {
    let mut value: Value = serde_yaml_ng::from_str(text)?;
    value.apply_merge()?;
    Ok(match value {
        Value::Mapping(m) => m,
        _ => Mapping::new(),
    })
}

/// Takes out of `svc` what a render of `target` may write for `role`: the resource keys
/// (both spellings), mappings left empty on the way, and the tier's MySQL/Redis flags.
fn strip_tier_keys(svc: &mut Mapping, role: Role, target: &Target) {
    if target.resources.contains_key(&role) {
        for (section, leaf) in [
            ("limits", "cpus"),
            ("limits", "memory"),
            ("reservations", "cpus"),
            ("reservations", "memory"),
        ] {
            crate::compose::remove_path(svc, &["deploy", "resources", section, leaf]);
        }
        for legacy in ["cpus", "mem_limit", "mem_reservation"] {
            svc.remove(legacy);
        }
    }
    let (edited, redis, save) = match role {
        Role::Db => (target.mysql.is_some(), false, false),
        Role::Redis => (
            target.redis.is_some(),
            true,
            target.redis.as_ref().is_some_and(|r| r.save.is_some()),
        ),
        _ => (false, false, false),
    };
    if !edited {
        return;
    }
    let words: Vec<String> = match svc.get("command") {
        Some(Value::String(s)) => crate::compose::command_flags::split_string(s)
            .map(|t| t.into_iter().map(|t| t.text).collect())
            .unwrap_or_default(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(crate::compose::read::scalar_text)
            .collect(),
        _ => Vec::new(),
    };
    let rest = crate::compose::command_flags::without_tier_flags(&words, redis, save);
    svc.remove("command");
    let default: &[&str] = if redis { &["redis-server"] } else { &[] };
    if !rest.is_empty() && rest != default {
        svc.insert(Value::from("command"), Value::from(rest));
    }
}

/// The tiers reader (a `--tiers-file`) and `xzup.toml`: errors are made and shown (their
/// line and column are computed from the text), a catalog that reads is used.
pub fn tiers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Catalog::parse(text, CatalogSource::File("/fuzz/tiers.toml".into())) {
        Ok(catalog) => {
            for name in catalog.names() {
                let tier = catalog.get(&name).expect("a listed tier");
                let target = tier.target(&Role::ALL);
                let _ = (tier.totals(), tier.max_cpus(), target);
            }
        }
        Err(e) => {
            let _ = (e.to_string(), e.hint());
        }
    }
    if let Err(e) = crate::deployment::parse_config(Path::new("/fuzz/xzup.toml"), text) {
        let _ = (e.to_string(), e.hint());
    }
}

/// The `docker stats --format '{{json .}}'` parser and the size/percent readers.
pub fn docker_stats(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::docker::fuzz_parse_stats(text);
    let _ = crate::docker::parse_size(text);
}

/// The archive reader: `backups verify` (the whole archive) and the manifest reader over
/// `data` as an archive file, and the manifest's JSON reader over `data` itself.
pub fn archive(data: &[u8]) {
    if let Ok(manifest) = crate::backup::Manifest::from_json(data) {
        let _ = manifest.check();
        let _ = manifest.counts();
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("xzup-backup.tar.gz");
    let mut f = std::fs::File::create(&path).expect("a temporary file");
    f.write_all(data).expect("written");
    drop(f);
    match crate::backup::verify(&path) {
        Ok(m) => {
            let _ = m.counts();
        }
        Err(e) => {
            let _ = (e.to_string(), e.hint());
        }
    }
    if let Err(e) = crate::backup::read_manifest(&path) {
        let _ = (e.to_string(), e.hint());
    }
}

/// The journal reader over `data` as `journal.json`; a journal that reads is asked what
/// `status` and `resume` ask of it.
pub fn journal(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("journal.json");
    std::fs::write(&path, data).expect("written");
    match crate::journal::Journal::load(&path) {
        Ok(j) => {
            let run = j.run();
            let _ = (j.next_step(), j.is_finished(), j.id());
            let _ = (
                run.sequence(),
                run.next_step(),
                run.failed_step(),
                run.downtime_ms(),
            );
            let _ = run.rollback_target();
            let _ = serde_json::to_string(run).expect("a run read back serialises");
        }
        Err(e) => {
            let _ = (e.to_string(), e.hint());
        }
    }
}
