//! A delta blob (compression 3): a zstd frame decoded with another blob's plaintext as its
//! raw-content dictionary. Input: u16 LE base length `n`, u24 LE raw length (below 16 MiB, the
//! largest data chunk fastcdc allows; deltas are data blobs), `n` bytes of base, then the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::format::frame::undelta;

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<5>() else { return };
    let n = usize::from(u16::from_le_bytes([head[0], head[1]]));
    let raw_len = u32::from_le_bytes([head[2], head[3], head[4], 0]);
    let Some((base, frame)) = rest.split_at_checked(n) else { return };
    if let Ok(plain) = undelta(frame, raw_len, base) {
        assert!(plain.len() <= raw_len as usize, "{} bytes decoded, {raw_len} allowed", plain.len());
    }
});
