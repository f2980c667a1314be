//! A blob's zstd frame (compression 1), or one made with a dictionary (compression 2). Input:
//! u16 LE dictionary length `n`, u24 LE raw length (below 16 MiB, fastcdc's largest chunk, so
//! a run never spends its time on legitimately huge outputs), `n` bytes of dictionary (none:
//! compression 1), then the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::format::frame::decompress;
use snap::format::id::storage_hash;
use snap::format::BlobId;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<5>() else { return };
    let n = usize::from(u16::from_le_bytes([head[0], head[1]]));
    let raw_len = u32::from_le_bytes([head[2], head[3], head[4], 0]);
    let Some((dict, frame)) = rest.split_at_checked(n) else { return };
    // Decompressors are cached by dictionary id, so each dictionary gets its own, as in a
    // repository where the id is the dictionary's hash.
    let id = BlobId(storage_hash(dict));
    let dict = (!dict.is_empty()).then_some((&id, dict));
    if let Ok(plain) = decompress(frame, raw_len, dict) {
        assert!(plain.len() <= raw_len as usize, "{} bytes decoded, {raw_len} allowed", plain.len());
    }
});
