//! Data wherever it lives, end to end on the real engine: a deployment whose services are
//! renamed (mapped in `xzup.toml`) and whose MySQL datadir and uploads are named volumes.
//! The upgrade's backup holds the volumes' content; the archive restores to a scratch dir
//! where the tables are found; a rollback with `--restore-data always` puts the volume's
//! content back, the newer content kept in a quarantine volume.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Xzup, docker_available, repo_root};
use crate::stack::{self, TestStack};

/// The compose file (renamed services, named volumes).
const RENAMED: &str = include_str!("fixtures/renamed-volumes.yml");

/// The role map of that file, as an operator writes it.
const ROLES: &str =
    "[services]\nserver = \"xz-server\"\nweb = \"xz-web\"\ndb = \"xz-db\"\nredis = \"xz-cache\"\n";

fn tiers_file() -> PathBuf {
    repo_root().join("tests/xzup/fixtures/e2e-tiers.toml")
}

fn xzup(stack: &TestStack) -> Xzup {
    Xzup::new()
        .cwd(stack.dir())
        .env("XZUP_COMPOSE", stack.flavour().as_str())
        .arg_path("--tiers-file", &tiers_file())
}

fn renamed_stack() -> TestStack {
    TestStack::builder(RENAMED)
        .file_name("docker-compose.yml")
        .db_service("xz-db")
        .file("xzup.toml", ROLES)
        .build()
}

/// The files under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn named_volume_data_is_backed_up_restored_and_rolled_back() {
    if !docker_available() {
        return;
    }
    let stack = renamed_stack();
    stack.insert_rows(400);
    let rows = stack.checksum_rows();
    let project = stack.project().to_string();
    let dbdata = format!("{project}_dbdata");
    let uploads = format!("{project}_uploads");

    // The plan lists the volumes with their sizes, and says why Redis's is left out.
    let out = xzup(&stack)
        .args(["plan", "--tier", "grow", "--format", "json"])
        .run()
        .success();
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let item = |name: &str| {
        plan["backup"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no `{name}` in {}", plan["backup"]))
    };
    let db_item = item(&format!("docker-volumes/{dbdata}"));
    assert_eq!(db_item["origin"]["kind"], "volume");
    assert_eq!(db_item["origin"]["service"], "xz-db");
    assert_eq!(db_item["origin"]["key"], "dbdata");
    assert!(
        db_item["bytes"].as_u64().unwrap() > 1 << 20,
        "a MariaDB datadir: {db_item}"
    );
    assert_eq!(
        item(&format!("docker-volumes/{uploads}"))["origin"]["service"],
        "xz-web"
    );
    let left: Vec<_> = plan["not_backed_up"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["what"].clone(), l["service"].clone(), l["reason"].clone()))
        .collect();
    assert_eq!(
        left,
        [(
            serde_json::json!("cache:/data"),
            serde_json::json!("xz-cache"),
            serde_json::json!("cache")
        )]
    );
    let text = xzup(&stack)
        .args(["plan", "--tier", "grow"])
        .run()
        .success()
        .stdout;
    assert!(
        text.contains(&format!(
            "docker-volumes/{dbdata} ({}): volume `dbdata` of `xz-db` at /var/lib/mysql",
            xzup::units::human_bytes(db_item["bytes"].as_u64().unwrap())
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "not backed up: `cache:/data` of `xz-cache`: Redis keeps a cache there, not data"
        ),
        "{text}"
    );

    let out = xzup(&stack)
        .args(["apply", "--tier", "grow", "--verify-window", "2"])
        .run()
        .success();
    assert!(
        out.stdout.contains("Upgraded custom -> grow"),
        "{}",
        out.stdout
    );
    assert_eq!(stack.checksum_rows(), rows, "rows intact after the upgrade");

    // The archive holds the volume's content: restored to a scratch dir, the tables are there.
    let history = xzup(&stack)
        .args(["history", "--format", "json"])
        .run()
        .success();
    let history: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let archive = stack
        .dir()
        .join(history["runs"][0]["backup"]["path"].as_str().unwrap());
    let manifest = xzup::backup::read_manifest(&archive).unwrap();
    let root = format!("docker-volumes/{dbdata}");
    let origin = manifest
        .origin(&root)
        .expect("the volume's origin is recorded");
    assert_eq!(
        origin.origin,
        xzup::datapath::Origin::Volume {
            service: "xz-db".into(),
            target: "/var/lib/mysql".into(),
            key: "dbdata".into(),
            volume: dbdata.clone(),
        }
    );
    let scratch = tempfile::tempdir().unwrap();
    xzup(&stack)
        .args(["restore"])
        .args([&archive])
        .args(["--to"])
        .args([scratch.path()])
        .run()
        .success();
    let db_files = files_under(&scratch.path().join(&root));
    let table = format!("{}/{}.ibd", stack::DATABASE, stack::TABLE);
    assert!(db_files.contains(&table), "{db_files:?}");
    assert!(db_files.contains(&"ibdata1".to_string()), "{db_files:?}");
    // …and `tar` alone reads it the same way.
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains(&format!("{root}/{table}")), "{listing}");
    assert!(listing.starts_with(".xzup/manifest.json\n"), "{listing}");

    // Rows written on the new tier are undone by a rollback that restores the data; what
    // the volume held then is kept in a volume of its own. This restore goes through a
    // container, as for a user who cannot read /var/lib/docker (a test hook says so).
    stack.insert_rows(50);
    assert_eq!(stack.row_count(), 450);
    let out = xzup(&stack)
        .env(UNREADABLE, "1")
        .args(["--verbose", "rollback", "--restore-data", "always"])
        .run()
        .success();
    assert!(
        out.stdout.contains("Rolled back grow -> custom"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("--entrypoint tar mysql:latest -xf - -C /xzup-volume"),
        "restored through a container: {}",
        out.stderr
    );
    assert_eq!(
        stack.checksum_rows(),
        rows,
        "the rows of before the upgrade"
    );
    let kept = quarantined(&stack, &dbdata);
    assert_eq!(kept.len(), 1, "{:?}", stack.volumes());
    assert!(
        mountpoint(&kept[0]).join(&table).exists(),
        "the newer datadir is kept in `{}`",
        kept[0]
    );

    // A backup through a container (the stack down), restored in place directly.
    stack
        .compose()
        .down(&xzup::docker::DownOptions::default())
        .unwrap();
    let out = xzup(&stack)
        .env(UNREADABLE, "1")
        .args(["backup", "--out"])
        .args([stack.dir().join("through.tar.gz")])
        .run()
        .success();
    assert!(out.stdout.contains("verified"), "{}", out.stdout);
    let through = xzup::backup::read_manifest(&stack.dir().join("through.tar.gz")).unwrap();
    let direct = xzup::backup::read_manifest(&archive).unwrap();
    let under_root = |m: &xzup::backup::Manifest| -> Vec<(String, u32, u32)> {
        let mut v: Vec<_> = m
            .entries
            .iter()
            .filter(|e| {
                e.path == root || e.path.starts_with(&format!("{root}/{}", stack::DATABASE))
            })
            .map(|e| (e.path.clone(), e.uid, e.mode))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        under_root(&through),
        under_root(&direct),
        "the same datadir, owners and modes, through a container as read directly"
    );
    assert!(
        through
            .entries
            .iter()
            .any(|e| e.path == format!("{root}/{table}")),
        "the table is in the archive made through a container"
    );
    fs_write_marker(&stack, &dbdata);
    let out = xzup(&stack)
        .args(["restore"])
        .args([stack.dir().join("through.tar.gz")])
        .run()
        .success();
    assert!(
        out.stdout.contains(&format!(
            "Put docker-volumes/{dbdata} into volume `{dbdata}`."
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        quarantined(&stack, &dbdata).len(),
        2,
        "{:?}",
        stack.volumes()
    );
    assert!(!mountpoint(&dbdata).join("xzup-marker").exists());
    stack.compose().up().unwrap();
    stack.wait_healthy();
    assert_eq!(
        stack.checksum_rows(),
        rows,
        "rows intact after both restores"
    );
}

/// The test hook that makes xzup take a volume's mountpoint as unreadable.
const UNREADABLE: &str = "XZUP_TEST_VOLUMES_UNREADABLE";

/// The quarantine volumes an in-place restore made for `volume`.
fn quarantined(stack: &TestStack, volume: &str) -> Vec<String> {
    stack
        .volumes()
        .into_iter()
        .filter(|v| v.starts_with(&format!("{volume}.xzup-quarantine-")))
        .collect()
}

/// Where the engine keeps `volume`.
fn mountpoint(volume: &str) -> PathBuf {
    let out = Command::new("docker")
        .args(["volume", "inspect", "--format", "{{.Mountpoint}}", volume])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A file in the volume that the next in-place restore must move aside.
fn fs_write_marker(_stack: &TestStack, volume: &str) {
    std::fs::write(
        mountpoint(volume).join("xzup-marker"),
        "written after the backup",
    )
    .unwrap();
}
