//! Turning a blob's plaintext into its stored form and back: compress (or not), seal; open,
//! decompress, and verify the keyed id before anyone sees the bytes.

use std::cell::RefCell;

use crate::crypto::{blob_aad, MasterKeys};
use crate::error::{Error, Result};
use crate::format::pack::{BlobKind, Compression};
use crate::format::BlobId;

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Compresses with zstd at `level`; returns `None` when that saves less than 1/32 of the size,
/// so incompressible data is stored raw and costs nothing to read back.
#[must_use]
pub fn compress(data: &[u8], level: i32) -> Option<Vec<u8>> {
    if data.len() < 64 {
        return None;
    }
    let limit = data.len() - data.len() / 32;
    COMPRESSOR.with(|c| {
        let mut slot = c.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = zstd::bulk::Compressor::new(level).ok().map(|c| (level, c));
        }
        let (_, comp) = slot.as_mut()?;
        let mut out = Vec::with_capacity(limit);
        // A buffer of `limit` bytes: zstd fails when the result would not fit, which is exactly
        // the "did not compress" case.
        match comp.compress_to_buffer(data, &mut out) {
            Ok(_) if out.len() < limit => Some(out),
            _ => None,
        }
    })
}

/// Seals a blob for storage and says how it was compressed.
///
/// # Errors
/// The random source failed.
pub fn seal_blob(keys: &MasterKeys, kind: BlobKind, id: &BlobId, plain: &[u8], level: i32, out: &mut Vec<u8>) -> Result<Compression> {
    let aad = blob_aad(kind, id);
    let (payload, comp) = match compress(plain, level) {
        Some(c) => (std::borrow::Cow::Owned(c), Compression::Zstd),
        None => (std::borrow::Cow::Borrowed(plain), Compression::None),
    };
    keys.seal_into(&aad, &payload, out).map_err(|e| Error::crypto("blob", id, e))?;
    Ok(comp)
}

/// Opens a stored blob, decompresses it and checks that its keyed hash is `id`.
///
/// # Errors
/// `Crypto` when authentication fails, `Corrupt` when the size or id does not match.
pub fn open_blob(keys: &MasterKeys, kind: BlobKind, id: &BlobId, comp: Compression, raw_len: u32, sealed: &[u8]) -> Result<Vec<u8>> {
    let payload = keys.open(&blob_aad(kind, id), sealed).map_err(|e| Error::crypto("blob", id, e))?;
    let plain = match comp {
        Compression::None => payload,
        Compression::Zstd => DECOMPRESSOR.with(|d| {
            let mut slot = d.borrow_mut();
            if slot.is_none() {
                *slot = zstd::bulk::Decompressor::new().ok();
            }
            let dec = slot.as_mut().ok_or_else(|| Error::corrupt("blob", id, "zstd unavailable"))?;
            dec.decompress(&payload, raw_len as usize).map_err(|e| Error::corrupt("blob", id, format!("zstd: {e}")))
        })?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn blob_round_trip(data in proptest::collection::vec(0u8..4, 0..5000), kind in 0u8..3) {
            let keys = MasterKeys::from_parts([1; 32], [2; 32], 3);
            let kind = BlobKind::try_from(kind).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let id = keys.blob_id(&data);
            let mut sealed = Vec::new();
            let comp = seal_blob(&keys, kind, &id, &data, 3, &mut sealed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = open_blob(&keys, kind, &id, comp, data.len() as u32, &sealed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, data);
        }
    }

    #[test]
    fn random_data_is_stored_raw_and_text_compressed() {
        let mut rnd = vec![0u8; 100_000];
        crate::crypto::random_bytes(&mut rnd).unwrap();
        assert!(compress(&rnd, 3).is_none());
        assert!(compress(&b"abc".repeat(1000), 3).is_some());
    }

    #[test]
    fn wrong_id_or_kind_is_refused() {
        let keys = MasterKeys::from_parts([1; 32], [2; 32], 3);
        let id = keys.blob_id(b"data");
        let mut sealed = Vec::new();
        let comp = seal_blob(&keys, BlobKind::Data, &id, b"data", 3, &mut sealed).unwrap();
        assert!(matches!(open_blob(&keys, BlobKind::Tree, &id, comp, 4, &sealed), Err(Error::Crypto { .. })));
        assert!(matches!(open_blob(&keys, BlobKind::Data, &BlobId([0; 32]), comp, 4, &sealed), Err(Error::Crypto { .. })));
        // Sealed under the right AAD but with content that does not hash to the id.
        let liar = BlobId([5; 32]);
        let mut forged = Vec::new();
        let comp = seal_blob(&keys, BlobKind::Data, &liar, b"data", 3, &mut forged).unwrap();
        assert!(matches!(open_blob(&keys, BlobKind::Data, &liar, comp, 4, &forged), Err(Error::Corrupt { .. })));
    }
}
