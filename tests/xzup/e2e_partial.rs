//! Partial stacks end to end, on the real engine: the server alone (upstream's simple
//! deployment), and the server with the manager web, MySQL and Redis being elsewhere. Each
//! starts on the `seed` tier of `fixtures/e2e-tiers.toml` from a file of
//! `fixtures/roles/`; `apply` sizes only the roles that are there, verifies them, and the
//! run's role map carries resume and rollback.

use std::collections::BTreeSet;
use std::path::Path;

use crate::e2e_upgrade::{
    assert_every_step_ok, history, limits, newest_journal, on_tier, step_status, tiers_file, xzup,
};
use crate::harness::{docker_available, repo_root};
use crate::stack::{SERVER, TestStack, WEB};

const MIB: u64 = 1 << 20;
/// What the seed and grow tiers give the server and the web (the same for both).
const SEED: (u64, i64, u64) = (256 * MIB, 500_000_000, 128 * MIB);
const GROW: (u64, i64, u64) = (512 * MIB, 1_000_000_000, 256 * MIB);

/// A healthy stack of `fixtures/roles/NAME`, on the seed tier, as `docker-compose.yml`.
fn seeded(name: &str) -> TestStack {
    let text =
        std::fs::read_to_string(repo_root().join("tests/xzup/fixtures/roles").join(name)).unwrap();
    TestStack::builder(&on_tier(&text, "seed"))
        .file_name("docker-compose.yml")
        .build()
}

/// The top-level names in a `.tar.gz`.
fn archive_roots(archive: &Path) -> BTreeSet<String> {
    let out = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(archive)
        .output()
        .expect("tar runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split('/').next().map(str::to_string))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// `xzup status` of the stack: it says the tier (and the tiers file it is named in), the roles, and how many containers have
/// the file's limits.
fn assert_status(stack: &TestStack, tier: &str, roles: &str, matching: usize) {
    let out = xzup(stack).args(["status"]).run().success();
    for line in [
        format!(
            "Tier:        {tier} (tiers file {})\n",
            tiers_file().display()
        ),
        format!("Roles:       {roles}\n"),
    ] {
        assert!(out.stdout.contains(&line), "{line:?} in\n{}", out.stdout);
    }
    assert_eq!(
        out.stdout.matches("limits match the file").count(),
        matching,
        "{}",
        out.stdout
    );
}

/// The applied run's journal: every step done, the role map it ran with, its backup.
fn check_applied_run(stack: &TestStack, roles: serde_json::Value, backed_up: &[&str]) {
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "succeeded", "{journal}");
    assert_eq!(journal["roles"], roles);
    assert_eq!(step_status(&journal, "verify").as_deref(), Some("done"));
    let archive = stack
        .dir()
        .join(journal["backup"]["path"].as_str().unwrap());
    assert_eq!(archive_roots(&archive), set(backed_up));
}

#[test]
fn a_server_only_deployment_is_applied_verified_and_rolled_back() {
    if !docker_available() {
        return;
    }
    let stack = seeded("server-only.yml");
    assert_eq!(limits(&stack, SERVER), SEED);
    let roles = "server = `xiaozhi-esp32-server`; db, redis, web not in this deployment";

    let out = xzup(&stack)
        .args(["apply", "--tier", "grow", "--verify-window", "2"])
        .run()
        .success();
    assert!(
        out.stderr.contains(&format!("Roles: {roles}\n")),
        "{}",
        out.stderr
    );
    assert_every_step_ok(&out);
    // Verified: the server's limits, and nothing of a db or a redis.
    assert!(
        out.stderr.contains("server limits match;"),
        "{}",
        out.stderr
    );
    assert_eq!(limits(&stack, SERVER), GROW);
    // No data-bearing service: the archive holds the compose file and `data/`.
    check_applied_run(
        &stack,
        serde_json::json!({"server": {"service": SERVER, "reason": {"by": "upstream-name"}}}),
        &[".xzup", "data", "docker-compose.yml"],
    );
    assert_status(&stack, "grow", roles, 1);

    xzup(&stack).args(["rollback"]).run().success();
    assert_eq!(limits(&stack, SERVER), SEED);
    let runs = history(&stack);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["kind"], "rollback");
    assert_eq!(runs[0]["outcome"], "succeeded");
    assert_eq!(
        runs[0]["roles"], runs[1]["roles"],
        "the rollback ran with the upgrade's map"
    );
    let out = xzup(&stack).args(["history"]).run().success();
    assert!(
        out.stdout.contains(&format!("  roles     {roles}\n")),
        "{}",
        out.stdout
    );
    assert_status(&stack, "seed", roles, 1);
}

#[test]
fn server_and_web_with_no_db_and_no_redis() {
    if !docker_available() {
        return;
    }
    let stack = seeded("server-web.yml");
    stack.write_upload_files(10);
    let uploads = stack.checksum_uploads();
    assert_eq!(limits(&stack, SERVER), SEED);
    assert_eq!(limits(&stack, WEB), SEED);
    let roles = "server = `xiaozhi-esp32-server`; web = `xiaozhi-esp32-server-web`; db, redis \
                 not in this deployment";

    let out = xzup(&stack)
        .args(["apply", "--tier", "grow", "--verify-window", "2"])
        .run()
        .success();
    assert_every_step_ok(&out);
    assert!(
        out.stderr.contains("server limits, web limits match;"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("lan-db-secret"), "{}", out.stderr);
    assert_eq!(limits(&stack, SERVER), GROW);
    assert_eq!(limits(&stack, WEB), GROW);
    check_applied_run(
        &stack,
        serde_json::json!({
            "server": {"service": SERVER, "reason": {"by": "upstream-name"}},
            "web": {"service": WEB, "reason": {"by": "upstream-name"}},
        }),
        &[".xzup", "data", "docker-compose.yml", "uploadfile"],
    );
    assert_status(&stack, "grow", roles, 2);

    // The rollback goes by the map the upgrade recorded: a mapping made since, that no
    // longer fits the file, does not change what it does.
    let config = stack.dir().join("xzup.toml");
    std::fs::write(&config, "[services]\nweb = \"gone\"\n").unwrap();
    xzup(&stack).args(["status"]).run().code(64);
    xzup(&stack).args(["rollback"]).run().success();
    std::fs::remove_file(&config).unwrap();
    assert_eq!(limits(&stack, SERVER), SEED);
    assert_eq!(limits(&stack, WEB), SEED);
    assert_eq!(stack.checksum_uploads(), uploads, "uploads intact");
    let runs = history(&stack);
    assert_eq!(runs[0]["kind"], "rollback");
    assert_eq!(runs[0]["roles"], runs[1]["roles"]);
    assert_status(&stack, "seed", roles, 2);
}
