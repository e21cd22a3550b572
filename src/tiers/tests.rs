//! Tests of the tier catalog: each rule of the format with its exact message and place,
//! the built-in catalog against the plan's numbers, classification and targets.

use super::*;
use crate::settings::{ObservedMysql, ObservedRedis, ObservedResources};

/// A small valid catalog; the tests break one thing in it at a time. Line numbers in
/// the expected messages refer to this text.
const SMALL: &str = r#"[tiers.small]
label = "test"
users = "1-2"
host = { cpus = 4, memory = "8G" }

[tiers.small.server]
limits = { cpus = 2, memory = "2G" }
reservations = { cpus = 1, memory = "1G" }

[tiers.small.web]
limits = { cpus = 1, memory = "1G" }
reservations = { cpus = 0.5, memory = "512M" }

[tiers.small.db]
limits = { cpus = 1, memory = "1G" }
reservations = { cpus = 0.5, memory = "512M" }
max_connections = 100
innodb_buffer_pool_size = "256M"
innodb_log_file_size = "64M"

[tiers.small.redis]
limits = { cpus = 1, memory = "512M" }
reservations = { cpus = 0.5, memory = "256M" }
maxmemory = "256mb"
maxmemory-policy = "allkeys-lru"
"#;

fn parse(text: &str) -> Result<Catalog, TiersError> {
    Catalog::parse(text, CatalogSource::File(PathBuf::from("t.toml")))
}

/// `SMALL` with `from` replaced by `to`.
fn small_with(from: &str, to: &str) -> String {
    assert!(SMALL.contains(from), "`{from}` is not in the test catalog");
    SMALL.replacen(from, to, 1)
}

/// The error message and hint for `text`.
fn error(text: &str) -> (String, String) {
    let err = parse(text).expect_err("the catalog is rejected");
    (err.to_string(), err.hint().unwrap_or_default())
}

#[test]
fn small_catalog_is_valid() {
    let catalog = parse(SMALL).unwrap();
    assert_eq!(catalog.names(), vec!["small"]);
    let tier = &catalog.tiers[0];
    assert_eq!(tier.info.label, "test");
    assert_eq!(tier.info.host_cpus, 4);
    assert_eq!(tier.resources(Role::Web).reservations.cpus, Cpus(500));
    assert_eq!(tier.redis.save, None);
}

#[test]
fn zero_cpus() {
    let text = small_with(
        r#"limits = { cpus = 2, memory = "2G" }"#,
        r#"limits = { cpus = 0, memory = "2G" }"#,
    );
    assert_eq!(
        error(&text),
        (
            "t.toml:7:19: `tiers.small.server.limits.cpus` = `0` is not a valid CPU count".into(),
            "write a positive number of cores, like `4` or `0.5`".into()
        )
    );
}

#[test]
fn negative_cpus() {
    let text = small_with(
        r#"reservations = { cpus = 1, memory = "1G" }"#,
        r#"reservations = { cpus = -1.5, memory = "1G" }"#,
    );
    assert_eq!(
        error(&text).0,
        "t.toml:8:25: `tiers.small.server.reservations.cpus` = `-1.5` is not a valid CPU \
         count"
    );
}

#[test]
fn cpus_may_be_quoted_as_in_compose() {
    let text = small_with(
        r#"limits = { cpus = 2, memory = "2G" }"#,
        r#"limits = { cpus = "2", memory = "2G" }"#,
    );
    let catalog = parse(&text).unwrap();
    assert_eq!(catalog.tiers[0].max_cpus(), Cpus(2000));
}

#[test]
fn memory_with_unknown_unit() {
    let text = small_with(
        r#"limits = { cpus = 2, memory = "2G" }"#,
        r#"limits = { cpus = 2, memory = "16X" }"#,
    );
    assert_eq!(
        error(&text),
        (
            "t.toml:7:31: `tiers.small.server.limits.memory` = `16X` is not a valid memory \
             size"
                .into(),
            "write a number with a unit, like `512M` or `16G`".into()
        )
    );
}

#[test]
fn memory_as_a_bare_number() {
    let text = small_with(
        r#"limits = { cpus = 1, memory = "1G" }"#,
        r#"limits = { cpus = 1, memory = 1 }"#,
    );
    assert_eq!(
        error(&text),
        (
            "t.toml:11:31: `tiers.small.web.limits.memory` must be a string, not an integer".into(),
            "write it like `memory = \"8G\"`".into()
        )
    );
}

#[test]
fn reservation_cpus_above_limit() {
    let text = small_with(
        r#"reservations = { cpus = 1, memory = "1G" }"#,
        r#"reservations = { cpus = 3, memory = "1G" }"#,
    );
    assert_eq!(
        error(&text),
        (
            "t.toml:8:25: `tiers.small.server.reservations.cpus` = `3` is above \
             `limits.cpus` = `2`"
                .into(),
            "a container cannot reserve more than its limit: lower the reservation to `2` \
             or less, or raise the limit"
                .into()
        )
    );
}

#[test]
fn reservation_memory_above_limit() {
    let text = small_with(
        r#"reservations = { cpus = 1, memory = "1G" }"#,
        r#"reservations = { cpus = 1, memory = "2049M" }"#,
    );
    assert_eq!(
        error(&text).0,
        "t.toml:8:37: `tiers.small.server.reservations.memory` = `2049M` is above \
         `limits.memory` = `2G`"
    );
}

#[test]
fn reservation_equal_to_limit_is_fine() {
    let text = small_with(
        r#"reservations = { cpus = 1, memory = "1G" }"#,
        r#"reservations = { cpus = 2, memory = "2048M" }"#,
    );
    assert!(parse(&text).is_ok());
}

#[test]
fn buffer_pool_above_db_memory() {
    let text = small_with(
        r#"innodb_buffer_pool_size = "256M""#,
        r#"innodb_buffer_pool_size = "2G""#,
    );
    let (message, hint) = error(&text);
    assert_eq!(
        message,
        "t.toml:18:27: `tiers.small.db.innodb_buffer_pool_size` = `2G` is not below the db \
         container's memory limit `1G`"
    );
    assert!(
        hint.starts_with("mysqld needs memory beyond its buffer pool"),
        "{hint}"
    );
}

#[test]
fn buffer_pool_is_read_the_mysql_way() {
    // MySQL takes no fractions; `0.5G` would be rejected by mysqld at start.
    let text = small_with(
        r#"innodb_buffer_pool_size = "256M""#,
        r#"innodb_buffer_pool_size = "0.5G""#,
    );
    assert_eq!(
        error(&text),
        (
            "t.toml:18:27: `tiers.small.db.innodb_buffer_pool_size` = `0.5G` is not a valid \
             MySQL size"
                .into(),
            "write a whole number with K, M or G, like `2G`".into()
        )
    );
}

#[test]
fn maxmemory_above_redis_memory() {
    let text = small_with(r#"maxmemory = "256mb""#, r#"maxmemory = "1gb""#);
    let (message, hint) = error(&text);
    assert_eq!(
        message,
        "t.toml:24:13: `tiers.small.redis.maxmemory` = `1gb` is not below the redis \
         container's memory limit `512M`"
    );
    assert!(hint.contains("Redis reads `m` as 1000000 bytes"), "{hint}");
}

#[test]
fn maxmemory_m_is_decimal() {
    // 536m = 536,000,000 bytes, under the 512M (536,870,912) limit; 537m is over it.
    let under = small_with(r#"maxmemory = "256mb""#, r#"maxmemory = "536m""#);
    assert!(parse(&under).is_ok());
    let over = small_with(r#"maxmemory = "256mb""#, r#"maxmemory = "537m""#);
    assert_eq!(
        error(&over).0,
        "t.toml:24:13: `tiers.small.redis.maxmemory` = `537m` is not below the redis \
         container's memory limit `512M`"
    );
}

#[test]
fn unknown_role() {
    let text = format!("{SMALL}\n[tiers.small.gpu]\nlimits = {{ cpus = 1, memory = \"1G\" }}\n");
    assert_eq!(
        error(&text),
        (
            "t.toml:27:14: unknown role `gpu` in tier `small`".into(),
            "a tier has one table per role: `server`, `web`, `db`, `redis`; rename or \
             remove `[tiers.small.gpu]`"
                .into()
        )
    );
}

#[test]
fn missing_role() {
    let text = small_with(
        "[tiers.small.web]\nlimits = { cpus = 1, memory = \"1G\" }\nreservations = { cpus \
         = 0.5, memory = \"512M\" }\n",
        "",
    );
    assert_eq!(
        error(&text),
        (
            "t.toml:1:8: tier `small` has no `web` table".into(),
            "add `[tiers.small.web]` with `limits = { cpus = 4, memory = \"8G\" }` and \
             `reservations = { cpus = 2, memory = \"4G\" }`: every tier sizes all four roles"
                .into()
        )
    );
}

#[test]
fn unknown_key() {
    let text = small_with("max_connections = 100", "max_conections = 100");
    assert_eq!(
        error(&text),
        (
            "t.toml:17:1: unknown key `max_conections` in `tiers.small.db`".into(),
            "the keys allowed in `tiers.small.db` are `limits`, `reservations`, \
             `max_connections`, `innodb_buffer_pool_size`, `innodb_log_file_size`"
                .into()
        )
    );
}

#[test]
fn redis_setting_on_the_wrong_role() {
    let text = small_with(
        "reservations = { cpus = 1, memory = \"1G\" }\n",
        "reservations = { cpus = 1, memory = \"1G\" }\nmaxmemory = \"1gb\"\n",
    );
    assert_eq!(
        error(&text).0,
        "t.toml:9:1: unknown key `maxmemory` in `tiers.small.server`"
    );
}

#[test]
fn unknown_key_in_an_allocation() {
    let text = small_with(
        r#"limits = { cpus = 2, memory = "2G" }"#,
        r#"limits = { cpus = 2, memory = "2G", swap = "1G" }"#,
    );
    assert_eq!(
        error(&text).0,
        "t.toml:7:37: unknown key `swap` in `tiers.small.server.limits`"
    );
}

#[test]
fn unknown_top_level_key() {
    let (message, hint) = error("[tier.small]\nlabel = \"x\"\n");
    assert_eq!(message, "t.toml:1:2: unknown key `tier` at the top level");
    assert_eq!(hint, "the keys allowed at the top level are `tiers`");
}

#[test]
fn missing_key() {
    let text = small_with("reservations = { cpus = 0.5, memory = \"256M\" }\n", "");
    assert_eq!(
        error(&text),
        (
            "t.toml:21:14: `tiers.small.redis` has no `reservations`".into(),
            "add `reservations = { cpus = 4, memory = \"8G\" }` to `tiers.small.redis`".into()
        )
    );
}

#[test]
fn missing_key_in_an_inline_table() {
    let text = small_with(
        r#"limits = { cpus = 1, memory = "512M" }"#,
        r#"limits = { cpus = 1 }"#,
    );
    assert_eq!(
        error(&text),
        (
            "t.toml:22:1: `tiers.small.redis.limits` has no `memory`".into(),
            "add `memory = \"8G\"` to `tiers.small.redis.limits`".into()
        )
    );
}

#[test]
fn bad_toml() {
    let text = small_with(r#"users = "1-2""#, r#"users = "1-2"#);
    assert_eq!(
        error(&text),
        (
            "t.toml:3:13: invalid TOML: invalid basic string, expected `\"`".into(),
            "fix the TOML there; the format is described at the top of the built-in \
             catalog, templates/tiers.toml"
                .into()
        )
    );
}

#[test]
fn no_tiers() {
    assert_eq!(error("").0, "t.toml:1:1: the file defines no tiers");
    assert_eq!(
        error("\n\n[tiers]\n").0,
        "t.toml:3:2: the file defines no tiers"
    );
}

#[test]
fn tier_names() {
    let text = small_with("[tiers.small]", "[tiers.custom]").replace("small", "custom");
    assert_eq!(
        error(&text),
        (
            "t.toml:1:8: `custom` cannot be a tier name".into(),
            "`custom` is what xzup calls a mix of tiers: pick another name".into()
        )
    );
    let text = SMALL.replace("tiers.small", "tiers.\"big one\"");
    assert_eq!(
        error(&text).0,
        "t.toml:1:8: `big one` cannot be a tier name"
    );
}

#[test]
fn redis_policy_and_save_rules() {
    let text = small_with(r#""allkeys-lru""#, r#""allkeys-lr""#);
    assert_eq!(
        error(&text).0,
        "t.toml:25:20: `tiers.small.redis.maxmemory-policy` = `allkeys-lr` is not a valid \
         Redis maxmemory-policy"
    );
    let text = format!("{SMALL}save = [\"900  1\", \"300 10\"]\n");
    let catalog = parse(&text).unwrap();
    assert_eq!(
        catalog.tiers[0].redis.save,
        Some(vec!["900 1".to_string(), "300 10".to_string()])
    );
    let text = format!("{SMALL}save = [\"900 1\", \"300\"]\n");
    assert_eq!(
        error(&text).0,
        "t.toml:26:18: `tiers.small.redis.save` = `300` is not a valid Redis save rule"
    );
    let text = format!("{SMALL}save = []\n");
    assert_eq!(
        error(&text).0,
        "t.toml:26:8: `tiers.small.redis.save` = `[]` is not a valid Redis save rule"
    );
}

#[test]
fn max_connections_in_mysql_range() {
    let text = small_with("max_connections = 100", "max_connections = 0");
    assert_eq!(
        error(&text),
        (
            "t.toml:17:19: `tiers.small.db.max_connections` = `0` is not a valid \
             max_connections"
                .into(),
            "write a whole number from 1 to 100000 (MySQL's range)".into()
        )
    );
}

#[test]
fn host_defaults_to_the_totals() {
    let text = small_with("host = { cpus = 4, memory = \"8G\" }\n", "");
    let tier = &parse(&text).unwrap().tiers[0];
    // limits: 2 + 1 + 1 + 1 = 5 cores, 2G + 1G + 1G + 512M = 4.5G
    assert_eq!(tier.info.host_cpus, 5);
    assert_eq!(tier.info.host_memory.to_string(), "4.5G");
    let text = small_with("host = { cpus = 4,", "host = { cpus = 0,");
    assert_eq!(
        error(&text).0,
        "t.toml:4:17: `tiers.small.host.cpus` = `0` is not a valid core count"
    );
}

#[test]
fn locations_count_characters() {
    let text = "a\n低配 = x\n";
    let at = Location::locate("f", text, text.find('x').unwrap());
    assert_eq!((at.line, at.column), (2, 6));
}

#[test]
fn loading_a_missing_file_says_so() {
    let err = Catalog::load(Path::new("/nonexistent/tiers.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read tiers file `/nonexistent/tiers.toml`: "),
        "{err}"
    );
}

// -- the built-in catalog --------------------------------------------------------------

/// `server 4/8G 2/4G` — one role's limits and reservations.
fn sizes(tier: &Tier, role: Role) -> String {
    let r = tier.resources(role);
    format!(
        "{role} {}/{} {}/{}",
        r.limits.cpus, r.limits.memory, r.reservations.cpus, r.reservations.memory
    )
}

/// Every number of a tier on one line, to compare with the plan's tables.
fn summary(tier: &Tier) -> String {
    let mut parts = vec![format!(
        "{} ({}, {} users, host {}/{})",
        tier.name, tier.info.label, tier.info.users, tier.info.host_cpus, tier.info.host_memory
    )];
    parts.extend(
        [Role::Server, Role::Web, Role::Db, Role::Redis]
            .iter()
            .map(|r| sizes(tier, *r)),
    );
    parts.push(format!(
        "mysql {} {} {}",
        tier.mysql.max_connections,
        tier.mysql.innodb_buffer_pool_size,
        tier.mysql.innodb_log_file_size
    ));
    parts.push(format!(
        "redis {} {} save={}",
        tier.redis.maxmemory,
        tier.redis.maxmemory_policy,
        tier.redis
            .save
            .as_ref()
            .map_or("-".to_string(), |s| s.join("/"))
    ));
    parts.join(" | ")
}

#[test]
fn embedded_catalog_has_the_plans_numbers_in_order() {
    let catalog = Catalog::embedded();
    assert_eq!(catalog.source, CatalogSource::Embedded);
    let lines: Vec<String> = catalog.tiers.iter().map(summary).collect();
    assert_eq!(
        lines,
        vec![
            "low (current, 5-10 users, host 16/32G) | server 4/8G 2/4G | web 2/4G 1/2G | \
             db 2/2G 1/1G | redis 1/1G 0.5/512M | mysql 1000 512M 128M | \
             redis 512mb allkeys-lru save=-",
            "high (plan A, 10-20 users, host 18/32G) | server 8/16G 4/8G | web 4/8G 2/4G | \
             db 4/4G 2/2G | redis 2/2G 1/1G | mysql 2000 2G 256M | \
             redis 1536mb allkeys-lru save=900 1/300 10/60 10000",
            "ultra (plan B, 20-50 users, host 32/64G) | server 16/32G 8/16G | \
             web 6/12G 3/6G | db 6/8G 3/4G | redis 4/4G 2/2G | mysql 2000 4G 256M | \
             redis 3072mb allkeys-lru save=900 1/300 10/60 10000",
            "extreme (plan C, 50-100 users, host 44/104G) | server 24/64G 12/32G | \
             web 8/16G 4/8G | db 8/16G 4/8G | redis 4/8G 2/4G | mysql 2000 8G 256M | \
             redis 6144mb allkeys-lru save=900 1/300 10/60 10000",
        ]
    );
    // Redis `mb` is binary: 1536mb is the plan's 1.5GB.
    assert_eq!(
        catalog.get("high").unwrap().redis.maxmemory.bytes,
        1536 << 20
    );
}

#[test]
fn totals_match_the_plans_rows() {
    // The plan's 总计 rows: limits, then reservations.
    let expected = [
        ("low", "9 / 15G", "4.5 / 7.5G"),
        ("high", "18 / 30G", "9 / 15G"),
        ("ultra", "32 / 56G", "16 / 28G"),
        ("extreme", "44 / 104G", "22 / 52G"),
    ];
    let catalog = Catalog::embedded();
    for (name, limits, reservations) in expected {
        let totals = catalog.get(name).unwrap().totals();
        let show = |a: &Allocation| format!("{} / {}", a.cpus, a.memory);
        assert_eq!(
            (show(&totals.limits), show(&totals.reservations)),
            (limits.to_string(), reservations.to_string()),
            "{name}"
        );
    }
}

#[test]
fn max_cpus_is_the_largest_limit() {
    let catalog = Catalog::embedded();
    let max: Vec<String> = catalog
        .tiers
        .iter()
        .map(|t| t.max_cpus().to_string())
        .collect();
    assert_eq!(max, vec!["4", "8", "16", "24"]);
}

#[test]
fn unknown_tier_lists_the_valid_ones() {
    let err = Catalog::embedded().get("huge").unwrap_err();
    assert_eq!(err.to_string(), "unknown tier `huge`");
    assert_eq!(
        err.hint().unwrap(),
        "the tiers are: low, high, ultra, extreme"
    );
}

// -- classification and targets ---------------------------------------------------------

/// What a compose file sized exactly like `tier` shows, with `save` rules as written.
fn observed(tier: &Tier, save: &[&str]) -> Observed {
    let services = Role::ALL
        .iter()
        .map(|role| {
            let r = tier.resources(*role);
            let found = ObservedResources {
                limit_cpus: Some(r.limits.cpus),
                limit_memory: Some(r.limits.memory.clone()),
                reserve_cpus: Some(r.reservations.cpus),
                reserve_memory: Some(r.reservations.memory.clone()),
            };
            (*role, found)
        })
        .collect();
    Observed {
        services,
        mysql: ObservedMysql {
            max_connections: Some(tier.mysql.max_connections),
            innodb_buffer_pool_size: Some(tier.mysql.innodb_buffer_pool_size.clone()),
            innodb_log_file_size: Some(tier.mysql.innodb_log_file_size.clone()),
        },
        redis: ObservedRedis {
            maxmemory: Some(tier.redis.maxmemory.clone()),
            maxmemory_policy: Some(tier.redis.maxmemory_policy.clone()),
            save: save.iter().map(|s| s.to_string()).collect(),
        },
    }
}

const PLAN_SAVE: [&str; 3] = ["900 1", "300 10", "60 10000"];

#[test]
fn a_file_on_one_tier_is_that_tier() {
    let catalog = Catalog::embedded();
    for tier in &catalog.tiers {
        let found = catalog.classify(&observed(tier, &PLAN_SAVE), &[]);
        assert_eq!(found.tier, tier.name);
        assert!(
            found
                .per_role
                .values()
                .all(|t| t.as_deref() == Some(&*tier.name))
        );
        assert_eq!(found.to_string(), tier.name);
    }
}

#[test]
fn low_keeps_whatever_save_rules_the_file_has() {
    // The low tier sets no `save`, so the offline file's rules (or none) still match it.
    let catalog = Catalog::embedded();
    let low = catalog.get("low").unwrap();
    assert_eq!(catalog.classify(&observed(low, &[]), &[]).tier, "low");
    assert_eq!(
        catalog.classify(&observed(low, &PLAN_SAVE), &[]).tier,
        "low"
    );
}

#[test]
fn high_needs_its_save_rules() {
    let catalog = Catalog::embedded();
    let high = catalog.get("high").unwrap();
    let found = catalog.classify(&observed(high, &["900 1"]), &[]);
    assert_eq!(
        found.to_string(),
        "custom (server: high, db: high, redis: custom, web: high)"
    );
    // One item holding all the rules sets the same rules.
    let found = catalog.classify(&observed(high, &["900 1 300 10 60 10000"]), &[]);
    assert_eq!(found.tier, "high");
}

#[test]
fn a_partial_upgrade_is_custom_with_each_roles_tier() {
    let catalog = Catalog::embedded();
    let mut mix = observed(catalog.get("low").unwrap(), &PLAN_SAVE);
    let ultra = observed(catalog.get("ultra").unwrap(), &PLAN_SAVE);
    mix.services
        .insert(Role::Server, ultra.services[&Role::Server].clone());
    let found = catalog.classify(&mix, &[]);
    assert!(found.is_custom());
    assert_eq!(
        found.to_string(),
        "custom (server: ultra, db: low, redis: low, web: low)"
    );
    // Asked about the roles that were not upgraded only, the file is on `low`.
    let found = catalog.classify(&mix, &[Role::Db, Role::Redis, Role::Web]);
    assert_eq!(found.tier, "low");
    assert_eq!(found.per_role.len(), 3);
}

#[test]
fn mysql_flags_decide_the_db_role() {
    let catalog = Catalog::embedded();
    let mut found = observed(catalog.get("high").unwrap(), &PLAN_SAVE);
    found.mysql.innodb_buffer_pool_size = Some(Memory::parse_mysql("512M").unwrap());
    let found = catalog.classify(&found, &[]);
    assert_eq!(found.per_role[&Role::Db], None);
    assert_eq!(found.per_role[&Role::Server].as_deref(), Some("high"));
}

#[test]
fn sizes_compare_by_value() {
    let catalog = Catalog::embedded();
    let mut found = observed(catalog.get("low").unwrap(), &[]);
    let server = found.services.get_mut(&Role::Server).unwrap();
    server.limit_memory = Some(Memory::parse_compose("8192M").unwrap());
    found.redis.maxmemory = Some(Memory::parse_redis("536870912").unwrap());
    found.redis.maxmemory_policy = Some("ALLKEYS-LRU".into());
    assert_eq!(catalog.classify(&found, &[]).tier, "low");
}

#[test]
fn a_file_without_resources_matches_nothing() {
    let catalog = Catalog::embedded();
    let bare = Observed {
        services: Role::ALL
            .iter()
            .map(|r| (*r, ObservedResources::default()))
            .collect(),
        mysql: ObservedMysql::default(),
        redis: ObservedRedis::default(),
    };
    let found = catalog.classify(&bare, &[]);
    assert_eq!(found.to_string(), "custom (no tier's settings)");
    assert!(found.per_role.values().all(Option::is_none));
}

#[test]
fn target_covers_the_roles_asked_for() {
    let catalog = Catalog::embedded();
    let ultra = catalog.get("ultra").unwrap();

    let all = ultra.target(&[]);
    assert_eq!(all.resources.keys().copied().collect::<Vec<_>>(), Role::ALL);
    assert_eq!(all.mysql.as_ref(), Some(&ultra.mysql));
    assert_eq!(all.redis.as_ref(), Some(&ultra.redis));
    assert_eq!(all, ultra.target(&Role::ALL));

    let some = ultra.target(&[Role::Server, Role::Db]);
    assert_eq!(
        some.resources.keys().copied().collect::<Vec<_>>(),
        vec![Role::Server, Role::Db]
    );
    assert_eq!(
        some.resources[&Role::Server],
        *ultra.resources(Role::Server)
    );
    assert_eq!(some.mysql.as_ref(), Some(&ultra.mysql));
    assert_eq!(some.redis, None);

    let web = ultra.target(&[Role::Web]);
    assert_eq!((web.mysql, web.redis), (None, None));
}

/// A deployment without db and redis (MySQL and Redis elsewhere): only the roles in it are
/// judged, so the server and web on `high` make the file `high`.
#[test]
fn a_partial_deployment_is_classified_by_the_roles_it_has() {
    let catalog = Catalog::embedded();
    let high = catalog.get("high").unwrap();
    let mut found = observed(high, &PLAN_SAVE);
    found
        .services
        .retain(|r, _| matches!(r, Role::Server | Role::Web));
    found.mysql = ObservedMysql::default();
    found.redis = ObservedRedis::default();
    let got = catalog.classify(&found, &[]);
    assert_eq!(got.tier, "high");
    assert_eq!(
        got.per_role.keys().copied().collect::<Vec<_>>(),
        [Role::Server, Role::Web]
    );
    // Asked about all four, the absent ones match no tier.
    assert!(catalog.classify(&found, &Role::ALL).is_custom());
}
