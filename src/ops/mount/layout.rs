//! The directories a mount shows above the snapshots themselves, as restic lays them out:
//! `ids/<short id>/` holds each snapshot's files, and `snapshots/<time>`, `hosts/<host>/<time>`
//! and `tags/<tag>/<time>` are links into `ids/`, each directory with a `latest` link to its
//! newest entry. Built from the snapshot list alone (no trees are read), so it is cheap to build
//! again when the list changes.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::format::snapshot::Snapshot;
use crate::format::{BlobId, SnapshotId};

/// A directory of the layout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Dir {
    pub entries: BTreeMap<Vec<u8>, Item>,
    /// The newest snapshot's time below it (the epoch when empty).
    pub mtime: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    Dir(Dir),
    Link { target: Vec<u8>, mtime: SystemTime },
    /// A snapshot's root directory.
    Snapshot { tree: BlobId, mtime: SystemTime },
}

/// Name of the link to the newest entry of a directory.
pub(super) const LATEST: &str = "latest";

/// The layout of `snaps` (oldest first, as [`crate::repo::Repository::snapshots`] gives them).
pub(super) fn layout(snaps: &[(SnapshotId, Snapshot)]) -> Dir {
    let shorts = short_names(snaps);
    let mut ids = Dir::default();
    let mut by_time = Dir::default();
    let mut hosts: BTreeMap<Vec<u8>, Dir> = BTreeMap::new();
    let mut tags: BTreeMap<Vec<u8>, Dir> = BTreeMap::new();
    for ((_, snap), short) in snaps.iter().zip(&shorts) {
        let mtime = time_of(snap);
        ids.add(short.clone().into_bytes(), Item::Snapshot { tree: snap.tree, mtime }, mtime);
        let time = time_name(snap);
        by_time.add_unique(&time, format!("../ids/{short}"), mtime);
        hosts.entry(component(&snap.hostname)).or_default().add_unique(&time, format!("../../ids/{short}"), mtime);
        for tag in &snap.tags {
            tags.entry(component(tag)).or_default().add_unique(&time, format!("../../ids/{short}"), mtime);
        }
    }
    let mut root = Dir::default();
    let finish = |d: BTreeMap<Vec<u8>, Dir>| {
        let mut out = Dir::default();
        for (name, mut sub) in d {
            sub.add_latest();
            let m = sub.mtime.unwrap_or(UNIX_EPOCH);
            out.add(name, Item::Dir(sub), m);
        }
        out
    };
    let (hosts, tags) = (finish(hosts), finish(tags));
    by_time.add_latest();
    for (name, d) in [("hosts", hosts), ("ids", ids), ("snapshots", by_time), ("tags", tags)] {
        let m = d.mtime.unwrap_or(UNIX_EPOCH);
        root.add(name.as_bytes().to_vec(), Item::Dir(d), m);
    }
    root
}

impl Dir {
    fn add(&mut self, name: Vec<u8>, item: Item, mtime: SystemTime) {
        self.entries.insert(name, item);
        self.mtime = Some(self.mtime.map_or(mtime, |m| m.max(mtime)));
    }

    /// Adds a link named `name`, or `name-1`, `name-2`... when taken (two snapshots of the same
    /// second).
    fn add_unique(&mut self, name: &str, target: String, mtime: SystemTime) {
        let mut n = 0usize;
        let mut candidate = name.to_string();
        while self.entries.contains_key(candidate.as_bytes()) {
            n += 1;
            candidate = format!("{name}-{n}");
        }
        self.add(candidate.into_bytes(), Item::Link { target: target.into_bytes(), mtime }, mtime);
    }

    /// A `latest` link to the newest (last added, since snapshots come oldest first) link.
    fn add_latest(&mut self) {
        let newest = self.entries.iter().filter_map(|(name, item)| match item {
            Item::Link { mtime, .. } => Some((*mtime, name.clone())),
            _ => None,
        });
        // Ties keep the later name (`-1` after the plain one).
        let Some((mtime, name)) = newest.max() else { return };
        if !self.entries.contains_key(LATEST.as_bytes()) {
            self.add(LATEST.as_bytes().to_vec(), Item::Link { target: name, mtime }, mtime);
        }
    }
}

/// Each snapshot's directory name under `ids/`: its short id, or its whole id when another
/// snapshot shares the short one.
fn short_names(snaps: &[(SnapshotId, Snapshot)]) -> Vec<String> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for (id, _) in snaps {
        *count.entry(id.short()).or_default() += 1;
    }
    snaps.iter().map(|(id, _)| if count.get(&id.short()).copied().unwrap_or(0) > 1 { id.to_hex() } else { id.short() }).collect()
}

/// The snapshot's time, or the epoch when it cannot be read.
fn time_of(snap: &Snapshot) -> SystemTime {
    snap.timestamp().map_or(UNIX_EPOCH, SystemTime::from)
}

/// `2026-12-02T02:30:00Z`: the snapshot's time in UTC to the second; the stored text, made safe
/// as a name, when it is not a time.
fn time_name(snap: &Snapshot) -> String {
    match snap.timestamp() {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => String::from_utf8_lossy(&component(&snap.time)).into_owned(),
    }
}

/// A host or tag as one path component: `/` and NUL become `_`, and an empty name, `.` or `..`
/// get a leading `_`.
fn component(s: &str) -> Vec<u8> {
    let mut b: Vec<u8> = s.bytes().map(|c| if c == b'/' || c == 0 { b'_' } else { c }).collect();
    if b.is_empty() || b == b"." || b == b".." {
        b.insert(0, b'_');
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::snapshot::sample;

    fn snap(n: u8, host: &str, time: &str, tags: &[&str]) -> (SnapshotId, Snapshot) {
        let mut s = sample(host, time, &["/etc"], tags);
        s.tree = BlobId([n; 32]);
        (SnapshotId([n; 32]), s)
    }

    fn link(d: &Dir, path: &str) -> String {
        let mut cur = d;
        let parts: Vec<&str> = path.split('/').collect();
        for (i, p) in parts.iter().enumerate() {
            match cur.entries.get(p.as_bytes()) {
                Some(Item::Dir(sub)) => cur = sub,
                Some(Item::Link { target, .. }) if i + 1 == parts.len() => return String::from_utf8(target.clone()).unwrap(),
                other => panic!("{path}: {other:?}"),
            }
        }
        panic!("{path} is a directory")
    }

    fn names(d: &Dir, path: &str) -> Vec<String> {
        let mut cur = d;
        for p in path.split('/').filter(|p| !p.is_empty()) {
            match cur.entries.get(p.as_bytes()) {
                Some(Item::Dir(sub)) => cur = sub,
                other => panic!("{path}: {other:?}"),
            }
        }
        cur.entries.keys().map(|k| String::from_utf8(k.clone()).unwrap()).collect()
    }

    #[test]
    fn ids_times_hosts_tags_and_latest_links() {
        let snaps = vec![
            snap(1, "web1", "2026-12-01T03:30:00+01:00", &["daily"]),
            snap(2, "db/1", "2026-12-02T02:30:00Z", &["daily", "db"]),
            snap(3, "web1", "2026-12-02T02:30:00.5Z", &[]),
        ];
        let root = layout(&snaps);
        assert_eq!(names(&root, ""), ["hosts", "ids", "snapshots", "tags"]);
        assert_eq!(names(&root, "ids"), ["01010101", "02020202", "03030303"]);
        assert!(matches!(root.entries[&b"ids"[..]], Item::Dir(ref d) if d.entries[&b"02020202"[..]] == Item::Snapshot { tree: BlobId([2; 32]), mtime: time_of(&snaps[1].1) }));
        // Times in UTC; a second snapshot in the same second gets `-1`.
        assert_eq!(names(&root, "snapshots"), ["2026-12-01T02:30:00Z", "2026-12-02T02:30:00Z", "2026-12-02T02:30:00Z-1", "latest"]);
        assert_eq!(link(&root, "snapshots/2026-12-02T02:30:00Z-1"), "../ids/03030303");
        assert_eq!(link(&root, "snapshots/latest"), "2026-12-02T02:30:00Z-1");
        assert_eq!(names(&root, "hosts"), ["db_1", "web1"]);
        assert_eq!(names(&root, "hosts/web1"), ["2026-12-01T02:30:00Z", "2026-12-02T02:30:00Z", "latest"]);
        assert_eq!(link(&root, "hosts/web1/2026-12-02T02:30:00Z"), "../../ids/03030303");
        assert_eq!(link(&root, "hosts/web1/latest"), "2026-12-02T02:30:00Z");
        assert_eq!(names(&root, "tags"), ["daily", "db"]);
        assert_eq!(names(&root, "tags/daily"), ["2026-12-01T02:30:00Z", "2026-12-02T02:30:00Z", "latest"]);
        assert_eq!(link(&root, "tags/db/latest"), "2026-12-02T02:30:00Z");
        assert_eq!(root.mtime, Some(time_of(&snaps[2].1)));
    }

    #[test]
    fn an_empty_list_gives_the_four_empty_directories() {
        let root = layout(&[]);
        assert_eq!(names(&root, ""), ["hosts", "ids", "snapshots", "tags"]);
        assert!(names(&root, "snapshots").is_empty(), "no latest without snapshots");
    }

    #[test]
    fn shared_short_ids_use_the_whole_id_and_odd_names_are_made_safe() {
        let mut a = snap(1, "", "not a time", &["..", "a/b"]);
        let mut b = snap(2, "h", "2026-01-01T00:00:00Z", &[]);
        a.0 .0[31] = 0xaa;
        b.0 .0 = a.0 .0;
        b.0 .0[31] = 0xbb;
        let root = layout(&[a.clone(), b.clone()]);
        assert_eq!(names(&root, "ids"), [a.0.to_hex(), b.0.to_hex()]);
        assert_eq!(names(&root, "hosts"), ["_", "h"]);
        assert_eq!(names(&root, "tags"), ["_..", "a_b"]);
        assert_eq!(names(&root, "hosts/_"), ["latest", "not a time"]);
        assert_eq!(component("."), b"_.");
    }
}
