//! Key files (cleartext JSON in `keys/`): parsing, and the KDF-parameter bounds checked before
//! any KDF runs. The KDF itself is never run here: its cost is what the bounds are for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::crypto::KeyFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = serde_json::from_slice::<KeyFile>(data) {
        let _ = key.params.check();
    }
});
