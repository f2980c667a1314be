//! `key`: a repository's passwords. Each password is a key file wrapping the same master keys
//! (format-spec §5.3), so adding, removing or changing one never touches data. The rules live
//! here: a new key file is proven to open the repository before anything relies on it, the last
//! key file and the one in use are never removed, and a changed password's key file is written
//! and proven before the old one is deleted, so a crash at any point leaves a password that opens
//! the repository.

use crate::crypto::KdfParams;
use crate::error::{Error, Result};
use crate::format::KeyId;
use crate::repo::lock::LockGuard;
use crate::repo::Repository;

/// One key file as `snap key list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEntry {
    pub id: KeyId,
    /// When the storage wrote the key file (snap never rewrites one); `None` where the storage
    /// keeps no times.
    pub created: Option<jiff::Timestamp>,
    /// Whether this key file's password opened the repository.
    pub current: bool,
}

/// The key files, oldest first (ties by id).
///
/// # Errors
/// Storage errors.
pub fn list(repo: &Repository) -> Result<Vec<KeyEntry>> {
    let current = repo.key_id();
    let mut out: Vec<KeyEntry> = repo.stored_keys()?.into_iter().map(|k| KeyEntry { id: k.id, created: k.written, current: k.id == current }).collect();
    out.sort_by_key(|k| (k.created, k.id));
    Ok(out)
}

/// Adds a password: writes a key file wrapping the master keys under `password` and proves it
/// opens them. Returns its id.
///
/// # Errors
/// As [`Repository::add_verified_key`].
pub fn add(repo: &Repository, password: &[u8], kdf: KdfParams) -> Result<KeyId> {
    repo.add_verified_key(password, kdf)
}

/// Resolves `spec`, a full key id or a unique prefix of at least 4 hex digits, among `ids`.
///
/// # Errors
/// [`Error::Usage`] for something that is not such a prefix, one that matches no key file, or
/// one that matches several.
pub fn resolve(spec: &str, ids: &[KeyId]) -> Result<KeyId> {
    let lower = spec.to_ascii_lowercase();
    if lower.len() < 4 || lower.len() > 64 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Usage(format!("{spec:?} is not a key id (at least 4 hex digits; see `snap key list`)")));
    }
    let mut found = ids.iter().filter(|id| id.to_hex().starts_with(&lower));
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(*one),
        (Some(_), Some(_)) => Err(Error::Usage(format!("key id prefix {spec:?} matches more than one key; give more digits"))),
        (None, _) => Err(Error::Usage(format!("no key matches {spec:?} (see `snap key list`)"))),
    }
}

/// Removes the key file `spec` names (see [`resolve`]). Refuses, removing nothing, the only key
/// file (no password would open the repository) and the one in use (whoever runs this could not
/// open the repository again with the password they just used). The caller must hold an
/// exclusive lock, so two removals cannot each take the other's last key; it is checked before
/// the deletion.
///
/// # Errors
/// As [`resolve`]; [`Error::Refused`] as above; [`Error::LockLost`]; storage errors.
pub fn remove(repo: &Repository, spec: &str, lock: &LockGuard) -> Result<KeyId> {
    let stored = repo.stored_keys()?;
    let ids: Vec<KeyId> = stored.iter().map(|k| k.id).collect();
    let id = resolve(spec, &ids)?;
    if ids.len() == 1 {
        return Err(Error::Refused(format!("key {} is the repository's only key; removing it would leave no password that opens the repository", id.short())));
    }
    if id == repo.key_id() {
        return Err(Error::Refused(format!(
            "key {} is the key in use (its password opened the repository); remove it with another key's password, or change it with `snap key passwd`",
            id.short()
        )));
    }
    lock.ensure_held()?;
    repo.delete_key_file(&id)?;
    Ok(id)
}

/// What [`passwd`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passwd {
    /// The key file of the new password.
    pub added: KeyId,
    /// The key file of the old password, deleted.
    pub removed: KeyId,
}

/// Changes the password in use: writes a key file for `new_password`, proves it opens the
/// repository, and only then deletes the key file that opened it. A crash or a failure before
/// the deletion leaves both passwords working; none leaves neither. The caller must hold an
/// exclusive lock (as for [`remove`]), checked before the deletion.
///
/// # Errors
/// As [`add`] (the old key file is then kept); [`Error::LockLost`] (both key files are kept);
/// storage errors deleting the old key file (the new one is in place).
pub fn passwd(repo: &Repository, new_password: &[u8], kdf: KdfParams, lock: &LockGuard) -> Result<Passwd> {
    let old = repo.key_id();
    let added = repo.add_verified_key(new_password, kdf)?;
    lock.ensure_held()?;
    repo.delete_key_file(&old)?;
    Ok(Passwd { added, removed: old })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(first: u8, second: u8) -> KeyId {
        let mut b = [0u8; 32];
        b[0] = first;
        b[1] = second;
        KeyId(b)
    }

    #[test]
    fn resolve_takes_full_ids_and_unique_prefixes() {
        let ids = [id(0xab, 0x12), id(0xab, 0x34), id(0xcd, 0x00)];
        assert_eq!(resolve("ab12", &ids).ok(), Some(ids[0]));
        assert_eq!(resolve("AB34", &ids).ok(), Some(ids[1]));
        assert_eq!(resolve(&ids[2].to_hex(), &ids).ok(), Some(ids[2]));
        let msg = |spec: &str| match resolve(spec, &ids) {
            Err(Error::Usage(m)) => m,
            other => panic!("{spec}: {other:?}"),
        };
        assert_eq!(msg("ab00"), "no key matches \"ab00\" (see `snap key list`)");
        assert_eq!(msg("ab00000"), "no key matches \"ab00000\" (see `snap key list`)");
        assert_eq!(msg("ab"), "\"ab\" is not a key id (at least 4 hex digits; see `snap key list`)");
        assert_eq!(msg("abzz"), "\"abzz\" is not a key id (at least 4 hex digits; see `snap key list`)");
        let ambiguous = [id(0xab, 0x12), id(0xab, 0x12)];
        assert!(matches!(resolve("ab12", &ambiguous), Err(Error::Usage(m)) if m.contains("more than one key")));
    }
}
