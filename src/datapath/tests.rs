//! Mount resolution in every form: relative and absolute binds (short and long syntax),
//! `${VAR:-default}` paths, symlinked data dirs, named volumes (project, `name:`,
//! `external:`), and what is left out.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;

use super::*;
use crate::compose::VolumeRef;
use crate::docker::VolumeInfo;

/// Volumes of project `xz`, kept in dirs under a temp dir.
struct FakeVolumes {
    root: PathBuf,
    existing: Vec<&'static str>,
}

impl Volumes for FakeVolumes {
    fn find(&self, key: &str, reference: &VolumeRef) -> Result<Option<VolumeInfo>, String> {
        let name = reference.engine_name(key, "xz");
        if !self.existing.contains(&name.as_str()) {
            return Ok(None);
        }
        let mountpoint = self.root.join(&name).join("_data");
        fs::create_dir_all(&mountpoint).unwrap();
        Ok(Some(VolumeInfo {
            name,
            driver: "local".into(),
            mountpoint,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
        }))
    }

    fn expected_name(&self, key: &str, reference: &VolumeRef) -> String {
        reference.engine_name(key, "xz")
    }
}

/// Renamed services, mapped as `xzup.toml` `[services]` would.
fn roles() -> RoleMap {
    let mut roles = RoleMap::default();
    roles.set(Role::Server, "xz-server");
    roles.set(Role::Web, "xz-web");
    roles.set(Role::Db, "xz-db");
    roles.set(Role::Redis, "xz-redis");
    roles
}

struct Deployment {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    /// Outside the deployment dir, for absolute paths and link targets.
    outside: PathBuf,
}

fn deployment() -> Deployment {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("deploy");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&dir).unwrap();
    fs::create_dir_all(&outside).unwrap();
    Deployment {
        dir: fs::canonicalize(&dir).unwrap(),
        outside: fs::canonicalize(&outside).unwrap(),
        _tmp: tmp,
    }
}

impl Deployment {
    fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.dir.join(rel);
        fs::create_dir_all(&p).unwrap();
        p
    }

    fn compose(&self, text: &str) -> ComposeFile {
        let path = self.dir.join("docker-compose.yml");
        fs::write(&path, text).unwrap();
        ComposeFile::load(&path).unwrap()
    }

    fn resolve_with(&self, text: &str, include: &[PathBuf], volumes: &dyn Volumes) -> DataPaths {
        let compose = self.compose(text);
        resolve(&Request {
            dir: &self.dir,
            compose: &compose,
            roles: &roles(),
            include,
            volumes,
        })
        .unwrap()
    }

    fn resolve(&self, text: &str) -> DataPaths {
        let volumes = FakeVolumes {
            root: self.outside.join("volumes"),
            existing: vec!["xz_dbdata", "xz_cache", "custom-uploads", "shared-ext"],
        };
        self.resolve_with(text, &[], &volumes)
    }
}

fn names(paths: &DataPaths) -> Vec<&str> {
    paths.paths.iter().map(|p| p.name.as_str()).collect()
}

fn left_out(paths: &DataPaths) -> Vec<String> {
    paths.left_out.iter().map(ToString::to_string).collect()
}

#[test]
fn upstream_layout_renamed_services() {
    let d = deployment();
    for dir in ["mysql/data", "uploadfile", "data", "models/SenseVoiceSmall"] {
        d.mkdir(dir);
    }
    fs::write(d.dir.join("models/SenseVoiceSmall/model.pt"), "m").unwrap();
    let paths = d.resolve(
        "services:\n  xz-server:\n    volumes:\n      - ./data:/opt/xiaozhi-esp32-server/data\n      - ./models/SenseVoiceSmall/model.pt:/opt/m.pt\n      - ./plugins:/opt/plugins\n  xz-web:\n    volumes:\n      - ./uploadfile:/uploadfile\n  xz-db:\n    volumes:\n      - ./mysql/data:/var/lib/mysql\n  xz-redis:\n    image: redis\n  unrelated:\n    volumes:\n      - ./elsewhere:/x\n",
    );
    assert_eq!(
        names(&paths),
        ["data", "docker-compose.yml", "mysql/data", "uploadfile"]
    );
    let db = paths.get("mysql/data").unwrap();
    assert_eq!(
        db.origin,
        Origin::BindRelative {
            service: "xz-db".into(),
            target: "/var/lib/mysql".into(),
            source: "./mysql/data".into()
        }
    );
    assert_eq!(db.host, d.dir.join("mysql/data"));
    assert!(!db.follows_a_link());
    assert_eq!(
        db.origin.to_string(),
        "bind mount of `xz-db` at /var/lib/mysql"
    );
    assert_eq!(
        paths.get("data").unwrap().origin,
        Origin::Deployment {
            part: Part::ServerConfig
        }
    );
    assert_eq!(
        left_out(&paths),
        [
            "`./models/SenseVoiceSmall/model.pt:/opt/m.pt` of `xz-server`: model files (add \
             `--include models/SenseVoiceSmall/model.pt` to back them up): not backed up",
            "`./plugins:/opt/plugins` of `xz-server`: the server's code and files, not data \
             (add `--include plugins` to back it up): not backed up",
        ]
    );
    assert!(paths.left_out.iter().all(|l| !l.is_warning()));
}

#[test]
fn a_symlinked_data_dir_is_read_where_it_points() {
    let d = deployment();
    let real = d.outside.join("ssd/mysql-data");
    fs::create_dir_all(&real).unwrap();
    d.mkdir("mysql");
    symlink(&real, d.dir.join("mysql/data")).unwrap();
    // A link on the way, too: `uploads` -> outside, mounted as `./uploads/files`.
    fs::create_dir_all(d.outside.join("up/files")).unwrap();
    symlink(d.outside.join("up"), d.dir.join("uploads")).unwrap();
    let paths = d.resolve(
        "services:\n  xz-db:\n    volumes: ['./mysql/data:/var/lib/mysql']\n  xz-web:\n    volumes: ['./uploads/files:/uploadfile']\n",
    );
    assert_eq!(
        names(&paths),
        ["docker-compose.yml", "mysql/data", "uploads/files"]
    );
    let db = paths.get("mysql/data").unwrap();
    assert_eq!(db.path, d.dir.join("mysql/data"));
    assert_eq!(db.host, real);
    assert!(db.follows_a_link());
    assert_eq!(
        paths.get("uploads/files").unwrap().host,
        d.outside.join("up/files")
    );
}

#[test]
fn absolute_binds_outside_the_deployment_are_host_paths() {
    let d = deployment();
    let abs = d.outside.join("srv/xz/uploads");
    fs::create_dir_all(&abs).unwrap();
    fs::create_dir_all(d.outside.join("conf")).unwrap();
    let text = format!(
        "services:\n  xz-web:\n    volumes:\n      - {abs}:/uploadfile\n      - {conf}:/etc/conf:ro\n      - /etc/localtime:/etc/localtime\n      - /proc/cpuinfo:/cpuinfo\n  xz-db:\n    volumes:\n      - type: bind\n        source: ../outside/srv/xz\n        target: /srv\n",
        abs = abs.display(),
        conf = d.outside.join("conf").display(),
    );
    let paths = d.resolve(&text);
    let holder = format!("host-paths{}", d.outside.join("srv/xz").display());
    assert_eq!(names(&paths), ["docker-compose.yml", holder.as_str()]);
    let reasons: Vec<_> = paths.left_out.iter().map(|l| &l.reason).collect();
    assert_eq!(
        reasons,
        [
            &Reason::ReadOnly {
                path: d.outside.join("conf")
            },
            &Reason::System {
                path: "/etc/localtime".into()
            },
            &Reason::System {
                path: "/proc/cpuinfo".into()
            },
            // The web's uploads lie inside the db's `../outside/srv/xz`: archived once.
            &Reason::Within {
                path: abs.clone(),
                of: holder.clone()
            },
        ]
    );
    assert_eq!(
        paths.left_out[3].what,
        format!("host-paths{}", abs.display())
    );
    let db = &paths.paths[1];
    assert!(
        matches!(&db.origin, Origin::BindRelative { source, .. } if source == "../outside/srv/xz")
    );
}

#[test]
fn an_absolute_bind_alone_is_a_host_path_with_its_origin() {
    let d = deployment();
    let abs = d.outside.join("db");
    fs::create_dir_all(&abs).unwrap();
    let paths = d.resolve(&format!(
        "services:\n  xz-db:\n    volumes:\n      - {}:/var/lib/mysql\n",
        abs.display()
    ));
    let db = &paths.paths[1];
    assert_eq!(db.name, format!("host-paths{}", abs.display()));
    assert_eq!(
        db.origin,
        Origin::BindAbsolute {
            service: "xz-db".into(),
            target: "/var/lib/mysql".into(),
            source: abs.display().to_string()
        }
    );
    assert!(!names_a_deployment_path(&db.name));
    assert!(names_a_deployment_path("mysql/data"));
}

#[test]
fn variable_paths_resolve_from_dot_env_and_defaults() {
    let d = deployment();
    d.mkdir("db-ssd");
    d.mkdir("uploadfile");
    fs::write(d.dir.join(".env"), "DB_DIR=./db-ssd\n").unwrap();
    let paths = d.resolve(
        "services:\n  xz-db:\n    volumes:\n      - ${DB_DIR:-./mysql/data}:/var/lib/mysql\n  xz-web:\n    volumes:\n      - ${XZUP_TEST_SURELY_UNSET_UPLOADS:-./uploadfile}:/uploadfile\n",
    );
    assert_eq!(
        names(&paths),
        [".env", "db-ssd", "docker-compose.yml", "uploadfile"]
    );
    assert!(matches!(
        &paths.get("db-ssd").unwrap().origin,
        Origin::BindRelative { source, .. } if source == "${DB_DIR:-./mysql/data}"
    ));
}

#[test]
fn named_volumes_are_found_through_the_engine() {
    let d = deployment();
    let paths = d.resolve(
        "services:\n  xz-db:\n    volumes:\n      - dbdata:/var/lib/mysql\n      - never-started:/x\n  xz-web:\n    volumes:\n      - type: volume\n        source: uploads\n        target: /uploadfile\n      - ext:/shared\n  xz-redis:\n    volumes:\n      - cache:/data\nvolumes:\n  dbdata:\n  never-started:\n  uploads:\n    name: custom-uploads\n  ext:\n    external: true\n    name: shared-ext\n  cache:\n",
    );
    assert_eq!(
        names(&paths),
        [
            "docker-compose.yml",
            "docker-volumes/custom-uploads",
            "docker-volumes/shared-ext",
            "docker-volumes/xz_dbdata"
        ]
    );
    let db = paths.get("docker-volumes/xz_dbdata").unwrap();
    assert_eq!(
        db.origin,
        Origin::Volume {
            service: "xz-db".into(),
            target: "/var/lib/mysql".into(),
            key: "dbdata".into(),
            volume: "xz_dbdata".into()
        }
    );
    assert_eq!(db.host, d.outside.join("volumes/xz_dbdata/_data"));
    assert!(!db.follows_a_link());
    assert_eq!(
        left_out(&paths),
        [
            "`never-started:/x` of `xz-db`: volume `xz_never-started` does not exist (yet): not backed up",
            "`cache:/data` of `xz-redis`: Redis keeps a cache there, not data: not backed up",
        ]
    );
    assert!(paths.left_out[0].is_warning());
    assert!(!paths.left_out[0].blocks_backup());
    assert!(
        paths.left_out[0].blocks_upgrade(),
        "the file is not this deployment"
    );
    assert!(!paths.left_out[1].is_warning());
    assert!(!paths.left_out[1].blocks_upgrade());
}

#[test]
fn without_an_engine_a_data_volume_blocks_the_backup() {
    let d = deployment();
    let paths = d.resolve_with(
        "services:\n  xz-db:\n    volumes:\n      - dbdata:/var/lib/mysql\n",
        &[],
        &NoEngine("the Docker engine does not answer".into()),
    );
    assert_eq!(names(&paths), ["docker-compose.yml"]);
    assert_eq!(
        left_out(&paths),
        [
            "`dbdata:/var/lib/mysql` of `xz-db`: cannot tell which volume `dbdata` is: the Docker engine does not answer: not backed up"
        ]
    );
    assert!(paths.left_out[0].blocks_backup());
}

#[test]
fn a_volume_whose_content_is_elsewhere_blocks_the_backup() {
    struct Bound;
    impl Volumes for Bound {
        fn find(&self, key: &str, _: &VolumeRef) -> Result<Option<VolumeInfo>, String> {
            Ok(Some(VolumeInfo {
                name: key.into(),
                driver: "local".into(),
                mountpoint: "/nonexistent".into(),
                labels: BTreeMap::new(),
                options: [("o".to_string(), "bind".to_string())].into(),
            }))
        }
        fn expected_name(&self, key: &str, _: &VolumeRef) -> String {
            key.into()
        }
    }
    let d = deployment();
    let paths = d.resolve_with(
        "services:\n  xz-db:\n    volumes:\n      - dbdata:/var/lib/mysql\n",
        &[],
        &Bound,
    );
    assert!(paths.left_out[0].blocks_backup(), "{:?}", paths.left_out);
    assert!(
        paths.left_out[0]
            .to_string()
            .contains("driver `local` with options"),
        "{}",
        paths.left_out[0]
    );
}

#[test]
fn anonymous_tmpfs_and_missing_mounts_of_data_services() {
    let d = deployment();
    let paths = d.resolve(
        "services:\n  xz-db:\n    volumes:\n      - /var/lib/mysql\n      - ./mysql/conf:/etc/mysql/conf.d\n      - type: tmpfs\n        target: /tmp\n  xz-server:\n    volumes:\n      - /cache\n",
    );
    assert_eq!(names(&paths), ["docker-compose.yml"]);
    assert_eq!(
        left_out(&paths),
        [
            "`/var/lib/mysql` of `xz-db`: an anonymous volume: Compose gives a new container a \
             new one, so nothing in it outlives `down` (name it in the file to keep its data): not backed up",
            "`./mysql/conf:/etc/mysql/conf.d` of `xz-db`: `mysql/conf` does not exist: not backed up",
            "`/tmp` of `xz-db`: tmpfs, in memory only: not backed up",
        ]
    );
    let warnings: Vec<_> = paths.left_out.iter().map(LeftOut::is_warning).collect();
    assert_eq!(warnings, [true, true, false]);
    // None would be missed by a backup, but an upgrade must not run over either of the
    // first two: the db would come up without its data, or the file is not this deployment.
    let backup: Vec<_> = paths.left_out.iter().map(LeftOut::blocks_backup).collect();
    assert_eq!(backup, [false, false, false]);
    let upgrade: Vec<_> = paths.left_out.iter().map(LeftOut::blocks_upgrade).collect();
    assert_eq!(upgrade, [true, true, false]);
    // The server's anonymous volume (a cache of its own) stops nothing.
    assert!(!paths.left_out.iter().any(|l| l.what == "/cache"));
}

#[test]
fn includes_inside_outside_and_the_whole_dir() {
    let d = deployment();
    d.mkdir("models/a");
    d.mkdir("data/sub");
    let paths = d.resolve_with(
        "services:\n  xz-web:\n    volumes:\n      - ./models/a:/m\n",
        &[
            "models".into(),
            "data/sub".into(),
            "nope".into(),
            "../x".into(),
            ".".into(),
        ],
        &NoEngine(String::new()),
    );
    assert_eq!(names(&paths), ["data", "docker-compose.yml", "models"]);
    assert_eq!(
        paths.get("models").unwrap().origin,
        Origin::Deployment {
            part: Part::Included
        }
    );
    assert_eq!(
        left_out(&paths),
        [
            "`nope` (--include): it does not exist: not backed up",
            "`../x` (--include): lies outside the deployment dir: not backed up",
            "`.` (--include): holds the whole deployment dir, which is not backed up as such \
             (name parts of it with `--include`): not backed up",
            "`data/sub` (--include): already backed up as part of `data`: not backed up",
            "`models/a` of `xz-web`: already backed up as part of `models`: not backed up",
        ]
    );
    let included: Vec<_> = paths.left_out.iter().map(LeftOut::is_included).collect();
    assert_eq!(included, [true, true, true, false, false]);
}

#[test]
fn the_deployment_dir_itself_and_duplicates() {
    let d = deployment();
    d.mkdir("uploadfile/sub");
    let paths = d.resolve(
        "services:\n  xz-web:\n    volumes:\n      - .:/all\n      - ./uploadfile:/uploadfile\n      - ./uploadfile/sub:/sub\n  xz-db:\n    volumes:\n      - ./uploadfile:/also\n      - ..:/parent\n",
    );
    assert_eq!(names(&paths), ["docker-compose.yml", "uploadfile"]);
    assert_eq!(
        paths.get("uploadfile").unwrap().origin.service(),
        Some("xz-db"),
        "the first found (db comes before web)"
    );
    let reasons: Vec<_> = paths
        .left_out
        .iter()
        .map(|l| std::mem::discriminant(&l.reason))
        .collect();
    let whole = std::mem::discriminant(&Reason::WholeDir {
        path: PathBuf::new(),
    });
    assert_eq!(reasons[..2], [whole, whole]);
    assert_eq!(
        paths.left_out[2].to_string(),
        "`uploadfile/sub` of `xz-web`: already backed up as part of `uploadfile`: not backed up"
    );
    assert_eq!(paths.left_out.len(), 3);
}

#[test]
fn the_compose_file_outside_the_dir_and_dot_env() {
    let d = deployment();
    fs::write(d.dir.join(".env"), "X=1\n").unwrap();
    let elsewhere = d.outside.join("compose.yml");
    fs::write(&elsewhere, "services:\n  xz-db: {image: mysql}\n").unwrap();
    let compose = ComposeFile::load(&elsewhere).unwrap();
    let paths = resolve(&Request {
        dir: &d.dir,
        compose: &compose,
        roles: &roles(),
        include: &[],
        volumes: &NoEngine(String::new()),
    })
    .unwrap();
    assert_eq!(names(&paths), [".env"]);
    assert_eq!(
        paths.paths[0].origin,
        Origin::Deployment {
            part: Part::EnvFile
        }
    );
}

#[test]
fn origins_round_trip_through_json() {
    let origin = Origin::Volume {
        service: "xz-db".into(),
        target: "/var/lib/mysql".into(),
        key: "dbdata".into(),
        volume: "xz_dbdata".into(),
    };
    let json = serde_json::to_string(&origin).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"volume","service":"xz-db","target":"/var/lib/mysql","key":"dbdata","volume":"xz_dbdata"}"#
    );
    assert_eq!(serde_json::from_str::<Origin>(&json).unwrap(), origin);
}
