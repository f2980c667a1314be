//! `restore --once`: a restore that can stay in a container's entrypoint for good. It restores
//! only into a directory that carries no marker of an earlier `--once` restore, writes that
//! marker last (after everything is in place), and is a no-op afterwards. A restore that was
//! interrupted leaves a "started" marker instead, so the next start tries again; a non-empty
//! directory with neither marker is refused unless the caller says to overwrite it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Written last, once a `--once` restore completed.
pub const DONE_MARKER: &str = ".snap-restored";
/// Written first; its presence means an earlier `--once` restore did not complete.
pub const STARTED_MARKER: &str = ".snap-restore-started";

/// What a marker records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The snapshot restored (full id).
    pub snapshot: String,
    /// When the snapshot was taken (RFC 3339).
    pub snapshot_time: String,
    /// When the restore finished (or started, for the started marker).
    pub time: String,
}

/// What to do with a `--once` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once {
    /// An earlier `--once` restore completed: nothing to do.
    Done(Marker),
    /// Restore (the directory is missing or empty, holds an interrupted `--once` restore, or may
    /// be overwritten).
    Restore { retry_of: Option<Marker> },
}

fn read_marker(p: &Path) -> Result<Option<Marker>> {
    match std::fs::read(p) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| Error::corrupt("restore marker", p.display(), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// Decides what a `--once` restore into `target` does.
///
/// # Errors
/// [`Error::Refused`] for a non-empty directory without a marker (unless `overwrite`); a marker
/// that cannot be read.
pub fn decide(target: &Path, overwrite: bool) -> Result<Once> {
    if let Some(m) = read_marker(&target.join(DONE_MARKER))? {
        return Ok(Once::Done(m));
    }
    if let Some(m) = read_marker(&target.join(STARTED_MARKER))? {
        return Ok(Once::Restore { retry_of: Some(m) });
    }
    let empty = match std::fs::read_dir(target) {
        Ok(mut rd) => rd.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(Error::io(target, e)),
    };
    if !empty && !overwrite {
        return Err(Error::Refused(format!(
            "refusing to restore into {}: it is not empty and carries no marker of an earlier --once restore (give --overwrite to restore over it)",
            target.display()
        )));
    }
    Ok(Once::Restore { retry_of: None })
}

/// Writes `marker` as `name` in `target` durably (temporary file, fsync, rename, directory fsync).
fn write_marker(target: &Path, name: &str, marker: &Marker) -> Result<()> {
    std::fs::create_dir_all(target).map_err(|e| Error::io(target, e))?;
    let path: PathBuf = target.join(name);
    let tmp = target.join(format!("{name}.tmp-{}", std::process::id()));
    let json = serde_json::to_vec_pretty(marker).map_err(|e| Error::Internal(e.to_string()))?;
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(&json)?;
        f.sync_all()
    });
    written.and_then(|()| std::fs::rename(&tmp, &path)).map_err(|e| Error::io(&path, e))?;
    std::fs::File::open(target).and_then(|d| d.sync_all()).map_err(|e| Error::io(target, e))
}

/// Records that a `--once` restore of `marker.snapshot` starts.
///
/// # Errors
/// The target cannot be written.
pub fn mark_started(target: &Path, marker: &Marker) -> Result<()> {
    write_marker(target, STARTED_MARKER, marker)
}

/// Records that the restore completed: the done marker first, then the started one goes.
///
/// # Errors
/// The target cannot be written.
pub fn mark_done(target: &Path, marker: &Marker) -> Result<()> {
    write_marker(target, DONE_MARKER, marker)?;
    match std::fs::remove_file(target.join(STARTED_MARKER)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(target.join(STARTED_MARKER), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Marker {
        Marker { snapshot: s.into(), snapshot_time: "2026-01-01T00:00:00Z".into(), time: "2026-01-02T00:00:00Z".into() }
    }

    #[test]
    fn markers_decide() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        assert_eq!(decide(&t, false).unwrap(), Once::Restore { retry_of: None });
        std::fs::create_dir(&t).unwrap();
        assert_eq!(decide(&t, false).unwrap(), Once::Restore { retry_of: None });
        std::fs::write(t.join("x"), b"x").unwrap();
        assert!(matches!(decide(&t, false), Err(Error::Refused(_))));
        assert_eq!(decide(&t, true).unwrap(), Once::Restore { retry_of: None });
        mark_started(&t, &m("a")).unwrap();
        assert_eq!(decide(&t, false).unwrap(), Once::Restore { retry_of: Some(m("a")) });
        mark_done(&t, &m("a")).unwrap();
        assert!(!t.join(STARTED_MARKER).exists());
        assert_eq!(decide(&t, false).unwrap(), Once::Done(m("a")));
    }
}
