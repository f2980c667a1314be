//! `snap diff A B`: the paths that differ between two snapshots (or two directories of them,
//! `A:/etc B:/etc`), one per line with restic's markers, then a summary line.
//!
//! Markers: `+` added, `-` removed, `M` content changed (a file's chunks, a link's target, a
//! device number; metadata may have changed too), `U` metadata only (mode, owner, mtime,
//! extended attributes), `T` type changed. Directories end in `/`. Paths come in tree order:
//! parents before their entries, names in byte order. A database dump is a file like any
//! other (`/databases/postgresql/app.sql`).
//!
//! `--json` prints one object:
//!
//! - `added`, `removed`: `[{path, type, size}]` (`type` as `ls` names it: file, dir, symlink,
//!   chardev, blockdev, fifo, socket; `size` 0 but for files).
//! - `changed`: `[{path, type, old_type, content, metadata, size, old_size}]`: `content` and
//!   `metadata` say what differs; a type change has `old_type` ≠ `type`, `content` true and
//!   `metadata` false (metadata is not compared across kinds).
//! - `summary`: `added`, `files_added`, `dirs_added`, `removed`, `files_removed`,
//!   `dirs_removed`, `content_changed`, `metadata_changed`, `type_changed`, `blobs_added` and
//!   `bytes_added` (data blobs the second snapshot's added and changed files reference that the
//!   first's removed and changed files do not, and their plaintext), `blobs_removed`,
//!   `bytes_removed` (the other way round).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use snap::format::tree::{Node, NodeKind};
use snap::ops::diff::{diff, Change, DiffReport};
use snap::ops::find::kind_name;
use snap::ops::select::{find_snapshot, node_at, split_spec};

use super::snapshots::FilterArgs;
use super::{human, GlobalArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The first snapshot (id, prefix or `latest`), optionally followed by `:/path/inside`
    #[arg(value_name = "A")]
    first: String,
    /// The second snapshot, optionally followed by `:/path/inside`
    #[arg(value_name = "B")]
    second: String,
    #[command(flatten)]
    filter: FilterArgs,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (repo, _lock) = g.open()?;
    let filter = a.filter.filter();
    let side = |spec: &str| -> Result<(Node, String)> {
        let (s, path) = split_spec(spec);
        let (id, snap) = find_snapshot(&repo, s, &filter)?;
        let path = path.unwrap_or("/");
        Ok((node_at(&repo, &id, &snap, path)?, path.to_string()))
    };
    let (old, path) = side(&a.first)?;
    let (new, _) = side(&a.second)?;
    let report = diff(&repo, &old, &new, &path)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if g.json {
        writeln!(out, "{}", to_json(&report))?;
    } else {
        for e in &report.entries {
            let dir = e.new.as_ref().or(e.old.as_ref()).is_some_and(|n| n.kind() == NodeKind::Dir);
            writeln!(out, "{}    {}{}", e.change.marker(), e.path, if dir { "/" } else { "" })?;
        }
        if !g.quiet {
            let s = &report.summary;
            writeln!(
                out,
                "{} added, {} removed, {} changed content, {} changed metadata only, {} changed type; {} added, {} removed",
                s.added,
                s.removed,
                s.content_changed,
                s.metadata_changed,
                s.type_changed,
                human(s.bytes_added),
                human(s.bytes_removed)
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn to_json(r: &DiffReport) -> serde_json::Value {
    let entry = |p: &str, n: Option<&Node>| json!({"path": p, "type": n.map(|n| kind_name(n.kind())), "size": n.map_or(0, |n| n.size)});
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for e in &r.entries {
        match e.change {
            Change::Added => added.push(entry(&e.path, e.new.as_ref())),
            Change::Removed => removed.push(entry(&e.path, e.old.as_ref())),
            Change::Modified { .. } | Change::Type => {
                let (content, metadata) = match e.change {
                    Change::Modified { content, metadata } => (content, metadata),
                    _ => (true, false),
                };
                changed.push(json!({
                    "path": e.path,
                    "type": e.new.as_ref().map(|n| kind_name(n.kind())),
                    "old_type": e.old.as_ref().map(|n| kind_name(n.kind())),
                    "content": content,
                    "metadata": metadata,
                    "size": e.new.as_ref().map_or(0, |n| n.size),
                    "old_size": e.old.as_ref().map_or(0, |n| n.size),
                }));
            }
        }
    }
    json!({"added": added, "removed": removed, "changed": changed, "summary": r.summary})
}
