//! `xzup doctor`: samples the running stack over `--window` and reports each present role
//! against the plan's thresholds (`sizing::findings`); exit 2 when something is found.
//! `--record` appends the samples to `.xzup/usage/`. [`measure`] is the window `recommend`
//! takes when it has no record.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::compose::ComposeFile;
use crate::deployment::{Deployment, DeploymentOptions};
use crate::docker::{Compose, Docker};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::host::{self, Host};
use crate::printer::{Printer, Style};
use crate::roles::{Role, RoleMap};
use crate::sizing::findings::{self, Assessment, DataDir, HostFacts};
use crate::sizing::record;
use crate::sizing::sample::{self, Window};
use crate::tiers::{Catalog, Classification};
use crate::units::human_bytes;

/// What `doctor` prints as JSON.
#[derive(Debug, Serialize)]
struct DoctorReport<'a> {
    deployment: PathBuf,
    /// The tier the active file matches (`custom` for a mix or none).
    tier: &'a Classification,
    #[serde(flatten)]
    assessment: &'a Assessment,
    /// The record the samples were appended to (`--record`).
    recorded: Option<String>,
}

/// One measured window of a deployment, with what the report needs around it.
pub(super) struct Measured {
    pub deployment: Deployment,
    pub roles: RoleMap,
    pub catalog: Catalog,
    pub tier: Classification,
    pub window: Window,
    pub assessment: Assessment,
}

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &DoctorArgs,
) -> Result<ExitStatus> {
    let m = measure(opts, printer, args.window, args.interval)?;
    let recorded = if args.record {
        let dir = record::usage_dir(&m.deployment.state_dir());
        let path = record::append(
            &dir,
            &record::lines(&m.window, &m.assessment),
            record::MAX_FILE,
        )
        .map_err(|e| Error::io("append the samples to", &dir, e))?;
        Some(crate::plan::display_rel(&m.deployment.dir, &path))
    } else {
        None
    };
    if printer.is_json() {
        printer.json(&DoctorReport {
            deployment: m.deployment.dir.clone(),
            tier: &m.tier,
            assessment: &m.assessment,
            recorded,
        });
    } else {
        print_text(printer, &m, recorded.as_deref());
    }
    Ok(if m.assessment.findings.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    })
}

/// Opens the deployment, samples its stack for `window`, and assesses it.
pub(super) fn measure(
    opts: &DeploymentOptions,
    printer: &Printer,
    window: Duration,
    interval: Duration,
) -> Result<Measured> {
    let deployment = Deployment::open(opts)?;
    let catalog = deployment.catalog()?;
    let compose = deployment.compose()?;
    let roles = deployment.roles(&compose)?;
    let observed = compose.observe(&roles)?;
    let tier = catalog.classify(&observed, &[]);
    if roles.is_empty() {
        return Err(Error::Other {
            message: format!(
                "no service of `{}` plays a role xzup knows (server, db, redis, web): nothing to measure",
                compose.path.display()
            ),
            hint: Some("map one with `--service ROLE=SERVICE` (see `xzup plan`)".into()),
        });
    }
    let docker = Docker::new().with_secrets(compose.secrets());
    let names: Vec<String> = compose.container_names().into_values().collect();
    let (project, _) = Compose::open(&docker, &deployment.dir, &compose.path, &names)?;
    let password = roles
        .service(Role::Db)
        .and_then(|db| compose.environment(db).get("MYSQL_ROOT_PASSWORD").cloned());
    let request = sample::Request {
        project: project.project().to_string(),
        roles: roles.iter().map(|(r, s)| (r, s.to_string())).collect(),
        mysql_password: password,
        window,
        interval,
    };
    crate::interrupt::install();
    let spinner = printer.spinner(&format!(
        "sampling {} for {}s",
        roles
            .present()
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(", "),
        window.as_secs()
    ));
    let sampled = sample::sample(&docker, &request, &crate::interrupt::requested);
    drop(spinner);
    let window = sampled?;
    if window.containers.values().all(|c| !c.running) {
        return Err(Error::Other {
            message: format!(
                "no container of project `{}` runs: there is nothing to measure",
                request.project
            ),
            hint: Some(
                "start the stack (`docker compose up -d`), or name the deployment with `-C DIR`"
                    .into(),
            ),
        });
    }
    let facts = host_facts(&deployment, &compose, &roles, &docker, &catalog, &tier)?;
    let assessment = findings::assess(&window, facts, roles.absent());
    Ok(Measured {
        deployment,
        roles,
        catalog,
        tier,
        window,
        assessment,
    })
}

/// The host: cores and memory against the tier's host, the data dirs' disks, a GPU.
fn host_facts(
    deployment: &Deployment,
    compose: &ComposeFile,
    roles: &RoleMap,
    docker: &Docker,
    catalog: &Catalog,
    tier: &Classification,
) -> Result<HostFacts> {
    let here = Host::detect().map_err(|e| Error::Usage {
        hint: e.hint(),
        message: e.to_string(),
    })?;
    let on = (!tier.is_custom())
        .then(|| catalog.get(&tier.tier).ok())
        .flatten();
    // The data dirs the backup would take: where the db's and the web's data lie.
    let data_dirs = match super::data_paths(deployment, compose, roles, &[], docker) {
        Ok(paths) => paths
            .paths
            .iter()
            .filter_map(|p| {
                let role = roles.role_of(p.origin.service()?)?;
                Some(DataDir {
                    role,
                    path: p.host.clone(),
                    rotational: host::rotational(&p.host),
                })
            })
            .collect(),
        Err(e) => {
            log::debug!("data dirs not found: {e}");
            Vec::new()
        }
    };
    Ok(HostFacts {
        cpus: here.cpus,
        memory: here.memory.map(|m| m.bytes),
        tier: on.map(|t| t.name.clone()),
        tier_host_cpus: on.map(|t| t.info.host_cpus).filter(|c| *c > 0),
        tier_host_memory: on.map(|t| t.info.host_memory.bytes).filter(|b| *b > 0),
        data_dirs,
        gpu: host::gpu(),
    })
}

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

fn print_text(printer: &Printer, m: &Measured, recorded: Option<&str>) {
    let a = &m.assessment;
    printer.out(format_args!(
        "Window:   {:.1}s, {} samples",
        a.window_secs, a.samples
    ));
    printer.out(format_args!("Tier:     {}", m.tier));
    printer.out(format_args!("Roles:    {}", m.roles.summary()));
    printer.out("");
    printer.out(printer.paint(
        &format!(
            "{:<7} {:<28} {:<22} {:<22}",
            "ROLE", "CPU p50/p95/max", "MEMORY p50/p95/max", "USING"
        ),
        Style::Header,
    ));
    for r in &a.roles {
        let cpu = r.cpu.map_or("not measured".to_string(), |s| {
            format!(
                "{}/{}/{} of {}",
                pct(s.p50),
                pct(s.p95),
                pct(s.max),
                r.limit_cpus
                    .map_or("host".to_string(), |c| format!("{c} cpus"))
            )
        });
        let mem = r.memory.map_or("not measured".to_string(), |s| {
            format!(
                "{}/{}/{} of {}",
                pct(s.p50),
                pct(s.p95),
                pct(s.max),
                r.limit_memory.map_or("host".to_string(), human_bytes)
            )
        });
        let using = match (r.cores, r.memory_bytes) {
            (Some(c), Some(b)) => format!("{:.2} cores, {}", c.p95, human_bytes(b.max as u64)),
            _ if !r.running => "not running".to_string(),
            _ => String::new(),
        };
        printer.out(format_args!(
            "{:<7} {cpu:<28} {mem:<22} {using}",
            r.role.name()
        ));
    }
    printer.out("");
    if let Some(d) = &a.mysql {
        let hit = match d.hit_rate {
            Some(h) => format!(
                "buffer pool hit rate {:.2}% over the window ({} of {} page reads from disk)",
                h * 100.0,
                d.pool_reads.unwrap_or(0),
                d.pool_read_requests.unwrap_or(0)
            ),
            None => "buffer pool hit rate not measured (no page reads in the window)".into(),
        };
        printer.out(format_args!("db:       {hit}"));
        printer.out(format_args!(
            "          data and indexes {} in a {} pool; connections {} of {} at most; slow queries {}; `SELECT 1` {}",
            d.data_bytes.map_or("unknown".into(), human_bytes),
            human_bytes(d.pool_bytes),
            d.max_used_connections,
            d.max_connections,
            d.slow_queries.map_or("unknown".into(), |n| n.to_string()),
            d.query_ms.map_or("not measured".into(), |ms| format!("{ms:.0} ms"))
        ));
    }
    if let Some(r) = &a.redis {
        printer.out(format_args!(
            "redis:    used {} of maxmemory {}; {} keys evicted in the window; keyspace hit ratio {}",
            r.used_memory.map_or("unknown".into(), human_bytes),
            if r.maxmemory == 0 {
                "none".into()
            } else {
                human_bytes(r.maxmemory)
            },
            r.evicted_keys.map_or("unknown".into(), |n| n.to_string()),
            r.hit_ratio.map_or("not measured".into(), |h| format!("{:.1}%", h * 100.0))
        ));
    }
    for p in &a.http {
        let result = match (p.status, p.ms, &p.error) {
            (Some(s), Some(ms), _) => format!("HTTP {s} in {ms:.0} ms"),
            (_, _, Some(e)) => format!("not reachable: {e}"),
            _ => "not reachable".into(),
        };
        printer.out(format_args!(
            "{:<9} {} {} → {result}",
            format!("{}:", p.role),
            p.what,
            p.url
        ));
    }
    if let Some(ps) = &a.server_processes {
        printer.out(format_args!(
            "server:   {} processes: {}",
            ps.len(),
            ps.join("; ")
        ));
    }
    let h = &a.host;
    let tier_host = match (&h.tier, h.tier_host_cpus, h.tier_host_memory) {
        (Some(t), Some(c), Some(b)) => {
            format!(" (tier {t} asks for {c} cores, {})", human_bytes(b))
        }
        _ => String::new(),
    };
    printer.out(format_args!(
        "host:     {} cores, {} memory{tier_host}; GPU {}",
        h.cpus,
        h.memory.map_or("unknown".into(), human_bytes),
        h.gpu.as_deref().unwrap_or("none found")
    ));
    for d in &h.data_dirs {
        let disk = match d.rotational {
            Some(true) => "a rotational disk",
            Some(false) => "a solid-state disk",
            None => "a disk that could not be told",
        };
        printer.out(format_args!(
            "          {} data `{}` on {disk}",
            d.role,
            d.path.display()
        ));
    }
    if !a.absent.is_empty() {
        let names: Vec<&str> = a.absent.iter().map(|r| r.name()).collect();
        printer.out(format_args!(
            "absent:   {} (not in this deployment: not measured)",
            names.join(", ")
        ));
    }
    for note in &a.notes {
        printer.warn(note);
    }
    if let Some(path) = recorded {
        printer.out(format_args!("recorded: {path}"));
    }
    printer.out("");
    if a.findings.is_empty() {
        printer.out(printer.paint(
            "No findings: every measured role is within the plan's thresholds",
            Style::Good,
        ));
        return;
    }
    printer.out(printer.paint(&format!("Findings ({}):", a.findings.len()), Style::Warn));
    for f in &a.findings {
        printer.out(format_args!("  {}: {}", f.kind.name(), f.evidence));
        printer.out(printer.paint(&format!("    → {}", f.action), Style::Hint));
    }
}
