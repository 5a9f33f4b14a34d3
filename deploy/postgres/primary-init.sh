#!/usr/bin/env bash
# Runs once, when the primary's data directory is first initialised (mounted into
# /docker-entrypoint-initdb.d by docker-compose.yml): creates the streaming-replication role and a
# physical replication slot for the replica, and lets that role connect for replication.
# WAL settings (wal_level=replica, max_wal_senders, ...) are on the postgres command line in
# docker-compose.yml.
set -Eeuo pipefail

: "${REPLICATION_USER:?REPLICATION_USER is not set}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD is not set}"
: "${REPLICATION_SLOT:=replica1}"

psql -v ON_ERROR_STOP=1 --no-psqlrc \
  --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v repl_user="$REPLICATION_USER" \
  -v repl_password="$REPLICATION_PASSWORD" \
  -v repl_slot="$REPLICATION_SLOT" <<'SQL'
CREATE ROLE :"repl_user" WITH REPLICATION LOGIN PASSWORD :'repl_password';
SELECT pg_create_physical_replication_slot(:'repl_slot');
SQL

# "all" in pg_hba.conf does not cover replication connections; they need their own line.
echo "host replication ${REPLICATION_USER} all scram-sha-256" >> "${PGDATA}/pg_hba.conf"
echo "primary-init: replication role ${REPLICATION_USER} and slot ${REPLICATION_SLOT} created"
