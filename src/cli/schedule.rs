//! `snap schedule [--count N]`: when each job of the config file runs next, in the job's zone.

use std::process::ExitCode;

use anyhow::Result;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use snap::job::JobSpec;

use super::config::ConfigArg;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// How many runs to show per job
    #[arg(long, value_name = "N", default_value_t = 3)]
    count: usize,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (_, config) = a.config.load()?;
    let now = Timestamp::now();
    if g.json {
        let jobs: Vec<serde_json::Value> = config
            .jobs
            .values()
            .map(|j| {
                serde_json::json!({
                    "job": j.name, "schedule": j.schedule, "timezone": j.timezone, "zone": j.zone.iana_name(),
                    "next_runs": j.next_runs(now, a.count).into_iter().map(|t| json_time(t, &j.zone)).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(jobs));
        return Ok(ExitCode::SUCCESS);
    }
    if g.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    for j in config.jobs.values() {
        let Some(s) = &j.schedule else {
            println!("{}: no schedule, runs only when started by hand", j.name);
            continue;
        };
        println!("{}: {s} ({})", j.name, zone_name(j));
        let runs = j.next_runs(now, a.count);
        if runs.is_empty() {
            println!("  no more runs: the expression matches no later time");
        }
        for t in runs {
            println!("  {}", human_time(t, &j.zone));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The zone a job's schedule is read in: its `timezone`, or the system's by name.
pub(super) fn zone_name(j: &JobSpec) -> String {
    match &j.timezone {
        Some(tz) => tz.clone(),
        None => format!("system: {}", j.zone.iana_name().unwrap_or("unnamed zone")),
    }
}

/// `2026-12-03T02:30:00+01:00`: RFC 3339 with the offset the job's zone has then.
pub(super) fn json_time(t: Timestamp, zone: &TimeZone) -> String {
    t.display_with_offset(zone.to_offset(t)).to_string()
}

/// `Thu 2026-12-03 02:30:00 +01:00`.
pub(super) fn human_time(t: Timestamp, zone: &TimeZone) -> String {
    t.to_zoned(zone.clone()).strftime("%a %Y-%m-%d %H:%M:%S %:z").to_string()
}
