//! Names as bytes: a file whose name is not UTF-8 (a GBK-named upload) is archived,
//! verified and restored byte for byte; only sockets and fifos are left out, and said.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use super::manifest::{SkipReason, Skipped};
use super::*;
use crate::datapath::{DataPath, Part};

/// `你好` in GBK: not UTF-8.
const GBK: &[u8] = b"\xc4\xe3\xba\xc3";

fn name(parts: &[&[u8]]) -> std::path::PathBuf {
    let bytes: Vec<u8> = parts.concat();
    std::path::PathBuf::from(OsStr::from_bytes(&bytes))
}

/// Every path under `root` as bytes, with its kind and content or link target.
fn tree(root: &Path) -> BTreeMap<Vec<u8>, (&'static str, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for child in fs::read_dir(&dir).unwrap() {
            let path = child.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            let meta = fs::symlink_metadata(&path).unwrap();
            let value = if meta.is_symlink() {
                (
                    "symlink",
                    fs::read_link(&path)
                        .unwrap()
                        .as_os_str()
                        .as_bytes()
                        .to_vec(),
                )
            } else if meta.is_dir() {
                stack.push(path.clone());
                ("dir", vec![])
            } else if meta.is_file() {
                ("file", fs::read(&path).unwrap())
            } else {
                ("other", vec![])
            };
            out.insert(rel, value);
        }
    }
    out
}

#[test]
fn names_that_are_not_utf8_are_archived_verified_and_restored_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deploy");
    let up = root.join("uploadfile");
    fs::create_dir_all(up.join(name(&[GBK, b"-dir"]))).unwrap();
    fs::write(up.join(name(&[GBK, b".jpg"])), b"\xff\xd8jpeg").unwrap();
    fs::write(up.join(name(&[GBK, b"-dir/", GBK, b".txt"])), b"inner").unwrap();
    fs::write(up.join("ok.txt"), b"plain").unwrap();
    symlink(name(&[GBK, b".jpg"]), up.join(name(&[b"to-", GBK]))).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(up.join("app.sock")).unwrap();
    let fifo = std::ffi::CString::new(up.join("pipe").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let before = tree(&up);

    let out = root.join("backups/b.tar.gz");
    let request = BackupRequest {
        paths: vec![DataPath::in_deployment(&root, "uploadfile", Part::Included)],
        out: out.clone(),
        level: 6,
        threads: 2,
        verify: true,
        compose_sha256: None,
        tool: TOOL.into(),
        staged: None,
    };
    let report = create(&request, &mut NoProgress).unwrap();
    assert!(report.verified);
    // Every regular file is in; only the socket and the fifo are left out, and noted.
    assert_eq!((report.files, report.dirs, report.symlinks), (3, 2, 1));
    let left_out = vec![
        Skipped {
            path: "uploadfile/app.sock".into(),
            reason: SkipReason::Socket,
        },
        Skipped {
            path: "uploadfile/pipe".into(),
            reason: SkipReason::Fifo,
        },
    ];
    assert_eq!(report.skipped, left_out);
    let manifest = verify(&out).unwrap();
    assert_eq!(manifest.skipped, left_out);
    let odd = manifest
        .entries
        .iter()
        .find(|e| e.path == "uploadfile/\\xC4\\xE3\\xBA\\xC3.jpg")
        .expect("the GBK-named file is in the manifest");
    assert_eq!(
        &odd.path_bytes()[..],
        [b"uploadfile/", GBK, b".jpg"].concat()
    );

    // The system tar sees the very bytes.
    let listing = Command::new("tar")
        .args(["--quoting-style=literal", "-tzf"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(listing.status.success());
    let wanted = [b"uploadfile/", GBK, b"-dir/", GBK, b".txt"].concat();
    assert!(
        listing.stdout.split(|&b| b == b'\n').any(|l| l == wanted),
        "{}",
        String::from_utf8_lossy(&listing.stdout)
    );

    let target = dir.path().join("restored");
    let restored = restore(&out, &target, "t1", &mut NoProgress).unwrap();
    assert_eq!(restored.files, 3);
    let mut expected = before;
    expected.retain(|_, v| v.0 != "other");
    assert_eq!(tree(&target.join("uploadfile")), expected);
}

#[test]
fn a_manifest_whose_bytes_do_not_match_its_text_is_refused() {
    let mut entry = manifest::Entry {
        path: String::new(),
        path_hex: None,
        kind: manifest::EntryKind::Dir,
        size: 0,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 1,
        sha256: None,
        target: None,
        target_hex: None,
    };
    entry.set_path(&[b"up/", GBK].concat());
    assert_eq!(entry.path, "up/\\xC4\\xE3\\xBA\\xC3");
    let mut root = entry.clone();
    root.set_path(b"up");
    let good = Manifest::for_tests(&["up"], vec![root.clone(), entry.clone()]);
    assert!(good.check().is_ok());
    // Text and bytes telling two different names: which one would restore write?
    entry.path_hex = Some(hex::encode(b"up/other"));
    let bad = Manifest::for_tests(&["up"], vec![root, entry]);
    let problem = bad.check().unwrap_err();
    assert!(
        format!("{problem:?}").contains("path_hex does not match the path"),
        "{problem:?}"
    );
}

/// What a container's `tar -xf -` gets when a volume is restored: the same bytes.
#[test]
fn the_stream_into_a_volume_carries_names_as_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let staged = dir.path().join("vol");
    fs::create_dir_all(&staged).unwrap();
    fs::write(staged.join(name(&[GBK, b".png"])), b"png").unwrap();
    let root = "docker-volumes/xz_up";
    let mut file = manifest::Entry {
        path: String::new(),
        path_hex: None,
        kind: manifest::EntryKind::File,
        size: 3,
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
        sha256: Some("a".repeat(64)),
        target: None,
        target_hex: None,
    };
    file.set_path(&[root.as_bytes(), b"/", GBK, b".png"].concat());
    let mut dir_entry = file.clone();
    dir_entry.set_path(root.as_bytes());
    dir_entry.kind = manifest::EntryKind::Dir;
    dir_entry.size = 0;
    dir_entry.sha256 = None;
    let manifest = Manifest::for_tests(&[root], vec![dir_entry, file]);
    let mut stream = Vec::new();
    restore::write_tar(&mut stream, &staged, root, &manifest).unwrap();
    let mut reader = helper::TarReader::new(&stream[..]);
    let mut got = Vec::new();
    while let Some(m) = reader.next_member().unwrap() {
        let mut data = vec![0u8; 8];
        let n = reader.data(&mut data).unwrap();
        data.truncate(n);
        got.push((m.path, data));
    }
    assert_eq!(
        got,
        [
            (Vec::new(), Vec::new()),
            ([GBK, b".png"].concat(), b"png".to_vec())
        ]
    );
}
