//! Storage servers the remote-repository tests start themselves, each on free loopback ports in
//! its own temporary directory and stopped when dropped: Garage (S3) and OpenSSH's `sshd` (SFTP).
//! Nothing here touches a system service, and no traffic leaves loopback.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().expect("local addr").port()
}

/// The path of a program the tests need: on PATH, else in cargo's bin directory (where
/// `cargo install` puts it). A missing program fails the test with what to install.
pub fn program(name: &str, install: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    if let Some(c) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(c).join("bin"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(h).join(".cargo/bin"));
    }
    dirs.push("/usr/sbin".into());
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file()).unwrap_or_else(|| panic!("{name} is not installed; {install} (tools/test.sh does)"))
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 30 s: {}", std::fs::read_to_string(log).unwrap_or_default());
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A single-node Garage with one access key, on loopback.
pub struct Garage {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    bin: PathBuf,
    pub s3_port: u16,
    pub admin_port: u16,
    pub key_id: String,
    pub secret: String,
}

/// The region every test Garage answers to.
pub const GARAGE_REGION: &str = "garage";

impl Garage {
    /// Starts a node, gives it a layout, and imports an access key.
    pub fn start() -> Self {
        let bin = program("garage", "cargo install garage --locked --no-default-features --features bundled-libs,lmdb,metrics");
        let dir = tempfile::tempdir().expect("tempdir");
        let (rpc, s3_port, admin_port) = (free_port(), free_port(), free_port());
        let config = format!(
            "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"lmdb\"\nreplication_factor = 1\nmetadata_fsync = false\ndata_fsync = false\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\n\
             [s3_api]\ns3_region = \"{GARAGE_REGION}\"\napi_bind_addr = \"127.0.0.1:{s3_port}\"\n\n\
             [admin]\napi_bind_addr = \"127.0.0.1:{admin_port}\"\nadmin_token = \"test-admin-token\"\nmetrics_token = \"test-metrics-token\"\n",
            d = dir.path().display(),
            secret = "7f".repeat(32),
        );
        std::fs::write(dir.path().join("garage.toml"), config).expect("garage config");
        // Keys are imported with fixed, valid-looking values: "GK" and 24 hex digits, 64 hex.
        let mut g = Self {
            dir,
            child: None,
            bin,
            s3_port,
            admin_port,
            key_id: format!("GK{}", "a1".repeat(12)),
            secret: "5e".repeat(32),
        };
        g.launch();
        let id = g.cli(&["node", "id", "-q"]);
        let node = id.trim().split('@').next().expect("node id").to_string();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.cli(&["key", "import", "--yes", "-n", "snap-tests", &g.key_id.clone(), &g.secret.clone()]);
        g
    }

    fn launch(&mut self) {
        let log = self.dir.path().join("garage.log");
        let logf = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("garage log");
        let mut child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("garage.toml"))
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf)
            .spawn()
            .expect("start garage");
        wait_for_port(self.s3_port, &mut child, "garage", &log);
        self.child = Some(child);
    }

    /// Runs the `garage` CLI against this node.
    pub fn cli(&self, args: &[&str]) -> String {
        let what = format!("garage {}", args.join(" "));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new(&self.bin).arg("-c").arg(self.dir.path().join("garage.toml")).args(args).output().expect("garage cli");
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            // Right after start the node may still be settling its layout.
            assert!(Instant::now() < deadline, "{what} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Creates `bucket` and lets the test key read, write and own it.
    pub fn bucket(&self, bucket: &str) {
        self.cli(&["bucket", "create", bucket]);
        self.cli(&["bucket", "allow", "--read", "--write", "--owner", bucket, "--key", &self.key_id]);
    }

    /// Limits `bucket` to `bytes`.
    pub fn quota(&self, bucket: &str, bytes: u64) {
        self.cli(&["bucket", "set-quotas", "--max-size", &bytes.to_string(), bucket]);
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The environment a snap process needs to reach this node: credentials and region, with the
    /// instance metadata service kept out of reach either way.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret.clone()),
            ("AWS_DEFAULT_REGION".into(), GARAGE_REGION.into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// Kills the node (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the node again on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// S3 requests served so far, by API endpoint (`GetObject`, `PutObject`, `ListObjectsV2`...),
    /// from the node's Prometheus metrics.
    pub fn requests(&self) -> std::collections::BTreeMap<String, u64> {
        let mut s = TcpStream::connect(("127.0.0.1", self.admin_port)).expect("admin port");
        write!(s, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer test-metrics-token\r\n\r\n").expect("metrics request");
        let mut body = String::new();
        s.read_to_string(&mut body).expect("metrics response");
        let mut out = std::collections::BTreeMap::new();
        for line in body.lines().filter(|l| l.starts_with("api_s3_request_counter{")) {
            let Some(ep) = line.split("api_endpoint=\"").nth(1).and_then(|r| r.split('"').next()) else { continue };
            let n: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            *out.entry(ep.to_string()).or_insert(0) += n as u64;
        }
        out
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An OpenSSH server for one test: its own host key, a user key for the current user, and a
/// client config that trusts exactly that host key. Clients reach it through an `ssh` wrapper
/// (first on PATH) that passes `-F` with that config, because ssh reads `~/.ssh` from the
/// password database, not from `$HOME`.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
    pub user: String,
}

impl Sshd {
    pub fn start() -> Self {
        let sshd = program("sshd", "apt-get install openssh-server");
        let keygen = program("ssh-keygen", "apt-get install openssh-client");
        let real_ssh = program("ssh", "apt-get install openssh-client");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for key in ["host_key", "user_key"] {
            run(Command::new(&keygen).args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(d.join(key)), "ssh-keygen");
        }
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).expect("authorized_keys");
        let port = free_port();
        // sshd refuses to start without its privilege-separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
             StrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\nLogLevel ERROR\nMaxStartups 100\nMaxSessions 100\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).expect("sshd_config");
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        let host_pub: Vec<&str> = host_pub.split_whitespace().collect();
        std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {} {}\n", host_pub[0], host_pub[1])).expect("known_hosts");
        let user = uzers_name();
        let client = format!(
            "Host *\n  UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  IdentityFile {d}/user_key\n  IdentitiesOnly yes\n  BatchMode yes\n  LogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("ssh_config"), client).expect("ssh_config");
        let bin = d.join("bin");
        std::fs::create_dir(&bin).expect("bin dir");
        let wrapper = bin.join("ssh");
        std::fs::write(&wrapper, format!("#!/bin/sh\nexec {} -F {}/ssh_config \"$@\"\n", real_ssh.display(), d.display())).expect("ssh wrapper");
        std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod wrapper");
        let log = d.join("sshd.log");
        let mut child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("sshd log"))
            .spawn()
            .expect("start sshd");
        wait_for_port(port, &mut child, "sshd", &log);
        Self { dir, child: Some(child), port, user }
    }

    /// The directory holding the `ssh` wrapper, to put first on PATH.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// An `sftp:` location for `path` on this server.
    pub fn location(&self, path: &Path) -> String {
        format!("sftp:{}@127.0.0.1:{}:{}", self.user, self.port, path.display())
    }

    /// Kills the server and every session it forked.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn uzers_name() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
