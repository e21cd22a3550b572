//! Sampling the running stack over a window: `docker stats` of each role's container, the
//! MySQL and Redis counters through `docker exec` (the same client calls verification
//! uses), once per tick; then, once, what does not move within a window (the db's data
//! size, the server's processes, HTTP round-trips to the published ports).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::docker::{ContainerInfo, ContainerStats, Docker, DockerError};
use crate::http;
use crate::roles::Role;
use crate::sizing::stats::Reading;

/// What to sample: the project and each present role's service.
#[derive(Debug, Clone)]
pub struct Request {
    pub project: String,
    pub roles: Vec<(Role, String)>,
    /// Root password of the db (from the compose file's environment).
    pub mysql_password: Option<String>,
    pub window: Duration,
    /// Time between the starts of two ticks (a tick takes as long as `docker stats`, ~2 s).
    pub interval: Duration,
}

/// One role's container as inspected when the window began.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub service: String,
    /// `None` when the service has no container in the project.
    pub name: Option<String>,
    pub running: bool,
    /// The cpus limit, `None` without one.
    pub limit_cpus: Option<f64>,
    /// The memory limit in bytes, `None` without one.
    pub limit_memory: Option<u64>,
}

/// A role's use at one tick: cores busy (1.0 = one core) and memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub cores: f64,
    pub memory: u64,
}

/// One tick: seconds since the epoch, and each role that `docker stats` could read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub at: u64,
    pub usage: BTreeMap<Role, Usage>,
}

/// The db over the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Mysql {
    /// `Innodb_buffer_pool_reads` (reads that missed the pool and went to disk).
    pub pool_reads: Vec<Reading>,
    /// `Innodb_buffer_pool_read_requests` (logical reads).
    pub pool_read_requests: Vec<Reading>,
    pub slow_queries: Vec<Reading>,
    pub max_used_connections: u64,
    pub max_connections: u64,
    pub pool_bytes: u64,
    /// InnoDB data + index (`information_schema.tables`), read once.
    pub data_bytes: Option<u64>,
    /// The client's round-trip of `SELECT 1`, per tick, in ms.
    pub query_ms: Vec<f64>,
}

/// Redis over the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Redis {
    pub used_memory: Vec<u64>,
    pub maxmemory: u64,
    pub evicted_keys: Vec<Reading>,
    pub keyspace_hits: Vec<Reading>,
    pub keyspace_misses: Vec<Reading>,
}

/// An HTTP GET to a published port.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpProbe {
    pub role: Role,
    /// What it is: `OTA endpoint`, `manager API`.
    pub what: String,
    pub url: String,
    /// The response's status, `None` when it did not answer.
    pub status: Option<u16>,
    pub ms: Option<f64>,
    /// Why it could not be reached.
    pub error: Option<String>,
}

/// Everything one window measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    pub started: u64,
    pub secs: f64,
    pub containers: BTreeMap<Role, Container>,
    pub ticks: Vec<Tick>,
    pub mysql: Option<Mysql>,
    pub redis: Option<Redis>,
    pub http: Vec<HttpProbe>,
    /// The server container's processes (`ps`), one command per line.
    pub server_processes: Option<Vec<String>>,
    /// What could not be read, and why.
    pub notes: Vec<String>,
}

/// Samples the stack. `stop` is polled between ticks (Ctrl-C ends the window early).
pub fn sample(
    docker: &Docker,
    request: &Request,
    stop: &dyn Fn() -> bool,
) -> Result<Window, DockerError> {
    let started_at = Instant::now();
    let infos = docker.project_containers(&request.project)?;
    let mut window = Window {
        started: now(),
        secs: 0.0,
        containers: BTreeMap::new(),
        ticks: Vec::new(),
        mysql: None,
        redis: None,
        http: Vec::new(),
        server_processes: None,
        notes: Vec::new(),
    };
    let mut running: BTreeMap<Role, &ContainerInfo> = BTreeMap::new();
    for (role, service) in &request.roles {
        let info = infos.iter().find(|c| c.service.as_deref() == Some(service));
        let is_running = info.is_some_and(|c| c.status == "running");
        window.containers.insert(
            *role,
            Container {
                service: service.clone(),
                name: info.map(|c| c.name.clone()),
                running: is_running,
                limit_cpus: info
                    .filter(|c| c.nano_cpus > 0)
                    .map(|c| c.nano_cpus as f64 / 1e9),
                limit_memory: info.filter(|c| c.memory > 0).map(|c| c.memory),
            },
        );
        match info {
            Some(c) if is_running => {
                running.insert(*role, c);
            }
            Some(c) => window.notes.push(format!(
                "{role}: container `{}` is {}, not running: nothing measured",
                c.name, c.status
            )),
            None => window.notes.push(format!(
                "{role}: service `{service}` has no container in project `{}`: nothing measured",
                request.project
            )),
        }
    }
    let names: Vec<String> = running.values().map(|c| c.name.clone()).collect();
    let mut mysql = running.get(&Role::Db).map(|_| Mysql::default());
    let mut redis = running.get(&Role::Redis).map(|_| Redis::default());
    let password = request.mysql_password.clone().unwrap_or_default();

    loop {
        let tick_started = Instant::now();
        // The three calls at once: a tick lasts as long as `docker stats` (about 2 s, it
        // reads the cgroup twice), not as long as all three in a row.
        let (stats, mysql_out, redis_out) = std::thread::scope(|scope| {
            let stats = scope.spawn(|| (!names.is_empty()).then(|| docker.stats(&names)));
            let mysql_out = scope.spawn(|| {
                let c = running.get(&Role::Db).filter(|_| mysql.is_some())?;
                Some(docker.mysql_with(&c.name, "root", &password, &["-vvv"], MYSQL_TICK))
            });
            let redis_out = scope.spawn(|| {
                let c = running.get(&Role::Redis).filter(|_| redis.is_some())?;
                Some(docker.redis_cli(&c.name, &["INFO"]))
            });
            (
                stats.join().expect("the stats call does not panic"),
                mysql_out.join().expect("the mysql call does not panic"),
                redis_out.join().expect("the redis call does not panic"),
            )
        });
        if let Some(stats) = stats {
            window.ticks.push(tick(&running, &stats?));
        }
        match (mysql.as_mut(), mysql_out) {
            (Some(m), Some(Ok(out))) => read_mysql_tick(m, &out),
            (_, Some(Err(e))) => note_once(&mut window.notes, format!("db: MySQL counters: {e}")),
            _ => {}
        }
        match (redis.as_mut(), redis_out) {
            (Some(r), Some(Ok(out))) => read_redis_tick(r, &out),
            (_, Some(Err(e))) => note_once(&mut window.notes, format!("redis: INFO: {e}")),
            _ => {}
        }
        if started_at.elapsed() >= request.window || stop() {
            break;
        }
        let next = tick_started + request.interval;
        let end = started_at + request.window;
        let wake = next.min(end);
        while Instant::now() < wake && !stop() {
            std::thread::sleep(Duration::from_millis(100).min(wake - Instant::now()));
        }
    }
    window.secs = started_at.elapsed().as_secs_f64();

    if let (Some(m), Some(c)) = (mysql.as_mut(), running.get(&Role::Db)) {
        match docker.mysql(&c.name, "root", &password, MYSQL_DATA) {
            Ok(out) => m.data_bytes = out.trim().parse().ok(),
            Err(e) => note_once(&mut window.notes, format!("db: data size: {e}")),
        }
    }
    window.mysql = mysql;
    window.redis = redis;
    if let Some(c) = running.get(&Role::Server) {
        match docker.exec(&c.name, &["ps"], &[]) {
            Ok(out) => window.server_processes = Some(process_names(&out)),
            Err(e) => window
                .notes
                .push(format!("server: `ps` in the container: {e}")),
        }
    }
    for (role, c) in &running {
        window.http.extend(probes(docker, *role, c));
    }
    Ok(window)
}

/// Per tick: the client's round-trip of a trivial query, then the counters.
const MYSQL_TICK: &str = "SELECT 1; SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_buffer_pool_reads','Innodb_buffer_pool_read_requests','Slow_queries','Max_used_connections','Uptime'); SELECT @@max_connections, @@innodb_buffer_pool_size";
/// Once: what InnoDB holds, data and indexes.
const MYSQL_DATA: &str = "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE engine = 'InnoDB'";

fn note_once(notes: &mut Vec<String>, note: String) {
    if !notes.contains(&note) {
        notes.push(note);
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The readable samples of one `docker stats` call, by role.
fn tick(running: &BTreeMap<Role, &ContainerInfo>, stats: &[ContainerStats]) -> Tick {
    let mut usage = BTreeMap::new();
    for (role, c) in running {
        let Some(s) = stats
            .iter()
            .find(|s| s.name == c.name || (!s.id.is_empty() && c.id.starts_with(&s.id)))
        else {
            continue;
        };
        // `--` is no reading, not a zero load.
        if let (Some(cpu), Some(memory)) = (s.cpu_percent, s.mem_usage) {
            usage.insert(
                *role,
                Usage {
                    cores: cpu / 100.0,
                    memory,
                },
            );
        }
    }
    Tick { at: now(), usage }
}

/// The output of [`MYSQL_TICK`] through `mysql -N -B -vvv`.
pub(crate) fn read_mysql_tick(m: &mut Mysql, out: &str) {
    let mut status: BTreeMap<&str, u64> = BTreeMap::new();
    let mut first_timing = None;
    for line in out.lines() {
        // `-vvv` draws tables (`| Uptime | 2 |`) even in batch mode; plain `-B` is tabs.
        let fields: Vec<&str> = match line.strip_prefix('|') {
            Some(row) => row
                .split('|')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .collect(),
            None => line.split('\t').collect(),
        };
        match fields.as_slice() {
            [name, value] if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                if let Ok(v) = value.trim().parse() {
                    if let Ok(n) = name.parse::<u64>() {
                        // `@@max_connections  @@innodb_buffer_pool_size`
                        m.max_connections = n;
                        m.pool_bytes = v;
                    } else {
                        status.insert(name, v);
                    }
                }
            }
            _ => {
                if first_timing.is_none() {
                    first_timing = client_timing(line);
                }
            }
        }
    }
    let uptime = status.get("Uptime").copied();
    let reading = |name: &str| status.get(name).map(|v| Reading { value: *v, uptime });
    m.pool_reads.extend(reading("Innodb_buffer_pool_reads"));
    m.pool_read_requests
        .extend(reading("Innodb_buffer_pool_read_requests"));
    m.slow_queries.extend(reading("Slow_queries"));
    if let Some(v) = status.get("Max_used_connections") {
        m.max_used_connections = m.max_used_connections.max(*v);
    }
    m.query_ms.extend(first_timing);
}

/// `1 row in set (0.001 sec)` (MariaDB) or `(0.00 sec)` (MySQL) → ms.
fn client_timing(line: &str) -> Option<f64> {
    let inner = line.trim().strip_suffix("sec)")?;
    let (_, number) = inner.rsplit_once('(')?;
    number.trim().parse::<f64>().ok().map(|s| s * 1000.0)
}

/// `redis-cli INFO` (`name:value` lines in sections).
pub(crate) fn read_redis_tick(r: &mut Redis, out: &str) {
    let fields: BTreeMap<&str, &str> = out
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .collect();
    let number = |name: &str| fields.get(name).and_then(|v| v.trim().parse::<u64>().ok());
    let uptime = number("uptime_in_seconds");
    let reading = |name: &str| number(name).map(|value| Reading { value, uptime });
    r.used_memory.extend(number("used_memory"));
    if let Some(max) = number("maxmemory") {
        r.maxmemory = max;
    }
    r.evicted_keys.extend(reading("evicted_keys"));
    r.keyspace_hits.extend(reading("keyspace_hits"));
    r.keyspace_misses.extend(reading("keyspace_misses"));
}

/// The command of each `ps` line: the text from where the header's `COMMAND` (busybox)
/// or `CMD` (procps) column begins; `ps` itself left out.
fn process_names(out: &str) -> Vec<String> {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or("");
    let Some(at) = header.find("COMMAND").or_else(|| header.find("CMD")) else {
        return Vec::new();
    };
    lines
        .filter_map(|l| l.get(at..).map(|c| c.trim().to_string()))
        .filter(|c| !c.is_empty() && c != "ps")
        .collect()
}

/// Which published ports to ask, by role: the server's HTTP port (8003 in the upstream
/// file: OTA and vision), the manager API (8002).
fn endpoints(role: Role) -> &'static [(u16, &'static str, &'static str)] {
    match role {
        Role::Server => &[(8003, "/xiaozhi/ota/", "OTA endpoint")],
        Role::Web => &[(8002, "/xiaozhi/", "manager API")],
        Role::Db | Role::Redis => &[],
    }
}

fn probes(docker: &Docker, role: Role, c: &ContainerInfo) -> Vec<HttpProbe> {
    let wanted = endpoints(role);
    if wanted.is_empty() {
        return Vec::new();
    }
    let published = docker.published_ports(&c.name).unwrap_or_default();
    wanted
        .iter()
        .map(|(port, path, what)| {
            let host_port = published
                .iter()
                .find(|(inside, _)| inside == port)
                .map(|(_, outside)| *outside);
            match host_port {
                Some(host_port) => {
                    let url = format!("http://127.0.0.1:{host_port}{path}");
                    match http::get(host_port, path, Duration::from_secs(5)) {
                        Ok((status, ms)) => HttpProbe {
                            role,
                            what: what.to_string(),
                            url,
                            status: Some(status),
                            ms: Some(ms),
                            error: None,
                        },
                        Err(e) => HttpProbe {
                            role,
                            what: what.to_string(),
                            url,
                            status: None,
                            ms: None,
                            error: Some(e),
                        },
                    }
                }
                None => HttpProbe {
                    role,
                    what: what.to_string(),
                    url: String::new(),
                    status: None,
                    ms: None,
                    error: Some(format!("port {port} is not published to the host")),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_tick_output_read() {
        // As MariaDB's client prints it with -vvv (tables, even with -B).
        let out = "--------------\nSELECT 1\n--------------\n\n+---+\n| 1 |\n+---+\n1 row in set (0.002 sec)\n\n--------------\nSHOW GLOBAL STATUS …\n--------------\n\n+----------------------------------+------+\n| Innodb_buffer_pool_read_requests | 5000 |\n| Innodb_buffer_pool_reads         | 40   |\n| Max_used_connections             | 7    |\n| Slow_queries                     | 1    |\n| Uptime                           | 300  |\n+----------------------------------+------+\n5 rows in set (0.004 sec)\n\n--------------\nSELECT @@max_connections, @@innodb_buffer_pool_size\n--------------\n\n+------+-----------+\n|  200 | 134217728 |\n+------+-----------+\n1 row in set (0.000 sec)\n\nBye\n";
        let mut m = Mysql::default();
        read_mysql_tick(&mut m, out);
        let r = |value| Reading {
            value,
            uptime: Some(300),
        };
        assert_eq!(m.pool_reads, vec![r(40)]);
        assert_eq!(m.pool_read_requests, vec![r(5000)]);
        assert_eq!(m.slow_queries, vec![r(1)]);
        assert_eq!(
            (m.max_used_connections, m.max_connections, m.pool_bytes),
            (7, 200, 134217728)
        );
        assert_eq!(m.query_ms, vec![2.0]);
    }

    #[test]
    fn redis_info_read() {
        let out = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\n# Memory\r\nused_memory:70000000\r\nmaxmemory:67108864\r\n# Stats\r\nevicted_keys:12\r\nkeyspace_hits:9\r\nkeyspace_misses:1\r\n";
        let mut r = Redis::default();
        read_redis_tick(&mut r, out);
        let at = |value| Reading {
            value,
            uptime: Some(42),
        };
        assert_eq!(r.used_memory, vec![70000000]);
        assert_eq!(r.maxmemory, 67108864);
        assert_eq!(r.evicted_keys, vec![at(12)]);
        assert_eq!((r.keyspace_hits[0], r.keyspace_misses[0]), (at(9), at(1)));
    }

    #[test]
    fn client_timings_of_both_clients() {
        assert_eq!(client_timing("1 row in set (0.012 sec)"), Some(12.0));
        assert_eq!(client_timing("1 row in set (0.00 sec)"), Some(0.0));
        assert_eq!(client_timing("Bye"), None);
    }

    #[test]
    fn ps_commands_without_the_header_and_ps_itself() {
        let busybox = "PID   USER     COMMAND\n    1 root     /bin/sh /standin.sh\n   12 root     httpd -f -p 8003 -h /www\n   40 root     ps\n";
        assert_eq!(
            process_names(busybox),
            vec![
                "/bin/sh /standin.sh".to_string(),
                "httpd -f -p 8003 -h /www".to_string()
            ]
        );
        let procps = "    PID TTY          TIME CMD\n      1 ?        00:00:03 python3 app.py\n     77 ?        00:00:00 ps\n";
        assert_eq!(process_names(procps), vec!["python3 app.py".to_string()]);
    }
}
