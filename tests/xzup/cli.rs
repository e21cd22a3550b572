//! `plan`, `render`, `apply --dry-run` and bad input, on copies of the example deployments.
//! No Docker engine needed.

use std::path::Path;

use crate::harness::{Outcome, Xzup, copy_tree, example};

/// `xzup` with no engine in reach, so the plan's host checks (which depend on the machine)
/// stay out of the snapshots; the checks themselves are tested against a real engine.
pub(crate) fn xzup() -> Xzup {
    Xzup::new().env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
}

/// A temp copy of `examples/NAME`.
fn deployment(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&example(name), dir.path());
    dir
}

/// Replaces the temp dir and the backup timestamp so snapshots are stable.
pub(crate) fn stable(outcome: &Outcome, dir: &Path) -> String {
    let text = format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        outcome.code, outcome.stdout, outcome.stderr
    );
    let text = text.replace(&dir.display().to_string(), "[DIR]");
    let re = regex_lite::Regex::new(r"backup-\d{8}-\d{6}").unwrap();
    re.replace_all(&text, "backup-[TIME]").into_owned()
}

/// Every file under `dir` with its content, to prove a command wrote nothing.
pub(crate) fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push((
                    e.path().display().to_string(),
                    std::fs::read(e.path()).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn plan_ultra_on_upstream() {
    let dir = deployment("upstream");
    let before = tree(dir.path());
    let out = xzup()
        .args(["-C"])
        .args([dir.path()])
        .args(["plan", "--tier", "ultra"])
        .run()
        .success();
    insta::assert_snapshot!(stable(&out, dir.path()));
    assert_eq!(tree(dir.path()), before, "plan writes nothing");
}

#[test]
fn plan_high_on_offline_low_tier() {
    let dir = deployment("offline");
    let out = xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "high"])
        .run()
        .success();
    insta::assert_snapshot!(stable(&out, dir.path()));
    assert!(!out.stdout.contains("123456"), "no password in the plan");
}

#[test]
fn plan_detailed_exitcode() {
    let dir = deployment("offline");
    xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "high", "--detailed-exitcode"])
        .run()
        .code(2);
    let out = xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "low", "--detailed-exitcode"])
        .run()
        .code(0);
    assert!(out.stdout.contains("Nothing to change"), "{}", out.stdout);
    xzup()
        .cwd(dir.path())
        .args([
            "apply",
            "--dry-run",
            "--tier",
            "high",
            "--detailed-exitcode",
        ])
        .run()
        .code(2);
}

#[test]
fn dry_run_prints_the_same_plan() {
    let dir = deployment("offline");
    let plan = xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "extreme"])
        .run()
        .success();
    let dry = xzup()
        .cwd(dir.path())
        .args(["apply", "--tier", "extreme", "--dry-run"])
        .run()
        .success();
    assert_eq!(stable(&plan, dir.path()), stable(&dry, dir.path()));
}

#[test]
fn plan_json_is_one_document() {
    let dir = deployment("offline");
    let before = tree(dir.path());
    let out = xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "ultra", "--format", "json"])
        .run()
        .success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(doc["tier"], "ultra");
    assert_eq!(doc["from"]["tier"], "low");
    assert_eq!(doc["to"]["tier"], "ultra");
    assert_eq!(doc["changes"], true);
    let step_names = |doc: &serde_json::Value| -> Vec<String> {
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    // The default: the backup is pre-copied while the stack runs.
    assert_eq!(
        step_names(&doc),
        [
            "preflight",
            "precopy",
            "down",
            "delta",
            "write compose",
            "up",
            "archive",
            "verify",
            "commit"
        ]
    );
    let direct = xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "ultra", "--format", "json"])
        .args(["--backup-mode", "direct"])
        .run()
        .success();
    let direct: serde_json::Value = serde_json::from_str(&direct.stdout).unwrap();
    assert_eq!(
        step_names(&direct),
        [
            "preflight",
            "down",
            "backup",
            "write compose",
            "up",
            "verify",
            "commit"
        ]
    );
    let pool = doc["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["setting"] == "innodb_buffer_pool_size")
        .unwrap();
    assert_eq!(pool["current"], "512M");
    assert_eq!(pool["target"], "4G");
    assert!(
        doc["diff"]
            .as_str()
            .unwrap()
            .contains("+          memory: 32G")
    );
    assert!(!out.stdout.contains("123456"), "no password in JSON");
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn only_upgrades_some_roles_and_reports_custom() {
    let dir = deployment("offline");
    let out = xzup()
        .cwd(dir.path())
        .args([
            "plan",
            "--tier",
            "ultra",
            "--only",
            "server,db",
            "--format",
            "json",
        ])
        .run()
        .success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["to"]["tier"], "custom");
    assert_eq!(doc["to"]["per_role"]["server"], "ultra");
    assert_eq!(doc["to"]["per_role"]["db"], "ultra");
    assert_eq!(doc["to"]["per_role"]["redis"], "low");
    assert_eq!(doc["to"]["per_role"]["web"], "low");
    let diff = doc["diff"].as_str().unwrap();
    assert!(!diff.contains("maxmemory"), "redis untouched:\n{diff}");
}

#[test]
fn render_writes_file_atomically_and_keeps_source() {
    let dir = deployment("upstream");
    let source = std::fs::read(dir.path().join("docker-compose_all.yml")).unwrap();
    let out_path = dir.path().join("out.yml");
    xzup()
        .cwd(dir.path())
        .args(["render", "--tier", "high", "-o", "out.yml"])
        .run()
        .success();
    let written = std::fs::read_to_string(&out_path).unwrap();
    assert!(written.contains("--innodb_buffer_pool_size=2G"));
    assert!(
        written.contains("MYSQL_ROOT_PASSWORD=123456"),
        "the file itself is complete"
    );
    assert_eq!(
        std::fs::read(dir.path().join("docker-compose_all.yml")).unwrap(),
        source
    );
    // Rendering again over a different file keeps the old one aside.
    std::fs::write(&out_path, "hand edited\n").unwrap();
    let out = xzup()
        .cwd(dir.path())
        .args(["render", "--tier", "high", "-o", "out.yml"])
        .run()
        .success();
    assert!(
        out.stderr.contains("kept the previous file as"),
        "{}",
        out.stderr
    );
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("out.yml.xzup-quarantine-")
        })
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read_to_string(kept[0].path()).unwrap(),
        "hand edited\n"
    );
}

#[test]
fn render_to_stdout_redacts_secrets() {
    let dir = deployment("upstream");
    let out = xzup()
        .cwd(dir.path())
        .args(["render", "--tier", "high"])
        .run()
        .success();
    assert!(!out.stdout.contains("123456"));
    assert!(out.stdout.contains("MYSQL_ROOT_PASSWORD=********"));
}

fn error_case(args: &[&str], dir: &Path) -> Outcome {
    let before = tree(dir);
    let out = xzup().cwd(dir).args(args).run().code(1);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("\nhint: "), "a hint: {}", out.stderr);
    assert!(out.stdout.is_empty());
    assert_eq!(tree(dir), before, "nothing written");
    out
}

#[test]
fn unknown_tier_lists_the_valid_ones() {
    let dir = deployment("offline");
    let out = error_case(&["plan", "--tier", "mega"], dir.path());
    assert_eq!(
        out.stderr,
        "error: unknown tier `mega`\nhint: the tiers are: low, high, ultra, extreme\n"
    );
}

#[test]
fn missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = error_case(&["-C", "nope", "plan", "--tier", "high"], dir.path());
    assert!(
        out.stderr.contains("`nope` does not exist"),
        "{}",
        out.stderr
    );
}

#[test]
fn no_compose_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = error_case(&["plan", "--tier", "high"], dir.path());
    assert!(
        out.stderr.contains("docker-compose_all.yml"),
        "{}",
        out.stderr
    );
}

#[test]
fn invalid_yaml_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  a:\n    image: x\n   bad: [\n",
    )
    .unwrap();
    let out = error_case(&["plan", "--tier", "high"], dir.path());
    assert!(
        out.stderr
            .contains("docker-compose.yml` is not valid YAML at line 4, column 4"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_renamed_service_is_found_by_its_image() {
    let dir = deployment("offline");
    let path = dir.path().join("docker-compose-offline.yml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("xiaozhi-esp32-server-redis:", "cache:");
    std::fs::write(&path, text).unwrap();
    let out = xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "high"])
        .run()
        .success();
    assert!(
        out.stdout
            .contains("  redis  = `cache`, by image `redis:8.0`\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("+      - --maxmemory 1536mb"),
        "{}",
        out.stdout
    );
    // A mapping to a service that is not there is refused, naming the ones that are.
    let out = xzup()
        .cwd(dir.path())
        .args(["--service", "redis=xiaozhi-esp32-server-redis"])
        .args(["plan", "--tier", "high"])
        .run()
        .code(64);
    assert!(out.stderr.contains("`cache`"), "{}", out.stderr);
    assert!(
        out.stderr.contains("`--service redis=NAME`"),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_errors_exit_64() {
    let dir = deployment("offline");
    let out = xzup().cwd(dir.path()).args(["plan"]).run().code(64);
    assert!(out.stderr.contains("--tier"), "{}", out.stderr);
    xzup().args(["frobnicate"]).run().code(64);
    xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "high", "--only", "gpu"])
        .run()
        .code(64);
    xzup().args(["--help"]).run().success();
}

#[test]
fn live_options_are_checked_before_anything_runs() {
    let dir = deployment("offline");
    let out = xzup()
        .cwd(dir.path())
        .args(["apply", "--tier", "high", "--backup"])
        .run()
        .code(64);
    assert!(
        out.stderr.contains(
            "--backup is for --strategy live or auto: the restart path always takes its backup"
        ),
        "{}",
        out.stderr
    );
    let out = xzup()
        .cwd(dir.path())
        .args(["apply", "--tier", "high", "--strategy", "sometimes"])
        .run()
        .code(64);
    assert!(out.stderr.contains("restart, live, auto"), "{}", out.stderr);
    assert!(!dir.path().join(".xzup").exists(), "nothing written");
}

// ---- output: closed pipes, JSON, --verbose ----

#[test]
fn a_closed_stdout_ends_plan_cleanly_with_its_own_exit_code() {
    // `xzup plan … | head -0`: nothing can be written, and that is no error; the exit code
    // still says whether changes are pending.
    let dir = deployment("upstream");
    let out = xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "ultra", "--detailed-exitcode"])
        .closed_stdout()
        .run()
        .code(2);
    assert_eq!(out.stderr, "", "no panic, no error");
    for format in ["text", "json"] {
        let out = xzup()
            .cwd(dir.path())
            .args(["--format", format, "history"])
            .closed_stdout()
            .closed_stderr()
            .run();
        assert_eq!(out.code, 0, "{format}");
    }
}

#[test]
fn a_closed_stdout_does_not_stop_the_command_midway() {
    // The note comes after the rendered file: the command went on to its end.
    let dir = deployment("upstream");
    let out = xzup()
        .cwd(dir.path())
        .args(["render", "--tier", "high"])
        .closed_stdout()
        .run()
        .success();
    assert!(
        out.stderr.ends_with(
            "\nnote: secrets (passwords in `environment:`, commands and URLs) are shown as ******** on stdout; write the file with `-o FILE`\n"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn a_full_disk_on_stdout_is_an_error() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this machine");
        return;
    }
    let dir = deployment("upstream");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "ultra"])
        .stdout(full)
        .run()
        .code(1);
    assert_eq!(
        out.stderr,
        "error: the command ran to its end, but writing its output to stdout failed: No space left on device (os error 28)\n"
    );
}

#[test]
fn render_json_is_one_document_with_secrets_masked() {
    let dir = deployment("upstream");
    let out = xzup()
        .cwd(dir.path())
        .args(["--format", "json", "render", "--tier", "high"])
        .run()
        .success();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(doc["tier"], "high");
    assert_eq!(doc["action"], "printed");
    assert_eq!(doc["file"], serde_json::Value::Null);
    let compose = doc["compose"].as_str().unwrap();
    assert!(
        compose.contains("MYSQL_ROOT_PASSWORD=********"),
        "{compose}"
    );
    assert!(!out.stdout.contains("123456"));

    let json_render = || {
        let out = xzup()
            .cwd(dir.path())
            .args([
                "--format", "json", "render", "--tier", "high", "-o", "out.yml",
            ])
            .run()
            .success();
        serde_json::from_str::<serde_json::Value>(&out.stdout).expect("one JSON document")
    };
    let written = json_render();
    let path = dir.path().join("out.yml");
    assert_eq!(
        written,
        serde_json::json!({
            "tier": "high", "action": "written", "file": path,
            "kept_previous_as": null, "compose": null,
        })
    );
    assert_eq!(json_render()["action"], "up-to-date");
}

#[test]
fn verbose_shows_each_docker_command_and_the_stderr_of_a_failed_one() {
    let dir = deployment("upstream");
    let bin = tempfile::tempdir().unwrap();
    let docker = bin.path().join("docker");
    std::fs::write(
        &docker,
        "#!/bin/sh\n\
         if [ \"$1 $2\" = \"compose version\" ]; then echo 2.40.3; exit 0; fi\n\
         echo \"Error response from daemon: permission denied (password 123456)\" >&2\n\
         echo \"one more line\" >&2\n\
         exit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&docker, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let out = xzup()
        .cwd(dir.path())
        .env("PATH", &path)
        .args(["--verbose", "status"])
        .run()
        .success();
    assert!(!out.stderr.contains("123456"), "{}", out.stderr);
    let stderr = regex_lite::Regex::new(r"after \d+\.\ds")
        .unwrap()
        .replace_all(&out.stderr, "after [T]s");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines[0], "$ docker compose version --short");
    assert!(lines[1].starts_with("$ docker ps -a"), "{stderr}");
    assert_eq!(
        lines[2..6],
        [
            "  exit code 1 after [T]s",
            "  stderr:",
            "    Error response from daemon: permission denied (password ********)",
            "    one more line",
        ],
        "{stderr}"
    );
    assert!(lines[6].starts_with("no engine: `docker ps -a"), "{stderr}");

    // Without --verbose: none of it.
    let out = xzup()
        .cwd(dir.path())
        .env("PATH", &path)
        .args(["status"])
        .run()
        .success();
    assert_eq!(out.stderr, "");
}

/// Issue 10, defect 4: secrets written in every YAML spelling are masked in `plan`,
/// `render` stdout and both as JSON, found by the structure; names that merely contain
/// the password (`xiaozhi-esp32-server`, with the password `xiaozhi`) are left whole.
#[test]
fn secrets_in_every_spelling_are_masked_and_names_kept() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(
        &crate::harness::repo_root().join("tests/xzup/corpus/23-secrets-every-form"),
        dir.path(),
    );
    // As each is written in the file, and as it reads once decoded.
    let secrets = [
        "it''sS3cret",
        "it'sS3cret",
        "dq\\\"pw",
        "dq\"pw",
        "\\x53ecretToken",
        "SecretToken",
        "urlpass1",
        "urlpass2",
        "rq pass",
        "ma5ter",
    ];
    for args in [
        &["plan", "--tier", "high"][..],
        &["plan", "--tier", "high", "--format", "json"],
        &["render", "--tier", "high"],
        &["render", "--tier", "high", "--format", "json"],
    ] {
        let out = xzup().cwd(dir.path()).args(args).run();
        assert!(out.code == 0 || out.code == 2, "{args:?}: {}", out.stderr);
        let all = format!("{}{}", out.stdout, out.stderr);
        for secret in secrets {
            assert!(!all.contains(secret), "{args:?} shows `{secret}`:\n{all}");
        }
        // `xiaozhi` is a password here; every occurrence left is part of a name.
        let re = regex_lite::Regex::new(r"xiaozhi([^_\-]|$)").unwrap();
        assert!(
            !re.is_match(&all),
            "{args:?} shows the password `xiaozhi`:\n{all}"
        );
        assert!(
            !all.contains("********-esp32"),
            "{args:?} damaged a name:\n{all}"
        );
        assert!(all.contains("xiaozhi-esp32-server-db"), "{args:?}:\n{all}");
    }
    let out = xzup()
        .cwd(dir.path())
        .args(["render", "--tier", "high"])
        .run()
        .success();
    insta::assert_snapshot!(out.stdout);
}

/// Issue 10, defect 12: a source already named for the tier is the file `apply` replaces;
/// the plan says so instead of "write X … X is left as it is".
#[test]
fn plan_says_a_source_named_for_the_tier_is_replaced() {
    let dir = deployment("offline");
    std::fs::rename(
        dir.path().join("docker-compose-offline.yml"),
        dir.path().join("docker-compose-high.yml"),
    )
    .unwrap();
    let out = xzup()
        .cwd(dir.path())
        .args(["-f", "docker-compose-high.yml", "plan", "--tier", "high"])
        .run()
        .success();
    let step: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| !l.contains("write compose"))
        .take(3)
        .collect();
    assert_eq!(
        step,
        [
            "  5. write compose  replace docker-compose-high.yml (the source) with the new file",
            "                    the current docker-compose-high.yml is kept aside as docker-compose-high.yml.xzup-quarantine-<time>",
            "                    and in the run's record (.xzup/runs/<run>/previous-compose.yml): a rollback puts it back",
        ],
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("is left as it is"), "{}", out.stdout);

    // Beside another source, a different file already at the target is named too.
    let dir = deployment("offline");
    std::fs::write(dir.path().join("docker-compose-high.yml"), "# old render\n").unwrap();
    let out = xzup()
        .cwd(dir.path())
        .args(["plan", "--tier", "high"])
        .run()
        .success();
    assert!(
        out.stdout.contains(
            "docker-compose-offline.yml is left as it is\n                    the different \
             docker-compose-high.yml already there is kept aside as \
             docker-compose-high.yml.xzup-quarantine-<time>\n"
        ),
        "{}",
        out.stdout
    );
}

/// The test hooks are compiled in only with the `test-hooks` feature: a release binary
/// holds none of their variable names, so it can never read one.
#[test]
fn test_variables_are_in_test_builds_only() {
    let bin = std::fs::read(env!("CARGO_BIN_EXE_xzup")).expect("the built binary");
    // Searched as text by the (optimised) standard library: a byte loop of this test's
    // own debug build takes a minute over the debug binary.
    let text = String::from_utf8_lossy(&bin);
    let holds = |name: &str| text.contains(name);
    for var in [
        "XZUP_TEST_PAUSE_AT",
        "XZUP_TEST_PAUSE_RELEASE",
        "XZUP_TEST_FAULT_AT",
        "XZUP_TEST_FAIL_AT",
        "XZUP_TEST_VOLUMES_UNREADABLE",
    ] {
        assert_eq!(
            holds(var),
            cfg!(feature = "test-hooks"),
            "{var} in a build {} the test-hooks feature",
            if cfg!(feature = "test-hooks") {
                "with"
            } else {
                "without"
            }
        );
    }
}
