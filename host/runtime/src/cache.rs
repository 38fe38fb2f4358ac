//! The compiled-artifact cache: a second start of the same plugin skips compilation.
//!
//! Compiling a component with Cranelift takes hundreds of milliseconds to seconds; loading a
//! serialized artifact takes about a millisecond (it is mmapped). Entries are keyed by a
//! SHA-256 of the component's bytes *and* of the engine's compatibility hash (wasmtime
//! version, target, and every setting that changes code, such as fuel), so a stale artifact is
//! never picked up by a different engine; wasmtime checks that again when deserializing, and
//! an entry that fails to load is recompiled and replaced.
//!
//! Bounded: when a store takes the cache over its size cap (512 MiB by default; a Python or
//! JavaScript plugin compiles to ~35 MB), the least recently used entries are removed (a hit
//! refreshes an entry's modification time).
//!
//! Trust: deserializing runs native code produced earlier, so the cache directory must be as
//! trusted as the host binary (the default is the user's own cache directory, created `0700`).
//! Files are written to a temporary name and renamed, so a crash never leaves a torn entry.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The default size cap of a cache directory.
pub const DEFAULT_MAX_CACHE_BYTES: u64 = 512 << 20;

/// Where compiled artifacts are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactCache {
    dir: PathBuf,
    max_bytes: u64,
}

/// One compiled artifact in a cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub path: PathBuf,
    pub bytes: u64,
    /// When it was stored or last loaded.
    pub last_used: std::time::SystemTime,
    /// What was compiled, when it was recorded beside the artifact.
    pub source: Option<ArtifactSource>,
}

/// What an artifact was compiled from, kept beside it (`<hash>.json`) so that a listing
/// names plugins, not hashes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArtifactSource {
    /// The plugin's name (its file name, as loaded).
    pub plugin: String,
    /// The size of the component it was compiled from.
    pub wasm_bytes: u64,
    /// The engine settings that make a separate artifact (fuel metering), in words.
    pub engine: String,
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Loaded from the cache.
    Hit,
    /// Compiled, and stored in the cache.
    Stored,
    /// Compiled; there is no cache, or it could not be written.
    Compiled,
}

impl ArtifactCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_bytes: DEFAULT_MAX_CACHE_BYTES,
        }
    }

    /// The most the cache directory may hold; least recently used entries go first.
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Every artifact in the cache, least recently used first.
    pub fn entries(&self) -> std::io::Result<Vec<CacheEntry>> {
        let mut out = Vec::new();
        let dir = match std::fs::read_dir(&self.dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in dir {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.ends_with(".cwasm") || name.starts_with(".tmp-") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() {
                let source = std::fs::read(path.with_extension("json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                out.push(CacheEntry {
                    path,
                    bytes: meta.len(),
                    last_used: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
                    source,
                });
            }
        }
        out.sort_by_key(|e| e.last_used);
        Ok(out)
    }

    /// Removes every artifact; returns how many and their bytes.
    pub fn clear(&self) -> std::io::Result<(usize, u64)> {
        let mut removed = (0, 0);
        for e in self.entries()? {
            std::fs::remove_file(&e.path)?;
            let _ = std::fs::remove_file(e.path.with_extension("json"));
            removed.0 += 1;
            removed.1 += e.bytes;
        }
        Ok(removed)
    }

    /// Removes least recently used entries (never `keep`) until the cache fits its cap.
    fn evict(&self, keep: &Path) {
        let Ok(entries) = self.entries() else { return };
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        for e in entries {
            if total <= self.max_bytes {
                break;
            }
            if e.path == keep {
                continue;
            }
            match std::fs::remove_file(&e.path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(e.path.with_extension("json"));
                    total -= e.bytes;
                    tracing::debug!(path = %e.path.display(), bytes = e.bytes, "evicted from the artifact cache");
                }
                Err(err) => tracing::warn!(path = %e.path.display(), "cannot evict: {err}"),
            }
        }
    }

    /// `$XDG_CACHE_HOME/gamecode`, else `~/.cache/gamecode`; `None` when neither is known.
    pub fn default_dir() -> Option<PathBuf> {
        let from_env = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        from_env("XDG_CACHE_HOME")
            .or_else(|| from_env("HOME").map(|h| h.join(".cache")))
            .map(|d| d.join("gamecode"))
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for `bytes` compiled by `engine`.
    pub fn entry_path(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        let mut hasher = ShaHasher(Sha256::new());
        b"gamecode-artifact-v1".hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.0.update(bytes);
        let digest = hasher.0.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.cwasm"))
    }

    /// The compiled component for `bytes`: from the cache if present and loadable, else
    /// compiled and stored. Cache failures are logged, never fatal.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        source: &ArtifactSource,
    ) -> wasmtime::Result<(Component, CacheStatus)> {
        let path = self.entry_path(engine, bytes);
        if path.is_file() {
            // SAFETY: the file was written by `store` below from `Component::serialize` of
            // an engine with the same compatibility hash (it is in the file name), atomically
            // (temp file + rename), in a directory as trusted as this binary. wasmtime
            // re-checks the header, version and engine settings and errors on mismatch.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    tracing::debug!(path = %path.display(), "compiled artifact loaded from cache");
                    // Recently used: last in line for eviction.
                    let _ = std::fs::File::options()
                        .append(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                    return Ok((component, CacheStatus::Hit));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e}");
                }
            }
        }
        let component = Component::from_binary(engine, bytes)?;
        let status = match self.store(&path, &component) {
            Ok(()) => {
                // Only for the listing: an artifact without it is listed by its hash.
                if let Ok(json) = serde_json::to_vec(source) {
                    let _ = std::fs::write(path.with_extension("json"), json);
                }
                self.evict(&path);
                CacheStatus::Stored
            }
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), "cannot write the artifact cache: {e}");
                CacheStatus::Compiled
            }
        };
        Ok((component, status))
    }

    fn store(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        create_private_dir(&self.dir)?;
        let mut tmp = tempfile_in(&self.dir)?;
        tmp.1.write_all(&bytes)?;
        tmp.1.sync_all()?;
        drop(tmp.1);
        std::fs::rename(&tmp.0, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp.0);
        })
    }
}

/// Feeds `Hash` output into SHA-256, so the key is stable across processes (std's hashers
/// are not guaranteed to be).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// A new file in `dir` with a unique name.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for attempt in 0..16u32 {
        let path = dir.join(format!(
            ".tmp-{}-{nanos}-{attempt}.cwasm",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(
        "cannot create a temporary cache file",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_listed_evicted_least_recently_used_first_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path()).with_max_bytes(250);
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(100);
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            let path = dir.path().join(format!("{name}.cwasm"));
            std::fs::write(&path, [0u8; 100]).unwrap();
            let f = std::fs::File::options().append(true).open(&path).unwrap();
            f.set_modified(t0 + std::time::Duration::from_secs(i as u64 * 10))
                .unwrap();
        }
        std::fs::write(dir.path().join("other.txt"), "x").unwrap();
        let names = |c: &ArtifactCache| -> Vec<String> {
            c.entries()
                .unwrap()
                .iter()
                .map(|e| e.path.file_stem().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(&cache), ["a", "b", "c"]);
        // Over the cap: the oldest goes, never the entry just stored.
        cache.evict(&dir.path().join("a.cwasm"));
        assert_eq!(names(&cache), ["a", "c"]);
        assert_eq!(cache.clear().unwrap(), (2, 200));
        assert!(cache.entries().unwrap().is_empty());
        assert!(dir.path().join("other.txt").exists());
    }
}
