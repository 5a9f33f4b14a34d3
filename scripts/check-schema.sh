#!/usr/bin/env bash
# Fails when crates/persistence/src/schema.rs differs from what the migrations produce: applies
# every migration to a scratch database and compares `diesel print-schema` (with diesel.toml's
# patch) to the committed file. Regenerate with: scripts/check-schema.sh --write
#
# Needs diesel_cli (installed here with cargo when missing: it links libpq, Debian's libpq-dev)
# and the PostgreSQL server of the tests (SHOP_TEST_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
server=${SHOP_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
if ! command -v diesel >/dev/null; then
  echo "installing diesel_cli (once)"
  cargo install diesel_cli --locked --version 2.3.3 --no-default-features --features postgres >/dev/null 2>&1 \
    || { echo "cargo install diesel_cli failed: it needs libpq (apt-get install libpq-dev)"; exit 1; }
fi
db="shop_schema_check_$$"
psql() { command psql "$server/postgres" -qAtX -v ON_ERROR_STOP=1 "$@"; }
psql -c "CREATE DATABASE $db" >/dev/null
trap 'psql -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
# Not `diesel migration run`: with diesel.toml's `file` set it would rewrite schema.rs itself.
for up in migrations/*/up.sql; do
  command psql "$server/$db" -qAtX -v ON_ERROR_STOP=1 -f "$up" >/dev/null
done
generated=$(mktemp)
diesel print-schema --database-url "$server/$db" >"$generated"
if [ "${1:-}" = --write ]; then
  cp "$generated" crates/persistence/src/schema.rs
  echo "wrote crates/persistence/src/schema.rs"
elif ! diff -u crates/persistence/src/schema.rs "$generated"; then
  echo "schema.rs differs from the migrations (above: committed vs generated); run scripts/check-schema.sh --write"
  exit 1
else
  echo "schema.rs matches the migrations"
fi
rm -f "$generated"
