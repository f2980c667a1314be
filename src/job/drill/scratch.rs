//! Scratch database servers for drills: a PostgreSQL cluster from `initdb` or a MariaDB from
//! `mariadb-install-db`, each in its own directory under the drill's scratch directory, on a free
//! loopback port and a private socket, started for one drill and stopped (on every path, by
//! `Drop`) when it ends. Nothing here ever connects to the live servers a job dumps from.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::job::restore_db::DbTarget;

/// How long a scratch server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Who runs a scratch server's processes: ourselves, or (when we are root, which PostgreSQL
/// refuses) a system user.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

fn effective_uid() -> u32 {
    uzers::get_effective_uid()
}

/// A free TCP port on 127.0.0.1 (the kernel's choice; free when asked).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("127.0.0.1:0", e))?;
    Ok(l.local_addr().map_err(|e| Error::io("127.0.0.1:0", e))?.port())
}

/// The last non-empty line of a tool's output, for one-line errors.
fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

fn run(what: &str, cmd: &mut Command) -> Result<()> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| Error::CommandFailed(format!("{what}: cannot run {:?}: {e}", cmd.get_program())))?;
    if !out.status.success() {
        let mut why = last_line(&out.stderr);
        if why.is_empty() {
            why = last_line(&out.stdout);
        }
        return Err(Error::CommandFailed(format!("{what} failed ({}): {why}", out.status)));
    }
    Ok(())
}

/// Makes `dir` (created by us) owned by `who`.
fn give(dir: &Path, who: Option<RunAs>) -> Result<()> {
    if let Some(w) = who {
        std::os::unix::fs::chown(dir, Some(w.uid), Some(w.gid)).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// Fails with a clear message when `who` cannot reach `dir` (a parent without search
/// permission for others): the server would fail later with a less helpful one.
fn reachable(dir: &Path, who: Option<RunAs>, user: &str) -> Result<()> {
    if who.is_none() {
        return Ok(());
    }
    for a in dir.ancestors().skip(1) {
        let Ok(md) = std::fs::metadata(a) else { continue };
        if md.permissions().mode() & 0o001 == 0 {
            return Err(Error::Usage(format!(
                "the drill's scratch directory {} cannot be reached by the `{user}` user that runs the scratch server ({} has mode {:o}); set drill.scratch to a directory it can reach, such as /var/tmp/snap-drill",
                dir.display(),
                a.display(),
                md.permissions().mode() & 0o7777
            )));
        }
    }
    Ok(())
}

fn mkdir(dir: &Path, mode: u32) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(|e| Error::io(dir, e))
}

/// Finds the directory of PostgreSQL's server programs: `bindir` when given, else the one of
/// `initdb` on `PATH`, else the newest `/usr/lib/postgresql/<version>/bin` (Debian).
fn postgres_bindir(bindir: Option<&Path>) -> Result<PathBuf> {
    if let Some(b) = bindir {
        return Ok(b.to_path_buf());
    }
    if let Some(p) = std::env::var_os("PATH") {
        if let Some(d) = std::env::split_paths(&p).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file()) {
            return Ok(d);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, b)| b.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b).ok_or_else(|| {
        Error::Usage("a drill of a PostgreSQL dump needs PostgreSQL's server programs (initdb, pg_ctl); none found on PATH or under /usr/lib/postgresql; install the server package or set drill.postgresql_bindir".into())
    })
}

/// A scratch PostgreSQL cluster, stopped when dropped.
#[derive(Debug)]
pub struct ScratchPostgres {
    bindir: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    run_as: Option<RunAs>,
    started: bool,
}

impl ScratchPostgres {
    /// `initdb` in `dir/data` (superuser `postgres`, trust authentication: the server listens
    /// only on 127.0.0.1 and a socket in a private directory), then `pg_ctl start`.
    ///
    /// # Errors
    /// Missing programs, an unreachable scratch directory, or the tool's own error.
    pub fn start(dir: &Path, bindir: Option<&Path>) -> Result<Self> {
        let bindir = postgres_bindir(bindir)?;
        let run_as = if effective_uid() == 0 {
            let u = uzers::get_user_by_name("postgres").ok_or_else(|| {
                Error::Usage("PostgreSQL refuses to run as root, and there is no `postgres` system user to run the drill's scratch server as; create one (the server package does)".into())
            })?;
            Some(RunAs { uid: u.uid(), gid: u.primary_group_id() })
        } else {
            None
        };
        mkdir(dir, 0o700)?;
        give(dir, run_as)?;
        reachable(dir, run_as, "postgres")?;
        let data = dir.join("data");
        // The socket path must stay under the kernel's 108 bytes, whatever the scratch path.
        let socket_dir = short_dir("snap-drill-pg-")?;
        give(&socket_dir, run_as)?;
        let mut pg = Self { bindir, data, socket_dir, port: free_port()?, run_as, started: false };
        run(
            "initdb of the scratch PostgreSQL",
            pg.server_cmd("initdb").arg("-D").arg(&pg.data).args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]),
        )?;
        let log = dir.join("server.log");
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off", pg.port, pg.socket_dir.display());
        pg.started = true;
        let started = run(
            "starting the scratch PostgreSQL",
            pg.server_cmd("pg_ctl").arg("-D").arg(&pg.data).arg("-l").arg(&log).args(["-o", &opts, "-w", "-t", &START_TIMEOUT.as_secs().to_string(), "start"]),
        );
        if let Err(e) = started {
            let tail = std::fs::read(&log).map(|l| last_line(&l)).unwrap_or_default();
            return Err(Error::CommandFailed(format!("{e}; server log: {tail}")));
        }
        Ok(pg)
    }

    fn server_cmd(&self, program: &str) -> Command {
        let mut c = Command::new(self.bindir.join(program));
        if let Some(w) = self.run_as {
            c.uid(w.uid).gid(w.gid);
            c.env("HOME", "/");
        }
        c.current_dir("/");
        c
    }

    /// Where `restore_db` and the verification queries connect.
    #[must_use]
    pub fn target(&self) -> DbTarget {
        DbTarget { socket: Some(self.socket_dir.clone()), port: Some(self.port), user: Some("postgres".into()), isolated: true, ..DbTarget::default() }
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    #[must_use]
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The client environment (libpq's variables) for this server.
    #[must_use]
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        vec![("PGHOST".into(), self.socket_dir.clone().into()), ("PGPORT".into(), self.port.to_string().into()), ("PGUSER".into(), "postgres".into())]
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        if self.started {
            let _ = self.server_cmd("pg_ctl").arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}

/// A private directory under `/tmp` with a short name, for sockets.
fn short_dir(prefix: &str) -> Result<PathBuf> {
    let d = tempfile::Builder::new().prefix(prefix).tempdir_in("/tmp").map_err(|e| Error::io("/tmp", e))?;
    Ok(d.keep())
}

/// The first of `names` found on `PATH` or in `/usr/sbin`, `/usr/bin`.
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")]);
    names.iter().find_map(|n| dirs.iter().map(|d| d.join(n)).find(|p| p.is_file()))
}

/// A scratch MariaDB (or MySQL) server, stopped when dropped.
#[derive(Debug)]
pub struct ScratchMariadb {
    child: Option<Child>,
    socket: PathBuf,
    socket_dir: PathBuf,
    port: u16,
}

impl ScratchMariadb {
    /// `mariadb-install-db` into `dir/data`, then `mariadbd` on a private socket and a free
    /// loopback port, with `root` reachable without a password over the socket only.
    ///
    /// # Errors
    /// Missing programs or the tool's own error.
    pub fn start(dir: &Path) -> Result<Self> {
        let install = find_program(&["mariadb-install-db", "mysql_install_db"]).ok_or_else(|| Error::Usage("a drill of a MariaDB/MySQL dump needs mariadb-install-db (Debian: mariadb-server); none found".into()))?;
        let server = find_program(&["mariadbd", "mysqld"]).ok_or_else(|| Error::Usage("a drill of a MariaDB/MySQL dump needs mariadbd (Debian: mariadb-server); none found".into()))?;
        mkdir(dir, 0o700)?;
        let data = dir.join("data");
        let user = if effective_uid() == 0 { "root".to_string() } else { uzers::get_current_username().map(|u| u.to_string_lossy().into_owned()).unwrap_or_default() };
        run(
            "mariadb-install-db of the scratch MariaDB",
            Command::new(&install).args(["--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db"]).arg(format!("--user={user}")).arg(format!("--datadir={}", data.display())).current_dir("/"),
        )?;
        let socket_dir = short_dir("snap-drill-my-")?;
        let socket = socket_dir.join("sock");
        let port = free_port()?;
        let log = dir.join("error.log");
        let child = Command::new(&server)
            .args(["--no-defaults", "--bind-address=127.0.0.1", "--skip-log-bin", "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0"])
            .arg(format!("--user={user}"))
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::CommandFailed(format!("starting the scratch MariaDB: cannot run {}: {e}", server.display())))?;
        let mut m = Self { child: Some(child), socket, socket_dir, port };
        let client = find_program(&["mariadb", "mysql"]).unwrap_or_else(|| PathBuf::from("mariadb"));
        let t = Instant::now();
        while t.elapsed() < START_TIMEOUT {
            if let Some(c) = m.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                m.child = None;
                let tail = std::fs::read(&log).map(|l| last_line(&l)).unwrap_or_default();
                return Err(Error::CommandFailed(format!("the scratch MariaDB exited at start ({status}): {tail}")));
            }
            let ok = Command::new(&client).arg("--no-defaults").arg(format!("--socket={}", m.socket.display())).args(["--user=root", "-e", "SELECT 1"]).stdin(Stdio::null()).output();
            if ok.is_ok_and(|o| o.status.success()) {
                return Ok(m);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::CommandFailed(format!("the scratch MariaDB did not accept connections within {}s", START_TIMEOUT.as_secs())))
    }

    #[must_use]
    pub fn target(&self) -> DbTarget {
        DbTarget { socket: Some(self.socket.clone()), user: Some("root".into()), isolated: true, ..DbTarget::default() }
    }

    #[must_use]
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for ScratchMariadb {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM: a clean shutdown; then wait for it, so the scratch files can go.
            if let Ok(pid) = i32::try_from(c.id()) {
                // SAFETY: kill(2) with our own child's pid (not yet reaped, so not reused) and a
                // valid signal number touches no memory.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_scratch_directory_is_refused_with_a_way_out() {
        let top = tempfile::tempdir().unwrap();
        std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let dir = top.path().join("pg");
        let e = reachable(&dir, Some(RunAs { uid: 65534, gid: 65534 }), "postgres").unwrap_err().to_string();
        assert!(e.contains("cannot be reached by the `postgres` user") && e.contains("has mode 700") && e.contains("drill.scratch"), "{e}");
        assert!(reachable(&dir, None, "postgres").is_ok());
        std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        // The temp root and / are searchable by others on any sane system.
        assert!(reachable(&dir, Some(RunAs { uid: 65534, gid: 65534 }), "postgres").is_ok());
    }
}
