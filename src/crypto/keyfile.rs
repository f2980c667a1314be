//! Key files: the master secrets wrapped by a key derived from a password with Argon2id. Several
//! key files can open one repository.

use base64::Engine as _;
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::XChaCha20Poly1305;
use serde::{Deserialize, Serialize};

use super::{aad, b64, open_with, random_bytes, CryptoError, FreshNonce, MasterKeys, OVERHEAD};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::XNonce;

pub const KEYFILE_VERSION: u32 = 1;

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

fn derive(password: &[u8], salt: &[u8], p: &KdfParams) -> Result<XChaCha20Poly1305, CryptoError> {
    let params = argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32)).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut kek = [0u8; 32];
    a.hash_password_into(password, salt, &mut kek).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
    Ok(XChaCha20Poly1305::new(&kek.into()))
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
        let tag = cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce.0), aad::KEY, &mut out[start..])
            .map_err(|_| CryptoError::Auth)?;
        out.extend_from_slice(&tag);
        Ok(Self { version: KEYFILE_VERSION, kdf: "argon2id".into(), params, salt: b64().encode(salt), data: b64().encode(out) })
    }

    /// Unwraps the master secrets.
    ///
    /// # Errors
    /// `WrongPassword` if the password does not open this key; `KeyFile` if it is malformed.
    pub fn open(&self, password: &[u8]) -> Result<MasterKeys, CryptoError> {
        if self.version != KEYFILE_VERSION || self.kdf != "argon2id" {
            return Err(CryptoError::KeyFile(format!("unsupported key file version {} / kdf {}", self.version, self.kdf)));
        }
        let salt = b64().decode(&self.salt).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
        let data = b64().decode(&self.data).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
        let cipher = derive(password, &salt, &self.params)?;
        let plain = open_with(&cipher, aad::KEY, &data).map_err(|e| match e {
            CryptoError::Auth => CryptoError::WrongPassword,
            other => other,
        })?;
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
}
