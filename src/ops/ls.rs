//! `ls`: walks a snapshot (or one path inside it) depth-first and hands each entry to a callback.

use crate::error::{Error, Result};
use crate::format::tree::{Node, NodeKind, MAX_DEPTH};
use crate::format::SnapshotId;
use crate::format::snapshot::Snapshot;
use crate::repo::Repository;

use super::select::node_at;

/// Calls `visit(path, node)` for every entry at or below `path` in the snapshot, parents first,
/// names in byte order. The starting directory itself is not visited; a starting file is.
///
/// # Errors
/// Path not found, or the errors of loading trees.
pub fn ls(repo: &Repository, id: &SnapshotId, snap: &Snapshot, path: &str, visit: &mut dyn FnMut(&str, &Node) -> Result<()>) -> Result<()> {
    let start = node_at(repo, id, snap, path)?;
    let base = format!("/{}", path.trim_matches('/'));
    if start.kind() != NodeKind::Dir {
        return visit(&base, &start);
    }
    walk(repo, &start, if base == "/" { "" } else { &base }, 0, visit)
}

fn walk(repo: &Repository, dir: &Node, prefix: &str, depth: usize, visit: &mut dyn FnMut(&str, &Node) -> Result<()>) -> Result<()> {
    let Some(sub) = dir.subtree else { return Ok(()) };
    if depth >= MAX_DEPTH {
        return Err(Error::corrupt("tree", sub, format!("{prefix} is nested deeper than {MAX_DEPTH} levels")));
    }
    let tree = repo.load_tree(&sub)?;
    for n in &tree.nodes {
        let p = format!("{prefix}/{}", n.name_lossy());
        visit(&p, n)?;
        if n.kind() == NodeKind::Dir {
            walk(repo, n, &p, depth + 1, visit)?;
        }
    }
    Ok(())
}
