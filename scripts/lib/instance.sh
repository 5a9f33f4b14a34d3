# shellcheck shell=bash
# A throwaway instance of the API for black-box checks, sourced by scripts/schemathesis.sh and
# scripts/contract.sh: the debug binary (built when missing or stale), the test profile, a fresh
# database (dropped on exit), its own Redis key prefix (deleted on exit), a spare loopback port,
# rate limits out of the way, seeded demo data and an admin account.
#
# Set before sourcing: NAME (messages, database and key names), RUN_DIR (its logs go there),
# PYTHON. Optional: INSTANCE_PRODUCTS (default 50), INSTANCE_USERS (default 5), SKIP_BUILD=1 (use
# the existing binary as it is), SHOP_TEST_DATABASE_URL, SHOP_TEST_REDIS_URL.
# `instance_start` then starts it and sets BASE, ADMIN_EMAIL, ADMIN_PASSWORD and BIN; the
# instance is stopped and its data removed when the sourcing script exits. Extra SHOP_* settings
# exported before `instance_start` apply to it.

PG_SERVER=${SHOP_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
PG_SERVER=${PG_SERVER%/}
REDIS_URL=${SHOP_TEST_REDIS_URL:-redis://127.0.0.1:6379}
API_PID=

instance_say() { echo "$NAME: $*" >&2; }

instance_start() {
  local target tag
  target=$(cargo metadata --format-version 1 --no-deps | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  BIN=$target/debug/shop-api
  if [ ! -x "$BIN" ] || [ "${SKIP_BUILD:-0}" != 1 ]; then
    instance_say "building the debug binary"
    cargo build --quiet -p shop-api
  fi
  scripts/services.sh

  rm -rf "$RUN_DIR" && mkdir -p "$RUN_DIR"
  tag=$("$PYTHON" -c 'import uuid; print(uuid.uuid4().hex[:12])')
  INSTANCE_DB=shop_${NAME//[^a-z]/_}_$tag
  INSTANCE_PREFIX="$NAME:$tag:"
  local port
  port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  BASE=http://127.0.0.1:$port

  export SHOP_PROFILE=test
  export SHOP_CONFIG=/nonexistent/shop.toml            # ignore a developer's shop.toml
  export SHOP_DATABASE__URL=$PG_SERVER/$INSTANCE_DB
  export SHOP_DATABASE__CREATE_IF_MISSING=true
  export SHOP_DATABASE__EMBEDDED=false
  export SHOP_REDIS__URL=$REDIS_URL
  export SHOP_REDIS__KEY_PREFIX=$INSTANCE_PREFIX
  export SHOP_SERVER__HOST=127.0.0.1
  export SHOP_SERVER__PORT=$port
  export SHOP_SERVER__WORKERS=2
  # Generated and scripted requests must not be throttled: that would only test the limiter.
  export SHOP_AUTH__LOGIN_PER_IP='{limit=1000000,period_secs=1}'
  export SHOP_AUTH__LOGIN_PER_ACCOUNT='{limit=1000000,period_secs=1}'
  export SHOP_AUTH__REGISTER_PER_IP='{limit=1000000,period_secs=1}'
  export SHOP_RATE_LIMIT__ENABLED=false
  export SHOP_TELEMETRY__LOG_FILTER=warn
  export SHOP_TELEMETRY__LOG_FORMAT=json
  unset OTEL_EXPORTER_OTLP_ENDPOINT

  trap instance_cleanup EXIT
  trap 'exit 130' INT TERM

  "$BIN" migrate >"$RUN_DIR/setup.log" 2>&1 || { cat "$RUN_DIR/setup.log"; exit 1; }
  "$BIN" seed --products "${INSTANCE_PRODUCTS:-50}" --users "${INSTANCE_USERS:-5}" >>"$RUN_DIR/setup.log" 2>&1 \
    || { cat "$RUN_DIR/setup.log"; exit 1; }
  ADMIN_EMAIL="$NAME-admin-$tag@example.com"
  ADMIN_PASSWORD="$NAME admin passphrase $tag"
  SHOP_ADMIN_PASSWORD=$ADMIN_PASSWORD "$BIN" admin create --email "$ADMIN_EMAIL" >>"$RUN_DIR/setup.log" 2>&1 \
    || { cat "$RUN_DIR/setup.log"; exit 1; }

  "$BIN" serve >"$RUN_DIR/api.log" 2>&1 &
  API_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "$BASE/health/ready" >/dev/null 2>&1 && break
    kill -0 "$API_PID" 2>/dev/null || { instance_say "the API exited:"; cat "$RUN_DIR/api.log"; exit 1; }
    sleep 0.1
  done
  curl -fsS "$BASE/health/ready" >/dev/null || { instance_say "the API did not become ready"; cat "$RUN_DIR/api.log"; exit 1; }
}

instance_cleanup() {
  local rc=$?
  if [ -n "$API_PID" ] && kill -0 "$API_PID" 2>/dev/null; then
    kill "$API_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$API_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$API_PID" 2>/dev/null || true
  fi
  if [ -n "${INSTANCE_DB:-}" ]; then
    psql "$PG_SERVER/postgres" -qXc "DROP DATABASE IF EXISTS \"$INSTANCE_DB\" WITH (FORCE)" >/dev/null 2>&1 \
      || instance_say "could not drop database $INSTANCE_DB"
  fi
  if [ -n "${INSTANCE_PREFIX:-}" ] && command -v redis-cli >/dev/null; then
    redis-cli -u "$REDIS_URL" --scan --pattern "${INSTANCE_PREFIX}*" 2>/dev/null \
      | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
