//! `precopy` (`--backup-mode precopy`), while the stack still runs: every data path copied
//! into the run's staging dir (`staging/<name>`, beside the journal), reflink-cloned where
//! the filesystem has it. Checks the free space first (the copy and the archive made from
//! it later). What cannot be pre-copied — a volume this user cannot read at its
//! mountpoint is copied through a container once the stack is down (`delta`), so that path
//! alone is backed up as a direct backup would; too little room falls back to a direct
//! backup (said, and journaled), or refuses when `--backup-mode precopy` was given.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::backup;
use crate::fsutil;
use crate::journal;
use crate::staging::{self, Stats};
use crate::units::human_bytes;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::step::Step;

pub(super) struct Precopy;

impl Step for Precopy {
    fn id(&self) -> journal::Step {
        journal::Step::Precopy
    }

    /// The stack still runs: a failure here leaves everything as it was (the staging
    /// copy is removed).
    fn changes_nothing(&self) -> bool {
        true
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let staging = ctx.staging_dir();
        // A copy an interrupted attempt left: ours, not data.
        remove_staging(&staging)?;
        let (_, previous) = ctx.previous_file()?;
        let settings = ctx.run().settings.backup.clone();
        let paths = ctx.data_paths(&previous, &settings.include)?;
        if let Some(left) = paths.left_out.iter().find(|l| l.blocks_backup()) {
            return Err(StepError::failed(format!(
                "the backup would miss data: {left}"
            )));
        }
        let through: Vec<&str> = paths
            .paths
            .iter()
            .filter(|p| p.through_image.is_some())
            .map(|p| p.name.as_str())
            .collect();
        let mut later = String::new();
        if !through.is_empty() {
            // Direct for these paths: copied through a container at `delta`, while down.
            later = format!(
                "; {} cannot be read here at its mountpoint: copied through a container once the stack is down",
                through.join(", ")
            );
            ctx.observer.warning(&later[2..]);
        }
        let data = paths.bytes();
        let run_dir = ctx.run_dir();
        let reflink = staging::reflink_works(&run_dir);
        // A clone shares its blocks until the live stack writes them.
        let staging_need = if reflink { data / 10 } else { data };
        let archive_dir = ctx.archive_path();
        let archive_dir = fsutil::parent_dir(&archive_dir).to_path_buf();
        let archive_need = backup::estimate_archive_bytes(data, 0, 0);
        if let Some(short) = short_of_space(&run_dir, staging_need, &archive_dir, archive_need)? {
            return fall_back(ctx, short);
        }
        fsutil::ensure_private_dir(&staging)?;
        let mut total = Stats::default();
        for path in paths.paths.iter().filter(|p| p.through_image.is_none()) {
            let dst = staging.join(&path.name);
            let copied = (|| -> std::io::Result<Stats> {
                if let Some(parent) = dst.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                Ok(staging::copy_tree(&path.host, &dst)?)
            })();
            match copied {
                Ok(stats) => total.add(&stats),
                Err(e) => {
                    let _ = remove_staging(&staging);
                    return Err(StepError::failed(format!(
                        "could not pre-copy `{}`: {e}",
                        path.name
                    )));
                }
            }
        }
        Ok(format!(
            "{} path(s), {} files ({} of data{}) copied into {} while the stack runs{later}",
            paths.paths.len(),
            total.files_copied,
            human_bytes(data),
            if total.files_cloned > 0 {
                format!(", {} cloned", total.files_cloned)
            } else {
                String::new()
            },
            ctx.rel(&staging)
        ))
    }
}

/// Says why a pre-copy cannot be done: falls back to a direct backup, or refuses when the
/// operator asked for `--backup-mode precopy`.
fn fall_back(ctx: &mut Ctx<'_>, why: String) -> Result<String, StepError> {
    let _ = remove_staging(&ctx.staging_dir());
    if ctx.run().settings.backup.mode_explicit {
        return Err(StepError::failed(format!(
            "cannot pre-copy: {why}; nothing was changed (run with --backup-mode direct)"
        )));
    }
    let reason = format!("no pre-copy, the backup is made while the stack is down: {why}");
    ctx.journal.set_precopy_fallback(&reason)?;
    ctx.observer.warning(&reason);
    Ok(reason)
}

/// Whether the staging copy (in `run_dir`) and the archive (in `archive_dir`) fit, on
/// one filesystem or two; the shortage said, if not.
fn short_of_space(
    run_dir: &Path,
    staging_need: u64,
    archive_dir: &Path,
    archive_need: u64,
) -> Result<Option<String>, StepError> {
    let existing = |p: &Path| {
        p.ancestors()
            .find(|a| a.exists())
            .unwrap_or(Path::new("/"))
            .to_path_buf()
    };
    let (run_at, archive_at) = (existing(run_dir), existing(archive_dir));
    let free = fsutil::available_space(&run_at)?;
    let same_fs = std::fs::metadata(&run_at)?.dev() == std::fs::metadata(&archive_at)?.dev();
    let archive = if same_fs {
        None
    } else {
        Some((archive_at.as_path(), fsutil::available_space(&archive_at)?))
    };
    Ok(shortage(
        (run_at.as_path(), free),
        staging_need,
        archive,
        archive_need,
    ))
}

/// The decision of [`short_of_space`]: `run` is where the staging copy goes and its free
/// bytes; `archive` the same for the archive when it is on another filesystem (`None`: on
/// the same one, which must then hold both).
fn shortage(
    run: (&Path, u64),
    staging_need: u64,
    archive: Option<(&Path, u64)>,
    archive_need: u64,
) -> Option<String> {
    let short = |need: u64, (at, free): (&Path, u64), what: &str| {
        (free < need).then(|| {
            format!(
                "not enough free space for {what} in `{}`: {} needed, {} free",
                at.display(),
                human_bytes(need),
                human_bytes(free)
            )
        })
    };
    match archive {
        None => short(
            staging_need + archive_need,
            run,
            "the staging copy and the archive",
        ),
        Some(archive) => short(staging_need, run, "the staging copy")
            .or_else(|| short(archive_need, archive, "the archive")),
    }
}

/// Removes the staging copy (a run's own; never data in place).
pub(super) fn remove_staging(staging: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(staging) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn one_filesystem_must_hold_the_copy_and_the_archive() {
        let run = Path::new("/srv/x/.xzup/runs/r");
        assert_eq!(shortage((run, 300 * MIB), 200 * MIB, None, 100 * MIB), None);
        assert_eq!(
            shortage((run, 299 * MIB), 200 * MIB, None, 100 * MIB).as_deref(),
            Some(
                "not enough free space for the staging copy and the archive in \
                 `/srv/x/.xzup/runs/r`: 300M needed, 299M free"
            )
        );
    }

    #[test]
    fn two_filesystems_are_each_checked_for_their_own_part() {
        let (run, out) = (Path::new("/srv/x/.xzup/runs/r"), Path::new("/backups"));
        // Each holds its part, though neither could hold both.
        assert_eq!(
            shortage(
                (run, 200 * MIB),
                200 * MIB,
                Some((out, 100 * MIB)),
                100 * MIB
            ),
            None
        );
        assert_eq!(
            shortage(
                (run, 199 * MIB),
                200 * MIB,
                Some((out, 999 * MIB)),
                100 * MIB
            )
            .as_deref(),
            Some(
                "not enough free space for the staging copy in `/srv/x/.xzup/runs/r`: \
                 200M needed, 199M free"
            )
        );
        assert_eq!(
            shortage(
                (run, 999 * MIB),
                200 * MIB,
                Some((out, 99 * MIB)),
                100 * MIB
            )
            .as_deref(),
            Some("not enough free space for the archive in `/backups`: 100M needed, 99M free")
        );
    }
}
