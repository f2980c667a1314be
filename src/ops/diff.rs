//! `diff`: what changed between two snapshots (or two directories of them), path by path: added,
//! removed, content changed, metadata changed, type changed, and how much data came and went.
//! Both trees are walked together, and a subtree with the same id on both sides is skipped
//! without being read: it is identical by construction.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::format::tree::{Node, NodeKind, MAX_DEPTH};
use crate::format::BlobId;
use crate::repo::Repository;

/// How one path differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Only in the second snapshot (`+`).
    Added,
    /// Only in the first (`-`).
    Removed,
    /// The same kind of entry on both sides, and something differs (`M` when `content`, else
    /// `U`).
    Modified {
        /// A file's chunk list, a link's target or a device number differs.
        content: bool,
        /// Mode, owner (ids or names), modification time or extended attributes differ (for a
        /// directory, its modification time is not compared: it changes whenever its entries
        /// do, and those are listed themselves). Change time, inode, device and link count are
        /// not compared: a restore cannot set them.
        metadata: bool,
    },
    /// A different kind of entry (a file that became a link, ...) (`T`).
    Type,
}

impl Change {
    /// The marker `snap diff` prints (restic's).
    #[must_use]
    pub fn marker(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Modified { content: true, .. } => 'M',
            Change::Modified { .. } => 'U',
            Change::Type => 'T',
        }
    }
}

/// One changed path, with the entry on each side that has it.
#[derive(Debug, Clone)]
pub struct DiffEntry {
    /// Absolute inside the snapshot (relative to the directories compared).
    pub path: String,
    pub change: Change,
    pub old: Option<Node>,
    pub new: Option<Node>,
}

/// Counts over the whole diff.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiffSummary {
    /// Entries only in the second snapshot, of which files and directories.
    pub added: u64,
    pub files_added: u64,
    pub dirs_added: u64,
    /// Entries only in the first snapshot, of which files and directories.
    pub removed: u64,
    pub files_removed: u64,
    pub dirs_removed: u64,
    /// Entries whose content changed (with or without metadata).
    pub content_changed: u64,
    /// Entries whose metadata alone changed.
    pub metadata_changed: u64,
    /// Entries whose kind changed.
    pub type_changed: u64,
    /// Data blobs the second side's added and changed files reference that the first side's
    /// removed and changed files do not, and their plaintext bytes.
    pub blobs_added: u64,
    pub bytes_added: u64,
    /// The other way round.
    pub blobs_removed: u64,
    pub bytes_removed: u64,
}

/// What `diff` found: every changed path in tree order (parents before their entries, names in
/// byte order), and the counts.
#[derive(Debug, Clone, Default)]
pub struct DiffReport {
    pub entries: Vec<DiffEntry>,
    pub summary: DiffSummary,
}

/// Compares `old` with `new`: two nodes (usually the root directories of two snapshots, see
/// [`super::select::node_at`]). The compared nodes themselves are reported only when they are
/// not both directories; `path` is where they are (`/` for snapshot roots).
///
/// Blob counts: a blob shared by a changed file and by a subtree identical on both sides (and
/// so skipped) counts as added or removed although both snapshots have it; the skipped
/// subtrees are never read.
///
/// # Errors
/// A tree or chunk list that cannot be read; a tree nested deeper than [`MAX_DEPTH`].
pub fn diff(repo: &Repository, old: &Node, new: &Node, path: &str) -> Result<DiffReport> {
    let mut report = DiffReport::default();
    let mut old_blobs: HashSet<BlobId> = HashSet::new();
    let mut new_blobs: HashSet<BlobId> = HashSet::new();
    let base = path.trim_end_matches('/').to_string();
    let mut stack: Vec<(String, Option<Node>, Option<Node>, usize)> = Vec::new();
    if old.kind() == NodeKind::Dir && new.kind() == NodeKind::Dir {
        stack.extend(pairs(repo, Some(old), Some(new), &base, 0)?.into_iter().rev());
    } else {
        stack.push((if base.is_empty() { "/".to_string() } else { base }, Some(old.clone()), Some(new.clone()), 0));
    }
    while let Some((p, a, b, depth)) = stack.pop() {
        let change = match (&a, &b) {
            (Some(a), Some(b)) => compare(a, b),
            (Some(_), None) => Some(Change::Removed),
            (None, Some(_)) => Some(Change::Added),
            (None, None) => None,
        };
        if let Some(change) = change {
            count(&mut report.summary, change, a.as_ref(), b.as_ref());
            let content = matches!(change, Change::Added | Change::Removed | Change::Type | Change::Modified { content: true, .. });
            if content {
                if let Some(n) = a.as_ref().filter(|n| n.kind() == NodeKind::File) {
                    old_blobs.extend(repo.file_chunks(n)?);
                }
                if let Some(n) = b.as_ref().filter(|n| n.kind() == NodeKind::File) {
                    new_blobs.extend(repo.file_chunks(n)?);
                }
            }
            report.entries.push(DiffEntry { path: p.clone(), change, old: a.clone(), new: b.clone() });
        }
        let (da, db) = (as_dir(a.as_ref()), as_dir(b.as_ref()));
        if da.is_none() && db.is_none() {
            continue;
        }
        if let (Some(x), Some(y)) = (da, db)
            && x.subtree == y.subtree
        {
            continue;
        }
        if depth >= MAX_DEPTH {
            let sub = da.or(db).and_then(|n| n.subtree).unwrap_or_default();
            return Err(Error::corrupt("tree", sub, format!("{p} is nested deeper than {MAX_DEPTH} levels")));
        }
        stack.extend(pairs(repo, da, db, &p, depth + 1)?.into_iter().rev());
    }
    let index = repo.index();
    for b in new_blobs.difference(&old_blobs) {
        report.summary.blobs_added += 1;
        report.summary.bytes_added += index.get(b)?.map_or(0, |l| u64::from(l.raw_length));
    }
    for b in old_blobs.difference(&new_blobs) {
        report.summary.blobs_removed += 1;
        report.summary.bytes_removed += index.get(b)?.map_or(0, |l| u64::from(l.raw_length));
    }
    Ok(report)
}

/// The entries of directories `a` and `b` (either may be absent), matched by name, in name order.
fn pairs(repo: &Repository, a: Option<&Node>, b: Option<&Node>, prefix: &str, depth: usize) -> Result<Vec<(String, Option<Node>, Option<Node>, usize)>> {
    let load = |n: Option<&Node>| -> Result<Vec<Node>> {
        match n.and_then(|n| n.subtree) {
            Some(id) => Ok(repo.load_tree(&id)?.nodes),
            None => Ok(Vec::new()),
        }
    };
    let (mut xs, mut ys) = (load(a)?.into_iter().peekable(), load(b)?.into_iter().peekable());
    let mut out = Vec::new();
    loop {
        let order = match (xs.peek(), ys.peek()) {
            (Some(x), Some(y)) => x.name.cmp(&y.name),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => break,
        };
        let (x, y) = match order {
            std::cmp::Ordering::Less => (xs.next(), None),
            std::cmp::Ordering::Greater => (None, ys.next()),
            std::cmp::Ordering::Equal => (xs.next(), ys.next()),
        };
        let name = x.as_ref().or(y.as_ref()).map(|n| n.name_lossy().into_owned()).unwrap_or_default();
        out.push((format!("{prefix}/{name}"), x, y, depth));
    }
    Ok(out)
}

fn as_dir(n: Option<&Node>) -> Option<&Node> {
    n.filter(|n| n.kind() == NodeKind::Dir)
}

/// How `b` differs from `a`, if it does.
fn compare(a: &Node, b: &Node) -> Option<Change> {
    if a.kind() != b.kind() {
        return Some(Change::Type);
    }
    let content = match a.kind() {
        NodeKind::File => a.content != b.content || a.size != b.size,
        NodeKind::Symlink => a.link_target != b.link_target,
        NodeKind::CharDevice | NodeKind::BlockDevice => a.rdev != b.rdev,
        NodeKind::Dir | NodeKind::Fifo | NodeKind::Socket => false,
    };
    let metadata = a.mode != b.mode
        || a.uid != b.uid
        || a.gid != b.gid
        || a.user != b.user
        || a.group != b.group
        || a.xattrs != b.xattrs
        || (a.kind() != NodeKind::Dir && a.mtime != b.mtime);
    (content || metadata).then_some(Change::Modified { content, metadata })
}

fn count(s: &mut DiffSummary, change: Change, a: Option<&Node>, b: Option<&Node>) {
    let is = |n: Option<&Node>, k: NodeKind| u64::from(n.is_some_and(|n| n.kind() == k));
    match change {
        Change::Added => {
            s.added += 1;
            s.files_added += is(b, NodeKind::File);
            s.dirs_added += is(b, NodeKind::Dir);
        }
        Change::Removed => {
            s.removed += 1;
            s.files_removed += is(a, NodeKind::File);
            s.dirs_removed += is(a, NodeKind::Dir);
        }
        Change::Modified { content: true, .. } => s.content_changed += 1,
        Change::Modified { .. } => s.metadata_changed += 1,
        Change::Type => s.type_changed += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tree::{Content, Timestamp};

    fn file(name: &str, chunk: u8) -> Node {
        Node { name: name.as_bytes().to_vec(), kind: Some(NodeKind::File), mode: 0o644, size: 10, content: Content::Chunks(vec![BlobId([chunk; 32])]), ..Node::default() }
    }

    #[test]
    fn compare_tells_content_from_metadata_and_type() {
        let a = file("f", 1);
        assert_eq!(compare(&a, &a.clone()), None);
        assert_eq!(compare(&a, &file("f", 2)), Some(Change::Modified { content: true, metadata: false }));
        let chmod = Node { mode: 0o600, ..a.clone() };
        assert_eq!(compare(&a, &chmod), Some(Change::Modified { content: false, metadata: true }));
        let touched = Node { mtime: Timestamp { secs: 5, nanos: 0 }, ctime: Timestamp { secs: 9, nanos: 0 }, ..a.clone() };
        assert_eq!(compare(&a, &touched), Some(Change::Modified { content: false, metadata: true }));
        let relinked = Node { ctime: Timestamp { secs: 9, nanos: 0 }, inode: 7, nlink: 2, ..a.clone() };
        assert_eq!(compare(&a, &relinked), None, "ctime, inode and link count are not metadata a restore sets");
        let link = Node { kind: Some(NodeKind::Symlink), content: Content::Empty, link_target: b"x".to_vec(), ..a.clone() };
        assert_eq!(compare(&a, &link), Some(Change::Type));
        let dir = |secs| Node { kind: Some(NodeKind::Dir), mtime: Timestamp { secs, nanos: 0 }, subtree: Some(BlobId([secs as u8; 32])), ..Node::default() };
        assert_eq!(compare(&dir(1), &dir(2)), None, "a directory's mtime follows its entries");
        assert_eq!(Change::Modified { content: true, metadata: true }.marker(), 'M');
        assert_eq!(Change::Modified { content: false, metadata: true }.marker(), 'U');
    }
}
