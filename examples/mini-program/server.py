#!/usr/bin/python3
"""The merchant backend's HTTP layer for the mini program: each route is one SQL function call
(merchant.sql) in one transaction.  Python's standard library and Debian's python3-psycopg2.

    /usr/bin/python3 examples/mini-program/server.py --listen 127.0.0.1:8300 \
        --dsn "host=/tmp dbname=shop" --allow-origin http://127.0.0.1:8989

Who the customer is comes from the X-Customer-Ref header: a stand-in for your login session
(my.getAuthCode -> your user id).  Never take a customer id from the phone in production.
Errors are answered as {"error": {"sqlstate", "message", "hint"}} with a 4xx or 5xx status.
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.pool

# method, path -> (SQL, the JSON fields passed after the customer)
ROUTES = {
    ("POST", "/autodebit/start"): ("SELECT mp.start_autodebit(%s, %s)", ("siteName",)),
    ("POST", "/autodebit/finish"): ("SELECT mp.finish_autodebit(%s, %s, %s)", ("authState", "authCode")),
    ("POST", "/autodebit/sign-failed"): ("SELECT mp.sign_failed(%s, %s, %s)", ("authState", "error")),
    ("GET", "/autodebit/status"): ("SELECT mp.autodebit_status(%s)", ()),
}


def http_status(sqlstate):
    """The HTTP status for an SQLSTATE: the caller's mistake (4xx), the acquirer's answer, or ours."""
    if sqlstate is None:
        return 500
    if sqlstate == "42501":
        return 403          # not this customer's authorization
    if sqlstate.startswith("22") or sqlstate.startswith("ZD1") or sqlstate.startswith("ZD2"):
        return 400          # bad input, or the agreement's state: the message says which
    if sqlstate == "ZD301":
        return 422          # the acquirer refused the request as it is
    if sqlstate == "ZD302":
        return 503          # the outcome is unknown: the same call again is safe
    if sqlstate.startswith("ZD"):
        return 502          # the acquirer's answer could not be believed, or a setup problem
    return 500


class Handler(BaseHTTPRequestHandler):
    pool = None
    allow_origin = None

    def cors(self):
        # Only the simulator (a browser) needs this; a real super app's my.request is not a page.
        if self.allow_origin:
            self.send_header("Access-Control-Allow-Origin", self.allow_origin)
            self.send_header("Access-Control-Allow-Headers", "Content-Type, X-Customer-Ref")
            self.send_header("Access-Control-Allow-Methods", "GET, POST")

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.cors()
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self):
        self.send_response(204)
        self.cors()
        self.end_headers()

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        entry = ROUTES.get((method, self.path.split("?")[0]))
        if entry is None:
            return self.answer(404, {"error": {"message": "no such endpoint"}})
        customer = self.headers.get("X-Customer-Ref")
        if not customer:
            return self.answer(401, {"error": {"message": "not signed in"}})
        try:
            length = int(self.headers.get("Content-Length") or 0)
            args = json.loads(self.rfile.read(length) or b"{}") if length else {}
        except ValueError:
            return self.answer(400, {"error": {"message": "the body is not JSON"}})
        sql, fields = entry
        conn = self.pool.getconn()
        try:
            with conn, conn.cursor() as cur:        # one transaction: commit, or roll back on error
                cur.execute(sql, [customer] + [args.get(f) for f in fields])
                result = cur.fetchone()[0]
            return self.answer(200, result)
        except psycopg2.Error as e:
            diag = e.diag
            return self.answer(http_status(e.pgcode), {"error": {
                "sqlstate": e.pgcode, "message": diag.message_primary or str(e).strip(),
                "hint": diag.message_hint}})
        finally:
            self.pool.putconn(conn)

    def log_message(self, fmt, *args):
        sys.stderr.write("merchant: " + (fmt % args) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:8300")
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--allow-origin")
    opts = ap.parse_args()
    host, port = opts.listen.rsplit(":", 1)
    Handler.pool = psycopg2.pool.ThreadedConnectionPool(1, 8, opts.dsn)
    Handler.allow_origin = opts.allow_origin
    server = ThreadingHTTPServer((host, int(port)), Handler)
    print("merchant backend listening on http://%s:%d" % server.server_address[:2], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
