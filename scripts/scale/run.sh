#!/usr/bin/env bash
# Reproducible scale and fault runs of Chorus on this machine, loopback only.
#
#   scripts/scale/run.sh [--smoke] embedded | split | idle-embedded | idle-split
#   scripts/scale/run.sh [--smoke] faults [gateway-kill] [redis-restart] [pg-restart] [stall]
#
# Every run starts what it needs (the chorus binary; for split and faults a
# private PostgreSQL cluster with fsync on and a private Redis, on high
# ports), drives it with chorus-load, writes the JSON summaries, server logs,
# /proc and /metrics figures into $OUT, prints one VERDICT line per
# measurement and stops everything it started (trap), whatever happens.
#
# Exit: 0 all passed; 1 a correctness failure (loss, an acknowledged message
# not delivered, a duplicate, a gap, a failed setup, no recovery) or an error;
# 3 no correctness failure but a performance target missed.
# Sizes and durations: see scripts/scale/README.md (environment variables).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

SMOKE=0
if [ "${1:-}" = "--smoke" ]; then SMOKE=1; shift; fi
MODE=${1:-}
[ -n "$MODE" ] || { sed -n '2,16p' "$0" >&2; exit 1; }
shift
case "$MODE" in embedded|split|idle-embedded|idle-split|faults) ;; *) echo "unknown mode $MODE" >&2; exit 1 ;; esac
FAULTS=("$@")
[ "$MODE" != faults ] || [ ${#FAULTS[@]} -gt 0 ] || FAULTS=(gateway-kill redis-restart pg-restart stall)

# ---- Sizes: the issue's full scale, or the small smoke scale (--smoke).
if [ "$SMOKE" = 1 ]; then
  : "${CONNS:=400}" "${RATE:=200}" "${DURATION:=12s}" "${IDLE_CONNS:=500 1000}" "${API_RATE:=20}"
  : "${FAULT_CONNS:=200}" "${FAULT_RATE:=100}" "${FAULT_DURATION:=15s}"
else
  : "${CONNS:=5000}" "${RATE:=2000}" "${DURATION:=60s}" "${IDLE_CONNS:=10000 19000}" "${API_RATE:=50}"
  : "${FAULT_CONNS:=2000}" "${FAULT_RATE:=1000}" "${FAULT_DURATION:=40s}"
fi
: "${WARMUP:=5s}" "${SETTLE:=10s}" "${CONNECT_RATE:=250}" "${SOURCE_IPS:=32}"
: "${STALL:=1}" "${STALL_RATE:=200}" "${FAULT_DOWN:=3}"
: "${BASE_PORT:=18080}" "${PG_PORT:=56432}" "${REDIS_PORT:=56379}"
: "${BIN_DIR:=/tmp/scale}"
: "${OUT:=/tmp/scale/out/$MODE-$(date -u +%Y%m%dT%H%M%SZ)$([ "$SMOKE" = 1 ] && echo -smoke || true)}"
# Targets (issue): per idle connection, latency, API, CPU.
: "${T_IDLE_BYTES:=20480}" "${T_EMB_P99:=5}" "${T_EMB_P999:=20}" "${T_EMB_CPU_US:=300}"
: "${T_SPLIT_P99:=25}" "${T_SPLIT_P999:=50}" "${T_API_P95:=20}"
# Longest the whole script may run (then everything is stopped): generous.
: "${MAX_SECONDS:=$([ "$SMOKE" = 1 ] && echo 900 || echo 3000)}"

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/scale/work.XXXXXX)
SECRET="scale-$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
TENANT="scale$(date +%s)"
LIMITS=(--limits.widget-sessions-per-ip=10000000 --limits.widget-sessions-per-key=10000000
  --limits.messages-per-conn-second=1000000 --limits.messages-per-visitor-minute=100000000
  --limits.api-per-tenant-second=10000000 --limits.sockets-per-visitor=100)
CHORUS=$BIN_DIR/chorus
LOAD=$BIN_DIR/chorus-load
RESULT=0          # 0 pass, 3 target missed, 1 failure (worst wins)
declare -A PID=() # role name → pid of what this script started
REDIS_PID=""
PGBIN=""
PGDATA=$WORK/pg
WATCHDOG=""

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { RESULT=1; }
miss() { [ "$RESULT" = 1 ] || RESULT=3; }

# ---- Cleanup: stop exactly what was started, by pid.
cleanup() {
  local rc=$?
  set +e
  for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null; done
  for _ in $(seq 1 50); do
    local alive=0
    for name in "${!PID[@]}"; do kill -0 "${PID[$name]}" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  for name in "${!PID[@]}"; do kill -KILL "${PID[$name]}" 2>/dev/null; done
  [ -n "$REDIS_PID" ] && kill -TERM "$REDIS_PID" 2>/dev/null
  [ -n "$PGBIN" ] && [ -f "$PGDATA/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
  [ -f "$PGDATA/log" ] && cp "$PGDATA/log" "$OUT/postgres.log" 2>/dev/null
  rm -rf "$WORK"
  if [ $rc -ne 0 ] && [ "$RESULT" = 0 ]; then RESULT=1; fi
  log "output: $OUT"
  exit "$RESULT"
}
trap cleanup EXIT
trap 'log "interrupted"; RESULT=1; exit 1' INT TERM
( trap 'kill "$sp" 2>/dev/null; exit 0' TERM; sleep "$MAX_SECONDS" & sp=$!; wait "$sp"
  echo "run.sh: $MAX_SECONDS s limit reached, stopping" >&2; kill -TERM $$ ) 2>/dev/null &
WATCHDOG=$!

# ---- Environment
ulimit -n "$(ulimit -Hn)"
[ -x "$CHORUS" ] || go build -o "$CHORUS" ./cmd/chorus
[ -x "$LOAD" ] || go build -o "$LOAD" ./cmd/chorus-load
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "mode: $MODE ${FAULTS[*]:-} smoke=$SMOKE"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "ram: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)   open files: $(ulimit -n)"
  echo "git HEAD: $(git rev-parse --short HEAD 2>/dev/null || echo unknown) (binaries: $CHORUS built $(date -u -r "$CHORUS" +%Y-%m-%dT%H:%M:%SZ); delete them to rebuild)"
  echo "sizes: CONNS=$CONNS RATE=$RATE DURATION=$DURATION WARMUP=$WARMUP IDLE_CONNS='$IDLE_CONNS' API_RATE=$API_RATE FAULT_CONNS=$FAULT_CONNS FAULT_RATE=$FAULT_RATE FAULT_DURATION=$FAULT_DURATION"
} | tee "$OUT/machine.txt" >&2
: >"$OUT/verdicts.txt"

port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
for p in $(seq "$BASE_PORT" $((BASE_PORT + 5))) "$PG_PORT" "$REDIS_PORT"; do
  port_free "$p" || { echo "port 127.0.0.1:$p is in use; set BASE_PORT, PG_PORT or REDIS_PORT" >&2; exit 1; }
done

# ---- /proc figures of the processes started here.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_b() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$1/status" 2>/dev/null || echo 0; }
# snapshot FILE: {role: {pid, rss_bytes, cpu_s}} of every running process.
snapshot() {
  local args=() name
  for name in "${!PID[@]}"; do
    args+=(--arg "$name" "${PID[$name]} $(rss_b "${PID[$name]}") $(cpu_s "${PID[$name]}")")
  done
  jq -n '$ARGS.named | map_values(split(" ") | {pid: (.[0]|tonumber), rss_bytes: (.[1]|tonumber), cpu_s: (.[2]|tonumber)})' "${args[@]}" >"$1"
}
scrape() { # scrape NAME PORT...: the Prometheus figures of each process
  local name=$1 p; shift
  for p in "$@"; do curl -fsS --max-time 5 "http://127.0.0.1:$p/metrics" >"$OUT/$name.metrics.$p.txt" 2>/dev/null || true; done
}
metric_sum() { # metric_sum NAME FILE...: sum of a counter over files
  local m=$1; shift
  cat "$@" 2>/dev/null | awk -v m="$m" '$1 == m {s += $2} END {print s + 0}'
}

# ---- Services
wait_ready() { # wait_ready PORT NAME
  for _ in $(seq 1 300); do
    curl -fsS --max-time 1 "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    if [ -n "${PID[$2]:-}" ] && ! kill -0 "${PID[$2]}" 2>/dev/null; then
      log "$2 exited:"; tail -20 "$OUT/$2.log" >&2; return 1
    fi
    sleep 0.2
  done
  log "$2 not ready after 60 s"; tail -20 "$OUT/$2.log" >&2; return 1
}

start_chorus() { # start_chorus NAME PORT ARGS...
  local name=$1 port=$2; shift 2
  "$CHORUS" --http-addr="127.0.0.1:$port" --jwt-secret="$SECRET" --log-format=text --log-level=warn \
    --shutdown-timeout=5s "${LIMITS[@]}" "$@" >>"$OUT/$name.log" 2>&1 &
  PID[$name]=$!
  wait_ready "$port" "$name"
}

stop_role() { # stop_role NAME [SIGNAL]
  local pid=${PID[$1]:-}
  [ -n "$pid" ] || return 0
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PID[$1]"
}

start_embedded() {
  rm -rf "$WORK/embedded"
  start_chorus embedded "$BASE_PORT" --roles=all --demo=false --data-dir="$WORK/embedded"
}

start_pg() {
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$PGBIN" ] || { echo "PostgreSQL binaries not found (apt-get install postgresql)" >&2; exit 1; }
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  chmod o+x "$WORK"
  runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
  pg_start
  runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres chorus
  pg_sql "CREATE EXTENSION pg_stat_statements" >/dev/null
}
pg_sql() { runuser -u postgres -- "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d chorus -XAtq -c "$1"; }
# pg_top FILE: the statements that cost PostgreSQL the most time since the
# last reset, and the server's CPU seconds (all postgres processes).
pg_top() {
  pg_sql "SELECT calls, round(total_exec_time::numeric, 0) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms,
      rows, left(regexp_replace(query, '\s+', ' ', 'g'), 160)
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25" >"$1" 2>&1 || true
}
cpu_of() { # cpu_of COMM: CPU seconds of every process named COMM
  ps -C "$1" -o cputimes= 2>/dev/null | awk '{s += $1} END {print s + 0}'
}
pg_start() {
  # fsync and synchronous_commit on: commits are real.
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w -t 60 -o \
    "-p $PG_PORT -k $PGDATA -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=500 -c shared_buffers=256MB -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all ${PG_EXTRA:-}" \
    start >/dev/null
}
pg_stop() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null; }

redis_start() {
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize no \
    --maxclients 10000 >>"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis did not start" >&2; return 1
}
redis_stop() { kill -TERM "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""; }

GW_A=$((BASE_PORT + 1)) GW_B=$((BASE_PORT + 2)) CHAT=$((BASE_PORT + 3)) PRES=$((BASE_PORT + 4)) NOTI=$((BASE_PORT + 5))
split_args() {
  echo "--database-url=postgres://postgres@127.0.0.1:$PG_PORT/chorus?sslmode=disable${PG_URL_EXTRA:-}"
  echo "--redis-url=redis://127.0.0.1:$REDIS_PORT/0"
  echo "--redis-prefix=scale:"
  echo "--data-dir=$WORK/split-data"
}
start_role() { # start_role NAME PORT ROLE
  local a; mapfile -t a < <(split_args)
  start_chorus "$1" "$2" --roles="$3" "${a[@]}"
}
start_split() {
  [ -n "$PGBIN" ] || start_pg
  [ -n "$REDIS_PID" ] || redis_start
  start_role chat "$CHAT" chat # applies the migrations
  start_role gateway-a "$GW_A" gateway
  start_role gateway-b "$GW_B" gateway
  start_role presence "$PRES" presence
  start_role notify "$NOTI" notify
}
all_ready() { # every split process answers /readyz within 60 s
  local p n
  for n in chat gateway-a gateway-b presence notify; do
    case $n in chat) p=$CHAT ;; gateway-a) p=$GW_A ;; gateway-b) p=$GW_B ;; presence) p=$PRES ;; notify) p=$NOTI ;; esac
    wait_ready "$p" "$n" || return 1
  done
}

# ---- Load runs
# load NAME ARGS...: one chorus-load run; the JSON in $OUT/NAME.json, the
# progress in $OUT/NAME.load.log. Returns the tool's exit code.
load() {
  local name=$1; shift
  local rc=0
  # shellcheck disable=SC2086 # LOAD_ENV is a list of NAME=value words
  timeout --signal=INT --kill-after=15s "${LOAD_TIMEOUT:-900}" \
    env ${LOAD_ENV:-} "$LOAD" --tenant "$TENANT" --jwt-secret "$SECRET" --source-ips "$SOURCE_IPS" --connect-rate "$CONNECT_RATE" \
    --json "$OUT/$name.json" "$@" 2>"$OUT/$name.load.log" || rc=$?
  tail -8 "$OUT/$name.load.log" | grep -v '^\[' >&2 || true
  return $rc
}
# load_bg NAME ARGS...: the same in the background; sets LOAD_PID.
load_bg() {
  local name=$1; shift
  # shellcheck disable=SC2086 # LOAD_ENV is a list of NAME=value words
  timeout --signal=INT --kill-after=15s "${LOAD_TIMEOUT:-900}" \
    env ${LOAD_ENV:-} "$LOAD" --tenant "$TENANT" --jwt-secret "$SECRET" --source-ips "$SOURCE_IPS" --connect-rate "$CONNECT_RATE" \
    --json "$OUT/$name.json" "$@" 2>"$OUT/$name.load.log" &
  LOAD_PID=$!
}
# wait_sending NAME: until the run's first send progress line (ramp done).
wait_sending() {
  for _ in $(seq 1 3000); do
    grep -q ' sent=' "$OUT/$1.load.log" 2>/dev/null && return 0
    kill -0 "$LOAD_PID" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
j() { jq -r "$1" "$2" 2>/dev/null || echo null; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "null" && a + 0 <= b + 0) }'; }
verdict() { # verdict NAME STATUS TEXT
  printf 'VERDICT %-28s %-4s %s\n' "$1" "$2" "$3" | tee -a "$OUT/verdicts.txt"
}
# correctness NAME: no loss, no duplicate, no gap, nothing misrouted (the
# judgement of chorus-load, .ok, is stricter: also refusals and unacked).
correct() {
  local f=$OUT/$1.json
  [ -f "$f" ] && [ "$(j '.lost == 0 and .duplicates == 0 and .gaps == 0 and .misrouted == 0 and .sent > 0' "$f")" = true ]
}
figures() { # one-line figures of a chat run
  local f=$OUT/$1.json
  printf 'conns=%s sent=%s acked=%s delivered=%s lost=%s unacked=%s refused=%s dups=%s gaps=%s reconnects=%s failovers=%s rate=%s/s p50=%sms p99=%sms p99.9=%sms max=%sms api_p95=%sms' \
    "$(j .sockets "$f")" "$(j .sent "$f")" "$(j .acked "$f")" "$(j .delivered "$f")" "$(j .lost "$f")" "$(j .unacked "$f")" \
    "$(j .refused "$f")" "$(j .duplicates "$f")" "$(j .gaps "$f")" "$(j .reconnects "$f")" "$(j .failovers "$f")" \
    "$(j '.achieved_rate|round' "$f")" "$(j '.latency.p50_ms*100|round/100' "$f")" "$(j '.latency.p99_ms*100|round/100' "$f")" \
    "$(j '.latency.p99_9_ms*100|round/100' "$f")" "$(j '.latency.max_ms*100|round/100' "$f")" "$(j '.api.p95_ms // null|if . then (.*100|round/100) else . end' "$f")"
}

# chat_verdict NAME P99 P999 [CPU_US]: correctness, then the targets.
chat_verdict() {
  local name=$1 f=$OUT/$1.json status=PASS missed=""
  if ! correct "$name" || [ "$(j .ok "$f")" != true ]; then
    status=FAIL; fail
  else
    le "$(j .latency.p99_ms "$f")" "$2" || missed+=" p99>$2ms"
    le "$(j .latency.p99_9_ms "$f")" "$3" || missed+=" p99.9>$3ms"
    [ "$(j '.api // empty' "$f")" = "" ] || le "$(j .api.p95_ms "$f")" "$T_API_P95" || missed+=" api_p95>${T_API_P95}ms"
    [ -z "${4:-}" ] || le "$(j .server.cpu_us_per_message "$f")" "$4" || missed+=" cpu>${4}us/msg"
    [ -z "$missed" ] || { status=MISS; miss; }
  fi
  verdict "$name" "$status" "$(figures "$name")$([ -n "${5:-}" ] && echo " $5")${missed:+ missed:$missed}$([ "$status" = FAIL ] && echo " failures: $(j '.failures // [] | join("; ")' "$f")")"
}

# ---- Modes
run_embedded() {
  start_embedded
  local pid=${PID[embedded]} rc=0
  log "embedded: $CONNS connections, $RATE msg/s for $DURATION (+$WARMUP warmup), API probe $API_RATE/s"
  load embedded --url "http://127.0.0.1:$BASE_PORT" --conns "$CONNS" --rate "$RATE" --duration "$DURATION" \
    --warmup "$WARMUP" --api-probe-rate "$API_RATE" --pid "$pid" || rc=$?
  snapshot "$OUT/embedded.procs.json"
  scrape embedded "$BASE_PORT"
  [ -f "$OUT/embedded.json" ] || { verdict embedded FAIL "chorus-load exited $rc without a summary"; fail; return; }
  chat_verdict embedded "$T_EMB_P99" "$T_EMB_P999" "$T_EMB_CPU_US" \
    "cpu=$(j '.server.cpu_us_per_message|round' "$OUT/embedded.json")us/msg rss_max=$(j '.server.rss_max_bytes/1048576|round' "$OUT/embedded.json")MiB"
}

# split_cpu_us BEFORE AFTER DELIVERED: CPU of every split process per delivered message.
split_cpu_us() {
  jq -n --slurpfile a "$1" --slurpfile b "$2" --argjson n "$3" \
    '([$b[0] | to_entries[] | .value.cpu_s] | add) - ([$a[0] | to_entries[] | .value.cpu_s] | add) | if $n > 0 then (. * 1e6 / $n | round) else null end'
}

run_split() {
  start_split
  log "split: $CONNS connections over gateways A and B, $RATE msg/s for $DURATION (+$WARMUP warmup), API probe $API_RATE/s on chat"
  load_bg split --url "http://127.0.0.1:$CHAT" --ws-urls "http://127.0.0.1:$GW_A,http://127.0.0.1:$GW_B" \
    --conns "$CONNS" --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP" --api-probe-rate "$API_RATE" --pid "${PID[gateway-a]}"
  local rc=0
  local pg0=0 redis0=0 pg1 redis1
  if wait_sending split; then
    snapshot "$OUT/split.procs.start.json"
    # Statistics for the 2,500 conversations just created: without them the
    # planner picks any index that starts with tenant_id for a lookup by id
    # (every row has the one tenant) until autovacuum's first ANALYZE, up to
    # a minute later. A database in service has them.
    pg_sql "ANALYZE" >/dev/null || true
    pg_sql "SELECT pg_stat_statements_reset()" >/dev/null || true
    pg0=$(cpu_of postgres) redis0=$(cpu_of redis-server)
  fi
  wait "$LOAD_PID" || rc=$?
  snapshot "$OUT/split.procs.json"
  pg1=$(cpu_of postgres) redis1=$(cpu_of redis-server)
  pg_top "$OUT/split.pg_top.txt"
  log "split: CPU while sending (s, whole seconds): postgres $((pg1 - pg0)), redis $((redis1 - redis0)); top statements in split.pg_top.txt"
  scrape split "$GW_A" "$GW_B" "$CHAT" "$PRES" "$NOTI"
  tail -8 "$OUT/split.load.log" | grep -v '^\[' >&2 || true
  [ -f "$OUT/split.json" ] || { verdict split FAIL "chorus-load exited $rc without a summary"; fail; return; }
  local cpu=null
  [ -f "$OUT/split.procs.start.json" ] && cpu=$(split_cpu_us "$OUT/split.procs.start.json" "$OUT/split.procs.json" "$(j .delivered "$OUT/split.json")")
  chat_verdict split "$T_SPLIT_P99" "$T_SPLIT_P999" "" "cpu_all_processes=${cpu}us/msg(incl. warmup)"
}

# idle_one NAME ROLE N ARGS...: N idle sockets on one fresh process (ROLE).
idle_one() {
  local name=$1 role=$2 n=$3; shift 3
  local rc=0 f=$OUT/$name.json
  log "$name: $n idle connections"
  load "$name" --mode idle --conns "$n" --settle "$SETTLE" --pid "${PID[$role]}" "$@" || rc=$?
  snapshot "$OUT/$name.procs.json"
  if [ ! -f "$f" ] || [ "$(j .ok "$f")" != true ] || [ "$(j .sockets "$f")" != "$n" ]; then
    verdict "$name" FAIL "sockets=$(j .sockets "$f")/$n connect_errors=$(j .connect_errors "$f") (exit $rc)"; fail; return
  fi
  local per; per=$(j .server.rss_per_conn_bytes "$f")
  local status=PASS; le "$per" "$T_IDLE_BYTES" || { status=MISS; miss; }
  verdict "$name" "$status" "sockets=$n rss_per_conn=${per}B ($(awk -v b="$per" 'BEGIN{printf "%.1f", b/1024}') KiB, target <= $((T_IDLE_BYTES / 1024)) KiB) rss_before=$(j '.server.rss_before_bytes/1048576|round' "$f")MiB rss_after=$(j '.server.rss_after_bytes/1048576|round' "$f")MiB"
}

run_idle_embedded() {
  local n
  for n in $IDLE_CONNS; do
    start_embedded
    idle_one "idle-embedded-$n" embedded "$n" --url "http://127.0.0.1:$BASE_PORT"
    stop_role embedded
  done
}

run_idle_split() {
  local n
  start_split
  for n in $IDLE_CONNS; do
    stop_role gateway-a
    start_role gateway-a "$GW_A" gateway # a fresh gateway: its RSS before is a baseline
    idle_one "idle-split-$n" gateway-a "$n" --url "http://127.0.0.1:$CHAT" --ws-urls "http://127.0.0.1:$GW_A"
  done
}

# ---- Faults, each on the split cluster, each bounded by the load run's length.
fault_load() { # fault_load NAME [ARGS]: background run over both gateways
  local name=$1; shift
  load_bg "$name" --url "http://127.0.0.1:$CHAT" --ws-urls "http://127.0.0.1:$GW_A,http://127.0.0.1:$GW_B" \
    --conns "$FAULT_CONNS" --rate "$FAULT_RATE" --duration "$FAULT_DURATION" --warmup 2s --drain 30s "$@"
  wait_sending "$name" || { log "$name: the load never started sending"; tail -5 "$OUT/$name.load.log" >&2; }
}
fault_wait() { # fault_wait NAME: wait for the load run; print its summary
  local rc=0
  wait "$LOAD_PID" || rc=$?
  tail -8 "$OUT/$1.load.log" | grep -v '^\[' >&2 || true
  return $rc
}
at_third() { sleep "$(awk -v d="${FAULT_DURATION%s}" 'BEGIN {print d / 3}')"; }
# recovery NAME: after the fault the service works by itself: every process
# ready, then a short fresh run with no error at all.
recovery() {
  if ! all_ready; then echo "not ready"; return 1; fi
  load "$1-recovery" --url "http://127.0.0.1:$CHAT" --ws-urls "http://127.0.0.1:$GW_A,http://127.0.0.1:$GW_B" \
    --conns 40 --rate 40 --duration 5s --warmup 1s >/dev/null 2>&1 && echo ok || { echo "recovery run failed: $(j '.failures // [] | join("; ")' "$OUT/$1-recovery.json")"; return 1; }
}

fault_gateway_kill() {
  local name=fault-gateway-kill
  log "$name: kill -9 gateway A a third into the run; its clients must fail over to B"
  fault_load $name
  at_third
  kill -KILL "${PID[gateway-a]}"; log "gateway A killed (bash reports it as Killed)"
  fault_wait $name || true
  unset "PID[gateway-a]"
  local f=$OUT/$name.json status=PASS
  if ! correct $name || [ "$(j .ok "$f")" != true ] || [ "$(j '.failovers > 0' "$f")" != true ]; then status=FAIL; fail; fi
  start_role gateway-a "$GW_A" gateway
  verdict $name $status "$(figures $name) (every acknowledged message delivered once; failovers>0 required)"
}

fault_redis_restart() {
  local name=fault-redis-restart
  log "$name: stop Redis for ${FAULT_DOWN}s a third into the run, start it again"
  scrape $name.before "$GW_A" "$GW_B" "$CHAT"
  fault_load $name
  at_third
  redis_stop; log "Redis stopped"; sleep "$FAULT_DOWN"; redis_start; log "Redis started"
  fault_wait $name || true
  scrape $name.after "$GW_A" "$GW_B" "$CHAT"
  local f=$OUT/$name.json status=PASS rec
  rec=$(recovery $name) || true
  if ! correct $name || [ "$rec" != ok ]; then status=FAIL; fail; fi
  verdict $name $status "$(figures $name) recovery=$rec (nothing acknowledged lost; refused/unacked sends allowed)"
}

fault_pg_restart() {
  local name=fault-pg-restart
  log "$name: stop PostgreSQL for ${FAULT_DOWN}s a third into the run, start it again"
  fault_load $name
  at_third
  pg_stop; log "PostgreSQL stopped"; sleep "$FAULT_DOWN"; pg_start; log "PostgreSQL started"
  fault_wait $name || true
  local f=$OUT/$name.json status=PASS rec
  rec=$(recovery $name) || true
  # Sends during the outage must fail cleanly: an error frame, never an ack
  # (lost == 0: no acknowledged message went missing) and never silence
  # (unacked == 0: every send was answered one way or the other).
  if ! correct $name || [ "$(j .unacked "$f")" != 0 ] || [ "$rec" != ok ]; then status=FAIL; fail; fi
  verdict $name $status "$(figures $name) error_codes=$(j '.error_codes // {} | tojson' "$f") recovery=$rec (failed sends refused, none acknowledged and lost)"
}

fault_stall() {
  local name=fault-stall
  log "$name: $STALL visitor socket(s) stop reading under a $STALL_RATE msg/s flood of 4000-char messages"
  scrape $name.before "$GW_A" "$GW_B"
  fault_load $name --stall "$STALL" --stall-rate "$STALL_RATE"
  fault_wait $name || true
  scrape $name.after "$GW_A" "$GW_B"
  local f=$OUT/$name.json status=PASS slow
  slow=$(( $(metric_sum chorus_ws_slow_consumer_disconnects_total "$OUT/$name.after.metrics."*) - $(metric_sum chorus_ws_slow_consumer_disconnects_total "$OUT/$name.before.metrics."*) ))
  if ! correct $name || [ "$(j .ok "$f")" != true ]; then
    status=FAIL; fail
  elif ! le "$(j .latency.p99_ms "$f")" "$T_SPLIT_P99"; then
    status=MISS; miss
  fi
  verdict $name $status "$(figures $name) stalled=$(j .stalled_sockets "$f") flood_sent=$(j .stall_sent "$f") slow_consumer_disconnects=$slow (others: no loss, p99 <= ${T_SPLIT_P99}ms)"
}

run_faults() {
  start_split
  local fault
  for fault in "${FAULTS[@]}"; do
    case $fault in
      gateway-kill) fault_gateway_kill ;;
      redis-restart) fault_redis_restart ;;
      pg-restart) fault_pg_restart ;;
      stall) fault_stall ;;
      *) echo "unknown fault $fault (gateway-kill, redis-restart, pg-restart, stall)" >&2; fail ;;
    esac
  done
}

case "$MODE" in
  embedded) run_embedded ;;
  split) run_split ;;
  idle-embedded) run_idle_embedded ;;
  idle-split) run_idle_split ;;
  faults) run_faults ;;
esac
echo "---" >&2
cat "$OUT/verdicts.txt" >&2
case $RESULT in 0) overall=PASS ;; 3) overall=MISS ;; *) overall=FAIL ;; esac
verdict "overall:$MODE${FAULTS[*]:+:${FAULTS[*]}}" "$overall" "$(grep -c '^VERDICT' "$OUT/verdicts.txt") measurements; output $OUT"
