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
    /// The real path this virtual directory stands for (for its metadata); `None` for one that
    /// only holds streams, whose metadata is made up.
    pub(super) path: Option<PathBuf>,
    pub(super) children: BTreeMap<Vec<u8>, VEntry>,
}

#[derive(Debug)]
pub(super) enum VEntry {
    Dir(VDir),
    Source(PathBuf),
    /// The stream `BackupOptions::streams[i]`.
    Stream(usize),
}

impl VEntry {
    /// Whether a stream lies at or below this entry: the walker takes those last, so that a
    /// slow dump never holds up the tree assembly of the files.
    pub(super) fn has_stream(&self) -> bool {
        match self {
            Self::Stream(_) => true,
            Self::Source(_) => false,
            Self::Dir(d) => d.children.values().any(Self::has_stream),
        }
    }
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
    if opts.paths.is_empty() && opts.streams.is_empty() {
        return Err(Error::Usage("nothing to back up: give paths, --stdin or --stdin-from-command".into()));
    }
    if opts.streams.iter().filter(|s| matches!(s.source, super::StreamSource::Stdin)).count() > 1 {
        return Err(Error::Usage("standard input can be backed up only once".into()));
    }
    for s in &opts.streams {
        if s.path.is_empty() || !s.path.split('/').all(|c| valid_name(c.as_bytes())) {
            return Err(Error::Usage(format!("stream path {:?} must be plain names joined by /", s.path)));
        }
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
    let mut root = VDir { path: Some(PathBuf::from("/")), children: BTreeMap::new() };
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
            let entry = dir.children.entry(key).or_insert_with(|| VEntry::Dir(VDir { path: Some(here.clone()), children: BTreeMap::new() }));
            match entry {
                VEntry::Dir(d) => dir = d,
                VEntry::Source(_) | VEntry::Stream(_) => break,
            }
        }
    }
    for (i, s) in opts.streams.iter().enumerate() {
        place_stream(&mut root, i, &s.path)?;
    }
    Ok(SourcePlan { sources: kept, root })
}

/// Puts stream `i` at `path` (plain names joined by `/`), making up the directories on the way.
fn place_stream(root: &mut VDir, i: usize, path: &str) -> Result<()> {
    let collides = || Error::Usage(format!("stream /{path} collides with a backed-up path or another stream"));
    if root.children.contains_key(&Vec::new()) {
        // `/` itself is a source: every name under it is the filesystem's.
        return Err(collides());
    }
    let parts: Vec<&str> = path.split('/').collect();
    let mut dir = root;
    for (n, part) in parts.iter().enumerate() {
        let key = part.as_bytes().to_vec();
        if n + 1 == parts.len() {
            if dir.children.contains_key(&key) {
                return Err(collides());
            }
            dir.children.insert(key, VEntry::Stream(i));
            return Ok(());
        }
        match dir.children.entry(key).or_insert_with(|| VEntry::Dir(VDir { path: None, children: BTreeMap::new() })) {
            VEntry::Dir(d) => dir = d,
            VEntry::Source(_) | VEntry::Stream(_) => return Err(collides()),
        }
    }
    Ok(())
}

/// Exclude patterns: those with a `/` match the whole absolute path, others the file name.
pub(crate) struct Excludes {
    names: GlobSet,
    paths: GlobSet,
}

impl Excludes {
    pub(crate) fn new(patterns: &[String], files: &[PathBuf]) -> Result<Self> {
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

    pub(crate) fn excluded(&self, path: &Path) -> bool {
        path.file_name().is_some_and(|n| self.names.is_match(n)) || self.paths.is_match(path)
    }
}
