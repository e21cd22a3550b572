//! Reading an archive back: the manifest first, then every member checked against it as it
//! streams by (path, type, size, mode, owner, mtime, link target, sha256), then nothing
//! missing and nothing after the end. Verification and restore share this one loop; restore
//! passes a [`Sink`] that writes what the loop has checked.
//!
//! Decompression runs on its own thread, a few chunks ahead of the checking (bounded queue),
//! so the two cores share inflate and sha256.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::manifest::{
    Entry, EntryKind, MANIFEST_PATH, Manifest, ManifestProblem, ProblemKind, bytes_path,
    escape_name, safe_relative,
};
use super::{BackupError, NoProgress, Phase, ProgressSink, Refusal};

/// The largest manifest read (about 100,000 entries): keeps memory bounded on a bad file.
const MAX_MANIFEST: u64 = 32 << 20;

/// Bytes handed from the decompressing thread at a time, and how many may wait.
const CHUNK: usize = 256 * 1024;
const QUEUE: usize = 4;

/// Where the checked members go: nowhere (verify) or into a staging dir (restore).
pub(crate) trait Sink {
    fn dir(&mut self, entry: &Entry) -> Result<(), BackupError>;
    fn symlink(&mut self, entry: &Entry) -> Result<(), BackupError>;
    fn file_start(&mut self, entry: &Entry) -> Result<(), BackupError>;
    fn file_data(&mut self, data: &[u8]) -> Result<(), BackupError>;
    /// The file's data is complete and its sum matched.
    fn file_end(&mut self, entry: &Entry) -> Result<(), BackupError>;
}

/// Checks only.
struct Discard;

impl Sink for Discard {
    fn dir(&mut self, _: &Entry) -> Result<(), BackupError> {
        Ok(())
    }
    fn symlink(&mut self, _: &Entry) -> Result<(), BackupError> {
        Ok(())
    }
    fn file_start(&mut self, _: &Entry) -> Result<(), BackupError> {
        Ok(())
    }
    fn file_data(&mut self, _: &[u8]) -> Result<(), BackupError> {
        Ok(())
    }
    fn file_end(&mut self, _: &Entry) -> Result<(), BackupError> {
        Ok(())
    }
}

/// Reads the whole archive and checks every member against the manifest. Returns the
/// manifest when everything matches; otherwise the error names the first bad member.
pub fn verify(path: &Path) -> Result<Manifest, BackupError> {
    verify_with_progress(path, &mut NoProgress)
}

/// [`verify`], reporting progress.
pub fn verify_with_progress(
    path: &Path,
    progress: &mut dyn ProgressSink,
) -> Result<Manifest, BackupError> {
    read_archive(path, &mut Discard, progress, Phase::Verify, |_| Ok(()))
}

/// Reads only the manifest (the first member; a few KiB of a large archive), checked for
/// consistency and safety but not against the data.
pub fn read_manifest(path: &Path) -> Result<Manifest, BackupError> {
    let file = File::open(path).map_err(|e| BackupError::io("open", path, e))?;
    let decoder = MultiGzDecoder::new(BufReader::with_capacity(64 * 1024, file));
    let mut archive = tar::Archive::new(decoder);
    let mut entries = archive
        .entries()
        .map_err(|e| not_a_backup(path, e.to_string()))?;
    let manifest = take_manifest(&mut entries, path)?;
    manifest.check().map_err(|p| manifest_error(path, p))?;
    Ok(manifest)
}

/// The shared loop: manifest, `before` (the caller's checks on it, e.g. restore's target),
/// then each member into `sink`.
pub(crate) fn read_archive(
    path: &Path,
    sink: &mut dyn Sink,
    progress: &mut dyn ProgressSink,
    phase: Phase,
    before: impl FnOnce(&Manifest) -> Result<(), BackupError>,
) -> Result<Manifest, BackupError> {
    let file = File::open(path).map_err(|e| BackupError::io("open", path, e))?;
    let decoder = MultiGzDecoder::new(BufReader::with_capacity(CHUNK, file));
    let mut archive = tar::Archive::new(Prefetch::spawn(decoder));
    let mut entries = archive
        .entries()
        .map_err(|e| not_a_backup(path, e.to_string()))?;
    let manifest = take_manifest(&mut entries, path)?;
    let index = manifest.check().map_err(|p| manifest_error(path, p))?;
    before(&manifest)?;
    progress.phase(phase, manifest.data_bytes);

    let corrupt = |at: &str, e: io::Error| BackupError::Corrupt {
        path: path.to_path_buf(),
        at: Some(at.to_string()),
        detail: e.to_string(),
    };
    let refuse = |member: &str, reason: Refusal| BackupError::Refused {
        path: path.to_path_buf(),
        member: member.to_string(),
        reason,
    };
    let mut seen = vec![false; manifest.entries.len()];
    let mut last = MANIFEST_PATH.to_string();
    let mut buf = vec![0u8; CHUNK];
    for item in entries {
        if progress.stop_requested() {
            return Err(BackupError::Interrupted(phase));
        }
        let mut member = item.map_err(|e| corrupt(&last, e))?;
        let raw = member.path_bytes().into_owned();
        // A name that is not UTF-8 is found by its text in the manifest, then its bytes are
        // checked against the entry's.
        let name = escape_name(&raw);
        let normal = safe_relative(&name).map_err(|r| refuse(&name, r))?;
        let kind = match member.header().entry_type() {
            tar::EntryType::Regular => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            other => return Err(refuse(&name, Refusal::UnsupportedType(type_name(other)))),
        };
        let key = normal.to_str().expect("came from a str");
        let Some(&i) = index.get(key) else {
            return Err(refuse(&name, Refusal::NotInManifest));
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(refuse(&name, Refusal::Duplicate));
        }
        let entry = &manifest.entries[i];
        if (entry.path_hex.is_some() || std::str::from_utf8(&raw).is_err())
            && bytes_path(&raw)
                .components()
                .collect::<std::path::PathBuf>()
                != entry.fs_path()
        {
            return Err(refuse(&name, Refusal::NotInManifest));
        }
        let mismatch = |what, expected: String, found: String| BackupError::Mismatch {
            path: path.to_path_buf(),
            member: entry.path.clone(),
            what,
            expected,
            found,
        };
        if kind != entry.kind {
            return Err(mismatch(
                "type",
                entry.kind.name().into(),
                kind.name().into(),
            ));
        }
        check_header(member.header(), member.size(), entry)
            .map_err(|(what, expected, found)| mismatch(what, expected, found))?;
        match kind {
            EntryKind::Dir => sink.dir(entry)?,
            EntryKind::Symlink => {
                let target = member.link_name_bytes().map(|t| t.into_owned());
                let target = target.unwrap_or_default();
                if entry.target.is_none() || entry.target_bytes()[..] != target[..] {
                    return Err(mismatch(
                        "link target",
                        format!("`{}`", entry.target.as_deref().unwrap_or("")),
                        format!("`{}`", escape_name(&target)),
                    ));
                }
                sink.symlink(entry)?;
            }
            EntryKind::File => {
                sink.file_start(entry)?;
                let mut hasher = Sha256::new();
                let mut read = 0u64;
                loop {
                    let n = match member.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(corrupt(&entry.path, e)),
                    };
                    hasher.update(&buf[..n]);
                    sink.file_data(&buf[..n])?;
                    read += n as u64;
                    progress.advance(n as u64);
                    if progress.stop_requested() {
                        return Err(BackupError::Interrupted(phase));
                    }
                }
                if read != entry.size {
                    return Err(corrupt(
                        &entry.path,
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("{read} of {} bytes", entry.size),
                        ),
                    ));
                }
                let sum = hex::encode(hasher.finalize());
                let expected = entry.sha256.as_deref().unwrap_or("");
                if sum != expected {
                    return Err(mismatch("sha256", expected.to_string(), sum));
                }
                sink.file_end(entry)?;
            }
        }
        last.clear();
        last.push_str(&entry.path);
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(BackupError::MissingMember {
            path: path.to_path_buf(),
            member: manifest.entries[i].path.clone(),
        });
    }
    // Read on to the end: the gzip trailer's CRC is checked there, and nothing but the
    // end-of-archive zeros may follow the last member.
    let mut rest = archive.into_inner();
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(&last, e)),
        };
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(corrupt(
                &last,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "data after the end of the archive",
                ),
            ));
        }
    }
    Ok(manifest)
}

/// Compares a member's header with its manifest entry: (what, expected, found) on a
/// difference.
fn check_header(
    header: &tar::Header,
    size: u64,
    entry: &Entry,
) -> Result<(), (&'static str, String, String)> {
    let field = |what: &'static str, value: io::Result<u64>, expected: u64| match value {
        Ok(v) if v == expected => Ok(()),
        Ok(v) => Err((what, expected.to_string(), v.to_string())),
        Err(e) => Err((
            what,
            expected.to_string(),
            format!("an unreadable value ({e})"),
        )),
    };
    let expected_size = if entry.kind == EntryKind::File {
        entry.size
    } else {
        0
    };
    field("size", Ok(size), expected_size)?;
    let octal = |v: u64| format!("{v:o}");
    match header.mode() {
        Ok(m) if m & 0o7777 == entry.mode => {}
        Ok(m) => {
            return Err((
                "mode",
                octal(u64::from(entry.mode)),
                octal(u64::from(m & 0o7777)),
            ));
        }
        Err(e) => return Err(("mode", octal(u64::from(entry.mode)), e.to_string())),
    }
    field("uid", header.uid(), u64::from(entry.uid))?;
    field("gid", header.gid(), u64::from(entry.gid))?;
    field("mtime", header.mtime(), entry.mtime)
}

fn type_name(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Link => "hard link".into(),
        tar::EntryType::Char => "character device".into(),
        tar::EntryType::Block => "block device".into(),
        tar::EntryType::Fifo => "fifo".into(),
        tar::EntryType::GNUSparse => "sparse file".into(),
        tar::EntryType::XGlobalHeader => "pax global header".into(),
        other => format!("type `{}`", other.as_byte() as char),
    }
}

/// Reads the first member, which must be the manifest.
fn take_manifest<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    path: &Path,
) -> Result<Manifest, BackupError> {
    let first = match entries.next() {
        None => return Err(not_a_backup(path, "it holds no member".into())),
        Some(Err(e)) => return Err(not_a_backup(path, e.to_string())),
        Some(Ok(first)) => first,
    };
    let name = first.path_bytes();
    if &name[..] != MANIFEST_PATH.as_bytes() {
        return Err(not_a_backup(
            path,
            format!(
                "its first member is `{}`, not `{MANIFEST_PATH}`",
                String::from_utf8_lossy(&name)
            ),
        ));
    }
    if first.header().entry_type() != tar::EntryType::Regular || first.size() > MAX_MANIFEST {
        return Err(BackupError::BadManifest {
            path: path.to_path_buf(),
            reason: format!("`{MANIFEST_PATH}` is not a file of at most 32 MiB"),
        });
    }
    let mut json = Vec::with_capacity(first.size() as usize);
    let mut first = first;
    first
        .read_to_end(&mut json)
        .map_err(|e| BackupError::Corrupt {
            path: path.to_path_buf(),
            at: Some(MANIFEST_PATH.into()),
            detail: e.to_string(),
        })?;
    Manifest::from_json(&json).map_err(|reason| BackupError::BadManifest {
        path: path.to_path_buf(),
        reason,
    })
}

fn not_a_backup(path: &Path, reason: String) -> BackupError {
    BackupError::NotABackup {
        path: path.to_path_buf(),
        reason,
    }
}

fn manifest_error(path: &Path, problem: ManifestProblem) -> BackupError {
    match problem.kind {
        ProblemKind::Refused(reason) => BackupError::Refused {
            path: path.to_path_buf(),
            member: problem.path,
            reason,
        },
        ProblemKind::Other(reason) => BackupError::BadManifest {
            path: path.to_path_buf(),
            reason: if problem.path.is_empty() {
                reason
            } else {
                format!("entry `{}`: {reason}", problem.path)
            },
        },
    }
}

/// A reader fed by a thread that reads `inner` ahead, in chunks, through a bounded queue.
struct Prefetch {
    rx: Receiver<io::Result<Vec<u8>>>,
    recycle: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    /// The error that ended the stream, repeated to every later read.
    failed: Option<(io::ErrorKind, String)>,
    eof: bool,
}

impl Prefetch {
    fn spawn<R: Read + Send + 'static>(mut inner: R) -> Prefetch {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(QUEUE);
        let (recycle, recycled) = sync_channel::<Vec<u8>>(QUEUE + 2);
        std::thread::spawn(move || {
            loop {
                let mut buf = recycled.try_recv().unwrap_or_default();
                buf.resize(CHUNK, 0);
                let mut filled = 0;
                let result = loop {
                    match inner.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == CHUNK {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(filled);
                let end = filled < CHUNK;
                if filled > 0 && tx.send(Ok(buf)).is_err() {
                    return; // The reader is gone.
                }
                if let Err(e) = result {
                    let _ = tx.send(Err(e));
                    return;
                }
                if end {
                    let _ = tx.send(Ok(Vec::new()));
                    return;
                }
            }
        });
        Prefetch {
            rx,
            recycle,
            current: Vec::new(),
            pos: 0,
            failed: None,
            eof: false,
        }
    }
}

impl Read for Prefetch {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if let Some((kind, message)) = &self.failed {
                return Err(io::Error::new(*kind, message.clone()));
            }
            if self.eof {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(buf)) if buf.is_empty() => self.eof = true,
                Ok(Ok(buf)) => {
                    let old = std::mem::replace(&mut self.current, buf);
                    let _ = self.recycle.try_send(old);
                    self.pos = 0;
                }
                Ok(Err(e)) => self.failed = Some((e.kind(), e.to_string())),
                Err(_) => {
                    self.failed = Some((
                        io::ErrorKind::Other,
                        "the decompressing thread stopped".into(),
                    ))
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_passes_bytes_and_errors_through() {
        let data: Vec<u8> = (0..(CHUNK * 3 + 17)).map(|i| (i % 251) as u8).collect();
        let mut back = Vec::new();
        Prefetch::spawn(io::Cursor::new(data.clone()))
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);

        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bad crc"));
                }
                let n = buf.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
        }
        let mut reader = Prefetch::spawn(Broken(1000));
        let mut sink = Vec::new();
        let err = reader.read_to_end(&mut sink).unwrap_err();
        assert_eq!(err.to_string(), "bad crc");
        assert_eq!(sink.len(), 1000);
        assert_eq!(reader.read(&mut [0; 4]).unwrap_err().to_string(), "bad crc");
    }
}
