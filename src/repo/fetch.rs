//! Reading many data blobs at once, as `dump` does for a stream: the blobs and the delta bases
//! they need are grouped by pack into as few ranged reads as possible, the reads run in
//! parallel, and every blob is opened and verified in parallel, each base once per batch. On
//! remote storage a stream then costs a few requests per pack instead of one per blob, and a
//! delta's base is never fetched on a second pass.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rayon::prelude::*;

use super::blob::{self, Dict, References};
use super::Repository;
use crate::error::{Error, Result};
use crate::format::pack::{BlobKind, Compression};
use crate::format::{BlobId, PackId};
use crate::index::BlobLocation;

/// Reads of one pack at most this far apart are merged into one request on a local disk,
/// where a read costs a system call...
const LOCAL_MERGE_GAP: u64 = 64 << 10;
/// ...and on remote storage, where it costs a round trip that would carry about this much.
const REMOTE_MERGE_GAP: u64 = 1 << 20;
/// A merged read grows no larger than this (memory; the pieces of a read are in flight together).
const MAX_READ: u64 = 8 << 20;

/// One ranged read of a pack, and the blobs it holds.
struct Read {
    pack: PackId,
    start: u64,
    end: u64,
}

/// Where a needed blob lies: which read, and where in it.
#[derive(Clone, Copy)]
struct Place {
    read: usize,
    at: usize,
}

/// The delta bases of one batch, opened and verified, by id.
struct Bases<'r> {
    repo: &'r Repository,
    opened: HashMap<BlobId, Arc<Vec<u8>>>,
}

impl References for Bases<'_> {
    fn dict(&self, id: &BlobId) -> Result<Arc<Dict>> {
        self.repo.dict(id)
    }

    fn base(&self, id: &BlobId) -> Result<Arc<Vec<u8>>> {
        match self.opened.get(id) {
            Some(b) => Ok(Arc::clone(b)),
            // Not planned (a base that could not be located): read it alone, which names the
            // problem.
            None => References::base(self.repo, id),
        }
    }
}

impl Repository {
    /// The merge gap for this repository's storage.
    fn merge_gap(&self) -> u64 {
        if self.is_remote() { REMOTE_MERGE_GAP } else { LOCAL_MERGE_GAP }
    }

    /// Runs `reads` in parallel where the storage takes parallel reads well, one after the
    /// other over SFTP (see [`crate::backend::Backend::parallel_reads`]). Results come in the
    /// order of `reads`.
    fn read_all(&self, reads: &[Read]) -> Vec<Result<Vec<u8>>> {
        let one = |r: &Read| self.read_pack_range(&r.pack, r.start, r.end - r.start);
        if self.backend.parallel_reads() { reads.par_iter().map(one).collect() } else { reads.iter().map(one).collect() }
    }

    /// Reads the data blobs `wanted` (each with its location, from [`Repository::locate`]) and
    /// returns their plaintexts in the same order, every one verified against its id.
    ///
    /// # Errors
    /// A read that fails, or a blob that cannot be opened or verified (a delta whose base
    /// cannot be read included); nothing of the batch is returned then.
    pub fn read_blobs(&self, wanted: &[(BlobId, BlobLocation)]) -> Result<Vec<Vec<u8>>> {
        // The bases the deltas need, located; a base that cannot be located is left to the
        // delta's own open, which reports it.
        let mut bases: Vec<(BlobId, BlobLocation)> = Vec::new();
        let mut seen: HashSet<BlobId> = HashSet::new();
        for (_, loc) in wanted {
            if let (Compression::ZstdDelta, Some(b)) = (loc.compression, loc.base)
                && seen.insert(b)
                && let Ok(bl) = self.locate(&b)
                && bl.kind == BlobKind::Data
                && bl.compression != Compression::ZstdDelta
            {
                bases.push((b, bl));
            }
        }

        let (reads, places) = plan(wanted.iter().chain(&bases).map(|(_, l)| l), self.merge_gap());
        let mut data = self.read_all(&reads);
        // A failed read of a wanted blob ends the batch; a failed read of a base only leaves
        // that base to be read alone by its delta, which reports what is wrong with it.
        if let Some(p) = places[..wanted.len()].iter().find(|p| data[p.read].is_err())
            && let Err(e) = std::mem::replace(&mut data[p.read], Ok(Vec::new()))
        {
            return Err(e);
        }
        let data: Vec<Option<Vec<u8>>> = data.into_iter().map(Result::ok).collect();
        let sealed = |i: usize, loc: &BlobLocation| -> Result<&[u8]> {
            let p = places[i];
            data[p.read]
                .as_deref()
                .and_then(|bytes| bytes.get(p.at..p.at + loc.length as usize))
                .ok_or_else(|| Error::corrupt("pack", loc.pack, "shorter than its index says"))
        };

        let n = wanted.len();
        let opened: HashMap<BlobId, Arc<Vec<u8>>> = bases
            .par_iter()
            .enumerate()
            .filter_map(|(i, (id, loc))| {
                let plain = sealed(n + i, loc).and_then(|s| self.open_blob(loc.kind, id, loc.compression, loc.raw_length, None, s)).ok()?;
                blob::usable_base(&plain).then(|| (*id, Arc::new(plain)))
            })
            .collect();
        let refs = Bases { repo: self, opened };
        wanted
            .par_iter()
            .enumerate()
            .map(|(i, (id, loc))| {
                let s = sealed(i, loc)?;
                blob::open_blob(&self.keys, loc.kind, id, loc.compression, loc.raw_length, loc.base.as_ref(), s, &refs)
            })
            .collect()
    }
}

/// Sealed bytes of trees read per batch by [`Repository::refresh_trees`] (memory).
const TREE_BATCH: u64 = 32 << 20;

impl Repository {
    /// Reads the tree blobs `trees` (each with its location, as index files just read from
    /// storage give them) in few ranged reads, verifies each and caches it, so that
    /// [`Repository::load_tree_fresh`] of any of them in this process costs no further request:
    /// what `check` does before it walks every snapshot, instead of one request per directory.
    /// A tree that cannot be read or verified here is simply not marked: its own load then reads
    /// it alone and reports what is wrong.
    ///
    /// Returns how many trees were verified.
    pub fn refresh_trees(&self, trees: &mut [(BlobId, BlobLocation)]) -> usize {
        trees.sort_by_key(|(_, l)| (l.pack, l.offset));
        let mut done = 0;
        for batch in runs(trees, TREE_BATCH, |(_, l)| u64::from(l.length)) {
            let (reads, places) = plan(batch.iter().map(|(_, l)| l), self.merge_gap());
            let data: Vec<Option<Vec<u8>>> = self.read_all(&reads).into_iter().map(Result::ok).collect();
            let fresh: Vec<BlobId> = batch
                .par_iter()
                .zip(places.par_iter())
                .filter_map(|((id, loc), p)| {
                    if loc.kind != BlobKind::Tree {
                        return None;
                    }
                    let sealed = data[p.read].as_deref()?.get(p.at..p.at + loc.length as usize)?;
                    let plain = self.open_blob(loc.kind, id, loc.compression, loc.raw_length, None, sealed).ok()?;
                    crate::format::tree::Tree::decode(&plain).ok()?;
                    self.index.put_tree(id, &plain).ok()?;
                    Some(*id)
                })
                .collect();
            done += fresh.len();
            self.fresh_trees.lock().extend(fresh);
        }
        done
    }
}

/// `items` cut into runs of about `limit` bytes each (`size` of each item): each run ends with
/// the item that reaches the limit, and the last holds what is left.
pub fn runs<T>(items: &[T], limit: u64, size: impl Fn(&T) -> u64) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0u64;
        let n = rest
            .iter()
            .position(|t| {
                bytes = bytes.saturating_add(size(t));
                bytes >= limit
            })
            .map_or(rest.len(), |i| i + 1);
        let (run, r) = rest.split_at(n);
        rest = r;
        Some(run)
    })
}

/// Groups `locs` into ranged reads per pack, merging reads at most `gap` apart, and says where
/// each location (in the order given) lies.
fn plan<'a>(locs: impl Iterator<Item = &'a BlobLocation>, gap: u64) -> (Vec<Read>, Vec<Place>) {
    let locs: Vec<&BlobLocation> = locs.collect();
    let mut order: Vec<usize> = (0..locs.len()).collect();
    order.sort_by_key(|&i| (locs[i].pack, locs[i].offset));
    let mut reads: Vec<Read> = Vec::new();
    let mut places = vec![Place { read: 0, at: 0 }; locs.len()];
    for i in order {
        let l = locs[i];
        let (off, end) = (u64::from(l.offset), u64::from(l.offset) + u64::from(l.length));
        match reads.last_mut() {
            Some(r) if r.pack == l.pack && off <= r.end.saturating_add(gap) && end.max(r.end) - r.start <= MAX_READ.max(end - off) => r.end = r.end.max(end),
            _ => reads.push(Read { pack: l.pack, start: off, end }),
        }
        let read = reads.len() - 1;
        places[i] = Place { read, at: (off - reads[read].start) as usize };
    }
    (reads, places)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(pack: u8, offset: u32, length: u32) -> BlobLocation {
        BlobLocation { pack: PackId([pack; 32]), kind: BlobKind::Data, compression: Compression::None, offset, length, raw_length: length, base: None }
    }

    #[test]
    fn runs_end_at_the_item_that_reaches_the_limit() {
        let sizes = [3u64, 4, 1, 9, 2, 2];
        let cut: Vec<Vec<u64>> = runs(&sizes, 5, |s| *s).map(<[u64]>::to_vec).collect();
        assert_eq!(cut, vec![vec![3, 4], vec![1, 9], vec![2, 2]]);
        assert_eq!(runs(&sizes, 100, |s| *s).count(), 1);
        assert_eq!(runs(&[] as &[u64], 5, |s| *s).count(), 0);
    }

    #[test]
    fn reads_are_merged_per_pack_within_the_gap_and_bounded() {
        let locs = [loc(2, 0, 100), loc(1, 500, 100), loc(1, 0, 100), loc(1, 100, 100), loc(2, 10_000, 100), loc(1, 0, 100)];
        let (reads, places) = plan(locs.iter(), 1000);
        let spans: Vec<(u8, u64, u64)> = reads.iter().map(|r| (r.pack.0[0], r.start, r.end)).collect();
        assert_eq!(spans, vec![(1, 0, 600), (2, 0, 100), (2, 10_000, 10_100)]);
        let at: Vec<(usize, usize)> = places.iter().map(|p| (p.read, p.at)).collect();
        assert_eq!(at, vec![(1, 0), (0, 500), (0, 0), (0, 100), (2, 0), (0, 0)]);
        // No gap: only touching reads merge.
        let (reads, _) = plan(locs.iter(), 0);
        assert_eq!(reads.len(), 4);
        // A read stops growing at MAX_READ.
        let big: Vec<BlobLocation> = (0..20u32).map(|i| loc(3, i * (1 << 20), 1 << 20)).collect();
        let (reads, places) = plan(big.iter(), 0);
        assert_eq!(reads.len(), 3);
        assert!(reads.iter().all(|r| r.end - r.start <= MAX_READ));
        assert_eq!((places[8].read, places[8].at), (1, 0));
    }
}
