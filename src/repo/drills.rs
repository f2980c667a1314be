//! Drill reports in the repository: each one sealed under its own role and named by the hash
//! of its stored bytes, like a snapshot file, so a drill's history can be read (and trusted)
//! from the repository alone after the machine that ran it is gone.

use crate::backend::FileType;
use crate::crypto::aad;
use crate::error::{Error, Result};
use crate::format::drill::DrillReport;
use crate::format::DecodeError;

use super::Repository;

/// A stored report's name: the storage hash of its sealed bytes, in hex.
pub type ReportName = String;

impl Repository {
    /// Stores `report` under `drills/`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn save_drill_report(&self, report: &DrillReport) -> Result<ReportName> {
        let json = report.encode().map_err(|e| Error::Internal(e.to_string()))?;
        Ok(hex::encode(self.save_sealed(FileType::Drill, aad::DRILL, &json)?))
    }

    /// Every stored drill report, oldest first (by start time, then name), each read, verified
    /// against its name and opened; one that cannot be read is returned as its error, so a
    /// damaged report is reported and does not hide the others.
    ///
    /// # Errors
    /// Listing fails.
    pub fn drill_reports(&self) -> Result<Vec<(ReportName, Result<DrillReport>)>> {
        let mut out: Vec<(ReportName, Result<DrillReport>)> = Vec::new();
        for name in self.backend.list(FileType::Drill)? {
            let mut id = [0u8; 32];
            if hex::decode_to_slice(&name, &mut id).is_err() {
                continue;
            }
            let report = self.load_sealed(FileType::Drill, aad::DRILL, &id).and_then(|plain| {
                DrillReport::decode(&plain).map_err(|e| match e {
                    DecodeError::UnknownVersion { .. } => Error::decode("drill report", &name, e),
                    other => Error::corrupt("drill report", &name, other),
                })
            });
            out.push((name, report));
        }
        out.sort_by(|(an, a), (bn, b)| {
            let at = a.as_ref().map(|r| r.started.clone()).unwrap_or_default();
            let bt = b.as_ref().map(|r| r.started.clone()).unwrap_or_default();
            at.cmp(&bt).then_with(|| an.cmp(bn))
        });
        Ok(out)
    }
}
