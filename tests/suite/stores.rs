//! Running a suite's tests on every store (issue 9): [`on_every_store!`] turns functions
//! `fn name(store: Store)` into tests `local::name`, `s3::name` and `sftp::name`, and the helpers
//! below let such a test look at or change stored files, or reach the repository through the
//! library, the same way on each store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util::{Env, Raw};

/// Registers each `fn name(store: Store)` listed as three tests, `local::name`, `s3::name` and
/// `sftp::name`, in the module where it is called:
///
/// ```ignore
/// crate::on_every_store!(round_trip, dedup_across_backups);
/// ```
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),+ $(,)?) => {
        mod local {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::util::Store::Local)
                }
            )+
        }
        mod s3 {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::util::Store::S3)
                }
            )+
        }
        mod sftp {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::util::Store::Sftp)
                }
            )+
        }
    };
}

/// The last component of a stored path (`data/ab/ab01…` → `ab01…`).
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Writes `data` to the stored file `path`, replacing it: on a directory store the file may be
/// read-only (as snap leaves packs) and its parent may not exist yet.
pub fn overwrite(env: &Env, path: &str, data: &[u8]) {
    let raw = env.raw();
    if let Raw::Dir(root) = &raw {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        if let Ok(md) = std::fs::metadata(&full) {
            use std::os::unix::fs::PermissionsExt;
            if md.permissions().mode() & 0o200 == 0 {
                std::fs::set_permissions(&full, std::fs::Permissions::from_mode(md.permissions().mode() | 0o200)).expect("chmod stored file");
            }
        }
    }
    raw.write(path, data);
}

/// The repository as the library in this test process can open it. Directory stores (local and
/// the directory an SFTP server serves) are opened where they are; an S3 repository is copied to
/// a local directory first, because its credentials are given to snap processes, not to this
/// one. [`LibRepo::push`] writes back what the library changed in the copy.
pub struct LibRepo {
    dir: PathBuf,
    /// For a copy: every file as it was copied.
    copied: Option<BTreeMap<String, Vec<u8>>>,
}

impl LibRepo {
    pub fn new(env: &Env) -> Self {
        let raw = env.raw();
        match &raw {
            Raw::Dir(root) => Self { dir: root.clone(), copied: None },
            Raw::S3(..) => {
                let dir = (0..).map(|n| env.path().join(format!("lib-copy-{n}"))).find(|d| !d.exists()).expect("a free name");
                let files: BTreeMap<String, Vec<u8>> = raw.list("").into_iter().map(|(p, _)| {
                    let bytes = raw.read(&p);
                    (p, bytes)
                }).collect();
                for (p, bytes) in &files {
                    crate::util::write(&dir.join(p), bytes);
                }
                // The layout's directories, which an object store does not have.
                for d in snap::backend::LAYOUT_DIRS {
                    std::fs::create_dir_all(dir.join(d)).expect("mkdir");
                }
                Self { dir, copied: Some(files) }
            }
        }
    }

    /// The location to give [`snap::backend::Backend::open`].
    pub fn location(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }

    pub fn backend(&self) -> snap::backend::Backend {
        snap::backend::Backend::open(&self.location(), false).expect("backend")
    }

    /// Writes every file the library added or changed in the copy back to the store, and deletes
    /// what it deleted (nothing to do for a directory store).
    pub fn push(self, env: &Env) {
        let Some(copied) = self.copied else { return };
        let now = files_below(&self.dir);
        let raw = env.raw();
        for (p, bytes) in &now {
            if p.starts_with("tmp/") {
                continue;
            }
            if copied.get(p) != Some(bytes) {
                raw.write(p, bytes);
            }
        }
        for p in copied.keys().filter(|p| !now.contains_key(*p)) {
            raw.delete(p);
        }
        std::fs::remove_dir_all(&self.dir).expect("remove library copy");
    }
}

/// Every file below `dir` with its bytes, by path relative to `dir`.
fn files_below(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).expect("read_dir").flatten() {
            let p = e.path();
            if std::fs::symlink_metadata(&p).expect("metadata").is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).expect("below root").to_string_lossy().into_owned(), std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
