//! `stats`: what snapshots hold (files, restore size) and what they cost in storage (distinct
//! data, stored bytes, what forgetting one would free), from trees and the local index alone:
//! no data pack is read.
//!
//! What is counted:
//!
//! - **restore size**: the sum of the file sizes, every path counted (hard links and duplicate
//!   files included); **files, dirs, symlinks, others** count entries below the root.
//! - **unique bytes**: the plaintext size of the distinct data blobs the files reference.
//!   **dedup ratio** = restore size / unique bytes.
//! - **stored bytes**: the sealed length in packs (compressed, delta-encoded, nonce and tag
//!   included, pack headers not) of those data blobs *and of the delta bases they need*: a
//!   delta cannot be read without its base, so the base is part of what the snapshot costs even
//!   when no file of it references the base. **compression ratio** = unique / stored.
//! - **metadata**: the snapshot's tree blobs and chunk lists, counted and sized apart from data
//!   (they are no file's content).
//! - **held alone** (`alone_*`): the blobs (data, bases, trees, lists) that no other readable
//!   snapshot in the repository needs, in stored bytes: what forgetting the snapshot and
//!   pruning would free. A delta held alone whose base another snapshot needs frees only the
//!   delta; a base held alone that another snapshot's delta needs is not freed. Prune may keep
//!   some of these bytes in partly used packs (see `--max-unused`); this is the upper bound.
//! - **dictionaries** are used by the data blobs of a stream, but which blob uses which
//!   dictionary is written inside the sealed blob, not in the index: they are counted in the
//!   repository figures only, never as held alone (prune keeps them whatever happens).
//!
//! Each distinct tree is read twice at most (once for its entries, once for its files' blobs)
//! however many snapshots share it; the snapshots that need each blob are tracked as interned
//! sets of snapshots, so the cost grows with the distinct trees and blobs, not with the number
//! of snapshots times their size.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::pack::BlobKind;
use crate::format::snapshot::Snapshot;
use crate::format::tree::{decode_list, Content, NodeKind};
use crate::format::{BlobId, SnapshotId};
use crate::repo::Repository;

use super::select::{filtered, find_snapshot, SnapshotFilter};

/// Chunk lists read at once (in parallel): enough to keep storage busy, few enough that their
/// ids do not pile up in memory.
const LIST_BATCH: usize = 256;

/// What `stats` looks at and how much it works out.
#[derive(Debug, Clone, Default)]
pub struct StatsOptions {
    /// Snapshot ids, unique prefixes or `latest`; empty: every snapshot passing `filter`.
    pub snapshots: Vec<String>,
    pub filter: SnapshotFilter,
    /// Work out the blob figures (unique, stored, held alone, the repository's); without it only
    /// entries and restore sizes are counted, which needs neither the index nor the other
    /// snapshots.
    pub raw_data: bool,
}

/// Entries and restore size of one snapshot (or a sum over several).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Devices, FIFOs and sockets.
    pub others: u64,
    /// Sum of the files' sizes.
    pub restore_size: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.files = self.files.saturating_add(o.files);
        self.dirs = self.dirs.saturating_add(o.dirs);
        self.symlinks = self.symlinks.saturating_add(o.symlinks);
        self.others = self.others.saturating_add(o.others);
        self.restore_size = self.restore_size.saturating_add(o.restore_size);
    }
}

/// Blob figures of one snapshot, or of a set of snapshots taken together (blobs counted once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RawData {
    /// Distinct data blobs the files reference.
    pub data_blobs: u64,
    /// Their plaintext size.
    pub unique_bytes: u64,
    /// Sealed length of those data blobs and of the delta bases they need.
    pub stored_bytes: u64,
    /// Distinct tree and chunk-list blobs.
    pub metadata_blobs: u64,
    /// Their sealed length.
    pub metadata_stored_bytes: u64,
    /// restore size / unique bytes; `None` when nothing is stored.
    pub dedup_ratio: Option<f64>,
    /// unique bytes / stored bytes; `None` when nothing is stored.
    pub compression_ratio: Option<f64>,
    /// Blobs (data, bases, trees, lists) no snapshot outside this one (or this selection) needs.
    pub alone_blobs: u64,
    /// Their sealed length: what forgetting it and pruning would free at most.
    pub alone_bytes: u64,
}

/// One snapshot's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotStats {
    pub id: SnapshotId,
    pub time: String,
    pub hostname: String,
    pub paths: Vec<String>,
    #[serde(flatten)]
    pub counts: Counts,
    /// Absent without [`StatsOptions::raw_data`].
    #[serde(flatten)]
    pub raw: Option<RawData>,
}

/// The selection taken together: counts summed over its snapshots, blobs counted once.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SelectionStats {
    pub snapshots: u64,
    #[serde(flatten)]
    pub counts: Counts,
    #[serde(flatten)]
    pub raw: Option<RawData>,
}

/// Blobs of one kind in the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BlobTotals {
    pub blobs: u64,
    /// Plaintext size.
    pub raw_bytes: u64,
    /// Sealed length in packs.
    pub stored_bytes: u64,
}

impl BlobTotals {
    fn add(&mut self, raw: u32, stored: u32) {
        self.blobs += 1;
        self.raw_bytes += u64::from(raw);
        self.stored_bytes += u64::from(stored);
    }
}

/// The whole repository, from its index.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepositoryStats {
    /// Readable snapshots.
    pub snapshots: u64,
    /// Every blob the index names.
    pub total: BlobTotals,
    pub data: BlobTotals,
    /// Trees and chunk lists.
    pub metadata: BlobTotals,
    pub dictionaries: BlobTotals,
    /// Blobs (dictionaries aside) that no readable snapshot needs: what prune may free.
    pub unreferenced: BlobTotals,
    /// Blobs snapshots reference that the index does not name (damage: see `snap check`); their
    /// sizes are unknown and left out of every figure.
    pub missing_blobs: u64,
}

/// What `stats` found.
#[derive(Debug, Clone, Serialize)]
pub struct StatsReport {
    /// The selected snapshots, oldest first.
    pub snapshots: Vec<SnapshotStats>,
    pub total: SelectionStats,
    /// Absent without [`StatsOptions::raw_data`].
    pub repository: Option<RepositoryStats>,
    /// Snapshot files that could not be read: their blobs count as no snapshot's, so what the
    /// others hold alone may be overstated.
    pub unreadable_snapshots: Vec<SnapshotId>,
}

/// Works out the figures of the selected snapshots.
///
/// # Errors
/// A snapshot that cannot be resolved, a tree or chunk list that cannot be read, index or
/// storage errors.
pub fn stats(repo: &Repository, opts: &StatsOptions) -> Result<StatsReport> {
    let scan = repo.scan_snapshots()?;
    let all = scan.readable;
    let unreadable: Vec<SnapshotId> = scan.unreadable.into_iter().map(|(id, _)| id).collect();
    let selected = select(repo, opts, &all)?;
    // Without blob figures only the selected snapshots need walking.
    let walked: Vec<&(SnapshotId, Snapshot)> = if opts.raw_data { all.iter().collect() } else { selected.iter().filter_map(|&i| all.get(i)).collect() };
    let roots: Vec<BlobId> = walked.iter().map(|(_, s)| s.tree).collect();
    let graph = Graph::load(repo, &roots)?;
    let counts = graph.counts();
    let root_counts = |s: &Snapshot| graph.index.get(&s.tree).and_then(|&t| counts.get(t as usize)).copied().unwrap_or_default();

    let mut total = SelectionStats { snapshots: selected.len() as u64, ..SelectionStats::default() };
    let mut snapshots = Vec::with_capacity(selected.len());
    for &i in &selected {
        let Some((id, s)) = all.get(i) else { continue };
        let c = root_counts(s);
        total.counts.add(&c);
        snapshots.push(SnapshotStats { id: *id, time: s.time.clone(), hostname: s.hostname.clone(), paths: s.paths.clone(), counts: c, raw: None });
    }
    let mut repository = None;
    if opts.raw_data {
        let usage = Usage::compute(repo, &graph, &all)?;
        for (st, &i) in snapshots.iter_mut().zip(&selected) {
            st.raw = Some(usage.figures(&[i], st.counts.restore_size));
        }
        total.raw = Some(usage.figures(&selected, total.counts.restore_size));
        repository = Some(usage.repository(repo, all.len())?);
    }
    Ok(StatsReport { snapshots, total, repository, unreadable_snapshots: unreadable })
}

/// Positions in `all` (oldest first) of the snapshots `opts` selects, without repeats.
fn select(repo: &Repository, opts: &StatsOptions, all: &[(SnapshotId, Snapshot)]) -> Result<Vec<usize>> {
    let ids: Vec<SnapshotId> = if opts.snapshots.is_empty() {
        filtered(repo, &opts.filter)?.into_iter().map(|(id, _)| id).collect()
    } else {
        opts.snapshots.iter().map(|spec| find_snapshot(repo, spec, &opts.filter).map(|(id, _)| id)).collect::<Result<_>>()?
    };
    let wanted: HashSet<SnapshotId> = ids.into_iter().collect();
    Ok(all.iter().enumerate().filter(|(_, (id, _))| wanted.contains(id)).map(|(i, _)| i).collect())
}

/// Every distinct tree reachable from some roots, each read once: its subtrees and the counts
/// of its own entries.
struct Graph {
    ids: Vec<BlobId>,
    index: HashMap<BlobId, u32>,
    /// Subtrees of each tree, as positions in `ids`, once per entry (a tree may name the same
    /// subtree twice: two identical directories).
    children: Vec<Vec<u32>>,
    /// Each tree's own entries (not those of its subtrees).
    own: Vec<Counts>,
    /// Every tree, parents before children.
    order: Vec<u32>,
}

impl Graph {
    fn load(repo: &Repository, roots: &[BlobId]) -> Result<Self> {
        let mut g = Self { ids: Vec::new(), index: HashMap::new(), children: Vec::new(), own: Vec::new(), order: Vec::new() };
        let mut stack: Vec<u32> = Vec::new();
        for r in roots {
            if let Some(t) = g.intern(r) {
                stack.push(t);
            }
        }
        while let Some(t) = stack.pop() {
            let id = g.ids.get(t as usize).copied().unwrap_or_default();
            let tree = repo.load_tree(&id)?;
            let mut own = Counts::default();
            let mut children = Vec::new();
            for n in &tree.nodes {
                match n.kind() {
                    NodeKind::File => {
                        own.files += 1;
                        own.restore_size = own.restore_size.saturating_add(n.size);
                    }
                    NodeKind::Dir => {
                        own.dirs += 1;
                        if let Some(sub) = &n.subtree {
                            let c = match g.intern(sub) {
                                Some(new) => {
                                    stack.push(new);
                                    new
                                }
                                None => g.index.get(sub).copied().unwrap_or_default(),
                            };
                            children.push(c);
                        }
                    }
                    NodeKind::Symlink => own.symlinks += 1,
                    _ => own.others += 1,
                }
            }
            if let (Some(slot), Some(o)) = (g.children.get_mut(t as usize), g.own.get_mut(t as usize)) {
                *slot = children;
                *o = own;
            }
        }
        g.order = g.topological()?;
        Ok(g)
    }

    /// The position of `id`, when it is new.
    fn intern(&mut self, id: &BlobId) -> Option<u32> {
        if self.index.contains_key(id) {
            return None;
        }
        let t = self.ids.len() as u32;
        self.ids.push(*id);
        self.index.insert(*id, t);
        self.children.push(Vec::new());
        self.own.push(Counts::default());
        Some(t)
    }

    /// Kahn's order: a tree comes after every tree that names it.
    fn topological(&self) -> Result<Vec<u32>> {
        let mut parents = vec![0u32; self.ids.len()];
        for c in self.children.iter().flatten() {
            if let Some(p) = parents.get_mut(*c as usize) {
                *p += 1;
            }
        }
        let mut ready: Vec<u32> = parents.iter().enumerate().filter(|(_, p)| **p == 0).map(|(t, _)| t as u32).collect();
        let mut order = Vec::with_capacity(self.ids.len());
        while let Some(t) = ready.pop() {
            order.push(t);
            for c in self.children.get(t as usize).into_iter().flatten() {
                if let Some(p) = parents.get_mut(*c as usize) {
                    *p -= 1;
                    if *p == 0 {
                        ready.push(*c);
                    }
                }
            }
        }
        if order.len() != self.ids.len() {
            let stuck = parents.iter().position(|p| *p > 0).and_then(|t| self.ids.get(t)).copied().unwrap_or_default();
            return Err(Error::corrupt("tree", stuck, "is its own ancestor"));
        }
        Ok(order)
    }

    /// Each tree's counts including everything below it.
    fn counts(&self) -> Vec<Counts> {
        let mut all = self.own.clone();
        for &t in self.order.iter().rev() {
            let mut sum = all.get(t as usize).copied().unwrap_or_default();
            for c in self.children.get(t as usize).into_iter().flatten() {
                if let Some(cc) = all.get(*c as usize) {
                    sum.add(cc);
                }
            }
            if let Some(slot) = all.get_mut(t as usize) {
                *slot = sum;
            }
        }
        all
    }
}

/// Sets of snapshots (bit `i` for the `i`-th readable snapshot), interned: blobs and trees hold
/// a small number naming their set, and the sets themselves are few (a blob is usually held by
/// a run of consecutive snapshots).
struct Sets {
    words: usize,
    table: Vec<Vec<u64>>,
    lookup: HashMap<Vec<u64>, u32>,
    unions: HashMap<(u32, u32), u32>,
}

/// The empty set's number.
const EMPTY: u32 = 0;

impl Sets {
    fn new(snapshots: usize) -> Self {
        let words = snapshots.div_ceil(64).max(1);
        let mut s = Self { words, table: Vec::new(), lookup: HashMap::new(), unions: HashMap::new() };
        s.intern(vec![0; words]);
        s
    }

    fn intern(&mut self, bits: Vec<u64>) -> u32 {
        if let Some(&n) = self.lookup.get(&bits) {
            return n;
        }
        let n = self.table.len() as u32;
        self.table.push(bits.clone());
        self.lookup.insert(bits, n);
        n
    }

    fn bits(&self, s: u32) -> &[u64] {
        self.table.get(s as usize).map_or(&[][..], Vec::as_slice)
    }

    fn singleton(&mut self, i: usize) -> u32 {
        let mut bits = vec![0; self.words];
        if let Some(w) = bits.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
        self.intern(bits)
    }

    fn union(&mut self, a: u32, b: u32) -> u32 {
        if a == b || b == EMPTY {
            return a;
        }
        if a == EMPTY {
            return b;
        }
        let key = (a.min(b), a.max(b));
        if let Some(&u) = self.unions.get(&key) {
            return u;
        }
        let bits: Vec<u64> = self.bits(a).iter().zip(self.bits(b)).map(|(x, y)| x | y).collect();
        let u = self.intern(bits);
        self.unions.insert(key, u);
        u
    }

    fn contains(&self, s: u32, i: usize) -> bool {
        self.bits(s).get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// Sizes summed over the blobs that share one set of snapshots.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    /// Data blobs referenced by files, and their plaintext (by the set of snapshots whose files
    /// reference them).
    data_blobs: u64,
    unique: u64,
    /// Stored data blobs and bases, trees and lists (by the set of snapshots that need them).
    stored_blobs: u64,
    stored: u64,
    meta_blobs: u64,
    meta_stored: u64,
}

/// Which snapshots reference and need each blob, summed per set of snapshots.
struct Usage {
    sets: Sets,
    /// Per set of snapshots (by number).
    acc: HashMap<u32, Acc>,
    /// Every blob some snapshot needs (data, bases, trees, lists) that the index names.
    needed: BlobTotals,
    missing: u64,
}

impl Usage {
    fn compute(repo: &Repository, g: &Graph, all: &[(SnapshotId, Snapshot)]) -> Result<Self> {
        let mut sets = Sets::new(all.len());
        // Trees: a tree is needed by the snapshots whose roots reach it.
        let mut tree_set = vec![EMPTY; g.ids.len()];
        for (i, (_, s)) in all.iter().enumerate() {
            let one = sets.singleton(i);
            if let Some(slot) = g.index.get(&s.tree).and_then(|&t| tree_set.get_mut(t as usize)) {
                *slot = sets.union(*slot, one);
            }
        }
        for &t in &g.order {
            let set = tree_set.get(t as usize).copied().unwrap_or(EMPTY);
            for &c in g.children.get(t as usize).into_iter().flatten() {
                if let Some(slot) = tree_set.get_mut(c as usize) {
                    *slot = sets.union(*slot, set);
                }
            }
        }
        // Files' blobs: data blobs directly, or through chunk lists (each read once).
        let mut data: HashMap<BlobId, u32> = HashMap::new();
        let mut lists: HashMap<BlobId, u32> = HashMap::new();
        for (t, id) in g.ids.iter().enumerate() {
            let set = tree_set.get(t).copied().unwrap_or(EMPTY);
            for n in repo.load_tree(id)?.nodes {
                let (map, ids) = match n.content {
                    Content::Empty => continue,
                    Content::Chunks(ids) => (&mut data, ids),
                    Content::Lists(ids) => (&mut lists, ids),
                };
                for b in ids {
                    let slot = map.entry(b).or_insert(EMPTY);
                    *slot = sets.union(*slot, set);
                }
            }
        }
        // Lists live in metadata packs; they are read a batch at a time, in parallel.
        let list_ids: Vec<(BlobId, u32)> = lists.iter().map(|(l, &s)| (*l, s)).collect();
        for batch in list_ids.chunks(LIST_BATCH) {
            let read: Vec<Result<Vec<BlobId>>> =
                batch.par_iter().map(|(l, _)| repo.read_blob(l).and_then(|b| decode_list(&b).map_err(|e| Error::decode("chunk list", l, e)))).collect();
            for ((_, set), ids) in batch.iter().zip(read) {
                for b in ids? {
                    let slot = data.entry(b).or_insert(EMPTY);
                    *slot = sets.union(*slot, *set);
                }
            }
        }
        // One index lookup per data blob: its sizes, and its base, which is needed wherever the
        // delta is (chains followed, though writers never make them).
        let index = repo.index();
        let mut u = Self { sets, acc: HashMap::new(), needed: BlobTotals::default(), missing: 0 };
        let mut stored: HashMap<BlobId, (u32, u32, u32)> = HashMap::with_capacity(data.len());
        let mut bases: HashMap<BlobId, u32> = HashMap::new();
        for (b, &set) in &data {
            let Some(loc) = index.get(b)? else {
                u.missing += 1;
                continue;
            };
            let a = u.acc.entry(set).or_default();
            a.data_blobs += 1;
            a.unique += u64::from(loc.raw_length);
            stored.insert(*b, (set, loc.length, loc.raw_length));
            let mut cur = loc.base;
            let mut hops = 0;
            while let Some(base) = cur {
                let slot = bases.entry(base).or_insert(EMPTY);
                *slot = u.sets.union(*slot, set);
                hops += 1;
                cur = if hops < 16 { index.get(&base)?.and_then(|l| l.base) } else { None };
            }
        }
        drop(data);
        // A base that no file references is looked up here; one that files reference too is
        // needed by both sets of snapshots.
        for (b, set) in bases {
            match stored.get_mut(&b) {
                Some((s, _, _)) => *s = u.sets.union(*s, set),
                None => {
                    if let Some(loc) = index.get(&b)? {
                        stored.insert(b, (set, loc.length, loc.raw_length));
                    }
                }
            }
        }
        for (set, len, raw) in stored.into_values() {
            u.needed.add(raw, len);
            let a = u.acc.entry(set).or_default();
            a.stored_blobs += 1;
            a.stored += u64::from(len);
        }
        let metadata = g.ids.iter().zip(tree_set.iter().copied()).chain(lists.iter().map(|(l, &s)| (l, s)));
        for (b, set) in metadata {
            match index.get(b)? {
                Some(loc) => {
                    u.needed.add(loc.raw_length, loc.length);
                    let a = u.acc.entry(set).or_default();
                    a.meta_blobs += 1;
                    a.meta_stored += u64::from(loc.length);
                }
                None => u.missing += 1,
            }
        }
        Ok(u)
    }

    /// The figures of the snapshots at positions `members` taken together.
    fn figures(&self, members: &[usize], restore_size: u64) -> RawData {
        let mut r = RawData::default();
        for (&set, a) in &self.acc {
            let inside = members.iter().filter(|&&i| self.sets.contains(set, i)).count();
            if inside == 0 {
                continue;
            }
            r.data_blobs += a.data_blobs;
            r.unique_bytes += a.unique;
            r.stored_bytes += a.stored;
            r.metadata_blobs += a.meta_blobs;
            r.metadata_stored_bytes += a.meta_stored;
            let size: u32 = self.sets.bits(set).iter().map(|w| w.count_ones()).sum();
            if size as usize == inside {
                r.alone_blobs += a.stored_blobs + a.meta_blobs;
                r.alone_bytes += a.stored + a.meta_stored;
            }
        }
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        r.dedup_ratio = ratio(restore_size, r.unique_bytes);
        r.compression_ratio = ratio(r.unique_bytes, r.stored_bytes);
        r
    }

    /// The index's figures; what is not needed is the index's blobs less the needed ones (the
    /// index names each blob once, and dictionaries are never counted as needed).
    fn repository(&self, repo: &Repository, snapshots: usize) -> Result<RepositoryStats> {
        let mut r = RepositoryStats { snapshots: snapshots as u64, missing_blobs: self.missing, ..RepositoryStats::default() };
        for (_, loc) in repo.index().all_blobs()? {
            r.total.add(loc.raw_length, loc.length);
            match loc.kind {
                BlobKind::Data => r.data.add(loc.raw_length, loc.length),
                BlobKind::Tree | BlobKind::List => r.metadata.add(loc.raw_length, loc.length),
                BlobKind::Dict => r.dictionaries.add(loc.raw_length, loc.length),
            }
        }
        let minus = |a: u64, b: u64| a.saturating_sub(b);
        r.unreferenced = BlobTotals {
            blobs: minus(r.total.blobs, r.dictionaries.blobs + self.needed.blobs),
            raw_bytes: minus(r.total.raw_bytes, r.dictionaries.raw_bytes + self.needed.raw_bytes),
            stored_bytes: minus(r.total.stored_bytes, r.dictionaries.stored_bytes + self.needed.stored_bytes),
        };
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_intern_and_unite() {
        let mut s = Sets::new(130);
        let a = s.singleton(0);
        let b = s.singleton(129);
        assert_eq!(s.singleton(0), a);
        let ab = s.union(a, b);
        assert_eq!(s.union(b, a), ab);
        assert_eq!(s.union(ab, a), ab);
        assert_eq!(s.union(EMPTY, b), b);
        assert!(s.contains(ab, 0) && s.contains(ab, 129) && !s.contains(ab, 64));
        assert!(!s.contains(EMPTY, 0));
    }

    #[test]
    fn figures_count_blobs_once_and_alone_only_for_exact_sets() {
        let mut sets = Sets::new(2);
        let only0 = sets.singleton(0);
        let one = sets.singleton(1);
        let both = sets.union(only0, one);
        let mut acc = HashMap::new();
        acc.insert(only0, Acc { data_blobs: 1, unique: 100, stored_blobs: 1, stored: 40, meta_blobs: 1, meta_stored: 10 });
        acc.insert(both, Acc { data_blobs: 2, unique: 300, stored_blobs: 3, stored: 150, meta_blobs: 0, meta_stored: 0 });
        let u = Usage { sets, acc, needed: BlobTotals::default(), missing: 0 };
        let f0 = u.figures(&[0], 800);
        assert_eq!((f0.data_blobs, f0.unique_bytes, f0.stored_bytes, f0.alone_blobs, f0.alone_bytes), (3, 400, 190, 2, 50));
        assert_eq!(f0.dedup_ratio, Some(2.0));
        let f1 = u.figures(&[1], 300);
        assert_eq!((f1.data_blobs, f1.alone_blobs, f1.alone_bytes), (2, 0, 0));
        let both = u.figures(&[0, 1], 1100);
        assert_eq!((both.data_blobs, both.unique_bytes, both.alone_blobs, both.alone_bytes), (3, 400, 5, 200));
    }
}
