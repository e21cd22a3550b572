//! `xzup backup`, `xzup backups list|verify|prune` and `xzup restore`, run as the operator
//! runs them, on copies of the example deployments. No Docker engine needed.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use xzup::datapath::{DataPath, Part};

use crate::harness::{Outcome, Xzup, copy_tree, docker_available, example};
use crate::stack::TestStack;

/// A temp copy of `examples/upstream` with a small MySQL datadir.
pub(crate) fn deployment() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("deploy");
    copy_tree(&example("upstream"), &dir);
    let db = dir.join("mysql/data");
    fs::create_dir_all(db.join("xiaozhi_esp32_server")).unwrap();
    fs::write(db.join("ibdata1"), vec![0u8; 1 << 20]).unwrap();
    fs::write(
        db.join("xiaozhi_esp32_server/ai_agent.ibd"),
        "row ".repeat(50_000),
    )
    .unwrap();
    fs::set_permissions(db.join("ibdata1"), fs::Permissions::from_mode(0o640)).unwrap();
    (tmp, dir)
}

/// Output with the temp dir and timestamps replaced, for exact comparisons.
pub(crate) fn stable(text: &str, tmp: &Path) -> String {
    let text = text.replace(&tmp.display().to_string(), "[TMP]");
    let text = regex_lite::Regex::new(r"\d{8}-\d{6}")
        .unwrap()
        .replace_all(&text, "[TIME]")
        .into_owned();
    regex_lite::Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
        .unwrap()
        .replace_all(&text, "[DATE]")
        .into_owned()
}

/// The progress lines a non-terminal gets, numbers masked: `backup: [N] / [N] (100%), …`.
pub(crate) fn progress_lines(stderr: &str) -> Vec<String> {
    let re = regex_lite::Regex::new(r"[\d.]+[KMGT]?B?").unwrap();
    stderr
        .lines()
        .filter(|l| l.contains("(100%)"))
        .map(|l| re.replace_all(l, "N").into_owned())
        .collect()
}

/// The path `name` of the deployment `dir`, as a data path.
pub(crate) fn dp(dir: &Path, name: &str) -> DataPath {
    DataPath::in_deployment(dir, name, Part::Included)
}

pub(crate) fn xzup_in(dir: &Path) -> Xzup {
    Xzup::new().args(["-C"]).args([dir])
}

/// The only archive in `dir/backups`.
pub(crate) fn the_archive(dir: &Path) -> PathBuf {
    let archives: Vec<PathBuf> = fs::read_dir(dir.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    assert_eq!(archives.len(), 1, "{archives:?}");
    archives[0].clone()
}

/// Each file and dir under `root` (minus `skip`) with mode, owner, mtime and content.
pub(crate) fn tree(root: &Path, skip: &[&str]) -> Vec<(String, u32, u32, i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            if skip.iter().any(|s| Path::new(&rel).starts_with(s)) {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let content = if meta.is_file() {
                fs::read(&path).unwrap()
            } else {
                vec![]
            };
            out.push((rel, meta.mode(), meta.uid(), meta.mtime(), content));
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn backup_then_restore_elsewhere_rebuilds_the_data() {
    let (tmp, dir) = deployment();
    let out = xzup_in(&dir).args(["backup"]).run().success();
    assert_eq!(
        stable(&out.stdout, tmp.path()),
        "Wrote `backups/backup-[TIME].tar.gz`: 7.9K (5 files, 1.2M of data, ratio 157.4), verified.\n\
         Paths: data, docker-compose_all.yml, mysql/data, uploadfile\n"
            .replace("7.9K", &human_size(&the_archive(&dir)))
            .replace("157.4", &ratio_of(&dir))
    );
    // The model file is bind-mounted by the server only; it is not backed up.
    assert_eq!(
        progress_lines(&out.stderr),
        [
            "backup: N / N (N%), N/s, eta Ns",
            "verify: N / N (N%), N/s, eta Ns"
        ]
    );
    let archive = the_archive(&dir);
    assert_eq!(fs::metadata(&archive).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        fs::metadata(dir.join("backups")).unwrap().mode() & 0o777,
        0o700
    );

    let target = tmp.path().join("restored");
    let out = Xzup::new()
        .args(["restore"])
        .args([&archive])
        .args(["--to"])
        .args([&target])
        .run()
        .success();
    assert_eq!(
        stable(&out.stdout, tmp.path()),
        "Restored data, docker-compose_all.yml, mysql/data, uploadfile from \
         `[TMP]/deploy/backups/backup-[TIME].tar.gz` into `[TMP]/restored`: 5 files, 1.2M of data, verified.\n"
    );
    assert_eq!(
        progress_lines(&out.stderr),
        ["restore: N / N (N%), N/s, eta Ns"]
    );
    // `.xzup/`: the lock file the backup took, not data.
    let skip = ["backups", "models", "mysql", ".xzup"];
    assert_eq!(tree(&target, &skip), tree(&dir, &skip));
    assert_eq!(
        tree(&target.join("mysql"), &[]),
        tree(&dir.join("mysql"), &[])
    );
}

fn human_size(path: &Path) -> String {
    xzup::units::human_bytes(fs::metadata(path).unwrap().len())
}

fn ratio_of(dir: &Path) -> String {
    let archive = the_archive(dir);
    let manifest = xzup::backup::read_manifest(&archive).unwrap();
    format!(
        "{:.1}",
        manifest.data_bytes as f64 / fs::metadata(&archive).unwrap().len() as f64
    )
}

#[test]
fn restore_in_place_moves_the_current_data_aside() {
    let (tmp, dir) = deployment();
    xzup_in(&dir).args(["backup", "--quiet"]).run().success();
    let archive = the_archive(&dir);
    fs::write(dir.join("uploadfile/new.txt"), "uploaded after the backup").unwrap();
    let out = xzup_in(&dir)
        .args(["restore"])
        .args([&archive])
        .run()
        .success();
    let stdout = stable(&out.stdout, tmp.path());
    assert!(
        stdout.contains("Moved aside: `uploadfile` -> `uploadfile.xzup-quarantine-[TIME]`\n"),
        "{stdout}"
    );
    assert!(!dir.join("uploadfile/new.txt").exists());
    let moved: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("uploadfile.xzup-quarantine-"))
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(
        fs::read_to_string(dir.join(&moved[0]).join("new.txt")).unwrap(),
        "uploaded after the backup"
    );
}

/// Issue 10, defect 3: a symlinked `mysql/data` was archived as the link alone, and the
/// backup said "verified". Docker mounts what the link points to: that is what is backed
/// up, and what a restore puts back (the link stays).
#[test]
fn a_symlinked_data_dir_is_backed_up_and_restored_where_it_points() {
    let (tmp, dir) = deployment();
    // The datadir moved to a bigger disk and linked back, as operators do.
    let real = tmp.path().join("ssd/mysql-data");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::rename(dir.join("mysql/data"), &real).unwrap();
    symlink(&real, dir.join("mysql/data")).unwrap();
    let ibdata = fs::read(real.join("ibdata1")).unwrap();

    let out = xzup_in(&dir).args(["backup"]).run().success();
    assert!(
        out.stderr.contains(&format!(
            "`mysql/data` is a symlink: backed up what it points to, `{}` (what Docker mounts)",
            real.display()
        )),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("(5 files,"), "{}", out.stdout);
    let archive = the_archive(&dir);
    let manifest = xzup::backup::read_manifest(&archive).unwrap();
    let kind = |path: &str| {
        manifest
            .entries
            .iter()
            .find(|e| e.path == path)
            .map(|e| e.kind)
    };
    assert_eq!(kind("mysql/data"), Some(xzup::backup::EntryKind::Dir));
    assert_eq!(
        kind("mysql/data/ibdata1"),
        Some(xzup::backup::EntryKind::File)
    );
    let origin = manifest.origin("mysql/data").unwrap();
    assert_eq!(origin.host, real.display().to_string());

    // `tar -xzf` in an empty dir: the datadir's content, not a link.
    let plain = tmp.path().join("plain");
    fs::create_dir_all(&plain).unwrap();
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&plain)
        .status()
        .unwrap();
    assert!(tar.success());
    assert!(
        !fs::symlink_metadata(plain.join("mysql/data"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(fs::read(plain.join("mysql/data/ibdata1")).unwrap(), ibdata);

    // Restored in place: into the dir the link points to; the link stays.
    fs::write(real.join("ibdata1"), "changed after the backup").unwrap();
    fs::write(real.join("new.ibd"), "new").unwrap();
    let out = xzup_in(&dir)
        .args(["restore"])
        .args([&archive])
        .run()
        .success();
    let stdout = stable(&out.stdout, tmp.path());
    assert!(
        stdout.contains("Put mysql/data at `[TMP]/ssd/mysql-data`.\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "Moved aside: `[TMP]/ssd/mysql-data` -> `[TMP]/ssd/mysql-data.xzup-quarantine-[TIME]`"
        ),
        "{stdout}"
    );
    assert_eq!(fs::read_link(dir.join("mysql/data")).unwrap(), real);
    assert_eq!(fs::read(real.join("ibdata1")).unwrap(), ibdata);
    assert!(!real.join("new.ibd").exists());
    let kept: Vec<_> = fs::read_dir(real.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".xzup-quarantine-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        fs::read_to_string(kept[0].join("ibdata1")).unwrap(),
        "changed after the backup"
    );
    assert_eq!(fs::read_to_string(kept[0].join("new.ibd")).unwrap(), "new");
    // Nothing of the restore's own is left behind.
    let staging: Vec<_> = fs::read_dir(real.parent().unwrap())
        .unwrap()
        .chain(fs::read_dir(&dir).unwrap())
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".xzup-restore-"))
        .collect();
    assert!(staging.is_empty(), "{staging:?}");
}

/// Data outside the deployment dir, named by an absolute path and through `${VAR:-…}`:
/// backed up under `host-paths/`, restored there in place, by name with `--to`.
#[test]
fn host_paths_and_variables_are_backed_up_and_restored() {
    let (tmp, dir) = deployment();
    let uploads = tmp.path().join("srv/uploads");
    fs::create_dir_all(&uploads).unwrap();
    fs::write(uploads.join("photo.jpg"), "jpeg").unwrap();
    let compose = dir.join("docker-compose_all.yml");
    let text = fs::read_to_string(&compose).unwrap().replace(
        "- ./uploadfile:/uploadfile",
        "- ${UPLOADS:-./uploadfile}:/uploadfile",
    );
    assert!(
        text.contains("${UPLOADS"),
        "the fixture mounts ./uploadfile"
    );
    fs::write(&compose, text).unwrap();
    fs::write(dir.join(".env"), format!("UPLOADS={}\n", uploads.display())).unwrap();

    let plan = xzup_in(&dir)
        .args(["plan", "--tier", "high", "--format", "json"])
        .run()
        .success();
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let name = format!("host-paths{}", uploads.display());
    let item = plan["backup"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{}", plan["backup"]))
        .clone();
    assert_eq!(item["bytes"], 4);
    assert_eq!(item["origin"]["kind"], "bind-absolute");
    assert_eq!(item["origin"]["source"], "${UPLOADS:-./uploadfile}");

    xzup_in(&dir).args(["backup", "--quiet"]).run().success();
    let archive = the_archive(&dir);
    let scratch = tmp.path().join("scratch");
    xzup_in(&dir)
        .args(["restore"])
        .args([&archive])
        .args(["--to"])
        .args([&scratch])
        .run()
        .success();
    assert_eq!(
        fs::read_to_string(scratch.join(&name).join("photo.jpg")).unwrap(),
        "jpeg"
    );
    fs::write(uploads.join("photo.jpg"), "edited").unwrap();
    xzup_in(&dir)
        .args(["restore"])
        .args([&archive])
        .run()
        .success();
    assert_eq!(
        fs::read_to_string(uploads.join("photo.jpg")).unwrap(),
        "jpeg"
    );
}

/// An archive root that came from a volume or host path the compose file no longer mounts
/// is not put anywhere in place: restore refuses, naming it, and changes nothing.
#[test]
fn a_root_the_deployment_no_longer_mounts_is_refused_in_place() {
    let (tmp, dir) = deployment();
    let uploads = tmp.path().join("srv/uploads");
    fs::create_dir_all(&uploads).unwrap();
    fs::write(uploads.join("a"), "a").unwrap();
    let compose = dir.join("docker-compose_all.yml");
    let original = fs::read_to_string(&compose).unwrap();
    fs::write(
        &compose,
        original.replace(
            "- ./uploadfile:/uploadfile",
            &format!("- {}:/uploadfile", uploads.display()),
        ),
    )
    .unwrap();
    xzup_in(&dir).args(["backup", "--quiet"]).run().success();
    let archive = the_archive(&dir);
    fs::write(&compose, &original).unwrap();
    let before = tree(&dir, &[]);
    let out = xzup_in(&dir)
        .args(["restore"])
        .args([&archive])
        .run()
        .code(1);
    assert!(
        out.stderr
            .contains(&format!("cannot restore `host-paths{}`", uploads.display())),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("which the compose file does not mount now"),
        "{}",
        out.stderr
    );
    // Nothing changed but the time of the lock file the restore took and released.
    let xzups_own = [".xzup/lock"];
    assert_eq!(
        tree(&dir, &xzups_own),
        before_without(before, &xzups_own),
        "nothing changed"
    );
    assert_eq!(fs::read(dir.join(".xzup/lock")).unwrap(), b"");
}

fn before_without(
    tree: Vec<(String, u32, u32, i64, Vec<u8>)>,
    skip: &[&str],
) -> Vec<(String, u32, u32, i64, Vec<u8>)> {
    tree.into_iter()
        .filter(|(p, ..)| !skip.iter().any(|s| Path::new(p).starts_with(s)))
        .collect()
}

#[test]
fn no_verify_and_quiet() {
    let (_tmp, dir) = deployment();
    let out = xzup_in(&dir)
        .args(["--quiet", "backup", "--no-verify", "--level", "1"])
        .run()
        .success();
    assert_eq!(
        out.stderr,
        "warning: not verified (--no-verify): the archive was not read back against its manifest\n"
    );
    assert!(out.stdout.contains("not verified."), "{}", out.stdout);
    let list = xzup_in(&dir).args(["backups", "list"]).run().success();
    assert!(
        list.stdout.lines().nth(1).unwrap().ends_with("no"),
        "{}",
        list.stdout
    );
}

#[test]
fn backup_json_reports_everything() {
    let (_tmp, dir) = deployment();
    let out = xzup_in(&dir)
        .args(["--format", "json", "backup", "--include", "models"])
        .run()
        .success();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(
        report["roots"],
        serde_json::json!([
            "data",
            "docker-compose_all.yml",
            "models",
            "mysql/data",
            "uploadfile"
        ])
    );
    assert_eq!(report["files"], 6);
    assert!(report["archive_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn a_missing_include_is_a_usage_error() {
    let (_tmp, dir) = deployment();
    let out = xzup_in(&dir)
        .args(["backup", "--include", "nope"])
        .run()
        .code(64);
    assert_eq!(
        out.stderr,
        "error: `nope` (--include): it does not exist: not backed up\n\
         hint: give `--include` a path inside the deployment dir that exists\n"
    );
    assert!(!dir.join("backups").exists());
}

#[test]
fn an_existing_out_file_is_refused() {
    let (tmp, dir) = deployment();
    let out_file = tmp.path().join("mine.tar.gz");
    fs::write(&out_file, "precious").unwrap();
    let out = xzup_in(&dir)
        .args(["backup", "--out"])
        .args([&out_file])
        .run()
        .code(1);
    assert_eq!(
        stable(&out.stderr, tmp.path()),
        "error: `[TMP]/mine.tar.gz` already exists\nhint: choose another name with `--out FILE`\n"
    );
    assert_eq!(fs::read_to_string(&out_file).unwrap(), "precious");
}

// ---- backups list / verify / prune ----

/// Makes archives in `dir/backups` through the library, oldest first.
pub(crate) fn archives(dir: &Path, n: usize, verified: &[usize]) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let out = dir.join(format!("backups/backup-2026010{}-000000.tar.gz", i + 1));
            let request = xzup::backup::BackupRequest {
                paths: vec![dp(dir, "data"), dp(dir, "uploadfile")],
                out: out.clone(),
                level: 6,
                threads: 1,
                verify: verified.contains(&i),
                compose_sha256: None,
                tool: "xzup test".into(),
                staged: None,
            };
            // Made in this order, and named in it: `list` orders by creation time, then
            // by name within a second.
            xzup::backup::create(&request, &mut xzup::backup::NoProgress).unwrap();
            out
        })
        .collect()
}

#[test]
fn list_shows_each_backup() {
    let (tmp, dir) = deployment();
    archives(&dir, 2, &[0]);
    fs::write(dir.join("backups/stray.tar.gz"), "not an archive").unwrap();
    let out = xzup_in(&dir).args(["backups", "list"]).run().success();
    // Sizes and times vary; the columns and the verified flags do not.
    let text: String = stable(&out.stdout, tmp.path())
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            if cells[0] == "BACKUP" {
                return format!("{}\n", cells.join(" "));
            }
            assert_eq!(cells.len(), 6, "{line}");
            format!("{} {} N N N {}\n", cells[0], cells[1], cells[5])
        })
        .collect();
    assert_eq!(
        text,
        "BACKUP CREATED SIZE DATA RATIO VERIFIED\n\
         backup-[TIME].tar.gz [DATE] N N N no\n\
         backup-[TIME].tar.gz [DATE] N N N yes\n"
    );
    assert_eq!(
        stable(&out.stderr, tmp.path()),
        "warning: `stray.tar.gz`: `[TMP]/deploy/backups/stray.tar.gz` is not an xzup backup: \
         invalid gzip header\n"
    );
    let json = xzup_in(&dir)
        .args(["--format", "json", "backups", "list"])
        .run()
        .success();
    let infos: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(infos.as_array().unwrap().len(), 3);
}

#[test]
fn list_of_an_empty_dir() {
    let (_tmp, dir) = deployment();
    let out = xzup_in(&dir).args(["backups", "list"]).run().success();
    assert_eq!(out.stdout, "No backups in `backups`.\n");
}

#[test]
fn verify_reports_good_and_bad_archives() {
    let (tmp, dir) = deployment();
    let made = archives(&dir, 1, &[]);
    let out = Xzup::new()
        .args(["backups", "verify"])
        .args([&made[0]])
        .run()
        .success();
    assert_eq!(
        stable(&out.stdout, tmp.path()),
        "`[TMP]/deploy/backups/backup-[TIME].tar.gz` is good: 2 files, 2 dirs, 0 symlinks, \
         223B of data match the manifest (made [DATE] by xzup test).\n"
            .replace("223B", &data_size(&made[0]))
    );
    assert_eq!(
        progress_lines(&out.stderr),
        ["verify: N / N (N%), N/s, eta Ns"]
    );
    // Now recorded as verified.
    let list = xzup_in(&dir).args(["backups", "list"]).run().success();
    assert!(list.stdout.lines().nth(1).unwrap().ends_with("yes"));

    let mut bytes = fs::read(&made[0]).unwrap();
    let len = bytes.len();
    bytes.truncate(len - 10);
    let cut = tmp.path().join("cut.tar.gz");
    fs::write(&cut, bytes).unwrap();
    let out = Xzup::new()
        .args(["backups", "verify"])
        .args([&cut])
        .run()
        .code(1);
    let stderr = stable(&out.stderr, tmp.path());
    assert!(
        stderr.starts_with("error: `[TMP]/cut.tar.gz` is corrupt or truncated at member `"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(
            "hint: this archive cannot be trusted: use an older backup (`xzup backups list`)\n"
        ),
        "{stderr}"
    );
}

fn data_size(archive: &Path) -> String {
    xzup::units::human_bytes(xzup::backup::read_manifest(archive).unwrap().data_bytes)
}

/// Writes a minimal journal: `DIR/.xzup/runs/<id>/journal.json`.
fn put_journal(dir: &Path, id: &str, started: &str, outcome: &str, backup: Option<&Path>) {
    let run = dir.join(".xzup/runs").join(id);
    fs::create_dir_all(&run).unwrap();
    let backup = backup.map(|b| {
        serde_json::json!({
            "path": b.strip_prefix(dir).unwrap(), "size": 1, "sha256": null, "verified": true
        })
    });
    let journal = serde_json::json!({
        "schema": 1, "id": id, "kind": "apply", "xzup_version": "0.1.0",
        "command": "xzup apply --tier high", "tier_from": "low", "tier_to": "high",
        "backup": backup, "started_at": started, "steps": [], "outcome": outcome,
    });
    fs::write(run.join("journal.json"), journal.to_string()).unwrap();
}

#[test]
fn prune_keeps_the_newest_that_verifies_and_what_runs_refer_to() {
    let (_tmp, dir) = deployment();
    // Oldest first; 1 is verified.
    let made = archives(&dir, 6, &[1]);
    // Runs, newest first: three recent ones (one refers to 4), an older finished one that
    // refers to 3, and an unfinished one, the oldest, that refers to 0.
    put_journal(&dir, "r5", "2026-11-05T00:00:00Z", "succeeded", None);
    put_journal(
        &dir,
        "r4",
        "2026-11-04T00:00:00Z",
        "succeeded",
        Some(&made[4]),
    );
    put_journal(&dir, "r3", "2026-11-03T00:00:00Z", "failed", None);
    put_journal(
        &dir,
        "r2",
        "2026-11-02T00:00:00Z",
        "succeeded",
        Some(&made[3]),
    );
    put_journal(
        &dir,
        "r1",
        "2026-11-01T00:00:00Z",
        "in-progress",
        Some(&made[0]),
    );
    let name = |i: usize| made[i].file_name().unwrap().to_str().unwrap().to_string();
    let bytes = |i: usize| fs::metadata(&made[i]).unwrap().len();
    let human = xzup::units::human_bytes;
    // The newest verifies now (read back, then marked), so the older marked one goes.
    let expected = format!(
        "Removed `backups/{}` ({})\n\
         Removed `backups/{}` ({})\n\
         Removed `backups/{}` ({})\n\
         Kept `backups/{}`: the newest backup that verifies (read back just now)\n\
         Kept `backups/{}`: a run refers to it\n\
         Kept `backups/{}`: a run refers to it\n\
         3 removed, {} freed.\n",
        name(3),
        human(bytes(3)),
        name(2),
        human(bytes(2)),
        name(1),
        human(bytes(1)),
        name(5),
        name(4),
        name(0),
        human(bytes(1) + bytes(2) + bytes(3)),
    );
    let out = xzup_in(&dir)
        .args(["backups", "prune", "--keep", "1"])
        .run()
        .success();
    assert_eq!(out.stdout, expected);
    assert_eq!(
        progress_lines(&out.stderr),
        ["verify: N / N (N%), N/s, eta Ns"]
    );
    assert!(!made[1].exists() && !made[2].exists() && !made[3].exists());
    assert!([0, 4, 5].iter().all(|&i| made[i].exists()));
    assert!(!dir.join(format!("backups/{}.verified", name(1))).exists());
    assert!(dir.join(format!("backups/{}.verified", name(5))).exists());

    // Again: nothing left to remove.
    let out = xzup_in(&dir)
        .args(["backups", "prune", "--keep", "1"])
        .run()
        .success();
    assert!(
        out.stdout.ends_with("0 removed, 0B freed.\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn prune_keeps_what_a_damaged_journal_names() {
    let (_tmp, dir) = deployment();
    let made = archives(&dir, 3, &[]);
    let run = dir.join(".xzup/runs/r1");
    fs::create_dir_all(&run).unwrap();
    let name = made[0].file_name().unwrap().to_str().unwrap();
    fs::write(
        run.join("journal.json"),
        format!(r#"{{"schema": 1, "backup": {{"path": "backups/{name}"}}}}"#),
    )
    .unwrap();
    let out = xzup_in(&dir)
        .args(["backups", "prune", "--keep", "1"])
        .run()
        .success();
    assert!(
        out.stderr.starts_with("warning: the journal `"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .lines()
            .next()
            .unwrap()
            .ends_with("every archive it names is kept"),
        "{}",
        out.stderr
    );
    assert!(made[0].exists() && made[2].exists());
    assert!(!made[1].exists());
}

// ---- restore refusals ----

#[test]
fn restore_refuses_a_member_escaping_the_target_and_changes_nothing() {
    let (tmp, dir) = deployment();
    let evil = tmp.path().join("evil.tar.gz");
    craft_escape(&evil);
    let before = tree(&dir, &[]);
    let out = xzup_in(&dir).args(["restore"]).args([&evil]).run().code(1);
    assert_eq!(
        stable(&out.stderr, tmp.path()),
        "error: refusing `[TMP]/evil.tar.gz`: member `data/../../escaped`: its path contains `..`\n\
         hint: this archive was not written by xzup or was tampered with; nothing was changed\n"
    );
    assert_eq!(out.stdout, "");
    // The data as it was. The restore took the deployment lock before reading the members:
    // its (empty) lock file is the one thing left, xzup's own.
    assert_eq!(tree(&dir, &[".xzup"]), before);
    assert_eq!(fs::read(dir.join(".xzup/lock")).unwrap(), b"");
    assert_eq!(fs::read_dir(dir.join(".xzup")).unwrap().count(), 1);
    assert!(!tmp.path().join("escaped").exists());
}

/// A tar.gz whose manifest is fine but which carries a `..` member it does not list.
fn craft_escape(path: &Path) {
    use std::io::Write;
    let entry = |p: &str, kind: &str| {
        serde_json::json!({"path": p, "type": kind, "size": 0, "mode": 493, "uid": 0,
                           "gid": 0, "mtime": 1_600_000_000u64})
    };
    let manifest = serde_json::json!({
        "format": 1, "tool": "crafted", "created": "2026-01-01T00:00:00Z",
        "compose_sha256": null, "roots": ["data"], "data_bytes": 0,
        "entries": [entry("data", "dir")], "skipped": [],
    })
    .to_string();
    let mut tar = Vec::new();
    let mut add = |name: &str, kind: tar::EntryType, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o600
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    };
    add(
        ".xzup/manifest.json",
        tar::EntryType::Regular,
        manifest.as_bytes(),
    );
    add("data/", tar::EntryType::Directory, b"");
    add("data/../../escaped", tar::EntryType::Regular, b"x");
    tar.resize(tar.len() + 1024, 0);
    let mut gz = flate2::write::GzEncoder::new(
        fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap();
}

#[test]
fn restore_of_a_missing_file_says_so() {
    let (tmp, dir) = deployment();
    let out = xzup_in(&dir)
        .args(["restore"])
        .args([tmp.path().join("none.tar.gz")])
        .run()
        .code(1);
    assert_eq!(
        stable(&out.stderr, tmp.path()),
        "error: cannot open `[TMP]/none.tar.gz`: No such file or directory (os error 2)\n\
         hint: check the path of the archive; `xzup backups list` shows the backups of this deployment\n"
    );
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".xzup-restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Waits until `dir` holds an entry whose name `pick` accepts, then sends SIGINT to `child`
/// (as Ctrl-C does): the command is then inside its long loop, its handler installed.
fn ctrl_c_once(child: &std::process::Child, dir: &Path, pick: impl Fn(&str) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| pick(&e.file_name().to_string_lossy()))
        })
        .unwrap_or(false)
    {
        assert!(std::time::Instant::now() < deadline, "it never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

#[test]
fn ctrl_c_stops_a_backup_and_a_restore_with_exit_130_and_leaves_nothing() {
    let (tmp, dir) = deployment();
    // Big enough to be still running when the signal comes (about a second here, in a
    // debug build), small enough to write quickly.
    let pages: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
    fs::write(dir.join("mysql/data/ibdata1"), &pages).unwrap();
    let backups = dir.join("backups");

    let child = xzup_in(&dir).args(["backup"]).spawn();
    ctrl_c_once(&child, &backups, |name| name.ends_with(".partial"));
    let out = Outcome::of(child).code(130);
    assert!(
        out.stderr.ends_with(
            "error: the backup was interrupted; the unfinished archive was removed\nhint: run the same command again to do it\n"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(
        fs::read_dir(&backups).unwrap().count(),
        0,
        "no partial, no archive"
    );

    xzup_in(&dir)
        .args(["backup", "--no-verify", "--level", "1"])
        .run()
        .success();
    let archive = the_archive(&dir);
    fs::write(dir.join("mysql/data/ibdata1"), "changed since").unwrap();
    // The lock file's time changes with each command that takes it: xzup's own.
    let before = tree(&dir, &[".xzup/lock"]);
    let child = xzup_in(&dir).args(["restore"]).args([&archive]).spawn();
    ctrl_c_once(&child, &dir, |name| name.starts_with(".xzup-restore-"));
    let out = Outcome::of(child).code(130);
    assert!(
        stable(&out.stderr, tmp.path()).contains(
            "error: the restore was interrupted before anything at the target changed; what it had extracted was removed\n"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(
        tree(&dir, &[".xzup/lock"]),
        before,
        "nothing changed, the staging dir is gone"
    );
}

// ---- with a running stack (Docker engine needed) ----

#[test]
fn e2e_restore_refuses_while_the_stack_runs_and_backup_warns() {
    if !docker_available() {
        return;
    }
    let stack = TestStack::fast();
    let dir = stack.dir();
    let archive = dir.join("backups/data.tar.gz");
    let request = xzup::backup::BackupRequest {
        paths: vec![dp(dir, "data")],
        out: archive.clone(),
        level: 3,
        threads: 1,
        verify: true,
        compose_sha256: None,
        tool: "xzup test".into(),
        staged: None,
    };
    xzup::backup::create(&request, &mut xzup::backup::NoProgress).unwrap();
    let before = tree(dir, &["mysql"]);
    let out = xzup_in(dir)
        .args(["restore"])
        .args([&archive])
        .run()
        .code(1);
    assert_eq!(
        out.stderr,
        "error: `xiaozhi-esp32-server-db`, `xiaozhi-esp32-server-web` are running: \
         restoring data under a running service would corrupt it\n\
         hint: stop the stack first: `docker compose -f docker-compose_all.yml down`\n"
    );
    assert_eq!(tree(dir, &["mysql"]), before);

    // A backup goes ahead (a live datadir may still fail it), but says so first.
    let out = xzup_in(dir).args(["backup", "--quiet"]).run();
    assert!(
        out.stderr.starts_with(
            "warning: `xiaozhi-esp32-server-db`, `xiaozhi-esp32-server-web` are running: \
             a datadir copied while mysqld runs is not a consistent backup"
        ),
        "{}",
        out.stderr
    );
}

/// The archive argument of `restore` and `backups verify` was once also taken as the global
/// `-f FILE`, so xzup read the archive as the compose file.
#[test]
fn the_archive_argument_is_not_the_compose_file() {
    use clap::Parser;
    for args in [
        &["xzup", "restore", "a.tar.gz"][..],
        &["xzup", "backups", "verify", "a.tar.gz"][..],
    ] {
        let cli = xzup::cli::Cli::try_parse_from(args).unwrap();
        assert_eq!(cli.global.file, None, "{args:?}");
    }
    let cli =
        xzup::cli::Cli::try_parse_from(["xzup", "-f", "c.yml", "restore", "a.tar.gz"]).unwrap();
    assert_eq!(cli.global.file.as_deref(), Some(Path::new("c.yml")));
    let xzup::cli::Command::Restore(restore) = cli.command else {
        panic!("not restore");
    };
    assert_eq!(restore.file, Path::new("a.tar.gz"));
}
