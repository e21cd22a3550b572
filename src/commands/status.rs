//! `xzup status`: the active tier and file, each container against it, the lock, and any
//! unfinished run.

use serde_json::json;

use crate::deployment::{Deployment, DeploymentOptions};
use crate::docker::{Compose, Docker};
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::journal;
use crate::lock;
use crate::printer::{Printer, Style};
use crate::roles::Role;
use crate::verify;

pub(crate) fn run(opts: &DeploymentOptions, printer: &Printer) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    let catalog = deployment.catalog()?;
    let compose = deployment.compose()?;
    let observed = compose.observe(&deployment.roles)?;
    let class = catalog.classify(&observed, &Role::ALL);
    let file = crate::plan::display_rel(&deployment.dir, &compose.path);
    let from_state = deployment.state.active_compose.is_some();
    let lock = lock::inspect(&deployment.state_dir())?;
    let unfinished = journal::unfinished(&deployment.state_dir())?;

    // Containers, when an engine answers.
    let docker = Docker::new().with_secrets(compose.secrets());
    let mut containers = Vec::new();
    let mut engine_note = None;
    match Compose::open(
        &docker,
        &deployment.dir,
        &compose.path,
        &compose.container_names().into_values().collect::<Vec<_>>(),
    ) {
        Ok((c, project)) => {
            let running = docker.project_containers(c.project()).unwrap_or_default();
            for role in Role::ALL {
                let service = deployment.roles.service(role);
                let want = observed.services.get(&role).cloned().unwrap_or_default();
                let row = match running
                    .iter()
                    .find(|x| x.service.as_deref() == Some(service))
                {
                    Some(info) => {
                        let problems = verify::compare_limits(service, &want, info);
                        json!({
                            "role": role, "service": service, "container": info.name,
                            "state": crate::docker::ServiceState::from(info).describe(),
                            "matches_file": problems.is_empty(), "problems": problems,
                        })
                    }
                    None => json!({
                        "role": role, "service": service, "container": null,
                        "state": "no container", "matches_file": false, "problems": [],
                    }),
                };
                containers.push(row);
            }
            engine_note = Some(format!(
                "project `{}`, compose {}",
                project.name,
                c.flavour().as_str()
            ));
        }
        Err(e) => printer.debug(format_args!("no engine: {e}")),
    }

    let lock_json = lock
        .as_ref()
        .map(|l| json!({"held": l.held, "record": l.record.as_ref().map(|r| r.describe())}));
    let unfinished_json = unfinished
        .as_ref()
        .map(|j| json!({"run": j.id(), "next_step": j.next_step().map(|s| s.name())}));
    if printer.is_json() {
        printer.json(&json!({
            "deployment": deployment.dir,
            "active_file": file,
            "active_file_from_state": from_state,
            "tier": class,
            "lock": lock_json,
            "unfinished_run": unfinished_json,
            "engine": engine_note,
            "containers": containers,
        }));
        return Ok(ExitStatus::Success);
    }

    printer.out(format_args!("Deployment:  {}", deployment.dir.display()));
    printer.out(format_args!(
        "Active file: {file}{}",
        if from_state {
            " (activated by xzup)"
        } else {
            ""
        }
    ));
    printer.out(format_args!("Tier:        {class}"));
    match &lock {
        Some(l) if l.held => printer.out(format_args!(
            "Lock:        held ({})",
            l.record
                .as_ref()
                .map_or("no record".into(), |r| r.describe())
        )),
        Some(l) if l.record.is_some() => printer.out(format_args!(
            "Lock:        stale ({}); `xzup unlock` clears it",
            l.record.as_ref().map_or(String::new(), |r| r.describe())
        )),
        _ => printer.out("Lock:        free"),
    }
    if let Some(j) = &unfinished {
        printer.out(printer.paint(
            &format!(
                "Unfinished:  run {} stopped at `{}`: run `xzup resume` or `xzup rollback`",
                j.id(),
                j.next_step().map_or("the end", |s| s.name())
            ),
            Style::Warn,
        ));
    }
    match engine_note {
        Some(note) => {
            printer.out(format_args!("Containers ({note}):"));
            for row in &containers {
                let verdict = if row["matches_file"] == true {
                    printer.paint("limits match the file", Style::Good)
                } else if row["container"].is_null() {
                    String::new()
                } else {
                    printer.paint(
                        &row["problems"]
                            .as_array()
                            .map(|p| {
                                p.iter()
                                    .filter_map(|v| v.as_str())
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            })
                            .unwrap_or_default(),
                        Style::Warn,
                    )
                };
                printer.out(format_args!(
                    "  {:<7} {:<28} {:<20} {verdict}",
                    row["role"].as_str().unwrap_or(""),
                    row["container"]
                        .as_str()
                        .unwrap_or(row["service"].as_str().unwrap_or("")),
                    row["state"].as_str().unwrap_or("")
                ));
            }
        }
        None => printer.out("Containers:  unknown (no Docker engine answers)"),
    }
    Ok(ExitStatus::Success)
}
