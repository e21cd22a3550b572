//! A named volume whose mountpoint this process cannot read (xzup run by a user of the
//! `docker` group, not root: `/var/lib/docker` is root's; a driver that mounts the content
//! only into containers) is read and written through a throwaway container that mounts it:
//! `docker run --rm --network none -v VOLUME:/xzup-volume --entrypoint tar IMAGE …`, with
//! the image of the service that uses the volume (present: the stack runs it) and the `tar`
//! in it (GNU tar, or busybox's).
//!
//! - Reading: `tar -cf - -C /xzup-volume .` streams the content with its modes, owners (as
//!   numbers) and times. The backup's walk reads the stream's headers once to fix the
//!   manifest, and a second stream gives the data, member by member in the same order (a
//!   member that differs between the two means the volume changed: the backup fails).
//! - Writing (restore): what stood in the volume is moved into a new volume first (the
//!   same quarantine rule as on the host: nothing is deleted), then a tar stream built from
//!   the verified staging copy, with the owners and modes of the manifest, is extracted
//!   into the volume by `tar -xf -` running as root in the container.
//!
//! [`TarReader`] reads the headers `tar -c` writes (ustar, GNU long names, pax records)
//! without the `tar` crate's `Archive`, whose entries borrow it and cannot be kept open
//! across the backup's loop.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use super::BackupError;
use super::manifest::EntryKind;
use crate::docker::Docker;

/// Where the helper container mounts the volume.
const MOUNT: &str = "/xzup-volume";

/// A volume, and the image whose container reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Helper {
    pub volume: String,
    pub image: String,
}

impl Helper {
    fn program(&self) -> std::ffi::OsString {
        Docker::new().program().to_os_string()
    }

    /// `docker run --rm --network none -v VOLUME:/xzup-volume[:ro] --entrypoint E IMAGE ARGS`.
    fn args(
        &self,
        read_only: bool,
        interactive: bool,
        entrypoint: &str,
        args: &[&str],
    ) -> Vec<String> {
        let mut argv = vec!["run".to_string(), "--rm".to_string()];
        if interactive {
            argv.push("-i".to_string());
        }
        argv.extend(
            [
                "--network",
                "none",
                "--label",
                "org.xzup.helper=volume",
                "-v",
            ]
            .map(String::from),
        );
        argv.push(format!(
            "{}:{MOUNT}{}",
            self.volume,
            if read_only { ":ro" } else { "" }
        ));
        argv.extend(["--entrypoint".to_string(), entrypoint.to_string()]);
        argv.push(self.image.clone());
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    fn failed(&self, what: &str, detail: String) -> BackupError {
        BackupError::BadSource {
            path: PathBuf::from(format!("volume `{}`", self.volume)),
            reason: format!(
                "{what} through a container of `{}` failed: {}",
                self.image,
                detail.trim()
            ),
        }
    }

    /// The volume's content as a tar stream (read-only mount).
    pub fn read(&self) -> Result<TarReader<VolumeStream>, BackupError> {
        let args = self.args(true, false, "tar", &["-cf", "-", "-C", MOUNT, "."]);
        log::debug!("$ docker {}", args.join(" "));
        let handle = duct::cmd(self.program(), &args)
            .stdin_null()
            .stderr_capture()
            .unchecked()
            .reader()
            .map_err(|e| self.failed("reading the volume", e.to_string()))?;
        Ok(TarReader::new(VolumeStream {
            handle,
            helper: self.clone(),
        }))
    }

    /// Every member of the volume, in the order [`Helper::read`] streams them.
    pub fn list(&self) -> Result<Vec<Member>, BackupError> {
        let mut reader = self.read()?;
        let mut members = Vec::new();
        while let Some(member) = reader
            .next_member()
            .map_err(|e| self.stream_error(&reader, e))?
        {
            members.push(member);
        }
        reader.finish().map_err(|e| self.stream_error(&reader, e))?;
        Ok(members)
    }

    fn stream_error(&self, reader: &TarReader<VolumeStream>, e: io::Error) -> BackupError {
        let stderr = reader.inner.stderr();
        self.failed(
            "reading the volume",
            if stderr.is_empty() {
                e.to_string()
            } else {
                stderr
            },
        )
    }

    /// Runs `sh -c SCRIPT` in a container with the volume (and `extra` volumes) mounted
    /// read-write; its stdout.
    fn shell(&self, script: &str, extra: &[(&str, &str)]) -> Result<String, BackupError> {
        let mut args = self.args(false, false, "sh", &["-c", script]);
        // Extra mounts go before the image name.
        let image_at = args
            .iter()
            .position(|a| *a == self.image)
            .expect("the image is in the argv");
        for (volume, at) in extra.iter().rev() {
            args.insert(image_at - 2, format!("{volume}:{at}"));
            args.insert(image_at - 2, "-v".to_string());
        }
        log::debug!("$ docker {}", args.join(" "));
        let out = duct::cmd(self.program(), &args)
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| self.failed("changing the volume", e.to_string()))?;
        if !out.status.success() {
            return Err(self.failed(
                "changing the volume",
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether the volume holds nothing.
    pub fn is_empty(&self) -> Result<bool, BackupError> {
        Ok(self
            .shell(&format!("ls -A {MOUNT} | head -n 1"), &[])?
            .trim()
            .is_empty())
    }

    /// Moves everything in the volume into the volume `into` (which the caller made).
    pub fn move_into(&self, into: &str) -> Result<(), BackupError> {
        let script = format!(
            "cd {MOUNT} && for f in .[!.]* ..?* *; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then mv -- \"$f\" /xzup-quarantine/ || exit 1; fi; done"
        );
        self.shell(&script, &[(into, "/xzup-quarantine")])
            .map(|_| ())
    }

    /// Extracts the tar stream `write` produces into the volume (as root in the container,
    /// so owners, modes and times are those of the stream).
    pub fn extract(
        &self,
        write: impl FnOnce(&mut dyn Write) -> Result<(), BackupError>,
    ) -> Result<(), BackupError> {
        let args = self.args(false, true, "tar", &["-xf", "-", "-C", MOUNT]);
        log::debug!("$ docker {}", args.join(" "));
        let (reader, mut writer) =
            io::pipe().map_err(|e| self.failed("writing the volume", e.to_string()))?;
        let handle = duct::cmd(self.program(), &args)
            .stdin_file(reader)
            .stdout_null()
            .stderr_capture()
            .unchecked()
            .start()
            .map_err(|e| self.failed("writing the volume", e.to_string()))?;
        let written = write(&mut writer);
        drop(writer);
        let output = handle
            .wait()
            .map_err(|e| self.failed("writing the volume", e.to_string()))?;
        written?;
        if !output.status.success() {
            return Err(self.failed(
                "writing the volume",
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ));
        }
        Ok(())
    }
}

/// The stdout of a reading helper container.
pub(crate) struct VolumeStream {
    handle: duct::ReaderHandle,
    helper: Helper,
}

impl VolumeStream {
    /// What the container printed on stderr, once it ended.
    fn stderr(&self) -> String {
        match self.handle.try_wait() {
            Ok(Some(out)) => String::from_utf8_lossy(&out.stderr).trim().to_string(),
            _ => String::new(),
        }
    }

    /// Fails unless the container ended well.
    fn check(&self) -> io::Result<()> {
        match self.handle.try_wait()? {
            Some(out) if out.status.success() => Ok(()),
            Some(out) => Err(io::Error::other(format!(
                "`tar` in `{}` ended with {}: {}",
                self.helper.image,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))),
            None => Ok(()),
        }
    }
}

impl Read for VolumeStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.handle).read(buf)
    }
}

/// One member of a tar stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// Relative to the archived dir, `./` and a trailing `/` cut: `""` for the dir itself.
    pub path: Vec<u8>,
    /// `None` for a type the backup does not keep (hard link, device, fifo).
    pub kind: Option<EntryKind>,
    /// The tar type byte, for messages.
    pub type_byte: u8,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
    pub link: Option<Vec<u8>>,
}

/// Reads the members of a tar stream one after the other; [`TarReader::data`] reads the
/// current member's content.
pub(crate) struct TarReader<R: Read> {
    inner: R,
    /// Bytes of the current member's data not read yet, and the padding after it.
    left: u64,
    pad: u64,
}

const BLOCK: usize = 512;

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> TarReader<R> {
        TarReader {
            inner,
            left: 0,
            pad: 0,
        }
    }

    /// The next member (the rest of the current one skipped), `None` at the end.
    pub fn next_member(&mut self) -> io::Result<Option<Member>> {
        self.skip(self.left + self.pad)?;
        self.left = 0;
        self.pad = 0;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        loop {
            let mut block = [0u8; BLOCK];
            if !self.fill(&mut block)? {
                return Ok(None);
            }
            if block.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            let header = tar::Header::from_byte_slice(&block);
            let size = header.entry_size()?;
            let type_byte = block[156];
            match type_byte {
                b'L' | b'K' | b'x' | b'g' => {
                    let mut data = vec![0u8; usize::try_from(size).map_err(io::Error::other)?];
                    if !self.fill(&mut data)? {
                        return Err(truncated());
                    }
                    self.skip(padding(size))?;
                    match type_byte {
                        b'L' => long_name = Some(trim_nul(data)),
                        b'K' => long_link = Some(trim_nul(data)),
                        b'x' => pax = pax_records(&data),
                        _ => {}
                    }
                    continue;
                }
                _ => {}
            }
            let pax_value = |key: &str| pax.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            let path = pax_value("path")
                .or(long_name)
                .unwrap_or_else(|| header.path_bytes().into_owned());
            let link = pax_value("linkpath")
                .or(long_link)
                .or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
            let number = |key: &str| -> Option<u64> {
                let text = String::from_utf8(pax_value(key)?).ok()?;
                text.split('.').next()?.parse().ok()
            };
            let size = number("size").unwrap_or(size);
            let kind = match type_byte {
                b'0' | 0 | b'7' => Some(EntryKind::File),
                b'5' => Some(EntryKind::Dir),
                b'2' => Some(EntryKind::Symlink),
                _ => None,
            };
            let member = Member {
                path: relative(&path),
                kind,
                type_byte,
                size: if kind == Some(EntryKind::File) {
                    size
                } else {
                    0
                },
                mode: header.mode()? & 0o7777,
                uid: number("uid").map_or(header.uid()?, |v| v) as u32,
                gid: number("gid").map_or(header.gid()?, |v| v) as u32,
                mtime: number("mtime").map_or(header.mtime()?, |v| v),
                link: if kind == Some(EntryKind::Symlink) || type_byte == b'1' {
                    link
                } else {
                    None
                },
            };
            // Hard links and the like carry no data in the stream, whatever their size says.
            let data = if type_byte == b'1' || type_byte == b'2' || type_byte == b'5' {
                0
            } else {
                size
            };
            self.left = data;
            self.pad = padding(data);
            return Ok(Some(member));
        }
    }

    /// Reads the current member's data (at most what is left of it).
    pub fn data(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(truncated());
        }
        self.left -= n as u64;
        Ok(n)
    }

    /// Reads to the end of the stream.
    fn drain(&mut self) -> io::Result<()> {
        io::copy(&mut self.inner, &mut io::sink()).map(|_| ())
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        let copied = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())?;
        if copied != n {
            return Err(truncated());
        }
        Ok(())
    }

    /// Fills `buf`; false at a clean end before its first byte.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => return Err(truncated()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl TarReader<VolumeStream> {
    /// Reads the rest and checks that the container ended well.
    pub fn finish(&mut self) -> io::Result<()> {
        self.drain()?;
        self.inner.check()
    }
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the tar stream ended early")
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn trim_nul(mut data: Vec<u8>) -> Vec<u8> {
    while data.last() == Some(&0) {
        data.pop();
    }
    data
}

/// `LEN key=value\n` records of a pax header.
fn pax_records(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(space) = rest.iter().position(|&b| b == b' ') {
        let Some(len) = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
        else {
            break;
        };
        if len > rest.len() || len <= space + 1 {
            break;
        }
        let record = &rest[space + 1..len - 1];
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((
                String::from_utf8_lossy(&record[..eq]).into_owned(),
                record[eq + 1..].to_vec(),
            ));
        }
        rest = &rest[len..];
    }
    out
}

/// `./a/b/` → `a/b`; `./` → ``.
fn relative(path: &[u8]) -> Vec<u8> {
    let mut p = path;
    while let Some(rest) = p.strip_prefix(b"./") {
        p = rest;
    }
    if p == b"." {
        p = b"";
    }
    let mut out = p.to_vec();
    while out.last() == Some(&b'/') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar stream like `tar -cf - -C DIR .` writes, by the `tar` crate's builder.
    fn stream() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o750);
        dir.set_uid(999);
        dir.set_gid(999);
        dir.set_mtime(1_600_000_000);
        dir.set_size(0);
        b.append_data(&mut dir.clone(), "./", io::empty()).unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_mode(0o640);
        file.set_uid(999);
        file.set_gid(999);
        file.set_mtime(1_600_000_001);
        file.set_size(5);
        b.append_data(&mut file.clone(), "./ibdata1", &b"pages"[..])
            .unwrap();
        let long = format!("./{}/t.ibd", "x".repeat(120));
        file.set_size(600);
        b.append_data(&mut file, &long, &[7u8; 600][..]).unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_mode(0o777);
        link.set_uid(0);
        link.set_gid(0);
        link.set_mtime(1_600_000_002);
        link.set_size(0);
        b.append_link(&mut link, "./sub/", "../elsewhere").unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn reads_members_and_their_data() {
        let bytes = stream();
        let mut r = TarReader::new(&bytes[..]);
        let root = r.next_member().unwrap().unwrap();
        assert_eq!(root.path, b"");
        assert_eq!(root.kind, Some(EntryKind::Dir));
        assert_eq!(
            (root.mode, root.uid, root.mtime),
            (0o750, 999, 1_600_000_000)
        );
        let ib = r.next_member().unwrap().unwrap();
        assert_eq!((ib.path.as_slice(), ib.size), (&b"ibdata1"[..], 5));
        let mut buf = [0u8; 3];
        assert_eq!(r.data(&mut buf).unwrap(), 3);
        assert_eq!(&buf, b"pag");
        // The rest of the member is skipped by the next call.
        let long = r.next_member().unwrap().unwrap();
        assert_eq!(long.path.len(), 120 + "/t.ibd".len());
        assert_eq!(long.size, 600);
        let mut data = Vec::new();
        let mut chunk = [0u8; 256];
        loop {
            let n = r.data(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            data.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(data, vec![7u8; 600]);
        let link = r.next_member().unwrap().unwrap();
        assert_eq!(link.kind, Some(EntryKind::Symlink));
        assert_eq!(link.path, b"sub");
        assert_eq!(link.link.as_deref(), Some(&b"../elsewhere"[..]));
        assert_eq!(r.next_member().unwrap(), None);
    }

    #[test]
    fn a_cut_stream_is_an_error() {
        let bytes = stream();
        let mut r = TarReader::new(&bytes[..700]);
        r.next_member().unwrap();
        assert!(r.next_member().is_err());
    }

    #[test]
    fn pax_records_override_the_header() {
        let records = b"31 path=./a/very/long/name.ibd\n16 mtime=1700.5\n";
        let parsed = pax_records(records);
        assert_eq!(
            parsed[0],
            ("path".into(), b"./a/very/long/name.ibd".to_vec())
        );
        assert_eq!(parsed[1], ("mtime".into(), b"1700.5".to_vec()));
        assert_eq!(relative(b"./a/b/"), b"a/b");
        assert_eq!(relative(b"."), b"");
    }

    #[test]
    fn the_helper_runs_without_network_and_reads_read_only() {
        let h = Helper {
            volume: "xz_dbdata".into(),
            image: "mysql:8.0".into(),
        };
        assert_eq!(
            h.args(true, false, "tar", &["-cf", "-"]).join(" "),
            "run --rm --network none --label org.xzup.helper=volume -v xz_dbdata:/xzup-volume:ro --entrypoint tar mysql:8.0 -cf -"
        );
        assert_eq!(
            h.args(false, true, "tar", &["-xf", "-"]).join(" "),
            "run --rm -i --network none --label org.xzup.helper=volume -v xz_dbdata:/xzup-volume --entrypoint tar mysql:8.0 -xf -"
        );
    }
}
