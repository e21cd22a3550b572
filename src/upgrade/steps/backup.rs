//! `backup`: a verified archive of the deployment's data paths (the db and web mounts —
//! bind mounts, symlinked dirs, named volumes — `data/` and the compose files),
//! named after the run's start (so a redo after a crash writes the same name). An archive
//! a previous attempt finished is kept when it verifies; a half-written one is discarded.

use std::path::{Path, PathBuf};

use crate::backup::{self, BackupRequest};
use crate::fsutil;
use crate::journal::{self, BackupMode, BackupRef};
use crate::units::human_bytes;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;
use crate::upgrade::observer::ObserverProgress;
use crate::upgrade::step::Step;

pub(super) struct Backup;

impl Step for Backup {
    fn id(&self) -> journal::Step {
        journal::Step::Backup
    }

    fn skip_reason(&self, ctx: &Ctx<'_>) -> Option<String> {
        let run = ctx.run();
        (run.settings.backup.mode == BackupMode::Precopy && run.precopy_fallback.is_none()).then(
            || "the archive is made from the staging copy once the new stack is up (--backup-mode precopy)".into(),
        )
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        write_archive(ctx, self.id(), None, false)
    }
}

/// Writes the run's verified archive of its data paths, each read at its host path, or
/// with `staged` from `STAGED/<name>` (the pre-copy's staging copy). `step` is the one
/// writing it (`backup`, or `archive` after a pre-copy): its middle is half the bytes.
pub(super) fn write_archive(
    ctx: &mut Ctx<'_>,
    step: journal::Step,
    staged: Option<&Path>,
    in_rollback: bool,
) -> Result<String, StepError> {
    {
        let out = ctx.archive_path();
        let partial = PathBuf::from(format!("{}.partial", out.display()));
        if partial.exists() {
            // Our own half-written archive from an interrupted attempt: not data.
            std::fs::remove_file(&partial)?;
            ctx.observer
                .warning(&format!("discarded the half-written {}", partial.display()));
        }
        if out.exists() {
            match backup::verify(&out) {
                Ok(_) => {
                    let size = std::fs::metadata(&out)?.len();
                    record_backup(ctx, &out, size, true)?;
                    return Ok(format!(
                        "{} ({}, verified; written before the interruption)",
                        ctx.rel(&out),
                        human_bytes(size)
                    ));
                }
                Err(_) => {
                    if let Some(moved) = fsutil::quarantine(&out)? {
                        ctx.observer.warning(&format!(
                            "an unverifiable archive was kept aside as {}",
                            moved.display()
                        ));
                    }
                }
            }
        }
        // The backup dir is owner-only (0700), as `xzup backup` makes it.
        fsutil::ensure_private_dir(fsutil::parent_dir(&out))?;
        let (_, previous) = ctx.previous_file()?;
        let settings = ctx.run().settings.backup.clone();
        let mut paths = ctx.data_paths(&previous, &settings.include)?;
        if let Some(left) = paths.left_out.iter().find(|l| l.blocks_backup()) {
            return Err(StepError::failed(format!(
                "the backup would miss data: {left}"
            )));
        }
        if let Some(staged) = staged {
            // What was staged before `down`: a file of the deployment written since (the
            // new compose file) is not part of the state the stack stopped in.
            paths
                .paths
                .retain(|p| std::fs::symlink_metadata(staged.join(&p.name)).is_ok());
        }
        let request = BackupRequest {
            paths: paths.paths,
            out: out.clone(),
            level: settings.level,
            threads: 0,
            verify: settings.verify,
            compose_sha256: ctx
                .run()
                .previous_compose
                .as_ref()
                .map(|f| f.sha256.clone()),
            tool: backup::TOOL.to_string(),
            staged: staged.map(Path::to_path_buf),
        };
        // In a rollback the first Ctrl-C (which may be what started it) must not stop
        // the archive it restores from: only a second one does.
        let mut progress = if in_rollback {
            ObserverProgress::rollback(&mut *ctx.observer, ctx.stop_again)
        } else {
            ObserverProgress::interruptible(&mut *ctx.observer, ctx.stop_requested).middle_of(step)
        };
        let report = backup::create(&request, &mut progress)?;
        record_backup(ctx, &out, report.archive_bytes, report.verified)?;
        // Sockets and fifos (recreated by their services): said, as the manifest says.
        for skipped in &report.skipped {
            ctx.warn(&format!(
                "left out of the backup `{}`: {}",
                skipped.path,
                skipped.reason.describe()
            ))?;
        }
        if !report.verified {
            ctx.warn("the backup was not read back against its manifest (--no-verify)")?;
        }
        Ok(format!(
            "{} ({} of data -> {}{})",
            ctx.rel(&out),
            human_bytes(report.data_bytes),
            human_bytes(report.archive_bytes),
            if report.verified {
                ", verified"
            } else {
                ", NOT verified"
            }
        ))
    }
}

fn record_backup(
    ctx: &mut Ctx<'_>,
    out: &Path,
    size: u64,
    verified: bool,
) -> Result<(), StepError> {
    ctx.journal.set_backup(BackupRef {
        path: journal::relative_to(&ctx.dir, out),
        size,
        sha256: None,
        verified,
    })?;
    Ok(())
}
