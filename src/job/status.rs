//! What each job did last: a JSON record per job under the state directory (for `snap status`
//! and for people), and one Prometheus textfile for all jobs that node_exporter's textfile
//! collector reads. Both are written atomically (temporary file, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::drill::DrillReport;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything done.
    Success,
    /// A snapshot was saved, but some files could not be read (exit 3).
    Partial,
    /// No snapshot, or a later step (retention, copy, check, a hook) failed.
    Failed,
}

/// One timed step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub secs: f64,
    pub ok: bool,
}

/// The record of a job's last run, plus what is remembered across runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    pub job: String,
    /// RFC 3339 instants.
    pub last_attempt: String,
    pub last_success: Option<String>,
    pub outcome: Outcome,
    pub error: Option<String>,
    /// The snapshot the last run saved, if it saved one.
    pub snapshot: Option<String>,
    /// The last snapshot saved by any run.
    pub last_snapshot: Option<String>,
    pub duration_secs: f64,
    pub phases: Vec<Phase>,
    pub files: u64,
    pub file_errors: u64,
    pub bytes_read: u64,
    pub bytes_added: u64,
    pub bytes_stored: u64,
    /// Runs that failed since the state directory was created.
    pub failures_total: u64,
    pub runs_total: u64,
}

fn status_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("status")
}

/// The file Prometheus' node_exporter reads (`--collector.textfile.directory` pointing at
/// `<state_dir>/metrics`).
#[must_use]
pub fn metrics_file(state_dir: &Path) -> PathBuf {
    state_dir.join("metrics").join("snap.prom")
}

/// The last record of `job`, if any.
#[must_use]
pub fn load(state_dir: &Path, job: &str) -> Option<JobStatus> {
    let bytes = std::fs::read(status_dir(state_dir).join(format!("{job}.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Every job's last record, by name.
#[must_use]
pub fn load_all(state_dir: &Path) -> Vec<JobStatus> {
    let Ok(rd) = std::fs::read_dir(status_dir(state_dir)) else { return Vec::new() };
    let mut out: Vec<JobStatus> = rd
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect();
    out.sort_by(|a, b| a.job.cmp(&b.job));
    out
}

/// Writes `bytes` to `path` atomically.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().ok_or_else(|| Error::Internal(format!("{} has no directory", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(), std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Saves `status` and rewrites the metrics file for every job.
///
/// # Errors
/// The state directory cannot be written.
pub fn save(state_dir: &Path, status: &JobStatus) -> Result<()> {
    let json = serde_json::to_vec_pretty(status).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(&status_dir(state_dir).join(format!("{}.json", status.job)), &json)?;
    write_metrics(state_dir)
}

fn write_metrics(state_dir: &Path) -> Result<()> {
    let mut text = prometheus(&load_all(state_dir));
    text.push_str(&drill_prometheus(&load_drills(state_dir)));
    write_atomic(&metrics_file(state_dir), text.as_bytes())
}

/// A job's latest drill, and when one last passed (which the latest may not have).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillStatus {
    pub last_success: Option<String>,
    pub report: DrillReport,
}

fn drill_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("status").join("drills")
}

/// The latest drill of `job`, if any ran on this machine.
#[must_use]
pub fn load_drill(state_dir: &Path, job: &str) -> Option<DrillStatus> {
    let bytes = std::fs::read(drill_dir(state_dir).join(format!("{job}.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Every job's latest drill, by job name.
#[must_use]
pub fn load_drills(state_dir: &Path) -> Vec<DrillStatus> {
    let Ok(rd) = std::fs::read_dir(drill_dir(state_dir)) else { return Vec::new() };
    let mut out: Vec<DrillStatus> = rd
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect();
    out.sort_by(|a, b| a.report.job.cmp(&b.report.job));
    out
}

/// Records `report` as its job's latest drill and rewrites the metrics file.
///
/// # Errors
/// The state directory cannot be written.
pub fn save_drill(state_dir: &Path, report: &DrillReport) -> Result<()> {
    let previous = load_drill(state_dir, &report.job);
    let last_success = if report.passed { Some(report.started.clone()) } else { previous.and_then(|p| p.last_success) };
    let status = DrillStatus { last_success, report: report.clone() };
    let json = serde_json::to_vec_pretty(&status).map_err(|e| Error::Internal(e.to_string()))?;
    write_atomic(&drill_dir(state_dir).join(format!("{}.json", report.job)), &json)?;
    write_metrics(state_dir)
}

/// The Prometheus text exposition of the latest drills.
#[must_use]
pub fn drill_prometheus(drills: &[DrillStatus]) -> String {
    type Metric = (&'static str, &'static str, fn(&DrillStatus) -> Option<f64>);
    let metrics: [Metric; 5] = [
        ("snap_drill_last_attempt_timestamp_seconds", "When the job's last drill started.", |d| seconds(Some(&d.report.started))),
        ("snap_drill_last_success_timestamp_seconds", "When a drill of the job last passed every check and objective.", |d| seconds(d.last_success.as_deref())),
        ("snap_drill_passed", "1 if the last drill passed, 0 if not.", |d| Some(f64::from(u8::from(d.report.passed)))),
        ("snap_drill_rto_seconds", "Recovery time the last drill reached (restore, load, verify).", |d| d.report.rto_secs),
        ("snap_drill_rpo_seconds", "Age of the snapshot the last drill restored, when it started.", |d| d.report.rpo_secs),
    ];
    let mut out = String::new();
    for (name, help, value) in metrics {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for d in drills {
            if let Some(v) = value(d) {
                out.push_str(&format!("{name}{{job=\"{}\"}} {v}\n", label(&d.report.job)));
            }
        }
    }
    out
}

/// A label value in the exposition format: `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

fn seconds(rfc3339: Option<&str>) -> Option<f64> {
    let t: jiff::Timestamp = rfc3339?.parse().ok()?;
    Some(t.as_millisecond() as f64 / 1000.0)
}

/// The Prometheus text exposition of `jobs`.
#[must_use]
pub fn prometheus(jobs: &[JobStatus]) -> String {
    type Metric = (&'static str, &'static str, &'static str, fn(&JobStatus) -> Option<f64>);
    let metrics: [Metric; 10] = [
        ("snap_job_last_attempt_timestamp_seconds", "gauge", "When the job last started.", |s| seconds(Some(&s.last_attempt))),
        ("snap_job_last_success_timestamp_seconds", "gauge", "When the job last succeeded (a snapshot saved, every step done).", |s| seconds(s.last_success.as_deref())),
        ("snap_job_success", "gauge", "1 if the last run succeeded, 0 if not.", |s| Some(f64::from(u8::from(s.outcome == Outcome::Success)))),
        ("snap_job_duration_seconds", "gauge", "How long the last run took.", |s| Some(s.duration_secs)),
        ("snap_job_files", "gauge", "Files and streams in the last run's snapshot.", |s| Some(s.files as f64)),
        ("snap_job_file_errors", "gauge", "Files the last run could not read.", |s| Some(s.file_errors as f64)),
        ("snap_job_bytes_read", "gauge", "Bytes the last run read from its sources.", |s| Some(s.bytes_read as f64)),
        ("snap_job_bytes_added", "gauge", "Bytes of new data the last run added to its repository.", |s| Some(s.bytes_added as f64)),
        ("snap_job_failures_total", "counter", "Runs of the job that failed.", |s| Some(s.failures_total as f64)),
        ("snap_job_runs_total", "counter", "Runs of the job.", |s| Some(s.runs_total as f64)),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in metrics {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for s in jobs {
            if let Some(v) = value(s) {
                out.push_str(&format!("{name}{{job=\"{}\"}} {v}\n", label(&s.job)));
            }
        }
    }
    out.push_str("# HELP snap_job_phase_duration_seconds How long each step of the last run took.\n# TYPE snap_job_phase_duration_seconds gauge\n");
    for s in jobs {
        for p in &s.phases {
            out.push_str(&format!("snap_job_phase_duration_seconds{{job=\"{}\",phase=\"{}\"}} {}\n", label(&s.job), label(&p.name), p.secs));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(job: &str, outcome: Outcome) -> JobStatus {
        JobStatus {
            job: job.into(),
            last_attempt: "2026-12-01T02:30:00Z".into(),
            last_success: (outcome == Outcome::Success).then(|| "2026-12-01T02:30:00Z".into()),
            outcome,
            error: None,
            snapshot: None,
            last_snapshot: None,
            duration_secs: 12.5,
            phases: vec![Phase { name: "backup".into(), secs: 10.0, ok: true }],
            files: 3,
            file_errors: 0,
            bytes_read: 100,
            bytes_added: 40,
            bytes_stored: 20,
            failures_total: u64::from(outcome == Outcome::Failed),
            runs_total: 1,
        }
    }

    #[test]
    fn records_round_trip_and_metrics_cover_every_job() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &sample("b\"x", Outcome::Failed)).unwrap();
        save(dir.path(), &sample("a", Outcome::Success)).unwrap();
        assert_eq!(load(dir.path(), "a"), Some(sample("a", Outcome::Success)));
        assert_eq!(load_all(dir.path()).iter().map(|s| s.job.as_str()).collect::<Vec<_>>(), ["a", "b\"x"]);
        let prom = std::fs::read_to_string(metrics_file(dir.path())).unwrap();
        assert!(prom.contains("snap_job_last_success_timestamp_seconds{job=\"a\"} 1796092200\n"), "{prom}");
        assert!(!prom.contains("snap_job_last_success_timestamp_seconds{job=\"b\\\"x\"}"), "{prom}");
        assert!(prom.contains("snap_job_success{job=\"b\\\"x\"} 0\n"), "{prom}");
        assert!(prom.contains("snap_job_failures_total{job=\"b\\\"x\"} 1\n"), "{prom}");
        assert!(prom.contains("snap_job_phase_duration_seconds{job=\"a\",phase=\"backup\"} 10\n"), "{prom}");
    }

    #[test]
    fn drills_keep_their_last_success_and_reach_the_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = DrillReport { job: "a".into(), started: "2026-12-01T04:00:00Z".into(), passed: true, rto_secs: Some(42.5), rpo_secs: Some(5400.0), ..DrillReport::default() };
        save_drill(dir.path(), &r).unwrap();
        r.started = "2026-12-08T04:00:00Z".into();
        r.passed = false;
        save_drill(dir.path(), &r).unwrap();
        let d = load_drill(dir.path(), "a").unwrap();
        assert_eq!((d.last_success.as_deref(), d.report.started.as_str()), (Some("2026-12-01T04:00:00Z"), "2026-12-08T04:00:00Z"));
        let prom = std::fs::read_to_string(metrics_file(dir.path())).unwrap();
        assert!(prom.contains("snap_drill_passed{job=\"a\"} 0\n"), "{prom}");
        assert!(prom.contains("snap_drill_last_success_timestamp_seconds{job=\"a\"} 1796097600\n"), "{prom}");
        assert!(prom.contains("snap_drill_rto_seconds{job=\"a\"} 42.5\n"), "{prom}");
        assert!(prom.contains("snap_drill_rpo_seconds{job=\"a\"} 5400\n"), "{prom}");
        // A job's run rewrites the file and keeps the drill's lines.
        save(dir.path(), &sample("a", Outcome::Success)).unwrap();
        assert!(std::fs::read_to_string(metrics_file(dir.path())).unwrap().contains("snap_drill_passed{job=\"a\"} 0\n"));
    }
}
