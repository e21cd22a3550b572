//! The walk before a backup: every entry under the data paths, with its metadata, in
//! archive order (each directory before its contents, names sorted). A data path itself is
//! read where it points (its host path has the symlinks followed, as Docker mounts it);
//! below it symlinks are never followed. Sockets, fifos and devices are set aside with a
//! reason.
//!
//! The walk reads metadata only. It fixes the manifest (but for the sums) and the byte total
//! before any data is read; see the module doc of [`super`].

use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::BackupError;
use super::helper::Helper;
use super::manifest::{
    Entry, EntryKind, SkipReason, Skipped, bytes_path, escape_name, safe_relative,
};
use crate::datapath::DataPath;

/// What the walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// The data paths' names, normalised, without ones inside another, sorted.
    pub roots: Vec<String>,
    /// Every entry, sha256 not yet known.
    pub entries: Vec<Entry>,
    /// Where each entry is read (index for index with `entries`): a few bytes an entry,
    /// the paths themselves follow from the roots below.
    pub sources: Vec<Source>,
    /// The roots read on the host: name in the archive, host path.
    pub hosts: Vec<(String, PathBuf)>,
    /// The volumes read through a container, with their names in the archive.
    pub helpers: Vec<(String, Helper)>,
    pub skipped: Vec<Skipped>,
    /// Sum of file sizes.
    pub data_bytes: u64,
}

/// Where an entry's data is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Under the root `hosts[i]` on the host.
    Host(usize),
    /// In the stream of `helpers[i]`.
    Stream(usize),
}

impl Walk {
    /// Where `entry`, under the root `hosts[i]`, is on the host.
    pub fn host_path(&self, i: usize, entry: &Entry) -> PathBuf {
        let (name, host) = &self.hosts[i];
        match below(name, &entry.path_bytes()) {
            [] => host.clone(),
            rest => host.join(bytes_path(rest)),
        }
    }
}

/// The bytes of `path` relative to the root `name` (empty for the root itself).
pub fn below<'a>(name: &str, path: &'a [u8]) -> &'a [u8] {
    match path.strip_prefix(name.as_bytes()) {
        Some(rest) => {
            let start = rest.iter().take_while(|&&b| b == b'/').count();
            &rest[start..]
        }
        None => path,
    }
}

/// Walks `paths`, leaving out the directory `exclude` (where the archive goes) wherever it
/// turns up.
pub fn walk(paths: &[DataPath], exclude: Option<&Path>) -> Result<Walk, BackupError> {
    let roots = normalise_roots(paths)?;
    let exclude = exclude
        .and_then(|d| fs::metadata(d).ok())
        .map(|m| (m.dev(), m.ino()));
    let mut walk = Walk::default();
    for (name, host, helper) in &roots {
        if let Some(helper) = helper {
            visit_volume(&mut walk, name, helper)?;
            continue;
        }
        // The data path itself is followed: Docker mounts what a symlink points to.
        let meta = fs::metadata(host).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                BackupError::BadSource {
                    path: name.into(),
                    reason: format!("`{}` does not exist", host.display()),
                }
            } else {
                BackupError::io("read", host, e)
            }
        })?;
        if meta.is_dir() && exclude == Some((meta.dev(), meta.ino())) {
            return Err(BackupError::BadSource {
                path: name.into(),
                reason: "the archive would be written into it: write it elsewhere".into(),
            });
        }
        let index = walk.hosts.len();
        walk.hosts.push((name.clone(), host.clone()));
        visit(
            &mut walk,
            index,
            name.as_bytes().to_vec(),
            host,
            &meta,
            exclude,
        )?;
    }
    walk.roots = roots.into_iter().map(|(name, _, _)| name).collect();
    Ok(walk)
}

/// A volume read through a container: its members as the helper's `tar` lists them (a
/// directory before its contents), named under `name`.
fn visit_volume(walk: &mut Walk, name: &str, helper: &Helper) -> Result<(), BackupError> {
    let members = helper.list()?;
    let index = walk.helpers.len();
    walk.helpers.push((name.to_string(), helper.clone()));
    let bad = |reason: String| BackupError::BadSource {
        path: name.into(),
        reason,
    };
    match members.first() {
        Some(m) if m.path.is_empty() && m.kind == Some(EntryKind::Dir) => {}
        _ => {
            return Err(bad(
                "the volume's stream does not start with its root".into()
            ));
        }
    }
    for member in members {
        let mut raw = name.as_bytes().to_vec();
        if !member.path.is_empty() {
            raw.push(b'/');
            raw.extend_from_slice(&member.path);
        }
        let path = escape_name(&raw);
        let skip = |walk: &mut Walk, reason| {
            walk.skipped.push(Skipped {
                path: path.clone(),
                reason,
            })
        };
        if raw.contains(&0) || safe_relative(&path).ok().as_deref() != Some(Path::new(&path)) {
            return Err(bad(format!("the volume's stream holds `{path}`")));
        }
        let kind = match (member.kind, member.type_byte) {
            (Some(kind), _) => kind,
            (None, b'1') => {
                return Err(bad(format!(
                    "`{path}` is a hard link, which xzup does not back up: make it a copy"
                )));
            }
            (None, b'6') => {
                skip(walk, SkipReason::Fifo);
                continue;
            }
            (None, _) => {
                skip(walk, SkipReason::Device);
                continue;
            }
        };
        walk.data_bytes += member.size;
        walk.sources.push(Source::Stream(index));
        let mut entry = Entry {
            path,
            path_hex: None,
            kind,
            size: member.size,
            mode: member.mode,
            uid: member.uid,
            gid: member.gid,
            mtime: member.mtime,
            sha256: None,
            target: None,
            target_hex: None,
        };
        entry.set_path(&raw);
        if let Some(link) = &member.link {
            entry.set_target(link);
        }
        walk.entries.push(entry);
    }
    Ok(())
}

/// Checks and normalises the names: relative, no `..`, not xzup's `.xzup` state dir; drops
/// duplicates and names inside another. Each with the host path it is read from.
fn normalise_roots(
    paths: &[DataPath],
) -> Result<Vec<(String, PathBuf, Option<Helper>)>, BackupError> {
    let mut roots: Vec<(String, PathBuf, Option<Helper>)> = Vec::new();
    for path in paths {
        let rel = safe_relative(&path.name).map_err(|_| BackupError::BadSource {
            path: PathBuf::from(&path.name),
            reason:
                "give a path relative to the deployment dir, inside it, not its `.xzup` state dir"
                    .into(),
        })?;
        let name = rel.to_str().expect("came from a str").to_string();
        let helper = match (&path.through_image, path.origin.volume()) {
            (Some(image), Some(volume)) => Some(Helper {
                volume: volume.to_string(),
                image: image.clone(),
            }),
            _ => None,
        };
        roots.push((name, path.host.clone(), helper));
    }
    roots.sort_by(|a, b| a.0.cmp(&b.0));
    roots.dedup_by(|b, a| a.0 == b.0);
    let mut kept: Vec<(String, PathBuf, Option<Helper>)> = Vec::with_capacity(roots.len());
    for r in roots {
        // Sorted, so a parent comes right before its children.
        if !kept.iter().any(|k| Path::new(&r.0).starts_with(&k.0)) {
            kept.push(r);
        }
    }
    Ok(kept)
}

fn visit(
    walk: &mut Walk,
    root: usize,
    rel: Vec<u8>,
    abs: &Path,
    meta: &Metadata,
    exclude: Option<(u64, u64)>,
) -> Result<(), BackupError> {
    let ft = meta.file_type();
    let skip = |walk: &mut Walk, reason| {
        walk.skipped.push(Skipped {
            path: escape_name(&rel),
            reason,
        });
    };
    let kind = if ft.is_file() {
        EntryKind::File
    } else if ft.is_dir() {
        if exclude == Some((meta.dev(), meta.ino())) {
            skip(walk, SkipReason::BackupDir);
            return Ok(());
        }
        EntryKind::Dir
    } else if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_socket() {
        skip(walk, SkipReason::Socket);
        return Ok(());
    } else if ft.is_fifo() {
        skip(walk, SkipReason::Fifo);
        return Ok(());
    } else {
        skip(walk, SkipReason::Device);
        return Ok(());
    };
    let size = if kind == EntryKind::File {
        meta.len()
    } else {
        0
    };
    let mut entry = Entry {
        path: String::new(),
        path_hex: None,
        kind,
        size,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime().max(0) as u64,
        sha256: None,
        target: None,
        target_hex: None,
    };
    // Names are kept as the bytes they are (UTF-8 or not): a file is never left out for its
    // name.
    entry.set_path(&rel);
    if kind == EntryKind::Symlink {
        let target = fs::read_link(abs).map_err(|e| BackupError::io("read the link", abs, e))?;
        entry.set_target(target.as_os_str().as_bytes());
    }
    walk.data_bytes += size;
    walk.sources.push(Source::Host(root));
    walk.entries.push(entry);
    if kind == EntryKind::Dir {
        let mut children: Vec<(std::ffi::OsString, PathBuf)> = fs::read_dir(abs)
            .map_err(|e| BackupError::io("read the directory", abs, e))?
            .map(|child| child.map(|c| (c.file_name(), c.path())))
            .collect::<Result<_, _>>()
            .map_err(|e| BackupError::io("read the directory", abs, e))?;
        children.sort();
        for (name, path) in children {
            let child_meta =
                fs::symlink_metadata(&path).map_err(|e| BackupError::io("read", &path, e))?;
            let mut child = rel.clone();
            child.push(b'/');
            child.extend_from_slice(name.as_bytes());
            visit(walk, root, child, &path, &child_meta, exclude)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::datapath::Part;

    fn paths(root: &Path, names: &[&str]) -> Vec<DataPath> {
        names
            .iter()
            .map(|n| DataPath::in_deployment(root, n, Part::Included))
            .collect()
    }

    #[test]
    fn walks_in_order_without_following_links_below_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("data/sub")).unwrap();
        fs::write(root.join("data/b.txt"), "bb").unwrap();
        fs::write(root.join("data/sub/a"), "a").unwrap();
        symlink("/etc", root.join("data/etc")).unwrap();
        fs::write(root.join("compose.yml"), "x").unwrap();
        let walk = walk(&paths(root, &["data", "./compose.yml", "data/sub"]), None).unwrap();
        assert_eq!(walk.roots, ["compose.yml", "data"]);
        let paths: Vec<_> = walk.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "compose.yml",
                "data",
                "data/b.txt",
                "data/etc",
                "data/sub",
                "data/sub/a"
            ]
        );
        assert_eq!(walk.entries[3].target.as_deref(), Some("/etc"));
        assert_eq!(walk.data_bytes, 4);
        assert_eq!(walk.sources.len(), walk.entries.len());
    }

    #[test]
    fn a_symlinked_root_is_read_where_it_points() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("deploy");
        let real = dir.path().join("ssd/mysql-data");
        fs::create_dir_all(real.join("xiaozhi")).unwrap();
        fs::write(real.join("ibdata1"), "innodb").unwrap();
        fs::write(real.join("xiaozhi/t.ibd"), "rows").unwrap();
        fs::create_dir_all(root.join("mysql")).unwrap();
        symlink(&real, root.join("mysql/data")).unwrap();
        let walk = walk(&paths(&root, &["mysql/data"]), None).unwrap();
        let got: Vec<_> = walk
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("mysql/data", EntryKind::Dir),
                ("mysql/data/ibdata1", EntryKind::File),
                ("mysql/data/xiaozhi", EntryKind::Dir),
                ("mysql/data/xiaozhi/t.ibd", EntryKind::File),
            ]
        );
        assert_eq!(walk.sources[1], Source::Host(0));
        assert_eq!(
            walk.host_path(0, &walk.entries[3]),
            fs::canonicalize(&real).unwrap().join("xiaozhi/t.ibd")
        );
        assert_eq!(
            walk.host_path(0, &walk.entries[0]),
            fs::canonicalize(&real).unwrap()
        );
        assert_eq!(walk.data_bytes, 10);
    }

    #[test]
    fn sockets_fifos_and_the_backup_dir_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("data/backups")).unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(root.join("data/mysql.sock")).unwrap();
        let fifo = std::ffi::CString::new(root.join("data/pipe").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let walk = walk(&paths(root, &["data"]), Some(&root.join("data/backups"))).unwrap();
        let skipped: Vec<_> = walk
            .skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason))
            .collect();
        assert_eq!(
            skipped,
            [
                ("data/backups", SkipReason::BackupDir),
                ("data/mysql.sock", SkipReason::Socket),
                ("data/pipe", SkipReason::Fifo),
            ]
        );
        assert_eq!(walk.entries.len(), 1);
    }

    #[test]
    fn names_that_are_not_utf8_are_kept_as_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("up")).unwrap();
        // `你` in GBK, then Latin-1 `é`: neither is UTF-8.
        let name = std::ffi::OsStr::from_bytes(b"\xc4\xe3caf\xe9.txt");
        fs::write(root.join("up").join(name), "x").unwrap();
        fs::write(root.join("up/ok.txt"), "y").unwrap();
        std::os::unix::fs::symlink(name, root.join("up/link")).unwrap();
        let walk = walk(&paths(root, &["up"]), None).unwrap();
        assert_eq!(walk.skipped, []);
        let names: Vec<_> = walk.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            names,
            ["up", "up/link", "up/ok.txt", "up/\\xC4\\xE3caf\\xE9.txt"]
        );
        let odd = &walk.entries[3];
        assert_eq!(&odd.path_bytes()[..], b"up/\xc4\xe3caf\xe9.txt");
        assert_eq!(odd.path_hex.as_deref(), Some("75702fc4e3636166e92e747874"));
        assert_eq!(walk.host_path(0, odd), root.join("up").join(name));
        let link = &walk.entries[1];
        assert_eq!(&link.target_bytes()[..], b"\xc4\xe3caf\xe9.txt");
        assert_eq!(link.target.as_deref(), Some("\\xC4\\xE3caf\\xE9.txt"));
        assert_eq!(walk.data_bytes, 2);
    }

    #[test]
    fn bad_requests_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("real")).unwrap();
        for (path, expect) in [
            ("missing", "does not exist"),
            ("/etc", "relative to the deployment dir"),
            ("../x", "relative to the deployment dir"),
            (".xzup", "relative to the deployment dir"),
        ] {
            let err = walk(&paths(root, &[path]), None).unwrap_err();
            assert!(err.to_string().contains(expect), "{path}: {err}");
        }
        let err = walk(&paths(root, &["real"]), Some(&root.join("real"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot back up `real`: the archive would be written into it: write it elsewhere"
        );
    }
}
