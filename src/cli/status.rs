//! `snap status`: what each job did last, from the state directory (no repository is opened).

use std::process::ExitCode;

use anyhow::Result;

use snap::job::status::{load_all, Outcome};

use super::config::StateArgs;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let state_dir = match &a.state.state_dir {
        Some(d) => d.clone(),
        None => a.state.load()?.1.state_dir,
    };
    let all = load_all(&state_dir);
    if g.json {
        println!("{}", serde_json::to_string(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        println!("no job has run yet (state directory {})", state_dir.display());
    }
    for s in &all {
        let outcome = match s.outcome {
            Outcome::Success => "ok",
            Outcome::Partial => "saved with unreadable files",
            Outcome::Failed => "FAILED",
        };
        println!(
            "{:<16} {:<28} last attempt {}  last success {}  snapshot {}  {:.1}s  runs {}  failures {}",
            s.job,
            outcome,
            s.last_attempt,
            s.last_success.as_deref().unwrap_or("never"),
            s.last_snapshot.as_deref().map_or("-", |id| &id[..8.min(id.len())]),
            s.duration_secs,
            s.runs_total,
            s.failures_total
        );
        if let Some(e) = &s.error {
            println!("{:<16} error: {e}", "");
        }
    }
    Ok(ExitCode::SUCCESS)
}
