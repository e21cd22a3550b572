//! `xzup tiers`: the catalog as the plan's comparison table (对比总结) — per tier who it is
//! for, the host to request, the totals, each container's limits and reservations, the
//! MySQL and Redis settings — and whether this host can run each tier.
//!
//! Needs neither a compose file nor a Docker engine: the host's size comes from the OS
//! (see [`crate::host`]), so the command works anywhere, before anything is deployed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::deployment::{Deployment, DeploymentOptions};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::host::{self, Host};
use crate::printer::{Printer, Style};
use crate::roles::Role;
use crate::settings::{Allocation, MysqlSettings, RedisSettings};
use crate::tiers::{Catalog, CatalogSource, Tier};
use crate::units::Memory;

/// Text output stays within this many columns; wider catalogs are split into blocks.
const MAX_WIDTH: usize = 100;
/// Spaces between table columns.
const GAP: usize = 2;
/// The services in the plan's order (Server, Web, MySQL, Redis).
const PLAN_ORDER: [Role; 4] = [Role::Server, Role::Web, Role::Db, Role::Redis];

pub(crate) fn run(opts: &DeploymentOptions, printer: &Printer) -> Result<ExitStatus> {
    // The deployment gives the catalog (`--tiers-file`, or `tiers_file` in xzup.toml); its
    // compose file is never read.
    let catalog = Deployment::open(opts)?.catalog()?;
    let host = Host::detect().map_err(|e| Error::Other {
        message: e.to_string(),
        hint: e.hint(),
    })?;
    if printer.is_json() {
        printer.json(&TiersReport::new(&catalog, &host));
    } else {
        for line in text(&catalog, &host, printer) {
            printer.out(line);
        }
    }
    Ok(ExitStatus::Success)
}

/// The text report: a header, the comparison table, and the host verdicts.
fn text(catalog: &Catalog, host: &Host, printer: &Printer) -> Vec<String> {
    let mut lines = vec![format!("tier catalog: {}", catalog.source), String::new()];
    for (line, style) in table(&rows(catalog), MAX_WIDTH) {
        lines.push(match style {
            Some(style) => printer.paint(&line, style),
            None => line,
        });
    }
    lines.push(String::new());
    let whose = if host.overridden {
        format!(
            "this host, as set by {}/{}",
            host::CPUS_ENV,
            host::MEMORY_ENV
        )
    } else {
        "this host".to_string()
    };
    lines.push(format!("{whose} ({host}):"));
    let name_width = catalog.tiers.iter().map(|t| width(&t.name)).max();
    for tier in &catalog.tiers {
        let fit = host.fit(tier);
        let verdict = fit.to_string();
        let style = match (fit.runs, fit.memory_short) {
            (true, false) => Style::Good,
            (true, true) => Style::Warn,
            (false, _) => Style::Error,
        };
        lines.push(format!(
            "  {}{}{}",
            tier.name,
            " ".repeat(name_width.unwrap_or(0) - width(&tier.name) + GAP),
            printer.paint(&verdict, style)
        ));
    }
    lines
}

/// One line of the table: a label and one cell per tier (a cell may span several lines).
struct Row {
    label: String,
    cells: Vec<String>,
    style: Option<Style>,
}

impl Row {
    fn new(label: &str, cells: Vec<String>) -> Row {
        Row {
            label: label.to_string(),
            cells,
            style: None,
        }
    }

    fn section(label: &str) -> Row {
        Row {
            label: label.to_string(),
            cells: Vec::new(),
            style: Some(Style::Bold),
        }
    }
}

/// The comparison table, transposed like the plan's 对比总结: a column per tier.
fn rows(catalog: &Catalog) -> Vec<Row> {
    let tiers = &catalog.tiers;
    let each = |f: &dyn Fn(&Tier) -> String| tiers.iter().map(f).collect::<Vec<_>>();
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let mut rows = vec![Row {
        style: Some(Style::Bold),
        ..Row::new("", each(&|t| t.name.clone()))
    }];
    if tiers.iter().any(|t| !t.info.label.is_empty()) {
        rows.push(Row::new("", each(&|t| t.info.label.clone())));
    }
    rows.push(Row::new(
        "concurrent users",
        each(&|t| or_dash(&t.info.users)),
    ));
    rows.push(Row::new(
        "host to request",
        each(&|t| format!("{} cores, {}", t.info.host_cpus, t.info.host_memory)),
    ));

    rows.push(Row::section("limits (cpus / memory)"));
    rows.push(Row::new("  total", each(&|t| alloc(&t.totals().limits))));
    for role in PLAN_ORDER {
        rows.push(Row::new(
            &format!("  {role}"),
            each(&|t| alloc(&t.resources(role).limits)),
        ));
    }
    rows.push(Row::section("reservations"));
    rows.push(Row::new(
        "  total",
        each(&|t| alloc(&t.totals().reservations)),
    ));
    for role in PLAN_ORDER {
        rows.push(Row::new(
            &format!("  {role}"),
            each(&|t| alloc(&t.resources(role).reservations)),
        ));
    }

    rows.push(Row::section("mysql"));
    rows.push(Row::new(
        "  max_connections",
        each(&|t| t.mysql.max_connections.to_string()),
    ));
    rows.push(Row::new(
        "  innodb_buffer_pool_size",
        each(&|t| t.mysql.innodb_buffer_pool_size.to_string()),
    ));
    rows.push(Row::new(
        "  innodb_log_file_size",
        each(&|t| t.mysql.innodb_log_file_size.to_string()),
    ));
    rows.push(Row::section("redis"));
    rows.push(Row::new(
        "  maxmemory",
        each(&|t| t.redis.maxmemory.to_string()),
    ));
    rows.push(Row::new(
        "  maxmemory-policy",
        each(&|t| t.redis.maxmemory_policy.clone()),
    ));
    rows.push(Row::new(
        "  save",
        each(&|t| match &t.redis.save {
            Some(rules) => rules.join("\n"),
            None => "(unchanged)".to_string(),
        }),
    ));
    rows
}

/// `4 / 8G`
fn alloc(a: &Allocation) -> String {
    format!("{} / {}", a.cpus, a.memory)
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// Lays `rows` out in aligned columns, in as many blocks of tiers as it takes to keep
/// each line within `max_width`. Returns each line with the style of its row.
fn table(rows: &[Row], max_width: usize) -> Vec<(String, Option<Style>)> {
    let label_width = rows.iter().map(|r| width(&r.label)).max().unwrap_or(0);
    let columns = rows.iter().map(|r| r.cells.len()).max().unwrap_or(0);
    let column_widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.cells.get(c))
                .flat_map(|cell| cell.lines())
                .map(width)
                .max()
                .unwrap_or(0)
        })
        .collect();

    let mut blocks = Vec::new();
    let mut start = 0;
    while start < columns {
        let mut end = start;
        let mut used = label_width;
        while end < columns && (end == start || used + GAP + column_widths[end] <= max_width) {
            used += GAP + column_widths[end];
            end += 1;
        }
        blocks.push(start..end);
        start = end;
    }

    let mut lines = Vec::new();
    for (i, block) in blocks.into_iter().enumerate() {
        if i > 0 {
            lines.push((String::new(), None));
        }
        for row in rows {
            let cells: Vec<Vec<&str>> = block
                .clone()
                .map(|c| row.cells.get(c).map_or(Vec::new(), |s| s.lines().collect()))
                .collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
            for line_no in 0..height {
                let label = if line_no == 0 { row.label.as_str() } else { "" };
                let mut line = pad(label, label_width);
                for (cell, c) in cells.iter().zip(block.clone()) {
                    line.push_str(&" ".repeat(GAP));
                    line.push_str(&pad(
                        cell.get(line_no).copied().unwrap_or(""),
                        column_widths[c],
                    ));
                }
                lines.push((line.trim_end().to_string(), row.style));
            }
        }
    }
    lines
}

fn pad(text: &str, to: usize) -> String {
    format!("{text}{}", " ".repeat(to.saturating_sub(width(text))))
}

/// `tiers --format json`: the same content as the text report.
#[derive(Debug, Serialize)]
struct TiersReport<'a> {
    catalog: CatalogReport<'a>,
    host: HostReport,
}

#[derive(Debug, Serialize)]
struct CatalogReport<'a> {
    source: SourceReport<'a>,
    tiers: Vec<TierReport<'a>>,
}

/// `{ "kind": "embedded" }` or `{ "kind": "file", "path": … }`.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum SourceReport<'a> {
    Embedded,
    File { path: &'a Path },
}

#[derive(Debug, Serialize)]
struct HostReport {
    cpus: u32,
    memory: Option<Memory>,
    overridden: bool,
}

#[derive(Debug, Serialize)]
struct TierReport<'a> {
    name: &'a str,
    label: &'a str,
    users: &'a str,
    host_request: HostRequest,
    totals: ResourcesReport,
    /// The largest cpus limit of any service, in cores.
    max_cpus: f64,
    /// By role name.
    services: BTreeMap<String, ResourcesReport>,
    mysql: &'a MysqlSettings,
    redis: &'a RedisSettings,
    this_host: FitReport,
}

#[derive(Debug, Serialize)]
struct HostRequest {
    cpus: u32,
    memory: Memory,
}

#[derive(Debug, Serialize)]
struct ResourcesReport {
    limits: AllocationReport,
    reservations: AllocationReport,
}

/// `{ "cpus": 4.0, "memory": { "text": "8G", "bytes": 8589934592 } }`: cpus in cores,
/// not the thousandths [`crate::units::Cpus`] counts in.
#[derive(Debug, Serialize)]
struct AllocationReport {
    cpus: f64,
    memory: Memory,
}

#[derive(Debug, Serialize)]
struct FitReport {
    runs: bool,
    memory_short: bool,
    verdict: String,
}

impl<'a> TiersReport<'a> {
    fn new(catalog: &'a Catalog, host: &Host) -> TiersReport<'a> {
        let source = match &catalog.source {
            CatalogSource::Embedded => SourceReport::Embedded,
            CatalogSource::File(path) => SourceReport::File { path },
        };
        TiersReport {
            catalog: CatalogReport {
                source,
                tiers: catalog
                    .tiers
                    .iter()
                    .map(|t| TierReport::new(t, host))
                    .collect(),
            },
            host: HostReport {
                cpus: host.cpus,
                memory: host.memory.clone(),
                overridden: host.overridden,
            },
        }
    }
}

impl<'a> TierReport<'a> {
    fn new(tier: &'a Tier, host: &Host) -> TierReport<'a> {
        let fit = host.fit(tier);
        TierReport {
            name: &tier.name,
            label: &tier.info.label,
            users: &tier.info.users,
            host_request: HostRequest {
                cpus: tier.info.host_cpus,
                memory: tier.info.host_memory.clone(),
            },
            totals: {
                let totals = tier.totals();
                ResourcesReport::new(&totals.limits, &totals.reservations)
            },
            max_cpus: tier.max_cpus().cores(),
            services: PLAN_ORDER
                .iter()
                .map(|role| {
                    let r = tier.resources(*role);
                    (
                        role.to_string(),
                        ResourcesReport::new(&r.limits, &r.reservations),
                    )
                })
                .collect(),
            mysql: &tier.mysql,
            redis: &tier.redis,
            this_host: FitReport {
                runs: fit.runs,
                memory_short: fit.memory_short,
                verdict: fit.to_string(),
            },
        }
    }
}

impl ResourcesReport {
    fn new(limits: &Allocation, reservations: &Allocation) -> ResourcesReport {
        let alloc = |a: &Allocation| AllocationReport {
            cpus: a.cpus.cores(),
            memory: a.memory.clone(),
        };
        ResourcesReport {
            limits: alloc(limits),
            reservations: alloc(reservations),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_align_and_multiline_cells_take_extra_lines() {
        let rows = vec![
            Row::new("", vec!["a".into(), "bb".into()]),
            Row::new("long label", vec!["1\n22".into(), "3".into()]),
            Row::section("section"),
        ];
        let lines: Vec<String> = table(&rows, 100).into_iter().map(|(l, _)| l).collect();
        assert_eq!(
            lines,
            vec![
                "            a   bb",
                "long label  1   3",
                "            22",
                "section",
            ]
        );
    }

    #[test]
    fn wide_tables_split_into_blocks() {
        let rows = vec![Row::new(
            "x",
            vec!["aaaa".into(), "bbbb".into(), "cccc".into()],
        )];
        let lines: Vec<String> = table(&rows, 13).into_iter().map(|(l, _)| l).collect();
        assert_eq!(lines, vec!["x  aaaa  bbbb", "", "x  cccc"]);
    }

    #[test]
    fn json_counts_cpus_in_cores() {
        let catalog = Catalog::embedded();
        let host = Host {
            cpus: 2,
            memory: Some(crate::units::Memory::from_bytes(16 << 30)),
            overridden: true,
        };
        let doc = serde_json::to_value(TiersReport::new(&catalog, &host)).unwrap();
        let low = &doc["catalog"]["tiers"][0];
        assert_eq!(low["name"], "low");
        assert_eq!(low["totals"]["limits"]["cpus"], 9.0);
        assert_eq!(low["totals"]["reservations"]["memory"]["text"], "7.5G");
        assert_eq!(low["services"]["redis"]["reservations"]["cpus"], 0.5);
        assert_eq!(
            low["this_host"]["verdict"],
            "no: needs 4 cores (host has 2)"
        );
        assert_eq!(doc["host"]["cpus"], 2);
    }
}
