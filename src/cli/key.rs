//! `snap key list | add | remove ID | passwd`: the repository's passwords, one key file each.
//!
//! `--json` output: `list` prints an array of `{"id", "created", "host", "username", "current"}`
//! (`id` the full key id; `created` when the storage wrote the key file, RFC 3339 in the local
//! offset, or null where the storage keeps no times; `host` and `username` always null, since
//! key files are cleartext and snap keeps host and user names from the storage, format-spec
//! §17; `current` true for the one key whose password opened the repository). `add` prints
//! `{"id"}`, `remove` `{"removed"}`, `passwd` `{"added", "removed"}`, each a full key id.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use snap::crypto::KdfParams;
use snap::ops::key;
use snap::repo::lock::LockKind;

use super::{GlobalArgs, PasswordSource};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// List the key files (one per password), marking the one in use
    List,
    /// Add a password: a new key file for the same repository
    Add(NewPassword),
    /// Remove a password's key file, by id or unique prefix (never the last one or the one in use)
    Remove {
        /// The key's id or a unique prefix of at least 4 hex digits (`snap key list`)
        id: String,
    },
    /// Change the password in use: add a key file for the new one, check it opens the repository,
    /// then remove the old one
    Passwd(NewPassword),
}

/// Where the new password comes from (the terminal, twice, when neither is given).
#[derive(clap::Args, Debug)]
struct NewPassword {
    /// Read the new password from this file (first line)
    #[arg(long, value_name = "FILE", conflicts_with = "new_password_command")]
    new_password_file: Option<PathBuf>,
    /// Run this shell command and use its first output line as the new password
    #[arg(long, value_name = "COMMAND")]
    new_password_command: Option<String>,
    /// Argon2id memory in KiB (default 65536)
    #[arg(long, hide = true)]
    kdf_memory_kib: Option<u32>,
    /// Argon2id iterations (default 3)
    #[arg(long, hide = true)]
    kdf_iterations: Option<u32>,
}

impl NewPassword {
    fn kdf(&self) -> Result<KdfParams> {
        let d = KdfParams::default();
        let kdf = KdfParams { memory_kib: self.kdf_memory_kib.unwrap_or(d.memory_kib), iterations: self.kdf_iterations.unwrap_or(d.iterations), parallelism: d.parallelism };
        kdf.check()?;
        Ok(kdf)
    }

    fn read(&self) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        PasswordSource {
            file: self.new_password_file.as_deref(),
            command: self.new_password_command.as_deref(),
            env: None,
            prompt: "new password: ",
            missing: "no new password given: use --new-password-file or --new-password-command (no terminal to ask on)",
        }
        .read(true)
    }
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    match &a.command {
        Sub::List => list(g),
        Sub::Add(n) => {
            let kdf = n.kdf()?;
            let repo = g.open_unlocked()?;
            let new = n.read()?;
            let _lock = repo.lock(LockKind::Shared)?;
            let id = key::add(&repo, &new, kdf)?;
            if g.json {
                println!("{}", serde_json::json!({ "id": id.to_hex() }));
            } else if !g.quiet {
                println!("added key {}", id.short());
            }
            Ok(ExitCode::SUCCESS)
        }
        Sub::Remove { id } => {
            let repo = g.open_unlocked()?;
            let lock = repo.lock(LockKind::Exclusive)?;
            let removed = key::remove(&repo, id, &lock)?;
            if g.json {
                println!("{}", serde_json::json!({ "removed": removed.to_hex() }));
            } else if !g.quiet {
                println!("removed key {}", removed.short());
            }
            Ok(ExitCode::SUCCESS)
        }
        Sub::Passwd(n) => {
            let kdf = n.kdf()?;
            let repo = g.open_unlocked()?;
            let new = n.read()?;
            let lock = repo.lock(LockKind::Exclusive)?;
            let done = key::passwd(&repo, &new, kdf, &lock)?;
            if g.json {
                println!("{}", serde_json::json!({ "added": done.added.to_hex(), "removed": done.removed.to_hex() }));
            } else if !g.quiet {
                println!("password changed: added key {}, removed key {}", done.added.short(), done.removed.short());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(g: &GlobalArgs) -> Result<ExitCode> {
    let repo = g.open_unlocked()?;
    let keys = key::list(&repo)?;
    let zone = jiff::tz::TimeZone::system();
    if g.json {
        let arr: Vec<serde_json::Value> = keys
            .iter()
            .map(|k| {
                let created = k.created.map(|t| {
                    let z = t.to_zoned(zone.clone());
                    z.timestamp().display_with_offset(z.offset()).to_string()
                });
                serde_json::json!({ "id": k.id.to_hex(), "created": created, "host": null, "username": null, "current": k.current })
            })
            .collect();
        println!("{}", serde_json::Value::Array(arr));
        return Ok(ExitCode::SUCCESS);
    }
    println!("   {:<8}  created", "id");
    for k in &keys {
        let created = k.created.map_or_else(|| "-".to_string(), |t| t.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M:%S").to_string());
        println!("{}  {:<8}  {created}", if k.current { "*" } else { " " }, k.id.short());
    }
    if !g.quiet {
        println!("{} key(s); * marks the key in use", keys.len());
    }
    Ok(ExitCode::SUCCESS)
}
