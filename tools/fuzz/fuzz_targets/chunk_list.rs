//! A list blob's plaintext: part of a large file's chunk ids.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::format::tree::decode_list;

fuzz_target!(|data: &[u8]| {
    let _ = decode_list(data);
});
