//! `snap snapshots`: a table, or a JSON array, of the snapshots passing the filters.

use std::process::ExitCode;

use anyhow::Result;

use snap::ops::select::{filtered, SnapshotFilter};

use super::GlobalArgs;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only snapshots of this host (repeatable)
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Only snapshots with these tags: `a,b` needs both; repeated means either
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only snapshots that include this path (repeatable)
    #[arg(long = "path")]
    pub paths: Vec<String>,
    /// Only snapshots made by this job (`snap run`; repeatable)
    #[arg(long = "job")]
    pub jobs: Vec<String>,
}

impl FilterArgs {
    pub fn filter(&self) -> SnapshotFilter {
        SnapshotFilter { hosts: self.hosts.clone(), tags: self.tags.clone(), paths: self.paths.clone(), jobs: self.jobs.clone() }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    filter: FilterArgs,
}

/// RFC 3339 in the local offset.
fn local_time(t: &str) -> String {
    match t.parse::<jiff::Timestamp>() {
        Ok(ts) => {
            let z = ts.to_zoned(jiff::tz::TimeZone::system());
            z.timestamp().display_with_offset(z.offset()).to_string()
        }
        Err(_) => t.to_string(),
    }
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let repo = g.open_unlocked()?;
    let snaps = filtered(&repo, &a.filter.filter())?;
    if g.json {
        let arr: Vec<serde_json::Value> = snaps
            .iter()
            .map(|(id, s)| {
                serde_json::json!({
                    "id": id.to_hex(),
                    "short_id": id.short(),
                    "time": local_time(&s.time),
                    "hostname": s.hostname,
                    "username": s.username,
                    "paths": s.paths,
                    "tags": s.tags,
                    "tree": s.tree.to_hex(),
                    "parent": s.parent.map(|p| p.to_hex()),
                    "program_version": s.program_version,
                    "summary": s.summary,
                    "job": s.job,
                    "databases": s.databases,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(arr));
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<8}  {:<25}  {:<15}  {:<15}  paths", "id", "time", "host", "tags");
    for (id, s) in &snaps {
        let t = s.time.parse::<jiff::Timestamp>().map(|t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|_| s.time.clone());
        println!("{:<8}  {:<25}  {:<15}  {:<15}  {}", id.short(), t, s.hostname, s.tags.join(","), s.paths.join(" "));
    }
    if !g.quiet {
        println!("{} snapshot(s)", snaps.len());
    }
    Ok(ExitCode::SUCCESS)
}
