//! Drill reports: what one recovery drill restored, how long each phase took, which checks
//! passed, and the recovery time and point it reached. Stored sealed in the repository it drilled
//! (`drills/<id>`, format-spec §19), so the drill history survives the machine that ran it.

use serde::{Deserialize, Serialize};

use super::codec::DecodeError;

pub const DRILL_VERSION: u32 = 1;

/// One drill, as stored (sealed JSON) and as `snap drill --json` prints it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    pub version: u32,
    pub job: String,
    /// The repository's name in the config the drill ran from.
    pub repository: String,
    /// RFC 3339: when the drill started (the clock it measured the recovery point against).
    pub started: String,
    /// The snapshot restored (full id), and when it was taken; empty when none was found.
    pub snapshot: String,
    pub snapshot_time: String,
    /// Age of the snapshot when the drill started: the recovery point reached.
    pub rpo_secs: Option<f64>,
    pub rpo_target_secs: Option<f64>,
    /// Wall time from the drill's start to the end of its last check: the recovery time reached
    /// (`None` when the drill stopped before restoring).
    pub rto_secs: Option<f64>,
    pub rto_target_secs: Option<f64>,
    pub phases: Vec<DrillPhase>,
    pub files_restored: u64,
    pub dirs_restored: u64,
    pub bytes_restored: u64,
    pub databases: Vec<DrillDatabase>,
    /// Every check with its outcome, in the order they ran.
    pub checks: Vec<DrillCheck>,
    /// Whether every check passed and both objectives were met.
    pub passed: bool,
    /// What went wrong, one line each.
    pub errors: Vec<String>,
    /// The snap that ran it, e.g. `snap 0.1.0`.
    pub program_version: String,
    /// The host that ran it.
    pub hostname: String,
}

/// One timed phase: `select`, `restore files`, `compare files`, `load <db>`, `verify <db>`,
/// `command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillPhase {
    pub name: String,
    pub secs: f64,
    pub ok: bool,
}

/// What happened to one database dump of the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DrillDatabase {
    pub name: String,
    pub kind: String,
    /// The dump's path in the snapshot.
    pub path: String,
    /// Whether it was loaded into a scratch server (or file) without error.
    pub loaded: bool,
    pub load_secs: f64,
    /// Verification queries with the value each returned.
    pub queries: Vec<DrillQuery>,
    pub error: Option<String>,
}

/// One verification query and its result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DrillQuery {
    pub sql: String,
    /// The first column of the first row, as the tool printed it.
    pub value: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub ok: bool,
}

/// One pass/fail check: `rpo`, `files`, `database <name>`, `command`, `rto`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl DrillReport {
    /// Decodes a stored report, refusing other versions before reading any other field.
    ///
    /// # Errors
    /// [`DecodeError::UnknownVersion`]; [`DecodeError::Invalid`] for anything that is not a report.
    pub fn decode(json: &[u8]) -> Result<Self, DecodeError> {
        #[derive(Deserialize)]
        struct Version {
            version: u64,
        }
        let v: Version = serde_json::from_slice(json).map_err(|e| DecodeError::Invalid(e.to_string()))?;
        if v.version != u64::from(DRILL_VERSION) {
            return Err(DecodeError::UnknownVersion { what: "drill report", found: v.version, supported: DRILL_VERSION.into() });
        }
        serde_json::from_slice(json).map_err(|e| DecodeError::Invalid(e.to_string()))
    }

    /// The stored form.
    ///
    /// # Errors
    /// Never in practice (every field serialises); kept typed for the caller.
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        serde_json::to_vec(self).map_err(|e| DecodeError::Invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn reports_round_trip(job in ".{0,20}", secs in proptest::option::of(0.0f64..1e9), passed: bool, errors in proptest::collection::vec(".{0,40}", 0..4), rows in proptest::option::of(any::<i64>())) {
            let r = DrillReport {
                version: DRILL_VERSION,
                job,
                rto_secs: secs,
                passed,
                errors,
                databases: vec![DrillDatabase { name: "app".into(), kind: "postgresql".into(), queries: vec![DrillQuery { sql: "SELECT 1".into(), value: rows.map(|r| r.to_string()), min: rows, max: None, ok: passed }], ..DrillDatabase::default() }],
                phases: vec![DrillPhase { name: "restore files".into(), secs: 1.5, ok: true }],
                checks: vec![DrillCheck { name: "rpo".into(), ok: passed, detail: String::new() }],
                ..DrillReport::default()
            };
            prop_assert_eq!(DrillReport::decode(&r.encode().unwrap()).unwrap(), r);
        }
    }

    #[test]
    fn other_versions_are_refused_before_anything_else_is_read() {
        let e = DrillReport::decode(br#"{"version": 2, "job": 5}"#).unwrap_err();
        assert_eq!(e, DecodeError::UnknownVersion { what: "drill report", found: 2, supported: 1 });
        assert!(matches!(DrillReport::decode(b"[]"), Err(DecodeError::Invalid(_))));
    }
}
