//! Reading pack files back: the header from the tail (for check and repair) or from a whole pack
//! already in memory (for check --read-data and prune's repacking).

use crate::backend::FileType;
use crate::crypto::aad;
use crate::error::{Error, Result};
use crate::format::id::storage_hash;
use crate::format::pack::{decode_pack_header, PackEntry};
use crate::format::PackId;

use super::Repository;

/// Exact size of a pack holding `entries` (blobs, sealed header, length field).
#[must_use]
pub fn pack_size(entries: &[PackEntry]) -> u64 {
    let blobs: u64 = entries.iter().map(|e| u64::from(e.length)).sum();
    let header: usize = 1 + 4 + entries.iter().map(PackEntry::encoded_len).sum::<usize>();
    blobs + header as u64 + crate::crypto::OVERHEAD as u64 + 4
}

/// The most bytes a pack's sealed header may take (format-spec §2, "Size limits"). A pack of
/// the default 16 MiB holds at most 409,601 blobs (each at least 41 bytes sealed), whose header
/// takes under 32 MiB even if all were deltas; snap closes a pack at 65,536 blobs, whose header
/// takes under 5 MiB.
pub const MAX_PACK_HEADER: u64 = 32 << 20;

/// Where the sealed header starts and how long it is, from the pack's last four bytes. The
/// length is checked against the pack's size and [`MAX_PACK_HEADER`] before anything is read.
fn parse_tail(id: &PackId, size: u64, tail: &[u8]) -> Result<(u64, u64)> {
    let mut b = [0u8; 4];
    b.copy_from_slice(tail.get(tail.len().saturating_sub(4)..).filter(|s| s.len() == 4).ok_or_else(|| Error::corrupt("pack", id, "shorter than 4 bytes"))?);
    let hlen = u64::from(u32::from_le_bytes(b));
    if hlen + 4 > size {
        return Err(Error::corrupt("pack", id, format!("header length {hlen} exceeds pack size {size}")));
    }
    if hlen > MAX_PACK_HEADER {
        return Err(Error::corrupt("pack", id, format!("header length {hlen} is more than the 32 MiB a pack header may have")));
    }
    Ok((size - 4 - hlen, hlen))
}

impl Repository {
    /// Reads and decodes a pack's header without reading its blobs.
    ///
    /// # Errors
    /// Storage errors, or a header that is damaged or does not tile the pack.
    pub fn read_pack_header(&self, id: &PackId) -> Result<Vec<PackEntry>> {
        let path = FileType::Pack.path(&id.to_hex());
        let size = self.backend.size(&path)?;
        let tail = self.backend.read_range(&path, size.saturating_sub(4), size.min(4))?;
        let (start, hlen) = parse_tail(id, size, &tail)?;
        let sealed = self.backend.read_range(&path, start, hlen)?;
        let plain = self.keys.open(aad::PACK_HEADER, &sealed).map_err(|e| Error::crypto("pack header", id, e))?;
        decode_pack_header(&plain, start).map_err(|e| Error::decode("pack header", id, e))
    }

    /// Decodes a pack's header from the pack's bytes after its blob area (`blobs_len` bytes):
    /// the sealed header and its length.
    ///
    /// # Errors
    /// A damaged header, or one that does not tile the blob area.
    pub fn parse_pack_trailer(&self, id: &PackId, blobs_len: u64, trailer: &[u8]) -> Result<Vec<PackEntry>> {
        let (start, hlen) = parse_tail(id, blobs_len + trailer.len() as u64, trailer)?;
        if start != blobs_len {
            return Err(Error::corrupt("pack", id, format!("header starts at {start}, blobs end at {blobs_len}")));
        }
        let sealed = trailer.get(..hlen as usize).ok_or_else(|| Error::corrupt("pack", id, "header out of range"))?;
        let plain = self.keys.open(aad::PACK_HEADER, sealed).map_err(|e| Error::crypto("pack header", id, e))?;
        decode_pack_header(&plain, start).map_err(|e| Error::decode("pack header", id, e))
    }

    /// Verifies a whole pack's bytes against its id and decodes its header.
    ///
    /// # Errors
    /// Hash mismatch, or a damaged header.
    pub fn parse_pack(&self, id: &PackId, bytes: &[u8]) -> Result<Vec<PackEntry>> {
        if storage_hash(bytes) != id.0 {
            return Err(Error::corrupt("pack", id, "content does not match its name"));
        }
        let (start, hlen) = parse_tail(id, bytes.len() as u64, bytes)?;
        let sealed = bytes.get(start as usize..(start + hlen) as usize).ok_or_else(|| Error::corrupt("pack", id, "header out of range"))?;
        let plain = self.keys.open(aad::PACK_HEADER, sealed).map_err(|e| Error::crypto("pack header", id, e))?;
        decode_pack_header(&plain, start).map_err(|e| Error::decode("pack header", id, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_length_is_bounded_before_reading() {
        let id = PackId([7; 32]);
        let tail = |hlen: u32| hlen.to_le_bytes().to_vec();
        assert_eq!(parse_tail(&id, 100, &tail(60)).ok(), Some((36, 60)));
        assert!(parse_tail(&id, 100, &tail(97)).is_err());
        let big = 1 << 30;
        assert!(parse_tail(&id, big, &tail(32 << 20)).is_ok());
        let err = parse_tail(&id, big, &tail((32 << 20) + 1)).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("more than the 32 MiB a pack header may have"), "{err}");
    }
}
