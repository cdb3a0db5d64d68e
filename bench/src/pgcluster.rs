//! `perudo-bench postgres`: a throwaway PostgreSQL cluster for the benchmarks, the same one
//! the server's tests start (Debian's `initdb`/`pg_ctl` in a fresh temporary directory,
//! listening only on a Unix socket there, run as the `postgres` system user when started as
//! root, `pg_stat_statements` loaded). The code is the tests' own
//! (`server/tests/support/postgres.rs`), compiled in here rather than copied.
//!
//! `perudo-bench failover` starts one itself when no `--database-url` is given; the bench
//! scripts (`STORAGE=postgres` in `scripts/bench-lib.sh`) run `perudo-bench postgres` in the
//! background and stop it with SIGTERM, which stops the cluster and deletes its directory.

#[path = "../../server/tests/support/postgres.rs"]
mod cluster;

use std::path::PathBuf;

use anyhow::Context;
pub use cluster::Cluster;

#[derive(clap::Args, Debug)]
pub struct PostgresArgs {
    /// Where to write, once the cluster is up, shell assignments to source: `PG_URL` (the
    /// database's connection string, for `--database-url` and `psql -d`), `PG_DIR` (the
    /// cluster's directory and socket), `PG_PID` (the postmaster's process id).
    #[arg(long)]
    pub info: PathBuf,
}

/// The postmaster's process id (first line of `data/postmaster.pid`).
pub fn postmaster_pid(cluster: &Cluster) -> anyhow::Result<u32> {
    let file = cluster.socket_dir().join("data/postmaster.pid");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("{} does not start with a pid", file.display()))
}

/// Starts a cluster and a fresh database (with `pg_stat_statements`), writes `args.info`,
/// and keeps the cluster until SIGTERM or Ctrl-C; then stops it and deletes its directory.
pub async fn run(args: PostgresArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Installed before the cluster starts, so a SIGTERM during the start still stops it.
    let mut term = signal(SignalKind::terminate()).context("a SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("a SIGINT handler")?;
    let cluster = tokio::task::spawn_blocking(Cluster::start)
        .await
        .context("the cluster did not start")?;
    let url = cluster.database();
    let pid = postmaster_pid(&cluster)?;
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let info = format!(
        "PG_URL={}\nPG_DIR={}\nPG_PID={pid}\n",
        quote(&url),
        quote(&cluster.socket_dir().display().to_string())
    );
    // Written whole under another name, then renamed: a reader never sees half of it.
    let partial = args.info.with_extension("partial");
    std::fs::write(&partial, info).context("write the info file")?;
    std::fs::rename(&partial, &args.info).context("write the info file")?;
    tracing::info!("PostgreSQL is up: {url}");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let _ = std::fs::remove_file(&args.info);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .context("stopping the cluster")?;
    Ok(())
}
