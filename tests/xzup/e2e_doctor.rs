//! `xzup doctor` and `xzup recommend` end to end, on the real engine, with the tiers of
//! `fixtures/doctor-tiers.toml`: a loaded stack on `tight` (MariaDB busy with queries beyond
//! its quarter core, Redis filled past its 64mb `maxmemory`) is undersized and evicting, and
//! gets the larger test tiers for those roles; an idle stack on `grow` is oversized and
//! gets the smallest; a server-only deployment reports what it has and names the roles it
//! has not. Windows are a few seconds long (`--window`).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use std::path::PathBuf;

use crate::e2e_upgrade::{on_tier, xzup};
use crate::harness::{Xzup, docker_available, repo_root};
use crate::stack::{self, DB, MYSQL_ROOT_PASSWORD, REDIS, TABLE, TestStack};

fn doctor_tiers() -> PathBuf {
    repo_root().join("tests/xzup/fixtures/doctor-tiers.toml")
}

/// The upstream file (1 s healthchecks) with `tier` of the doctor tiers rendered in.
fn upstream_on(tier: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(stack::COMPOSE_FILE), stack::upstream_fast()).unwrap();
    let out = dir.path().join("tier.yml");
    Xzup::new()
        .arg_path("-C", dir.path())
        .arg_path("--tiers-file", &doctor_tiers())
        .args(["render", "--tier", tier])
        .arg_path("-o", &out)
        .run()
        .success();
    std::fs::read_to_string(out).unwrap()
}

/// `xzup` in the stack's dir with its Compose flavour and the doctor tiers.
fn dz(stack: &TestStack) -> Xzup {
    Xzup::new()
        .cwd(stack.dir())
        .env("XZUP_COMPOSE", stack.flavour().as_str())
        .arg_path("--tiers-file", &doctor_tiers())
}

/// The finding kinds of a doctor report, with their role.
fn kinds(report: &Value) -> Vec<(String, Value)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap().to_string(), f["role"].clone()))
        .collect()
}

fn role<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == name)
        .unwrap_or_else(|| panic!("no role {name} in {report}"))
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `docker exec` a command in a container, in the background.
fn exec_bg(container: &str, args: &[&str]) -> Child {
    Command::new("docker")
        .args(["exec", "-e", "MYSQL_PWD", container])
        .args(args)
        .env("MYSQL_PWD", MYSQL_ROOT_PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker exec starts")
}

/// Load that runs until dropped: CPU-bound queries on MariaDB (more than its one cpu), a
/// table scan loop, and Redis writes past `maxmemory` with reads.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(db: &str, redis: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let loops: Vec<(String, Vec<String>)> = vec![
            (db.into(), mysql("SELECT BENCHMARK(30000000, MD5('xzup'))")),
            (
                db.into(),
                mysql("SELECT BENCHMARK(30000000, SHA2('xzup', 256))"),
            ),
            (
                db.into(),
                mysql(&format!(
                    "SELECT SUM(LENGTH(payload)) FROM {}.{TABLE}; SELECT SUM(LENGTH(payload)) FROM {}.{TABLE}; SELECT SUM(LENGTH(payload)) FROM {}.{TABLE}",
                    stack::DATABASE,
                    stack::DATABASE,
                    stack::DATABASE
                )),
            ),
            (redis.into(), redis_writes(2000)),
        ];
        for (container, args) in loops {
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                while !stop.load(Ordering::SeqCst) {
                    let mut child = exec_bg(&container, &args);
                    // Poll so that a stop does not wait for a long query.
                    loop {
                        if stop.load(Ordering::SeqCst) {
                            let _ = child.kill();
                            let _ = child.wait();
                            return;
                        }
                        if child.try_wait().ok().flatten().is_some() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                }
            }));
        }
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn mysql(sql: &str) -> Vec<String> {
    ["mysql", "--user=root", "-N", "-B", "-e", sql]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// `n` new 1 KiB keys (numbered on from a counter) and a read of each, in one script.
fn redis_writes(n: u32) -> Vec<String> {
    let script = "local base = redis.call('INCRBY', 'xzup:next', ARGV[1]) \
                  for i = base - ARGV[1] + 1, base do \
                    redis.call('SET', 'k' .. i, string.rep('x', 1024)) \
                    redis.call('GET', 'k' .. (i - 100)) \
                  end return base";
    ["redis-cli", "EVAL", script, "0", &n.to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn e2e_doctor_a_loaded_stack_is_undersized_and_evicting_and_recommend_grows_those_roles() {
    if !docker_available() {
        return;
    }
    let stack = TestStack::new(&upstream_on("tight"));
    stack.insert_rows(2000);
    let (db, redis) = (stack.container(DB).name, stack.container(REDIS).name);
    // Past the 64mb maxmemory: 70000 keys of 1 KiB.
    let out = Command::new("docker")
        .arg("exec")
        .arg(&redis)
        .args(redis_writes(70000))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let load = Load::start(&db, &redis);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = dz(&stack)
        .args([
            "doctor",
            "--window",
            "8s",
            "--interval",
            "1s",
            "--record",
            "--format",
            "json",
        ])
        .run()
        .code(2);
    drop(load);
    let report = json(&out.stdout);
    let found = kinds(&report);
    for want in [
        ("undersized-cpu".to_string(), Value::from("db")),
        ("redis-evicting".to_string(), Value::from("redis")),
    ] {
        assert!(found.contains(&want), "{want:?} in {found:?}\n{report:#}");
    }
    let db_cpu = &role(&report, "db")["cpu"];
    assert!(db_cpu["p95"].as_f64().unwrap() >= 0.70, "{db_cpu}");
    assert!(db_cpu["n"].as_u64().unwrap() >= 2, "{db_cpu}");
    assert_eq!(role(&report, "db")["limit_cpus"], 0.25);
    // The hit rate is of the window's reads, not the lifetime totals.
    let m = &report["mysql"];
    assert!(m["pool_read_requests"].as_u64().unwrap() > 0, "{m}");
    let hit = m["hit_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&hit), "{m}");
    assert_eq!(m["pool_bytes"], 128u64 << 20);
    assert_eq!(m["max_connections"], 200);
    assert!(m["query_ms"].as_f64().is_some(), "{m}");
    let r = &report["redis"];
    assert!(r["evicted_keys"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["maxmemory"], 64u64 << 20);
    assert!(r["hit_ratio"].as_f64().is_some(), "{r}");
    assert_eq!(report["absent"], serde_json::json!([]));
    assert_eq!(report["tier"]["tier"], "tight");
    assert_eq!(report["recorded"], ".xzup/usage/samples.jsonl");

    // The record: owner-only, one line per tick plus the window's.
    let record = stack.dir().join(".xzup/usage/samples.jsonl");
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&record).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let lines = std::fs::read_to_string(&record).unwrap();
    assert_eq!(
        lines.lines().count() as u64,
        report["samples"].as_u64().unwrap() + 1,
        "{lines}"
    );

    // recommend reads the record: the db needs seed's core, Redis grow's maxmemory; the
    // server and the web keep tight.
    let out = dz(&stack)
        .args(["recommend", "--format", "json"])
        .run()
        .success();
    let rec = json(&out.stdout);
    assert_eq!(rec["source"], "record");
    let chosen: Vec<(String, String)> = rec["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["role"].as_str().unwrap().into(),
                c["tier"].as_str().unwrap().into(),
            )
        })
        .collect();
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        chosen,
        pairs(&[
            ("server", "tight"),
            ("db", "seed"),
            ("redis", "grow"),
            ("web", "tight")
        ]),
        "{rec:#}"
    );
    assert_eq!(rec["stack_tier"], "grow");
    assert_eq!(
        rec["commands"],
        serde_json::json!([
            format!(
                "xzup --tiers-file {} apply --tier seed --only db",
                doctor_tiers().display()
            ),
            format!(
                "xzup --tiers-file {} apply --tier grow --only redis",
                doctor_tiers().display()
            )
        ])
    );
    let text = dz(&stack).args(["recommend"]).run().success().stdout;
    assert!(text.contains("db: seed (now tight)\n"), "{text}");
    assert!(
        text.contains("evicted keys at maxmemory 64M: a larger maxmemory"),
        "{text}"
    );
}

#[test]
fn e2e_doctor_an_idle_stack_is_oversized_recommend_shrinks_it_and_history_shows_before_after() {
    if !docker_available() {
        return;
    }
    let stack = TestStack::new(&upstream_on("grow"));
    let out = dz(&stack)
        .args([
            "doctor",
            "--window",
            "3s",
            "--interval",
            "1s",
            "--record",
            "--format",
            "json",
        ])
        .run()
        .code(2);
    let report = json(&out.stdout);
    assert!(
        kinds(&report).contains(&("oversized".to_string(), Value::Null)),
        "{report:#}"
    );
    for name in ["server", "db", "redis", "web"] {
        let r = role(&report, name);
        assert!(r["cpu"]["p95"].as_f64().unwrap() < 0.30, "{r}");
        assert!(r["memory"]["p95"].as_f64().unwrap() < 0.30, "{r}");
    }
    assert_eq!(report["tier"]["tier"], "grow");

    // No record: a fresh window.
    let out = dz(&stack)
        .args([
            "recommend",
            "--window",
            "3s",
            "--interval",
            "1s",
            "--format",
            "json",
        ])
        .run()
        .success();
    let rec = json(&out.stdout);
    assert_eq!(rec["source"], "window");
    for c in rec["roles"].as_array().unwrap() {
        assert_eq!(c["tier"], "tight", "{c}");
        assert_eq!(c["current"], "grow", "{c}");
    }
    assert_eq!(
        rec["commands"],
        serde_json::json!([format!(
            "xzup --tiers-file {} apply --tier tight",
            doctor_tiers().display()
        )])
    );
    assert_eq!(rec["host_fit"], "yes");

    // Shrink it: the journal keeps the recorded window as "before", verify's as "after".
    dz(&stack)
        .args(["apply", "--tier", "tight", "--verify-window", "3"])
        .run()
        .success();
    let out = dz(&stack)
        .args(["history", "--format", "json"])
        .run()
        .success();
    let runs = json(&out.stdout)["runs"].clone();
    let sizing = &runs[0]["sizing"];
    for when in ["before", "after"] {
        let s = &sizing[when];
        assert!(s["samples"].as_u64().unwrap() >= 1, "{when}: {sizing:#}");
        for role in ["server", "db", "redis", "web"] {
            assert!(
                s["cpu_p95"][role].as_f64().is_some(),
                "{when} {role}: {sizing:#}"
            );
            assert!(
                s["memory_peak"][role].as_u64().unwrap() > 0,
                "{when} {role}: {sizing:#}"
            );
        }
        assert!(
            s["round_trips_ms"]["server"].as_f64().is_some(),
            "{when}: {sizing:#}"
        );
        assert_eq!(s["evicted_keys"], 0, "{when}: {sizing:#}");
    }
    let text = dz(&stack).args(["history"]).run().success().stdout;
    assert!(text.contains("  use       before → after ("), "{text}");
    assert!(text.contains("            db: CPU p95 "), "{text}");
}

#[test]
fn e2e_doctor_a_server_only_deployment_reports_what_it_has_and_names_the_absent_roles() {
    if !docker_available() {
        return;
    }
    let text =
        std::fs::read_to_string(repo_root().join("tests/xzup/fixtures/roles/server-only.yml"))
            .unwrap();
    let stack = TestStack::builder(&on_tier(&text, "seed"))
        .file_name("docker-compose.yml")
        .build();
    let out = xzup(&stack)
        .args([
            "doctor",
            "--window",
            "2s",
            "--interval",
            "1s",
            "--format",
            "json",
        ])
        .run();
    let report = json(&out.stdout);
    assert_eq!(out.code, if kinds(&report).is_empty() { 0 } else { 2 });
    assert_eq!(report["absent"], serde_json::json!(["db", "redis", "web"]));
    assert_eq!(report["roles"].as_array().unwrap().len(), 1);
    let server = role(&report, "server");
    assert_eq!(server["service"], stack::SERVER);
    assert!(server["cpu"]["n"].as_u64().unwrap() >= 1, "{server}");
    assert!(
        report["mysql"].is_null() && report["redis"].is_null(),
        "{report:#}"
    );
    // The stand-in serves HTTP on 8003: the OTA endpoint answers.
    let ota = &report["http"][0];
    assert_eq!(ota["what"], "OTA endpoint");
    assert_eq!(ota["url"], "http://127.0.0.1:8003/xiaozhi/ota/");
    assert!(ota["status"].as_u64().is_some(), "{ota}");
    assert!(ota["ms"].as_f64().is_some(), "{ota}");
    let ps = report["server_processes"].as_array().unwrap();
    assert!(
        ps.iter().any(|p| p.as_str().unwrap().contains("httpd")),
        "{ps:?}"
    );
    // No db: no data dir of a db, nothing of MySQL in the text.
    let text = xzup(&stack)
        .args(["doctor", "--window", "1s", "--interval", "1s"])
        .run()
        .stdout;
    assert!(
        text.contains("absent:   db, redis, web (not in this deployment: not measured)\n"),
        "{text}"
    );
    assert!(!text.contains("\ndb:"), "{text}");
}
