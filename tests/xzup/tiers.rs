//! `xzup tiers`: the comparison table, its JSON form, catalogs from `--tiers-file` and
//! `xzup.toml`, and tiers files that are rejected.
//!
//! The host is pinned with `XZUP_HOST_CPUS` / `XZUP_HOST_MEMORY` so the "this host" verdicts
//! do not depend on the machine running the tests.

use std::path::Path;

use crate::harness::{Outcome, Xzup};

/// `xzup tiers ARGS` in `dir`, on a pretend 2-core, 8G host.
fn tiers(dir: &Path, args: &[&str]) -> Outcome {
    Xzup::new()
        .cwd(dir)
        .env("XZUP_HOST_CPUS", "2")
        .env("XZUP_HOST_MEMORY", "8G")
        .args(["tiers"])
        .args(args)
        .run()
}

/// A one-tier catalog of an operator's own.
const OWN: &str = r#"[tiers.tiny]
label = "lab"
users = "1-2"

[tiers.tiny.server]
limits = { cpus = 2, memory = "2G" }
reservations = { cpus = 1, memory = "1G" }

[tiers.tiny.web]
limits = { cpus = 1, memory = "1G" }
reservations = { cpus = 0.5, memory = "512M" }

[tiers.tiny.db]
limits = { cpus = 1, memory = "1G" }
reservations = { cpus = 0.5, memory = "512M" }
max_connections = 100
innodb_buffer_pool_size = "256M"
innodb_log_file_size = "64M"

[tiers.tiny.redis]
limits = { cpus = 1, memory = "512M" }
reservations = { cpus = 0.5, memory = "256M" }
maxmemory = "256mb"
maxmemory-policy = "allkeys-lru"
"#;

#[test]
fn table_compares_the_four_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let out = tiers(dir.path(), &[]).success();
    assert_eq!(out.stderr, "");
    assert!(
        out.stdout.lines().all(|l| l.chars().count() <= 100),
        "a line is wider than 100 columns:\n{}",
        out.stdout
    );
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn host_verdicts_follow_cores_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = Xzup::new()
        .cwd(dir.path())
        .env("XZUP_HOST_CPUS", "16")
        .env("XZUP_HOST_MEMORY", "32G")
        .args(["tiers"])
        .run()
        .success();
    let verdicts: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("this host"))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            "this host, as set by XZUP_HOST_CPUS/XZUP_HOST_MEMORY (16 cores, 32G memory):",
            "  low      yes",
            "  high     yes",
            "  ultra    yes, but memory limits total 56G (host has 32G)",
            "  extreme  no: needs 24 cores (host has 16); memory limits total 104G (host has 32G)",
        ]
    );
}

#[test]
fn json_has_the_catalog_and_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let out = tiers(dir.path(), &["--format", "json"]).success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(doc["catalog"]["source"]["kind"], "embedded");
    let names: Vec<&str> = doc["catalog"]["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["low", "high", "ultra", "extreme"]);

    let ultra = &doc["catalog"]["tiers"][2];
    assert_eq!(ultra["label"], "plan B");
    assert_eq!(ultra["users"], "20-50");
    assert_eq!(ultra["host_request"]["cpus"], 32);
    assert_eq!(ultra["host_request"]["memory"]["text"], "64G");
    assert_eq!(ultra["totals"]["limits"]["cpus"], 32.0);
    assert_eq!(ultra["totals"]["limits"]["memory"]["bytes"], 56u64 << 30);
    assert_eq!(ultra["totals"]["reservations"]["memory"]["text"], "28G");
    assert_eq!(ultra["services"]["server"]["limits"]["cpus"], 16.0);
    assert_eq!(ultra["services"]["db"]["limits"]["memory"]["text"], "8G");
    assert_eq!(ultra["mysql"]["max_connections"], 2000);
    assert_eq!(ultra["mysql"]["innodb_buffer_pool_size"]["text"], "4G");
    assert_eq!(ultra["redis"]["maxmemory"]["bytes"], 3072u64 << 20);
    assert_eq!(
        ultra["redis"]["save"],
        serde_json::json!(["900 1", "300 10", "60 10000"])
    );
    assert_eq!(ultra["this_host"]["runs"], false);
    assert_eq!(
        ultra["this_host"]["verdict"],
        "no: needs 16 cores (host has 2); memory limits total 56G (host has 8G)"
    );
    assert_eq!(doc["host"]["cpus"], 2);
    assert_eq!(doc["host"]["memory"]["text"], "8G");
    assert_eq!(doc["host"]["overridden"], true);
}

#[test]
fn own_catalog_from_tiers_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine.toml"), OWN).unwrap();
    let out = tiers(dir.path(), &["--tiers-file", "mine.toml"]).success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "tier catalog: mine.toml");
    assert_eq!(lines[2].trim(), "tiny");
    assert_eq!(lines[3].trim(), "lab");
    // No `host` entry: the host to request is the tier's total limits.
    assert!(
        out.stdout
            .contains("\nhost to request            5 cores, 4.5G\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with("  tiny  yes\n"), "{}", out.stdout);
}

#[test]
fn own_catalog_from_xzup_toml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine.toml"), OWN).unwrap();
    std::fs::write(dir.path().join("xzup.toml"), "tiers_file = \"mine.toml\"\n").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = tiers(elsewhere.path(), &["-C", dir.path().to_str().unwrap()]).success();
    // Relative to the deployment dir, not the working directory.
    let first = out.stdout.lines().next().unwrap();
    assert!(first.starts_with("tier catalog: /"), "{first}");
    assert!(first.ends_with("/mine.toml"), "{first}");
    assert!(out.stdout.contains("  tiny  yes\n"), "{}", out.stdout);
}

#[test]
fn bad_tiers_file_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = OWN.replace(
        r#"reservations = { cpus = 1, memory = "1G" }"#,
        r#"reservations = { cpus = 1, memory = "16X" }"#,
    );
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let out = tiers(dir.path(), &["--tiers-file", "bad.toml"]).code(1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: bad.toml:7:37: `tiers.tiny.server.reservations.memory` = `16X` is not a valid \
         memory size\nhint: write a number with a unit, like `512M` or `16G`\n"
    );
}

#[test]
fn buffer_pool_larger_than_its_container_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let bad = OWN.replace(
        r#"innodb_buffer_pool_size = "256M""#,
        r#"innodb_buffer_pool_size = "4G""#,
    );
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let out = tiers(dir.path(), &["--tiers-file", "bad.toml"]).code(1);
    let first = out.stderr.lines().next().unwrap();
    assert_eq!(
        first,
        "error: bad.toml:17:27: `tiers.tiny.db.innodb_buffer_pool_size` = `4G` is not below \
         the db container's memory limit `1G`"
    );
}

#[test]
fn unknown_role_in_tiers_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = format!("{OWN}\n[tiers.tiny.gpu]\nlimits = {{ cpus = 1, memory = \"1G\" }}\n");
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let out = tiers(dir.path(), &["--tiers-file", "bad.toml"]).code(1);
    assert_eq!(
        out.stderr,
        "error: bad.toml:26:13: unknown role `gpu` in tier `tiny`\nhint: a tier has one table \
         per role: `server`, `web`, `db`, `redis`; rename or remove `[tiers.tiny.gpu]`\n"
    );
}

#[test]
fn missing_tiers_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = tiers(dir.path(), &["--tiers-file", "nope.toml"]).code(1);
    assert_eq!(
        out.stderr,
        "error: cannot read tiers file `nope.toml`: No such file or directory (os error 2)\n\
         hint: check the path given with `--tiers-file` (or `tiers_file` in xzup.toml)\n"
    );
}

#[test]
fn bad_host_override() {
    let dir = tempfile::tempdir().unwrap();
    let out = Xzup::new()
        .cwd(dir.path())
        .env("XZUP_HOST_CPUS", "many")
        .args(["tiers"])
        .run()
        .code(1);
    assert_eq!(
        out.stderr,
        "error: `XZUP_HOST_CPUS` is set to `many`, which is not a whole number of cores, like \
         `16`\nhint: set `XZUP_HOST_CPUS` to a whole number of cores, like `16`, or unset it to \
         use this machine's own figure\n"
    );
}
