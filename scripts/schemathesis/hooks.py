"""Schemathesis hooks for scripts/schemathesis.sh.

Signs the payment webhook. Every generated `POST /api/v1/webhooks/payments` that carries a
`Shop-Signature` header gets a valid one (HMAC-SHA256 over "<t>.<body>" with the instance's
webhook secret, passed in ST_WEBHOOK_SECRET), so generated events reach the handler instead of
all stopping at the signature check. Cases generated without the header stay unsigned and must
get the documented 401. Forged, stale and tampered signatures are covered by the Rust suite
(checkout.rs: webhooks_are_verified_and_applied_once).
"""

import hashlib
import hmac
import json
import os
import time

import schemathesis

WEBHOOK = "/api/v1/webhooks/payments"
SIGNATURE = "Shop-Signature"
SECRET = os.environ.get("ST_WEBHOOK_SECRET", "").encode()


@schemathesis.hook
def before_call(context, case, kwargs):
    if not SECRET or case.operation.path != WEBHOOK or case.method.upper() != "POST":
        return
    headers = dict(case.headers or {})
    name = next((h for h in headers if h.lower() == SIGNATURE.lower()), None)
    if name is None:
        return
    media_type = (case.media_type or "application/json").split(";")[0].strip().lower()
    if media_type != "application/json":
        return
    body = case.body
    if isinstance(body, (bytes, bytearray)):
        raw = bytes(body)
    else:
        try:
            raw = json.dumps(body).encode()
        except (TypeError, ValueError):
            return  # not JSON-serialisable (absent body, binary): leave the case as generated
    t = int(time.time())
    digest = hmac.new(SECRET, f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    headers[name] = f"t={t},v1={digest}"
    case.headers = headers
    # Send exactly the bytes that were signed.
    case.body = raw
