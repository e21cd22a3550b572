//! Issue 10: backups that must not be lost. A verify that fails clears the mark, prune keeps
//! what verifies now, `backup`/`restore`/`prune` respect the deployment lock, a symlinked
//! data dir round-trips. No Docker engine needed.

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backup::{archives, deployment, the_archive, tree, xzup_in};
use crate::harness::{Outcome, Xzup};

/// Flips a byte of `archive`'s compressed data in place, keeping its size and mtime: its
/// `.verified` record still matches it, as after a disk error.
fn corrupt_in_place(archive: &Path) {
    let meta = fs::metadata(archive).unwrap();
    let mut bytes = fs::read(archive).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0x5a;
    fs::write(archive, bytes).unwrap();
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(meta.mtime() as u64);
    fs::File::options()
        .write(true)
        .open(archive)
        .unwrap()
        .set_modified(when)
        .unwrap();
    assert_eq!(fs::metadata(archive).unwrap().mtime(), meta.mtime());
}

/// The VERIFIED column of `backups list`, newest first.
fn verified_column(dir: &Path) -> Vec<String> {
    let out = xzup_in(dir).args(["backups", "list"]).run().success();
    out.stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().last().unwrap().to_string())
        .collect()
}

#[test]
fn prune_never_deletes_the_last_good_backup_when_a_newer_one_is_corrupt() {
    let (_tmp, dir) = deployment();
    // Oldest first, all verified; the newest then rots in place.
    let made = archives(&dir, 3, &[0, 1, 2]);
    corrupt_in_place(&made[2]);
    assert_eq!(verified_column(&dir), ["yes", "yes", "yes"]);
    let name = |i: usize| made[i].file_name().unwrap().to_str().unwrap().to_string();

    // No `backups verify` first: prune reads back what it keeps, whatever the marks say.
    let size0 = xzup::units::human_bytes(fs::metadata(&made[0]).unwrap().len());
    let out = xzup_in(&dir)
        .args(["backups", "prune", "--keep", "1"])
        .run()
        .success();
    assert_eq!(
        out.stdout,
        format!(
            "Removed `backups/{}` ({size0})\n\
             Kept `backups/{}`: the newest backup that verifies (read back just now)\n\
             1 removed, {size0} freed.\n",
            name(0),
            name(1),
        )
    );
    assert!(!made[0].exists(), "the older of two good ones goes");
    assert!(made[1].exists(), "the newest good one stays");
    assert!(
        made[2].exists(),
        "the corrupt one is kept for a look, never counted"
    );
    let warning = out
        .stderr
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_default();
    assert!(
        warning.starts_with(&format!(
            "warning: kept `backups/{}`: it does not verify now, so it was not counted as a backup (its verified mark is removed): ",
            name(2)
        )),
        "{}",
        out.stderr
    );
    assert!(warning.contains("is corrupt or truncated"), "{warning}");
    assert_eq!(verified_column(&dir), ["no", "yes"]);
}

#[test]
fn a_failed_verify_clears_the_verified_mark() {
    let (_tmp, dir) = deployment();
    let made = archives(&dir, 2, &[0, 1]);
    corrupt_in_place(&made[1]);
    assert_eq!(verified_column(&dir), ["yes", "yes"]);
    let out = Xzup::new()
        .args(["backups", "verify"])
        .args([&made[1]])
        .run()
        .code(1);
    assert!(
        out.stderr.contains("is corrupt or truncated"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.ends_with(
            "hint: this archive cannot be trusted: use an older backup (`xzup backups list`)\n"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(verified_column(&dir), ["no", "yes"]);
    let mut sidecar = made[1].clone().into_os_string();
    sidecar.push(".verified");
    assert!(!Path::new(&sidecar).exists());
}

#[test]
fn prune_deletes_nothing_when_no_backup_verifies() {
    let (_tmp, dir) = deployment();
    let made = archives(&dir, 2, &[0, 1]);
    corrupt_in_place(&made[0]);
    corrupt_in_place(&made[1]);
    let out = xzup_in(&dir)
        .args(["backups", "prune", "--keep", "1"])
        .run()
        .code(1);
    assert_eq!(out.stdout, "0 removed, 0B freed.\n");
    assert!(
        out.stderr.ends_with(
            "error: no backup in `backups` verifies now; nothing was deleted\n\
             hint: make a new backup with `xzup backup` before pruning; the archives that fail are named above\n"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.matches("warning: kept `backups/").count(), 2);
    assert!(made.iter().all(|m| m.exists()));
    assert_eq!(verified_column(&dir), ["no", "no"]);
}

// ---- the lock ----

/// Starts `xzup backups prune` paused with the lock held (test hook), and waits until its
/// record is written: a real second xzup process holding the deployment lock.
fn hold_the_lock(dir: &Path) -> std::process::Child {
    let child = xzup_in(dir)
        .env("XZUP_TEST_PAUSE_AT", "locked")
        .args(["backups", "prune", "--keep", "9"])
        .spawn();
    let record = dir.join(".xzup/lock");
    let until = Instant::now() + Duration::from_secs(20);
    while !fs::read_to_string(&record).is_ok_and(|r| r.contains(&format!("\"pid\":{}", child.id())))
    {
        assert!(
            Instant::now() < until,
            "the holder never wrote its lock record"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn assert_refused_by(out: &Outcome, holder: u32) {
    let host = xzup::lock::hostname();
    let first = out.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!(
            "error: another xzup run holds the lock of this deployment: `xzup backups prune` (pid {holder} on `{host}`), since "
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.ends_with(&format!(
            "hint: wait for that run to finish (`xzup status` shows it); if process {holder} hangs, stop it, and its lock goes with it\n"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
}

#[test]
fn backup_restore_and_prune_refuse_while_another_xzup_holds_the_lock() {
    let (_tmp, dir) = deployment();
    xzup_in(&dir).args(["backup"]).run().success();
    let archive = the_archive(&dir);
    fs::write(dir.join("mysql/data/ibdata1"), "changed since the backup").unwrap();
    let mut holder = hold_the_lock(&dir);
    let pid = holder.id();
    let before = tree(&dir, &[]);

    let restore = xzup_in(&dir)
        .args(["restore"])
        .args([&archive])
        .run()
        .code(1);
    assert_refused_by(&restore, pid);
    let backup = xzup_in(&dir).args(["backup"]).run().code(1);
    assert_refused_by(&backup, pid);
    let prune = xzup_in(&dir)
        .args(["backups", "prune", "--keep", "1"])
        .run()
        .code(1);
    assert_refused_by(&prune, pid);
    let restore_here = xzup_in(&dir)
        .args(["restore"])
        .args([&archive])
        .args(["--to"])
        .args([&dir])
        .run()
        .code(1);
    assert_refused_by(&restore_here, pid);
    // Nothing changed: no data swapped, no archive written or deleted.
    assert_eq!(tree(&dir, &[]), before);

    // The flock decides, the record only informs: once the holder dies (SIGKILL, no
    // release), its record stays but no longer blocks.
    holder.kill().unwrap();
    holder.wait().unwrap();
    let out = xzup_in(&dir)
        .args(["restore"])
        .args([&archive])
        .run()
        .success();
    assert!(
        out.stderr.starts_with(&format!(
            "warning: a previous run (pid {pid}, `xzup backups prune`, since "
        )),
        "{}",
        out.stderr
    );
    assert_eq!(
        fs::read(dir.join("mysql/data/ibdata1")).unwrap(),
        vec![0u8; 1 << 20]
    );
}

#[test]
fn a_bare_flock_holder_blocks_restore_too() {
    let (_tmp, dir) = deployment();
    xzup_in(&dir).args(["backup"]).run().success();
    let archive = the_archive(&dir);
    let lock = dir.join(".xzup/lock");
    // Another process with the flock and no record (as one that died writing it would be).
    let mut flock = std::process::Command::new("flock")
        .args(["-x", "-F"])
        .arg(&lock)
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let out = xzup_in(&dir).args(["restore"]).args([&archive]).run();
        if out.code == 1 {
            assert_eq!(
                out.stderr,
                format!(
                    "error: another process holds the lock `{}`\n\
                     hint: wait for that run to finish; `fuser {}` shows which process holds it\n",
                    lock.display(),
                    lock.display()
                )
            );
            break;
        }
        // `flock` may not have taken it yet: the restore ran first.
        assert!(Instant::now() < until, "{}", out.stderr);
        std::thread::sleep(Duration::from_millis(100));
    }
    flock.kill().unwrap();
    flock.wait().unwrap();
}

// ---- a symlinked data dir ----

/// Docker follows a symlinked bind source (`mysql/data -> /elsewhere/data`): the backup
/// holds the content (not the link), and a restore puts back exactly what was there.
#[test]
fn a_symlinked_data_dir_is_archived_by_content_and_restored_exactly() {
    let (tmp, dir) = deployment();
    let real = tmp.path().join("elsewhere/data");
    fs::create_dir_all(real.parent().unwrap()).unwrap();
    fs::rename(dir.join("mysql/data"), &real).unwrap();
    fs::create_dir_all(real.join("mysql")).unwrap();
    fs::write(real.join("mysql/user.MYD"), "users").unwrap();
    symlink("ibdata1", real.join("ib-link")).unwrap();
    symlink(&real, dir.join("mysql/data")).unwrap();
    let before = tree(&real, &[]);

    xzup_in(&dir).args(["backup"]).run().success();
    let archive = the_archive(&dir);
    let manifest = xzup::backup::verify(&archive).unwrap();
    let mut under: Vec<(String, xzup::backup::EntryKind)> = manifest
        .entries
        .iter()
        .filter(|e| e.path.starts_with("mysql/data"))
        .map(|e| (e.path.clone(), e.kind))
        .collect();
    under.sort_by(|a, b| a.0.cmp(&b.0));
    use xzup::backup::EntryKind::{Dir, File, Symlink};
    assert_eq!(
        under,
        [
            ("mysql/data".to_string(), Dir),
            ("mysql/data/ib-link".to_string(), Symlink),
            ("mysql/data/ibdata1".to_string(), File),
            ("mysql/data/mysql".to_string(), Dir),
            ("mysql/data/mysql/user.MYD".to_string(), File),
            ("mysql/data/xiaozhi_esp32_server".to_string(), Dir),
            (
                "mysql/data/xiaozhi_esp32_server/ai_agent.ibd".to_string(),
                File
            ),
        ]
    );

    // Wreck it, then restore in place: the link stays, what it points to is as it was.
    fs::write(real.join("ibdata1"), "wrecked").unwrap();
    fs::remove_file(real.join("mysql/user.MYD")).unwrap();
    fs::write(real.join("stray"), "new").unwrap();
    xzup_in(&dir)
        .args(["restore"])
        .args([&archive])
        .run()
        .success();
    assert_eq!(fs::read_link(dir.join("mysql/data")).unwrap(), real);
    assert_eq!(tree(&real, &[]), before);
}
