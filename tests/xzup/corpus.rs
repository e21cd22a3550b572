//! The compose corpus (`tests/xzup/corpus/NAME/`): compose files written the ways operators
//! write them (partial stacks, renamed services, every resource and command form, BOM,
//! CRLF, comments in any script, secrets in every spelling). Each is rendered for two
//! tiers by the built binary and the outcome is a golden snapshot: the rendered file, or
//! the refusal with its message.
//!
//! Beside each `docker-compose.yml`: `.env` and other files it refers to; `only` holds an
//! `--only` list. Roles are found as xzup finds them (renamed services by image, port or
//! Dockerfile), with no mapping given.
//!
//! Every rendered file must also pass `docker compose config -q` whenever its source does
//! (Compose v2, installed by `scripts/install-compose-v2.sh`). Without Compose v2 that check
//! is skipped, saying so, except under `CI=true`, where it must run.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Xzup, copy_tree, repo_root};

const TIERS: [&str; 2] = ["high", "ultra"];

fn corpus() -> Vec<PathBuf> {
    let dir = repo_root().join("tests/xzup/corpus");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("docker-compose.yml").is_file())
        .collect();
    out.sort();
    out
}

/// Whether `docker compose` (v2) answers; under `CI=true` it must.
fn compose_v2() -> bool {
    let ok = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs Compose v2 for the corpus check: run scripts/install-compose-v2.sh"
        );
        eprintln!("skipping `docker compose config -q` of the corpus: no Compose v2 here");
    }
    ok
}

/// `docker compose -f FILE config -q` in `dir`: `Ok` or Compose's complaint.
fn config_check(dir: &Path, file: &str) -> Result<(), String> {
    let out = Command::new("docker")
        .current_dir(dir)
        .args(["compose", "-f", file, "config", "-q"])
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Bytes shown so a snapshot keeps what matters: `␍` for a CR, `<BOM>` for a byte-order
/// mark, and a note when the file has no final newline.
fn visible(text: &str) -> String {
    let mut out = text.replace('\r', "␍").replace('\u{feff}', "<BOM>");
    if !text.ends_with('\n') {
        out.push_str("\n<no final newline>\n");
    }
    out
}

/// What a rendered file must keep from its source, byte-wise.
fn same_bytes_shape(name: &str, source: &str, rendered: &str) {
    assert_eq!(
        source.starts_with('\u{feff}'),
        rendered.starts_with('\u{feff}'),
        "{name}: BOM"
    );
    assert_eq!(
        source.ends_with('\n'),
        rendered.ends_with('\n'),
        "{name}: final newline"
    );
    let lines = rendered.split_inclusive('\n').filter(|l| l.ends_with('\n'));
    if source.contains("\r\n") {
        assert!(
            lines.clone().all(|l| l.ends_with("\r\n")),
            "{name}: a line lost its CRLF"
        );
    } else {
        assert!(!rendered.contains('\r'), "{name}: a CR appeared");
    }
}

#[test]
fn corpus_renders_or_refuses_as_snapshotted() {
    let corpus = corpus();
    assert!(corpus.len() >= 25, "the corpus has {} files", corpus.len());
    let check = compose_v2();
    let (mut rendered, mut refused, mut checked) = (0, 0, 0);
    for fixture in &corpus {
        let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
        let dir = tempfile::tempdir().unwrap();
        copy_tree(fixture, dir.path());
        let source = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
        let source_ok = check && config_check(dir.path(), "docker-compose.yml").is_ok();
        let only = std::fs::read_to_string(fixture.join("only")).ok();
        for tier in TIERS {
            let out_name = format!("docker-compose-{tier}.yml");
            let mut args = vec!["render".to_string(), "--tier".into(), tier.into()];
            if let Some(only) = &only {
                args.extend(["--only".to_string(), only.trim().to_string()]);
            }
            args.extend(["-o".to_string(), out_name.clone()]);
            let out = Xzup::new().cwd(dir.path()).args(&args).run();
            let stderr = out
                .stderr
                .replace(&dir.path().display().to_string(), "[DIR]");
            let mut snapshot = format!(
                "$ xzup {}\nexit: {}\n--- stderr\n{stderr}",
                args.join(" "),
                out.code
            );
            if out.code == 0 {
                rendered += 1;
                let text = std::fs::read_to_string(dir.path().join(&out_name)).unwrap();
                same_bytes_shape(&name, &source, &text);
                snapshot.push_str(&format!("--- {out_name}\n{}", visible(&text)));
                if source_ok {
                    if let Err(e) = config_check(dir.path(), &out_name) {
                        panic!(
                            "{name}: the source passes `docker compose config -q`, {out_name} does not:\n{e}"
                        );
                    }
                    checked += 1;
                }
            } else {
                refused += 1;
                assert_eq!(out.code, 1, "{name} {tier}: {stderr}");
                assert!(
                    !dir.path().join(&out_name).exists(),
                    "{name}: a refusal wrote a file"
                );
            }
            insta::assert_snapshot!(format!("corpus__{name}__{tier}"), snapshot);
        }
    }
    eprintln!(
        "corpus: {} files x {} tiers: {rendered} rendered, {refused} refused; {checked} checked by `docker compose config -q`",
        corpus.len(),
        TIERS.len()
    );
}
