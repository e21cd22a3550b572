//! This machine's size — cores and memory — and the one rule for whether a sizing fits a
//! host ([`Fit`]): `xzup tiers` judges each tier against this machine, plan and preflight
//! judge the rendered file against the engine's `docker info`.
//!
//! `xzup tiers` answers "can this host run it?" without a Docker engine, so the figures come
//! from the OS: cores from `std::thread::available_parallelism` (which honours CPU affinity
//! and cgroup quotas, as Docker's own NCPU count honours affinity) and memory from
//! `MemTotal` in `/proc/meminfo`.
//!
//! Tests (and operators sizing another machine) can override both with environment
//! variables: `XZUP_HOST_CPUS=16` and `XZUP_HOST_MEMORY=32G` (a Compose-style size).

use std::fmt;

use serde::Serialize;

use crate::settings::Observed;
use crate::tiers::Tier;
use crate::units::{Cpus, Memory, human_bytes};

/// Overrides the detected core count (a whole number, at least 1).
pub const CPUS_ENV: &str = "XZUP_HOST_CPUS";
/// Overrides the detected memory (a size like `32G`).
pub const MEMORY_ENV: &str = "XZUP_HOST_MEMORY";

const MEMINFO: &str = "/proc/meminfo";

/// The host's cores and memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    pub cpus: u32,
    /// `None` where the OS does not say (no `/proc/meminfo`).
    pub memory: Option<Memory>,
    /// Whether a figure came from `XZUP_HOST_CPUS` / `XZUP_HOST_MEMORY`.
    pub overridden: bool,
}

/// A bad override in the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{var}` is set to `{value}`, which is not {expected}")]
pub struct HostError {
    pub var: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl HostError {
    pub fn hint(&self) -> Option<String> {
        Some(format!(
            "set `{var}` to {expected}, or unset it to use this machine's own figure",
            var = self.var,
            expected = self.expected
        ))
    }
}

impl Host {
    /// This machine, or the figures in `XZUP_HOST_CPUS` / `XZUP_HOST_MEMORY`.
    pub fn detect() -> Result<Host, HostError> {
        let cpus_env = std::env::var(CPUS_ENV).ok().filter(|v| !v.is_empty());
        let memory_env = std::env::var(MEMORY_ENV).ok().filter(|v| !v.is_empty());
        let overridden = cpus_env.is_some() || memory_env.is_some();
        let cpus = match cpus_env {
            Some(value) => parse_cpus(&value)?,
            None => std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
        };
        let memory = match memory_env {
            Some(value) => Some(parse_memory(&value)?),
            None => std::fs::read_to_string(MEMINFO)
                .ok()
                .and_then(|text| meminfo_total(&text))
                .map(Memory::from_bytes),
        };
        Ok(Host {
            cpus,
            memory,
            overridden,
        })
    }

    /// Whether `tier` can run here.
    pub fn fit(&self, tier: &Tier) -> Fit {
        Fit::judge(Needs::of_tier(tier), self.cpus, self.memory.clone())
    }
}

impl fmt::Display for Host {
    /// `2 cores, 7.8G memory`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.cpus == 1 { "core" } else { "cores" };
        write!(f, "{} {noun}", self.cpus)?;
        match &self.memory {
            Some(memory) => write!(f, ", {memory} memory"),
            None => f.write_str(", memory unknown"),
        }
    }
}

/// What a sizing asks of a host: its largest cpus limit, and its memory limits in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub cores: Cpus,
    pub memory: Memory,
}

impl Needs {
    /// What `tier`'s limits ask.
    pub fn of_tier(tier: &Tier) -> Needs {
        Needs::of_limits(
            tier.services
                .values()
                .map(|r| (Some(r.limits.cpus), Some(&r.limits.memory))),
        )
    }

    /// What a compose file's limits ask, as read from it; a role without a limit asks
    /// nothing.
    pub fn of_file(observed: &Observed) -> Needs {
        Needs::of_limits(
            observed
                .services
                .values()
                .map(|r| (r.limit_cpus, r.limit_memory.as_ref())),
        )
    }

    /// Each service's cpus and memory limit, where it has one.
    fn of_limits<'a>(limits: impl Iterator<Item = (Option<Cpus>, Option<&'a Memory>)>) -> Needs {
        let (mut cores, mut bytes) = (Cpus(0), 0);
        for (cpus, memory) in limits {
            cores = cores.max(cpus.unwrap_or(Cpus(0)));
            bytes += memory.map_or(0, |m| m.bytes);
        }
        Needs {
            cores,
            memory: Memory::from_bytes(bytes),
        }
    }
}

/// How a sizing (a tier, or a compose file) fits a host.
///
/// Cores are a hard limit: the engine refuses to create a container whose cpus limit is
/// above the host's core count ("Range of CPUs is from 0.01 to 2.00, as there are only 2
/// CPUs available"), and it does so only at create time, after the old stack is down.
/// Memory is soft: Docker accepts limits that add up to more than the host has, and the
/// containers are then at risk of the OOM killer under load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fit {
    /// False when the largest cpus limit is above the host's cores: apply refuses it without `--force`.
    pub runs: bool,
    pub needs_cores: Cpus,
    pub host_cores: u32,
    /// True when the memory limits add up to more than the host's memory: a warning.
    pub memory_short: bool,
    pub needs_memory: Memory,
    pub host_memory: Option<Memory>,
}

/// One line of [`Fit::checks`]: a check of the host against the target sizing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostCheck {
    pub check: &'static str,
    pub ok: bool,
    /// `false` for a warning only (memory), `true` when apply refuses without `--force`.
    pub blocking: bool,
    pub message: String,
}

impl Fit {
    /// `needs` against a host of `host_cores` cores and `host_memory` (`None`: unknown,
    /// which is never short).
    pub fn judge(needs: Needs, host_cores: u32, host_memory: Option<Memory>) -> Fit {
        Fit {
            runs: needs.cores.cores() <= f64::from(host_cores),
            needs_cores: needs.cores,
            host_cores,
            memory_short: host_memory
                .as_ref()
                .is_some_and(|m| needs.memory.bytes > m.bytes),
            needs_memory: needs.memory,
            host_memory,
        }
    }

    /// The verdict as plan and preflight show it: cores, which block, and memory, which
    /// only warns.
    pub fn checks(&self) -> Vec<HostCheck> {
        let (cores, host_cores) = (self.needs_cores, self.host_cores);
        let memory = human_bytes(self.needs_memory.bytes);
        vec![
            HostCheck {
                check: "cores",
                ok: self.runs,
                blocking: true,
                message: if self.runs {
                    format!("largest cpus limit {cores} fits the host's {host_cores} cores")
                } else {
                    format!(
                        "a cpus limit of {cores} exceeds the host's {host_cores} cores: Docker \
                         would refuse to create the container after the stack is down"
                    )
                },
            },
            HostCheck {
                check: "memory",
                ok: !self.memory_short,
                blocking: false,
                message: match &self.host_memory {
                    None => format!("memory limits {memory} in all; the host's memory is unknown"),
                    Some(host) if !self.memory_short => format!(
                        "memory limits {memory} in all fit the host's {}",
                        human_bytes(host.bytes)
                    ),
                    Some(host) => format!(
                        "memory limits add up to {memory}, more than the host's {}: containers \
                         may be OOM-killed under load",
                        human_bytes(host.bytes)
                    ),
                },
            },
        ]
    }
}

impl fmt::Display for Fit {
    /// `yes`, `yes, but memory limits total 30G (host has 16G)`,
    /// `no: needs 8 cores (host has 2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let memory_note = || {
            format!(
                "memory limits total {} (host has {})",
                self.needs_memory,
                self.host_memory
                    .as_ref()
                    .map_or_else(|| "?".to_string(), ToString::to_string)
            )
        };
        match (self.runs, self.memory_short) {
            (true, false) => f.write_str("yes"),
            (true, true) => write!(f, "yes, but {}", memory_note()),
            (false, short) => {
                write!(
                    f,
                    "no: needs {} cores (host has {})",
                    self.needs_cores, self.host_cores
                )?;
                if short {
                    write!(f, "; {}", memory_note())?;
                }
                Ok(())
            }
        }
    }
}

fn parse_cpus(value: &str) -> Result<u32, HostError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| HostError {
            var: CPUS_ENV,
            value: value.to_string(),
            expected: "a whole number of cores, like `16`",
        })
}

fn parse_memory(value: &str) -> Result<Memory, HostError> {
    Memory::parse_compose(value)
        .ok()
        .filter(|m| m.bytes > 0)
        .map(|m| Memory::from_bytes(m.bytes))
        .ok_or_else(|| HostError {
            var: MEMORY_ENV,
            value: value.to_string(),
            expected: "a size like `32G`",
        })
}

/// `MemTotal` from the text of `/proc/meminfo`, in bytes (the file counts in KiB, written
/// `kB`).
pub fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let number: u64 = words.next()?.parse().ok()?;
    let multiplier = match words.next() {
        Some("kB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    number.checked_mul(multiplier)
}

/// Whether `path` lies on a rotational disk (a spinning one: the plan's Q2 asks for an
/// SSD): the `queue/rotational` flag of its block device, found from the file's device
/// number through `/sys/dev/block/MAJOR:MINOR` (a partition's flag is its disk's).
/// `None` when no block device backs it (tmpfs, overlay, a path that does not exist).
pub fn rotational(path: &std::path::Path) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).ok()?.dev();
    // Linux's `dev_t`: major in bits 8-19 and 32-..., minor in bits 0-7 and 20-...
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let block = std::path::PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    read_rotational(&block).or_else(|| read_rotational(&block.join("..")))
}

fn read_rotational(dir: &std::path::Path) -> Option<bool> {
    match std::fs::read_to_string(dir.join("queue/rotational"))
        .ok()?
        .trim()
    {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// A GPU this host has, by its device node: `/dev/nvidia0` (NVIDIA's driver), else a
/// render node of `/dev/dri` (AMD, Intel). `None` for none.
pub fn gpu() -> Option<String> {
    if std::path::Path::new("/dev/nvidia0").exists() {
        return Some("/dev/nvidia0".into());
    }
    let mut nodes: Vec<String> = std::fs::read_dir("/dev/dri")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("renderD"))
        .collect();
    nodes.sort();
    nodes.first().map(|n| format!("/dev/dri/{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{ObservedMysql, ObservedRedis, ObservedResources};
    use crate::tiers::Catalog;

    fn host(cpus: u32, memory: &str) -> Host {
        Host {
            cpus,
            memory: Some(Memory::parse_compose(memory).unwrap()),
            overridden: true,
        }
    }

    #[test]
    fn reads_memtotal_in_kib() {
        let text = "MemTotal:        8029804 kB\nMemFree:         1289436 kB\n";
        assert_eq!(meminfo_total(text), Some(8_029_804 * 1024));
        assert_eq!(meminfo_total("MemFree: 1 kB\n"), None);
        assert_eq!(meminfo_total("MemTotal: lots kB\n"), None);
    }

    #[test]
    fn this_machine_has_a_size() {
        // Whatever the machine, detection yields at least one core.
        if std::env::var_os(CPUS_ENV).is_none() {
            assert!(Host::detect().unwrap().cpus >= 1);
        }
    }

    #[test]
    fn overrides_are_checked() {
        assert_eq!(parse_cpus("16"), Ok(16));
        let err = parse_cpus("0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`XZUP_HOST_CPUS` is set to `0`, which is not a whole number of cores, like `16`"
        );
        assert_eq!(
            err.hint().unwrap(),
            "set `XZUP_HOST_CPUS` to a whole number of cores, like `16`, or unset it to use \
             this machine's own figure"
        );
        assert_eq!(parse_memory("32G").unwrap().to_string(), "32G");
        assert_eq!(parse_memory("32768M").unwrap().to_string(), "32G");
        assert!(parse_memory("16X").is_err());
    }

    #[test]
    fn cores_are_a_hard_limit_memory_a_soft_one() {
        let catalog = Catalog::embedded();
        let low = catalog.get("low").unwrap();
        let high = catalog.get("high").unwrap();

        assert_eq!(host(4, "16G").fit(low).to_string(), "yes");
        assert_eq!(
            host(4, "8G").fit(low).to_string(),
            "yes, but memory limits total 15G (host has 8G)"
        );
        let fit = host(2, "8G").fit(high);
        assert!(!fit.runs);
        assert!(fit.memory_short);
        assert_eq!(
            fit.to_string(),
            "no: needs 8 cores (host has 2); memory limits total 30G (host has 8G)"
        );
        assert_eq!(
            host(2, "64G").fit(low).to_string(),
            "no: needs 4 cores (host has 2)"
        );
    }

    /// What a compose file sized exactly like `tier` reads as.
    fn file_of(tier: &Tier) -> Observed {
        Observed {
            services: tier
                .target(&[])
                .resources
                .iter()
                .map(|(role, r)| (*role, ObservedResources::from(r)))
                .collect(),
            mysql: ObservedMysql::default(),
            redis: ObservedRedis::default(),
        }
    }

    #[test]
    fn a_tier_and_a_file_sized_like_it_get_the_same_verdict() {
        // `xzup tiers` judges the tier, plan and preflight the rendered file: one rule.
        let catalog = Catalog::embedded();
        for tier in &catalog.tiers {
            assert_eq!(
                Needs::of_tier(tier),
                Needs::of_file(&file_of(tier)),
                "{}",
                tier.name
            );
            for (cpus, memory) in [(2, "8G"), (8, "30G"), (16, "29G"), (64, "256G")] {
                let host = host(cpus, memory);
                let file = Fit::judge(Needs::of_file(&file_of(tier)), cpus, host.memory.clone());
                assert_eq!(host.fit(tier), file, "{} on {host}", tier.name);
            }
        }
    }

    #[test]
    fn checks_block_on_cores_and_warn_on_memory() {
        let catalog = Catalog::embedded();
        let high = catalog.get("high").unwrap();
        let checks = host(2, "8G").fit(high).checks();
        assert_eq!(
            checks,
            vec![
                HostCheck {
                    check: "cores",
                    ok: false,
                    blocking: true,
                    message: "a cpus limit of 8 exceeds the host's 2 cores: Docker would refuse \
                              to create the container after the stack is down"
                        .into(),
                },
                HostCheck {
                    check: "memory",
                    ok: false,
                    blocking: false,
                    message: "memory limits add up to 30G, more than the host's 8G: containers \
                              may be OOM-killed under load"
                        .into(),
                },
            ]
        );
        let messages: Vec<(bool, String)> = host(8, "30G")
            .fit(high)
            .checks()
            .into_iter()
            .map(|c| (c.ok, c.message))
            .collect();
        assert_eq!(
            messages,
            vec![
                (
                    true,
                    "largest cpus limit 8 fits the host's 8 cores".to_string()
                ),
                (
                    true,
                    "memory limits 30G in all fit the host's 30G".to_string()
                ),
            ]
        );
    }

    #[test]
    fn fractional_limits_and_unknown_memory() {
        let mut needs = Needs::of_tier(Catalog::embedded().get("low").unwrap());
        needs.cores = Cpus::parse("2.5").unwrap();
        let fit = Fit::judge(needs.clone(), 2, None);
        assert!(!fit.runs);
        assert!(!fit.memory_short, "unknown memory is never short");
        assert_eq!(
            fit.checks()[1].message,
            "memory limits 15G in all; the host's memory is unknown"
        );
        assert!(Fit::judge(needs, 3, None).runs);
    }

    #[test]
    fn a_file_without_limits_asks_nothing() {
        let bare = Observed {
            services: crate::roles::Role::ALL
                .iter()
                .map(|r| (*r, ObservedResources::default()))
                .collect(),
            mysql: ObservedMysql::default(),
            redis: ObservedRedis::default(),
        };
        let needs = Needs::of_file(&bare);
        assert_eq!((needs.cores, needs.memory.bytes), (Cpus(0), 0));
    }

    #[test]
    fn display() {
        assert_eq!(host(2, "8G").to_string(), "2 cores, 8G memory");
        let one = Host {
            cpus: 1,
            memory: None,
            overridden: false,
        };
        assert_eq!(one.to_string(), "1 core, memory unknown");
    }
}
