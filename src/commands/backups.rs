//! `xzup backups list | verify FILE | prune --keep N`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backup;
use crate::cli::{BackupDirArg, BackupsCommand};
use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::journal::{self, JournalError};
use crate::printer::{Printer, Style};
use crate::units::human_bytes;

use super::run_output::BarProgress;
use super::{absolute, display};

pub(crate) fn run(
    opts: &DeploymentOptions,
    printer: &Printer,
    args: &BackupsCommand,
) -> Result<ExitStatus> {
    match args {
        BackupsCommand::List(dir) => list(opts, printer, dir),
        BackupsCommand::Verify { file } => verify(printer, file),
        BackupsCommand::Prune { keep, dir } => prune(opts, printer, *keep, dir),
    }
}

/// `--backup-dir DIR` resolved as `backup` and `apply` resolve it (relative to the current
/// directory), else `DIR/backups`.
fn backup_dir(deployment: &Deployment, arg: &BackupDirArg) -> PathBuf {
    arg.backup_dir
        .as_deref()
        .map(|d| crate::outpath::resolve(d).unwrap_or_else(|_| d.to_path_buf()))
        .unwrap_or_else(|| deployment.backups_dir())
}

fn list(opts: &DeploymentOptions, printer: &Printer, arg: &BackupDirArg) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    let dir = backup_dir(&deployment, arg);
    let infos = backup::list(&dir)?;
    if printer.is_json() {
        printer.json(&infos);
        return Ok(ExitStatus::Success);
    }
    let usable: Vec<_> = infos.iter().filter(|i| i.usable()).collect();
    if usable.is_empty() {
        printer.out(format_args!(
            "No backups in {}.",
            display(&deployment.dir, &dir)
        ));
    } else {
        let rows: Vec<[String; 6]> = usable
            .iter()
            .map(|i| {
                let data = i.data_bytes.unwrap_or(0);
                [
                    file_name(&i.path),
                    local_time(&i.created),
                    human_bytes(i.archive_bytes),
                    human_bytes(data),
                    format!("{:.1}", data as f64 / i.archive_bytes.max(1) as f64),
                    if i.verified { "yes" } else { "no" }.to_string(),
                ]
            })
            .collect();
        let header = ["BACKUP", "CREATED", "SIZE", "DATA", "RATIO", "VERIFIED"];
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .chain([header[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: [&str; 6]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        printer.out(printer.paint(&line(header), Style::Header));
        for r in &rows {
            printer.out(line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
        }
    }
    for info in infos.iter().filter(|i| !i.usable()) {
        printer.warn(format_args!(
            "`{}`: {}",
            file_name(&info.path),
            info.problem.as_deref().unwrap_or("")
        ));
    }
    Ok(ExitStatus::Success)
}

/// `backups verify --format json`: the archive and what its manifest holds.
#[derive(Debug, Serialize)]
struct VerifyReport<'a> {
    archive: &'a Path,
    /// Always true: an archive that does not verify is an error.
    verified: bool,
    created: &'a str,
    tool: &'a str,
    roots: &'a [String],
    files: usize,
    dirs: usize,
    symlinks: usize,
    data_bytes: u64,
}

fn verify(printer: &Printer, file: &Path) -> Result<ExitStatus> {
    let archive = absolute(file)?;
    crate::interrupt::install();
    let mut progress = BarProgress::new(printer);
    // A failure clears the archive's `.verified` record: `list` and `prune` then know.
    let (manifest, unrecorded) = backup::check(&archive, &mut progress)?;
    progress.finish();
    if let Some(e) = unrecorded {
        printer.warn(format_args!("the archive is good, but {e}"));
    }
    let (files, dirs, symlinks) = manifest.counts();
    if printer.is_json() {
        printer.json(&VerifyReport {
            archive: &archive,
            verified: true,
            created: &manifest.created,
            tool: &manifest.tool,
            roots: &manifest.roots,
            files,
            dirs,
            symlinks,
            data_bytes: manifest.data_bytes,
        });
        return Ok(ExitStatus::Success);
    }
    printer.out(format_args!(
        "`{}` is {}: {} files, {} dirs, {} symlinks, {} of data match the manifest (made {} by {}).",
        archive.display(),
        printer.paint("good", Style::Good),
        files,
        dirs,
        symlinks,
        human_bytes(manifest.data_bytes),
        local_time(&manifest.created),
        manifest.tool,
    ));
    Ok(ExitStatus::Success)
}

fn prune(
    opts: &DeploymentOptions,
    printer: &Printer,
    keep: usize,
    arg: &BackupDirArg,
) -> Result<ExitStatus> {
    let deployment = Deployment::open(opts)?;
    let dir = backup_dir(&deployment, arg);
    let protected = referenced_by_runs(printer, &deployment)?;
    crate::interrupt::install();
    // Not while a run (or a restore) uses the archives.
    let _lock = super::take_lock(&deployment, "backups prune", printer)?;
    let mut progress = BarProgress::new(printer);
    let report = backup::prune(&dir, keep, &protected, &mut progress)?;
    progress.finish();
    let rel = |p: &Path| display(&deployment.dir, p);
    for (path, why) in &report.failed {
        printer.warn(format_args!(
            "kept {}: it does not verify now, so it was not counted as a backup \
             (its verified mark is removed): {why}",
            rel(path)
        ));
    }
    let none_good = !report.failed.is_empty() && report.verified_now == 0;
    if printer.is_json() {
        printer.json(&report);
    } else {
        print_prune(printer, &deployment, &report);
    }
    if none_good {
        return Err(Error::Other {
            message: format!(
                "no backup in {} verifies now; nothing was deleted",
                display(&deployment.dir, &dir)
            ),
            hint: Some(
                "make a new backup with `xzup backup` before pruning; the archives that fail are named above"
                    .into(),
            ),
        });
    }
    Ok(ExitStatus::Success)
}

fn print_prune(printer: &Printer, deployment: &Deployment, report: &backup::PruneReport) {
    let rel = |p: &Path| display(&deployment.dir, p);
    for removed in &report.removed {
        printer.out(format_args!(
            "Removed {} ({})",
            rel(&removed.path),
            human_bytes(removed.archive_bytes)
        ));
    }
    for (path, why) in &report.kept {
        printer.out(format_args!("Kept {}: {why}", rel(path)));
    }
    for path in &report.ignored {
        printer.info(format_args!(
            "Left alone {}: not a usable xzup backup",
            rel(path)
        ));
    }
    printer.out(format_args!(
        "{} removed, {} freed.",
        report.removed.len(),
        human_bytes(report.freed_bytes)
    ));
}

/// How many of the latest runs keep their backups from `prune`, besides unfinished runs:
/// `xzup rollback` undoes the last run by default and may restore its backup.
const RECENT_RUNS: usize = 3;

/// Archives that an unfinished run or one of the [`RECENT_RUNS`] latest runs refers to. A
/// journal that cannot be read is searched loosely for archive names (its run might be one
/// of those), and said.
fn referenced_by_runs(printer: &Printer, deployment: &Deployment) -> Result<Vec<PathBuf>> {
    let listing = journal::list(&deployment.state_dir())?;
    let mut found: Vec<PathBuf> = listing
        .runs
        .iter()
        .enumerate()
        .filter(|(i, j)| *i < RECENT_RUNS || !j.is_finished())
        .filter_map(|(_, j)| j.run().backup.as_ref())
        .map(|b| deployment.resolve(&b.path))
        .collect();
    for err in &listing.unreadable {
        let path = match err {
            JournalError::Corrupt { path, .. }
            | JournalError::UnsupportedVersion { path, .. }
            | JournalError::Io { path, .. } => path,
            _ => continue,
        };
        printer.warn(format_args!("{err}; every archive it names is kept"));
        if let Ok(value) = std::fs::read(path)
            .map_err(|_| ())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|_| ()))
        {
            collect_archives(&value, &deployment.dir, &mut found);
        }
    }
    Ok(found)
}

/// Every string in `value` that names an archive (`*.tar.gz`, `*.tgz`), against `base`.
fn collect_archives(value: &serde_json::Value, base: &Path, found: &mut Vec<PathBuf>) {
    match value {
        serde_json::Value::String(s) if s.ends_with(".tar.gz") || s.ends_with(".tgz") => {
            found.push(base.join(s));
        }
        serde_json::Value::Array(items) => {
            for item in items {
                collect_archives(item, base, found);
            }
        }
        serde_json::Value::Object(map) => {
            for item in map.values() {
                collect_archives(item, base, found);
            }
        }
        _ => {}
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// An RFC 3339 time as `2026-01-02 03:04:05` in local time.
fn local_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_named_anywhere_in_an_unreadable_journal_are_found() {
        let journal = serde_json::json!({
            "run": "20260101-000000",
            "backup": {"archive": "backups/backup-1.tar.gz", "verified": true},
            "steps": [{"name": "backup", "note": "/abs/backup-2.tgz"}, {"name": "up"}],
        });
        let mut found = Vec::new();
        collect_archives(&journal, Path::new("/d"), &mut found);
        assert_eq!(
            found,
            [
                PathBuf::from("/d/backups/backup-1.tar.gz"),
                PathBuf::from("/abs/backup-2.tgz")
            ]
        );
    }
}
