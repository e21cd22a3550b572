//! A volume this user cannot read at its mountpoint, copied into a directory through a
//! container of its service's image (the tar stream [`Helper::read`] gives): how a
//! pre-copy run stages such a volume once the stack is down.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::BackupError;
use super::helper::{Helper, Member, TarReader};
use super::manifest::EntryKind;

/// Copies the content of `volume` (read through a container of `image`) into `into`,
/// which must not exist; owners, modes and mtimes as the stream has them.
pub(crate) fn stage_volume(volume: &str, image: &str, into: &Path) -> Result<(), BackupError> {
    let helper = Helper {
        volume: volume.to_string(),
        image: image.to_string(),
    };
    let mut reader = helper.read()?;
    extract(&mut reader, into).map_err(|e| BackupError::io("stage the volume into", into, e))?;
    reader
        .finish()
        .map_err(|e| BackupError::io("stage the volume into", into, e))
}

/// Writes every member of `reader` under `into` (made); directories get their mode and
/// time after their content.
pub(super) fn extract<R: Read>(reader: &mut TarReader<R>, into: &Path) -> io::Result<()> {
    fs::create_dir(into)?;
    let mut dirs: Vec<(PathBuf, Member)> = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    while let Some(member) = reader.next_member()? {
        let rel = Path::new(std::ffi::OsStr::from_bytes(&member.path));
        if rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unsafe path in the volume's stream: {}", rel.display()),
            ));
        }
        let path = into.join(rel);
        match member.kind {
            Some(EntryKind::Dir) => {
                if !member.path.is_empty() {
                    fs::create_dir_all(&path)?;
                }
                dirs.push((path, member));
            }
            Some(EntryKind::File) => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                loop {
                    let n = reader.data(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    file.write_all(&buf[..n])?;
                }
                owner_mode_time(&path, &member, Some(&file))?;
            }
            Some(EntryKind::Symlink) => {
                let target = member.link.clone().unwrap_or_default();
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &path)?;
                std::os::unix::fs::lchown(&path, Some(member.uid), Some(member.gid))?;
            }
            // What an archive does not keep (devices, fifos, hard links) is not staged.
            None => {}
        }
    }
    for (path, member) in dirs.iter().rev() {
        owner_mode_time(path, member, None)?;
    }
    Ok(())
}

fn owner_mode_time(path: &Path, member: &Member, open: Option<&File>) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(member.uid), Some(member.gid))?;
    fs::set_permissions(path, fs::Permissions::from_mode(member.mode & 0o7777))?;
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(member.mtime);
    match open {
        Some(file) => file.set_modified(mtime),
        None => File::open(path)?.set_modified(mtime),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_volume_stream_is_staged_with_its_files_links_modes_and_times() {
        let tmp = tempfile::tempdir().unwrap();
        // Our own ids: lchown to them works without root.
        let me = fs::metadata(tmp.path()).unwrap();
        let own = |h: &mut tar::Header| {
            h.set_uid(me.uid().into());
            h.set_gid(me.gid().into());
        };
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o750);
        dir.set_mtime(1_700_000_000);
        dir.set_size(0);
        own(&mut dir);
        builder.append_data(&mut dir, "./db/", io::empty()).unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_mode(0o640);
        file.set_mtime(1_700_000_100);
        file.set_size(5);
        own(&mut file);
        builder
            .append_data(&mut file, "./db/t.ibd", &b"rows!"[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        link.set_mode(0o777);
        link.set_mtime(1_700_000_000);
        own(&mut link);
        builder
            .append_link(&mut link, "./current", "db/t.ibd")
            .unwrap();
        let bytes = builder.into_inner().unwrap();

        let into = tmp.path().join("vol");
        extract(&mut TarReader::new(&bytes[..]), &into).unwrap();
        assert_eq!(fs::read(into.join("db/t.ibd")).unwrap(), b"rows!");
        let f = fs::metadata(into.join("db/t.ibd")).unwrap();
        assert_eq!((f.mode() & 0o7777, f.mtime()), (0o640, 1_700_000_100));
        let d = fs::metadata(into.join("db")).unwrap();
        assert_eq!((d.mode() & 0o7777, d.mtime()), (0o750, 1_700_000_000));
        assert_eq!(
            fs::read_link(into.join("current")).unwrap(),
            Path::new("db/t.ibd")
        );
        // Nothing outside `into`.
        let mut evil = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        own(&mut h);
        // `append_data` refuses `..`: write the name into the header by hand.
        h.as_old_mut().name[..10].copy_from_slice(b"../escape\0");
        h.set_cksum();
        evil.append(&h, &b"x"[..]).unwrap();
        let bytes = evil.into_inner().unwrap();
        let err = extract(&mut TarReader::new(&bytes[..]), &tmp.path().join("vol2")).unwrap_err();
        assert!(err.to_string().contains("unsafe path"), "{err}");
        assert!(!tmp.path().join("escape").exists());
    }
}
