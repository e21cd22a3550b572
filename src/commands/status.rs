//! `xzup status`: the active tier and file, each container against it, the lock, and any
//! unfinished run. One [`StatusReport`] is built, then printed as text or as JSON.

use std::path::PathBuf;

use serde::Serialize;

use crate::deployment::{Deployment, DeploymentOptions};
use crate::docker::{Compose, Docker};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::journal;
use crate::lock;
use crate::printer::{Printer, Style};
use crate::roles::{self, Role, RoleRow};
use crate::tiers::{Catalog, Classification};
use crate::verify;

/// What `status` says, in both formats.
#[derive(Debug, Serialize)]
struct StatusReport {
    deployment: PathBuf,
    /// The active compose file, relative to the deployment dir.
    active_file: String,
    /// Whether it is the file the last run activated (`state.json`), else it was given
    /// with `-f` or found by the default names.
    active_file_from_state: bool,
    /// The file `state.json` names, when it is not the active one (missing, or `-f`
    /// named another), and whether it exists.
    recorded_file: Option<RecordedFile>,
    tier: Classification,
    /// Where the tiers come from: `built in (templates/tiers.toml)` or a tiers file.
    catalog: String,
    /// Why the catalog is not the one the last run applied, when it cannot be.
    catalog_note: Option<String>,
    /// Each role's service and why, or that it is not in this deployment.
    roles: Vec<RoleRow>,
    lock: Option<LockReport>,
    /// The newest unfinished run (also first in `unfinished_runs`).
    unfinished_run: Option<UnfinishedRun>,
    /// Every unfinished run, newest first.
    unfinished_runs: Vec<UnfinishedRun>,
    /// Journals that cannot be read (`apply` refuses while one is there), with the hint.
    unreadable_journals: Vec<String>,
    /// `project `NAME`, compose v2`; `None` when no Docker engine answers.
    engine: Option<String>,
    /// One row per role in the deployment; empty when no Docker engine answers.
    containers: Vec<ContainerRow>,
    /// MySQL/Redis values that run otherwise than the file says, or were set at run time
    /// (a live run) and would revert on a restart, and the command that settles them.
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<crate::live::Drift>,
}

#[derive(Debug, Serialize)]
struct LockReport {
    /// The flock decides: `true` when a live process holds it.
    held: bool,
    /// Who took it (`pid 12 on `host`, `xzup apply`, since …`); `None` when unreadable.
    record: Option<String>,
    /// `.xzup/lock`, relative to the deployment dir.
    path: String,
}

#[derive(Debug, Serialize)]
struct RecordedFile {
    path: String,
    exists: bool,
}

#[derive(Debug, Clone, Serialize)]
struct UnfinishedRun {
    run: String,
    /// `None` when every step is done and only the end is missing.
    next_step: Option<&'static str>,
}

/// One role's container against the active file.
#[derive(Debug, Serialize)]
struct ContainerRow {
    role: Role,
    service: String,
    /// `None` when the service has no container.
    container: Option<String>,
    /// `running (healthy)`, `exited (code 1)`, `no container`.
    state: String,
    matches_file: bool,
    /// How its limits differ from the file's.
    problems: Vec<String>,
}

pub(crate) fn run(opts: &DeploymentOptions, printer: &Printer) -> Result<ExitStatus> {
    let report = build(printer, opts)?;
    if printer.is_json() {
        printer.json(&report);
    } else {
        print_text(printer, &report);
    }
    Ok(ExitStatus::Success)
}

fn build(printer: &Printer, opts: &DeploymentOptions) -> Result<StatusReport> {
    let deployment = Deployment::open(opts)?;
    let (catalog, catalog_note) = catalog(&deployment)?;
    let compose = deployment.compose()?;
    let lock = lock::inspect(&deployment.state_dir())?;
    // Every run not finished, and every journal that cannot be read: `apply` refuses
    // while any is there, so status shows them all rather than failing on the first.
    let listing = journal::list(&deployment.state_dir())?;
    let unfinished: Vec<&journal::Journal> =
        listing.runs.iter().filter(|j| !j.is_finished()).collect();
    // An unfinished run goes on with the roles it recorded: they are the ones to show.
    let roles = match unfinished.first().and_then(|j| j.run().roles.clone()) {
        Some(roles) => roles,
        None => deployment.roles(&compose)?,
    };
    let observed = compose.observe(&roles)?;

    // Containers, when an engine answers.
    let docker = Docker::new().with_secrets(compose.secrets());
    let mut containers = Vec::new();
    let mut engine = None;
    let mut live = None;
    match Compose::open(
        &docker,
        &deployment.dir,
        &compose.path,
        &compose.container_names().into_values().collect::<Vec<_>>(),
    ) {
        Ok((c, project)) => {
            let running = docker.project_containers(c.project()).unwrap_or_default();
            for (role, service) in roles.iter() {
                let want = observed.services.get(&role).cloned().unwrap_or_default();
                let found = running
                    .iter()
                    .find(|x| x.service.as_deref() == Some(service));
                containers.push(match found {
                    Some(info) => {
                        let problems = verify::compare_limits(service, &want, info);
                        ContainerRow {
                            role,
                            service: service.to_string(),
                            container: Some(info.name.clone()),
                            state: crate::docker::ServiceState::from(info).describe(),
                            matches_file: problems.is_empty(),
                            problems,
                        }
                    }
                    None => ContainerRow {
                        role,
                        service: service.to_string(),
                        container: None,
                        state: "no container".to_string(),
                        matches_file: false,
                        problems: Vec::new(),
                    },
                });
            }
            let with_container: Vec<_> = roles
                .iter()
                .filter_map(|(role, service)| {
                    running
                        .iter()
                        .find(|x| x.service.as_deref() == Some(service))
                        .map(|c| (role, service.to_string(), c))
                })
                .collect();
            let drift = crate::live::drift(
                &docker,
                &c,
                &deployment.dir,
                &with_container,
                &observed.mysql,
                &observed.redis,
                crate::live::root_password(&roles, &compose).as_deref(),
            );
            live = (!drift.is_empty()).then_some(drift);
            engine = Some(format!(
                "project `{}`, compose {}",
                project.name,
                c.flavour().as_str()
            ));
        }
        Err(e) => printer.debug(format_args!("no engine: {e}")),
    }

    let rel = |p: &std::path::Path| crate::plan::display_rel(&deployment.dir, p);
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or(p.to_path_buf());
    let recorded = deployment
        .state
        .active_compose
        .as_deref()
        .map(|p| deployment.resolve(p));
    let from_state = recorded
        .as_deref()
        .is_some_and(|r| canonical(r) == canonical(&compose.path));
    let unfinished_runs: Vec<UnfinishedRun> = unfinished
        .iter()
        .map(|j| UnfinishedRun {
            run: j.id().to_string(),
            next_step: j.next_step().map(|s| s.name()),
        })
        .collect();
    Ok(StatusReport {
        active_file: rel(&compose.path),
        active_file_from_state: from_state,
        recorded_file: recorded.filter(|_| !from_state).map(|r| RecordedFile {
            path: rel(&r),
            exists: r.exists(),
        }),
        tier: catalog.classify(&observed, &roles.present()),
        catalog: catalog.source.to_string(),
        catalog_note,
        roles: roles.rows(),
        lock: lock.map(|l| LockReport {
            held: l.held,
            record: l.record.as_ref().map(|r| r.describe()),
            path: rel(&l.path),
        }),
        unfinished_run: unfinished_runs.first().cloned(),
        unfinished_runs,
        unreadable_journals: listing
            .unreadable
            .iter()
            .map(|e| match e.hint() {
                Some(hint) => format!("{e} ({hint})"),
                None => e.to_string(),
            })
            .collect(),
        engine,
        containers,
        live,
        deployment: deployment.dir,
    })
}

/// The catalog to classify against: the one given (`--tiers-file`, `xzup.toml`); else the
/// tiers file the last run applied, as `state.json` records it, so that a run made with
/// `--tiers-file` is not shown as `custom` afterwards; else the built-in one. A recorded
/// file that cannot be read any more is said (the note), and the built-in one used.
fn catalog(deployment: &Deployment) -> Result<(Catalog, Option<String>)> {
    if deployment.tiers_file().is_some() {
        return Ok((deployment.catalog()?, None));
    }
    let Some(recorded) = &deployment.state.tiers_file else {
        return Ok((deployment.catalog()?, None));
    };
    match Catalog::load(recorded) {
        Ok(catalog) => Ok((catalog, None)),
        Err(e) => Ok((
            deployment.catalog()?,
            Some(format!(
                "the last run applied tier `{}` of {}, which cannot be read now ({e}): compared with the built-in tiers",
                deployment.state.tier.as_deref().unwrap_or("?"),
                recorded.display()
            )),
        )),
    }
}

fn print_text(printer: &Printer, report: &StatusReport) {
    printer.out(format_args!("Deployment:  {}", report.deployment.display()));
    let origin = match (&report.recorded_file, report.active_file_from_state) {
        (_, true) => " (activated by xzup)".to_string(),
        (Some(r), _) if r.exists => format!(" (given with -f; xzup activated `{}`)", r.path),
        (Some(r), _) => format!(
            " (found by its name: `{}`, the file xzup activated, is missing)",
            r.path
        ),
        (None, _) => String::new(),
    };
    printer.out(format_args!("Active file: {}{origin}", report.active_file));
    if report.catalog.starts_with("built in") {
        printer.out(format_args!("Tier:        {}", report.tier));
    } else {
        printer.out(format_args!(
            "Tier:        {} (tiers file {})",
            report.tier, report.catalog
        ));
    }
    if let Some(note) = &report.catalog_note {
        printer.out(printer.paint(&format!("             {note}"), Style::Warn));
    }
    printer.out(format_args!(
        "Roles:       {}",
        roles::summary(&report.roles)
    ));
    match &report.lock {
        Some(l) if l.held => printer.out(format_args!(
            "Lock:        held ({})",
            l.record.as_deref().unwrap_or("no readable record")
        )),
        Some(LockReport {
            record: Some(record),
            ..
        }) => printer.out(format_args!(
            "Lock:        stale ({record}); `xzup unlock` clears it"
        )),
        // The flock decides: nobody holds it. The record only informs, and it is damaged.
        Some(l) => printer.out(printer.paint(
            &format!(
                "Lock:        not held, but its record `{}` cannot be read; `xzup unlock` clears it",
                l.path
            ),
            Style::Warn,
        )),
        None => printer.out("Lock:        free"),
    }
    for j in &report.unfinished_runs {
        printer.out(printer.paint(
            &format!(
                "Unfinished:  run {} stopped at `{}`: run `xzup resume` or `xzup rollback`",
                j.run,
                j.next_step.unwrap_or("the end")
            ),
            Style::Warn,
        ));
    }
    for j in &report.unreadable_journals {
        printer.out(printer.paint(&format!("Journal:     {j}"), Style::Warn));
    }
    let Some(engine) = &report.engine else {
        printer.out("Containers:  unknown (no Docker engine answers)");
        return;
    };
    printer.out(format_args!("Containers ({engine}):"));
    for row in &report.containers {
        let verdict = if row.matches_file {
            printer.paint("limits match the file", Style::Good)
        } else if row.container.is_none() {
            String::new()
        } else {
            printer.paint(&row.problems.join("; "), Style::Warn)
        };
        printer.out(format_args!(
            "  {:<7} {:<28} {:<20} {verdict}",
            row.role.name(),
            row.container.as_deref().unwrap_or(&row.service),
            row.state
        ));
    }
    if let Some(live) = &report.live {
        printer.out("Settings:");
        for line in &live.differs {
            printer.out(printer.paint(&format!("  differs: {line}"), Style::Warn));
        }
        for line in &live.reverts_on_restart {
            printer.out(printer.paint(&format!("  reverts on a restart: {line}"), Style::Warn));
        }
        if let Some(settle) = &live.settle {
            printer.out(format_args!(
                "  settle with `{settle}` in {}: Compose recreates the containers from the active file (each restarts once)",
                report.deployment.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::{Captured, Format, Verbosity};

    fn report() -> StatusReport {
        StatusReport {
            deployment: PathBuf::from("/srv/xiaozhi"),
            active_file: "docker-compose-high.yml".into(),
            active_file_from_state: true,
            recorded_file: None,
            catalog: "built in (templates/tiers.toml)".into(),
            catalog_note: None,
            tier: Classification {
                tier: "high".into(),
                per_role: Role::ALL
                    .iter()
                    .map(|r| (*r, Some("high".into())))
                    .collect(),
            },
            roles: {
                let mut map = crate::roles::RoleMap::empty();
                map.set(Role::Server, "xiaozhi-esp32-server");
                map.set(Role::Db, "xiaozhi-esp32-server-db");
                map.set(Role::Web, "manager");
                map.rows()
            },
            lock: Some(LockReport {
                held: false,
                record: Some("pid 7 on `box`, `xzup apply`, since 2026-01-02 03:04:05".into()),
                path: ".xzup/lock".into(),
            }),
            unfinished_run: Some(UnfinishedRun {
                run: "20260102-030405-apply-high".into(),
                next_step: Some("up"),
            }),
            unfinished_runs: vec![UnfinishedRun {
                run: "20260102-030405-apply-high".into(),
                next_step: Some("up"),
            }],
            unreadable_journals: Vec::new(),
            engine: Some("project `x`, compose v2".into()),
            live: None,
            containers: vec![
                ContainerRow {
                    role: Role::Db,
                    service: "xiaozhi-esp32-server-db".into(),
                    container: Some("xiaozhi-esp32-server-db".into()),
                    state: "running (healthy)".into(),
                    matches_file: true,
                    problems: Vec::new(),
                },
                ContainerRow {
                    role: Role::Web,
                    service: "xiaozhi-esp32-server-web".into(),
                    container: Some("xiaozhi-esp32-server-web".into()),
                    state: "running".into(),
                    matches_file: false,
                    problems: vec!["a".into(), "b".into()],
                },
                ContainerRow {
                    role: Role::Redis,
                    service: "xiaozhi-esp32-server-redis".into(),
                    container: None,
                    state: "no container".into(),
                    matches_file: false,
                    problems: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn text_reads_the_report_not_its_json() {
        let (printer, captured) = Captured::printer(Format::Text, Verbosity::Normal);
        print_text(&printer, &report());
        assert_eq!(
            captured.stdout(),
            "Deployment:  /srv/xiaozhi
Active file: docker-compose-high.yml (activated by xzup)
Tier:        high
Roles:       server = `xiaozhi-esp32-server`; db = `xiaozhi-esp32-server-db`; web = `manager`; redis not in this deployment
Lock:        stale (pid 7 on `box`, `xzup apply`, since 2026-01-02 03:04:05); `xzup unlock` clears it
Unfinished:  run 20260102-030405-apply-high stopped at `up`: run `xzup resume` or `xzup rollback`
Containers (project `x`, compose v2):
  db      xiaozhi-esp32-server-db      running (healthy)    limits match the file
  web     xiaozhi-esp32-server-web     running              a; b
  redis   xiaozhi-esp32-server-redis   no container         \n"
        );
    }

    #[test]
    fn json_keeps_its_shape() {
        let doc = serde_json::to_value(report()).unwrap();
        assert_eq!(doc["active_file_from_state"], true);
        assert_eq!(doc["tier"]["tier"], "high");
        assert_eq!(
            doc["lock"],
            serde_json::json!({"held": false, "record": "pid 7 on `box`, `xzup apply`, since 2026-01-02 03:04:05", "path": ".xzup/lock"})
        );
        assert_eq!(
            doc["unfinished_run"],
            serde_json::json!({"run": "20260102-030405-apply-high", "next_step": "up"})
        );
        assert_eq!(
            doc["containers"][2],
            serde_json::json!({
                "role": "redis", "service": "xiaozhi-esp32-server-redis", "container": null,
                "state": "no container", "matches_file": false, "problems": [],
            })
        );
    }
}
