//! The `config` file: its cleartext frame (magic, version), and the settings JSON sealed inside.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::format::config::{split_config, RepoConfig, REPO_VERSION};

fuzz_target!(|data: &[u8]| {
    // The input as a whole stored file; what follows the header is sealed, so real readers only
    // parse it after opening it. The input also stands for those opened settings directly.
    if let Ok((version, rest)) = split_config(data) {
        let _ = RepoConfig::decode(rest, version);
    }
    let _ = RepoConfig::decode(data, REPO_VERSION);
});
