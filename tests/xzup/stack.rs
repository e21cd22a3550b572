//! The end-to-end harness: a real xiaozhi-shaped stack on the local Docker engine.
//!
//! [`TestStack`] copies a compose file — the upstream one, or another such as the partial
//! stacks of `fixtures/roles/` — into a fresh deployment dir (with the files the upstream
//! file bind-mounts: `models/SenseVoiceSmall/model.pt`, `data/.config.yaml`, `mysql/data`,
//! `uploadfile`), brings it up through the driver under a project name of its
//! own (or by hand, `docker-compose -f FILE up -d` without `-p`, like an operator), waits
//! until it is healthy, and ALWAYS tears it down when dropped — also when the test fails
//! or panics: `down --volumes --remove-orphans`, then any container still labelled with the
//! project or started from the dir, then the dir.
//!
//! The upstream file pins `container_name` and host ports 8000/8002/8003 (so do the other
//! files the tests stand up), so only one such stack can exist on an engine at a time. A stack holds an exclusive lock on
//! `$TMPDIR/xzup-e2e.lock` for its lifetime (serialising test threads, nextest processes and
//! other checkouts alike), removes leftovers of harness runs whose process is gone, and
//! waits for a stack it does not own to go away rather than touching it.
//!
//! Images come from `scripts/fixture-images.sh` (MariaDB as `mysql:latest`, Redis as
//! `redis:8.0`, busybox stand-ins for the server and web images).

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use xzup::docker::{
    Compose, ComposeCli, ContainerInfo, Docker, DockerError, DownOptions, Flavour, ServiceState,
};

/// The upstream `docker-compose_all.yml`, verbatim.
pub const UPSTREAM: &str = include_str!("fixtures/docker-compose_all.yml");
/// The file name the upstream project uses.
pub const COMPOSE_FILE: &str = "docker-compose_all.yml";
pub const SERVER: &str = "xiaozhi-esp32-server";
pub const WEB: &str = "xiaozhi-esp32-server-web";
pub const DB: &str = "xiaozhi-esp32-server-db";
pub const REDIS: &str = "xiaozhi-esp32-server-redis";
/// The four services of the upstream file, in file order.
pub const SERVICES: [&str; 4] = [SERVER, WEB, DB, REDIS];
/// `MYSQL_ROOT_PASSWORD` and `MYSQL_DATABASE` of the upstream file.
pub const MYSQL_ROOT_PASSWORD: &str = "123456";
pub const DATABASE: &str = "xiaozhi_esp32_server";
/// The images the upstream file names (built by `scripts/fixture-images.sh`).
pub const IMAGES: [&str; 4] = [
    "ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:server_latest",
    "ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_latest",
    "mysql:latest",
    "redis:8.0",
];
/// The table the row helpers write.
pub const TABLE: &str = "xzup_e2e_rows";
/// Prefix of every harness project name and deployment dir name.
const PREFIX: &str = "xzup-e2e-";
/// How long a stack may take to be healthy (the upstream file needs 10-20 s here).
pub const HEALTHY_WITHIN: Duration = Duration::from_secs(180);
/// How long to wait for a stack the harness does not own to free the pinned names.
const FOREIGN_STACK_WAIT: Duration = Duration::from_secs(600);

/// The upstream file with every healthcheck `interval: 10s` cut to 1 s. Docker runs the
/// first check only after one interval, so this makes the stack healthy ~9 s sooner.
pub fn fast_healthchecks(text: &str) -> String {
    text.replace("interval: 10s", "interval: 1s")
}

/// The upstream file, healthchecks shortened ([`fast_healthchecks`]).
pub fn upstream_fast() -> String {
    fast_healthchecks(UPSTREAM)
}

/// `text` with a `deploy.resources` block added to `service` (right after its `image:`
/// line), e.g. `("1", "512M", "256M")` for cpus, memory limit and memory reservation.
pub fn with_limits(
    text: &str,
    service: &str,
    cpus: &str,
    memory: &str,
    reservation: &str,
) -> String {
    let line_end = after_image_line(text, service);
    let block = format!(
        "    deploy:\n      resources:\n        limits:\n          cpus: '{cpus}'\n          memory: {memory}\n        reservations:\n          memory: {reservation}\n"
    );
    format!("{}{block}{}", &text[..line_end], &text[line_end..])
}

/// Where the line after `service`'s `image:` starts. A service is a line `  NAME:` at
/// indent 2 (`depends_on` entries of the same name are deeper).
fn after_image_line(text: &str, service: &str) -> usize {
    let header = format!("\n  {service}:\n");
    let start = text
        .find(&header)
        .unwrap_or_else(|| panic!("no service `{service}`"));
    let image_at = start
        + text[start..]
            .find("    image:")
            .expect("service has an image");
    image_at + text[image_at..].find('\n').unwrap() + 1
}

/// `text` with `lines` (already indented by 4 spaces) added to `service` after its `image:`.
pub fn with_service_lines(text: &str, service: &str, lines: &str) -> String {
    let line_end = after_image_line(text, service);
    format!("{}{lines}{}", &text[..line_end], &text[line_end..])
}

/// The `container_name:` values of a compose file.
pub fn container_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("container_name:"))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        .collect()
}

/// The Compose flavours installed here (`XZUP_COMPOSE` ignored).
pub fn installed_flavours() -> Vec<Flavour> {
    [Flavour::V1, Flavour::V2]
        .into_iter()
        .filter(|f| ComposeCli::detect_with(&Docker::new(), Some(*f)).is_ok())
        .collect()
}

/// How the stack is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// By the driver: `compose --project-name=xzup-e2e-… up -d`, then wait until healthy.
    Driver,
    /// Like an operator: `docker-compose -f FILE up -d` (or `docker compose`) in the dir,
    /// no project name, then wait until healthy.
    ByHand,
    /// Not at all: the test runs `up` itself.
    No,
}

/// How to build a [`TestStack`].
#[derive(Debug, Clone)]
pub struct StackBuilder {
    text: String,
    file_name: String,
    start: Start,
    flavour: Option<Flavour>,
    db_service: String,
    files: Vec<(String, String)>,
}

impl StackBuilder {
    /// The db's service name when the file renames it [default: the upstream name].
    pub fn db_service(mut self, name: &str) -> StackBuilder {
        self.db_service = name.to_string();
        self
    }

    /// One more file in the deployment dir (e.g. `xzup.toml`), `path` relative to it.
    pub fn file(mut self, path: &str, content: &str) -> StackBuilder {
        self.files.push((path.to_string(), content.to_string()));
        self
    }

    /// The compose file's name in the deployment dir [default: `docker-compose_all.yml`].
    pub fn file_name(mut self, name: &str) -> StackBuilder {
        self.file_name = name.to_string();
        self
    }

    pub fn start(mut self, start: Start) -> StackBuilder {
        self.start = start;
        self
    }

    /// The Compose flavour [default: what the driver detects, honouring `XZUP_COMPOSE`].
    pub fn flavour(mut self, flavour: Flavour) -> StackBuilder {
        self.flavour = Some(flavour);
        self
    }

    /// Creates the deployment dir and starts the stack as asked. Panics (after tearing
    /// down) when the stack does not come up healthy.
    pub fn build(self) -> TestStack {
        let lock = lock_engine();
        let docker = Docker::new().with_secrets([MYSQL_ROOT_PASSWORD.to_string()]);
        let cli = match self.flavour {
            Some(flavour) => ComposeCli::detect_with(&docker, Some(flavour)),
            None => ComposeCli::detect(&docker),
        };
        let cli = cli.unwrap_or_else(|e| panic!("no Compose for the e2e stack: {e}"));
        require_images(&docker, &self.text);
        clear_the_way(&docker, &container_names(&self.text));
        remove_leftover_volumes();

        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{PREFIX}{}-{n}", std::process::id());
        let root = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir()
            .expect("temp dir");
        // The dir is named like the project, so a stack started by hand (no `-p`) gets the
        // same, recognisable project name from Compose's default.
        let dir = root.path().join(&name);
        lay_out_deployment(&dir);
        let file = dir.join(&self.file_name);
        std::fs::write(&file, &self.text).unwrap();
        for (path, content) in &self.files {
            std::fs::write(dir.join(path), content).unwrap();
        }

        let compose = Compose::new(&docker, cli, name.clone(), &file, &dir);
        let stack = TestStack {
            root: Some(root),
            dir,
            file,
            compose,
            docker,
            names: container_names(&self.text),
            db_service: self.db_service,
            _lock: lock,
        };
        // From here on, a panic drops `stack`, which tears everything down.
        match self.start {
            Start::Driver => {
                stack
                    .compose
                    .up()
                    .unwrap_or_else(|e| panic!("e2e stack: up failed: {e}"));
                stack.wait_healthy();
            }
            Start::ByHand => {
                stack.up_by_hand();
                stack.wait_healthy();
            }
            Start::No => {}
        }
        stack
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A deployment dir with a running (or startable) stack, torn down on drop.
pub struct TestStack {
    root: Option<tempfile::TempDir>,
    dir: PathBuf,
    file: PathBuf,
    compose: Compose,
    docker: Docker,
    names: Vec<String>,
    db_service: String,
    _lock: File,
}

impl TestStack {
    /// How to build a stack from compose `text`.
    pub fn builder(text: &str) -> StackBuilder {
        StackBuilder {
            text: text.to_string(),
            file_name: COMPOSE_FILE.to_string(),
            start: Start::Driver,
            flavour: None,
            db_service: DB.to_string(),
            files: Vec::new(),
        }
    }

    /// A stack from compose `text`, up and healthy.
    pub fn new(text: &str) -> TestStack {
        TestStack::builder(text).build()
    }

    /// The upstream file, unmodified, up and healthy.
    pub fn upstream() -> TestStack {
        TestStack::new(UPSTREAM)
    }

    /// The upstream file with 1 s healthchecks, up and healthy.
    pub fn fast() -> TestStack {
        TestStack::new(&upstream_fast())
    }

    /// The deployment dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The compose file in the deployment dir.
    pub fn compose_path(&self) -> &Path {
        &self.file
    }

    /// The driver's handle on the stack (the harness's project name, the file, the dir).
    pub fn compose(&self) -> &Compose {
        &self.compose
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn project(&self) -> &str {
        self.compose.project()
    }

    pub fn flavour(&self) -> Flavour {
        self.compose.flavour()
    }

    /// The volumes of this stack's project on the engine (see [`project_volumes`]).
    pub fn volumes(&self) -> Vec<String> {
        project_volumes(self.project())
    }

    /// The `container_name:`s the compose file pins.
    pub fn container_names(&self) -> &[String] {
        &self.names
    }

    /// Starts the stack like an operator would: in the dir, `-f FILE up -d`, no project
    /// name, with the stack's Compose flavour.
    pub fn up_by_hand(&self) {
        let file_name = self.file.file_name().unwrap();
        let mut cmd = match self.flavour() {
            Flavour::V1 => Command::new("docker-compose"),
            Flavour::V2 => {
                let mut c = Command::new("docker");
                c.arg("compose");
                c
            }
        };
        let out = cmd
            .current_dir(&self.dir)
            .env_remove("COMPOSE_PROJECT_NAME")
            .arg("-f")
            .arg(file_name)
            .args(["up", "-d"])
            .output()
            .expect("compose runs");
        assert!(
            out.status.success(),
            "by-hand `up -d` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits (through the driver) until every service runs and is healthy.
    pub fn wait_healthy(&self) -> Vec<ServiceState> {
        self.compose
            .wait_healthy(&[] as &[&str], HEALTHY_WITHIN)
            .unwrap_or_else(|e| panic!("e2e stack not healthy: {e}"))
    }

    /// The container of `service` in this stack (found by the working dir label, so it
    /// works whatever project name started it).
    pub fn container(&self, service: &str) -> ContainerInfo {
        self.containers()
            .into_iter()
            .find(|c| c.service.as_deref() == Some(service))
            .unwrap_or_else(|| panic!("no container for service `{service}`"))
    }

    /// Every container started from this stack's dir, whatever its project.
    pub fn containers(&self) -> Vec<ContainerInfo> {
        let ids = ids_started_from(&self.dir);
        self.docker.inspect(&ids).expect("docker inspect")
    }

    /// A SQL statement (or several) in the stack's database as root; tab-separated rows.
    pub fn mysql(&self, sql: &str) -> String {
        let db = self.container(&self.db_service).name;
        let sql = format!("USE {DATABASE}; {sql}");
        self.docker
            .mysql(&db, "root", MYSQL_ROOT_PASSWORD, &sql)
            .unwrap_or_else(|e| panic!("mysql: {e}"))
    }

    /// Inserts `n` more rows into [`TABLE`] (created when missing); row `i` holds a
    /// payload derived from `i`, so two stacks given the same calls hold the same data.
    pub fn insert_rows(&self, n: u32) {
        self.mysql(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (id INT AUTO_INCREMENT PRIMARY KEY, payload VARCHAR(80) NOT NULL) ENGINE=InnoDB"
        ));
        let start: u32 = self
            .mysql(&format!("SELECT COUNT(*) FROM {TABLE}"))
            .trim()
            .parse()
            .unwrap();
        let rows: Vec<u32> = (start + 1..=start + n).collect();
        for chunk in rows.chunks(2000) {
            let values: Vec<String> = chunk
                .iter()
                .map(|i| {
                    format!(
                        "('row-{i}-{}')",
                        &hex::encode(Sha256::digest(i.to_string()))[..32]
                    )
                })
                .collect();
            self.mysql(&format!(
                "INSERT INTO {TABLE} (payload) VALUES {}",
                values.join(",")
            ));
        }
    }

    /// Number of rows in [`TABLE`].
    pub fn row_count(&self) -> u64 {
        self.mysql(&format!("SELECT COUNT(*) FROM {TABLE}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// A checksum of every row of [`TABLE`] (count and content), for before/after checks.
    pub fn checksum_rows(&self) -> String {
        let out = self.mysql(&format!(
            "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT(id, ':', payload))), 0) FROM {TABLE}"
        ));
        out.trim().replace('\t', ":")
    }

    /// Writes `n` files under `uploadfile/e2e/` (content derived from the index).
    pub fn write_upload_files(&self, n: u32) {
        let dir = self.dir.join("uploadfile").join("e2e");
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            let content: Vec<u8> = (0..4096u32)
                .map(|b| (b.wrapping_mul(31) ^ i) as u8)
                .collect();
            std::fs::write(dir.join(format!("upload-{i:05}.bin")), content).unwrap();
        }
    }

    /// SHA-256 over every file under `uploadfile/` (relative path and content, sorted).
    pub fn checksum_uploads(&self) -> String {
        let root = self.dir.join("uploadfile");
        let mut files = Vec::new();
        collect_files(&root, &mut files);
        files.sort();
        let mut hasher = Sha256::new();
        for file in files {
            let rel = file.strip_prefix(&root).unwrap();
            // The web stand-in keeps a heartbeat in uploadfile; it is not uploaded data.
            if rel.to_string_lossy().starts_with(".xzup-standin") {
                continue;
            }
            hasher.update(rel.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(std::fs::read(&file).unwrap());
        }
        hex::encode(hasher.finalize())
    }

    /// Tears the stack down now (what drop does), e.g. to check that nothing is left.
    pub fn teardown(&mut self) {
        let down = DownOptions {
            remove_orphans: true,
            volumes: true,
            stop_timeout: Some(5),
        };
        if let Err(e) = self.compose.down(&down) {
            eprintln!("e2e teardown: down failed ({e}); removing containers directly");
        }
        // Whatever else belongs to the stack: containers of the project, containers
        // started from the dir under another name (xzup or a by-hand run), the networks.
        let mut ids = ids_with_label(&format!("com.docker.compose.project={}", self.project()));
        ids.extend(ids_started_from(&self.dir));
        ids.sort();
        ids.dedup();
        if let Err(e) = self.docker.remove_containers(&ids) {
            eprintln!("e2e teardown: {e}");
        }
        remove_networks(self.project());
        remove_volumes(self.project());
        if let Some(root) = self.root.take()
            && let Err(e) = root.close()
        {
            eprintln!("e2e teardown: cannot remove the deployment dir: {e}");
        }
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// `models/SenseVoiceSmall/model.pt`, `data/.config.yaml`, `mysql/data`, `uploadfile`.
fn lay_out_deployment(dir: &Path) {
    std::fs::create_dir_all(dir.join("models/SenseVoiceSmall")).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::create_dir_all(dir.join("mysql/data")).unwrap();
    std::fs::create_dir_all(dir.join("uploadfile")).unwrap();
    // Bind-mounted as a single file: it must exist, or Docker creates a directory there.
    std::fs::write(
        dir.join("models/SenseVoiceSmall/model.pt"),
        b"xzup e2e stand-in for the SenseVoiceSmall model\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("data/.config.yaml"),
        "manager-api:\n  url: http://xiaozhi-esp32-server-web:8002/xiaozhi\n  secret: e2e-manager-secret\n",
    )
    .unwrap();
}

/// Holds `$TMPDIR/xzup-e2e.lock` exclusively: one stack on the engine at a time.
fn lock_engine() -> File {
    let path = std::env::temp_dir().join("xzup-e2e.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    file
}

/// Panics, saying how to build them, when the images the file names are missing.
fn require_images(docker: &Docker, text: &str) {
    let images: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image:"))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        .collect();
    let missing = docker
        .missing_images(&images)
        .expect("docker image inspect");
    assert!(
        missing.is_empty(),
        "the e2e fixture images are missing ({}): run `scripts/fixture-images.sh` (or `scripts/test.sh`)",
        missing.join(", ")
    );
}

/// Makes sure no container holds the names the file pins: leftovers of harness runs whose
/// process is gone are removed; a stack the harness does not own is waited for.
fn clear_the_way(docker: &Docker, names: &[String]) {
    let started = Instant::now();
    loop {
        let mut foreign = Vec::new();
        for (id, name, project) in containers_named(names) {
            if harness_leftover(&project) {
                eprintln!("e2e: removing leftover container `{name}` of `{project}`");
                let _ = docker.remove_containers(&[id]);
                remove_networks(&project);
            } else {
                foreign.push(format!("`{name}` (project `{project}`)"));
            }
        }
        if foreign.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < FOREIGN_STACK_WAIT,
            "e2e: containers the tests need the names of are still there after {}s: {}; stop that stack (`docker rm -f NAME`)",
            FOREIGN_STACK_WAIT.as_secs(),
            foreign.join(", ")
        );
        if started.elapsed() < Duration::from_secs(1) {
            eprintln!(
                "e2e: waiting for {} to go away (not a stack of this harness)",
                foreign.join(", ")
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// A project of this harness (`xzup-e2e-PID-N`) whose process no longer runs — or this
/// very process: it holds the engine lock, so no stack of its own is alive now.
fn harness_leftover(project: &str) -> bool {
    let Some(rest) = project.strip_prefix(PREFIX) else {
        return false;
    };
    let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    pid == std::process::id() || !Path::new(&format!("/proc/{pid}")).exists()
}

/// `(id, name, project label)` of containers with any of `names`.
fn containers_named(names: &[String]) -> Vec<(String, String, String)> {
    let out = docker_cli(&[
        "ps",
        "-a",
        "--no-trunc",
        "--format",
        "{{.ID}}\t{{.Names}}\t{{.Label \"com.docker.compose.project\"}}",
    ]);
    out.lines()
        .filter_map(|l| {
            let mut parts = l.split('\t');
            let (id, name, project) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
            names
                .iter()
                .any(|n| n == name)
                .then(|| (id.to_string(), name.to_string(), project.to_string()))
        })
        .collect()
}

fn ids_with_label(label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    docker_cli(&["ps", "-a", "-q", "--no-trunc", "--filter", &filter])
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn ids_started_from(dir: &Path) -> Vec<String> {
    ids_with_label(&format!(
        "com.docker.compose.project.working_dir={}",
        dir.display()
    ))
}

/// Removes the project's networks (those labelled with it, and `PROJECT_default`, the
/// name both flavours give the default one). Failures are ignored: most are "not found".
fn remove_networks(project: &str) {
    let filter = format!("label=com.docker.compose.project={project}");
    let mut nets: Vec<String> = docker_cli(&["network", "ls", "-q", "--filter", &filter])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    nets.push(format!("{project}_default"));
    for net in nets {
        let _ = Command::new("docker")
            .args(["network", "rm", &net])
            .output();
    }
}

/// The volumes of a harness project: those Compose labelled with it (`down --volumes` has
/// removed most), and those named after it, such as the `P_dbdata.xzup-quarantine-…`
/// volume an in-place restore moves a volume's content to.
fn project_volumes(project: &str) -> Vec<String> {
    let filter = format!("label=com.docker.compose.project={project}");
    let mut names: Vec<String> = docker_cli(&["volume", "ls", "-q", "--filter", &filter])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let prefix = format!("{project}_");
    names.extend(
        docker_cli(&["volume", "ls", "-q"])
            .split_whitespace()
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_string),
    );
    names.sort();
    names.dedup();
    names
}

/// Removes the volumes of a harness project (only of the harness: the names say so).
fn remove_volumes(project: &str) {
    if !project.starts_with(PREFIX) {
        return;
    }
    for volume in project_volumes(project) {
        let out = Command::new("docker")
            .args(["volume", "rm", &volume])
            .output();
        if let Ok(out) = out
            && !out.status.success()
        {
            eprintln!(
                "e2e teardown: cannot remove volume `{volume}`: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
}

/// Removes the volumes harness runs whose process is gone left behind.
fn remove_leftover_volumes() {
    let mut projects: Vec<String> = docker_cli(&["volume", "ls", "-q"])
        .split_whitespace()
        .filter_map(|name| {
            let rest = name.strip_prefix(PREFIX)?;
            let mut parts = rest.splitn(3, ['-', '_']);
            let (pid, n) = (parts.next()?, parts.next()?);
            Some(format!("{PREFIX}{pid}-{n}"))
        })
        .filter(|project| harness_leftover(project))
        .collect();
    projects.sort();
    projects.dedup();
    for project in projects {
        eprintln!("e2e: removing leftover volumes of `{project}`");
        remove_volumes(&project);
    }
}

/// `docker ARGS` → stdout ("" when it fails; teardown goes on regardless).
fn docker_cli(args: &[&str]) -> String {
    Command::new("docker")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Whether `err` (from `up`) carries the engine's CPU-range refusal.
pub fn is_cpu_range_refusal(err: &DockerError) -> bool {
    err.to_string().to_lowercase().contains("range of cpus")
}
