"""Schemathesis hooks for scripts/schemathesis.sh.

Ending sessions: `POST /api/v1/auth/logout` and `/logout-all` end the caller's session(s), and an
ended session's access token is refused at once. Sent with the run's admin token they would turn
every later request into a 401, so each is sent with a new session of a throwaway account
(ST_SESSION_EMAIL / ST_SESSION_PASSWORD, logged in at ST_BASE_URL for the call).

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
import urllib.request

import schemathesis

WEBHOOK = "/api/v1/webhooks/payments"
SIGNATURE = "Shop-Signature"
SECRET = os.environ.get("ST_WEBHOOK_SECRET", "").encode()


ENDS_SESSIONS = {"/api/v1/auth/logout", "/api/v1/auth/logout-all"}


def throwaway_token():
    """A new session of the throwaway account: its access token."""
    body = json.dumps(
        {"email": os.environ["ST_SESSION_EMAIL"], "password": os.environ["ST_SESSION_PASSWORD"]}
    ).encode()
    req = urllib.request.Request(
        os.environ["ST_BASE_URL"] + "/api/v1/auth/login",
        data=body,
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=20) as res:
        return json.load(res)["access_token"]


def use_throwaway_session(case, kwargs):
    token = f"Bearer {throwaway_token()}"
    for headers in (kwargs.get("headers"), case.headers):
        if headers is None:
            continue
        for name in [h for h in headers if h.lower() == "authorization"]:
            del headers[name]
        headers["Authorization"] = token
    if case.headers is None:
        case.headers = {"Authorization": token}


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path in ENDS_SESSIONS and os.environ.get("ST_SESSION_EMAIL"):
        use_throwaway_session(case, kwargs)
        return
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
