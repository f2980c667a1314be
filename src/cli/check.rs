//! `snap check [--read-data | --read-data-subset S]`: verify the repository; exit 1 on damage.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Result;

use snap::ops::check::{check, CheckOptions, CheckProgress, DataSubset};

use super::{human, GlobalArgs, Reading, Ticker};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Read every pack and verify every blob (authentication, decompression, id)
    #[arg(long)]
    read_data: bool,
    /// Read only a subset of packs: `n/m` (slice n of m), `p%` (random share) or a size (`500M`)
    #[arg(long, value_name = "SUBSET", conflicts_with = "read_data")]
    read_data_subset: Option<String>,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let read_data = match (&a.read_data_subset, a.read_data) {
        (Some(s), _) => Some(DataSubset::parse(s)?),
        (None, true) => Some(DataSubset::All),
        (None, false) => None,
    };
    let (repo, _lock) = g.open()?;
    let progress = Arc::new(CheckProgress::default());
    let p = Arc::clone(&progress);
    let ticker = Ticker::meter(g.show_progress() && read_data.is_some(), move || Reading {
        stage: Some("reading packs"),
        bytes: p.bytes_read.load(Ordering::Relaxed),
        bytes_total: None,
        items: p.packs_done.load(Ordering::Relaxed),
        // Zero until the packs to read are chosen.
        items_total: Some(p.packs_total.load(Ordering::Relaxed)).filter(|&t| t > 0),
        unit: "packs",
    });
    let result = check(&repo, &CheckOptions { read_data }, &progress);
    drop(ticker);
    let r = result?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "ok": r.errors.is_empty(), "errors": r.errors, "warnings": r.warnings, "snapshots": r.snapshots,
                "index_files": r.index_files, "packs": r.packs, "blobs": r.blobs, "packs_read": r.packs_read, "bytes_read": r.bytes_read,
            })
        );
    } else {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        for e in &r.errors {
            eprintln!("error: {e}");
        }
        if !g.quiet {
            let data = if read_data.is_some() { format!(", read {} packs ({})", r.packs_read, human(r.bytes_read)) } else { String::new() };
            println!("checked {} snapshots, {} index files, {} packs, {} blobs{data}", r.snapshots, r.index_files, r.packs, r.blobs);
        }
    }
    if r.errors.is_empty() {
        if !g.json && !g.quiet {
            println!("no errors were found");
        }
        Ok(ExitCode::SUCCESS)
    } else {
        Err(anyhow::anyhow!("check found {} error(s) (listed above)", r.errors.len()))
    }
}
