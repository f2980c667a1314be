//! Reading a file of a snapshot on demand: where each chunk begins (from the sizes the index
//! gives, computed once per open file, never by reading the file), which chunks a read covers,
//! and a small cache of decoded chunks so the kernel's sequential reads, usually smaller than a
//! chunk, decode each chunk once.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::lru::Lru;
use crate::error::{Error, Result};
use crate::format::tree::Node;
use crate::format::BlobId;
use crate::repo::Repository;

/// The chunks of one file and where each ends; the file's size is the last end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Layout {
    ids: Vec<BlobId>,
    /// `ends[i]`: the offset just past chunk `i`.
    ends: Vec<u64>,
}

impl Layout {
    /// The layout of a file node: its chunk ids (chunk lists are read and verified) and each
    /// chunk's length as the index records it. The lengths must add up to the size the node
    /// records, as `dump` requires before it writes anything.
    ///
    /// # Errors
    /// Missing or damaged chunk lists, chunks the index does not know, or sizes that do not add up.
    pub(super) fn of(repo: &Repository, node: &Node) -> Result<Self> {
        let ids = repo.file_chunks(node)?;
        let mut sizes = Vec::with_capacity(ids.len());
        for id in &ids {
            sizes.push(u64::from(repo.locate(id)?.raw_length));
        }
        let layout = Self::from_sizes(ids, &sizes);
        if layout.size() != node.size {
            return Err(Error::corrupt("file", node.name_lossy(), format!("its node says {} bytes but its chunks hold {}", node.size, layout.size())));
        }
        Ok(layout)
    }

    /// A layout of chunks `ids` of `sizes` bytes each (the two are the same length).
    pub(super) fn from_sizes(ids: Vec<BlobId>, sizes: &[u64]) -> Self {
        let mut end = 0u64;
        let ends = sizes.iter().map(|s| {
            end = end.saturating_add(*s);
            end
        });
        Self { ends: ends.collect(), ids }
    }

    pub(super) fn size(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    /// Up to `n` chunks that follow the one holding byte `end - 1`: what a reader going on from
    /// `end` needs next.
    pub(super) fn following(&self, end: u64, n: usize) -> &[BlobId] {
        let next = self.ends.partition_point(|e| *e < end);
        let next = (next + 1).min(self.ids.len());
        self.ids.get(next..(next + n).min(self.ids.len())).unwrap_or_default()
    }

    /// Up to `len` bytes at `offset` (fewer at the end of the file, none past it), fetching
    /// only the chunks the range covers, in order, through `fetch`.
    ///
    /// # Errors
    /// What `fetch` returns, or a chunk whose length is not the one the index gave.
    pub(super) fn read_at(&self, offset: u64, len: u64, mut fetch: impl FnMut(&BlobId) -> Result<Arc<Vec<u8>>>) -> Result<Vec<u8>> {
        let end = offset.saturating_add(len).min(self.size());
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(usize::try_from(end - offset).unwrap_or(0));
        // The first chunk that ends after `offset`.
        let first = self.ends.partition_point(|e| *e <= offset);
        let mut pos = offset;
        for (i, id) in self.ids.iter().enumerate().skip(first) {
            if pos >= end {
                break;
            }
            let chunk_end = self.ends.get(i).copied().unwrap_or(0);
            let chunk_start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(0) };
            let bytes = fetch(id)?;
            if bytes.len() as u64 != chunk_end - chunk_start {
                return Err(Error::corrupt("blob", id, format!("it holds {} bytes where the index says {}", bytes.len(), chunk_end - chunk_start)));
            }
            let from = usize::try_from(pos - chunk_start).map_err(|e| Error::Internal(e.to_string()))?;
            let to = usize::try_from(end.min(chunk_end) - chunk_start).map_err(|e| Error::Internal(e.to_string()))?;
            let piece = bytes.get(from..to).ok_or_else(|| Error::Internal(format!("range {from}..{to} outside chunk {id}")))?;
            out.extend_from_slice(piece);
            pos = chunk_start + to as u64;
        }
        Ok(out)
    }
}

/// Decoded chunks kept for the next reads, up to a byte budget. Two readers wanting the same
/// chunk at once (the kernel reads ahead in parallel) wait for one decode instead of doing two.
pub(super) struct ChunkCache {
    kept: Mutex<Lru<BlobId, Arc<Vec<u8>>>>,
    /// One gate per chunk being read.
    loading: Mutex<HashMap<BlobId, Arc<Mutex<()>>>>,
}

impl ChunkCache {
    pub(super) fn new(budget_bytes: u64) -> Self {
        Self { kept: Mutex::new(Lru::new(budget_bytes)), loading: Mutex::new(HashMap::new()) }
    }

    /// Whether chunk `id` is neither kept nor being read.
    pub(super) fn lacks(&self, id: &BlobId) -> bool {
        !self.loading.lock().contains_key(id) && self.kept.lock().get(id).is_none()
    }

    /// Chunk `id`, from the cache or through `load` (which verifies it). A failed load is not
    /// remembered: the next read tries again.
    ///
    /// # Errors
    /// What `load` returns.
    pub(super) fn get(&self, id: &BlobId, load: impl FnOnce(&BlobId) -> Result<Vec<u8>>) -> Result<Arc<Vec<u8>>> {
        if let Some(b) = self.kept.lock().get(id) {
            return Ok(b);
        }
        let gate = Arc::clone(self.loading.lock().entry(*id).or_default());
        let result = {
            let _turn = gate.lock();
            // Whoever held the gate before may have loaded it.
            let kept = self.kept.lock().get(id);
            match kept {
                Some(b) => Ok(b),
                None => load(id).map(|b| {
                    let b = Arc::new(b);
                    self.kept.lock().insert(*id, Arc::clone(&b), b.len() as u64);
                    b
                }),
            }
        };
        let mut loading = self.loading.lock();
        // The map's reference and ours: nobody else waits at this gate.
        if Arc::strong_count(&gate) <= 2 {
            loading.remove(id);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunks(sizes: &[usize]) -> (Vec<BlobId>, Vec<Vec<u8>>) {
        let mut ids = Vec::new();
        let mut data = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            ids.push(BlobId(id));
            data.push((0..*n).map(|j| (i * 31 + j) as u8).collect());
        }
        (ids, data)
    }

    proptest! {
        /// Any range read through the layout is that range of the chunks laid end to end, and
        /// only the chunks it covers are fetched.
        #[test]
        fn read_at_is_the_range_of_the_concatenation(sizes in proptest::collection::vec(0usize..300, 0..12), offset in 0u64..4000, len in 0u64..4000) {
            let (ids, data) = chunks(&sizes);
            let whole: Vec<u8> = data.concat();
            let layout = Layout::from_sizes(ids.clone(), &sizes.iter().map(|s| *s as u64).collect::<Vec<_>>());
            prop_assert_eq!(layout.size(), whole.len() as u64);
            let mut fetched = Vec::new();
            let got = layout.read_at(offset, len, |id| {
                let i = ids.iter().position(|x| x == id).unwrap();
                fetched.push(i);
                Ok(Arc::new(data[i].clone()))
            }).unwrap();
            let from = (offset as usize).min(whole.len());
            let to = (offset.saturating_add(len) as usize).min(whole.len());
            prop_assert_eq!(&got[..], &whole[from..to]);
            // Every chunk fetched overlaps the range (empty chunks inside it aside).
            let mut start = 0u64;
            let bounds: Vec<(u64, u64)> = sizes.iter().map(|s| { let b = (start, start + *s as u64); start += *s as u64; b }).collect();
            for i in fetched {
                let (s, e) = bounds[i];
                prop_assert!(s < to as u64 && (e > from as u64 || s == e), "chunk {} ({}..{}) fetched for {}..{}", i, s, e, from, to);
            }
        }
    }

    #[test]
    fn following_gives_the_chunks_after_the_one_holding_the_last_byte() {
        let (ids, _) = chunks(&[10, 10, 10, 10]);
        let layout = Layout::from_sizes(ids.clone(), &[10, 10, 10, 10]);
        assert_eq!(layout.following(5, 2), &ids[1..3]);
        assert_eq!(layout.following(10, 2), &ids[1..3], "byte 9 is in the first chunk");
        assert_eq!(layout.following(11, 5), &ids[2..]);
        assert!(layout.following(40, 2).is_empty());
        assert!(layout.following(400, 2).is_empty());
    }

    #[test]
    fn a_chunk_of_the_wrong_length_is_an_error() {
        let (ids, _) = chunks(&[10, 10]);
        let layout = Layout::from_sizes(ids, &[10, 10]);
        let err = layout.read_at(5, 10, |_| Ok(Arc::new(vec![0u8; 9]))).unwrap_err();
        assert!(matches!(&err, Error::Corrupt { what: "blob", .. }), "{err}");
    }

    #[test]
    fn the_cache_decodes_once_and_forgets_failures() {
        let cache = ChunkCache::new(1 << 20);
        let id = BlobId([7; 32]);
        let err = cache.get(&id, |_| Err(Error::MissingBlob("x".into()))).unwrap_err();
        assert!(matches!(err, Error::MissingBlob(_)));
        let a = cache.get(&id, |_| Ok(vec![1, 2, 3])).unwrap();
        let b = cache.get(&id, |_| panic!("decoded twice")).unwrap();
        assert_eq!((a.as_slice(), b.as_slice()), (&[1u8, 2, 3][..], &[1u8, 2, 3][..]));
        assert!(cache.loading.lock().is_empty(), "gates are removed when done");
    }
}
