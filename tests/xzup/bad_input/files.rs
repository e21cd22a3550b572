//! Cases of the bad-input suite (see `super`): compose files, xzup.toml and tiers files.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
        // ---- compose files ----
        case(
            "no compose file",
            &["plan", "--tier", "high"],
            1,
            "no compose file in `",
            "name the compose file with `-f FILE`",
        )
        .setup(|d| fs::remove_file(d.join(ALL)).unwrap()),
        case(
            "-f a missing file",
            &["-f", "nope.yml", "plan", "--tier", "high"],
            1,
            "nope.yml` does not exist",
            "check the path given with `-f FILE`",
        ),
        case(
            "-f a directory",
            &["-f", "d/data", "plan", "--tier", "high"],
            1,
            "/d/data` is not a file",
            "check the path given with `-f FILE`",
        ),
        case(
            "-f a dangling symlink",
            &["-f", "d/link.yml", "plan", "--tier", "high"],
            1,
            "link.yml` does not exist",
            "check the path given with `-f FILE`",
        )
        .setup(|d| std::os::unix::fs::symlink("/nonexistent", d.join("link.yml")).unwrap()),
        case(
            "empty compose file",
            &["plan", "--tier", "high"],
            1,
            "is not a compose file: it is empty",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, "")),
        case(
            "render an empty compose file",
            &["render", "--tier", "high"],
            1,
            "is not a compose file: it is empty",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, "")),
        case(
            "binary compose file",
            &["plan", "--tier", "high"],
            1,
            "stream did not contain valid UTF-8",
            UTF8,
        )
        .setup(|d| {
            put(
                d,
                ALL,
                (0..3000u32)
                    .map(|i| (i * 131 % 256) as u8)
                    .collect::<Vec<u8>>(),
            )
        }),
        case(
            "UTF-16 compose file",
            &["plan", "--tier", "high"],
            1,
            "stream did not contain valid UTF-8",
            UTF8,
        )
        .setup(|d| put(d, ALL, b"\xff\xfes\x00e\x00")),
        case(
            "a 5 MB line and no services",
            &["plan", "--tier", "high"],
            1,
            "it has no `services:`",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, format!("x: {}\n", "a".repeat(5 << 20)))),
        case(
            "a 5 MB service name",
            &["plan", "--tier", "high"],
            1,
            "mapping values are not allowed in this context",
            FIX_YAML,
        )
        .setup(|d| {
            put(
                d,
                ALL,
                format!("services:\n  {}:\n    image: x\n", "s".repeat(5 << 20)),
            )
        }),
        case(
            "no services",
            &["plan", "--tier", "high"],
            1,
            "it has no `services:`",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, "version: '3'\n")),
        case(
            "services is a number",
            &["plan", "--tier", "high"],
            1,
            "`services:` is not a mapping of services",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, "services: 3\n")),
        case(
            "top level is a list",
            &["plan", "--tier", "high"],
            1,
            "its top level is not a mapping of keys",
            NOT_COMPOSE,
        )
        .setup(|d| put(d, ALL, "- a\n- b\n")),
        case(
            "duplicate top-level key",
            &["plan", "--tier", "high"],
            1,
            "duplicate entry with key \"services\"",
            FIX_YAML,
        )
        .setup(|d| {
            put(
                d,
                ALL,
                "services:\n  a:\n    image: x\nservices:\n  b:\n    image: y\n",
            )
        }),
        case(
            "duplicate key in a service",
            &["plan", "--tier", "high"],
            1,
            "services.a: duplicate entry with key \"image\"",
            FIX_YAML,
        )
        .setup(|d| put(d, ALL, "services:\n  a:\n    image: x\n    image: y\n")),
        case(
            "tab-indented",
            &["plan", "--tier", "high"],
            1,
            "found character that cannot start any token",
            FIX_YAML,
        )
        .setup(|d| put(d, ALL, "services:\n\ta:\n\t\timage: x\n")),
        case(
            "merge of an unknown anchor",
            &["plan", "--tier", "high"],
            1,
            "unknown anchor",
            FIX_YAML,
        )
        .setup(|d| put(d, ALL, "services:\n  db:\n    <<: *nope\n")),
        case(
            "unclosed flow mapping",
            &["render", "--tier", "high"],
            1,
            "did not find expected ',' or '}'",
            FIX_YAML,
        )
        .setup(|d| put(d, ALL, "services:\n  a: {image: x\n")),
        case(
            "two YAML documents",
            &["plan", "--tier", "high"],
            1,
            "more than one document",
            FIX_YAML,
        )
        .setup(|d| put(d, ALL, "services: {}\n---\nservices: {}\n")),
        case(
            "offline: duplicate key",
            &["plan", "--tier", "high"],
            1,
            "duplicate entry with key",
            FIX_YAML,
        )
        .offline()
        .setup(|d| {
            let path = d.join("docker-compose-offline.yml");
            let text = fs::read_to_string(&path).unwrap();
            fs::write(path, format!("{text}\nservices:\n  x:\n    image: y\n")).unwrap();
        }),
        // ---- xzup.toml and tiers files ----
        case(
            "xzup.toml not TOML",
            &["plan", "--tier", "high"],
            1,
            "xzup.toml` is not valid: unclosed array",
            TOML_HINT,
        )
        .setup(|d| put(d, "xzup.toml", "services = [\n")),
        case(
            "xzup.toml unknown key",
            &["plan", "--tier", "high"],
            1,
            "unknown field `frobnicate`",
            TOML_HINT,
        )
        .setup(|d| put(d, "xzup.toml", "frobnicate = 1\n")),
        case(
            "xzup.toml unknown role",
            &["plan", "--tier", "high"],
            64,
            "xzup.toml: unknown role `cache`",
            ROLES_HINT,
        )
        .setup(|d| put(d, "xzup.toml", "[services]\ncache = \"x\"\n")),
        case(
            "xzup.toml maps a missing service",
            &["plan", "--tier", "high"],
            64,
            "xzup.toml maps the db role to `nosuch`",
            "name one of them",
        )
        .setup(|d| put(d, "xzup.toml", "[services]\ndb = \"nosuch\"\n")),
        case(
            "xzup.toml names a missing tiers file",
            &["plan", "--tier", "high"],
            1,
            "nope.toml`: No such file or directory",
            TIERS_PATH,
        )
        .setup(|d| put(d, "xzup.toml", "tiers_file = \"nope.toml\"\n")),
        case(
            "--tiers-file missing",
            &["--tiers-file", "nope.toml", "plan", "--tier", "high"],
            1,
            "cannot read tiers file `nope.toml`",
            TIERS_PATH,
        ),
        case(
            "--tiers-file a directory",
            &["--tiers-file", "d/data", "tiers"],
            1,
            "Is a directory",
            TIERS_PATH,
        ),
        case(
            "--tiers-file binary",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "stream did not contain valid UTF-8",
            TIERS_PATH,
        )
        .setup(|d| put(d, "t.toml", [0xffu8, 0xfe, 0x00, 0x80])),
        case(
            "--tiers-file empty",
            &["--tiers-file", "d/t.toml", "plan", "--tier", "high"],
            1,
            "t.toml:1:1: the file defines no tiers",
            "add a `[tiers.NAME]` table",
        )
        .setup(|d| put(d, "t.toml", "")),
        case(
            "--tiers-file not TOML",
            &["--tiers-file", "d/t.toml", "plan", "--tier", "high"],
            1,
            "invalid TOML: unclosed table",
            TIERS_TOML,
        )
        .setup(|d| put(d, "t.toml", "[tiers.x\n")),
        case(
            "--tiers-file duplicate key",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "invalid TOML: duplicate key",
            TIERS_TOML,
        )
        .setup(|d| put(d, "t.toml", "[tiers.low]\nlabel = \"a\"\nlabel = \"b\"\n")),
        case(
            "--tiers-file bad size",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "is not a valid memory size",
            "write a number with a unit, like `512M`",
        )
        .setup(|d| tiers_with(d, "memory = \"2G\"", "memory = \"lots\"")),
        case(
            "--tiers-file unknown key",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "unknown key `labl`",
            "the keys allowed in `tiers.low` are",
        )
        .setup(|d| tiers_with(d, "[tiers.low]\nlabel = ", "[tiers.low]\nlabl = ")),
        case(
            "--tiers-file unknown role",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "unknown role `cache` in tier `low`",
            "a tier has one table per role",
        )
        .setup(|d| tiers_with(d, "[tiers.low.redis]", "[tiers.low.cache]")),
        case(
            "--tiers-file bad tier name",
            &["--tiers-file", "d/t.toml", "tiers"],
            1,
            "`lo w` cannot be a tier name",
            "use letters, digits, `-` and `_`",
        )
        .setup(|d| tiers_with(d, "[tiers.low]", "[tiers.\"lo w\"]")),
    ]
}
