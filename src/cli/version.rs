//! `snap version`: what this binary is and what it reads, for bug reports and for checking that
//! every host of a shared repository runs a snap that reads its format.
//!
//! `--json` output: `{"version", "format_version", "features", "os", "arch"}`: snap's version,
//! the repository format version it reads and writes (format-spec §16), the cargo features it was
//! built with, and the platform it was built for (Rust's `std::env::consts::OS` and `ARCH`).

use std::process::ExitCode;

use anyhow::Result;

use snap::format::config::REPO_VERSION;

use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {}

/// The cargo features this binary was built with.
fn features() -> Vec<&'static str> {
    let mut f = Vec::new();
    if cfg!(feature = "engine") {
        f.push("engine");
    }
    f
}

pub fn run(g: &GlobalArgs, _a: &Args) -> Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    if g.json {
        println!("{}", serde_json::json!({ "version": version, "format_version": REPO_VERSION, "features": features(), "os": os, "arch": arch }));
    } else {
        let f = features();
        println!("snap {version} (repository format {REPO_VERSION}, features: {}, {arch}-{os})", if f.is_empty() { "none".to_string() } else { f.join(",") });
    }
    Ok(ExitCode::SUCCESS)
}
