//! What a backup covers: the source paths normalised and arranged as they will appear in the
//! snapshot, and the exclude patterns.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::BackupOptions;
use crate::error::{Error, Result};
use crate::format::tree::valid_name;

/// The sources arranged as they will appear in the snapshot.
#[derive(Debug, Default)]
pub(super) struct SourcePlan {
    /// Normalised absolute source paths, nested ones removed.
    pub(super) sources: Vec<PathBuf>,
    pub(super) root: VDir,
}

#[derive(Debug, Default)]
pub(super) struct VDir {
    /// The real path this virtual directory stands for (for its metadata).
    pub(super) path: PathBuf,
    pub(super) children: BTreeMap<Vec<u8>, VEntry>,
}

#[derive(Debug)]
pub(super) enum VEntry {
    Dir(VDir),
    Source(PathBuf),
}

/// Lexically absolute and clean: no `.`, `..` resolved, no trailing slash.
fn normalize(p: &Path) -> Result<PathBuf> {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().map_err(|e| Error::io(".", e))?.join(p) };
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Ok(out)
}

pub(super) fn plan_sources(opts: &BackupOptions) -> Result<SourcePlan> {
    if opts.paths.is_empty() && opts.stream.is_none() {
        return Err(Error::Usage("nothing to back up: give paths, --stdin or --stdin-from-command".into()));
    }
    if let Some(s) = &opts.stream
        && !valid_name(s.name.as_bytes())
    {
        return Err(Error::Usage(format!("--stdin-filename {:?} must be a plain file name", s.name)));
    }
    let mut sources = Vec::new();
    for p in &opts.paths {
        let n = normalize(p)?;
        if let Err(e) = std::fs::symlink_metadata(&n) {
            return Err(if e.kind() == std::io::ErrorKind::NotFound {
                Error::Usage(format!("source path {} does not exist", p.display()))
            } else {
                Error::io(p, e)
            });
        }
        sources.push(n);
    }
    sources.sort();
    sources.dedup();
    // Drop paths inside another source.
    let mut kept: Vec<PathBuf> = Vec::new();
    for s in sources {
        if !kept.iter().any(|k| s.starts_with(k)) {
            kept.push(s);
        }
    }
    let mut root = VDir { path: PathBuf::from("/"), children: BTreeMap::new() };
    for s in &kept {
        let comps: Vec<&OsStr> = s.components().filter_map(|c| if let Component::Normal(n) = c { Some(n) } else { None }).collect();
        if comps.is_empty() {
            // "/" itself: every entry of the root is a source.
            root.children.clear();
            root.children.insert(Vec::new(), VEntry::Source(s.clone()));
            break;
        }
        let mut dir = &mut root;
        let mut here = PathBuf::from("/");
        for (i, c) in comps.iter().enumerate() {
            here.push(c);
            let key = c.as_bytes().to_vec();
            if i + 1 == comps.len() {
                dir.children.insert(key, VEntry::Source(s.clone()));
                break;
            }
            let entry = dir.children.entry(key).or_insert_with(|| VEntry::Dir(VDir { path: here.clone(), children: BTreeMap::new() }));
            match entry {
                VEntry::Dir(d) => dir = d,
                VEntry::Source(_) => break,
            }
        }
    }
    if let Some(s) = &opts.stream
        && root.children.contains_key(s.name.as_bytes())
    {
        return Err(Error::Usage(format!("--stdin-filename {:?} collides with a backed-up path", s.name)));
    }
    Ok(SourcePlan { sources: kept, root })
}

/// Exclude patterns: those with a `/` match the whole absolute path, others the file name.
pub(super) struct Excludes {
    names: GlobSet,
    paths: GlobSet,
}

impl Excludes {
    pub(super) fn new(patterns: &[String], files: &[PathBuf]) -> Result<Self> {
        let mut all: Vec<String> = patterns.to_vec();
        for f in files {
            let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
            all.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string));
        }
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for p in &all {
            let bad = |e: globset::Error| Error::Usage(format!("bad exclude pattern {p:?}: {e}"));
            if p.contains('/') {
                paths.add(GlobBuilder::new(p.trim_end_matches('/')).literal_separator(true).build().map_err(bad)?);
            } else {
                names.add(Glob::new(p).map_err(bad)?);
            }
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|e| Error::Usage(format!("bad exclude patterns: {e}")));
        Ok(Self { names: build(names)?, paths: build(paths)? })
    }

    pub(super) fn excluded(&self, path: &Path) -> bool {
        path.file_name().is_some_and(|n| self.names.is_match(n)) || self.paths.is_match(path)
    }
}
