use std::path::{Path, PathBuf};

/// The station's data directory, the same for every front end: the given
/// one, else `KIOSK_DATA_DIR`, else `$XDG_DATA_HOME/kiosk-station`, else
/// `~/.local/share/kiosk-station`.
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(d) = explicit {
        return d.to_path_buf();
    }
    if let Some(d) = std::env::var_os("KIOSK_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("kiosk-station")
}
