//! `prune`: frees the space of blobs no snapshot references. Packs with nothing in use are
//! deleted; partly used packs are repacked when the unused share exceeds a threshold. Ordering
//! keeps every kept snapshot restorable at every instant: new packs, then a new index naming all
//! kept blobs, then old index files are deleted, then old packs.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use super::walk::referenced;
use crate::error::{Error, Result};
use crate::format::pack::{BlobKind, IndexFile, IndexPack, PackEntry};
use crate::format::{BlobId, IndexId, PackId};
use crate::repo::lock::LockGuard;
use crate::repo::pack::pack_size;
use crate::repo::saver::BlobSaver;
use crate::repo::Repository;

/// Packs deleted between two checks that the lock is still held.
const PACKS_PER_LOCK_CHECK: usize = 200;

/// Index files written by prune hold at most this many blobs each.
const BLOBS_PER_INDEX: usize = 100_000;

#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Repack partly used packs until unused bytes are at most this share of the repository.
    pub max_unused: f64,
    pub repack_all: bool,
    pub dry_run: bool,
    /// A pack no index names is deleted only when the storage wrote it at least this long ago:
    /// a backup still uploading (whose lock failed, or was judged stale) has such packs too.
    pub orphan_grace: Duration,
}

/// Live counters for a progress display: the stage prune is in, and the packs and bytes of that
/// stage (repacking counts packs read, deleting packs deleted).
#[derive(Debug, Default)]
pub struct PruneProgress {
    /// [`PruneProgress::READING`], [`PruneProgress::REPACKING`] or [`PruneProgress::DELETING`].
    pub stage: AtomicU8,
    pub packs_total: AtomicU64,
    pub packs_done: AtomicU64,
    pub bytes_total: AtomicU64,
    pub bytes_done: AtomicU64,
}

impl PruneProgress {
    /// Reading snapshots, trees and index files, and planning.
    pub const READING: u8 = 0;
    /// Copying the blobs still needed out of partly used packs.
    pub const REPACKING: u8 = 1;
    /// Writing the new index, then deleting old index files and packs.
    pub const DELETING: u8 = 2;

    /// Enters `stage` with `packs` packs of `bytes` bytes to go through.
    fn begin(&self, stage: u8, packs: u64, bytes: u64) {
        self.packs_done.store(0, Ordering::Relaxed);
        self.bytes_done.store(0, Ordering::Relaxed);
        self.packs_total.store(packs, Ordering::Relaxed);
        self.bytes_total.store(bytes, Ordering::Relaxed);
        self.stage.store(stage, Ordering::Relaxed);
    }

    fn done(&self, bytes: u64) {
        self.packs_done.fetch_add(1, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Default of [`PruneOptions::orphan_grace`].
pub const ORPHAN_GRACE: Duration = Duration::from_secs(24 * 3600);

impl Default for PruneOptions {
    fn default() -> Self {
        Self { max_unused: 0.05, repack_all: false, dry_run: false, orphan_grace: ORPHAN_GRACE }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PruneReport {
    pub packs_before: u64,
    pub bytes_before: u64,
    pub blobs_used: u64,
    pub blobs_unused: u64,
    pub bytes_unused: u64,
    /// Packs holding no used blob (deleted).
    pub packs_deleted: u64,
    /// Packs not named by any index, old enough to delete (deleted).
    pub packs_orphaned: u64,
    /// Packs not named by any index but younger than the grace period, or of unknown age (kept).
    pub packs_orphaned_kept: u64,
    pub packs_repacked: u64,
    pub blobs_repacked: u64,
    pub packs_written: u64,
    pub bytes_freed: u64,
    pub bytes_after: u64,
    pub dry_run: bool,
}

/// A named point where tests can make prune stop dead (`SNAP_FAIL_AT=<name>` aborts the process
/// there), to prove that a crash at any step leaves a valid repository.
fn fail_point(name: &str) {
    if std::env::var("SNAP_FAIL_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

struct PackInfo {
    entries: Vec<PackEntry>,
    used_bytes: u64,
    unused_bytes: u64,
    size: u64,
}

/// What prune will do, decided before anything is written.
struct Plan {
    /// For every blob that stays, the pack it stays in (the first, in index order, that has it).
    owner: HashMap<BlobId, PackId>,
    /// Packs with nothing that stays.
    delete: Vec<PackId>,
    /// Partly used packs whose staying blobs are copied out before the pack is deleted.
    repack: Vec<PackId>,
}

/// Decides what stays and where. `used` is what the snapshots reach.
///
/// What stays is closed under "needs": a delta needs its base, and every entry of a pack that is
/// kept as it is stays in the index (a pack is indexed whole), so the base of every delta in a
/// kept pack stays too, even when no snapshot uses that delta. Without that rule a kept pack's
/// unused delta outlives its base, and a later backup that deduplicates against it stores a
/// blob nobody can read. Keeping a base can turn a deleted pack into a partly used one, so the
/// decision is repeated until nothing more is needed. A kept pack's unused delta whose base is
/// in no index at all cannot be made whole: that pack is repacked instead, and the delta goes.
///
/// # Errors
/// A blob the snapshots need (or its base) is in no index: prune refuses before deleting.
fn plan(packs: &HashMap<PackId, PackInfo>, order: &[PackId], mut used: HashSet<BlobId>, opts: &PruneOptions) -> Result<Plan> {
    let bases: HashMap<BlobId, BlobId> = packs.values().flat_map(|p| &p.entries).filter_map(|e| Some((e.id, e.base?))).collect();
    let indexed: HashSet<BlobId> = packs.values().flat_map(|p| &p.entries).map(|e| e.id).collect();
    // Dictionaries are kept whatever refers to them: data blobs that stay may need them, and
    // finding out would mean reading every data blob. They are few and small.
    used.extend(packs.values().flat_map(|p| &p.entries).filter(|e| e.kind == BlobKind::Dict).map(|e| e.id));
    close_over_bases(&mut used, &bases);
    let missing: Vec<&BlobId> = used.iter().filter(|b| !indexed.contains(*b)).collect();
    if let Some(b) = missing.first() {
        return Err(Error::Refused(format!(
            "prune refused, nothing was deleted: {} blob(s) that snapshots need are in no index (first {b}); run `snap check`",
            missing.len()
        )));
    }
    let mut forced: HashSet<PackId> = HashSet::new();
    loop {
        let mut owner: HashMap<BlobId, PackId> = HashMap::new();
        for pid in order {
            for e in packs.get(pid).map(|p| p.entries.as_slice()).unwrap_or_default() {
                if used.contains(&e.id) {
                    owner.entry(e.id).or_insert(*pid);
                }
            }
        }
        let usage = |pid: &PackId, p: &PackInfo| -> (u64, u64) {
            p.entries.iter().fold((0, 0), |(u, n), e| if owner.get(&e.id) == Some(pid) { (u + u64::from(e.length), n) } else { (u, n + u64::from(e.length)) })
        };
        let mut delete = Vec::new();
        let mut partly: Vec<(PackId, u64, u64)> = Vec::new();
        let mut total_after_delete = 0u64;
        for pid in order {
            let Some(p) = packs.get(pid) else { continue };
            let (u, n) = usage(pid, p);
            if u == 0 {
                delete.push(*pid);
                continue;
            }
            total_after_delete += p.size;
            if n > 0 {
                partly.push((*pid, n, p.size));
            }
        }
        // Forced first, then the worst (largest unused share) until the unused bytes left are
        // within the limit.
        partly.sort_by(|a, b| forced.contains(&b.0).cmp(&forced.contains(&a.0)).then((u128::from(b.1) * u128::from(a.2)).cmp(&(u128::from(a.1) * u128::from(b.2)))).then(a.0.cmp(&b.0)));
        let mut unused_left: u64 = partly.iter().map(|p| p.1).sum();
        let limit = (opts.max_unused * total_after_delete as f64) as u64;
        let mut repack = Vec::new();
        for (pid, unused, _) in partly {
            if !forced.contains(&pid) && !opts.repack_all && unused_left <= limit {
                break;
            }
            repack.push(pid);
            unused_left -= unused;
        }
        // Every delta left in a kept pack needs its base.
        let gone: HashSet<&PackId> = delete.iter().chain(&repack).collect();
        let mut more = Vec::new();
        let mut force_more = false;
        for pid in order {
            if gone.contains(pid) {
                continue;
            }
            for e in packs.get(pid).map(|p| p.entries.as_slice()).unwrap_or_default() {
                let Some(base) = e.base else { continue };
                if used.contains(&base) {
                    continue;
                }
                if indexed.contains(&base) {
                    more.push(base);
                } else if forced.insert(*pid) {
                    force_more = true;
                }
            }
        }
        if more.is_empty() && !force_more {
            return Ok(Plan { owner, delete, repack });
        }
        used.extend(more);
        close_over_bases(&mut used, &bases);
    }
}

/// Adds to `used` the base of every delta in it, following chains (bases are never deltas, but
/// a foreign writer's chains must not lose data either).
fn close_over_bases(used: &mut HashSet<BlobId>, bases: &HashMap<BlobId, BlobId>) {
    let mut frontier: Vec<BlobId> = used.iter().filter_map(|id| bases.get(id).copied()).collect();
    while let Some(b) = frontier.pop() {
        if used.insert(b) {
            frontier.extend(bases.get(&b).copied());
        }
    }
}

/// Runs prune under `lock`, an exclusive lock, which is checked ([`LockGuard::ensure_held`])
/// before the new index files are written, before old index files are deleted, and before (and
/// while) packs are deleted: a lock that can no longer be trusted stops prune before that step.
///
/// # Errors
/// A snapshot whose trees cannot be read (prune then deletes nothing), a lost lock, storage
/// errors.
pub fn prune(repo: &Repository, opts: &PruneOptions, lock: &LockGuard) -> Result<PruneReport> {
    prune_with(repo, opts, lock, &PruneProgress::default())
}

/// [`prune`], counting what it does into `progress`.
///
/// # Errors
/// As [`prune`].
pub fn prune_with(repo: &Repository, opts: &PruneOptions, lock: &LockGuard, progress: &PruneProgress) -> Result<PruneReport> {
    let mut report = PruneReport { dry_run: opts.dry_run, ..PruneReport::default() };
    let scan = repo.scan_snapshots()?;
    // What an unreadable snapshot references is unknown: deleting anything could lose it.
    if let Some((id, e)) = scan.unreadable.first() {
        return Err(Error::Refused(format!(
            "prune refused, nothing was deleted: snapshot {} cannot be read ({e}); if it is damaged beyond repair, `snap forget {}` removes it",
            id.short(),
            id
        )));
    }
    let roots: Vec<BlobId> = scan.readable.iter().map(|(_, s)| s.tree).collect();
    let used = referenced(repo, &roots).map_err(|e| Error::Refused(format!("prune refused, nothing was deleted: a snapshot cannot be read: {e}")))?;

    // Every pack the index files name, in index order, with its entries.
    // Every index file must be read: the packs of one that cannot be would look unindexed.
    let index_ids: Vec<IndexId> = repo.ids()?;
    let index_files = index_ids
        .iter()
        .map(|id| repo.load_index_file(id).map_err(|e| Error::Refused(format!("prune refused, nothing was deleted: index file {} cannot be read ({e}); run `snap check`", id.short()))))
        .collect::<Result<Vec<_>>>()?;
    let mut order: Vec<PackId> = Vec::new();
    let mut packs: HashMap<PackId, PackInfo> = HashMap::new();
    for file in index_files {
        for p in file.packs {
            if packs.contains_key(&p.id) {
                continue;
            }
            let size = pack_size(&p.entries);
            order.push(p.id);
            packs.insert(p.id, PackInfo { entries: p.entries, used_bytes: 0, unused_bytes: 0, size });
        }
    }
    let plan = plan(&packs, &order, used, opts)?;
    let owner = plan.owner;
    for (pid, info) in &mut packs {
        for e in &info.entries {
            if owner.get(&e.id) == Some(pid) {
                info.used_bytes += u64::from(e.length);
                report.blobs_used += 1;
            } else {
                info.unused_bytes += u64::from(e.length);
                report.blobs_unused += 1;
            }
        }
        report.bytes_unused += info.unused_bytes;
    }
    let listed: Vec<PackId> = repo.ids()?;
    let mut orphans: Vec<PackId> = Vec::new();
    let now = repo.storage_now()?;
    for p in listed.iter().filter(|p| !packs.contains_key(*p)) {
        // Of unknown age (no times on this storage, or the pack vanished meanwhile): kept.
        let age = if opts.orphan_grace.is_zero() { Some(Duration::ZERO) } else { repo.pack_age(p, now).ok().flatten() };
        match age {
            Some(a) if a >= opts.orphan_grace => orphans.push(*p),
            _ => report.packs_orphaned_kept += 1,
        }
    }
    report.packs_before = listed.len() as u64;
    report.bytes_before = packs.values().map(|p| p.size).sum();

    let mut delete = plan.delete;
    let repack = plan.repack;
    report.packs_deleted = delete.len() as u64;
    report.packs_orphaned = orphans.len() as u64;
    report.packs_repacked = repack.len() as u64;
    let freed_packs: u64 = delete.iter().chain(repack.iter()).map(|id| packs[id].size).sum();
    let repacked_used: u64 = repack.iter().map(|id| packs[id].used_bytes).sum();
    report.bytes_freed = freed_packs.saturating_sub(repacked_used);
    report.bytes_after = report.bytes_before.saturating_sub(report.bytes_freed);
    if opts.dry_run || (delete.is_empty() && repack.is_empty() && orphans.is_empty()) {
        return Ok(report);
    }

    // 1. Copy what is still needed out of the packs being repacked into new packs.
    let saver = BlobSaver::new(repo);
    let size_of = |id: &PackId| packs.get(id).map_or(0, |p| p.size);
    progress.begin(PruneProgress::REPACKING, repack.len() as u64, repack.iter().map(size_of).sum());
    for pid in &repack {
        let bytes = repo.read_pack(pid)?;
        for e in &packs[pid].entries {
            if owner.get(&e.id) != Some(pid) {
                continue;
            }
            let sealed = bytes.get(e.offset as usize..e.offset as usize + e.length as usize).ok_or_else(|| Error::corrupt("blob", e.id, "outside its pack"))?;
            // Verified, then copied as sealed: the blob's AAD binds its kind and id, not its place.
            repo.open_blob(e.kind, &e.id, e.compression, e.raw_length, e.base.as_ref(), sealed)
                .map_err(|err| Error::Refused(format!("prune stopped before deleting anything: {err}")))?;
            saver.store_sealed(e.kind, &e.id, e.compression, e.raw_length, e.base, sealed)?;
            report.blobs_repacked += 1;
        }
        progress.done(size_of(pid));
    }
    let stats = saver.finish()?;
    report.packs_written = stats.packs;
    fail_point("prune-after-repack");

    // 2. One new set of index files naming every kept pack (all of its blobs) and the new packs.
    progress.begin(PruneProgress::DELETING, (delete.len() + repack.len() + orphans.len()) as u64, delete.iter().chain(&repack).chain(&orphans).map(size_of).sum());
    lock.ensure_held()?;
    let repacked: HashSet<&PackId> = repack.iter().collect();
    let mut kept: Vec<IndexPack> = packs
        .iter()
        .filter(|(id, p)| p.used_bytes > 0 && !repacked.contains(id))
        .map(|(id, p)| IndexPack { id: *id, entries: p.entries.clone() })
        .collect();
    for id in &stats.index_files {
        kept.extend(repo.load_index_file(id)?.packs);
    }
    kept.sort_by(|a, b| a.id.cmp(&b.id));
    let mut superseded: Vec<IndexId> = index_ids.clone();
    superseded.extend(stats.index_files.iter().copied());
    let mut written: HashSet<IndexId> = HashSet::new();
    let mut batch: Vec<IndexPack> = Vec::new();
    let mut count = 0usize;
    let flush = |batch: &mut Vec<IndexPack>, written: &mut HashSet<IndexId>| -> Result<()> {
        let file = IndexFile { supersedes: superseded.clone(), packs: std::mem::take(batch) };
        written.insert(repo.save_index_file(&file)?);
        Ok(())
    };
    for p in kept {
        count += p.entries.len();
        batch.push(p);
        if count >= BLOBS_PER_INDEX {
            flush(&mut batch, &mut written)?;
            count = 0;
        }
    }
    if !batch.is_empty() || written.is_empty() {
        flush(&mut batch, &mut written)?;
    }
    fail_point("prune-after-index");

    // 3. Old index files, then 4. old packs.
    lock.ensure_held()?;
    for id in superseded.iter().filter(|id| !written.contains(id)) {
        repo.delete_index_file(id)?;
    }
    fail_point("prune-after-index-delete");
    delete.extend(repack.iter().copied());
    delete.extend(orphans.iter().copied());
    lock.ensure_held()?;
    for (i, pid) in delete.iter().enumerate() {
        if i > 0 && i % PACKS_PER_LOCK_CHECK == 0 {
            lock.ensure_held()?;
        }
        repo.delete_pack(pid)?;
        progress.done(size_of(pid));
        if i == 0 {
            fail_point("prune-during-pack-delete");
        }
    }
    repo.sync_index()?;
    Ok(report)
}
