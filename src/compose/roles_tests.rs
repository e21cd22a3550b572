//! The role rules of `roles.rs`, one by one, on small files of their own.

use std::path::Path;

use super::*;
use crate::compose::ComposeError;
use crate::roles::Override;

fn file(text: &str) -> ComposeFile {
    ComposeFile::parse(Path::new("/srv/xz/docker-compose.yml"), text.to_string()).unwrap()
}

fn resolve_text(text: &str) -> Result<RoleMap, RolesError> {
    file(text).roles(&Overrides::default())
}

/// Each role as `service (reason)`, or `-` when it is not in the deployment.
fn shown(map: &RoleMap) -> Vec<String> {
    map.rows()
        .iter()
        .map(|row| match &row.service {
            Some(service) => format!("{}: {service} ({})", row.role, row.reason),
            None => format!("{}: -", row.role),
        })
        .collect()
}

fn overrides(pairs: &[(Role, Option<&str>, Origin)]) -> Overrides {
    let mut o = Overrides::default();
    for (role, service, origin) in pairs {
        o.set(
            *role,
            Override {
                service: service.map(str::to_string),
                origin: *origin,
            },
        );
    }
    o
}

#[test]
fn upstream_names_come_first() {
    let map = resolve_text(
        "services:\n  xiaozhi-esp32-server:\n    image: busybox\n  xiaozhi-esp32-server-web:\n    image: x\n  xiaozhi-esp32-server-db:\n    image: mysql:latest\n  xiaozhi-esp32-server-redis:\n    image: redis:8.0\n",
    )
    .unwrap();
    assert_eq!(
        shown(&map),
        [
            "server: xiaozhi-esp32-server (by its upstream name)",
            "db: xiaozhi-esp32-server-db (by its upstream name)",
            "redis: xiaozhi-esp32-server-redis (by its upstream name)",
            "web: xiaozhi-esp32-server-web (by its upstream name)",
        ]
    );
}

#[test]
fn renamed_services_are_found_by_image() {
    let map = resolve_text(
        "services:\n  xiaozhi-server:\n    image: ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:server_latest\n    container_name: zs\n  xiaozhi-web:\n    image: ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_latest\n  xiaozhi-db:\n    image: mysql:8.0\n    container_name: xiaozhi-esp32-db\n  cache:\n    image: redis:7-alpine\n  nginx:\n    image: nginx:1.27\n",
    )
    .unwrap();
    assert_eq!(
        shown(&map),
        [
            "server: xiaozhi-server (by image `ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:server_latest`)",
            "db: xiaozhi-db (by image `mysql:8.0`)",
            "redis: cache (by image `redis:7-alpine`)",
            "web: xiaozhi-web (by image `ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_latest`)",
        ]
    );
    assert_eq!(map.role_of("nginx"), None, "an unknown image plays no role");
    // The line the plan prints.
    assert_eq!(
        map.rows()[1].to_string(),
        "db     = `xiaozhi-db`, by image `mysql:8.0`"
    );
}

#[test]
fn images_by_repository_and_tag() {
    let cases: [(&str, Option<Role>); 24] = [
        ("mysql", Some(Role::Db)),
        ("mysql:8.0", Some(Role::Db)),
        ("docker.io/library/mysql:latest", Some(Role::Db)),
        ("mysql/mysql-server:8.0", Some(Role::Db)),
        ("mariadb:10.11", Some(Role::Db)),
        ("bitnami/mariadb", Some(Role::Db)),
        ("percona:8.0", Some(Role::Db)),
        ("percona/percona-server:8.0", Some(Role::Db)),
        ("localhost:5000/mysql", Some(Role::Db)),
        ("MySQL:8.0@sha256:0123abcd", Some(Role::Db)),
        ("redis:8.0", Some(Role::Redis)),
        ("redis:7-alpine", Some(Role::Redis)),
        ("valkey/valkey:8", Some(Role::Redis)),
        ("registry.example.com:5000/cache/redis", Some(Role::Redis)),
        // The xiaozhi images: by tag, from any registry or mirror, or built locally.
        (
            "ghcr.io/xinnan-tech/xiaozhi-esp32-server:server_latest",
            Some(Role::Server),
        ),
        (
            "ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_0.8.6",
            Some(Role::Web),
        ),
        ("xiaozhi-esp32-server:server_custom", Some(Role::Server)),
        ("xiaozhi-esp32-server:web_custom", Some(Role::Web)),
        // … else by the repository's name.
        ("myorg/xiaozhi-esp32-server-web:1.2", Some(Role::Web)),
        ("myorg/xiaozhi-manager-api", Some(Role::Web)),
        ("myorg/xiaozhi-server:1.2", Some(Role::Server)),
        // Not a role: a name that merely contains one, a server_ tag on another project.
        ("oliver006/redis_exporter", None),
        ("prom/mysqld-exporter", None),
        ("myorg/app:server_latest", None),
    ];
    for (image, role) in cases {
        assert_eq!(image_role(image), role, "{image}");
    }
    assert_eq!(image_role("nginx"), None);
    assert_eq!(image_role("myorg/xiaozhi-tools:latest"), None);
}

#[test]
fn local_builds_are_found_by_ports_then_container_name() {
    let map = resolve_text(
        "services:\n  xiaozhi-server:\n    build:\n      context: .\n    container_name: xiaozhi-esp32-server\n    ports:\n      - \"18000:8000\"\n      - 127.0.0.1:8003:8003/tcp\n  console:\n    build: ./web\n    ports:\n      - target: 8002\n        published: 9002\n  xiaozhi-db:\n    build: ./db\n    container_name: xiaozhi-esp32-server-db\n  other:\n    build: ./other\n    ports:\n      - 8080:80\n",
    )
    .unwrap();
    assert_eq!(
        shown(&map),
        [
            "server: xiaozhi-server (by published ports 8000, 8003 of a `build:` service)",
            "db: xiaozhi-db (by container name `xiaozhi-esp32-server-db` of a `build:` service)",
            "redis: -",
            "web: console (by published port 8002 of a `build:` service)",
        ]
    );
    assert_eq!(map.role_of("other"), None);
}

#[test]
fn a_local_build_without_ports_is_found_by_upstreams_dockerfile() {
    let map = resolve_text(
        "services:\n  console:\n    build:\n      context: .\n      dockerfile: Dockerfile-web\n    container_name: xz-console\n  api:\n    build:\n      context: .\n      dockerfile: docker/Dockerfile-server\n  tools:\n    build:\n      dockerfile: Dockerfile-tools\n",
    )
    .unwrap();
    assert_eq!(
        shown(&map),
        [
            "server: api (by the Dockerfile `docker/Dockerfile-server` it builds from)",
            "db: -",
            "redis: -",
            "web: console (by the Dockerfile `Dockerfile-web` it builds from)",
        ]
    );
    assert_eq!(map.role_of("tools"), None);
}

#[test]
fn ports_of_two_roles_name_none_and_the_image_wins_over_ports() {
    let map = resolve_text(
        "services:\n  both:\n    build: .\n    ports: [\"8000:8000\", \"8002:8002\"]\n    container_name: xiaozhi-esp32-server-web\n  built-db:\n    build: .\n    image: mariadb:11\n    ports: [\"8000:8000\"]\n",
    )
    .unwrap();
    assert_eq!(
        shown(&map),
        [
            "server: -",
            "db: built-db (by image `mariadb:11`)",
            "redis: -",
            "web: both (by container name `xiaozhi-esp32-server-web` of a `build:` service)",
        ]
    );
    // Ports tell only a service that is built here: an image that names no role is not
    // guessed at.
    let map = resolve_text(
        "services:\n  s:\n    image: busybox\n    ports: [\"8000:8000\"]\n  xiaozhi-esp32-server-db:\n    image: x\n",
    )
    .unwrap();
    assert_eq!(map.present(), [Role::Db]);
}

#[test]
fn a_server_only_file_has_the_other_roles_absent() {
    let map = resolve_text(
        "services:\n  xiaozhi-esp32-server:\n    image: ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:server_latest\n",
    )
    .unwrap();
    assert_eq!(map.present(), [Role::Server]);
    assert_eq!(map.absent(), [Role::Db, Role::Redis, Role::Web]);
    assert_eq!(
        map.rows()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "server = `xiaozhi-esp32-server`, by its upstream name",
            "db     - not in this deployment",
            "redis  - not in this deployment",
            "web    - not in this deployment",
        ]
    );
    assert_eq!(
        map.summary(),
        "server = `xiaozhi-esp32-server`; db, redis, web not in this deployment"
    );
}

#[test]
fn server_and_web_with_the_database_elsewhere() {
    // The web container reaches MySQL and Redis on another host: its environment names
    // them, but no service of the file is either.
    let map = resolve_text(
        "services:\n  xiaozhi-esp32-server:\n    image: ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:server_latest\n  xiaozhi-esp32-server-web:\n    image: ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server:web_latest\n    environment:\n      - SPRING_DATASOURCE_DRUID_URL=jdbc:mysql://192.168.1.20:3306/xz\n      - SPRING_DATA_REDIS_HOST=192.168.1.20\n",
    )
    .unwrap();
    assert_eq!(map.present(), [Role::Server, Role::Web]);
}

#[test]
fn two_candidates_for_a_role_are_refused() {
    let err = resolve_text(
        "services:\n  xiaozhi-server:\n    image: xiaozhi-esp32-server:server_custom\n  xiaozhi-db:\n    image: mysql:8.0\n  test-db:\n    image: mariadb:10.11\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`/srv/xz/docker-compose.yml` has 2 services that could play the db role: \
         `xiaozhi-db` (by image `mysql:8.0`), `test-db` (by image `mariadb:10.11`)"
    );
    assert_eq!(
        err.hint(),
        "name the one xzup sizes: `--service db=xiaozhi-db` (or `db = \"xiaozhi-db\"` under \
         `[services]` in xzup.toml); `--service db=none` if none of them is the deployment's db"
    );
    assert!(!err.is_usage());
    // Two local builds on the server's ports: the same.
    let err = resolve_text(
        "services:\n  a:\n    build: .\n    ports: [\"8000:8000\"]\n  b:\n    build: .\n    ports: [\"8003:8003\"]\n",
    )
    .unwrap_err();
    assert!(
        matches!(&err, RolesError::Ambiguous { role: Role::Server, candidates, .. } if candidates.len() == 2),
        "{err}"
    );
}

#[test]
fn a_role_found_by_name_leaves_look_alikes_alone() {
    // The upstream db and a test db beside it: the upstream name settles it.
    let map = resolve_text(
        "services:\n  xiaozhi-esp32-server-db:\n    image: mysql:latest\n  test-db:\n    image: mysql:latest\n",
    )
    .unwrap();
    assert_eq!(map.service(Role::Db), Some("xiaozhi-esp32-server-db"));
    assert_eq!(map.role_of("test-db"), None);
}

#[test]
fn the_operator_maps_first() {
    let text = "services:\n  xiaozhi-esp32-server:\n    image: busybox\n  xiaozhi-esp32-server-db:\n    image: mysql:latest\n  test-db:\n    image: mysql:latest\n  kv:\n    image: redis:8.0\n";
    let map = file(text)
        .roles(&overrides(&[
            (Role::Db, Some("test-db"), Origin::CommandLine),
            (Role::Web, Some("kv"), Origin::Config),
        ]))
        .unwrap();
    assert_eq!(
        shown(&map),
        [
            "server: xiaozhi-esp32-server (by its upstream name)",
            "db: test-db (by `--service`)",
            // `kv` plays web, so it is nobody's redis.
            "redis: -",
            "web: kv (by `[services]` in xzup.toml)",
        ]
    );
    // `none`: the role is not here, even with its upstream name in the file.
    let map = file(text)
        .roles(&overrides(&[(Role::Db, None, Origin::CommandLine)]))
        .unwrap();
    assert_eq!(map.service(Role::Db), None);
    assert_eq!(map.service(Role::Redis), Some("kv"));
}

#[test]
fn a_mapping_to_a_service_the_file_lacks_is_a_usage_error() {
    let err = file("services:\n  a:\n    image: mysql\n  b:\n    image: x\n")
        .roles(&overrides(&[(
            Role::Db,
            Some("mysql"),
            Origin::CommandLine,
        )]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "--service maps the db role to `mysql`, which is not a service of \
         `/srv/xz/docker-compose.yml`"
    );
    assert_eq!(
        err.hint(),
        "the file's services are: `a`, `b`; name one of them (`--service db=NAME`, or \
         `db = \"NAME\"` under `[services]` in xzup.toml), or `db=none` if no service plays it"
    );
    assert!(err.is_usage());
    assert!(ComposeError::from(err).is_usage());
    let err = file("services:\n  a:\n    image: mysql\n")
        .roles(&overrides(&[(Role::Web, Some("web"), Origin::Config)]))
        .unwrap_err();
    assert!(
        err.to_string().starts_with("xzup.toml maps the web role"),
        "{err}"
    );
}

#[test]
fn a_file_with_no_role_is_refused() {
    let err =
        resolve_text("services:\n  nginx:\n    image: nginx\n  app:\n    build: .\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no service of `/srv/xz/docker-compose.yml` plays a role xzup sizes (server, db, redis, web)"
    );
    assert!(
        err.hint()
            .starts_with("the file's services are: `nginx`, `app`;"),
        "{}",
        err.hint()
    );
    assert!(!err.is_usage());
    // Every role mapped away: the same.
    let err = file("services:\n  xiaozhi-esp32-server:\n    image: x\n")
        .roles(&overrides(&[(Role::Server, None, Origin::CommandLine)]))
        .unwrap_err();
    assert!(matches!(err, RolesError::NoRoles { .. }), "{err}");
}

#[test]
fn images_and_ports_are_read_with_their_variables_substituted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "XZUP_ROLES_TEST_DB_IMAGE=mariadb:11\nXZUP_ROLES_TEST_WEB_PORT=8002\n",
    )
    .unwrap();
    let path = dir.path().join("compose.yml");
    let text = "services:\n  store:\n    image: ${XZUP_ROLES_TEST_DB_IMAGE}\n  kv:\n    image: redis:${XZUP_ROLES_TEST_UNSET_TAG:-7}\n  ui:\n    build: .\n    ports:\n      - \"9002:${XZUP_ROLES_TEST_WEB_PORT}\"\n  broken:\n    image: ${XZUP_ROLES_TEST_OPEN\n";
    let map = ComposeFile::parse(&path, text.to_string())
        .unwrap()
        .roles(&Overrides::default())
        .unwrap();
    assert_eq!(
        shown(&map),
        [
            "server: -",
            "db: store (by image `mariadb:11`)",
            "redis: kv (by image `redis:7`)",
            "web: ui (by published port 8002 of a `build:` service)",
        ]
    );
    assert_eq!(map.role_of("broken"), None);
}
