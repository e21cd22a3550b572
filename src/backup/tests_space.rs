//! The disk filling up while an archive is written (a tmpfs, so root only: the test skips
//! elsewhere, saying why).

use std::fs;
use std::path::Path;
use std::process::Command;

use super::*;
use crate::datapath::{DataPath, Part};

/// Fills the archive's file system on the first bytes written: another writer taking the
/// space the estimate counted on.
struct Filler<'a> {
    fill: &'a Path,
    done: bool,
}

impl ProgressSink for Filler<'_> {
    fn phase(&mut self, _phase: Phase, _total: u64) {}
    fn advance(&mut self, _bytes: u64) {
        if !self.done {
            self.done = true;
            let mut f = fs::File::create(self.fill).unwrap();
            let chunk = vec![1u8; 64 << 10];
            while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
        }
    }
    fn stop_requested(&self) -> bool {
        false
    }
}

#[test]
fn a_disk_filling_up_mid_archive_removes_it_and_says_what_was_needed() {
    if sys::euid() != 0 {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("data")).unwrap();
    // Incompressible: the archive is as big as the data.
    let noise: Vec<u8> = (0..(3u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(root.join("data/noise"), noise).unwrap();
    let backups = root.join("backups");
    fs::create_dir_all(&backups).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&backups)
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "root, but mount -t tmpfs failed");
    let request = BackupRequest {
        paths: vec![DataPath::in_deployment(root, "data", Part::Included)],
        out: backups.join("x.tar.gz"),
        level: 1,
        threads: 1,
        verify: true,
        compose_sha256: None,
        tool: TOOL.into(),
        staged: None,
    };
    let fill = backups.join("filler");
    let err = create(
        &request,
        &mut Filler {
            fill: &fill,
            done: false,
        },
    )
    .unwrap_err();
    let left: Vec<String> = fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let _ = Command::new("umount").arg(&backups).status();
    let BackupError::FilledUp { needed, free, .. } = &err else {
        panic!("{err}");
    };
    assert!(*needed > 3 << 20 && *free > *needed, "{needed} {free}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "the disk filled up while writing the backup in `{}`: about {} needed, {} was free",
            backups.display(),
            crate::units::human_bytes(*needed),
            crate::units::human_bytes(*free),
        )),
        "{text}"
    );
    assert!(
        text.ends_with("was free when it began; the unfinished archive was removed"),
        "{text}"
    );
    assert!(err.hint().unwrap().contains("--backup-dir"));
    assert_eq!(left, ["filler"], "the partial archive is gone");
}
