#!/usr/bin/env bash
# Load benchmark of the shop API (issue 9). What it measures and the last figures:
# docs/performance.md.
#
#   benches/run.sh            full run: release build, 100,000 products and 10,000 users in the
#                             database `shop_bench` (seeded afresh by every run), 10 s per
#                             scenario; prints the table and writes it into docs/performance.md
#   benches/run.sh --quick    smoke run (CI): the debug binary, 2,000 products in a throw-away
#                             database, 2 s per scenario; fails when any scenario has an error
#                             (a non-2xx answer or a failed connection); never judges timings;
#                             writes nothing
#
# Options: --duration SECS (per scenario), --no-write (full run: do not touch the docs),
#          -h/--help.
# Environment: PGHOST/PGPORT/PGUSER (default 127.0.0.1/5432/postgres), REDIS_URL (default
# redis://127.0.0.1:6379), BENCH_DB, BENCH_PRODUCTS, BENCH_USERS, BENCH_CONCURRENCY (32),
# BENCH_LOGIN_CONCURRENCY (4), BENCH_PORT (first port tried, 18480), BENCH_CART_USERS (shoppers
# of the checkout scenario: 128, quick 48), BENCH_CART_LINES (variants per cart, 3),
# BENCH_CART_VARIANTS (variants carts are filled from, 5000), BENCH_SCENARIOS (a subset of
# SCENARIOS below, e.g. "live commerce", for trying one out), CARGO_TARGET_DIR.
#
# The load comes from separate processes on the same machine: `oha` for HTTP (installed with
# `cargo install oha --locked` when missing), benches/commerce.py (Python 3 standard library) for
# add-to-cart and checkout, which need a token per shopper and a key per checkout, and `pgbench`
# for the PostgreSQL baselines, whose scripts are in benches/sql/. Everything started here is
# stopped on exit, whatever happens.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
COMMAND="benches/run.sh${*:+ $*}"

# ---- options ------------------------------------------------------------------------------------
QUICK=0
WRITE=1
DURATION=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-write) WRITE=0 ;;
    --duration) DURATION=${2:?--duration needs seconds}; shift ;;
    --duration=*) DURATION=${1#*=} ;;
    -h | --help) sed -n '2,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
CONC=${BENCH_CONCURRENCY:-32}
LOGIN_CONC=${BENCH_LOGIN_CONCURRENCY:-4}
DETAIL_URLS=1000 # distinct products the detail scenarios spread over
COMMERCE_LINES=${BENCH_CART_LINES:-3}      # different variants in each checked-out cart
COMMERCE_VARIANTS=${BENCH_CART_VARIANTS:-5000} # the variants carts are filled from
if [ "$QUICK" = 1 ]; then
  MODE=quick
  PRODUCTS=${BENCH_PRODUCTS:-2000}
  USERS=${BENCH_USERS:-200}
  DURATION=${DURATION:-2}
  DB=${BENCH_DB:-shop_bench_quick_$$}
  DROP_DB=1 # a throw-away database
  COMMERCE_USERS=${BENCH_CART_USERS:-48}
  WRITE=0
else
  MODE=full
  PRODUCTS=${BENCH_PRODUCTS:-100000}
  USERS=${BENCH_USERS:-10000}
  DURATION=${DURATION:-10}
  DB=${BENCH_DB:-shop_bench}
  DROP_DB=0 # kept: seeding 100k products takes a while
  COMMERCE_USERS=${BENCH_CART_USERS:-128}
fi
SEED_PASSWORD=${SHOP_SEED_PASSWORD:-demo password 123}
DB_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
REDIS_PREFIX="bench:$$:"
# The listing and search URL sets and SEARCH_TERMS (benches/sql/search.sql holds the same list).
# shellcheck source=benches/urls.sh
. "$ROOT/benches/urls.sh"

say() { printf '%s\n' "bench: $*" >&2; }
die() { say "$*"; exit 1; }

# ---- cleanup: everything started here stops when the script ends --------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shop-bench.XXXXXX")
PIDS=()          # background processes (API instances, load generators)
DB_CREATED=0     # the database was created by this run (quick mode drops it)
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if command -v redis-cli >/dev/null; then
    redis-cli -u "$REDIS_URL" --scan --pattern "${REDIS_PREFIX}*" 2>/dev/null |
      xargs -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  fi
  if [ "$DROP_DB" = 1 ] && [ "$DB_CREATED" = 1 ]; then
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 ||
      say "could not drop database $DB"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools --------------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null || die "$1 is missing: $2"; }
need psql "install the PostgreSQL client (Debian/Ubuntu: apt-get install postgresql-client)"
need pgbench "install the PostgreSQL client tools (Debian/Ubuntu: apt-get install postgresql-client)"
need redis-cli "install Redis (Debian/Ubuntu: apt-get install redis-tools)"
need curl "install curl"
need jq "install jq (Debian/Ubuntu: apt-get install jq)"
need python3 "install Python 3 (Debian/Ubuntu: apt-get install python3): benches/commerce.py drives the cart and checkout load"
need cargo "install Rust (rustup)"
if ! command -v oha >/dev/null; then
  if [ -x "$HOME/.cargo/bin/oha" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
  else
    say "oha (HTTP load generator) is missing: cargo install oha --locked (a few minutes, once)"
    # Built in a temporary directory of its own, not in the project's CARGO_TARGET_DIR.
    env -u CARGO_TARGET_DIR cargo install oha --locked >"$WORK/oha-install.log" 2>&1 || {
      tail -20 "$WORK/oha-install.log" >&2
      die "could not install oha"
    }
    PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
OHA_HELP=$(oha --help)
grep -q -- '--urls-from-file' <<<"$OHA_HELP" || die "oha is too old (no --urls-from-file): cargo install oha --locked --force"
OHA_JSON=(--output-format json)
grep -q -- '--output-format' <<<"$OHA_HELP" || OHA_JSON=(--json)
OHA_WAIT=()
grep -q -- '--wait-ongoing-requests-after-deadline' <<<"$OHA_HELP" && OHA_WAIT=(--wait-ongoing-requests-after-deadline)

# PostgreSQL and Redis: start local ones when installed but stopped (does nothing otherwise).
scripts/services.sh || true
psql -X -q -d postgres -c 'select 1' >/dev/null 2>&1 || die "PostgreSQL does not answer at $PGHOST:$PGPORT as $PGUSER"
[ "$(redis-cli -u "$REDIS_URL" ping 2>/dev/null)" = PONG ] || die "Redis does not answer at $REDIS_URL"

# ---- the binary ---------------------------------------------------------------------------------
TARGET_DIR=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps 2>/dev/null | jq -r .target_directory)}
TARGET_DIR=${TARGET_DIR:-$ROOT/target}
if [ "$QUICK" = 1 ]; then
  # CI builds one profile only: reuse the debug binary, build it only when it is missing.
  BIN=$TARGET_DIR/debug/shop-api
  WORKER_BIN=$TARGET_DIR/debug/shop-worker
  if [ ! -x "$BIN" ] || [ ! -x "$WORKER_BIN" ]; then
    say "building the debug binaries (cargo build -p shop-api -p shop-worker)"
    cargo build -p shop-api -p shop-worker >&2
  fi
else
  BIN=$TARGET_DIR/release/shop-api
  WORKER_BIN=$TARGET_DIR/release/shop-worker
  say "building the release binaries (cargo build --release -p shop-api -p shop-worker)"
  cargo build --release -p shop-api -p shop-worker >&2
fi
[ -x "$BIN" ] || die "no binary at $BIN"
[ -x "$WORKER_BIN" ] || die "no binary at $WORKER_BIN"

# ---- spare loopback ports -----------------------------------------------------------------------
NEXT_PORT=${BENCH_PORT:-18480}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
spare_port() {
  while ! port_free "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
  PORT=$NEXT_PORT
  NEXT_PORT=$((NEXT_PORT + 1))
}

# ---- database -----------------------------------------------------------------------------------
# The API's environment: the dev profile (the production one wants real secrets for every
# integration) without its private-PostgreSQL fallback and with quiet logs. The rate limiters stay
# on (their Redis round trip is part of every request's cost) with quotas no benchmark reaches:
# inline TOML tables, read by figment; keys an older binary does not know are ignored.
NO_LIMIT='{limit=1000000000,period_secs=1000}'
API_ENV=(
  SHOP_PROFILE=dev
  SHOP_DATABASE__URL="$DB_URL"
  SHOP_DATABASE__EMBEDDED=false
  SHOP_REDIS__URL="$REDIS_URL"
  SHOP_TELEMETRY__LOG_FORMAT=json
  SHOP_TELEMETRY__LOG_FILTER=warn
  SHOP_SERVER__HOST=127.0.0.1
  SHOP_SERVER__SHUTDOWN_TIMEOUT_SECS=2
  SHOP_AUTH__LOGIN_PER_IP="$NO_LIMIT"
  SHOP_AUTH__LOGIN_PER_ACCOUNT="$NO_LIMIT"
  SHOP_RATE_LIMIT__DEFAULT_PER_IP="$NO_LIMIT"
  SHOP_RATE_LIMIT__DEFAULT_PER_USER="$NO_LIMIT"
  SHOP_RATE_LIMIT__AUTH_PER_IP="$NO_LIMIT"
  SHOP_RATE_LIMIT__CHECKOUT_PER_USER="$NO_LIMIT"
  SHOP_SEED_PASSWORD="$SEED_PASSWORD"
)
# The allocator setting the image runs with (deploy/Dockerfile): without it glibc keeps argon2's
# 19 MiB blocks resident after a login burst (600-850 MiB measured).
MMAP_THRESHOLD=$(sed -n 's/.*MALLOC_MMAP_THRESHOLD_=\([0-9][0-9]*\).*/\1/p' deploy/Dockerfile 2>/dev/null | head -1)
if [ -n "$MMAP_THRESHOLD" ]; then API_ENV+=(MALLOC_MMAP_THRESHOLD_="$MMAP_THRESHOLD"); fi
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

# Every full run seeds a fresh database (about half a minute at 100,000 products): one a previous
# run's checkouts left orders, events and lower stock in would not measure the same thing twice.
prepare_database() {
  local exists
  exists=$(psql -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")
  if [ "$exists" = 1 ] && [ "$QUICK" = 1 ] && [ -z "${BENCH_DB:-}" ]; then
    die "database $DB already exists"
  fi
  if [ "$exists" = 1 ]; then
    psql -X -q -d postgres -c "DROP DATABASE \"$DB\" WITH (FORCE)" >/dev/null
  fi
  psql -X -q -d postgres -c "CREATE DATABASE \"$DB\"" >/dev/null
  DB_CREATED=1
  say "seeding $DB: $PRODUCTS products, $USERS users"
  env "${API_ENV[@]}" "$BIN" seed --products "$PRODUCTS" --users "$USERS" >"$WORK/seed.log" 2>&1 ||
    { cat "$WORK/seed.log" >&2; die "seeding failed"; }
  say "$(tail -1 "$WORK/seed.log")"
  sql "VACUUM ANALYZE" >/dev/null
}

# ---- API instances ------------------------------------------------------------------------------
declare -A API_PID API_PORT
start_api() { # NAME ENV=VALUE...: starts an instance on a spare port and waits until it is ready
  local name=$1 pid i
  shift
  spare_port
  # env execs the binary: $! is the API's own pid (for the RSS figures and the cleanup).
  env "${API_ENV[@]}" SHOP_SERVER__PORT="$PORT" SHOP_REDIS__KEY_PREFIX="${REDIS_PREFIX}$name:" "$@" "$BIN" serve \
    >"$WORK/api-$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  API_PID[$name]=$pid
  API_PORT[$name]=$PORT
  for i in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -20 "$WORK/api-$name.log" >&2
      die "API instance $name exited during start-up"
    fi
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health/ready" 2>/dev/null && break
    sleep 0.2
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health/ready" || die "API instance $name not ready after 60 s"
  say "API instance $name (${*:-defaults}) listening on 127.0.0.1:$PORT, pid $pid"
}
api_url() { echo "http://127.0.0.1:${API_PORT[$1]}"; }
rss_mib() { # INSTANCE FIELD: VmRSS (now) or VmHWM (peak) of an instance, MiB
  awk -v f="$2:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/${API_PID[$1]}/status" 2>/dev/null || echo "?"
}
check_alive() {
  local name
  for name in "${!API_PID[@]}"; do
    kill -0 "${API_PID[$name]}" 2>/dev/null || { tail -20 "$WORK/api-$name.log" >&2; die "API instance $name died"; }
  done
}

# ---- results ------------------------------------------------------------------------------------
ROWS=()          # markdown table rows, in order (the note column is added when rendering)
NOTES=()         # the "compared with" column of each row
FAILED=()        # scenarios with errors
declare -A RPS P99 # by key, for the ratios and targets
ROW_API=cached   # the instance a row measures (its RSS goes in the row); empty for pgbench
fmt_ms() { awk -v s="$1" 'BEGIN { if (s == "" || s == "null") print "-"; else printf "%.2f ms", s * 1000 }'; }
fmt_rps() { awk -v r="$1" 'BEGIN { printf "%.0f", r }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "?" }'; }
record() { # KEY LABEL CONC RPS P50_S P99_S ERRORS NOTE
  local key=$1 label=$2 conc=$3 rps=$4 p50=$5 p99=$6 errors=$7 note=${8:-}
  RPS[$key]=$rps
  P99[$key]=$p99
  local rss=-
  if [ -n "${ROW_API:-}" ]; then rss="$(rss_mib "$ROW_API" VmRSS) MiB"; fi
  ROWS+=("| $label | $conc | $(fmt_rps "$rps") | $(fmt_ms "$p50") | $(fmt_ms "$p99") | $errors | $rss |")
  NOTES+=("$note")
  if [ "$errors" != 0 ]; then FAILED+=("$label ($errors errors)"); fi
  say "$(printf '%-34s c=%-3s %8s req/s  p50 %-10s p99 %-10s errors %s' "$label" "$conc" "$(fmt_rps "$rps")" \
    "$(fmt_ms "$p50")" "$(fmt_ms "$p99")" "$errors")"
}
note() { NOTES[-1]=$1; } # sets the "compared with" column of the last row
skip() { # LABEL: a scenario whose feature does not exist yet
  ROWS+=("| $1 | - | - | - | - | - | - |")
  NOTES+=("skipped: not built yet")
  say "$(printf '%-34s skipped: not built yet' "$1")"
}

# ---- load generators ----------------------------------------------------------------------------
# oha for D seconds at concurrency C; JSON summary into FILE. URL is a URL or @file of URLs
# (oha picks one at random for each request).
oha_run() { # FILE C URL [oha options...]
  local out=$1 c=$2 url=$3
  shift 3
  local target=("$url")
  if [ "${url:0:1}" = @ ]; then target=(--urls-from-file "${url:1}"); fi
  # -t: a request that hangs fails (an error) instead of holding the run forever.
  oha --no-tui "${OHA_JSON[@]}" "${OHA_WAIT[@]}" -z "${DURATION}s" -t 30s -c "$c" "$@" "${target[@]}" >"$out" 2>"$out.err" ||
    { cat "$out.err" >&2; echo '{}' >"$out"; return 1; }
}
# Errors: failed requests (connection errors, timeouts) and answers outside 2xx (304 too when
# ALLOW_304=1). Requests cut off by the end of the run are not errors.
oha_errors() {
  jq --arg allow "${ALLOW_304:-0}" '
    ([.errorDistribution // {} | to_entries[] | select(.key | test("deadline") | not) | .value] | add // 0)
    + ([.statusCodeDistribution // {} | to_entries[]
        | select((.key | startswith("2") | not) and ($allow != "1" or .key != "304")) | .value] | add // 0)
    + (if (.summary.total // 0) == 0 and ((.statusCodeDistribution // {}) | length) == 0 then 1 else 0 end)' "$1"
}
oha_record() { # KEY LABEL C FILE NOTE
  local f=$4
  local rps p50 p99 errors
  rps=$(jq -r '.summary.requestsPerSec // 0' "$f")
  p50=$(jq -r '.latencyPercentiles.p50 // empty' "$f")
  p99=$(jq -r '.latencyPercentiles.p99 // empty' "$f")
  errors=$(oha_errors "$f")
  if [ "$errors" != 0 ]; then
    say "$2: status codes $(jq -c '.statusCodeDistribution // {}' "$f"), errors $(jq -c '.errorDistribution // {}' "$f")"
  fi
  record "$1" "$2" "$3" "$rps" "$p50" "$p99" "$errors" "${5:-}"
}
oha_scenario() { # KEY LABEL C URL NOTE [oha options...]
  local key=$1 label=$2 c=$3 url=$4 note=${5:-}
  shift 5 || shift $#
  oha_run "$WORK/$key.json" "$c" "$url" "$@" || true
  oha_record "$key" "$label" "$c" "$WORK/$key.json" "$note"
  check_alive
}

# pgbench with a script from benches/sql/ at the HTTP concurrency; latency percentiles from its
# per-transaction log.
pgbench_scenario() { # KEY LABEL SCRIPT PROTOCOL [PGBENCH-ARGS...]
  local key=$1 label=$2 script=$3 protocol=$4 out tps failed p50 p99 ROW_API=
  shift 4
  rm -f "$WORK/$key".log*
  if ! PGOPTIONS="-c pg_trgm.word_similarity_threshold=0.4 -c statement_timeout=30s" \
    pgbench -n -M "$protocol" -c "$CONC" -j 2 -T "$DURATION" -D products="$PRODUCTS" "$@" \
    -f "benches/sql/$script" -l --log-prefix="$WORK/$key.log" "$DB" >"$WORK/$key.out" 2>&1; then
    cat "$WORK/$key.out" >&2
    record "$key" "$label" "$CONC" 0 "" "" 1 "pgbench failed"
    return
  fi
  out=$(cat "$WORK/$key.out")
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | tail -1)
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
  # Third column of the log: the transaction's latency in microseconds.
  read -r p50 p99 < <(cat "$WORK/$key".log* | awk '{ print $3 }' | sort -n | awk '
    function at(q,  i) { i = int(NR * q + 0.5); if (i < 1) i = 1; return v[i] / 1e6 }
    { v[NR] = $1 }
    END { if (NR) printf "%f %f\n", at(0.50), at(0.99); else print "" }') || true
  record "$key" "$label" "$CONC" "${tps:-0}" "$p50" "$p99" "${failed:-0}" "PostgreSQL alone, $script (-M $protocol)"
}

# ---- URL sets -----------------------------------------------------------------------------------
make_url_files() {
  local base name
  # A fixed sample of active products, the same in every run.
  sql "SELECT id FROM products WHERE status = 'active' ORDER BY md5(id::text) LIMIT $DETAIL_URLS" >"$WORK/product-ids"
  [ -s "$WORK/product-ids" ] || die "no active products in $DB"
  for name in "${!API_PORT[@]}"; do
    base=$(api_url "$name")
    sed "s|^|$base/api/v1/products/|" "$WORK/product-ids" >"$WORK/detail-$name.urls"
  done
  # Listing and search (benches/urls.sh).
  base=$(api_url cached)
  # shellcheck disable=SC2046 # one slug per word
  write_url_sets "$base" "$WORK/listing.urls" "$WORK/search.urls" $(sql "SELECT slug FROM categories ORDER BY slug")
  # The same sets on the instance without caches (answered by its search index) and on the one
  # without the index (every request reads PostgreSQL).
  for name in listing search; do
    sed "s|^$base/|$(api_url uncached)/|" "$WORK/$name.urls" >"$WORK/$name-uncached.urls"
    sed "s|^$base/|$(api_url sql)/|" "$WORK/$name.urls" >"$WORK/$name-sql.urls"
  done
}
# Waits until an instance's search index answers (it loads in the background after start-up).
index_serving() { # INSTANCE
  local i
  for i in $(seq 1 600); do
    curl -fsS "$(api_url "$1")/metrics" 2>/dev/null | grep -q '^search_index{stat="serving"} 1' && return 0
    sleep 0.2
  done
  die "the search index of instance $1 did not load within 120 s"
}
# One request to every URL of a file, sequentially; fails unless all answer 200. Fills caches
# and checks the URL set before it is measured.
warm() { # FILE
  local bad
  bad=$(sed 's/.*/url = "&"\noutput = "\/dev\/null"\nwrite-out = "%{http_code} %{url_effective}\\n"/' "$1" |
    curl -s -K - | grep -v '^200 ' || true)
  [ -z "$bad" ] || { say "warm-up of $(basename "$1") failed:"; head -5 <<<"$bad" >&2; return 1; }
}

# ---- scenarios ----------------------------------------------------------------------------------
# One function per scenario, run in the order of SCENARIOS. Add a feature's scenario by writing
# `scenario_<name>` and listing it. Each records one or more table rows.
scenario_live() {
  oha_scenario live "GET /health/live" "$CONC" "$(api_url cached)/health/live" "HTTP ceiling"
}

# The protocol mirrors what diesel does with each statement: the query-builder statements of
# product detail are prepared once per connection and cached (-M prepared); the listing and search
# statements are `sql_query`, which diesel never caches, so PostgreSQL parses and plans them on
# every execution (-M extended: unnamed statements).
scenario_pgbench_detail() {
  pgbench_scenario pg_detail "pgbench: product detail SQL" detail.sql prepared
}

scenario_detail_uncached() {
  local ROW_API=uncached
  warm "$WORK/detail-uncached.urls" || FAILED+=("warm-up of detail (cache off)")
  oha_scenario detail_uncached "product detail, cache off" "$CONC" "@$WORK/detail-uncached.urls" ""
  note "$(pct "${RPS[detail_uncached]}" "${RPS[pg_detail]:-0}") of pgbench detail"
}

scenario_detail_cached() {
  warm "$WORK/detail-cached.urls" || FAILED+=("warm-up of detail (cached)")
  oha_scenario detail_cached "product detail, cached" "$CONC" "@$WORK/detail-cached.urls" ""
  note "$(pct "${RPS[detail_cached]}" "${RPS[live]:-0}") of /health/live"
}

scenario_listing_uncached() {
  local ROW_API=uncached
  oha_scenario listing_uncached "listing, cache off" "$CONC" "@$WORK/listing-uncached.urls" \
    "$(wc -l <"$WORK/listing.urls") URLs, answered by the search index (no cache in front)"
}

# The landed SQL listing, on the instance with the search index off and no caches.
scenario_listing_sql() {
  local ROW_API=sql
  oha_scenario listing_sql "listing, SQL (search index off)" "$CONC" "@$WORK/listing-sql.urls" \
    "every request reads PostgreSQL"
  note "$(wc -l <"$WORK/listing.urls") URLs, every request reads PostgreSQL; the index: $(awk -v a="${RPS[listing_uncached]:-0}" -v b="${RPS[listing_sql]:-0}" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "?" }') this"
}

# Run for at least three listing-cache periods (5 s each), whatever --duration says.
scenario_listing() {
  local DURATION=$DURATION periods=
  if [ "$QUICK" = 0 ] && [ "$DURATION" -lt 15 ]; then DURATION=15; fi
  if [ "$DURATION" -ge 15 ]; then periods=" (three periods of catalog.listing_cache_ttl_secs)"; fi
  warm "$WORK/listing.urls" || FAILED+=("warm-up of listing")
  oha_scenario listing "listing: category + price + sort" "$CONC" "@$WORK/listing.urls" \
    "$(wc -l <"$WORK/listing.urls") URLs over ${DURATION} s${periods}; answered by the search index, which no page cache stands in front of"
}

scenario_pgbench_search() {
  pgbench_scenario pg_search "pgbench: search SQL" search.sql extended
}

scenario_search_uncached() {
  local ROW_API=uncached
  warm "$WORK/search-uncached.urls" || FAILED+=("warm-up of search (cache off)")
  oha_scenario search_uncached "search, cache off" "$CONC" "@$WORK/search-uncached.urls" ""
  relevance uncached
  note "answered by the search index: $(pct "${RPS[search_uncached]}" "${RPS[pg_search]:-0}") of pgbench search; relevance $RELEVANCE_NOTE"
}

# The landed SQL search (full text, then trigrams), on the instance with the index off.
scenario_search_sql() {
  local ROW_API=sql
  warm "$WORK/search-sql.urls" || FAILED+=("warm-up of search (SQL)")
  oha_scenario search_sql "search, SQL (search index off)" "$CONC" "@$WORK/search-sql.urls" ""
  relevance sql
  note "$(pct "${RPS[search_sql]}" "${RPS[pg_search]:-0}") of pgbench search; relevance $RELEVANCE_NOTE; the index: $(awk -v a="${RPS[search_uncached]:-0}" -v b="${RPS[search_sql]:-0}" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "?" }') this"
}

# The relevance suite (benches/relevance/queries.tsv) on an instance: mean recall@10, kept in
# RELEVANCE[instance] for the targets.
declare -A RELEVANCE
RELEVANCE_NOTE=
relevance() { # INSTANCE: sets RELEVANCE[INSTANCE] and RELEVANCE_NOTE
  local out
  if out=$(python3 benches/relevance.py "$(api_url "$1")" "$DB_URL" benches/relevance/queries.tsv); then
    RELEVANCE[$1]=$(jq -r .score <<<"$out")
    RELEVANCE_NOTE=$(jq -r '"recall@10 \(.score) over \(.queries) queries"' <<<"$out")
    jq -c '.below_1[]' <<<"$out" | sed "s/^/bench: relevance on $1, below 1: /" >&2
  else
    FAILED+=("relevance suite on $1")
    RELEVANCE_NOTE="failed"
  fi
}

scenario_search() {
  warm "$WORK/search.urls" || FAILED+=("warm-up of search")
  oha_scenario search "search: q (typos included)" "$CONC" "@$WORK/search.urls" \
    "the instance with caches: answered by the search index all the same (no page cache in front of it)"
}

# Login bodies: one line per seeded user (oha -Z sends a random line with each request), so the
# load spreads over accounts like real sign-ins do.
make_login_bodies() { # FILE FIRST_USER COUNT
  local i
  for i in $(seq "$2" $(($2 + $3 - 1))); do
    jq -cn --arg e "user$i@example.com" --arg p "$SEED_PASSWORD" '{email: $e, password: $p}'
  done >"$1"
}
scenario_login() {
  local n=$((USERS < 200 ? USERS : 200))
  make_login_bodies "$WORK/login.bodies" 1 "$n"
  oha_scenario login "POST /auth/login (argon2id)" "$LOGIN_CONC" "$(api_url cached)/api/v1/auth/login" "" \
    -m POST -T application/json -Z "$WORK/login.bodies"
}

# Login load and cached-detail load at once: does hashing starve the cheap requests?
scenario_login_beside_detail() {
  local login_pid
  oha_run "$WORK/login_beside.json" "$LOGIN_CONC" "$(api_url cached)/api/v1/auth/login" \
    -m POST -T application/json -Z "$WORK/login.bodies" &
  login_pid=$!
  PIDS+=("$login_pid")
  oha_run "$WORK/detail_beside.json" "$CONC" "@$WORK/detail-cached.urls" || true
  wait "$login_pid" || true
  oha_record detail_beside "product detail, cached, beside login" "$CONC" "$WORK/detail_beside.json" \
    "$(pct "$(jq -r '.summary.requestsPerSec // 0' "$WORK/detail_beside.json")" "${RPS[detail_cached]:-0}") of cached detail alone"
  oha_record login_beside "POST /auth/login, beside detail" "$LOGIN_CONC" "$WORK/login_beside.json" \
    "$(pct "$(jq -r '.summary.requestsPerSec // 0' "$WORK/login_beside.json")" "${RPS[login]:-0}") of login alone"
  check_alive
}

# Add to cart and checkout: benches/commerce.py (Python standard library only, a separate process
# like oha), since every checkout needs its own Idempotency-Key and every shopper their own token.
# COMMERCE_USERS seeded users sign in once, untimed; then rounds of "fill every cart with
# COMMERCE_LINES different random variants" and "check every cart out" until the checkout phases
# add up to the duration. The two phases are timed apart: "add to cart" is requests/s over the
# fill phases, "checkout" orders/s over the checkout phases (a 201 is an order paid with the
# sandbox token tok_visa). Afterwards PostgreSQL must agree: the units the driver bought equal the
# stock that left the variants and the order lines written, no stock is negative, and every
# variant's ledger still sums to its stock.
COMMERCE_SHIPPING=00000000-0000-4000-8000-0000000be4c4
CHECKOUT_OK=0 # checkout ran without errors and its stock check passed
commerce_sql() { # FILE-WITH-POOL-ARRAY SQL: runs SQL with :pool bound to the variant pool array
  # The array is too long for a command-line argument: psql reads it from the file itself.
  printf '\\set pool `cat %s`\n%s;\n' "$1" "$2" | psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -f - ||
    { say "psql failed: $2"; return 1; }
}
scenario_commerce() {
  commerce_run "" ""
}
# The same with 50 active automatic promotions (issue "Promotions"), every cart and checkout
# evaluating all 50, in two mixes. "typical": 45 take 5 % off one product each (45 products of
# the catalog, seldom in a cart), 4 take 10 % off orders over 5,000.00 (none here), 1 takes 5 %
# off every order: an order redeems about one. "stacked": 45 take 5 % off the lines of one
# category each (the first 45 categories by slug) and 5 take 1 % off every order, all
# combinable: an order redeems about eight (a redemption row each, in the checkout's
# transaction). Each mix is removed afterwards.
BENCH_PROMOTION_TAG=bench-automatic
promotions_typical_sql="WITH prods AS (SELECT id, row_number() OVER (ORDER BY md5(id::text)) AS i FROM products
    WHERE status = 'active' ORDER BY md5(id::text) LIMIT 45)
  INSERT INTO promotions (id, name, status, priority, combinable, conditions, action)
  SELECT gen_random_uuid(), '$BENCH_PROMOTION_TAG product ' || i, 'active', i, true,
         jsonb_build_object('products', jsonb_build_array(id)),
         '{\"type\": \"percent_off_lines\", \"percent_bp\": 500}'::jsonb FROM prods
  UNION ALL
  SELECT gen_random_uuid(), '$BENCH_PROMOTION_TAG big order ' || g, 'active', 100 + g, true,
         '{\"currency\": \"EUR\", \"min_subtotal_minor\": 500000}'::jsonb,
         '{\"type\": \"percent_off_order\", \"percent_bp\": 1000}'::jsonb FROM generate_series(1, 4) g
  UNION ALL
  SELECT gen_random_uuid(), '$BENCH_PROMOTION_TAG sitewide', 'active', 200, true, '{}'::jsonb,
         '{\"type\": \"percent_off_order\", \"percent_bp\": 500}'::jsonb"
promotions_stacked_sql="WITH cats AS (SELECT id, row_number() OVER (ORDER BY slug) AS i FROM categories ORDER BY slug LIMIT 45)
  INSERT INTO promotions (id, name, status, priority, combinable, conditions, action)
  SELECT gen_random_uuid(), '$BENCH_PROMOTION_TAG category ' || i, 'active', i, true,
         jsonb_build_object('categories', jsonb_build_array(id)),
         '{\"type\": \"percent_off_lines\", \"percent_bp\": 500}'::jsonb FROM cats
  UNION ALL
  SELECT gen_random_uuid(), '$BENCH_PROMOTION_TAG order ' || g, 'active', 100 + g, true, '{}'::jsonb,
         '{\"type\": \"percent_off_order\", \"percent_bp\": 100}'::jsonb FROM generate_series(1, 5) g"
# Successive commerce runs slow down (the tables grow, autovacuum runs), so a mix is compared with
# the mean of the runs without promotions just before and just after it (A-B-A).
declare -A RATIO
commerce_with_promotions() { # KEY-SUFFIX MIX-NAME INSERT-SQL
  local n before_add=${RPS[add_to_cart_last]:-0} before_checkout=${RPS[checkout_last]:-0} add_row checkout_row
  sql "$3" >/dev/null
  n=$(sql "SELECT count(*) FROM promotions WHERE name LIKE '$BENCH_PROMOTION_TAG%' AND status = 'active' AND code IS NULL")
  commerce_run "$1" " with $n automatic promotions, $2"
  add_row=$((${#ROWS[@]} - 2)) checkout_row=$((${#ROWS[@]} - 1))
  sql "DELETE FROM promotion_redemptions WHERE promotion_id IN (SELECT id FROM promotions WHERE name LIKE '$BENCH_PROMOTION_TAG%');
       DELETE FROM promotions WHERE name LIKE '$BENCH_PROMOTION_TAG%'" >/dev/null
  commerce_run "${1}_after" " without promotions, again (after the $2 mix)"
  local k mean row
  for k in add_to_cart checkout; do
    mean=$(awk -v a="$([ "$k" = add_to_cart ] && echo "$before_add" || echo "$before_checkout")" -v b="${RPS[${k}_last]}" 'BEGIN { print (a + b) / 2 }')
    RATIO[$k$1]=$(awk -v a="${RPS[$k$1]}" -v m="$mean" 'BEGIN { print (m > 0) ? a / m : 0 }')
    row=$([ "$k" = add_to_cart ] && echo "$add_row" || echo "$checkout_row")
    NOTES[row]="$(pct "${RPS[$k$1]}" "$mean") of the mean of the runs without promotions just before and after ($(fmt_rps "$mean")); ${NOTES[row]}"
  done
}
scenario_commerce_promotions() {
  commerce_with_promotions _promotions typical "$promotions_typical_sql"
}
scenario_commerce_promotions_stacked() {
  commerce_with_promotions _promotions_stacked "stacked" "$promotions_stacked_sql"
}
commerce_run() { # KEY-SUFFIX LABEL-SUFFIX
  local suffix=$1 label=$2
  local n=$COMMERCE_USERS out="$WORK/commerce$suffix.json" pool="$WORK/commerce-pool" t0 before after
  local sold_db orders_db negative ledger_off bought ok_orders check=ok
  [ "$USERS" -lt "$n" ] && n=$USERS
  sql "INSERT INTO shipping_methods (id, name, price_minor, currency, countries)
       VALUES ('$COMMERCE_SHIPPING', 'Benchmark standard', 490, 'EUR', '{}') ON CONFLICT (id) DO NOTHING" >/dev/null
  # The last n seeded users (the login scenarios use the first ones); variants in stock, spread
  # over many products, the same sample every run.
  seq "$((USERS - n + 1))" "$USERS" | sed 's/.*/user&@example.com/' >"$WORK/commerce.users"
  sql "SELECT v.id FROM variants v JOIN products p ON p.id = v.product_id
        WHERE p.status = 'active' AND v.active AND v.stock >= 20
        ORDER BY md5(v.id::text) LIMIT $COMMERCE_VARIANTS" >"$WORK/commerce.variants"
  [ "$(wc -l <"$WORK/commerce.variants")" -ge "$COMMERCE_LINES" ] || die "too few variants in stock in $DB"
  { printf "'{"; paste -sd, "$WORK/commerce.variants" | tr -d '\n'; printf "}'::uuid[]"; } >"$pool"
  t0=$(sql "SELECT now()")
  before=$(commerce_sql "$pool" "SELECT sum(stock) FROM variants WHERE id = ANY(:pool)")
  local commits0 commits1 per_cycle
  commits0=$(sql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
  if ! python3 benches/commerce.py --base "$(api_url "${COMMERCE_API:-cached}")" --users "$WORK/commerce.users" \
    --password "$SEED_PASSWORD" --variants "$WORK/commerce.variants" --shipping "$COMMERCE_SHIPPING" \
    --concurrency "$CONC" --login-concurrency "$LOGIN_CONC" --duration "$DURATION" \
    --lines "$COMMERCE_LINES" >"$out" 2>"$out.err"; then
    cat "$out.err" >&2
    echo '{}' >"$out"
  fi
  jq -e '.signed_in' "$out" >/dev/null 2>&1 || echo '{}' >"$out"
  if [ "$(jq -r '.signed_in // 0' "$out")" != "$n" ]; then
    say "commerce: $(jq -r '.signed_in // 0' "$out") of $n users signed in: $(jq -c '.login // {}' "$out")"
    FAILED+=("commerce sign-in")
  fi
  for phase in add_to_cart checkout; do
    if [ "$(jq -r ".$phase.errors // 1" "$out")" != 0 ]; then
      say "$phase: statuses $(jq -c ".$phase.statuses // {}" "$out"), failures $(jq -c ".$phase.failures // {}" "$out")"
      jq -r ".$phase.error_samples // [] | .[]" "$out" | head -3 | sed 's/^/  /' >&2
    fi
  done
  # PostgreSQL's transactions per shopper cycle (its adds and its checkout; sign-in, the
  # dispatcher's claims and settles and the sweeper included): its statistics are flushed within a
  # second.
  sleep 1.2
  commits1=$(sql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
  # The oversell check.
  after=$(commerce_sql "$pool" "SELECT sum(stock) FROM variants WHERE id = ANY(:pool)")
  sold_db=$(commerce_sql "$pool" "SELECT coalesce(sum(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
    WHERE o.created_at >= '$t0' AND o.status IN ('paid', 'pending_payment') AND l.variant_id = ANY(:pool)")
  orders_db=$(sql "SELECT count(*) FROM orders WHERE created_at >= '$t0' AND status IN ('paid', 'pending_payment')")
  negative=$(sql "SELECT count(*) FROM variants WHERE stock < 0")
  ledger_off=$(commerce_sql "$pool" "SELECT count(*) FROM variants v WHERE v.id = ANY(:pool)
    AND v.stock <> (SELECT coalesce(sum(delta), 0) FROM inventory_ledger l WHERE l.variant_id = v.id)")
  bought=$(jq -r '.units_bought // 0' "$out")
  ok_orders=$(jq -r '.checkout.statuses["201"] // 0' "$out")
  per_cycle=$(awk -v d="$((commits1 - commits0))" -v n="$ok_orders" 'BEGIN { if (n > 0) printf "%.1f", d / n; else print "?" }')
  say "PostgreSQL transactions per shopper cycle ($COMMERCE_LINES adds and a checkout, everything included): $per_cycle"
  if [ "$((before - after))" != "$bought" ] || [ "$sold_db" != "$bought" ] || [ "$orders_db" != "$ok_orders" ] ||
    [ "$negative" != 0 ] || [ "$ledger_off" != 0 ]; then
    check="FAILED"
    FAILED+=("checkout stock check")
  fi
  say "checkout stock check $check: stock of the $(wc -l <"$WORK/commerce.variants") variants $before -> $after" \
    "(-$((before - after))), units in 201 answers $bought, in new order lines $sold_db; orders: $ok_orders answered" \
    "201, $orders_db in PostgreSQL; variants with negative stock: $negative; ledger sums off: $ledger_off"
  if [ -z "$suffix" ] && [ "$check" = ok ] && [ "$(jq -r ".checkout.errors // 1" "$out")" = 0 ]; then CHECKOUT_OK=1; fi
  local a=.add_to_cart c=.checkout
  if [ -n "$suffix" ] && [ "${suffix%_after}" = "$suffix" ]; then
    PROMOTIONS_REDEEMED=$(sql "SELECT count(*) FROM promotion_redemptions r JOIN promotions p ON p.id = r.promotion_id
      WHERE p.name LIKE '$BENCH_PROMOTION_TAG%'")
  fi
  record "add_to_cart$suffix" "add to cart (POST /cart/lines)$label" "$CONC" "$(jq -r "$a.rate // 0" "$out")" \
    "$(jq -r "$a.p50 // empty" "$out")" "$(jq -r "$a.p99 // empty" "$out")" "$(jq -r "$a.errors // 1" "$out")" \
    "$n users, $COMMERCE_LINES different variants per cart, $(jq -r '.rounds // 0' "$out") rounds"
  if [ -z "$suffix" ] || [ "${suffix%_after}" != "$suffix" ]; then RPS[add_to_cart_last]=${RPS[add_to_cart$suffix]}; fi
  record "checkout$suffix" "checkout (orders/s)$label" "$CONC" "$(jq -r "$c.rate // 0" "$out")" \
    "$(jq -r "$c.p50 // empty" "$out")" "$(jq -r "$c.p99 // empty" "$out")" "$(jq -r "$c.errors // 1" "$out")" \
    "$ok_orders orders of $COMMERCE_LINES lines; stock check $check (no oversell, ledger consistent); $per_cycle PostgreSQL transactions per shopper cycle"
  if [ -z "$suffix" ] || [ "${suffix%_after}" != "$suffix" ]; then
    RPS[checkout_last]=${RPS[checkout$suffix]}
  else
    note "${PROMOTIONS_REDEEMED:-0} redemptions in $ok_orders orders; stock check $check"
  fi
  say "commerce driver CPU: $(jq -r '.driver_cpu_seconds // 0 | . * 10 | round / 10' "$out") s"
  check_alive
}

# Checkout against its floor (issue "Checkout at the database's floor"): benches/sql/checkout.sql
# replays the statements of one API checkout of three lines (traced from PostgreSQL's statement
# log) in its transactions, one shopper per client as in the API's run, plus refilling the cart.
# Run after the commerce rows (its setup gives the customers' carts and the variants' stock a
# fresh start, with ledger rows); the API's checkout row is reported as a share of it.
pgbench_commerce() { # KEY LABEL SCRIPT API-KEY
  local shoppers variants
  psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f benches/sql/checkout-setup.sql >"$WORK/pgb-commerce-setup.log" 2>&1 ||
    { cat "$WORK/pgb-commerce-setup.log" >&2; FAILED+=("pgbench $1 setup"); return; }
  shoppers=$(sql "SELECT count(*) FROM pgb_shoppers")
  variants=$(sql "SELECT count(*) FROM pgb_variants")
  [ "$shoppers" -ge "$CONC" ] || { say "pgbench: $shoppers shoppers for $CONC clients"; FAILED+=("pgbench $1"); return; }
  pgbench_scenario "$1" "$2" "$3" prepared -D shoppers="$shoppers" -D variants="$variants"
  note "API: $(pct "${RPS[$4]:-0}" "${RPS[$1]:-0}") of this"
}
scenario_pgbench_checkout() {
  pgbench_commerce pg_checkout "pgbench: checkout SQL (orders/s)" checkout.sql checkout
}
scenario_pgbench_add_to_cart() {
  pgbench_commerce pg_add_to_cart "pgbench: add to cart SQL" add-to-cart.sql add_to_cart
}

# Checkout with the outbox drained by a separate `shop-worker` instead of the dispatcher embedded
# in the API: a third instance with SHOP_OUTBOX__EMBEDDED=false and one worker process, the other
# two instances paused (SIGSTOP) meanwhile so their embedded dispatchers take no event.
scenario_commerce_worker() {
  local worker_pid name
  start_api drained SHOP_OUTBOX__EMBEDDED=false
  env "${API_ENV[@]}" SHOP_OUTBOX__WORKER_LISTEN="127.0.0.1:0" SHOP_REDIS__KEY_PREFIX="${REDIS_PREFIX}worker:" \
    "$WORKER_BIN" >"$WORK/worker.log" 2>&1 &
  worker_pid=$!
  PIDS+=("$worker_pid")
  for name in cached uncached; do kill -STOP "${API_PID[$name]}"; done
  COMMERCE_API=drained commerce_run _worker " with the outbox drained by a separate shop-worker"
  for name in cached uncached; do kill -CONT "${API_PID[$name]}"; done
  kill -0 "$worker_pid" 2>/dev/null || { tail -20 "$WORK/worker.log" >&2; FAILED+=("shop-worker died"); }
  note "embedded dispatcher: $(fmt_rps "${RPS[checkout]:-0}") orders/s; $(sql "SELECT count(*) FROM outbox WHERE status = 'pending'") events pending after"
}

# Listing sorted by rating: every category with sort=rating. The seed writes no reviews, so every
# rating is zero: this measures the rating sort's query path, not a realistic order.
scenario_rating_sort() {
  local base slug
  base=$(api_url cached)
  for slug in $(sql "SELECT slug FROM categories ORDER BY slug"); do
    echo "$base/api/v1/products?category=$slug&sort=rating"
  done >"$WORK/rating.urls"
  oha_scenario rating_sort "listing, sort=rating" "$CONC" "@$WORK/rating.urls" \
    "$(wc -l <"$WORK/rating.urls") URLs; all ratings 0 (no reviews seeded)"
}

# Signed-in reads: each checks the access token's session before the handler reads the user, from
# the cache on the cached instance, from PostgreSQL on the other (session_cache_ttl_secs=0).
bearer_token() { # INSTANCE: an access token of a seeded user, from that instance
  curl -fsS -X POST "$(api_url "$1")/api/v1/auth/login" -H 'content-type: application/json' \
    -d "$(jq -cn --arg e user1@example.com --arg p "$SEED_PASSWORD" '{email: $e, password: $p}')" | jq -r .access_token
}
scenario_me() {
  oha_scenario me "GET /me (signed in)" "$CONC" "$(api_url cached)/api/v1/me" "session checked in the cache" \
    -H "Authorization: Bearer $(bearer_token cached)"
}
scenario_me_uncached() {
  oha_scenario me_uncached "GET /me, session cache off" "$CONC" "$(api_url uncached)/api/v1/me" "" \
    -H "Authorization: Bearer $(bearer_token uncached)"
  note "$(pct "${RPS[me_uncached]}" "${RPS[me]:-0}") of GET /me with the session cached"
}

SCENARIOS=(
  live
  pgbench_detail
  detail_uncached
  detail_cached
  listing_uncached
  listing_sql
  listing
  pgbench_search
  search_uncached
  search_sql
  search
  me
  me_uncached
  login
  login_beside_detail
  commerce
  commerce_promotions
  commerce_promotions_stacked
  pgbench_checkout
  pgbench_add_to_cart
  commerce_worker
  rating_sort
)

# ---- run ----------------------------------------------------------------------------------------
for term in "${SEARCH_TERMS[@]}"; do
  grep -q "'$term'" benches/sql/search.sql || die "search term '$term' is missing from benches/sql/search.sql"
done
grep -q "random(1, ${#SEARCH_TERMS[@]})" benches/sql/search.sql ||
  die "benches/sql/search.sql must pick among ${#SEARCH_TERMS[@]} terms"

STARTED=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
say "$MODE run: $PRODUCTS products, $USERS users, ${DURATION} s per scenario, concurrency $CONC (login $LOGIN_CONC), binary $BIN"
prepare_database
start_api cached
start_api uncached SHOP_CATALOG__CACHE_ENABLED=false SHOP_AUTH__SESSION_CACHE_TTL_SECS=0
# The landed SQL listing and search, for comparison: no index, no caches.
start_api sql SHOP_CATALOG__SEARCH_INDEX=false SHOP_CATALOG__CACHE_ENABLED=false SHOP_AUTH__SESSION_CACHE_TTL_SECS=0
index_serving cached
index_serving uncached
# The instances run the default catalog.listing_cache_ttl_secs (5).
LISTING_TTL_NOTE="(fresh 5 s, then refreshed in the background: catalog.listing_cache_ttl_secs)"
make_url_files

# Anything else running (builds, tests) takes cores from the API and the load generators alike:
# measure the machine's CPU use over 2 s while the instances are idle.
cpu_busy_pct() {
  local a b
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
  sleep 2
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2]; printf "%.0f", (t > 0 ? 100 * (y[1] - x[1]) / t : 0) }'
}
IDLE_BUSY=$(cpu_busy_pct)
BUSY_NOTE=
if [ "$IDLE_BUSY" -gt 20 ]; then
  BUSY_NOTE="other work used ${IDLE_BUSY}% of the CPUs just before the scenarios: the figures understate the machine"
  say "warning: $BUSY_NOTE"
fi

if [ -n "${BENCH_SCENARIOS:-}" ]; then read -r -a SCENARIOS <<<"$BENCH_SCENARIOS"; fi
for s in "${SCENARIOS[@]}"; do
  "scenario_$s"
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
RSS_CACHED=$(rss_mib cached VmHWM)
RSS_UNCACHED=$(rss_mib uncached VmHWM)
RSS_SQL=$(rss_mib sql VmHWM)

# ---- report -------------------------------------------------------------------------------------
TABLE=$(
  echo "| scenario | concurrency | requests/s | p50 | p99 | errors | API RSS after | compared with |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
  for i in "${!ROWS[@]}"; do echo "${ROWS[$i]} ${NOTES[$i]} |"; done
)
RSS_LINE="API peak RSS (VmHWM at the end): ${RSS_CACHED} MiB for the instance with the cache (every API row but \"cache off\" and \"SQL\"), ${RSS_UNCACHED} MiB for the instance with SHOP_CATALOG__CACHE_ENABLED=false and SHOP_AUTH__SESSION_CACHE_TTL_SECS=0, both holding the search index of $PRODUCTS products; ${RSS_SQL} MiB for the instance without the index and caches (the \"SQL\" rows). \"API RSS after\": VmRSS of the instance measured, right after its row."

echo
echo "$TABLE"
echo
echo "$RSS_LINE"
echo

met() { if [ "$1" = 1 ]; then echo "met"; else echo "**missed**"; fi; }
targets() {
  local r
  echo "| target | measured | |"
  echo "|---|---|---|"
  r=$(awk -v a="${RPS[detail_cached]:-0}" -v b="${RPS[live]:-0}" 'BEGIN { print (b > 0 && a >= 0.5 * b) ? 1 : 0 }')
  echo "| cached detail >= 50% of /health/live | $(pct "${RPS[detail_cached]:-0}" "${RPS[live]:-0}") | $(met "$r") |"
  r=$(awk -v a="${RPS[detail_uncached]:-0}" -v b="${RPS[pg_detail]:-0}" 'BEGIN { print (b > 0 && a >= 0.5 * b) ? 1 : 0 }')
  echo "| uncached detail >= 50% of pgbench on its SQL | $(pct "${RPS[detail_uncached]:-0}" "${RPS[pg_detail]:-0}") | $(met "$r") |"
  r=$(awk -v a="${RPS[search_uncached]:-0}" -v p="${P99[search_uncached]:-}" 'BEGIN { print (a >= 2000 && p != "" && p < 0.020) ? 1 : 0 }')
  echo "| search, cache off >= 2,000 requests/s with p99 < 20 ms at $CONC connections | $(fmt_rps "${RPS[search_uncached]:-0}") requests/s, p99 $(fmt_ms "${P99[search_uncached]:-}") (SQL search: $(fmt_rps "${RPS[search_sql]:-0}"), p99 $(fmt_ms "${P99[search_sql]:-}")) | $(met "$r") |"
  r=$(awk -v a="${RELEVANCE[uncached]:-0}" -v b="${RELEVANCE[sql]:-1}" 'BEGIN { print (a > 0 && a >= b) ? 1 : 0 }')
  echo "| search relevance (recall@10, benches/relevance/queries.tsv) >= the SQL search's | ${RELEVANCE[uncached]:-?} (SQL search: ${RELEVANCE[sql]:-?}) | $(met "$r") |"
  r=$(awk -v p="${P99[search]:-}" 'BEGIN { print (p != "" && p < 0.020) ? 1 : 0 }')
  echo "| search p99 < 20 ms at $CONC connections | $(fmt_ms "${P99[search]:-}") | $(met "$r") |"
  r=$(awk -v p="${P99[listing]:-}" 'BEGIN { print (p != "" && p < 0.010) ? 1 : 0 }')
  echo "| listing (cached instance) p99 < 10 ms over three cache periods | $(fmt_ms "${P99[listing]:-}") | $(met "$r") |"
  r=$(awk -v p="${P99[listing_uncached]:-}" 'BEGIN { print (p != "" && p < 0.020) ? 1 : 0 }')
  echo "| listing, cache off p99 < 20 ms at $CONC connections | $(fmt_ms "${P99[listing_uncached]:-}") (SQL listing: $(fmt_ms "${P99[listing_sql]:-}")) | $(met "$r") |"
  r=$(awk -v a="${RPS[checkout]:-0}" -v ok="$CHECKOUT_OK" 'BEGIN { print (ok == 1 && a >= 1000) ? 1 : 0 }')
  echo "| checkout >= 1,000 orders/s, zero errors, zero oversell | $(fmt_rps "${RPS[checkout]:-0}") orders/s, $([ "$CHECKOUT_OK" = 1 ] && echo "no errors, stock check ok" || echo "errors or stock check failed") | $(met "$r") |"
  r=$(awk -v b="${RPS[pg_checkout]:-0}" 'BEGIN { print (b > 0 && b < 1000) ? 1 : 0 }')
  echo "| (the floor) pgbench replay of checkout's SQL below 1,000 orders/s | $(fmt_rps "${RPS[pg_checkout]:-0}") orders/s | $([ "$r" = 1 ] && echo "yes: the target is above the floor" || echo "no") |"
  r=$(awk -v a="${RPS[checkout]:-0}" -v b="${RPS[pg_checkout]:-0}" 'BEGIN { print (b > 0 && a >= 0.5 * b) ? 1 : 0 }')
  echo "| checkout >= 50% of the pgbench replay of its SQL | $(pct "${RPS[checkout]:-0}" "${RPS[pg_checkout]:-0}") | $(met "$r") |"
  r=$(awk -v a="${RPS[add_to_cart]:-0}" 'BEGIN { print (a >= 5000) ? 1 : 0 }')
  echo "| add to cart >= 5,000 requests/s | $(fmt_rps "${RPS[add_to_cart]:-0}") requests/s | $(met "$r") |"
  r=$(awk -v b="${RPS[pg_add_to_cart]:-0}" 'BEGIN { print (b > 0 && b < 5000) ? 1 : 0 }')
  echo "| (the floor) pgbench replay of add to cart's SQL below 5,000 requests/s | $(fmt_rps "${RPS[pg_add_to_cart]:-0}") requests/s, the API $(pct "${RPS[add_to_cart]:-0}" "${RPS[pg_add_to_cart]:-0}") of it | $([ "$r" = 1 ] && echo "yes: the target is above the floor" || echo "no") |"
  for k in add_to_cart checkout; do
    r=$(awk -v x="${RATIO[${k}_promotions]:-0}" 'BEGIN { print (x >= 0.8) ? 1 : 0 }')
    echo "| ${k//_/ } with 50 automatic promotions (typical mix) >= 80% of without (A-B-A) | $(awk -v x="${RATIO[${k}_promotions]:-0}" 'BEGIN { printf "%.0f%%", 100 * x }') | $(met "$r") |"
  done
  r=$(awk -v a="$RSS_CACHED" -v b="$RSS_UNCACHED" 'BEGIN { print (a + 0 < 300 && b + 0 < 300) ? 1 : 0 }')
  echo "| API RSS < 300 MiB with the search index of $PRODUCTS products | ${RSS_CACHED} / ${RSS_UNCACHED} MiB (without the index: ${RSS_SQL} MiB) | $(met "$r") |"
}

if [ "$QUICK" = 0 ]; then
  TARGETS=$(targets)
  echo "$TARGETS"
  echo
fi

machine() {
  local cpu mem
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
  mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
  echo "- CPU: $(nproc) cores, ${cpu:-unknown model}; memory $mem; Linux $(uname -r)"
  echo "- CPU use by other work just before the scenarios: ${IDLE_BUSY}%; load average (1, 5, 15 min) before: $LOAD_BEFORE, after: $LOAD_AFTER${BUSY_NOTE:+. **Warning**: $BUSY_NOTE}"
  echo "- PostgreSQL $(psql -X -At -d postgres -c 'SHOW server_version' | cut -d' ' -f1) (shared_buffers $(psql -X -At -d postgres -c 'SHOW shared_buffers')), Redis $(redis-cli -u "$REDIS_URL" info server | tr -d '\r' | awk -F: '/^redis_version/ { print $2 }'), all on this machine over loopback"
  echo "- Load: $(oha --version | head -1), $(pgbench --version | head -1), both on the same machine"
  echo "- API: release build of commit $(git rev-parse --short HEAD 2>/dev/null)$([ -z "$(git status --porcelain -- apps crates migrations Cargo.toml Cargo.lock 2>/dev/null)" ] || echo ' plus uncommitted changes to the code'), dev profile with JSON logs at warn, default workers (one per core) and pool (16 connections)${MMAP_THRESHOLD:+, MALLOC_MMAP_THRESHOLD_=$MMAP_THRESHOLD as in deploy/Dockerfile}"
}

if [ "$WRITE" = 1 ]; then
  DOC=docs/performance.md
  SECTION="$WORK/section.md"
  {
    echo "<!-- bench:begin: written by benches/run.sh; edit outside these markers -->"
    echo "Run of $(date -u '+%Y-%m-%d %H:%M UTC'): \`$COMMAND\` (\`just bench\`), $PRODUCTS products and $USERS users, ${DURATION} s per scenario, in $(($(date +%s) - STARTED)) s."
    echo
    machine
    echo
    echo "$TABLE"
    echo
    echo "$RSS_LINE"
    echo
    echo "$TARGETS"
    echo "<!-- bench:end -->"
  } >"$SECTION"
  if [ -f "$DOC" ] && grep -q '^<!-- bench:begin' "$DOC" && grep -q '^<!-- bench:end' "$DOC"; then
    awk -v section="$SECTION" '
      /^<!-- bench:begin/ { while ((getline line < section) > 0) print line; skipping = 1; next }
      /^<!-- bench:end/ { skipping = 0; next }
      !skipping { print }' "$DOC" >"$WORK/doc.md"
    cat "$WORK/doc.md" >"$DOC"
  else
    { [ -f "$DOC" ] && cat "$DOC" && echo; echo "## Last run"; echo; cat "$SECTION"; } >"$WORK/doc.md"
    cat "$WORK/doc.md" >"$DOC"
  fi
  say "wrote the results into $DOC"
fi

ELAPSED=$(($(date +%s) - STARTED))
if [ "${#FAILED[@]}" -gt 0 ]; then
  say "FAILED after $ELAPSED s: ${FAILED[*]}"
  exit 1
fi
say "$MODE run passed in $ELAPSED s: every scenario completed without errors"
