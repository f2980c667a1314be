//! Where a password comes from, and reading it: one set of rules for the command line's
//! `--password-file`/`--password-command` and for the config file's `password_*` keys, so that a
//! password means the same wherever it is given.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A password source. Only where the password comes from is kept (and shown by `Debug` and
/// serialized for `--json`); the password itself exists only in what [`Secret::read`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Secret {
    /// The first line of this file.
    File(PathBuf),
    /// The first line this shell command prints (run with `sh -c`, stdin closed, stderr shown).
    Command(String),
    /// The first line of this environment variable's value. The variable stays in snap's
    /// environment: a caller that starts other programs should remove it from theirs.
    Env(String),
}

impl Secret {
    /// Reads the password: the first line of the source (without `\n` or `\r\n`). Every copy is
    /// wiped when dropped.
    ///
    /// # Errors
    /// [`Error::Usage`] naming the source when it cannot be read, the command fails, the variable
    /// is not set, or the first line is empty.
    pub fn read(&self) -> Result<Zeroizing<Vec<u8>>> {
        match self {
            Self::File(f) => {
                let text = Zeroizing::new(std::fs::read(f).map_err(|e| Error::Usage(format!("reading password file {}: {e}", f.display())))?);
                non_empty(first_line(&text), || format!("the first line of password file {} is empty", f.display()))
            }
            Self::Command(cmd) => {
                let out = Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(Stdio::null())
                    .stderr(Stdio::inherit())
                    .output()
                    .map_err(|e| Error::Usage(format!("running password command {cmd:?}: {e}")))?;
                let stdout = Zeroizing::new(out.stdout);
                if !out.status.success() {
                    return Err(Error::Usage(format!("password command {cmd:?} failed with {}", out.status)));
                }
                non_empty(first_line(&stdout), || format!("password command {cmd:?} printed nothing on its first line"))
            }
            Self::Env(name) => {
                let value = std::env::var_os(name).ok_or_else(|| Error::Usage(format!("password variable {name} is not set")))?;
                let value = Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(value));
                non_empty(first_line(&value), || format!("password variable {name} is empty"))
            }
        }
    }

    /// Where the password comes from, for messages: `file /etc/snap/pass`, `command "pass x"`,
    /// `variable SNAP_PASS`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::File(f) => format!("file {}", f.display()),
            Self::Command(c) => format!("command {c:?}"),
            Self::Env(v) => format!("variable {v}"),
        }
    }
}

fn first_line(b: &[u8]) -> Zeroizing<Vec<u8>> {
    let line = b.split(|&c| c == b'\n').next().unwrap_or_default();
    Zeroizing::new(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
}

/// `password`, unless it is empty: then an error saying where the empty password came from.
fn non_empty(password: Zeroizing<Vec<u8>>, source: impl FnOnce() -> String) -> Result<Zeroizing<Vec<u8>>> {
    if password.is_empty() {
        return Err(Error::Usage(format!("empty password: {}", source())));
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pass");
        for (content, want) in [("hunter2\nsecond\n", "hunter2"), ("hunter2\r\n", "hunter2"), ("no newline", "no newline")] {
            std::fs::write(&f, content).unwrap();
            assert_eq!(&*Secret::File(f.clone()).read().unwrap(), want.as_bytes());
        }
        for empty in ["", "\n", "\r\nsecond\n"] {
            std::fs::write(&f, empty).unwrap();
            assert_eq!(
                Secret::File(f.clone()).read().unwrap_err().to_string(),
                format!("empty password: the first line of password file {} is empty", f.display())
            );
        }
        let missing = dir.path().join("missing");
        let e = Secret::File(missing.clone()).read().unwrap_err().to_string();
        assert!(e.starts_with(&format!("reading password file {}: ", missing.display())), "{e}");
    }

    #[test]
    fn command_gives_its_first_output_line_and_reads_no_stdin() {
        assert_eq!(&*Secret::Command("printf 'pw\\nmore\\n'".into()).read().unwrap(), b"pw");
        // stdin is closed: `cat` ends at once with nothing, instead of waiting on a terminal.
        assert_eq!(
            Secret::Command("cat; echo".into()).read().unwrap_err().to_string(),
            r#"empty password: password command "cat; echo" printed nothing on its first line"#
        );
        assert_eq!(Secret::Command("exit 3".into()).read().unwrap_err().to_string(), r#"password command "exit 3" failed with exit status: 3"#);
    }

    #[test]
    fn env_gives_its_value() {
        // The environment is not changed here (other tests start processes at the same time);
        // an empty variable is tried through the binary, in tests/suite/jobconfig.rs.
        let path = std::env::var("PATH").unwrap();
        assert_eq!(&*Secret::Env("PATH".into()).read().unwrap(), path.as_bytes());
        assert_eq!(Secret::Env("SNAP_TEST_SECRET_UNSET".into()).read().unwrap_err().to_string(), "password variable SNAP_TEST_SECRET_UNSET is not set");
    }

    #[test]
    fn debug_and_json_name_the_source_only() {
        let s = Secret::Command("pass show x".into());
        assert_eq!(format!("{s:?}"), r#"Command("pass show x")"#);
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"command":"pass show x"}"#);
        assert_eq!(serde_json::to_string(&Secret::File("/p".into())).unwrap(), r#"{"file":"/p"}"#);
        assert_eq!(Secret::Env("V".into()).describe(), "variable V");
    }
}
