//! The pre-copy backup's staging copy: a tree copied while the stack runs ([`copy_tree`]:
//! a reflink clone, `FICLONE`, where the filesystem has it, else a parallel copy), then
//! made exactly the stopped state once it is down ([`sync_tree`]: files added, removed and
//! changed, modes, owners, times, symlinks; a file whose mtime or ctime is not older than
//! the moment the copy began is resynced, a large one block by block).
//!
//! Plain filesystem work on two paths: no Docker, no journal. Sockets, fifos and devices
//! are left out, as the archive leaves them out.

mod copy;
mod meta;
mod sync;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};

pub(crate) use copy::{copy_tree, reflink_works};
pub(crate) use sync::sync_tree;

/// What a copy or a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Regular files copied whole (new, or changed and small).
    pub files_copied: u64,
    /// Of those, files cloned (reflink) rather than copied.
    pub files_cloned: u64,
    /// Large files resynced block by block.
    pub files_patched: u64,
    /// Blocks rewritten in those.
    pub blocks_written: u64,
    /// Bytes of file data read from the source.
    pub bytes_read: u64,
    /// Entries removed from the copy (gone from the source, or of another kind now).
    pub removed: u64,
    /// Files whose contents were left as they were (not read).
    pub unchanged: u64,
    /// Directories and symlinks made.
    pub others_made: u64,
}

impl Stats {
    pub(crate) fn add(&mut self, other: &Stats) {
        self.files_copied += other.files_copied;
        self.files_cloned += other.files_cloned;
        self.files_patched += other.files_patched;
        self.blocks_written += other.blocks_written;
        self.bytes_read += other.bytes_read;
        self.removed += other.removed;
        self.unchanged += other.unchanged;
        self.others_made += other.others_made;
    }
}

/// A copy or a sync that could not be done: what, where, why.
#[derive(Debug, thiserror::Error)]
#[error("could not {action} `{}`: {source}", path.display())]
pub(crate) struct StagingError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl StagingError {
    pub(crate) fn new(action: &'static str, path: &Path, source: io::Error) -> StagingError {
        StagingError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<StagingError> for io::Error {
    fn from(e: StagingError) -> io::Error {
        io::Error::new(e.source.kind(), e.to_string())
    }
}
