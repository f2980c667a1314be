//! Adopting orphan packs: a backup killed before it wrote its last index file leaves packs that
//! no index names. They are whole (every pack is written atomically) and hold blobs the next
//! backup would otherwise upload again, so a backup first verifies them and indexes the ones that
//! hold something the index lacks.

use parking_lot::Mutex;
use rayon::prelude::*;

use crate::error::Result;
use crate::format::pack::{IndexFile, IndexPack, PackEntry};
use crate::format::IndexId;
use crate::repo::Repository;

/// What [`adopt_orphans`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdoptReport {
    /// Packs no index names.
    pub orphans: u64,
    /// Orphans verified and indexed.
    pub adopted: u64,
    /// Blobs the adopted packs made available.
    pub blobs: u64,
    /// The index file written for them.
    pub index_file: Option<IndexId>,
    /// Orphans left alone, with why (damaged, unreadable, nothing new, a delta whose base is
    /// gone). Prune deletes them once they are older than its grace period.
    pub skipped: Vec<String>,
}

/// Indexes every orphan pack that verifies (its bytes hash to its name and its header opens)
/// and holds a blob the index lacks, provided every delta in it has its base indexed: an
/// adopted pack must never make the index name a blob that cannot be read. The caller holds a
/// lock (shared is enough: adopting only adds an index file).
///
/// # Errors
/// Listing fails, or the index file cannot be written.
pub fn adopt_orphans(repo: &Repository) -> Result<AdoptReport> {
    let mut orphans = Vec::new();
    // One listing serves twice: it finds the orphans, and from now on a blob the index places in
    // a pack that is gone or cut short counts as absent, so the backup stores it again.
    for id in repo.learn_stored_packs()? {
        if !repo.index().has_pack(&id)? {
            orphans.push(id);
        }
    }
    let mut report = AdoptReport { orphans: orphans.len() as u64, ..AdoptReport::default() };
    if orphans.is_empty() {
        return Ok(report);
    }
    let skipped = Mutex::new(Vec::new());
    let verified: Vec<IndexPack> = orphans
        .par_iter()
        .with_max_len(1)
        .filter_map(|id| match repo.read_pack(id).and_then(|bytes| repo.parse_pack(id, &bytes)) {
            Ok(entries) => Some(IndexPack { id: *id, entries }),
            Err(e) => {
                skipped.lock().push(format!("pack {}: {e}", id.short()));
                None
            }
        })
        .collect();
    let mut skipped = skipped.into_inner();
    let mut adopt = Vec::new();
    for p in verified {
        match worth_adopting(repo, &p.entries)? {
            Ok(()) => adopt.push(p),
            Err(why) => skipped.push(format!("pack {}: {why}", p.id.short())),
        }
    }
    skipped.sort();
    report.skipped = skipped;
    if adopt.is_empty() {
        return Ok(report);
    }
    adopt.sort_by(|a, b| a.id.cmp(&b.id));
    report.adopted = adopt.len() as u64;
    report.blobs = adopt.iter().map(|p| p.entries.len() as u64).sum();
    let file = IndexFile { supersedes: Vec::new(), packs: adopt };
    let id = repo.save_index_file(&file)?;
    repo.index().ingest(&id, &file)?;
    report.index_file = Some(id);
    Ok(report)
}

/// `Ok(Ok(()))` when a verified orphan holds a blob the index cannot give and every delta in it
/// has an indexed base (bases are never deltas, spec §7.2); otherwise why not.
fn worth_adopting(repo: &Repository, entries: &[PackEntry]) -> Result<std::result::Result<(), String>> {
    let mut new = false;
    for e in entries {
        if let Some(base) = &e.base {
            if !repo.readable_in_index(base)? {
                return Ok(Err(format!("blob {} is a delta of blob {}, which is in no index", e.id.short(), base.short())));
            }
        }
        new = new || !repo.readable_in_index(&e.id)?;
    }
    Ok(if new { Ok(()) } else { Err("every blob in it is indexed elsewhere".to_string()) })
}
