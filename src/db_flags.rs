//! Whether the database server in an image accepts a set of flags — asked before the stack
//! goes down, so that a flag the server rejects fails preflight, naming the flag, instead
//! of failing `up` after the old stack was stopped.
//!
//! The flags run through the image's own server in a throwaway container
//! ([`Docker::run_once`]: `--rm`, no network, nothing of the deployment mounted, so the
//! real datadir is never touched), one `docker run` of a few hundred milliseconds:
//!
//! - MySQL 8.0.16+: `mysqld --validate-config FLAGS` checks the options without starting
//!   the server; older MySQL, which does not know that option, gets `--help --verbose`.
//! - MariaDB: `mariadbd --help --verbose FLAGS` (or `mysqld` in images older than 10.4)
//!   parses every option and exits 7 on one it does not know, printing
//!   `[ERROR] mariadbd: unknown variable 'NAME=VALUE'` (seen with MariaDB 10.11).
//!
//! Which server an image runs is found in the same run: `mariadbd` on the PATH, else what
//! `mysqld --version` says. The real-world case is `--query_cache_size` on `mysql:latest`:
//! MySQL 8.0 removed the query cache and refuses to start with it, MariaDB accepts it.

use crate::docker::{Docker, DockerError};

/// The script run in the image, with the flags as its arguments. Its first line of output
/// names the server (`xzup-check: mariadb …`); none means nothing could be checked.
const SCRIPT: &str = r#"
if command -v mariadbd >/dev/null 2>&1; then
    server=mariadb bin=mariadbd
elif command -v mysqld >/dev/null 2>&1; then
    bin=mysqld
    case "$(mysqld --version 2>/dev/null)" in
        *MariaDB*) server=mariadb ;;
        *) server=mysql ;;
    esac
else
    echo "xzup-check: none"
    exit 0
fi
echo "xzup-check: $server $($bin --version 2>/dev/null | head -n 1)"
if [ "$server" = mariadb ]; then
    exec "$bin" --help --verbose "$@" >/dev/null
fi
out="$("$bin" --validate-config --user=mysql "$@" 2>&1)"
rc=$?
case "$out" in
    *"unknown option '--validate-config'"*|*"unknown variable 'validate-config"*)
        exec "$bin" --help --verbose --user=mysql "$@" >/dev/null ;;
esac
[ -z "$out" ] || printf '%s\n' "$out" >&2
exit "$rc"
"#;

/// Which server an image runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    pub mariadb: bool,
    /// As `--version` prints it: `mysqld  Ver 10.11.6-MariaDB…`.
    pub version: String,
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.mariadb { "MariaDB" } else { "MySQL" };
        match version_number(&self.version) {
            Some(v) => write!(f, "{name} {v}"),
            None => f.write_str(name),
        }
    }
}

/// What the server said of the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accepted(Server),
    /// The server refused: the flag it names (as the command writes it), when it names
    /// one, and its own words.
    Rejected {
        server: Server,
        flag: Option<String>,
        reason: String,
    },
    /// No check was possible (no server in the image, no shell); the reason.
    NotChecked(String),
}

/// Runs `flags` (the db command's words, without a leading `mysqld`) through the server of
/// `image`. An error only when the engine itself fails.
pub(crate) fn check(
    docker: &Docker,
    image: &str,
    flags: &[String],
) -> Result<Verdict, DockerError> {
    let mut args: Vec<&str> = vec!["-c", SCRIPT, "xzup-check"];
    args.extend(flags.iter().map(String::as_str));
    let out = docker.run_once(image, "sh", &args)?;
    Ok(judge(out.code, &out.stdout, &out.stderr, flags))
}

/// The db command's flags to check: its words without a leading server name. `None` when
/// the command is something else (a script), which is not checked.
pub(crate) fn flags_of(words: &[String]) -> Option<Vec<String>> {
    match words.split_first() {
        None => Some(Vec::new()),
        Some((first, rest)) if is_server_word(first) => Some(rest.to_vec()),
        Some((first, _)) if first.starts_with('-') => Some(words.to_vec()),
        Some(_) => None,
    }
}

fn is_server_word(word: &str) -> bool {
    let name = word.rsplit('/').next().unwrap_or(word);
    matches!(name, "mysqld" | "mariadbd")
}

/// Reads the check's output (see [`SCRIPT`]).
fn judge(code: Option<i32>, stdout: &str, stderr: &str, flags: &[String]) -> Verdict {
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("xzup-check: ")) else {
        let why = errors(stderr).unwrap_or_else(|| stderr.trim().to_string());
        return Verdict::NotChecked(if why.is_empty() {
            "the image printed nothing".into()
        } else {
            why
        });
    };
    let (kind, version) = line.split_once(' ').unwrap_or((line, ""));
    let server = match kind {
        "mariadb" => Server {
            mariadb: true,
            version: version.trim().to_string(),
        },
        "mysql" => Server {
            mariadb: false,
            version: version.trim().to_string(),
        },
        _ => return Verdict::NotChecked("the image has neither mysqld nor mariadbd".into()),
    };
    if code == Some(0) {
        return Verdict::Accepted(server);
    }
    let reason = errors(stderr).unwrap_or_else(|| match code {
        Some(code) => format!("it exited with code {code}"),
        None => "it was killed".to_string(),
    });
    let flag = named_flag(&reason, flags);
    Verdict::Rejected {
        server,
        flag,
        reason,
    }
}

/// The server's `[ERROR]` lines, their prefixes cut (`2026-… 0 [ERROR] [MY-000067]
/// [Server] ` and `mariadbd: `), without the closing `Aborting`.
fn errors(stderr: &str) -> Option<String> {
    let lines: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.split_once("[ERROR]").map(|(_, rest)| rest))
        .map(|rest| {
            let mut rest = rest.trim();
            // MySQL 8: `[MY-000067] [Server] unknown variable …`
            while let Some(tail) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
                rest = tail.1.trim();
            }
            for prefix in ["mariadbd: ", "mysqld: "] {
                rest = rest.strip_prefix(prefix).unwrap_or(rest);
            }
            rest.trim_end_matches('.').to_string()
        })
        .filter(|l| !l.is_empty() && l != "Aborting")
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

/// The flag of `flags` the server's `reason` names: `unknown variable 'NAME=VALUE'`,
/// `unknown option '--NAME'`, `… to 'NAME'`. `_` and `-` are the same in option names.
fn named_flag(reason: &str, flags: &[String]) -> Option<String> {
    let quoted: Vec<&str> = reason.split('\'').skip(1).step_by(2).collect();
    for q in quoted {
        let name = option_name(q);
        if name.is_empty() {
            continue;
        }
        if let Some(flag) = flags.iter().find(|f| option_name(f) == name) {
            return Some(flag.clone());
        }
    }
    None
}

/// `--innodb-buffer-pool-size=2G` → `innodb_buffer_pool_size`.
fn option_name(text: &str) -> String {
    let text = text.trim_start_matches('-');
    let name = text.split('=').next().unwrap_or(text);
    name.replace('-', "_").to_ascii_lowercase()
}

/// `8.0.36` out of `mysqld  Ver 8.0.36 for Linux…`, `10.11.6` out of `…Ver 10.11.6-MariaDB…`.
fn version_number(version: &str) -> Option<&str> {
    let after = version.split("Ver ").nth(1)?;
    let number = after
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    (!number.is_empty()).then_some(number)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::process::Command;

    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    const MARIADB_REFUSAL: &str = "2026-12-01 22:28:59 0 [Warning] failed to retrieve the MAC address\n\
        2026-12-01 22:28:59 0 [Warning] Could not open mysql.plugin table\n\
        2026-12-01 22:28:59 0 [ERROR] mariadbd: unknown variable 'xzup-bogus=1'\n";

    #[test]
    fn mariadb_names_the_unknown_flag() {
        let flags = words(&["--max_connections=400", "--xzup_bogus=1"]);
        let verdict = judge(
            Some(7),
            "xzup-check: mariadb mysqld  Ver 10.11.18-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)\n",
            MARIADB_REFUSAL,
            &flags,
        );
        let Verdict::Rejected {
            server,
            flag,
            reason,
        } = verdict
        else {
            panic!("{verdict:?}")
        };
        assert_eq!(server.to_string(), "MariaDB 10.11.18");
        assert_eq!(flag.as_deref(), Some("--xzup_bogus=1"));
        assert_eq!(reason, "unknown variable 'xzup-bogus=1'");
    }

    #[test]
    fn mysql_8_refuses_the_query_cache() {
        let flags = words(&["--character-set-server=utf8mb4", "--query-cache-size=64M"]);
        let stderr = "2026-12-01T22:00:00.000000Z 0 [ERROR] [MY-000067] [Server] unknown variable 'query_cache_size=64M'.\n\
                      2026-12-01T22:00:00.000000Z 0 [ERROR] [MY-010119] [Server] Aborting\n";
        let verdict = judge(
            Some(1),
            "xzup-check: mysql /usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)\n",
            stderr,
            &flags,
        );
        assert_eq!(
            verdict,
            Verdict::Rejected {
                server: Server {
                    mariadb: false,
                    version: "/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)".into()
                },
                flag: Some("--query-cache-size=64M".into()),
                reason: "unknown variable 'query_cache_size=64M'".into()
            }
        );
    }

    #[test]
    fn accepted_and_unchecked() {
        let ok = judge(
            Some(0),
            "xzup-check: mariadb mysqld  Ver 10.11.6-MariaDB\n",
            "",
            &[],
        );
        assert!(
            matches!(ok, Verdict::Accepted(ref s) if s.mariadb),
            "{ok:?}"
        );
        assert_eq!(
            judge(Some(0), "xzup-check: none\n", "", &[]),
            Verdict::NotChecked("the image has neither mysqld nor mariadbd".into())
        );
        assert_eq!(
            judge(
                Some(127),
                "",
                "docker: Error response from daemon: exec: \"sh\": executable file not found in $PATH\n",
                &[]
            ),
            Verdict::NotChecked(
                "docker: Error response from daemon: exec: \"sh\": executable file not found in $PATH".into()
            )
        );
        // A refusal that names no flag keeps the server's words.
        let v = judge(
            Some(1),
            "xzup-check: mysql mysqld  Ver 8.4.0\n",
            "x [ERROR] [MY-1] [Server] Fatal error in defaults handling\n",
            &words(&["--a=1"]),
        );
        assert!(
            matches!(&v, Verdict::Rejected { flag: None, reason, .. } if reason == "Fatal error in defaults handling"),
            "{v:?}"
        );
    }

    #[test]
    fn the_flags_of_a_command() {
        assert_eq!(
            flags_of(&words(&["mysqld", "--max_connections=1"])),
            Some(words(&["--max_connections=1"]))
        );
        assert_eq!(
            flags_of(&words(&["/usr/sbin/mariadbd", "--a"])),
            Some(words(&["--a"]))
        );
        assert_eq!(
            flags_of(&words(&["--a", "--b"])),
            Some(words(&["--a", "--b"]))
        );
        assert_eq!(flags_of(&words(&["bash", "-c", "x"])), None);
        assert_eq!(flags_of(&[]), Some(vec![]));
    }

    /// A fake server on PATH: a script answering `--version` with `version` and refusing
    /// (exit 7, an `[ERROR]` line) any argument named `--bad*`, and `--validate-config`
    /// when `old`.
    fn fake_server(dir: &Path, name: &str, version: &str, old: bool) {
        let refuse_validate = if old {
            "  --validate-config) echo \"x [ERROR] $0: unknown option '--validate-config'\" >&2; exit 1 ;;\n"
        } else {
            ""
        };
        let script = format!(
            "#!/bin/sh\necho \"$0 $*\" >>\"$(dirname \"$0\")/calls\"\nfor a in \"$@\"; do case \"$a\" in\n  --version) echo '{version}'; exit 0 ;;\n{refuse_validate}  --bad*) echo \"x [ERROR] [MY-000067] [Server] unknown variable '${{a#--}}'.\" >&2; exit 7 ;;\nesac; done\nexit 0\n"
        );
        let path = dir.join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Runs the check's script with `bin` on PATH (besides the system's tools).
    fn run_script(bin: &Path, flags: &[&str]) -> Verdict {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("xzup-check")
            .args(flags)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        judge(
            out.status.code(),
            &String::from_utf8_lossy(&out.stdout),
            &String::from_utf8_lossy(&out.stderr),
            &words(flags),
        )
    }

    #[test]
    fn the_script_picks_the_server_and_its_check() {
        let dir = tempfile::tempdir().unwrap();
        fake_server(dir.path(), "mysqld", "mysqld  Ver 8.0.36 for Linux", false);
        let v = run_script(dir.path(), &["--max_connections=1", "--bad_one=2"]);
        assert!(
            matches!(&v, Verdict::Rejected { server, flag: Some(f), .. } if !server.mariadb && f == "--bad_one=2"),
            "{v:?}"
        );
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert!(
            calls.contains("mysqld --validate-config --user=mysql --max_connections=1 --bad_one=2"),
            "{calls}"
        );
        assert!(matches!(
            run_script(dir.path(), &["--max_connections=1"]),
            Verdict::Accepted(_)
        ));

        // MySQL before 8.0.16: no --validate-config, so --help --verbose.
        let old = tempfile::tempdir().unwrap();
        fake_server(old.path(), "mysqld", "mysqld  Ver 5.7.44 for Linux", true);
        let v = run_script(old.path(), &["--bad=1"]);
        assert!(
            matches!(&v, Verdict::Rejected { flag: Some(f), .. } if f == "--bad=1"),
            "{v:?}"
        );
        let calls = std::fs::read_to_string(old.path().join("calls")).unwrap();
        assert!(
            calls.contains("mysqld --help --verbose --user=mysql --bad=1"),
            "{calls}"
        );

        // MariaDB, by `mariadbd`, and an old one by what `mysqld --version` says.
        let maria = tempfile::tempdir().unwrap();
        fake_server(
            maria.path(),
            "mariadbd",
            "mariadbd  Ver 11.4.2-MariaDB",
            false,
        );
        let v = run_script(maria.path(), &["--bad=1"]);
        assert!(
            matches!(&v, Verdict::Rejected { server, .. } if server.mariadb && server.to_string() == "MariaDB 11.4.2"),
            "{v:?}"
        );
        let calls = std::fs::read_to_string(maria.path().join("calls")).unwrap();
        assert!(
            calls.contains("mariadbd --help --verbose --bad=1"),
            "{calls}"
        );
        let old_maria = tempfile::tempdir().unwrap();
        fake_server(
            old_maria.path(),
            "mysqld",
            "mysqld  Ver 10.3.39-MariaDB",
            false,
        );
        assert!(matches!(
            run_script(old_maria.path(), &[]),
            Verdict::Accepted(Server { mariadb: true, .. })
        ));
    }
}
