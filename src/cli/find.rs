//! `snap find PATTERN...`: which snapshots hold a path matching a glob, newest first, with each
//! match's type, size and modification time.
//!
//! A pattern with a `/` matches the whole absolute path inside the snapshot (`*` stays within a
//! component, `**` crosses); one without matches the entry's name: the rule of
//! `backup --exclude`.
//!
//! `--json` prints an array, newest snapshot first, of the snapshots holding a match:
//! `{id, short_id, time, hostname, paths, tags, matches: [{path, type, size, mode, mtime}]}`
//! (`type` as `ls` names it, `size` 0 but for files, `mode` the permission bits as a number,
//! `mtime` in seconds since the Unix epoch, as `ls --json`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use snap::ops::find::{find, kind_name, FindOptions};

use super::snapshots::FilterArgs;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Globs: with a `/` matched against the whole path, without against the name
    #[arg(value_name = "PATTERN", required = true)]
    patterns: Vec<String>,
    /// Look only in this snapshot (id, prefix or `latest`; repeatable)
    #[arg(long = "snapshot", short = 's', value_name = "ID")]
    snapshots: Vec<String>,
    /// Stop after the N newest snapshots that hold a match
    #[arg(long, value_name = "N")]
    newest: Option<usize>,
    #[command(flatten)]
    filter: FilterArgs,
}

/// `YYYY-MM-DD HH:MM:SS` in the local zone.
fn local(secs: i64) -> String {
    jiff::Timestamp::new(secs, 0).map(|t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (repo, _lock) = g.open()?;
    let opts = FindOptions { patterns: a.patterns.clone(), snapshots: a.snapshots.clone(), filter: a.filter.filter(), newest: a.newest };
    let found = find(&repo, &opts)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if g.json {
        let arr: Vec<serde_json::Value> = found
            .iter()
            .map(|s| {
                let matches: Vec<serde_json::Value> = s
                    .matches
                    .iter()
                    .map(|m| json!({"path": m.path, "type": kind_name(m.kind), "size": m.size, "mode": m.mode, "mtime": m.mtime.secs}))
                    .collect();
                json!({
                    "id": s.id.to_hex(), "short_id": s.id.short(), "time": s.snapshot.time, "hostname": s.snapshot.hostname,
                    "paths": s.snapshot.paths, "tags": s.snapshot.tags, "matches": matches,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(arr))?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut total = 0;
    for s in &found {
        let t = s.snapshot.timestamp().map(|t| local(t.as_second())).unwrap_or_else(|_| s.snapshot.time.clone());
        writeln!(out, "snapshot {} of {} ({}):", s.id.short(), t, s.snapshot.hostname)?;
        for m in &s.matches {
            writeln!(out, "  {:<8} {:04o} {:>12} {} {}", kind_name(m.kind), m.mode, m.size, local(m.mtime.secs), m.path)?;
        }
        total += s.matches.len();
    }
    if !g.quiet {
        writeln!(out, "{total} match(es) in {} snapshot(s)", found.len())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
