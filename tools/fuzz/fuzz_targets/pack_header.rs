//! A pack header's plaintext, checked against the blob area it must tile. The first 8 bytes
//! (little-endian) are the blob area's length, as the pack's size would give it; the rest is
//! the header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::format::pack::decode_pack_header;

fuzz_target!(|data: &[u8]| {
    let Some((len, header)) = data.split_first_chunk::<8>() else { return };
    let _ = decode_pack_header(header, u64::from_le_bytes(*len));
});
