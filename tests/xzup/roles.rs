//! Which service plays which role, through the CLI: partial stacks (the server alone, the
//! server and web with the database elsewhere), renamed services found by image, a local
//! build found by its ports, refusals (two databases, a wrong `--service`), on fixtures of
//! `fixtures/roles/`. No Docker engine needed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::{stable, tree};
use crate::harness::{Outcome, Xzup, repo_root};

/// `xzup` in `dir`, with no engine in reach (no host checks: they depend on the machine).
fn xzup(dir: &Path) -> Xzup {
    crate::cli::xzup().cwd(dir)
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/xzup/fixtures/roles").join(name)
}

/// A deployment dir holding fixture `name` as `docker-compose.yml`, with the dirs the
/// fixtures mount (`data/`, `uploadfile/`, `mysql/data/`), each with a file in it.
fn deployment(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(name), dir.path().join("docker-compose.yml")).unwrap();
    for (sub, file) in [
        ("data", ".config.yaml"),
        ("uploadfile", "a.png"),
        ("mysql/data", "ibdata1"),
    ] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        std::fs::write(dir.path().join(sub).join(file), format!("{sub}\n")).unwrap();
    }
    dir
}

fn json(out: &Outcome) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn plan_json(dir: &Path, extra: &[&str]) -> Value {
    let out = xzup(dir)
        .args(extra)
        .args(["plan", "--tier", "high", "--format", "json"])
        .run()
        .success();
    json(&out)
}

/// `role: service (by)` for each role of a plan's JSON, `role: -` when absent.
fn roles(plan: &Value) -> Vec<String> {
    plan["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match r["service"].as_str() {
            Some(s) => format!(
                "{}: {s} ({})",
                r["role"].as_str().unwrap(),
                r["reason"].as_str().unwrap()
            ),
            None => format!(
                "{}: - ({})",
                r["role"].as_str().unwrap(),
                r["reason"].as_str().unwrap()
            ),
        })
        .collect()
}

/// The roles the plan's settings rows speak of, in order, without repeats.
fn setting_roles(plan: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for row in plan["settings"].as_array().unwrap() {
        let role = row["role"].as_str().unwrap().to_string();
        if !out.contains(&role) {
            out.push(role);
        }
    }
    out
}

#[test]
fn plan_on_a_server_only_file() {
    let dir = deployment("server-only.yml");
    let out = xzup(dir.path())
        .args(["plan", "--tier", "high"])
        .run()
        .success();
    insta::assert_snapshot!(stable(&out, dir.path()));

    let plan = plan_json(dir.path(), &[]);
    assert_eq!(
        roles(&plan),
        [
            "server: xiaozhi-esp32-server (by its upstream name)",
            "db: - (not in this deployment)",
            "redis: - (not in this deployment)",
            "web: - (not in this deployment)",
        ]
    );
    assert_eq!(plan["roles"][1]["by"], Value::Null);
    assert_eq!(plan["roles"][0]["by"], "upstream-name");
    assert_eq!(setting_roles(&plan), ["server"]);
    assert_eq!(
        plan["from"]["per_role"],
        serde_json::json!({"server": null})
    );
    assert_eq!(
        plan["to"]["tier"], "high",
        "the server alone is on the tier"
    );
    // The host needs what the server asks, not the db's or web's share of the tier.
    assert_eq!(
        plan["steps"][0]["details"][0],
        "largest cpus limit 8 (needs that many cores), memory limits 16G in all"
    );
    let diff = plan["diff"].as_str().unwrap();
    assert!(
        !diff.contains("innodb") && !diff.contains("maxmemory"),
        "{diff}"
    );
}

#[test]
fn server_and_web_with_the_database_elsewhere() {
    let dir = deployment("server-web.yml");
    let plan = plan_json(dir.path(), &[]);
    assert_eq!(
        roles(&plan),
        [
            "server: xiaozhi-esp32-server (by its upstream name)",
            "db: - (not in this deployment)",
            "redis: - (not in this deployment)",
            "web: xiaozhi-esp32-server-web (by its upstream name)",
        ]
    );
    assert_eq!(setting_roles(&plan), ["server", "web"]);
    let verify = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "verify")
        .unwrap();
    assert_eq!(
        verify["summary"], "limits and docker stats match the tier",
        "no MySQL or Redis to check"
    );
    assert_eq!(
        verify["details"][0],
        "docker inspect: memory, cpus, memory reservation of the server, web containers"
    );
    // What the pre-copy (the default backup) takes.
    let precopy = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "precopy")
        .unwrap();
    let backup: Vec<&str> = precopy["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(
        backup[..3],
        [
            "data (5B): the server's config",
            "docker-compose.yml (781B): compose file",
            "uploadfile (11B): bind mount of `xiaozhi-esp32-server-web` at /uploadfile"
        ],
        "the web's uploads, no mysql/data: {backup:?}"
    );
    assert!(
        !plan.to_string().contains("lan-db-secret"),
        "no secret in JSON"
    );

    // `--only` chooses among the roles here.
    let only_web = plan_json(dir.path(), &["--service", "web=xiaozhi-esp32-server-web"]);
    assert_eq!(only_web["roles"][3]["by"], "command-line");
    let out = xzup(dir.path())
        .args([
            "plan", "--tier", "high", "--only", "web", "--format", "json",
        ])
        .run()
        .success();
    assert_eq!(json(&out)["to"]["per_role"]["web"], "high");
    assert_eq!(json(&out)["to"]["per_role"]["server"], Value::Null);
    for args in [
        &["plan", "--tier", "high", "--only", "db"][..],
        &["render", "--tier", "high", "--only", "server,redis"],
        &["apply", "--tier", "high", "--only", "db", "--dry-run"],
    ] {
        let out = xzup(dir.path()).args(args).run().code(64);
        assert!(out.stdout.is_empty());
        let asked = if args.contains(&"server,redis") {
            "redis"
        } else {
            "db"
        };
        assert_eq!(
            out.stderr,
            format!(
                "error: --only: {asked} is not in this deployment\nhint: choose among the roles it \
                 has: server, web; if a service plays {asked}, map it with `--service {asked}=NAME`\n"
            ),
            "{args:?}"
        );
    }
}

#[test]
fn renamed_services_are_found_by_image() {
    let dir = deployment("renamed.yml");
    let out = xzup(dir.path())
        .args(["plan", "--tier", "high"])
        .run()
        .success();
    let text = &out.stdout;
    for line in [
        "  server = `app`, by image `ghcr.io/xinnan-tech/xiaozhi-esp32-server:server_0.8.6`\n",
        "  db     = `store`, by image `mysql:8.0`\n",
        "  redis  = `kv`, by image `redis:7-alpine`\n",
        "  web    = `console`, by image `ghcr.io/xinnan-tech/xiaozhi-esp32-server:web_0.8.6`\n",
        "  other services, left as they are: `proxy`\n",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    let plan = plan_json(dir.path(), &[]);
    assert_eq!(plan["other_services"], serde_json::json!(["proxy"]));
    assert_eq!(
        plan["roles"][1],
        serde_json::json!({"role": "db", "service": "store", "by": "image", "reason": "by image `mysql:8.0`"})
    );
    assert_eq!(setting_roles(&plan), ["server", "db", "redis", "web"]);
    let diff = plan["diff"].as_str().unwrap();
    assert!(
        diff.contains("+      - --innodb_buffer_pool_size=2G"),
        "{diff}"
    );
    assert!(!diff.contains("renamed-root-pw"), "{diff}");
}

#[test]
fn a_local_build_is_found_by_its_ports_and_container_name() {
    let dir = deployment("build-only.yml");
    let plan = plan_json(dir.path(), &[]);
    assert_eq!(
        roles(&plan),
        [
            "server: backend (by published ports 8000, 8003 of a `build:` service)",
            "db: - (not in this deployment)",
            "redis: - (not in this deployment)",
            "web: frontend (by container name `xiaozhi-esp32-server-web` of a `build:` service)",
        ]
    );
    assert_eq!(plan["roles"][0]["by"], "ports");
    assert_eq!(plan["roles"][3]["by"], "container-name");
}

#[test]
fn two_databases_are_refused_until_one_is_named() {
    let dir = deployment("two-dbs.yml");
    let before = tree(dir.path());
    for args in [
        &["plan", "--tier", "high"][..],
        &["apply", "--tier", "high"],
        &["render", "--tier", "high"],
        &["status"],
        &["backup"],
    ] {
        let out = xzup(dir.path()).args(args).run().code(1);
        assert_eq!(
            out.stderr,
            format!(
                "error: `{}` has 2 services that could play the db role: `xiaozhi-db` (by image \
                 `mysql:8.0`), `scratch-db` (by image `mariadb:10.11`)\nhint: name the one xzup \
                 sizes: `--service db=xiaozhi-db` (or `db = \"xiaozhi-db\"` under `[services]` in \
                 xzup.toml); `--service db=none` if none of them is the deployment's db\n",
                dir.path().join("docker-compose.yml").display()
            ),
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(tree(dir.path()), before, "nothing written");

    let plan = plan_json(dir.path(), &["--service", "db=xiaozhi-db"]);
    assert_eq!(plan["roles"][1]["service"], "xiaozhi-db");
    assert_eq!(plan["roles"][1]["reason"], "by `--service`");
    assert_eq!(plan["other_services"], serde_json::json!(["scratch-db"]));
    // The same from xzup.toml.
    std::fs::write(
        dir.path().join("xzup.toml"),
        "[services]\ndb = \"xiaozhi-db\"\n",
    )
    .unwrap();
    let plan = plan_json(dir.path(), &[]);
    assert_eq!(plan["roles"][1]["reason"], "by `[services]` in xzup.toml");
    // `none`: neither is the deployment's db.
    let plan = plan_json(dir.path(), &["--service", "db=none"]);
    assert_eq!(plan["roles"][1]["service"], Value::Null);
    assert_eq!(setting_roles(&plan), ["server"]);
}

#[test]
fn wrong_mappings_are_usage_errors() {
    let dir = deployment("renamed.yml");
    let out = xzup(dir.path())
        .args(["--service", "db=mysql", "plan", "--tier", "high"])
        .run()
        .code(64);
    assert_eq!(
        out.stderr,
        format!(
            "error: --service maps the db role to `mysql`, which is not a service of `{}`\nhint: \
             the file's services are: `app`, `console`, `store`, `kv`, `proxy`; name one of them \
             (`--service db=NAME`, or `db = \"NAME\"` under `[services]` in xzup.toml), or \
             `db=none` if no service plays it\n",
            dir.path().join("docker-compose.yml").display()
        )
    );
    // Two roles on one service: a usage error, not a bug report.
    let out = xzup(dir.path())
        .args(["--service", "db=store", "--service", "redis=store"])
        .args(["plan", "--tier", "high"])
        .run()
        .code(64);
    assert_eq!(
        out.stderr,
        "error: --service: the db and redis roles are both mapped to service `store`: a service \
         plays one role\nhint: map a role to a service of the compose file, one service per role: \
         `--service db=mysql` (`--service db=none` when no service plays it)\n"
    );
    std::fs::write(dir.path().join("xzup.toml"), "[services]\nweb = \"gone\"\n").unwrap();
    let out = xzup(dir.path()).args(["status"]).run().code(64);
    assert!(
        out.stderr
            .starts_with("error: xzup.toml maps the web role to `gone`, which is not a service"),
        "{}",
        out.stderr
    );
}

#[test]
fn status_says_which_roles_are_not_here() {
    let dir = deployment("server-web.yml");
    let out = xzup(dir.path()).args(["status"]).run().success();
    assert!(
        out.stdout.contains(
            "Roles:       server = `xiaozhi-esp32-server`; web = `xiaozhi-esp32-server-web`; db, \
             redis not in this deployment\n"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Tier:        custom (no tier's settings)\n"),
        "{}",
        out.stdout
    );
    // Rendered for a tier, the two services here are on it: the absent roles do not count.
    xzup(dir.path())
        .args(["render", "--tier", "low", "-o", "docker-compose-low.yml"])
        .run()
        .success();
    let out = xzup(dir.path())
        .args(["-f", "docker-compose-low.yml", "status"])
        .run()
        .success();
    assert!(out.stdout.contains("Tier:        low\n"), "{}", out.stdout);
    let out = xzup(dir.path())
        .args(["status", "--format", "json"])
        .run()
        .success();
    let doc = json(&out);
    assert_eq!(doc["roles"][1]["reason"], "not in this deployment");
    assert_eq!(doc["roles"][3]["service"], "xiaozhi-esp32-server-web");
}

/// A deployment with no data-bearing service still gets its compose file and `data/`
/// backed up.
#[test]
fn backup_of_a_server_only_deployment_keeps_the_compose_file_and_data() {
    let dir = deployment("server-only.yml");
    let out = xzup(dir.path())
        .args(["backup", "--out", "b.tar.gz", "--format", "json"])
        .run()
        .success();
    let report = json(&out);
    assert_eq!(report["verified"], true);
    assert_eq!(
        report["roots"],
        serde_json::json!(["data", "docker-compose.yml"]),
        "no mysql/data, no uploadfile: nothing plays db or web"
    );
    let listing = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(dir.path().join("b.tar.gz"))
        .output()
        .unwrap();
    let mut members: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    members.sort();
    assert_eq!(
        members,
        [
            ".xzup/manifest.json",
            "data/",
            "data/.config.yaml",
            "docker-compose.yml"
        ]
    );
}
