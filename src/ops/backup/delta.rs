//! Delta alignment for streams: which chunk of the previous version a new chunk probably
//! replaced, and the base blob a delta against it would use.

use std::collections::HashMap;

use crate::format::pack::{BlobKind, Compression};
use crate::format::BlobId;
use crate::repo::blob::usable_base;
use crate::repo::Repository;

/// The chunks of a stream's previous version, with where each starts, for finding the old chunk
/// a new one replaced.
#[derive(Default)]
pub(super) struct PreviousVersion {
    ids: Vec<BlobId>,
    /// Byte offset of each chunk in the previous version.
    starts: Vec<u64>,
    /// Index of each id in `ids`.
    position: HashMap<BlobId, usize>,
    /// Length of the previous version.
    len: u64,
}

impl PreviousVersion {
    pub(super) fn new(repo: &Repository, ids: Vec<BlobId>) -> Self {
        let mut starts = Vec::with_capacity(ids.len());
        let mut at = 0u64;
        for id in &ids {
            starts.push(at);
            // A chunk whose length is unknown makes the rest unusable for alignment.
            match repo.locate(id) {
                Ok(loc) => at += u64::from(loc.raw_length),
                Err(_) => return Self::default(),
            }
        }
        let position = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        Self { ids, starts, position, len: at }
    }

    /// The old chunk covering byte `at` of the previous version.
    fn at(&self, at: u64) -> Option<BlobId> {
        if at >= self.len {
            return None;
        }
        let i = self.starts.partition_point(|s| *s <= at).checked_sub(1)?;
        self.ids.get(i).copied()
    }
}

/// Follows a new version of a stream against its previous one: chunks both share anchor the two
/// byte positions, and a new chunk is matched to the old chunk at the same distance from the
/// last anchor (edits are small, so that distance barely drifts; chunk splits and merges do not
/// throw it off).
pub(super) struct Aligner<'p> {
    previous: &'p PreviousVersion,
    new_at: u64,
    anchor_new: u64,
    anchor_old: u64,
}

impl<'p> Aligner<'p> {
    pub(super) fn new(previous: &'p PreviousVersion) -> Self {
        Self { previous, new_at: 0, anchor_new: 0, anchor_old: 0 }
    }

    /// The next chunk of the new version; returns the old chunk it probably replaced.
    pub(super) fn next(&mut self, id: &BlobId, len: usize) -> Option<BlobId> {
        let start = self.new_at;
        self.new_at += len as u64;
        if let Some(&i) = self.previous.position.get(id) {
            self.anchor_new = self.new_at;
            self.anchor_old = self.previous.starts.get(i).copied().unwrap_or(0) + len as u64;
            return None;
        }
        let mid = start + len as u64 / 2;
        let old_mid = (self.anchor_old + mid).checked_sub(self.anchor_new)?;
        self.previous.at(old_mid)
    }
}

/// A delta is kept only when it is at most this fraction of the chunk; otherwise the chunk is
/// stored whole (and may serve as a base itself later).
pub(super) const DELTA_MAX_SHARE: usize = 5;

/// The base for a delta against `previous`: the blob itself, or, if it is a delta, its base
/// (bases are never deltas). `None` when it cannot be read: the chunk is then stored whole.
pub(super) fn delta_base(repo: &Repository, previous: &BlobId) -> Option<(BlobId, Vec<u8>)> {
    let loc = repo.locate(previous).ok()?;
    let id = match (loc.compression, loc.base) {
        (Compression::ZstdDelta, Some(b)) => b,
        (Compression::ZstdDelta, None) => return None,
        _ => *previous,
    };
    let base = if id == *previous { loc } else { repo.locate(&id).ok()? };
    if base.kind != BlobKind::Data || base.compression == Compression::ZstdDelta {
        return None;
    }
    let plain = repo.read_blob_ahead(&id).ok()?;
    usable_base(&plain).then_some((id, plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> BlobId {
        BlobId([n; 32])
    }

    fn previous(chunks: &[(u8, u64)]) -> PreviousVersion {
        let ids: Vec<BlobId> = chunks.iter().map(|c| id(c.0)).collect();
        let mut at = 0;
        let starts = chunks
            .iter()
            .map(|c| {
                at += c.1;
                at - c.1
            })
            .collect();
        let position = ids.iter().enumerate().map(|(i, b)| (*b, i)).collect();
        PreviousVersion { ids, starts, position, len: at }
    }

    #[test]
    fn aligner_matches_replaced_chunks_through_edits_splits_and_merges() {
        // Old: a b c d e, 100 bytes each.
        let old = previous(&[(1, 100), (2, 100), (3, 100), (4, 100), (5, 100)]);
        let mut al = Aligner::new(&old);
        assert_eq!(al.next(&id(1), 100), None, "shared chunk: an anchor");
        assert_eq!(al.next(&id(20), 110), Some(id(2)), "b edited (grew by 10)");
        assert_eq!(al.next(&id(3), 100), None, "c shared: re-anchors");
        // d split in two by an edit: both halves map into d.
        assert_eq!(al.next(&id(40), 45), Some(id(4)));
        assert_eq!(al.next(&id(41), 60), Some(id(4)));
        // e edited, after the split shifted everything by 5 bytes.
        assert_eq!(al.next(&id(50), 100), Some(id(5)));
        // Past the end of the old version: nothing to compare with.
        assert_eq!(al.next(&id(60), 100), None);

        // A stream with no previous version never offers a base.
        let none = PreviousVersion::default();
        let mut al = Aligner::new(&none);
        assert_eq!(al.next(&id(1), 100), None);
    }
}
