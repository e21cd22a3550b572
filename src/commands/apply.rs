//! `xzup apply --tier T`: upgrade the running stack. With `--dry-run`, the plan only.

use crate::cli::{ApplyArgs, BackupModeArg, RestoreDataArg, RunOptions};
use crate::deployment::DeploymentOptions;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::journal::{BackupSettings, RestoreData, RunSettings};
use crate::printer::Printer;
use crate::upgrade::{self, RunRequest};

use super::run_output::{StepPrinter, summary};

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &ApplyArgs,
) -> Result<ExitStatus> {
    let backup_dir = args.backup.backup_dir.as_deref();
    let super::plan::Planned {
        deployment,
        compose,
        roles,
        plan,
        backup_dir,
    } = super::plan::compute(
        opts,
        &args.target,
        backup_dir,
        BackupModeArg::or_default(args.backup_mode),
    )?;
    if args.dry_run {
        let mut plan = plan;
        plan.warnings
            .extend(super::plan::apply_refusals(&deployment));
        super::plan::print(printer, &plan);
        return Ok(super::plan::exit_status(&plan, args.detailed_exitcode));
    }
    if !plan.changes {
        printer.info(format_args!(
            "Nothing to change: {} already has {}.",
            crate::plan::display_rel(&deployment.dir, &plan.source_file),
            match &args.target.tier {
                Some(tier) => format!("the settings of `{tier}` and these images"),
                None => "these images".to_string(),
            }
        ));
        return Ok(ExitStatus::Success);
    }
    for warning in &plan.warnings {
        printer.warn(warning);
    }
    let only = super::plan::only_roles(args.target.only.as_deref())?;
    let settings = RunSettings {
        force: args.force,
        // A version upgrade pulls its new images before anything stops.
        pull: args.pull || (plan.images.iter().any(|i| i.changed) && !args.no_pull),
        backup: BackupSettings {
            dir: match args.backup.backup_dir {
                Some(_) => backup_dir,
                None => crate::backup::DEFAULT_DIR.into(),
            },
            level: args.backup.level,
            include: args.backup.include.clone(),
            verify: !args.backup.no_verify,
            mode: BackupModeArg::or_default(args.backup_mode),
            mode_explicit: args.backup_mode.is_some(),
        },
        ..run_settings(&args.run)
    };
    let mut command = format!("xzup apply {}", super::image_args::describe(&args.target));
    if args.no_pull {
        command.push_str(" --no-pull");
    }
    if settings.backup.mode_explicit {
        command.push_str(&format!(" --backup-mode {}", settings.backup.mode.name()));
    }
    if let Some(only) = &args.target.only {
        command.push_str(&format!(" --only {only}"));
    }
    crate::interrupt::install();
    printer.info(format_args!(
        "Upgrading {} -> {} ({})",
        plan.from,
        plan.to,
        crate::plan::display_rel(&deployment.dir, &plan.target_file)
    ));
    printer.info(format_args!("Roles: {}", roles.summary()));
    let mut observer = StepPrinter::new(printer);
    let result = upgrade::apply(
        RunRequest {
            deployment: &deployment,
            compose: &compose,
            plan: &plan,
            roles,
            only,
            settings,
            command,
        },
        &mut observer,
    );
    drop(observer);
    let outcome = result?;
    summary(printer, &outcome.run);
    Ok(ExitStatus::Success)
}

/// The run options shared by `apply` and `resume`.
pub(crate) fn run_settings(run: &RunOptions) -> RunSettings {
    RunSettings {
        wait_timeout_secs: run.wait_timeout,
        verify_window_secs: run.verify_window,
        strict: run.strict,
        restore_data: restore_data(run.restore_data),
        ..RunSettings::default()
    }
}

pub(crate) fn restore_data(arg: RestoreDataArg) -> RestoreData {
    match arg {
        RestoreDataArg::Auto => RestoreData::Auto,
        RestoreDataArg::Always => RestoreData::Always,
        RestoreDataArg::Never => RestoreData::Never,
    }
}
