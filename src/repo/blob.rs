//! Turning a blob's plaintext into its stored form and back: compress (or not, with one of the
//! repository's zstd dictionaries, or as a delta from another blob), seal; open, decompress, and
//! verify the keyed id before anyone sees the bytes.

use std::cell::RefCell;
use std::sync::Arc;

use crate::crypto::{blob_aad, MasterKeys};
use crate::error::{Error, Result};
use crate::format::frame;
use crate::format::pack::{BlobKind, Compression};
use crate::format::{BlobId, ID_LEN};

/// Whether a blob may serve as a delta's base; decided where deltas are decoded.
pub use crate::format::frame::usable_base;

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

thread_local! {
    static COMPRESSORS: RefCell<Vec<CompressorSlot>> = const { RefCell::new(Vec::new()) };
    /// For deltas: a new base is loaded for every blob, so one context per thread is reused.
    static DELTA_COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// What opening a blob may need besides the blob itself.
pub trait References {
    /// The dictionary stored as dict blob `id`.
    ///
    /// # Errors
    /// The dictionary cannot be read.
    fn dict(&self, id: &BlobId) -> Result<Arc<Dict>>;
    /// The verified plaintext of data blob `id`, a delta's base.
    ///
    /// # Errors
    /// The base cannot be read.
    fn base(&self, id: &BlobId) -> Result<Arc<Vec<u8>>>;
}

/// Compresses `plain` with `base` (another data blob's plaintext) as zstd's raw-content
/// dictionary; `None` unless the result is shorter than `limit` bytes.
#[must_use]
pub fn delta(plain: &[u8], level: i32, base: &[u8], limit: usize) -> Option<Vec<u8>> {
    if !usable_base(base) {
        return None;
    }
    DELTA_COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = new_compressor(level, None);
        }
        let c = slot.as_mut()?;
        // A frame that did not fit (a delta too large) leaves the context mid-frame, where zstd
        // refuses to load a dictionary: start a new session first.
        c.context_mut().reset(zstd::zstd_safe::ResetDirective::SessionOnly).ok()?;
        c.set_dictionary(level, base).ok()?;
        let mut out = Vec::with_capacity(limit);
        match c.compress_to_buffer(plain, &mut out) {
            Ok(_) if out.len() < limit => Some(out),
            _ => None,
        }
    })
}

/// Seals an already computed delta frame of data blob `id`.
///
/// # Errors
/// The random source failed.
pub fn seal_delta(keys: &MasterKeys, id: &BlobId, frame: &[u8], out: &mut Vec<u8>) -> Result<()> {
    keys.seal_into(&blob_aad(BlobKind::Data, id), frame, out).map_err(|e| Error::crypto("blob", id, e))
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

/// Chunks at least this large are probed before they are compressed whole.
const PROBE_FROM: usize = 256 * 1024;
/// Bytes of each of the two probes (start and middle of the chunk).
const PROBE_LEN: usize = 32 * 1024;

/// Whether a large chunk looks incompressible (media, archives, encrypted files): two samples
/// at zstd level 1 that save less than 1/32 cost about 1/16 of compressing the whole chunk.
fn looks_incompressible(data: &[u8]) -> bool {
    if data.len() < PROBE_FROM {
        return false;
    }
    let mid = data.len() / 2;
    [&data[..PROBE_LEN], &data[mid..mid + PROBE_LEN]].iter().all(|probe| {
        with_compressor(1, None, |c| {
            let mut out = Vec::with_capacity(PROBE_LEN);
            Some(c.compress_to_buffer(probe, &mut out).is_err() || out.len() >= PROBE_LEN - PROBE_LEN / 32)
        })
        .unwrap_or(false)
    })
}

/// Compresses with zstd at `level` (with `dict` if given); returns `None` when that saves less
/// than 1/32 of the size, so incompressible data is stored raw and costs nothing to read back.
/// Large chunks that a cheap probe finds incompressible are not compressed at all.
#[must_use]
pub fn compress(data: &[u8], level: i32, dict: Option<&Dict>) -> Option<Vec<u8>> {
    if data.len() < 64 || looks_incompressible(data) {
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

/// Opens a stored blob, decompresses it and checks that its keyed hash is `id`. `refs` gives the
/// dictionary a [`Compression::ZstdDict`] blob names and the `base` of a
/// [`Compression::ZstdDelta`] blob.
///
/// # Errors
/// `Crypto` when authentication fails, `Corrupt` when the size or id does not match or a delta
/// has no base, and whatever `refs` returns for what it cannot give.
#[allow(clippy::too_many_arguments)]
pub fn open_blob(
    keys: &MasterKeys,
    kind: BlobKind,
    id: &BlobId,
    comp: Compression,
    raw_len: u32,
    base: Option<&BlobId>,
    sealed: &[u8],
    refs: &dyn References,
) -> Result<Vec<u8>> {
    let payload = keys.open(&blob_aad(kind, id), sealed).map_err(|e| Error::crypto("blob", id, e))?;
    let plain = match decode_payload(id, comp, raw_len, base, &payload, refs)? {
        Some(p) => p,
        None => payload,
    };
    verify_plain(keys, id, raw_len, &plain)?;
    Ok(plain)
}

/// A blob's stored payload (the `encoded` bytes of format-spec §7: compressed, not sealed),
/// opened and verified: it decoded to exactly `raw_length` bytes whose keyed id is `id`. Only
/// [`open_verified`] makes one, so a payload can be sealed again under another repository's
/// encryption key (`snap copy`) without ever storing bytes that were not authenticated and
/// checked against their id.
#[derive(Debug)]
pub struct VerifiedPayload {
    kind: BlobKind,
    id: BlobId,
    compression: Compression,
    raw_length: u32,
    base: Option<BlobId>,
    payload: Vec<u8>,
    /// Which id key verified it ([`ids_tag`]): the payload is verified for any repository whose
    /// keys give the same tag, and for no other.
    ids_tag: BlobId,
}

impl VerifiedPayload {
    #[must_use]
    pub fn kind(&self) -> BlobKind {
        self.kind
    }
    #[must_use]
    pub fn id(&self) -> &BlobId {
        &self.id
    }
    #[must_use]
    pub fn compression(&self) -> Compression {
        self.compression
    }
    /// The plaintext length.
    #[must_use]
    pub fn raw_length(&self) -> u32 {
        self.raw_length
    }
    /// A delta's base.
    #[must_use]
    pub fn base(&self) -> Option<&BlobId> {
        self.base.as_ref()
    }
    /// The encoded bytes, as they are sealed.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
    /// The dictionary a [`Compression::ZstdDict`] payload names.
    #[must_use]
    pub fn dict(&self) -> Option<BlobId> {
        if self.compression != Compression::ZstdDict {
            return None;
        }
        self.payload.get(..ID_LEN).and_then(BlobId::from_slice)
    }
    /// Whether `keys` give blob ids the way the keys that verified this payload do.
    #[must_use]
    pub fn verified_for(&self, keys: &MasterKeys) -> bool {
        ids_tag(keys) == self.ids_tag
    }
}

/// A value that tells id keys apart without revealing them: the keyed id of a fixed string.
fn ids_tag(keys: &MasterKeys) -> BlobId {
    keys.blob_id(b"snap/ids-tag/v1")
}

/// Opens a stored blob like [`open_blob`] and keeps its encoded payload, verified.
///
/// # Errors
/// As [`open_blob`].
#[allow(clippy::too_many_arguments)]
pub fn open_verified(
    keys: &MasterKeys,
    kind: BlobKind,
    id: &BlobId,
    comp: Compression,
    raw_len: u32,
    base: Option<&BlobId>,
    sealed: &[u8],
    refs: &dyn References,
) -> Result<VerifiedPayload> {
    let payload = keys.open(&blob_aad(kind, id), sealed).map_err(|e| Error::crypto("blob", id, e))?;
    let decoded = decode_payload(id, comp, raw_len, base, &payload, refs)?;
    verify_plain(keys, id, raw_len, decoded.as_deref().unwrap_or(&payload))?;
    Ok(VerifiedPayload { kind, id: *id, compression: comp, raw_length: raw_len, base: base.copied(), payload, ids_tag: ids_tag(keys) })
}

/// Decompresses an opened payload; `None` when it is stored as is (the payload is the
/// plaintext).
fn decode_payload(id: &BlobId, comp: Compression, raw_len: u32, base: Option<&BlobId>, payload: &[u8], refs: &dyn References) -> Result<Option<Vec<u8>>> {
    Ok(Some(match comp {
        Compression::None => return Ok(None),
        Compression::Zstd => frame::decompress(payload, raw_len, None).map_err(|e| Error::corrupt("blob", id, e))?,
        Compression::ZstdDict => {
            let (dict_id, framed) = payload.split_at_checked(ID_LEN).ok_or_else(|| Error::corrupt("blob", id, "too short to name its dictionary"))?;
            let dict_id = BlobId::from_slice(dict_id).ok_or_else(|| Error::corrupt("blob", id, "bad dictionary id"))?;
            let dict = refs.dict(&dict_id)?;
            frame::decompress(framed, raw_len, Some((&dict.id, &dict.bytes))).map_err(|e| Error::corrupt("blob", id, e))?
        }
        Compression::ZstdDelta => {
            let base = base.ok_or_else(|| Error::corrupt("blob", id, "a delta without a base"))?;
            frame::undelta(payload, raw_len, &refs.base(base)?).map_err(|e| Error::corrupt("blob", id, e))?
        }
    }))
}

/// Checks a blob's plaintext against the length the index gives and against its id.
fn verify_plain(keys: &MasterKeys, id: &BlobId, raw_len: u32, plain: &[u8]) -> Result<()> {
    if plain.len() != raw_len as usize {
        return Err(Error::corrupt("blob", id, format!("{} bytes, index says {raw_len}", plain.len())));
    }
    let actual = keys.blob_id(plain);
    if actual != *id {
        return Err(Error::corrupt("blob", id, format!("content hashes to {}", actual.short())));
    }
    Ok(())
}

/// Seals a verified payload under `keys` (which must give the same ids; see
/// [`VerifiedPayload::verified_for`]).
///
/// # Errors
/// `Internal` if `keys` give other ids; the random source failed.
pub fn seal_verified(keys: &MasterKeys, p: &VerifiedPayload, out: &mut Vec<u8>) -> Result<()> {
    if !p.verified_for(keys) {
        return Err(Error::Internal(format!("blob {} was verified under another id key", p.id)));
    }
    keys.seal_into(&blob_aad(p.kind, &p.id), &p.payload, out).map_err(|e| Error::crypto("blob", p.id, e))
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
    use crate::format::frame::ZSTD_DICT_MAGIC;
    use proptest::prelude::*;

    /// Dictionaries and bases a test hands out by id.
    #[derive(Default)]
    struct Refs {
        dicts: Vec<Arc<Dict>>,
        bases: Vec<(BlobId, Arc<Vec<u8>>)>,
    }
    impl References for Refs {
        fn dict(&self, id: &BlobId) -> Result<Arc<Dict>> {
            self.dicts.iter().find(|d| d.id == *id).cloned().ok_or_else(|| Error::MissingBlob(id.to_hex()))
        }
        fn base(&self, id: &BlobId) -> Result<Arc<Vec<u8>>> {
            self.bases.iter().find(|b| b.0 == *id).map(|b| Arc::clone(&b.1)).ok_or_else(|| Error::MissingBlob(id.to_hex()))
        }
    }
    const NO_REFS: Refs = Refs { dicts: Vec::new(), bases: Vec::new() };

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
            let back = open_blob(&keys, kind, &id, comp, data.len() as u32, None, &sealed, &NO_REFS).map_err(|e| TestCaseError::fail(e.to_string()))?;
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
            let give = Refs { dicts: vec![Arc::clone(&dict)], bases: vec![] };
            let back = open_blob(&keys, BlobKind::Data, &id, comp, data.len() as u32, None, &sealed, &give).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, data);
        }
    }

    #[test]
    fn random_data_is_stored_raw_and_text_compressed() {
        let mut rnd = vec![0u8; 100_000];
        crate::crypto::random_bytes(&mut rnd).unwrap();
        assert!(compress(&rnd, 3, None).is_none());
        assert!(compress(&b"abc".repeat(1000), 3, None).is_some());
        // Large chunks: the probe says "random" without compressing the whole.
        let mut big = vec![0u8; 1 << 20];
        crate::crypto::random_bytes(&mut big).unwrap();
        assert!(looks_incompressible(&big));
        assert!(compress(&big, 3, None).is_none());
        let text = records(3, 20_000);
        assert!(text.len() > PROBE_FROM && !looks_incompressible(&text));
        assert!(compress(&text, 3, None).is_some_and(|c| c.len() < text.len() / 2));
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
        let err = open_blob(&keys, BlobKind::Data, &id, comp, later[0].len() as u32, None, &sealed, &NO_REFS).unwrap_err();
        assert_eq!(err.to_string(), format!("blob {} is not in the index", BlobId([4; 32]).to_hex()));
        // Metadata blobs never use a dictionary.
        let mut sealed = Vec::new();
        let comp = seal_blob(&keys, BlobKind::Tree, &id, later[0], 3, Some(&dict), &mut sealed).unwrap();
        assert_eq!(comp, Compression::Zstd);
    }

    proptest! {
        /// A chunk with a row edited, inserted or removed is stored as a small delta from its
        /// earlier version and comes back exact.
        #[test]
        fn delta_round_trip(seed in any::<u32>(), n in 20u32..80, at in 0usize..1000, edit in proptest::collection::vec(any::<u8>(), 0..60), cut in 0usize..40) {
            let keys = MasterKeys::from_parts([1; 32], [2; 32], 3);
            let old = records(seed, n);
            let mut new = old.clone();
            let at = at % old.len();
            new.splice(at..(at + cut).min(old.len()), edit.iter().copied());
            let base_id = keys.blob_id(&old);
            let id = keys.blob_id(&new);
            let frame = delta(&new, 3, &old, new.len()).ok_or_else(|| TestCaseError::fail("no delta"))?;
            prop_assert!(frame.len() < 150 + edit.len(), "{} byte delta for a {} byte edit", frame.len(), edit.len());
            let mut sealed = Vec::new();
            seal_delta(&keys, &id, &frame, &mut sealed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let refs = Refs { dicts: vec![], bases: vec![(base_id, Arc::new(old.clone()))] };
            let back = open_blob(&keys, BlobKind::Data, &id, Compression::ZstdDelta, new.len() as u32, Some(&base_id), &sealed, &refs)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, new.clone());
            // Against another base the frame does not give the blob back.
            let other = Refs { dicts: vec![], bases: vec![(base_id, Arc::new(records(seed ^ 1, n)))] };
            prop_assert!(open_blob(&keys, BlobKind::Data, &id, Compression::ZstdDelta, new.len() as u32, Some(&base_id), &sealed, &other).is_err());
            // No base named: refused.
            prop_assert!(open_blob(&keys, BlobKind::Data, &id, Compression::ZstdDelta, new.len() as u32, None, &sealed, &refs).is_err());
        }
    }

    #[test]
    fn a_delta_too_large_does_not_spoil_the_next() {
        let old = records(5, 60);
        let mut new = old.clone();
        new[100..110].copy_from_slice(b"0123456789");
        let unrelated = records(6, 60);
        // Too large for its limit: the frame does not fit.
        assert!(delta(&unrelated, 3, &old, 50).is_none());
        let d = delta(&new, 3, &old, new.len() / 5).expect("a small delta after a failed one");
        assert!(d.len() < 100, "{}", d.len());
    }

    #[test]
    fn a_base_that_looks_like_a_zstd_dictionary_is_not_used() {
        let mut base = ZSTD_DICT_MAGIC.to_vec();
        base.extend(records(1, 10));
        assert!(!usable_base(&base));
        assert!(delta(&records(1, 10), 3, &base, 10_000).is_none());
        assert!(delta(&records(1, 10), 3, &base[4..], 10_000).is_some());
    }

    #[test]
    fn a_verified_payload_is_sealed_again_only_for_keys_with_the_same_ids() {
        let src = MasterKeys::from_parts([1; 32], [2; 32], 3);
        let dst = MasterKeys::generate_sharing_ids(&src).unwrap();
        let data = records(9, 300);
        let id = src.blob_id(&data);
        let mut sealed = Vec::new();
        let comp = seal_blob(&src, BlobKind::Data, &id, &data, 3, None, &mut sealed).unwrap();
        assert_eq!(comp, Compression::Zstd);
        let p = open_verified(&src, BlobKind::Data, &id, comp, data.len() as u32, None, &sealed, &NO_REFS).unwrap();
        assert!(p.payload().len() < data.len(), "kept compressed");
        let mut again = Vec::new();
        seal_verified(&dst, &p, &mut again).unwrap();
        assert_eq!(open_blob(&dst, BlobKind::Data, &id, comp, data.len() as u32, None, &again, &NO_REFS).unwrap(), data);
        // Under keys with another id key the payload is not verified, and is not sealed.
        let other = MasterKeys::from_parts([1; 32], [7; 32], 3);
        assert!(matches!(seal_verified(&other, &p, &mut Vec::new()), Err(Error::Internal(_))));
        // A damaged or lying blob never becomes a verified payload.
        let mut bad = sealed.clone();
        bad[30] ^= 1;
        assert!(matches!(open_verified(&src, BlobKind::Data, &id, comp, data.len() as u32, None, &bad, &NO_REFS), Err(Error::Crypto { .. })));
        let liar = BlobId([5; 32]);
        let mut forged = Vec::new();
        let comp = seal_blob(&src, BlobKind::Data, &liar, &data, 3, None, &mut forged).unwrap();
        assert!(matches!(open_verified(&src, BlobKind::Data, &liar, comp, data.len() as u32, None, &forged, &NO_REFS), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn wrong_id_or_kind_is_refused() {
        let keys = MasterKeys::from_parts([1; 32], [2; 32], 3);
        let id = keys.blob_id(b"data");
        let mut sealed = Vec::new();
        let comp = seal_blob(&keys, BlobKind::Data, &id, b"data", 3, None, &mut sealed).unwrap();
        assert!(matches!(open_blob(&keys, BlobKind::Tree, &id, comp, 4, None, &sealed, &NO_REFS), Err(Error::Crypto { .. })));
        assert!(matches!(open_blob(&keys, BlobKind::Data, &BlobId([0; 32]), comp, 4, None, &sealed, &NO_REFS), Err(Error::Crypto { .. })));
        // Sealed under the right AAD but with content that does not hash to the id.
        let liar = BlobId([5; 32]);
        let mut forged = Vec::new();
        let comp = seal_blob(&keys, BlobKind::Data, &liar, b"data", 3, None, &mut forged).unwrap();
        assert!(matches!(open_blob(&keys, BlobKind::Data, &liar, comp, 4, None, &forged, &NO_REFS), Err(Error::Corrupt { .. })));
    }
}
