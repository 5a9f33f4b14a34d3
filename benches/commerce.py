#!/usr/bin/env python3
"""Load driver for the signed-in scenarios of benches/run.sh: add to cart and checkout.

oha sends the same headers with every request, but each checkout needs its own Idempotency-Key
and each shopper their own bearer token (so carts never collide). This driver does that with the
Python standard library only (asyncio and a minimal HTTP/1.1 keep-alive client): nothing to
install or build, and it runs as a separate process like oha.

What it does:
  1. signs in the given users once (POST /api/v1/auth/login), before anything is timed;
  2. repeats rounds of two phases until the checkout phases add up to --duration seconds:
     - fill: every user's (empty) cart gets --lines different random variants, quantity 1
       (POST /api/v1/cart/lines; one user's adds in sequence, --concurrency users at once);
     - checkout: every user checks out (POST /api/v1/checkout, a fresh Idempotency-Key, the
       given shipping method, payment token tok_visa), --concurrency at once.
     Each phase is timed on its own: "add to cart" is requests/s over the fill phases, "checkout"
     is orders/s over the checkout phases.
  3. prints one JSON document: per phase the request count, errors (anything but the expected
     status), elapsed seconds, rate, p50/p99 latency (seconds) and status counts; the units
     bought per variant (for the oversell check); the driver's own CPU seconds.

Exit status 0 even with errors: benches/run.sh reads the counts and decides.
"""

import argparse
import asyncio
import json
import random
import resource
import sys
import time
import uuid
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


class Conn:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def _connect(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method, path, headers=None, body=None):
        for attempt in (0, 1):
            if self.writer is None:
                await self._connect()
            try:
                return await self._once(method, path, headers or {}, body)
            except (ConnectionError, asyncio.IncompleteReadError, HttpError):
                self.close()
                if attempt:
                    raise
        raise HttpError("unreachable")

    async def _once(self, method, path, headers, body):
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(data)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        head.extend(f"{k}: {v}" for k, v in headers.items())
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("connection closed")
        parts = status_line.split(None, 2)
        if len(parts) < 2:
            raise HttpError(f"bad status line {status_line!r}")
        status = int(parts[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.lower() == b"close":
                close = True
        if chunked:
            chunks = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readline()
            payload = b"".join(chunks)
        else:
            payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, payload


class Phase:
    def __init__(self, expected):
        self.expected = expected
        self.latencies = []
        self.statuses = {}
        self.failures = {}
        self.elapsed = 0.0
        self.samples = []

    def record(self, started, status=None, failure=None):
        self.latencies.append(time.perf_counter() - started)
        if failure is not None:
            self.failures[failure] = self.failures.get(failure, 0) + 1
        else:
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1

    def summary(self):
        lat = sorted(self.latencies)

        def at(q):
            return lat[max(0, min(len(lat) - 1, int(len(lat) * q + 0.5) - 1))] if lat else None

        ok = sum(n for s, n in self.statuses.items() if int(s) in self.expected)
        errors = len(lat) - ok
        return {
            "requests": len(lat),
            "errors": errors,
            "elapsed": self.elapsed,
            "rate": (ok / self.elapsed) if self.elapsed > 0 else 0.0,
            "p50": at(0.50),
            "p99": at(0.99),
            "statuses": self.statuses,
            "failures": self.failures,
            "error_samples": self.samples[:5],
        }


async def run_pool(conns, items, work):
    """Runs `work(conn, item)` over the items with one task per connection."""
    queue = list(reversed(items))

    async def worker(conn):
        while queue:
            await work(conn, queue.pop())

    await asyncio.gather(*(worker(c) for c in conns))


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--users", required=True, help="file of e-mail addresses, one a line")
    ap.add_argument("--password", required=True)
    ap.add_argument("--variants", required=True, help="file of variant ids to buy, one a line")
    ap.add_argument("--shipping", required=True, help="shipping method id")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--login-concurrency", type=int, default=4)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of checkout phases")
    ap.add_argument("--lines", type=int, default=3, help="different variants per cart")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    url = urlsplit(args.base)
    host, port = url.hostname, url.port or 80
    users = [u.strip() for u in open(args.users) if u.strip()]
    variants = [v.strip() for v in open(args.variants) if v.strip()]
    if len(variants) < args.lines:
        sys.exit("fewer variants than lines per cart")
    rng = random.Random(args.seed)
    conns = [Conn(host, port) for _ in range(args.concurrency)]
    address = {"full_name": "Bench Buyer", "line1": "1 Main Street", "city": "Berlin", "postal_code": "10115",
               "country": "DE"}

    # 1. Sign in, untimed.
    login = Phase({200})
    tokens = {}

    async def sign_in(conn, email):
        t = time.perf_counter()
        try:
            status, body = await conn.request("POST", "/api/v1/auth/login", body={"email": email, "password": args.password})
        except Exception as e:  # noqa: BLE001 - any failure is an error of the run
            login.record(t, failure=type(e).__name__)
            return
        login.record(t, status)
        if status == 200:
            tokens[email] = json.loads(body)["access_token"]
        elif len(login.samples) < 5:
            login.samples.append(f"{status} {body[:200]!r}")

    t0 = time.perf_counter()
    await run_pool(conns[: args.login_concurrency], users, sign_in)
    login.elapsed = time.perf_counter() - t0
    signed_in = [u for u in users if u in tokens]

    add, checkout = Phase({200}), Phase({201})
    bought = {}
    rounds = 0

    async def fill(conn, email):
        auth = {"Authorization": f"Bearer {tokens[email]}"}
        for v in rng.sample(variants, args.lines):
            t = time.perf_counter()
            try:
                status, body = await conn.request("POST", "/api/v1/cart/lines", auth, {"variant_id": v, "quantity": 1})
            except Exception as e:  # noqa: BLE001
                add.record(t, failure=type(e).__name__)
                continue
            add.record(t, status)
            if status != 200 and len(add.samples) < 5:
                add.samples.append(f"{status} {body[:200]!r}")

    async def buy(conn, email):
        headers = {"Authorization": f"Bearer {tokens[email]}", "Idempotency-Key": str(uuid.uuid4())}
        body = {"shipping_address": address, "shipping_method_id": args.shipping, "payment_token": "tok_visa"}
        t = time.perf_counter()
        try:
            status, payload = await conn.request("POST", "/api/v1/checkout", headers, body)
        except Exception as e:  # noqa: BLE001
            checkout.record(t, failure=type(e).__name__)
            return
        checkout.record(t, status)
        if status == 201:
            for line in json.loads(payload).get("lines", []):
                vid = line.get("variant_id")
                bought[vid] = bought.get(vid, 0) + int(line.get("quantity", 0))
        elif len(checkout.samples) < 5:
            checkout.samples.append(f"{status} {payload[:300]!r}")

    # 2. Rounds of fill and checkout until the checkout phases reach the duration.
    while signed_in and checkout.elapsed < args.duration:
        rounds += 1
        t0 = time.perf_counter()
        await run_pool(conns, signed_in, fill)
        add.elapsed += time.perf_counter() - t0
        t0 = time.perf_counter()
        await run_pool(conns, signed_in, buy)
        checkout.elapsed += time.perf_counter() - t0
        if add.summary()["errors"] + checkout.summary()["errors"] > 50:
            break  # failing: stop early, the run reports it

    for c in conns:
        c.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    json.dump(
        {
            "users": len(users),
            "signed_in": len(signed_in),
            "rounds": rounds,
            "lines_per_cart": args.lines,
            "login": login.summary(),
            "add_to_cart": add.summary(),
            "checkout": checkout.summary(),
            "bought": bought,
            "units_bought": sum(bought.values()),
            "driver_cpu_seconds": usage.ru_utime + usage.ru_stime,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    asyncio.run(main())
