#!/usr/bin/env bash
# Many connected players on several nodes (issue 17): NODES `perudo serve` nodes on one
# throwaway PostgreSQL (scripts/bench-lib.sh, STORAGE=postgres), Caddy in front of them with
# the shipped deploy/Caddyfile.cluster (only the addresses changed, admin API off), and
# several `perudo-bench loadtest` processes: LOADTESTERS of them straight to the nodes (each
# spreads its rooms over every node: room i on node i mod NODES) and one through Caddy for
# PROXY_ROOMS rooms (Caddy picks the node, least_conn; a socket that lands on a node which
# does not run its room is hopped to the owner). One process here cannot hold more than the
# hard open-file limit (20,000 on the test machine) of sockets: neither a node, nor Caddy, nor
# a load tester, hence the split.
#
# Players think THINK ms (1000-2000: a people's pace) with the server's default reveal pause
# and bot delay. The rooms start over a ramp (RAMP_RATE rooms per second over all load
# testers), SETTLE seconds pass, then MEASURE seconds are measured (the load testers'
# --warmup leaves setup and ramp out). It prints, per load tester, rooms ready, actions/s,
# p50/p99/max, errors; and the CPU (share of one core over the window) of the nodes together,
# PostgreSQL, Caddy and the load testers; every node's peak RSS and the memory per connected
# player (peak RSS over each freshly started node's RSS, summed over the nodes, divided by the
# players); Caddy's peak RSS; the load average at the start and the end.
#
#   scripts/bench-cluster.sh                                  # 10,000 rooms x 4 = 40,000 players
#   ROOMS=2000 PROXY_ROOMS=200 MEASURE=20 scripts/bench-cluster.sh   # smaller
#
# Environment: NODES (3), ROOMS (10000, all load testers together), PROXY_ROOMS (1000, of
# ROOMS, through Caddy), LOADTESTERS (3, straight to the nodes), PLAYERS (4), THINK
# (1000-2000), RAMP_RATE (250), SETTLE (10), MEASURE (60), PORT (first node's; the others
# follow, Caddy on PORT+NODES), SOURCE_IPS (2: each load tester spreads its sockets over
# 127.0.0.1..N), MAX_LOAD/QUIET_WAIT (wait for a quiet machine first, see bench-lib.sh),
# PG_SYNC, BIN, BENCH_BIN, CADDY (caddy), SKIP_BUILD=1, KEEP_LOGS=1 (keep the nodes', Caddy's
# and the load testers' logs; with RUST_LOG=perudo_bench=debug the load testers log why each
# failed room setup failed).
#
# Bounded: the load testers run under `timeout` (ramp + SETTLE + MEASURE + 90 s); every
# process it starts (PostgreSQL, the nodes, Caddy, the load testers) is stopped on exit,
# also on Ctrl-C. Linux only (/proc).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

NODES=${NODES:-3}
ROOMS=${ROOMS:-10000}
PROXY_ROOMS=${PROXY_ROOMS:-1000}
LOADTESTERS=${LOADTESTERS:-3}
PLAYERS=${PLAYERS:-4}
THINK=${THINK:-1000-2000}
RAMP_RATE=${RAMP_RATE:-250}
SETTLE=${SETTLE:-10}
MEASURE=${MEASURE:-60}
PORT=${PORT:-$((20000 + RANDOM % 11000))}
SOURCE_IPS=${SOURCE_IPS:-2}
CADDY=${CADDY:-caddy}
STORAGE=postgres
CADDY_PORT=$((PORT + NODES))

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "${SKIP_BUILD:-0}" != 1 ]; then cargo build --release -p perudo-server -p perudo-bench >&2; fi

WORK=$(mktemp -d /tmp/perudo-bench-cluster.XXXXXX)
CADDY_PID=
LT_PIDS=()
cleanup() {
  local pid
  for pid in "${LT_PIDS[@]}" $CADDY_PID; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${LT_PIDS[@]}" $CADDY_PID; do wait "$pid" 2>/dev/null || true; done
  stop_server
  if [ "${KEEP_LOGS:-0}" = 1 ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_quiet
load_start=$(cat /proc/loadavg)

SERVER_LOG="$WORK/node.log" start_server serve --listen "127.0.0.1:$PORT" --max-rooms 1000000 \
  --messages-per-sec 0 --connects-per-ip-per-min 0 --rooms-per-ip-per-min 0 --max-connections 0 \
  --max-connections-per-ip 0 --max-tcp-per-ip 0 --trusted-proxies 127.0.0.0/8
base_kib=$(nodes_status_kib VmRSS)

# The shipped cluster Caddyfile, on loopback: as server/tests/it/cluster.rs adapts it.
upstreams=$(tr ',' '\n' <<<"$BENCH_URLS" | sed 's|http://||' | paste -sd ' ')
grep -q 'reverse_proxy 10.0.0.11:8080 10.0.0.12:8080 10.0.0.13:8080 {' deploy/Caddyfile.cluster
sed -e "s|^{\$|{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n\thttp_port $CADDY_PORT\n\tstorage file_system $WORK/caddy-storage|" \
  -e "s|^perudo.example.org {|http://127.0.0.1:$CADDY_PORT {|" \
  -e "s|reverse_proxy 10.0.0.11:8080 10.0.0.12:8080 10.0.0.13:8080 {|reverse_proxy $upstreams {|" \
  deploy/Caddyfile.cluster >"$WORK/Caddyfile"
HOME=$WORK XDG_DATA_HOME=$WORK/caddy-data XDG_CONFIG_HOME=$WORK/caddy-config \
  "$CADDY" run --adapter caddyfile --config "$WORK/Caddyfile" >"$WORK/caddy.log" 2>&1 &
CADDY_PID=$!
wait_port "$CADDY_PORT"
sleep 1.5 # a first round of health checks

ramp=$(((ROOMS + RAMP_RATE - 1) / RAMP_RATE))
[ "$ramp" -lt 2 ] && ramp=2
warmup=$((ramp + SETTLE))
# The load testers run 5 s past the window, so that it closes while they are still loading.
duration=$((warmup + MEASURE + 5))
direct=$((ROOMS - PROXY_ROOMS))
echo "$NODES nodes on PostgreSQL (ports $PORT..), Caddy on $CADDY_PORT; $ROOMS rooms x $PLAYERS players" \
  "($((ROOMS * PLAYERS)) players), $PROXY_ROOMS rooms through Caddy, the rest straight to the nodes over" \
  "$LOADTESTERS load testers; think $THINK ms; ramp $ramp s + settle $SETTLE s, measure $MEASURE s;" \
  "ulimit -n $(ulimit -n); load $load_start" >&2

start_loadtest() { # start_loadtest NAME URLS ROOMS SEED
  timeout $((duration + 90)) "$BENCH_BIN" loadtest --url "$2" --rooms "$3" --players "$PLAYERS" \
    --think-ms "$THINK" --ramp "$ramp" --warmup "$warmup" --duration "$duration" \
    --source-ips "$SOURCE_IPS" --seed "$4" --json --quiet >"$WORK/$1.json" 2>"$WORK/$1.err" &
  LT_PIDS+=($!)
  LT_NAMES+=("$1")
}
LT_NAMES=()
for ((i = 0; i < LOADTESTERS; i++)); do
  share=$((direct / LOADTESTERS + (i < direct % LOADTESTERS ? 1 : 0)))
  start_loadtest "direct-$i" "$BENCH_URLS" "$share" $((i + 1))
done
if [ "$PROXY_ROOMS" -gt 0 ]; then start_loadtest proxy "http://127.0.0.1:$CADDY_PORT" "$PROXY_ROOMS" 99; fi

lt_ticks() { local t=0 pid; for pid in "${LT_PIDS[@]}"; do t=$((t + $(cpu_ticks "$pid" 2>/dev/null || echo 0))); done; echo $t; }
# `timeout` is each load tester's parent: its child is the load tester.
lt_children() { local pid; for pid in "${LT_PIDS[@]}"; do ps -o pid= --ppid "$pid"; done; }
sleep "$warmup"
mapfile -t LT_KIDS < <(lt_children)
kids_ticks() { local t=0 pid; for pid in "${LT_KIDS[@]}"; do t=$((t + $(cpu_ticks "$pid" 2>/dev/null || echo 0))); done; echo $t; }
n0=$(nodes_cpu_ticks); p0=$(pg_cpu_ticks); c0=$(cpu_ticks "$CADDY_PID"); l0=$(kids_ticks); db0=$(pg_counters)
sleep "$MEASURE"
n1=$(nodes_cpu_ticks); p1=$(pg_cpu_ticks); c1=$(cpu_ticks "$CADDY_PID"); l1=$(kids_ticks); db1=$(pg_counters)
rss_kib=$(nodes_status_kib VmRSS)
fds=$(for pid in "${SERVER_PIDS[@]}"; do ls "/proc/$pid/fd" | wc -l; done | paste -sd ' ')
caddy_fds=$(ls "/proc/$CADDY_PID/fd" | wc -l)
load_end=$(cat /proc/loadavg)
status=0
for pid in "${LT_PIDS[@]}"; do wait "$pid" || status=$?; done
LT_PIDS=()
hwm_kib=$(nodes_status_kib VmHWM)
per_node=$(for pid in "${SERVER_PIDS[@]}"; do echo "$(($(status_kib "$pid" VmHWM) / 1024)) MiB"; done | paste -sd ',' | sed 's/,/, /g')
caddy_hwm=$(status_kib "$CADDY_PID" VmHWM)

echo
echo "| load tester | rooms ready | connections (peak) | actions/s | p50 ms | p90 ms | p99 ms | max ms | errors | reconnects |"
echo "|---|---|---|---|---|---|---|---|---|---|"
aps_total=0 players=0
for name in "${LT_NAMES[@]}"; do
  r=$(cat "$WORK/$name.json")
  if [ -z "$r" ]; then echo "| $name | (no report: $(tail -n 1 "$WORK/$name.err")) |"; continue; fi
  aps_total=$(awk -v a="$aps_total" -v b="$(json_field actions_per_sec "$r")" 'BEGIN { print a + b }')
  players=$((players + $(json_field connections_peak "$r")))
  awk -v n="$name" -v ready="$(json_field rooms_ready "$r")" -v c="$(json_field connections_peak "$r")" \
    -v aps="$(json_field actions_per_sec "$r")" -v p50="$(json_field p50_us "$r")" \
    -v p90="$(json_field p90_us "$r")" -v p99="$(json_field p99_us "$r")" -v max="$(json_field max_us "$r")" \
    -v e="$(json_field errors_total "$r")" -v rc="$(json_field reconnects "$r")" 'BEGIN {
      printf "| %s | %d | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %d | %d |\n", n, ready, c, aps, p50/1000, p90/1000, p99/1000, max/1000, e, rc }'
  grep -o '"errors": {[^}]*}' <<<"$(tr -d '\n' <<<"$r")" | grep -v '{ *}' >&2 || true
done
echo
awk -v hz="$TICKS" -v m="$MEASURE" -v n=$((n1 - n0)) -v p=$((p1 - p0)) -v c=$((c1 - c0)) -v l=$((l1 - l0)) \
  -v aps="$aps_total" -v players="$players" -v hwm="$hwm_kib" -v base="$base_kib" -v rss="$rss_kib" \
  -v per_node="$per_node" -v caddy="$caddy_hwm" -v fds="$fds" -v cfds="$caddy_fds" \
  -v db="$db0 $db1" 'BEGIN {
    split(db, d, " ")
    a = aps * m
    printf "- players connected (peak, all load testers): %d; actions/s (all load testers): %.0f\n", players, aps
    printf "- CPU over the %d s window, share of one core: nodes together %.1f%%, PostgreSQL %.1f%%, Caddy %.1f%%, load testers %.1f%%\n", m, n/hz/m*100, p/hz/m*100, c/hz/m*100, l/hz/m*100
    if (a > 0) printf "- per action: nodes %.0f µs, PostgreSQL %.0f µs of CPU; the database %.3f transactions, %.2f statements, %.0f WAL bytes, %.2f rows\n", n/hz/a*1e6, p/hz/a*1e6, (d[5]-d[1])/a, (d[6]-d[2])/a, (d[7]-d[3])/a, (d[8]-d[4])/a
    printf "- nodes peak RSS %.1f MiB together (%s); at the end of the window %.1f MiB; fresh nodes %.1f MiB\n", hwm/1024, per_node, rss/1024, base/1024
    if (players > 0) printf "- memory per connected player (nodes, peak over fresh): %.1f KiB\n", (hwm - base) / players
    printf "- descriptors open at the end of the window: nodes %s, Caddy %s; Caddy peak RSS %.1f MiB\n", fds, cfds, caddy/1024
  }'
echo "- load average at the start: $load_start; at the end of the window: $load_end"
[ "$status" = 0 ] || echo "a load tester exited with status $status" >&2
