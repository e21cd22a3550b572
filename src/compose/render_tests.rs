//! Render tests: golden files for whole outputs, and line diffs that show only the
//! tier's values changed.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::settings::{Allocation, MysqlSettings, RedisSettings};
use crate::units::{Cpus, Memory};

const UPSTREAM: &str = include_str!("../../examples/upstream/docker-compose_all.yml");
const OFFLINE: &str = include_str!("../../examples/offline/docker-compose-offline.yml");
const HAND: &str = include_str!("testdata/hand-edited.yml");

fn alloc(cpus: &str, memory: &str) -> Allocation {
    Allocation {
        cpus: Cpus::parse(cpus).unwrap(),
        memory: Memory::parse_compose(memory).unwrap(),
    }
}

fn res(l: (&str, &str), r: (&str, &str)) -> Resources {
    Resources {
        limits: alloc(l.0, l.1),
        reservations: alloc(r.0, r.1),
    }
}

/// The plan's `high` tier (plan A), by hand: loading tiers is not this module's job.
fn high() -> Target {
    Target {
        resources: BTreeMap::from([
            (Role::Server, res(("8", "16G"), ("4", "8G"))),
            (Role::Web, res(("4", "8G"), ("2", "4G"))),
            (Role::Db, res(("4", "4G"), ("2", "2G"))),
            (Role::Redis, res(("2", "2G"), ("1", "1G"))),
        ]),
        mysql: Some(MysqlSettings {
            max_connections: 2000,
            innodb_buffer_pool_size: Memory::parse_mysql("2G").unwrap(),
            innodb_log_file_size: Memory::parse_mysql("256M").unwrap(),
        }),
        redis: Some(RedisSettings {
            maxmemory: Memory::parse_redis("1536mb").unwrap(),
            maxmemory_policy: "allkeys-lru".to_string(),
            save: Some(vec![
                "900 1".to_string(),
                "300 10".to_string(),
                "60 10000".to_string(),
            ]),
        }),
    }
}

fn parse(name: &str, text: &str) -> ComposeFile {
    ComposeFile::parse(Path::new(name), text.to_string()).unwrap()
}

/// Compares with a golden file; `XZUP_BLESS=1` rewrites it instead.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/compose/testdata")
        .join(name);
    if std::env::var_os("XZUP_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        expected == actual,
        "{name} differs from the render:\n{}",
        similar::TextDiff::from_lines(&expected, actual).unified_diff()
    );
}

fn render_high(name: &str, text: &str) -> String {
    parse(name, text)
        .render(&RoleMap::default(), &high())
        .map(|r| r.file.text)
        .unwrap()
}

/// The lines that differ between `a` and `b` (which have the same number of lines).
fn changed_line_pairs(a: &str, b: &str) -> Vec<(String, String)> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!(a.len(), b.len(), "line counts differ");
    a.iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| (x.trim().to_string(), y.trim().to_string()))
        .collect()
}

/// The lines `b` adds to `a`, when it only adds lines.
fn added_lines(a: &str, b: &str) -> Vec<String> {
    let diff = similar::TextDiff::from_lines(a, b);
    let mut added = Vec::new();
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Delete => panic!("a line was removed: {change}"),
            similar::ChangeTag::Insert => added.push(change.value().trim_end().to_string()),
            similar::ChangeTag::Equal => {}
        }
    }
    added
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[test]
fn upstream_to_high_golden() {
    golden("upstream-high.yml", &render_high("u.yml", UPSTREAM));
}

#[test]
fn upstream_to_high_only_adds_the_tier() {
    let out = render_high("u.yml", UPSTREAM);
    let resources = |l: (&str, &str), r: (&str, &str)| {
        format!(
            "    deploy:\n      resources:\n        limits:\n          cpus: '{}'\n          memory: {}\n        reservations:\n          cpus: '{}'\n          memory: {}\n",
            l.0, l.1, r.0, r.1
        )
    };
    let mut expected = String::new();
    expected += &resources(("8", "16G"), ("4", "8G"));
    expected += &resources(("4", "8G"), ("2", "4G"));
    expected += "    command:\n      - --max_connections=2000\n      - --innodb_buffer_pool_size=2G\n      - --innodb_log_file_size=256M\n";
    expected += &resources(("4", "4G"), ("2", "2G"));
    expected += "    command:\n      - redis-server\n      - --maxmemory 1536mb\n      - --maxmemory-policy allkeys-lru\n      - --save 900 1\n      - --save 300 10\n      - --save 60 10000\n";
    expected += &resources(("2", "2G"), ("1", "1G"));
    assert_eq!(added_lines(UPSTREAM, &out), lines(&expected));
}

#[test]
fn offline_to_high_golden() {
    golden("offline-high.yml", &render_high("o.yml", OFFLINE));
}

#[test]
fn offline_to_high_changes_only_values() {
    let out = render_high("o.yml", OFFLINE);
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        changed_line_pairs(OFFLINE, &out),
        vec![
            // server
            pair("cpus: '4'", "cpus: '8'"),
            pair("memory: 8G", "memory: 16G"),
            pair("cpus: '2'", "cpus: '4'"),
            pair("memory: 4G", "memory: 8G"),
            // web
            pair("cpus: '2'", "cpus: '4'"),
            pair("memory: 4G", "memory: 8G"),
            pair("cpus: '1'", "cpus: '2'"),
            pair("memory: 2G", "memory: 4G"),
            // db
            pair("- --max_connections=1000", "- --max_connections=2000"),
            pair(
                "- --innodb_buffer_pool_size=512M",
                "- --innodb_buffer_pool_size=2G"
            ),
            pair(
                "- --innodb_log_file_size=128M",
                "- --innodb_log_file_size=256M"
            ),
            pair("cpus: '2'", "cpus: '4'"),
            pair("memory: 2G", "memory: 4G"),
            pair("cpus: '1'", "cpus: '2'"),
            pair("memory: 1G", "memory: 2G"),
            // redis: the save rules already are the tier's
            pair("- --maxmemory 512mb", "- --maxmemory 1536mb"),
            pair("cpus: '1'", "cpus: '2'"),
            pair("memory: 1G", "memory: 2G"),
            pair("cpus: '0.5'", "cpus: '1'"),
            pair("memory: 512M", "memory: 1G"),
        ]
    );
}

/// The plan's low tier, as the offline file has it (its `save` rules left alone).
fn low() -> Target {
    Target {
        resources: BTreeMap::from([
            (Role::Server, res(("4", "8G"), ("2", "4G"))),
            (Role::Web, res(("2", "4G"), ("1", "2G"))),
            (Role::Db, res(("2", "2G"), ("1", "1G"))),
            (Role::Redis, res(("1", "1G"), ("0.5", "512M"))),
        ]),
        mysql: Some(MysqlSettings {
            max_connections: 1000,
            innodb_buffer_pool_size: Memory::parse_mysql("512M").unwrap(),
            innodb_log_file_size: Memory::parse_mysql("128M").unwrap(),
        }),
        redis: Some(RedisSettings {
            maxmemory: Memory::parse_redis("512mb").unwrap(),
            maxmemory_policy: "allkeys-lru".to_string(),
            save: None,
        }),
    }
}

#[test]
fn high_and_back_to_low_gives_the_offline_file_back() {
    let high = render_high("o.yml", OFFLINE);
    let back = parse("o.yml", &high)
        .render(&RoleMap::default(), &low())
        .map(|r| r.file.text)
        .unwrap();
    assert_eq!(back, OFFLINE);
}

#[test]
fn rendering_the_same_tier_again_changes_nothing() {
    for (name, text) in [("u.yml", UPSTREAM), ("o.yml", OFFLINE), ("h.yml", HAND)] {
        let once = render_high(name, text);
        assert_eq!(render_high(name, &once), once, "{name}");
    }
    // The offline file already is the low tier.
    let offline = parse("o.yml", OFFLINE);
    assert_eq!(
        offline
            .render(&RoleMap::default(), &low())
            .map(|r| r.file.text)
            .unwrap(),
        OFFLINE
    );
}

#[test]
fn hand_edited_to_high_golden() {
    golden("hand-edited-high.yml", &render_high("h.yml", HAND));
}

#[test]
fn hand_edited_keeps_style() {
    let out = render_high("h.yml", HAND);
    // Flow mappings stay flow; the string commands stay strings, in their quoting.
    let diff = similar::TextDiff::from_lines(HAND, &out);
    let removed: Vec<String> = diff
        .iter_all_changes()
        .filter(|c| c.tag() == similar::ChangeTag::Delete)
        .map(|c| c.value().trim().to_string())
        .collect();
    let added: Vec<String> = diff
        .iter_all_changes()
        .filter(|c| c.tag() == similar::ChangeTag::Insert)
        .map(|c| c.value().trim_end().to_string())
        .collect();
    assert_eq!(
        removed,
        [
            "resources: {limits: {cpus: '1', memory: 1G}}   # set when the box was small",
            "limits: {cpus: 2, memory: 4G}",
            "memory: 2G   # no cpus: swarm only anyway",
            "command: --character-set-server=utf8mb4 --max-connections=500 --innodb_buffer_pool_size=256M   # string form",
            "command: \"redis-server --maxmemory 256mb --save 60 1000 --appendonly yes\"",
            "cpus: '0.5'     # half a core",
            "memory: 256M",
        ]
    );
    assert_eq!(
        added,
        [
            "            resources: {limits: {cpus: '8', memory: 16G}, reservations: {cpus: '4', memory: 8G}}   # set when the box was small",
            "                limits: {cpus: '4', memory: 8G}",
            "                    cpus: '2'",
            "                    memory: 4G   # no cpus: swarm only anyway",
            "        command: --character-set-server=utf8mb4 --max-connections=2000 --innodb_buffer_pool_size=2G --innodb_log_file_size=256M   # string form",
            // New blocks take the file's 4-space step.
            "        deploy:",
            "            resources:",
            "                limits:",
            "                    cpus: '4'",
            "                    memory: 4G",
            "                reservations:",
            "                    cpus: '2'",
            "                    memory: 2G",
            "        command: \"redis-server --maxmemory 1536mb --save 900 1 --save 300 10 --save 60 10000 --appendonly yes --maxmemory-policy allkeys-lru\"",
            "                    cpus: '2'     # half a core",
            "                    memory: 2G",
            "                reservations:",
            "                    cpus: '1'",
            "                    memory: 1G",
        ]
    );
}

#[test]
fn observe_the_examples() {
    let roles = RoleMap::default();
    let upstream = parse("u.yml", UPSTREAM).observe(&roles).unwrap();
    assert!(
        upstream
            .services
            .values()
            .all(|r| *r == ObservedResources::default())
    );
    assert_eq!(upstream.mysql, ObservedMysql::default());
    assert_eq!(upstream.redis, ObservedRedis::default());

    let offline = parse("o.yml", OFFLINE).observe(&roles).unwrap();
    let redis = &offline.services[&Role::Redis];
    assert_eq!(redis.limit_cpus, Some(Cpus(1000)));
    assert_eq!(redis.reserve_cpus, Some(Cpus(500)));
    assert_eq!(redis.reserve_memory.as_ref().unwrap().text, "512M");
    assert_eq!(
        offline.services[&Role::Server]
            .limit_memory
            .as_ref()
            .unwrap()
            .bytes,
        8 << 30
    );
    assert_eq!(offline.mysql.max_connections, Some(1000));
    assert_eq!(
        offline.mysql.innodb_buffer_pool_size.as_ref().unwrap().text,
        "512M"
    );
    assert_eq!(
        offline.mysql.innodb_log_file_size.as_ref().unwrap().text,
        "128M"
    );
    assert_eq!(offline.redis.maxmemory.as_ref().unwrap().text, "512mb");
    assert_eq!(
        offline.redis.maxmemory_policy.as_deref(),
        Some("allkeys-lru")
    );
    assert_eq!(offline.redis.save, ["900 1", "300 10", "60 10000"]);

    let hand = parse("h.yml", HAND).observe(&roles).unwrap();
    let server = &hand.services[&Role::Server];
    assert_eq!(server.limit_cpus, Some(Cpus(1000)));
    assert_eq!(server.limit_memory.as_ref().unwrap().text, "1G");
    assert_eq!(server.reserve_cpus, None);
    let web = &hand.services[&Role::Web];
    assert_eq!(web.limit_cpus, Some(Cpus(2000)));
    assert_eq!(web.reserve_cpus, None);
    assert_eq!(web.reserve_memory.as_ref().unwrap().text, "2G");
    assert_eq!(hand.mysql.max_connections, Some(500));
    assert_eq!(hand.mysql.innodb_log_file_size, None);
    assert_eq!(hand.redis.maxmemory.as_ref().unwrap().bytes, 256 << 20);
    assert_eq!(hand.redis.save, ["60 1000"]);
}

#[test]
fn rendered_files_read_as_the_tier() {
    let roles = RoleMap::default();
    let target = high();
    for (name, text) in [("u.yml", UPSTREAM), ("o.yml", OFFLINE), ("h.yml", HAND)] {
        let seen = parse(name, &render_high(name, text))
            .observe(&roles)
            .unwrap();
        for (role, resources) in &target.resources {
            let r = &seen.services[role];
            assert_eq!(r.limit_cpus, Some(resources.limits.cpus), "{name} {role}");
            assert_eq!(r.limit_memory.as_ref(), Some(&resources.limits.memory));
            assert_eq!(r.reserve_cpus, Some(resources.reservations.cpus));
            assert_eq!(
                r.reserve_memory.as_ref(),
                Some(&resources.reservations.memory)
            );
        }
        assert_eq!(seen.mysql.max_connections, Some(2000), "{name}");
        assert_eq!(
            seen.redis.maxmemory.as_ref().unwrap().text,
            "1536mb",
            "{name}"
        );
        assert_eq!(seen.redis.save, ["900 1", "300 10", "60 10000"], "{name}");
    }
}

#[test]
fn only_some_roles() {
    // `--only server,db`: web and redis keep exactly what they have.
    let mut target = high();
    target
        .resources
        .retain(|role, _| matches!(role, Role::Server | Role::Db));
    target.redis = None;
    let out = parse("o.yml", OFFLINE)
        .render(&RoleMap::default(), &target)
        .map(|r| r.file.text)
        .unwrap();
    let pairs = changed_line_pairs(OFFLINE, &out);
    assert_eq!(pairs.len(), 4 + 3 + 4, "{pairs:#?}");
    let seen = parse("o.yml", &out).observe(&RoleMap::default()).unwrap();
    let before = parse("o.yml", OFFLINE)
        .observe(&RoleMap::default())
        .unwrap();
    assert_eq!(seen.services[&Role::Web], before.services[&Role::Web]);
    assert_eq!(seen.services[&Role::Redis], before.services[&Role::Redis]);
    assert_eq!(seen.redis, before.redis);
    assert_eq!(seen.mysql.max_connections, Some(2000));
}

#[test]
fn mapped_service_names() {
    let text = UPSTREAM.replace("xiaozhi-esp32-server-db", "mysql");
    let file = parse("u.yml", &text);
    let err = file.observe(&RoleMap::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`u.yml` has no service `xiaozhi-esp32-server-db` for the db role"
    );
    assert_eq!(
        err.hint().unwrap(),
        "the file's services are: `xiaozhi-esp32-server`, `xiaozhi-esp32-server-web`, \
         `mysql`, `xiaozhi-esp32-server-redis`; map the role with `--service db=NAME` or a \
         `[services]` table in `xzup.toml` (`db = \"NAME\"`)"
    );
    assert!(matches!(
        file.render(&RoleMap::default(), &high())
            .map(|r| r.file.text),
        Err(ComposeError::MissingService { .. })
    ));
    let mut roles = RoleMap::default();
    roles.set(Role::Db, "mysql");
    let out = file.render(&roles, &high()).map(|r| r.file.text).unwrap();
    assert_eq!(
        parse("u.yml", &out)
            .observe(&roles)
            .unwrap()
            .mysql
            .max_connections,
        Some(2000)
    );
}

/// A compose file with the four roles as `s`, `w`, `d`, `r`.
fn small(extra: &str) -> ComposeFile {
    parse(
        "c.yml",
        &format!("services:\n  s:\n    image: s\n  w:\n    image: w\n{extra}"),
    )
}

fn small_roles() -> RoleMap {
    crate::compose::short_test_roles()
}

fn flags_only() -> Target {
    let mut target = high();
    target.resources.clear();
    target
}

#[test]
fn flow_list_commands_keep_their_quotes() {
    let file = small(
        "  d:\n    command: [\"mysqld\", \"--max_connections=10\"]\n  r:\n    command: [\"redis-server\", \"--maxmemory\", \"512mb\"]  # flow\n",
    );
    let out = file
        .render(&small_roles(), &flags_only())
        .map(|r| r.file.text)
        .unwrap();
    assert_eq!(
        out,
        "services:\n  s:\n    image: s\n  w:\n    image: w\n  d:\n    command: [\"mysqld\", \"--max_connections=2000\", \"--innodb_buffer_pool_size=2G\", \"--innodb_log_file_size=256M\"]\n  r:\n    command: [\"redis-server\", \"--maxmemory\", \"1536mb\", \"--maxmemory-policy\", \"allkeys-lru\", \"--save\", \"900\", \"1\", \"--save\", \"300\", \"10\", \"--save\", \"60\", \"10000\"]  # flow\n"
    );
}

#[test]
fn list_items_keep_their_comments() {
    let file = small(
        "  d:\n    image: mysql\n  r:\n    command:\n      - redis-server\n      - --maxmemory 512mb   # was 256mb\n      # snapshots\n      - --save 60 1000  # often\n      - --appendonly yes\n",
    );
    let out = file
        .render(&small_roles(), &flags_only())
        .map(|r| r.file.text)
        .unwrap();
    assert_eq!(
        out,
        "services:\n  s:\n    image: s\n  w:\n    image: w\n  d:\n    image: mysql\n    command:\n      - --max_connections=2000\n      - --innodb_buffer_pool_size=2G\n      - --innodb_log_file_size=256M\n  r:\n    command:\n      - redis-server\n      - --maxmemory 1536mb   # was 256mb\n      # snapshots\n      - --save 900 1  # often\n      - --save 300 10\n      - --save 60 10000\n      - --appendonly yes\n      - --maxmemory-policy allkeys-lru\n"
    );
}

#[test]
fn lists_indented_flush_with_their_key() {
    let file = parse(
        "c.yml",
        "services:\n  s:\n    volumes:\n    - ./a:/a\n  w: {image: w}\n  d:\n    image: mysql\n  r:\n    image: redis\n",
    );
    let mut target = flags_only();
    target.redis = None;
    let out = file
        .render(&small_roles(), &target)
        .map(|r| r.file.text)
        .unwrap();
    assert_eq!(
        out,
        "services:\n  s:\n    volumes:\n    - ./a:/a\n  w: {image: w}\n  d:\n    image: mysql\n    command:\n    - --max_connections=2000\n    - --innodb_buffer_pool_size=2G\n    - --innodb_log_file_size=256M\n  r:\n    image: redis\n"
    );
}

#[test]
fn flow_services_get_flow_values() {
    let file = parse(
        "c.yml",
        "services:\n  s: {image: s}\n  w: {image: w}\n  d: {image: mysql}\n  r: {image: redis}\n",
    );
    let out = file
        .render(&small_roles(), &high())
        .map(|r| r.file.text)
        .unwrap();
    let seen = parse("c.yml", &out).observe(&small_roles()).unwrap();
    assert_eq!(seen.services[&Role::Web].limit_cpus, Some(Cpus(4000)));
    assert_eq!(seen.mysql.max_connections, Some(2000));
    assert!(
        out.starts_with(
            "services:\n  s: {image: s, deploy: {resources: {limits: {cpus: '8', memory: 16G}"
        ),
        "{out}"
    );
}

#[test]
fn a_command_merged_in_is_kept_as_the_base() {
    let file = parse(
        "c.yml",
        "x-redis: &redis\n  command: [redis-server, --appendonly, 'yes']\nservices:\n  s: {image: s}\n  w: {image: w}\n  d: {image: mysql}\n  r:\n    <<: *redis\n    image: redis\n",
    );
    let out = file
        .render(&small_roles(), &flags_only())
        .map(|r| r.file.text)
        .unwrap();
    assert!(
        out.ends_with("  r:\n    <<: *redis\n    image: redis\n    command:\n      - redis-server\n      - --appendonly\n      - 'yes'\n      - --maxmemory\n      - 1536mb\n      - --maxmemory-policy\n      - allkeys-lru\n      - --save\n      - '900'\n      - '1'\n      - --save\n      - '300'\n      - '10'\n      - --save\n      - '60'\n      - '10000'\n"),
        "{out}"
    );
}

#[test]
fn empty_values_are_filled_in() {
    let file = small(
        "  d:\n    command:\n    deploy:\n  r:\n    deploy:\n      resources:\n        limits:\n",
    );
    let out = file
        .render(&small_roles(), &high())
        .map(|r| r.file.text)
        .unwrap();
    let seen = parse("c.yml", &out).observe(&small_roles()).unwrap();
    assert_eq!(
        seen.services[&Role::Db]
            .reserve_memory
            .as_ref()
            .unwrap()
            .text,
        "2G"
    );
    assert_eq!(seen.services[&Role::Redis].limit_cpus, Some(Cpus(2000)));
    assert_eq!(
        seen.mysql.innodb_log_file_size.as_ref().unwrap().text,
        "256M"
    );
}

#[test]
fn shell_commands_and_script_blocks_are_refused_saying_how_to_go_on() {
    let file = small(
        "  d:\n    image: mysql\n  r:\n    command: [sh, -c, 'redis-server --maxmemory 1mb']\n",
    );
    let err = file
        .render(&small_roles(), &flags_only())
        .map(|r| r.file.text)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`c.yml`: cannot edit service `r`: its `command:` runs a shell, and the flags are \
         inside the shell's script"
    );
    assert_eq!(
        err.hint().unwrap(),
        "set the flags in the script by hand, or write `command:` as a list of the program's \
         arguments; to size the other roles now, leave this one out: `--only server,db,web`"
    );

    // A `|` block of flags, one per line, is a list of arguments: edited.
    let file = small("  d:\n    command: |\n      --max_connections=10\n  r:\n    image: redis\n");
    let out = file
        .render(&small_roles(), &flags_only())
        .map(|r| r.file.text)
        .unwrap();
    assert!(
        out.contains(
            "    command: |\n      --max_connections=2000\n      --innodb_buffer_pool_size=2G\n"
        ),
        "{out}"
    );

    // A `|` block that is a script is not.
    let file = small(
        "  d:\n    image: mysql\n  r:\n    command: |\n      redis-server --maxmemory 1mb &\n      wait\n",
    );
    let err = file
        .render(&small_roles(), &flags_only())
        .map(|r| r.file.text)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`c.yml`: cannot edit service `r`: its `command:` is a `|` block that runs a shell \
         script; xzup edits flags only where they are the program's own arguments, never \
         inside a script"
    );
    assert!(
        err.hint().unwrap().ends_with("`--only server,db,web`"),
        "{:?}",
        err.hint()
    );
}

#[test]
fn an_edit_that_would_reach_another_service_is_an_error_not_a_file() {
    // The server's limits are anchored and shared with nginx: changing them in place
    // would resize nginx too.
    let file = parse(
        "c.yml",
        "services:\n  s:\n    deploy:\n      resources:\n        limits: &lim {cpus: '1', memory: 1G}\n  w: {image: w}\n  d: {image: d}\n  r: {image: r}\n  nginx:\n    deploy:\n      resources:\n        limits: *lim\n",
    );
    let mut target = high();
    target.resources.retain(|role, _| *role == Role::Server);
    target.mysql = None;
    target.redis = None;
    let err = file
        .render(&small_roles(), &target)
        .map(|r| r.file.text)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "rendering `c.yml` went wrong: `services.nginx.deploy.resources.limits.cpus` would \
         change too, and xzup only changes the tier's values"
    );
    assert!(err.hint().unwrap().contains("nothing was written"));
}

#[test]
fn an_alias_value_is_replaced_not_edited() {
    let file = parse(
        "c.yml",
        "x-lim: &lim {cpus: '1', memory: 1G}\nservices:\n  s:\n    deploy:\n      resources:\n        limits: *lim\n  w: {image: w}\n  d: {image: d}\n  r: {image: r}\n  nginx:\n    deploy:\n      resources:\n        limits: *lim\n",
    );
    let mut target = high();
    target.resources.retain(|role, _| *role == Role::Server);
    target.mysql = None;
    target.redis = None;
    let out = file
        .render(&small_roles(), &target)
        .map(|r| r.file.text)
        .unwrap();
    assert!(
        out.contains("  nginx:\n    deploy:\n      resources:\n        limits: *lim\n"),
        "{out}"
    );
    let seen = parse("c.yml", &out).observe(&small_roles()).unwrap();
    assert_eq!(seen.services[&Role::Server].limit_cpus, Some(Cpus(8000)));
}

#[test]
fn unreadable_values_are_errors() {
    let file = small(
        "  d:\n    deploy:\n      resources:\n        limits:\n          memory: 16X\n  r: {image: r}\n",
    );
    let err = file.observe(&small_roles()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`c.yml`: service `d` has `deploy.resources.limits.memory: 16X`, which xzup cannot \
         read: write a number with a unit, like `512M` or `16G`"
    );
    let file = small("  d:\n    command: --max_connections=many\n  r: {image: r}\n");
    let err = file.observe(&small_roles()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`c.yml`: service `d` has `command: --max_connections=many`, which xzup cannot read: \
         `many` is not a whole number of connections"
    );
}

#[test]
fn example_deployments_hold_what_they_mount() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for file in [
        "upstream/docker-compose_all.yml",
        "offline/docker-compose-offline.yml",
    ] {
        let compose = ComposeFile::load(&root.join(file)).unwrap();
        let dir = compose.dir();
        let mut mounts = Vec::new();
        for service in compose.services() {
            mounts.extend(
                compose
                    .mounts(&service, &crate::compose::Env::default(), &dir)
                    .unwrap()
                    .into_iter()
                    .map(|m| match m.kind {
                        crate::compose::MountKind::Bind { source, .. } => (source, m.target),
                        other => panic!("{other:?}"),
                    }),
            );
        }
        let sources: Vec<String> = mounts
            .iter()
            .map(|(source, _)| source.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        assert_eq!(
            sources,
            [
                "data",
                "models/SenseVoiceSmall/model.pt",
                "uploadfile",
                "mysql/data"
            ],
            "{file}"
        );
        // Everything but the MySQL datadir is there (MySQL makes its own).
        for (source, _) in &mounts[..3] {
            assert!(source.exists(), "{}", source.display());
        }
        assert_eq!(mounts[3].1, "/var/lib/mysql");
        assert!(compose.secrets().contains(&"123456".to_string()), "{file}");
        assert_eq!(
            compose.container_name("xiaozhi-esp32-server-db").as_deref(),
            Some("xiaozhi-esp32-server-db")
        );
        assert_eq!(compose.images()["xiaozhi-esp32-server-redis"], "redis:8.0");
        assert!(
            compose
                .warnings(&RoleMap::default())
                .iter()
                .all(|w| w.message.contains("reservations.cpus"))
        );
    }
}

#[test]
fn empty_keys_and_no_final_newline_in_a_four_space_file() {
    let text = "services:\n    s:\n        image: s\n    w:\n        image: w\n    d:\n        command:\n        deploy:\n    r:\n        image: redis";
    let out = parse("c.yml", text)
        .render(&small_roles(), &high())
        .map(|r| r.file.text)
        .unwrap();
    assert!(
        out.contains("    d:\n        command:\n            - --max_connections=2000\n            - --innodb_buffer_pool_size=2G\n            - --innodb_log_file_size=256M\n        deploy:\n            resources:\n                limits:\n                    cpus: '4'\n"),
        "{out}"
    );
    // The file had no final line break; it still has none.
    assert!(
        out.ends_with("                    cpus: '1'\n                    memory: 1G"),
        "{out}"
    );
}

#[test]
fn crlf_files_stay_crlf() {
    let text = "services:\r\n  s:\r\n    image: s\r\n  w:\r\n    image: w\r\n  d:\r\n    image: d\r\n  r:\r\n    image: redis\r\n";
    let out = parse("c.yml", text)
        .render(&small_roles(), &high())
        .map(|r| r.file.text)
        .unwrap();
    assert_eq!(
        out.matches('\n').count(),
        out.matches("\r\n").count(),
        "{out:?}"
    );
    assert!(out.contains("    command:\r\n      - redis-server\r\n      - --maxmemory 1536mb\r\n"));
}

#[test]
fn a_document_marker_is_kept() {
    let text = "---\n# c\nservices:\n  s: {image: s}\n  w: {image: w}\n  d: {image: d}\n  r: {image: r}\n...\n";
    let out = parse("c.yml", text)
        .render(&small_roles(), &flags_only())
        .map(|r| r.file.text)
        .unwrap();
    assert!(out.starts_with("---\n# c\nservices:\n"), "{out}");
    assert!(out.ends_with("...\n"), "{out}");
}

#[test]
fn folded_commands_are_edited_line_by_line() {
    let text = "services:\n  s: {image: s}\n  w: {image: w}\n  d:\n    image: mysql\n    command: >\n      --character-set-server=utf8mb4\n      --max_connections=600\n  r:\n    image: redis\n    command: >-\n      redis-server\n      --requirepass pw\n      --maxmemory 256mb\n    healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"ping\"]\n";
    let file = ComposeFile::parse(Path::new("/d/c.yml"), text.to_string()).unwrap();
    let out = file
        .render(&small_roles(), &flags_only())
        .map(|r| r.file.text);
    let out = out.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out,
        "services:\n  s: {image: s}\n  w: {image: w}\n  d:\n    image: mysql\n    command: >\n      --character-set-server=utf8mb4\n      --max_connections=2000\n      --innodb_buffer_pool_size=2G\n      --innodb_log_file_size=256M\n  r:\n    image: redis\n    command: >-\n      redis-server\n      --requirepass pw\n      --maxmemory 1536mb\n      --maxmemory-policy allkeys-lru\n      --save 900 1\n      --save 300 10\n      --save 60 10000\n    healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"ping\"]\n"
    );
}

#[test]
fn a_command_flag_from_a_variable_is_read_substituted_and_never_overwritten() {
    let file = small(
        "  d:\n    command: [\"--max_connections=${DB_CONN:-2000}\", \"--innodb_buffer_pool_size=${POOL:-1G}\"]\n  r:\n    image: redis\n",
    );
    let seen = file.observe(&small_roles()).unwrap();
    assert_eq!(seen.mysql.max_connections, Some(2000));
    assert_eq!(seen.mysql.innodb_buffer_pool_size.unwrap().text, "1G");
    let err = file
        .render(&small_roles(), &flags_only())
        .map(|r| r.file.text)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`c.yml`: cannot edit service `d`: its `command:` word \
         `--innodb_buffer_pool_size=${POOL:-1G}` takes its value from a variable"
    );
    assert!(
        err.hint().unwrap().ends_with("`--only server,redis,web`"),
        "{:?}",
        err.hint()
    );
}
