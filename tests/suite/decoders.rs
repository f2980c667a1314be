//! Every decoder of untrusted bytes, fed arbitrary input and mutations of the spec's test
//! vectors: it returns a value or an error, never panics, and never allocates more than its input
//! justifies. (These run in the normal suite; deeper fuzzing with cargo-fuzz is a separate tool.)

use proptest::prelude::*;
use serde_json::Value;

use snap::crypto::KeyFile;
use snap::format::config::split_config;
use snap::format::pack::{decode_pack_header, IndexFile};
use snap::format::snapshot::Snapshot;
use snap::format::tree::{decode_list, Tree, MAX_DEPTH};
use snap::repo::lock::LockInfo;

fn vector(file: &str) -> Value {
    let path = format!("{}/format-spec/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("no {key}"))).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// The valid encodings every decoder is seeded from.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("tree", hex_field(&vector("tree.json"), "plain_hex")),
        ("list", hex_field(&vector("list.json"), "plain_hex")),
        ("index", hex_field(&vector("index.json"), "plain_hex")),
        ("pack header", hex_field(&vector("pack.json"), "header_plain_hex")),
        ("config", hex_field(&vector("config.json"), "stored_hex")),
        ("snapshot", vector("snapshot.json")["json"].as_str().unwrap_or_default().as_bytes().to_vec()),
        ("key file", vector("keyfile.json")["stored"].as_str().unwrap_or_default().as_bytes().to_vec()),
    ]
}

/// Runs every decoder on `bytes`; any panic fails the test.
fn decode_all(bytes: &[u8]) {
    let _ = Tree::decode(bytes);
    let _ = decode_list(bytes);
    let _ = IndexFile::decode(bytes);
    let _ = decode_pack_header(bytes, 1 << 20);
    let _ = split_config(bytes);
    let _ = serde_json::from_slice::<Snapshot>(bytes);
    let _ = serde_json::from_slice::<KeyFile>(bytes);
    let _ = serde_json::from_slice::<LockInfo>(bytes);
}

#[test]
fn the_seeds_decode() {
    let s = seeds();
    assert!(Tree::decode(&s[0].1).is_ok());
    assert!(decode_list(&s[1].1).is_ok());
    assert!(IndexFile::decode(&s[2].1).is_ok());
    assert!(split_config(&s[4].1).is_ok());
    assert!(serde_json::from_slice::<Snapshot>(&s[5].1).is_ok());
    assert!(serde_json::from_slice::<KeyFile>(&s[6].1).is_ok());
    assert!(MAX_DEPTH >= 1024);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    /// A four-byte count or length set to a huge value.
    Huge(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Huge),
    ]
}

fn apply(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if b.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, x) => {
                let n = b.len();
                b[i % n] ^= x;
            }
            Mutation::Truncate(i) => b.truncate(i % b.len()),
            Mutation::Insert(i, bytes) => {
                let at = i % b.len();
                b.splice(at..at, bytes.iter().copied());
            }
            Mutation::Huge(i) => {
                let at = i % b.len();
                let end = (at + 4).min(b.len());
                b[at..end].iter_mut().for_each(|x| *x = 0xff);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        decode_all(&bytes);
    }

    #[test]
    fn mutated_vectors_never_panic(which in 0usize..7, muts in proptest::collection::vec(mutation(), 1..6)) {
        let (_, seed) = seeds().swap_remove(which);
        decode_all(&apply(seed, &muts));
    }
}
