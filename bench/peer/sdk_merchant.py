#!/usr/bin/python3
# bench/peer/sdk_merchant.py — the peer the benchmarks compare the extension with: a merchant
# backend built the way the official Antom Python SDK (alipay/global-open-sdk-python) and
# psycopg2 are used in their READMEs, without the SDK itself (standard library, Debian's
# python3-cryptography and python3-psycopg2 only).
#
# What it copies from the SDK: the signed request (POST <path>\n<client-id>.<request-time>.<body>,
# RSA-SHA256 PKCS#1 v1.5, base64, quote_plus; Request-Time as ISO-8601 seconds; the body as
# json.dumps(indent=3)), the sandbox path rewrite for SANDBOX_ client ids (/ams/api ->
# /ams/sandbox/api, signed as rewritten), one new http.client connection per request with the
# absolute URL as request target, verification of every answer's signature (an unverified
# answer counts as unknown), and, as shipped, parsing the PEM keys again for every signature
# and every verification.  --cache-key parses them once.
#
# Per order, the merchant's way: a new psycopg2 connection, INSERT the order (PAYING), COMMIT,
# pay, UPDATE with the outcome and paymentId, COMMIT, close.  The table:
#   orders(order_ref text primary key, amount bigint, status text, payment_id text,
#          created_at timestamptz default now())
# Before the orders it obtains one agreement from the sandbox (consult, consent, applyToken).
#
#   /usr/bin/python3 bench/peer/sdk_merchant.py sync  --orders N [--cache-key] [options]
#   /usr/bin/python3 bench/peer/sdk_merchant.py batch --orders N --threads T [--cache-key] [options]
#   options: --gateway URL --dsn DSN --merchant-key PEM --acquirer-public-key PEM --client-id ID
#
# Ends with one line for scripts, e.g.
#   RESULT mode=sync orders=200 cache_key=0 seconds=10.8 ms_per_pay=54.2 median_ms=54.0 pay_ms=40.1 success=200 fail=0 unknown=0
# seconds: all orders, wall clock; ms_per_pay: seconds / orders; median_ms: one order from
# connect to close; pay_ms: the pay call alone (sign, POST, verify), averaged.
# (bench/peer.sh runs it against private sandboxes and a private cluster.)

import argparse
import base64
import concurrent.futures
import datetime
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

import psycopg2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

TIMEOUT = 15  # seconds, as the SDK's DEFAULT_TIMEOUT
USER_AGENT = "global-alipay-sdk-python (peer stand-in)"


class Keys:
    """The merchant's private key and the acquirer's public key, parsed per use or once."""

    # Read both PEM files; with cache, parse them now and keep the objects.
    def __init__(self, private_pem_path, public_pem_path, cache):
        with open(private_pem_path, "rb") as f:
            self.private_pem = f.read()
        with open(public_pem_path, "rb") as f:
            self.public_pem = f.read()
        self.cache = cache
        if cache:
            self._private = serialization.load_pem_private_key(self.private_pem, password=None)
            self._public = serialization.load_pem_public_key(self.public_pem)

    # The private key: the cached object, or (as the SDK does) a fresh parse of the PEM.
    def private(self):
        if self.cache:
            return self._private
        return serialization.load_pem_private_key(self.private_pem, password=None)

    # The acquirer public key: cached, or parsed again for this verification.
    def public(self):
        if self.cache:
            return self._public
        return serialization.load_pem_public_key(self.public_pem)


# The signed content: METHOD SP PATH LF client-id.time.body (signature_tool.gen_sign_content).
def sign_content(method, path, client_id, time_string, body):
    return method + " " + path + "\n" + client_id + "." + time_string + "." + body


# RSA-SHA256 PKCS#1 v1.5 signature of the content, base64 then URL-encoded (quote_plus).
def sign(keys, path, client_id, req_time, body):
    content = sign_content("POST", path, client_id, req_time, body).encode("utf-8")
    raw = keys.private().sign(content, padding.PKCS1v15(), hashes.SHA256())
    return urllib.parse.quote_plus(base64.b64encode(raw).decode("ascii"))


# Does the answer's signature header verify over POST path, client-id.response-time.body?
def verify(keys, path, headers, body):
    sig_header = headers.get("signature")
    rsp_time = headers.get("response-time")
    rsp_client = headers.get("client-id")
    if not sig_header or not rsp_time or rsp_client is None or "signature=" not in sig_header:
        return False
    value = sig_header.split("signature=", 1)[1].split(",", 1)[0].strip()
    try:
        raw = base64.b64decode(urllib.parse.unquote_plus(value), validate=True)
        content = sign_content("POST", path, rsp_client, rsp_time, body).encode("utf-8")
        keys.public().verify(raw, content, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


class Client:
    """DefaultAlipayClient's execute(): sign, POST on a new connection, verify."""

    # Gateway URL, client id and keys; sandbox mode for SANDBOX_ client ids.
    def __init__(self, gateway, client_id, keys):
        self.gateway = gateway.rstrip("/")
        self.client_id = client_id
        self.keys = keys
        self.sandbox = client_id.startswith("SANDBOX_")

    # The path as sent and signed: the first /ams/api becomes /ams/sandbox/api in sandbox mode.
    def adjust_path(self, path):
        return path.replace("/ams/api", "/ams/sandbox/api", 1) if self.sandbox else path

    # Call one API: returns the answer's JSON, or None when there is no verified answer.
    def execute(self, path, request):
        path = self.adjust_path(path)
        req_time = datetime.datetime.fromtimestamp(int(time.time()), tz=datetime.timezone.utc).isoformat()
        body = json.dumps(request, indent=3)
        signature = "algorithm=RSA256,keyVersion=1,signature=" + sign(self.keys, path, self.client_id, req_time, body)
        headers = {
            "Content-type": "application/json; charset=UTF-8",
            "Accept": "text/plain,text/xml,text/javascript,text/html",
            "Cache-Control": "no-cache",
            "Connection": "Keep-Alive",
            "User-Agent": USER_AGENT,
            "Request-Time": req_time,
            "client-id": self.client_id,
            "Signature": signature,
        }
        url = self.gateway + path
        parts = urllib.parse.urlsplit(url)
        conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(parts.hostname, parts.port, timeout=TIMEOUT)
        try:
            conn.connect()
            conn.request("POST", url, body=body.encode("utf-8"), headers=headers)
            response = conn.getresponse()
            raw = response.read()
            if response.status != 200:
                return None
            rsp_headers = {k.lower(): v for k, v in response.getheaders()}
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()
        rsp_body = raw.decode("utf-8")
        if not verify(self.keys, path, rsp_headers, rsp_body):
            return None
        try:
            return json.loads(rsp_body)
        except ValueError:
            return None


# consult -> agree on the consent page -> applyToken; returns the access token.
def obtain_agreement(client, gateway):
    state = "peer-" + base64.urlsafe_b64encode(os.urandom(12)).decode("ascii")
    answer = client.execute("/ams/api/v1/authorizations/consult", {
        "customerBelongsTo": "GCASH",
        "authRedirectUrl": "https://x.example/done",
        "scopes": ["AGREEMENT_PAY"],
        "authState": state,
        "terminalType": "MINI_APP",
        "env": {"terminalType": "MINI_APP"},
    })
    if not answer or answer.get("result", {}).get("resultStatus") != "S":
        sys.exit("consult failed: %r" % (answer,))
    auth_url = answer["authUrl"]
    if auth_url.startswith("/"):
        auth_url = gateway.rstrip("/") + auth_url
    auth_url += "&decision=agree&user=peer-user"
    parts = urllib.parse.urlsplit(auth_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        conn.request("GET", parts.path + "?" + parts.query)
        response = conn.getresponse()
        response.read()
        location = response.getheader("Location") or ""
    finally:
        conn.close()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    if response.status != 302 or "authCode" not in query:
        sys.exit("the consent page did not redirect with an authCode: %s %s" % (response.status, location))
    answer = client.execute("/ams/api/v1/authorizations/applyToken", {
        "grantType": "AUTHORIZATION_CODE",
        "customerBelongsTo": "GCASH",
        "authCode": query["authCode"][0],
    })
    if not answer or not answer.get("accessToken"):
        sys.exit("applyToken failed: %r" % (answer,))
    return answer["accessToken"]


# The pay request of one order (AGREEMENT_PAYMENT, 100 cents USD, from a mini program).
def pay_request(order_ref, token):
    amount = {"currency": "USD", "value": "100"}
    return {
        "productCode": "AGREEMENT_PAYMENT",
        "paymentRequestId": "pay-" + order_ref,
        "paymentAmount": amount,
        "paymentMethod": {"paymentMethodType": "GCASH", "paymentMethodId": token},
        "order": {
            "referenceOrderId": order_ref,
            "orderDescription": "peer benchmark order",
            "orderAmount": amount,
            "env": {"terminalType": "MINI_APP"},
        },
        "env": {"terminalType": "MINI_APP"},
        "appId": "PEER",
    }


# One order, the merchant's way: connect, insert, commit, pay, update, commit, close.
# Returns (status, seconds for the order, seconds for the pay call alone, resultCode);
# status is SUCCESS, FAIL or UNKNOWN.
def run_order(dsn, client, token, order_ref):
    started = time.perf_counter()
    db = psycopg2.connect(dsn)
    try:
        cur = db.cursor()
        cur.execute("INSERT INTO orders (order_ref, amount, status) VALUES (%s, %s, 'PAYING')", (order_ref, 100))
        db.commit()
        pay_started = time.perf_counter()
        answer = client.execute("/ams/api/v1/payments/pay", pay_request(order_ref, token))
        pay_seconds = time.perf_counter() - pay_started
        result = (answer or {}).get("result", {})
        if result.get("resultStatus") == "S" and result.get("resultCode") == "SUCCESS":
            status = "SUCCESS"
        elif result.get("resultStatus") == "F":
            status = "FAIL"
        else:
            status = "UNKNOWN"
        cur.execute("UPDATE orders SET status = %s, payment_id = %s WHERE order_ref = %s",
                    (status, (answer or {}).get("paymentId"), order_ref))
        db.commit()
    finally:
        db.close()
    return status, time.perf_counter() - started, pay_seconds, result.get("resultCode")


# Parse the command line.
def parse_args():
    p = argparse.ArgumentParser(description="Antom Python SDK-style merchant backend (benchmark peer)")
    p.add_argument("mode", choices=["sync", "batch"])
    p.add_argument("--orders", type=int, default=200)
    p.add_argument("--threads", type=int, default=200, help="batch: ThreadPoolExecutor workers")
    p.add_argument("--cache-key", action="store_true", help="parse the PEM keys once, not per use")
    p.add_argument("--gateway", default="http://127.0.0.1:8989")
    p.add_argument("--dsn", default="dbname=postgres")
    p.add_argument("--merchant-key", required=True, help="merchant private key (PEM)")
    p.add_argument("--acquirer-public-key", required=True, help="acquirer public key (PEM)")
    p.add_argument("--client-id", default="SANDBOX_PEER")
    return p.parse_args()


# Set up, run the orders in the chosen mode, and print the summary and the RESULT line.
def main():
    args = parse_args()
    keys = Keys(args.merchant_key, args.acquirer_public_key, args.cache_key)
    client = Client(args.gateway, args.client_id, keys)
    token = obtain_agreement(client, args.gateway)
    run = "%s-%d-%d" % (args.mode, os.getpid(), int(time.time() * 1000))
    refs = ["peer-%s-%d" % (run, i) for i in range(args.orders)]
    outcomes = []
    lock = threading.Lock()

    # Run one order and keep its outcome.
    def one(ref):
        outcome = run_order(args.dsn, client, token, ref)
        with lock:
            outcomes.append(outcome)

    started = time.perf_counter()
    if args.mode == "sync":
        for ref in refs:
            one(ref)
    else:
        with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
            for f in [pool.submit(one, ref) for ref in refs]:
                f.result()
    seconds = time.perf_counter() - started

    counts = {"SUCCESS": 0, "FAIL": 0, "UNKNOWN": 0}
    codes = {}
    for status, _, _, code in outcomes:
        counts[status] += 1
        if status != "SUCCESS":
            codes[code or "no verified answer"] = codes.get(code or "no verified answer", 0) + 1
    ms_per_pay = seconds * 1000.0 / max(len(outcomes), 1)
    median_ms = statistics.median(o[1] for o in outcomes) * 1000.0 if outcomes else 0.0
    pay_ms = statistics.mean(o[2] for o in outcomes) * 1000.0 if outcomes else 0.0
    if args.mode == "sync":
        print("peer sync: %d orders, %.2f ms/pay average (median %.2f ms; the pay call alone %.2f ms), key %s"
              % (len(outcomes), ms_per_pay, median_ms, pay_ms, "cached" if args.cache_key else "parsed per use"))
    else:
        print("peer batch: %d orders on %d threads in %.2f s (%.0f orders/s), key %s"
              % (len(outcomes), args.threads, seconds, len(outcomes) / seconds,
                 "cached" if args.cache_key else "parsed per use"))
    if codes:
        print("not SUCCESS: %d FAIL, %d UNKNOWN; by resultCode: %s"
              % (counts["FAIL"], counts["UNKNOWN"], ", ".join("%s=%d" % kv for kv in sorted(codes.items()))))
    extra = " threads=%d" % args.threads if args.mode == "batch" else ""
    print("RESULT mode=%s orders=%d%s cache_key=%d seconds=%.3f ms_per_pay=%.3f median_ms=%.3f pay_ms=%.3f success=%d fail=%d unknown=%d"
          % (args.mode, len(outcomes), extra, 1 if args.cache_key else 0, seconds, ms_per_pay, median_ms, pay_ms,
             counts["SUCCESS"], counts["FAIL"], counts["UNKNOWN"]))
    return 0 if counts["SUCCESS"] == len(refs) else 1


if __name__ == "__main__":
    sys.exit(main())
