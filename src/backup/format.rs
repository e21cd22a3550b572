//! The bytes of the archive: tar headers (GNU, with `././@LongLink` members for long names,
//! as GNU tar writes them) and the first gzip member, which holds the manifest in a room of
//! a size fixed before the data is written (see the module doc of [`super`]).

use std::io::{self, Write};

use super::manifest::{Entry, EntryKind, MANIFEST_PATH};

pub const BLOCK: usize = 512;

/// The name GNU tar gives the member carrying a long path or link target.
const LONG_LINK: &[u8] = b"././@LongLink";

/// Bytes of the `name` and `linkname` fields of a tar header.
const NAME_FIELD: usize = 100;

/// Bytes from `len` to the next 512-byte boundary.
pub fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

/// Writes the header(s) of `entry`: a long-name member first when the path or link target
/// does not fit, then the entry's own header. The data (files) follows, then [`padding`].
pub fn write_header(out: &mut impl Write, entry: &Entry) -> io::Result<()> {
    let mut name = entry.path_bytes().into_owned();
    if entry.kind == EntryKind::Dir {
        // Directories end in `/`, as tar writes them.
        name.push(b'/');
    }
    if name.len() > NAME_FIELD {
        write_long(out, tar::EntryType::GNULongName, &name)?;
    }
    let target = entry.target_bytes();
    if target.len() > NAME_FIELD {
        write_long(out, tar::EntryType::GNULongLink, &target)?;
    }
    let mut header = tar::Header::new_gnu();
    let (kind, size) = match entry.kind {
        EntryKind::File => (tar::EntryType::Regular, entry.size),
        EntryKind::Dir => (tar::EntryType::Directory, 0),
        EntryKind::Symlink => (tar::EntryType::Symlink, 0),
    };
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(entry.mode);
    header.set_uid(u64::from(entry.uid));
    header.set_gid(u64::from(entry.gid));
    header.set_mtime(entry.mtime);
    let fields = header.as_old_mut();
    copy_truncated(&mut fields.name, &name);
    copy_truncated(&mut fields.linkname, &target);
    header.set_cksum();
    out.write_all(header.as_bytes())
}

/// A `././@LongLink` member (type `L` for a path, `K` for a link target): the bytes and a
/// NUL, padded to a block.
fn write_long(out: &mut impl Write, kind: tar::EntryType, bytes: &[u8]) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(bytes.len() as u64 + 1);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    copy_truncated(&mut header.as_old_mut().name, LONG_LINK);
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    out.write_all(bytes)?;
    out.write_all(&[0])?;
    out.write_all(&[0; BLOCK][..padding(bytes.len() as u64 + 1)])
}

/// Copies `bytes` into a header field, cut to its width (the long-name member has the rest).
fn copy_truncated(field: &mut [u8], bytes: &[u8]) {
    let n = bytes.len().min(field.len());
    field[..n].copy_from_slice(&bytes[..n]);
}

/// The end of a tar archive: two zero blocks.
pub const END_OF_ARCHIVE: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// The tar bytes of the manifest member (header and padded JSON), with no end-of-archive:
/// the data member continues the same tar stream.
pub fn manifest_tar(json: &[u8], mtime: u64, uid: u32, gid: u32) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_uid(u64::from(uid));
    header.set_gid(u64::from(gid));
    header.set_mtime(mtime);
    copy_truncated(&mut header.as_old_mut().name, MANIFEST_PATH.as_bytes());
    header.set_cksum();
    let mut out = Vec::with_capacity(manifest_tar_len(json.len()));
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(json);
    out.resize(manifest_tar_len(json.len()), 0);
    out
}

/// Length of [`manifest_tar`] for a JSON of `json_len` bytes.
pub fn manifest_tar_len(json_len: usize) -> usize {
    BLOCK + json_len + padding(json_len as u64)
}

/// Largest payload of one stored deflate block.
const STORED_MAX: usize = 65_535;

/// Length of `len` bytes as stored deflate blocks (5 bytes of header per block).
fn stored_len(len: usize) -> usize {
    len + 5 * len.div_ceil(STORED_MAX).max(1)
}

/// The gzip header's fixed part: magic, deflate, flags = FCOMMENT, no mtime, unix.
const GZIP_HEAD: [u8; 10] = [0x1f, 0x8b, 8, 0x10, 0, 0, 0, 0, 0, 3];

/// The start of the comment that pads the manifest member (so `gzip -l -v` or a hex dump
/// shows what the spaces are for).
const COMMENT: &[u8] = b"xzup manifest; padded ";

/// Bytes of a gzip member: header (10), comment and its NUL, data, CRC and size (8).
fn member_len(comment_len: usize, tar_len: usize) -> usize {
    GZIP_HEAD.len() + comment_len + 1 + stored_len(tar_len) + 8
}

/// The room to reserve at the start of the archive for a manifest of at most `json_len`
/// bytes of JSON.
pub fn manifest_room(json_len: usize) -> usize {
    member_len(COMMENT.len(), manifest_tar_len(json_len))
}

/// The first gzip member: the manifest's tar bytes in stored deflate blocks, behind a gzip
/// header whose comment is padded so that the member is exactly `room` bytes. `None` when
/// the manifest does not fit (a bug: the room comes from the same manifest).
pub fn manifest_member(tar_bytes: &[u8], room: usize) -> Option<Vec<u8>> {
    let bare = member_len(COMMENT.len(), tar_bytes.len());
    let pad = room.checked_sub(bare)?;
    let mut out = Vec::with_capacity(room);
    out.extend_from_slice(&GZIP_HEAD);
    out.extend_from_slice(COMMENT);
    out.resize(out.len() + pad, b' ');
    out.push(0);
    let mut chunks = tar_bytes.chunks(STORED_MAX).peekable();
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = chunk.len() as u16;
        out.push(u8::from(last)); // BFINAL, BTYPE = 00 (stored); byte-aligned.
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let mut crc = flate2::Crc::new();
    crc.update(tar_bytes);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(tar_bytes.len() as u32).to_le_bytes());
    debug_assert_eq!(out.len(), room);
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn manifest_member_fills_its_room_and_decodes() {
        for json_len in [0usize, 1, 511, 512, 70_000, 200_000] {
            let json = vec![b'x'; json_len];
            let tar_bytes = manifest_tar(&json, 5, 0, 0);
            assert_eq!(tar_bytes.len(), manifest_tar_len(json_len));
            // Room for a larger manifest: the comment takes the difference.
            let room = manifest_room(json_len + 700);
            let member = manifest_member(&tar_bytes, room).unwrap();
            assert_eq!(member.len(), room);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&member[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, tar_bytes);
        }
    }

    #[test]
    fn a_manifest_too_big_for_its_room_is_refused() {
        let tar_bytes = manifest_tar(&[b'x'; 2000], 5, 0, 0);
        assert!(manifest_member(&tar_bytes, manifest_room(100)).is_none());
        assert!(manifest_member(&tar_bytes, manifest_room(2000)).is_some());
    }

    #[test]
    fn long_names_use_gnu_long_link_members() {
        let long = format!("{}/file", "d".repeat(150));
        let target = "t".repeat(120);
        let entry = Entry {
            path: long.clone(),
            path_hex: None,
            kind: EntryKind::Symlink,
            size: 0,
            mode: 0o777,
            uid: 999,
            gid: 999,
            mtime: 1_700_000_000,
            sha256: None,
            target: Some(target.clone()),
            target_hex: None,
        };
        let mut bytes = Vec::new();
        write_header(&mut bytes, &entry).unwrap();
        bytes.extend_from_slice(&END_OF_ARCHIVE);
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries: Vec<_> = archive.entries().unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(e.path_bytes().as_ref(), long.as_bytes());
        assert_eq!(e.link_name_bytes().unwrap().as_ref(), target.as_bytes());
        assert_eq!(e.header().uid().unwrap(), 999);
        assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
    }
}
