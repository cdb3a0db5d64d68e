//! Every metric the server exports at `GET /metrics`, in one place: the names, their labels,
//! and one small function per thing measured, so the rest of the code never spells a name.
//!
//! The `metrics` facade with `metrics-exporter-prometheus` as its recorder. The recorder is
//! process-wide (the facade has one global recorder) and installed once by [`install`], which
//! every server start calls; several servers in one process (the tests) share it. Until it
//! is installed the functions here cost almost nothing and record nothing.
//!
//! Label values are always `&'static str` (request and message types, reject codes, phases),
//! so a label never allocates a string; the set of series is small and fixed.
//! docs/OPERATIONS.md lists every metric.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use perudo_protocol::{RejectCode, RoomPhase};

/// Open WebSocket connections (gauge).
pub const CONNECTIONS: &str = "perudo_connections";
/// Open rooms by phase (gauge, label `phase`: lobby, playing, reveal, finished).
pub const ROOMS: &str = "perudo_rooms";
/// Client messages received (counter, label `kind`: the request's type, or `invalid` for a
/// frame that did not decode).
pub const MESSAGES_IN: &str = "perudo_messages_in_total";
/// Server messages put in a connection's outbox (counter, label `kind`: the message's type).
pub const MESSAGES_OUT: &str = "perudo_messages_out_total";
/// Requests and frames refused (counter, label `code`: the `RejectCode`).
pub const REJECTIONS: &str = "perudo_rejections_total";
/// From a room taking an `Act` off its inbox until its answer and broadcast are in the
/// outboxes, storage commit included (histogram, seconds).
pub const ACTION_LATENCY: &str = "perudo_action_broadcast_seconds";
/// One group commit of the storage writer, SQLite's or PostgreSQL's (histogram, seconds).
pub const COMMIT_LATENCY: &str = "perudo_storage_commit_seconds";
/// Room batches in one group commit of the storage writer (histogram).
pub const COMMIT_BATCHES: &str = "perudo_storage_commit_batches";
/// Room batches that failed to commit (counter; a code conflict on creation is not counted).
pub const STORAGE_FAILURES: &str = "perudo_storage_failures_total";
/// Connections dropped because their outbox was full (counter).
pub const SLOW_CONSUMERS: &str = "perudo_slow_consumers_dropped_total";
/// Clients refused or slowed by a limit (counter, label `limit`: what was limited).
pub const RATE_LIMITED: &str = "perudo_rate_limited_total";
/// Rooms reopened from storage when the server started (counter).
pub const ROOMS_RESTORED: &str = "perudo_rooms_restored_total";
/// Room leases this node holds in a shared database (gauge; PostgreSQL only).
pub const LEASES_HELD: &str = "perudo_leases_held";
/// Rooms that changed hands at this node (counter, label `change`: `claimed` from a dead or
/// drained node or at start, `lost` to another node, `released` on drain; PostgreSQL only).
pub const HANDOVERS: &str = "perudo_lease_handovers_total";
/// One renewal of all of the node's leases, a round trip to the database (histogram,
/// seconds; PostgreSQL only).
pub const LEASE_RENEWAL_LATENCY: &str = "perudo_lease_renewal_seconds";
/// Always 1, labelled with what runs (gauge, labels `version` and `revision`), so an upgrade
/// shows on a dashboard and `perudo_build_info * on() group_left ...` can join it.
pub const BUILD_INFO: &str = "perudo_build_info";
/// The configured cap on open WebSocket connections, `--max-connections` (gauge; 0: no cap).
pub const CONNECTIONS_MAX: &str = "perudo_connections_max";
/// The configured cap on open rooms, `--max-rooms` (gauge).
pub const ROOMS_MAX: &str = "perudo_rooms_max";

/// Bucket bounds (seconds) of the latency histograms: 100 µs to 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Bucket bounds of the batches per group commit (the writer takes at most 1024).
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder for the process, once; later calls return the same
/// handle. If another recorder was installed first (an embedding program's), the handle
/// renders an empty page and a warning says why.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(ACTION_LATENCY.into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(COMMIT_LATENCY.into()), LATENCY_BUCKETS)
            })
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(COMMIT_BATCHES.into()), BATCH_BUCKETS)
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(LEASE_RENEWAL_LATENCY.into()),
                    LATENCY_BUCKETS,
                )
            })
            .expect("bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(error) = metrics::set_global_recorder(recorder) {
            tracing::warn!(%error, "another metrics recorder is installed: /metrics stays empty");
        }
        let folding = handle.clone();
        spawn_upkeep(UPKEEP_EVERY, move || folding.run_upkeep());
        describe();
        gauge!(
            BUILD_INFO,
            "version" => crate::version::VERSION,
            "revision" => crate::version::REVISION
        )
        .set(1.0);
        handle
    })
}

/// How often the recorder folds the histograms' samples into their buckets (the exporter's
/// own upkeep task does it every 5 s). A histogram keeps every sample it records, one by one,
/// until then: a server that nobody scrapes grew by ~17 bytes per action (every move's latency,
/// every commit's latency and size), without end.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Runs `upkeep` every `every`, on a thread of its own for the life of the process (`install`
/// may run before a runtime exists, or outside one).
fn spawn_upkeep(every: Duration, mut upkeep: impl FnMut() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name(UPKEEP_THREAD.into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the metrics upkeep: histograms fold at scrapes only");
    }
}

/// The name of the upkeep's thread.
const UPKEEP_THREAD: &str = "perudo-metrics";

/// The exposition for `GET /metrics` (Prometheus text format 0.0.4).
pub fn render() -> String {
    let handle = install();
    // What was recorded since the last upkeep shows at once.
    handle.run_upkeep();
    handle.render()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(CONNECTIONS, "Open WebSocket connections");
    describe_gauge!(ROOMS, "Open rooms by phase");
    describe_counter!(MESSAGES_IN, "Client messages received, by request type");
    describe_counter!(
        MESSAGES_OUT,
        "Server messages queued to connections, by type"
    );
    describe_counter!(REJECTIONS, "Requests and frames refused, by reject code");
    describe_histogram!(
        ACTION_LATENCY,
        metrics::Unit::Seconds,
        "From a room receiving an Act to its answer and broadcast queued, commit included"
    );
    describe_histogram!(
        COMMIT_LATENCY,
        metrics::Unit::Seconds,
        "Duration of one group commit of the SQLite writer"
    );
    describe_histogram!(COMMIT_BATCHES, "Room batches per group commit");
    describe_counter!(STORAGE_FAILURES, "Room batches that failed to commit");
    describe_counter!(SLOW_CONSUMERS, "Connections dropped for a full outbox");
    describe_counter!(
        RATE_LIMITED,
        "Clients refused or slowed by a limit, by limit"
    );
    describe_counter!(ROOMS_RESTORED, "Rooms reopened from storage at start");
    describe_gauge!(LEASES_HELD, "Room leases this node holds (PostgreSQL)");
    describe_counter!(
        HANDOVERS,
        "Rooms that changed hands at this node: claimed, lost, released (PostgreSQL)"
    );
    describe_histogram!(
        LEASE_RENEWAL_LATENCY,
        "One renewal of all of the node's room leases (PostgreSQL)"
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the labels say which version and git revision runs"
    );
    describe_gauge!(
        CONNECTIONS_MAX,
        "The configured cap on open WebSocket connections (0: no cap)"
    );
    describe_gauge!(ROOMS_MAX, "The configured cap on open rooms");
}

/// A WebSocket connection opened; it counts until the guard is dropped.
#[must_use = "the connection counts as open until the guard is dropped"]
pub fn connection_opened() -> ConnectionGuard {
    gauge!(CONNECTIONS).increment(1.0);
    ConnectionGuard(())
}

/// Holds one open connection in [`CONNECTIONS`].
#[derive(Debug)]
pub struct ConnectionGuard(());

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        gauge!(CONNECTIONS).decrement(1.0);
    }
}

/// The label value of a room phase.
pub fn phase_label(phase: RoomPhase) -> &'static str {
    match phase {
        RoomPhase::Lobby => "lobby",
        RoomPhase::Playing => "playing",
        RoomPhase::Reveal => "reveal",
        RoomPhase::Finished => "finished",
    }
}

/// A room moved from phase `from` (`None`: it just opened) to `to` (`None`: it closed).
/// Called on changes only, so the gauge costs nothing per message.
pub fn room_phase(from: Option<RoomPhase>, to: Option<RoomPhase>) {
    if from == to {
        return;
    }
    if let Some(from) = from {
        gauge!(ROOMS, "phase" => phase_label(from)).decrement(1.0);
    }
    if let Some(to) = to {
        gauge!(ROOMS, "phase" => phase_label(to)).increment(1.0);
    }
}

/// One series handle per key in a per-thread cache, registered once: `counter!` and
/// `histogram!` hash the name and labels and look the series up in the recorder's registry on
/// every call, which the counters of every frame in and out and the per-action histograms paid.
/// Until the recorder is installed nothing is cached (the handle would record nowhere for
/// good): `register` is called every time.
fn with_cached<K: PartialEq + 'static, H: Clone + 'static>(
    cache: &'static std::thread::LocalKey<std::cell::RefCell<Vec<(K, H)>>>,
    key: K,
    register: impl FnOnce() -> H,
    record: impl FnOnce(&H),
) {
    if HANDLE.get().is_none() {
        record(&register());
        return;
    }
    cache.with_borrow_mut(|series| match series.iter().find(|(k, _)| *k == key) {
        Some((_, handle)) => record(handle),
        None => {
            let handle = register();
            record(&handle);
            series.push((key, handle));
        }
    });
}

/// Adds one to a counter with one label (see [`with_cached`]).
fn count(name: &'static str, label: &'static str, value: &'static str) {
    count_n(name, label, value, 1);
}

/// Adds `n` to a counter with one label (see [`with_cached`]).
fn count_n(name: &'static str, label: &'static str, value: &'static str, n: u64) {
    // Where each string is and how long: two literals never share both.
    type Key = (usize, usize, usize, usize);
    thread_local! {
        static SERIES: std::cell::RefCell<Vec<(Key, metrics::Counter)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let key = (
        name.as_ptr() as usize,
        label.as_ptr() as usize,
        value.as_ptr() as usize,
        value.len(),
    );
    with_cached(
        &SERIES,
        key,
        || counter!(name, label => value),
        |counter| counter.increment(n),
    );
}

/// Records `value` in a histogram without labels (see [`with_cached`]).
fn observe(name: &'static str, value: f64) {
    thread_local! {
        static SERIES: std::cell::RefCell<Vec<((usize, usize), metrics::Histogram)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let key = (name.as_ptr() as usize, name.len());
    with_cached(
        &SERIES,
        key,
        || histogram!(name),
        |histogram| histogram.record(value),
    );
}

/// A client message of type `kind` (`Request::kind`) was received.
pub fn message_in(kind: &'static str) {
    count(MESSAGES_IN, "kind", kind);
}

/// Label of [`MESSAGES_IN`] for a frame that did not decode.
pub const INVALID_FRAME: &str = "invalid";

/// `n` server messages of type `kind` (`ServerMessage::kind`) went into outboxes.
pub fn messages_out(kind: &'static str, n: u64) {
    count_n(MESSAGES_OUT, "kind", kind, n);
}

/// A request or frame was refused with `code`.
pub fn rejected(code: RejectCode) {
    counter!(REJECTIONS, "code" => code.as_str()).increment(1);
}

/// An `Act` took `elapsed` from reaching its room to its broadcast being queued.
pub fn action_latency(elapsed: Duration) {
    observe(ACTION_LATENCY, elapsed.as_secs_f64());
}

/// The SQLite writer committed `batches` room batches in one group, in `elapsed`.
pub fn group_commit(batches: usize, elapsed: Duration) {
    observe(COMMIT_LATENCY, elapsed.as_secs_f64());
    observe(COMMIT_BATCHES, batches as f64);
}

/// A room's batch failed to commit.
pub fn storage_failure() {
    counter!(STORAGE_FAILURES).increment(1);
}

/// A connection was dropped because it did not read its outbox.
pub fn slow_consumer_dropped() {
    counter!(SLOW_CONSUMERS).increment(1);
}

/// A client hit the limit `limit` (e.g. `"messages"`, `"connections_per_ip"`,
/// `"rooms_per_ip"`): it was told to slow down, refused or closed.
pub fn rate_limited(limit: &'static str) {
    counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// The server starts with these caps (alerts compare the open counts to them).
pub fn caps(max_connections: usize, max_rooms: usize) {
    gauge!(CONNECTIONS_MAX).set(max_connections as f64);
    gauge!(ROOMS_MAX).set(max_rooms as f64);
}

/// `count` rooms were reopened from storage at start.
pub fn rooms_restored(count: usize) {
    counter!(ROOMS_RESTORED).increment(count as u64);
}

/// The leases this node holds now.
pub fn leases_held(count: usize) {
    gauge!(LEASES_HELD).set(count as f64);
}

/// `count` rooms changed hands (`change`: claimed, lost, released).
pub fn handovers(change: &'static str, count: usize) {
    if count > 0 {
        counter!(HANDOVERS, "change" => change).increment(count as u64);
    }
}

/// One renewal of every lease of the node took `elapsed`.
pub fn lease_renewal(elapsed: Duration) {
    histogram!(LEASE_RENEWAL_LATENCY).record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_labels_are_the_lowercase_phase_names() {
        for phase in [
            RoomPhase::Lobby,
            RoomPhase::Playing,
            RoomPhase::Reveal,
            RoomPhase::Finished,
        ] {
            assert_eq!(
                phase_label(phase),
                format!("{phase:?}").to_lowercase(),
                "{phase:?}"
            );
        }
    }

    #[test]
    fn install_is_idempotent_and_renders() {
        let first: *const PrometheusHandle = install();
        let second: *const PrometheusHandle = install();
        assert_eq!(first, second);
        rate_limited("test");
        assert!(render().contains("perudo_rate_limited_total{limit=\"test\"}"));
    }

    /// The recorder's upkeep runs by itself, not only at a scrape: `install` starts its thread,
    /// and the thread runs the upkeep over and over. (A histogram keeps its samples one by one
    /// until an upkeep folds them into its buckets; a server nobody scraped grew by every
    /// action's latency.)
    #[test]
    fn the_upkeep_runs_without_a_scrape() {
        install();
        // A new thread names itself once it runs: until then it has its parent's name.
        let named = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
                .expect("the process's threads")
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_owned())
                .collect();
            if threads.iter().any(|name| name == UPKEEP_THREAD) {
                break;
            }
            assert!(
                std::time::Instant::now() < named,
                "no {UPKEEP_THREAD} thread among {threads:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }

        let runs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = runs.clone();
        spawn_upkeep(Duration::from_millis(5), move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while runs.load(std::sync::atomic::Ordering::Relaxed) < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the upkeep ran {} times in 10 s",
                runs.load(std::sync::atomic::Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn build_info_names_the_version_and_revision() {
        let page = render();
        let line = format!(
            "perudo_build_info{{version=\"{}\",revision=\"{}\"}} 1",
            crate::version::VERSION,
            crate::version::REVISION
        );
        assert!(page.lines().any(|l| l == line), "no `{line}` in:\n{page}");
        assert_ne!(crate::version::VERSION, "0.0.0");
    }
}
