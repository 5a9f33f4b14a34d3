#!/usr/bin/env bash
# Entrypoint of the postgres-replica service: on first start (empty data directory) clones the
# primary with pg_basebackup and configures a streaming hot standby on the primary's replication
# slot; then hands over to the image's own docker-entrypoint.sh, which runs postgres on the
# existing data directory. Arguments are the postgres command line (see docker-compose.yml).
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
: "${PRIMARY_HOST:=postgres}"
: "${PRIMARY_PORT:=5432}"
: "${REPLICATION_USER:?REPLICATION_USER is not set}"
: "${REPLICATION_PASSWORD:?REPLICATION_PASSWORD is not set}"
: "${REPLICATION_SLOT:=replica1}"

# Runs a command as the postgres user (the image's entrypoint starts as root).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then gosu postgres "$@"; else "$@"; fi
}

if [ ! -s "${PGDATA}/PG_VERSION" ]; then
  echo "replica: waiting for the primary at ${PRIMARY_HOST}:${PRIMARY_PORT}"
  until pg_isready -q -h "${PRIMARY_HOST}" -p "${PRIMARY_PORT}"; do sleep 1; done

  mkdir -p "${PGDATA}"
  # Leftovers of an interrupted clone would make pg_basebackup refuse to start.
  find "${PGDATA}" -mindepth 1 -delete
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "${PGDATA}"; fi
  chmod 0700 "${PGDATA}"

  echo "replica: cloning the primary (pg_basebackup, slot ${REPLICATION_SLOT})"
  export PGPASSWORD="${REPLICATION_PASSWORD}"
  as_postgres pg_basebackup \
    --host="${PRIMARY_HOST}" --port="${PRIMARY_PORT}" --username="${REPLICATION_USER}" \
    --pgdata="${PGDATA}" --wal-method=stream --slot="${REPLICATION_SLOT}" \
    --checkpoint=fast --no-password
  unset PGPASSWORD

  # Standby configuration (what `pg_basebackup -R` would write, with the password spelled out so
  # the WAL receiver does not depend on a ~/.pgpass outside the volume).
  as_postgres touch "${PGDATA}/standby.signal"
  as_postgres tee -a "${PGDATA}/postgresql.auto.conf" >/dev/null <<CONF
primary_conninfo = 'host=${PRIMARY_HOST} port=${PRIMARY_PORT} user=${REPLICATION_USER} password=${REPLICATION_PASSWORD} application_name=${REPLICATION_SLOT}'
primary_slot_name = '${REPLICATION_SLOT}'
CONF
  echo "replica: clone complete, starting as a hot standby"
fi

exec docker-entrypoint.sh "$@"
