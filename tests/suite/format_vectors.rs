//! The on-disk format's test vectors (`format-spec/vectors/`): every file there is decoded with
//! the public `snap::format` and `snap::crypto` APIs and, where cheap, a second time with the bare
//! primitives (BLAKE3, XChaCha20-Poly1305, Argon2id, zstd, a FastCDC written from the spec), the
//! way an independent implementation following `format-spec/README.md` would. Where snap's
//! encoding is deterministic, re-encoding must give the stored bytes back.
//!
//! `generate_vectors` (ignored) wrote the files: `cargo test --test suite generate_vectors --
//! --ignored`. Sealing draws fresh random nonces and salts, so regenerating changes every sealed
//! byte string and every name derived from one; the plaintexts stay the same.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use snap::backend::{FileType, LAYOUT_DIRS};
use snap::chunker::Chunker;
use snap::crypto::{aad, blob_aad, CryptoError, KdfParams, KeyFile, MasterKeys, NONCE_LEN, OVERHEAD, TAG_LEN};
use snap::format::codec::{DecodeError, Reader, Writer};
use snap::format::config::{join_config, split_config, ChunkerParams, RepoConfig, CONFIG_MAGIC, REPO_VERSION};
use snap::format::id::storage_hash;
use snap::format::pack::{decode_pack_header, encode_pack_header, BlobKind, Compression, IndexFile, IndexPack, PackEntry, ENTRY_LEN};
use snap::format::snapshot::{Snapshot, Summary, SNAPSHOT_VERSION};
use snap::format::drill::{DrillCheck, DrillDatabase, DrillPhase, DrillQuery, DrillReport, DRILL_VERSION};
use snap::format::tree::{decode_list, encode_list, split_list, Content, Node, NodeKind, Timestamp, Tree, INLINE_CHUNKS_MAX};
use snap::format::{BlobId, IndexId, PackId, SnapshotId};
use snap::repo::blob::{delta, open_blob, seal_blob, seal_delta, Dict, References};

// ---------------------------------------------------------------------------------------------
// Fixed inputs
// ---------------------------------------------------------------------------------------------

const PASSWORD: &str = "snap-test-vector";
const FAST_KDF: KdfParams = KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 };
const ENCRYPTION_KEY: [u8; 32] = [1; 32];
const ID_KEY: [u8; 32] = [2; 32];
const CHUNKER_SEED: u64 = 3;
/// The repository id used in the config and mini-repository vectors.
const REPO_ID: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
/// Small chunker sizes for a hand-sized chunking vector.
const SMALL_CHUNKS: ChunkerParams = ChunkerParams { min: 64, avg: 256, max: 1024 };

fn test_keys() -> MasterKeys {
    MasterKeys::from_parts(ENCRYPTION_KEY, ID_KEY, CHUNKER_SEED)
}

/// Every file the vector directory holds; a file not listed here fails `every_vector_file_is_checked`.
const VECTOR_FILES: &[&str] = &[
    "README.md",
    "codec.json",
    "ids.json",
    "layout.json",
    "keyfile.json",
    "blob.json",
    "pack.json",
    "index.json",
    "tree.json",
    "list.json",
    "config.json",
    "snapshot.json",
    "drill.json",
    "chunker.json",
    "repo.json",
];

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("format-spec").join("vectors")
}

fn load<T: DeserializeOwned>(name: &str) -> T {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn save<T: Serialize>(name: &str, value: &T) {
    let dir = vectors_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|e| panic!("serialising {name}: {e}"));
    text.push('\n');
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {:?}: {e}", &s[..s.len().min(40)]))
}

fn hex32(s: &str) -> [u8; 32] {
    <[u8; 32]>::try_from(unhex(s).as_slice()).unwrap_or_else(|_| panic!("{s:?} is not 32 bytes of hex"))
}

fn blob_id(s: &str) -> BlobId {
    BlobId(hex32(s))
}

fn blake3_hex(b: &[u8]) -> String {
    hex::encode(storage_hash(b))
}

/// The name of a [`DecodeError`] variant, as the vectors record refusals.
fn variant(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::Truncated { .. } => "Truncated",
        DecodeError::VarintOverflow(_) => "VarintOverflow",
        DecodeError::UnknownVersion { .. } => "UnknownVersion",
        DecodeError::UnknownTag { .. } => "UnknownTag",
        DecodeError::Invalid(_) => "Invalid",
        DecodeError::Trailing(_) => "Trailing",
    }
}

/// XChaCha20-Poly1305 straight from the primitive: `nonce(24) || ciphertext || tag(16)`.
fn raw_open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Vec<u8> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
    assert!(sealed.len() >= NONCE_LEN + TAG_LEN, "sealed object shorter than nonce and tag");
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
        .unwrap_or_else(|_| panic!("raw XChaCha20-Poly1305 open failed (aad {:?})", String::from_utf8_lossy(aad)))
}

/// The blob id rule from the primitive: keyed BLAKE3 with the id key.
fn raw_blob_id(plain: &[u8]) -> String {
    hex::encode(blake3::keyed_hash(&ID_KEY, plain).as_bytes())
}

/// The master keys every crypto vector uses, as the vectors print them.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct KeysJson {
    encryption_hex: String,
    id_key_hex: String,
    chunker_seed: u64,
}

impl KeysJson {
    fn fixed() -> Self {
        Self { encryption_hex: hex::encode(ENCRYPTION_KEY), id_key_hex: hex::encode(ID_KEY), chunker_seed: CHUNKER_SEED }
    }
    fn keys(&self) -> MasterKeys {
        MasterKeys::from_parts(hex32(&self.encryption_hex), hex32(&self.id_key_hex), self.chunker_seed)
    }
    fn check_fixed(&self) {
        assert_eq!(*self, Self::fixed(), "vector keys differ from the documented fixed keys");
    }
}

/// One annotated run of bytes in a hand-checkable encoding.
#[derive(Debug, Serialize, Deserialize, Clone)]
struct Field {
    hex: String,
    meaning: String,
}

/// Builds an annotated encoding field by field, straight from the spec's layout tables and
/// independently of the library's encoders (the generator checks both agree).
#[derive(Default)]
struct Annotated(Vec<Field>);

impl Annotated {
    fn push(&mut self, bytes: &[u8], meaning: impl Into<String>) {
        self.0.push(Field { hex: hex::encode(bytes), meaning: meaning.into() });
    }
    fn u8(&mut self, v: u8, m: impl Into<String>) {
        self.push(&[v], m);
    }
    fn u32(&mut self, v: u32, m: impl Into<String>) {
        self.push(&v.to_le_bytes(), m);
    }
    fn varint(&mut self, v: u64, m: impl Into<String>) {
        let mut w = Writer::default();
        w.varint(v);
        self.push(&w.finish(), m);
    }
    fn svarint(&mut self, v: i64, m: impl Into<String>) {
        let mut w = Writer::default();
        w.varint_signed(v);
        self.push(&w.finish(), m);
    }
    /// A length-prefixed byte string: two fields, the varint length and the bytes.
    fn bytes(&mut self, b: &[u8], what: &str) {
        self.varint(b.len() as u64, format!("{what}: length {}", b.len()));
        if !b.is_empty() {
            self.push(b, format!("{what}: {:?}", String::from_utf8_lossy(b)));
        }
    }
    fn id(&mut self, id: &[u8; 32], m: impl Into<String>) {
        self.push(id, m);
    }
    fn into_fields(self) -> Vec<Field> {
        self.0
    }
}

fn concat_fields(fields: &[Field]) -> Vec<u8> {
    fields.iter().flat_map(|f| unhex(&f.hex)).collect()
}

// ---------------------------------------------------------------------------------------------
// codec.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct CodecVectors {
    about: String,
    unsigned_varints: Vec<UVarint>,
    signed_varints: Vec<SVarint>,
    byte_strings: Vec<ByteString>,
    fixed_width: Vec<Fixed>,
    refused_varints: Vec<Refused>,
}

#[derive(Serialize, Deserialize)]
struct UVarint {
    value: u64,
    hex: String,
}

#[derive(Serialize, Deserialize)]
struct SVarint {
    value: i64,
    zigzag: u64,
    hex: String,
}

#[derive(Serialize, Deserialize)]
struct ByteString {
    bytes_hex: String,
    hex: String,
}

#[derive(Serialize, Deserialize)]
struct Fixed {
    width: u32,
    value: u64,
    hex: String,
}

/// Input a decoder must refuse, and the [`DecodeError`] variant snap refuses it with.
#[derive(Serialize, Deserialize)]
struct Refused {
    about: String,
    hex: String,
    error: String,
}

fn gen_codec() -> CodecVectors {
    let uvals = [0u64, 1, 127, 128, 255, 300, 16_383, 16_384, 2_097_151, 2_097_152, u64::from(u32::MAX), 1 << 63, u64::MAX];
    let svals = [0i64, -1, 1, -2, 2, 63, -64, 64, -65, -86_400, 1_700_000_000, i64::MAX, i64::MIN];
    let unsigned_varints = uvals
        .iter()
        .map(|&v| {
            let mut w = Writer::default();
            w.varint(v);
            UVarint { value: v, hex: hex::encode(w.finish()) }
        })
        .collect();
    let signed_varints = svals
        .iter()
        .map(|&v| {
            let mut w = Writer::default();
            w.varint_signed(v);
            SVarint { value: v, zigzag: ((v << 1) ^ (v >> 63)) as u64, hex: hex::encode(w.finish()) }
        })
        .collect();
    let strings: [&[u8]; 4] = [b"", b"etc", b"\xff\x00/", &[0x61; 130]];
    let byte_strings = strings
        .iter()
        .map(|b| {
            let mut w = Writer::default();
            w.bytes(b);
            ByteString { bytes_hex: hex::encode(b), hex: hex::encode(w.finish()) }
        })
        .collect();
    let fixed_width = vec![
        Fixed { width: 4, value: 1, hex: hex::encode(1u32.to_le_bytes()) },
        Fixed { width: 4, value: 0x1234_5678, hex: hex::encode(0x1234_5678u32.to_le_bytes()) },
        Fixed { width: 8, value: 0x0102_0304_0506_0708, hex: hex::encode(0x0102_0304_0506_0708u64.to_le_bytes()) },
    ];
    let refused_varints = vec![
        Refused { about: "continuation bit set on the last byte".into(), hex: "80".into(), error: "Truncated".into() },
        Refused { about: "empty input".into(), hex: String::new(), error: "Truncated".into() },
        Refused { about: "tenth byte carries bits beyond 64".into(), hex: "ffffffffffffffffff02".into(), error: "VarintOverflow".into() },
        Refused { about: "more than ten bytes".into(), hex: "ffffffffffffffffffffff".into(), error: "VarintOverflow".into() },
    ];
    CodecVectors {
        about: "Framing primitives (spec section 3): unsigned LEB128 varints, zig-zag signed varints, \
                varint-length-prefixed byte strings, little-endian fixed-width integers, and varints a reader must refuse."
            .into(),
        unsigned_varints,
        signed_varints,
        byte_strings,
        fixed_width,
        refused_varints,
    }
}

#[test]
fn codec_vectors() {
    let v: CodecVectors = load("codec.json");
    for c in &v.unsigned_varints {
        let bytes = unhex(&c.hex);
        let mut r = Reader::new(&bytes);
        assert_eq!(r.varint().unwrap_or_else(|e| panic!("varint {}: {e}", c.hex)), c.value, "varint {}", c.hex);
        assert!(r.finish().is_ok(), "varint {} has trailing bytes", c.hex);
        let mut w = Writer::default();
        w.varint(c.value);
        assert_eq!(hex::encode(w.finish()), c.hex, "encoding {}", c.value);
    }
    for c in &v.signed_varints {
        let bytes = unhex(&c.hex);
        assert_eq!(Reader::new(&bytes).varint_signed().unwrap_or_else(|e| panic!("signed {}: {e}", c.hex)), c.value);
        assert_eq!(Reader::new(&bytes).varint().unwrap_or_else(|e| panic!("zigzag {}: {e}", c.hex)), c.zigzag);
        assert_eq!(c.zigzag, ((c.value << 1) ^ (c.value >> 63)) as u64, "zig-zag of {}", c.value);
        let mut w = Writer::default();
        w.varint_signed(c.value);
        assert_eq!(hex::encode(w.finish()), c.hex, "encoding {}", c.value);
    }
    for c in &v.byte_strings {
        let bytes = unhex(&c.hex);
        let mut r = Reader::new(&bytes);
        assert_eq!(hex::encode(r.bytes().unwrap_or_else(|e| panic!("bytes {}: {e}", c.hex))), c.bytes_hex);
        assert!(r.finish().is_ok());
        let mut w = Writer::default();
        w.bytes(&unhex(&c.bytes_hex));
        assert_eq!(hex::encode(w.finish()), c.hex);
    }
    for c in &v.fixed_width {
        let bytes = unhex(&c.hex);
        let mut r = Reader::new(&bytes);
        let got = match c.width {
            4 => u64::from(r.u32().expect("u32 vector decodes")),
            8 => r.u64().expect("u64 vector decodes"),
            w => panic!("no fixed width {w}"),
        };
        assert_eq!(got, c.value, "fixed {}", c.hex);
    }
    for c in &v.refused_varints {
        let bytes = unhex(&c.hex);
        match Reader::new(&bytes).varint() {
            Ok(x) => panic!("{}: {} decoded to {x}", c.about, c.hex),
            Err(e) => assert_eq!(variant(&e), c.error, "{}: {e}", c.about),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ids.json and layout.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct IdVectors {
    about: String,
    keys: KeysJson,
    cases: Vec<IdCase>,
}

#[derive(Serialize, Deserialize)]
struct IdCase {
    input_text: Option<String>,
    input_hex: String,
    /// Plain BLAKE3: the name of a stored file with these bytes.
    storage_id: String,
    /// BLAKE3 keyed with the id key: the id of a blob with this plaintext.
    blob_id: String,
}

fn gen_ids() -> IdVectors {
    let keys = test_keys();
    let inputs: [&[u8]; 3] = [b"", b"hello, snap\n", &[0u8; 1025]];
    IdVectors {
        about: "Identifiers (spec section 4): plain BLAKE3 of stored bytes names files; BLAKE3 keyed with the \
                repository id key over a blob's plaintext is the blob id. Keys are the fixed test keys."
            .into(),
        keys: KeysJson::fixed(),
        cases: inputs
            .iter()
            .map(|b| IdCase {
                input_text: std::str::from_utf8(b).ok().filter(|s| s.len() < 100).map(str::to_string),
                input_hex: hex::encode(b),
                storage_id: blake3_hex(b),
                blob_id: keys.blob_id(b).to_hex(),
            })
            .collect(),
    }
}

#[test]
fn id_vectors() {
    let v: IdVectors = load("ids.json");
    v.keys.check_fixed();
    let keys = v.keys.keys();
    for c in &v.cases {
        let input = unhex(&c.input_hex);
        if let Some(t) = &c.input_text {
            assert_eq!(t.as_bytes(), &input[..]);
        }
        assert_eq!(hex::encode(storage_hash(&input)), c.storage_id);
        assert_eq!(keys.blob_id(&input).to_hex(), c.blob_id);
        assert_eq!(raw_blob_id(&input), c.blob_id);
        let parsed: PackId = c.storage_id.parse().expect("storage id parses as an id");
        assert_eq!(parsed.to_hex(), c.storage_id);
    }
}

#[derive(Serialize, Deserialize)]
struct LayoutVectors {
    about: String,
    dirs: Vec<String>,
    paths: Vec<LayoutPath>,
}

#[derive(Serialize, Deserialize)]
struct LayoutPath {
    file_type: String,
    name: String,
    path: String,
}

fn file_type(s: &str) -> FileType {
    match s {
        "config" => FileType::Config,
        "key" => FileType::Key,
        "pack" => FileType::Pack,
        "index" => FileType::Index,
        "snapshot" => FileType::Snapshot,
        "lock" => FileType::Lock,
        "drill" => FileType::Drill,
        other => panic!("unknown file type {other}"),
    }
}

fn gen_layout() -> LayoutVectors {
    let name = blake3_hex(b"hello, snap\n");
    let paths = ["config", "key", "pack", "index", "snapshot", "lock", "drill"]
        .iter()
        .map(|t| {
            let n = if *t == "config" { String::new() } else { name.clone() };
            LayoutPath { file_type: (*t).to_string(), path: file_type(t).path(&n), name: n }
        })
        .collect();
    LayoutVectors {
        about: "Repository layout (spec section 2): the directories init creates and the path of a file of \
                each type named by a 64-digit hex id. Packs fan out by their first two hex digits."
            .into(),
        dirs: LAYOUT_DIRS.iter().map(|d| (*d).to_string()).collect(),
        paths,
    }
}

#[test]
fn layout_vectors() {
    let v: LayoutVectors = load("layout.json");
    assert_eq!(v.dirs, LAYOUT_DIRS.to_vec());
    for p in &v.paths {
        assert_eq!(file_type(&p.file_type).path(&p.name), p.path, "{}", p.file_type);
    }
}

// ---------------------------------------------------------------------------------------------
// keyfile.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct KeyFileVector {
    about: String,
    password: String,
    aad: String,
    /// The key file exactly as stored (snap writes pretty-printed JSON).
    stored: String,
    /// Its name: plain BLAKE3 of `stored`.
    key_id: String,
    salt_hex: String,
    /// The Argon2id output (32 bytes) that seals the master keys.
    kek_hex: String,
    /// `data`, base64-decoded: nonce || ciphertext || tag.
    sealed_hex: String,
    /// The opened plaintext: the master keys as JSON.
    master_json: String,
    keys: KeysJson,
}

fn argon2id(password: &[u8], salt: &[u8], p: KdfParams) -> [u8; 32] {
    let params = argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32)).expect("valid argon2 params");
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    a.hash_password_into(password, salt, &mut out).expect("argon2id derivation");
    out
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_else(|e| panic!("bad base64 {s:?}: {e}"))
}

fn gen_keyfile() -> KeyFileVector {
    let kf = KeyFile::create(PASSWORD.as_bytes(), &test_keys(), FAST_KDF).expect("creating the key file");
    let stored = serde_json::to_string_pretty(&kf).expect("key file JSON");
    let salt = b64(&kf.salt);
    let kek = argon2id(PASSWORD.as_bytes(), &salt, FAST_KDF);
    let sealed = b64(&kf.data);
    let master = raw_open(&kek, aad::KEY, &sealed);
    KeyFileVector {
        about: "A key file (spec section 5) made by KeyFile::create with password \"snap-test-vector\" and \
                Argon2id memory 64 KiB, 1 iteration, parallelism 1, wrapping the fixed test keys. The \
                intermediate values (salt, Argon2id output, sealed bytes, opened JSON) are given for hand checking."
            .into(),
        password: PASSWORD.into(),
        aad: String::from_utf8_lossy(aad::KEY).into_owned(),
        key_id: blake3_hex(stored.as_bytes()),
        stored,
        salt_hex: hex::encode(salt),
        kek_hex: hex::encode(kek),
        sealed_hex: hex::encode(&sealed),
        master_json: String::from_utf8(master).expect("master key JSON is UTF-8"),
        keys: KeysJson::fixed(),
    }
}

#[test]
fn keyfile_vector() {
    let v: KeyFileVector = load("keyfile.json");
    v.keys.check_fixed();
    assert_eq!(v.aad.as_bytes(), aad::KEY);
    assert_eq!(blake3_hex(v.stored.as_bytes()), v.key_id, "key file name is BLAKE3 of its bytes");

    // Through snap's API.
    let kf: KeyFile = serde_json::from_str(&v.stored).expect("key file parses");
    assert_eq!(kf.version, 1);
    assert_eq!(kf.kdf, "argon2id");
    assert_eq!(kf.params, FAST_KDF);
    let keys = kf.open(v.password.as_bytes()).expect("the password opens the key file");
    assert_eq!(keys.chunker_seed(), CHUNKER_SEED);
    assert_eq!(keys.blob_id(b"x").to_hex(), raw_blob_id(b"x"), "opened id key is 32 x 0x02");
    let sealed = keys.seal(aad::INDEX, b"probe").expect("sealing");
    assert_eq!(raw_open(&ENCRYPTION_KEY, aad::INDEX, &sealed), b"probe", "opened encryption key is 32 x 0x01");
    assert!(matches!(kf.open(b"not the password"), Err(CryptoError::WrongPassword)));

    // From the primitives, as the spec describes it.
    let json: serde_json::Value = serde_json::from_str(&v.stored).expect("key file is JSON");
    let field = |k: &str| json.get(k).unwrap_or_else(|| panic!("key file lacks {k}")).clone();
    assert_eq!(field("memory_kib"), 64);
    assert_eq!(field("iterations"), 1);
    assert_eq!(field("parallelism"), 1);
    let salt = b64(field("salt").as_str().expect("salt is a string"));
    assert_eq!(hex::encode(&salt), v.salt_hex);
    assert_eq!(salt.len(), 32);
    let kek = argon2id(v.password.as_bytes(), &salt, FAST_KDF);
    assert_eq!(hex::encode(kek), v.kek_hex);
    let data = b64(field("data").as_str().expect("data is a string"));
    assert_eq!(hex::encode(&data), v.sealed_hex);
    let master = raw_open(&kek, aad::KEY, &data);
    assert_eq!(String::from_utf8(master).expect("UTF-8"), v.master_json);
    let m: serde_json::Value = serde_json::from_str(&v.master_json).expect("master JSON");
    assert_eq!(b64(m["encryption"].as_str().expect("encryption")), ENCRYPTION_KEY);
    assert_eq!(b64(m["id"].as_str().expect("id")), ID_KEY);
    assert_eq!(m["chunker_seed"], CHUNKER_SEED);
}

// ---------------------------------------------------------------------------------------------
// blob.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Clone)]
struct BlobVector {
    kind: u8,
    kind_name: String,
    plaintext_text: Option<String>,
    plaintext_hex: String,
    id: String,
    /// "snap/blob" || kind || id.
    aad_hex: String,
    compression: u8,
    /// What was sealed: the plaintext (compression 0), a zstd frame of it (compression 1), or a
    /// dict blob's id and a zstd frame made with that dictionary (compression 2).
    encoded_hex: String,
    sealed_hex: String,
    /// Sealed length (the index entry's `length`).
    length: u32,
    /// Plaintext length (the index entry's `raw_length`).
    raw_length: u32,
    /// For compression 3: the id of the data blob the delta was made against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct BlobVectors {
    about: String,
    keys: KeysJson,
    blobs: Vec<BlobVector>,
}

fn kind_name(k: BlobKind) -> &'static str {
    match k {
        BlobKind::Data => "data",
        BlobKind::Tree => "tree",
        BlobKind::List => "list",
        BlobKind::Dict => "dict",
    }
}

/// snap's compression rule (spec section 7): zstd only from 64 bytes and only if it saves at
/// least 1/32.
fn maybe_compress(plain: &[u8], level: i32) -> Option<Vec<u8>> {
    if plain.len() < 64 {
        return None;
    }
    let z = zstd::bulk::compress(plain, level).expect("zstd");
    (z.len() < plain.len() - plain.len() / 32).then_some(z)
}

fn make_blob(keys: &MasterKeys, kind: BlobKind, plain: &[u8]) -> BlobVector {
    make_blob_with(keys, kind, plain, None)
}

/// A blob sealed by snap's own `seal_blob`, with `dict` for compression 2.
fn make_blob_with(keys: &MasterKeys, kind: BlobKind, plain: &[u8], dict: Option<&Dict>) -> BlobVector {
    let id = keys.blob_id(plain);
    let mut sealed_by_snap = Vec::new();
    let compression = seal_blob(keys, kind, &id, plain, 3, dict, &mut sealed_by_snap).expect("sealing a blob");
    let a = blob_aad(kind, &id);
    let encoded = keys.open(&a, &sealed_by_snap).expect("opening what was just sealed");
    let sealed = sealed_by_snap;
    BlobVector {
        kind: kind as u8,
        kind_name: kind_name(kind).into(),
        plaintext_text: std::str::from_utf8(plain).ok().filter(|s| s.len() <= 200).map(str::to_string),
        plaintext_hex: hex::encode(plain),
        id: id.to_hex(),
        aad_hex: hex::encode(a),
        compression: compression as u8,
        encoded_hex: hex::encode(&encoded),
        length: u32::try_from(sealed.len()).expect("small blob"),
        raw_length: u32::try_from(plain.len()).expect("small blob"),
        sealed_hex: hex::encode(&sealed),
        base: None,
    }
}

/// A data blob stored as a delta from `base` (compression 3), by snap's own code.
fn make_delta_blob(keys: &MasterKeys, plain: &[u8], base: &[u8]) -> BlobVector {
    let id = keys.blob_id(plain);
    let frame = delta(plain, 3, base, plain.len()).expect("a delta from a near copy");
    let mut sealed = Vec::new();
    seal_delta(keys, &id, &frame, &mut sealed).expect("sealing a delta");
    let a = blob_aad(BlobKind::Data, &id);
    BlobVector {
        kind: BlobKind::Data as u8,
        kind_name: "data".into(),
        plaintext_text: std::str::from_utf8(plain).ok().filter(|s| s.len() <= 200).map(str::to_string),
        plaintext_hex: hex::encode(plain),
        id: id.to_hex(),
        aad_hex: hex::encode(a),
        compression: Compression::ZstdDelta as u8,
        encoded_hex: hex::encode(&frame),
        length: u32::try_from(sealed.len()).expect("small blob"),
        raw_length: u32::try_from(plain.len()).expect("small blob"),
        sealed_hex: hex::encode(&sealed),
        base: Some(keys.blob_id(base).to_hex()),
    }
}

/// Dictionaries and bases by id, from blobs a vector file holds.
struct KnownBlobs<'a>(&'a HashMap<BlobId, Vec<u8>>);

impl References for KnownBlobs<'_> {
    fn dict(&self, id: &BlobId) -> snap::Result<Arc<Dict>> {
        self.0.get(id).map(|bytes| Arc::new(Dict { id: *id, bytes: bytes.clone() })).ok_or_else(|| snap::Error::MissingBlob(id.to_hex()))
    }
    fn base(&self, id: &BlobId) -> snap::Result<Arc<Vec<u8>>> {
        self.0.get(id).map(|bytes| Arc::new(bytes.clone())).ok_or_else(|| snap::Error::MissingBlob(id.to_hex()))
    }
}

/// Opens, decompresses and verifies one blob both through snap and from the primitives; returns
/// the plaintext. `known` gives the plaintext of earlier blobs by id: dictionaries (compression
/// 2) and delta bases (compression 3).
fn check_blob(keys: &MasterKeys, b: &BlobVector, known: &HashMap<BlobId, Vec<u8>>) -> Vec<u8> {
    let kind = BlobKind::try_from(b.kind).expect("known blob kind");
    assert_eq!(kind_name(kind), b.kind_name);
    let id = blob_id(&b.id);
    let sealed = unhex(&b.sealed_hex);
    assert_eq!(sealed.len(), b.length as usize, "blob {} length", b.id);
    let mut expect_aad = b"snap/blob".to_vec();
    expect_aad.push(b.kind);
    expect_aad.extend_from_slice(&id.0);
    assert_eq!(hex::encode(&expect_aad), b.aad_hex);
    assert_eq!(blob_aad(kind, &id).to_vec(), expect_aad);
    let encoded = keys.open(&expect_aad, &sealed).unwrap_or_else(|e| panic!("blob {}: {e}", b.id));
    assert_eq!(raw_open(&ENCRYPTION_KEY, &expect_aad, &sealed), encoded);
    assert_eq!(hex::encode(&encoded), b.encoded_hex);
    assert_eq!(sealed.len(), encoded.len() + OVERHEAD);
    let comp = Compression::try_from(b.compression).expect("known compression");
    let base = b.base.as_deref().map(blob_id);
    assert_eq!(base.is_some(), comp == Compression::ZstdDelta, "a base exactly for deltas");
    let plain = raw_decompress(&encoded, comp, b.raw_length, base.as_ref(), known);
    assert_eq!(plain.len(), b.raw_length as usize);
    // snap's reader agrees.
    assert_eq!(open_blob(keys, kind, &id, comp, b.raw_length, base.as_ref(), &sealed, &KnownBlobs(known)).expect("snap opens the blob"), plain);
    assert_eq!(hex::encode(&plain), b.plaintext_hex);
    if let Some(t) = &b.plaintext_text {
        assert_eq!(t.as_bytes(), &plain[..]);
    }
    assert_eq!(keys.blob_id(&plain), id, "keyed BLAKE3 of the plaintext is the id");
    assert_eq!(raw_blob_id(&plain), b.id);
    // The same sealed bytes must not open in another role or as another kind.
    assert!(keys.open(aad::INDEX, &sealed).is_err());
    let other = if kind == BlobKind::Data { BlobKind::Tree } else { BlobKind::Data };
    assert!(keys.open(&blob_aad(other, &id), &sealed).is_err());
    plain
}

/// Decompression from the bare zstd library, as the spec describes it (section 7).
fn raw_decompress(encoded: &[u8], comp: Compression, raw_length: u32, base: Option<&BlobId>, known: &HashMap<BlobId, Vec<u8>>) -> Vec<u8> {
    match comp {
        Compression::ZstdDelta => {
            let base = known.get(base.expect("a delta names its base")).expect("the delta's base");
            // A raw-content dictionary: the base's plaintext as it is.
            zstd::bulk::Decompressor::with_dictionary(base).expect("base loads").decompress(encoded, raw_length as usize).expect("delta decodes against its base")
        }
        Compression::None => encoded.to_vec(),
        Compression::Zstd => zstd::bulk::decompress(encoded, raw_length as usize).expect("zstd frame decodes"),
        Compression::ZstdDict => {
            let (dict_id, frame) = encoded.split_at(32);
            let dict = known.get(&BlobId(dict_id.try_into().expect("32 bytes"))).expect("the dictionary the blob names");
            zstd::bulk::Decompressor::with_dictionary(dict).expect("dictionary loads").decompress(frame, raw_length as usize).expect("zstd frame decodes with its dictionary")
        }
    }
}

fn sql_text(lines: std::ops::Range<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in lines {
        let balance = (u64::from(i) * 7919) % 100_000;
        out.extend_from_slice(format!("INSERT INTO accounts VALUES ({i}, 'user{i}', {balance});\n").as_bytes());
    }
    out
}

fn gen_blobs() -> BlobVectors {
    let keys = test_keys();
    BlobVectors {
        about: "Sealed blobs (spec sections 6 and 7) under the fixed test keys: the data blob \"hello, snap\\n\" \
                (12 bytes, too small to compress: compression 0) and a compressible data blob (compression 1, \
                one zstd frame). Nonces are random; any correct sealing differs, any correct opening agrees."
            .into(),
        keys: KeysJson::fixed(),
        blobs: {
            let dict_bytes = sql_text(100..400);
            let dict = Dict { id: keys.blob_id(&dict_bytes), bytes: dict_bytes.clone() };
            vec![
                make_blob(&keys, BlobKind::Data, b"hello, snap\n"),
                make_blob(&keys, BlobKind::Data, &sql_text(0..12)),
                make_blob(&keys, BlobKind::Dict, &dict_bytes),
                make_blob_with(&keys, BlobKind::Data, &sql_text(1000..1012), Some(&dict)),
                make_delta_blob(&keys, &[&sql_text(0..5)[..], b"INSERT INTO accounts VALUES (5, 'edited', 0);\n", &sql_text(6..12)].concat(), &sql_text(0..12)),
            ]
        },
    }
}

#[test]
fn blob_vectors() {
    let v: BlobVectors = load("blob.json");
    v.keys.check_fixed();
    let keys = v.keys.keys();
    assert_eq!(v.blobs.len(), 5);
    let hello = &v.blobs[0];
    assert_eq!(hello.plaintext_text.as_deref(), Some("hello, snap\n"));
    assert_eq!(hello.compression, 0);
    assert_eq!(hello.kind, 0);
    assert_eq!(v.blobs[1].compression, 1);
    assert_eq!((v.blobs[2].kind, v.blobs[3].kind, v.blobs[3].compression), (3, 0, 2));
    assert_eq!(unhex(&v.blobs[3].encoded_hex)[..32], unhex(&v.blobs[2].id), "compression 2 names its dictionary first");
    assert_eq!((v.blobs[4].compression, v.blobs[4].base.as_deref()), (3, Some(v.blobs[1].id.as_str())), "the delta's base is the second blob");
    assert!(v.blobs[4].length < v.blobs[1].length, "a one-row edit is a small delta");
    let mut known = HashMap::new();
    for b in &v.blobs {
        let plain = check_blob(&keys, b, &known);
        known.insert(blob_id(&b.id), plain.clone());
        // The writer's rule chose this compression.
        if b.compression < 2 {
            assert_eq!(u8::from(maybe_compress(&plain, 3).is_some()), b.compression, "compression choice for {}", b.id);
        }
    }
    // Without its dictionary, the last blob cannot be read.
    let nothing = HashMap::new();
    for b in &v.blobs[3..] {
        let base = b.base.as_deref().map(blob_id);
        let comp = Compression::try_from(b.compression).expect("known");
        let e = open_blob(&keys, BlobKind::Data, &blob_id(&b.id), comp, b.raw_length, base.as_ref(), &unhex(&b.sealed_hex), &KnownBlobs(&nothing)).unwrap_err();
        assert!(matches!(e, snap::Error::MissingBlob(_)), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// pack.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
struct EntryJson {
    kind: u8,
    compression: u8,
    id: String,
    offset: u32,
    length: u32,
    raw_length: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base: Option<String>,
}

impl EntryJson {
    fn from_entry(e: &PackEntry) -> Self {
        Self {
            kind: e.kind as u8,
            compression: e.compression as u8,
            id: e.id.to_hex(),
            offset: e.offset,
            length: e.length,
            raw_length: e.raw_length,
            base: e.base.map(|b| b.to_hex()),
        }
    }
    fn to_entry(&self) -> PackEntry {
        PackEntry {
            kind: BlobKind::try_from(self.kind).expect("known kind"),
            compression: Compression::try_from(self.compression).expect("known compression"),
            id: blob_id(&self.id),
            offset: self.offset,
            length: self.length,
            raw_length: self.raw_length,
            base: self.base.as_deref().map(blob_id),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct PackVector {
    about: String,
    keys: KeysJson,
    blobs: Vec<BlobVector>,
    entries: Vec<EntryJson>,
    header_fields: Vec<Field>,
    header_plain_hex: String,
    header_aad: String,
    header_sealed_hex: String,
    /// u32 LE length of the sealed header.
    trailer_hex: String,
    pack_hex: String,
    pack_id: String,
    path: String,
    refused_headers: Vec<RefusedHeader>,
}

#[derive(Serialize, Deserialize)]
struct RefusedHeader {
    about: String,
    plain_hex: String,
    blobs_len: u64,
    error: String,
}

fn annotate_entry(a: &mut Annotated, e: &PackEntry, n: usize) {
    a.u8(e.kind as u8, format!("entry {n}: kind {} ({})", e.kind as u8, kind_name(e.kind)));
    a.u8(e.compression as u8, format!("entry {n}: compression {}", e.compression as u8));
    a.id(&e.id.0, format!("entry {n}: blob id"));
    a.u32(e.offset, format!("entry {n}: offset {} (u32 LE)", e.offset));
    a.u32(e.length, format!("entry {n}: sealed length {} (u32 LE)", e.length));
    a.u32(e.raw_length, format!("entry {n}: plaintext length {} (u32 LE)", e.raw_length));
    if let Some(b) = &e.base {
        a.id(&b.0, format!("entry {n}: delta base blob id (compression 3 only)"));
    }
}

fn annotate_pack_header(entries: &[PackEntry]) -> Vec<Field> {
    let mut a = Annotated::default();
    a.u8(1, "pack header version 1");
    a.u32(u32::try_from(entries.len()).expect("few entries"), format!("entry count {} (u32 LE)", entries.len()));
    for (n, e) in entries.iter().enumerate() {
        annotate_entry(&mut a, e, n);
    }
    a.into_fields()
}

/// Builds a pack from blobs: sealed blobs back to back, sealed header, u32 LE header length.
fn build_pack(keys: &MasterKeys, blobs: &[BlobVector]) -> (Vec<u8>, Vec<PackEntry>, Vec<u8>) {
    let mut buf = Vec::new();
    let mut entries = Vec::new();
    for b in blobs {
        let sealed = unhex(&b.sealed_hex);
        entries.push(PackEntry {
            kind: BlobKind::try_from(b.kind).expect("kind"),
            compression: Compression::try_from(b.compression).expect("compression"),
            id: blob_id(&b.id),
            offset: u32::try_from(buf.len()).expect("small pack"),
            length: b.length,
            raw_length: b.raw_length,
            base: b.base.as_deref().map(blob_id),
        });
        buf.extend_from_slice(&sealed);
    }
    let header = encode_pack_header(&entries);
    let sealed_header = keys.seal(aad::PACK_HEADER, &header).expect("sealing the header");
    buf.extend_from_slice(&sealed_header);
    buf.extend_from_slice(&u32::try_from(sealed_header.len()).expect("small header").to_le_bytes());
    (buf, entries, sealed_header)
}

fn gen_pack(blobs: &[BlobVector]) -> PackVector {
    let keys = test_keys();
    let (pack, entries, sealed_header) = build_pack(&keys, blobs);
    let header = encode_pack_header(&entries);
    let fields = annotate_pack_header(&entries);
    assert_eq!(concat_fields(&fields), header, "annotated pack header matches encode_pack_header");
    let pack_id = blake3_hex(&pack);
    let mut bad_version = header.clone();
    bad_version[0] = 2;
    let blobs_len: u64 = entries.iter().map(|e| u64::from(e.length)).sum();
    let mut gap = entries.clone();
    gap[1].offset += 1;
    PackVector {
        about: "A data pack (spec section 8) holding the two blobs of blob.json: sealed blobs back to back, \
                then the sealed pack header, then the header's sealed length as u32 LE. The pack id (and file \
                name) is plain BLAKE3 of the whole file."
            .into(),
        keys: KeysJson::fixed(),
        blobs: blobs.to_vec(),
        entries: entries.iter().map(EntryJson::from_entry).collect(),
        header_fields: fields,
        header_plain_hex: hex::encode(&header),
        header_aad: String::from_utf8_lossy(aad::PACK_HEADER).into_owned(),
        header_sealed_hex: hex::encode(&sealed_header),
        trailer_hex: hex::encode(u32::try_from(sealed_header.len()).expect("small").to_le_bytes()),
        path: FileType::Pack.path(&pack_id),
        pack_id,
        pack_hex: hex::encode(&pack),
        refused_headers: vec![
            RefusedHeader { about: "unknown header version 2".into(), plain_hex: hex::encode(&bad_version), blobs_len, error: "UnknownVersion".into() },
            RefusedHeader {
                about: "entries leave a gap (second blob one byte late)".into(),
                plain_hex: hex::encode(encode_pack_header(&gap)),
                blobs_len: blobs_len + 1,
                error: "Invalid".into(),
            },
            RefusedHeader {
                about: "entries do not cover the whole blob area".into(),
                plain_hex: hex::encode(&header),
                blobs_len: blobs_len + 40,
                error: "Invalid".into(),
            },
            RefusedHeader {
                about: format!("count says {} entries, {} present", entries.len() + 1, entries.len()),
                plain_hex: {
                    let mut h = header.clone();
                    h[1] = u8::try_from(entries.len() + 1).expect("few entries");
                    hex::encode(h)
                },
                blobs_len,
                error: "Invalid".into(),
            },
        ],
    }
}

/// Reads a pack as the spec says: trailer, sealed header, tiling check; returns the entries.
fn read_pack(keys: &MasterKeys, pack: &[u8]) -> Vec<PackEntry> {
    assert!(pack.len() >= 4 + OVERHEAD, "pack too short");
    let (rest, trailer) = pack.split_at(pack.len() - 4);
    let hlen = u32::from_le_bytes(<[u8; 4]>::try_from(trailer).expect("4 bytes")) as usize;
    assert!(hlen <= rest.len(), "header length beyond the pack");
    let (blobs, sealed_header) = rest.split_at(rest.len() - hlen);
    let plain = keys.open(aad::PACK_HEADER, sealed_header).expect("pack header opens");
    assert_eq!(raw_open(&ENCRYPTION_KEY, aad::PACK_HEADER, sealed_header), plain);
    decode_pack_header(&plain, blobs.len() as u64).expect("pack header decodes and tiles the blobs")
}

#[test]
fn pack_vector() {
    let v: PackVector = load("pack.json");
    v.keys.check_fixed();
    let keys = v.keys.keys();
    let pack = unhex(&v.pack_hex);
    assert_eq!(blake3_hex(&pack), v.pack_id, "pack id is BLAKE3 of the pack file");
    assert_eq!(FileType::Pack.path(&v.pack_id), v.path);
    assert_eq!(v.header_aad.as_bytes(), aad::PACK_HEADER);

    let entries = read_pack(&keys, &pack);
    let expect: Vec<PackEntry> = v.entries.iter().map(EntryJson::to_entry).collect();
    assert_eq!(entries, expect);
    let header_plain = unhex(&v.header_plain_hex);
    assert_eq!(concat_fields(&v.header_fields), header_plain, "annotations add up to the header");
    assert_eq!(encode_pack_header(&entries), header_plain, "re-encoding the header is byte-identical");
    let deltas = entries.iter().filter(|e| e.base.is_some()).count();
    assert_eq!(header_plain.len(), 5 + entries.len() * ENTRY_LEN + deltas * 32, "46 bytes an entry, 78 with a base");
    assert_eq!(deltas, 1, "the pack holds the delta blob of blob.json");
    let sealed_header = unhex(&v.header_sealed_hex);
    assert_eq!(keys.open(aad::PACK_HEADER, &sealed_header).expect("header opens"), header_plain);
    assert_eq!(hex::encode((sealed_header.len() as u32).to_le_bytes()), v.trailer_hex);
    assert!(pack.ends_with(&[sealed_header.as_slice(), &unhex(&v.trailer_hex)].concat()));

    assert_eq!(entries.len(), v.blobs.len());
    for (e, b) in entries.iter().zip(&v.blobs) {
        assert_eq!(e.id.to_hex(), b.id);
        let range = e.offset as usize..(e.offset + e.length) as usize;
        assert_eq!(hex::encode(&pack[range]), b.sealed_hex, "blob {} lies at its offset", b.id);
        let known: HashMap<BlobId, Vec<u8>> = v.blobs.iter().map(|b| (blob_id(&b.id), unhex(&b.plaintext_hex))).collect();
        check_blob(&keys, b, &known);
    }
    assert!(entries.iter().all(|e| !e.kind.is_metadata()), "a data pack holds only data blobs");

    for r in &v.refused_headers {
        match decode_pack_header(&unhex(&r.plain_hex), r.blobs_len) {
            Ok(_) => panic!("{} was accepted", r.about),
            Err(e) => assert_eq!(variant(&e), r.error, "{}: {e}", r.about),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// index.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct IndexPackJson {
    id: String,
    entries: Vec<EntryJson>,
}

#[derive(Serialize, Deserialize)]
struct IndexVector {
    about: String,
    keys: KeysJson,
    aad: String,
    fields: Vec<Field>,
    plain_hex: String,
    supersedes: Vec<String>,
    packs: Vec<IndexPackJson>,
    sealed_hex: String,
    name: String,
    path: String,
    refused: Vec<Refused>,
}

fn annotate_index(f: &IndexFile) -> Vec<Field> {
    let mut a = Annotated::default();
    a.u8(1, "index version 1");
    a.u32(f.supersedes.len() as u32, format!("superseded index count {} (u32 LE)", f.supersedes.len()));
    for (i, s) in f.supersedes.iter().enumerate() {
        a.id(&s.0, format!("superseded index file {i}"));
    }
    a.u32(f.packs.len() as u32, format!("pack count {} (u32 LE)", f.packs.len()));
    for (i, p) in f.packs.iter().enumerate() {
        a.id(&p.id.0, format!("pack {i}: pack id"));
        a.u32(p.entries.len() as u32, format!("pack {i}: entry count {} (u32 LE)", p.entries.len()));
        for (n, e) in p.entries.iter().enumerate() {
            annotate_entry(&mut a, e, n);
        }
    }
    a.into_fields()
}

fn gen_index(pack: &PackVector) -> IndexVector {
    let keys = test_keys();
    let file = IndexFile {
        supersedes: vec![IndexId(storage_hash(b"an older index file"))],
        packs: vec![IndexPack { id: pack.pack_id.parse().expect("pack id"), entries: pack.entries.iter().map(EntryJson::to_entry).collect() }],
    };
    let plain = file.encode();
    let fields = annotate_index(&file);
    assert_eq!(concat_fields(&fields), plain, "annotated index matches IndexFile::encode");
    let sealed = keys.seal(aad::INDEX, &plain).expect("sealing the index");
    let name = blake3_hex(&sealed);
    let mut bad_version = plain.clone();
    bad_version[0] = 2;
    let mut bad_kind = plain.clone();
    // First entry's kind byte: version, count, 1 id, count, pack id, entry count.
    bad_kind[1 + 4 + 32 + 4 + 32 + 4] = 4;
    IndexVector {
        about: "An index file (spec section 9) naming the pack of pack.json and superseding one older index \
                file (the BLAKE3 of \"an older index file\", a stand-in). Sealed as a whole with AAD \
                \"snap/index/v1\"; its name is BLAKE3 of the sealed bytes."
            .into(),
        keys: KeysJson::fixed(),
        aad: String::from_utf8_lossy(aad::INDEX).into_owned(),
        fields,
        plain_hex: hex::encode(&plain),
        supersedes: file.supersedes.iter().map(IndexId::to_hex).collect(),
        packs: file.packs.iter().map(|p| IndexPackJson { id: p.id.to_hex(), entries: p.entries.iter().map(EntryJson::from_entry).collect() }).collect(),
        sealed_hex: hex::encode(&sealed),
        path: FileType::Index.path(&name),
        name,
        refused: vec![
            Refused { about: "unknown index version 2".into(), hex: hex::encode(bad_version), error: "UnknownVersion".into() },
            Refused { about: "blob kind 4".into(), hex: hex::encode(bad_kind), error: "UnknownTag".into() },
            Refused { about: "one trailing byte".into(), hex: hex::encode([plain.as_slice(), &[0]].concat()), error: "Trailing".into() },
            Refused { about: "last byte missing".into(), hex: hex::encode(&plain[..plain.len() - 1]), error: "Truncated".into() },
        ],
    }
}

#[test]
fn index_vector() {
    let v: IndexVector = load("index.json");
    v.keys.check_fixed();
    let keys = v.keys.keys();
    assert_eq!(v.aad.as_bytes(), aad::INDEX);
    let sealed = unhex(&v.sealed_hex);
    assert_eq!(blake3_hex(&sealed), v.name, "verify the name before opening");
    assert_eq!(FileType::Index.path(&v.name), v.path);
    let plain = keys.open(aad::INDEX, &sealed).expect("index opens");
    assert_eq!(raw_open(&ENCRYPTION_KEY, aad::INDEX, &sealed), plain);
    assert_eq!(hex::encode(&plain), v.plain_hex);
    assert_eq!(concat_fields(&v.fields), plain);
    let file = IndexFile::decode(&plain).expect("index decodes");
    assert_eq!(file.supersedes.iter().map(IndexId::to_hex).collect::<Vec<_>>(), v.supersedes);
    let packs: Vec<IndexPackJson> =
        file.packs.iter().map(|p| IndexPackJson { id: p.id.to_hex(), entries: p.entries.iter().map(EntryJson::from_entry).collect() }).collect();
    assert_eq!(packs, v.packs);
    assert_eq!(file.encode(), plain, "re-encoding the index is byte-identical");
    // It describes exactly the pack of pack.json.
    let pack: PackVector = load("pack.json");
    assert_eq!(v.packs, vec![IndexPackJson { id: pack.pack_id, entries: pack.entries }]);
    for r in &v.refused {
        match IndexFile::decode(&unhex(&r.hex)) {
            Ok(_) => panic!("{} was accepted", r.about),
            Err(e) => assert_eq!(variant(&e), r.error, "{}: {e}", r.about),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// tree.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, PartialEq, Debug, Clone, Copy)]
struct TsJson {
    secs: i64,
    nanos: u32,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct XattrJson {
    name_hex: String,
    value_hex: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct NodeJson {
    name: String,
    name_hex: String,
    kind: String,
    /// Octal, as `ls` and `chmod` show it.
    mode: String,
    uid: u32,
    gid: u32,
    user: String,
    group: String,
    mtime: TsJson,
    ctime: TsJson,
    size: u64,
    inode: u64,
    device: u64,
    nlink: u64,
    xattrs: Vec<XattrJson>,
    /// Files: 0 = the ids are data-blob ids, 1 = they are chunk-list blob ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_form: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subtree: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_target_hex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rdev: Option<u64>,
}

fn node_kind_name(k: NodeKind) -> &'static str {
    match k {
        NodeKind::File => "file",
        NodeKind::Dir => "dir",
        NodeKind::Symlink => "symlink",
        NodeKind::CharDevice => "chardev",
        NodeKind::BlockDevice => "blockdev",
        NodeKind::Fifo => "fifo",
        NodeKind::Socket => "socket",
    }
}

fn node_kind_from(s: &str) -> NodeKind {
    [NodeKind::File, NodeKind::Dir, NodeKind::Symlink, NodeKind::CharDevice, NodeKind::BlockDevice, NodeKind::Fifo, NodeKind::Socket]
        .into_iter()
        .find(|k| node_kind_name(*k) == s)
        .unwrap_or_else(|| panic!("unknown node kind {s}"))
}

fn ts_json(t: Timestamp) -> TsJson {
    TsJson { secs: t.secs, nanos: t.nanos }
}

fn node_json(n: &Node) -> NodeJson {
    let kind = n.kind();
    let (content_form, content_ids) = match (&n.content, kind) {
        (_, k) if k != NodeKind::File => (None, None),
        (Content::Empty, _) => (Some(0), Some(Vec::new())),
        (Content::Chunks(ids), _) => (Some(0), Some(ids.iter().map(BlobId::to_hex).collect())),
        (Content::Lists(ids), _) => (Some(1), Some(ids.iter().map(BlobId::to_hex).collect())),
    };
    NodeJson {
        name: String::from_utf8_lossy(&n.name).into_owned(),
        name_hex: hex::encode(&n.name),
        kind: node_kind_name(kind).into(),
        mode: format!("{:04o}", n.mode),
        uid: n.uid,
        gid: n.gid,
        user: n.user.clone(),
        group: n.group.clone(),
        mtime: ts_json(n.mtime),
        ctime: ts_json(n.ctime),
        size: n.size,
        inode: n.inode,
        device: n.device,
        nlink: n.nlink,
        xattrs: n.xattrs.iter().map(|(k, v)| XattrJson { name_hex: hex::encode(k), value_hex: hex::encode(v) }).collect(),
        content_form,
        content_ids,
        subtree: (kind == NodeKind::Dir).then(|| n.subtree.unwrap_or_default().to_hex()),
        link_target_hex: (kind == NodeKind::Symlink).then(|| hex::encode(&n.link_target)),
        rdev: matches!(kind, NodeKind::CharDevice | NodeKind::BlockDevice).then_some(n.rdev),
    }
}

fn node_from_json(j: &NodeJson) -> Node {
    let kind = node_kind_from(&j.kind);
    let name = unhex(&j.name_hex);
    assert_eq!(String::from_utf8_lossy(&name), j.name, "name and name_hex agree");
    let ids = || j.content_ids.as_ref().expect("file has content_ids").iter().map(|s| blob_id(s)).collect::<Vec<_>>();
    let content = match (kind, j.content_form) {
        (NodeKind::File, Some(0)) if ids().is_empty() => Content::Empty,
        (NodeKind::File, Some(0)) => Content::Chunks(ids()),
        (NodeKind::File, Some(1)) => Content::Lists(ids()),
        (NodeKind::File, f) => panic!("file {} has content form {f:?}", j.name),
        _ => Content::Empty,
    };
    Node {
        name,
        kind: Some(kind),
        mode: u32::from_str_radix(&j.mode, 8).expect("octal mode"),
        uid: j.uid,
        gid: j.gid,
        user: j.user.clone(),
        group: j.group.clone(),
        mtime: Timestamp { secs: j.mtime.secs, nanos: j.mtime.nanos },
        ctime: Timestamp { secs: j.ctime.secs, nanos: j.ctime.nanos },
        size: j.size,
        inode: j.inode,
        device: j.device,
        nlink: j.nlink,
        xattrs: j.xattrs.iter().map(|x| (unhex(&x.name_hex), unhex(&x.value_hex))).collect(),
        content,
        subtree: j.subtree.as_deref().map(blob_id),
        link_target: j.link_target_hex.as_deref().map(unhex).unwrap_or_default(),
        rdev: j.rdev.unwrap_or_default(),
    }
}

fn annotate_tree(t: &Tree) -> Vec<Field> {
    let mut a = Annotated::default();
    a.u8(1, "tree version 1");
    a.varint(t.nodes.len() as u64, format!("node count {}", t.nodes.len()));
    for (i, n) in t.nodes.iter().enumerate() {
        let p = format!("node {i}");
        let kind = n.kind();
        a.bytes(&n.name, &format!("{p} name"));
        a.u8(kind as u8, format!("{p} kind {} ({})", kind as u8, node_kind_name(kind)));
        a.varint(u64::from(n.mode), format!("{p} mode {:04o}", n.mode));
        a.varint(u64::from(n.uid), format!("{p} uid {}", n.uid));
        a.varint(u64::from(n.gid), format!("{p} gid {}", n.gid));
        a.bytes(n.user.as_bytes(), &format!("{p} user"));
        a.bytes(n.group.as_bytes(), &format!("{p} group"));
        a.svarint(n.mtime.secs, format!("{p} mtime seconds {} (zig-zag)", n.mtime.secs));
        a.varint(u64::from(n.mtime.nanos), format!("{p} mtime nanoseconds {}", n.mtime.nanos));
        a.svarint(n.ctime.secs, format!("{p} ctime seconds {} (zig-zag)", n.ctime.secs));
        a.varint(u64::from(n.ctime.nanos), format!("{p} ctime nanoseconds {}", n.ctime.nanos));
        a.varint(n.size, format!("{p} size {}", n.size));
        a.varint(n.inode, format!("{p} inode {}", n.inode));
        a.varint(n.device, format!("{p} device {}", n.device));
        a.varint(n.nlink, format!("{p} nlink {}", n.nlink));
        a.varint(n.xattrs.len() as u64, format!("{p} xattr count {}", n.xattrs.len()));
        for (k, v) in &n.xattrs {
            a.bytes(k, &format!("{p} xattr name"));
            a.bytes(v, &format!("{p} xattr value"));
        }
        match kind {
            NodeKind::File => {
                let (form, ids): (u8, &[BlobId]) = match &n.content {
                    Content::Empty => (0, &[]),
                    Content::Chunks(ids) => (0, ids),
                    Content::Lists(ids) => (1, ids),
                };
                a.u8(form, format!("{p} content form {form} ({})", if form == 0 { "data-blob ids" } else { "chunk-list blob ids" }));
                a.varint(ids.len() as u64, format!("{p} id count {}", ids.len()));
                for (k, id) in ids.iter().enumerate() {
                    a.id(&id.0, format!("{p} id {k}"));
                }
            }
            NodeKind::Dir => a.id(&n.subtree.unwrap_or_default().0, format!("{p} subtree id")),
            NodeKind::Symlink => a.bytes(&n.link_target, &format!("{p} link target")),
            NodeKind::CharDevice | NodeKind::BlockDevice => a.varint(n.rdev, format!("{p} rdev {:#x}", n.rdev)),
            NodeKind::Fifo | NodeKind::Socket => {}
        }
    }
    a.into_fields()
}

#[derive(Serialize, Deserialize)]
struct TreeVector {
    about: String,
    keys: KeysJson,
    fields: Vec<Field>,
    plain_hex: String,
    /// Blob id (keyed BLAKE3 with the fixed id key) of the tree plaintext.
    id: String,
    nodes: Vec<NodeJson>,
    refused: Vec<Refused>,
}

fn base_node(name: &str, kind: NodeKind, mode: u32) -> Node {
    Node {
        name: name.as_bytes().to_vec(),
        kind: Some(kind),
        mode,
        uid: 0,
        gid: 0,
        user: "root".into(),
        group: "root".into(),
        mtime: Timestamp { secs: 1_767_225_600, nanos: 123_456_789 },
        ctime: Timestamp { secs: 1_767_225_601, nanos: 0 },
        inode: 0,
        device: 2049,
        nlink: 1,
        ..Node::default()
    }
}

fn gen_tree() -> TreeVector {
    let keys = test_keys();
    let hello = keys.blob_id(b"hello, snap\n");
    let mut nodes = Vec::new();

    let mut big = base_node("big.db", NodeKind::File, 0o600);
    big.uid = 105;
    big.gid = 110;
    big.user = "postgres".into();
    big.group = "postgres".into();
    big.size = 300 << 20;
    big.inode = 4001;
    big.content = Content::Lists(vec![keys.blob_id(b"list one"), keys.blob_id(b"list two")]);
    nodes.push(big);

    let mut null = base_node("dev-null", NodeKind::CharDevice, 0o666);
    null.inode = 5;
    null.rdev = 0x103;
    nodes.push(null);

    let mut disk = base_node("disk", NodeKind::BlockDevice, 0o660);
    disk.group = "disk".into();
    disk.gid = 6;
    disk.inode = 6;
    disk.rdev = 0x800;
    nodes.push(disk);

    let mut empty = base_node("empty", NodeKind::File, 0o644);
    empty.inode = 4002;
    nodes.push(empty);

    let mut etc = base_node("etc", NodeKind::Dir, 0o755);
    etc.inode = 2;
    etc.nlink = 3;
    etc.subtree = Some(keys.blob_id(b"a subtree"));
    nodes.push(etc);

    let mut fifo = base_node("fifo", NodeKind::Fifo, 0o600);
    fifo.inode = 4003;
    nodes.push(fifo);

    let mut hard = base_node("hard.txt", NodeKind::File, 0o644);
    hard.inode = 4004;
    hard.nlink = 2;
    hard.size = 12;
    hard.content = Content::Chunks(vec![hello]);
    nodes.push(hard);

    let mut hello_node = base_node("hello.txt", NodeKind::File, 0o644);
    hello_node.inode = 4004;
    hello_node.nlink = 2;
    hello_node.size = 12;
    hello_node.content = Content::Chunks(vec![hello]);
    hello_node.xattrs = vec![(b"user.comment".to_vec(), b"hi".to_vec()), (b"user.empty".to_vec(), Vec::new())];
    nodes.push(hello_node);

    let mut link = base_node("link", NodeKind::Symlink, 0o777);
    link.inode = 4005;
    link.link_target = b"hello.txt".to_vec();
    nodes.push(link);

    let mut old = base_node("old", NodeKind::File, 0o4755);
    old.inode = 4006;
    old.mtime = Timestamp { secs: -86_400, nanos: 500_000_000 };
    nodes.push(old);

    let mut sock = base_node("sock", NodeKind::Socket, 0o755);
    sock.inode = 4007;
    nodes.push(sock);

    let tree = Tree { nodes };
    let plain = tree.encode();
    let fields = annotate_tree(&tree);
    assert_eq!(concat_fields(&fields), plain, "annotated tree matches Tree::encode");

    let one = |n: Node| Tree { nodes: vec![n] }.encode();
    let fifo_named = |name: &str| one(base_node(name, NodeKind::Fifo, 0o600));
    let mut bad_version = plain.clone();
    bad_version[0] = 2;
    let mut bad_kind = fifo_named("x");
    bad_kind[4] = 8; // version, count, name length, name, kind
    let mut bad_form = one(base_node("x", NodeKind::File, 0o644));
    let at = bad_form.len() - 2; // form byte, then the zero count
    bad_form[at] = 2;
    let unsorted = {
        let t = Tree { nodes: vec![base_node("b", NodeKind::Fifo, 0), base_node("a", NodeKind::Fifo, 0)] };
        t.encode()
    };
    let dup = Tree { nodes: vec![base_node("a", NodeKind::Fifo, 0), base_node("a", NodeKind::Fifo, 0)] }.encode();
    let mut bad_nanos_node = base_node("x", NodeKind::Fifo, 0);
    bad_nanos_node.mtime.nanos = 1_000_000_000;
    let bad_nanos = one(bad_nanos_node);
    let mut bad_user = base_node("x", NodeKind::Fifo, 0);
    bad_user.user = "ab".into();
    let mut bad_user = one(bad_user);
    let pos = bad_user.windows(3).position(|w| w == [2, b'a', b'b']).expect("user field present");
    bad_user[pos + 1] = 0xff;

    TreeVector {
        about: "A tree blob plaintext (spec section 10) with one node of every kind: a large file whose \
                content is two chunk-list blobs (form 1), a char and a block device, an empty file, a \
                directory, a FIFO, two hard-linked files (nlink 2, same device and inode) with one inline \
                data-blob id each (form 0), a symlink, a setuid file with an mtime before 1970, a socket. \
                Nodes are sorted by name bytes. `fields` annotates every byte; the id is the keyed BLAKE3 \
                under the fixed id key. The content, subtree and list ids are stand-ins except hello.txt's, \
                which is the id of \"hello, snap\\n\"."
            .into(),
        keys: KeysJson::fixed(),
        fields,
        id: keys.blob_id(&plain).to_hex(),
        plain_hex: hex::encode(&plain),
        nodes: tree.nodes.iter().map(node_json).collect(),
        refused: vec![
            Refused { about: "unknown tree version 2".into(), hex: hex::encode(&bad_version), error: "UnknownVersion".into() },
            Refused { about: "name \"..\"".into(), hex: hex::encode(fifo_named("..")), error: "Invalid".into() },
            Refused { about: "name \".\"".into(), hex: hex::encode(fifo_named(".")), error: "Invalid".into() },
            Refused { about: "name with a slash".into(), hex: hex::encode(fifo_named("a/b")), error: "Invalid".into() },
            Refused { about: "name with a NUL byte".into(), hex: hex::encode(fifo_named("a\0b")), error: "Invalid".into() },
            Refused { about: "empty name".into(), hex: hex::encode(fifo_named("")), error: "Invalid".into() },
            Refused { about: "names out of order".into(), hex: hex::encode(unsorted), error: "Invalid".into() },
            Refused { about: "duplicate names".into(), hex: hex::encode(dup), error: "Invalid".into() },
            Refused { about: "node kind 8".into(), hex: hex::encode(bad_kind), error: "UnknownTag".into() },
            Refused { about: "content form 2".into(), hex: hex::encode(bad_form), error: "UnknownTag".into() },
            Refused { about: "nanoseconds 1000000000".into(), hex: hex::encode(bad_nanos), error: "Invalid".into() },
            Refused { about: "user name not UTF-8".into(), hex: hex::encode(bad_user), error: "Invalid".into() },
            Refused { about: "trailing byte".into(), hex: hex::encode([plain.as_slice(), &[0]].concat()), error: "Trailing".into() },
            Refused { about: "last byte missing".into(), hex: hex::encode(&plain[..plain.len() - 1]), error: "Truncated".into() },
        ],
    }
}

#[test]
fn tree_vector() {
    let v: TreeVector = load("tree.json");
    v.keys.check_fixed();
    let keys = v.keys.keys();
    let plain = unhex(&v.plain_hex);
    assert_eq!(concat_fields(&v.fields), plain, "annotations add up to the tree");
    assert_eq!(keys.blob_id(&plain).to_hex(), v.id);
    let tree = Tree::decode(&plain).expect("tree decodes");
    let got: Vec<NodeJson> = tree.nodes.iter().map(node_json).collect();
    assert_eq!(got, v.nodes);
    let rebuilt = Tree { nodes: v.nodes.iter().map(node_from_json).collect() };
    assert_eq!(rebuilt, tree);
    assert_eq!(rebuilt.encode(), plain, "re-encoding the tree is byte-identical");
    assert_eq!(annotate_tree(&tree).iter().map(|f| f.hex.clone()).collect::<Vec<_>>(), v.fields.iter().map(|f| f.hex.clone()).collect::<Vec<_>>());
    for r in &v.refused {
        match Tree::decode(&unhex(&r.hex)) {
            Ok(_) => panic!("{} was accepted", r.about),
            Err(e) => assert_eq!(variant(&e), r.error, "{}: {e}", r.about),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// list.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct ListVectors {
    about: String,
    keys: KeysJson,
    fields: Vec<Field>,
    plain_hex: String,
    id: String,
    ids: Vec<String>,
    split_cases: Vec<SplitCase>,
    refused: Vec<Refused>,
}

#[derive(Serialize, Deserialize)]
struct SplitCase {
    about: String,
    /// Explicit ids, or `generator` and `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generator: Option<String>,
    count: usize,
    group_lengths: Vec<usize>,
}

/// Ids for a split case: "blake3(u32le(i))" = plain BLAKE3 of i as 4 LE bytes; "repeat-01" = 32 x 0x01.
fn generated_ids(generator: &str, count: usize) -> Vec<BlobId> {
    (0..count)
        .map(|i| match generator {
            "blake3(u32le(i))" => BlobId(storage_hash(&u32::try_from(i).expect("small").to_le_bytes())),
            "repeat-01" => BlobId([1; 32]),
            other => panic!("unknown generator {other}"),
        })
        .collect()
}

fn annotate_list(ids: &[BlobId]) -> Vec<Field> {
    let mut a = Annotated::default();
    a.u8(1, "chunk list version 1");
    a.varint(ids.len() as u64, format!("id count {}", ids.len()));
    for (i, id) in ids.iter().enumerate() {
        a.id(&id.0, format!("data-blob id {i}"));
    }
    a.into_fields()
}

fn gen_list() -> ListVectors {
    let keys = test_keys();
    let ids: Vec<BlobId> = [b"chunk 0".as_slice(), b"chunk 1", b"chunk 2"].iter().map(|c| keys.blob_id(c)).collect();
    let plain = encode_list(&ids);
    let fields = annotate_list(&ids);
    assert_eq!(concat_fields(&fields), plain);
    let mut hand: Vec<BlobId> = (1u8..=10).map(|i| BlobId([i; 32])).collect();
    hand[3].0[0] = 0; // ends the first group
    hand[7].0[0] = 0; // ends the second
    hand[8].0[1..4].copy_from_slice(&[0, 0, 0]); // first byte 9: no cut despite the zeros after it
    let case = |about: &str, ids: Option<Vec<BlobId>>, generator: Option<&str>, count: usize| {
        let all = ids.clone().unwrap_or_else(|| generated_ids(generator.expect("generator"), count));
        SplitCase {
            about: about.into(),
            ids: ids.map(|v| v.iter().map(BlobId::to_hex).collect()),
            generator: generator.map(str::to_string),
            count,
            group_lengths: split_list(&all).iter().map(|g| g.len()).collect(),
        }
    };
    let mut bad_version = plain.clone();
    bad_version[0] = 2;
    ListVectors {
        about: "A chunk-list blob plaintext (spec section 10.3) holding three data-blob ids (the keyed ids of \
                \"chunk 0\" .. \"chunk 2\"), and split_list cases: a list is cut after every id whose first \
                byte is 0x00, or after 2048 ids, whichever comes first."
            .into(),
        keys: KeysJson::fixed(),
        fields,
        id: keys.blob_id(&plain).to_hex(),
        plain_hex: hex::encode(&plain),
        ids: ids.iter().map(BlobId::to_hex).collect(),
        split_cases: vec![
            case("ten ids; ids 3 and 7 start with 0x00", Some(hand), None, 10),
            case("5000 pseudo-random ids", None, Some("blake3(u32le(i))"), 5000),
            case("4100 equal ids without a cut byte: the 2048 limit", None, Some("repeat-01"), 4100),
            case("no ids", Some(Vec::new()), None, 0),
        ],
        refused: vec![
            Refused { about: "unknown list version 2".into(), hex: hex::encode(bad_version), error: "UnknownVersion".into() },
            Refused { about: "count larger than the ids present".into(), hex: hex::encode(&plain[..plain.len() - 32]), error: "Truncated".into() },
            Refused { about: "trailing byte".into(), hex: hex::encode([plain.as_slice(), &[0]].concat()), error: "Trailing".into() },
        ],
    }
}

#[test]
fn list_vectors() {
    let v: ListVectors = load("list.json");
    v.keys.check_fixed();
    let keys = v.keys.keys();
    let plain = unhex(&v.plain_hex);
    assert_eq!(concat_fields(&v.fields), plain);
    assert_eq!(keys.blob_id(&plain).to_hex(), v.id);
    let ids = decode_list(&plain).expect("list decodes");
    assert_eq!(ids.iter().map(BlobId::to_hex).collect::<Vec<_>>(), v.ids);
    assert_eq!(encode_list(&ids), plain, "re-encoding the list is byte-identical");
    for (i, c) in [b"chunk 0".as_slice(), b"chunk 1", b"chunk 2"].iter().enumerate() {
        assert_eq!(ids[i], keys.blob_id(c));
    }
    for c in &v.split_cases {
        let all = match (&c.ids, &c.generator) {
            (Some(ids), None) => ids.iter().map(|s| blob_id(s)).collect(),
            (None, Some(g)) => generated_ids(g, c.count),
            _ => panic!("{}: give ids or a generator", c.about),
        };
        assert_eq!(all.len(), c.count, "{}", c.about);
        let groups = split_list(&all);
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), c.group_lengths, "{}", c.about);
        assert_eq!(groups.concat(), all, "{}: groups concatenate to the list", c.about);
        // The rule as the spec states it, written out independently.
        let mut expect = Vec::new();
        let mut run = 0;
        for id in &all {
            run += 1;
            if id.0[0] == 0 || run == 2048 {
                expect.push(run);
                run = 0;
            }
        }
        if run > 0 {
            expect.push(run);
        }
        assert_eq!(expect, c.group_lengths, "{}: spec rule", c.about);
    }
    for r in &v.refused {
        match decode_list(&unhex(&r.hex)) {
            Ok(_) => panic!("{} was accepted", r.about),
            Err(e) => assert_eq!(variant(&e), r.error, "{}: {e}", r.about),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// config.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct ConfigVector {
    about: String,
    keys: KeysJson,
    magic: String,
    version: u32,
    header_hex: String,
    aad: String,
    json: String,
    decoded: RepoConfig,
    sealed_hex: String,
    stored_hex: String,
    refused: Vec<RefusedConfig>,
}

#[derive(Serialize, Deserialize)]
struct RefusedConfig {
    about: String,
    hex: String,
    error: String,
    /// Substrings the error message must contain.
    message_contains: Vec<String>,
}

fn gen_config() -> ConfigVector {
    let keys = test_keys();
    let cfg = RepoConfig::new(REPO_ID.into());
    let json = serde_json::to_string(&cfg).expect("config JSON");
    let sealed = keys.seal(aad::CONFIG, json.as_bytes()).expect("sealing config");
    let stored = join_config(&sealed);
    let mut v3 = stored.clone();
    v3[8..12].copy_from_slice(&3u32.to_le_bytes());
    let mut foreign = stored.clone();
    foreign[..8].copy_from_slice(b"RESTIC00");
    ConfigVector {
        about: "The config file (spec section 12): \"SNAPREPO\", the format version as u32 LE, then the \
                settings as JSON sealed with the master encryption key and AAD \"snap/config/v1\". The \
                version is readable without a password; a reader refuses an unknown one first."
            .into(),
        keys: KeysJson::fixed(),
        magic: String::from_utf8_lossy(CONFIG_MAGIC).into_owned(),
        version: REPO_VERSION,
        header_hex: hex::encode(&stored[..12]),
        aad: String::from_utf8_lossy(aad::CONFIG).into_owned(),
        json,
        decoded: cfg,
        sealed_hex: hex::encode(&sealed),
        stored_hex: hex::encode(&stored),
        refused: vec![
            RefusedConfig {
                about: "format version 3".into(),
                hex: hex::encode(&v3),
                error: "UnknownVersion".into(),
                message_contains: vec!["version 3".into(), "version 2".into()],
            },
            RefusedConfig { about: "wrong magic".into(), hex: hex::encode(&foreign), error: "Invalid".into(), message_contains: vec![] },
            RefusedConfig { about: "shorter than the header".into(), hex: hex::encode(&stored[..11]), error: "Invalid".into(), message_contains: vec![] },
        ],
    }
}

#[test]
fn config_vector() {
    let v: ConfigVector = load("config.json");
    v.keys.check_fixed();
    let keys = v.keys.keys();
    assert_eq!(v.magic.as_bytes(), CONFIG_MAGIC);
    assert_eq!(v.aad.as_bytes(), aad::CONFIG);
    let stored = unhex(&v.stored_hex);
    assert_eq!(hex::encode(&stored[..12]), v.header_hex);
    assert_eq!(v.header_hex, "534e41505245504f02000000");
    let (version, sealed) = split_config(&stored).expect("config frame splits");
    assert_eq!(version, v.version);
    assert_eq!(hex::encode(sealed), v.sealed_hex);
    let plain = keys.open(aad::CONFIG, sealed).expect("config opens");
    assert_eq!(raw_open(&ENCRYPTION_KEY, aad::CONFIG, sealed), plain);
    assert_eq!(String::from_utf8(plain.clone()).expect("UTF-8"), v.json);
    let cfg: RepoConfig = serde_json::from_slice(&plain).expect("config JSON parses");
    assert_eq!(cfg, v.decoded);
    assert_eq!(cfg.version, version, "the sealed version repeats the cleartext one");
    assert_eq!(cfg, RepoConfig::new(REPO_ID.into()), "defaults");
    assert_eq!(cfg.chunker_files, ChunkerParams { min: 256 << 10, avg: 1 << 20, max: 4 << 20 });
    assert_eq!(cfg.chunker_streams, ChunkerParams { min: 2 << 10, avg: 8 << 10, max: 64 << 10 });
    assert_eq!(cfg.pack_size, 16 << 20);
    assert_eq!(cfg.compression_level, 3);
    assert_eq!(serde_json::to_string(&cfg).expect("JSON"), v.json, "snap's JSON is reproducible");
    assert_eq!(join_config(sealed), stored);
    for r in &v.refused {
        match split_config(&unhex(&r.hex)) {
            Ok(_) => panic!("{} was accepted", r.about),
            Err(e) => {
                assert_eq!(variant(&e), r.error, "{}: {e}", r.about);
                let msg = e.to_string();
                for s in &r.message_contains {
                    assert!(msg.contains(s.as_str()), "{}: {msg:?} lacks {s:?}", r.about);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// drill.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct DrillVector {
    about: String,
    keys: KeysJson,
    aad: String,
    json: String,
    decoded: DrillReport,
    sealed_hex: String,
    name: String,
    path: String,
    /// A report of a later version, which readers refuse before reading anything else.
    future_json: String,
}

fn gen_drill() -> DrillVector {
    let keys = test_keys();
    let report = DrillReport {
        version: DRILL_VERSION,
        job: "mattermost".into(),
        repository: "offsite".into(),
        started: "2026-12-06T05:00:00Z".into(),
        snapshot: hex::encode(storage_hash(b"a snapshot")),
        snapshot_time: "2026-12-06T02:30:00+01:00".into(),
        rpo_secs: Some(12600.0),
        rpo_target_secs: Some(93600.0),
        rto_secs: Some(41.5),
        rto_target_secs: Some(1800.0),
        phases: vec![
            DrillPhase { name: "restore files".into(), secs: 3.25, ok: true },
            DrillPhase { name: "load mattermost".into(), secs: 36.0, ok: true },
        ],
        files_restored: 1200,
        dirs_restored: 40,
        bytes_restored: 52_428_800,
        databases: vec![DrillDatabase {
            name: "mattermost".into(),
            kind: "postgresql".into(),
            path: "/databases/postgresql/mattermost.sql".into(),
            loaded: true,
            load_secs: 36.0,
            queries: vec![DrillQuery { sql: "SELECT count(*) FROM posts".into(), value: Some("1000000".into()), min: Some(1), max: None, ok: true }],
            error: None,
        }],
        checks: vec![DrillCheck { name: "rpo".into(), ok: true, detail: "the latest snapshot is 3h 30m, within the objective 1d 02h 00m".into() }],
        passed: true,
        errors: Vec::new(),
        program_version: "snap 0.1.0".into(),
        hostname: "drill.example.org".into(),
    };
    let json = String::from_utf8(report.encode().expect("drill JSON")).expect("UTF-8");
    let sealed = keys.seal(aad::DRILL, json.as_bytes()).expect("sealing drill report");
    let name = blake3_hex(&sealed);
    DrillVector {
        about: "A drill report (spec section 20): JSON sealed with AAD \"snap/drill/v1\", named by BLAKE3 of the sealed bytes.".into(),
        keys: KeysJson::fixed(),
        aad: String::from_utf8_lossy(aad::DRILL).into_owned(),
        json,
        decoded: report,
        sealed_hex: hex::encode(&sealed),
        path: FileType::Drill.path(&name),
        name,
        future_json: "{\"version\":2,\"job\":{\"renamed\":true}}".into(),
    }
}

#[test]
fn drill_vector() {
    let v: DrillVector = load("drill.json");
    v.keys.check_fixed();
    let keys = v.keys.keys();
    assert_eq!(v.aad.as_bytes(), aad::DRILL);
    let sealed = unhex(&v.sealed_hex);
    assert_eq!(blake3_hex(&sealed), v.name, "verify the name before opening");
    assert_eq!(FileType::Drill.path(&v.name), v.path);
    let plain = keys.open(aad::DRILL, &sealed).expect("drill report opens");
    assert_eq!(raw_open(&ENCRYPTION_KEY, aad::DRILL, &sealed), plain);
    assert_eq!(String::from_utf8(plain.clone()).expect("UTF-8"), v.json);
    let report = DrillReport::decode(&plain).expect("drill report decodes");
    assert_eq!(report, v.decoded);
    assert_eq!(report.encode().expect("JSON"), plain, "snap's JSON is reproducible");
    assert_eq!(
        DrillReport::decode(v.future_json.as_bytes()).unwrap_err().to_string(),
        "unsupported drill report version 2 (this snap reads version 1)"
    );
}

// ---------------------------------------------------------------------------------------------
// snapshot.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct SnapshotVector {
    about: String,
    keys: KeysJson,
    aad: String,
    json: String,
    decoded: Snapshot,
    sealed_hex: String,
    name: String,
    path: String,
    /// A snapshot written by a future minor revision: unknown fields are ignored, absent optional
    /// ones (tags, parent, summary) take their defaults.
    minimal_json: String,
}

fn gen_snapshot() -> SnapshotVector {
    let keys = test_keys();
    let snap = Snapshot {
        version: SNAPSHOT_VERSION,
        time: "2026-01-02T03:04:05.123456789+01:00".into(),
        hostname: "db1.example.org".into(),
        username: "root".into(),
        paths: vec!["/etc/nginx".into(), "/var/lib/app".into()],
        tags: vec!["daily".into()],
        tree: keys.blob_id(b"a root tree"),
        parent: Some(SnapshotId(storage_hash(b"an earlier snapshot"))),
        program_version: "snap 0.1.0".into(),
        summary: Summary {
            files_new: 3,
            files_changed: 1,
            files_unchanged: 120,
            dirs: 17,
            bytes_read: 1_048_576,
            bytes_total: 52_428_800,
            blobs_added: 5,
            bytes_added: 1_100_000,
            bytes_stored: 400_123,
            errors: 0,
            duration_secs: 1.5,
        },
        job: None,
        databases: Vec::new(),
    };
    let json = serde_json::to_string(&snap).expect("snapshot JSON");
    let sealed = keys.seal(aad::SNAPSHOT, json.as_bytes()).expect("sealing snapshot");
    let name = blake3_hex(&sealed);
    SnapshotVector {
        about: "A snapshot file (spec section 11): JSON sealed with AAD \"snap/snapshot/v1\", named by \
                BLAKE3 of the sealed bytes. Tree and parent ids are stand-ins."
            .into(),
        keys: KeysJson::fixed(),
        aad: String::from_utf8_lossy(aad::SNAPSHOT).into_owned(),
        json,
        decoded: snap,
        sealed_hex: hex::encode(&sealed),
        path: FileType::Snapshot.path(&name),
        name,
        minimal_json: format!(
            "{{\"version\":1,\"time\":\"2026-01-02T03:04:05Z\",\"hostname\":\"h\",\"username\":\"u\",\"paths\":[\"/stdin.sql\"],\
             \"tree\":\"{}\",\"program_version\":\"snap 9.9\",\"a_future_field\":{{\"x\":1}}}}",
            hex::encode([7u8; 32])
        ),
    }
}

#[test]
fn snapshot_vector() {
    let v: SnapshotVector = load("snapshot.json");
    v.keys.check_fixed();
    let keys = v.keys.keys();
    assert_eq!(v.aad.as_bytes(), aad::SNAPSHOT);
    let sealed = unhex(&v.sealed_hex);
    assert_eq!(blake3_hex(&sealed), v.name, "verify the name before opening");
    assert_eq!(FileType::Snapshot.path(&v.name), v.path);
    let plain = keys.open(aad::SNAPSHOT, &sealed).expect("snapshot opens");
    assert_eq!(raw_open(&ENCRYPTION_KEY, aad::SNAPSHOT, &sealed), plain);
    assert_eq!(String::from_utf8(plain.clone()).expect("UTF-8"), v.json);
    let snap: Snapshot = serde_json::from_slice(&plain).expect("snapshot JSON parses");
    assert_eq!(snap, v.decoded);
    assert_eq!(snap.version, SNAPSHOT_VERSION);
    snap.timestamp().expect("time is RFC 3339");
    assert_eq!(serde_json::to_string(&snap).expect("JSON"), v.json, "snap's JSON is reproducible");

    let min: Snapshot = serde_json::from_str(&v.minimal_json).expect("a snapshot with only the required fields parses");
    assert!(min.tags.is_empty());
    assert_eq!(min.parent, None);
    assert_eq!(min.summary, Summary::default());
    assert_eq!(min.paths, vec!["/stdin.sql".to_string()]);
}

// ---------------------------------------------------------------------------------------------
// chunker.json
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct ChunkerVectors {
    about: String,
    /// FastCDC's GEAR table, unseeded: GEAR[i] = first 8 bytes (big-endian) of MD5 of 64 bytes of value i.
    gear: Vec<String>,
    masks: Vec<MaskCase>,
    cases: Vec<ChunkCase>,
}

#[derive(Serialize, Deserialize)]
struct MaskCase {
    avg: u32,
    bits: u32,
    mask_s: String,
    mask_l: String,
}

#[derive(Serialize, Deserialize)]
struct ChunkCase {
    about: String,
    params: ChunkerParams,
    seed: u64,
    /// "blake3-xof:<text>:<len>" = the first len bytes of BLAKE3's extendable output for <text>;
    /// "zeros:<len>" = len zero bytes.
    input: String,
    chunk_lengths: Vec<usize>,
    /// Keyed blob ids (fixed id key) of the first three chunks.
    first_ids: Vec<String>,
}

fn chunk_input(spec: &str) -> Vec<u8> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        ["blake3-xof", text, len] => {
            let mut out = vec![0u8; len.parse().expect("length")];
            blake3::Hasher::new().update(text.as_bytes()).finalize_xof().fill(&mut out);
            out
        }
        ["zeros", len] => vec![0u8; len.parse().expect("length")],
        _ => panic!("unknown input {spec}"),
    }
}

fn masks_for(avg: u32) -> (u64, u64) {
    fastcdc::v2020::select_masks(avg as usize, fastcdc::v2020::Normalization::Level1)
}

fn gen_chunker() -> ChunkerVectors {
    let keys = test_keys();
    let (gear, _) = fastcdc::v2020::get_gear_with_seed(0);
    let masks = [SMALL_CHUNKS.avg, ChunkerParams::STREAMS.avg, ChunkerParams::FILES.avg]
        .iter()
        .map(|&avg| {
            let (s, l) = masks_for(avg);
            MaskCase { avg, bits: (f64::from(avg)).log2().round() as u32, mask_s: format!("{s:016x}"), mask_l: format!("{l:016x}") }
        })
        .collect();
    let case = |about: &str, params: ChunkerParams, seed: u64, input: &str| {
        let data = chunk_input(input);
        let chunks = Chunker::new(params, seed).split(&data);
        ChunkCase {
            about: about.into(),
            params,
            seed,
            input: input.into(),
            chunk_lengths: chunks.iter().map(|c| c.len()).collect(),
            first_ids: chunks.iter().take(3).map(|c| keys.blob_id(c).to_hex()).collect(),
        }
    };
    ChunkerVectors {
        about: "Content-defined chunking (spec section 13): FastCDC 2020, normalization level 1, gear table \
                XORed with the repository's chunker seed. `gear` is the unseeded table; `masks` the cut masks \
                for three average sizes; each case gives the chunk lengths snap produces for a reproducible input."
            .into(),
        gear: gear.iter().map(|g| format!("{g:016x}")).collect(),
        masks,
        cases: vec![
            case("small sizes, seed 3", SMALL_CHUNKS, CHUNKER_SEED, "blake3-xof:snap chunker test vector:8192"),
            case("small sizes, seed 0 (plain FastCDC)", SMALL_CHUNKS, 0, "blake3-xof:snap chunker test vector:8192"),
            case("small sizes, all zeros: no cut point, max-size chunks", SMALL_CHUNKS, CHUNKER_SEED, "zeros:3000"),
            case("small sizes, shorter than min: one chunk", SMALL_CHUNKS, CHUNKER_SEED, "blake3-xof:short:50"),
            case("stream defaults (2/8/64 KiB), seed 3", ChunkerParams::STREAMS, CHUNKER_SEED, "blake3-xof:snap stream:262144"),
            case("file defaults (256 KiB/1 MiB/4 MiB), seed 3", ChunkerParams::FILES, CHUNKER_SEED, "blake3-xof:snap file:8388608"),
        ],
    }
}

/// FastCDC 2020 as the spec's pseudocode gives it, over a seeded gear table.
fn spec_cut(src: &[u8], p: ChunkerParams, gear: &[u64; 256], mask_s: u64, mask_l: u64) -> usize {
    let (min, avg, max) = (p.min as usize, p.avg as usize, p.max as usize);
    let mut n = src.len();
    if n <= min {
        return n;
    }
    let mut center = avg;
    if n > max {
        n = max;
    } else if n < center {
        center = n;
    }
    let mut hash: u64 = 0;
    let mut j = min / 2;
    for (limit, mask) in [(center / 2, mask_s), (n / 2, mask_l)] {
        while j < limit {
            let a = 2 * j;
            hash = (hash << 2).wrapping_add(gear[usize::from(src[a])] << 1);
            if hash & (mask << 1) == 0 {
                return a;
            }
            hash = hash.wrapping_add(gear[usize::from(src[a + 1])]);
            if hash & mask == 0 {
                return a + 1;
            }
            j += 1;
        }
    }
    n
}

#[test]
fn chunker_vectors() {
    let v: ChunkerVectors = load("chunker.json");
    let gear: Vec<u64> = v.gear.iter().map(|g| u64::from_str_radix(g, 16).expect("hex gear")).collect();
    let gear: [u64; 256] = gear.try_into().expect("256 gear entries");
    let (lib_gear, lib_gear_ls) = fastcdc::v2020::get_gear_with_seed(0);
    assert_eq!(&lib_gear[..], &gear[..], "gear table");
    assert!(lib_gear_ls.iter().zip(&gear).all(|(ls, g)| *ls == g << 1), "GEAR_LS is GEAR shifted left by one");
    let (seeded, seeded_ls) = fastcdc::v2020::get_gear_with_seed(CHUNKER_SEED);
    assert!(seeded.iter().zip(&gear).all(|(s, g)| *s == g ^ CHUNKER_SEED), "seeding XORs every entry");
    assert!(seeded_ls.iter().zip(seeded.iter()).all(|(ls, s)| *ls == s << 1), "seeded GEAR_LS is seeded GEAR << 1");
    for m in &v.masks {
        let (s, l) = masks_for(m.avg);
        assert_eq!((format!("{s:016x}"), format!("{l:016x}")), (m.mask_s.clone(), m.mask_l.clone()), "masks for {}", m.avg);
        assert_eq!(s.count_ones(), m.bits + 1, "strict mask of {} has log2(avg)+1 bits", m.avg);
        assert_eq!(l.count_ones(), m.bits - 1, "loose mask of {} has log2(avg)-1 bits", m.avg);
    }
    for c in &v.cases {
        let data = chunk_input(&c.input);
        let lens: Vec<usize> = Chunker::new(c.params, c.seed).split(&data).iter().map(|ch| ch.len()).collect();
        assert_eq!(lens, c.chunk_lengths, "{}", c.about);
        assert_eq!(lens.iter().sum::<usize>(), data.len());
        // The stream splitter cuts the same.
        let chunker = Chunker::new(c.params, c.seed);
        let mut s = chunker.stream(&data[..]);
        let mut streamed = Vec::new();
        while let Some(ch) = s.next_chunk().expect("in-memory read") {
            streamed.push(ch.len());
        }
        assert_eq!(streamed, c.chunk_lengths, "{} (streaming)", c.about);
        // And so does the spec's pseudocode.
        let seeded: [u64; 256] = std::array::from_fn(|i| gear[i] ^ c.seed);
        let (ms, ml) = masks_for(c.params.avg);
        let mut rest = &data[..];
        let mut spec_lens = Vec::new();
        while !rest.is_empty() {
            let n = spec_cut(rest, c.params, &seeded, ms, ml).max(1);
            spec_lens.push(n);
            rest = &rest[n..];
        }
        assert_eq!(spec_lens, c.chunk_lengths, "{} (spec pseudocode)", c.about);
        let keys = test_keys();
        let mut off = 0;
        for (len, id) in c.chunk_lengths.iter().zip(&c.first_ids) {
            assert_eq!(&keys.blob_id(&data[off..off + len]).to_hex(), id, "{}", c.about);
            off += len;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// repo.json: a complete miniature repository
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct RepoVector {
    about: String,
    password: String,
    /// Every file of the repository: path → contents as hex.
    files: BTreeMap<String, String>,
    /// What a reader must find, per snapshot file name.
    snapshots: BTreeMap<String, ExpectedSnapshot>,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct ExpectedSnapshot {
    paths: Vec<String>,
    hostname: String,
    time: String,
    tree: String,
    /// Every node, depth first in tree order.
    entries: Vec<ExpectedEntry>,
    /// Paths of file nodes that share (device, inode), each group sorted.
    hardlinks: Vec<Vec<String>>,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct ExpectedEntry {
    path: String,
    kind: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chunks: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_form: Option<u8>,
    /// Plain BLAKE3 of the file content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_blake3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_target: Option<String>,
}

/// Collects blobs for one pack, deduplicating by id.
#[derive(Default)]
struct PackBuilder {
    blobs: Vec<BlobVector>,
    seen: BTreeSet<String>,
}

impl PackBuilder {
    fn add(&mut self, keys: &MasterKeys, kind: BlobKind, plain: &[u8]) -> BlobId {
        let b = make_blob(keys, kind, plain);
        let id = blob_id(&b.id);
        if self.seen.insert(b.id.clone()) {
            self.blobs.push(b);
        }
        id
    }
}

fn gen_repo() -> RepoVector {
    let keys = test_keys();
    let mut files = BTreeMap::new();

    // Key file, then (conceptually last) config.
    let kf = KeyFile::create(PASSWORD.as_bytes(), &keys, FAST_KDF).expect("key file");
    let kf_bytes = serde_json::to_vec_pretty(&kf).expect("key JSON");
    files.insert(FileType::Key.path(&blake3_hex(&kf_bytes)), hex::encode(&kf_bytes));
    let cfg = RepoConfig::new(REPO_ID.into());
    let cfg_sealed = keys.seal(aad::CONFIG, &serde_json::to_vec(&cfg).expect("config JSON")).expect("seal config");
    files.insert(FileType::Config.path(""), hex::encode(join_config(&cfg_sealed)));

    let mut data = PackBuilder::default();
    let mut meta = PackBuilder::default();

    // Snapshot 1: /etc/app.
    let hello = data.add(&keys, BlobKind::Data, b"hello, snap\n");
    let node = |name: &str, kind: NodeKind, mode: u32, inode: u64| {
        let mut n = base_node(name, kind, mode);
        n.inode = inode;
        n
    };
    let mut current = node("current", NodeKind::Symlink, 0o777, 1003);
    current.link_target = b"hello.txt".to_vec();
    let empty = node("empty", NodeKind::File, 0o644, 1004);
    let mut link = node("hello-link.txt", NodeKind::File, 0o644, 1001);
    link.nlink = 2;
    link.size = 12;
    link.content = Content::Chunks(vec![hello]);
    let mut hello_node = node("hello.txt", NodeKind::File, 0o644, 1001);
    hello_node.nlink = 2;
    hello_node.size = 12;
    hello_node.content = Content::Chunks(vec![hello]);
    let app = Tree { nodes: vec![current, empty, link, hello_node] };
    let app_id = meta.add(&keys, BlobKind::Tree, &app.encode());
    let mut app_dir = node("app", NodeKind::Dir, 0o750, 1000);
    app_dir.nlink = 2;
    app_dir.subtree = Some(app_id);
    let etc = Tree { nodes: vec![app_dir] };
    let etc_id = meta.add(&keys, BlobKind::Tree, &etc.encode());
    let mut etc_dir = node("etc", NodeKind::Dir, 0o755, 2);
    etc_dir.nlink = 90;
    etc_dir.subtree = Some(etc_id);
    let root1 = Tree { nodes: vec![etc_dir] };
    let root1_id = meta.add(&keys, BlobKind::Tree, &root1.encode());

    // Snapshot 2: a database dump read from stdin, stored as /db.sql with the stream chunker.
    let dump = sql_text(0..20_000);
    let chunk_ids: Vec<BlobId> =
        Chunker::new(ChunkerParams::STREAMS, CHUNKER_SEED).split(&dump).iter().map(|c| data.add(&keys, BlobKind::Data, c)).collect();
    assert!(chunk_ids.len() > INLINE_CHUNKS_MAX, "the dump must need chunk-list blobs ({} chunks)", chunk_ids.len());
    let list_ids: Vec<BlobId> = split_list(&chunk_ids).iter().map(|g| meta.add(&keys, BlobKind::List, &encode_list(g))).collect();
    let mut db = node("db.sql", NodeKind::File, 0o600, 0);
    db.device = 0;
    db.size = dump.len() as u64;
    db.content = Content::Lists(list_ids);
    let root2 = Tree { nodes: vec![db] };
    let root2_id = meta.add(&keys, BlobKind::Tree, &root2.encode());

    // Packs, then the index naming them, then the snapshots.
    let mut index = IndexFile::default();
    for pb in [&data, &meta] {
        let (pack, entries, _) = build_pack(&keys, &pb.blobs);
        let id = blake3_hex(&pack);
        files.insert(FileType::Pack.path(&id), hex::encode(&pack));
        index.packs.push(IndexPack { id: id.parse().expect("pack id"), entries });
    }
    let index_sealed = keys.seal(aad::INDEX, &index.encode()).expect("seal index");
    files.insert(FileType::Index.path(&blake3_hex(&index_sealed)), hex::encode(&index_sealed));

    let mut snapshots = BTreeMap::new();
    let snaps = [
        (root1_id, vec!["/etc/app".to_string()], "2026-03-01T02:00:00+01:00", expected_snapshot_1()),
        (root2_id, vec!["/db.sql".to_string()], "2026-03-01T02:05:00+01:00", expected_snapshot_2(&dump, chunk_ids.len())),
    ];
    for (tree, paths, time, (entries, hardlinks)) in snaps {
        let s = Snapshot {
            version: SNAPSHOT_VERSION,
            time: time.into(),
            hostname: "vector-host".into(),
            username: "root".into(),
            paths: paths.clone(),
            tags: vec![],
            tree,
            parent: None,
            program_version: "snap test vectors".into(),
            summary: Summary::default(),
            job: None,
            databases: Vec::new(),
        };
        let sealed = keys.seal(aad::SNAPSHOT, &serde_json::to_vec(&s).expect("snapshot JSON")).expect("seal snapshot");
        let name = blake3_hex(&sealed);
        files.insert(FileType::Snapshot.path(&name), hex::encode(&sealed));
        snapshots.insert(name, ExpectedSnapshot { paths, hostname: s.hostname, time: s.time, tree: tree.to_hex(), entries, hardlinks });
    }

    RepoVector {
        about: "A complete miniature repository (spec sections 2-13 together) opened by the password \
                \"snap-test-vector\" (Argon2id 64 KiB, 1 iteration, parallelism 1) and holding the fixed test \
                keys. Snapshot one backs up /etc/app (a file, a hard link to it, an empty file, a symlink); \
                snapshot two holds a 1 MB SQL dump read from stdin as /db.sql, cut with the stream chunker \
                into more than 64 chunks so its node refers to chunk-list blobs. One data pack, one metadata \
                pack, one index file. `files` maps each storage path to its bytes; `snapshots` says what a \
                reader must find in each."
            .into(),
        password: PASSWORD.into(),
        files,
        snapshots,
    }
}

type Expected = (Vec<ExpectedEntry>, Vec<Vec<String>>);

fn entry(path: &str, kind: &str, size: u64) -> ExpectedEntry {
    ExpectedEntry { path: path.into(), kind: kind.into(), size, chunks: None, content_form: None, content_blake3: None, content_text: None, link_target: None }
}

fn file_entry(path: &str, content: &[u8], chunks: usize, form: u8) -> ExpectedEntry {
    ExpectedEntry {
        chunks: Some(chunks),
        content_form: Some(form),
        content_blake3: Some(blake3_hex(content)),
        content_text: (content.len() <= 64).then(|| String::from_utf8_lossy(content).into_owned()),
        ..entry(path, "file", content.len() as u64)
    }
}

fn expected_snapshot_1() -> Expected {
    let entries = vec![
        entry("/etc", "dir", 0),
        entry("/etc/app", "dir", 0),
        ExpectedEntry { link_target: Some("hello.txt".into()), ..entry("/etc/app/current", "symlink", 0) },
        file_entry("/etc/app/empty", b"", 0, 0),
        file_entry("/etc/app/hello-link.txt", b"hello, snap\n", 1, 0),
        file_entry("/etc/app/hello.txt", b"hello, snap\n", 1, 0),
    ];
    (entries, vec![vec!["/etc/app/hello-link.txt".into(), "/etc/app/hello.txt".into()]])
}

fn expected_snapshot_2(dump: &[u8], chunks: usize) -> Expected {
    (vec![file_entry("/db.sql", dump, chunks, 1)], vec![])
}

/// A reader for the miniature repository written only from the spec's rules and the format APIs.
struct MiniRepo<'a> {
    files: &'a BTreeMap<String, Vec<u8>>,
    keys: MasterKeys,
    /// blob id → (pack id, entry)
    blobs: HashMap<BlobId, (PackId, PackEntry)>,
}

impl MiniRepo<'_> {
    fn blob(&self, id: &BlobId, kind: BlobKind) -> Vec<u8> {
        let (pack, e) = self.blobs.get(id).unwrap_or_else(|| panic!("blob {id} not in the index"));
        assert_eq!(e.kind, kind, "blob {id} has the expected kind");
        let bytes = self.files.get(&FileType::Pack.path(&pack.to_hex())).unwrap_or_else(|| panic!("pack {pack} missing"));
        let sealed = &bytes[e.offset as usize..(e.offset + e.length) as usize];
        let encoded = self.keys.open(&blob_aad(kind, id), sealed).unwrap_or_else(|err| panic!("blob {id}: {err}"));
        let known: HashMap<BlobId, Vec<u8>> = e.base.iter().map(|b| (*b, self.blob(b, BlobKind::Data))).collect();
        let plain = raw_decompress(&encoded, e.compression, e.raw_length, e.base.as_ref(), &known);
        assert_eq!(plain.len(), e.raw_length as usize);
        assert_eq!(self.keys.blob_id(&plain), *id, "blob {id} verifies");
        plain
    }

    fn walk(&self, tree: &BlobId, prefix: &str, out: &mut Vec<ExpectedEntry>, links: &mut BTreeMap<(u64, u64), Vec<String>>) {
        let t = Tree::decode(&self.blob(tree, BlobKind::Tree)).expect("tree decodes");
        for n in &t.nodes {
            let path = format!("{prefix}/{}", String::from_utf8_lossy(&n.name));
            match n.kind() {
                NodeKind::Dir => {
                    out.push(entry(&path, "dir", n.size));
                    self.walk(&n.subtree.expect("dir has a subtree"), &path, out, links);
                }
                NodeKind::File => {
                    let (form, chunks) = match &n.content {
                        Content::Empty => (0, Vec::new()),
                        Content::Chunks(ids) => {
                            assert!(ids.len() <= INLINE_CHUNKS_MAX, "inline lists hold at most 64 ids");
                            (0, ids.clone())
                        }
                        Content::Lists(lists) => {
                            let mut all = Vec::new();
                            for l in lists {
                                all.extend(decode_list(&self.blob(l, BlobKind::List)).expect("list decodes"));
                            }
                            assert!(all.len() > INLINE_CHUNKS_MAX, "lists are used only above 64 ids");
                            assert_eq!(split_list(&all).len(), lists.len(), "lists follow split_list");
                            (1, all)
                        }
                    };
                    let content: Vec<u8> = chunks.iter().flat_map(|c| self.blob(c, BlobKind::Data)).collect();
                    assert_eq!(content.len() as u64, n.size, "{path}: size matches content");
                    if n.nlink > 1 {
                        links.entry((n.device, n.inode)).or_default().push(path.clone());
                    }
                    out.push(file_entry(&path, &content, chunks.len(), form));
                }
                NodeKind::Symlink => {
                    out.push(ExpectedEntry { link_target: Some(String::from_utf8_lossy(&n.link_target).into_owned()), ..entry(&path, "symlink", n.size) })
                }
                k => out.push(entry(&path, node_kind_name(k), n.size)),
            }
        }
    }
}

#[test]
fn mini_repository() {
    let v: RepoVector = load("repo.json");
    let files: BTreeMap<String, Vec<u8>> = v.files.iter().map(|(k, h)| (k.clone(), unhex(h))).collect();

    // 1. config: magic and version before any password.
    let (version, sealed_cfg) = split_config(files.get("config").expect("config present")).expect("config frame");
    assert_eq!(version, REPO_VERSION);

    // 2. keys/: names verify; the password opens one.
    let mut keys = None;
    for (path, bytes) in files.iter().filter(|(p, _)| p.starts_with("keys/")) {
        assert_eq!(path.as_str(), FileType::Key.path(&blake3_hex(bytes)), "key file named by its hash");
        let kf: KeyFile = serde_json::from_slice(bytes).expect("key file JSON");
        if let Ok(k) = kf.open(v.password.as_bytes()) {
            keys = Some(k);
        }
    }
    let keys = keys.expect("the password opens a key file");
    assert_eq!(keys.blob_id(b"x").to_hex(), raw_blob_id(b"x"));
    let cfg: RepoConfig = serde_json::from_slice(&keys.open(aad::CONFIG, sealed_cfg).expect("config opens")).expect("config JSON");
    assert_eq!(cfg, RepoConfig::new(REPO_ID.into()));

    // 3. Every other file is named by the BLAKE3 of its bytes, in its directory.
    for (path, bytes) in &files {
        if path == "config" {
            continue;
        }
        let name = blake3_hex(bytes);
        let ok = [FileType::Key, FileType::Pack, FileType::Index, FileType::Snapshot].iter().any(|t| t.path(&name) == *path);
        assert!(ok, "{path} is not where its hash {name} puts it");
    }

    // 4. index/ → blob locations; each pack's own header agrees and tiles it; no mixed packs.
    let mut repo = MiniRepo { files: &files, keys, blobs: HashMap::new() };
    let mut indexed_packs = BTreeSet::new();
    for (path, bytes) in files.iter().filter(|(p, _)| p.starts_with("index/")) {
        let file = IndexFile::decode(&repo.keys.open(aad::INDEX, bytes).expect("index opens")).expect("index decodes");
        assert!(file.supersedes.is_empty(), "{path}");
        for p in file.packs {
            let pack = files.get(&FileType::Pack.path(&p.id.to_hex())).unwrap_or_else(|| panic!("index names missing pack {}", p.id));
            assert_eq!(read_pack(&repo.keys, pack), p.entries, "pack {} header agrees with the index", p.id);
            let meta = p.entries.iter().filter(|e| e.kind.is_metadata()).count();
            assert!(meta == 0 || meta == p.entries.len(), "pack {} mixes data and metadata blobs", p.id);
            indexed_packs.insert(FileType::Pack.path(&p.id.to_hex()));
            for e in p.entries {
                repo.blobs.insert(e.id, (p.id, e));
            }
        }
    }
    let packs: BTreeSet<String> = files.keys().filter(|p| p.starts_with("data/")).cloned().collect();
    assert_eq!(packs, indexed_packs, "every pack is indexed");

    // 5. snapshots/ → trees → content.
    let mut seen = BTreeMap::new();
    for (path, bytes) in files.iter().filter(|(p, _)| p.starts_with("snapshots/")) {
        let s: Snapshot = serde_json::from_slice(&repo.keys.open(aad::SNAPSHOT, bytes).expect("snapshot opens")).expect("snapshot JSON");
        let mut entries = Vec::new();
        let mut links = BTreeMap::new();
        repo.walk(&s.tree, "", &mut entries, &mut links);
        let hardlinks = links
            .into_values()
            .map(|mut v| {
                v.sort();
                v
            })
            .collect();
        let name = path.trim_start_matches("snapshots/").to_string();
        seen.insert(name, ExpectedSnapshot { paths: s.paths, hostname: s.hostname, time: s.time, tree: s.tree.to_hex(), entries, hardlinks });
    }
    assert_eq!(seen, v.snapshots);
    // Every top-level path of a snapshot is reachable through its components.
    for s in v.snapshots.values() {
        for p in &s.paths {
            assert!(s.entries.iter().any(|e| &e.path == p), "{p} is in its snapshot's tree");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Coverage and generation
// ---------------------------------------------------------------------------------------------

#[test]
fn every_vector_file_is_checked() {
    let mut found: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("format-spec/vectors exists")
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut known: Vec<String> = VECTOR_FILES.iter().map(|s| (*s).to_string()).collect();
    known.sort();
    assert_eq!(found, known, "a vector file without a test, or a test without its file");
    for name in VECTOR_FILES.iter().filter(|n| n.ends_with(".json")) {
        let v: serde_json::Value = load(name);
        let about = v.get("about").and_then(serde_json::Value::as_str).unwrap_or_default();
        assert!(!about.is_empty(), "{name} says what it is for in `about`");
    }
}

/// Writes only `drill.json` (added after the others; regenerating every file would change every
/// sealed value for nothing).
#[test]
#[ignore = "writes format-spec/vectors/drill.json; run by hand after a change to drill reports"]
fn generate_drill_vector() {
    save("drill.json", &gen_drill());
}

/// Writes every JSON vector file. Run once after a format change, review the diff, commit.
#[test]
#[ignore = "writes format-spec/vectors; run by hand after a format change"]
fn generate_vectors() {
    save("codec.json", &gen_codec());
    save("ids.json", &gen_ids());
    save("layout.json", &gen_layout());
    save("keyfile.json", &gen_keyfile());
    let blobs = gen_blobs();
    // The data pack holds the plain data blobs and the delta; a dict blob belongs in a
    // metadata pack (and the dictionary-compressed blob is left out with it).
    let pack = gen_pack(&[blobs.blobs[0].clone(), blobs.blobs[1].clone(), blobs.blobs[4].clone()]);
    save("blob.json", &blobs);
    save("index.json", &gen_index(&pack));
    save("pack.json", &pack);
    save("tree.json", &gen_tree());
    save("list.json", &gen_list());
    save("config.json", &gen_config());
    save("snapshot.json", &gen_snapshot());
    save("drill.json", &gen_drill());
    save("chunker.json", &gen_chunker());
    save("repo.json", &gen_repo());
}
