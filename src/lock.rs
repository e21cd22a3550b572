//! The deployment lock: one xzup run at a time changes a deployment.
//!
//! `.xzup/lock` (0600, in the 0700 state dir) is locked with `flock(2)` for the whole run,
//! and holds a small JSON record of who holds it: pid, host, the xzup subcommand (never the
//! argv, which could carry secrets) and when it started.
//!
//! The flock is the authority, the record only explains it. The kernel drops a flock when
//! its process dies, however it dies (SIGKILL, OOM killer, power loss), so a run can never
//! leave a lock that blocks the next one. What it can leave is its record: a record with no
//! flock holder is *stale*, the next [`Lock::acquire`] takes over and reports it
//! ([`StaleLock::warning`]), and `xzup unlock` clears it.
//!
//! The lock file is never deleted by a run, only emptied on release: deleting it would let
//! a process that opened the old file and a process that creates a new one both "hold" the
//! lock at once. Rust opens files with `O_CLOEXEC`, so the `docker` children a run spawns do
//! not inherit the lock and cannot keep it alive after xzup exits.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::journal::time::display_time;

/// The lock file, relative to the state dir.
pub const LOCK_FILE: &str = "lock";

/// How long [`Lock::acquire`] keeps trying when the flock is taken. A holder writes its
/// record just after taking the flock, and `xzup status` holds a shared flock for an
/// instant while it looks: neither should make a run fail, a real holder outlasts this.
const BUSY_RETRY: Duration = Duration::from_millis(300);
const BUSY_STEP: Duration = Duration::from_millis(25);

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the flock, and said who it is.
    #[error(
        "another xzup run holds the lock of this deployment: `xzup {command}` (pid {pid} on `{host}`), since {}",
        display_time(since)
    )]
    Held {
        pid: u32,
        host: String,
        command: String,
        since: DateTime<Utc>,
        path: PathBuf,
    },
    /// Another process holds the flock but has not written its record (or it is unreadable).
    #[error("another process holds the lock `{}`", path.display())]
    HeldUnrecorded { path: PathBuf },
    #[error("cannot {action} the lock `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl LockError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Held { pid, .. } => Some(format!(
                "wait for that run to finish (`xzup status` shows it); if process {pid} hangs, stop it, and its lock goes with it"
            )),
            LockError::HeldUnrecorded { path } => Some(format!(
                "wait for that run to finish; `fuser {}` shows which process holds it",
                path.display()
            )),
            LockError::Io { path, source, .. }
                if matches!(source.raw_os_error(), Some(libc::ENOTDIR | libc::EISDIR)) =>
            {
                Some(format!(
                    "xzup did not put that there: look at it, then move it out of the way (`mv {} /tmp/`); xzup makes its lock file again",
                    path.display()
                ))
            }
            LockError::Io { .. } => None,
        }
    }

    fn io(action: &'static str, path: &Path, source: io::Error) -> LockError {
        LockError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Who holds (or held) the lock, as written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub pid: u32,
    pub host: String,
    /// The xzup subcommand, e.g. `apply` (shown as `xzup apply`).
    pub command: String,
    #[serde(with = "crate::journal::time::rfc3339")]
    pub started_at: DateTime<Utc>,
}

impl LockRecord {
    /// `pid 4242 on `host`, `xzup apply`, since 2026-11-25 19:30:00`
    pub fn describe(&self) -> String {
        format!(
            "pid {} on `{}`, `xzup {}`, since {}",
            self.pid,
            self.host,
            self.command,
            display_time(&self.started_at)
        )
    }

    /// Whether the recorded process still exists: `None` when it ran on another host,
    /// where its pid means nothing here.
    pub fn process_alive(&self) -> Option<bool> {
        (self.host == hostname()).then(|| pid_alive(self.pid))
    }
}

/// A record left by a run that ended without releasing the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleLock {
    /// The record, or `None` when it was unreadable (the run died while writing it).
    pub record: Option<LockRecord>,
}

impl StaleLock {
    /// The warning a command prints when it took over a stale lock.
    pub fn warning(&self) -> String {
        match &self.record {
            Some(r) => format!(
                "a previous run (pid {}, `xzup {}`, since {}) ended without releasing its lock; taking it over",
                r.pid,
                r.command,
                display_time(&r.started_at)
            ),
            None => "a previous run ended without releasing its lock (its record is unreadable); taking it over".to_string(),
        }
    }
}

/// The lock as `xzup status` sees it, without taking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    pub path: PathBuf,
    /// `None` when a holder has not written its record yet, or it is unreadable.
    pub record: Option<LockRecord>,
    /// `true`: a live process holds the flock. `false`: the record is stale.
    pub held: bool,
}

/// Takes the deployment lock.
pub struct Lock;

impl Lock {
    /// Takes the lock of the deployment whose state dir is `state_dir`, for `command` (the
    /// xzup subcommand, e.g. `"apply"`). Fails at once with [`LockError::Held`] when another
    /// process holds it; takes over a stale record and says so in [`LockGuard::stale`].
    pub fn acquire(state_dir: &Path, command: &str) -> Result<LockGuard, LockError> {
        fsutil::ensure_private_dir(state_dir)
            .map_err(|e| LockError::io("create the directory of", state_dir, e))?;
        let path = state_dir.join(LOCK_FILE);
        // No `truncate`: until the flock is ours, the record belongs to whoever holds it.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| LockError::io("open", &path, e))?;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| LockError::io("set the mode of", &path, e))?;

        if !flock_exclusive(&file, &path)? {
            return Err(held_error(&file, &path));
        }

        let stale = match read_record(&file).map_err(|e| LockError::io("read", &path, e))? {
            Record::Empty => None,
            Record::Unreadable => Some(StaleLock { record: None }),
            Record::Valid(record) => Some(StaleLock {
                record: Some(record),
            }),
        };
        let record = LockRecord {
            pid: std::process::id(),
            host: hostname(),
            command: command.to_string(),
            started_at: crate::journal::time::now(),
        };
        let bytes = serde_json::to_vec(&record).expect("a lock record serialises");
        write_record(&file, &bytes).map_err(|e| LockError::io("write", &path, e))?;
        Ok(LockGuard {
            file: Some(file),
            path,
            record,
            stale,
        })
    }
}

/// The held lock. Dropping it releases it (the record is emptied, then the flock goes
/// with the file); [`LockGuard::release`] does the same and reports a failure.
#[derive(Debug)]
pub struct LockGuard {
    file: Option<File>,
    path: PathBuf,
    record: LockRecord,
    stale: Option<StaleLock>,
}

impl LockGuard {
    /// What this run wrote into the lock file.
    pub fn record(&self) -> &LockRecord {
        &self.record
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stale record this run took over, if any: print [`StaleLock::warning`].
    pub fn stale(&self) -> Option<&StaleLock> {
        self.stale.as_ref()
    }

    /// Releases the lock, reporting a failure to empty the record (the flock itself is
    /// released whatever happens).
    pub fn release(mut self) -> Result<(), LockError> {
        let file = self
            .file
            .take()
            .expect("a guard holds its file until released");
        write_record(&file, b"").map_err(|e| LockError::io("release", &self.path, e))
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Best effort: if this fails, the next run finds a stale record and takes over.
            let _ = write_record(&file, b"");
        }
    }
}

/// Looks at the lock without taking it: `None` when nobody holds it and no record is left.
pub fn inspect(state_dir: &Path) -> Result<Option<LockInfo>, LockError> {
    let path = state_dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LockError::io("open", &path, e)),
    };
    // A shared flock conflicts with a holder's exclusive one, so getting it means nobody
    // holds the lock. It is dropped at once (with `file`).
    let free = try_flock(&file, libc::LOCK_SH).map_err(|e| LockError::io("lock", &path, e))?;
    let record = read_record(&file).map_err(|e| LockError::io("read", &path, e))?;
    let record = match record {
        Record::Empty if free => return Ok(None),
        Record::Empty | Record::Unreadable => None,
        Record::Valid(record) => Some(record),
    };
    Ok(Some(LockInfo {
        path,
        record,
        held: !free,
    }))
}

/// What `xzup unlock` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlocked {
    /// There was no lock and no record: nothing to do.
    NoLock,
    /// A stale record was cleared (`None`: it was unreadable).
    ClearedStale(Option<LockRecord>),
    /// `--force` on a lock a live process holds: the lock file was removed. That process
    /// keeps its flock on the removed file and keeps running; only the record is gone, and
    /// a new run no longer waits for it.
    RemovedHeld(Option<LockRecord>),
}

/// Clears a stale lock record. A lock that a live process holds is refused with
/// [`LockError::Held`] unless `force`, which removes the lock file: a flock cannot be
/// broken from outside its process, so `force` clears the record and nothing more.
pub fn unlock(state_dir: &Path, force: bool) -> Result<Unlocked, LockError> {
    let path = state_dir.join(LOCK_FILE);
    let file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Unlocked::NoLock),
        Err(e) => return Err(LockError::io("open", &path, e)),
    };
    if flock_exclusive(&file, &path)? {
        let previous = read_record(&file).map_err(|e| LockError::io("read", &path, e))?;
        return match previous {
            Record::Empty => Ok(Unlocked::NoLock),
            Record::Unreadable | Record::Valid(_) => {
                write_record(&file, b"").map_err(|e| LockError::io("clear", &path, e))?;
                Ok(Unlocked::ClearedStale(previous.into_record()))
            }
        };
    }
    if !force {
        return Err(held_error(&file, &path));
    }
    let holder = read_record(&file)
        .map_err(|e| LockError::io("read", &path, e))?
        .into_record();
    fs::remove_file(&path).map_err(|e| LockError::io("remove", &path, e))?;
    fsutil::sync_dir(state_dir).map_err(|e| LockError::io("sync", state_dir, e))?;
    Ok(Unlocked::RemovedHeld(holder))
}

/// The error for a lock someone holds, with their record when it can be read.
fn held_error(file: &File, path: &Path) -> LockError {
    match read_record(file) {
        Ok(Record::Valid(r)) => LockError::Held {
            pid: r.pid,
            host: r.host,
            command: r.command,
            since: r.started_at,
            path: path.to_path_buf(),
        },
        _ => LockError::HeldUnrecorded {
            path: path.to_path_buf(),
        },
    }
}

/// Takes the exclusive flock, trying again for [`BUSY_RETRY`]: `Ok(false)` when another
/// process holds it all that time.
fn flock_exclusive(file: &File, path: &Path) -> Result<bool, LockError> {
    let mut waited = Duration::ZERO;
    loop {
        if try_flock(file, libc::LOCK_EX).map_err(|e| LockError::io("lock", path, e))? {
            return Ok(true);
        }
        if waited >= BUSY_RETRY {
            return Ok(false);
        }
        std::thread::sleep(BUSY_STEP);
        waited += BUSY_STEP;
    }
}

/// `flock(fd, kind | LOCK_NB)`: `Ok(false)` when another open file holds a conflicting
/// lock. flock locks belong to the open file description, so a second `open` of the same
/// file in this very process conflicts too.
fn try_flock(file: &File, kind: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: the fd is open for as long as `file` lives.
        let rc = unsafe { libc::flock(file.as_raw_fd(), kind | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

enum Record {
    Empty,
    Unreadable,
    Valid(LockRecord),
}

impl Record {
    fn into_record(self) -> Option<LockRecord> {
        match self {
            Record::Valid(r) => Some(r),
            Record::Empty | Record::Unreadable => None,
        }
    }
}

fn read_record(file: &File) -> io::Result<Record> {
    let mut text = String::new();
    // `&File` reads from the offset the description shares, so start from the top.
    let mut reader = file;
    io::Seek::seek(&mut reader, io::SeekFrom::Start(0))?;
    if let Err(e) = reader.read_to_string(&mut text) {
        if e.kind() == io::ErrorKind::InvalidData {
            return Ok(Record::Unreadable);
        }
        return Err(e);
    }
    if text.trim().is_empty() {
        return Ok(Record::Empty);
    }
    Ok(serde_json::from_str(&text).map_or(Record::Unreadable, Record::Valid))
}

/// Replaces the record in place. It cannot be written to a temp file and renamed like
/// other state: a rename would put a new, unlocked file at the lock's path.
fn write_record(file: &File, bytes: &[u8]) -> io::Result<()> {
    file.set_len(0)?;
    file.write_all_at(bytes, 0)?;
    file.sync_all()
}

/// This machine's host name (`gethostname(2)`), or `unknown`.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// Whether a process with this pid exists here (a zombie counts as gone: it has exited
/// and only waits for its parent to reap it).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid_t <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid_t, 0) };
    // EPERM: it exists but belongs to another user.
    let exists = rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !is_zombie(pid)
}

/// `/proc/PID/stat` reads `PID (comm) STATE ...`; `comm` may hold spaces and parentheses,
/// so the state is the first field after the last `)`.
fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state == "Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn write_lock_file(state_dir: &Path, record: &LockRecord) {
        fsutil::ensure_private_dir(state_dir).unwrap();
        fs::write(
            state_dir.join(LOCK_FILE),
            serde_json::to_vec(record).unwrap(),
        )
        .unwrap();
    }

    fn dead_record() -> LockRecord {
        LockRecord {
            pid: dead_pid(),
            host: hostname(),
            command: "apply".to_string(),
            started_at: "2026-11-25T19:30:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn acquire_writes_a_record_and_release_empties_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".xzup");
        let guard = Lock::acquire(&state, "apply").unwrap();
        assert!(guard.stale().is_none());
        let path = state.join(LOCK_FILE);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let record: LockRecord = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(record.pid, std::process::id());
        assert_eq!(record.host, hostname());
        assert_eq!(record.command, "apply");
        assert_eq!(&record, guard.record());

        guard.release().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"", "the file stays, emptied");
        assert_eq!(inspect(&state).unwrap(), None);
        // Released means a new run gets it, with nothing stale to report.
        let again = Lock::acquire(&state, "rollback").unwrap();
        assert!(again.stale().is_none());
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_record() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".xzup");
        let first = Lock::acquire(&state, "apply").unwrap();
        // A second open file description in this process conflicts like another process.
        let err = Lock::acquire(&state, "rollback").unwrap_err();
        match &err {
            LockError::Held {
                pid, host, command, ..
            } => {
                assert_eq!(*pid, std::process::id());
                assert_eq!(host, &hostname());
                assert_eq!(command, "apply");
            }
            other => panic!("expected Held, got {other:?}"),
        }
        assert!(err.to_string().starts_with(&format!(
            "another xzup run holds the lock of this deployment: `xzup apply` (pid {} on `{}`), since ",
            std::process::id(),
            hostname()
        )));
        assert!(err.hint().unwrap().contains("xzup status"));
        // The refused attempt did not touch the holder's record.
        assert_eq!(
            inspect(&state).unwrap(),
            Some(LockInfo {
                path: state.join(LOCK_FILE),
                record: Some(first.record().clone()),
                held: true,
            })
        );
        drop(first);
        Lock::acquire(&state, "rollback").unwrap();
    }

    #[test]
    fn a_lock_held_by_another_process_is_refused() {
        if std::process::Command::new("flock")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: no `flock` utility here");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".xzup");
        fsutil::ensure_private_dir(&state).unwrap();
        let path = state.join(LOCK_FILE);
        fs::write(&path, b"").unwrap();
        // `flock FILE cat` holds an exclusive flock on FILE while `cat` runs, and `cat`
        // ends when its stdin closes: the test ends the holder without signals.
        let mut holder = std::process::Command::new("flock")
            .arg(&path)
            .arg("cat")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut outcome = None;
        for _ in 0..100 {
            if inspect(&state).unwrap().is_some_and(|info| info.held) {
                outcome = Some(Lock::acquire(&state, "apply"));
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(holder.stdin.take());
        holder.wait().unwrap();
        let err = outcome.expect("the child took the lock").unwrap_err();
        assert!(
            matches!(err, LockError::HeldUnrecorded { .. }),
            "flock(1) writes no record: {err:?}"
        );
        // Its flock died with it: the lock is free again.
        let guard = Lock::acquire(&state, "apply").unwrap();
        assert!(guard.stale().is_none());
    }

    #[test]
    fn a_record_whose_process_is_gone_is_stale_and_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".xzup");
        let old = dead_record();
        assert_eq!(old.process_alive(), Some(false));
        write_lock_file(&state, &old);

        assert_eq!(
            inspect(&state).unwrap(),
            Some(LockInfo {
                path: state.join(LOCK_FILE),
                record: Some(old.clone()),
                held: false,
            })
        );
        let guard = Lock::acquire(&state, "apply").unwrap();
        let stale = guard.stale().expect("reported as stale");
        assert_eq!(stale.record.as_ref(), Some(&old));
        assert_eq!(
            stale.warning(),
            format!(
                "a previous run (pid {}, `xzup apply`, since {}) ended without releasing its lock; taking it over",
                old.pid,
                display_time(&old.started_at)
            )
        );
        assert_eq!(guard.record().pid, std::process::id());
    }

    #[test]
    fn an_unreadable_record_without_holder_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".xzup");
        fsutil::ensure_private_dir(&state).unwrap();
        fs::write(state.join(LOCK_FILE), b"{\"pid\": 12").unwrap();
        let guard = Lock::acquire(&state, "apply").unwrap();
        assert_eq!(guard.stale(), Some(&StaleLock { record: None }));
    }

    #[test]
    fn unlock_clears_a_stale_record_and_says_when_there_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".xzup");
        assert_eq!(unlock(&state, false).unwrap(), Unlocked::NoLock);
        let old = dead_record();
        write_lock_file(&state, &old);
        assert_eq!(
            unlock(&state, false).unwrap(),
            Unlocked::ClearedStale(Some(old))
        );
        assert_eq!(inspect(&state).unwrap(), None);
        assert_eq!(unlock(&state, false).unwrap(), Unlocked::NoLock);
    }

    #[test]
    fn unlock_refuses_a_held_lock_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".xzup");
        let guard = Lock::acquire(&state, "apply").unwrap();
        let err = unlock(&state, false).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err:?}");
        assert_eq!(
            unlock(&state, true).unwrap(),
            Unlocked::RemovedHeld(Some(guard.record().clone()))
        );
        assert!(!state.join(LOCK_FILE).exists());
        // The record is gone; a new run takes a new lock file.
        let next = Lock::acquire(&state, "apply").unwrap();
        assert!(next.stale().is_none());
        drop(guard);
    }

    #[test]
    fn pids_alive_and_gone() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(dead_pid()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }

    #[test]
    fn a_record_from_another_host_cannot_be_checked() {
        let record = LockRecord {
            host: format!("{}-elsewhere", hostname()),
            ..dead_record()
        };
        assert_eq!(record.process_alive(), None);
    }
}
