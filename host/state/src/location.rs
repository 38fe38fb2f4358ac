//! Where the state store lives when nobody says: `$GAMECODE_STATE_DIR/state.sqlite`, else the
//! user's data directory (`$XDG_DATA_HOME/gamecode`, `~/.local/share/gamecode` on Linux).

use std::path::PathBuf;

/// The environment variable that names the state directory.
pub const STATE_DIR_ENV: &str = "GAMECODE_STATE_DIR";

/// The default store file, or `None` when there is no state directory and no data directory.
pub fn default_path() -> Option<PathBuf> {
    let dir = match std::env::var_os(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => dirs::data_dir()?.join("gamecode"),
    };
    Some(dir.join("state.sqlite"))
}
