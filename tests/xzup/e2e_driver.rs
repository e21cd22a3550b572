//! End-to-end tests of the Docker driver against a real engine, real MariaDB and Redis
//! (fixture images), under the Compose flavour the driver detects (`XZUP_COMPOSE=v1|v2`
//! picks one; `scripts/test.sh` runs this suite under each), plus one test that drives a
//! stack with both flavours at once.

use std::time::Duration;

use xzup::docker::{Compose, ComposeCli, Docker, DockerError, Flavour, Project, ProjectSource};

use crate::harness;
use crate::stack::{self, Start, TestStack};

const MIB: u64 = 1024 * 1024;

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn upstream_file_comes_up_healthy_and_the_driver_reads_it() {
    if !harness::docker_available() {
        return;
    }
    // The upstream file exactly as shipped: no resources, 10 s healthchecks.
    let stack = TestStack::upstream();
    let compose = stack.compose();
    // The flavour scripts/test.sh asked for is the one in use.
    if let Some(wanted) = std::env::var("XZUP_COMPOSE")
        .ok()
        .and_then(|v| Flavour::parse(&v))
    {
        assert_eq!(compose.flavour(), wanted);
    }

    let states = compose.ps().unwrap();
    let summary: Vec<(String, String, Option<String>)> = states
        .iter()
        .map(|s| (s.service.clone(), s.status.clone(), s.health.clone()))
        .collect();
    let healthy = Some("healthy".to_string());
    assert_eq!(
        summary,
        vec![
            // Sorted by service name.
            (stack::SERVER.to_string(), "running".to_string(), None),
            (
                stack::DB.to_string(),
                "running".to_string(),
                healthy.clone()
            ),
            (stack::REDIS.to_string(), "running".to_string(), healthy),
            (stack::WEB.to_string(), "running".to_string(), None),
        ]
    );

    let containers = compose.containers().unwrap();
    let names: Vec<String> = containers.iter().map(|c| c.name.clone()).collect();
    assert_eq!(sorted(names), sorted(stack.container_names().to_vec()));
    for c in &containers {
        let expected_image = stack::IMAGES[stack::SERVICES
            .iter()
            .position(|s| Some(*s) == c.service.as_deref())
            .unwrap()];
        assert_eq!(c.image, expected_image);
        assert!(c.image_id.starts_with("sha256:"), "{}", c.image_id);
        assert_eq!(c.project.as_deref(), Some(stack.project()));
        assert_eq!(c.working_dir.as_deref(), Some(stack.dir()));
        // The upstream file sets no resources.
        assert_eq!(
            (c.memory, c.nano_cpus, c.memory_reservation),
            (0, 0, 0),
            "{}",
            c.name
        );
    }

    let stats = stack.docker().stats(&stack::SERVICES).unwrap();
    assert_eq!(stats.len(), 4);
    let host = stack.docker().info().unwrap();
    for s in &stats {
        assert!(stack::SERVICES.contains(&s.name.as_str()), "{}", s.name);
        assert!(s.cpu_percent.is_some_and(|p| p >= 0.0), "{s:?}");
        assert!(s.mem_usage.is_some_and(|m| m > 0), "{s:?}");
        assert!(s.pids.is_some_and(|p| p > 0), "{s:?}");
        // No limit: stats shows the host's memory as the limit (within rounding).
        let limit = s.mem_limit.unwrap() as f64;
        assert!(
            (limit / host.mem_total as f64 - 1.0).abs() < 0.01,
            "{s:?} vs {host:?}"
        );
    }
    assert!(host.ncpu >= 1);

    let version = stack.mysql("SELECT VERSION()");
    assert!(version.contains("MariaDB"), "{version}");
    let redis = stack
        .docker()
        .redis_cli(stack::REDIS, &["CONFIG", "GET", "maxmemory"])
        .unwrap();
    assert_eq!(redis, "maxmemory\n0\n");

    stack.insert_rows(250);
    assert_eq!(stack.row_count(), 250);
    let rows = stack.checksum_rows();
    assert!(rows.starts_with("250:"), "{rows}");
    assert_eq!(stack.checksum_rows(), rows);
    stack.write_upload_files(3);
    let uploads = stack.checksum_uploads();
    assert_eq!(uploads.len(), 64);
    assert_eq!(stack.checksum_uploads(), uploads);
}

#[test]
fn limits_in_the_file_reach_the_containers() {
    if !harness::docker_available() {
        return;
    }
    let text = stack::with_limits(&stack::upstream_fast(), stack::DB, "1", "512M", "256M");
    let text = stack::with_limits(&text, stack::REDIS, "0.5", "128M", "64M");
    let stack = TestStack::new(&text);

    let db = stack.container(stack::DB);
    assert_eq!(
        (db.nano_cpus, db.memory, db.memory_reservation),
        (1_000_000_000, 512 * MIB, 256 * MIB)
    );
    let redis = stack.container(stack::REDIS);
    assert_eq!(
        (redis.nano_cpus, redis.memory, redis.memory_reservation),
        (500_000_000, 128 * MIB, 64 * MIB)
    );
    let server = stack.container(stack::SERVER);
    assert_eq!((server.nano_cpus, server.memory), (0, 0));

    let stats = stack.docker().stats(&[stack::DB, stack::REDIS]).unwrap();
    let limits: Vec<(String, Option<u64>)> = stats
        .iter()
        .map(|s| (s.name.clone(), s.mem_limit))
        .collect();
    assert_eq!(
        limits,
        vec![
            (stack::DB.to_string(), Some(512 * MIB)),
            (stack::REDIS.to_string(), Some(128 * MIB)),
        ]
    );
}

#[test]
fn cpus_beyond_the_host_fail_at_up_with_the_engines_reason() {
    if !harness::docker_available() {
        return;
    }
    let ncpu = Docker::new().info().unwrap().ncpu;
    let too_many = (ncpu + 2).to_string();
    let text = stack::with_limits(
        &stack::upstream_fast(),
        stack::REDIS,
        &too_many,
        "128M",
        "64M",
    );
    let stack = TestStack::builder(&text).start(Start::No).build();

    // Compose accepts the file: the engine refuses only when it creates the container,
    // i.e. after a `down` — which is why xzup checks NCPU before stopping anything.
    stack.compose().config_check().unwrap();
    let err = stack.compose().up().unwrap_err();
    assert!(stack::is_cpu_range_refusal(&err), "{err}");
    match &err {
        DockerError::Failed {
            command,
            code,
            reason,
            ..
        } => {
            assert!(command.ends_with(" up -d"), "{command}");
            assert!(command.contains(&format!("--project-name={}", stack.project())));
            assert_eq!(*code, Some(1));
            let reason = reason.to_lowercase();
            assert!(
                reason.contains(&format!(
                    "range of cpus is from 0.01 to {ncpu}.00, as there are only {ncpu} cpus available"
                )),
                "{reason}"
            );
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn a_stack_started_by_hand_is_found_stopped_and_restarted() {
    if !harness::docker_available() {
        return;
    }
    // The operator's way: `docker-compose -f docker-compose_all.yml up -d` in the dir.
    let stack = TestStack::builder(&stack::upstream_fast())
        .start(Start::ByHand)
        .build();
    let docker = stack.docker();
    let names = stack.container_names().to_vec();
    let (compose, project) =
        Compose::open(docker, stack.dir(), stack.compose_path(), &names).unwrap();
    let dir_name = stack
        .dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        project,
        Project {
            name: compose.flavour().default_project_name(&dir_name),
            source: ProjectSource::RunningStack,
        }
    );
    assert_eq!(compose.ps().unwrap().len(), 4);

    compose.down(&Default::default()).unwrap();
    assert!(stack.containers().is_empty(), "containers left after down");
    // Nothing running: the name now comes from Compose's own default, which is the same.
    let (_, after) = Compose::open(docker, stack.dir(), stack.compose_path(), &names).unwrap();
    assert_eq!(
        (after.name.as_str(), after.source),
        (project.name.as_str(), ProjectSource::Directory)
    );

    compose.up().unwrap();
    let states = compose
        .wait_healthy(&stack::SERVICES, Duration::from_secs(120))
        .unwrap();
    assert_eq!(states.len(), 4);
    assert!(states.iter().all(|s| s.is_ready()), "{states:?}");
    assert!(
        stack
            .containers()
            .iter()
            .all(|c| c.project.as_deref() == Some(project.name.as_str()))
    );
}

#[test]
fn a_stack_started_under_another_project_name_is_found_by_its_labels() {
    if !harness::docker_available() {
        return;
    }
    let stack = TestStack::builder(&stack::upstream_fast())
        .start(Start::No)
        .build();
    // As if the operator had run `docker-compose -p … up -d`: a name no default gives.
    let custom = format!("{}-custom", stack.project());
    let by_hand = Compose::new(
        stack.docker(),
        stack.compose().cli().clone(),
        custom.clone(),
        stack.compose_path(),
        stack.dir(),
    );
    by_hand.up().unwrap();
    let names = stack.container_names().to_vec();
    let (compose, project) =
        Compose::open(stack.docker(), stack.dir(), stack.compose_path(), &names).unwrap();
    assert_eq!(
        (project.name.as_str(), project.source),
        (custom.as_str(), ProjectSource::RunningStack)
    );
    compose.down(&Default::default()).unwrap();
    assert!(stack.containers().is_empty());
}

#[test]
fn both_flavours_drive_one_stack() {
    if !harness::docker_available() {
        return;
    }
    let flavours = stack::installed_flavours();
    if flavours.len() < 2 {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs both Compose flavours (found {flavours:?}): run scripts/install-compose-v2.sh"
        );
        eprintln!("skipped: both Compose flavours are needed, found {flavours:?}");
        return;
    }
    // Started by hand with docker-compose v1 (what Debian 12 ships), driven by v2 and v1.
    let stack = TestStack::builder(&stack::upstream_fast())
        .flavour(Flavour::V1)
        .start(Start::ByHand)
        .build();
    let docker = stack.docker();
    let names = stack.container_names().to_vec();
    let handle = |flavour: Flavour| {
        let cli = ComposeCli::detect_with(docker, Some(flavour)).unwrap();
        assert_eq!(cli.flavour, flavour);
        let project =
            Project::discover(docker, flavour, stack.dir(), stack.compose_path(), &names).unwrap();
        assert_eq!(project.source, ProjectSource::RunningStack);
        Compose::new(docker, cli, project.name, stack.compose_path(), stack.dir())
    };
    let v1 = handle(Flavour::V1);
    let v2 = handle(Flavour::V2);
    assert!(v1.cli().version.starts_with("1."), "{}", v1.cli().version);
    assert!(v2.cli().version.starts_with("2."), "{}", v2.cli().version);
    assert_eq!(v1.project(), v2.project());
    assert_eq!(v1.ps().unwrap(), v2.ps().unwrap());

    // v2 stops what v1 started; v1 starts it again; v2 sees it healthy.
    v2.down(&Default::default()).unwrap();
    assert!(stack.containers().is_empty());
    v1.up().unwrap();
    let states = v2
        .wait_healthy(&stack::SERVICES, Duration::from_secs(120))
        .unwrap();
    assert_eq!(states.len(), 4);
    v2.config_check().unwrap();
    v1.config_check().unwrap();
}

#[test]
fn a_crashing_service_fails_the_wait_with_its_last_log_lines() {
    if !harness::docker_available() {
        return;
    }
    // The server stand-in exits at once with STANDIN_EXIT_CODE.
    let text = format!(
        "services:\n  crasher:\n    image: {image}\n    restart: always\n    environment:\n      - STANDIN_EXIT_CODE=3\n  quitter:\n    image: {image}\n    restart: \"no\"\n    environment:\n      - STANDIN_EXIT_CODE=4\n",
        image = stack::IMAGES[0]
    );
    let stack = TestStack::builder(&text)
        .file_name("docker-compose.yml")
        .start(Start::No)
        .build();
    stack.compose().up().unwrap();

    let err = stack
        .compose()
        .wait_healthy(&["crasher"], Duration::from_secs(60))
        .unwrap_err();
    match &err {
        DockerError::ServiceFailed {
            service,
            problem,
            logs,
            ..
        } => {
            assert_eq!(service, "crasher");
            assert!(problem.starts_with("keeps restarting: "), "{problem}");
            assert!(problem.ends_with("(last exit code 3)"), "{problem}");
            assert!(
                logs.contains("xzup stand-in server: exiting with 3 (STANDIN_EXIT_CODE)"),
                "{logs}"
            );
        }
        other => panic!("expected ServiceFailed, got {other:?}"),
    }

    let err = stack
        .compose()
        .wait_healthy(&["quitter"], Duration::from_secs(60))
        .unwrap_err();
    assert!(
        matches!(&err, DockerError::ServiceFailed { service, problem, .. }
            if service == "quitter" && problem == "exited with code 4"),
        "{err:?}"
    );
}

#[test]
fn wait_times_out_naming_what_is_not_ready() {
    if !harness::docker_available() {
        return;
    }
    let stack = TestStack::builder(&stack::upstream_fast())
        .start(Start::No)
        .build();
    let err = stack
        .compose()
        .wait_healthy(&[stack::DB], Duration::from_millis(600))
        .unwrap_err();
    match &err {
        DockerError::NotReady { pending, .. } => {
            assert_eq!(pending, &vec![format!("`{}`: no container", stack::DB)])
        }
        other => panic!("expected NotReady, got {other:?}"),
    }
}

#[test]
fn config_check_passes_the_upstream_file_and_reports_composes_reason() {
    if !harness::docker_available() {
        return;
    }
    let stack = TestStack::builder(stack::UPSTREAM).start(Start::No).build();
    stack.compose().config_check().unwrap();

    let bad = stack.dir().join("bad.yml");
    let text = stack::with_limits(stack::UPSTREAM, stack::DB, "lots", "512M", "256M");
    std::fs::write(&bad, text).unwrap();
    let err = stack.compose().with_file(&bad).config_check().unwrap_err();
    match &err {
        DockerError::Failed {
            reason, command, ..
        } => {
            assert!(command.ends_with("bad.yml config -q"), "{command}");
            assert!(reason.contains("cpus"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn images_present_and_missing() {
    if !harness::docker_available() {
        return;
    }
    let docker = Docker::new();
    let mut images: Vec<&str> = stack::IMAGES.to_vec();
    images.push("xzup-e2e/absent:never");
    assert_eq!(
        docker.missing_images(&images).unwrap(),
        vec!["xzup-e2e/absent:never".to_string()]
    );
}
