//! `prune`: frees the space of blobs no snapshot references. Packs with nothing in use are
//! deleted; partly used packs are repacked when the unused share exceeds a threshold. Ordering
//! keeps every kept snapshot restorable at every instant: new packs, then a new index naming all
//! kept blobs, then old index files are deleted, then old packs.

use std::collections::{HashMap, HashSet};

use super::walk::referenced;
use crate::backend::FileType;
use crate::crypto::aad;
use crate::error::{Error, Result};
use crate::format::pack::{BlobKind, IndexFile, IndexPack, PackEntry};
use crate::format::{BlobId, IndexId, PackId};
use crate::repo::pack::pack_size;
use crate::repo::saver::BlobSaver;
use crate::repo::Repository;

/// Index files written by prune hold at most this many blobs each.
const BLOBS_PER_INDEX: usize = 100_000;

#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Repack partly used packs until unused bytes are at most this share of the repository.
    pub max_unused: f64,
    pub repack_all: bool,
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        Self { max_unused: 0.05, repack_all: false, dry_run: false }
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
    /// Packs not named by any index (deleted).
    pub packs_orphaned: u64,
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

/// Runs prune. The caller must hold an exclusive lock.
///
/// # Errors
/// A snapshot whose trees cannot be read (prune then deletes nothing), storage errors.
pub fn prune(repo: &Repository, opts: &PruneOptions) -> Result<PruneReport> {
    let mut report = PruneReport { dry_run: opts.dry_run, ..PruneReport::default() };
    let snaps = repo.snapshots()?;
    let roots: Vec<BlobId> = snaps.iter().map(|(_, s)| s.tree).collect();
    let mut used = referenced(repo, &roots).map_err(|e| Error::Invalid(format!("prune refused, nothing was deleted: a snapshot cannot be read: {e}")))?;

    // Every pack the index files name, with what of it is still needed. A blob stored twice is
    // kept in the first pack that has it.
    let index_ids: Vec<IndexId> = repo.backend.list(FileType::Index)?.iter().filter_map(|n| n.parse().ok()).collect();
    let mut packs: HashMap<PackId, PackInfo> = HashMap::new();
    let mut owner: HashMap<BlobId, PackId> = HashMap::new();
    let index_files = index_ids.iter().map(|id| repo.load_index_file(id)).collect::<Result<Vec<_>>>()?;
    // A delta's base is used as long as the delta is (bases are never deltas themselves, but
    // follow chains anyway so a foreign writer's cannot lose data).
    let bases: HashMap<BlobId, BlobId> = index_files.iter().flat_map(|f| &f.packs).flat_map(|p| &p.entries).filter_map(|e| Some((e.id, e.base?))).collect();
    let mut frontier: Vec<BlobId> = used.iter().filter_map(|id| bases.get(id).copied()).collect();
    while let Some(b) = frontier.pop() {
        if used.insert(b) {
            frontier.extend(bases.get(&b).copied());
        }
    }
    for file in index_files {
        for p in file.packs {
            if packs.contains_key(&p.id) {
                continue;
            }
            for e in &p.entries {
                // Dictionaries are kept whatever refers to them: data blobs that stay may need
                // them, and finding out would mean reading every data blob. They are few and small.
                if e.kind == BlobKind::Dict {
                    used.insert(e.id);
                }
                if used.contains(&e.id) {
                    owner.entry(e.id).or_insert(p.id);
                }
            }
            let size = pack_size(&p.entries);
            packs.insert(p.id, PackInfo { entries: p.entries, used_bytes: 0, unused_bytes: 0, size });
        }
    }
    let missing: Vec<&BlobId> = used.iter().filter(|b| !owner.contains_key(*b)).collect();
    if let Some(b) = missing.first() {
        return Err(Error::Invalid(format!(
            "prune refused, nothing was deleted: {} blob(s) that snapshots need are in no index (first {b}); run `snap check`",
            missing.len()
        )));
    }
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
    let listed: Vec<PackId> = repo.backend.list(FileType::Pack)?.iter().filter_map(|n| n.parse().ok()).collect();
    let orphans: Vec<PackId> = listed.iter().filter(|p| !packs.contains_key(*p)).copied().collect();
    report.packs_before = listed.len() as u64;
    report.bytes_before = packs.values().map(|p| p.size).sum();

    // Decide: delete the unused, repack the partly used (worst first) as far as needed.
    let mut delete: Vec<PackId> = packs.iter().filter(|(_, p)| p.used_bytes == 0).map(|(id, _)| *id).collect();
    let mut partly: Vec<(&PackId, &PackInfo)> = packs.iter().filter(|(_, p)| p.used_bytes > 0 && p.unused_bytes > 0).collect();
    partly.sort_by(|a, b| (b.1.unused_bytes * a.1.size).cmp(&(a.1.unused_bytes * b.1.size)).then(a.0.cmp(b.0)));
    let total_after_delete: u64 = packs.values().filter(|p| p.used_bytes > 0).map(|p| p.size).sum();
    let mut unused_left: u64 = partly.iter().map(|(_, p)| p.unused_bytes).sum();
    let limit = (opts.max_unused * total_after_delete as f64) as u64;
    let mut repack: Vec<PackId> = Vec::new();
    for (id, p) in partly {
        if !opts.repack_all && unused_left <= limit {
            break;
        }
        repack.push(*id);
        unused_left -= p.unused_bytes;
    }
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
    for pid in &repack {
        let bytes = repo.backend.read(&FileType::Pack.path(&pid.to_hex()))?;
        for e in &packs[pid].entries {
            if owner.get(&e.id) != Some(pid) {
                continue;
            }
            let sealed = bytes.get(e.offset as usize..e.offset as usize + e.length as usize).ok_or_else(|| Error::corrupt("blob", e.id, "outside its pack"))?;
            // Verified, then copied as sealed: the blob's AAD binds its kind and id, not its place.
            repo.open_blob(e.kind, &e.id, e.compression, e.raw_length, e.base.as_ref(), sealed)
                .map_err(|err| Error::Invalid(format!("prune stopped before deleting anything: {err}")))?;
            saver.store_sealed(e.kind, &e.id, e.compression, e.raw_length, e.base, sealed)?;
            report.blobs_repacked += 1;
        }
    }
    let stats = saver.finish()?;
    report.packs_written = stats.packs;
    fail_point("prune-after-repack");

    // 2. One new set of index files naming every kept pack (all of its blobs) and the new packs.
    let mut kept: Vec<IndexPack> = packs
        .iter()
        .filter(|(id, p)| p.used_bytes > 0 && !repack.contains(id))
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
        written.insert(IndexId(repo.save_sealed(FileType::Index, aad::INDEX, &file.encode())?));
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
    for id in superseded.iter().filter(|id| !written.contains(id)) {
        repo.backend.delete(&FileType::Index.path(&id.to_hex()))?;
    }
    fail_point("prune-after-index-delete");
    delete.extend(repack.iter().copied());
    delete.extend(orphans.iter().copied());
    for (i, pid) in delete.iter().enumerate() {
        repo.backend.delete(&FileType::Pack.path(&pid.to_hex()))?;
        if i == 0 {
            fail_point("prune-during-pack-delete");
        }
    }
    repo.sync_index()?;
    Ok(report)
}
