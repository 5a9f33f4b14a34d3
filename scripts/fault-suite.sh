#!/usr/bin/env bash
# Fault-tolerance suite for shop-api (run by CI; see docs/operations.md, "Fault tolerance").
#
# Each scenario gets its OWN private PostgreSQL and Redis on spare loopback ports and its own API
# process (the debug binary); the machine's PostgreSQL (5432) and Redis (6379) are never touched.
#   1. redis     Redis stopped and restarted under GET load: no request fails, readiness says
#                "redis":"degraded" while it is down and "ready" again after the restart.
#   2. postgres  PostgreSQL restarted (pg_ctl restart -m fast) under checkout + GET load: the API
#                recovers by itself, failures are 503 problem+json only, no answered order is lost,
#                no oversell, the inventory ledger adds up.
#   3. sigterm   SIGTERM with slow requests in flight: all of them complete, the process exits 0
#                within the shutdown timeout.
# Prints figures per scenario and a last line `fault-suite: N passed, M failed`; exits non-zero on
# any failure. Everything it started is stopped on exit (trap), and its temporary directory removed.
#
# Environment: FAULT_SCENARIOS="redis postgres sigterm" (subset/order), FAULT_BUDGET_SECS=235
# (whole-run limit once the binary exists), FAULT_KEEP=1 (keep the work directory and logs),
# INSTALL=1 (as root: apt-get install missing PostgreSQL/Redis/Python), PG_BIN (PostgreSQL server
# binaries; default /usr/lib/postgresql/<newest>/bin), SHOP_API_BIN (binary to test).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
HERE=$ROOT/scripts/fault
SCENARIOS=${FAULT_SCENARIOS:-"redis postgres sigterm"}
BUDGET=${FAULT_BUDGET_SECS:-235}
SHUTDOWN_TIMEOUT=10

say() { echo "fault-suite: $*"; }
die() { say "$*" >&2; exit 2; }

# --- tools ---------------------------------------------------------------------------------------
apt_install() {
  if [ "${INSTALL:-0}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $*"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >/dev/null 2>&1
  else
    return 1
  fi
}

find_pg_bin() {
  if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/pg_ctl" ]; then echo "$PG_BIN"; return 0; fi
  local d
  d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -t/ -k4 -n | tail -n1)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then dirname "$(command -v pg_ctl)"; return 0; fi
  return 1
}

PG_BIN=$(find_pg_bin) || { apt_install postgresql postgresql-client && PG_BIN=$(find_pg_bin); } \
  || die "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql (or INSTALL=1)"
command -v psql >/dev/null || [ -x "$PG_BIN/psql" ] || apt_install postgresql-client \
  || die "psql not found: apt-get install postgresql-client (or INSTALL=1)"
PSQL=$(command -v psql || echo "$PG_BIN/psql")
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server \
  || die "redis-server/redis-cli not found: apt-get install redis-server (or INSTALL=1)"
command -v python3 >/dev/null || apt_install python3 || die "python3 not found: apt-get install python3 (or INSTALL=1)"
AS_ROOT=0
if [ "$(id -u)" = 0 ]; then
  AS_ROOT=1
  command -v runuser >/dev/null || die "running as root needs runuser (util-linux) to start PostgreSQL as postgres"
  id postgres >/dev/null 2>&1 || die "running as root needs a postgres user (created by the postgresql package)"
fi

BIN=${SHOP_API_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/shop-api}
if [ ! -x "$BIN" ]; then
  say "building $BIN (cargo build -p shop-api)"
  cargo build -q -p shop-api || die "cargo build -p shop-api failed"
fi
[ -x "$BIN" ] || die "no binary at $BIN"

# --- bookkeeping and cleanup ---------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shop-fault.XXXXXX") || die "mktemp failed"
chmod 755 "$WORK"
API_PIDS=()
REDIS_DIRS=()
PG_DIRS=()
WATCHDOG=""

AS_PG=()  # prefix that runs a PostgreSQL tool as the postgres user when we are root
[ "$AS_ROOT" = 1 ] && AS_PG=(runuser -u postgres --)

redis_pid() { # the pid of the private Redis in DIR, if it is ours and alive
  local pid
  pid=$(cat "$1/redis.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server \
    && echo "$pid"
}

alive() { # alive PID: running and not a zombie (an exited child not yet waited for)
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$state" ] && [ "$state" != Z ]
}

stop_api() {
  local pid=$1
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 30); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}

stop_redis() {
  local pid
  pid=$(redis_pid "$1") || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}

stop_pg() {
  [ -f "$1/postmaster.pid" ] || return 0
  timeout 20 "${AS_PG[@]}" "$PG_BIN/pg_ctl" stop -D "$1" -m immediate -w -t 10 >/dev/null 2>&1 || {
    local pid; pid=$(head -n1 "$1/postmaster.pid" 2>/dev/null)
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  }
}

teardown() { # stop everything still running (all scenarios so far)
  local p d
  for p in "${API_PIDS[@]}"; do stop_api "$p"; done
  for d in "${REDIS_DIRS[@]}"; do stop_redis "$d"; done
  for d in "${PG_DIRS[@]}"; do stop_pg "$d"; done
  API_PIDS=() REDIS_DIRS=() PG_DIRS=()
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
  teardown
  if [ "${FAULT_KEEP:-0}" = 1 ]; then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
PASSED=0 FAILED=0 RESULTS=()
stopped() { say "$1 during the run"; say "$PASSED passed, $((FAILED + 1)) failed"; exit "$2"; }
trap 'stopped interrupted 130' INT
trap 'stopped terminated 143' TERM

# The whole run is bounded: every step has its own timeout, and this watchdog is the backstop.
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$BUDGET" >/dev/null 2>&1 &
  sp=$!
  wait "$sp" || exit 0
  echo "fault-suite: time budget of ${BUDGET}s exceeded, stopping" >&2
  kill -TERM $$
  # bash runs its trap only once the current foreground step ends: end the script's own children
  # (found by parent pid; `timeout` passes the signal on to its command).
  for st in /proc/[0-9]*/stat; do
    [ "$(sed 's/.*) //' "$st" 2>/dev/null | cut -d' ' -f2)" = $$ ] || continue
    p=${st#/proc/}; p=${p%/stat}
    [ "$p" != "$BASHPID" ] && kill -TERM "$p" 2>/dev/null
  done
) </dev/null &
WATCHDOG=$!
SUITE_START=$SECONDS
left() { echo $((BUDGET - (SECONDS - SUITE_START) - 5)); }

# --- one private stack ---------------------------------------------------------------------------
# Sets PG_PORT REDIS_PORT API_PORT BASE DIR for scenario $1.
new_stack() {
  DIR=$WORK/$1
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  read -r PG_PORT REDIS_PORT API_PORT < <(python3 "$HERE/driver.py" ports 3)
  BASE=http://127.0.0.1:$API_PORT
  say "$1: PostgreSQL 127.0.0.1:$PG_PORT, Redis 127.0.0.1:$REDIS_PORT, API 127.0.0.1:$API_PORT, logs in $DIR"
  start_pg "$DIR/pg" "$PG_PORT" && start_redis "$DIR/redis" "$REDIS_PORT"
}

start_pg() { # DIR PORT
  mkdir -p "$1"
  [ "$AS_ROOT" = 1 ] && chown postgres:postgres "$1"
  chmod 700 "$1"
  timeout 60 "${AS_PG[@]}" "$PG_BIN/initdb" -D "$1" -U postgres --auth=trust -E UTF8 --no-locale >"$DIR/initdb.log" 2>&1 \
    || { say "initdb failed:"; tail -n 20 "$DIR/initdb.log"; return 1; }
  PG_DIRS+=("$1")
  timeout 60 "${AS_PG[@]}" "$PG_BIN/pg_ctl" start -w -t 30 -D "$1" -l "$1/server.log" \
    -o "-p $2 -c listen_addresses=127.0.0.1 -k $1 -c max_connections=100" >/dev/null 2>&1 \
    || { say "PostgreSQL did not start:"; tail -n 20 "$1/server.log"; return 1; }
}

redis_start_cmd() { # DIR PORT: the command line that starts the private Redis (also used to restart it)
  printf 'redis-server --bind 127.0.0.1 --port %q --save "" --appendonly no --daemonize yes --dir %q --pidfile %q --logfile %q' \
    "$2" "$1" "$1/redis.pid" "$1/redis.log"
}

start_redis() { # DIR PORT
  mkdir -p "$1"
  REDIS_DIRS+=("$1")
  bash -c "$(redis_start_cmd "$1" "$2")" || { say "redis-server failed"; return 1; }
  local _
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p "$2" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  say "Redis did not answer on port $2"; tail -n 20 "$1/redis.log"; return 1
}

# The API's environment: test profile (quiet logs), private servers, short timeouts. Other SHOP_*
# variables of the caller are dropped so that they cannot point the API elsewhere.
api_cmd() { # api_cmd [VAR=value...]: sets API_CMD, the binary with the scenario's configuration
  local unset=() v
  for v in $(compgen -e | grep '^SHOP_'); do unset+=(-u "$v"); done
  API_CMD=(env "${unset[@]}" -u OTEL_EXPORTER_OTLP_ENDPOINT
    SHOP_CONFIG="$DIR/none.toml" SHOP_PROFILE=test
    SHOP_SERVER__HOST=127.0.0.1 SHOP_SERVER__PORT="$API_PORT" SHOP_SERVER__WORKERS=2
    SHOP_SERVER__SHUTDOWN_TIMEOUT_SECS="$SHUTDOWN_TIMEOUT"
    SHOP_DATABASE__URL="postgres://postgres@127.0.0.1:$PG_PORT/shop" SHOP_DATABASE__CREATE_IF_MISSING=true
    SHOP_DATABASE__EMBEDDED=false SHOP_DATABASE__CONNECT_TIMEOUT_MS=1000 SHOP_DATABASE__ACQUIRE_TIMEOUT_MS=1000
    SHOP_REDIS__URL="redis://127.0.0.1:$REDIS_PORT" SHOP_REDIS__TIMEOUT_MS=100
    SHOP_SEED_PASSWORD="demo password 123" SHOP_AUTH__MAX_CONCURRENT_HASHES=4
    "$@" "$BIN")
}

prepare() { # seed the catalogue (creates the database and migrates) and create an admin
  api_cmd
  timeout 90 "${API_CMD[@]}" seed --products 200 --users 20 >"$DIR/seed.log" 2>&1 \
    || { say "seeding failed:"; tail -n 20 "$DIR/seed.log"; return 1; }
  sed 's/^/  /' "$DIR/seed.log"
  ADMIN_EMAIL=ops-admin@example.com ADMIN_PASSWORD="correct horse battery staple"
  api_cmd SHOP_ADMIN_PASSWORD="$ADMIN_PASSWORD"
  timeout 60 "${API_CMD[@]}" admin create --email "$ADMIN_EMAIL" >"$DIR/admin.log" 2>&1 \
    || { say "admin create failed:"; tail -n 20 "$DIR/admin.log"; return 1; }
}

start_api() { # [VAR=value...]: start the API in the background (API_PID) and wait until ready
  api_cmd "$@"
  "${API_CMD[@]}" serve >"$DIR/api.log" 2>&1 &
  API_PID=$!
  API_PIDS+=("$API_PID")
  timeout 40 python3 "$HERE/driver.py" wait-ready "$BASE" 30 || { say "API not ready:"; tail -n 20 "$DIR/api.log"; return 1; }
}

show_logs() {
  echo "  --- last lines of the API log ($DIR/api.log) ---"
  tail -n 15 "$DIR/api.log" 2>/dev/null | cut -c1-400 | sed 's/^/  | /'
  echo "  --- last lines of the PostgreSQL log ---"
  tail -n 8 "$DIR/pg/server.log" 2>/dev/null | cut -c1-300 | sed 's/^/  | /'
}

# --- scenarios -----------------------------------------------------------------------------------
scenario_redis() {
  new_stack redis && prepare || return 1
  start_api SHOP_RATE_LIMIT__ENABLED=true SHOP_RATE_LIMIT__DEFAULT_PER_IP='{limit=1000000,period_secs=60}' \
    SHOP_RATE_LIMIT__DEFAULT_PER_USER='{limit=1000000,period_secs=60}' || return 1
  timeout 60 python3 "$HERE/driver.py" redis --base "$BASE" --duration 10 --threads 4 --stop-at 3 --start-at 6.5 \
    --stop-cmd "redis-cli -h 127.0.0.1 -p $REDIS_PORT shutdown nosave; for i in \$(seq 50); do redis-cli -h 127.0.0.1 -p $REDIS_PORT ping >/dev/null 2>&1 || exit 0; sleep 0.1; done; exit 1" \
    --start-cmd "$(redis_start_cmd "$DIR/redis" "$REDIS_PORT")" --recovery-bound 10
}

scenario_postgres() {
  new_stack postgres && prepare || return 1
  # A claim whose commit the restart cut off is retried after its lease: 10 s (not the default 60)
  # so the check below, that every event is delivered after the restart, sees that path finish.
  start_api SHOP_OUTBOX__LEASE_SECS=10 || return 1
  timeout 60 python3 "$HERE/driver.py" setup-shop --base "$BASE" --admin-email "$ADMIN_EMAIL" \
    --admin-password "$ADMIN_PASSWORD" --customers 6 --stock 100000 --out "$DIR/shop.json" || return 1
  local restart
  if [ "$AS_ROOT" = 1 ]; then restart="runuser -u postgres -- "; else restart=""; fi
  restart+="$PG_BIN/pg_ctl restart -m fast -w -t 30 -D $DIR/pg -l $DIR/pg/server.log >/dev/null"
  timeout 90 python3 "$HERE/driver.py" postgres --base "$BASE" --state "$DIR/shop.json" --duration 12 \
    --restart-at 4 --restart-cmd "$restart" --get-threads 2 --drain 5 --request-timeout 10 \
    --psql "$PSQL -h 127.0.0.1 -p $PG_PORT -U postgres -d shop -At -v ON_ERROR_STOP=1"
  local rc=$?
  # The API must still be the same process: it recovered without a restart.
  if ! alive "$API_PID"; then echo "  FAIL: the API process died"; rc=1; fi
  return $rc
}

scenario_sigterm() {
  new_stack sigterm && prepare || return 1
  # The production profile, as deployed: the test profile disables actix's signal handling (the
  # test harness runs servers in-process), so a test-profile binary dies on SIGTERM at once.
  start_api SHOP_PROFILE=production SHOP_AUTH__JWT_SECRET="fault-suite-jwt-secret-$(date +%s%N)-0123456789" \
    SHOP_PAYMENTS__WEBHOOK_SECRET="fault-suite-webhook-secret-$(date +%s%N)-0123456789" \
    SHOP_AUTH__LOGIN_PER_IP='{limit=100000,period_secs=60}' SHOP_RATE_LIMIT__AUTH_PER_IP='{limit=100000,period_secs=60}' \
    SHOP_RATE_LIMIT__DEFAULT_PER_IP='{limit=1000000,period_secs=60}' SHOP_TELEMETRY__LOG_FILTER=warn,actix_server=info || return 1
  local rc=0 code
  timeout 60 python3 "$HERE/driver.py" sigterm --base "$BASE" --pid "$API_PID" --logins 40 --listings 20 \
    --users 20 --password "demo password 123" --shutdown-timeout "$SHUTDOWN_TIMEOUT" || rc=1
  if alive "$API_PID"; then
    echo "  FAIL: the API is still running; killing it"
    kill -KILL "$API_PID" 2>/dev/null
    rc=1
  fi
  wait "$API_PID"
  code=$?
  # actix-server's own account of the shutdown (per worker: idle, or finishing N connections).
  grep -o '"message":"[^"]*\(worker\|shutdown\|SIGTERM\|stopped\)[^"]*"' "$DIR/api.log" | cut -d'"' -f4 | sed 's/^/  server log: /'
  echo "  exit status: $code"
  if [ "$code" != 0 ]; then
    [ "$code" -gt 128 ] && echo "  (killed by signal $((code - 128)): the API did not handle SIGTERM itself)"
    echo "  FAIL: the API exited with status $code after SIGTERM (want 0)"
    rc=1
  fi
  return $rc
}

# --- run -----------------------------------------------------------------------------------------
for s in $SCENARIOS; do
  if ! declare -F "scenario_$s" >/dev/null; then say "unknown scenario $s"; FAILED=$((FAILED + 1)); continue; fi
  if [ "$(left)" -lt 30 ]; then say "$s: skipped, not enough time left"; FAILED=$((FAILED + 1)); continue; fi
  echo
  say "=== scenario $s ==="
  t=$SECONDS
  "scenario_$s"
  rc=$?
  [ "$rc" != 0 ] && show_logs
  teardown
  if [ "$rc" = 0 ]; then
    PASSED=$((PASSED + 1)); RESULTS+=("$s: PASS ($((SECONDS - t)) s)")
  else
    FAILED=$((FAILED + 1)); RESULTS+=("$s: FAIL ($((SECONDS - t)) s)")
  fi
  say "scenario $s: ${RESULTS[-1]#*: }"
done
echo
for r in "${RESULTS[@]}"; do say "$r"; done
say "total $((SECONDS - SUITE_START)) s"
say "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
