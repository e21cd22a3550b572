//! Where a named volume of the compose file is: which engine volume it is (the top-level
//! `volumes:` entry, the project name, Compose's labels) and whether its content can be read
//! on this host. Asked through [`Volumes`], so the resolution runs without an engine in
//! tests; [`EngineVolumes`] asks the Docker engine.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use crate::compose::VolumeRef;
use crate::docker::{ComposeCli, Docker, Project, VolumeInfo};

/// Looks named volumes up.
pub trait Volumes {
    /// The engine volume the file's `key` names (`reference`: its top-level entry), `None`
    /// when it does not exist; `Err` with why it cannot be known.
    fn find(&self, key: &str, reference: &VolumeRef) -> Result<Option<VolumeInfo>, String>;

    /// The name the volume has or would have, for messages.
    fn expected_name(&self, key: &str, reference: &VolumeRef) -> String;
}

/// No engine to ask: every named volume is unknown, with `why`.
pub struct NoEngine(pub String);

impl Volumes for NoEngine {
    fn find(&self, _key: &str, _reference: &VolumeRef) -> Result<Option<VolumeInfo>, String> {
        Err(self.0.clone())
    }

    fn expected_name(&self, key: &str, reference: &VolumeRef) -> String {
        match reference {
            VolumeRef::Project => key.to_string(),
            other => other.engine_name(key, ""),
        }
    }
}

/// The Docker engine's volumes, for the Compose project of a deployment. The project is
/// found (as Compose would name it: the running stack's labels first) only when a volume
/// is first asked for, so a deployment without named volumes costs no engine call.
pub struct EngineVolumes<'a> {
    docker: &'a Docker,
    project: OnceCell<Result<String, String>>,
    /// How to find the project when it was not given.
    discover: Option<Discover>,
}

struct Discover {
    dir: PathBuf,
    file: PathBuf,
    container_names: Vec<String>,
}

impl<'a> EngineVolumes<'a> {
    /// For the project `project` (a run knows it from its journal).
    pub fn for_project(docker: &'a Docker, project: &str) -> EngineVolumes<'a> {
        EngineVolumes {
            docker,
            project: OnceCell::from(Ok(project.to_string())),
            discover: None,
        }
    }

    /// For the deployment in `dir` with compose file `file`: the project is found the way
    /// `apply` finds it ([`Project::discover`]).
    pub fn discovering(
        docker: &'a Docker,
        dir: &Path,
        file: &Path,
        container_names: Vec<String>,
    ) -> EngineVolumes<'a> {
        EngineVolumes {
            docker,
            project: OnceCell::new(),
            discover: Some(Discover {
                dir: dir.to_path_buf(),
                file: file.to_path_buf(),
                container_names,
            }),
        }
    }

    /// The project name, found on first use.
    pub fn project(&self) -> Result<&str, String> {
        self.project
            .get_or_init(|| {
                let Some(d) = &self.discover else {
                    return Err("no Compose project is known".to_string());
                };
                let cli = ComposeCli::detect(self.docker).map_err(|e| e.to_string())?;
                Project::discover(
                    self.docker,
                    cli.flavour,
                    &d.dir,
                    &d.file,
                    &d.container_names,
                )
                .map(|p| p.name)
                .map_err(|e| e.to_string())
            })
            .as_deref()
            .map_err(Clone::clone)
    }
}

impl Volumes for EngineVolumes<'_> {
    fn find(&self, key: &str, reference: &VolumeRef) -> Result<Option<VolumeInfo>, String> {
        let project = match reference {
            VolumeRef::Project => self.project()?,
            _ => "",
        };
        let name = reference.engine_name(key, project);
        if let Some(info) = self
            .docker
            .volume_inspect(&name)
            .map_err(|e| e.to_string())?
        {
            return Ok(Some(info));
        }
        if *reference != VolumeRef::Project {
            return Ok(None);
        }
        // A flavour that derived the name otherwise: Compose's labels say which it made.
        let labelled = self
            .docker
            .compose_volumes(project, key)
            .map_err(|e| e.to_string())?;
        match labelled.as_slice() {
            [one] => self.docker.volume_inspect(one).map_err(|e| e.to_string()),
            _ => Ok(None),
        }
    }

    fn expected_name(&self, key: &str, reference: &VolumeRef) -> String {
        let project = self.project().unwrap_or("PROJECT");
        reference.engine_name(key, project)
    }
}

/// Whether the volume's content can be read on this host at its mountpoint: the local
/// driver without options (otherwise the content is mounted there only while a container
/// runs), and a mountpoint this process may list.
pub(crate) fn readable(info: &VolumeInfo) -> Result<(), String> {
    if !info.is_plain_local() {
        return Err(format!(
            "its driver `{}`{} keeps the content where only a running container sees it",
            info.driver,
            if info.options.is_empty() {
                ""
            } else {
                " with options"
            }
        ));
    }
    mountpoint_readable(&info.mountpoint)
}

/// Whether this process may list a volume's mountpoint.
pub fn mountpoint_readable(mountpoint: &Path) -> Result<(), String> {
    // Test builds only: the end-to-end tests run as root, and take the path of a user who
    // cannot read `/var/lib/docker` with this.
    #[cfg(feature = "test-hooks")]
    if std::env::var_os("XZUP_TEST_VOLUMES_UNREADABLE").is_some() {
        return Err("unreadable here (XZUP_TEST_VOLUMES_UNREADABLE, a test hook)".into());
    }
    std::fs::read_dir(mountpoint).map(|_| ()).map_err(|e| {
        format!(
            "its mountpoint `{}` cannot be read ({e}): run xzup as root (or as a user who may read `{}`)",
            mountpoint.display(),
            mountpoint.display()
        )
    })
}
