//! `xzup plan --tier T`: what `apply` would do, changing nothing. `apply --dry-run` prints
//! the same plan through [`print`].

use crate::backup;
use crate::cli::{PlanArgs, TargetArgs};
use crate::compose::ComposeFile;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::plan::{self, BackupItem, Plan, PlanInput};
use crate::printer::{Printer, Style};
use crate::roles::{self, Role, RoleMap};

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &PlanArgs,
) -> Result<ExitStatus> {
    let Planned {
        mut plan,
        deployment,
        compose,
        roles,
        ..
    } = compute(
        opts,
        &args.target,
        None,
        crate::cli::BackupModeArg::or_default(args.backup_mode),
    )?;
    plan.warnings.extend(apply_refusals(&deployment));
    let live = match args.strategy {
        Some(crate::cli::StrategyArg::Live | crate::cli::StrategyArg::Auto) if plan.changes => {
            let new = ComposeFile::parse(&plan.target_file, plan.rendered.clone())?;
            let docker = crate::docker::Docker::new().with_secrets(compose.secrets());
            Some(crate::live::assess_files(
                &docker,
                &deployment.dir,
                &compose,
                &new,
                &roles,
            )?)
        }
        _ => None,
    };
    match &live {
        Some(live) if printer.is_json() => {
            #[derive(serde::Serialize)]
            struct WithLive<'a> {
                #[serde(flatten)]
                plan: &'a Plan,
                live: &'a crate::live::Assessment,
            }
            printer.json(&WithLive { plan: &plan, live });
        }
        _ => print(printer, &plan),
    }
    if let Some(live) = &live
        && !printer.is_json()
    {
        print_live(printer, live);
    }
    Ok(exit_status(&plan, args.detailed_exitcode))
}

/// The plan's live section: each setting that changes, and whether it can change on the
/// running stack (`--strategy live`), or why not.
pub(crate) fn print_live(printer: &Printer, live: &crate::live::Assessment) {
    printer.out("");
    printer.out(printer.paint("Live (no restart)", Style::Bold));
    for change in &live.changes {
        let verdict = match &change.not_live {
            None => printer.paint("live", Style::Good),
            Some(why) => printer.paint(&format!("restart needed: {why}"), Style::Error),
        };
        printer.out(format_args!(
            "  {:<28} {:<24} {} -> {}  {verdict}",
            change.service, change.setting, change.from, change.to
        ));
    }
    if live.is_live() {
        printer.out("  every setting can change live: `apply --strategy live` restarts nothing");
    } else {
        printer.out(printer.paint(
            "  `apply --strategy live` would refuse; `--strategy auto` takes the restart path",
            Style::Warn,
        ));
    }
}

/// What would make `apply` refuse before it changes anything, as warnings for the plan
/// (and `apply --dry-run`): each unfinished run, each journal that cannot be read (`apply`
/// does not guess whether it is an unfinished run), the lock held by a live xzup.
pub(crate) fn apply_refusals(deployment: &Deployment) -> Vec<String> {
    let state_dir = deployment.state_dir();
    let mut out = Vec::new();
    let held = match crate::lock::inspect(&state_dir) {
        Ok(Some(info)) if info.held => Some(
            info.record
                .map_or("no record yet".to_string(), |r| r.describe().to_string()),
        ),
        _ => None,
    };
    match crate::journal::list(&state_dir) {
        Ok(listing) => {
            for journal in listing.runs.iter().filter(|j| !j.is_finished()) {
                let at = journal
                    .next_step()
                    .map_or("the end".to_string(), |s| format!("`{}`", s.name()));
                out.push(match &held {
                    Some(by) => format!(
                        "`xzup apply` would refuse: run `{}` is in progress, at {at}, in another xzup ({by}); `xzup status` shows where it stands",
                        journal.id()
                    ),
                    None => format!(
                        "`xzup apply` would refuse: run `{}` did not finish (it stopped at {at}); `xzup resume` finishes it, `xzup rollback` undoes it",
                        journal.id()
                    ),
                });
            }
            for err in &listing.unreadable {
                out.push(format!(
                    "`xzup apply` would refuse: {err}{}",
                    err.hint().map_or(String::new(), |h| format!(" ({h})"))
                ));
            }
        }
        Err(err) => out.push(format!("`xzup apply` would refuse: {err}")),
    }
    if let (Some(by), true) = (&held, out.is_empty()) {
        out.push(format!(
            "`xzup apply` would refuse now: another xzup holds the deployment lock ({by}); it can run once that one ends"
        ));
    }
    out
}

/// 0, or with `--detailed-exitcode` 2 when changes are pending.
pub(crate) fn exit_status(plan: &Plan, detailed: bool) -> ExitStatus {
    if detailed && plan.changes {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    }
}

/// `--only server,db` → roles; `None` → empty (all roles).
pub(crate) fn only_roles(only: Option<&str>) -> Result<Vec<Role>> {
    let Some(list) = only else {
        return Ok(Vec::new());
    };
    let roles = roles::parse_only(list).map_err(|e| Error::Usage {
        message: format!("--only: {e}"),
        hint: Some("list roles separated by commas, e.g. `--only server,db`".into()),
    })?;
    if roles.is_empty() {
        return Err(Error::Usage {
            message: "--only: no role given".into(),
            hint: Some("list roles separated by commas, e.g. `--only server,db`".into()),
        });
    }
    Ok(roles)
}

/// `--only` (parsed, `asked`) against the roles the deployment has: those asked for, all
/// of them present; or every role present when `--only` is not given. A role asked for
/// that is not in the deployment is a usage error.
pub(crate) fn choose(asked: &[Role], roles: &RoleMap) -> Result<Vec<Role>> {
    roles.choose(asked).map_err(|e| Error::Usage {
        message: format!("--only: {e}"),
        hint: Some(e.hint()),
    })
}

/// A deployment, its compose file, the services that play its roles, and the plan for a
/// tier.
pub(crate) struct Planned {
    pub deployment: Deployment,
    pub compose: ComposeFile,
    pub roles: RoleMap,
    pub plan: Plan,
    /// Where the run's archive goes (`--backup-dir`, checked; else `DIR/backups`).
    pub backup_dir: std::path::PathBuf,
}

/// Opens the deployment and computes the plan for `target`.
pub(crate) fn compute(
    opts: &DeploymentOptions,
    target: &TargetArgs,
    backup_dir: Option<&std::path::Path>,
    backup_mode: crate::journal::BackupMode,
) -> Result<Planned> {
    let deployment = Deployment::open(opts)?;
    let catalog = deployment.catalog()?;
    let tier = target.tier.as_deref().map(|t| catalog.get(t)).transpose()?;
    let compose = deployment.compose()?;
    let roles = deployment.roles(&compose)?;
    let only = only_roles(target.only.as_deref())?;
    choose(&only, &roles)?;
    let images = super::image_args::requested(target, &compose, &roles)?;
    let docker = crate::docker::Docker::new().with_secrets(compose.secrets());
    // What runs now: asked of the engine only when images change (a tier's plan stays
    // as quick as it was).
    let running = if images.is_empty() {
        Default::default()
    } else {
        super::image_args::running(&docker, &deployment.dir, &compose, &roles)
    };
    let data_paths = super::data_paths(&deployment, &compose, &roles, &[], &docker)?;
    let backup_dir = super::backup_dir(&deployment, &data_paths, backup_dir)?;
    let archive = backup_dir.join(backup::archive_name(&chrono::Utc::now()));
    let host = super::engine_host();
    let mut plan = plan::build(PlanInput {
        dir: &deployment.dir,
        compose: &compose,
        roles: &roles,
        catalog: &catalog,
        tier,
        images,
        running,
        only,
        backup_items: BackupItem::of(&data_paths),
        not_backed_up: data_paths.left_out,
        archive,
        backup_mode,
        host,
    })?;
    // A db or Redis on `latest`: a pull may move it to a new major version.
    for unpinned in crate::images::unpinned(&compose, &roles, |service, reference| {
        super::image_args::running_info(
            &docker,
            &deployment.dir,
            &compose,
            service,
            reference,
            false,
        )
    }) {
        plan.warnings.push(unpinned.describe());
    }
    Ok(Planned {
        deployment,
        compose,
        roles,
        plan,
        backup_dir,
    })
}

/// Prints the plan: JSON as one document, or the text report.
pub(crate) fn print(printer: &Printer, plan: &Plan) {
    if printer.is_json() {
        printer.json(plan);
        return;
    }
    let rel = |p: &std::path::Path| plan::display_rel(&plan.deployment, p);
    let bold = |s: &str| printer.paint(s, Style::Bold);
    printer.out(format_args!(
        "{} {} ({}) -> {} ({})",
        bold("Plan:"),
        rel(&plan.source_file),
        plan.from,
        rel(&plan.target_file),
        plan.to
    ));
    printer.out(format_args!("Deployment: {}", plan.deployment.display()));
    printer.out("");
    printer.out(bold("Roles"));
    for row in &plan.roles {
        let line = format!("  {row}");
        if row.service.is_some() {
            printer.out(line);
        } else {
            printer.out(printer.paint(&line, Style::Dim));
        }
    }
    if !plan.other_services.is_empty() {
        let others: Vec<String> = plan
            .other_services
            .iter()
            .map(|s| format!("`{s}`"))
            .collect();
        printer.out(format_args!(
            "  other services, left as they are: {}",
            others.join(", ")
        ));
    }
    if !plan.changes {
        printer.out("");
        printer.out(format_args!(
            "{}",
            printer.paint(
                "Nothing to change: the compose file already has these settings.",
                Style::Good
            )
        ));
        return;
    }

    printer.out("");
    printer.out(bold("Steps"));
    for (i, step) in plan.steps.iter().enumerate() {
        printer.out(format_args!(
            "  {}. {:<14} {}",
            i + 1,
            step.name,
            step.summary
        ));
        for detail in &step.details {
            printer.out(format_args!("     {:<14} {detail}", ""));
        }
    }

    printer.out("");
    printer.out(bold("Services"));
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    printer.out(format_args!(
        "  {:<7} {:<24} {:>12}    {}",
        "role", "setting", "current", "target"
    ));
    for row in &plan.settings {
        let (current, target) = (dash(&row.current), dash(&row.target));
        let target = if row.changed {
            printer.paint(&target, Style::Added)
        } else {
            printer.paint(&format!("{target} (unchanged)"), Style::Dim)
        };
        printer.out(format_args!(
            "  {:<7} {:<24} {:>12} -> {target}",
            row.role.name(),
            row.setting,
            current
        ));
    }

    let images_change = plan.images.iter().any(|i| i.changed);
    if images_change {
        printer.out("");
        printer.out(bold("Images"));
    }
    for row in plan.images.iter().filter(|_| images_change) {
        let running = match &row.running {
            Some(r) => format!(
                " (runs {}{})",
                crate::images::short_id(&r.id),
                r.version
                    .as_ref()
                    .map_or(String::new(), |v| format!(", version {v}"))
            ),
            None => " (no container)".to_string(),
        };
        let target = if row.changed {
            printer.paint(&row.target, Style::Added)
        } else {
            printer.paint("(unchanged)", Style::Dim)
        };
        printer.out(format_args!(
            "  {:<7} {}{running} -> {target}",
            row.role.name(),
            row.current
        ));
    }

    if let Some(host) = &plan.host {
        printer.out("");
        printer.out(format_args!(
            "{} (docker info: {} cores, {})",
            bold("Host"),
            host.cpus,
            crate::units::human_bytes(host.memory)
        ));
        for check in &plan.host_checks {
            let mark = match (check.ok, check.blocking) {
                (true, _) => printer.paint("ok", Style::Good),
                (false, true) => printer.paint("refused", Style::Error),
                (false, false) => printer.paint("warning", Style::Warn),
            };
            printer.out(format_args!(
                "  {:<7} {:<8} {}",
                mark, check.check, check.message
            ));
        }
    }

    if !plan.warnings.is_empty() {
        printer.out("");
        printer.out(bold("Warnings"));
        for w in &plan.warnings {
            printer.out(format_args!("  {w}"));
        }
    }

    printer.out("");
    printer.out(bold("Diff"));
    for line in plan.diff.lines() {
        let style = if line.starts_with("+++") || line.starts_with("---") {
            Style::Bold
        } else if line.starts_with('+') {
            Style::Added
        } else if line.starts_with('-') {
            Style::Removed
        } else if line.starts_with("@@") {
            Style::Header
        } else {
            printer.out(line);
            continue;
        };
        printer.out(printer.paint(line, style));
    }
}
