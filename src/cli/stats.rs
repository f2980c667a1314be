//! `snap stats [SNAPSHOT...]`: files and restore size of snapshots, and what they cost in
//! storage: distinct data, stored bytes, ratios, and what each alone holds.
//!
//! `--json` prints one object:
//!
//! - `snapshots`: one object per selected snapshot, oldest first: `id`, `time`, `hostname`,
//!   `paths`, `files`, `dirs`, `symlinks`, `others`, `restore_size` (sum of file sizes), and
//!   unless `--mode restore-size`: `data_blobs` and `unique_bytes` (distinct data blobs the files
//!   reference, their plaintext), `stored_bytes` (their sealed size in packs, with the delta
//!   bases they need), `metadata_blobs` and `metadata_stored_bytes` (trees and chunk lists),
//!   `dedup_ratio` (restore_size / unique_bytes), `compression_ratio` (unique_bytes /
//!   stored_bytes; both null when a denominator is 0), `alone_blobs` and `alone_bytes` (blobs no
//!   other snapshot needs and their stored bytes: what forgetting it and pruning frees at most).
//! - `total`: the same fields over the selection (`snapshots` = how many), counts summed, blobs
//!   counted once; `alone_*` is what forgetting the whole selection would free.
//! - `repository` (null with `--mode restore-size`): `snapshots`, and `total`, `data`,
//!   `metadata`, `dictionaries`, `unreferenced` (what no snapshot needs), each
//!   `{blobs, raw_bytes, stored_bytes}`; `missing_blobs` (referenced but in no index).
//! - `unreadable_snapshots`: ids of snapshot files that could not be read.

use std::process::ExitCode;

use anyhow::Result;

use snap::ops::stats::{stats, Counts, RawData, StatsOptions, StatsReport};

use super::snapshots::FilterArgs;
use super::{human, GlobalArgs};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Files and restore size only (fast: reads only the selected snapshots' trees)
    RestoreSize,
    /// Blob figures only: unique, stored, ratios, held alone, repository
    RawData,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshots (ids, prefixes or `latest`); default: every snapshot passing the filters
    #[arg(value_name = "SNAPSHOT")]
    snapshots: Vec<String>,
    /// Show only one kind of figures (default: both)
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    #[command(flatten)]
    filter: FilterArgs,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (repo, _lock) = g.open()?;
    let opts = StatsOptions { snapshots: a.snapshots.clone(), filter: a.filter.filter(), raw_data: a.mode != Some(Mode::RestoreSize) };
    let report = stats(&repo, &opts)?;
    if !g.quiet {
        for id in &report.unreadable_snapshots {
            eprintln!("snap: warning: snapshot {} could not be read: its blobs count as no snapshot's", id.short());
        }
    }
    if g.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    print(&report, a.mode);
    Ok(ExitCode::SUCCESS)
}

fn print(r: &StatsReport, mode: Option<Mode>) {
    let counts = mode != Some(Mode::RawData);
    for s in &r.snapshots {
        let t = s.time.parse::<jiff::Timestamp>().map(|t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|_| s.time.clone());
        println!("snapshot {}  {}  {}  {}", s.id.short(), t, s.hostname, s.paths.join(" "));
        print_figures(counts.then_some(&s.counts), s.raw.as_ref(), "forgetting it");
    }
    println!("total: {} snapshot(s)", r.total.snapshots);
    print_figures(counts.then_some(&r.total.counts), r.total.raw.as_ref(), "forgetting them all");
    if let Some(repo) = &r.repository {
        println!("repository: {} snapshot(s)", repo.snapshots);
        println!("  {:<22}{:>10} blobs  {:>12} raw  {:>12} stored", "all blobs", repo.total.blobs, human(repo.total.raw_bytes), human(repo.total.stored_bytes));
        for (what, b) in [("data", &repo.data), ("trees and lists", &repo.metadata), ("dictionaries", &repo.dictionaries), ("needed by no snapshot", &repo.unreferenced)] {
            println!("  {what:<22}{:>10} blobs  {:>12} raw  {:>12} stored", b.blobs, human(b.raw_bytes), human(b.stored_bytes));
        }
        if repo.missing_blobs > 0 {
            println!("  {} referenced blob(s) are in no index: run `snap check`", repo.missing_blobs);
        }
    }
}

fn print_figures(c: Option<&Counts>, raw: Option<&RawData>, freed_by: &str) {
    if let Some(c) = c {
        println!("  files {}, dirs {}, symlinks {}, others {}", c.files, c.dirs, c.symlinks, c.others);
        println!("  restore size       {}", human(c.restore_size));
    }
    if let Some(r) = raw {
        let ratio = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}x"));
        println!("  unique data        {} in {} blobs (dedup {})", human(r.unique_bytes), r.data_blobs, ratio(r.dedup_ratio));
        println!("  stored data        {} (compression {})", human(r.stored_bytes), ratio(r.compression_ratio));
        println!("  trees and lists    {} in {} blobs", human(r.metadata_stored_bytes), r.metadata_blobs);
        println!("  held alone         {} in {} blobs (what {freed_by} would free)", human(r.alone_bytes), r.alone_blobs);
    }
}
