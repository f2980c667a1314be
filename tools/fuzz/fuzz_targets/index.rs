//! An index file's plaintext.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::format::pack::IndexFile;

fuzz_target!(|data: &[u8]| {
    let _ = IndexFile::decode(data);
});
