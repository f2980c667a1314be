//! Choosing snapshots: filters by host, tag and path, resolving `latest` and id prefixes, and
//! walking a snapshot's trees to a path inside it.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use crate::error::{Error, Result};
use crate::format::snapshot::Snapshot;
use crate::format::tree::{Node, NodeKind};
use crate::format::SnapshotId;
use crate::repo::Repository;

/// Restic-style filters: any host; tags as `a,b` (all of them) with several groups meaning any
/// group; every path given must be among the snapshot's paths.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub hosts: Vec<String>,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    /// Snapshots made by one of these jobs (`snap run`); empty: any snapshot.
    pub jobs: Vec<String>,
}

impl SnapshotFilter {
    #[must_use]
    pub fn matches(&self, s: &Snapshot) -> bool {
        let host_ok = self.hosts.is_empty() || self.hosts.iter().any(|h| *h == s.hostname);
        let tag_ok = self.tags.is_empty()
            || self.tags.iter().any(|group| group.split(',').filter(|t| !t.is_empty()).all(|t| s.tags.iter().any(|st| st == t)));
        let path_ok = self.paths.iter().all(|p| {
            let want = p.trim_end_matches('/');
            s.paths.iter().any(|sp| sp == want || (want.is_empty() && sp == "/"))
        });
        let job_ok = self.jobs.is_empty() || s.job.as_ref().is_some_and(|j| self.jobs.contains(j));
        host_ok && tag_ok && path_ok && job_ok
    }
}

/// All snapshots that pass `filter`, oldest first.
///
/// # Errors
/// Storage or integrity errors.
pub fn filtered(repo: &Repository, filter: &SnapshotFilter) -> Result<Vec<(SnapshotId, Snapshot)>> {
    Ok(repo.snapshots()?.into_iter().filter(|(_, s)| filter.matches(s)).collect())
}

/// Resolves a snapshot argument; `latest` is the newest snapshot passing `filter`.
///
/// # Errors
/// Not found, ambiguous, or storage errors.
pub fn find_snapshot(repo: &Repository, spec: &str, filter: &SnapshotFilter) -> Result<(SnapshotId, Snapshot)> {
    if spec == "latest" {
        return Repository::resolve_snapshot(spec, &filtered(repo, filter)?).cloned();
    }
    let mut scan = repo.scan_snapshots()?;
    match Repository::resolve_snapshot(spec, &scan.readable) {
        // Named, but its file cannot be read: say so, rather than "no snapshot matches".
        Err(Error::SnapshotNotFound(_)) => {
            let lower = spec.to_ascii_lowercase();
            match scan.unreadable.iter().position(|(id, _)| id.to_hex().starts_with(&lower)) {
                Some(i) => Err(scan.unreadable.swap_remove(i).1),
                None => Err(Error::SnapshotNotFound(spec.to_string())),
            }
        }
        other => other.cloned(),
    }
}

/// The node at `path` inside a snapshot; `/` gives a directory node for the root.
///
/// # Errors
/// [`Error::PathNotFound`] or the errors of loading trees.
pub fn node_at(repo: &Repository, id: &SnapshotId, snap: &Snapshot, path: &str) -> Result<Node> {
    let mut node = Node { kind: Some(NodeKind::Dir), subtree: Some(snap.tree), mode: 0o755, ..Node::default() };
    for c in Path::new(path).components() {
        let name = match c {
            Component::Normal(n) => n.as_bytes(),
            Component::RootDir | Component::CurDir => continue,
            _ => return Err(Error::Usage(format!("path {path:?} must not contain \"..\""))),
        };
        let not_found = || Error::PathNotFound { snapshot: id.short(), path: path.to_string() };
        let sub = match (node.kind(), node.subtree) {
            (NodeKind::Dir, Some(s)) => s,
            _ => return Err(not_found()),
        };
        let tree = repo.load_tree(&sub)?;
        node = tree.nodes.into_iter().find(|n| n.name == name).ok_or_else(not_found)?;
    }
    Ok(node)
}

/// Splits `snapshot[:path]`.
#[must_use]
pub fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((s, p)) => (s, Some(p)),
        None => (spec, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(host: &str, tags: &[&str], paths: &[&str]) -> Snapshot {
        crate::format::snapshot::sample(host, "2026-01-01T00:00:00Z", paths, tags)
    }

    #[test]
    fn filters_follow_restic_semantics() {
        let s = snap("web1", &["daily", "db"], &["/etc", "/pg.sql"]);
        let f = |hosts: &[&str], tags: &[&str], paths: &[&str]| SnapshotFilter {
            jobs: Vec::new(),
            hosts: hosts.iter().map(|s| (*s).to_string()).collect(),
            tags: tags.iter().map(|s| (*s).to_string()).collect(),
            paths: paths.iter().map(|s| (*s).to_string()).collect(),
        };
        assert!(f(&[], &[], &[]).matches(&s));
        assert!(f(&["web1"], &[], &[]).matches(&s));
        assert!(!f(&["web2"], &[], &[]).matches(&s));
        assert!(f(&[], &["daily,db"], &[]).matches(&s));
        assert!(!f(&[], &["daily,weekly"], &[]).matches(&s));
        assert!(f(&[], &["weekly", "db"], &[]).matches(&s));
        assert!(f(&[], &[], &["/etc/"]).matches(&s));
        assert!(!f(&[], &[], &["/var"]).matches(&s));
    }

    #[test]
    fn split_spec_works() {
        assert_eq!(split_spec("latest"), ("latest", None));
        assert_eq!(split_spec("abcd:/etc"), ("abcd", Some("/etc")));
    }
}
