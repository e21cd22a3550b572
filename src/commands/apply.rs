//! `xzup apply --tier T`: upgrade the running stack. With `--dry-run`, the plan only.

use crate::cli::{ApplyArgs, BackupModeArg, RestoreDataArg, RunOptions, StrategyArg};
use crate::deployment::DeploymentOptions;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::journal::{BackupSettings, RestoreData, RunSettings, Strategy};
use crate::printer::Printer;
use crate::upgrade::{self, RunRequest};

use super::run_output::{StepPrinter, summary};

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &ApplyArgs,
) -> Result<ExitStatus> {
    if args.live_backup && args.strategy == StrategyArg::Restart {
        return Err(crate::error::Error::Usage {
            message:
                "--backup is for --strategy live or auto: the restart path always takes its backup"
                    .into(),
            hint: Some("drop --backup, or add --strategy live".into()),
        });
    }
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
        if args.strategy != StrategyArg::Restart && plan.changes && !printer.is_json() {
            let new = crate::compose::ComposeFile::parse(&plan.target_file, plan.rendered.clone())?;
            let docker = crate::docker::Docker::new().with_secrets(compose.secrets());
            let live = crate::live::assess_files(&docker, &deployment.dir, &compose, &new, &roles)?;
            super::plan::print_live(printer, &live);
        }
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
    let (strategy, strategy_note) = strategy(printer, args, &deployment, &compose, &roles, &plan)?;
    let settings = RunSettings {
        strategy,
        strategy_note,
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
            live_backup: args.live_backup,
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
    if args.strategy != StrategyArg::Restart {
        command.push_str(&format!(" --strategy {}", settings.strategy.name()));
    }
    if args.live_backup && settings.strategy == Strategy::Live {
        command.push_str(" --backup");
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

/// The strategy the run takes, and for `auto` that fell back to the restart path, why.
/// `live` and `auto` ask the engine what runs now (see [`crate::live`]): `live` refuses,
/// naming the settings, when one cannot change live, before anything is touched.
fn strategy(
    printer: &Printer,
    args: &ApplyArgs,
    deployment: &crate::deployment::Deployment,
    compose: &crate::compose::ComposeFile,
    roles: &crate::roles::RoleMap,
    plan: &crate::plan::Plan,
) -> Result<(Strategy, Option<String>)> {
    if args.strategy == StrategyArg::Restart {
        return Ok((Strategy::Restart, None));
    }
    let new = crate::compose::ComposeFile::parse(&plan.target_file, plan.rendered.clone())?;
    let docker = crate::docker::Docker::new().with_secrets(compose.secrets());
    let assessment = crate::live::assess_files(&docker, &deployment.dir, compose, &new, roles)?;
    if assessment.is_live() {
        return Ok((Strategy::Live, None));
    }
    if args.strategy == StrategyArg::Live {
        return Err(crate::live::LiveError::NotLive(assessment.why_not()).into());
    }
    let note = format!(
        "--strategy auto takes the restart path: cannot change live: {}",
        assessment.why_not()
    );
    printer.warn(&note);
    Ok((Strategy::Restart, Some(note)))
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
