//! Quantities as Compose, MySQL and Redis write them: memory sizes and CPU counts.
//!
//! Each program reads sizes its own way, and the difference matters when xzup compares a
//! file's values with a tier's:
//! - Compose (`deploy.resources.*.memory`): `512M`, `16G`, `1gb`, `512mb` — binary multiples
//!   (docker/go-units `RAMInBytes`, docker-py `parse_bytes`).
//! - MySQL (`--innodb_buffer_pool_size=2G`): suffix K/M/G/T, binary multiples.
//! - Redis (`--maxmemory 1536mb`): `kb`/`mb`/`gb` are binary, but `k`/`m`/`g` are DECIMAL
//!   (redis.conf: "1m => 1000000 bytes, 1mb => 1024*1024 bytes").

use std::fmt;

use serde::Serialize;

const KIB: u64 = 1024;

/// Why a quantity could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid {what}: {expected}")]
pub struct UnitError {
    pub text: String,
    pub what: &'static str,
    pub expected: &'static str,
}

/// A memory size: the text as written (kept for rendering) and its value in bytes.
/// Two sizes are equal when their byte values are.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub text: String,
    pub bytes: u64,
}

impl PartialEq for Memory {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for Memory {}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Memory {
    /// A Compose memory value (`16G`, `512m`, `1gb`, `1073741824`).
    pub fn parse_compose(text: &str) -> Result<Memory, UnitError> {
        let err = || UnitError {
            text: text.to_string(),
            what: "memory size",
            expected: "write a number with a unit, like `512M` or `16G`",
        };
        let (number, unit) = split_number(text.trim()).ok_or_else(err)?;
        let unit = unit.trim_start().to_ascii_lowercase();
        let unit = unit.strip_suffix('b').unwrap_or(&unit);
        let unit = unit.strip_suffix('i').unwrap_or(unit);
        let mult = binary_multiplier(unit).ok_or_else(err)?;
        let bytes = scale(number, mult).ok_or_else(err)?;
        Ok(Memory {
            text: text.trim().to_string(),
            bytes,
        })
    }

    /// A MySQL size option (`512M`, `2G`, `134217728`).
    pub fn parse_mysql(text: &str) -> Result<Memory, UnitError> {
        let err = || UnitError {
            text: text.to_string(),
            what: "MySQL size",
            expected: "write a whole number with K, M or G, like `2G`",
        };
        let (number, unit) = split_number(text.trim()).ok_or_else(err)?;
        if number.contains('.') {
            return Err(err());
        }
        let mult = binary_multiplier(&unit.to_ascii_lowercase()).ok_or_else(err)?;
        let bytes = scale(number, mult).ok_or_else(err)?;
        Ok(Memory {
            text: text.trim().to_string(),
            bytes,
        })
    }

    /// A Redis memory directive (`1536mb`, `3gb`, `100m` = 100,000,000 bytes).
    pub fn parse_redis(text: &str) -> Result<Memory, UnitError> {
        let err = || UnitError {
            text: text.to_string(),
            what: "Redis memory size",
            expected: "write a whole number with kb, mb or gb, like `1536mb`",
        };
        let (number, unit) = split_number(text.trim()).ok_or_else(err)?;
        if number.contains('.') {
            return Err(err());
        }
        let mult = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" => 1000,
            "kb" => KIB,
            "m" => 1000 * 1000,
            "mb" => KIB * KIB,
            "g" => 1000 * 1000 * 1000,
            "gb" => KIB * KIB * KIB,
            _ => return Err(err()),
        };
        let bytes = scale(number, mult).ok_or_else(err)?;
        Ok(Memory {
            text: text.trim().to_string(),
            bytes,
        })
    }

    /// A size from a byte count, written the short binary way (`16G`, `512M`, `1.5G`).
    pub fn from_bytes(bytes: u64) -> Memory {
        Memory {
            text: human_bytes(bytes),
            bytes,
        }
    }
}

/// Bytes written for people: `16G`, `512M`, `1.5G`, `760K`, `12B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("T", KIB * KIB * KIB * KIB),
        ("G", KIB * KIB * KIB),
        ("M", KIB * KIB),
        ("K", KIB),
    ];
    for (suffix, size) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if bytes.is_multiple_of(size) {
                format!("{}{suffix}", bytes / size)
            } else if value >= 100.0 {
                format!("{value:.0}{suffix}")
            } else {
                let s = format!("{value:.1}");
                format!("{}{suffix}", s.trim_end_matches(".0"))
            };
        }
    }
    format!("{bytes}B")
}

/// A CPU count as Compose writes it (`'8'`, `0.5`), held in thousandths of a core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cpus(pub u32);

/// In JSON a CPU count is a number of cores (`0.5`, `8`), as Compose writes it.
impl Serialize for Cpus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.cores())
    }
}

impl Cpus {
    pub fn parse(text: &str) -> Result<Cpus, UnitError> {
        let err = || UnitError {
            text: text.to_string(),
            what: "CPU count",
            expected: "write a positive number of cores, like `4` or `0.5`",
        };
        let t = text.trim();
        let (number, unit) = split_number(t).ok_or_else(err)?;
        if !unit.is_empty() {
            return Err(err());
        }
        let value: f64 = number.parse().map_err(|_| err())?;
        let millis = (value * 1000.0).round();
        if !(1.0..=u32::MAX as f64).contains(&millis) {
            return Err(err());
        }
        Ok(Cpus(millis as u32))
    }

    /// Whole cores and fractions, as a float (for display and comparisons with NCPU).
    pub fn cores(self) -> f64 {
        f64::from(self.0) / 1000.0
    }

    /// The value Docker stores in `HostConfig.NanoCpus`.
    pub fn nano(self) -> i64 {
        i64::from(self.0) * 1_000_000
    }

    pub fn from_nano(nano: i64) -> Cpus {
        Cpus((nano / 1_000_000).max(0) as u32)
    }
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}", self.0 / 1000)
        } else {
            let s = format!("{:.3}", self.cores());
            f.write_str(s.trim_end_matches('0'))
        }
    }
}

/// Splits `12.5G` into `("12.5", "G")`. `None` when there is no leading number.
fn split_number(text: &str) -> Option<(&str, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
        return None;
    }
    Some((number, unit))
}

fn binary_multiplier(unit: &str) -> Option<u64> {
    Some(match unit {
        "" | "b" => 1,
        "k" => KIB,
        "m" => KIB * KIB,
        "g" => KIB * KIB * KIB,
        "t" => KIB * KIB * KIB * KIB,
        _ => return None,
    })
}

fn scale(number: &str, mult: u64) -> Option<u64> {
    if number.contains('.') {
        let value: f64 = number.parse().ok()?;
        let bytes = value * mult as f64;
        (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
    } else {
        number.parse::<u64>().ok()?.checked_mul(mult)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_memory_is_binary() {
        assert_eq!(Memory::parse_compose("16G").unwrap().bytes, 16 << 30);
        assert_eq!(Memory::parse_compose("512M").unwrap().bytes, 512 << 20);
        assert_eq!(Memory::parse_compose("512mb").unwrap().bytes, 512 << 20);
        assert_eq!(Memory::parse_compose("1.5g").unwrap().bytes, 3 << 29);
        assert_eq!(Memory::parse_compose("1024").unwrap().bytes, 1024);
        assert!(Memory::parse_compose("16X").is_err());
        assert!(Memory::parse_compose("G").is_err());
        assert!(Memory::parse_compose("-1G").is_err());
    }

    #[test]
    fn mysql_sizes() {
        assert_eq!(Memory::parse_mysql("2G").unwrap().bytes, 2 << 30);
        assert_eq!(Memory::parse_mysql("128M").unwrap().bytes, 128 << 20);
        assert!(Memory::parse_mysql("2.5G").is_err());
    }

    #[test]
    fn redis_m_is_decimal_mb_is_binary() {
        assert_eq!(Memory::parse_redis("1536mb").unwrap().bytes, 1536 << 20);
        assert_eq!(Memory::parse_redis("100m").unwrap().bytes, 100_000_000);
        assert_eq!(Memory::parse_redis("3GB").unwrap().bytes, 3 << 30);
        assert_eq!(Memory::parse_redis("536870912").unwrap().bytes, 512 << 20);
    }

    #[test]
    fn equal_sizes_compare_by_bytes() {
        assert_eq!(
            Memory::parse_compose("1G").unwrap(),
            Memory::parse_compose("1024M").unwrap()
        );
    }

    #[test]
    fn cpus() {
        assert_eq!(Cpus::parse("0.5").unwrap(), Cpus(500));
        assert_eq!(Cpus::parse("8").unwrap().to_string(), "8");
        assert_eq!(Cpus::parse("0.25").unwrap().to_string(), "0.25");
        assert_eq!(Cpus::parse("2").unwrap().nano(), 2_000_000_000);
        assert!(Cpus::parse("0").is_err());
        assert!(Cpus::parse("-1").is_err());
        assert!(Cpus::parse("four").is_err());
    }

    #[test]
    fn human() {
        assert_eq!(human_bytes(16 << 30), "16G");
        assert_eq!(human_bytes(512 << 20), "512M");
        assert_eq!(human_bytes(3 << 29), "1.5G");
        assert_eq!(human_bytes(12), "12B");
    }
}
