#!/usr/bin/env bash
# Scale-out proof, without Docker, everything on 127.0.0.1 under a temp directory:
#   a private PostgreSQL primary + a streaming hot-standby replica (pg_basebackup -R, slot replica1),
#   three shop-api instances (primary + replica, one Redis key prefix, rate limiter on), and nginx
#   with the repository's deploy/nginx/nginx.conf + locations.conf and an upstream list of the three.
# Then it shows, printing the figures:
#   (a) GET load through nginx spreads over every instance (per-instance counts from /metrics);
#   (b) SIGKILL of one instance in the middle of a GET load: no failed request (nginx retries);
#   (c) anonymous catalog listings are served by the replica (replica read counters, hit share),
#       signed-in ones by the primary; with the replica stopped under load they fall back to it;
#   (d) a checkout on instance 1 is visible on instances 2 and 3;
#   (e) the per-IP rate limit is shared through Redis: the (limit+1)-th request through nginx,
#       round robin over the instances, is answered 429;
#   and a pg_dump -Fc / pg_restore round trip of the private primary (row counts compared).
#
#   deploy/scaleout.sh              # uses the tools that are installed
#   INSTALL=1 deploy/scaleout.sh    # as root: apt-get installs nginx / PostgreSQL / python3 first
#   KEEP=1 deploy/scaleout.sh       # keep the temp directory (logs, dump) after the run
#   REPLICA_STOP_STRICT=1 ...       # 500s while the replica shuts down under load fail the run
#
# Needs: nginx, PostgreSQL server binaries (/usr/lib/postgresql/*/bin), python3, a Redis at
# SCALEOUT_REDIS_URL (default redis://127.0.0.1:6379; only keys under a unique prefix are used and
# deleted at the end; without one, a private redis-server is started when installed), and the
# debug binary target/debug/shop-api (built with `cargo build -p shop-api` when missing or older
# than the sources; CARGO_TARGET_DIR is honoured). As root, PostgreSQL runs as the postgres user.
#
# Prints "ok: ..." / "FAIL: ..." per check with its figures, then "scale-out: N passed, M failed";
# exits non-zero if any check failed. Everything it started is stopped (by pid) on exit, whatever
# the exit path; the whole run is bounded by SCALEOUT_TIMEOUT seconds (default 300, build excluded).
set -uo pipefail

DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$DEPLOY/.." && pwd)
INSTALL=${INSTALL:-0}
KEEP=${KEEP:-0}
PYTHON=${PYTHON:-python3}
PROBE="$DEPLOY/scaleout/probe.py"
SCALEOUT_TIMEOUT=${SCALEOUT_TIMEOUT:-300}
REDIS_URL=${SCALEOUT_REDIS_URL:-redis://127.0.0.1:6379}
RATE_LIMIT=30                 # per client IP per day, on every instance (step e)
SEED_PRODUCTS=200
SEED_USERS=10
# 1: answers other than 200 while the replica shuts down under load fail step (c) (default: a
# known API issue, printed and listed in the summary; see docs/operations.md).
REPLICA_STOP_STRICT=${REPLICA_STOP_STRICT:-0}

# The instances must see only what this script sets.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SHOP_|OTEL_)')

passed=0
failed=0
known=()
ok()   { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
info() { echo "    $*"; }
have() { command -v "$1" >/dev/null 2>&1; }
now()  { date +%s.%N; }
since() { "$PYTHON" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shop-scaleout.XXXXXX")
chmod 0755 "$WORK"
PGW="$WORK/pg"
NGX="$WORK/nginx"
REDIS_PREFIX="shop-scaleout-$(date +%s)-$$-$RANDOM:"
API_PIDS=()
API_PORTS=()
NGINX_PID=
REDIS_PID=
PG_STARTED=()
WATCHDOG=
AS_PG=()

cleanup() {
  local rc=$? pid i dir
  trap - EXIT INT TERM
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
  if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -TERM "$NGINX_PID" 2>/dev/null
    for i in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NGINX_PID" 2>/dev/null
    wait "$NGINX_PID" 2>/dev/null
  fi
  for pid in "${API_PIDS[@]}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${API_PIDS[@]}"; do
    [ -n "$pid" ] || continue
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # replica first, then the primary
  for ((i = ${#PG_STARTED[@]} - 1; i >= 0; i--)); do
    dir=${PG_STARTED[$i]}
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" stop -D "$dir" -m fast -w -t 20 >/dev/null 2>&1 \
      || "${AS_PG[@]}" "$PG_BIN/pg_ctl" stop -D "$dir" -m immediate -w >/dev/null 2>&1
  done
  if [ -n "$REDIS_PID" ]; then
    kill -TERM "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null
  elif [ -n "${REDIS_OK:-}" ]; then
    "$PYTHON" "$PROBE" redis "$REDIS_URL" "$REDIS_PREFIX" purge >/dev/null 2>&1
  fi
  if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "scale-out: interrupted"; exit 130' INT
trap 'echo "scale-out: stopped (timeout after ${SCALEOUT_TIMEOUT}s or SIGTERM)"; exit 124' TERM

# port_free PORT: nothing listens on 127.0.0.1:PORT (SO_REUSEADDR, like the servers: connections of
# an earlier run in TIME_WAIT do not count).
port_free() { "$PYTHON" -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' "$1" 2>/dev/null; }
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
pick_port() { if port_free "$1"; then echo "$1"; else free_port; fi; }
# show_log FILE: its last lines, indented (after a failure).
show_log() { [ -f "$1" ] && { info "--- $(basename "$1") (last lines)"; tail -n "${2:-15}" "$1" | sed 's/^/      /'; }; }

# ---------------------------------------------------------------------------------------- tools
PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n1)
[ -z "$PG_BIN" ] && have initdb && PG_BIN=$(dirname "$(command -v initdb)")
apt_missing=()
have nginx || apt_missing+=(nginx)
{ [ -n "$PG_BIN" ] && [ -x "$PG_BIN/pg_basebackup" ]; } || apt_missing+=(postgresql)
have "$PYTHON" || apt_missing+=(python3)
if [ "${#apt_missing[@]}" -gt 0 ]; then
  if [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && have apt-get; then
    echo "installing: ${apt_missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"; } \
      >"$WORK/apt.log" 2>&1 || { fail "apt-get install ${apt_missing[*]}"; show_log "$WORK/apt.log"; }
    PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n1)
  fi
fi
missing=()
have nginx || missing+=(nginx)
{ [ -n "$PG_BIN" ] && [ -x "$PG_BIN/pg_basebackup" ]; } || missing+=("PostgreSQL server binaries")
have "$PYTHON" || missing+=(python3)
if [ "$(id -u)" = 0 ]; then
  have runuser || missing+=(runuser)
  id postgres >/dev/null 2>&1 || missing+=("the postgres OS user (PostgreSQL refuses to run as root)")
  AS_PG=(runuser -u postgres --)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  fail "tools installed: missing ${missing[*]} (Debian: apt-get install nginx postgresql python3; or run as root with INSTALL=1)"
  echo "scale-out: $passed passed, $failed failed"
  exit 1
fi

# ---------------------------------------------------------------------------------------- binary
case "${CARGO_TARGET_DIR:-}" in
  "") TARGET="$ROOT/target" ;;
  /*) TARGET=$CARGO_TARGET_DIR ;;
  *) TARGET="$ROOT/$CARGO_TARGET_DIR" ;;
esac
BIN="$TARGET/debug/shop-api"
stale=
if [ ! -x "$BIN" ]; then
  stale="missing"
  why="is missing"
else
  stale=$(find "$ROOT/apps" "$ROOT/crates" "$ROOT/migrations" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" \
    -newer "$BIN" -type f \( -name '*.rs' -o -name '*.sql' -o -name '*.toml' -o -name '*.lock' -o -name '*.txt' \) \
    -not -path '*/tests/*' -not -path '*/benches/*' -print -quit 2>/dev/null)
  why="is older than ${stale#"$ROOT"/}"
fi
if [ -n "$stale" ]; then
  echo "building shop-api (debug): $BIN $why"
  if ! (cd "$ROOT" && cargo build -q -p shop-api) >"$WORK/build.log" 2>&1; then
    fail "cargo build -p shop-api"; show_log "$WORK/build.log" 40
    echo "scale-out: $passed passed, $failed failed"; exit 1
  fi
fi
[ -x "$BIN" ] || { fail "no binary at $BIN"; echo "scale-out: $passed passed, $failed failed"; exit 1; }

# The time budget starts now (a build above is not counted).
( trap 'kill "$s" 2>/dev/null; exit 0' TERM; sleep "$SCALEOUT_TIMEOUT" & s=$!; wait "$s" && kill -TERM $$ 2>/dev/null ) &
WATCHDOG=$!
T0=$(now)
cd "$WORK" || exit 1
echo "scale-out: work dir $WORK, $("$BIN" --version 2>/dev/null), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), $(nginx -v 2>&1 | sed 's/^nginx version: //'), $("$PYTHON" --version 2>&1)"

# ------------------------------------------------------------------------------------ PostgreSQL
P1=$(pick_port 55432)
P2=$(pick_port 55433)
[ "$P2" = "$P1" ] && P2=$(free_port)
PRIMARY_URL="postgres://postgres@127.0.0.1:$P1/shop"
REPLICA_URL="postgres://postgres@127.0.0.1:$P2/shop"
psql_at() { local port=$1; shift; "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"; }
PG_OPTS="-c listen_addresses=127.0.0.1 -k $PGW -c wal_level=replica -c max_wal_senders=5 -c max_replication_slots=5 -c max_connections=200 -c hot_standby=on -c fsync=off"

start_postgres() {
  local t
  t=$(now)
  mkdir -p "$PGW"
  [ "$(id -u)" = 0 ] && chown postgres: "$PGW"
  "${AS_PG[@]}" "$PG_BIN/initdb" -D "$PGW/primary" -U postgres --auth=trust -E UTF8 --no-locale >"$PGW/initdb.log" 2>&1 \
    || { show_log "$PGW/initdb.log"; return 1; }
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" start -w -t 30 -D "$PGW/primary" -l "$PGW/primary.log" -o "-p $P1 $PG_OPTS -c cluster_name=primary" >/dev/null 2>&1 \
    || { show_log "$PGW/primary.log"; return 1; }
  PG_STARTED+=("$PGW/primary")
  psql_at "$P1" -d postgres -c "CREATE ROLE replicator WITH REPLICATION LOGIN" \
    -c "SELECT pg_create_physical_replication_slot('replica1')" -c "CREATE DATABASE shop" >/dev/null || return 1
  # The replica: a base backup over the slot, -R writes standby.signal and primary_conninfo.
  "${AS_PG[@]}" "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$P1" -U replicator -D "$PGW/replica" -R -X stream -S replica1 \
    --checkpoint=fast >"$PGW/basebackup.log" 2>&1 || { show_log "$PGW/basebackup.log"; return 1; }
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" start -w -t 30 -D "$PGW/replica" -l "$PGW/replica.log" -o "-p $P2 $PG_OPTS -c cluster_name=replica1" >/dev/null 2>&1 \
    || { show_log "$PGW/replica.log"; return 1; }
  PG_STARTED+=("$PGW/replica")
  local state="" i
  for i in $(seq 1 150); do
    state=$(psql_at "$P1" -d postgres -tAc "SELECT state FROM pg_stat_replication WHERE application_name = 'replica1'" 2>/dev/null)
    [ "$state" = streaming ] && break
    sleep 0.1
  done
  [ "$state" = streaming ] || { info "pg_stat_replication state: '$state'"; show_log "$PGW/replica.log"; return 1; }
  info "primary 127.0.0.1:$P1 (wal_level=replica, role replicator, slot replica1), replica 127.0.0.1:$P2 (hot standby, in recovery: $(psql_at "$P2" -d shop -tAc 'SELECT pg_is_in_recovery()'))"
  info "pg_stat_replication: $(psql_at "$P1" -d postgres -tAc "SELECT application_name || ' ' || state || ', sync ' || sync_state FROM pg_stat_replication"); slot: $(psql_at "$P1" -d postgres -tAc "SELECT slot_name || ' active=' || active FROM pg_replication_slots")"
  info "up in $(since "$t") s"
}
if start_postgres; then
  ok "PostgreSQL primary + streaming replica"
else
  fail "PostgreSQL primary + streaming replica"
  echo "scale-out: $passed passed, $failed failed"; exit 1
fi

# ----------------------------------------------------------------------------------------- Redis
if "$PYTHON" "$PROBE" redis "$REDIS_URL" "$REDIS_PREFIX" ping; then
  REDIS_OK=1
  info "Redis $REDIS_URL, key prefix $REDIS_PREFIX"
elif have redis-server; then
  rport=$(free_port)
  redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  REDIS_URL="redis://127.0.0.1:$rport"
  for _ in $(seq 1 50); do "$PYTHON" "$PROBE" redis "$REDIS_URL" x ping && break; sleep 0.1; done
  REDIS_OK=1
  info "no Redis at ${SCALEOUT_REDIS_URL:-redis://127.0.0.1:6379}: started a private one at $REDIS_URL"
else
  fail "Redis: nothing answers at $REDIS_URL and redis-server is not installed (Debian: redis-server)"
fi

# ------------------------------------------------------------------------------- API instances
export SHOP_PROFILE=test
export SHOP_CONFIG="$WORK/no-shop.toml"
export SHOP_SERVER__HOST=127.0.0.1
export SHOP_SERVER__TRUSTED_PROXIES='["127.0.0.1"]'
export SHOP_DATABASE__URL="$PRIMARY_URL"
export SHOP_DATABASE__REPLICA_URLS="[\"$REPLICA_URL\"]"
export SHOP_DATABASE__CREATE_IF_MISSING=true
export SHOP_DATABASE__EMBEDDED=false
export SHOP_DATABASE__POOL_SIZE=8
export SHOP_REDIS__URL="$REDIS_URL"
export SHOP_REDIS__KEY_PREFIX="$REDIS_PREFIX"
export SHOP_RATE_LIMIT__ENABLED=true
export SHOP_RATE_LIMIT__DEFAULT_PER_IP="{limit=$RATE_LIMIT,period_secs=86400}"
# 1 s instead of 250 ms: on a busy 2-core CI machine a debug build can miss 250 ms, and the limiter
# would then count in process for a second, which is not what step (e) is about.
export SHOP_REDIS__TIMEOUT_MS=1000
export SHOP_TELEMETRY__LOG_FILTER=warn
# Step (c) proves where listing reads go (replica, then the primary while the replica is down);
# cached pages would answer its repeated listings without reading PostgreSQL at all, and so would
# the search index (its freshness across instances is proven in apps/api/tests/api/search.rs).
export SHOP_CATALOG__LISTING_CACHE_TTL_SECS=0
export SHOP_CATALOG__SEARCH_INDEX=false

start_instance() { # N (1-based): starts instance N on API_PORTS[N-1]
  local n=$1
  SHOP_SERVER__PORT=${API_PORTS[$((n - 1))]} "$BIN" serve >>"$WORK/api$n.log" 2>&1 &
  API_PIDS[n - 1]=$!
}
url_of() { echo "http://127.0.0.1:${API_PORTS[$(($1 - 1))]}"; }

t=$(now)
for n in 1 2 3; do API_PORTS+=("$(free_port)"); done
for n in 1 2 3; do start_instance "$n"; done   # together: migrations serialise on an advisory lock
started=1
for n in 1 2 3; do
  if ! "$PYTHON" "$PROBE" wait-ready "$(url_of "$n")" 60; then
    started=0; show_log "$WORK/api$n.log"
  fi
done
INSTANCES="$(url_of 1),$(url_of 2),$(url_of 3)"
if [ "$started" = 1 ]; then
  ok "three shop-api instances ready (started together on an empty database): ${INSTANCES//,/ }"
  info "pids ${API_PIDS[*]}; replica $REPLICA_URL; rate limit $RATE_LIMIT per IP per day; ready in $(since "$t") s"
  info "migrations applied: $(psql_at "$P1" -d shop -tAc "SELECT count(*) FROM __diesel_schema_migrations" 2>/dev/null || echo '?')"
else
  fail "three shop-api instances ready"
  echo "scale-out: $passed passed, $failed failed"; exit 1
fi

# ----------------------------------------------------------------------------------------- nginx
NGINX_PORT=$(free_port)
mkdir -p "$NGX/tmp"
cp "$DEPLOY/nginx/nginx.conf" "$DEPLOY/nginx/locations.conf" "$NGX/"
cat >"$NGX/upstreams.conf" <<EOF
# deploy/scaleout.sh: the three local shop-api instances, with the options of deploy/nginx/upstreams.conf.
upstream shop_api {
    zone shop_api 64k;
    server 127.0.0.1:${API_PORTS[0]} max_fails=3 fail_timeout=10s;
    server 127.0.0.1:${API_PORTS[1]} max_fails=3 fail_timeout=10s;
    server 127.0.0.1:${API_PORTS[2]} max_fails=3 fail_timeout=10s;
    keepalive 32;
    keepalive_timeout 4s;
    keepalive_requests 1000;
}
EOF
# Same rewrite as deploy/check.sh: port 80 -> 127.0.0.1:PORT, temp paths under the prefix.
sed -i "s|listen 80 default_server;|listen 127.0.0.1:$NGINX_PORT default_server;|" "$NGX/nginx.conf"
sed -i "s|^http {|http {\n    client_body_temp_path $NGX/tmp/body;\n    proxy_temp_path $NGX/tmp/proxy;\n    fastcgi_temp_path $NGX/tmp/fastcgi;\n    uwsgi_temp_path $NGX/tmp/uwsgi;\n    scgi_temp_path $NGX/tmp/scgi;|" "$NGX/nginx.conf"
NGINX="http://127.0.0.1:$NGINX_PORT"
start_nginx() {
  grep -q "listen 127.0.0.1:$NGINX_PORT default_server;" "$NGX/nginx.conf" || { info "nginx.conf has no 'listen 80 default_server;'"; return 1; }
  nginx -t -q -p "$NGX/" -c "$NGX/nginx.conf" -g "pid $NGX/nginx.pid;" >"$NGX/t.log" 2>&1 || { show_log "$NGX/t.log"; return 1; }
  nginx -p "$NGX/" -c "$NGX/nginx.conf" -g "daemon off; pid $NGX/nginx.pid;" >"$NGX/access.log" 2>"$NGX/error.log" &
  NGINX_PID=$!
  local i
  for i in $(seq 1 100); do
    "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$NGINX/nginx-health" 2>/dev/null && return 0
    sleep 0.1
  done
  show_log "$NGX/error.log"; return 1
}
if start_nginx; then
  ok "nginx ($NGINX) with deploy/nginx/nginx.conf + locations.conf, upstream list of the three instances"
else
  fail "nginx in front of the instances"
  echo "scale-out: $passed passed, $failed failed"; exit 1
fi

# ------------------------------------------------------------------------------------ seed data
seed() {
  local t lsn i caught=f
  t=$(now)
  "$BIN" seed --products "$SEED_PRODUCTS" --users "$SEED_USERS" >"$WORK/seed.log" 2>&1 || { show_log "$WORK/seed.log"; return 1; }
  info "$(grep -m1 '^seeded' "$WORK/seed.log") (against the primary)"
  t=$(now)
  lsn=$(psql_at "$P1" -d shop -tAc "SELECT pg_current_wal_lsn()")
  for i in $(seq 1 300); do
    caught=$(psql_at "$P2" -d shop -tAc "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 2>/dev/null)
    [ "$caught" = t ] && break
    sleep 0.1
  done
  [ "$caught" = t ] || { info "replica did not replay up to $lsn within 30 s"; return 1; }
  local pp rp
  pp=$(psql_at "$P1" -d shop -tAc "SELECT count(*) FROM products")
  rp=$(psql_at "$P2" -d shop -tAc "SELECT count(*) FROM products")
  info "replica replayed up to $lsn after $(since "$t") s: products on the primary $pp, on the replica $rp"
  [ "$pp" = "$rp" ] && [ "$pp" -ge "$SEED_PRODUCTS" ]
}
if seed; then ok "seeded ($SEED_PRODUCTS products, $SEED_USERS users) and the replica caught up"; else fail "seed + replica catch-up"; fi

# (a) ------------------------------------------------------------------------ load spread
if "$PYTHON" "$PROBE" spread --nginx "$NGINX" --instances "$INSTANCES" --n 300 --concurrency 6 --xff-net 198.51.100 --max-seconds 60; then
  ok "(a) load spread: 300 GETs through nginx (listings, categories, product detail), every instance served a share"
else
  fail "(a) load spread over all instances"
fi

# (b) ------------------------------------------------------------ an instance killed under load
disown "${API_PIDS[2]}"   # bash would report "Killed" for it; it is reaped all the same
if "$PYTHON" "$PROBE" failover --nginx "$NGINX" --instances "$INSTANCES" --n 900 --concurrency 8 --xff-net 198.51.101 \
  --max-seconds 90 --access-log "$NGX/access.log" --error-log "$NGX/error.log" --kill-pid "${API_PIDS[2]}" --kill-at 450 --victim 3; then
  ok "(b) instance 3 SIGKILLed in the middle of 900 GETs through nginx: 0 failed requests"
else
  fail "(b) instance killed under load: failed requests seen by the client"
fi
for _ in $(seq 1 50); do kill -0 "${API_PIDS[2]}" 2>/dev/null || break; sleep 0.1; done
# Bring it back for the remaining steps (same port; nginx takes it back after fail_timeout).
t=$(now)
start_instance 3
if "$PYTHON" "$PROBE" wait-ready "$(url_of 3)" 60; then
  info "instance 3 restarted (pid ${API_PIDS[2]}), ready in $(since "$t") s"
else
  fail "instance 3 restarted after the kill"; show_log "$WORK/api3.log"
fi

# nginx skipped the dead instance for fail_timeout (10 s); wait until it routes to it again, so the
# next steps spread over all three.
t=$(now)
back=0
before=$("$PYTHON" "$PROBE" api-count "$(url_of 3)")
for _ in $(seq 1 100); do
  "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={"X-Forwarded-For": "198.51.105.1"}), timeout=5)' "$NGINX/api/v1/categories" 2>/dev/null
  [ "$("$PYTHON" "$PROBE" api-count "$(url_of 3)")" -gt "$before" ] && { back=1; break; }
  sleep 0.25
done
if [ "$back" = 1 ]; then
  info "nginx routes to instance 3 again $(since "$t") s after its restart (passive health check, fail_timeout=10s)"
else
  info "nginx has not routed to instance 3 again within $(since "$t") s"
fi

# (c) ------------------------------------------------------------------ replica serves catalog reads
if "$PYTHON" "$PROBE" replica --nginx "$NGINX" --instances "$INSTANCES" --n 120 --concurrency 4 --xff-net 198.51.102 --max-seconds 60; then
  ok "(c) anonymous catalog listings through nginx are served by the read replica"
else
  fail "(c) replica reads"
fi

# The replica stopped in the middle of listing load: lag-tolerant reads fall back to the primary.
# Then it is started again (it resumes streaming from its slot).
strict=()
[ "$REPLICA_STOP_STRICT" = 1 ] && strict=(--strict)
"$PYTHON" "$PROBE" fallback --nginx "$NGINX" --instances "$INSTANCES" --n 600 --concurrency 6 --xff-net 198.51.104 \
  --max-seconds 60 --access-log "$NGX/access.log" --stop-at 200 "${strict[@]}" \
  --stop-cmd "${AS_PG[*]} $PG_BIN/pg_ctl stop -D $PGW/replica -m fast -w -t 20"
case $? in
  0) ok "(c) replica stopped under load: anonymous listings through nginx all answered 200, then from the primary" ;;
  3) ok "(c) replica down: anonymous listings through nginx answered 200 from the primary (known issue above: 500s during its shutdown)"
     known+=("500 on anonymous listings whose query ran on the replica while it shut down") ;;
  *) fail "(c) replica down: fallback to the primary" ;;
esac
t=$(now)
"${AS_PG[@]}" "$PG_BIN/pg_ctl" start -w -t 30 -D "$PGW/replica" -l "$PGW/replica.log" -o "-p $P2 $PG_OPTS -c cluster_name=replica1" >/dev/null 2>&1
state=
for _ in $(seq 1 150); do
  state=$(psql_at "$P1" -d postgres -tAc "SELECT state FROM pg_stat_replication WHERE application_name = 'replica1'" 2>/dev/null)
  [ "$state" = streaming ] && break
  sleep 0.1
done
if [ "$state" = streaming ]; then
  info "replica started again: streaming after $(since "$t") s"
else
  fail "replica restarted and streaming"; show_log "$PGW/replica.log"
fi

# (d) ---------------------------------------------------- checkout on one instance, seen on the others
ADMIN_EMAIL="ops-$RANDOM@scaleout.example.com"
ADMIN_PASSWORD="scale-out admin $RANDOM$RANDOM"
if SHOP_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$BIN" admin create --email "$ADMIN_EMAIL" >"$WORK/admin.log" 2>&1; then
  info "$(tail -n1 "$WORK/admin.log") (shop-api admin create)"
  if "$PYTHON" "$PROBE" checkout --nginx "$NGINX" --instances "$INSTANCES" --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD" --xff-net 198.51.103; then
    ok "(d) checkout on instance 1 (its own port), the order read back on instances 2 and 3"
  else
    fail "(d) checkout on one instance visible on the others"
  fi
else
  fail "(d) shop-api admin create"; show_log "$WORK/admin.log"
fi

# (e) ------------------------------------------------------------------- rate limit shared in Redis
if "$PYTHON" "$PROBE" ratelimit --nginx "$NGINX" --instances "$INSTANCES" --limit "$RATE_LIMIT" --ip 203.0.113.77 \
  --access-log "$NGX/access.log" --redis-url "$REDIS_URL" --redis-prefix "$REDIS_PREFIX"; then
  ok "(e) per-IP limit $RATE_LIMIT shared across instances through Redis: request #$((RATE_LIMIT + 1)) through nginx got 429"
else
  fail "(e) rate limit shared across instances"
fi

# ------------------------------------------------------------------------------ backup / restore
backup() {
  local t dump="$WORK/backup/shop.dump" tables tbl a b mismatch=0 line=""
  mkdir -p "$WORK/backup"
  t=$(now)
  "$PG_BIN/pg_dump" -h 127.0.0.1 -p "$P1" -U postgres -d shop --format=custom --compress=6 -f "$dump" 2>"$WORK/backup/dump.log" \
    || { show_log "$WORK/backup/dump.log"; return 1; }
  info "pg_dump -Fc: $(du -h "$dump" | cut -f1) in $(since "$t") s, $("$PG_BIN/pg_restore" --list "$dump" | grep -c 'TABLE DATA') tables"
  t=$(now)
  psql_at "$P1" -d postgres -c "CREATE DATABASE shop_restore" >/dev/null || return 1
  "$PG_BIN/pg_restore" -h 127.0.0.1 -p "$P1" -U postgres -d shop_restore --no-owner --exit-on-error --single-transaction "$dump" \
    2>"$WORK/backup/restore.log" || { show_log "$WORK/backup/restore.log"; return 1; }
  info "pg_restore into shop_restore in $(since "$t") s"
  tables=$(psql_at "$P1" -d shop -tAc "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
  for tbl in $tables; do
    a=$(psql_at "$P1" -d shop -tAc "SELECT count(*) FROM \"$tbl\"")
    b=$(psql_at "$P1" -d shop_restore -tAc "SELECT count(*) FROM \"$tbl\"")
    case "$tbl" in
      products|orders|variants|order_lines|users|categories|reviews) line+="$tbl $a/$b, " ;;
    esac
    [ "$a" = "$b" ] || { info "row count differs: $tbl shop=$a shop_restore=$b"; mismatch=1; }
  done
  info "rows shop/shop_restore: ${line%, } ($(echo "$tables" | wc -w) tables compared)"
  [ "$(psql_at "$P1" -d shop_restore -tAc 'SELECT count(*) FROM products')" -ge "$SEED_PRODUCTS" ] || mismatch=1
  [ "$(psql_at "$P1" -d shop_restore -tAc 'SELECT count(*) FROM orders')" -ge 1 ] || mismatch=1
  return "$mismatch"
}
if backup; then
  ok "backup: pg_dump -Fc of the primary restored with pg_restore into a fresh database, row counts match"
else
  fail "backup / restore round trip"
fi

# ------------------------------------------------------------------------------------- summary
for n in 1 2 3; do
  if [ -n "${API_PIDS[$((n - 1))]}" ] && ! kill -0 "${API_PIDS[$((n - 1))]}" 2>/dev/null; then
    fail "instance $n exited on its own"; show_log "$WORK/api$n.log"
  fi
done
# What the instances logged (warn and above), by message.
sed 's/\x1b\[[0-9;]*m//g' "$WORK"/api*.log 2>/dev/null | grep -E '^[0-9TZ:.-]+ +(WARN|ERROR) |panicked' \
  | sed -E 's/^[0-9TZ:.-]+ +//; s/ error=.*//' | cut -c1-140 | sort | uniq -c | sort -rn | sed 's/^ */    API log: /'
errs=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK"/api*.log 2>/dev/null | grep -cE '^[0-9TZ:.-]+ +ERROR |panicked')
info "API log lines at ERROR level or panics: $errs"
[ -n "${REDIS_OK:-}" ] && [ -z "$REDIS_PID" ] && "$PYTHON" "$PROBE" redis "$REDIS_URL" "$REDIS_PREFIX" purge
if [ "$failed" -gt 0 ]; then
  for n in 1 2 3; do show_log "$WORK/api$n.log" 10; done
  show_log "$NGX/error.log" 10
fi
for k in "${known[@]}"; do echo "known API issue: $k"; done
echo "scale-out: $passed passed, $failed failed ($(since "$T0") s)"
[ "$failed" -eq 0 ]
