//! What every step works with: [`Ctx`] — the deployment dir and its roles, the Docker
//! driver, the run's journal, the observer — and the copies of the two compose files a run
//! moves between, kept in its run dir ([`PREVIOUS_COPY`], [`NEW_COPY`]) so that resume and
//! rollback never depend on a file the operator may edit meanwhile.

use std::path::{Path, PathBuf};

use crate::compose::ComposeFile;
use crate::datapath::{self, DataPaths, EngineVolumes};
use crate::deployment::Deployment;
use crate::docker::{Compose, ComposeCli, Docker, Flavour, Project};
use crate::fsutil;
use crate::interrupt;
use crate::journal::{ComposeFileRef, Journal, Run};
use crate::roles::RoleMap;
use crate::state::State;

use super::error::{RecordError, StepError, UpgradeError};
use super::observer::Observer;

/// The compose file before the run, as the run saw it, in its run dir.
pub(super) const PREVIOUS_COPY: &str = "previous-compose.yml";
/// The compose file the run makes active, in its run dir.
pub(super) const NEW_COPY: &str = "new-compose.yml";
/// A pre-copy's staging dir, in its run dir (`staging/<name>` for each data path).
pub(super) const STAGING: &str = "staging";

/// Everything a step works with.
pub(super) struct Ctx<'o> {
    pub dir: PathBuf,
    pub roles: RoleMap,
    pub docker: Docker,
    pub journal: Journal,
    pub observer: &'o mut dyn Observer,
    /// The Compose CLI, once preflight (or the journal) named it.
    pub cli: Option<ComposeCli>,
    /// Whether the operator asked the run to stop (Ctrl-C): [`interrupt::requested`], or a
    /// script in the engine's tests.
    pub stop_requested: fn() -> bool,
    /// Whether the operator asked again, during the rollback (a second Ctrl-C):
    /// [`interrupt::requested_again`]. The rollback stops at its next safe point.
    pub stop_again: fn() -> bool,
}

impl<'o> Ctx<'o> {
    /// A context for `journal`'s run in `dir`; `secrets` are redacted from every message.
    pub fn new(
        dir: PathBuf,
        roles: RoleMap,
        mut journal: Journal,
        secrets: Vec<String>,
        observer: &'o mut dyn Observer,
    ) -> Ctx<'o> {
        journal.set_secrets(secrets.clone());
        Ctx {
            dir,
            roles,
            docker: Docker::new().with_secrets(secrets),
            journal,
            observer,
            cli: None,
            stop_requested: interrupt::requested,
            stop_again: interrupt::requested_again,
        }
    }

    /// A context for a run that exists already (resume, rollback), with the secrets of
    /// both files it moves between: the copies in its run dir, else the files themselves.
    /// The roles are the run's own, as its journal recorded them; a journal from before
    /// xzup recorded them gets them resolved from the compose file the run started from
    /// (with today's `--service` and `xzup.toml`), and recorded now.
    pub fn for_run(
        deployment: &Deployment,
        mut journal: Journal,
        observer: &'o mut dyn Observer,
    ) -> Result<Ctx<'o>, UpgradeError> {
        let run = journal.run().clone();
        let run_dir = journal.run_dir().to_path_buf();
        let mut secrets = Vec::new();
        let mut files = Vec::new();
        for (copy, file) in [
            (PREVIOUS_COPY, run.previous_compose.as_ref()),
            (NEW_COPY, run.new_compose.as_ref()),
        ] {
            let candidates = [
                Some(run_dir.join(copy)),
                file.map(|f| deployment.dir.join(&f.path)),
            ];
            if let Some(compose) = candidates
                .into_iter()
                .flatten()
                .find_map(|p| ComposeFile::load(&p).ok())
            {
                secrets.extend(compose.secrets());
                files.push(compose);
            }
        }
        secrets.sort();
        secrets.dedup();
        let roles = match run.roles {
            Some(roles) => roles,
            None => {
                // The file it started from (else the one it moves to: the same services).
                let started_from = files.first().ok_or_else(|| UpgradeError::NothingChanged {
                    step: "roles".into(),
                    message: format!(
                        "run `{}` records no role map, and neither of its compose files can be read to resolve one",
                        run.id
                    ),
                    hint: Some(format!(
                        "put the compose file the run started from back at `{}`",
                        run.previous_compose
                            .as_ref()
                            .map_or("its place".into(), |f| f.path.display().to_string())
                    )),
                })?;
                let roles = deployment.roles(started_from)?;
                journal.set_roles(roles.clone())?;
                roles
            }
        };
        Ok(Ctx::new(
            deployment.dir.clone(),
            roles,
            journal,
            secrets,
            observer,
        ))
    }
}

impl Ctx<'_> {
    pub fn run(&self) -> &Run {
        self.journal.run()
    }

    pub fn run_dir(&self) -> PathBuf {
        self.journal.run_dir().to_path_buf()
    }

    /// An absolute path for a path the journal records relative to the deployment dir.
    /// The pre-copy's staging dir ([`STAGING`] in the run dir).
    pub fn staging_dir(&self) -> PathBuf {
        self.run_dir().join(STAGING)
    }

    pub fn abs(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }

    /// `path` as the operator reads it: relative to the deployment dir when inside it.
    pub fn rel(&self, path: &Path) -> String {
        crate::plan::display_rel(&self.dir, path)
    }

    /// The archive this run writes: `BACKUP_DIR/backup-<run start>.tar.gz`, fixed by the
    /// journal so that a redo after a crash writes the same name.
    pub fn archive_path(&self) -> PathBuf {
        let run = self.run();
        self.abs(&run.settings.backup.dir)
            .join(crate::backup::archive_name(&run.started_at))
    }

    /// Keeps both compose files in the run dir, before anything changes.
    pub fn keep_copies(&self, previous: &str, new: &str) -> Result<(), UpgradeError> {
        let run_dir = self.run_dir();
        for (name, text) in [(PREVIOUS_COPY, previous), (NEW_COPY, new)] {
            let path = run_dir.join(name);
            fsutil::write_atomic(&path, text.as_bytes(), 0o600).map_err(|e| {
                UpgradeError::NothingChanged {
                    step: "preflight".into(),
                    message: format!("cannot write `{}`: {e}", path.display()),
                    hint: None,
                }
            })?;
        }
        Ok(())
    }

    /// The compose file before the run (absolute) and its text as the run recorded it.
    pub fn previous_file(&self) -> Result<(PathBuf, ComposeFile), StepError> {
        self.recorded_file(
            self.run().previous_compose.as_ref(),
            PREVIOUS_COPY,
            "previous",
        )
    }

    /// The compose file the run makes active (absolute) and its text.
    pub fn new_file(&self) -> Result<(PathBuf, ComposeFile), StepError> {
        self.recorded_file(self.run().new_compose.as_ref(), NEW_COPY, "new")
    }

    /// A compose file the journal names, read from the copy in the run's dir.
    fn recorded_file(
        &self,
        file: Option<&ComposeFileRef>,
        copy: &str,
        which: &str,
    ) -> Result<(PathBuf, ComposeFile), StepError> {
        let file = file.ok_or_else(|| {
            StepError::failed(format!("the journal names no {which} compose file"))
        })?;
        let path = self.abs(&file.path);
        let text = std::fs::read_to_string(self.run_dir().join(copy))?;
        Ok((path.clone(), ComposeFile::parse(&path, text)?))
    }

    /// The project with compose file `file`.
    pub fn compose(&mut self, file: &Path) -> Result<Compose, StepError> {
        let cli = match &self.cli {
            Some(cli) => cli.clone(),
            None => {
                let flavour = self
                    .run()
                    .compose_flavour
                    .as_deref()
                    .and_then(Flavour::parse);
                let cli = ComposeCli::detect_with(&self.docker, flavour)?;
                self.cli = Some(cli.clone());
                cli
            }
        };
        let project = match self.run().project.clone() {
            Some(project) => project,
            // A run stopped before preflight named the project: find it as preflight does.
            None => {
                let names: Vec<String> = ComposeFile::load(file)
                    .map(|c| c.container_names().into_values().collect())
                    .unwrap_or_default();
                let project =
                    Project::discover(&self.docker, cli.flavour, &self.dir, file, &names)?;
                self.journal.set_project(&project.name)?;
                project.name
            }
        };
        Ok(Compose::new(&self.docker, cli, project, file, &self.dir))
    }

    /// The data paths of `compose` (a file of this run): what the backup takes and a
    /// restore puts back. Named volumes are the run's project's.
    pub fn data_paths(
        &self,
        compose: &ComposeFile,
        include: &[PathBuf],
    ) -> Result<DataPaths, StepError> {
        let names: Vec<String> = compose.container_names().into_values().collect();
        let volumes = match &self.run().project {
            Some(project) => EngineVolumes::for_project(&self.docker, project),
            None => EngineVolumes::discovering(&self.docker, &self.dir, &compose.path, names),
        };
        Ok(datapath::resolve(&datapath::Request {
            dir: &self.dir,
            compose,
            roles: &self.roles,
            include,
            volumes: &volumes,
        })?)
    }

    /// Records a warning in the journal and shows it.
    pub fn warn(&mut self, message: &str) -> Result<(), RecordError> {
        self.journal.warn(message)?;
        self.observer.warning(message);
        Ok(())
    }

    /// Changes `.xzup/state.json` (which names the active compose file). Like the journal,
    /// it is what the run records: a failure to write it stops the run.
    pub fn update_state(&self, change: impl FnOnce(&mut State)) -> Result<(), RecordError> {
        let failed = |source| RecordError::State {
            dir: crate::state::state_dir(&self.dir),
            source,
        };
        let mut state = State::load(&self.dir).map_err(|e| failed(std::io::Error::other(e)))?;
        change(&mut state);
        state.save(&self.dir).map_err(failed)
    }
}
