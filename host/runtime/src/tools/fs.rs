//! Read-only file access under directories the user granted (`gamecode run --allow-read DIR`).
//!
//! Two tools, `read_file{path}` and `list_dir{path}`. A path is first normalized *lexically*
//! against the granted root (`.` and `..` folded, an absolute path accepted only when it names
//! a place under the root): a path that leaves the root is refused before the filesystem is
//! touched, so the answer for `/root/.bashrc` and `/root/no-such-file` is the same and the
//! tools are no oracle for what exists outside. Files are read up to a size cap and must be
//! UTF-8 text. Nothing can be written.
//!
//! The open itself is made by the kernel, relative to a descriptor of the root, with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` (Linux): a symlink inside the tree that
//! leads out of it, or one swapped in while a plugin runs, fails as "access denied" whether or
//! not its target exists. The object is first opened as `O_PATH` (which never blocks and has
//! no side effects) and its type checked: only regular files are read and only directories
//! listed, so a FIFO, socket or device is refused at once instead of hanging the host (an
//! open of a FIFO waits for a writer forever). The real open that follows is non-blocking and
//! checked to be the same object.
//!
//! Where `openat2` is missing (Linux before 5.6, a seccomp filter that blocks it, other
//! systems) the tool falls back to canonicalizing the path and opening the checked result:
//! there the check and the open are two steps (grant only directories no one hostile writes
//! to while a plugin runs), and a symlink in the tree that leads out tells apart targets that
//! exist from ones that do not.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{HostTool, ToolError, ToolSpec};

/// Default cap on one file read.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024;
/// Default cap on entries listed per directory.
pub const DEFAULT_MAX_ENTRIES: usize = 1000;

/// What a tool may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    File,
    Dir,
}

/// A directory granted for reading, shared by its tools.
#[derive(Debug)]
pub struct FsRoot {
    root: PathBuf,
    /// The root, open: what the kernel resolves paths beneath (Linux).
    #[cfg(target_os = "linux")]
    dir: std::fs::File,
    max_file_bytes: u64,
    max_entries: usize,
}

impl FsRoot {
    /// Grants read access under `dir`, which must be an existing directory.
    pub fn new(dir: impl AsRef<Path>) -> std::io::Result<Self> {
        let root = std::fs::canonicalize(dir.as_ref())?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                format!("{} is not a directory", dir.as_ref().display()),
            ));
        }
        Ok(Self {
            #[cfg(target_os = "linux")]
            dir: std::fs::File::open(&root)?,
            root,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
        })
    }

    /// The largest file `read_file` returns.
    pub fn with_max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// The most entries `list_dir` returns.
    pub fn with_max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Both tools, ready to register with a host.
    pub fn tools(self) -> Vec<Arc<dyn HostTool>> {
        FsRoots { roots: vec![self] }.tools()
    }

    /// The root's own name (its last path component), as [`FsRoots`] shows it.
    fn name(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "root".into())
    }

    /// `path` relative to the root, normalized without touching the filesystem; refused when
    /// it leaves the root. Empty for the root itself.
    fn lexical(&self, path: &str) -> Result<PathBuf, ToolError> {
        if path.contains('\0') {
            return Err(ToolError::InvalidInput(
                "the path contains a NUL byte".into(),
            ));
        }
        let given = Path::new(path);
        let relative = if given.is_absolute() {
            given.strip_prefix(&self.root).map_err(|_| outside(path))?
        } else {
            given
        };
        let mut out = PathBuf::new();
        for component in relative.components() {
            match component {
                Component::Normal(part) => out.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        return Err(outside(path));
                    }
                }
                Component::RootDir | Component::Prefix(_) => return Err(outside(path)),
            }
        }
        Ok(out)
    }

    /// Opens `rel` (from [`Self::lexical`]) read-only, refusing anything but `want`; never
    /// blocks on special files (see the module docs).
    fn open(&self, path: &str, rel: &Path, want: Want) -> Result<std::fs::File, ToolError> {
        #[cfg(target_os = "linux")]
        if !test_switch::checked_open_forced()
            && let Some(result) = self.open_beneath(path, rel, want)
        {
            return result;
        }
        #[cfg(test)]
        test_switch::count_checked_open();
        self.open_checked(path, rel, want)
    }

    /// The kernel-checked open; `None` where `openat2` is unavailable.
    #[cfg(target_os = "linux")]
    fn open_beneath(
        &self,
        path: &str,
        rel: &Path,
        want: Want,
    ) -> Option<Result<std::fs::File, ToolError>> {
        use rustix::fs::{Mode, OFlags, ResolveFlags, fstat, openat2};
        use rustix::io::Errno;
        let rel_or_dot = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        // openat2 refuses O_PATH with flags other than these, so each open names its own.
        let open = |flags: OFlags| {
            openat2(
                &self.dir,
                rel_or_dot,
                flags | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            )
        };
        let shown = shown(rel);
        let failed = |e: Errno| match e {
            // Something on the way leads out of the root (a symlink, or a swap since).
            Errno::XDEV => outside(path),
            e => ToolError::Failed(format!("`{shown}`: {}", io_reason(&e.into()))),
        };
        // O_PATH: resolves and pins the object without opening it for I/O (no FIFO wait, no
        // device side effects).
        let pinned = match open(OFlags::PATH) {
            Ok(fd) => fd,
            // No openat2 here (old kernel, seccomp): the checked open.
            Err(Errno::NOSYS | Errno::PERM) => return None,
            Err(e) => return Some(Err(failed(e))),
        };
        let result = (|| {
            let before = fstat(&pinned).map_err(failed)?;
            check_kind(
                &shown,
                rustix::fs::FileType::from_raw_mode(before.st_mode),
                want,
            )?;
            let fd = open(OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY).map_err(failed)?;
            let after = fstat(&fd).map_err(failed)?;
            if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) {
                return Err(ToolError::Failed(format!(
                    "`{shown}` changed while it was being opened"
                )));
            }
            check_kind(
                &shown,
                rustix::fs::FileType::from_raw_mode(after.st_mode),
                want,
            )?;
            Ok(std::fs::File::from(fd))
        })();
        Some(result)
    }

    /// The fallback: canonicalize, check, then open the checked path.
    fn open_checked(&self, path: &str, rel: &Path, want: Want) -> Result<std::fs::File, ToolError> {
        let shown = shown(rel);
        let failed = |e: std::io::Error| ToolError::Failed(format!("`{shown}`: {}", io_reason(&e)));
        let full = self.root.join(rel);
        let real = match std::fs::canonicalize(&full) {
            Ok(real) => real,
            Err(e) => {
                // A missing path behind a link that leads out is "outside", like an existing
                // one: the answer must not tell what exists out there.
                let escapes = full
                    .ancestors()
                    .skip(1)
                    .find_map(|a| std::fs::canonicalize(a).ok())
                    .is_some_and(|a| !a.starts_with(&self.root));
                return Err(if escapes { outside(path) } else { failed(e) });
            }
        };
        if !real.starts_with(&self.root) {
            return Err(outside(path));
        }
        let meta = std::fs::metadata(&real).map_err(failed)?;
        check_kind(&shown, kind_of(&meta), want)?;
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
        }
        let file = options.open(&real).map_err(failed)?;
        check_kind(&shown, kind_of(&file.metadata().map_err(failed)?), want)?;
        Ok(file)
    }

    fn read_file(&self, path: &str) -> Result<String, ToolError> {
        let rel = self.lexical(path)?;
        let shown = shown(&rel);
        let file = self.open(path, &rel, Want::File)?;
        let meta = file
            .metadata()
            .map_err(|e| ToolError::Failed(format!("`{shown}`: {}", io_reason(&e))))?;
        if meta.len() > self.max_file_bytes {
            return Err(ToolError::Failed(format!(
                "`{shown}` is {} bytes; the limit is {}",
                meta.len(),
                self.max_file_bytes
            )));
        }
        // `take` also bounds a file that grows after the size check.
        let mut bytes = Vec::new();
        file.take(self.max_file_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| ToolError::Failed(format!("`{shown}`: {}", io_reason(&e))))?;
        if bytes.len() as u64 > self.max_file_bytes {
            return Err(ToolError::Failed(format!(
                "`{shown}` is larger than the limit of {} bytes",
                self.max_file_bytes
            )));
        }
        String::from_utf8(bytes)
            .map_err(|_| ToolError::Failed(format!("`{shown}` is not UTF-8 text")))
    }

    fn list_dir(&self, path: &str) -> Result<String, ToolError> {
        let rel = self.lexical(path)?;
        let shown = shown(&rel);
        let dir = self.open(path, &rel, Want::Dir)?;
        let mut names = Vec::new();
        let mut more = 0usize;
        for entry in entries(&dir, &self.root.join(&rel))
            .map_err(|e| ToolError::Failed(format!("`{shown}`: {}", io_reason(&e))))?
        {
            if names.len() >= self.max_entries {
                more += 1;
                continue;
            }
            names.push(entry);
        }
        names.sort();
        let mut out = names.join("\n");
        if more > 0 {
            out.push_str(&format!("\n... and {more} more entries"));
        }
        if out.is_empty() {
            out = "(empty directory)".into();
        }
        Ok(out)
    }
}

/// Several granted directories seen as one tree (`gamecode run --allow-read docs --allow-read
/// src`): the top level holds each directory under its own name (`docs/`, `src/`), and paths
/// start with it (`docs/guide.md`). With a single directory, paths are relative to it, as
/// with [`FsRoot`] alone.
#[derive(Debug)]
pub struct FsRoots {
    roots: Vec<FsRoot>,
}

impl FsRoots {
    /// The directories' names must differ (they name the top level).
    pub fn new(roots: Vec<FsRoot>) -> Result<Self, String> {
        if roots.is_empty() {
            return Err("no directory granted".into());
        }
        for (i, a) in roots.iter().enumerate() {
            if let Some(b) = roots[..i].iter().find(|b| b.name() == a.name()) {
                return Err(format!(
                    "{} and {} have the same name `{}`; grant directories with different names",
                    b.root.display(),
                    a.root.display(),
                    a.name()
                ));
            }
        }
        Ok(Self { roots })
    }

    /// Both tools over every directory, ready to register with a host.
    pub fn tools(self) -> Vec<Arc<dyn HostTool>> {
        let roots = Arc::new(self);
        vec![
            Arc::new(ReadFileTool {
                roots: roots.clone(),
            }),
            Arc::new(ListDirTool { roots }),
        ]
    }

    /// The directory `path` is under, and the path within it; `None` for the top level of
    /// several directories.
    fn route<'a>(
        &self,
        path: &'a str,
    ) -> Result<Option<(&FsRoot, std::borrow::Cow<'a, str>)>, ToolError> {
        if let [only] = self.roots.as_slice() {
            return Ok(Some((only, path.into())));
        }
        if Path::new(path).is_absolute() {
            return match self
                .roots
                .iter()
                .find(|r| Path::new(path).starts_with(&r.root))
            {
                Some(root) => Ok(Some((root, path.into()))),
                None => Err(outside(path)),
            };
        }
        let trimmed = path.trim_start_matches("./");
        let (first, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        if matches!(first, "" | ".") && rest.is_empty() {
            return Ok(None);
        }
        match self.roots.iter().find(|r| r.name() == first) {
            Some(root) => Ok(Some((
                root,
                if rest.is_empty() {
                    ".".into()
                } else {
                    rest.to_string().into()
                },
            ))),
            None => Err(ToolError::Failed(format!(
                "`{}` is not under a granted directory; paths start with one of: {}",
                crate::text::echo(path),
                self.top_level()
            ))),
        }
    }

    fn top_level(&self) -> String {
        self.roots
            .iter()
            .map(|r| format!("{}/", r.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn read_file(&self, path: &str) -> Result<String, ToolError> {
        match self.route(path)? {
            Some((root, rest)) => root.read_file(&rest),
            None => Err(ToolError::Failed(format!(
                "`{}` is the list of granted directories; use list_dir",
                crate::text::echo(path)
            ))),
        }
    }

    fn list_dir(&self, path: &str) -> Result<String, ToolError> {
        match self.route(path)? {
            Some((root, rest)) => root.list_dir(&rest),
            None => Ok(self.top_level().replace(", ", "\n")),
        }
    }

    fn max_file_bytes(&self) -> u64 {
        self.roots
            .iter()
            .map(|r| r.max_file_bytes)
            .min()
            .unwrap_or(0)
    }

    fn granted(&self) -> &'static str {
        if self.roots.len() == 1 {
            "the directory the user granted. Paths are relative to that directory"
        } else {
            "the directories the user granted. Paths start with a granted directory's name \
             (list_dir `.` shows them)"
        }
    }
}

/// A root-relative path as messages show it (host paths are not the plugin's business).
fn shown(rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        ".".into()
    } else {
        crate::text::echo(&rel.display().to_string())
    }
}

/// What kind of object the tools see, for their refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    /// FIFO, socket, device: never opened for I/O.
    Special(&'static str),
}

#[cfg(target_os = "linux")]
impl From<rustix::fs::FileType> for Kind {
    fn from(t: rustix::fs::FileType) -> Self {
        use rustix::fs::FileType as T;
        match t {
            T::RegularFile => Kind::File,
            T::Directory => Kind::Dir,
            T::Fifo => Kind::Special("a FIFO"),
            T::Socket => Kind::Special("a socket"),
            T::CharacterDevice | T::BlockDevice => Kind::Special("a device"),
            T::Symlink | T::Unknown => Kind::Special("not a regular file"),
        }
    }
}

fn kind_of(meta: &std::fs::Metadata) -> Kind {
    let t = meta.file_type();
    if t.is_file() {
        Kind::File
    } else if t.is_dir() {
        Kind::Dir
    } else {
        Kind::Special("not a regular file")
    }
}

fn check_kind(shown: &str, kind: impl Into<Kind>, want: Want) -> Result<(), ToolError> {
    match (kind.into(), want) {
        (Kind::File, Want::File) | (Kind::Dir, Want::Dir) => Ok(()),
        (Kind::Dir, Want::File) => Err(ToolError::Failed(format!(
            "`{shown}` is a directory; use list_dir"
        ))),
        (Kind::File, Want::Dir) => Err(ToolError::Failed(format!("`{shown}`: not a directory"))),
        (Kind::Special(what), _) => Err(ToolError::Failed(format!(
            "`{shown}` is {what}; only regular files and directories can be read"
        ))),
    }
}

fn outside(path: &str) -> ToolError {
    ToolError::Failed(format!(
        "access denied: `{}` is outside the directory this plugin may read",
        crate::text::echo(path)
    ))
}

/// The entries of the open directory `dir` (at `real`), named as `list_dir` shows them:
/// `name/` for directories, `name@` for symlinks. Unreadable entries are skipped.
#[cfg(target_os = "linux")]
fn entries(dir: &std::fs::File, _real: &Path) -> std::io::Result<Vec<String>> {
    use rustix::fs::{AtFlags, Dir, FileType, statat};
    let mut out = Vec::new();
    for entry in Dir::read_from(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let kind = match entry.file_type() {
            // Some file systems do not say in the listing.
            FileType::Unknown => statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode))
                .unwrap_or(FileType::Unknown),
            kind => kind,
        };
        let mut shown = name.to_string_lossy().into_owned();
        match kind {
            FileType::Directory => shown.push('/'),
            FileType::Symlink => shown.push('@'),
            _ => {}
        }
        out.push(shown);
    }
    Ok(out)
}

#[cfg(not(target_os = "linux"))]
fn entries(dir: &std::fs::File, real: &Path) -> std::io::Result<Vec<String>> {
    if !dir.metadata()?.is_dir() {
        return Err(std::io::ErrorKind::NotADirectory.into());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(real)? {
        let Ok(entry) = entry else { continue };
        let mut name = entry.file_name().to_string_lossy().into_owned();
        match entry.file_type() {
            Ok(t) if t.is_dir() => name.push('/'),
            Ok(t) if t.is_symlink() => name.push('@'),
            _ => {}
        }
        out.push(name);
    }
    Ok(out)
}

/// An I/O error's reason without the OS's path (which may reveal the host layout).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::NotADirectory => "not a directory".into(),
        std::io::ErrorKind::IsADirectory => "is a directory".into(),
        kind => kind.to_string(),
    }
}

/// The `path` field of a tool input.
fn path_arg(input: &Value, default: Option<&str>) -> Result<String, ToolError> {
    let Some(obj) = input.as_object() else {
        return Err(ToolError::InvalidInput(
            "the input must be a JSON object".into(),
        ));
    };
    match (obj.get("path"), default) {
        (Some(Value::String(p)), _) => Ok(p.clone()),
        (None | Some(Value::Null), Some(d)) => Ok(d.to_string()),
        (None, None) => Err(ToolError::InvalidInput("`path` is required".into())),
        _ => Err(ToolError::InvalidInput("`path` must be a string".into())),
    }
}

async fn blocking<F>(f: F) -> Result<String, ToolError>
where
    F: FnOnce() -> Result<String, ToolError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ToolError::Failed(format!("the tool stopped: {e}"))))
}

/// `read_file{path}`: the text of a file under the granted directories.
pub struct ReadFileTool {
    roots: Arc<FsRoots>,
}

#[async_trait]
impl HostTool for ReadFileTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "read_file".into(),
            description: format!(
                "Reads a UTF-8 text file (at most {} bytes) from {}.",
                self.roots.max_file_bytes(),
                self.roots.granted()
            ),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path, relative to the granted directory"}
                },
                "required": ["path"]
            }),
        }
    }

    async fn call(&self, input: Value) -> Result<String, ToolError> {
        let path = path_arg(&input, None)?;
        let roots = self.roots.clone();
        blocking(move || roots.read_file(&path)).await
    }
}

/// `list_dir{path}`: the entries of a directory under the granted ones (`name/` for
/// directories, `name@` for symlinks).
pub struct ListDirTool {
    roots: Arc<FsRoots>,
}

#[async_trait]
impl HostTool for ListDirTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "list_dir".into(),
            description: format!(
                "Lists a directory under {}, one entry per line; directories end in `/`, \
                 symlinks in `@` (default path: `.`).",
                self.roots.granted()
            ),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Directory path, relative to the granted directory; default `.`"}
                }
            }),
        }
    }

    async fn call(&self, input: Value) -> Result<String, ToolError> {
        let path = path_arg(&input, Some("."))?;
        let roots = self.roots.clone();
        blocking(move || roots.list_dir(&path)).await
    }
}

/// Lets tests run the checked open where `openat2` exists, so the fallback is covered on
/// Linux too (a per-thread switch: tests run each on its own thread).
mod test_switch {
    #[cfg(test)]
    thread_local! {
        static FORCED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        static CHECKED_OPENS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    #[cfg(all(test, target_os = "linux"))]
    pub(super) fn checked_open_forced() -> bool {
        FORCED.with(|f| f.get())
    }

    #[cfg(all(not(test), target_os = "linux"))]
    pub(super) fn checked_open_forced() -> bool {
        false
    }

    #[cfg(test)]
    pub(super) fn force_checked_open(on: bool) {
        FORCED.with(|f| f.set(on));
    }

    #[cfg(test)]
    pub(super) fn count_checked_open() {
        CHECKED_OPENS.with(|c| c.set(c.get() + 1));
    }

    #[cfg(test)]
    pub(super) fn checked_opens() -> usize {
        CHECKED_OPENS.with(|c| c.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, tempfile::TempDir, FsRoot) {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/inner.txt"), "inner").unwrap();
        std::fs::write(dir.path().join("big.txt"), "x".repeat(100)).unwrap();
        std::fs::write(dir.path().join("bin.dat"), [0xff, 0xfe]).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                outside.path().join("secret.txt"),
                dir.path().join("link.txt"),
            )
            .unwrap();
            std::os::unix::fs::symlink(outside.path(), dir.path().join("linkdir")).unwrap();
            std::os::unix::fs::symlink("notes.txt", dir.path().join("inside-link.txt")).unwrap();
        }
        let root = FsRoot::new(dir.path()).unwrap().with_max_file_bytes(50);
        (outside, dir, root)
    }

    #[test]
    fn reads_and_lists_inside_the_root() {
        let (_o, _d, root) = tree();
        assert_eq!(root.read_file("notes.txt").unwrap(), "hello");
        assert_eq!(root.read_file("sub/../sub/inner.txt").unwrap(), "inner");
        assert_eq!(root.read_file("./sub/inner.txt").unwrap(), "inner");
        let listing = root.list_dir(".").unwrap();
        assert!(
            listing.contains("notes.txt") && listing.contains("sub/"),
            "{listing}"
        );
        assert_eq!(root.list_dir("sub").unwrap(), "inner.txt");
        #[cfg(unix)]
        assert_eq!(root.read_file("inside-link.txt").unwrap(), "hello");
    }

    #[test]
    fn refuses_escapes() {
        let (outside, _d, root) = tree();
        let abs = outside.path().join("secret.txt");
        for path in [
            "../secret.txt",
            "sub/../../secret.txt",
            abs.to_str().unwrap(),
            "/etc/passwd",
            "..",
        ] {
            let e = root.read_file(path).unwrap_err();
            assert!(
                matches!(&e, ToolError::Failed(m) if m.contains("access denied")),
                "{path}: {e}"
            );
            assert!(!e.to_string().contains("top secret"));
        }
        #[cfg(unix)]
        {
            let e = root.read_file("link.txt").unwrap_err();
            assert!(e.to_string().contains("access denied"), "{e}");
            let e = root.list_dir("linkdir").unwrap_err();
            assert!(e.to_string().contains("access denied"), "{e}");
            let e = root.read_file("linkdir/secret.txt").unwrap_err();
            assert!(e.to_string().contains("access denied"), "{e}");
        }
        let e = root.list_dir("..").unwrap_err();
        assert!(e.to_string().contains("access denied"), "{e}");
    }

    /// The race a check-then-open cannot close: a directory is replaced by a symlink out of
    /// the root after the plugin's path was checked. The kernel resolves beneath the root.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_path_swapped_for_an_escaping_symlink_is_refused_by_the_kernel() {
        let (outside, dir, root) = tree();
        std::fs::write(outside.path().join("inner.txt"), "top secret").unwrap();
        let rel = root.lexical("sub/inner.txt").unwrap();
        std::fs::rename(dir.path().join("sub"), dir.path().join("sub-old")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("sub")).unwrap();
        let Some(result) = root.open_beneath("sub/inner.txt", &rel, Want::File) else {
            panic!(
                "openat2 is unavailable on this Linux (a kernel before 5.6, or a seccomp filter \
                 refusing it): the kernel-checked open cannot be tested here, and the host \
                 would run on the checked fallback"
            );
        };
        let e = result.unwrap_err();
        assert!(e.to_string().contains("access denied"), "{e}");
        // A plain open of the same path would have read the secret.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sub/inner.txt")).unwrap(),
            "top secret"
        );
        // The directory fd still serves paths that stay inside.
        assert_eq!(root.read_file("sub-old/inner.txt").unwrap(), "inner");
    }

    /// The checked fallback (where `openat2` is missing) refuses and serves what the kernel
    /// path does: the same tests, forced onto it, and proof that they ran there.
    #[test]
    fn the_checked_fallback_serves_and_refuses_the_same() {
        let before = test_switch::checked_opens();
        reads_and_lists_inside_the_root();
        refuses_escapes();
        #[cfg(target_os = "linux")]
        assert_eq!(
            test_switch::checked_opens(),
            before,
            "on Linux the kernel-checked open serves by default"
        );
        test_switch::force_checked_open(true);
        reads_and_lists_inside_the_root();
        refuses_escapes();
        outside_paths_fail_identically_whether_or_not_they_exist();
        caps_and_checks_content();
        assert!(
            test_switch::checked_opens() > before + 10,
            "the fallback was exercised ({} opens)",
            test_switch::checked_opens() - before
        );
        test_switch::force_checked_open(false);
    }

    /// A path outside the root fails the same way whether or not it exists: no oracle.
    #[test]
    fn outside_paths_fail_identically_whether_or_not_they_exist() {
        let (outside, _d, root) = tree();
        let exists = outside.path().join("secret.txt");
        let missing = outside.path().join("no-such-file");
        let message = |p: &Path| {
            let shown = p.to_str().unwrap();
            root.read_file(shown)
                .unwrap_err()
                .to_string()
                .replace(shown, "<path>")
        };
        assert_eq!(message(&exists), message(&missing));
        assert!(message(&exists).contains("access denied"));
        for (a, b) in [
            ("../secret.txt", "../no-such-file"),
            ("sub/../../secret.txt", "sub/../../no-such-file"),
        ] {
            let ea = root.read_file(a).unwrap_err().to_string().replace(a, "<p>");
            let eb = root.read_file(b).unwrap_err().to_string().replace(b, "<p>");
            assert_eq!(ea, eb);
            let ea = root.list_dir(a).unwrap_err().to_string().replace(a, "<p>");
            let eb = root.list_dir(b).unwrap_err().to_string().replace(b, "<p>");
            assert_eq!(ea, eb);
        }
        // Through a symlink in the tree that leads out: the kernel refuses at the link,
        // before it looks for the target.
        #[cfg(target_os = "linux")]
        if root.open_beneath(".", Path::new(""), Want::Dir).is_some() {
            let a = root
                .read_file("linkdir/secret.txt")
                .unwrap_err()
                .to_string();
            let b = root
                .read_file("linkdir/no-such-file")
                .unwrap_err()
                .to_string();
            assert_eq!(
                a.replace("secret.txt", "X"),
                b.replace("no-such-file", "X"),
                "{a} / {b}"
            );
        }
        // An absolute path that names a place under the root works.
        let inside = root.root().join("notes.txt");
        assert_eq!(root.read_file(inside.to_str().unwrap()).unwrap(), "hello");
    }

    /// FIFOs, sockets and devices are refused at once: an open of a FIFO would wait for a
    /// writer forever, on a blocking thread no deadline can cancel.
    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_without_blocking() {
        let (_o, dir, root) = tree();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.map(|s| s.success()).unwrap_or(false), "mkfifo");
        let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let results = [
                root.read_file("fifo"),
                root.list_dir("fifo"),
                root.read_file("sock"),
                root.read_file("zero"),
            ];
            let _ = tx.send(results);
        });
        let results = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the special files were refused without blocking");
        for (i, r) in results.iter().enumerate() {
            let e = r.as_ref().unwrap_err().to_string();
            assert!(
                e.contains("FIFO")
                    || e.contains("socket")
                    || e.contains("regular file")
                    || e.contains("access denied"),
                "{i}: {e}"
            );
        }
        assert!(
            results[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("FIFO")
        );
    }

    #[test]
    fn caps_and_checks_content() {
        let (_o, _d, root) = tree();
        assert!(
            root.read_file("big.txt")
                .unwrap_err()
                .to_string()
                .contains("limit")
        );
        assert!(
            root.read_file("bin.dat")
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
        assert!(
            root.read_file("sub")
                .unwrap_err()
                .to_string()
                .contains("directory")
        );
        assert!(root.read_file("a\0b").is_err());
        assert!(
            root.list_dir("notes.txt")
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
    }

    #[test]
    fn several_directories_are_one_tree_named_by_their_directories() {
        let (_o, a, _) = tree();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(b.path().join("main.rs"), "fn main() {}").unwrap();
        let (na, nb) = (
            a.path().file_name().unwrap().to_string_lossy().into_owned(),
            b.path().file_name().unwrap().to_string_lossy().into_owned(),
        );
        let roots = FsRoots::new(vec![
            FsRoot::new(a.path()).unwrap(),
            FsRoot::new(b.path()).unwrap(),
        ])
        .unwrap();
        let top = roots.list_dir(".").unwrap();
        assert_eq!(top, format!("{na}/\n{nb}/"));
        assert_eq!(
            roots.read_file(&format!("{na}/notes.txt")).unwrap(),
            "hello"
        );
        assert_eq!(
            roots.read_file(&format!("./{nb}/main.rs")).unwrap(),
            "fn main() {}"
        );
        assert!(roots.list_dir(&nb).unwrap().contains("main.rs"));
        let abs = b.path().join("main.rs");
        assert_eq!(
            roots.read_file(abs.to_str().unwrap()).unwrap(),
            "fn main() {}"
        );
        let e = roots.read_file("elsewhere/x.txt").unwrap_err().to_string();
        assert!(e.contains("paths start with one of"), "{e}");
        assert!(roots.read_file(&format!("{na}/../{nb}/main.rs")).is_err());
        let dup = FsRoots::new(vec![
            FsRoot::new(a.path()).unwrap(),
            FsRoot::new(a.path()).unwrap(),
        ]);
        assert!(dup.unwrap_err().contains("same name"));
    }

    #[tokio::test]
    async fn tools_validate_their_input() {
        let (_o, _d, root) = tree();
        let tools = root.tools();
        let read = &tools[0];
        assert_eq!(read.spec().name, "read_file");
        assert_eq!(
            read.call(json!({"path": "notes.txt"})).await.unwrap(),
            "hello"
        );
        assert!(matches!(
            read.call(json!({})).await,
            Err(ToolError::InvalidInput(_))
        ));
        assert!(matches!(
            read.call(json!({"path": 3})).await,
            Err(ToolError::InvalidInput(_))
        ));
        assert!(matches!(
            read.call(json!("notes.txt")).await,
            Err(ToolError::InvalidInput(_))
        ));
        let list = &tools[1];
        assert!(list.call(json!({})).await.unwrap().contains("notes.txt"));
    }
}
