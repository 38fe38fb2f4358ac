//! `gamecode models`: what the account can call in a region — read live from Bedrock's control
//! plane, cached for a day, merged with the built-in catalogue — and the check `gamecode run`
//! makes of its model before any call.

use std::path::PathBuf;

use clap::Args;
use gamecode_backend::LifecycleStage;
use gamecode_bedrock::live::{self, LiveCatalogue, LiveModel};

use crate::{EXIT_BACKEND, EXIT_OTHER, EXIT_USAGE, Failure};

#[derive(Args)]
pub struct ModelsArgs {
    /// AWS region (default: from the environment or profile).
    #[arg(long, conflicts_with = "emulator")]
    region: Option<String>,
    /// Also other providers' models, and Claude models past their end of life.
    #[arg(long)]
    all: bool,
    /// One JSON array, for scripts.
    #[arg(long)]
    json: bool,
    /// Read the list again instead of the day-old cache.
    #[arg(long)]
    refresh: bool,
    /// Ask the built-in Bedrock emulator (offline).
    #[arg(long)]
    emulator: bool,
    /// Send control-plane requests to this endpoint.
    #[arg(long, conflicts_with = "emulator")]
    endpoint_url: Option<String>,
    /// Where region lists are cached (default: $XDG_CACHE_HOME/gamecode or ~/.cache/gamecode).
    #[arg(long, value_name = "DIR", env = "GAMECODE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

pub async fn models(args: ModelsArgs) -> Result<(), Failure> {
    let (catalogue, note) = if args.emulator {
        let emu = bedrock_emulator::Emulator::start()
            .await
            .map_err(|e| Failure::new(EXIT_OTHER, format!("cannot start the emulator: {e:#}")))?;
        let listed = live::fetch(&emu.sdk_config(), None).await;
        emu.shutdown().await;
        let mut listed = listed.map_err(|e| Failure::new(EXIT_BACKEND, e.to_string()))?;
        listed.source = "emulator".into();
        (listed, None)
    } else {
        account(&args).await?
    };
    let shown: Vec<&LiveModel> = catalogue
        .models
        .iter()
        .filter(|m| args.all || (m.provider == "Anthropic" && m.lifecycle != "END_OF_LIFE"))
        .collect();
    if args.json {
        let text = serde_json::to_string_pretty(&shown)
            .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
        println!("{text}");
    } else {
        // On a terminal, the table fits its width: the least needed columns go first.
        let width = crate::terminal::stdout_columns();
        print!("{}", table(&shown, width));
        let source = match catalogue.source.as_str() {
            "live" => format!(
                "read from the account's Bedrock control plane in {}",
                catalogue.region
            ),
            "emulator" => format!(
                "read from the emulator's control plane ({})",
                catalogue.region
            ),
            _ => format!("the built-in catalogue for {}", catalogue.region),
        };
        println!("\n{} models, {source}.", shown.len());
    }
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    Ok(())
}

/// The account's list for the region: the cache, else the control plane, else the built-in
/// catalogue with a note saying why.
async fn account(args: &ModelsArgs) -> Result<(LiveCatalogue, Option<String>), Failure> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &args.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let config = loader.load().await;
    let Some(region) = config.region().map(|r| r.to_string()) else {
        return Err(Failure::new(
            EXIT_USAGE,
            "no AWS region configured: set AWS_REGION, a region in your AWS profile, or use --region",
        ));
    };
    let dir = args
        .cache_dir
        .clone()
        .or_else(gamecode_host::cache::ArtifactCache::default_dir);
    let cacheable = args.endpoint_url.is_none();
    if cacheable
        && !args.refresh
        && let Some(cached) = dir.as_deref().and_then(|d| live::read_cache(d, &region))
    {
        return Ok((cached, None));
    }
    match live::fetch(&config, args.endpoint_url.as_deref()).await {
        Ok(listed) => {
            if cacheable && let Some(dir) = &dir {
                // A cache that cannot be written only costs the next call a read.
                let _ = live::write_cache(dir, &listed);
            }
            Ok((listed, None))
        }
        Err(e) => Ok((
            live::built_in_catalogue(&region),
            Some(format!(
                "could not read the account's models ({}: {}); showing the built-in catalogue",
                e.category(),
                e.message()
            )),
        )),
    }
}

fn lifecycle(m: &LiveModel) -> String {
    match (m.lifecycle.as_str(), &m.end_of_life_date) {
        ("LEGACY", Some(end)) => format!("LEGACY, ends {end}"),
        ("END_OF_LIFE", Some(end)) => format!("ended {end}"),
        ("END_OF_LIFE", None) => "ended".into(),
        (other, _) => other.to_string(),
    }
}

fn input(m: &LiveModel) -> String {
    let mut parts = vec!["text"];
    if m.images {
        parts.push("image");
    }
    if m.documents == Some(true) {
        parts.push("doc");
    }
    parts.join("+")
}

fn thinking(m: &LiveModel) -> String {
    match m.reasoning.as_deref() {
        None => "?".into(),
        Some("budget or adaptive") => "budget/adaptive".into(),
        Some("adaptive only") => "adaptive".into(),
        Some(kind) => kind.into(),
    }
}

fn human_tokens(n: Option<u32>) -> String {
    match n {
        None => "?".into(),
        Some(n) if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        Some(n) if n >= 1_000 => format!("{}K", n / 1_000),
        Some(n) => n.to_string(),
    }
}

/// The table people read at a glance: how to call each model and what it takes.
fn table(models: &[&LiveModel], width: Option<usize>) -> String {
    let header = [
        "CALL AS",
        "NAME",
        "LIFECYCLE",
        "INPUT",
        "THINKING",
        "CACHE",
        "CONTEXT",
        "OUTPUT",
    ];
    let rows: Vec<[String; 8]> = models
        .iter()
        .map(|m| {
            [
                m.call_as.clone().unwrap_or_else(|| format!("({})", m.id)),
                m.name.clone(),
                lifecycle(m),
                input(m),
                thinking(m),
                m.cache_min.map_or("-".into(), |c| format!("{c}+")),
                human_tokens(m.context_window),
                human_tokens(m.max_output_tokens),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Columns shown, most needed first kept: output, context, cache, input and name give way
    // on a narrow terminal; how to call a model, its lifecycle and thinking stay.
    let mut shown = [true; 8];
    let total = |shown: &[bool; 8]| -> usize {
        widths
            .iter()
            .zip(shown)
            .filter(|(_, on)| **on)
            .map(|(w, _)| w + 2)
            .sum()
    };
    if let Some(max) = width {
        for drop in [7, 6, 5, 3, 1] {
            if total(&shown) <= max {
                break;
            }
            shown[drop] = false;
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for ((cell, w), _) in cells.iter().zip(widths).zip(shown).filter(|(_, on)| *on) {
            s.push_str(&format!("{cell:<w$}  "));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Refuses a model the catalogue knows to have ended (naming its successor) or that must be
/// called through a profile (naming it); warns in one line about a legacy one. Anything
/// else passes untouched.
pub fn check_choice(model: &str, region: Option<&str>) -> Result<Option<String>, Failure> {
    let Some(m) = gamecode_bedrock::catalogue::find(model) else {
        return Ok(None);
    };
    let today = gamecode_bedrock::catalogue::today();
    // The same refusal the backend makes at call time, said before anything runs.
    gamecode_bedrock::catalogue::check_id(m, model, region, &today)
        .map_err(|r| Failure::new(EXIT_USAGE, r.advice))?;
    Ok((m.stage(&today) == LifecycleStage::Legacy).then(|| m.legacy_message(region)))
}
