//! Loading a plugin with the user kept informed: compiling a large component (a Python or
//! JavaScript plugin: 15–30 s on a small machine) happens once, and says so while it runs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gamecode_host::{ArtifactCache, LoadError};

/// Work still running after this is announced.
const ANNOUNCE_AFTER: Duration = Duration::from_millis(400);

/// The cache the CLI uses, unless `--no-cache`.
pub fn cache(no_cache: bool, dir: Option<PathBuf>) -> Option<ArtifactCache> {
    if no_cache {
        return None;
    }
    dir.or_else(ArtifactCache::default_dir)
        .map(ArtifactCache::new)
}

/// Runs `work` (a load or an inspection of the plugin at `path`) off the async runtime; when
/// it compiles (`compiles`), or takes long anyway, `say` tells the user what is happening and
/// how long it took.
pub async fn with_progress<T: Send + 'static>(
    path: &Path,
    compiles: bool,
    say: impl Fn(&str),
    work: impl FnOnce() -> Result<T, LoadError> + Send + 'static,
) -> Result<T, LoadError> {
    let started = Instant::now();
    let mut task = tokio::task::spawn_blocking(work);
    let wait = if compiles {
        Duration::ZERO
    } else {
        ANNOUNCE_AFTER
    };
    let joined = match tokio::time::timeout(wait, &mut task).await {
        Ok(joined) => joined,
        Err(_) => {
            say(&format!(
                "compiling {} (only its first run compiles it; later runs load it from the \
                 cache)…",
                path.display()
            ));
            let joined = task.await;
            say(&format!("ready in {:.1}s", started.elapsed().as_secs_f64()));
            joined
        }
    };
    joined.map_err(|e| LoadError::Io {
        path: path.display().to_string(),
        message: format!("loading stopped: {e}"),
    })?
}
