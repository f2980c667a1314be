//! `repair index`: rebuilds the index files from the pack headers, for when index files are lost
//! or damaged. The new files are written before any old one is removed, and an old one is removed
//! only when every pack it names was re-read (or is gone from a listing that succeeded): a pack
//! whose header could not be read this time keeps the entries it had, so a transient read error
//! can never un-index a pack and hand it to the next prune.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rayon::prelude::*;

use crate::error::{Error, Result};
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
    /// Old index files kept because a pack they name could not be re-read (or they could not
    /// be read themselves while a pack could not be either), with the reason.
    pub index_files_kept: Vec<String>,
    /// Packs whose header could not be read, with the reason; their blobs keep whatever entries
    /// the old index files give them.
    pub unreadable: Vec<String>,
}

/// Rebuilds `index/` from every pack's header. The caller must hold an exclusive lock.
///
/// # Errors
/// Storage errors while listing or writing.
pub fn repair_index(repo: &Repository) -> Result<RepairReport> {
    let old: Vec<IndexId> = repo.ids()?;
    let packs: Vec<PackId> = repo.ids()?;
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
                unreadable.lock().push((*id, e));
                None
            }
        })
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    let mut unreadable = unreadable.into_inner();
    unreadable.sort_by(|a, b| a.0.cmp(&b.0));
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
        written.push(repo.save_index_file(&IndexFile { supersedes: old.clone(), packs: group })?);
    }
    report.index_files_written = written.len() as u64;

    let failed: HashSet<PackId> = unreadable.iter().map(|(id, _)| *id).collect();
    for id in old.iter().filter(|id| !written.contains(id)) {
        match removable(repo, id, &failed) {
            Ok(()) => {
                repo.delete_index_file(id)?;
                report.index_files_removed += 1;
            }
            Err(why) => report.index_files_kept.push(format!("index file {}: {why}", id.short())),
        }
    }
    repo.sync_index()?;
    report.unreadable = unreadable.into_iter().map(|(id, e)| format!("pack {id}: {e}")).collect();
    Ok(report)
}

/// Whether an old index file may go: it names no pack whose header failed to read. One that
/// cannot be read itself may go only when it is damaged (not a failed read) and no pack failed,
/// since then every listed pack is in the new index files.
fn removable(repo: &Repository, id: &IndexId, failed: &HashSet<PackId>) -> std::result::Result<(), String> {
    match repo.load_index_file(id) {
        Ok(file) => match file.packs.iter().find(|p| failed.contains(&p.id)) {
            Some(p) => Err(format!("kept: it names pack {}, whose header could not be read", p.id.short())),
            None => Ok(()),
        },
        Err(e @ Error::Backend { .. }) => Err(format!("kept: it could not be read ({e})")),
        Err(e) if !failed.is_empty() => Err(format!("kept: it is damaged ({e}) and some packs could not be read")),
        Err(_) => Ok(()),
    }
}
