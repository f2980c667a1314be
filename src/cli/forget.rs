//! `snap forget`: remove snapshots by a retention policy (or by id), per group, printing what is
//! kept and why; `--prune` then frees the data.
//!
//! `--json` output is one document: `{"groups": [{"group", "keep": [{"id", "time", "reasons"}],
//! "remove": [{"id", "time"}]}], "unreadable_removed": [id], "removed", "kept", "dry_run",
//! "prune"}`, where `prune` is prune's own report (as `snap prune --json` prints it) when
//! `--prune` ran, and null when it did not (no `--prune`, or nothing was removed).

use std::process::ExitCode;

use anyhow::Result;

use snap::ops::forget::{forget, ForgetGroup, ForgetOptions, ForgetReport, GroupBy, KeepPolicy, KeepWithin};
use snap::ops::prune::{PruneOptions, PruneReport};
use snap::repo::lock::LockKind;

use super::snapshots::FilterArgs;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshots to remove outright, no policy applied (ids or unique prefixes of ≥ 4 hex digits)
    #[arg(value_name = "ID")]
    ids: Vec<String>,
    /// Keep the N newest snapshots
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    keep_last: u32,
    /// Keep the newest snapshot of each of the N newest hours that have one
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    keep_hourly: u32,
    /// Keep the newest snapshot of each of the N newest days that have one
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    keep_daily: u32,
    /// Keep the newest snapshot of each of the N newest ISO weeks that have one
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    keep_weekly: u32,
    /// Keep the newest snapshot of each of the N newest months that have one
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    keep_monthly: u32,
    /// Keep the newest snapshot of each of the N newest years that have one
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    keep_yearly: u32,
    /// Keep snapshots this close to the group's newest one, e.g. 30d, 2w, 1y6m, 12h
    #[arg(long, value_name = "DURATION")]
    keep_within: Option<String>,
    /// Keep snapshots with this tag; `a,b` needs both (repeatable)
    #[arg(long = "keep-tag", value_name = "TAG")]
    keep_tags: Vec<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Apply the policy separately per group of these fields: a comma list of host, paths, tags
    /// ("" = one group)
    #[arg(long, value_name = "FIELDS", default_value = "host,paths")]
    group_by: String,
    /// Only list what would be kept and removed
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Run prune afterwards if snapshots were removed
    #[arg(long)]
    prune: bool,
}

impl Args {
    fn options(&self) -> Result<ForgetOptions> {
        Ok(ForgetOptions {
            ids: self.ids.clone(),
            filter: self.filter.filter(),
            policy: KeepPolicy {
                last: self.keep_last,
                hourly: self.keep_hourly,
                daily: self.keep_daily,
                weekly: self.keep_weekly,
                monthly: self.keep_monthly,
                yearly: self.keep_yearly,
                within: self.keep_within.as_deref().map(KeepWithin::parse).transpose()?,
                tags: self.keep_tags.clone(),
            },
            group_by: GroupBy::parse(&self.group_by)?,
            dry_run: self.dry_run,
            tz: jiff::tz::TimeZone::system(),
        })
    }
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let opts = a.options()?;
    opts.validate()?;
    // TODO(locks): switch to `g.open_exclusive()` once it exists; a plain dry run only reads.
    let kind = if a.dry_run && !a.prune { LockKind::Shared } else { LockKind::Exclusive };
    let (repo, lock) = g.open_locked(kind)?;
    let report = forget(&repo, &opts, &lock)?;
    let prune_opts = (a.prune && report.removed() > 0).then(|| PruneOptions { dry_run: a.dry_run, ..PruneOptions::default() });
    if g.json {
        // One document: prune's report goes inside forget's, so it is printed once both ran.
        let pruned = prune_opts.map(|o| super::prune::prune_with_meter(g, &repo, &o, &lock)).transpose()?;
        println!("{}", json_report(&report, pruned.as_ref()));
        return Ok(ExitCode::SUCCESS);
    }
    print_report(g, &report);
    if let Some(o) = prune_opts {
        super::prune::prune_and_print(g, &repo, &o, &lock)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn json_report(r: &ForgetReport, pruned: Option<&PruneReport>) -> serde_json::Value {
    serde_json::json!({
        "groups": r.groups,
        "unreadable_removed": r.unreadable_removed,
        "removed": r.removed(),
        "kept": r.kept(),
        "dry_run": r.dry_run,
        "prune": pruned,
    })
}

fn print_report(g: &GlobalArgs, r: &ForgetReport) {
    if g.quiet {
        return;
    }
    for group in &r.groups {
        print_group(group, r.dry_run);
    }
    for id in &r.unreadable_removed {
        println!("{} unreadable snapshot {}", if r.dry_run { "would remove" } else { "removed" }, id.short());
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    println!("{verb} {} snapshot(s), kept {}", r.removed(), r.kept());
}

fn print_group(group: &ForgetGroup, dry_run: bool) {
    let mut what = Vec::new();
    if let Some(h) = &group.group.hostname {
        what.push(format!("host {h}"));
    }
    if let Some(p) = &group.group.paths {
        what.push(format!("paths {}", p.join(" ")));
    }
    if let Some(t) = &group.group.tags {
        what.push(format!("tags {}", if t.is_empty() { "(none)".to_string() } else { t.join(",") }));
    }
    println!("{}:", if what.is_empty() { "all snapshots".to_string() } else { what.join(", ") });
    if !group.keep.is_empty() {
        println!("  keep {}:", group.keep.len());
        for k in &group.keep {
            println!("    {}  {}  {}", k.id.short(), local_time(&k.time), k.reasons.join(", "));
        }
    }
    if !group.remove.is_empty() {
        println!("  {} {}:", if dry_run { "would remove" } else { "remove" }, group.remove.len());
        for r in &group.remove {
            println!("    {}  {}", r.id.short(), local_time(&r.time));
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` in the local zone, as `snapshots` prints it.
fn local_time(t: &str) -> String {
    t.parse::<jiff::Timestamp>()
        .map(|ts| ts.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| t.to_string())
}
