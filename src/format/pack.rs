//! Pack headers and index files: the tables that say where each blob lives. Both share one
//! fixed-size entry layout so an index file is exactly the pack headers it summarises.

use super::codec::{DecodeError, Reader, Writer};
use super::id::{BlobId, IndexId, PackId, ID_LEN};

/// Version byte that opens a pack header's and an index file's plaintext.
pub const PACK_HEADER_VERSION: u8 = 1;
pub const INDEX_VERSION: u8 = 1;
/// Bytes one [`PackEntry`] takes when encoded, without a base (see [`PackEntry::encoded_len`]).
pub const ENTRY_LEN: usize = 1 + 1 + ID_LEN + 4 + 4 + 4;

/// What a blob holds; data and metadata blobs never share a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlobKind {
    /// A chunk of file or stream content.
    Data = 0,
    /// One directory: an encoded [`super::tree::Tree`].
    Tree = 1,
    /// Part of a large file's ordered chunk-id list.
    List = 2,
    /// A zstd dictionary that data blobs may be compressed with (see [`Compression::ZstdDict`]).
    Dict = 3,
}

impl BlobKind {
    /// True for kinds stored in metadata packs.
    #[must_use]
    pub fn is_metadata(self) -> bool {
        !matches!(self, BlobKind::Data)
    }
}

impl TryFrom<u8> for BlobKind {
    type Error = DecodeError;
    fn try_from(v: u8) -> Result<Self, DecodeError> {
        match v {
            0 => Ok(Self::Data),
            1 => Ok(Self::Tree),
            2 => Ok(Self::List),
            3 => Ok(Self::Dict),
            tag => Err(DecodeError::UnknownTag { what: "blob kind", tag }),
        }
    }
}

/// How a blob's plaintext was transformed before sealing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Stored as is (it did not compress).
    None = 0,
    /// A single zstd frame.
    Zstd = 1,
    /// The id of a [`BlobKind::Dict`] blob, then a zstd frame made with that dictionary.
    ZstdDict = 2,
    /// A zstd frame made with the plaintext of another data blob, the entry's base, as its
    /// dictionary: a small delta from an earlier version of the same content.
    ZstdDelta = 3,
}

impl TryFrom<u8> for Compression {
    type Error = DecodeError;
    fn try_from(v: u8) -> Result<Self, DecodeError> {
        match v {
            0 => Ok(Self::None),
            1 => Ok(Self::Zstd),
            2 => Ok(Self::ZstdDict),
            3 => Ok(Self::ZstdDelta),
            tag => Err(DecodeError::UnknownTag { what: "compression", tag }),
        }
    }
}

/// One blob's place in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    pub kind: BlobKind,
    pub compression: Compression,
    pub id: BlobId,
    /// Byte offset of the sealed blob within the pack.
    pub offset: u32,
    /// Length of the sealed blob (nonce, ciphertext and tag).
    pub length: u32,
    /// Length of the plaintext after decompression.
    pub raw_length: u32,
    /// For [`Compression::ZstdDelta`] (and only then): the data blob whose plaintext the frame
    /// was compressed against.
    pub base: Option<BlobId>,
}

impl PackEntry {
    pub fn encode(&self, w: &mut Writer) {
        w.u8(self.kind as u8);
        w.u8(self.compression as u8);
        w.raw(&self.id.0);
        w.u32(self.offset);
        w.u32(self.length);
        w.u32(self.raw_length);
        if let Some(b) = &self.base {
            w.raw(&b.0);
        }
    }

    /// Bytes this entry takes when encoded: 46, or 78 with a base.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        ENTRY_LEN + if self.base.is_some() { ID_LEN } else { 0 }
    }

    /// # Errors
    /// Truncated input, an unknown kind or compression tag, or a delta that is not a data blob.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let kind = BlobKind::try_from(r.u8()?)?;
        let compression = Compression::try_from(r.u8()?)?;
        let id = BlobId(r.id()?);
        let (offset, length, raw_length) = (r.u32()?, r.u32()?, r.u32()?);
        let base = if compression == Compression::ZstdDelta {
            if kind != BlobKind::Data {
                return Err(DecodeError::Invalid(format!("blob {id}: only data blobs are stored as deltas")));
            }
            Some(BlobId(r.id()?))
        } else {
            None
        };
        Ok(Self { kind, compression, id, offset, length, raw_length, base })
    }
}

/// Encodes a pack header's plaintext: version, entry count (u32), entries.
#[must_use]
pub fn encode_pack_header(entries: &[PackEntry]) -> Vec<u8> {
    let mut w = Writer::with_capacity(5 + entries.iter().map(PackEntry::encoded_len).sum::<usize>());
    w.u8(PACK_HEADER_VERSION);
    w.u32(entries.len() as u32);
    for e in entries {
        e.encode(&mut w);
    }
    w.finish()
}

/// Decodes a pack header's plaintext and checks that its entries tile the blob area
/// `[0, blobs_len)` in order without gaps or overlaps.
///
/// # Errors
/// Unknown version, truncation, or entries that do not tile the pack.
pub fn decode_pack_header(plain: &[u8], blobs_len: u64) -> Result<Vec<PackEntry>, DecodeError> {
    let mut r = Reader::new(plain);
    let v = r.u8()?;
    if v != PACK_HEADER_VERSION {
        return Err(DecodeError::UnknownVersion { what: "pack header", found: v.into(), supported: PACK_HEADER_VERSION.into() });
    }
    let n = r.u32()? as usize;
    if n.saturating_mul(ENTRY_LEN) > r.remaining() {
        return Err(DecodeError::Invalid(format!("pack header claims {n} entries but holds {} bytes", r.remaining())));
    }
    let mut entries = Vec::with_capacity(n);
    let mut expect: u64 = 0;
    for _ in 0..n {
        let e = PackEntry::decode(&mut r)?;
        if u64::from(e.offset) != expect {
            return Err(DecodeError::Invalid(format!("blob {} at offset {} but expected {expect}", e.id, e.offset)));
        }
        expect += u64::from(e.length);
        entries.push(e);
    }
    if expect != blobs_len {
        return Err(DecodeError::Invalid(format!("pack header covers {expect} bytes but blobs take {blobs_len}")));
    }
    r.finish()?;
    Ok(entries)
}

/// The blobs of one pack as an index file lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPack {
    pub id: PackId,
    pub entries: Vec<PackEntry>,
}

/// An index file's plaintext: which packs it describes and which older index files it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexFile {
    /// Index files whose content this one includes (written by prune and repair); a reader that
    /// sees both may ignore the superseded ones.
    pub supersedes: Vec<IndexId>,
    pub packs: Vec<IndexPack>,
}

impl IndexFile {
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let entry_bytes: usize = self.packs.iter().flat_map(|p| &p.entries).map(PackEntry::encoded_len).sum();
        let mut w = Writer::with_capacity(16 + self.supersedes.len() * ID_LEN + self.packs.len() * (ID_LEN + 4) + entry_bytes);
        w.u8(INDEX_VERSION);
        w.u32(self.supersedes.len() as u32);
        for s in &self.supersedes {
            w.raw(&s.0);
        }
        w.u32(self.packs.len() as u32);
        for p in &self.packs {
            w.raw(&p.id.0);
            w.u32(p.entries.len() as u32);
            for e in &p.entries {
                e.encode(&mut w);
            }
        }
        w.finish()
    }

    /// # Errors
    /// Unknown version, truncation, unknown tags or trailing bytes.
    pub fn decode(plain: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(plain);
        let v = r.u8()?;
        if v != INDEX_VERSION {
            return Err(DecodeError::UnknownVersion { what: "index", found: v.into(), supported: INDEX_VERSION.into() });
        }
        let ns = r.u32()? as usize;
        if ns.saturating_mul(ID_LEN) > r.remaining() {
            return Err(DecodeError::Truncated { offset: 1, needed: ns * ID_LEN });
        }
        let mut supersedes = Vec::with_capacity(ns);
        for _ in 0..ns {
            supersedes.push(IndexId(r.id()?));
        }
        let np = r.u32()? as usize;
        if np.saturating_mul(ID_LEN + 4) > r.remaining() {
            return Err(DecodeError::Invalid(format!("index claims {np} packs but is too short")));
        }
        let mut packs = Vec::with_capacity(np);
        for _ in 0..np {
            let id = PackId(r.id()?);
            let ne = r.u32()? as usize;
            if ne.saturating_mul(ENTRY_LEN) > r.remaining() {
                return Err(DecodeError::Invalid(format!("index claims {ne} entries for pack {id} but is too short")));
            }
            let mut entries = Vec::with_capacity(ne);
            for _ in 0..ne {
                entries.push(PackEntry::decode(&mut r)?);
            }
            packs.push(IndexPack { id, entries });
        }
        r.finish()?;
        Ok(Self { supersedes, packs })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_entries() -> impl Strategy<Value = Vec<PackEntry>> {
        proptest::collection::vec(
            (0u8..4, 0u8..4, proptest::array::uniform32(any::<u8>()), 41u32..100_000, any::<u32>(), proptest::array::uniform32(any::<u8>())),
            0..40,
        )
        .prop_map(|v| {
            let mut off = 0u32;
            v.into_iter()
                .filter_map(|(k, c, id, len, raw, base)| {
                    let compression = Compression::try_from(c).ok()?;
                    let delta = compression == Compression::ZstdDelta;
                    let e = PackEntry {
                        kind: if delta { BlobKind::Data } else { BlobKind::try_from(k).ok()? },
                        compression,
                        id: BlobId(id),
                        offset: off,
                        length: len,
                        raw_length: raw,
                        base: delta.then_some(BlobId(base)),
                    };
                    off += len;
                    Some(e)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn pack_header_round_trip(entries in arb_entries()) {
            let total: u64 = entries.iter().map(|e| u64::from(e.length)).sum();
            let enc = encode_pack_header(&entries);
            let dec = decode_pack_header(&enc, total).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(dec, entries);
        }

        #[test]
        fn index_round_trip(packs in proptest::collection::vec((proptest::array::uniform32(any::<u8>()), arb_entries()), 0..5),
                            sup in proptest::collection::vec(proptest::array::uniform32(any::<u8>()), 0..3)) {
            let f = IndexFile {
                supersedes: sup.into_iter().map(IndexId).collect(),
                packs: packs.into_iter().map(|(id, entries)| IndexPack { id: PackId(id), entries }).collect(),
            };
            let dec = IndexFile::decode(&f.encode()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(dec, f);
        }

        #[test]
        fn index_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = IndexFile::decode(&bytes);
            let _ = decode_pack_header(&bytes, 0);
        }
    }

    #[test]
    fn header_with_gap_is_refused() {
        let e = PackEntry { kind: BlobKind::Data, compression: Compression::None, id: BlobId([1; 32]), offset: 5, length: 10, raw_length: 10, base: None };
        assert!(matches!(decode_pack_header(&encode_pack_header(&[e]), 15), Err(DecodeError::Invalid(_))));
    }

    #[test]
    fn unknown_version_is_refused() {
        let mut enc = IndexFile::default().encode();
        enc[0] = 9;
        assert!(matches!(IndexFile::decode(&enc), Err(DecodeError::UnknownVersion { found: 9, .. })));
    }
}
