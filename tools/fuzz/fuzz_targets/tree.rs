//! A tree blob's plaintext: node names (the guard against restoring outside the target), kinds,
//! metadata and each file's chunk ids.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snap::format::tree::Tree;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = Tree::decode(data) {
        // What `ls` and restore do with a decoded tree next.
        for node in &tree.nodes {
            let _ = node.name_lossy();
            let _ = node.kind();
        }
    }
});
