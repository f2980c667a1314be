//! `tag`: change the tags of snapshots. A snapshot file is named by the hash of its sealed bytes,
//! so a retagged snapshot is a new file with a new id. Only snapshot files are touched: the new
//! one is written first and the old one deleted after, so a crash in between leaves the snapshot
//! twice (old and new tags; `snap forget ID` removes the extra one), never not at all. Every field
//! but `tags` is carried over as stored, including fields this snap does not know.

use std::collections::HashSet;

use crate::backend::FileType;
use crate::crypto::aad;
use crate::error::{Error, Result};
use crate::format::snapshot::Snapshot;
use crate::format::SnapshotId;
use crate::repo::lock::LockGuard;
use crate::repo::Repository;

use super::select::SnapshotFilter;

/// How the tags change. `set` replaces them all and cannot be combined with `add` or `remove`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagChange {
    /// Tags appended (in this order) where missing.
    pub add: Vec<String>,
    /// Tags taken out wherever they are.
    pub remove: Vec<String>,
    /// The new tags, replacing all (empty values are dropped, so `[""]` clears the tags).
    pub set: Option<Vec<String>>,
}

impl TagChange {
    /// Refuses a change that could never be meant: nothing to do, `set` with `add` or `remove`,
    /// the same tag added and removed, an empty tag added or removed, or a new tag holding a
    /// comma (filters read `a,b` as "both a and b", so such a tag could never be selected).
    ///
    /// # Errors
    /// [`Error::Usage`] saying which.
    pub fn validate(&self) -> Result<()> {
        if self.set.is_none() && self.add.is_empty() && self.remove.is_empty() {
            return Err(Error::Usage("nothing to do: give --add, --remove or --set".into()));
        }
        if self.set.is_some() && !(self.add.is_empty() && self.remove.is_empty()) {
            return Err(Error::Usage("--set replaces every tag; it cannot be combined with --add or --remove".into()));
        }
        if self.add.iter().chain(&self.remove).any(String::is_empty) {
            return Err(Error::Usage("--add and --remove need a tag (use --set \"\" to remove every tag)".into()));
        }
        if let Some(both) = self.add.iter().find(|t| self.remove.contains(t)) {
            return Err(Error::Usage(format!("tag {both:?} is both added and removed")));
        }
        if let Some(t) = self.add.iter().chain(self.set.iter().flatten()).find(|t| t.contains(',')) {
            return Err(Error::Usage(format!("tag {t:?} contains a comma; filters read `a,b` as both a and b, so give each tag on its own")));
        }
        Ok(())
    }

    /// The tags `old` becomes: with `set`, its values without empty ones and repeats; otherwise
    /// `old` without the removed tags, then each added tag it lacks. The order of what stays is
    /// kept.
    #[must_use]
    pub fn apply(&self, old: &[String]) -> Vec<String> {
        let mut tags: Vec<String> = match &self.set {
            Some(set) => {
                let mut seen = HashSet::new();
                set.iter().filter(|t| !t.is_empty() && seen.insert(t.as_str())).cloned().collect()
            }
            None => old.iter().filter(|t| !self.remove.contains(t)).cloned().collect(),
        };
        for t in &self.add {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        tags
    }
}

/// Which snapshots to retag and how.
#[derive(Debug, Clone, Default)]
pub struct TagOptions {
    /// Snapshot ids, unique prefixes or `latest` (the newest passing `filter`); when empty, every
    /// snapshot passing `filter`.
    pub snapshots: Vec<String>,
    pub filter: SnapshotFilter,
    pub change: TagChange,
}

/// One snapshot rewritten with new tags.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Retagged {
    pub old_id: SnapshotId,
    pub new_id: SnapshotId,
    pub tags: Vec<String>,
}

/// What [`tag`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagReport {
    /// The snapshots rewritten, oldest first.
    pub retagged: Vec<Retagged>,
    /// Selected snapshots whose tags already were as asked: not rewritten, ids unchanged.
    pub unchanged: Vec<SnapshotId>,
}

/// Retags the selected snapshots (oldest first). A snapshot whose tags do not change is not
/// rewritten. For each other one: its stored JSON is read, `tags` replaced, the result checked to
/// decode as a snapshot with those tags, written as a new snapshot file, and only then is the old
/// file deleted. The caller must hold an exclusive lock (this deletes snapshot files), checked
/// before each deletion.
///
/// # Errors
/// As [`TagChange::validate`]; a snapshot argument that matches nothing, several, or only an
/// unreadable snapshot file; [`Error::LockLost`]; storage errors (snapshots rewritten before the
/// failure stay rewritten; the one being rewritten may exist twice, see the module docs).
pub fn tag(repo: &Repository, opts: &TagOptions, lock: &LockGuard) -> Result<TagReport> {
    opts.change.validate()?;
    let chosen = select(repo, opts)?;
    let mut report = TagReport::default();
    for (id, snap) in chosen {
        let tags = opts.change.apply(&snap.tags);
        if tags == snap.tags {
            report.unchanged.push(id);
            continue;
        }
        let new_id = rewrite(repo, &id, &tags)?;
        lock.ensure_held()?;
        repo.delete_snapshot(&id)?;
        report.retagged.push(Retagged { old_id: id, new_id, tags });
    }
    Ok(report)
}

/// The snapshots `opts` selects, oldest first, each once. Selecting by filters skips an
/// unreadable snapshot file with a warning, as listing does; naming one is an error saying why
/// it cannot be read.
fn select(repo: &Repository, opts: &TagOptions) -> Result<Vec<(SnapshotId, Snapshot)>> {
    if opts.snapshots.is_empty() {
        return Ok(repo.snapshots()?.into_iter().filter(|(_, s)| opts.filter.matches(s)).collect());
    }
    let mut scan = repo.scan_snapshots()?;
    let all = &scan.readable;
    let mut chosen = HashSet::new();
    for spec in &opts.snapshots {
        let found = if spec == "latest" {
            let passing: Vec<(SnapshotId, Snapshot)> = all.iter().filter(|(_, s)| opts.filter.matches(s)).cloned().collect();
            Repository::resolve_snapshot(spec, &passing).map(|(id, _)| *id)
        } else {
            Repository::resolve_snapshot(spec, all).map(|(id, _)| *id)
        };
        match found {
            Ok(id) => {
                chosen.insert(id);
            }
            // Named, but its file cannot be read: say why, rather than "no snapshot matches".
            Err(Error::SnapshotNotFound(_)) if spec != "latest" => {
                let lower = spec.to_ascii_lowercase();
                return Err(match scan.unreadable.iter().position(|(id, _)| id.to_hex().starts_with(&lower)) {
                    Some(i) => scan.unreadable.swap_remove(i).1,
                    None => Error::SnapshotNotFound(spec.clone()),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(all.iter().filter(|(id, _)| chosen.contains(id)).cloned().collect())
}

/// Writes snapshot `id` again with `tags` and every other stored field as it is; returns the new
/// id.
fn rewrite(repo: &Repository, id: &SnapshotId, tags: &[String]) -> Result<SnapshotId> {
    let plain = repo.load_sealed(FileType::Snapshot, aad::SNAPSHOT, &id.0)?;
    let mut json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&plain).map_err(|e| Error::corrupt("snapshot", id, e))?;
    json.insert("tags".into(), serde_json::Value::from(tags.to_vec()));
    let out = serde_json::to_vec(&json).map_err(|e| Error::Internal(e.to_string()))?;
    // What is written must read back as the same snapshot with the new tags.
    let (mut before, after) = match (Snapshot::decode(&plain), Snapshot::decode(&out)) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(e), _) => return Err(Error::decode("snapshot", id, e)),
        (_, Err(e)) => return Err(Error::Internal(format!("snapshot {} retagged does not decode: {e}", id.short()))),
    };
    before.tags = tags.to_vec();
    if before != after {
        return Err(Error::Internal(format!("snapshot {} retagged differs in more than its tags", id.short())));
    }
    Ok(SnapshotId(repo.save_sealed(FileType::Snapshot, aad::SNAPSHOT, &out)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|t| (*t).to_string()).collect()
    }

    fn change(add: &[&str], remove: &[&str], set: Option<&[&str]>) -> TagChange {
        TagChange { add: v(add), remove: v(remove), set: set.map(v) }
    }

    #[test]
    fn apply_adds_removes_and_sets() {
        let old = v(&["daily", "db", "x"]);
        assert_eq!(change(&["weekly", "db"], &[], None).apply(&old), v(&["daily", "db", "x", "weekly"]));
        assert_eq!(change(&[], &["db", "nope"], None).apply(&old), v(&["daily", "x"]));
        assert_eq!(change(&["new"], &["daily", "x"], None).apply(&old), v(&["db", "new"]));
        assert_eq!(change(&[], &[], Some(&["b", "a", "b", ""])).apply(&old), v(&["b", "a"]));
        assert_eq!(change(&[], &[], Some(&[""])).apply(&old), Vec::<String>::new());
        // Nothing to change: the same list, so the snapshot is not rewritten.
        assert_eq!(change(&["db"], &["nope"], None).apply(&old), old);
        // A repeated tag already stored stays as it is unless removed.
        assert_eq!(change(&["a"], &[], None).apply(&v(&["a", "a"])), v(&["a", "a"]));
        assert_eq!(change(&[], &["a"], None).apply(&v(&["a", "b", "a"])), v(&["b"]));
    }

    #[test]
    fn validate_refuses_what_cannot_be_meant() {
        let msg = |c: TagChange| match c.validate() {
            Err(Error::Usage(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(change(&["a"], &["b"], None).validate().is_ok());
        assert!(change(&[], &[], Some(&[""])).validate().is_ok());
        assert_eq!(msg(change(&[], &[], None)), "nothing to do: give --add, --remove or --set");
        assert_eq!(msg(change(&["a"], &[], Some(&["b"]))), "--set replaces every tag; it cannot be combined with --add or --remove");
        assert_eq!(msg(change(&["a"], &["a"], None)), "tag \"a\" is both added and removed");
        assert_eq!(msg(change(&[""], &[], None)), "--add and --remove need a tag (use --set \"\" to remove every tag)");
        assert!(msg(change(&["a,b"], &[], None)).starts_with("tag \"a,b\" contains a comma"));
        assert!(msg(change(&[], &[], Some(&["a,b"]))).starts_with("tag \"a,b\" contains a comma"));
        // An old tag with a comma can still be removed.
        assert!(change(&[], &["a,b"], None).validate().is_ok());
    }
}
