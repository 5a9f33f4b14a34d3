#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and RabbitMQ answer on their default local ports, starting local
# ones when they are installed but stopped, and that the tests' SMTP server (Python's aiosmtpd)
# is importable. With INSTALL=1 (CI), installs missing packages with apt-get.
# Exits non-zero with one line naming what to install when it cannot.
set -uo pipefail

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}

say() { echo "services: $*" >&2; }

pg_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null || (exec 3<>"/dev/tcp/$PGHOST/$PGPORT") 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG || { (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && ! command -v redis-cli >/dev/null; }; }

apt_install() {
  if [ "${INSTALL:-0}" = 1 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    say "installing $*"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >/dev/null 2>&1
  else
    return 1
  fi
}

# --- PostgreSQL -------------------------------------------------------------------------------
if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    apt_install postgresql postgresql-contrib || { say "PostgreSQL is not installed: install it (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql)"; exit 1; }
  fi
  if command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
    for v in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || pg_ctlcluster "$v" main start >/dev/null 2>&1 || true
    done
    # Trust local TCP connections for the postgres user if the cluster was just installed.
    for i in $(seq 1 30); do pg_up && break; sleep 0.5; done
  fi
  if pg_up; then
    say "PostgreSQL started on $PGHOST:$PGPORT"
  else
    say "no PostgreSQL on $PGHOST:$PGPORT; the test harness and the dev profile will start a private one with the installed binaries"
  fi
fi
# Our URLs use user postgres without a password on 127.0.0.1: make sure that works.
if pg_up && ! psql -h "$PGHOST" -p "$PGPORT" -U postgres -c 'select 1' postgres >/dev/null 2>&1; then
  say "PostgreSQL on $PGHOST:$PGPORT refuses user postgres without a password; set SHOP_TEST_DATABASE_URL (tests) and SHOP_DATABASE__URL (run) to a URL with credentials"
fi

# --- Redis -----------------------------------------------------------------------------------
if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server || { say "Redis is not installed: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)"; exit 1; }
  fi
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
  for i in $(seq 1 30); do redis_up && break; sleep 0.2; done
  redis_up && say "Redis started on 127.0.0.1:$REDIS_PORT" || { say "Redis did not start on port $REDIS_PORT"; exit 1; }
fi
# --- RabbitMQ (the outbox's broker tests) ------------------------------------------------------
AMQP_PORT=${AMQP_PORT:-5672}
amqp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$AMQP_PORT") 2>/dev/null; }
if ! amqp_up; then
  if ! command -v rabbitmq-server >/dev/null; then
    apt_install rabbitmq-server || { say "RabbitMQ is not installed: install it (Debian/Ubuntu: apt-get install rabbitmq-server; macOS: brew install rabbitmq), or point SHOP_TEST_AMQP_URL at a broker"; exit 1; }
  fi
  rabbitmq-server -detached >/dev/null 2>&1 || true
  for i in $(seq 1 120); do amqp_up && break; sleep 0.5; done
  amqp_up && say "RabbitMQ started on 127.0.0.1:$AMQP_PORT" || { say "RabbitMQ did not start on port $AMQP_PORT"; exit 1; }
fi

# --- aiosmtpd: the real SMTP server the notification tests send to -----------------------------
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  command -v python3 >/dev/null || { say "Python 3 is not installed: install it (Debian/Ubuntu: apt-get install python3 python3-pip)"; exit 1; }
  say "installing aiosmtpd (PyPI) for the notification tests"
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd >/dev/null 2>&1 \
    || python3 -m pip install --quiet --user --break-system-packages aiosmtpd >/dev/null 2>&1 \
    || { say "could not install aiosmtpd: run python3 -m pip install aiosmtpd"; exit 1; }
fi
exit 0
