//! `repair index`: rebuilds the index files from the pack headers, for when index files are lost
//! or damaged. The new files are written before the old ones are removed.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rayon::prelude::*;

use crate::backend::FileType;
use crate::crypto::aad;
use crate::error::Result;
use crate::format::pack::{IndexFile, IndexPack};
use crate::format::{IndexId, PackId};
use crate::repo::Repository;

const PACKS_PER_INDEX: usize = 256;
/// A new index file is started once one holds this many blobs, so each stays well below the
/// size readers accept ([`crate::backend::MAX_INDEX_FILE`]).
const BLOBS_PER_INDEX: usize = 100_000;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepairReport {
    pub packs: u64,
    pub blobs: u64,
    pub index_files_written: u64,
    pub index_files_removed: u64,
    /// Packs whose header could not be read, with the reason; their blobs stay lost.
    pub unreadable: Vec<String>,
}

/// Rebuilds `index/` from every pack's header. The caller must hold an exclusive lock.
///
/// # Errors
/// Storage errors while listing or writing.
pub fn repair_index(repo: &Repository) -> Result<RepairReport> {
    let old: Vec<IndexId> = repo.backend.list(FileType::Index)?.iter().filter_map(|n| n.parse().ok()).collect();
    let packs: Vec<PackId> = repo.backend.list(FileType::Pack)?.iter().filter_map(|n| n.parse().ok()).collect();
    let unreadable = Mutex::new(Vec::new());
    let blobs = AtomicU64::new(0);
    let mut found: Vec<IndexPack> = packs
        .par_iter()
        .filter_map(|id| match repo.read_pack_header(id) {
            Ok(entries) => {
                blobs.fetch_add(entries.len() as u64, Ordering::Relaxed);
                Some(IndexPack { id: *id, entries })
            }
            Err(e) => {
                unreadable.lock().push(format!("pack {id}: {e}"));
                None
            }
        })
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let mut report = RepairReport { packs: found.len() as u64, blobs: blobs.into_inner(), ..RepairReport::default() };
    let mut written = Vec::new();
    let mut groups: Vec<Vec<IndexPack>> = vec![Vec::new()];
    let mut blobs_in_last = 0;
    for p in found {
        if let Some(last) = groups.last_mut().filter(|g| g.len() < PACKS_PER_INDEX && blobs_in_last < BLOBS_PER_INDEX) {
            blobs_in_last += p.entries.len();
            last.push(p);
        } else {
            blobs_in_last = p.entries.len();
            groups.push(vec![p]);
        }
    }
    for group in groups.into_iter().filter(|g| !g.is_empty()) {
        let file = IndexFile { supersedes: old.clone(), packs: group };
        written.push(IndexId(repo.save_sealed(FileType::Index, aad::INDEX, &file.encode())?));
    }
    report.index_files_written = written.len() as u64;
    for id in old.iter().filter(|id| !written.contains(id)) {
        repo.backend.delete(&FileType::Index.path(&id.to_hex()))?;
        report.index_files_removed += 1;
    }
    repo.sync_index()?;
    let mut u = unreadable.into_inner();
    u.sort();
    report.unreadable = u;
    Ok(report)
}
