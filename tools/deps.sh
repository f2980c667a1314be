# Sourced by tools/demo.sh and tools/test.sh: the Debian packages that building snap, and then its
# test suite, need, installed with apt-get when they are missing (as root), or named with the
# command to install them (as anyone else). On a system without dpkg nothing is checked.

# What `cargo build` of snap needs beyond Rust: a C and C++ compiler (RocksDB, zstd and lz4 are
# C/C++; rustc links with cc), libclang (bindgen reads RocksDB's headers), pkg-config (build
# scripts ask it first) and CA certificates (cargo downloads crates over https).
snap_build_needs() {
  command -v dpkg >/dev/null 2>&1 || return 0
  command -v c++ >/dev/null 2>&1 || echo g++
  dpkg -s libclang-dev >/dev/null 2>&1 || echo libclang-dev
  command -v pkg-config >/dev/null 2>&1 || echo pkg-config
  [ -s /etc/ssl/certs/ca-certificates.crt ] || echo ca-certificates
}

# What the test suite runs besides snap: the database servers and clients it dumps and restores,
# sshd and ssh-keygen for the SFTP repository, setpriv/runuser, pgrep/pkill.
snap_test_needs() {
  command -v dpkg >/dev/null 2>&1 || return 0
  dpkg -s postgresql >/dev/null 2>&1 || echo postgresql
  command -v sqlite3 >/dev/null 2>&1 || echo sqlite3
  dpkg -s mariadb-server >/dev/null 2>&1 || echo mariadb-server
  command -v setpriv >/dev/null 2>&1 || echo util-linux
  dpkg -s openssh-server >/dev/null 2>&1 || echo openssh-server
  dpkg -s openssh-client >/dev/null 2>&1 || echo openssh-client
  command -v pgrep >/dev/null 2>&1 || echo procps
}

# What `cargo install garage` needs beyond the build's: its bundled libsodium is built with its
# own configure script, which runs make and file.
snap_garage_needs() {
  command -v dpkg >/dev/null 2>&1 || return 0
  command -v make >/dev/null 2>&1 || echo make
  command -v file >/dev/null 2>&1 || echo file
}

# Installs the packages named in its arguments; with none, does nothing. Not root: says what to
# run and fails.
snap_install() {
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$0: missing Debian packages: $*" >&2
    echo "$0: install them with: sudo apt-get install -y $*" >&2
    exit 1
  fi
  echo "$0: installing with apt-get: $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}
