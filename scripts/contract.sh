#!/usr/bin/env bash
# The API contract as a frontend team meets it, checked against a throwaway instance
# (scripts/lib/instance.sh: test profile, fresh database, seeded data, an admin):
#
#  1. the served /openapi.json: openapi-spec-validator accepts it; Spectral (`spectral:oas`,
#     apps/sdk/.spectral.yaml) and Redocly (`recommended`, apps/sdk/redocly.yaml) report no error
#     and no warning;
#  2. the TypeScript SDK (apps/sdk): the types generated from the served document are the
#     committed ones (`npm run generate` after an API change), `tsc --strict` accepts the SDK and
#     its journey test, and the journey (a storefront and an admin, end to end) passes against
#     the instance;
#  3. /docs offline: headless Chromium, with every host but 127.0.0.1 unresolvable, renders the
#     API reference and finds every operation of the document in it, with no script refused.
#
# Usage: scripts/contract.sh            (INSTALL=1: apt-get chromium when missing, as CI does)
# Env:   CONTRACT_SKIP_BUILD=1  use the existing debug binary as it is
# The tools come from apps/sdk/package-lock.json (`npm ci`) and PyPI (a pinned validator in a
# cached venv); logs of the last run are kept in ${XDG_CACHE_HOME:-~/.cache}/shop-contract.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SDK=$ROOT/apps/sdk
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/shop-contract
RUN_DIR=$CACHE/last-run
PYTHON=python3
VALIDATOR_VERSION=0.9.0
say() { echo "contract.sh: $*" >&2; }

# --- tools ----------------------------------------------------------------------------------------
if [ ! -x "$CACHE/venv/bin/openapi-spec-validator" ] || [ "$(cat "$CACHE/venv/.installed" 2>/dev/null)" != "$VALIDATOR_VERSION" ]; then
  say "installing openapi-spec-validator $VALIDATOR_VERSION"
  rm -rf "$CACHE/venv" && mkdir -p "$CACHE"
  "$PYTHON" -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$VALIDATOR_VERSION"
  echo "$VALIDATOR_VERSION" >"$CACHE/venv/.installed"
fi
if [ ! -d "$SDK/node_modules" ] || [ "$SDK/package-lock.json" -nt "$SDK/node_modules/.package-lock.json" ]; then
  say "installing the SDK's packages (npm ci)"
  (cd "$SDK" && npm ci --no-audit --no-fund --loglevel=error)
fi
CHROMIUM=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$CHROMIUM" ] && [ "${INSTALL:-0}" = 1 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  say "installing chromium (apt-get)"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  CHROMIUM=$(command -v chromium)
fi
[ -n "$CHROMIUM" ] || { say "chromium is missing: apt-get install chromium (or INSTALL=1 as root)"; exit 1; }

# --- the instance ---------------------------------------------------------------------------------
NAME=contract
SKIP_BUILD=${CONTRACT_SKIP_BUILD:-0}
INSTANCE_PRODUCTS=60
INSTANCE_USERS=5
# shellcheck source=lib/instance.sh
. "$ROOT/scripts/lib/instance.sh"
instance_start
curl -fsS "$BASE/openapi.json" -o "$RUN_DIR/openapi.json"

# --- 1. the document ------------------------------------------------------------------------------
say "openapi-spec-validator"
"$CACHE/venv/bin/openapi-spec-validator" "$RUN_DIR/openapi.json"
say "spectral (spectral:oas): fails on any warning"
(cd "$SDK" && npx spectral lint --fail-severity=warn --ruleset .spectral.yaml "$RUN_DIR/openapi.json")
say "redocly lint (recommended): fails on any warning"
(cd "$SDK" && npx redocly lint --config redocly.yaml --format=json "$RUN_DIR/openapi.json" 2>/dev/null || true) >"$RUN_DIR/redocly.json"
"$PYTHON" - "$RUN_DIR/redocly.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for p in report["problems"]:
    where = ", ".join(l.get("pointer", "") for l in p.get("location", []))
    print(f"  {p['severity']} {p['ruleId']}: {p['message']} at {where}")
totals = report["totals"]
print("redocly: {errors} errors, {warnings} warnings".format(**totals))
sys.exit(1 if totals["errors"] or totals["warnings"] else 0)
PY

# --- 2. the SDK -----------------------------------------------------------------------------------
say "SDK types are generated from the served document"
(cd "$SDK" && npx openapi-typescript "$RUN_DIR/openapi.json" -o "$RUN_DIR/schema.d.ts" >/dev/null)
if ! diff -q "$SDK/src/schema.d.ts" "$RUN_DIR/schema.d.ts" >/dev/null; then
  diff -u "$SDK/src/schema.d.ts" "$RUN_DIR/schema.d.ts" | head -40
  say "apps/sdk/src/schema.d.ts is stale: run (cd apps/sdk && npm run generate) and commit it"
  exit 1
fi
say "tsc --strict (the SDK and its journey, no casts)"
if grep -nE '\bas (unknown|any|const|[A-Za-z_]+(\[|<|;|,|\)|$))|@ts-(ignore|expect-error|nocheck)|eslint-disable' "$SDK/test/journey.ts" "$SDK/src/index.ts"; then
  say "the journey and the SDK must type-check without casts or suppressions"
  exit 1
fi
(cd "$SDK" && npx tsc -p .)
say "journey against $BASE"
(cd "$SDK" && SHOP_URL=$BASE SHOP_ADMIN_EMAIL=$ADMIN_EMAIL SHOP_ADMIN_PASSWORD=$ADMIN_PASSWORD node dist/test/journey.js)

# --- 3. /docs offline -----------------------------------------------------------------------------
say "/docs in headless Chromium with no network but the instance"
rm -rf "$RUN_DIR/chromium"
timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$RUN_DIR/chromium" --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
  --virtual-time-budget=20000 --enable-logging=stderr --v=0 \
  --dump-dom "$BASE/docs" >"$RUN_DIR/docs.html" 2>"$RUN_DIR/chromium.log"
"$PYTHON" - "$RUN_DIR/openapi.json" "$RUN_DIR/docs.html" "$RUN_DIR/chromium.log" <<'PY'
import json, re, sys
doc = json.load(open(sys.argv[1]))
html = open(sys.argv[2], encoding="utf-8").read()
log = open(sys.argv[3], encoding="utf-8", errors="replace").read()
ids = [op["operationId"] for item in doc["paths"].values() for m, op in item.items()
       if m in ("get", "put", "post", "patch", "delete")]
title = re.search(r"<title>([^<]*)</title>", html)
rendered = set(re.findall(r'opblock-summary-operation-id">([^<]+)<', html))
missing = [i for i in ids if i not in rendered]
refused = [l for l in log.splitlines() if "Content Security Policy" in l or "Uncaught" in l]
print(f"/docs: title {title.group(1) if title else None!r}, {len(rendered)} of {len(ids)} operations rendered")
problems = []
if not title or doc["info"]["title"] not in title.group(1):
    problems.append("the page is not titled after the API")
if missing:
    problems.append(f"operations not rendered: {missing[:10]}")
if refused:
    problems.append(f"the browser refused or failed scripts: {refused[:5]}")
if problems:
    sys.exit("; ".join(problems))
PY
say "passed"
