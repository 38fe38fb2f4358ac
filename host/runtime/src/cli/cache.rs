//! `gamecode cache list` and `gamecode cache clear`: the compiled-plugin cache, visible and
//! removable.

use std::time::SystemTime;

use gamecode_host::ArtifactCache;

/// Prints each entry (least recently used first) and the total.
pub fn list(cache: &ArtifactCache) -> std::io::Result<()> {
    let entries = cache.entries()?;
    println!("cache: {}", cache.dir().display());
    let now = SystemTime::now();
    for e in &entries {
        let age = now
            .duration_since(e.last_used)
            .map(|d| human_age(d.as_secs()))
            .unwrap_or_else(|_| "just now".into());
        let hash: String = e
            .path
            .file_stem()
            .map(|n| n.to_string_lossy().chars().take(12).collect())
            .unwrap_or_default();
        // The plugin and its size; an artifact compiled for other engine settings (fuel
        // metering) is a second entry for the same plugin, and says so.
        let what = match &e.source {
            Some(s) if s.engine == "default" => {
                format!(
                    "{} ({} of wasm) {hash}",
                    s.plugin,
                    human_bytes(s.wasm_bytes)
                )
            }
            Some(s) => format!(
                "{} ({} of wasm, compiled for {}) {hash}",
                s.plugin,
                human_bytes(s.wasm_bytes),
                s.engine
            ),
            None => format!("(unnamed) {hash}"),
        };
        println!("{:>10}  used {age:<12}  {what}", human_bytes(e.bytes));
    }
    let total: u64 = entries.iter().map(|e| e.bytes).sum();
    println!(
        "{} compiled plugin{}, {} in all (the oldest are removed past {})",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        human_bytes(total),
        human_bytes(gamecode_host::cache::DEFAULT_MAX_CACHE_BYTES)
    );
    Ok(())
}

/// Removes every entry.
pub fn clear(cache: &ArtifactCache) -> std::io::Result<()> {
    let (n, bytes) = cache.clear()?;
    println!(
        "removed {n} compiled plugin{} ({}) from {}",
        if n == 1 { "" } else { "s" },
        human_bytes(bytes),
        cache.dir().display()
    );
    Ok(())
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn human_age(secs: u64) -> String {
    match secs {
        s if s < 60 => "just now".into(),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}
