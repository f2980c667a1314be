//! A lock file's JSON, which any holder of the keys may have written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::format::lock::LockInfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(lock) = serde_json::from_slice::<LockInfo>(data) {
        // Readers parse the time to judge staleness when the storage keeps none.
        let _ = lock.time.parse::<jiff::Timestamp>();
    }
});
