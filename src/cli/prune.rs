//! `snap prune`: free the space of unreferenced data (exclusive lock).

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};

use snap::ops::prune::{prune_with, PruneOptions, PruneProgress, PruneReport};
use snap::repo::lock::LockGuard;
use snap::repo::Repository;

use super::{human, GlobalArgs, Reading, Ticker};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Repack partly used packs while unused data exceeds this share of the repository
    #[arg(long, default_value = "5%", value_name = "PERCENT")]
    max_unused: String,
    /// Repack every partly used pack
    #[arg(long)]
    repack_all: bool,
    /// Only report what would be done
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Delete packs no index names only once storage wrote them this long ago (e.g. 24h, 90m, 0)
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    orphan_grace: String,
}

/// `90s`, `30m`, `24h`, `7d` or `0`.
pub fn parse_duration(flag: &str, s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|_| anyhow::anyhow!("{flag} {s:?}: expected a number with s, m, h or d, e.g. 24h"))?;
    let secs = match unit {
        "" if n == 0 => 0,
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("{flag} {s:?}: expected a number with s, m, h or d, e.g. 24h"),
    };
    Ok(Duration::from_secs(secs))
}

fn parse_percent(s: &str) -> Result<f64> {
    let v: f64 = s.trim().trim_end_matches('%').parse().map_err(|_| anyhow::anyhow!("--max-unused {s:?} is not a percentage"))?;
    if !(0.0..=100.0).contains(&v) {
        bail!("--max-unused {s:?} must be between 0% and 100%");
    }
    Ok(v / 100.0)
}

impl Args {
    pub fn options(&self) -> Result<PruneOptions> {
        Ok(PruneOptions {
            max_unused: parse_percent(&self.max_unused)?,
            repack_all: self.repack_all,
            dry_run: self.dry_run,
            orphan_grace: parse_duration("--orphan-grace", &self.orphan_grace)?,
        })
    }
}

/// Prunes an already opened and exclusively locked repository and prints the report.
pub fn prune_and_print(g: &GlobalArgs, repo: &Repository, opts: &PruneOptions, lock: &LockGuard) -> Result<()> {
    let r = prune_with_meter(g, repo, opts, lock)?;
    print_report(g, &r);
    Ok(())
}

/// Prunes an already opened and exclusively locked repository, drawing the progress meter, and
/// returns the report unprinted.
pub fn prune_with_meter(g: &GlobalArgs, repo: &Repository, opts: &PruneOptions, lock: &LockGuard) -> Result<PruneReport> {
    let progress = Arc::new(PruneProgress::default());
    let p = Arc::clone(&progress);
    let ticker = Ticker::meter(g.show_progress(), move || {
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        match p.stage.load(Ordering::Relaxed) {
            PruneProgress::READING => Reading { stage: Some("reading snapshots and index"), unit: "packs", ..Reading::default() },
            stage => Reading {
                stage: Some(if stage == PruneProgress::REPACKING { "repacking" } else { "deleting" }),
                bytes: n(&p.bytes_done),
                bytes_total: Some(n(&p.bytes_total)),
                items: n(&p.packs_done),
                items_total: Some(n(&p.packs_total)),
                unit: "packs",
            },
        }
    });
    let result = prune_with(repo, opts, lock, &progress);
    drop(ticker);
    Ok(result?)
}

fn print_report(g: &GlobalArgs, r: &PruneReport) {
    if g.json {
        println!("{}", serde_json::to_value(r).unwrap_or_default());
    } else if !g.quiet {
        let verb = if r.dry_run { "would" } else { "did" };
        println!(
            "{} blobs in use, {} unused ({}); {verb} delete {} packs and {} orphaned packs, repack {} packs ({} blobs)",
            r.blobs_used,
            r.blobs_unused,
            human(r.bytes_unused),
            r.packs_deleted,
            r.packs_orphaned,
            r.packs_repacked,
            r.blobs_repacked
        );
        println!("repository: {} → {} ({} freed)", human(r.bytes_before), human(r.bytes_after), human(r.bytes_freed));
        if r.packs_orphaned_kept > 0 {
            println!("kept {} pack(s) no index names: younger than --orphan-grace (or of unknown age)", r.packs_orphaned_kept);
        }
    }
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let opts = a.options()?;
    let (repo, lock) = g.open_locked(snap::repo::lock::LockKind::Exclusive)?;
    prune_and_print(g, &repo, &opts, &lock)?;
    Ok(ExitCode::SUCCESS)
}
