//! Cases of the bad-input suite (see `super`): backups, journals and state, a locked deployment.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![
        // ---- backups, restore, verify ----
        case(
            "restore a missing archive",
            &["restore", "@D/backups/nope.tar.gz"],
            1,
            "nope.tar.gz`: No such file or directory",
            NO_ARCHIVE,
        ),
        case(
            "restore a text file",
            &["restore", "@D/backups/x.tar.gz"],
            1,
            "is not an xzup backup",
            NOT_XZUP,
        )
        .setup(|d| put(d, "backups/x.tar.gz", "hello\n")),
        case(
            "restore a plain tar.gz",
            &["restore", "@D/p.tar.gz"],
            1,
            "its first member is `data/`, not `.xzup/manifest.json`",
            NOT_XZUP,
        )
        .setup(|d| {
            let ok = std::process::Command::new("tar")
                .arg("-czf")
                .arg(d.join("p.tar.gz"))
                .arg("-C")
                .arg(d)
                .arg("data")
                .status()
                .unwrap();
            assert!(ok.success());
        }),
        case(
            "restore a directory",
            &["restore", "@D/data"],
            1,
            "Is a directory",
            NOT_XZUP,
        ),
        case(
            "restore the compose file",
            &["restore", "@D/docker-compose_all.yml"],
            1,
            "is not an xzup backup: invalid gzip header",
            NOT_XZUP,
        ),
        case(
            "restore a corrupt archive",
            &["restore", "@D/backups/b.tar.gz"],
            1,
            "does not match its manifest: member `",
            UNTRUSTED,
        )
        .setup(corrupt_backup),
        case(
            "restore --to a missing archive",
            &["restore", "@D/nope.tar.gz", "--to", "@D/elsewhere"],
            1,
            "No such file or directory",
            NO_ARCHIVE,
        ),
        case(
            "verify a missing archive",
            &["backups", "verify", "@D/nope.tar.gz"],
            1,
            "No such file or directory",
            NO_ARCHIVE,
        ),
        case(
            "verify an empty file",
            &["backups", "verify", "@D/x.tar.gz"],
            1,
            "is not an xzup backup",
            NOT_XZUP,
        )
        .setup(|d| put(d, "x.tar.gz", "")),
        case(
            "verify a directory",
            &["backups", "verify", "@D/data"],
            1,
            "Is a directory",
            NOT_XZUP,
        ),
        case(
            "backup --include missing",
            &["backup", "--include", "nope"],
            64,
            "`nope` (--include): it does not exist",
            INCLUDE,
        ),
        case(
            "backup --include outside",
            &["backup", "--include", "/etc"],
            64,
            "`/etc` (--include): lies outside the deployment dir",
            INCLUDE,
        ),
        case(
            "backup --include ..",
            &["backup", "--include", "../x"],
            64,
            "`../x` (--include): lies outside the deployment dir",
            INCLUDE,
        ),
        // ---- journals and state ----
        case(
            "rollback with nothing to roll back",
            &["rollback"],
            1,
            "no successful upgrade to roll back",
            HISTORY,
        )
        .fake_docker(),
        case(
            "rollback an unknown run",
            &["rollback", RUN],
            1,
            "no run `20260101-000000-apply-high`",
            HISTORY,
        )
        .fake_docker(),
        case(
            "resume with nothing to resume",
            &["resume"],
            1,
            "there is no unfinished run to resume",
            HISTORY,
        )
        .fake_docker(),
        case(
            "resume, runs dir empty",
            &["resume"],
            1,
            "there is no unfinished run to resume",
            HISTORY,
        )
        .fake_docker()
        .setup(|d| {
            used(d);
            fs::create_dir_all(d.join(".xzup/runs")).unwrap();
        }),
        case(
            "rollback, runs dir empty",
            &["rollback"],
            1,
            "no successful upgrade to roll back",
            HISTORY,
        )
        .fake_docker()
        .setup(|d| {
            used(d);
            fs::create_dir_all(d.join(".xzup/runs")).unwrap();
        }),
        case(
            "resume, runs is a file",
            &["resume"],
            1,
            ".xzup/runs`: Not a directory",
            MOVE_ASIDE,
        )
        .fake_docker()
        .setup(|d| {
            used(d);
            put(d, ".xzup/runs", "x");
        }),
        case(
            "rollback, runs is a file",
            &["rollback"],
            1,
            ".xzup/runs`: Not a directory",
            MOVE_ASIDE,
        )
        .fake_docker()
        .setup(|d| {
            used(d);
            put(d, ".xzup/runs", "x");
        }),
        case(
            "resume, journal is a directory",
            &["resume"],
            1,
            "journal.json`: Is a directory",
            MOVE_ASIDE,
        )
        .fake_docker()
        .setup(|d| {
            used(d);
            fs::create_dir_all(d.join(format!(".xzup/runs/{RUN}/journal.json"))).unwrap();
        }),
        case(
            "resume, journal cut short",
            &["resume"],
            1,
            "is damaged: EOF while parsing an object",
            DAMAGED,
        )
        .fake_docker()
        .setup(|d| journal(d, "{")),
        case(
            "rollback, journal empty",
            &["rollback"],
            1,
            "is damaged: EOF while parsing a value",
            DAMAGED,
        )
        .fake_docker()
        .setup(|d| journal(d, "")),
        case(
            "rollback, journal binary",
            &["rollback"],
            1,
            "is damaged",
            DAMAGED,
        )
        .fake_docker()
        .setup(|d| journal(d, "\u{0}\u{1}\u{2}")),
        // `apply` takes the lock, then refuses over a journal it cannot read.
        case(
            "apply, journal cut short",
            &["apply", "--tier", "high"],
            1,
            "is damaged: EOF while parsing an object",
            DAMAGED,
        )
        .fake_docker()
        .setup(|d| journal(d, "{")),
        case(
            "apply, journal from the future",
            &["apply", "--tier", "high"],
            1,
            "has format version 99",
            "use the newer xzup that wrote it",
        )
        .fake_docker()
        .setup(|d| journal(d, "{\"schema\": 99}")),
        case(
            "resume, journal from the future",
            &["resume"],
            1,
            "has format version 99; this xzup reads up to version 3",
            "use the newer xzup that wrote it",
        )
        .fake_docker()
        .setup(|d| journal(d, "{\"schema\": 99}")),
        case(
            "prune, lock is a directory",
            &["backups", "prune", "--keep", "1"],
            1,
            "cannot open the lock `",
            MOVE_ASIDE,
        )
        .setup(|d| {
            fs::create_dir_all(d.join(".xzup/lock")).unwrap();
            fs::set_permissions(d.join(".xzup"), fs::Permissions::from_mode(0o700)).unwrap();
        }),
        // ---- a locked deployment ----
        case(
            "restore while locked",
            &["restore", "@D/backups/b.tar.gz"],
            1,
            HELD,
            WAIT,
        )
        .setup(backed_up)
        .locked(),
        case(
            "restore --to the deployment while locked",
            &["restore", "@D/backups/b.tar.gz", "--to", "@D"],
            1,
            HELD,
            WAIT,
        )
        .setup(backed_up)
        .locked(),
        case("backup while locked", &["backup"], 1, HELD, WAIT)
            .setup(backed_up)
            .locked(),
        case(
            "prune while locked",
            &["backups", "prune", "--keep", "1"],
            1,
            HELD,
            WAIT,
        )
        .setup(backed_up)
        .locked(),
        case(
            "apply while locked",
            &["apply", "--tier", "high"],
            1,
            HELD,
            WAIT,
        )
        .setup(backed_up)
        .locked()
        .fake_docker(),
        case("resume while locked", &["resume"], 1, HELD, WAIT)
            .locked()
            .fake_docker()
            .setup(|d| {
                used(d);
                fs::create_dir_all(d.join(".xzup/runs")).unwrap();
            }),
        case("rollback while locked", &["rollback"], 1, HELD, WAIT)
            .locked()
            .fake_docker()
            .setup(|d| {
                used(d);
                fs::create_dir_all(d.join(".xzup/runs")).unwrap();
            }),
        case("unlock while locked", &["unlock"], 1, HELD, WAIT).locked(),
    ]
}
