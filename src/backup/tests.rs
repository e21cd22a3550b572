//! Tests of the whole module: archives written, read back, restored, refused, listed and
//! pruned, against real files in temp dirs (and the system `tar` and `gzip`).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::manifest::{EntryKind, FORMAT, Manifest};
use super::*;
use crate::datapath::{DataPath, Part};

/// The path `name` of the deployment `root`, as a data path.
fn dp(root: &Path, name: &str) -> DataPath {
    DataPath::in_deployment(root, name, Part::Included)
}

/// What a tree holds, entry by entry: kind, mode, owner, mtime, and content or target.
type Snapshot = BTreeMap<String, (String, u32, u32, u32, i64, Vec<u8>)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut out = Snapshot::new();
    fn walk(base: &Path, dir: &Path, out: &mut Snapshot) {
        let mut children: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let path = child.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            let (kind, data) = if meta.is_symlink() {
                let t = fs::read_link(&path).unwrap();
                ("symlink", t.into_os_string().into_encoded_bytes())
            } else if meta.is_dir() {
                ("dir", vec![])
            } else {
                ("file", fs::read(&path).unwrap())
            };
            // A symlink's own mode is always 0777 on Linux and not restorable; skip it.
            let mode = if meta.is_symlink() {
                0
            } else {
                meta.mode() & 0o7777
            };
            out.insert(
                rel,
                (
                    kind.into(),
                    mode,
                    meta.uid(),
                    meta.gid(),
                    meta.mtime(),
                    data,
                ),
            );
            if meta.is_dir() {
                walk(base, &path, out);
            }
        }
    }
    walk(root, root, &mut out);
    out
}

fn is_root() -> bool {
    sys::euid() == 0
}

fn set_mtime(path: &Path, secs: u64) {
    sys::set_mtime_nofollow(path, secs).unwrap();
}

/// A deployment-like tree: a datadir with odd modes and owners, uploads with a long name, a
/// symlink or three, an empty file and an empty dir.
fn sample_tree(root: &Path) {
    let db = root.join("mysql/data");
    fs::create_dir_all(db.join("xiaozhi_esp32_server")).unwrap();
    fs::write(db.join("ibdata1"), vec![0u8; 200_000]).unwrap();
    let pages: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(db.join("xiaozhi_esp32_server/ai_agent.ibd"), &pages).unwrap();
    fs::write(db.join("auto.cnf"), "[auto]\nserver-uuid=1\n").unwrap();
    fs::write(db.join("empty"), "").unwrap();
    fs::set_permissions(db.join("auto.cnf"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(db.join("ibdata1"), fs::Permissions::from_mode(0o400)).unwrap();
    fs::create_dir_all(db.join("#innodb_temp")).unwrap();
    let uploads = root.join("uploadfile");
    let long_dir = uploads.join("d".repeat(90));
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(
        long_dir.join(format!("{}.png", "n".repeat(60))),
        b"\x89PNG....",
    )
    .unwrap();
    fs::write(uploads.join("头像.jpg"), b"jpeg").unwrap();
    symlink("头像.jpg", uploads.join("latest.jpg")).unwrap();
    symlink("/nonexistent/target", uploads.join("dangling")).unwrap();
    symlink("t".repeat(150), uploads.join("long-target")).unwrap();
    fs::create_dir_all(root.join("data")).unwrap();
    fs::write(root.join("data/.config.yaml"), "server:\n  port: 8000\n").unwrap();
    fs::write(root.join("docker-compose.yml"), "services: {}\n").unwrap();
    fs::set_permissions(root.join("data"), fs::Permissions::from_mode(0o750)).unwrap();
    if is_root() {
        // MySQL's datadir belongs to the container's uid (999 in the official image).
        for p in [
            "mysql/data",
            "mysql/data/ibdata1",
            "mysql/data/xiaozhi_esp32_server",
        ] {
            std::os::unix::fs::lchown(root.join(p), Some(999), Some(999)).unwrap();
        }
        std::os::unix::fs::lchown(uploads.join("latest.jpg"), Some(1000), Some(1000)).unwrap();
    }
    // Old, distinct times, deepest first (creating a child touches its dir).
    let mut all: Vec<PathBuf> = snapshot(root).keys().map(|k| root.join(k)).collect();
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in all.iter().enumerate() {
        set_mtime(p, 1_600_000_000 + i as u64 * 1000);
    }
}

const ROOTS: [&str; 4] = ["data", "docker-compose.yml", "mysql/data", "uploadfile"];

fn request(root: &Path, out: &Path) -> BackupRequest {
    BackupRequest {
        paths: ROOTS.iter().map(|r| dp(root, r)).collect(),
        out: out.to_path_buf(),
        level: 6,
        threads: 2,
        verify: true,
        compose_sha256: Some("ab".repeat(32)),
        tool: TOOL.into(),
        staged: None,
    }
}

/// A deployment with the sample tree and a backup of it in `backups/`.
fn backed_up() -> (tempfile::TempDir, PathBuf, BackupReport) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deploy");
    fs::create_dir_all(&root).unwrap();
    sample_tree(&root);
    let out = root.join("backups/backup-1.tar.gz");
    let report = create(&request(&root, &out), &mut NoProgress).unwrap();
    (dir, out, report)
}

/// Only the backed-up paths of a snapshot.
fn backed_up_part(snap: &Snapshot) -> Snapshot {
    snap.iter()
        .filter(|(k, _)| ROOTS.iter().any(|r| Path::new(k).starts_with(r)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn round_trip_keeps_content_modes_owners_times_and_links() {
    let (dir, out, report) = backed_up();
    let root = dir.path().join("deploy");
    assert!(report.verified);
    assert_eq!(report.roots, ROOTS);
    assert_eq!((report.files, report.dirs, report.symlinks), (8, 6, 3));
    let file_bytes: usize = backed_up_part(&snapshot(&root))
        .values()
        .filter(|v| v.0 == "file")
        .map(|v| v.5.len())
        .sum();
    assert_eq!(report.data_bytes, file_bytes as u64);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o600);
    assert_eq!(mode(out.parent().unwrap()), 0o700);
    assert!(catalog::is_verified(&out));

    let target = dir.path().join("restored");
    let restored = restore(&out, &target, "t1", &mut NoProgress).unwrap();
    assert_eq!(restored.restored, ROOTS);
    assert!(restored.quarantined.is_empty());
    assert_eq!(restored.ownership_restored, is_root());
    assert_eq!(restored.leftover, None);
    let mut expected = backed_up_part(&snapshot(&root));
    let mut got = snapshot(&target);
    // `mysql/` itself is not backed up, only created to hold `mysql/data`.
    let parent = got.remove("mysql").expect("parent created");
    assert_eq!(parent.0, "dir");
    if !is_root() {
        for v in expected.values_mut() {
            (v.2, v.3) = (sys::euid(), sys::egid());
        }
    }
    assert_eq!(got, expected);
}

#[test]
fn restoring_over_existing_data_quarantines_it() {
    let (dir, out, _) = backed_up();
    let root = dir.path().join("deploy");
    let before = backed_up_part(&snapshot(&root));
    // The data changes after the backup; the restore must bring back the old state and
    // keep the new one aside.
    fs::write(root.join("data/.config.yaml"), "changed").unwrap();
    fs::write(root.join("mysql/data/new-table.ibd"), "new").unwrap();
    fs::remove_file(root.join("docker-compose.yml")).unwrap();
    let report = restore(&out, &root, "20260101-000000", &mut NoProgress).unwrap();
    let moved: Vec<_> = report
        .quarantined
        .iter()
        .map(|q| {
            (
                q.path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string(),
                q.moved_to
                    .strip_prefix(&root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        moved,
        [
            ("data".into(), "data.xzup-quarantine-20260101-000000".into()),
            (
                "mysql/data".into(),
                "mysql/data.xzup-quarantine-20260101-000000".into()
            ),
            (
                "uploadfile".into(),
                "uploadfile.xzup-quarantine-20260101-000000".into()
            ),
        ]
    );
    assert_eq!(backed_up_part(&snapshot(&root)), before);
    let q = root.join("mysql/data.xzup-quarantine-20260101-000000");
    assert_eq!(fs::read_to_string(q.join("new-table.ibd")).unwrap(), "new");
    assert_eq!(
        fs::read_to_string(root.join("data.xzup-quarantine-20260101-000000/.config.yaml")).unwrap(),
        "changed"
    );
    // The archive and the rest of the deployment are where they were.
    assert!(out.exists());
    assert!(!root.join(".xzup-restore-20260101-000000").exists());

    // The same stamp again: the quarantine name gets a suffix, nothing is overwritten.
    let again = restore(&out, &root, "20260101-000000", &mut NoProgress).unwrap();
    assert!(
        again.quarantined[0]
            .moved_to
            .ends_with("data.xzup-quarantine-20260101-000000-2")
    );
}

#[test]
fn system_tar_and_gzip_read_the_archive() {
    let (dir, out, _) = backed_up();
    let root = dir.path().join("deploy");
    let run = |cmd: &mut Command| {
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    run(Command::new("gzip").arg("-t").arg(&out));
    let listing = run(Command::new("tar").arg("-tzf").arg(&out));
    let names: Vec<&str> = listing.lines().collect();
    assert_eq!(names[0], ".xzup/manifest.json");
    assert!(names.contains(&"mysql/data/xiaozhi_esp32_server/ai_agent.ibd"));
    let target = dir.path().join("by-tar");
    fs::create_dir_all(&target).unwrap();
    let mut tar = Command::new("tar");
    tar.arg("-xzf").arg(&out).arg("-C").arg(&target);
    if is_root() {
        tar.arg("--same-owner").arg("--numeric-owner");
    }
    run(&mut tar);
    let manifest: Manifest =
        serde_json::from_slice(&fs::read(target.join(".xzup/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest, read_manifest(&out).unwrap());
    fs::remove_dir_all(target.join(".xzup")).unwrap();
    let mut got = snapshot(&target);
    got.remove("mysql");
    let mut expected = backed_up_part(&snapshot(&root));
    if !is_root() {
        for v in expected.values_mut() {
            (v.2, v.3) = (sys::euid(), sys::egid());
        }
    }
    assert_eq!(got, expected);
}

#[test]
fn manifest_lists_every_entry_with_sums() {
    let (_dir, out, report) = backed_up();
    let m = read_manifest(&out).unwrap();
    assert_eq!(m.format, FORMAT);
    assert_eq!(m.tool, TOOL);
    assert_eq!(m.created, report.created);
    assert_eq!(m.compose_sha256.as_deref(), Some("ab".repeat(32).as_str()));
    let ibd = m
        .entries
        .iter()
        .find(|e| e.path == "mysql/data/xiaozhi_esp32_server/ai_agent.ibd")
        .unwrap();
    let pages: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(
        ibd.sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(&pages)).as_str())
    );
    assert_eq!(ibd.size, 300_000);
    let link = m
        .entries
        .iter()
        .find(|e| e.path == "uploadfile/latest.jpg")
        .unwrap();
    assert_eq!(link.kind, EntryKind::Symlink);
    assert_eq!(link.target.as_deref(), Some("头像.jpg"));
    assert_eq!(verify(&out).unwrap(), m);
}

use sha2::Digest;

#[test]
fn sockets_are_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("mysql/data")).unwrap();
    fs::write(root.join("mysql/data/ibdata1"), "x").unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(root.join("mysql/data/mysql.sock")).unwrap();
    let mut req = request(root, &root.join("b/x.tar.gz"));
    req.paths = vec![dp(root, "mysql/data")];
    let report = create(&req, &mut NoProgress).unwrap();
    assert_eq!(
        report.skipped,
        [Skipped {
            path: "mysql/data/mysql.sock".into(),
            reason: SkipReason::Socket
        }]
    );
    assert_eq!(
        read_manifest(&report.archive).unwrap().skipped,
        report.skipped
    );
}

#[test]
fn no_verify_says_so_and_leaves_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("docker-compose.yml"), "x").unwrap();
    let mut req = request(root, &root.join("b/x.tar.gz"));
    req.paths = vec![dp(root, "docker-compose.yml")];
    req.verify = false;
    let report = create(&req, &mut NoProgress).unwrap();
    assert!(!report.verified);
    assert_eq!(report.verify_seconds, None);
    assert!(!catalog::is_verified(&req.out));
    verify(&req.out).unwrap();
}

#[test]
fn an_existing_output_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("docker-compose.yml"), "x").unwrap();
    fs::write(root.join("out.tar.gz"), "precious").unwrap();
    let mut req = request(root, &root.join("out.tar.gz"));
    req.paths = vec![dp(root, "docker-compose.yml")];
    let err = create(&req, &mut NoProgress).unwrap_err();
    assert!(matches!(err, BackupError::OutputExists { .. }), "{err}");
    assert_eq!(
        fs::read_to_string(root.join("out.tar.gz")).unwrap(),
        "precious"
    );
}

#[test]
fn progress_reports_phases_and_every_byte() {
    #[derive(Default)]
    struct Record(Vec<(Phase, u64)>, BTreeMap<&'static str, u64>);
    impl ProgressSink for Record {
        fn phase(&mut self, phase: Phase, total: u64) {
            self.0.push((phase, total));
        }
        fn advance(&mut self, bytes: u64) {
            let phase = self.0.last().unwrap().0.label();
            *self.1.entry(phase).or_default() += bytes;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    fs::create_dir_all(&root).unwrap();
    sample_tree(&root);
    let mut record = Record::default();
    let report = create(&request(&root, &root.join("b/x.tar.gz")), &mut record).unwrap();
    let total = report.data_bytes;
    assert_eq!(record.0, [(Phase::Write, total), (Phase::Verify, total)]);
    assert_eq!(record.1["backup"], total);
    assert_eq!(record.1["verify"], total);
}

/// Progress that asks the core to stop once `after` bytes are done (a Ctrl-C, without the
/// signal).
struct StopAfter {
    after: u64,
    done: u64,
    phases: Vec<Phase>,
}

impl StopAfter {
    fn new(after: u64) -> StopAfter {
        StopAfter {
            after,
            done: 0,
            phases: Vec::new(),
        }
    }
}

impl ProgressSink for StopAfter {
    fn phase(&mut self, phase: Phase, _total: u64) {
        self.phases.push(phase);
    }
    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
    }
    fn stop_requested(&self) -> bool {
        self.done >= self.after
    }
}

/// A deployment holding one 1 MiB file (four read chunks), and a request to back it up.
fn one_big_file(dir: &Path) -> BackupRequest {
    let root = dir.join("d");
    fs::create_dir_all(root.join("mysql/data")).unwrap();
    let pages: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    fs::write(root.join("mysql/data/ibdata1"), pages).unwrap();
    BackupRequest {
        paths: vec![dp(&root, "mysql/data")],
        ..request(&root, &root.join("b/x.tar.gz"))
    }
}

#[test]
fn an_interrupted_backup_stops_mid_file_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let req = one_big_file(dir.path());
    // Stopped inside the file: the check runs between chunks, not only between files.
    let mut stop = StopAfter::new(1);
    let err = create(&req, &mut stop).unwrap_err();
    assert!(
        matches!(err, BackupError::Interrupted(Phase::Write)),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the backup was interrupted; the unfinished archive was removed"
    );
    assert_eq!(stop.done, 256 * 1024, "one chunk of four");
    let out_dir = req.out.parent().unwrap();
    assert_eq!(
        fs::read_dir(out_dir).unwrap().count(),
        0,
        "no partial, no archive"
    );

    // Stopped while the new archive is read back: the backup is what stopped.
    let mut stop = StopAfter::new((1 << 20) + 1);
    let err = create(&req, &mut stop).unwrap_err();
    assert!(
        matches!(err, BackupError::Interrupted(Phase::Write)),
        "{err}"
    );
    assert_eq!(stop.phases, [Phase::Write, Phase::Verify]);
    assert!(
        stop.done < 2 << 20,
        "stopped inside the file again: {}",
        stop.done
    );
    assert_eq!(
        fs::read_dir(out_dir).unwrap().count(),
        0,
        "no partial, no archive"
    );
}

#[test]
fn an_interrupted_restore_changes_nothing_at_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let req = one_big_file(dir.path());
    create(&req, &mut NoProgress).unwrap();
    fs::write(
        dir.path().join("d").join("mysql/data/ibdata1"),
        "changed since",
    )
    .unwrap();
    let before = snapshot(&dir.path().join("d"));
    let mut stop = StopAfter::new(1);
    let err = restore(&req.out, &dir.path().join("d"), "t1", &mut stop).unwrap_err();
    assert!(
        matches!(err, BackupError::Interrupted(Phase::Restore)),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("the restore was interrupted before anything at the target changed"),
        "{err}"
    );
    assert!(
        stop.done < 1 << 20,
        "stopped inside the file: {}",
        stop.done
    );
    assert_eq!(
        snapshot(&dir.path().join("d")),
        before,
        "the target is untouched, the staging dir gone"
    );
}

#[test]
fn check_space_names_what_is_needed() {
    check_space(Path::new("/b"), 100, 100).unwrap();
    let err = check_space(Path::new("/b"), 3 << 30, 1 << 30).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not enough free space for the backup in `/b`: 3G needed, 1G free"
    );
    assert!(err.hint().unwrap().contains("--backup-dir"));
    // The estimate covers incompressible data.
    assert!(estimate_archive_bytes(1 << 30, 10, 4096) > (1 << 30) + (1 << 20));
}

/// A small tmpfs mounted for a test (root only), unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(at).unwrap();
        let ok = is_root()
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(at)
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        }
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn refuses_to_start_without_the_space() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("data")).unwrap();
    fs::write(root.join("data/big"), vec![7u8; 3 << 20]).unwrap();
    let Some(_mount) = Tmpfs::mount(&root.join("backups"), "1m") else {
        return;
    };
    let mut req = request(root, &root.join("backups/x.tar.gz"));
    req.paths = vec![dp(root, "data")];
    let err = create(&req, &mut NoProgress).unwrap_err();
    let BackupError::NoSpace { needed, free, .. } = err else {
        panic!("{err}");
    };
    assert!(needed > 3 << 20 && free <= 1 << 20, "{needed} {free}");
    assert_eq!(
        fs::read_dir(root.join("backups")).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn restore_refuses_a_mount_point_and_changes_nothing() {
    let (dir, out, _) = backed_up();
    let root = dir.path().join("deploy");
    fs::rename(root.join("uploadfile"), dir.path().join("uploads-away")).unwrap();
    let Some(_mount) = Tmpfs::mount(&root.join("uploadfile"), "1m") else {
        return;
    };
    fs::write(root.join("uploadfile/live"), "x").unwrap();
    let before = snapshot(&root);
    let err = restore(&out, &root, "s", &mut NoProgress).unwrap_err();
    assert!(err.to_string().contains("is a mount point"), "{err}");
    assert_eq!(snapshot(&root), before);
}

// ---- refusals: archives crafted with the tar crate ----

/// A member to craft: raw path bytes, type, data, link target.
struct Member {
    path: String,
    kind: tar::EntryType,
    data: Vec<u8>,
    target: Option<String>,
}

fn member(path: &str, kind: tar::EntryType, data: &[u8]) -> Member {
    Member {
        path: path.into(),
        kind,
        data: data.to_vec(),
        target: None,
    }
}

fn entry_for(m: &Member) -> Entry {
    let kind = match m.kind {
        tar::EntryType::Directory => EntryKind::Dir,
        tar::EntryType::Symlink => EntryKind::Symlink,
        _ => EntryKind::File,
    };
    Entry {
        path: m.path.trim_end_matches('/').into(),
        path_hex: None,
        kind,
        size: if kind == EntryKind::File {
            m.data.len() as u64
        } else {
            0
        },
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
        sha256: (kind == EntryKind::File).then(|| hex::encode(sha2::Sha256::digest(&m.data))),
        target: m.target.clone(),
        target_hex: None,
    }
}

fn manifest_of(roots: &[&str], entries: Vec<Entry>) -> Manifest {
    Manifest::for_tests(roots, entries)
}

/// Writes a tar.gz: the manifest, then the members, headers written by hand so that any
/// path (absolute, `..`) goes in as is.
fn craft(path: &Path, manifest: &Manifest, members: &[Member]) {
    let mut tar = Vec::new();
    let json = manifest.to_json();
    let mut raw = |name: &[u8], kind: tar::EntryType, data: &[u8], target: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(if kind == tar::EntryType::Regular {
            data.len() as u64
        } else {
            0
        });
        h.set_mode(
            if kind == tar::EntryType::Regular && name.ends_with(b".json") {
                0o600
            } else {
                0o644
            },
        );
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        if let Some(t) = target {
            h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        if kind == tar::EntryType::Regular {
            tar.extend_from_slice(data);
            tar.resize(tar.len() + format::padding(data.len() as u64), 0);
        }
    };
    raw(
        MANIFEST_PATH.as_bytes(),
        tar::EntryType::Regular,
        &json,
        None,
    );
    for m in members {
        raw(m.path.as_bytes(), m.kind, &m.data, m.target.as_deref());
    }
    tar.extend_from_slice(&format::END_OF_ARCHIVE);
    let mut gz =
        flate2::write::GzEncoder::new(fs::File::create(path).unwrap(), flate2::Compression::new(6));
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap();
}

/// Restores `archive` into a deployment with data in place; asserts the refusal names
/// `member` and that nothing changed.
fn assert_refused(archive: &Path, member_name: &str, reason: Refusal) {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("deploy");
    fs::create_dir_all(target.join("data")).unwrap();
    fs::write(target.join("data/keep"), "mine").unwrap();
    let before = snapshot(&target);
    let err = restore(archive, &target, "x", &mut NoProgress).unwrap_err();
    match &err {
        BackupError::Refused {
            member, reason: r, ..
        } => {
            assert_eq!((member.as_str(), r), (member_name, &reason), "{err}");
        }
        other => panic!("expected a refusal of `{member_name}`, got: {other}"),
    }
    assert!(
        err.to_string().contains(&format!("member `{member_name}`")),
        "{err}"
    );
    assert_eq!(snapshot(&target), before, "the target changed");
    assert!(matches!(verify(archive), Err(BackupError::Refused { .. })));
}

fn ok_members() -> Vec<Member> {
    vec![
        member("data/", tar::EntryType::Directory, b""),
        member("data/a", tar::EntryType::Regular, b"hello"),
    ]
}

#[test]
fn refuses_an_absolute_member() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.gz");
    let members = ok_members();
    let manifest = manifest_of(&["data"], members.iter().map(entry_for).collect());
    let mut all = members;
    all.push(member("/tmp/xzup-evil", tar::EntryType::Regular, b"x"));
    craft(&path, &manifest, &all);
    assert_refused(&path, "/tmp/xzup-evil", Refusal::AbsolutePath);
    assert!(!Path::new("/tmp/xzup-evil").exists());
}

#[test]
fn refuses_a_dotdot_member() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.gz");
    let members = ok_members();
    let manifest = manifest_of(&["data"], members.iter().map(entry_for).collect());
    let mut all = members;
    all.push(member("data/../../evil", tar::EntryType::Regular, b"x"));
    craft(&path, &manifest, &all);
    assert_refused(&path, "data/../../evil", Refusal::ParentDir);
}

#[test]
fn refuses_a_dotdot_path_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.gz");
    let mut members = ok_members();
    members.push(member("data/../evil", tar::EntryType::Regular, b"x"));
    let manifest = manifest_of(&["data"], members.iter().map(entry_for).collect());
    craft(&path, &manifest, &members);
    assert_refused(&path, "data/../evil", Refusal::ParentDir);
}

#[test]
fn refuses_a_member_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.gz");
    let mut members = ok_members();
    let mut link = member("data/escape", tar::EntryType::Symlink, b"");
    link.target = Some("/tmp".into());
    members.push(link);
    members.push(member(
        "data/escape/xzup-evil",
        tar::EntryType::Regular,
        b"x",
    ));
    let manifest = manifest_of(&["data"], members.iter().map(entry_for).collect());
    craft(&path, &manifest, &members);
    assert_refused(
        &path,
        "data/escape/xzup-evil",
        Refusal::UnderSymlink {
            link: "data/escape".into(),
        },
    );
    assert!(!Path::new("/tmp/xzup-evil").exists());
}

#[test]
fn refuses_a_member_not_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.gz");
    let members = ok_members();
    let manifest = manifest_of(&["data"], members.iter().map(entry_for).collect());
    let mut all = members;
    all.push(member("data/extra", tar::EntryType::Regular, b"x"));
    craft(&path, &manifest, &all);
    assert_refused(&path, "data/extra", Refusal::NotInManifest);
}

#[test]
fn refuses_a_duplicate_member() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.gz");
    let members = ok_members();
    let manifest = manifest_of(&["data"], members.iter().map(entry_for).collect());
    let mut all = members;
    all.push(member("data/a", tar::EntryType::Regular, b"hello"));
    craft(&path, &manifest, &all);
    assert_refused(&path, "data/a", Refusal::Duplicate);
}

#[test]
fn refuses_a_hard_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.gz");
    let members = ok_members();
    let manifest = manifest_of(&["data"], members.iter().map(entry_for).collect());
    let mut all = members;
    let mut hard = member("data/h", tar::EntryType::Link, b"");
    hard.target = Some("/etc/passwd".into());
    all.push(hard);
    craft(&path, &manifest, &all);
    assert_refused(
        &path,
        "data/h",
        Refusal::UnsupportedType("hard link".into()),
    );
}

/// Restores and expects `check` to accept the error; the target must not change.
fn assert_fails_unchanged(archive: &Path, check: impl Fn(&BackupError) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("deploy");
    fs::create_dir_all(target.join("data")).unwrap();
    fs::write(target.join("data/keep"), "mine").unwrap();
    let before = snapshot(&target);
    let err = restore(archive, &target, "x", &mut NoProgress).unwrap_err();
    assert!(check(&err), "unexpected error: {err}");
    assert_eq!(snapshot(&target), before, "the target changed");
    let err = verify(archive).unwrap_err();
    assert!(check(&err), "verify: unexpected error: {err}");
}

#[test]
fn refuses_a_checksum_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar.gz");
    let members = ok_members();
    let mut manifest = manifest_of(&["data"], members.iter().map(entry_for).collect());
    manifest.entries[1].sha256 = Some("0".repeat(64));
    craft(&path, &manifest, &members);
    assert_fails_unchanged(
        &path,
        |e| matches!(e, BackupError::Mismatch { member, what: "sha256", .. } if member == "data/a"),
    );
}

#[test]
fn refuses_a_truncated_archive() {
    let (dir, out, _) = backed_up();
    let bytes = fs::read(&out).unwrap();
    let cut = dir.path().join("cut.tar.gz");
    fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    assert_fails_unchanged(&cut, |e| {
        matches!(e, BackupError::Corrupt { at: Some(_), .. })
    });
    // Cut right after the manifest member: every data member is missing.
    let m = read_manifest(&out).unwrap();
    let room = format::manifest_room(m.to_json().len() + 64);
    fs::write(&cut, &bytes[..room]).unwrap();
    assert_fails_unchanged(&cut, |e| matches!(e, BackupError::MissingMember { .. }));
}

#[test]
fn refuses_a_corrupt_archive() {
    let (dir, out, _) = backed_up();
    let bytes = fs::read(&out).unwrap();
    let room = format::manifest_room(read_manifest(&out).unwrap().to_json().len() + 64);
    let bad = dir.path().join("bad.tar.gz");
    // In the data member: the deflate stream breaks, or decodes to other bytes whose
    // sha256 differs (checked at the end of the member, before the gzip CRC at the end).
    let mut data = bytes.clone();
    data[room + (bytes.len() - room) / 2] ^= 0x55;
    fs::write(&bad, &data).unwrap();
    assert_fails_unchanged(&bad, |e| {
        matches!(
            e,
            BackupError::Corrupt { at: Some(_), .. } | BackupError::Mismatch { what: "sha256", .. }
        )
    });
    // In the manifest (stored as is): its JSON, or a value in it, no longer holds.
    let mut manifest = bytes.clone();
    manifest[room - 300] ^= 0x01;
    fs::write(&bad, &manifest).unwrap();
    assert_fails_unchanged(&bad, |e| {
        matches!(
            e,
            BackupError::BadManifest { .. }
                | BackupError::Corrupt { .. }
                | BackupError::Mismatch { .. }
        )
    });
}

#[test]
fn refuses_what_is_not_an_xzup_backup() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f"), "x").unwrap();
    let plain = dir.path().join("plain.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&plain)
        .arg("-C")
        .arg(dir.path())
        .arg("f")
        .status()
        .unwrap();
    assert!(status.success());
    let err = read_manifest(&plain).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` is not an xzup backup: its first member is `f`, not `.xzup/manifest.json`",
            plain.display()
        )
    );
    let text = dir.path().join("text.tar.gz");
    fs::write(&text, "hello").unwrap();
    assert!(matches!(verify(&text), Err(BackupError::NotABackup { .. })));
}

#[test]
fn a_file_changing_during_the_backup_fails_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, "12345").unwrap();
    let mtime = fs::metadata(&path).unwrap().mtime() as u64;
    let partial = dir.path().join("x.partial");
    let file = fs::File::create(&partial).unwrap();
    let gz = gzp::par::compress::ParCompressBuilder::<gzp::deflate::Gzip>::new()
        .num_threads(1)
        .unwrap()
        .from_writer(std::io::BufWriter::new(file));
    let mut out = create::Compressor::new(gz);
    let mut buf = vec![0u8; 4];
    let err = create::copy_file(
        &path,
        4,
        mtime,
        &mut out,
        &mut buf,
        &partial,
        &mut NoProgress,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "`{}` changed size while it was being backed up",
            path.display()
        )
    );
    let err = create::copy_file(
        &path,
        5,
        mtime + 1,
        &mut out,
        &mut buf,
        &partial,
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("was modified"), "{err}");
    assert!(err.hint().unwrap().contains("docker compose down"));
}

// ---- list and prune ----

/// A backup dir with three archives made at distinct times; the middle one verified.
fn three_backups() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(
        root.join("docker-compose.yml"),
        "services: {}\n".repeat(100),
    )
    .unwrap();
    let mut paths = Vec::new();
    for i in 1..=3 {
        let out = root.join(format!("backups/backup-{i}.tar.gz"));
        let mut req = request(root, &out);
        req.paths = vec![dp(root, "docker-compose.yml")];
        req.verify = i == 2;
        create(&req, &mut NoProgress).unwrap();
        // Distinct creation times, as backups made a minute apart would have.
        let mut m = read_manifest(&out).unwrap();
        m.created = format!("2026-01-0{i}T00:00:00Z");
        rewrite_manifest(&out, &m);
        if i == 2 {
            catalog::record_verified(&out).unwrap();
        }
        paths.push(out);
    }
    (dir, paths)
}

/// Replaces an archive's manifest member (same size: only a date changes).
fn rewrite_manifest(archive: &Path, m: &Manifest) {
    let json = m.to_json();
    let room = format::manifest_room(json.len() + 64);
    let member = format::manifest_member(&format::manifest_tar(&json, 0, 0, 0), room).unwrap();
    let mut bytes = fs::read(archive).unwrap();
    bytes[..room].copy_from_slice(&member);
    fs::write(archive, bytes).unwrap();
}

#[test]
fn list_shows_time_size_ratio_and_verification() {
    let (dir, paths) = three_backups();
    fs::write(dir.path().join("backups/backup-4.tar.gz.partial"), "half").unwrap();
    fs::write(dir.path().join("backups/other.tar.gz"), "not gzip").unwrap();
    fs::write(dir.path().join("backups/notes.txt"), "ignored").unwrap();
    let infos = list(&dir.path().join("backups")).unwrap();
    let mut names: Vec<_> = infos
        .iter()
        .map(|i| i.path.file_name().unwrap().to_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "backup-1.tar.gz",
            "backup-2.tar.gz",
            "backup-3.tar.gz",
            "backup-4.tar.gz.partial",
            "other.tar.gz"
        ]
    );
    let by_name = |n: &str| infos.iter().find(|i| i.path.ends_with(n)).unwrap();
    let b2 = by_name("backup-2.tar.gz");
    assert!(b2.verified && b2.usable());
    assert_eq!(b2.created, "2026-01-02T00:00:00Z");
    assert_eq!(b2.data_bytes, Some(1300));
    let ratio = b2.ratio.unwrap();
    assert!((ratio - 1300.0 / b2.archive_bytes as f64).abs() < 1e-9);
    assert!(!by_name("backup-3.tar.gz").verified);
    assert!(
        by_name("backup-4.tar.gz.partial")
            .problem
            .as_deref()
            .unwrap()
            .contains("unfinished")
    );
    assert!(
        by_name("other.tar.gz")
            .problem
            .as_deref()
            .unwrap()
            .contains("not an xzup backup")
    );
    // The usable ones are ordered by creation time, newest first.
    let usable: Vec<_> = infos
        .iter()
        .filter(|i| i.usable())
        .map(|i| i.path.clone())
        .collect();
    assert_eq!(
        usable,
        [paths[2].clone(), paths[1].clone(), paths[0].clone()]
    );

    // An archive changed after verification is no longer verified.
    let mut bytes = fs::read(&paths[1]).unwrap();
    bytes.push(0);
    fs::write(&paths[1], bytes).unwrap();
    assert!(!catalog::is_verified(&paths[1]));
}
