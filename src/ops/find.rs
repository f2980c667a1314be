//! `find`: which snapshots hold a path matching some globs, newest first. Patterns follow
//! `backup --exclude` (one with a `/` matches the whole path, others the entry's name). A
//! subtree met again at the same path in another snapshot is not read again: its matches are
//! remembered per (tree id, path).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::snapshot::Snapshot;
use crate::format::tree::{Node, NodeKind, Timestamp, MAX_DEPTH};
use crate::format::{BlobId, SnapshotId};
use crate::repo::Repository;

use super::backup::Excludes;
use super::select::{filtered, find_snapshot, SnapshotFilter};

/// What to look for, and where.
#[derive(Debug, Clone, Default)]
pub struct FindOptions {
    /// Globs: with a `/` matched against the whole absolute path (`*` stays within a component,
    /// `**` crosses), without against the entry's name.
    pub patterns: Vec<String>,
    /// Snapshot ids, unique prefixes or `latest`; empty: every snapshot passing `filter`.
    pub snapshots: Vec<String>,
    pub filter: SnapshotFilter,
    /// Stop after this many snapshots holding a match (the newest ones).
    pub newest: Option<usize>,
}

/// One matching entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: String,
    pub kind: NodeKind,
    /// Files only; 0 for other entries.
    pub size: u64,
    pub mode: u32,
    pub mtime: Timestamp,
}

/// The matches of one snapshot, in tree order (parents first, names in byte order).
#[derive(Debug, Clone)]
pub struct SnapshotMatches {
    pub id: SnapshotId,
    pub snapshot: Snapshot,
    pub matches: Vec<Found>,
}

/// The name `ls` and `find` give each kind of entry (`file`, `dir`, `symlink`, `chardev`,
/// `blockdev`, `fifo`, `socket`).
#[must_use]
pub fn kind_name(k: NodeKind) -> &'static str {
    match k {
        NodeKind::File => "file",
        NodeKind::Dir => "dir",
        NodeKind::Symlink => "symlink",
        NodeKind::CharDevice => "chardev",
        NodeKind::BlockDevice => "blockdev",
        NodeKind::Fifo => "fifo",
        NodeKind::Socket => "socket",
    }
}

/// Looks for the patterns in the selected snapshots, newest first; snapshots without a match
/// are left out.
///
/// # Errors
/// No pattern, a bad pattern, a snapshot that cannot be resolved, a tree that cannot be read.
pub fn find(repo: &Repository, opts: &FindOptions) -> Result<Vec<SnapshotMatches>> {
    if opts.patterns.is_empty() {
        return Err(Error::Usage("find needs at least one pattern".to_string()));
    }
    // The rule of `backup --exclude`, whose messages say "exclude": here it is a pattern.
    let matcher = Excludes::new(&opts.patterns, &[]).map_err(|e| match e {
        Error::Usage(m) => Error::Usage(m.replacen("bad exclude pattern", "bad pattern", 1)),
        other => other,
    })?;
    let mut snaps: Vec<(SnapshotId, Snapshot)> = if opts.snapshots.is_empty() {
        filtered(repo, &opts.filter)?
    } else {
        let mut v: Vec<(SnapshotId, Snapshot)> = Vec::new();
        for spec in &opts.snapshots {
            let found = find_snapshot(repo, spec, &opts.filter)?;
            if !v.iter().any(|(id, _)| *id == found.0) {
                v.push(found);
            }
        }
        v
    };
    // Newest first: by time, then id, as `snapshots` orders them (reversed).
    snaps.sort_by(|a, b| b.1.timestamp().ok().cmp(&a.1.timestamp().ok()).then(b.0.cmp(&a.0)));
    let mut memo = Memo::default();
    let mut out = Vec::new();
    for (id, snapshot) in snaps {
        if opts.newest.is_some_and(|n| out.len() >= n) {
            break;
        }
        let key = (snapshot.tree, String::new());
        memo.scan(repo, &matcher, &key)?;
        let matches = memo.collect(&key);
        if !matches.is_empty() {
            out.push(SnapshotMatches { id, snapshot, matches });
        }
    }
    Ok(out)
}

/// A tree reached at a path: the same tree at another path may match other path patterns.
type Key = (BlobId, String);

/// What a (tree, path) holds that matches, in tree order.
enum Item {
    Found(Found),
    /// A subtree with at least one match below it.
    Below(Key),
}

/// Matches remembered per (tree, path), so that a subtree shared by many snapshots is read
/// once; one with no match below it keeps an empty list.
#[derive(Default)]
struct Memo {
    seen: HashMap<Key, Vec<Item>>,
}

/// A tree being scanned: its key, its entries not yet looked at, its matches so far.
struct Frame {
    key: Key,
    nodes: std::vec::IntoIter<Node>,
    items: Vec<Item>,
}

impl Memo {
    /// Scans the tree `root` (and what lies below it) unless it was scanned before. Keeps its
    /// own stack, so a deep tree costs heap, not the thread's stack.
    fn scan(&mut self, repo: &Repository, matcher: &Excludes, root: &Key) -> Result<()> {
        if self.seen.contains_key(root) {
            return Ok(());
        }
        let mut stack = vec![Frame { key: root.clone(), nodes: repo.load_tree(&root.0)?.nodes.into_iter(), items: Vec::new() }];
        while let Some(top) = stack.last_mut() {
            let Some(n) = top.nodes.next() else {
                // Done: remember it, and tell the parent when something below matched.
                let Some(done) = stack.pop() else { break };
                let any = !done.items.is_empty();
                self.seen.insert(done.key.clone(), done.items);
                if any && let Some(parent) = stack.last_mut() {
                    parent.items.push(Item::Below(done.key));
                }
                continue;
            };
            let path = format!("{}/{}", top.key.1, n.name_lossy());
            if matcher.excluded(Path::new(&path)) {
                top.items.push(Item::Found(Found { path: path.clone(), kind: n.kind(), size: n.size, mode: n.mode, mtime: n.mtime }));
            }
            let Some(sub) = n.subtree.filter(|_| n.kind() == NodeKind::Dir) else { continue };
            let key = (sub, path);
            match self.seen.get(&key) {
                Some(items) => {
                    if !items.is_empty() {
                        top.items.push(Item::Below(key));
                    }
                }
                None => {
                    if stack.len() > MAX_DEPTH {
                        return Err(Error::corrupt("tree", sub, format!("{} is nested deeper than {MAX_DEPTH} levels", key.1)));
                    }
                    let nodes = repo.load_tree(&sub)?.nodes.into_iter();
                    stack.push(Frame { key, nodes, items: Vec::new() });
                }
            }
        }
        Ok(())
    }

    /// The matches under a scanned key, in tree order.
    fn collect(&self, root: &Key) -> Vec<Found> {
        let mut out = Vec::new();
        let mut stack: Vec<std::slice::Iter<'_, Item>> = self.seen.get(root).map(|v| v.iter()).into_iter().collect();
        while let Some(top) = stack.last_mut() {
            match top.next() {
                None => {
                    stack.pop();
                }
                Some(Item::Found(f)) => out.push(f.clone()),
                Some(Item::Below(k)) => stack.extend(self.seen.get(k).map(|v| v.iter())),
            }
        }
        out
    }
}
