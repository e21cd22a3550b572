//! The command line, as clap derive types. Commands resolve these into plain settings
//! once; core modules never see clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Upgrade a xiaozhi-esp32-server Docker Compose deployment from one resource tier to
/// another: a verified backup first, every step journaled, and a way back.
#[derive(Debug, Parser)]
#[command(name = "xzup", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The deployment directory (holds the compose file, mysql/data, uploadfile).
    #[arg(
        short = 'C',
        long = "dir",
        value_name = "DIR",
        global = true,
        default_value = "."
    )]
    pub dir: PathBuf,
    /// The compose file [default: the one xzup last activated in DIR, else the first of
    /// docker-compose-offline.yml, docker-compose_all.yml, docker-compose.yml,
    /// docker-compose.yaml, compose.yaml, compose.yml].
    #[arg(short = 'f', long = "file", value_name = "FILE", global = true)]
    pub file: Option<PathBuf>,
    /// A tiers file to use instead of the built-in catalog (also `tiers_file` in xzup.toml).
    #[arg(long, value_name = "FILE", global = true, env = "XZUP_TIERS_FILE")]
    pub tiers_file: Option<PathBuf>,
    /// Map a role to a compose service, e.g. `--service db=mysql`; `db=none` when no
    /// service plays it (repeatable). Unmapped roles are found by service name, image or
    /// ports; `xzup plan` shows which and why.
    #[arg(long = "service", value_name = "ROLE=SERVICE", global = true)]
    pub services: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text, global = true)]
    pub format: FormatArg,
    /// When to use colour (NO_COLOR is honoured with `auto`).
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, global = true)]
    pub color: ColorArg,
    /// Print only results, warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail: each docker command as it runs (secrets masked), the engine's
    /// stderr when one fails, why no Docker engine answered.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the tier catalog: resources per service, MySQL/Redis settings, intended
    /// users, and whether this host can run each tier.
    Tiers,
    /// Print (or write) the compose file for a tier.
    ///
    /// Example: xzup render --tier high -o /tmp/docker-compose-high.yml
    Render(RenderArgs),
    /// Show what `apply` would do, without changing anything.
    ///
    /// Example: xzup plan --tier ultra --detailed-exitcode
    #[command(disable_version_flag = true)]
    Plan(PlanArgs),
    /// Write the version the db and Redis images run now into the compose file, in place
    /// of an unpinned `latest` or untagged image, so that no pull moves them by surprise.
    ///
    /// Example: xzup pin --dry-run
    Pin(PinArgs),
    /// Upgrade the running stack to a tier and/or new images: preflight (new images
    /// pulled before anything stops), down, backup, write compose, up, verify, commit. A
    /// failure after `down` puts the old stack back (its exact images, and the data when a
    /// data-bearing image changed).
    ///
    /// Example: xzup apply --tier ultra; xzup apply --version 0.9.1 --no-pull
    #[command(disable_version_flag = true)]
    Apply(ApplyArgs),
    /// Continue an interrupted run from its journal.
    Resume(ResumeArgs),
    /// Return to the stack as it was before a run (the last one by default).
    Rollback(RollbackArgs),
    /// Show the active tier and file, each container against it, and any unfinished run.
    Status,
    /// List past runs: times, tiers, outcome, step durations, downtime, backup.
    History,
    /// Clear a stale lock left by a run whose process is gone.
    Unlock(UnlockArgs),
    /// Write a verified tar.gz backup of the deployment's data.
    Backup(BackupArgs),
    /// List, verify or prune backups.
    #[command(subcommand)]
    Backups(BackupsCommand),
    /// Restore a backup; whatever stood in the way is moved aside, never deleted.
    Restore(RestoreArgs),
    /// Sample the running stack over a window and report against the plan's thresholds:
    /// CPU and memory per role (p50/p95/max of its limits), the buffer pool hit rate and
    /// evictions over the window, connections, round-trips, the host's disk. Exit 0 when
    /// nothing is found, 2 when something is.
    ///
    /// Example: xzup doctor --window 60s --record
    Doctor(DoctorArgs),
    /// Recommend the smallest tier per role that covers its use (p95 CPU at 70% of the
    /// limit, peak memory at 80%), from the samples `doctor --record` kept, else a fresh
    /// window; then the tier for the stack, or `--only` runs, and the `xzup apply` to run.
    ///
    /// Example: xzup recommend
    Recommend(RecommendArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// How long to sample, e.g. `60s`, `5m`, `1h` (a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    pub window: std::time::Duration,
    /// Time between two samples (each takes as long as `docker stats`, about 2 s).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub interval: std::time::Duration,
    /// Append the samples to `.xzup/usage/` for `xzup recommend` (compact, 0600, at most
    /// two files of 16 MiB: the older is dropped when the newer fills).
    #[arg(long)]
    pub record: bool,
}

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// Sample a fresh window of this length instead of reading `.xzup/usage/` [default:
    /// the record when there is one, else 60s].
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub window: Option<std::time::Duration>,
    /// Time between two samples of a fresh window.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub interval: std::time::Duration,
    /// Recommend only for these roles (server, db, redis, web).
    #[arg(long, value_name = "ROLE[,ROLE...]")]
    pub only: Option<String>,
}

/// `60s`, `5m`, `1h`, `500ms`, or a bare number of seconds; from 1 s to 24 h.
fn duration(value: &str) -> Result<std::time::Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{value}` is not a duration: write e.g. `60s`, `5m` or `1h`"))?;
    let secs = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => {
            return Err(format!(
                "`{value}`: unknown unit `{unit}`: use ms, s, m or h"
            ));
        }
    };
    if !(1.0..=86400.0).contains(&secs) {
        return Err(format!("`{value}` is out of range: from 1s to 24h"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[derive(Debug, Args)]
pub struct TierArgs {
    /// The target tier (see `xzup tiers`).
    #[arg(long, value_name = "TIER")]
    pub tier: String,
    /// Upgrade only these roles (server, db, redis, web); the others keep what they have.
    #[arg(long, value_name = "ROLE[,ROLE...]")]
    pub only: Option<String>,
}

/// What `plan` and `apply` move to: a tier, new images, or both.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The target tier (see `xzup tiers`); leave it out to change only images.
    #[arg(long, value_name = "TIER", required_unless_present_any = ["image", "target_version"])]
    pub tier: Option<String>,
    /// Upgrade only these roles (server, db, redis, web); the others keep what they have.
    #[arg(long, value_name = "ROLE[,ROLE...]")]
    pub only: Option<String>,
    /// A new image for a service: ROLE=TAG (a tag of the image the file names now),
    /// ROLE=REFERENCE (`registry:5000/team/web:2`) or ROLE=sha256:DIGEST. ROLE is server,
    /// web, db, redis or a service name. Repeatable.
    #[arg(long, value_name = "ROLE=IMAGE")]
    pub image: Vec<String>,
    /// Upstream's tag scheme: the same as `--image server=server_V --image web=web_V`.
    #[arg(long = "version", id = "target_version", value_name = "V")]
    pub version: Option<String>,
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// Show what would be written, change nothing (exit 2 when something is unpinned).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub target: TierArgs,
    /// Write to FILE instead of stdout (atomically). A relative path is relative to the
    /// current directory. FILE is a new path or a regular file other than the source (kept
    /// aside as `FILE.xzup-quarantine-TIME`), never a directory, device, FIFO or socket, nor
    /// inside a data path.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Exit 0 when nothing would change, 2 when changes are pending, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// The steps of which backup mode to show (see `apply --backup-mode`) [default: precopy].
    #[arg(long, value_enum, value_name = "MODE")]
    pub backup_mode: Option<BackupModeArg>,
    /// Also say, setting by setting, whether it can change on the running stack with no
    /// restart, and why not (`live` or `auto` asks the engine; see `apply --strategy`).
    #[arg(long, value_enum, value_name = "STRATEGY")]
    pub strategy: Option<StrategyArg>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the plan and change nothing (same as `xzup plan`).
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: exit 0 when nothing would change, 2 when changes are pending.
    #[arg(long, requires = "dry_run")]
    pub detailed_exitcode: bool,
    /// Go ahead even when the host looks too small (cores, memory, disk).
    #[arg(long)]
    pub force: bool,
    /// Pull missing images before stopping anything (with --image/--version the new
    /// images are always pulled first, unless --no-pull).
    #[arg(long)]
    pub pull: bool,
    /// With --image/--version: do not pull; the new images must be present already.
    #[arg(long, conflicts_with = "pull")]
    pub no_pull: bool,
    /// When the backup is made: precopy (the data copied while the stack runs, brought up
    /// to date after down, archived once the new stack is up: the outage no longer grows
    /// with the data; too little free space for the copy falls back to direct, said), or
    /// direct (while the stack is down) [default: precopy].
    #[arg(long, value_enum, value_name = "MODE")]
    pub backup_mode: Option<BackupModeArg>,
    /// How the new tier reaches the stack: restart (stop, back up, start with the new
    /// file), live (the new limits and MySQL/Redis settings set on the running
    /// containers, no restart; refused before anything changes, naming the settings,
    /// when one cannot change live), auto (live when every setting can, else restart).
    #[arg(long, value_enum, value_name = "STRATEGY", default_value_t = StrategyArg::Restart)]
    pub strategy: StrategyArg,
    /// With --strategy live (or auto, when it goes live): take the verified backup
    /// anyway, while the stack runs. By default a live run takes none: it touches no data.
    #[arg(long = "backup", conflicts_with = "backup_mode")]
    pub live_backup: bool,
    #[command(flatten)]
    pub run: RunOptions,
    #[command(flatten)]
    pub backup: BackupOptions,
}

/// Options of a run (`resume` takes them again, see [`ResumeArgs`]).
#[derive(Debug, Args, Clone)]
pub struct RunOptions {
    /// Seconds to wait for every service to run and be healthy after `up`.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub wait_timeout: u64,
    /// Seconds of `docker stats` sampling during verify.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub verify_window: u64,
    /// Treat the monitoring thresholds (CPU > 70%, memory > 80% of the limit) as failures.
    #[arg(long)]
    pub strict: bool,
    /// On rollback, restore data from the run's backup: auto (when a data-bearing
    /// service's image changed), always, never.
    #[arg(long, value_enum, default_value_t = RestoreDataArg::Auto)]
    pub restore_data: RestoreDataArg,
}

/// The run options given again to `resume`: each replaces the run's own for the rest of
/// the run (the journal notes the change); not given, the run keeps its own.
#[derive(Debug, Args, Clone)]
pub struct ResumeArgs {
    /// Seconds to wait for every service to run and be healthy after `up` [default: the
    /// run's own].
    #[arg(long, value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Seconds of `docker stats` sampling during verify [default: the run's own].
    #[arg(long, value_name = "SECONDS")]
    pub verify_window: Option<u64>,
    /// Treat the monitoring thresholds (CPU > 70%, memory > 80% of the limit) as failures
    /// from now on.
    #[arg(long)]
    pub strict: bool,
    /// On rollback, restore data from the run's backup: auto, always, never [default: the
    /// run's own].
    #[arg(long, value_enum)]
    pub restore_data: Option<RestoreDataArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    Restart,
    Live,
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackupModeArg {
    Direct,
    Precopy,
}

impl BackupModeArg {
    /// The mode a run takes: the one given, else pre-copy (never a longer outage than
    /// direct: see the README's downtime benchmark).
    pub fn or_default(given: Option<BackupModeArg>) -> crate::journal::BackupMode {
        match given {
            Some(BackupModeArg::Direct) => crate::journal::BackupMode::Direct,
            Some(BackupModeArg::Precopy) | None => crate::journal::BackupMode::Precopy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RestoreDataArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The run to undo (see `xzup history`) [default: the last one].
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
    /// Restore data from the run's backup: auto, always, never [default: never; auto for
    /// a run that changed images (a forward migration is undone); an unfinished run keeps
    /// its own].
    #[arg(long, value_enum)]
    pub restore_data: Option<RestoreDataArg>,
    /// Seconds to wait for the old stack to be healthy [default: 300; an unfinished run
    /// keeps its own].
    #[arg(long, value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Remove the lock file even while a live process holds it. This clears the record
    /// only: that run goes on, and a new run will no longer wait for it.
    #[arg(long)]
    pub force: bool,
}

/// Where and how to write a backup.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Backup options")]
pub struct BackupOptions {
    /// Directory for archives [default: DIR/backups]. A relative path is relative to the
    /// current directory (not to `-C DIR`); never a data path or inside one.
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// gzip level, 1 (fast) to 9 (small).
    #[arg(long, value_name = "N", default_value_t = crate::backup::DEFAULT_LEVEL, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub level: u32,
    /// Also back up these paths (relative to DIR), e.g. large model files.
    #[arg(long, value_name = "PATH")]
    pub include: Vec<PathBuf>,
    /// Skip reading the archive back against its manifest (not recommended).
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The archive to write [default: BACKUP_DIR/backup-YYYYMMDD-HHMMSS.tar.gz]. A relative
    /// path is relative to the current directory; never inside a data path.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub options: BackupOptions,
}

#[derive(Debug, Subcommand)]
pub enum BackupsCommand {
    /// List backups: time, size, compression ratio, verified or not.
    List(BackupDirArg),
    /// Check an archive against its manifest.
    Verify {
        /// The archive.
        // Its own id: `file` is also the global `-f/--file`, which would receive it.
        #[arg(id = "archive", value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete old backups, keeping the newest N (never the newest verified one, nor one a
    /// recent or unfinished run refers to).
    Prune {
        /// How many backups that verify now to keep (at least 1); each is read back in
        /// full first, and nothing newer that fails is deleted.
        #[arg(long, value_name = "N", value_parser = keep_count)]
        keep: usize,
        #[command(flatten)]
        dir: BackupDirArg,
    },
}

#[derive(Debug, Args)]
pub struct BackupDirArg {
    /// Directory for archives [default: DIR/backups]. A relative path is relative to the
    /// current directory (not to `-C DIR`); never a data path or inside one.
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive to restore.
    // Its own id: `file` is also the global `-f/--file`, which would receive it.
    #[arg(id = "archive", value_name = "FILE")]
    pub file: PathBuf,
    /// Restore into DIR, each path by its name in the archive (volumes under
    /// `docker-volumes/`, host paths under `host-paths/`), as `tar -xzf` would. Without it,
    /// each path goes back where the deployment has it: a volume into the volume, a
    /// symlinked data dir where it points.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
}

/// `--keep N`: at least one, since prune never deletes the last good backup.
fn keep_count(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("0 would leave no backup: keep at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "`{value}` is not a count: give a whole number, 1 or more"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(
            duration("0s").unwrap_err(),
            "`0s` is out of range: from 1s to 24h"
        );
        assert_eq!(
            duration("3d").unwrap_err(),
            "`3d`: unknown unit `d`: use ms, s, m or h"
        );
        assert!(duration("soon").is_err());
    }
}
