//! `rollback-restore-data`: puts the data back from the run's backup when
//! `--restore-data` asks for it (`auto`: when the image of a data-bearing service changed);
//! what stands in the way is quarantined, never deleted.

use crate::backup::{self, Destination};
use crate::compose::ComposeFile;
use crate::journal::{self, BackupMode, RestoreData, RunKind};
use crate::roles::Role;
use crate::upgrade::context::{Ctx, NEW_COPY};
use crate::upgrade::error::StepError;
use crate::upgrade::observer::ObserverProgress;
use crate::upgrade::step::Step;

use super::archive::finish_archive;
use super::targets::targets;

pub(super) struct RollbackRestoreData;

impl Step for RollbackRestoreData {
    fn id(&self) -> journal::Step {
        journal::Step::RollbackRestoreData
    }

    fn state_if_failed(&self) -> &'static str {
        "the stack is down and the data was not restored (what stood there is unchanged or kept aside as *.xzup-quarantine-*)"
    }

    fn skip_reason(&self, ctx: &Ctx<'_>) -> Option<String> {
        let new_stack_started = ctx.run().kind == RunKind::Rollback
            || ctx.run().step_status(journal::Step::Up).is_some();
        (!new_stack_started && ctx.run().settings.restore_data != RestoreData::Always)
            .then(|| "not needed: the new stack never started, the data is untouched".into())
    }

    fn run(&self, ctx: &mut Ctx<'_>) -> Result<String, StepError> {
        let mode = ctx.run().settings.restore_data;
        let changed = data_images_changed(ctx)?;
        let restore = match mode {
            RestoreData::Always => true,
            RestoreData::Never => false,
            RestoreData::Auto => !changed.is_empty(),
        };
        if !restore {
            if !changed.is_empty() {
                let message = format!(
                    "the image of {} changed since the backup; the data was NOT restored (--restore-data never): if the new version migrated it, restore with `xzup restore {}`",
                    changed.join(", "),
                    ctx.run()
                        .backup
                        .as_ref()
                        .map_or("BACKUP".into(), |b| b.path.display().to_string())
                );
                ctx.warn(&message)?;
            }
            return Ok(match mode {
                RestoreData::Never => "skipped (--restore-data never)".into(),
                _ => "not needed: no data-bearing image changed".into(),
            });
        }
        let mut made = String::new();
        if pre_copied_without_archive(ctx) {
            if ctx.run().step_status(journal::Step::Delta) != Some(journal::StepStatus::Done) {
                return Ok(
                    "not needed: the stack never ran on the new file, the data is untouched".into(),
                );
            }
            // The staging copy is the stopped state: archived (verified) now, then restored
            // from like any backup.
            ctx.observer
                .waiting("making the archive from the staging copy to restore from");
            made = format!(
                " (archive made from the staging copy: {})",
                finish_archive(ctx, true)?
            );
        }
        let backup = ctx
            .run()
            .backup
            .clone()
            .ok_or_else(|| StepError::failed("this run has no backup to restore from"))?;
        let archive = ctx.abs(&backup.path);
        ctx.observer
            .waiting(&format!("restoring {}", ctx.rel(&archive)));
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
        // Back where the old stack has them: the file returned to, as the run kept it
        // (the one the backup was taken with).
        let t = targets(ctx)?;
        let text = std::fs::read_to_string(&t.back_to_copy)?;
        let previous = ComposeFile::parse(&t.back_to, text)?;
        let paths = ctx.data_paths(&previous, &[])?;
        let docker = ctx.docker.clone();
        let destination = Destination::InPlace {
            dir: &ctx.dir.clone(),
            paths: &paths,
            volumes: &docker,
        };
        let report = backup::restore_to(
            &archive,
            &destination,
            &stamp,
            &mut ObserverProgress::rollback(&mut *ctx.observer, ctx.stop_again)
                .middle_of(self.id()),
        )?;
        Ok(format!(
            "restored {} from {}; what stood there was kept aside ({} path(s)){made}",
            report.restored.join(", "),
            ctx.rel(&archive),
            report.quarantined.len()
        ))
    }
}

/// A pre-copy run whose archive is not made yet: its staging copy is the backup.
fn pre_copied_without_archive(ctx: &Ctx<'_>) -> bool {
    let run = ctx.run();
    run.kind == RunKind::Apply
        && run.settings.backup.mode == BackupMode::Precopy
        && run.precopy_fallback.is_none()
        && !run
            .backup
            .as_ref()
            .is_some_and(|b| b.verified || !run.settings.backup.verify)
}

/// Data-bearing services (db, web: the web container migrates the schema forward) whose
/// image the current file resolves to differs from the one they ran before the upgrade.
fn data_images_changed(ctx: &Ctx<'_>) -> Result<Vec<String>, StepError> {
    let t = targets(ctx)?;
    let file = [t.current.clone(), ctx.run_dir().join(NEW_COPY)]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or(t.current);
    let compose = ComposeFile::load(&file)?;
    let images = compose.images();
    let mut changed = Vec::new();
    for role in [Role::Db, Role::Web] {
        let Some(service) = ctx.roles.service(role) else {
            continue;
        };
        let (Some(before), Some(image)) =
            (ctx.run().images_before.get(service), images.get(service))
        else {
            continue;
        };
        match ctx.docker.image_id(image)? {
            Some(now) if &now != before => changed.push(service.to_string()),
            _ => {}
        }
    }
    Ok(changed)
}
