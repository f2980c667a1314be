//! `snap completions SHELL`: the shell's completion script, generated from the same argument
//! definitions snap parses with, so it never lists an option snap does not take. The scripts for
//! bash, zsh and fish are also kept in tools/completions/ (a test checks they are current). The
//! script completes the name the binary was run as: `snap-backup completions bash` completes
//! `snap-backup`.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory as _;
use clap_complete::Shell;

use super::{Cli, GlobalArgs};

#[derive(clap::Args, Debug)]
#[command(after_help = "Install: bash: snap completions bash > /etc/bash_completion.d/snap (or \
~/.local/share/bash-completion/completions/snap); zsh: snap completions zsh > \
/usr/local/share/zsh/site-functions/_snap (a directory on $fpath); fish: snap completions fish > \
~/.config/fish/completions/snap.fish.")]
pub struct Args {
    /// The shell to complete for
    shell: Shell,
}

/// The completion script for `shell`, completing the command `bin` (what the binary is called).
pub fn script(shell: Shell, bin: &str) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), bin, &mut out);
    out
}

/// The name this binary was run as (`snap`, or `snap-backup` where it is installed under that
/// name beside snapd's `snap`), so that the script completes the command that runs it and does
/// not take over another program's `snap`.
fn invoked_as() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| std::path::Path::new(&a).file_name().and_then(|n| n.to_str()).map(str::to_string))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "snap".to_string())
}

pub fn run(_g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script(a.shell, &invoked_as())).and_then(|()| stdout.flush()).context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
