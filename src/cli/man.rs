//! `snap man [--dir DIR]`: manual pages generated from snap's own argument definitions: snap.1,
//! and one page per subcommand (snap-backup.1, snap-key-list.1, ...), each with an ENVIRONMENT
//! section naming every variable snap reads. The pages are also kept in tools/man/ (a test
//! checks they are current).
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

/// Every environment variable snap reads, with what it does: the ENVIRONMENT section of every
/// page. The global options' variables apply to every command, so every page lists them all.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("SNAP_REPOSITORY", "The repository location, as -r/--repo takes it (a directory, s3:..., sftp:...)."),
    ("SNAP_PASSWORD", "The repository password itself. --password-file and --password-command come first."),
    ("SNAP_PASSWORD_FILE", "A file whose first line is the password, as --password-file."),
    ("SNAP_PASSWORD_COMMAND", "A command (run with sh -c) that prints the password, as --password-command."),
    ("SNAP_CACHE_DIR", "Where the local index cache lives, as --cache-dir (default $XDG_CACHE_HOME/snap, else ~/.cache/snap)."),
    ("SNAP_OPTIONS", "Storage options, as -o would give them, separated by spaces (e.g. s3.region=garage); each -o wins over them."),
    ("SNAP_CONFIG", "The server-jobs config file, as --config (default /etc/snap/snap.toml, else $XDG_CONFIG_HOME/snap/snap.toml)."),
    ("SNAP_STATE_DIR", "The jobs' state directory (status and metrics files), as --state-dir."),
    ("XDG_CACHE_HOME, HOME", "The default cache directory is $XDG_CACHE_HOME/snap, else $HOME/.cache/snap. HOME also stands in for XDG_CONFIG_HOME and XDG_STATE_HOME when they are unset."),
    ("XDG_CONFIG_HOME", "$XDG_CONFIG_HOME/snap/snap.toml is the config file when /etc/snap/snap.toml is absent (default ~/.config)."),
    ("XDG_STATE_HOME", "Where the ssh control socket of an sftp: repository lives (default ~/.local/state)."),
    ("PATH", "Where the dump and restore tools of jobs (pg_dump, mysqldump, psql, ...), ssh, sh and the drills' servers are looked up."),
    ("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN", "Credentials of an s3: repository."),
    ("AWS_REGION, AWS_DEFAULT_REGION", "The region of an s3: repository when -o s3.region is not given (default us-east-1)."),
    ("AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "The rest of the AWS credential chain, read by the S3 client as the AWS SDKs read them (profile files, an assumed role, web identity, container credentials). The instance metadata service is asked only with -o s3.instance-metadata=true."),
    ("TERM", "Unset or dumb: no progress bar is drawn, even on a terminal."),
    ("NO_COLOR", "Set and not empty: nothing snap prints (the progress bar, --help) has colour. CLICOLOR=0 also turns colour off in --help, CLICOLOR_FORCE turns it on."),
    ("COLUMNS", "The width --help wraps to when it cannot ask the terminal."),
    ("NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID", "Set by systemd for snap daemon (Type=notify): it reports ready, reloading and stopping there, and pings the watchdog."),
    ("password_env variables", "A repository's or database's password_env in the config file names a variable holding its password; snap reads that variable."),
    ("SNAP_FAIL_AT, SNAP_PAUSE_AT", "For snap's own crash tests only: at the named point prune or restore aborts the process or pauses. Never set them."),
];

/// Hooks, dump commands and drill commands get these from snap; it does not read them.
const SET_FOR_HOOKS: &str = "snap sets SNAP_JOB, SNAP_SNAPSHOT, SNAP_REPOSITORY_NAME and SNAP_ERROR for a job's hooks, and SNAP_DRILL_* variables for drill commands (see snap-run(1), snap-drill(1)).";

/// roff text of `s` on a line of its own: backslashes and hyphens escaped, and a leading `.` or
/// `'` kept from being read as a request.
fn roff_line(s: &str) -> String {
    let escaped = s.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) { format!("\\&{escaped}") } else { escaped }
}

/// The ENVIRONMENT section in roff.
fn environment_section() -> String {
    let mut roff = String::from(".SH ENVIRONMENT\n");
    for (names, what) in ENVIRONMENT {
        roff.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff_line(names), roff_line(what)));
    }
    roff.push_str(&format!(".PP\n{}\n", roff_line(SET_FOR_HOOKS)));
    roff
}

fn add(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut text = Vec::new();
    man.render(&mut text).context("rendering a man page")?;
    // After what clap_mangen renders from the arguments, before VERSION (snap.1 only).
    let mut page = String::from_utf8(text).context("a man page that is not UTF-8")?;
    let env = environment_section();
    match page.find("\n.SH VERSION\n") {
        Some(at) => page.insert_str(at + 1, &env),
        None => page.push_str(&env),
    }
    let text = page.into_bytes();
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
