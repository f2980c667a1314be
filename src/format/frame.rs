//! Decoding the zstd frames a blob's plaintext is stored in (format-spec §7): one frame, made
//! with or without one of the repository's dictionaries, or a delta made against another blob's
//! plaintext. This is pure (no keys, no I/O), so the engine and the fuzzers share one decoder.

use std::cell::RefCell;
use std::fmt::Display;

use super::codec::DecodeError;
use super::id::BlobId;

/// Decompressors kept per thread: one per dictionary in use (and one for none).
const CACHED_CONTEXTS: usize = 4;

type DecompressorSlot = (Option<BlobId>, zstd::bulk::Decompressor<'static>);

thread_local! {
    static DECOMPRESSORS: RefCell<Vec<DecompressorSlot>> = const { RefCell::new(Vec::new()) };
    /// For deltas: a new base is loaded for every blob, so one context per thread is reused.
    static DELTA_DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// zstd reads a dictionary that starts with this (little-endian) as a formatted one; a base that
/// does is never used, so every base is read as raw content.
pub const ZSTD_DICT_MAGIC: [u8; 4] = [0x37, 0xa4, 0x30, 0xec];

/// Whether `base` may serve as a delta's base.
#[must_use]
pub fn usable_base(base: &[u8]) -> bool {
    !base.is_empty() && !base.starts_with(&ZSTD_DICT_MAGIC)
}

fn zstd_error(e: impl Display) -> DecodeError {
    DecodeError::Invalid(format!("zstd: {e}"))
}

/// Refuses a `raw_len` that `frame` cannot decode to, before anything is allocated for it.
///
/// Which limit: the format bounds a blob's plaintext only by its u32 length (format-spec §7,
/// "below 4 GiB"), which the type already enforces. The 512 MiB pack limit (§2) bounds the
/// sealed, compressed form, not the plaintext: the tree of a directory with millions of entries
/// may decompress to more, so a fixed limit below 4 GiB would refuse repositories the format
/// allows. (Data chunks are smaller, at most fastcdc's 16 MiB maximum, but this decoder serves
/// every kind of blob.) The limit is therefore the frame's own: zstd's `ZSTD_decompressBound`,
/// the most bytes these frames can produce (the content size a frame header records, else
/// 128 KiB per block). A frame that cannot yield `raw_len` bytes would fail the length check
/// after decoding anyway; refusing it first keeps a few bytes of frame from reserving gigabytes.
fn check_len(frame: &[u8], raw_len: u32) -> Result<(), DecodeError> {
    let bound = zstd::zstd_safe::decompress_bound(frame).map_err(|_| DecodeError::Invalid("zstd: not a sequence of whole frames".into()))?;
    if u64::from(raw_len) > bound {
        return Err(DecodeError::Invalid(format!("zstd: {raw_len} bytes expected, but the frame decodes to at most {bound}")));
    }
    Ok(())
}

/// Decodes a blob stored as one zstd frame (compression 1) or, given `dict` (the dict blob's id
/// and plaintext), as a frame made with that dictionary (compression 2, the frame without the
/// id in front). The id keys this thread's cached decompressor, so one id must always come
/// with the same bytes, as a verified dict blob does.
///
/// # Errors
/// `Invalid` when the frame cannot decode to `raw_len` bytes (see `check_len` for the bound),
/// the dictionary cannot be loaded, or zstd refuses the frame. The result may still be shorter
/// than `raw_len`; the caller compares.
pub fn decompress(frame: &[u8], raw_len: u32, dict: Option<(&BlobId, &[u8])>) -> Result<Vec<u8>, DecodeError> {
    check_len(frame, raw_len)?;
    DECOMPRESSORS.with(|cell| {
        let mut slots = cell.borrow_mut();
        let want = dict.map(|(id, _)| *id);
        let pos = match slots.iter().position(|(d, _)| *d == want) {
            Some(p) => p,
            None => {
                let dec = match dict {
                    Some((_, bytes)) => zstd::bulk::Decompressor::with_dictionary(bytes),
                    None => zstd::bulk::Decompressor::new(),
                }
                .map_err(zstd_error)?;
                if slots.len() >= CACHED_CONTEXTS {
                    slots.remove(0);
                }
                slots.push((want, dec));
                slots.len() - 1
            }
        };
        let (_, dec) = slots.get_mut(pos).ok_or_else(|| DecodeError::Invalid("zstd unavailable".into()))?;
        dec.decompress(frame, raw_len as usize).map_err(zstd_error)
    })
}

/// Decodes a delta (compression 3): a frame made with `base`, another data blob's verified
/// plaintext, as zstd's raw-content dictionary (format-spec §7.2).
///
/// # Errors
/// `Invalid` when `base` cannot serve as a base ([`usable_base`]), the frame cannot decode to
/// `raw_len` bytes, or zstd refuses the frame. The result may still be shorter than `raw_len`;
/// the caller compares.
pub fn undelta(frame: &[u8], raw_len: u32, base: &[u8]) -> Result<Vec<u8>, DecodeError> {
    if !usable_base(base) {
        return Err(DecodeError::Invalid("its delta base cannot serve as one".into()));
    }
    check_len(frame, raw_len)?;
    DELTA_DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new().map_err(zstd_error)?);
        }
        let d = slot.as_mut().ok_or_else(|| DecodeError::Invalid("zstd unavailable".into()))?;
        d.set_dictionary(base).map_err(zstd_error)?;
        d.decompress(frame, raw_len as usize).map_err(zstd_error)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_with_and_without_a_dictionary() {
        let plain = b"a line of text that repeats; ".repeat(40);
        let frame = zstd::bulk::compress(&plain, 3).unwrap();
        assert_eq!(decompress(&frame, plain.len() as u32, None).unwrap(), plain);

        let dict = b"a line of text that repeats; and a few words more".to_vec();
        let mut c = zstd::bulk::Compressor::with_dictionary(3, &dict).unwrap();
        let frame = c.compress(&plain).unwrap();
        let id = BlobId([7; 32]);
        assert_eq!(decompress(&frame, plain.len() as u32, Some((&id, &dict))).unwrap(), plain);
    }

    #[test]
    fn a_delta_decodes_against_its_base_only() {
        let base = b"id,name\n1,alice\n2,bob\n3,carol\n".repeat(20);
        let mut new = base.clone();
        new[20..25].copy_from_slice(b"mallo");
        let mut c = zstd::bulk::Compressor::new(3).unwrap();
        c.set_dictionary(3, &base).unwrap();
        let frame = c.compress(&new).unwrap();
        assert_eq!(undelta(&frame, new.len() as u32, &base).unwrap(), new);
        let mut magic = ZSTD_DICT_MAGIC.to_vec();
        magic.extend_from_slice(&base);
        assert!(undelta(&frame, new.len() as u32, &magic).is_err());
        assert!(undelta(&frame, new.len() as u32, b"").is_err());
    }

    /// A few bytes of frame cannot claim gigabytes: the length is refused before it is reserved.
    #[test]
    fn a_raw_length_the_frame_cannot_hold_is_refused() {
        let frame = zstd::bulk::compress(b"hello, snap\n", 3).unwrap();
        let err = decompress(&frame, u32::MAX, None).unwrap_err();
        assert!(err.to_string().contains("decodes to at most 12"), "{err}");
        assert!(undelta(&frame, u32::MAX, b"base").is_err());
        assert!(decompress(b"", 1, None).is_err());
        assert!(decompress(&frame[..frame.len() - 1], 12, None).is_err());
        // A frame that does not record its size is bounded by its blocks.
        let mut c = zstd::bulk::Compressor::new(3).unwrap();
        c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(false)).unwrap();
        let no_size = c.compress(&[0u8; 1000]).unwrap();
        assert_eq!(decompress(&no_size, 1000, None).unwrap(), vec![0u8; 1000]);
        assert!(decompress(&no_size, 1 << 30, None).is_err());
    }
}
