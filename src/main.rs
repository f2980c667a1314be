//! The `snap` binary: parse arguments, run the command, and map every error to one line on stderr
//! and a documented exit code.

mod cli;

use std::os::unix::ffi::OsStringExt as _;
use std::process::ExitCode;

use snap::Error;
use zeroize::Zeroizing;

/// Documented exit codes (README, "Exit codes").
mod exit {
    pub const ERROR: u8 = 1;
    pub const NO_REPOSITORY: u8 = 10;
    pub const LOCKED: u8 = 11;
    pub const WRONG_PASSWORD: u8 = 12;
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let env_password = take_env_password();
    match cli::run(env_password) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("snap: {}", one_line(&err));
            ExitCode::from(code_for(&err))
        }
    }
}

/// Takes the password out of `SNAP_PASSWORD` and removes the variable from this process's
/// environment, so that no child process can inherit it: not a `--stdin-from-command` dump
/// command, not the password command, not any hook added later. Removing it once here cannot be
/// forgotten the way an `env_remove` on each spawn can.
fn take_env_password() -> cli::EnvPassword {
    let Some(value) = std::env::var_os("SNAP_PASSWORD") else { return cli::EnvPassword(None) };
    // SAFETY: this runs first thing in `main`, before snap starts any thread (the storage runtime,
    // rayon pools and progress bars all start later), so nothing else can be reading or writing
    // the environment at the same time.
    unsafe { std::env::remove_var("SNAP_PASSWORD") };
    cli::EnvPassword(Some(Zeroizing::new(value.into_vec())))
}

fn code_for(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<Error>() {
        Some(Error::NoRepository(_) | Error::ForeignRepository(_)) => exit::NO_REPOSITORY,
        Some(Error::Locked(_)) => exit::LOCKED,
        Some(Error::WrongPassword(_)) => exit::WRONG_PASSWORD,
        Some(Error::Interrupted) => exit::INTERRUPTED,
        _ => exit::ERROR,
    }
}

/// The error and its causes on one line, without repeating what a cause already says.
fn one_line(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out.replace('\n', " ")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(c.downcast_ref::<Error>(), Some(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
