//! Turning a blob's plaintext into its stored form and back: compress (or not, or with one of the
//! repository's zstd dictionaries), seal; open, decompress, and verify the keyed id before anyone
//! sees the bytes.

use std::cell::RefCell;
use std::sync::Arc;

use crate::crypto::{blob_aad, MasterKeys};
use crate::error::{Error, Result};
use crate::format::pack::{BlobKind, Compression};
use crate::format::{BlobId, ID_LEN};

/// Compressors kept per thread: one per (level, dictionary) in use.
const CACHED_CONTEXTS: usize = 4;

/// A zstd dictionary stored in the repository as a [`BlobKind::Dict`] blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dict {
    /// The id of the dict blob, written in front of every frame compressed with it.
    pub id: BlobId,
    /// The dictionary itself (the dict blob's plaintext).
    pub bytes: Vec<u8>,
}

type CompressorSlot = (i32, Option<BlobId>, zstd::bulk::Compressor<'static>);
type DecompressorSlot = (Option<BlobId>, zstd::bulk::Decompressor<'static>);

thread_local! {
    static COMPRESSORS: RefCell<Vec<CompressorSlot>> = const { RefCell::new(Vec::new()) };
    static DECOMPRESSORS: RefCell<Vec<DecompressorSlot>> = const { RefCell::new(Vec::new()) };
}

fn new_compressor(level: i32, dict: Option<&Dict>) -> Option<zstd::bulk::Compressor<'static>> {
    let mut c = match dict {
        Some(d) => zstd::bulk::Compressor::with_dictionary(level, &d.bytes).ok()?,
        None => zstd::bulk::Compressor::new(level).ok()?,
    };
    // The dictionary is named by the id in front of the frame; the frame need not repeat it.
    c.set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false)).ok()?;
    Some(c)
}

/// Runs `f` with this thread's compressor for `(level, dict)`, creating it on first use.
fn with_compressor<T>(level: i32, dict: Option<&Dict>, f: impl FnOnce(&mut zstd::bulk::Compressor<'static>) -> Option<T>) -> Option<T> {
    COMPRESSORS.with(|cell| {
        let mut slots = cell.borrow_mut();
        let want = dict.map(|d| d.id);
        let pos = match slots.iter().position(|(l, d, _)| *l == level && *d == want) {
            Some(p) => p,
            None => {
                if slots.len() >= CACHED_CONTEXTS {
                    slots.remove(0);
                }
                slots.push((level, want, new_compressor(level, dict)?));
                slots.len() - 1
            }
        };
        let (_, _, c) = slots.get_mut(pos)?;
        f(c)
    })
}

/// Compresses with zstd at `level` (with `dict` if given); returns `None` when that saves less
/// than 1/32 of the size, so incompressible data is stored raw and costs nothing to read back.
#[must_use]
pub fn compress(data: &[u8], level: i32, dict: Option<&Dict>) -> Option<Vec<u8>> {
    if data.len() < 64 {
        return None;
    }
    let limit = data.len() - data.len() / 32;
    with_compressor(level, dict, |comp| {
        let mut out = Vec::with_capacity(limit);
        // A buffer of `limit` bytes: zstd fails when the result would not fit, which is exactly
        // the "did not compress" case.
        match comp.compress_to_buffer(data, &mut out) {
            Ok(_) if out.len() < limit => Some(out),
            _ => None,
        }
    })
}

/// The compressed size of `data` at `level` with `dict` (the raw size when it does not
/// compress): what choosing a dictionary compares.
#[must_use]
pub fn compressed_len(data: &[u8], level: i32, dict: Option<&Dict>) -> usize {
    compress(data, level, dict).map_or(data.len(), |c| c.len() + if dict.is_some() { ID_LEN } else { 0 })
}

/// Seals a blob for storage and says how it was compressed. A `dict` is used only for data
/// blobs.
///
/// # Errors
/// The random source failed.
pub fn seal_blob(keys: &MasterKeys, kind: BlobKind, id: &BlobId, plain: &[u8], level: i32, dict: Option<&Dict>, out: &mut Vec<u8>) -> Result<Compression> {
    let aad = blob_aad(kind, id);
    let dict = dict.filter(|_| kind == BlobKind::Data);
    let (payload, comp) = match (compress(plain, level, dict), dict) {
        (Some(frame), Some(d)) => {
            let mut p = Vec::with_capacity(ID_LEN + frame.len());
            p.extend_from_slice(&d.id.0);
            p.extend_from_slice(&frame);
            (std::borrow::Cow::Owned(p), Compression::ZstdDict)
        }
        (Some(frame), None) => (std::borrow::Cow::Owned(frame), Compression::Zstd),
        (None, _) => (std::borrow::Cow::Borrowed(plain), Compression::None),
    };
    keys.seal_into(&aad, &payload, out).map_err(|e| Error::crypto("blob", id, e))?;
    Ok(comp)
}

fn decompress(id: &BlobId, frame: &[u8], raw_len: u32, dict: Option<&Dict>) -> Result<Vec<u8>> {
    DECOMPRESSORS.with(|cell| {
        let mut slots = cell.borrow_mut();
        let want = dict.map(|d| d.id);
        let pos = match slots.iter().position(|(d, _)| *d == want) {
            Some(p) => p,
            None => {
                let dec = match dict {
                    Some(d) => zstd::bulk::Decompressor::with_dictionary(&d.bytes),
                    None => zstd::bulk::Decompressor::new(),
                }
                .map_err(|e| Error::corrupt("blob", id, format!("zstd: {e}")))?;
                if slots.len() >= CACHED_CONTEXTS {
                    slots.remove(0);
                }
                slots.push((want, dec));
                slots.len() - 1
            }
        };
        let (_, dec) = slots.get_mut(pos).ok_or_else(|| Error::corrupt("blob", id, "zstd unavailable"))?;
        dec.decompress(frame, raw_len as usize).map_err(|e| Error::corrupt("blob", id, format!("zstd: {e}")))
    })
}

/// Opens a stored blob, decompresses it and checks that its keyed hash is `id`. `dicts` gives
/// the dictionary a [`Compression::ZstdDict`] blob names.
///
/// # Errors
/// `Crypto` when authentication fails, `Corrupt` when the size or id does not match, and
/// whatever `dicts` returns for a dictionary it cannot give.
pub fn open_blob(
    keys: &MasterKeys,
    kind: BlobKind,
    id: &BlobId,
    comp: Compression,
    raw_len: u32,
    sealed: &[u8],
    dicts: &dyn Fn(&BlobId) -> Result<Arc<Dict>>,
) -> Result<Vec<u8>> {
    let payload = keys.open(&blob_aad(kind, id), sealed).map_err(|e| Error::crypto("blob", id, e))?;
    let plain = match comp {
        Compression::None => payload,
        Compression::Zstd => decompress(id, &payload, raw_len, None)?,
        Compression::ZstdDict => {
            let (dict_id, frame) = payload.split_at_checked(ID_LEN).ok_or_else(|| Error::corrupt("blob", id, "too short to name its dictionary"))?;
            let dict_id = BlobId::from_slice(dict_id).ok_or_else(|| Error::corrupt("blob", id, "bad dictionary id"))?;
            let dict = dicts(&dict_id)?;
            decompress(id, frame, raw_len, Some(&dict))?
        }
    };
    if plain.len() != raw_len as usize {
        return Err(Error::corrupt("blob", id, format!("{} bytes, index says {raw_len}", plain.len())));
    }
    let actual = keys.blob_id(&plain);
    if actual != *id {
        return Err(Error::corrupt("blob", id, format!("content hashes to {}", actual.short())));
    }
    Ok(plain)
}

/// Trains a zstd dictionary of at most `max_size` bytes on `samples`. `None` when zstd cannot
/// (too few or too uniform samples): the caller then compresses without one.
#[must_use]
pub fn train_dict(samples: &[&[u8]], max_size: usize) -> Option<Vec<u8>> {
    let sizes: Vec<usize> = samples.iter().map(|s| s.len()).collect();
    let joined: Vec<u8> = samples.concat();
    zstd::dict::from_continuous(&joined, &sizes, max_size).ok().filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn no_dicts(id: &BlobId) -> Result<Arc<Dict>> {
        Err(Error::MissingBlob(id.to_hex()))
    }

    /// Text made of records like a database dump's, so a dictionary has something to learn.
    fn records(seed: u32, n: u32) -> Vec<u8> {
        let words = ["alice", "bob", "carol", "hello", "deploy", "meeting", "tomorrow", "lunch", "review", "merge"];
        let mut out = Vec::new();
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        for i in 0..n {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let w = |k: u32| words[((x >> k) % words.len() as u32) as usize];
            out.extend_from_slice(format!("{i}\t{}\tuser{}\t{} {} {}\t2024-05-{:02} 12:{:02}:00+00\tf\n", x % 500, x % 5000, w(3), w(7), w(11), x % 28 + 1, x % 60).as_bytes());
        }
        out
    }

    proptest! {
        #[test]
        fn blob_round_trip(data in proptest::collection::vec(0u8..4, 0..5000), kind in 0u8..4) {
            let keys = MasterKeys::from_parts([1; 32], [2; 32], 3);
            let kind = BlobKind::try_from(kind).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let id = keys.blob_id(&data);
            let mut sealed = Vec::new();
            let comp = seal_blob(&keys, kind, &id, &data, 3, None, &mut sealed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = open_blob(&keys, kind, &id, comp, data.len() as u32, &sealed, &no_dicts).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, data);
        }

        #[test]
        fn dict_blob_round_trip(seed in any::<u32>(), n in 1u32..200) {
            let keys = MasterKeys::from_parts([1; 32], [2; 32], 3);
            let dict = Arc::new(Dict { id: BlobId([9; 32]), bytes: records(7, 2000) });
            let data = records(seed, n);
            let id = keys.blob_id(&data);
            let mut sealed = Vec::new();
            let comp = seal_blob(&keys, BlobKind::Data, &id, &data, 3, Some(&dict), &mut sealed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Compressed, it names the dictionary; too small to gain, it is stored raw.
            prop_assert!(comp == Compression::ZstdDict || (comp == Compression::None && data.len() < 200), "{:?} for {} bytes", comp, data.len());
            let d2 = Arc::clone(&dict);
            let give = move |want: &BlobId| if *want == d2.id { Ok(Arc::clone(&d2)) } else { no_dicts(want) };
            let back = open_blob(&keys, BlobKind::Data, &id, comp, data.len() as u32, &sealed, &give).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, data);
        }
    }

    #[test]
    fn random_data_is_stored_raw_and_text_compressed() {
        let mut rnd = vec![0u8; 100_000];
        crate::crypto::random_bytes(&mut rnd).unwrap();
        assert!(compress(&rnd, 3, None).is_none());
        assert!(compress(&b"abc".repeat(1000), 3, None).is_some());
    }

    #[test]
    fn a_trained_dictionary_shrinks_small_chunks_and_is_required_to_read_them() {
        let corpus = records(1, 60_000);
        let chunks: Vec<&[u8]> = corpus.chunks(8192).collect();
        let bytes = train_dict(&chunks[..200], 64 * 1024).expect("training works on dump-like text");
        let dict = Arc::new(Dict { id: BlobId([4; 32]), bytes });
        let later = &chunks[300..400];
        let plain: usize = later.iter().map(|c| compressed_len(c, 3, None)).sum();
        let with: usize = later.iter().map(|c| compressed_len(c, 3, Some(&dict))).sum();
        assert!(with * 100 < plain * 95, "dictionary: {with} bytes, none: {plain}");

        let keys = MasterKeys::from_parts([1; 32], [2; 32], 3);
        let id = keys.blob_id(later[0]);
        let mut sealed = Vec::new();
        let comp = seal_blob(&keys, BlobKind::Data, &id, later[0], 3, Some(&dict), &mut sealed).unwrap();
        assert_eq!(comp, Compression::ZstdDict);
        // Without the dictionary the blob cannot be read, and the error says which one is missing.
        let err = open_blob(&keys, BlobKind::Data, &id, comp, later[0].len() as u32, &sealed, &no_dicts).unwrap_err();
        assert_eq!(err.to_string(), format!("blob {} is not in the index", BlobId([4; 32]).to_hex()));
        // Metadata blobs never use a dictionary.
        let mut sealed = Vec::new();
        let comp = seal_blob(&keys, BlobKind::Tree, &id, later[0], 3, Some(&dict), &mut sealed).unwrap();
        assert_eq!(comp, Compression::Zstd);
    }

    #[test]
    fn wrong_id_or_kind_is_refused() {
        let keys = MasterKeys::from_parts([1; 32], [2; 32], 3);
        let id = keys.blob_id(b"data");
        let mut sealed = Vec::new();
        let comp = seal_blob(&keys, BlobKind::Data, &id, b"data", 3, None, &mut sealed).unwrap();
        assert!(matches!(open_blob(&keys, BlobKind::Tree, &id, comp, 4, &sealed, &no_dicts), Err(Error::Crypto { .. })));
        assert!(matches!(open_blob(&keys, BlobKind::Data, &BlobId([0; 32]), comp, 4, &sealed, &no_dicts), Err(Error::Crypto { .. })));
        // Sealed under the right AAD but with content that does not hash to the id.
        let liar = BlobId([5; 32]);
        let mut forged = Vec::new();
        let comp = seal_blob(&keys, BlobKind::Data, &liar, b"data", 3, None, &mut forged).unwrap();
        assert!(matches!(open_blob(&keys, BlobKind::Data, &liar, comp, 4, &forged, &no_dicts), Err(Error::Corrupt { .. })));
    }
}
