//! `snap man [--dir DIR]`: manual pages generated from snap's own argument definitions: snap.1,
//! and one page per subcommand (snap-backup.1, snap-key-list.1, ...). The pages are also kept in
//! tools/man/ (a test checks they are current).
//!
//! `--json` output (with `--dir`): `{"dir", "pages"}`: the directory and the file names written.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory as _;

use super::{Cli, GlobalArgs};

#[derive(clap::Args, Debug)]
#[command(after_help = "Install: snap man --dir /usr/local/share/man/man1 (then `man snap`, `man snap-backup`); \
without --dir, snap.1 goes to stdout: snap man | man -l -")]
pub struct Args {
    /// Write every page (snap.1 and one per subcommand) into this directory, made if missing
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Every page as (file name, roff text): snap.1 first, then each subcommand's, depth first in
/// the order `snap --help` lists them.
pub fn pages() -> Result<Vec<(String, Vec<u8>)>> {
    // As clap_mangen::generate_to does: no `help` subcommand, and built, so that each subcommand
    // knows its display name (snap-key-list).
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    add(&cmd, &mut out)?;
    Ok(out)
}

fn add(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut text = Vec::new();
    man.render(&mut text).context("rendering a man page")?;
    out.push((man.get_filename(), text));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        add(sub, out)?;
    }
    Ok(())
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let pages = pages()?;
    let Some(dir) = &a.dir else {
        let root = pages.first().map(|(_, text)| text.as_slice()).unwrap_or_default();
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(root).and_then(|()| stdout.flush()).context("writing to stdout")?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in &pages {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if g.json {
        println!("{}", serde_json::json!({ "dir": dir, "pages": pages.iter().map(|(n, _)| n).collect::<Vec<_>>() }));
    } else if !g.quiet {
        println!("wrote {} man pages to {}", pages.len(), dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
