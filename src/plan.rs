//! The plan: what `apply` would do to a deployment, computed without changing anything —
//! which service plays each role and why, the steps, each service's settings current →
//! target, host checks and the diff of the compose file. `plan`, `apply --dry-run` and
//! `apply` itself all start from it.
//!
//! Only the roles in the deployment count: a role no service plays (a server-only file,
//! MySQL on another host) gets none of the tier's numbers, and adds nothing to the host
//! checks or the verification.

use std::path::{Path, PathBuf};

use serde::Serialize;

use std::collections::BTreeMap;

use crate::compose::{ComposeError, ComposeFile, Rendered};
use crate::datapath::{DataPaths, LeftOut, Origin};
use crate::diff::Side;
use crate::host::{Fit, HostCheck, Needs};
use crate::journal::BackupMode;
use crate::roles::{Role, RoleMap, RoleRow};
use crate::settings::{Observed, Target};
use crate::tiers::{Catalog, Classification, Tier};
use crate::units::{Memory, human_bytes};

/// The host's size, as the Docker engine reports it (`docker info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HostFacts {
    pub cpus: u32,
    pub memory: u64,
}

/// A data path the backup step will archive, with its current size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupItem {
    /// Its name in the archive.
    pub name: String,
    pub origin: Origin,
    /// Where it is read on this host (symlinks followed).
    pub host: PathBuf,
    /// Whether the compose file's path is a symlink to `host`.
    pub follows_a_link: bool,
    /// A volume read through a container of this image (its mountpoint cannot be read here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through_image: Option<String>,
    /// `None` when it cannot be measured here (read through a container).
    pub bytes: Option<u64>,
}

impl BackupItem {
    /// The data paths with their sizes now.
    pub fn of(paths: &DataPaths) -> Vec<BackupItem> {
        paths
            .paths
            .iter()
            .map(|p| BackupItem {
                name: p.name.clone(),
                origin: p.origin.clone(),
                host: p.host.clone(),
                follows_a_link: p.follows_a_link(),
                through_image: p.through_image.clone(),
                bytes: p.bytes(),
            })
            .collect()
    }
}

/// What the plan needs besides the compose file.
pub struct PlanInput<'a> {
    pub dir: &'a Path,
    pub compose: &'a ComposeFile,
    pub roles: &'a RoleMap,
    pub catalog: &'a Catalog,
    /// The tier to write; `None`: only images change (`--image`, `--version`).
    pub tier: Option<&'a Tier>,
    /// Service → the image reference to write (`--image`, `--version`), resolved.
    pub images: BTreeMap<String, String>,
    /// Service → the image it runs now (reference, ID, version label), for the plan's rows.
    pub running: BTreeMap<String, RunningImage>,
    /// Roles to change (`--only`, all in `roles`); empty means every role in `roles`.
    pub only: Vec<Role>,
    pub backup_items: Vec<BackupItem>,
    /// What the backup leaves out, and why.
    pub not_backed_up: Vec<LeftOut>,
    pub archive: PathBuf,
    /// When the backup is made: the steps differ.
    pub backup_mode: BackupMode,
    pub host: Option<HostFacts>,
}

/// The image a service runs now, as the engine says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RunningImage {
    /// The image ID (`sha256:…`).
    pub id: String,
    /// Its version label, when it has one.
    pub version: Option<String>,
}

/// One service's image: the reference the file names now and what runs → the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRow {
    pub role: Role,
    pub service: String,
    pub current: String,
    /// What the service's container runs now; `None`: no container (or no engine).
    pub running: Option<RunningImage>,
    pub target: String,
    pub changed: bool,
}

/// One numbered step of an apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanStep {
    pub name: &'static str,
    pub summary: String,
    pub details: Vec<String>,
}

/// One setting of one service, current → target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingChange {
    pub role: Role,
    pub service: String,
    pub setting: &'static str,
    pub current: Option<String>,
    pub target: Option<String>,
    pub changed: bool,
}

/// The whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub deployment: PathBuf,
    pub source_file: PathBuf,
    pub target_file: PathBuf,
    pub tier: String,
    pub only: Vec<Role>,
    /// Each role's service and why, or that it is not in this deployment.
    pub roles: Vec<RoleRow>,
    /// Services of the file that play no role (left as they are).
    pub other_services: Vec<String>,
    pub from: Classification,
    pub to: Classification,
    pub changes: bool,
    pub steps: Vec<PlanStep>,
    pub settings: Vec<SettingChange>,
    /// Each role's image, now → target.
    pub images: Vec<ImageRow>,
    pub host: Option<HostFacts>,
    pub host_checks: Vec<HostCheck>,
    /// What the backup step takes, with sizes.
    pub backup: Vec<BackupItem>,
    /// What it leaves out, and why.
    pub not_backed_up: Vec<LeftOut>,
    pub warnings: Vec<String>,
    /// Unified diff of the compose file, secrets redacted.
    pub diff: String,
    /// The rendered file (never printed as part of the plan: it may hold secrets).
    #[serde(skip)]
    pub rendered: String,
}

/// The file `apply` writes for `tier`, beside the source: `docker-compose-<tier>.yml`.
pub fn target_file_name(tier: &str) -> String {
    format!("docker-compose-{tier}.yml")
}

/// Computes the plan. Changes nothing.
pub fn build(input: PlanInput<'_>) -> Result<Plan, ComposeError> {
    let compose = input.compose;
    let present = input.roles.present();
    let only: Vec<Role> = if input.only.is_empty() {
        present.clone()
    } else {
        input.only.clone()
    };
    let target = match input.tier {
        Some(tier) => tier.target(&only),
        None => Target {
            resources: BTreeMap::new(),
            mysql: None,
            redis: None,
        },
    };
    let observed = compose.observe(input.roles)?;
    let from = input.catalog.classify(&observed, &present);
    let mut rendered = match input.tier {
        Some(_) => compose.render(input.roles, &target)?,
        None => Rendered {
            file: compose.clone(),
            secrets: Vec::new(),
            source_secrets: compose.secret_spans(),
        },
    };
    if !input.images.is_empty() {
        rendered.file = rendered.file.with_images(&input.images)?;
        rendered.secrets = rendered.file.secret_spans();
    } else if input.tier.is_none() {
        rendered.secrets = rendered.source_secrets.clone();
    }
    // A tier's file is written beside the source; a change of images alone rewrites the
    // active file in place (the original kept aside and in the run's record).
    let target_path = match input.tier {
        Some(tier) => input.dir.join(target_file_name(&tier.name)),
        None => compose.path.clone(),
    };
    rendered.file.path = target_path.clone();
    let images = image_rows(input.roles, compose, &rendered.file, &input.running);
    let rendered_file = &rendered.file;
    let observed_after = rendered_file.observe(input.roles)?;
    let to = input.catalog.classify(&observed_after, &present);
    let changes = rendered.file.text != compose.text;

    // Masked where the structure says a secret stands, on both sides alike, so only the
    // tier's values show as changed.
    let diff = crate::diff::unified(
        &Side {
            text: &compose.text,
            secrets: &rendered.source_secrets,
            name: &file_name(&compose.path),
        },
        &Side {
            text: &rendered.file.text,
            secrets: &rendered.secrets,
            name: &file_name(&target_path),
        },
    );
    let settings = setting_changes(input.roles, &observed, &observed_after, &target);
    let host_checks = input
        .host
        .map(|host| host_checks(host, &observed_after))
        .unwrap_or_default();
    let mut warnings: Vec<String> = rendered_file
        .warnings(input.roles)
        .into_iter()
        .map(|w| format!("{}: {}", w.service, w.message))
        .collect();
    warnings.dedup();
    warnings.extend(
        input
            .not_backed_up
            .iter()
            .filter(|l| l.is_warning())
            .map(|l| format!("backup: {l}")),
    );

    let steps = steps(
        &input,
        compose,
        &target_path,
        &observed_after,
        &rendered.file.text,
    );
    let mut steps = steps;
    let changed: Vec<&ImageRow> = images.iter().filter(|i| i.changed).collect();
    if !changed.is_empty() {
        for step in steps.iter_mut() {
            match step.name {
                "preflight" => {
                    for row in &changed {
                        step.details.push(format!(
                            "pull {} (unless --no-pull), then keep what `{}` runs now as {}:xzup-<run-id>",
                            row.target,
                            row.service,
                            crate::images::Reference::parse(&row.current)
                                .map_or_else(|_| row.current.clone(), |r| r.repository)
                        ));
                    }
                }
                "verify" => step.details.push(
                    "each container runs the image ID its file names; the web answers on its port"
                        .into(),
                ),
                _ => {}
            }
        }
    }
    let other_services = compose
        .services()
        .into_iter()
        .filter(|s| input.roles.role_of(s).is_none())
        .collect();
    Ok(Plan {
        deployment: input.dir.to_path_buf(),
        source_file: compose.path.clone(),
        target_file: target_path,
        tier: input
            .tier
            .map_or_else(|| from.tier.clone(), |t| t.name.clone()),
        only: input.only,
        roles: input.roles.rows(),
        other_services,
        from,
        to,
        changes,
        steps,
        settings,
        images,
        host: input.host,
        host_checks,
        backup: input.backup_items.clone(),
        not_backed_up: input.not_backed_up.clone(),
        warnings,
        diff,
        rendered: rendered.file.text,
    })
}

/// What the write step will do with the file at `target`, and what becomes of the source.
fn write_step(
    source_path: &Path,
    target_path: &Path,
    source: &str,
    target: &str,
    rendered: &str,
) -> PlanStep {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let aside = |name: &str| format!("{name}.xzup-quarantine-<time>");
    if canonical(source_path) == canonical(target_path) {
        // The source already has the tier's name: it is the file that gets replaced.
        return PlanStep {
            name: "write compose",
            summary: format!("replace {target} (the source) with the new file"),
            details: vec![
                format!("the current {source} is kept aside as {}", aside(source)),
                "and in the run's record (.xzup/runs/<run>/previous-compose.yml): a rollback \
                 puts it back"
                    .into(),
            ],
        };
    }
    let mut details = vec![format!("{source} is left as it is")];
    match std::fs::read(target_path) {
        Ok(old) if old == rendered.as_bytes() => {
            details.push(format!("{target} already holds the new file"));
        }
        Ok(_) => details.push(format!(
            "the different {target} already there is kept aside as {}",
            aside(target)
        )),
        Err(_) => {}
    }
    PlanStep {
        name: "write compose",
        summary: format!("write {target}"),
        details,
    }
}

fn steps(
    input: &PlanInput<'_>,
    compose: &ComposeFile,
    target_path: &Path,
    after: &Observed,
    rendered: &str,
) -> Vec<PlanStep> {
    let source = display_rel(input.dir, &compose.path);
    let target = display_rel(input.dir, target_path);
    let total: u64 = input.backup_items.iter().filter_map(|i| i.bytes).sum();
    let mut backup_details: Vec<String> = input
        .backup_items
        .iter()
        .map(|i| {
            let link = if i.follows_a_link {
                format!(", a symlink to {}", i.host.display())
            } else {
                String::new()
            };
            let size = i.bytes.map_or("size unknown".to_string(), human_bytes);
            let through = match &i.through_image {
                Some(image) => format!(", read through a container of `{image}`"),
                None => String::new(),
            };
            format!("{} ({size}): {}{link}{through}", i.name, i.origin)
        })
        .collect();
    backup_details.extend(
        input
            .not_backed_up
            .iter()
            .map(|l| format!("not backed up: {}", l.describe())),
    );
    backup_details.push(format!(
        "archive: {}",
        display_rel(input.dir, &input.archive)
    ));
    // What the host checks judge: the new file's limits, of the roles in it.
    let needs = Needs::of_file(after);
    let roles = input.roles;
    let present: Vec<&str> = roles.present().iter().map(|r| r.name()).collect();
    let containers = match present.as_slice() {
        [_, _, _, _] => "each container".to_string(),
        [one] => format!("the {one} container"),
        some => format!("the {} containers", some.join(", ")),
    };
    let mut verify_details = vec![format!(
        "docker inspect: memory, cpus, memory reservation of {containers}"
    )];
    let mysql = "MySQL innodb_buffer_pool_size, max_connections";
    let redis = "Redis maxmemory, policy";
    match (roles.has(Role::Db), roles.has(Role::Redis)) {
        (true, true) => verify_details.push(format!("{mysql}; {redis}")),
        (true, false) => verify_details.push(mysql.into()),
        (false, true) => verify_details.push(redis.into()),
        (false, false) => {}
    }
    verify_details.push("docker stats: CPU > 70% or memory > 80% of the limit is a warning".into());
    let verify_summary = match (roles.has(Role::Db), roles.has(Role::Redis)) {
        (true, true) => "limits, MySQL/Redis settings and docker stats match the tier",
        (true, false) => "limits, MySQL settings and docker stats match the tier",
        (false, true) => "limits, Redis settings and docker stats match the tier",
        (false, false) => "limits and docker stats match the tier",
    };
    let down = PlanStep {
        name: "down",
        summary: format!("compose down with {source}"),
        details: vec!["then confirm no container of the project still runs".into()],
    };
    let paths = format!(
        "{} path{} ({})",
        input.backup_items.len(),
        if input.backup_items.len() == 1 {
            ""
        } else {
            "s"
        },
        human_bytes(total)
    );
    let mut steps = vec![PlanStep {
        name: "preflight",
        summary: "check the engine, host size, free disk, images and the new file".into(),
        details: vec![format!(
            "largest cpus limit {} (needs that many cores), memory limits {} in all",
            needs.cores,
            human_bytes(needs.memory.bytes)
        )],
    }];
    let write = write_step(&compose.path, target_path, &source, &target, rendered);
    let up = PlanStep {
        name: "up",
        summary: format!("compose up -d with {target}"),
        details: vec!["wait until every service runs and is healthy".into()],
    };
    match input.backup_mode {
        BackupMode::Direct => steps.extend([
            down,
            PlanStep {
                name: "backup",
                summary: format!("verified tar.gz of {paths}"),
                details: backup_details,
            },
            write,
            up,
        ]),
        BackupMode::Precopy => {
            let archive = backup_details.pop().unwrap_or_default();
            backup_details.push(
                "a reflink clone where the filesystem has it; too little free space for \
                 the copy and the archive: the backup is made while the stack is down instead"
                    .into(),
            );
            steps.extend([
                PlanStep {
                    name: "precopy",
                    summary: format!("copy {paths} into the run's staging dir while the stack runs"),
                    details: backup_details,
                },
                down,
                PlanStep {
                    name: "delta",
                    summary: "make the staging copy exactly the stopped state".into(),
                    details: vec![
                        "only files touched since the copy began are read again, large ones block by block".into(),
                    ],
                },
                write,
                up,
                PlanStep {
                    name: "archive",
                    summary: "verified tar.gz of the staging copy, while the new stack runs".into(),
                    details: vec![
                        archive,
                        "the run is committed only once it is verified; the staging copy is then removed".into(),
                    ],
                },
            ]);
        }
    }
    steps.extend([
        PlanStep {
            name: "verify",
            summary: verify_summary.into(),
            details: verify_details,
        },
        PlanStep {
            name: "commit",
            summary: format!("{target} becomes the active compose file"),
            details: vec![],
        },
    ]);
    steps
}

/// Each role's image now (file and engine) → in the new file.
fn image_rows(
    roles: &RoleMap,
    before: &ComposeFile,
    after: &ComposeFile,
    running: &BTreeMap<String, RunningImage>,
) -> Vec<ImageRow> {
    let (now, then) = (before.images(), after.images());
    roles
        .iter()
        .filter_map(|(role, service)| {
            let current = now.get(service)?.clone();
            let target = then
                .get(service)
                .cloned()
                .unwrap_or_else(|| current.clone());
            Some(ImageRow {
                role,
                service: service.to_string(),
                changed: current != target,
                running: running.get(service).cloned(),
                current,
                target,
            })
        })
        .collect()
}

/// `path` relative to `dir` when it lies inside it.
pub fn display_rel(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn setting_changes(
    roles: &RoleMap,
    before: &Observed,
    after: &Observed,
    target: &Target,
) -> Vec<SettingChange> {
    let mut rows = Vec::new();
    for (role, service) in roles.iter() {
        let service = service.to_string();
        let b = before.services.get(&role).cloned().unwrap_or_default();
        let a = after.services.get(&role).cloned().unwrap_or_default();
        let mut push = |setting: &'static str, cur: Option<String>, new: Option<String>| {
            rows.push(SettingChange {
                role,
                service: service.clone(),
                setting,
                changed: cur != new,
                current: cur,
                target: new,
            });
        };
        let s = |v: &Option<crate::units::Cpus>| v.map(|c| c.to_string());
        let m = |v: &Option<crate::units::Memory>| v.as_ref().map(|m| m.text.clone());
        push("limits.cpus", s(&b.limit_cpus), s(&a.limit_cpus));
        push("limits.memory", m(&b.limit_memory), m(&a.limit_memory));
        push("reservations.cpus", s(&b.reserve_cpus), s(&a.reserve_cpus));
        push(
            "reservations.memory",
            m(&b.reserve_memory),
            m(&a.reserve_memory),
        );
        if role == Role::Db && target.mysql.is_some() {
            let (bm, am) = (&before.mysql, &after.mysql);
            push(
                "max_connections",
                bm.max_connections.map(|v| v.to_string()),
                am.max_connections.map(|v| v.to_string()),
            );
            push(
                "innodb_buffer_pool_size",
                m(&bm.innodb_buffer_pool_size),
                m(&am.innodb_buffer_pool_size),
            );
            push(
                "innodb_log_file_size",
                m(&bm.innodb_log_file_size),
                m(&am.innodb_log_file_size),
            );
        }
        if role == Role::Redis && target.redis.is_some() {
            let (br, ar) = (&before.redis, &after.redis);
            push("maxmemory", m(&br.maxmemory), m(&ar.maxmemory));
            push(
                "maxmemory-policy",
                br.maxmemory_policy.clone(),
                ar.maxmemory_policy.clone(),
            );
            let save = |v: &Vec<String>| (!v.is_empty()).then(|| v.join(" / "));
            push("save", save(&br.save), save(&ar.save));
        }
    }
    rows
}

/// Cores and memory of the host against what the file asks for, by the rule of
/// [`Fit`]: a cpus limit above the host's cores blocks, memory limits above its RAM warn.
pub fn host_checks(host: HostFacts, observed: &Observed) -> Vec<HostCheck> {
    let memory = Some(Memory::from_bytes(host.memory));
    Fit::judge(Needs::of_file(observed), host.cpus, memory).checks()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_name() {
        assert_eq!(target_file_name("ultra"), "docker-compose-ultra.yml");
    }
}
