//! `snap restore-db SNAPSHOT --database NAME`: stream one database dump of a snapshot straight
//! into its database tool, refusing a non-empty target unless `--clean`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use snap::job::restore_db::{find_record, restore_db, DbTarget};
use snap::job::Secret;
use snap::ops::select::find_snapshot;

use super::snapshots::FilterArgs;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshot id, prefix or `latest` (with --job: the job's latest)
    snapshot: String,
    /// The dump to restore, by the database name the snapshot records (`snap snapshots --json`)
    #[arg(long)]
    database: String,
    /// Restore into this database instead of one of the dump's name
    #[arg(long = "to-database", value_name = "NAME")]
    to_database: Option<String>,
    /// SQLite: the database file to create
    #[arg(long = "to-file", value_name = "FILE")]
    to_file: Option<PathBuf>,
    #[arg(long = "to-host")]
    to_host: Option<String>,
    #[arg(long = "to-port")]
    to_port: Option<u16>,
    #[arg(long = "to-user")]
    to_user: Option<String>,
    #[arg(long = "to-socket")]
    to_socket: Option<PathBuf>,
    /// The target server's password, from this file's first line
    #[arg(long = "to-password-file", value_name = "FILE")]
    to_password_file: Option<PathBuf>,
    /// Drop and recreate a target that already holds tables (explicit, and logged)
    #[arg(long)]
    clean: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (repo, _lock) = g.open()?;
    let (id, snap) = find_snapshot(&repo, &a.snapshot, &a.filter.filter())?;
    let record = find_record(&snap, &a.database)?;
    let target = DbTarget {
        host: a.to_host.clone(),
        port: a.to_port,
        user: a.to_user.clone(),
        socket: a.to_socket.clone(),
        password: a.to_password_file.clone().map(Secret::File),
        database: a.to_database.clone(),
        file: a.to_file.clone(),
        isolated: false,
    };
    let report = restore_db(&repo, &id, &snap, record, &target, a.clean)?;
    if report.cleaned {
        eprintln!("snap: --clean: dropped and recreated {} before restoring", report.into);
    }
    if g.json {
        println!("{}", serde_json::json!({ "snapshot_id": id.to_hex(), "database": record.name, "kind": report.kind, "into": report.into, "cleaned": report.cleaned }));
    } else if !g.quiet {
        println!("restored {} {} of snapshot {} into {}", report.kind, record.name, id.short(), report.into);
    }
    Ok(ExitCode::SUCCESS)
}
