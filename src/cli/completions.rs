//! `snap completions SHELL`: the shell's completion script, generated from the same argument
//! definitions snap parses with, so it never lists an option snap does not take. The scripts for
//! bash, zsh and fish are also kept in tools/completions/ (a test checks they are current).

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

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "snap", &mut out);
    out
}

pub fn run(_g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script(a.shell)).and_then(|()| stdout.flush()).context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
