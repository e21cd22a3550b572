//! Version upgrades end to end (issue 14), on a real engine with real MariaDB: the web
//! stand-ins of `scripts/fixture-images.sh` have a forward-only schema — `web_v2` adds
//! `sys_params.remark` and changelog entry 2 at start, `web_v1` refuses to start on a
//! changelog entry newer than itself, `web_v2-fails` migrates and then fails its start.
//! Each stack starts on `web_v1` with rows in `sys_params` and in the harness table.

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::e2e_upgrade::{newest_journal, step_status, xzup};
use crate::harness::docker_available;
use crate::stack::{self, DB, REDIS, TestStack, WEB};

const REPO: &str = "ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server";

fn tag(t: &str) -> String {
    format!("{REPO}:{t}")
}

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker").args(args).output().expect("docker");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

fn image_id(reference: &str) -> String {
    let (ok, id) = docker(&["image", "inspect", "--format", "{{.Id}}", reference]);
    assert!(
        ok,
        "image `{reference}` is here (scripts/fixture-images.sh builds it)"
    );
    id
}

/// Puts the fixture tags back on the images the fixture script built (found by their
/// label, whatever a test re-tagged) and removes the names xzup kept images under, when
/// the test ends. Made right after the stack, so it is dropped first, while the stack still
/// holds the engine lock (no other test sees the tags move).
struct Tags;

impl Tags {
    fn restore() {
        for (t, label) in [
            ("web_v1", "standin-web-v1"),
            ("web_v2", "standin-web-v2"),
            ("web_v2-fails", "standin-web-v2-fails"),
        ] {
            let filter = format!("label=org.xzup.fixture={label}");
            let (_, ids) = docker(&["image", "ls", "-q", "--no-trunc", "--filter", &filter]);
            if let Some(id) = ids.lines().next() {
                docker(&["tag", id, &tag(t)]);
            }
        }
    }
}

impl Drop for Tags {
    fn drop(&mut self) {
        Tags::restore();
        let (_, listed) = docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", REPO]);
        for kept in listed.lines().filter(|l| l.contains(":xzup-")) {
            docker(&["rmi", kept]);
        }
    }
}

/// The upstream file (fast healthchecks) with the web on `web_v1`.
fn v1_text() -> String {
    let text = stack::upstream_fast();
    let out = text.replace(&tag("web_latest"), &tag("web_v1"));
    assert_ne!(out, text);
    out
}

/// Waits until the web answers HTTP on 8002 (its start-up migrations done).
fn wait_web(stack: &TestStack) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let answered = std::net::TcpStream::connect("127.0.0.1:8002")
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(3)))?;
                s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                let mut text = String::new();
                s.read_to_string(&mut text)?;
                Ok(text)
            })
            .is_ok_and(|t| t.starts_with("HTTP/"));
        if answered {
            return;
        }
        let web = stack.container(WEB);
        assert!(
            Instant::now() < deadline,
            "the web never answered on 8002 ({}, restarts {})",
            web.status,
            web.restart_count
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A stack on web v1 with 50 rows in `sys_params` and 200 in the harness table; the
/// checksums of both.
fn v1_stack() -> (TestStack, String) {
    let stack = TestStack::new(&v1_text());
    wait_web(&stack);
    let values: Vec<String> = (1..=50).map(|i| format!("({i}, 'param-{i}')")).collect();
    stack.mysql(&format!(
        "INSERT INTO sys_params (id, name) VALUES {}",
        values.join(",")
    ));
    stack.insert_rows(200);
    let sums = data_sums(&stack);
    (stack, sums)
}

fn data_sums(stack: &TestStack) -> String {
    let params = stack.mysql("SELECT COUNT(*), SUM(CRC32(CONCAT(id, ':', name))) FROM sys_params");
    format!("{}|{}", params.trim(), stack.checksum_rows())
}

fn has_remark(stack: &TestStack) -> bool {
    let n = stack.mysql(&format!(
        "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = '{}' AND table_name = 'sys_params' AND column_name = 'remark'",
        stack::DATABASE
    ));
    n.trim() == "1"
}

fn schema_version(stack: &TestStack) -> String {
    stack
        .mysql("SELECT MAX(version) FROM xzup_changelog")
        .trim()
        .to_string()
}

fn quarantined_datadirs(stack: &TestStack) -> usize {
    std::fs::read_dir(stack.dir().join("mysql"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("data.xzup-quarantine-")
        })
        .count()
}

fn apply_v2(stack: &TestStack) {
    let out = xzup(stack)
        .args([
            "apply",
            "--image",
            "web=web_v2",
            "--no-pull",
            "--verify-window",
            "1",
        ])
        .run()
        .success();
    assert!(
        out.stderr.contains("the web answers on port 8002"),
        "verify waited for the web: {}",
        out.stderr
    );
    assert!(out.stderr.contains("images of "), "{}", out.stderr);
}

#[test]
fn e2e_images_apply_a_new_web_then_roll_back_to_v1_and_its_data() {
    if !docker_available() {
        return;
    }
    let (stack, sums) = v1_stack();
    let _tags = Tags;
    let (v1, v2) = (image_id(&tag("web_v1")), image_id(&tag("web_v2")));
    assert_eq!(schema_version(&stack), "1");
    let text = std::fs::read_to_string(stack.compose_path()).unwrap();

    let plan = xzup(&stack)
        .args(["plan", "--image", "web=web_v2", "--detailed-exitcode"])
        .run()
        .code(2);
    assert!(
        plan.stdout.contains(&format!(
            "web     {} (runs {}, version 1) -> {}",
            tag("web_v1"),
            &v1[7..19],
            tag("web_v2")
        )),
        "{}",
        plan.stdout
    );
    apply_v2(&stack);
    assert_eq!(stack.container(WEB).image_id, v2);
    assert!(has_remark(&stack), "v2 migrated: the column is there");
    assert_eq!(schema_version(&stack), "2");
    assert_eq!(data_sums(&stack), sums, "rows intact");
    assert_eq!(
        std::fs::read_to_string(stack.compose_path()).unwrap(),
        text.replace(&tag("web_v1"), &tag("web_v2")),
        "only the web's image: changed, in place"
    );
    let journal = newest_journal(stack.dir()).unwrap();
    let kept = &journal["kept_images"][WEB];
    assert_eq!(kept["id"], v1.as_str(), "{journal}");
    assert_eq!(kept["reference"], tag("web_v1").as_str());
    let kept_as = kept["kept_as"].as_str().unwrap().to_string();
    assert!(kept_as.starts_with(&format!("{REPO}:xzup-")), "{kept_as}");
    assert_eq!(image_id(&kept_as), v1, "kept under xzup's name");
    assert_eq!(journal["backup"]["verified"], true);

    let out = xzup(&stack).args(["rollback"]).run().success();
    assert!(out.stderr.contains("restored"), "{}", out.stderr);
    assert_eq!(stack.container(WEB).image_id, v1, "v1 runs again");
    wait_web(&stack);
    assert!(!has_remark(&stack), "the data restore undid the migration");
    assert_eq!(schema_version(&stack), "1");
    assert_eq!(data_sums(&stack), sums, "rows intact");
    assert_eq!(
        quarantined_datadirs(&stack),
        1,
        "what v2 left is kept aside"
    );
    assert_eq!(std::fs::read_to_string(stack.compose_path()).unwrap(), text);
}

#[test]
fn e2e_images_rollback_finds_the_exact_image_after_a_retag_and_a_prune() {
    if !docker_available() {
        return;
    }
    let (stack, sums) = v1_stack();
    let _tags = Tags;
    let v1 = image_id(&tag("web_v1"));
    apply_v2(&stack);
    // The operator re-tags over v1 and prunes: only xzup's name keeps v1 now.
    assert!(docker(&["tag", &tag("web_v2"), &tag("web_v1")]).0);
    assert!(docker(&["image", "prune", "-f"]).0);
    assert_ne!(image_id(&tag("web_v1")), v1);

    let out = xzup(&stack).args(["rollback"]).run().success();
    assert!(
        out.stderr
            .contains(&format!("{} is {} again", tag("web_v1"), &v1[7..19])),
        "{}",
        out.stderr
    );
    assert_eq!(stack.container(WEB).image_id, v1, "the exact v1 runs");
    wait_web(&stack);
    assert!(!has_remark(&stack));
    assert_eq!(data_sums(&stack), sums);
}

#[test]
fn e2e_images_a_new_web_that_fails_its_start_rolls_back_to_v1() {
    if !docker_available() {
        return;
    }
    let (stack, sums) = v1_stack();
    let _tags = Tags;
    let v1 = image_id(&tag("web_v1"));
    let out = xzup(&stack)
        .args([
            "apply",
            "--image",
            "web=web_v2-fails",
            "--no-pull",
            "--wait-timeout",
            "60",
            "--verify-window",
            "1",
        ])
        .run()
        .code(3);
    assert!(
        out.stderr.contains("rollback-restore-data"),
        "{}",
        out.stderr
    );
    assert_eq!(stack.container(WEB).image_id, v1);
    wait_web(&stack);
    assert!(!has_remark(&stack), "the half-done migration is undone");
    assert_eq!(schema_version(&stack), "1");
    assert_eq!(data_sums(&stack), sums);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(journal["outcome"], "rolled-back", "{journal}");
    assert_eq!(
        step_status(&journal, "rollback-check").as_deref(),
        Some("done")
    );
}

#[test]
fn e2e_images_an_image_that_cannot_be_pulled_is_refused_before_anything_stops() {
    if !docker_available() {
        return;
    }
    let stack = TestStack::new(&v1_text());
    let _tags = Tags;
    let before: Vec<(String, String)> = stack
        .containers()
        .into_iter()
        .map(|c| (c.id, c.image_id))
        .collect();
    let text = std::fs::read_to_string(stack.compose_path()).unwrap();
    let started = Instant::now();
    let out = xzup(&stack)
        .args(["apply", "--image", "web=xzup-e2e.invalid/xiaozhi/web:v9"])
        .run()
        .code(1);
    assert!(
        out.stderr
            .contains("the new image of `xiaozhi-esp32-server-web` cannot be pulled"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was stopped"), "{}", out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the pull failed quickly"
    );
    let after: Vec<(String, String)> = stack
        .containers()
        .into_iter()
        .map(|c| (c.id, c.image_id))
        .collect();
    assert_eq!(after, before, "the same containers, untouched");
    assert_eq!(std::fs::read_to_string(stack.compose_path()).unwrap(), text);
    let journal = newest_journal(stack.dir()).unwrap();
    assert_eq!(
        step_status(&journal, "preflight").as_deref(),
        Some("failed")
    );
    assert_eq!(step_status(&journal, "down"), None);
    assert!(
        journal.get("kept_images").is_none(),
        "nothing kept: {journal}"
    );

    // Without a pull, an image that is not here is refused the same way.
    let out = xzup(&stack)
        .args(["apply", "--image", "web=web_v7", "--no-pull"])
        .run()
        .code(1);
    assert!(out.stderr.contains("not present locally"), "{}", out.stderr);
    let after: Vec<(String, String)> = stack
        .containers()
        .into_iter()
        .map(|c| (c.id, c.image_id))
        .collect();
    assert_eq!(after, before, "still untouched");
}

#[test]
fn e2e_images_pin_writes_the_running_db_and_redis_tags_and_nothing_else() {
    if !docker_available() {
        return;
    }
    // The upstream file with Redis untagged too (the fixture's `redis:latest` is 8.0).
    let text = stack::upstream_fast().replace("image: redis:8.0", "image: redis");
    let stack = TestStack::new(&text);
    let plan = xzup(&stack)
        .args(["plan", "--tier", "seed"])
        .run()
        .success();
    assert!(
        plan.stdout.contains(&format!(
            "db `{DB}` uses `mysql:latest`, which a pull may move"
        )),
        "{}",
        plan.stdout
    );
    let dry = xzup(&stack).args(["pin", "--dry-run"]).run().code(2);
    assert_eq!(
        std::fs::read_to_string(stack.compose_path()).unwrap(),
        text,
        "{}",
        dry.stdout
    );

    let out = xzup(&stack).args(["pin"]).run().success();
    assert!(
        out.stderr
            .contains(&format!("`{DB}` now names `mysql:8.4.5`")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("`{REDIS}` now names `redis:8.0`")),
        "{}",
        out.stderr
    );
    let pinned = std::fs::read_to_string(stack.compose_path()).unwrap();
    assert_eq!(
        pinned,
        text.replace("image: mysql:latest", "image: mysql:8.4.5")
            .replace("image: redis\n", "image: redis:8.0\n"),
        "the two image: values, nothing else"
    );
    let kept: Vec<_> = std::fs::read_dir(stack.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .contains(".xzup-quarantine-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "the file as it was is kept aside");
    assert_eq!(std::fs::read_to_string(kept[0].path()).unwrap(), text);
    // Pinned now: nothing more to do.
    xzup(&stack).args(["pin", "--dry-run"]).run().success();
}
