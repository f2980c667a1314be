//! The `snap` binary: parse arguments, run the command, and map every error to one line on stderr
//! and a documented exit code. With `--json` that line is a JSON object,
//! `{"error": "...", "exit_code": N}`, so that a script reading JSON gets its errors as JSON too.

mod cli;

use std::os::unix::ffi::OsStringExt as _;
use std::process::ExitCode;

use clap::Parser as _;
use snap::Error;
use zeroize::Zeroizing;

/// Documented exit codes (README, "Exit codes").
mod exit {
    pub const ERROR: u8 = 1;
    /// A usage error (clap's own code).
    pub const USAGE: u8 = 2;
    pub const NO_REPOSITORY: u8 = 10;
    pub const LOCKED: u8 = 11;
    pub const WRONG_PASSWORD: u8 = 12;
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let env_password = take_env_password();
    let mut cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    cli.global.env_password = env_password;
    match cli::run(&cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let code = code_for(&err);
            print_error(&one_line(&err), code, cli.global.json);
            ExitCode::from(code)
        }
    }
}

/// The one line on stderr for an error: `snap: MESSAGE`, or with `--json` the JSON object.
fn print_error(message: &str, code: u8, json: bool) {
    if json {
        eprintln!("{}", serde_json::json!({ "error": message, "exit_code": code }));
    } else {
        eprintln!("snap: {message}");
    }
}

/// A command line clap refused (or `--help`, `--version`). Without `--json` clap prints it as it
/// does, usage and hint included; with `--json` (before any `--`) it is the JSON line, exit 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    let json = std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json");
    if !e.use_stderr() || !json {
        e.exit();
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    print_error(first.strip_prefix("error: ").unwrap_or(first), exit::USAGE, true);
    ExitCode::from(exit::USAGE)
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
