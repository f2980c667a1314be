//! `snap ls <snapshot>[:path]`: one line per entry (or `--long`, or a JSON array).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use snap::format::tree::{Node, NodeKind};
use snap::ops::find::kind_name;
use snap::ops::ls::ls;
use snap::ops::select::{find_snapshot, split_spec};

use super::snapshots::FilterArgs;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshot id, prefix or `latest`, optionally followed by `:/path/inside`
    snapshot: String,
    /// Show mode, owner, size and modification time
    #[arg(short, long)]
    long: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

fn mtime(n: &Node) -> String {
    jiff::Timestamp::new(n.mtime.secs, 0).map(|t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (repo, _lock) = g.open()?;
    let (spec, path) = split_spec(&a.snapshot);
    let (id, snap) = find_snapshot(&repo, spec, &a.filter.filter())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut json = Vec::new();
    ls(&repo, &id, &snap, path.unwrap_or("/"), &mut |p, n| {
        if g.json {
            json.push(serde_json::json!({
                "path": p, "type": kind_name(n.kind()), "mode": n.mode, "uid": n.uid, "gid": n.gid,
                "user": n.user, "group": n.group, "size": n.size, "mtime": n.mtime.secs,
                "link_target": (n.kind() == NodeKind::Symlink).then(|| String::from_utf8_lossy(&n.link_target).into_owned()),
            }));
            return Ok(());
        }
        let line = if a.long {
            let target = if n.kind() == NodeKind::Symlink { format!(" -> {}", String::from_utf8_lossy(&n.link_target)) } else { String::new() };
            format!("{:<8} {:04o} {:>8} {:>8} {:>12} {} {p}{target}", kind_name(n.kind()), n.mode, n.user, n.group, n.size, mtime(n))
        } else {
            p.to_string()
        };
        writeln!(out, "{line}").map_err(|e| snap::Error::Io { path: "<stdout>".into(), source: e })
    })?;
    if g.json {
        writeln!(out, "{}", serde_json::Value::Array(json))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
