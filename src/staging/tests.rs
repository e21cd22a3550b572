use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::sync::{BLOCK, LARGE};
use super::*;

/// Everything a copy must keep, per entry (relative path): kind, mode, owner, mtime, and
/// the bytes of a file or the target of a link. Directory mtimes included.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, at: &Path, out: &mut BTreeMap<String, String>) {
        let m = fs::symlink_metadata(at).unwrap();
        let rel = at.strip_prefix(root).unwrap().display().to_string();
        let common = format!(
            "mode={:o} owner={}:{} mtime={}.{:09}",
            m.mode() & 0o7777,
            m.uid(),
            m.gid(),
            m.mtime(),
            m.mtime_nsec()
        );
        let t = m.file_type();
        let what = if t.is_symlink() {
            format!("link -> {}", fs::read_link(at).unwrap().display())
        } else if t.is_dir() {
            let mut names: Vec<_> = fs::read_dir(at)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            for n in names {
                walk(root, &n, out);
            }
            "dir".to_string()
        } else {
            format!(
                "file sha={}",
                crate::journal::sha256_hex(&fs::read(at).unwrap())
            )
        };
        // Links have no mode of their own.
        let common = if t.is_symlink() {
            common.split_once(' ').unwrap().1.to_string()
        } else {
            common
        };
        out.insert(rel, format!("{what} {common}"));
    }
    walk(root, root, &mut out);
    out
}

fn set_mtime(path: &Path, secs_ago: u64) {
    let t = SystemTime::now() - Duration::from_secs(secs_ago);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// A datadir-shaped tree: files, a nested dir, a symlink, odd modes.
fn source(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src");
    fs::create_dir_all(src.join("db/xiaozhi")).unwrap();
    fs::write(src.join("ibdata1"), vec![7u8; 3 * 1024 * 1024]).unwrap();
    fs::write(src.join("db/xiaozhi/t.ibd"), b"rows 1..10").unwrap();
    fs::write(src.join("db/gone.frm"), b"to be removed").unwrap();
    fs::create_dir(src.join("db/olddir")).unwrap();
    fs::write(src.join("db/olddir/x"), b"x").unwrap();
    fs::write(src.join("keep.cnf"), b"[mysqld]\n").unwrap();
    fs::set_permissions(src.join("keep.cnf"), fs::Permissions::from_mode(0o640)).unwrap();
    symlink("db/xiaozhi/t.ibd", src.join("current")).unwrap();
    for f in ["ibdata1", "db/xiaozhi/t.ibd", "db/gone.frm", "keep.cnf"] {
        set_mtime(&src.join(f), 3600);
    }
    src
}

/// The moment a copy began, then a pause longer than the kernel's coarse clock tick, so
/// that a change made after it carries a later ctime.
fn begin() -> SystemTime {
    let since = SystemTime::now();
    std::thread::sleep(Duration::from_millis(30));
    since
}

#[test]
fn a_copy_is_exact_and_a_sync_without_changes_reads_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = source(tmp.path());
    std::thread::sleep(Duration::from_millis(30));
    let since = begin();
    let dst = tmp.path().join("dst");
    let copied = copy_tree(&src, &dst).unwrap();
    assert_eq!(copied.files_copied, 5);
    assert_eq!(snapshot(&src), snapshot(&dst));

    let synced = sync_tree(&src, &dst, since).unwrap();
    assert_eq!(synced.unchanged, 5);
    assert_eq!(synced.bytes_read, 0, "{synced:?}");
    assert_eq!(
        synced.files_copied + synced.files_patched + synced.removed,
        0
    );
    assert_eq!(snapshot(&src), snapshot(&dst));
}

#[test]
fn sync_brings_added_removed_changed_modes_times_and_symlinks_to_the_stopped_state() {
    let tmp = tempfile::tempdir().unwrap();
    let src = source(tmp.path());
    std::thread::sleep(Duration::from_millis(30));
    let since = begin();
    let dst = tmp.path().join("dst");
    copy_tree(&src, &dst).unwrap();

    // While "the stack runs" after the copy began:
    fs::write(src.join("db/xiaozhi/t.ibd"), b"rows 1..11").unwrap(); // same size, changed
    set_mtime(&src.join("db/xiaozhi/t.ibd"), 3600); // mtime put back: ctime tells
    fs::write(src.join("db/xiaozhi/new.ibd"), b"a new table").unwrap(); // added
    fs::create_dir(src.join("db/newdir")).unwrap();
    fs::write(src.join("db/newdir/y"), b"y").unwrap();
    fs::remove_file(src.join("db/gone.frm")).unwrap(); // removed
    fs::remove_dir_all(src.join("db/olddir")).unwrap(); // a removed dir
    fs::set_permissions(src.join("keep.cnf"), fs::Permissions::from_mode(0o600)).unwrap(); // mode
    fs::remove_file(src.join("current")).unwrap();
    symlink("db/xiaozhi/new.ibd", src.join("current")).unwrap(); // retargeted
    fs::remove_file(src.join("ibdata1")).unwrap();
    fs::create_dir(src.join("ibdata1")).unwrap(); // another kind now
    assert_ne!(snapshot(&src), snapshot(&dst));

    let synced = sync_tree(&src, &dst, since).unwrap();
    assert_eq!(snapshot(&src), snapshot(&dst));
    assert_eq!(
        synced.removed, 3,
        "gone.frm, olddir, the file ibdata1: {synced:?}"
    );
    // Rewritten: t.ibd, keep.cnf (its ctime is new); copied: new.ibd, newdir/y.
    assert_eq!(synced.files_copied, 4, "{synced:?}");
    assert_eq!(synced.unchanged, 0, "{synced:?}");
    assert_eq!(synced.bytes_read, 10 + 9 + 11 + 1, "{synced:?}");
}

#[test]
fn a_file_changed_before_the_copy_began_but_with_a_new_mtime_is_resynced() {
    let tmp = tempfile::tempdir().unwrap();
    let src = source(tmp.path());
    let dst = tmp.path().join("dst");
    copy_tree(&src, &dst).unwrap();
    // Changed after the copy with the same size; the delta pass has only the times.
    fs::write(src.join("keep.cnf"), b"[mysqlX]\n").unwrap();
    set_mtime(&src.join("keep.cnf"), 10);
    let synced = sync_tree(&src, &dst, SystemTime::now() + Duration::from_secs(3600)).unwrap();
    assert_eq!(snapshot(&src), snapshot(&dst));
    assert_eq!(synced.files_copied, 1, "{synced:?}");
}

#[test]
fn a_large_file_is_resynced_block_by_block() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    let len = LARGE as usize + 5 * BLOCK + 123;
    let mut bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    fs::write(src.join("ib_logfile0"), &bytes).unwrap();
    let since = begin();
    let dst = tmp.path().join("dst");
    copy_tree(&src, &dst).unwrap();

    // Two bytes in block 3, one in the last (partial) block, and 1000 bytes appended.
    bytes[3 * BLOCK + 10] ^= 0xff;
    bytes[3 * BLOCK + 11] ^= 0xff;
    bytes[len - 1] ^= 0xff;
    bytes.extend(std::iter::repeat_n(9u8, 1000));
    fs::write(src.join("ib_logfile0"), &bytes).unwrap();

    let synced = sync_tree(&src, &dst, since).unwrap();
    assert_eq!(fs::read(dst.join("ib_logfile0")).unwrap(), bytes);
    assert_eq!(snapshot(&src), snapshot(&dst));
    assert_eq!(synced.files_patched, 1);
    // Block 3, the formerly last block (changed and now longer), nothing else.
    assert_eq!(synced.blocks_written, 2, "{synced:?}");

    // Shrunk: cut to the new length, no block to write.
    bytes.truncate(2 * BLOCK + LARGE as usize);
    fs::write(src.join("ib_logfile0"), &bytes).unwrap();
    let synced = sync_tree(&src, &dst, since).unwrap();
    assert_eq!(fs::read(dst.join("ib_logfile0")).unwrap(), bytes);
    assert_eq!(synced.blocks_written, 0, "{synced:?}");
}

#[test]
fn a_single_file_root_is_copied_and_synced() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join(".env");
    fs::write(&src, b"A=1\n").unwrap();
    let since = begin();
    let dst = tmp.path().join("staged.env");
    copy_tree(&src, &dst).unwrap();
    fs::write(&src, b"A=22\n").unwrap();
    sync_tree(&src, &dst, since).unwrap();
    assert_eq!(fs::read(&dst).unwrap(), b"A=22\n");
}
