//! A lock file's content (format-spec §18.2): the sealed JSON naming who holds a lock. The type
//! lives here, apart from the locking in `repo::lock`, so it can be decoded (and fuzzed) without
//! the engine.

use serde::{Deserialize, Serialize};

/// A lock file's content (sealed JSON). Unknown fields are ignored, so adding one is compatible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// RFC 3339; when the holder last wrote the lock, by its own clock.
    pub time: String,
    pub exclusive: bool,
    pub hostname: String,
    pub username: String,
    pub pid: u32,
    /// `/proc/sys/kernel/random/boot_id` of the holder; empty when unknown (and in older files).
    #[serde(default)]
    pub boot_id: String,
    /// Inode number (decimal) of the holder's `/proc/self/ns/pid`; empty when unknown.
    #[serde(default)]
    pub pid_namespace: String,
}
