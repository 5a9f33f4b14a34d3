#!/usr/bin/env python3
"""Load driver and checks for scripts/fault-suite.sh (Python 3 standard library only).

Subcommands (each bounded in time, loopback only):
  ports N                   print N distinct free loopback TCP ports
  wait-ready URL SECS       wait until GET URL/health/ready answers 200 {"status":"ready"}
  redis ...                 scenario 1: GET load while Redis is stopped and started again
  setup-shop ...            admin product with big stock, shipping method, customers (for scenario 2)
  postgres ...              scenario 2: checkout + GET load across a PostgreSQL restart, then DB checks
  sigterm ...               scenario 3: SIGTERM with slow requests in flight

Every scenario prints `  figure: value` lines and `  FAIL: reason` lines, and exits 1 on a failure.
"""

import argparse
import http.client
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

T0 = time.monotonic()
PROBLEM_JSON = "application/problem+json"


def now():
    return time.monotonic() - T0


def log(msg):
    print(f"  [{now():6.2f}s] {msg}", flush=True)


def figure(name, value):
    print(f"  {name}: {value}", flush=True)


class Failures:
    def __init__(self):
        self.items = []

    def add(self, msg):
        self.items.append(msg)
        print(f"  FAIL: {msg}", flush=True)

    def check(self, ok, msg):
        if not ok:
            self.add(msg)
        return ok


# --- HTTP -----------------------------------------------------------------------------------------

class Result:
    __slots__ = ("method", "path", "status", "ctype", "body", "error", "t0", "t1")

    def __init__(self, method, path):
        self.method, self.path = method, path
        self.status, self.ctype, self.body, self.error = None, "", b"", None
        self.t0 = self.t1 = now()

    @property
    def ok(self):
        return self.status is not None and 200 <= self.status < 300

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def describe(self):
        what = f"{self.status} {self.ctype}" if self.status is not None else f"error {self.error}"
        body = self.body[:300].decode("utf-8", "replace") if self.body else ""
        return f"{self.method} {self.path} -> {what} {body}".strip()


class Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, host, port, timeout=5.0, token=None):
        self.host, self.port, self.timeout, self.token = host, port, timeout, token
        self.conn = None
        self.used = False

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    def request(self, method, path, body=None, headers=None, retry_stale=True):
        r = Result(method, path)
        hdrs = {"Accept": "application/json"}
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            hdrs["Content-Type"] = "application/json"
            body = json.dumps(body).encode()
        hdrs.update(headers or {})
        reused = self.conn is not None and self.used
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.used = False
            self.conn.request(method, path, body=body, headers=hdrs)
            self.used = True
            resp = self.conn.getresponse()
            r.body = resp.read()
            r.status = resp.status
            r.ctype = (resp.getheader("content-type") or "").split(";")[0].strip()
            if resp.getheader("connection", "").lower() == "close":
                self.close()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
            self.close()
            # The server closed an idle keep-alive connection before reading the request: the
            # request never reached a handler, so sending it again on a new connection is safe.
            if reused and retry_stale:
                return self.request(method, path, None if body is None else json.loads(body), headers, False)
            r.error = type(e).__name__
        except socket.timeout:
            self.close()
            r.error = "timeout"
        except OSError as e:
            self.close()
            r.error = type(e).__name__
        except http.client.HTTPException as e:
            self.close()
            r.error = type(e).__name__
        r.t1 = now()
        return r


def split_base(base):
    hostport = base.split("://", 1)[-1].rstrip("/")
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


def ready_state(host, port, timeout=2.0):
    c = Client(host, port, timeout=timeout)
    r = c.request("GET", "/health/ready")
    c.close()
    doc = r.json() if r.status else None
    return r, (doc if isinstance(doc, dict) else {})


def percentile(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def latency_summary(results):
    lat = [(r.t1 - r.t0) * 1000 for r in results]
    if not lat:
        return "n/a"
    return f"p50 {percentile(lat, 50):.0f} ms, p99 {percentile(lat, 99):.0f} ms, max {max(lat):.0f} ms"


def run_cmd(cmd, what):
    t = now()
    p = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    log(f"{what} ({p.returncode}, {now() - t:.2f}s): {cmd}")
    if p.returncode != 0:
        print(p.stdout.decode("utf-8", "replace"), flush=True)
    return p.returncode == 0


def summarize_statuses(results):
    counts = {}
    for r in results:
        k = str(r.status) if r.status is not None else (r.error or "error")
        counts[k] = counts.get(k, 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"


# --- ports / readiness ----------------------------------------------------------------------------

def cmd_ports(a):
    socks, ports = [], []
    while len(ports) < a.n:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        socks.append(s)
        if p not in (5432, 6379) and p not in ports:
            ports.append(p)
    for s in socks:
        s.close()
    print(" ".join(map(str, ports)))


def cmd_wait_ready(a):
    host, port = split_base(a.base)
    deadline = time.monotonic() + a.secs
    last = None
    while time.monotonic() < deadline:
        r, doc = ready_state(host, port)
        last = r
        if r.status == 200 and doc.get("status") == "ready":
            return 0
        time.sleep(0.1)
    print(f"not ready after {a.secs}s: {last.describe() if last else 'no answer'}", file=sys.stderr)
    return 1


# --- scenario 1: Redis stopped under load ---------------------------------------------------------

class Readiness(threading.Thread):
    """Polls /health/ready every `every` seconds, keeping (time, status, doc)."""

    def __init__(self, host, port, every=0.1):
        super().__init__(daemon=True)
        self.host, self.port, self.every = host, port, every
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t = now()
            r, doc = ready_state(self.host, self.port)
            self.samples.append((t, r, doc))
            self.stop.wait(self.every)

    def first_after(self, t, pred):
        for ts, r, doc in self.samples:
            if ts >= t and pred(r, doc):
                return ts
        return None


def get_load(host, port, paths, threads, until, out, token=None):
    def worker(seed):
        rnd = random.Random(seed)
        c = Client(host, port, timeout=5.0, token=token)
        while now() < until:
            out.append(c.request("GET", rnd.choice(paths)))
        c.close()

    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    return ts


def catalog_paths(host, port):
    c = Client(host, port)
    r = c.request("GET", "/api/v1/products?limit=50")
    if not r.ok:
        raise SystemExit(f"cannot list products: {r.describe()}")
    items = r.json().get("items", [])
    paths = ["/api/v1/products", "/api/v1/products?limit=50&sort=price_asc", "/api/v1/categories"]
    for p in items[:20]:
        paths.append(f"/api/v1/products/{p['id']}")
        paths.append(f"/api/v1/products/{p['slug']}")
    r = c.request("GET", "/api/v1/categories")
    c.close()
    if not r.ok:
        raise SystemExit(f"cannot list categories: {r.describe()}")
    # Every path must answer 200 before the fault; otherwise the load would count our own mistakes.
    c = Client(host, port)
    good = []
    for p in paths:
        r = c.request("GET", p)
        if r.ok:
            good.append(p)
        else:
            log(f"dropping {p}: {r.describe()}")
    c.close()
    return good


def cmd_redis(a):
    host, port = split_base(a.base)
    fails = Failures()
    paths = catalog_paths(host, port)
    figure("distinct GET paths", len(paths))
    start = now()
    until = start + a.duration
    results = []
    mon = Readiness(host, port)
    mon.start()
    workers = get_load(host, port, paths, a.threads, until, results)
    time.sleep(max(0.0, start + a.stop_at - now()))
    t_stop = now()
    fails.check(run_cmd(a.stop_cmd, "Redis stopped"), "could not stop Redis")
    time.sleep(max(0.0, start + a.start_at - now()))
    t_start = now()
    fails.check(run_cmd(a.start_cmd, "Redis started"), "could not start Redis")
    for t in workers:
        t.join(a.duration + 10)
    # Readiness must come back to "ready" within the bound (the monitor keeps polling).
    deadline = t_start + a.recovery_bound
    t_ready = None
    while now() < deadline:
        t_ready = mon.first_after(t_start, lambda r, d: r.status == 200 and d.get("status") == "ready")
        if t_ready is not None:
            break
        time.sleep(0.1)
    mon.stop.set()
    mon.join(3)

    failed = [r for r in results if not r.ok]
    figure("requests sent", len(results))
    figure("requests failed", len(failed))
    figure("statuses", summarize_statuses(results))
    figure("Redis down for", f"{t_start - t_stop:.2f} s")
    before = [r for r in results if r.t0 < t_stop]
    during = [r for r in results if t_stop <= r.t0 < t_start]
    after = [r for r in results if r.t0 >= t_start]
    figure("latency before stop", f"{latency_summary(before)} ({len(before)} requests)")
    figure("latency while Redis down", f"{latency_summary(during)} ({len(during)} requests)")
    figure("latency after restart", f"{latency_summary(after)} ({len(after)} requests)")
    for r in failed[:10]:
        print(f"    failed: [{r.t0:.2f}s] {r.describe()}")
    fails.check(not failed, f"{len(failed)} of {len(results)} GETs failed while Redis was stopped and restarted")
    fails.check(len(during) > 0, "no request was sent while Redis was down")

    down = [(t, r, d) for t, r, d in mon.samples if t_stop <= t < t_start]
    degraded = [s for s in down if s[1].status == 200 and s[2].get("redis") == "degraded"]
    t_degraded = mon.first_after(t_stop, lambda r, d: r.status == 200 and d.get("redis") == "degraded")
    bad = [s for s in mon.samples if s[1].status != 200]
    figure("readiness samples while Redis down", f"{len(down)} ({len(degraded)} 200 degraded)")
    figure("readiness saw Redis degraded after", "never" if t_degraded is None else f"{t_degraded - t_stop:.2f} s")
    figure("readiness non-200 samples", len(bad))
    for t, r, d in bad[:5]:
        print(f"    readiness: [{t:.2f}s] {r.describe()}")
    fails.check(degraded, 'readiness never reported 200 with "redis":"degraded" while Redis was down')
    # Once degraded is reported it must stay so until Redis is back (allow the first probe).
    if t_degraded is not None:
        flip = [s for s in down if s[0] > t_degraded + 0.5 and s[2].get("redis") != "degraded"]
        fails.check(not flip, f"readiness reported {flip[0][2] if flip else ''} while Redis was down")
    fails.check(not bad, f"readiness answered non-200 {len(bad)} times (Redis only degrades)")
    if t_ready is None:
        fails.add(f'readiness did not return to "ready" within {a.recovery_bound:.0f} s of the Redis restart')
        figure("recovery time (Redis restart -> ready)", "none")
    else:
        figure("recovery time (Redis restart -> ready)", f"{t_ready - t_start:.2f} s")
    return 1 if fails.items else 0


# --- scenario 2: PostgreSQL restarted under load --------------------------------------------------

PASSWORD = "correct horse battery staple"
ADDRESS = {"full_name": "Ada Lovelace", "line1": "1 Main Street", "city": "Berlin", "postal_code": "10115",
           "country": "DE"}


def login(host, port, email, password):
    c = Client(host, port, timeout=10)
    r = c.request("POST", "/api/v1/auth/login", {"email": email, "password": password})
    c.close()
    if r.status != 200:
        raise SystemExit(f"login failed: {r.describe()}")
    return r.json()["access_token"]


def cmd_setup_shop(a):
    host, port = split_base(a.base)
    admin = Client(host, port, timeout=10, token=login(host, port, a.admin_email, a.admin_password))
    tag = uuid.uuid4().hex[:10]
    r = admin.request("POST", "/api/v1/admin/products", {
        "slug": f"fault-{tag}", "name": "Fault Suite Widget", "description": "bought under faults",
        "status": "active", "category_id": None, "brand": "Acme", "currency": "EUR",
        "attributes": {"material": "steel"}, "images": [],
        "variants": [{"sku": f"FAULT-{tag}", "price_minor": 1999, "stock": a.stock, "options": {"size": "M"}}],
    })
    if r.status != 201:
        raise SystemExit(f"creating the product failed: {r.describe()}")
    product = r.json()
    r = admin.request("POST", "/api/v1/admin/shipping-methods",
                      {"name": "Standard", "price_minor": 490, "currency": "EUR", "countries": ["DE", "AT"]})
    if r.status != 201:
        raise SystemExit(f"creating the shipping method failed: {r.describe()}")
    shipping = r.json()["id"]
    admin.close()
    customers = []
    for i in range(a.customers):
        email = f"buyer{i}-{tag}@example.com"
        c = Client(host, port, timeout=10)
        r = c.request("POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD, "name": f"Buyer {i}"})
        c.close()
        if r.status != 201:
            raise SystemExit(f"registering {email} failed: {r.describe()}")
        customers.append({"email": email, "token": login(host, port, email, PASSWORD)})
    state = {"product": product["id"], "variant": product["variants"][0]["id"], "stock": a.stock,
             "shipping": shipping, "customers": customers}
    with open(a.out, "w") as f:
        json.dump(state, f)
    print(f"  set up: product {state['product']}, variant {state['variant']} (stock {a.stock}), "
          f"{len(customers)} customers")
    return 0


def psql(cmd, sql):
    p = subprocess.run(shlex.split(cmd) + ["-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"psql failed: {p.stderr.decode().strip()}")
    return p.stdout.decode().strip()


def is_problem_503(r):
    return r.status == 503 and r.ctype == PROBLEM_JSON


def in_progress(r):
    """409 idempotency-in-progress: an earlier attempt with the same key has not finished."""
    return r.status == 409 and isinstance(r.json(), dict) and r.json().get("code") == "idempotency-in-progress"


def cmd_postgres(a):
    host, port = split_base(a.base)
    fails = Failures()
    with open(a.state) as f:
        st = json.load(f)
    body_of = {"shipping_address": ADDRESS, "shipping_method_id": st["shipping"], "payment_token": "tok_visa"}
    start = now()
    until = start + a.duration
    lock = threading.Lock()
    results = []        # every request: (kind, Result)
    orders = {}         # order id -> quantity bought (from 201/202 answers)
    ambiguous = []      # checkouts whose first answer was not final but later succeeded with the same key
    abandoned = []      # keys given up after the drain time (last answer kept)

    def record(kind, r):
        with lock:
            results.append((kind, r))

    def buyer(cust):
        c = Client(host, port, timeout=a.request_timeout, token=cust["token"])
        while now() < until:
            # Add one item; retry until it sticks (an add whose answer was lost may add 2: the
            # database checks below count what was really sold, not what we think we bought).
            while now() < until:
                r = c.request("POST", "/api/v1/cart/lines", {"variant_id": st["variant"], "quantity": 1})
                record("cart", r)
                if r.ok:
                    break
                time.sleep(0.05)
            else:
                break
            key = f"fault-{uuid.uuid4()}"
            attempts = 0
            # A client retrying with the same Idempotency-Key until it gets a final answer.
            while True:
                attempts += 1
                r = c.request("POST", "/api/v1/checkout", body_of, {"Idempotency-Key": key})
                record("checkout", r)
                if r.status in (201, 202):
                    doc = r.json() or {}
                    qty = sum(line.get("quantity", 0) for line in doc.get("lines", []))
                    with lock:
                        orders[doc.get("id")] = qty
                        if attempts > 1:
                            ambiguous.append((key, doc.get("id"), attempts))
                    break
                if r.status is not None and r.status < 500 and not in_progress(r):
                    break  # a final refusal (4xx): reported below
                if now() > until + a.drain:
                    with lock:
                        abandoned.append((key, r))
                    break
                time.sleep(0.1)
        c.close()

    ts = [threading.Thread(target=buyer, args=(cust,), daemon=True) for cust in st["customers"]]
    gets = []
    mon = Readiness(host, port)
    mon.start()
    for t in ts:
        t.start()
    paths = ["/api/v1/products", "/api/v1/categories", f"/api/v1/products/{st['product']}"]
    gts = get_load(host, port, paths, a.get_threads, until, gets)
    time.sleep(max(0.0, start + a.restart_at - now()))
    t_restart = now()
    ok_restart = run_cmd(a.restart_cmd, "PostgreSQL restarted")
    t_restarted = now()
    fails.check(ok_restart, "could not restart PostgreSQL")
    for t in ts + gts:
        t.join(a.duration + a.drain + 15)
    hung = [t for t in ts + gts if t.is_alive()]
    mon.stop.set()
    mon.join(3)
    fails.check(not hung, f"{len(hung)} load threads still waiting: a request hung")

    allr = results + [("get", r) for r in gets]
    failed = [(k, r) for k, r in allr if not r.ok]
    # 409 idempotency-in-progress answers a retry whose key is still held by an earlier attempt:
    # documented (Retry-After: 1), so counted apart from the outage's failures.
    held = [(k, r) for k, r in failed if k == "checkout" and in_progress(r)]
    held_ids = {id(r) for _, r in held}
    outage = [(k, r) for k, r in failed if id(r) not in held_ids]
    figure("requests sent", f"{len(allr)} (checkout {sum(1 for k, _ in results if k == 'checkout')}, "
                            f"cart {sum(1 for k, _ in results if k == 'cart')}, GET {len(gets)})")
    figure("requests failed", f"{len(failed)} ({len(outage)} during the outage, {len(held)} 409 key still held)")
    figure("statuses", summarize_statuses([r for _, r in allr]))
    figure("pg_ctl restart took", f"{t_restarted - t_restart:.2f} s")
    # Recovery: from the restart command to the first success after the outage's last failure.
    if outage:
        last_fail = max(r.t1 for _, r in outage)
        first_fail = min(r.t0 for _, r in outage)
        first_ok_after = min((r.t1 for _, r in allr if r.ok and r.t1 >= last_fail), default=None)
        figure("outage failures between", f"{first_fail - t_restart:+.2f} s and {last_fail - t_restart:+.2f} s "
                                          "(relative to the restart command)")
        if first_ok_after is None:
            fails.add("no request succeeded after the outage's last failure: the API did not recover")
        else:
            figure("recovery time (restart command -> requests succeed again)",
                   f"{first_ok_after - t_restart:.2f} s")
    else:
        figure("recovery time (restart command -> requests succeed again)", "0 (no request failed)")
    for kind, label in (("get", "GET"), ("checkout", "checkout 201/202")):
        t_ok = min((r.t1 for k, r in allr if k == kind and r.ok and r.t0 >= t_restarted), default=None)
        figure(f"first {label} success after the restart completed",
               "none" if t_ok is None else f"{t_ok - t_restart:.2f} s after the restart command")
        fails.check(t_ok is not None, f"no {label} succeeded after the restart: the API did not recover")
    t_ready = mon.first_after(t_restarted, lambda r, d: r.status == 200 and d.get("status") == "ready")
    figure("readiness ready again after restart command",
           "never" if t_ready is None else f"{t_ready - t_restart:.2f} s")
    fails.check(t_ready is not None, "readiness did not return to ready after the PostgreSQL restart")
    ready_bad = [s for s in mon.samples if s[1].status not in (200, 503)]
    fails.check(not ready_bad, f"readiness answered neither 200 nor 503: {ready_bad[0][1].describe() if ready_bad else ''}")
    figure("latency of all requests", latency_summary([r for _, r in allr]))

    not503 = [(k, r) for k, r in outage if not is_problem_503(r)]
    for k, r in not503[:15]:
        print(f"    unexpected: [{r.t0 - t_restart:+.2f}s] {r.describe()}")
    fails.check(not not503, f"{len(not503)} failed requests were not 503 application/problem+json "
                            f"({summarize_statuses([r for _, r in not503])})")
    figure("409 idempotency-in-progress answers to retries", len(held))
    if held:
        print(f"    first: [{held[0][1].t0 - t_restart:+.2f}s], last: [{held[-1][1].t0 - t_restart:+.2f}s] "
              f"{held[-1][1].describe()}")
    figure("checkout keys abandoned (no final answer within the drain time)", len(abandoned))
    for key, r in abandoned[:5]:
        print(f"    abandoned {key}: {r.describe()}")
    slow = [(k, r) for k, r in allr if r.error == "timeout"]
    fails.check(not slow, f"{len(slow)} requests hung past {a.request_timeout:.0f} s")
    figure("checkouts answered 201/202", len(orders))
    figure("checkouts that needed a retry with the same key", len(ambiguous))
    fails.check(len(orders) > 0, "no checkout succeeded")

    # --- the database's view ------------------------------------------------------------------
    try:
        ids = [i for i in orders if i]
        in_db = set(psql(a.psql, "SELECT id FROM orders WHERE id = ANY(ARRAY[" +
                         ",".join(f"'{i}'::uuid" for i in ids) + "]::uuid[])").split()) if ids else set()
        lost = [i for i in ids if i not in in_db]
        n_orders = int(psql(a.psql, "SELECT count(*) FROM orders"))
        n_live = int(psql(a.psql, "SELECT count(*) FROM orders WHERE status NOT IN "
                                  "('cancelled','payment_failed','refunded')"))
        stock = int(psql(a.psql, f"SELECT stock FROM variants WHERE id = '{st['variant']}'"))
        sold = int(psql(a.psql, "SELECT coalesce(sum(l.quantity),0) FROM order_lines l JOIN orders o ON o.id = "
                                f"l.order_id WHERE l.variant_id = '{st['variant']}' AND o.status NOT IN "
                                "('cancelled','payment_failed','refunded')"))
        ledger = int(psql(a.psql, f"SELECT coalesce(sum(delta),0) FROM inventory_ledger WHERE variant_id = '{st['variant']}'"))
        sales = int(psql(a.psql, "SELECT coalesce(-sum(delta),0) FROM inventory_ledger WHERE variant_id = "
                                 f"'{st['variant']}' AND reason IN ('sale','cancellation')"))
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
        fails.add(f"database checks failed: {e}")
        return 1
    figure("orders in database", f"{n_orders} ({n_live} not cancelled/failed); answered 201/202: {len(ids)}")
    figure("201/202 orders missing from database", len(lost))
    figure("stock", f"initial {st['stock']}, now {stock}, sold {sold} (stock + sold = {stock + sold})")
    figure("ledger", f"sum(delta) {ledger}, net sales in ledger {sales}")
    fails.check(not lost, f"{len(lost)} orders answered 201/202 are not in the database: {lost[:5]}")
    fails.check(n_orders >= len(ids), f"fewer orders in the database ({n_orders}) than answered 201/202 ({len(ids)})")
    if n_live > len(ids):
        print(f"    note: {n_live - len(ids)} orders exist whose checkout never got a 201/202 answer:")
        rows = psql(a.psql, "SELECT o.id, o.status, o.created_at::time(3), coalesce(k.key, '-'), "
                            "(k.outcome IS NOT NULL) FROM orders o LEFT JOIN idempotency_keys k ON k.order_id = o.id "
                            "WHERE NOT (o.id = ANY(ARRAY[" + ",".join(f"'{i}'::uuid" for i in ids) +
                            "]::uuid[])) ORDER BY o.created_at LIMIT 10")
        for row in rows.splitlines():
            oid, status, created, key, has_outcome = row.split("|")
            print(f"      order {oid} {status} created {created}, key {key}, outcome stored: {has_outcome}")
    fails.check(stock + sold == st["stock"], f"stock {stock} + sold {sold} != initial stock {st['stock']} (oversell or lost stock)")
    fails.check(ledger == stock, f"inventory ledger sums to {ledger} but the variant's stock is {stock}")
    fails.check(sales == sold, f"ledger sales {sales} != quantities in live orders {sold}")
    bought = sum(orders.values())
    fails.check(sold >= bought, f"the database sold {sold} but the answers sold {bought}")

    # --- the outbox: one order.placed per committed order, none without one, all delivered -------
    try:
        placed_per_order = psql(a.psql, "SELECT count(*) FILTER (WHERE n <> 1) FROM (SELECT o.id, count(e.id) AS n "
                                        "FROM orders o LEFT JOIN outbox e ON e.aggregate_id = o.id AND "
                                        "e.event_type = 'order.placed' GROUP BY o.id) x")
        orphans = psql(a.psql, "SELECT count(*) FROM outbox e WHERE e.event_type LIKE 'order.%' AND NOT EXISTS "
                               "(SELECT 1 FROM orders o WHERE o.id = e.aggregate_id)")
        deadline = time.time() + 30
        while True:
            undelivered = int(psql(a.psql, "SELECT count(*) FROM outbox WHERE status <> 'delivered'"))
            if undelivered == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        n_events = int(psql(a.psql, "SELECT count(*) FROM outbox"))
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
        fails.add(f"outbox checks failed: {e}")
        return 1
    figure("outbox events", f"{n_events}, undelivered after the drain: {undelivered}")
    fails.check(int(placed_per_order) == 0, f"{placed_per_order} orders do not have exactly one order.placed event")
    fails.check(int(orphans) == 0, f"{orphans} order events name an order that does not exist (written outside its transaction)")
    fails.check(undelivered == 0, f"{undelivered} outbox events still undelivered 30 s after PostgreSQL came back")
    return 1 if fails.items else 0


# --- scenario 3: SIGTERM under load ----------------------------------------------------------------

def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def socket_queues(port):
    """(accept queue length of the listening socket, server-side connections with unread request
    bytes, queued ones included) on 127.0.0.1:port, from /proc/net/tcp: requests no handler has read."""
    backlog, unread = 0, 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                local, state, queues = parts[1], parts[3], parts[4]
                if int(local.split(":")[1], 16) != port:
                    continue
                rx = int(queues.split(":")[1], 16)
                if state == "0A":
                    backlog += rx
                elif state == "01" and rx > 0:
                    unread += 1
    except (OSError, ValueError, IndexError, StopIteration):
        return None, None
    return backlog, unread


def cmd_sigterm(a):
    host, port = split_base(a.base)
    fails = Failures()
    n = a.logins + a.listings
    sent = threading.Barrier(n + 1, timeout=30)
    results = [None] * n
    send_done = [None] * n

    def one(i):
        if i < a.logins:
            method, path, body = "POST", "/api/v1/auth/login", {
                "email": f"user{i % a.users + 1}@example.com", "password": a.password}
        else:
            sort = ("price_desc", "price_asc", "newest", "rating")[i % 4]
            method, path, body = "GET", f"/api/v1/products?limit=100&sort={sort}", None
        r = Result(method, path)
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn = http.client.HTTPConnection(host, port, timeout=a.timeout)
            hdrs = {"Accept": "application/json", "Connection": "close"}
            if data:
                hdrs["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=hdrs)
        except OSError as e:
            r.error = f"send: {type(e).__name__}"
            r.t1 = now()
            results[i] = r
            send_done[i] = now()
            sent.wait()
            return
        send_done[i] = now()
        sent.wait()
        try:
            resp = conn.getresponse()
            r.body = resp.read()
            r.status = resp.status
            r.ctype = (resp.getheader("content-type") or "").split(";")[0].strip()
        except socket.timeout:
            r.error = "timeout"
        except (OSError, http.client.HTTPException) as e:
            r.error = type(e).__name__
        r.t1 = now()
        conn.close()
        results[i] = r

    # Warm-up: one login checks the credentials before the real run.
    c = Client(host, port, timeout=10)
    r = c.request("POST", "/api/v1/auth/login", {"email": "user1@example.com", "password": a.password})
    c.close()
    if r.status != 200:
        fails.add(f"warm-up login failed: {r.describe()}")
        return 1
    login_ms = (r.t1 - r.t0) * 1000
    figure("one login alone", f"{login_ms:.0f} ms")

    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    sent.wait()
    # Every request is written; give the acceptor a moment so all connections are accepted and read.
    time.sleep(a.settle)
    exited = []

    def watch_exit():
        deadline = now() + a.shutdown_timeout + 2
        while pid_alive(a.pid) and now() < deadline:
            time.sleep(0.02)
        if not pid_alive(a.pid):
            exited.append(now())

    watcher = threading.Thread(target=watch_exit, daemon=True)
    backlog, unread = socket_queues(port)
    t_sig = now()
    os.kill(a.pid, signal.SIGTERM)
    watcher.start()
    log(f"SIGTERM sent to {a.pid}")
    # New connections after the signal: refused is the expected answer (not counted as failure).
    refused, answered, other = 0, 0, []
    probe_until = now() + 1.0
    time.sleep(0.05)
    while now() < probe_until:
        c = Client(host, port, timeout=2)
        pr = c.request("GET", "/health/live", retry_stale=False)
        c.close()
        if pr.error == "ConnectionRefusedError":
            refused += 1
        elif pr.status is not None:
            answered += 1
        else:
            other.append(pr.error)
        time.sleep(0.1)
    for t in ts:
        t.join(a.timeout + 5)
    # Exit within the shutdown timeout.
    watcher.join(a.shutdown_timeout + 3)
    alive = not exited
    t_exit = exited[0] if exited else now()

    done = [r for r in results if r is not None]
    in_flight = [r for r in done if r.t1 > t_sig]
    failed = [r for r in done if not r.ok]
    figure("requests sent before SIGTERM", f"{n} ({a.logins} logins, {a.listings} listings), "
                                           f"all written {t_sig - max(send_done):.2f} s before the signal")
    figure("in flight at SIGTERM (answered after it)", len(in_flight))
    figure("at SIGTERM, not yet picked up by the server",
           "unknown" if backlog is None else
           f"{backlog} in the kernel accept queue, {unread} connections with request bytes unread")
    figure("requests failed", len(failed))
    figure("statuses", summarize_statuses(done))
    figure("last answer after SIGTERM", f"{max(r.t1 for r in done) - t_sig:.2f} s" if done else "n/a")
    figure("latency", latency_summary(done))
    figure("new connections after SIGTERM", f"{refused} refused (expected), {answered} answered, {len(other)} other errors")
    for r in failed[:10]:
        print(f"    failed: [{r.t1 - t_sig:+.2f}s after SIGTERM] {r.describe()}")
    fails.check(len(done) == n, f"{n - len(done)} requests never finished")
    fails.check(not failed, f"{len(failed)} requests accepted before SIGTERM did not complete normally")
    fails.check(len(in_flight) > 0, "no request was still in flight at SIGTERM (make them slower)")
    if alive:
        figure("process exit after SIGTERM", f"still running after {t_exit - t_sig:.1f} s")
        fails.add(f"the API was still running {a.shutdown_timeout + 2} s after SIGTERM")
    else:
        figure("process exit after SIGTERM", f"{t_exit - t_sig:.2f} s (shutdown timeout {a.shutdown_timeout} s)")
        fails.check(t_exit - t_sig <= a.shutdown_timeout + 1, "the API took longer than the shutdown timeout to exit")
    return 1 if fails.items else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports")
    p.add_argument("n", type=int)
    p = sub.add_parser("wait-ready")
    p.add_argument("base")
    p.add_argument("secs", type=float)

    p = sub.add_parser("redis")
    p.add_argument("--base", required=True)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--stop-at", type=float, default=3)
    p.add_argument("--start-at", type=float, default=6.5)
    p.add_argument("--stop-cmd", required=True)
    p.add_argument("--start-cmd", required=True)
    p.add_argument("--recovery-bound", type=float, default=10)

    p = sub.add_parser("setup-shop")
    p.add_argument("--base", required=True)
    p.add_argument("--admin-email", required=True)
    p.add_argument("--admin-password", required=True)
    p.add_argument("--customers", type=int, default=6)
    p.add_argument("--stock", type=int, default=100000)
    p.add_argument("--out", required=True)

    p = sub.add_parser("postgres")
    p.add_argument("--base", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--duration", type=float, default=12)
    p.add_argument("--restart-at", type=float, default=4)
    p.add_argument("--restart-cmd", required=True)
    p.add_argument("--get-threads", type=int, default=2)
    p.add_argument("--drain", type=float, default=5, help="seconds after the load to settle open checkouts")
    p.add_argument("--request-timeout", type=float, default=10)
    p.add_argument("--psql", required=True)

    p = sub.add_parser("sigterm")
    p.add_argument("--base", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--logins", type=int, default=40)
    p.add_argument("--listings", type=int, default=20)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--password", default="demo password 123")
    p.add_argument("--settle", type=float, default=0.3)
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("--shutdown-timeout", type=float, default=10)

    a = ap.parse_args()
    fn = {"ports": cmd_ports, "wait-ready": cmd_wait_ready, "redis": cmd_redis, "setup-shop": cmd_setup_shop,
          "postgres": cmd_postgres, "sigterm": cmd_sigterm}[a.cmd]
    sys.exit(fn(a) or 0)


if __name__ == "__main__":
    main()
