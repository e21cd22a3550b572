//! The manifest: the archive's first member, `.xzup/manifest.json`. It lists every entry
//! with its type, size, mode, owner, mtime and sha256 (files) or target (symlinks), so a
//! reader can check an archive member by member, and refuse unsafe paths before extracting.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Refusal;
use crate::datapath::Origin;

/// The archive member holding the manifest.
pub const MANIFEST_PATH: &str = ".xzup/manifest.json";

/// The manifest format this version writes and reads.
pub const FORMAT: u32 = 1;

/// Width of a sha256 in hex; fixed, which is what lets [`super::create`] size the manifest
/// before the sums are known.
pub const SHA256_HEX_LEN: usize = 64;

/// The manifest of one archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The tool that wrote it, e.g. `xzup 0.1.0`.
    pub tool: String,
    /// When the backup started (RFC 3339).
    pub created: String,
    /// sha256 of the compose file in use, when known.
    pub compose_sha256: Option<String>,
    /// The paths backed up, relative to the deployment dir; restore swaps these in.
    pub roots: Vec<String>,
    /// Total bytes of file data.
    pub data_bytes: u64,
    /// Every entry, in archive order.
    pub entries: Vec<Entry>,
    /// What was left out, and why.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Where each root came from (a bind mount, a named volume, a file of the deployment)
    /// and where it was read. Archives written before xzup recorded this have none: their
    /// roots are paths of the deployment dir.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<RootOrigin>,
}

/// Where one root of the archive came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootOrigin {
    pub root: String,
    pub origin: Origin,
    /// Where it was read on the host that made the backup (symlinks followed).
    pub host: String,
}

/// One archived file, directory or symlink.
///
/// Names are bytes on Linux, JSON strings are UTF-8: a name that is not UTF-8 (a GBK-named
/// upload) is written in `path` with each byte that is not UTF-8 as `\xNN` (what messages
/// show, and the key entries are found by), and its exact bytes in `path_hex`. The same for
/// a symlink's target (`target_hex`). [`Entry::path_bytes`] gives the bytes either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    /// The exact bytes of the path, in hex, when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    pub size: u64,
    /// Permission bits, with setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch.
    pub mtime: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A symlink's target, as stored in the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The exact bytes of the target, in hex, when they are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_hex: Option<String>,
}

impl Entry {
    /// The path's exact bytes.
    pub fn path_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        exact_bytes(&self.path, self.path_hex.as_deref())
    }

    /// The target's exact bytes (empty for what is not a symlink).
    pub fn target_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        exact_bytes(
            self.target.as_deref().unwrap_or(""),
            self.target_hex.as_deref(),
        )
    }

    /// The path as the file system takes it.
    pub fn fs_path(&self) -> PathBuf {
        bytes_path(&self.path_bytes())
    }

    /// Sets the path from a name's exact bytes.
    pub fn set_path(&mut self, bytes: &[u8]) {
        (self.path, self.path_hex) = name_fields(bytes);
    }

    /// Sets the target from a link's exact bytes.
    pub fn set_target(&mut self, bytes: &[u8]) {
        let (text, hex) = name_fields(bytes);
        self.target = Some(text);
        self.target_hex = hex;
    }
}

fn exact_bytes<'a>(text: &'a str, hex: Option<&str>) -> std::borrow::Cow<'a, [u8]> {
    match hex.and_then(|h| hex::decode(h).ok()) {
        Some(bytes) => std::borrow::Cow::Owned(bytes),
        None => std::borrow::Cow::Borrowed(text.as_bytes()),
    }
}

/// A path from bytes (Linux paths are bytes).
pub fn bytes_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// The manifest's fields for a name: its text (each byte that is not UTF-8 as `\xNN`), and
/// its exact bytes in hex when that text is not them.
pub fn name_fields(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), None),
        Err(_) => (escape_name(bytes), Some(hex::encode(bytes))),
    }
}

/// `bytes` as text: UTF-8 as it is, every other byte as `\xNN`.
pub fn escape_name(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

impl EntryKind {
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
        }
    }
}

/// Something under a backed-up path that is not in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Relative to the deployment dir (a byte that is not UTF-8 as `\xNN`).
    pub path: String,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    Socket,
    Fifo,
    Device,
    /// A name that is not UTF-8: what xzup before names-as-bytes left out. Read in old
    /// manifests, never written now.
    NonUtf8Name,
    /// The directory the archive is being written to.
    BackupDir,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::Socket => "a socket",
            SkipReason::Fifo => "a fifo",
            SkipReason::Device => "a device node",
            SkipReason::NonUtf8Name => "a name that is not UTF-8",
            SkipReason::BackupDir => "the directory the backup is written to",
        }
    }
}

impl Manifest {
    /// A manifest of `entries` under `roots`, its totals computed (for tests).
    #[cfg(test)]
    pub(crate) fn for_tests(roots: &[&str], entries: Vec<Entry>) -> Manifest {
        Manifest {
            format: FORMAT,
            tool: "xzup test".into(),
            created: "2026-01-01T00:00:00Z".into(),
            compose_sha256: None,
            roots: roots.iter().map(|r| r.to_string()).collect(),
            data_bytes: entries
                .iter()
                .filter(|e| e.kind == EntryKind::File)
                .map(|e| e.size)
                .sum(),
            entries,
            skipped: vec![],
            origins: vec![],
        }
    }

    /// Where `root` came from, when the manifest says.
    pub fn origin(&self, root: &str) -> Option<&RootOrigin> {
        self.origins.iter().find(|o| o.root == root)
    }

    /// The manifest as stored: compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifests serialise")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if manifest.format != FORMAT {
            return Err(format!(
                "format {} is not one this xzup reads (it reads {FORMAT})",
                manifest.format
            ));
        }
        Ok(manifest)
    }

    /// Number of entries of each kind: (files, dirs, symlinks).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |k| self.entries.iter().filter(|e| e.kind == k).count();
        (
            count(EntryKind::File),
            count(EntryKind::Dir),
            count(EntryKind::Symlink),
        )
    }

    /// Checks that the manifest is safe to extract and consistent: every path relative with
    /// no `..`, unique, under exactly one root, no entry under a symlink or a file, files
    /// with a sum, symlinks with a target, sizes adding up. Returns the index by path.
    ///
    /// Errors name the offending entry.
    pub fn check(&self) -> Result<HashMap<&str, usize>, ManifestProblem> {
        let mut roots: Vec<&str> = Vec::with_capacity(self.roots.len());
        for root in &self.roots {
            let normal = safe_relative(root).map_err(|r| ManifestProblem::unsafe_path(root, r))?;
            if normal != Path::new(root) {
                return Err(ManifestProblem::other(root, "root is not in normal form"));
            }
            if let Some(other) = roots
                .iter()
                .find(|r| is_within(root, r) || is_within(r, root))
            {
                return Err(ManifestProblem::other(
                    root,
                    format!("root overlaps the root `{other}`"),
                ));
            }
            roots.push(root);
        }
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(self.entries.len());
        let mut data_bytes = 0u64;
        for (i, entry) in self.entries.iter().enumerate() {
            let path = entry.path.as_str();
            let normal = safe_relative(path).map_err(|r| ManifestProblem::unsafe_path(path, r))?;
            if normal != Path::new(path) {
                return Err(ManifestProblem::other(path, "path is not in normal form"));
            }
            if !roots.iter().any(|r| is_within(path, r)) {
                return Err(ManifestProblem::other(path, "path lies under no root"));
            }
            if let Some(hex) = &entry.path_hex {
                match hex::decode(hex) {
                    Ok(bytes) if !bytes.contains(&0) && escape_name(&bytes) == entry.path => {}
                    _ => {
                        return Err(ManifestProblem::other(
                            path,
                            "path_hex does not match the path",
                        ));
                    }
                }
            }
            if let Some(hex) = &entry.target_hex {
                match hex::decode(hex) {
                    Ok(bytes)
                        if !bytes.contains(&0)
                            && Some(escape_name(&bytes).as_str()) == entry.target.as_deref() => {}
                    _ => {
                        return Err(ManifestProblem::other(
                            path,
                            "target_hex does not match the target",
                        ));
                    }
                }
            }
            if index.insert(path, i).is_some() {
                return Err(ManifestProblem::refusal(path, Refusal::Duplicate));
            }
            match entry.kind {
                EntryKind::File => {
                    let sum_ok = entry.sha256.as_deref().is_some_and(|s| {
                        s.len() == SHA256_HEX_LEN && s.bytes().all(|b| b.is_ascii_hexdigit())
                    });
                    if !sum_ok {
                        return Err(ManifestProblem::other(path, "file without a valid sha256"));
                    }
                    data_bytes = data_bytes.saturating_add(entry.size);
                }
                EntryKind::Symlink => {
                    if entry.target.as_deref().is_none_or(str::is_empty) {
                        return Err(ManifestProblem::other(path, "symlink without a target"));
                    }
                }
                EntryKind::Dir => {}
            }
        }
        for root in &roots {
            if !index.contains_key(root) {
                return Err(ManifestProblem::other(root, "root has no entry"));
            }
        }
        let mut described: Vec<&str> = Vec::with_capacity(self.origins.len());
        for origin in &self.origins {
            if !roots.contains(&origin.root.as_str()) {
                return Err(ManifestProblem::other(
                    &origin.root,
                    "the origin of a path that is not a root",
                ));
            }
            if described.contains(&origin.root.as_str()) {
                return Err(ManifestProblem::other(&origin.root, "two origins"));
            }
            described.push(&origin.root);
        }
        // An entry below a symlink would be written through the link: outside the target.
        // Below a file it could not be written at all.
        for entry in &self.entries {
            for ancestor in Path::new(&entry.path).ancestors().skip(1) {
                let Some(ancestor) = ancestor.to_str().filter(|a| !a.is_empty()) else {
                    continue;
                };
                if let Some(&j) = index.get(ancestor) {
                    match self.entries[j].kind {
                        EntryKind::Dir => {}
                        EntryKind::Symlink | EntryKind::File => {
                            return Err(ManifestProblem::refusal(
                                &entry.path,
                                Refusal::UnderSymlink {
                                    link: ancestor.to_string(),
                                },
                            ));
                        }
                    }
                }
            }
        }
        if data_bytes != self.data_bytes {
            return Err(ManifestProblem::other(
                "",
                format!(
                    "`data_bytes` is {} but the files add up to {data_bytes}",
                    self.data_bytes
                ),
            ));
        }
        Ok(index)
    }
}

/// What is wrong with a manifest, naming the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestProblem {
    pub path: String,
    pub kind: ProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// An unsafe entry: restore refuses the archive naming it.
    Refused(Refusal),
    Other(String),
}

impl ManifestProblem {
    fn unsafe_path(path: &str, refusal: Refusal) -> ManifestProblem {
        ManifestProblem::refusal(path, refusal)
    }

    fn refusal(path: &str, refusal: Refusal) -> ManifestProblem {
        ManifestProblem {
            path: path.to_string(),
            kind: ProblemKind::Refused(refusal),
        }
    }

    fn other(path: &str, reason: impl Into<String>) -> ManifestProblem {
        ManifestProblem {
            path: path.to_string(),
            kind: ProblemKind::Other(reason.into()),
        }
    }
}

/// A member path made safe: relative, no `..`, `.` components dropped, not empty, not in
/// the reserved `.xzup/` dir. Refuses rather than "fixing" anything else.
pub fn safe_relative(path: &str) -> Result<PathBuf, Refusal> {
    if path.contains('\0') {
        return Err(Refusal::EmptyPath);
    }
    let mut out = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(Refusal::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(Refusal::AbsolutePath),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(Refusal::EmptyPath);
    }
    if is_reserved(&out) {
        return Err(Refusal::Reserved);
    }
    Ok(out)
}

/// Whether a relative path lies in xzup's own space: the state dir `.xzup/`, or a restore's
/// staging dir `.xzup-restore-*` (see [`super::restore`]).
fn is_reserved(path: &Path) -> bool {
    let first = path
        .components()
        .next()
        .map(|c| c.as_os_str().as_encoded_bytes());
    first.is_some_and(|f| f == crate::state::STATE_DIR.as_bytes() || f.starts_with(b".xzup-"))
}

/// Whether `path` is `root` or lies below it (by whole components).
pub fn is_within(path: &str, root: &str) -> bool {
    Path::new(path).starts_with(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> Entry {
        Entry {
            path: path.into(),
            path_hex: None,
            kind: EntryKind::File,
            size,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1,
            sha256: Some("a".repeat(64)),
            target: None,
            target_hex: None,
        }
    }

    fn dir(path: &str) -> Entry {
        Entry {
            kind: EntryKind::Dir,
            size: 0,
            sha256: None,
            ..file(path, 0)
        }
    }

    fn link(path: &str, target: &str) -> Entry {
        Entry {
            kind: EntryKind::Symlink,
            size: 0,
            sha256: None,
            target: Some(target.into()),
            ..file(path, 0)
        }
    }

    fn manifest(roots: &[&str], entries: Vec<Entry>) -> Manifest {
        Manifest::for_tests(roots, entries)
    }

    #[test]
    fn safe_relative_refuses_escapes() {
        assert_eq!(safe_relative("a/./b").unwrap(), PathBuf::from("a/b"));
        assert_eq!(safe_relative("./a").unwrap(), PathBuf::from("a"));
        assert_eq!(safe_relative("/etc/passwd"), Err(Refusal::AbsolutePath));
        assert_eq!(safe_relative("a/../../b"), Err(Refusal::ParentDir));
        assert_eq!(safe_relative(".."), Err(Refusal::ParentDir));
        assert_eq!(safe_relative("."), Err(Refusal::EmptyPath));
        assert_eq!(safe_relative(""), Err(Refusal::EmptyPath));
        assert_eq!(safe_relative(".xzup/state.json"), Err(Refusal::Reserved));
        assert_eq!(safe_relative(".xzup-restore-1/x"), Err(Refusal::Reserved));
        assert_eq!(safe_relative(".xzupx").unwrap(), PathBuf::from(".xzupx"));
    }

    #[test]
    fn a_good_manifest_checks_and_round_trips() {
        let m = manifest(
            &["data", "docker-compose.yml"],
            vec![
                dir("data"),
                file("data/.config.yaml", 10),
                link("data/l", "../elsewhere"),
                file("docker-compose.yml", 5),
            ],
        );
        let index = m.check().unwrap();
        assert_eq!(index["data/l"], 2);
        let back = Manifest::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m);
        assert_eq!(m.counts(), (2, 1, 1));
    }

    #[test]
    fn entries_under_a_symlink_are_refused() {
        let m = manifest(
            &["data"],
            vec![
                dir("data"),
                link("data/l", "/etc"),
                file("data/l/passwd", 1),
            ],
        );
        let problem = m.check().unwrap_err();
        assert_eq!(problem.path, "data/l/passwd");
        assert_eq!(
            problem.kind,
            ProblemKind::Refused(Refusal::UnderSymlink {
                link: "data/l".into()
            })
        );
    }

    #[test]
    fn inconsistent_manifests_are_refused() {
        let dup = manifest(&["a"], vec![dir("a"), file("a/x", 1), file("a/x", 1)]);
        assert_eq!(
            dup.check().unwrap_err().kind,
            ProblemKind::Refused(Refusal::Duplicate)
        );
        let stray = manifest(&["a"], vec![dir("a"), file("b", 1)]);
        assert_eq!(stray.check().unwrap_err().path, "b");
        let overlap = manifest(&["a", "a/b"], vec![dir("a"), dir("a/b")]);
        assert_eq!(overlap.check().unwrap_err().path, "a/b");
        let dotdot = manifest(&["a"], vec![dir("a"), file("a/../../x", 1)]);
        assert_eq!(
            dotdot.check().unwrap_err().kind,
            ProblemKind::Refused(Refusal::ParentDir)
        );
        let mut bad_sum = manifest(&["a"], vec![file("a", 1)]);
        bad_sum.entries[0].sha256 = Some("xyz".into());
        assert_eq!(bad_sum.check().unwrap_err().path, "a");
        let mut bad_total = manifest(&["a"], vec![file("a", 1)]);
        bad_total.data_bytes = 7;
        assert!(bad_total.check().is_err());
        let rootless = manifest(&["a"], vec![]);
        assert_eq!(rootless.check().unwrap_err().path, "a");
    }

    #[test]
    fn origins_name_roots_once() {
        let origin = |root: &str| RootOrigin {
            root: root.into(),
            origin: Origin::Volume {
                service: "db".into(),
                target: "/var/lib/mysql".into(),
                key: "dbdata".into(),
                volume: "xz_dbdata".into(),
            },
            host: "/var/lib/docker/volumes/xz_dbdata/_data".into(),
        };
        let mut m = manifest(
            &["docker-volumes/xz_dbdata"],
            vec![dir("docker-volumes/xz_dbdata")],
        );
        m.origins = vec![origin("docker-volumes/xz_dbdata")];
        m.check().unwrap();
        assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
        assert!(m.origin("docker-volumes/xz_dbdata").is_some());
        m.origins.push(origin("docker-volumes/xz_dbdata"));
        assert_eq!(m.check().unwrap_err().path, "docker-volumes/xz_dbdata");
        m.origins = vec![origin("elsewhere")];
        assert_eq!(m.check().unwrap_err().path, "elsewhere");
        // An archive of before: no origins, read as it was.
        let old = br#"{"format":1,"tool":"xzup 0.1.0","created":"2026-01-01T00:00:00Z","compose_sha256":null,"roots":[],"data_bytes":0,"entries":[]}"#;
        assert!(Manifest::from_json(old).unwrap().origins.is_empty());
    }

    #[test]
    fn newer_formats_are_refused() {
        let mut m = manifest(&["a"], vec![file("a", 1)]);
        m.format = 2;
        let err = Manifest::from_json(&m.to_json()).unwrap_err();
        assert!(err.contains("format 2"), "{err}");
    }
}
