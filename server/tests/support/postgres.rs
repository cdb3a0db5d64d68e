//! A throwaway PostgreSQL cluster for tests: Debian's `postgresql` package, `initdb` and
//! `pg_ctl` in a fresh temporary directory, listening only on a Unix socket in that
//! directory (no TCP port to collide with anything), stopped and deleted on drop.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (CI, containers) the
//! cluster runs as the `postgres` system user the Debian package creates (`runuser`), and the
//! directory is made that user's. The cluster's superuser is `perudo`, trusted on the socket.
//!
//! These tests are compiled only with the `postgres-tests` feature, which `scripts/test.sh`
//! turns on (`--all-features`): there a missing PostgreSQL is a loud failure, never a skip;
//! without the feature (`cargo test` on a machine without PostgreSQL) they are not built.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The database superuser of every test cluster.
pub const SUPERUSER: &str = "perudo";
/// The port number of the socket file's name (`.s.PGSQL.5432`); no TCP port is opened.
const PORT: u16 = 5432;

/// A running cluster. Dropping it stops the server (`pg_ctl stop -m fast`) and deletes its
/// directory.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    /// The system user the server runs as (`postgres` when the tests run as root).
    run_as: Option<String>,
    databases: AtomicU32,
    /// The socket file's number, and the TCP port when the cluster listens on loopback.
    port: u16,
}

/// Where Debian installs the server programs: `/usr/lib/postgresql/<major>/bin`, the newest
/// major. `PERUDO_PG_BIN` overrides it.
fn find_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PERUDO_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "the PostgreSQL tests need Debian's `postgresql` package (initdb and pg_ctl under \
             /usr/lib/postgresql/<major>/bin, or set PERUDO_PG_BIN); install it with \
             `sudo apt-get install -y postgresql`, or run scripts/test.sh, which does"
        ),
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("`id -u` runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn check(what: &str, out: std::io::Result<Output>) -> Output {
    let out = out.unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Cluster {
    /// Creates and starts a cluster in a fresh temporary directory; panics, saying what is
    /// missing, if it cannot.
    pub fn start() -> Cluster {
        Cluster::start_with(None)
    }

    /// A cluster that also listens on 127.0.0.1 (on a free port) with TLS, its certificate
    /// (for `localhost` and `127.0.0.1`) issued by a CA made for it; returns the cluster, the
    /// port and the CA certificate's PEM file.
    pub fn start_tls() -> (Cluster, u16, PathBuf) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Cluster::start_with(Some(port));
        let ca = cluster.dir.join("ca.crt");
        (cluster, port, ca)
    }

    fn start_with(tls_port: Option<u16>) -> Cluster {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let bin = find_bin();
        let run_as = is_root().then(|| "postgres".to_string());
        let dir = std::env::temp_dir().join(format!(
            "perudo-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory for the cluster");
        if let Some(user) = &run_as {
            check(
                "chown (the cluster's directory to its system user)",
                Command::new("chown")
                    .arg(format!("{user}:"))
                    .arg(&dir)
                    .output(),
            );
        }
        let cluster = Cluster {
            dir,
            bin,
            run_as,
            databases: AtomicU32::new(0),
            port: tls_port.unwrap_or(PORT),
        };
        let data = cluster.data();
        check(
            "initdb",
            cluster
                .program("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"])
                .output(),
        );
        // Only the socket in our directory; pg_stat_statements lets tests count statements;
        // lock waits longer than the deadlock check (1 s) and deadlocks are logged with the
        // statements involved, in server.log (kept with PERUDO_KEEP_PG=1).
        let mut options = format!(
            "-c listen_addresses='' -k {} -p {} -c shared_preload_libraries=pg_stat_statements \
             -c max_connections=200 -c log_lock_waits=on",
            cluster.dir.display(),
            cluster.port
        );
        if tls_port.is_some() {
            cluster.make_certificates();
            options.push_str(&format!(
                " -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={0}/server.crt \
                 -c ssl_key_file={0}/server.key",
                cluster.dir.display()
            ));
        }
        check(
            "pg_ctl start",
            cluster
                .program("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(cluster.dir.join("server.log"))
                .args(["-o", &options, "-w", "-t", "60", "start"])
                .output(),
        );
        cluster
    }

    /// One cluster shared by the tests that run at the same time in this process; it stops
    /// when the last of them drops its `Arc` (statics are never dropped).
    pub fn shared() -> Arc<Cluster> {
        static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cluster) = shared.upgrade() {
            return cluster;
        }
        let cluster = Arc::new(Cluster::start());
        *shared = Arc::downgrade(&cluster);
        cluster
    }

    /// A CA and a server certificate signed by it (openssl), the key readable by the server
    /// only, as PostgreSQL demands.
    fn make_certificates(&self) {
        let dir = &self.dir;
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write the extensions");
        let openssl = |args: &[&str]| {
            check(
                "openssl",
                Command::new("openssl").current_dir(dir).args(args).output(),
            )
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=perudo test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        if let Some(user) = &self.run_as {
            check(
                "chown (the server's key)",
                Command::new("chown")
                    .arg(format!("{user}:"))
                    .args([dir.join("server.key"), dir.join("server.crt")])
                    .output(),
            );
        }
        check(
            "chmod (the server's key)",
            Command::new("chmod")
                .arg("600")
                .arg(dir.join("server.key"))
                .output(),
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The socket's directory: the `host` of a connection string.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    fn program(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    /// A connection string (key=value form) for `database`.
    pub fn conninfo(&self, database: &str) -> String {
        format!(
            "host={} port={} user={SUPERUSER} dbname={database}",
            self.dir.display(),
            self.port
        )
    }

    /// Creates a fresh, empty database with `pg_stat_statements` and returns its connection
    /// string.
    pub fn database(&self) -> String {
        let name = format!("t{}", self.databases.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.psql(&name, "CREATE EXTENSION pg_stat_statements");
        self.conninfo(&name)
    }

    /// Runs `sql` in `database` with psql and returns what it printed (unaligned, no headers).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = check(
            &format!("psql {sql:?}"),
            self.psql_command(database, sql).output(),
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `psql` running `sql` on `database` (one implicit transaction), not yet started.
    #[allow(dead_code)] // not every test binary that includes this file starts one itself
    pub fn psql_command(&self, database: &str, sql: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-c",
                sql,
            ]);
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let stopped = self
            .program("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .output();
        match stopped {
            Ok(out) if out.status.success() => {
                if std::env::var_os("PERUDO_KEEP_PG").is_some() {
                    eprintln!("kept the cluster's directory {}", self.dir.display());
                } else {
                    let _ = std::fs::remove_dir_all(&self.dir);
                }
            }
            // Keep the directory (and its server.log) to look at.
            Ok(out) => eprintln!(
                "pg_ctl stop failed for {}: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot run pg_ctl stop: {e}"),
        }
    }
}
