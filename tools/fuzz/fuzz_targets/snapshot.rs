//! A snapshot file's JSON: the version read first, then the whole, then the fields readers
//! interpret (the time, the paths).
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::format::snapshot::Snapshot;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Snapshot::decode(data) {
        let _ = s.timestamp();
        let _ = s.sorted_paths();
    }
});
