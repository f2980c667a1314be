//! Key files: the master secrets wrapped by a key derived from a password with Argon2id. Several
//! key files can open one repository.

use base64::Engine as _;
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::{Key, XChaCha20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize as _, Zeroizing};

use super::{aad, b64, open_with, random_bytes, CryptoError, FreshNonce, MasterKeys, OVERHEAD};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::XNonce;

pub const KEYFILE_VERSION: u32 = 1;

/// The most Argon2id memory a key file may ask for, in KiB (1 GiB). Key files are readable and
/// writable by whoever controls the storage, so their cost is bounded before the KDF runs: one
/// planted key file can cost a reader at most this much memory and [`KDF_MAX_ITERATIONS`]
/// passes over it, never gigabytes or hours.
pub const KDF_MAX_MEMORY_KIB: u32 = 1 << 20;
/// The most Argon2id passes a key file may ask for.
pub const KDF_MAX_ITERATIONS: u32 = 10;
/// The most Argon2id lanes a key file may ask for.
pub const KDF_MAX_PARALLELISM: u32 = 16;

/// Argon2id cost parameters, stored in the key file so they can change per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for KdfParams {
    fn default() -> Self {
        Self { memory_kib: 64 * 1024, iterations: 3, parallelism: 1 }
    }
}

impl KdfParams {
    /// Checks the parameters against the bounds every key file must keep (format-spec §5.2):
    /// parallelism 1 to 16, iterations 1 to 10, memory from 8 KiB per lane (Argon2's own
    /// minimum) to 1 GiB.
    ///
    /// # Errors
    /// [`CryptoError::KdfOutOfBounds`] naming the first parameter outside its bounds.
    pub fn check(&self) -> Result<(), CryptoError> {
        let within = |what: &'static str, value: u32, min: u32, max: u32| {
            if (min..=max).contains(&value) { Ok(()) } else { Err(CryptoError::KdfOutOfBounds { what, value, min, max }) }
        };
        within("parallelism", self.parallelism, 1, KDF_MAX_PARALLELISM)?;
        within("iterations", self.iterations, 1, KDF_MAX_ITERATIONS)?;
        within("memory_kib", self.memory_kib, 8 * self.parallelism, KDF_MAX_MEMORY_KIB)
    }
}

/// A key file as stored: cleartext JSON with KDF parameters and the wrapped master secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    pub version: u32,
    pub kdf: String,
    #[serde(flatten)]
    pub params: KdfParams,
    /// Base64 of 32 random bytes.
    pub salt: String,
    /// Base64 of the sealed master-secret JSON.
    pub data: String,
}

/// The key-encryption key as a cipher, for parameters within bounds. The derived bytes are
/// wiped once the cipher holds them; the cipher wipes its copy when dropped.
fn derive(password: &[u8], salt: &[u8], p: &KdfParams) -> Result<XChaCha20Poly1305, CryptoError> {
    p.check()?;
    let params = argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32)).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut kek = Zeroizing::new([0u8; 32]);
    a.hash_password_into(password, salt, kek.as_mut_slice()).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
    Ok(XChaCha20Poly1305::new(Key::from_slice(kek.as_slice())))
}

impl KeyFile {
    /// Wraps `keys` under `password`.
    ///
    /// # Errors
    /// Invalid KDF parameters or a failing random source.
    pub fn create(password: &[u8], keys: &MasterKeys, params: KdfParams) -> Result<Self, CryptoError> {
        let mut salt = [0u8; 32];
        random_bytes(&mut salt)?;
        let cipher = derive(password, &salt, &params)?;
        let plain = keys.to_json();
        let nonce = FreshNonce::new()?;
        let mut out = Vec::with_capacity(plain.len() + OVERHEAD);
        out.extend_from_slice(&nonce.0);
        let start = out.len();
        out.extend_from_slice(&plain);
        let tag = cipher.encrypt_in_place_detached(XNonce::from_slice(&nonce.0), aad::KEY, &mut out[start..]).map_err(|_| {
            out.zeroize();
            CryptoError::Auth
        })?;
        out.extend_from_slice(&tag);
        Ok(Self { version: KEYFILE_VERSION, kdf: "argon2id".into(), params, salt: b64().encode(salt), data: b64().encode(out) })
    }

    /// Unwraps the master secrets. Everything that can be checked without the password (version,
    /// KDF, its parameters' bounds, the encodings) is checked before the KDF runs.
    ///
    /// # Errors
    /// `WrongPassword` if the password does not open this key; `KdfOutOfBounds` or `KeyFile` if
    /// it is malformed (and then no KDF was run).
    pub fn open(&self, password: &[u8]) -> Result<MasterKeys, CryptoError> {
        if self.version != KEYFILE_VERSION || self.kdf != "argon2id" {
            return Err(CryptoError::KeyFile(format!("unsupported key file version {} / kdf {}", self.version, self.kdf)));
        }
        self.params.check()?;
        let salt = b64().decode(&self.salt).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
        let data = b64().decode(&self.data).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
        let cipher = derive(password, &salt, &self.params)?;
        let plain = Zeroizing::new(open_with(&cipher, aad::KEY, &data).map_err(|e| match e {
            CryptoError::Auth => CryptoError::WrongPassword,
            other => other,
        })?);
        MasterKeys::from_json(&plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 };

    #[test]
    fn wrap_unwrap_and_wrong_password() {
        let keys = MasterKeys::from_parts([5; 32], [6; 32], 77);
        let kf = KeyFile::create(b"secret", &keys, FAST).unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&kf).unwrap_or_default();
        let back: KeyFile = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        let opened = back.open(b"secret").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opened.blob_id(b"a"), keys.blob_id(b"a"));
        assert_eq!(opened.chunker_seed(), 77);
        assert!(matches!(back.open(b"nope"), Err(CryptoError::WrongPassword)));
    }

    #[test]
    fn kdf_bounds() {
        let ok = |memory_kib, iterations, parallelism| KdfParams { memory_kib, iterations, parallelism }.check().is_ok();
        // snap's default, the tests' cheap setting, the spec vector's, and the extremes.
        assert!(ok(65536, 3, 1) && ok(256, 1, 1) && ok(64, 1, 1));
        assert!(ok(8, 1, 1) && ok(1 << 20, 10, 16) && ok(128, 1, 16));
        assert!(!ok(7, 1, 1) && !ok(127, 1, 16), "Argon2 needs 8 KiB per lane");
        assert!(!ok((1 << 20) + 1, 1, 1) && !ok(4_194_304, 3, 1) && !ok(u32::MAX, 3, 1));
        assert!(!ok(65536, 0, 1) && !ok(65536, 11, 1) && !ok(65536, u32::MAX, 1));
        assert!(!ok(65536, 3, 0) && !ok(65536, 3, 17) && !ok(65536, 3, u32::MAX));
        let e = KdfParams { memory_kib: 4_194_304, iterations: 3, parallelism: 1 }.check().unwrap_err();
        assert_eq!(e.to_string(), "Argon2id memory_kib 4194304 is outside the accepted 8 to 1048576");
    }

    #[test]
    fn out_of_bounds_key_files_are_refused_before_the_kdf() {
        let keys = MasterKeys::from_parts([5; 32], [6; 32], 77);
        assert!(matches!(KeyFile::create(b"secret", &keys, KdfParams { memory_kib: u32::MAX, ..FAST }), Err(CryptoError::KdfOutOfBounds { what: "memory_kib", .. })));
        let mut kf = KeyFile::create(b"secret", &keys, FAST).unwrap_or_else(|e| panic!("{e}"));
        // Were the KDF run with these, it would allocate 4 TiB or run for hours.
        for (memory_kib, iterations, what) in [(u32::MAX, 1, "memory_kib"), (64, u32::MAX, "iterations")] {
            kf.params = KdfParams { memory_kib, iterations, parallelism: 1 };
            assert!(matches!(kf.open(b"secret"), Err(CryptoError::KdfOutOfBounds { what: w, .. }) if w == what));
        }
    }
}
