# Shared by scripts/bench-load.sh, scripts/bench-capacity.sh and scripts/bench-cluster.sh
# (sourced, not run): starting and stopping a server (or several nodes on a throwaway
# PostgreSQL), reading /proc, waiting for a quiet machine. Linux only (/proc).
#
# Environment (besides BIN and BENCH_BIN):
#   STORAGE  memory (default) | sqlite | sqlite-full | postgres. postgres starts a throwaway
#            PostgreSQL cluster per server start (`perudo-bench postgres`: Debian's initdb and
#            pg_ctl in a temp dir, Unix socket only, as the `postgres` user when run as root,
#            the server tests' own code) and stops and deletes it with the server.
#   NODES    with STORAGE=postgres: how many `perudo serve` nodes share the database (1, the
#            default), on ports PORT, PORT+1, ...; BENCH_URLS lists them comma-separated,
#            which is what `perudo-bench loadtest --url` takes to spread its rooms over them.
#   PG_SYNC  with STORAGE=postgres: the cluster's synchronous_commit (on, PostgreSQL's
#            default: an fsync per commit; off: commits survive a crash of the nodes but the
#            last ones not a crash of PostgreSQL's machine).

BIN=${BIN:-target/release/perudo}
# The load tester and the fan-out reference (package perudo-bench, not in the product binary).
BENCH_BIN=${BENCH_BIN:-target/release/perudo-bench}
TICKS=$(getconf CLK_TCK)
SERVER_PID=
# Every node's pid (one entry unless STORAGE=postgres NODES>1), and the URLs to load.
SERVER_PIDS=()
BENCH_URLS=
# The throwaway PostgreSQL (STORAGE=postgres): the `perudo-bench postgres` process, and what
# it wrote: PG_URL (connection string), PG_DIR (its directory), PG_PID (the postmaster).
PG_RUNNER=
PG_URL=
PG_DIR=
PG_PID=

BENCH_DB_DIR=

# Starts the throwaway PostgreSQL cluster and waits (at most 60 s) until it is up.
start_postgres() {
  BENCH_DB_DIR=${BENCH_DB_DIR:-$(mktemp -d /tmp/perudo-bench-db.XXXXXX)}
  local info=$BENCH_DB_DIR/postgres.info
  "$BENCH_BIN" postgres --info "$info" >"$BENCH_DB_DIR/postgres.log" 2>&1 &
  PG_RUNNER=$!
  for _ in $(seq 1 600); do
    if [ -s "$info" ]; then
      . "$info"
      if [ "${PG_SYNC:-on}" != on ]; then
        psql_q "ALTER SYSTEM SET synchronous_commit = '$PG_SYNC'" >/dev/null
        psql_q "SELECT pg_reload_conf()" >/dev/null
      fi
      return 0
    fi
    kill -0 "$PG_RUNNER" 2>/dev/null || break
    sleep 0.1
  done
  echo "PostgreSQL did not start; see $BENCH_DB_DIR/postgres.log:" >&2
  cat "$BENCH_DB_DIR/postgres.log" >&2
  return 1
}

stop_postgres() {
  if [ -n "$PG_RUNNER" ] && kill -0 "$PG_RUNNER" 2>/dev/null; then
    kill -TERM "$PG_RUNNER" 2>/dev/null || true
    wait "$PG_RUNNER" 2>/dev/null || true
  fi
  PG_RUNNER= PG_URL= PG_DIR= PG_PID=
}

# psql_q SQL: one query on the throwaway database, unaligned, no headers.
psql_q() {
  psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$PG_URL" -c "$1"
}

# The database's counters, space-separated: committed transactions, statements run (every
# pg_stat_statements call, BEGIN and COMMIT included), WAL bytes written so far, rows
# inserted+updated+deleted. Statistics reach the views within a second of a backend going
# idle: read them a little after the load stops.
pg_counters() {
  psql_q "SELECT d.xact_commit, (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s WHERE s.dbid = d.datid),
      pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, d.tup_inserted + d.tup_updated + d.tup_deleted
    FROM pg_stat_database d WHERE d.datname = current_database()" | tr '|' ' '
}

# CPU ticks of all of PostgreSQL: the postmaster (its own and its reaped children's time,
# fields 14-17) and every live backend and helper (their own).
pg_cpu_ticks() {
  local total kid
  total=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$PG_PID/stat")
  for kid in $(ps -o pid= --ppid "$PG_PID"); do
    total=$((total + $(cpu_ticks "$kid" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# CPU ticks of every node (SERVER_PIDS).
nodes_cpu_ticks() {
  local total=0 pid
  for pid in "${SERVER_PIDS[@]}"; do total=$((total + $(cpu_ticks "$pid"))); done
  echo "$total"
}

# A /proc/<pid>/status field summed over every node: nodes_status_kib VmHWM.
nodes_status_kib() {
  local total=0 pid
  for pid in "${SERVER_PIDS[@]}"; do total=$((total + $(status_kib "$pid" "$1"))); done
  echo "$total"
}

wait_port() { # wait_port PORT: at most 10 s for 127.0.0.1:PORT to accept connections
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1 within 10 s" >&2
  return 1
}

# Starts `$BIN "$@"` (`$BENCH_BIN "$@"` for fanout-server) in the background (stdout and
# stderr to $SERVER_LOG) and waits until 127.0.0.1:$PORT accepts connections (at most 10 s).
# For `serve`, STORAGE picks where rooms are kept: memory (the default, as in the tables of
# docs/BENCHMARKS.md), sqlite (a fresh database per server, removed when it stops),
# sqlite-full (the same with --db-sync full) or postgres (a fresh throwaway cluster, NODES
# nodes on it: the arguments' `--listen 127.0.0.1:$PORT` becomes each node's own port, and
# each node's log is $SERVER_LOG.<i>).
start_server() {
  local storage=()
  local nodes=1
  SERVER_PIDS=()
  BENCH_URLS="http://127.0.0.1:$PORT"
  if [ "$1" = serve ]; then
    case "${STORAGE:-memory}" in
      memory) storage=(--storage memory) ;;
      sqlite | sqlite-full)
        BENCH_DB_DIR=$(mktemp -d /tmp/perudo-bench-db.XXXXXX)
        storage=(--db "$BENCH_DB_DIR/perudo.db")
        if [ "$STORAGE" = sqlite-full ]; then storage+=(--db-sync full); fi
        ;;
      postgres)
        start_postgres || return 1
        nodes=${NODES:-1}
        storage=(--database-url "$PG_URL" --admin-socket none)
        ;;
      *) echo "STORAGE must be memory, sqlite, sqlite-full or postgres" >&2; return 1 ;;
    esac
  fi
  if [ "$nodes" != 1 ] && [ "${STORAGE:-memory}" != postgres ]; then
    echo "NODES needs STORAGE=postgres" >&2
    return 1
  fi
  local bin=$BIN
  if [ "$1" = fanout-server ]; then bin=$BENCH_BIN; fi
  if [ "$nodes" = 1 ]; then
    "$bin" "$@" "${storage[@]}" >"${SERVER_LOG:-/dev/null}" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS=("$SERVER_PID")
    wait_port "$PORT"
    return
  fi
  local i port args urls=()
  for ((i = 0; i < nodes; i++)); do
    port=$((PORT + i))
    # This node's own address; the nodes hop sockets to each other there.
    args=("${@/#127.0.0.1:$PORT/127.0.0.1:$port}")
    "$bin" "${args[@]}" "${storage[@]}" >"${SERVER_LOG:-/dev/null}${SERVER_LOG:+.$i}" 2>&1 &
    SERVER_PIDS+=($!)
    urls+=("http://127.0.0.1:$port")
  done
  SERVER_PID=${SERVER_PIDS[0]}
  BENCH_URLS=$(IFS=,; echo "${urls[*]}")
  for ((i = 0; i < nodes; i++)); do wait_port $((PORT + i)) || return 1; done
}

stop_server() {
  local pid
  for pid in "${SERVER_PIDS[@]}" $SERVER_PID; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "${SERVER_PIDS[@]}" $SERVER_PID; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PID=
  SERVER_PIDS=()
  stop_postgres
  if [ -n "$BENCH_DB_DIR" ]; then rm -rf "$BENCH_DB_DIR"; fi
  BENCH_DB_DIR=
}

cpu_ticks() { # utime + stime of a pid (fields 14 and 15; the name in field 2 has no spaces here)
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

status_kib() { # a field of /proc/<pid>/status in KiB: status_kib PID VmHWM
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

json_field() { # first `"name": value` of a pretty-printed JSON document
  sed -n "s/^ *\"$1\": \\([^,]*\\),\\{0,1\\}$/\\1/p" <<<"$2" | head -n 1 | tr -d '"'
}

load1() { cut -d ' ' -f 1 /proc/loadavg; }

# Waits (polling every 10 s, at most $QUIET_WAIT seconds, default 300) until the 1-minute
# load average is below $MAX_LOAD (default 0.6); MAX_LOAD=none skips the wait. Prints
# nothing; call load1 afterwards to note the load at the start of the run.
wait_quiet() {
  local max=${MAX_LOAD:-0.6} waited=0
  [ "$max" = none ] && return 0
  while awk -v l="$(load1)" -v m="$max" 'BEGIN { exit !(l >= m) }'; do
    if [ "$waited" -ge "${QUIET_WAIT:-300}" ]; then
      echo "load average still $(load1) after ${waited} s; running anyway" >&2
      return 0
    fi
    sleep 10
    waited=$((waited + 10))
  done
}

# Raises the open-file limit of this shell (and so of the server and the load tester) to
# $1, as a deployment would (systemd LimitNOFILE=, or ulimit in the service's script).
# Raising the hard limit needs CAP_SYS_RESOURCE (root outside a restricted container); when
# that is refused, the soft limit is raised to the hard limit and the caller works within it.
raise_nofile() {
  local want=$1
  if ulimit -Hn "$want" 2>/dev/null && ulimit -n "$want" 2>/dev/null; then
    return 0
  fi
  echo "cannot raise the open-file hard limit to $want (needs CAP_SYS_RESOURCE);" \
    "using the hard limit $(ulimit -Hn)" >&2
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}
