#!/usr/bin/env bash
# criterion micro-benchmarks of the hot pure code (crates/{auth,cart,catalog,search}/benches), then one
# markdown table of the median time per operation, as in docs/performance.md.
#
#   benches/micro.sh                 # the release-profile build and a full criterion run
#   benches/micro.sh --quick         # shorter: 1 s warm-up, 3 s measurement per benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
args=(--noplot)
if [ "${1:-}" = --quick ]; then args+=(--warm-up-time 1 --measurement-time 3); fi
TARGET_DIR=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)}
rm -rf "$TARGET_DIR/criterion"
cargo bench -p auth -p cart -p catalog -p search --bench auth --bench cart --bench catalog --bench search -- "${args[@]}" |
  grep -E '^[a-z_/0-9+]+ *time:|^[a-z_/0-9+]+$|bytes$' >&2
echo "| benchmark | median |"
echo "|---|---:|"
find "$TARGET_DIR/criterion" -path '*/new/estimates.json' | sort | while read -r f; do
  name=$(jq -r '.title // empty' "$(dirname "$f")/benchmark.json" 2>/dev/null || true)
  [ -n "$name" ] || name=$(basename "$(dirname "$(dirname "$f")")")
  jq -r --arg n "$name" '.median.point_estimate as $m
    | if $m >= 1000000 then "\($m / 1000000 * 100 | round / 100) ms"
      elif $m >= 1000 then "\($m / 1000 * 100 | round / 100) µs"
      else "\($m * 10 | round / 10) ns" end
    | "| `\($n)` | \(.) |"' "$f"
done
