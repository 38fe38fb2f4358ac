//! Read-only file access under one directory the user granted (`gamecode run --allow-read DIR`).
//!
//! Two tools, `read_file{path}` and `list_dir{path}`. Every path is resolved against the
//! granted root and canonicalized (which resolves `..` and every symlink); anything whose real
//! location is not inside the root is refused, so neither `../../etc/passwd`, nor an absolute
//! path, nor a symlink pointing out of the tree gets out. Files are read up to a size cap and
//! must be UTF-8 text. Nothing can be written.
//!
//! The check and the open are two steps, so a process that can *write* inside the granted
//! directory could swap a checked path for a symlink in between. On Linux the open is
//! therefore made by the kernel relative to a descriptor of the root with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, which refuses any resolution that
//! leaves it: a swapped path fails as "access denied". Where `openat2` is missing (Linux
//! before 5.6, a seccomp filter that blocks it, other systems) the tool falls back to opening
//! the checked path, and the race remains: there, grant only directories that no one hostile
//! writes to while a plugin runs.

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
        let root = Arc::new(self);
        vec![
            Arc::new(ReadFileTool { root: root.clone() }),
            Arc::new(ListDirTool { root }),
        ]
    }

    /// The real location of `path` (relative to the root), if it is inside the root.
    fn resolve(&self, path: &str) -> Result<PathBuf, ToolError> {
        if path.contains('\0') {
            return Err(ToolError::InvalidInput(
                "the path contains a NUL byte".into(),
            ));
        }
        let joined = self.root.join(Path::new(path));
        let real = std::fs::canonicalize(&joined).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                ToolError::Failed(format!("`{path}`: no such file or directory"))
            }
            _ => ToolError::Failed(format!("`{path}`: {}", io_reason(&e))),
        })?;
        if !real.starts_with(&self.root) {
            return Err(outside(path));
        }
        Ok(real)
    }

    /// `real` relative to the root, for messages (host paths are not the plugin's business).
    fn display(&self, real: &Path) -> String {
        let rel = real.strip_prefix(&self.root).unwrap_or(real);
        let shown: PathBuf = rel
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        if shown.as_os_str().is_empty() {
            ".".into()
        } else {
            shown.display().to_string()
        }
    }

    /// Opens `real`, a path [`Self::resolve`] found inside the root, read-only; on Linux the
    /// kernel checks again that it resolves beneath the root (see the module docs).
    fn open_checked(&self, path: &str, real: &Path) -> Result<std::fs::File, ToolError> {
        let failed = |e: std::io::Error| {
            ToolError::Failed(format!("`{}`: {}", self.display(real), io_reason(&e)))
        };
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};
            use rustix::io::Errno;
            let rel = match real.strip_prefix(&self.root) {
                Ok(rel) if !rel.as_os_str().is_empty() => rel,
                _ => Path::new("."),
            };
            match openat2(
                &self.dir,
                rel,
                OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
            ) {
                Ok(fd) => return Ok(std::fs::File::from(fd)),
                // Something on the way now leads out of the root: swapped since the check.
                Err(Errno::XDEV) => return Err(outside(path)),
                // No openat2 here (old kernel, seccomp): the checked open below.
                Err(Errno::NOSYS | Errno::PERM) => {}
                Err(e) => return Err(failed(e.into())),
            }
        }
        std::fs::File::open(real).map_err(failed)
    }

    fn read_file(&self, path: &str) -> Result<String, ToolError> {
        let real = self.resolve(path)?;
        let shown = self.display(&real);
        let file = self.open_checked(path, &real)?;
        let meta = file
            .metadata()
            .map_err(|e| ToolError::Failed(format!("`{shown}`: {}", io_reason(&e))))?;
        if meta.is_dir() {
            return Err(ToolError::Failed(format!(
                "`{shown}` is a directory; use list_dir"
            )));
        }
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
        let real = self.resolve(path)?;
        let shown = self.display(&real);
        let dir = self.open_checked(path, &real)?;
        let mut names = Vec::new();
        let mut more = 0usize;
        for entry in entries(&dir, &real)
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

fn outside(path: &str) -> ToolError {
    ToolError::Failed(format!(
        "access denied: `{path}` is outside the directory this plugin may read"
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

/// `read_file{path}`: the text of a file under the granted directory.
pub struct ReadFileTool {
    root: Arc<FsRoot>,
}

#[async_trait]
impl HostTool for ReadFileTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "read_file".into(),
            description: format!(
                "Reads a UTF-8 text file (at most {} bytes) from the directory the user \
                 granted. Paths are relative to that directory.",
                self.root.max_file_bytes
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
        let root = self.root.clone();
        blocking(move || root.read_file(&path)).await
    }
}

/// `list_dir{path}`: the entries of a directory under the granted one (`name/` for
/// directories, `name@` for symlinks).
pub struct ListDirTool {
    root: Arc<FsRoot>,
}

#[async_trait]
impl HostTool for ListDirTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "list_dir".into(),
            description: "Lists a directory under the directory the user granted, one entry \
                          per line; directories end in `/`, symlinks in `@`. The path is \
                          relative to the granted directory (default: `.`)."
                .into(),
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
        let root = self.root.clone();
        blocking(move || root.list_dir(&path)).await
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
                matches!(&e, ToolError::Failed(m) if m.contains("denied") || m.contains("no such")),
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

    /// The race the canonical check alone cannot close: a checked directory is replaced by a
    /// symlink out of the root before the open.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_path_swapped_after_the_check_is_refused_by_the_kernel() {
        let (outside, dir, root) = tree();
        std::fs::write(outside.path().join("inner.txt"), "top secret").unwrap();
        let real = root.resolve("sub/inner.txt").unwrap();
        std::fs::rename(dir.path().join("sub"), dir.path().join("sub-old")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("sub")).unwrap();

        let probe = rustix::fs::openat2(
            &root.dir,
            ".",
            rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
            rustix::fs::ResolveFlags::BENEATH,
        );
        if let Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) = probe {
            eprintln!("openat2 is not available here: the fallback (checked open) is in use");
            return;
        }
        let e = root.open_checked("sub/inner.txt", &real).unwrap_err();
        assert!(e.to_string().contains("access denied"), "{e}");
        // Without the kernel's check, that open would have read the secret.
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "top secret");
        // The directory fd still serves paths that stay inside.
        assert_eq!(root.read_file("sub-old/inner.txt").unwrap(), "inner");
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
