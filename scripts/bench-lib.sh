# Shared by scripts/bench-load.sh and scripts/bench-capacity.sh (sourced, not run):
# starting and stopping a server, reading /proc, waiting for a quiet machine.
# Linux only (/proc).

BIN=${BIN:-target/release/perudo}
# The load tester and the fan-out reference (package perudo-bench, not in the product binary).
BENCH_BIN=${BENCH_BIN:-target/release/perudo-bench}
TICKS=$(getconf CLK_TCK)
SERVER_PID=

BENCH_DB_DIR=

# Starts `$BIN "$@"` (`$BENCH_BIN "$@"` for fanout-server) in the background (stdout and stderr to $SERVER_LOG) and waits until
# 127.0.0.1:$PORT accepts connections (at most 5 s). For `serve`, STORAGE picks where rooms
# are kept: memory (the default, as in the tables of docs/BENCHMARKS.md), sqlite (a fresh
# database per server, removed when it stops) or sqlite-full (the same with --db-sync full).
start_server() {
  local storage=()
  if [ "$1" = serve ]; then
    case "${STORAGE:-memory}" in
      memory) storage=(--storage memory) ;;
      sqlite | sqlite-full)
        BENCH_DB_DIR=$(mktemp -d /tmp/perudo-bench-db.XXXXXX)
        storage=(--db "$BENCH_DB_DIR/perudo.db")
        if [ "$STORAGE" = sqlite-full ]; then storage+=(--db-sync full); fi
        ;;
      *) echo "STORAGE must be memory, sqlite or sqlite-full" >&2; return 1 ;;
    esac
  fi
  local bin=$BIN
  if [ "$1" = fanout-server ]; then bin=$BENCH_BIN; fi
  "$bin" "$@" "${storage[@]}" >"${SERVER_LOG:-/dev/null}" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not listen on port $PORT within 5 s" >&2
  return 1
}

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
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
