//! `snap copy --to DEST [SNAPSHOT...]`: send snapshots of this repository to another one made with
//! `snap init --from` it, the off-site leg of a backup.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Result;

use snap::ops::copy::{copy, CopyOptions, CopyProgress};
use snap::repo::lock::LockKind;

use super::snapshots::FilterArgs;
use super::{human, GlobalArgs, OtherRepo, Reading, Ticker};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The repository to copy into (made with `snap init --from` this one)
    #[arg(long, value_name = "LOCATION")]
    to: String,
    /// Read the destination's password from this file (first line)
    #[arg(long, value_name = "FILE", conflicts_with = "to_password_command")]
    to_password_file: Option<PathBuf>,
    /// Run this shell command and use its first output line as the destination's password
    #[arg(long, value_name = "COMMAND")]
    to_password_command: Option<String>,
    /// Root of the destination's local cache (default: the same as this repository's)
    #[arg(long, value_name = "DIR")]
    to_cache_dir: Option<PathBuf>,
    /// Snapshots to copy: ids, prefixes or `latest` (default: every snapshot passing the filters)
    snapshots: Vec<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Read and verify what would be sent, but write nothing
    #[arg(long, short = 'n')]
    dry_run: bool,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (src, _src_lock) = g.open()?;
    let to = OtherRepo {
        role: "destination",
        flag: "to",
        location: &a.to,
        password_file: a.to_password_file.as_deref(),
        password_command: a.to_password_command.as_deref(),
        cache_dir: a.to_cache_dir.as_deref(),
    };
    let (dst, dst_lock) = to.open_locked(g, LockKind::Shared)?;
    let opts = CopyOptions { snapshots: a.snapshots.clone(), filter: a.filter.filter(), dry_run: a.dry_run };
    let progress = Arc::new(CopyProgress::default());
    let p = Arc::clone(&progress);
    // How much a copy sends is known only at its end (it walks the trees as it goes): no ETA.
    let ticker = Ticker::meter(g.show_progress(), move || Reading {
        stage: Some("sending"),
        bytes: p.bytes_sent.load(Ordering::Relaxed),
        items: p.blobs_sent.load(Ordering::Relaxed),
        unit: "blobs",
        ..Reading::default()
    });
    let result = copy(&src, &dst, &opts, &dst_lock, &progress);
    drop(ticker);
    let r = result?;
    if g.json {
        let copied: Vec<serde_json::Value> =
            r.copied.iter().map(|(from, to)| serde_json::json!({ "source": from.to_hex(), "id": to.map(|i| i.to_hex()) })).collect();
        let present: Vec<String> = r.present.iter().map(|i| i.to_hex()).collect();
        println!(
            "{}",
            serde_json::json!({
                "dry_run": a.dry_run,
                "copied": copied,
                "present": present,
                "snapshots_copied": r.copied.len(),
                "snapshots_present": r.present.len(),
                "blobs_added": r.blobs_added,
                "bytes_added": r.bytes_added,
                "bytes_stored": r.bytes_stored,
                "dictionaries_added": r.dicts_added,
                "deltas_added": r.deltas_added,
                "packs_adopted": r.packs_adopted,
            })
        );
    } else if !g.quiet {
        for (from, to) in &r.copied {
            match to {
                Some(to) => println!("snapshot {} copied as {}", from.short(), to.short()),
                None => println!("snapshot {} would be copied", from.short()),
            }
        }
        for id in &r.present {
            println!("snapshot {} is already in {}", id.short(), a.to);
        }
        let verb = if a.dry_run { "would add" } else { "added" };
        println!(
            "{} snapshot(s) {}, {} already there; {verb} {} blobs, {} ({} stored)",
            r.copied.len(),
            if a.dry_run { "to copy" } else { "copied" },
            r.present.len(),
            r.blobs_added,
            human(r.bytes_added),
            human(r.bytes_stored)
        );
    }
    Ok(ExitCode::SUCCESS)
}
