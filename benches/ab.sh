#!/usr/bin/env bash
# A-B of two builds of the API on the listing and search of `just bench`: both instances run side
# by side against the benchmark's database (seeded by benches/run.sh), without caches, and are
# loaded in turn (A, B, A, B) with the same URL sets, so host drift shows as a difference between
# the rounds rather than between the builds. Prints requests/s and p99 per round, then
# /health/live of A as the HTTP ceiling of the moment.
#
#   benches/ab.sh OLD_BINARY NEW_BINARY        e.g. a copy of target/release/shop-api per commit
#
# Environment: BENCH_DB (shop_bench), PGHOST/PGPORT/PGUSER, REDIS_URL, DURATION (10 s per
# round), ROUNDS (2), BENCH_CONCURRENCY (32). Needs oha (benches/run.sh installs it).
set -Eeuo pipefail
[ $# -eq 2 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
A=$(realpath "$1")
B=$(realpath "$2")
DB=${BENCH_DB:-shop_bench}
PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-2} CONC=${BENCH_CONCURRENCY:-32}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start() { # NAME BINARY PORT
  env SHOP_PROFILE=dev SHOP_DATABASE__URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB" SHOP_DATABASE__EMBEDDED=false \
    SHOP_REDIS__URL="${REDIS_URL:-redis://127.0.0.1:6379}" SHOP_REDIS__KEY_PREFIX="ab:$$:$1:" \
    SHOP_TELEMETRY__LOG_FORMAT=json SHOP_TELEMETRY__LOG_FILTER=warn SHOP_SERVER__HOST=127.0.0.1 \
    SHOP_SERVER__PORT="$3" SHOP_RATE_LIMIT__ENABLED=false SHOP_CATALOG__CACHE_ENABLED=false \
    SHOP_AUTH__SESSION_CACHE_TTL_SECS=0 "$2" serve >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
}
start a "$A" 18581
start b "$B" 18582
for port in 18581 18582; do
  for _ in $(seq 1 120); do
    curl -fs "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -q 'search_index{stat="serving"} 1' && break
    sleep 1
  done
done

# The URL sets of benches/run.sh: 576 listings (every category x 4 price ranges x 3 sorts) and
# its search terms.
# shellcheck source=benches/urls.sh
. "$(dirname "$0")/urls.sh"
slugs=$(psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$DB" -Atc "SELECT slug FROM categories ORDER BY slug")
for port in 18581 18582; do
  # shellcheck disable=SC2086 # one slug per word
  write_url_sets "http://127.0.0.1:$port" "$WORK/listing-$port" "$WORK/search-$port" $slugs
done

measure() { # URL-FILE-OR-URL...
  oha --no-tui --output-format json -z "${DURATION}s" -c "$CONC" "$@" 2>/dev/null |
    jq -r '"\(.summary.requestsPerSec | floor) requests/s, p99 \(.latencyPercentiles.p99 * 1000 * 100 | round / 100) ms, success \(.summary.successRate)"'
}
echo "| round | build | scenario | result |"
echo "|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  for side in a:18581 b:18582; do
    for kind in search listing; do
      echo "| $round | ${side%%:*} | $kind | $(measure --urls-from-file "$WORK/$kind-${side##*:}") |"
    done
  done
done
echo "| - | a | /health/live | $(DURATION=5 measure "http://127.0.0.1:18581/health/live") |"
