//! Writing an archive: walk, check the free space, stream every file once (hashing as it
//! goes) into parallel gzip, write the manifest into the room reserved at the start, fsync,
//! read it all back against the manifest, and only then rename it into place.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use gzp::ZWriter;
use gzp::deflate::Gzip;
use gzp::par::compress::{ParCompress, ParCompressBuilder};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::helper::{Helper, TarReader, VolumeStream};
use super::manifest::{Entry, EntryKind, FORMAT, Manifest, RootOrigin, SHA256_HEX_LEN, Skipped};
use super::walk::Source;
use super::{BackupError, Phase, ProgressSink, catalog, format, sys, verify, walk};
use crate::datapath::DataPath;
use crate::fsutil;

/// What to back up, and how.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    /// The data paths to back up: each is read at its host path and named in the archive
    /// by its name (see [`crate::datapath`]).
    pub paths: Vec<DataPath>,
    /// The archive to write. Its directory is created (0700) when missing.
    pub out: PathBuf,
    /// gzip level, 1 to 9.
    pub level: u32,
    /// Compression threads; 0 means one per core.
    pub threads: usize,
    /// Read the archive back against its manifest before it counts (strongly advised).
    pub verify: bool,
    /// sha256 of the compose file in use, recorded in the manifest.
    pub compose_sha256: Option<String>,
    /// Written into the manifest, e.g. [`super::TOOL`].
    pub tool: String,
    /// Read each path from `STAGED/<name>` (a pre-copy's staging copy) instead of its
    /// host path; the manifest still records where each came from and was read.
    pub staged: Option<PathBuf>,
}

/// What a backup wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub archive: PathBuf,
    pub archive_bytes: u64,
    /// Bytes of file data backed up.
    pub data_bytes: u64,
    pub files: usize,
    pub dirs: usize,
    pub symlinks: usize,
    /// The paths backed up, relative to the deployment dir.
    pub roots: Vec<String>,
    /// Sockets, fifos and the like, left out.
    pub skipped: Vec<Skipped>,
    /// Where each root came from and was read (the manifest's origins).
    pub origins: Vec<RootOrigin>,
    /// Roots that are symlinks (or lie under one) in the deployment: what they point to
    /// was backed up, as Docker mounts it.
    pub followed: Vec<RootOrigin>,
    /// Whether the archive was read back against its manifest (false with `verify: false`).
    pub verified: bool,
    /// When the backup started (RFC 3339), as in the manifest.
    pub created: String,
    pub write_seconds: f64,
    pub verify_seconds: Option<f64>,
}

/// Bytes read from a source file at a time.
const READ_CHUNK: usize = 256 * 1024;

/// Buffer between the compressor's writer thread and the archive file.
const WRITE_BUFFER: usize = 1024 * 1024;

/// Spare bytes in the manifest's room, beyond its computed size.
const MANIFEST_SLACK: usize = 64;

/// Writes the archive `request.out`; see the module doc of [`super`] for its layout.
///
/// Refuses before writing anything when `out` exists or the free space is short. Writes
/// `<out>.partial` (0600) and renames it only once it is complete, synced and (unless
/// `verify` is false) verified; on failure the partial file is removed.
pub fn create(
    request: &BackupRequest,
    progress: &mut dyn ProgressSink,
) -> Result<BackupReport, BackupError> {
    if !(1..=9).contains(&request.level) {
        return Err(BackupError::BadLevel(request.level));
    }
    let out = &request.out;
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(BackupError::OutputExists { path: out.clone() });
    }
    let out_dir = fsutil::parent_dir(out).to_path_buf();
    if !out_dir.exists() {
        fsutil::ensure_private_dir(&out_dir)
            .map_err(|e| BackupError::io("create the backup directory", &out_dir, e))?;
    }
    let started = Instant::now();
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let read_paths: Vec<DataPath> = match &request.staged {
        None => request.paths.clone(),
        Some(staged) => request
            .paths
            .iter()
            .map(|p| DataPath {
                host: staged.join(&p.name),
                through_image: None,
                ..p.clone()
            })
            .collect(),
    };
    let walk = walk::walk(&read_paths, Some(&out_dir))?;
    let origins: Vec<RootOrigin> = walk
        .roots
        .iter()
        .filter_map(|root| request.paths.iter().find(|p| &p.name == root))
        .map(|p| RootOrigin {
            root: p.name.clone(),
            origin: p.origin.clone(),
            host: p.host.display().to_string(),
        })
        .collect();
    let followed = walk
        .roots
        .iter()
        .filter_map(|root| request.paths.iter().find(|p| &p.name == root))
        .filter(|p| p.follows_a_link())
        .filter_map(|p| origins.iter().find(|o| o.root == p.name).cloned())
        .collect();

    let mut manifest = Manifest {
        format: FORMAT,
        tool: request.tool.clone(),
        created: created.clone(),
        compose_sha256: request.compose_sha256.clone(),
        roots: walk.roots,
        data_bytes: walk.data_bytes,
        entries: walk.entries,
        skipped: walk.skipped,
        origins,
    };
    // Where to read each entry (the entries themselves are the manifest's now).
    let reads_from = walk::Walk {
        entries: Vec::new(),
        roots: Vec::new(),
        skipped: Vec::new(),
        ..walk
    };
    // Every field is known now but the sums, which have a fixed width: size the manifest
    // with placeholders and reserve its room at the start of the file.
    let placeholder = "0".repeat(SHA256_HEX_LEN);
    for entry in &mut manifest.entries {
        if entry.kind == EntryKind::File {
            entry.sha256 = Some(placeholder.clone());
        }
    }
    let room = format::manifest_room(manifest.to_json().len() + MANIFEST_SLACK);

    let needed = estimate_archive_bytes(manifest.data_bytes, manifest.entries.len(), room);
    let free = fsutil::available_space(&out_dir)
        .map_err(|e| BackupError::io("read the free space of", &out_dir, e))?;
    check_space(&out_dir, needed, free)?;

    let partial = partial_path(out);
    let result = write_archive(
        request,
        &partial,
        &mut manifest,
        &reads_from,
        room,
        progress,
    );
    let result = result.and_then(|()| {
        let write_seconds = started.elapsed().as_secs_f64();
        let verify_seconds = if request.verify {
            let t = Instant::now();
            let read = verify::verify_with_progress(&partial, progress).map_err(|e| match e {
                // Stopped while reading back the new archive: the backup is what stopped.
                BackupError::Interrupted(_) => BackupError::Interrupted(Phase::Write),
                e => e,
            })?;
            if read != manifest {
                return Err(BackupError::BadManifest {
                    path: partial.clone(),
                    reason: "the manifest read back differs from the one written".into(),
                });
            }
            Some(t.elapsed().as_secs_f64())
        } else {
            None
        };
        sys::rename_noreplace(&partial, out).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                BackupError::OutputExists { path: out.clone() }
            } else {
                BackupError::io("rename the finished archive to", out, e)
            }
        })?;
        fsutil::sync_dir(&out_dir).map_err(|e| BackupError::io("sync", &out_dir, e))?;
        Ok((write_seconds, verify_seconds))
    });
    let (write_seconds, verify_seconds) = match result {
        Ok(times) => times,
        Err(e) => {
            // Our own unfinished file; nothing of the operator's.
            let _ = std::fs::remove_file(&partial);
            return Err(match e {
                BackupError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC) => {
                    BackupError::FilledUp {
                        dir: out_dir,
                        needed,
                        free,
                    }
                }
                e => e,
            });
        }
    };
    if request.verify {
        catalog::record_verified(out)?;
    }
    let archive_bytes = std::fs::metadata(out)
        .map_err(|e| BackupError::io("read", out, e))?
        .len();
    let (files, dirs, symlinks) = manifest.counts();
    Ok(BackupReport {
        archive: out.clone(),
        archive_bytes,
        data_bytes: manifest.data_bytes,
        files,
        dirs,
        symlinks,
        roots: manifest.roots,
        skipped: manifest.skipped,
        origins: manifest.origins,
        followed,
        verified: request.verify,
        created,
        write_seconds,
        verify_seconds,
    })
}

/// `<out>.partial`: where the archive is written before it is complete.
pub(crate) fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_os_string();
    name.push(".partial");
    PathBuf::from(name)
}

/// The most the archive can take: the data as is (deflate never grows incompressible data
/// by more than a few bytes per 16 KiB block; 1/256 covers it with room), a header and up to
/// a block of padding per entry, the manifest's room, and 1 MiB for the rest.
pub fn estimate_archive_bytes(data_bytes: u64, entries: usize, manifest_room: usize) -> u64 {
    data_bytes + data_bytes / 256 + entries as u64 * 1024 + manifest_room as u64 + (1 << 20)
}

/// Refuses when `free` bytes at `dir` are fewer than `needed`.
pub fn check_space(dir: &Path, needed: u64, free: u64) -> Result<(), BackupError> {
    if free < needed {
        return Err(BackupError::NoSpace {
            dir: dir.to_path_buf(),
            needed,
            free,
        });
    }
    Ok(())
}

/// Writes the partial archive: the data member after `room` bytes, then the manifest member
/// into the room; fills in the sums of `manifest`.
fn write_archive(
    request: &BackupRequest,
    partial: &Path,
    manifest: &mut Manifest,
    reads: &walk::Walk,
    room: usize,
    progress: &mut dyn ProgressSink,
) -> Result<(), BackupError> {
    let io_err = |e| BackupError::io("write", partial, e);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(partial)
        .map_err(io_err)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io_err)?;
    file.seek(SeekFrom::Start(room as u64)).map_err(io_err)?;

    let threads = match request.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let mut gz = Compressor::new(
        ParCompressBuilder::<Gzip>::new()
            .num_threads(threads)
            .map_err(|e| compress_error(partial, e))?
            .compression_level(gzp::Compression::new(request.level))
            .from_writer(BufWriter::with_capacity(WRITE_BUFFER, file)),
    );

    progress.phase(Phase::Write, manifest.data_bytes);
    let mut buf = vec![0u8; READ_CHUNK];
    // The helpers' second streams, opened at their first file.
    let mut streams: Vec<Option<TarReader<VolumeStream>>> =
        reads.helpers.iter().map(|_| None).collect();
    for (entry, source) in manifest.entries.iter_mut().zip(&reads.sources) {
        if progress.stop_requested() {
            return Err(BackupError::Interrupted(Phase::Write));
        }
        format::write_header(&mut gz, entry).map_err(|e| gz.error(partial, e))?;
        if entry.kind != EntryKind::File {
            continue;
        }
        let sum = match source {
            Source::Host(i) => copy_file(
                &reads.host_path(*i, entry),
                entry.size,
                entry.mtime,
                &mut gz,
                &mut buf,
                partial,
                progress,
            )?,
            Source::Stream(i) => {
                let (name, helper) = &reads.helpers[*i];
                let path = entry.path_bytes();
                let rel = walk::below(name, &path);
                let stream = match &mut streams[*i] {
                    Some(stream) => stream,
                    slot => slot.insert(helper.read()?),
                };
                copy_member(
                    stream, helper, rel, entry, &mut gz, &mut buf, partial, progress,
                )?
            }
        };
        entry.sha256 = Some(sum);
        gz.write_all(&[0; format::BLOCK][..format::padding(entry.size)])
            .map_err(|e| gz.error(partial, e))?;
    }
    for (stream, (_, helper)) in streams.iter_mut().zip(&reads.helpers) {
        if let Some(stream) = stream {
            stream.finish().map_err(|e| BackupError::BadSource {
                path: PathBuf::from(format!("volume `{}`", helper.volume)),
                reason: e.to_string(),
            })?;
        }
    }
    gz.write_all(&format::END_OF_ARCHIVE)
        .map_err(|e| gz.error(partial, e))?;
    let file = gz
        .finish()
        .map_err(|e| compress_error(partial, e))?
        .into_inner()
        .map_err(|e| io_err(e.into_error()))?;

    let json = manifest.to_json();
    let (uid, gid) = (sys::euid(), sys::egid());
    let mtime = chrono::DateTime::parse_from_rfc3339(&manifest.created)
        .map(|t| t.timestamp().max(0) as u64)
        .unwrap_or(0);
    let tar_bytes = format::manifest_tar(&json, mtime, uid, gid);
    let member =
        format::manifest_member(&tar_bytes, room).ok_or_else(|| BackupError::Compress {
            path: partial.to_path_buf(),
            detail: "the manifest outgrew the room reserved for it (a bug in xzup)".into(),
        })?;
    file.write_all_at(&member, 0).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

/// Streams one file into the archive: exactly `size` bytes, hashed on the way. Fails when
/// the file is not the one the walk saw (replaced, grown, shrunk, touched).
pub(super) fn copy_file(
    path: &Path,
    size: u64,
    mtime: u64,
    out: &mut Compressor,
    buf: &mut [u8],
    partial: &Path,
    progress: &mut dyn ProgressSink,
) -> Result<String, BackupError> {
    let changed = |what| BackupError::SourceChanged {
        path: path.to_path_buf(),
        what,
    };
    // O_NOFOLLOW: a file swapped for a symlink since the walk is not followed.
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => changed("was replaced by a symlink"),
            _ if e.kind() == io::ErrorKind::NotFound => changed("disappeared"),
            _ => BackupError::io("read", path, e),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| BackupError::io("read", path, e))?;
    if !meta.is_file() {
        return Err(changed("was replaced by something that is not a file"));
    }
    if meta.len() != size {
        return Err(changed("changed size"));
    }
    if meta.mtime().max(0) as u64 != mtime {
        return Err(changed("was modified"));
    }
    let sum = pour(
        |buf| file.read(buf),
        size,
        out,
        buf,
        partial,
        progress,
        || changed("shrank"),
        |e| BackupError::io("read", path, e),
    )?;
    // One more read: a file that grew after the check would be cut short in the archive.
    match file.read(&mut buf[..1]) {
        Ok(0) => {}
        Ok(_) => return Err(changed("grew")),
        Err(e) => return Err(BackupError::io("read", path, e)),
    }
    Ok(sum)
}

/// Streams the next member of a volume, `rel`, into the archive: exactly `entry.size`
/// bytes, hashed on the way. Fails when it is not the one the walk saw.
#[allow(clippy::too_many_arguments)]
fn copy_member(
    stream: &mut TarReader<VolumeStream>,
    helper: &Helper,
    rel: &[u8],
    entry: &Entry,
    out: &mut Compressor,
    buf: &mut [u8],
    partial: &Path,
    progress: &mut dyn ProgressSink,
) -> Result<String, BackupError> {
    let place = PathBuf::from(format!(
        "volume `{}`: {}",
        helper.volume,
        String::from_utf8_lossy(rel)
    ));
    let changed = |what| BackupError::SourceChanged {
        path: place.clone(),
        what,
    };
    let broken = |e: io::Error| BackupError::BadSource {
        path: place.clone(),
        reason: format!("the stream of `{}` broke: {e}", helper.image),
    };
    // Members the walk set aside (a fifo, a device) come by in between.
    let member = loop {
        match stream.next_member().map_err(broken)? {
            Some(m) if m.path == rel => break m,
            Some(_) => continue,
            None => return Err(changed("disappeared")),
        }
    };
    if member.kind != Some(EntryKind::File) {
        return Err(changed("was replaced by something that is not a file"));
    }
    if member.size != entry.size {
        return Err(changed("changed size"));
    }
    if member.mtime != entry.mtime {
        return Err(changed("was modified"));
    }
    pour(
        |buf| stream.data(buf),
        entry.size,
        out,
        buf,
        partial,
        progress,
        || changed("shrank"),
        broken,
    )
}

/// Reads exactly `size` bytes with `read` into the archive, hashing them, reporting
/// progress and stopping between chunks when asked. Returns the sha256.
#[allow(clippy::too_many_arguments)]
fn pour(
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    size: u64,
    out: &mut Compressor,
    buf: &mut [u8],
    partial: &Path,
    progress: &mut dyn ProgressSink,
    shrank: impl Fn() -> BackupError,
    read_error: impl Fn(io::Error) -> BackupError,
) -> Result<String, BackupError> {
    let mut hasher = Sha256::new();
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match read(&mut buf[..want]) {
            Ok(0) => return Err(shrank()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(shrank()),
            Err(e) => return Err(read_error(e)),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| out.error(partial, e))?;
        left -= n as u64;
        progress.advance(n as u64);
        // Between chunks too: an InnoDB file can take minutes on its own.
        if progress.stop_requested() {
            return Err(BackupError::Interrupted(Phase::Write));
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

fn compress_error(partial: &Path, e: gzp::GzpError) -> BackupError {
    match e {
        gzp::GzpError::Io(e) => BackupError::io("write", partial, e),
        other => BackupError::Compress {
            path: partial.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

/// The parallel gzip writer, made safe to drop on an error path: gzp's own `Drop` unwraps
/// the result of `finish`, which would panic if the disk had filled up.
pub(super) struct Compressor {
    inner: Option<ParCompress<'static, Gzip, BufWriter<File>>>,
    /// A write failed: gzp has already torn its pipeline down.
    failed: bool,
}

impl Compressor {
    pub(super) fn new(inner: ParCompress<'static, Gzip, BufWriter<File>>) -> Compressor {
        Compressor {
            inner: Some(inner),
            failed: false,
        }
    }

    fn finish(mut self) -> Result<BufWriter<File>, gzp::GzpError> {
        let mut inner = self.inner.take().expect("finished once");
        inner.finish()
    }

    /// The error for a failed write, as the operator should read it.
    fn error(&self, partial: &Path, e: io::Error) -> BackupError {
        BackupError::io("write", partial, e)
    }
}

impl Write for Compressor {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let inner = self.inner.as_mut().expect("not finished");
        let result = inner.write(buf);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        if let Some(mut inner) = self.inner.take() {
            if self.failed {
                // The pipeline is gone; gzp's Drop does nothing more.
                drop(inner);
            } else {
                let _ = inner.finish();
            }
        }
    }
}
