//! Backups of a deployment's data: one verified `.tar.gz` archive with a manifest of sha256
//! sums, written fast (parallel gzip), read back before it counts, and restored without ever
//! deleting what stood in the way.
//!
//! # The archive
//!
//! A plain tar stream (GNU headers, long names as `././@LongLink` members), gzip-compressed as
//! two gzip *members* back to back — which `gzip -d`, `tar -xzf` and every zlib reader treat as
//! one stream:
//!
//! ```text
//! [gzip member 1: the tar member `.xzup/manifest.json`, stored, padded to a reserved size]
//! [gzip member 2: every data member, then the tar end-of-archive blocks (parallel deflate)]
//! ```
//!
//! The manifest is the archive's *first* member, so `read_manifest` decompresses a few KiB,
//! and restore knows every path, type and checksum before it extracts anything. Yet its sha256
//! sums are known only after the data has streamed through, and the source must be read once.
//! The way out: the tree is walked first (metadata only — that also gives the byte total for
//! the progress bar and the free-space check), which fixes every field of the manifest except
//! the sums, and a sum has a fixed width (64 hex digits). So the manifest's size is known
//! before any data is read. [`create`] reserves exactly that much room at the start of the
//! file, streams the data member after it (hashing each file as it is read), then writes the
//! manifest member into the reserved room. That member uses *stored* deflate blocks, whose
//! size follows from the input length alone, and any slack is absorbed by the gzip header's
//! comment field (`FCOMMENT`, which decoders skip). A file that changes between the walk and
//! the read fails the backup (the stack is meant to be down).
//!
//! Paths in the archive are relative to the deployment dir (`mysql/data/ibdata1`), so
//! `tar -xzf` in an empty dir rebuilds the layout. Owner and group are stored as numbers only
//! (MySQL's datadir belongs to the container's uid, which may have no name on the host), with
//! mode and mtime (whole seconds, as tar keeps them). Symlinks are stored as links and never
//! followed; sockets, fifos and devices are skipped and reported (in the output and the
//! manifest's `skipped`). Names are bytes: one that is not UTF-8 (a GBK-named upload) is
//! archived as it is, and the manifest (JSON) gives its text with `\xNN` for each such byte
//! and its exact bytes in hex (`path_hex`, `target_hex`). Hard links are stored as separate files, and sparse files in
//! full (MySQL's datadir has neither as a rule).
//!
//! # Verification
//!
//! [`verify`] decompresses the whole archive and checks every member against the manifest:
//! path, type, size, mode, owner, mtime, link target, sha256, no member missing, none extra,
//! nothing after the end. [`create`] runs it on the new file before renaming it into place
//! (unless asked not to), and records success in a sidecar `<archive>.verified` (see
//! [`catalog`]), which `list` and `prune` read.
//!
//! # Restore
//!
//! [`restore`] reads the manifest first and refuses unsafe ones (absolute paths, `..`, a member
//! under a symlink member, which could land outside the target) before writing a byte. It
//! extracts into a staging dir beside the target (same file system), checking each member
//! against the manifest as it streams — the archive is verified in full before anything at the
//! target changes — then swaps each backed-up path in by rename, moving what stood there to
//! `<path>.xzup-quarantine-<stamp>`. Nothing is deleted.
//!
//! Memory stays bounded whatever the data size: fixed-size buffers and bounded queues; only
//! the manifest (about 250 bytes per entry) grows with the number of files.

mod catalog;
mod create;
mod format;
mod helper;
mod live;
mod manifest;
#[cfg(test)]
mod names_tests;
mod restore;
mod stage;
mod sys;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_space;
mod verify;
mod walk;

use std::path::PathBuf;

pub use catalog::{
    BackupInfo, PruneReport, Pruned, Verification, check, clear_verified, is_verified, list, prune,
    record_verified,
};
pub use create::{BackupReport, BackupRequest, check_space, create, estimate_archive_bytes};
pub use live::{RunningServices, running_data_services};
pub use manifest::{Entry, EntryKind, MANIFEST_PATH, Manifest, RootOrigin, SkipReason, Skipped};
pub use restore::{
    Destination, Placed, Quarantined, RestoreReport, VolumeStore, restore, restore_to,
};
pub(crate) use stage::stage_volume;
pub use verify::{read_manifest, verify, verify_with_progress};

// flate2's pure-Rust zlib (`zlib-rs`) must win feature unification over miniz_oxide, which
// gzp's `deflate_rust` also switches on: zlib-rs compresses about 2.7 times faster here
// (3.9 s against 10.6 s for 613 MB at level 6, two threads). `Compress::new_gzip` exists
// only when a zlib backend is selected, so this line stops the build if that ever changes.
const _: fn(flate2::Compression, u8) -> flate2::Compress = flate2::Compress::new_gzip;

/// The gzip level when none is asked for. Level 3 of zlib-rs, not 6: on the benchmark's
/// datadir-shaped data (scripts/bench-backup.sh, 629 MB) zlib-rs needs 6.8 CPU-seconds at
/// level 3 against 11.9 at level 6 (gzip -6: 19.4), for an archive 2% larger than
/// `tar -czf`'s (level 6: 1% smaller). With verification, level 6 would take about 0.35 of
/// `tar -czf`'s time on two cores; level 3 takes about 0.25, inside the 0.30 the issue sets.
/// Highly compressible text loses more at level 3 (source code: 11% larger than gzip -6),
/// but a deployment's bulk is InnoDB pages; `--level 6` is there for whoever prefers size.
pub const DEFAULT_LEVEL: u32 = 3;

/// Where archives go when no `--backup-dir` is given, relative to the deployment dir.
pub const DEFAULT_DIR: &str = "backups";

/// The file name of an archive made at `at`: `backup-YYYYMMDD-HHMMSS.tar.gz`, in local time
/// (what the operator reads on the box). `xzup backup`, the plan and the backup step of a
/// run all name archives this way; a run names its archive after its start, so a redo
/// after a crash writes the same name.
pub fn archive_name(at: &chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "backup-{}.tar.gz",
        at.with_timezone(&chrono::Local).format("%Y%m%d-%H%M%S")
    )
}

/// The tool and version written into every manifest.
pub const TOOL: &str = concat!("xzup ", env!("CARGO_PKG_VERSION"));

/// What a long operation is doing, for its progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the source and writing the archive.
    Write,
    /// Reading the archive back against its manifest.
    Verify,
    /// Extracting into the staging dir.
    Restore,
}

impl Phase {
    pub fn label(self) -> &'static str {
        match self {
            Phase::Write => "backup",
            Phase::Verify => "verify",
            Phase::Restore => "restore",
        }
    }
}

/// Receives progress from the core, which never prints: a phase with its byte total, then
/// the bytes of file data done in it. The core also asks it, between files and between
/// chunks, whether to stop: by default when the operator pressed Ctrl-C
/// ([`crate::interrupt`]), which a caller that must not be stopped can answer otherwise.
pub trait ProgressSink {
    fn phase(&mut self, phase: Phase, total_bytes: u64);
    fn advance(&mut self, bytes: u64);
    /// A restore swapped `root` into its place (the others may not be yet).
    fn swapped(&mut self, _root: &str) {}
    fn stop_requested(&self) -> bool {
        crate::interrupt::requested()
    }
}

/// Progress nobody watches.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn phase(&mut self, _phase: Phase, _total_bytes: u64) {}
    fn advance(&mut self, _bytes: u64) {}
}

/// Why an archive member was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    AbsolutePath,
    ParentDir,
    EmptyPath,
    /// A member under a symlink member (or under a file): extracting it would follow the link.
    UnderSymlink {
        link: String,
    },
    NotInManifest,
    Duplicate,
    /// Hard links, devices, fifos, sparse files: never written by xzup.
    UnsupportedType(String),
    /// A path in xzup's state dir `.xzup/` or a `.xzup-*` staging dir.
    Reserved,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::AbsolutePath => f.write_str("it has an absolute path"),
            Refusal::ParentDir => f.write_str("its path contains `..`"),
            Refusal::EmptyPath => f.write_str("its path is empty"),
            Refusal::UnderSymlink { link } => write!(
                f,
                "it lies under the symlink `{link}`, which could point outside the target"
            ),
            Refusal::NotInManifest => f.write_str("it is not in the manifest"),
            Refusal::Duplicate => f.write_str("it appears twice"),
            Refusal::UnsupportedType(t) => write!(f, "its type ({t}) is not one xzup writes"),
            Refusal::Reserved => {
                f.write_str("it lies in a directory xzup reserves (`.xzup/`, `.xzup-*`)")
            }
        }
    }
}

/// Errors of backups and restores. Each names the file or member concerned.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "not enough free space for the backup in `{}`: {} needed, {} free",
        dir.display(), crate::units::human_bytes(*needed), crate::units::human_bytes(*free)
    )]
    NoSpace {
        dir: PathBuf,
        needed: u64,
        free: u64,
    },
    /// The disk filled up while the archive was written (another writer took the space
    /// the estimate counted on); the unfinished archive was removed.
    #[error(
        "the disk filled up while writing the backup in `{}`: about {} needed, {} was free when it began; the unfinished archive was removed",
        dir.display(), crate::units::human_bytes(*needed), crate::units::human_bytes(*free)
    )]
    FilledUp {
        dir: PathBuf,
        needed: u64,
        free: u64,
    },
    #[error("`{}` {what} while it was being backed up", path.display())]
    SourceChanged { path: PathBuf, what: &'static str },
    #[error("cannot back up `{}`: {reason}", path.display())]
    BadSource { path: PathBuf, reason: String },
    #[error("`{}` already exists", path.display())]
    OutputExists { path: PathBuf },
    /// Ctrl-C: the operation stopped, and removed what it had written.
    #[error("{}", interrupted_text(*.0))]
    Interrupted(Phase),
    #[error("gzip level {0} is out of range (1 to 9)")]
    BadLevel(u32),
    #[error("compressing into `{}` failed: {detail}", path.display())]
    Compress { path: PathBuf, detail: String },
    #[error("`{}` is not an xzup backup: {reason}", path.display())]
    NotABackup { path: PathBuf, reason: String },
    #[error("the manifest of `{}` is not valid: {reason}", path.display())]
    BadManifest { path: PathBuf, reason: String },
    #[error("`{}` is corrupt or truncated{}: {detail}", path.display(), at_member(at))]
    Corrupt {
        path: PathBuf,
        /// The member being read when it broke.
        at: Option<String>,
        detail: String,
    },
    #[error("refusing `{}`: member `{member}`: {reason}", path.display())]
    Refused {
        path: PathBuf,
        member: String,
        reason: Refusal,
    },
    #[error(
        "`{}` does not match its manifest: member `{member}` has {what} {found}, the manifest says {expected}",
        path.display()
    )]
    Mismatch {
        path: PathBuf,
        member: String,
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error("`{}` is truncated: member `{member}` is in the manifest but not in the archive", path.display())]
    MissingMember { path: PathBuf, member: String },
    #[error("cannot restore `{root}` into `{}`: {reason}", target.display())]
    Target {
        target: PathBuf,
        root: String,
        reason: String,
    },
    #[error("restore into `{}` failed while swapping `{root}` in: {source}{}", target.display(), undo_note(undone))]
    Swap {
        target: PathBuf,
        root: String,
        #[source]
        source: std::io::Error,
        /// Whether the paths already swapped were put back as they were.
        undone: bool,
    },
}

fn at_member(at: &Option<String>) -> String {
    match at {
        Some(member) => format!(" at member `{member}`"),
        None => String::new(),
    }
}

fn interrupted_text(phase: Phase) -> &'static str {
    match phase {
        Phase::Write => "the backup was interrupted; the unfinished archive was removed",
        Phase::Verify => "the verification was interrupted; the archive was not changed",
        Phase::Restore => {
            "the restore was interrupted before anything at the target changed; what it had extracted was removed"
        }
    }
}

fn undo_note(undone: &bool) -> &'static str {
    if *undone {
        "; the paths already swapped were put back"
    } else {
        "; putting back the paths already swapped failed too"
    }
}

impl BackupError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> BackupError {
        BackupError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// What the operator should do next.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            BackupError::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC) => {
                "the disk filled up: free some space (e.g. `xzup backups prune --keep N`) or use `--backup-dir` on another disk".into()
            }
            BackupError::Io { action: "open", source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                "check the path of the archive; `xzup backups list` shows the backups of this deployment".into()
            }
            BackupError::Io { .. } => return None,
            BackupError::NoSpace { .. } | BackupError::FilledUp { .. } => {
                "free some space (e.g. `xzup backups prune --keep N`), or write elsewhere with `--backup-dir DIR`".into()
            }
            BackupError::SourceChanged { .. } => {
                "stop the stack first (`docker compose down`): a running service is writing to its data".into()
            }
            BackupError::BadSource { .. } => {
                "back up paths that exist inside the deployment dir (`--include PATH`), and write the archive outside them (`--out FILE`)".into()
            }
            BackupError::OutputExists { .. } => "choose another name with `--out FILE`".into(),
            BackupError::Interrupted(_) => "run the same command again to do it".into(),
            BackupError::BadLevel(_) => "pass `--level` between 1 (fast) and 9 (small)".into(),
            BackupError::Compress { .. } => return None,
            BackupError::NotABackup { .. } => {
                "xzup reads archives written by `xzup backup`; a plain tar.gz can be restored by hand with `tar -xzf`".into()
            }
            BackupError::BadManifest { .. }
            | BackupError::Corrupt { .. }
            | BackupError::Mismatch { .. }
            | BackupError::MissingMember { .. } => {
                "this archive cannot be trusted: use an older backup (`xzup backups list`)".into()
            }
            BackupError::Refused { .. } => {
                "this archive was not written by xzup or was tampered with; nothing was changed".into()
            }
            BackupError::Target { .. } => {
                "restore into an empty directory with `--to DIR` and move the data by hand".into()
            }
            BackupError::Swap { undone: true, .. } => {
                "nothing at the target changed; fix the cause and run the restore again".into()
            }
            BackupError::Swap { undone: false, .. } => {
                "look for `*.xzup-quarantine-*` beside the paths named: the previous data is there".into()
            }
        })
    }
}
