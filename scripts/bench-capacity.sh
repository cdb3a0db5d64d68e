#!/usr/bin/env bash
# Capacity search: how many rooms of 4 connected players, each thinking 1-2 s before a move,
# one `perudo serve` holds with p99 latency under 50 ms.
#
# For each step of STEPS (rooms) it starts a fresh server with its default settings (4 s
# reveal pause, 800 ms bot delay: what players get; --max-rooms raised), runs
# `perudo-bench loadtest --think-ms 1000-2000` with the rooms started over a ramp (RAMP_RATE rooms
# per second), leaves SETTLE seconds for the rooms to settle, then measures for MEASURE
# seconds (`--warmup` = ramp + settle, so room setup is not in the figures). It stops at the
# first step whose p99 exceeds P99_LIMIT_MS (50), that has errors or rooms that could not be
# set up, or when the open-file limit caps the connections (then the last step is the most
# rooms that fit). Per step: rooms, connections, actions/s, p50/p99/max, errors, server peak
# RSS (VmHWM), server CPU over the measured window, memory per connected player and per room
# (peak RSS over the freshly started server's RSS, divided by players or rooms), and the load
# average at the start of the step (it waits, at most 5 min, for the 1-minute load average
# to drop below MAX_LOAD, 0.6; MAX_LOAD=none skips).
#
#   scripts/bench-capacity.sh                         # 1000 2500 5000 7500 10000 15000 20000
#   STEPS="10000" scripts/bench-capacity.sh           # one step: 40,000 players
#   IDLE=1 STEPS="10000" scripts/bench-capacity.sh    # 40,000 idle players (--idle): memory
#   STEPS="100 200" MEASURE=5 scripts/bench-capacity.sh
#
# Open files: the server and the load tester each need one descriptor per player. The script
# raises the limit to NOFILE (200000) as a deployment would (`ulimit -Hn`/`ulimit -n`, like
# systemd's LimitNOFILE=). That needs CAP_SYS_RESOURCE; when it is refused it says so, uses
# the hard limit, and the step that would not fit becomes a step at the most rooms that do
# (marked "capped"). The load tester spreads its sockets over several loopback source
# addresses (--source-ips), one per 10,000 sockets, since one address reaches one server port
# at most about 28,000 times.
#
# Bounded: every step takes its ramp + SETTLE + MEASURE plus at most 60 s of draining and
# stopping (the load tester runs under `timeout`), and there are at most as many steps as
# STEPS lists. Linux only (/proc).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

STEPS=${STEPS:-"1000 2500 5000 7500 10000 15000 20000"}
PLAYERS=${PLAYERS:-4}
THINK=${THINK:-1000-2000}
MEASURE=${MEASURE:-30}
SETTLE=${SETTLE:-5}
RAMP_RATE=${RAMP_RATE:-400}
P99_LIMIT_MS=${P99_LIMIT_MS:-50}
NOFILE=${NOFILE:-200000}
IDLE=${IDLE:-0}
PORT=${PORT:-18085}
URL="http://127.0.0.1:$PORT"
# Descriptors each process needs besides one per player (listener, HTTP exchanges in flight,
# stdio, epoll, ...).
FD_MARGIN=200

raise_nofile "$NOFILE"
nofile=$(ulimit -n)

cargo build --release -p perudo-server -p perudo-bench >&2
trap stop_server EXIT

idle_args=()
if [ "$IDLE" = 1 ]; then idle_args=(--idle); fi
mode=$([ "$IDLE" = 1 ] && echo "idle players (--idle)" || echo "playing, think $THINK ms")
echo "capacity: $PLAYERS players per room, $mode; ulimit -n $nofile; $(nproc) cores;" \
  "measure ${MEASURE} s after ramp (${RAMP_RATE} rooms/s) + ${SETTLE} s" >&2
echo
echo "| rooms | connections | actions/s | p50 ms | p99 ms | max ms | errors | server peak RSS | server CPU (of one core) | CPU per action | memory per player | memory per room | load avg at start | note |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

last=0
for R in $STEPS; do
  note=""
  max_rooms=$(((nofile - FD_MARGIN) / PLAYERS))
  if [ "$R" -gt "$max_rooms" ]; then
    R=$max_rooms
    note="capped: open-file limit $nofile"
  fi
  if [ "$R" -le "$last" ]; then
    echo "stop: $R rooms do not fit the open-file limit $nofile beyond the last step" >&2
    break
  fi
  last=$R
  conns=$((R * PLAYERS))
  source_ips=$((conns / 10000 + 1))
  ramp=$(((R + RAMP_RATE - 1) / RAMP_RATE))
  [ "$ramp" -lt 2 ] && ramp=2
  warmup=$((ramp + SETTLE))
  duration=$((warmup + MEASURE))

  wait_quiet
  load=$(load1)
  SERVER_LOG="/tmp/perudo-capacity-server-$R.log" start_server \
    serve --listen "127.0.0.1:$PORT" --max-rooms 1000000 \
    --connects-per-ip-per-min 0 --rooms-per-ip-per-min 0 --max-connections 0 --max-connections-per-ip 0 \
    --max-tcp-per-ip 0
  base_kib=$(status_kib "$SERVER_PID" VmRSS)
  out=$(mktemp)
  timeout $((duration + 60)) "$BENCH_BIN" loadtest --url "$URL" --rooms "$R" --players "$PLAYERS" \
    --think-ms "$THINK" --ramp "$ramp" --warmup "$warmup" --duration "$duration" \
    --source-ips "$source_ips" --json --quiet "${idle_args[@]}" >"$out" &
  lt=$!
  sleep "$warmup"
  t0=$(cpu_ticks "$SERVER_PID")
  sleep "$MEASURE"
  t1=$(cpu_ticks "$SERVER_PID")
  rss_kib=$(status_kib "$SERVER_PID" VmRSS)
  wait "$lt" || note="${note:+$note; }loadtest exit $?"
  hwm_kib=$(status_kib "$SERVER_PID" VmHWM)
  stop_server
  report=$(cat "$out")
  rm -f "$out"
  ready=$(json_field rooms_ready "$report")
  errors=$(json_field errors_total "$report")
  p99=$(json_field p99_us "$report")
  peak=$(json_field connections_peak "$report")
  actions=$(json_field actions "$report")
  echo "step $R rooms: ready ${ready:-?}, peak connections ${peak:-?}, errors ${errors:-?}," \
    "server RSS at the end of the window $((rss_kib / 1024)) MiB" >&2
  awk -v r="$R" -v conns="${peak:-0}" -v aps="$(json_field actions_per_sec "$report")" \
    -v p50="$(json_field p50_us "$report")" -v p99="${p99:-0}" \
    -v max="$(json_field max_us "$report")" -v errors="${errors:-0}" \
    -v hwm="$hwm_kib" -v base="$base_kib" -v ticks=$((t1 - t0)) -v hz="$TICKS" \
    -v measure="$MEASURE" -v actions="${actions:-0}" -v load="$load" -v note="$note" 'BEGIN {
      cpu = ticks / hz
      per_action = actions > 0 ? sprintf("%.1f µs", cpu / actions * 1e6) : "-"
      per_player = conns > 0 ? (hwm - base) / conns : 0
      per_room = r > 0 ? (hwm - base) / r : 0
      printf "| %d | %d | %.0f | %.2f | %.2f | %.2f | %d | %.1f MiB | %.1f%% | %s | %.1f KiB | %.1f KiB | %s | %s |\n",
        r, conns, aps, p50 / 1000, p99 / 1000, max / 1000, errors, hwm / 1024,
        cpu / measure * 100, per_action, per_player, per_room, load, note
    }'
  if [ -z "$ready" ] || [ "$ready" -lt "$R" ] || [ "${errors:-1}" -gt 0 ]; then
    echo "stop: errors or rooms not set up at $R rooms" >&2
    break
  fi
  if [ "$IDLE" != 1 ] && [ "${p99:-0}" -gt $((P99_LIMIT_MS * 1000)) ]; then
    echo "stop: p99 over $P99_LIMIT_MS ms at $R rooms" >&2
    break
  fi
  if [ -n "$note" ]; then
    echo "stop: $note" >&2
    break
  fi
done
