#!/usr/bin/env bash
# Server under load: starts `target/release/perudo serve` on 127.0.0.1 with fast settings
# (no reveal pause, bots without delay), runs `perudo-bench loadtest` against it for 1, 10, 100 and
# 1000 rooms of 4 simulated players (think 0, 10 s each; a fresh server per run), and prints a
# markdown table with the load tester's figures and the server's peak RSS (VmHWM) and CPU
# time (utime + stime, per action). Bounded: each run ends after its duration plus a few
# seconds of draining, and the server is stopped after each run.
#
# FANOUT=1 measures the reference ceiling instead: `perudo-bench fanout-server` (a bare WebSocket
# fan-out with the same transport settings and message sizes, no game) loaded by
# `perudo-bench loadtest --fanout` (the players of a room take turns), the same table.
#
#   scripts/bench-load.sh                   # R = 1 10 100 1000, 10 s each
#   ROOMS="1 10" DURATION=5 scripts/bench-load.sh
#   FANOUT=1 scripts/bench-load.sh          # the fan-out reference, same runs
#   THINK=1000-2000 ROOMS=1000 DURATION=30 scripts/bench-load.sh   # a people's pace
#
# STORAGE=memory|sqlite|sqlite-full|postgres picks where the server keeps rooms (see
# scripts/bench-lib.sh); with postgres, NODES=2 or 3 runs that many nodes on one throwaway
# PostgreSQL (ports PORT, PORT+1, ...) and the load tester spreads the rooms over them (room i
# on node i mod NODES, straight to its node). Server CPU and peak RSS are then the sum over the
# nodes; PostgreSQL's own CPU per action is a column of its own, and so are what the database
# carried per action: committed transactions, statements (pg_stat_statements, BEGIN and
# COMMIT included), WAL bytes and rows written. PG_SYNC=off sets synchronous_commit off.
#
#   STORAGE=postgres ROOMS="10 100" scripts/bench-load.sh
#   STORAGE=postgres NODES=3 ROOMS=100 THINK=1000-2000 DURATION=30 scripts/bench-load.sh
#
# Before each run it waits (at most 5 min) for the 1-minute load average to drop below
# MAX_LOAD (0.6; MAX_LOAD=none skips) and notes the load average at the start of the run.
#
# Linux only (/proc). The load tester and the server share the machine: on a 2-core machine
# they compete for the same cores, so the figures are a floor, not the server's ceiling.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

ROOMS=${ROOMS:-"1 10 100 1000"}
PLAYERS=${PLAYERS:-4}
DURATION=${DURATION:-10}
# Think time of each player before a move, in ms: one number or a range (THINK=1000-2000 for
# a people's pace, where every move pays the wake-ups of idle tasks).
THINK=${THINK:-0}
PORT=${PORT:-18080}
FANOUT=${FANOUT:-0}

# Thousands of sockets on each side: raise the open-file limit where allowed.
ulimit -n 65535 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "${SKIP_BUILD:-0}" != 1 ]; then cargo build --release -p perudo-server -p perudo-bench >&2; fi
trap stop_server EXIT
trap 'exit 130' INT TERM

if [ "$FANOUT" = 1 ]; then
  what="perudo-bench fanout-server (reference, no game)"
  server_args=(fanout-server --listen "127.0.0.1:$PORT")
  loadtest_mode=(--fanout)
else
  what="perudo serve"
  # The load tester plays at machine speed from one address: the per-client limits are off.
  server_args=(serve --listen "127.0.0.1:$PORT" --reveal-pause-ms 0 --bot-delay-ms 0 --max-rooms 100000
    --messages-per-sec 0 --connects-per-ip-per-min 0 --rooms-per-ip-per-min 0
    --max-connections 0 --max-connections-per-ip 0 --max-tcp-per-ip 0)
  loadtest_mode=()
fi

storage=${STORAGE:-memory}
[ "$FANOUT" = 1 ] && storage=none
[ "$storage" = postgres ] && storage="postgres, ${NODES:-1} node(s), synchronous_commit ${PG_SYNC:-on}"
echo "$what; storage $storage; ulimit -n: $(ulimit -n); $(nproc) cores; players per room: $PLAYERS; think $THINK ms; ${DURATION} s per run" >&2
echo
echo "| rooms | connections | actions/s | p50 ms | p90 ms | p99 ms | max ms | bytes in/out per action | frames in per action | errors | server peak RSS | server CPU per action | load tester CPU per action | postgres CPU per action | db per action: xacts / statements / WAL bytes / rows | load avg at start |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for R in $ROOMS; do
  wait_quiet
  load=$(load1)
  SERVER_LOG="/tmp/perudo-bench-server-$R.log" start_server "${server_args[@]}"
  pg_before=0 db_before=
  if [ -n "$PG_PID" ]; then pg_before=$(pg_cpu_ticks); db_before=$(pg_counters); fi
  before=$(nodes_cpu_ticks)
  report=$(timeout $((DURATION + 60)) "$BENCH_BIN" loadtest --url "$BENCH_URLS" --rooms "$R" \
    --players "$PLAYERS" --duration "$DURATION" --think-ms "$THINK" --json --quiet "${loadtest_mode[@]}")
  after=$(nodes_cpu_ticks)
  hwm=$(nodes_status_kib VmHWM)
  pg_ticks=-1 db=
  if [ -n "$PG_PID" ]; then
    pg_ticks=$(($(pg_cpu_ticks) - pg_before))
    sleep 1.5 # statistics reach the views when backends go idle
    db="$db_before $(pg_counters)"
  fi
  stop_server
  actions=$(json_field actions "$report")
  awk -v r="$R" -v conns="$(json_field connections_peak "$report")" \
    -v aps="$(json_field actions_per_sec "$report")" \
    -v p50="$(json_field p50_us "$report")" -v p90="$(json_field p90_us "$report")" \
    -v p99="$(json_field p99_us "$report")" -v max="$(json_field max_us "$report")" \
    -v bin="$(json_field bytes_received_per_action "$report")" \
    -v bout="$(json_field bytes_sent_per_action "$report")" \
    -v fin="$(json_field frames_received_per_action "$report")" \
    -v errors="$(json_field errors_total "$report")" -v hwm="$hwm" -v load="$load" \
    -v client="$(json_field cpu_us_per_action "$report")" \
    -v ticks=$((after - before)) -v hz="$TICKS" -v actions="$actions" \
    -v pg_ticks="$pg_ticks" -v db="$db" 'BEGIN {
      cpu = actions > 0 ? ticks / hz / actions * 1e6 : 0
      pg = "-"; per = "-"
      if (pg_ticks >= 0 && actions > 0) {
        pg = sprintf("%.1f µs (%.2f s)", pg_ticks / hz / actions * 1e6, pg_ticks / hz)
        split(db, c, " ")
        per = sprintf("%.3f / %.2f / %.0f / %.2f", (c[5] - c[1]) / actions, (c[6] - c[2]) / actions,
          (c[7] - c[3]) / actions, (c[8] - c[4]) / actions)
      }
      printf "| %d | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f / %.0f | %.2f | %d | %.1f MiB | %.1f µs (%.2f s) | %.1f µs | %s | %s | %s |\n",
        r, conns, aps, p50 / 1000, p90 / 1000, p99 / 1000, max / 1000, bin, bout, fin, errors,
        hwm / 1024, cpu, ticks / hz, client, pg, per, load
    }'
done
