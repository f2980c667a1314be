//! Snapshot files: the JSON document (sealed in storage) that names a root tree and says when,
//! where and what was backed up.

use serde::{Deserialize, Serialize};

use super::codec::DecodeError;
use super::id::{BlobId, SnapshotId};

pub const SNAPSHOT_VERSION: u32 = 1;

/// What a backup did, kept with the snapshot it produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unchanged: u64,
    pub dirs: u64,
    /// Bytes of file and stream content read from the source.
    pub bytes_read: u64,
    /// Total size of the files and streams in the snapshot.
    pub bytes_total: u64,
    /// Blobs this backup stored that the repository did not have.
    pub blobs_added: u64,
    /// Their plaintext size.
    pub bytes_added: u64,
    /// What they took in storage (compressed and sealed).
    pub bytes_stored: u64,
    /// Files that could not be read (their paths are reported by the backup, not stored here).
    pub errors: u64,
    pub duration_secs: f64,
}

/// A snapshot, as stored (sealed JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    /// RFC 3339 with the local offset at backup time.
    pub time: String,
    pub hostname: String,
    pub username: String,
    /// The backed-up paths, absolute; a stream appears as `/<stdin-filename>`.
    pub paths: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub tree: BlobId,
    #[serde(default)]
    pub parent: Option<SnapshotId>,
    pub program_version: String,
    #[serde(default)]
    pub summary: Summary,
    /// The job (`snap run`) that made it; absent for a plain `snap backup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// What each database dump in it holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DatabaseRecord>,
}

/// One database dump in a snapshot: where it is and what made it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseRecord {
    /// The stream's path in the snapshot, absolute (`/databases/postgresql/app.sql`).
    pub path: String,
    /// `postgresql`, `mariadb`, `mysql`, `sqlite` or `command`.
    pub kind: String,
    /// The database's name (for `command`, the name the job gave it).
    pub name: String,
    /// The server's version as it reported it, or empty when unknown.
    #[serde(default)]
    pub server_version: String,
    /// The dump tool's version line, or empty when unknown.
    #[serde(default)]
    pub tool_version: String,
    /// How it was dumped: `plain` SQL, `custom` (pg_dump's archive format), `sqlite-dump`, `raw`.
    #[serde(default)]
    pub format: String,
}

impl Snapshot {
    /// Decodes a snapshot's JSON. The version is read first, so a snapshot of another version is
    /// refused as such, whatever its other fields hold.
    ///
    /// # Errors
    /// `UnknownVersion` for a version other than [`SNAPSHOT_VERSION`]; `Invalid` for JSON that
    /// is not a snapshot.
    pub fn decode(json: &[u8]) -> Result<Self, DecodeError> {
        #[derive(Deserialize)]
        struct Version {
            version: u64,
        }
        let v: Version = serde_json::from_slice(json).map_err(|e| DecodeError::Invalid(e.to_string()))?;
        if v.version != u64::from(SNAPSHOT_VERSION) {
            return Err(DecodeError::UnknownVersion { what: "snapshot", found: v.version, supported: SNAPSHOT_VERSION.into() });
        }
        serde_json::from_slice(json).map_err(|e| DecodeError::Invalid(e.to_string()))
    }

    /// The time as a zoned timestamp.
    ///
    /// # Errors
    /// The stored time is not RFC 3339.
    pub fn timestamp(&self) -> Result<jiff::Timestamp, jiff::Error> {
        self.time.parse()
    }

    /// Paths sorted and deduplicated, the form used to find a parent snapshot.
    #[must_use]
    pub fn sorted_paths(&self) -> Vec<String> {
        let mut p = self.paths.clone();
        p.sort();
        p.dedup();
        p
    }
}

/// A snapshot with the given identity fields and nothing else, for tests of code that selects
/// and groups snapshots.
#[cfg(test)]
pub(crate) fn sample(host: &str, time: &str, paths: &[&str], tags: &[&str]) -> Snapshot {
    Snapshot {
        version: SNAPSHOT_VERSION,
        time: time.into(),
        hostname: host.into(),
        username: String::new(),
        paths: paths.iter().map(|s| (*s).to_string()).collect(),
        tags: tags.iter().map(|s| (*s).to_string()).collect(),
        tree: crate::format::BlobId::default(),
        parent: None,
        program_version: String::new(),
        summary: Summary::default(),
        job: None,
        databases: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn snapshot_json_round_trip(host in ".{0,20}", paths in proptest::collection::vec(".{0,20}", 0..4),
                                    tags in proptest::collection::vec("[a-z]{1,5}", 0..3), tree in proptest::array::uniform32(any::<u8>()),
                                    files in any::<u64>(), dur in 0.0f64..1e6, job in proptest::option::of("[a-z]{1,8}"),
                                    dbs in proptest::collection::vec(("[a-z]{1,8}", ".{0,12}", ".{0,12}"), 0..3)) {
            let s = Snapshot {
                version: SNAPSHOT_VERSION,
                time: "2026-11-21T13:00:00+01:00".into(),
                hostname: host,
                username: "root".into(),
                paths,
                tags,
                tree: BlobId(tree),
                parent: Some(SnapshotId(tree)),
                program_version: "snap test".into(),
                summary: Summary { files_new: files, duration_secs: dur, ..Summary::default() },
                job,
                databases: dbs.into_iter().map(|(name, server_version, tool_version)| DatabaseRecord {
                    path: format!("/databases/postgresql/{name}.sql"), kind: "postgresql".into(), name, server_version, tool_version, format: "plain".into(),
                }).collect(),
            };
            let json = serde_json::to_vec(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = Snapshot::decode(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, s);
        }
    }

    #[test]
    fn other_versions_are_refused() {
        let mut s = sample("h", "2026-11-21T13:00:00+01:00", &["/a"], &[]);
        let json = serde_json::to_vec(&s).unwrap_or_default();
        assert_eq!(Snapshot::decode(&json).ok(), Some(s.clone()));
        for v in [0, 2] {
            s.version = v;
            let json = serde_json::to_vec(&s).unwrap_or_default();
            assert!(matches!(Snapshot::decode(&json), Err(DecodeError::UnknownVersion { what: "snapshot", found, supported: 1 }) if found == u64::from(v)));
        }
        // A later version may change any other field: the version alone decides.
        assert!(matches!(Snapshot::decode(br#"{"version": 2, "tree": 7}"#), Err(DecodeError::UnknownVersion { found: 2, .. })));
        assert!(matches!(Snapshot::decode(b"[]"), Err(DecodeError::Invalid(_))));
    }
}
