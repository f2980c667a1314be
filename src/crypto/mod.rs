//! All cryptography: the repository's master secrets, sealing with XChaCha20-Poly1305 (nonces are
//! made here and only here), keyed BLAKE3 blob ids, and password-wrapped key files (Argon2id).

mod keyfile;

pub use keyfile::{KdfParams, KeyFile, KDF_MAX_ITERATIONS, KDF_MAX_MEMORY_KIB, KDF_MAX_PARALLELISM};

use base64::Engine as _;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize as _, Zeroizing};

use crate::format::{BlobId, ID_LEN};
use crate::format::pack::BlobKind;

/// Nonce length of XChaCha20-Poly1305.
pub const NONCE_LEN: usize = 24;
/// Authentication tag length.
pub const TAG_LEN: usize = 16;
/// Bytes sealing adds to a plaintext.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Associated data that binds each sealed object to its role, so one kind of file cannot be
/// passed off as another.
pub mod aad {
    pub const CONFIG: &[u8] = b"snap/config/v1";
    pub const KEY: &[u8] = b"snap/key/v1";
    pub const PACK_HEADER: &[u8] = b"snap/pack-header/v1";
    pub const INDEX: &[u8] = b"snap/index/v1";
    pub const SNAPSHOT: &[u8] = b"snap/snapshot/v1";
    pub const LOCK: &[u8] = b"snap/lock/v1";
    pub const DRILL: &[u8] = b"snap/drill/v1";
}

/// Why sealed bytes could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("authentication failed (wrong key or damaged data)")]
    Auth,
    #[error("sealed data too short ({0} bytes)")]
    TooShort(usize),
    #[error("wrong password")]
    WrongPassword,
    #[error("malformed key file: {0}")]
    KeyFile(String),
    #[error("Argon2id {what} {value} is outside the accepted {min} to {max}")]
    KdfOutOfBounds { what: &'static str, value: u32, min: u32, max: u32 },
    #[error("system random source failed: {0}")]
    Random(String),
}

/// Fills `buf` from the OS random source.
///
/// # Errors
/// The OS random source failed.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::getrandom(buf).map_err(|e| CryptoError::Random(e.to_string()))
}

/// A nonce that can only be made fresh from the OS random source; there is no way to build one
/// from chosen bytes, so none can be reused by mistake.
struct FreshNonce([u8; NONCE_LEN]);

impl FreshNonce {
    fn new() -> Result<Self, CryptoError> {
        let mut n = [0u8; NONCE_LEN];
        random_bytes(&mut n)?;
        Ok(Self(n))
    }
}

/// The repository's secrets. Only ever stored wrapped in a key file, and wiped from memory when
/// dropped (the cipher wipes its own copy of the encryption key). Stale copies a move leaves on
/// the stack (a move is a memcpy) are out of reach of this; the copies held here are not.
#[derive(Clone)]
pub struct MasterKeys {
    cipher: XChaCha20Poly1305,
    encryption: [u8; 32],
    id_key: [u8; 32],
    chunker_seed: u64,
}

impl Drop for MasterKeys {
    fn drop(&mut self) {
        self.encryption.zeroize();
        self.id_key.zeroize();
        self.chunker_seed.zeroize();
    }
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKeys(..)")
    }
}

/// The master keys as a key file wraps them; wiped when dropped.
#[derive(Serialize, Deserialize)]
struct MasterKeysJson {
    encryption: String,
    id: String,
    chunker_seed: u64,
}

impl Drop for MasterKeysJson {
    fn drop(&mut self) {
        self.encryption.zeroize();
        self.id.zeroize();
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl MasterKeys {
    /// Fresh random secrets for a new repository.
    ///
    /// # Errors
    /// The OS random source failed.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut e = [0u8; 32];
        let mut i = [0u8; 32];
        let mut s = [0u8; 8];
        random_bytes(&mut e)?;
        random_bytes(&mut i)?;
        random_bytes(&mut s)?;
        // fastcdc treats seed 0 as "no seed"; never pick it.
        let seed = u64::from_le_bytes(s) | 1;
        Ok(Self::from_parts(e, i, seed))
    }

    /// Fresh secrets for a repository that shares `other`'s id key and chunker seed but has an
    /// encryption key of its own (`snap init --from`): the same content then cuts into the same
    /// blobs with the same ids in both, so blobs copied between them keep their ids and
    /// deduplicate, while neither repository's files open with the other's keys.
    ///
    /// # Errors
    /// The OS random source failed.
    pub fn generate_sharing_ids(other: &Self) -> Result<Self, CryptoError> {
        let mut e = [0u8; 32];
        random_bytes(&mut e)?;
        Ok(Self::from_parts(e, other.id_key, other.chunker_seed))
    }

    /// Whether `other` has the same id key and chunker seed, compared in constant time: then a
    /// blob verified under one set of keys is verified under the other too.
    #[must_use]
    pub fn shares_ids_with(&self, other: &Self) -> bool {
        let mut diff = 0u8;
        for (a, b) in self.id_key.iter().zip(other.id_key.iter()) {
            diff |= a ^ b;
        }
        for (a, b) in self.chunker_seed.to_le_bytes().iter().zip(other.chunker_seed.to_le_bytes().iter()) {
            diff |= a ^ b;
        }
        // black_box keeps the compiler from turning the fold into an early exit.
        std::hint::black_box(diff) == 0
    }

    #[must_use]
    pub fn from_parts(encryption: [u8; 32], id_key: [u8; 32], chunker_seed: u64) -> Self {
        Self { cipher: XChaCha20Poly1305::new(Key::from_slice(&encryption)), encryption, id_key, chunker_seed }
    }

    /// The seed that perturbs FastCDC's gear table so cut points do not fingerprint content.
    #[must_use]
    pub fn chunker_seed(&self) -> u64 {
        self.chunker_seed
    }

    /// A blob's id: BLAKE3 keyed with the repository's id key, over the plaintext.
    #[must_use]
    pub fn blob_id(&self, plaintext: &[u8]) -> BlobId {
        BlobId(*blake3::keyed_hash(&self.id_key, plaintext).as_bytes())
    }

    /// Appends `nonce || ciphertext || tag` of `plaintext` to `out`.
    ///
    /// # Errors
    /// The OS random source failed.
    pub fn seal_into(&self, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let nonce = FreshNonce::new()?;
        out.reserve(plaintext.len() + OVERHEAD);
        out.extend_from_slice(&nonce.0);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce.0), aad, &mut out[start..])
            .map_err(|_| CryptoError::Auth)?;
        out.extend_from_slice(&tag);
        Ok(())
    }

    /// `nonce || ciphertext || tag` of `plaintext`.
    ///
    /// # Errors
    /// The OS random source failed.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        self.seal_into(aad, plaintext, &mut out)?;
        Ok(out)
    }

    /// Authenticates and decrypts what [`MasterKeys::seal`] produced.
    ///
    /// # Errors
    /// `TooShort` or `Auth` when the data was damaged or sealed with another key or role.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.cipher, aad, sealed)
    }

    fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let j = MasterKeysJson { encryption: b64().encode(self.encryption), id: b64().encode(self.id_key), chunker_seed: self.chunker_seed };
        Zeroizing::new(serde_json::to_vec(&j).unwrap_or_default())
    }

    fn from_json(b: &[u8]) -> Result<Self, CryptoError> {
        let j: MasterKeysJson = serde_json::from_slice(b).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
        let dec32 = |s: &str| -> Result<Zeroizing<[u8; 32]>, CryptoError> {
            let v = Zeroizing::new(b64().decode(s).map_err(|e| CryptoError::KeyFile(e.to_string()))?);
            <[u8; 32]>::try_from(v.as_slice()).map(Zeroizing::new).map_err(|_| CryptoError::KeyFile("key is not 32 bytes".into()))
        };
        Ok(Self::from_parts(*dec32(&j.encryption)?, *dec32(&j.id)?, j.chunker_seed))
    }
}

fn open_with(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < OVERHEAD {
        return Err(CryptoError::TooShort(sealed.len()));
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut buf = ct.to_vec();
    cipher
        .decrypt_in_place_detached(XNonce::from_slice(nonce), aad, &mut buf, Tag::from_slice(tag))
        .map_err(|_| CryptoError::Auth)?;
    Ok(buf)
}

/// Associated data for a blob: the tag, its kind and its id, so a blob cannot be moved to stand
/// in for another.
#[must_use]
pub fn blob_aad(kind: BlobKind, id: &BlobId) -> [u8; 10 + ID_LEN] {
    let mut a = [0u8; 10 + ID_LEN];
    a[..9].copy_from_slice(b"snap/blob");
    a[9] = kind as u8;
    a[10..].copy_from_slice(&id.0);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys() -> MasterKeys {
        MasterKeys::from_parts([1; 32], [2; 32], 3)
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(data in proptest::collection::vec(any::<u8>(), 0..2000), aad in proptest::collection::vec(any::<u8>(), 0..20)) {
            let k = keys();
            let sealed = k.seal(&aad, &data).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(sealed.len(), data.len() + OVERHEAD);
            prop_assert_eq!(k.open(&aad, &sealed).map_err(|e| TestCaseError::fail(e.to_string()))?, data);
        }

        #[test]
        fn any_flipped_bit_is_detected(data in proptest::collection::vec(any::<u8>(), 1..200), bit in any::<usize>()) {
            let k = keys();
            let mut sealed = k.seal(b"x", &data).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let i = bit % (sealed.len() * 8);
            sealed[i / 8] ^= 1 << (i % 8);
            prop_assert_eq!(k.open(b"x", &sealed), Err(CryptoError::Auth));
        }
    }

    #[test]
    fn wrong_role_or_key_fails() {
        let k = keys();
        let sealed = k.seal(aad::INDEX, b"hello").unwrap_or_default();
        assert_eq!(k.open(aad::SNAPSHOT, &sealed), Err(CryptoError::Auth));
        let other = MasterKeys::from_parts([9; 32], [2; 32], 3);
        assert_eq!(other.open(aad::INDEX, &sealed), Err(CryptoError::Auth));
        assert_eq!(k.open(aad::INDEX, &sealed[..10]), Err(CryptoError::TooShort(10)));
    }

    #[test]
    fn nonces_differ() {
        let k = keys();
        let a = k.seal(b"", b"same").unwrap_or_default();
        let b = k.seal(b"", b"same").unwrap_or_default();
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
    }

    #[test]
    fn sharing_ids_keeps_ids_and_changes_the_encryption_key() {
        let src = MasterKeys::generate().unwrap();
        let dst = MasterKeys::generate_sharing_ids(&src).unwrap();
        assert!(dst.shares_ids_with(&src) && src.shares_ids_with(&dst));
        assert_eq!(dst.blob_id(b"chunk"), src.blob_id(b"chunk"));
        assert_eq!(dst.chunker_seed(), src.chunker_seed());
        assert_ne!(dst.encryption, src.encryption);
        let sealed = src.seal(aad::INDEX, b"index").unwrap();
        assert_eq!(dst.open(aad::INDEX, &sealed), Err(CryptoError::Auth));
        assert!(!MasterKeys::generate().unwrap().shares_ids_with(&src));
        // Either half differing is enough.
        assert!(!MasterKeys::from_parts([1; 32], [2; 32], 3).shares_ids_with(&MasterKeys::from_parts([1; 32], [2; 32], 5)));
        assert!(!MasterKeys::from_parts([1; 32], [2; 32], 3).shares_ids_with(&MasterKeys::from_parts([1; 32], [4; 32], 3)));
        assert!(MasterKeys::from_parts([1; 32], [2; 32], 3).shares_ids_with(&MasterKeys::from_parts([9; 32], [2; 32], 3)));
    }

    #[test]
    fn blob_ids_are_keyed() {
        let a = MasterKeys::from_parts([1; 32], [2; 32], 3).blob_id(b"x");
        let b = MasterKeys::from_parts([1; 32], [4; 32], 3).blob_id(b"x");
        assert_ne!(a, b);
        assert_eq!(a.0, *blake3::keyed_hash(&[2; 32], b"x").as_bytes());
    }
}
