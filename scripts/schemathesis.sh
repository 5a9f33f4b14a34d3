#!/usr/bin/env bash
# Property-based API testing with Schemathesis against a throwaway instance of the API.
#
# Every operation of /openapi.json is called as an admin (so authorisation does not hide the
# handlers) with generated valid and invalid inputs, and each answer is checked for: no 5xx,
# a documented status code, a documented content type, a body matching the documented schema.
#
# The instance: the debug binary (built when missing or stale), the test profile, a fresh
# database (dropped on exit), its own Redis key prefix (deleted on exit), a spare loopback port,
# rate limits out of the way, a little seeded data and an admin account.
#
# Usage:  scripts/schemathesis.sh [extra `st run` options]
# Env:    ST_MAX_EXAMPLES  examples per operation and phase (default 25)
#         ST_SEED          random seed (default fixed, so runs are reproducible)
#         ST_TIME_LIMIT    wall-clock limit of the Schemathesis run in seconds (default 180)
#         ST_PHASES        phases to run (default examples,coverage,fuzzing)
#         ST_SKIP_BUILD=1  use the existing debug binary as it is (default: `cargo build`, a no-op
#                          when it is up to date)
#         ST_PYTHON        the Python to make the venv with (default: the newest >= 3.12 found)
#         SHOP_TEST_DATABASE_URL  PostgreSQL server URL (default postgres://postgres@127.0.0.1:5432)
# Exits non-zero on any failure; the reports (JUnit, NDJSON) and the API log of the last run are
# kept under ${XDG_CACHE_HOME:-~/.cache}/shop-schemathesis/last-run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# 4.x reads OpenAPI 3.1 natively (3.x needed --experimental=openapi-3.1).
ST_VERSION=4.32.5
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-25}
SEED=${ST_SEED:-20261126}
TIME_LIMIT=${ST_TIME_LIMIT:-180}
PHASES=${ST_PHASES:-examples,coverage,fuzzing}

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/shop-schemathesis
VENV=$CACHE/venv
RUN_DIR=$CACHE/last-run
say() { echo "schemathesis.sh: $*" >&2; }

# --- Schemathesis ------------------------------------------------------------------------------
# A Python >= 3.12 when there is one: under 3.11 Hypothesis sometimes dies in `ast.parse` with
# "SystemError: AST constructor recursion depth mismatch" (a CPython 3.11 bug), which
# Schemathesis reports as a runtime error of the operation being generated.
pick_python() {
  local c
  for c in ${ST_PYTHON:-} python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 python3; do
    if "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then echo "$c"; return; fi
  done
  echo python3
}
PYTHON=$(pick_python)
WANT="schemathesis $ST_VERSION on $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$WANT" ] || [ ! -x "$VENV/bin/st" ]; then
  say "installing $WANT into $VENV"
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
  echo "$WANT" >"$VENV/.installed"
fi

# --- a throwaway instance (scripts/lib/instance.sh) -------------------------------------------
NAME=st
SKIP_BUILD=${ST_SKIP_BUILD:-0}
INSTANCE_PRODUCTS=50
INSTANCE_USERS=5
# shellcheck source=lib/instance.sh
. "$ROOT/scripts/lib/instance.sh"
# The webhook secret, shared with the hook that signs generated webhook calls (hooks.py).
ST_WEBHOOK_SECRET=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(32))')
export ST_WEBHOOK_SECRET SHOP_PAYMENTS__WEBHOOK_SECRET=$ST_WEBHOOK_SECRET
export SCHEMATHESIS_HOOKS=$ROOT/scripts/schemathesis/hooks.py
instance_start
TAG=${INSTANCE_PREFIX#st:}
TAG=${TAG%:}

TOKEN=$(curl -fsS -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\": \"$ADMIN_EMAIL\", \"password\": \"$ADMIN_PASSWORD\"}" \
  | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Logging out ends the caller's session and its access token. Sent with the admin token above,
# `POST /auth/logout` and `/auth/logout-all` would turn every later request into a 401, so
# schemathesis.toml sends them with the sessions of two throwaway accounts (one each, so neither
# ends the other's) instead: ST_LOGOUT_TOKEN, ST_LOGOUT_ALL_TOKEN.
throwaway_token() {
  local email="st-$1-$TAG@example.com" password="schemathesis $1 passphrase $TAG"
  curl -fsS -o /dev/null -X POST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\": \"$email\", \"password\": \"$password\", \"name\": \"Schemathesis\"}"
  curl -fsS -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\": \"$email\", \"password\": \"$password\"}" \
    | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
ST_LOGOUT_TOKEN=$(throwaway_token logout)
ST_LOGOUT_ALL_TOKEN=$(throwaway_token logout-all)
export ST_LOGOUT_TOKEN ST_LOGOUT_ALL_TOKEN

# Real ids and slugs for the generator (see schemathesis.toml), beside a copy of the config.
cp "$ROOT/scripts/schemathesis/schemathesis.toml" "$RUN_DIR/schemathesis.toml"
"$PYTHON" "$ROOT/scripts/schemathesis/dictionaries.py" "$BASE" "$TOKEN" "$RUN_DIR"

# --- the run -----------------------------------------------------------------------------------
# Checks: no 5xx; only documented status codes and content types; bodies match their schemas.
#
# Options, and why:
# * --config-file: scripts/schemathesis/schemathesis.toml (inputs drawn from real ids; it
#   excludes nothing and turns no check off).
# * -H Authorization: every operation as an admin. Checkout's `Idempotency-Key` is a documented
#   header parameter, so it is generated like any other (a missing or blank one is the documented
#   400). The webhook's `Shop-Signature` is signed for real by scripts/schemathesis/hooks.py
#   (SCHEMATHESIS_HOOKS), so generated events reach the handler; unsigned ones get the
#   documented 401. Logout and logout-all carry throwaway sessions instead (schemathesis.toml;
#   they would end the admin's). No operation is excluded.
# * --continue-on-failure: all distinct failures of an operation, not only the first.
# * --suppress-health-check all: Hypothesis's health checks judge the generator (too slow on a
#   debug build, too many inputs filtered out), not the API.
# * --generation-database none: no .hypothesis directory; with the fixed --seed the same inputs
#   are generated each run.
# * the run is bounded by examples per operation and by `timeout`, so CI time stays known.
ST_ARGS=(
  --config-file "$RUN_DIR/schemathesis.toml"
  run "$BASE/openapi.json"
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
  -H "Authorization: Bearer $TOKEN"
  --phases "$PHASES"
  --max-examples "$MAX_EXAMPLES"
  --seed "$SEED"
  --workers 2
  --continue-on-failure
  --request-timeout 20
  --generation-database none
  --suppress-health-check all
  --no-color
  --report junit,ndjson --report-dir "$RUN_DIR"
  --report-junit-path "$RUN_DIR/junit.xml" --report-ndjson-path "$RUN_DIR/events.ndjson"
)
say "running schemathesis $ST_VERSION against $BASE (max $MAX_EXAMPLES examples per operation, seed $SEED, limit ${TIME_LIMIT}s)"
set +e
(cd "$RUN_DIR" && timeout --signal=INT --kill-after=20 "$TIME_LIMIT" "$VENV/bin/st" "${ST_ARGS[@]}" "$@") | tee "$RUN_DIR/st.log"
ST_RC=${PIPESTATUS[0]}
set -e

if [ "$ST_RC" = 124 ] || [ "$ST_RC" = 130 ]; then
  say "the run hit the ${TIME_LIMIT}s limit (ST_TIME_LIMIT); lower ST_MAX_EXAMPLES or raise the limit"
fi
# Server errors as the API logged them (the envelope logs every 5xx as "request failed").
if grep -q '"request failed"\|panicked' "$RUN_DIR/api.log"; then
  say "5xx logged by the API (full log: $RUN_DIR/api.log):"
  grep '"request failed"\|panicked' "$RUN_DIR/api.log" | head -20 >&2
fi
# One line per distinct finding, then "schemathesis: N passed, N failed" counted per operation.
"$PYTHON" "$ROOT/scripts/schemathesis/summary.py" "$RUN_DIR/events.ndjson"
exit "$ST_RC"
