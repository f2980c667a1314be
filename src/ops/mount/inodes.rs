//! The mount's inode numbers. The directories and links of the layout are numbered by path from
//! 1 (the mount's root) up, and keep their numbers when the layout is built again. A snapshot's
//! own entries are numbered on first lookup by a hash of their directory's number and their
//! name, so a listing reports the number a later lookup gives without remembering anything, and
//! they are forgotten again when the kernel forgets them: memory follows what the kernel holds,
//! not what was ever visited.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::SystemTime;

use super::layout::{Dir, Item};
use crate::format::tree::Node;
use crate::format::BlobId;

/// The mount's root.
pub(super) const ROOT: u64 = 1;
/// Numbers of snapshot entries have this bit set; layout numbers never do.
const CONTENT: u64 = 1 << 63;

/// What an inode is.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    /// A directory of the layout (`/`, `ids`, `hosts/web1`), its entries sorted by name.
    Dir { entries: Vec<(Vec<u8>, u64)>, mtime: SystemTime },
    /// A link of the layout (`snapshots/latest`).
    Link { target: Vec<u8>, mtime: SystemTime },
    /// A snapshot's root directory (`ids/1a2b3c4d`).
    Root { tree: BlobId, mtime: SystemTime },
    /// An entry inside a snapshot.
    Node(Arc<Node>),
}

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub parent: u64,
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Lookups the kernel has not forgotten (snapshot entries only; the layout stays).
    lookups: u64,
}

#[derive(Debug, Default)]
pub(super) struct Table {
    entries: HashMap<u64, Entry>,
    /// Layout paths (`hosts/web1`) and their numbers, kept across layouts.
    layout: HashMap<Vec<u8>, u64>,
    /// Snapshot entries by directory and name.
    content: HashMap<(u64, Vec<u8>), u64>,
}

impl Table {
    /// A table showing `root`.
    pub(super) fn new(root: &Dir) -> Self {
        let mut t = Self::default();
        t.set_layout(root);
        t
    }

    pub(super) fn get(&self, ino: u64) -> Option<&Entry> {
        self.entries.get(&ino)
    }

    /// Shows `root` from now on. A path of an earlier layout keeps its number; one that is no
    /// longer there stays reachable by number (the kernel may still hold it) but is listed nowhere.
    pub(super) fn set_layout(&mut self, root: &Dir) {
        self.put_dir(Vec::new(), ROOT, root);
    }

    fn layout_ino(&mut self, path: &[u8]) -> u64 {
        if path.is_empty() {
            return ROOT;
        }
        let next = self.layout.len() as u64 + ROOT + 1;
        *self.layout.entry(path.to_vec()).or_insert(next)
    }

    fn put_dir(&mut self, path: Vec<u8>, parent: u64, dir: &Dir) -> u64 {
        let ino = self.layout_ino(&path);
        let mut entries = Vec::with_capacity(dir.entries.len());
        for (name, item) in &dir.entries {
            let mut sub = path.clone();
            if !sub.is_empty() {
                sub.push(b'/');
            }
            sub.extend_from_slice(name);
            let child = match item {
                Item::Dir(d) => self.put_dir(sub, ino, d),
                Item::Link { target, mtime } => self.put(&sub, ino, name, Kind::Link { target: target.clone(), mtime: *mtime }),
                Item::Snapshot { tree, mtime } => self.put(&sub, ino, name, Kind::Root { tree: *tree, mtime: *mtime }),
            };
            entries.push((name.clone(), child));
        }
        let name = path.rsplit(|b| *b == b'/').next().unwrap_or_default().to_vec();
        let mtime = dir.mtime.unwrap_or(SystemTime::UNIX_EPOCH);
        self.entries.insert(ino, Entry { parent: if ino == ROOT { ROOT } else { parent }, name, kind: Kind::Dir { entries, mtime }, lookups: 0 });
        ino
    }

    fn put(&mut self, path: &[u8], parent: u64, name: &[u8], kind: Kind) -> u64 {
        let ino = self.layout_ino(path);
        self.entries.insert(ino, Entry { parent, name: name.to_vec(), kind, lookups: 0 });
        ino
    }

    /// The number snapshot entry `name` of directory `parent` has, or would get now.
    pub(super) fn ino_for(&self, parent: u64, name: &[u8]) -> u64 {
        if let Some(ino) = self.content.get(&(parent, name.to_vec())) {
            return *ino;
        }
        let mut h = DefaultHasher::new();
        (parent, name).hash(&mut h);
        // Past a number taken by another entry (a collision of 63-bit hashes) to the next free one.
        let mut ino = h.finish() | CONTENT;
        while self.entries.contains_key(&ino) {
            ino = ino.wrapping_add(1) | CONTENT;
        }
        ino
    }

    /// Records one kernel lookup of snapshot entry `node` in directory `parent`; its number.
    pub(super) fn remember(&mut self, parent: u64, node: Arc<Node>) -> u64 {
        let ino = self.ino_for(parent, &node.name);
        let e = self.entries.entry(ino).or_insert_with(|| Entry { parent, name: node.name.clone(), kind: Kind::Node(Arc::clone(&node)), lookups: 0 });
        e.lookups += 1;
        self.content.insert((parent, node.name.clone()), ino);
        ino
    }

    /// The kernel forgot `n` lookups of `ino`; a snapshot entry with none left is dropped.
    pub(super) fn forget(&mut self, ino: u64, n: u64) {
        let Some(e) = self.entries.get_mut(&ino) else { return };
        if !matches!(e.kind, Kind::Node(_)) {
            return;
        }
        e.lookups = e.lookups.saturating_sub(n);
        if e.lookups == 0 {
            let key = (e.parent, std::mem::take(&mut e.name));
            self.entries.remove(&ino);
            self.content.remove(&key);
        }
    }

    /// The path of `ino` below the mount's root (`/ids/1a2b3c4d/etc/passwd`), for messages.
    pub(super) fn path(&self, ino: u64) -> String {
        let mut parts = Vec::new();
        let mut cur = ino;
        // Bounded: a chain longer than the table holds would be a loop.
        for _ in 0..=self.entries.len() {
            if cur == ROOT {
                break;
            }
            match self.entries.get(&cur) {
                Some(e) => {
                    parts.push(String::from_utf8_lossy(&e.name).into_owned());
                    cur = e.parent;
                }
                None => {
                    parts.push("?".into());
                    break;
                }
            }
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::snapshot::sample;
    use crate::format::SnapshotId;

    fn node(name: &str) -> Arc<Node> {
        Arc::new(Node { name: name.as_bytes().to_vec(), ..Node::default() })
    }

    fn child(t: &Table, dir: u64, name: &str) -> u64 {
        match &t.get(dir).unwrap().kind {
            Kind::Dir { entries, .. } => entries.iter().find(|(n, _)| n == name.as_bytes()).map(|(_, i)| *i).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn layout_numbers_stay_and_content_numbers_come_and_go() {
        let a = (SnapshotId([1; 32]), sample("h", "2026-01-01T00:00:00Z", &["/"], &[]));
        let b = (SnapshotId([2; 32]), sample("h", "2026-01-02T00:00:00Z", &["/"], &[]));
        let mut t = Table::new(&super::super::layout::layout(&[a.clone()]));
        let ids = child(&t, ROOT, "ids");
        let snap_a = child(&t, ids, "01010101");
        assert!(matches!(t.get(snap_a).unwrap().kind, Kind::Root { .. }));
        assert_eq!(t.path(snap_a), "/ids/01010101");
        let latest = child(&t, child(&t, ROOT, "snapshots"), "latest");

        // Built again with one more snapshot: the same paths keep their numbers.
        t.set_layout(&super::super::layout::layout(&[a, b]));
        assert_eq!(child(&t, ROOT, "ids"), ids);
        assert_eq!(child(&t, ids, "01010101"), snap_a);
        assert_eq!(child(&t, child(&t, ROOT, "snapshots"), "latest"), latest);
        assert!(matches!(&t.get(latest).unwrap().kind, Kind::Link { target, .. } if target == b"2026-01-02T00:00:00Z"));

        // A listing's number is the one the lookup then gives; two lookups need two forgets.
        let before = t.len();
        let listed = t.ino_for(snap_a, b"etc");
        assert_eq!(t.remember(snap_a, node("etc")), listed);
        assert_eq!(t.remember(snap_a, node("etc")), listed);
        assert_ne!(listed & CONTENT, 0);
        let passwd = t.remember(listed, node("passwd"));
        assert_eq!(t.path(passwd), "/ids/01010101/etc/passwd");
        t.forget(passwd, 1);
        t.forget(listed, 1);
        assert!(t.get(listed).is_some(), "one lookup is still held");
        t.forget(listed, 1);
        assert!(t.get(listed).is_none());
        assert_eq!(t.len(), before);
        // Forgetting the layout does nothing.
        t.forget(ids, 5);
        assert!(t.get(ids).is_some());
    }

    #[test]
    fn a_taken_number_is_skipped() {
        let mut t = Table::new(&super::super::layout::layout(&[]));
        let first = t.remember(ROOT, node("x"));
        // Pretend another entry holds the number `y` would hash to.
        let y = t.ino_for(5, b"y");
        t.entries.insert(y, Entry { parent: 9, name: b"other".to_vec(), kind: Kind::Node(node("other")), lookups: 1 });
        let got = t.remember(5, node("y"));
        assert_ne!(got, y);
        assert_eq!(t.ino_for(5, b"y"), got);
        assert_ne!(first, got);
    }
}
