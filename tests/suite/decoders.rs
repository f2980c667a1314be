//! Every decoder of untrusted bytes, fed arbitrary input and mutations of the spec's test
//! vectors: it returns a value or an error, never panics, and never allocates more than its input
//! justifies. (These run in the normal suite; deeper fuzzing with cargo-fuzz is `tools/fuzz/run`.)

use proptest::prelude::*;
use serde_json::Value;

use snap::crypto::KeyFile;
use snap::format::config::split_config;
use snap::format::frame::{decompress, undelta};
use snap::format::id::storage_hash;
use snap::format::lock::LockInfo;
use snap::format::pack::{decode_pack_header, IndexFile};
use snap::format::snapshot::Snapshot;
use snap::format::tree::{decode_list, Tree, MAX_DEPTH};
use snap::format::BlobId;

fn vector(file: &str) -> Value {
    let path = format!("{}/format-spec/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("no {key}"))).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// A frame decoder's input, laid out as tools/fuzz lays it out: u16 LE length `n` of a
/// dictionary or base, u24 LE raw length, the `n` bytes, then the frame.
fn frame_input(prefix: &[u8], raw_len: usize, frame: &[u8]) -> Vec<u8> {
    let mut b = u16::try_from(prefix.len()).unwrap_or_else(|_| panic!("prefix too long")).to_le_bytes().to_vec();
    b.extend_from_slice(&u32::try_from(raw_len).unwrap_or_else(|_| panic!("raw length too large")).to_le_bytes()[..3]);
    b.extend_from_slice(prefix);
    b.extend_from_slice(frame);
    b
}

/// The parts of [`frame_input`]'s layout, for any bytes: `n` is taken modulo what remains, so
/// arbitrary input still has a dictionary and a frame.
fn frame_parts(bytes: &[u8]) -> Option<(&[u8], u32, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<5>()?;
    let n = usize::from(u16::from_le_bytes([head[0], head[1]])) % (rest.len() + 1);
    let raw_len = u32::from_le_bytes([head[2], head[3], head[4], 0]);
    let (prefix, frame) = rest.split_at(n);
    Some((prefix, raw_len, frame))
}

/// The blob vector stored with `compression`: its plaintext, raw length and encoded bytes, and
/// the plaintext of the blob it needs (the dictionary of compression 2, the base of 3).
fn blob_vector(compression: u64) -> (Vec<u8>, usize, Vec<u8>, Vec<u8>) {
    let v = vector("blob.json");
    let blobs = v["blobs"].as_array().unwrap_or_else(|| panic!("no blobs"));
    let plain_of = |id: &str| blobs.iter().find(|b| b["id"] == id).map(|b| hex_field(b, "plaintext_hex")).unwrap_or_else(|| panic!("no blob {id}"));
    let b = blobs.iter().find(|b| b["compression"] == compression).unwrap_or_else(|| panic!("no blob with compression {compression}"));
    let encoded = hex_field(b, "encoded_hex");
    let (needs, encoded) = match compression {
        2 => (plain_of(&hex::encode(&encoded[..32])), encoded[32..].to_vec()),
        3 => (plain_of(b["base"].as_str().unwrap_or_default()), encoded),
        _ => (Vec::new(), encoded),
    };
    let raw_len = usize::try_from(b["raw_length"].as_u64().unwrap_or_default()).unwrap_or_default();
    (hex_field(b, "plaintext_hex"), raw_len, needs, encoded)
}

/// The valid encodings every decoder is seeded from.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let (_, dict_raw, dict, dict_frame) = blob_vector(2);
    let (_, delta_raw, base, delta_frame) = blob_vector(3);
    vec![
        ("tree", hex_field(&vector("tree.json"), "plain_hex")),
        ("list", hex_field(&vector("list.json"), "plain_hex")),
        ("index", hex_field(&vector("index.json"), "plain_hex")),
        ("pack header", hex_field(&vector("pack.json"), "header_plain_hex")),
        ("config", hex_field(&vector("config.json"), "stored_hex")),
        ("snapshot", vector("snapshot.json")["json"].as_str().unwrap_or_default().as_bytes().to_vec()),
        ("key file", vector("keyfile.json")["stored"].as_str().unwrap_or_default().as_bytes().to_vec()),
        ("dict frame", frame_input(&dict, dict_raw, &dict_frame)),
        ("delta frame", frame_input(&base, delta_raw, &delta_frame)),
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
    if let Some((prefix, raw_len, frame)) = frame_parts(bytes) {
        let id = BlobId(storage_hash(prefix));
        let _ = decompress(frame, raw_len, None);
        let _ = decompress(frame, raw_len, Some((&id, prefix)));
        let _ = undelta(frame, raw_len, prefix);
    }
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
    // The frame seeds decode to their blobs' plaintexts.
    let (dict, raw_len, frame) = frame_parts(&s[7].1).unwrap_or_else(|| panic!("dict frame seed"));
    assert_eq!(decompress(frame, raw_len, Some((&BlobId(storage_hash(dict)), dict))), Ok(blob_vector(2).0));
    let (base, raw_len, frame) = frame_parts(&s[8].1).unwrap_or_else(|| panic!("delta frame seed"));
    assert_eq!(undelta(frame, raw_len, base), Ok(blob_vector(3).0));
    let (plain, raw_len, _, frame) = blob_vector(1);
    assert_eq!(decompress(&frame, u32::try_from(raw_len).unwrap_or_default(), None), Ok(plain));
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
    fn mutated_vectors_never_panic(which in 0usize..9, muts in proptest::collection::vec(mutation(), 1..6)) {
        let (_, seed) = seeds().swap_remove(which);
        decode_all(&apply(seed, &muts));
    }
}
