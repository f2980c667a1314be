//! The repository's key files as a set: which one opened it, when each was written, writing one
//! and proving it opens, deleting one. Every key file wraps the same master keys (format-spec
//! §5.3), so none of this touches data; which key file may go is decided by `ops::key`.

use crate::backend::{is_not_found, FileType};
use crate::crypto::{KdfParams, KeyFile};
use crate::error::{Error, Result};
use crate::format::id::storage_hash;
use crate::format::KeyId;

use super::{write_key, Repository};

/// What [`Repository::verify_key`] seals with the master keys and opens with the keys a key file
/// gives. Never stored: its own associated data, so it can never pass for a stored object.
const PROBE_AAD: &[u8] = b"snap/key-check";

/// One key file, as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredKey {
    pub id: KeyId,
    /// When the storage wrote it, by the storage's own clock (snap never rewrites a key file);
    /// `None` where the storage keeps no times.
    pub written: Option<jiff::Timestamp>,
}

impl Repository {
    /// The key file that opened this repository (or, right after `init`, the one it wrote).
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Every key file in storage with when it was written, ordered by id. The files are not read
    /// (a damaged one is `check`'s to report); one removed between the listing and its stat is
    /// left out.
    ///
    /// # Errors
    /// Storage errors.
    pub fn stored_keys(&self) -> Result<Vec<StoredKey>> {
        let mut out = Vec::new();
        for id in self.ids::<KeyId>()? {
            match self.backend.modified(&FileType::Key.path(&id.to_hex())) {
                Ok(written) => out.push(StoredKey { id, written }),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Writes a key file wrapping this repository's master keys under `password` (Argon2id with
    /// `kdf`), then proves it with [`Repository::verify_key`]: a key file is only reported as
    /// written once it is known to open this repository.
    ///
    /// # Errors
    /// `Crypto` for KDF parameters outside the bounds of format-spec §5.2 (nothing is written);
    /// storage errors; the errors of [`Repository::verify_key`] (the file then stays, and is
    /// named in the error).
    pub fn add_verified_key(&self, password: &[u8], kdf: KdfParams) -> Result<KeyId> {
        let id = write_key(&self.backend, password, &self.keys, kdf)?;
        self.verify_key(&id, password)?;
        Ok(id)
    }

    /// Reads key file `id` back from storage and checks that it hashes to its name, parses, opens
    /// with `password`, and gives this repository's master keys: the same id key and chunker
    /// seed, and an encryption key that opens what this repository's seals.
    ///
    /// # Errors
    /// Storage errors; `Corrupt` or `Crypto` naming the key file when any check fails.
    pub fn verify_key(&self, id: &KeyId, password: &[u8]) -> Result<()> {
        let path = FileType::Key.path(&id.to_hex());
        let bytes = self.backend.read(&path)?;
        if storage_hash(&bytes) != id.0 {
            return Err(Error::corrupt("key file", &path, "content does not match its name"));
        }
        let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| Error::corrupt("key file", &path, e))?;
        let keys = file.open(password).map_err(|e| Error::crypto("key file", &path, e))?;
        let probe = self.keys.seal(PROBE_AAD, id.as_bytes()).map_err(|e| Error::crypto("key file", &path, e))?;
        if !keys.shares_ids_with(&self.keys) || keys.open(PROBE_AAD, &probe).is_err() {
            return Err(Error::corrupt("key file", &path, "it opens, but not to this repository's master keys"));
        }
        Ok(())
    }

    /// Deletes key file `id` (durably on a local disk). Deleting one that is gone is not an
    /// error. The caller decides whether it may go: `ops::key` never deletes the last key file
    /// or the one in use.
    ///
    /// # Errors
    /// Storage errors.
    pub fn delete_key_file(&self, id: &KeyId) -> Result<()> {
        self.backend.delete(&FileType::Key.path(&id.to_hex()))
    }
}
