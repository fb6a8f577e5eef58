"""A fault-injecting HTTP/1.1 reverse proxy in front of the tests' SCIM server.

    python3 proxy.py --port PORT --upstream http://127.0.0.1:UPSTREAM_PORT

Every request is forwarded to the upstream server (method, path and query, headers,
body) and its answer returned, unless a fault mode says otherwise. The proxy records
each proxied request as {"at": UNIX_SECONDS, "method", "path", "status"}; "at" is when
the request arrived, "path" includes the query string, and "status" is 0 for a request
answered in hang mode.

Control endpoints, neither forwarded nor recorded:

    POST   /_proxy/mode      {"mode": "pass"}
                             {"mode": "429", "retry_after": 60}
                             {"mode": "503"}
                             {"mode": "hang", "seconds": 30}
    GET    /_proxy/requests  the recorded requests, oldest first
    DELETE /_proxy/requests  forgets them

In 429 and 503 mode, requests get that status and a SCIM error without reaching the
upstream server (429 with Retry-After). In hang mode, the proxy reads the request and
waits `seconds`, or until the mode is set again, then answers 503.

The proxy sets X-Forwarded-Host and X-Forwarded-Proto, so an upstream run with
`--reverse-proxy` builds its Location and meta.location URLs on the proxy's address.
It exits when its parent process (the test) is gone. Standard library only.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SCIM_JSON = "application/scim+json"

# Headers that belong to one connection, not to the message (RFC 9110, 7.6.1), plus
# those the proxy sets itself.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
NOT_FORWARDED_REQUEST = HOP_BY_HOP | {"host", "content-length"}
NOT_FORWARDED_RESPONSE = HOP_BY_HOP | {"content-length", "date", "server"}


class State:
    """The fault mode and the recorded requests, shared by the handler threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.mode = {"mode": "pass"}
        # Bumped on every mode change, so that hanging requests notice one.
        self.generation = 0
        self.requests = []

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode
            self.generation += 1

    def current_mode(self):
        with self.lock:
            return dict(self.mode), self.generation

    def generation_now(self):
        with self.lock:
            return self.generation

    def record(self, at, method, path, status):
        with self.lock:
            self.requests.append(
                {"at": at, "method": method, "path": path, "status": status}
            )

    def recorded(self):
        with self.lock:
            return list(self.requests)

    def clear(self):
        with self.lock:
            self.requests.clear()


def parse_mode(body):
    """The mode of a POST /_proxy/mode body, or raises ValueError."""
    try:
        data = json.loads(body or b"{}")
    except ValueError as error:
        raise ValueError(f"invalid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    mode = str(data.get("mode", ""))
    if mode == "pass":
        return {"mode": "pass"}
    if mode == "429":
        return {"mode": "429", "retry_after": int(data.get("retry_after", 1))}
    if mode == "503":
        parsed = {"mode": "503"}
        if data.get("retry_after") is not None:
            parsed["retry_after"] = int(data["retry_after"])
        return parsed
    if mode == "hang":
        return {"mode": "hang", "seconds": float(data.get("seconds", 30))}
    raise ValueError(f"unknown mode {mode!r} (pass, 429, 503 or hang)")


def scim_error(status, detail):
    return json.dumps(
        {"schemas": [SCIM_ERROR], "status": str(status), "detail": detail}
    ).encode()


class ProxyHandler(BaseHTTPRequestHandler):
    # Persistent connections: every response carries a Content-Length (or has no body).
    protocol_version = "HTTP/1.1"
    server_version = "roster-scim-proxy"
    # Set in main().
    state = None
    upstream = None

    # One method for every verb.
    def do_GET(self):
        self.handle_one()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format, *args):
        sys.stderr.write(
            "%s [%s] %s\n" % (self.address_string(), self.log_date_time_string(), format % args)
        )

    def handle_one(self):
        arrived = time.time()
        try:
            body = self.read_body()
        except ValueError as error:
            self.close_connection = True
            self.answer(400, {"Content-Type": "text/plain"}, str(error).encode())
            return
        path_only = urllib.parse.urlsplit(self.path).path
        if path_only.startswith("/_proxy/"):
            self.control(path_only, body)
            return

        mode, generation = self.state.current_mode()
        if mode["mode"] == "429":
            self.state.record(arrived, self.command, self.path, 429)
            self.answer(
                429,
                {"Content-Type": SCIM_JSON, "Retry-After": str(mode["retry_after"])},
                scim_error(429, "Too many requests"),
            )
        elif mode["mode"] == "503":
            self.state.record(arrived, self.command, self.path, 503)
            headers = {"Content-Type": SCIM_JSON}
            if "retry_after" in mode:
                headers["Retry-After"] = str(mode["retry_after"])
            self.answer(503, headers, scim_error(503, "Service unavailable"))
        elif mode["mode"] == "hang":
            # Recorded on arrival, so that a test sees it while the client waits.
            self.state.record(arrived, self.command, self.path, 0)
            deadline = time.monotonic() + mode["seconds"]
            while (
                time.monotonic() < deadline
                and self.state.generation_now() == generation
            ):
                time.sleep(0.1)
            self.answer(
                503, {"Content-Type": SCIM_JSON}, scim_error(503, "Service unavailable")
            )
        else:
            status, headers, response_body = self.forward(body)
            self.state.record(arrived, self.command, self.path, status)
            self.answer(status, headers, response_body)

    def read_body(self):
        """The request body, by Content-Length or chunked transfer coding."""
        encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in encoding:
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                if not size_line:
                    raise ValueError("connection closed within a chunked body")
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise ValueError("invalid chunk size") from None
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            length = int(length)
        except ValueError:
            raise ValueError("invalid Content-Length") from None
        return self.rfile.read(length) if length > 0 else b""

    def forward(self, body):
        """Sends the request upstream; returns (status, headers, body)."""
        headers = {}
        for name, value in self.headers.items():
            if name.lower() not in NOT_FORWARDED_REQUEST and not name.lower().startswith(
                "x-forwarded-"
            ):
                headers[name] = value
        headers["X-Forwarded-Host"] = self.headers.get("Host") or "%s:%d" % (
            self.server.server_address[:2]
        )
        headers["X-Forwarded-Proto"] = "http"
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=60
        )
        try:
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            response_body = response.read()
            response_headers = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in NOT_FORWARDED_RESPONSE
            ]
            return response.status, response_headers, response_body
        except (OSError, http.client.HTTPException) as error:
            detail = f"Upstream unreachable: {error}"
            return 502, {"Content-Type": SCIM_JSON}, scim_error(502, detail)
        finally:
            connection.close()

    def control(self, path, body):
        if path == "/_proxy/mode" and self.command == "POST":
            try:
                mode = parse_mode(body)
            except (ValueError, TypeError) as error:
                self.answer_json(400, {"error": str(error)})
                return
            self.state.set_mode(mode)
            self.answer_json(200, mode)
        elif path == "/_proxy/mode" and self.command == "GET":
            self.answer_json(200, self.state.current_mode()[0])
        elif path == "/_proxy/requests" and self.command == "GET":
            self.answer_json(200, self.state.recorded())
        elif path == "/_proxy/requests" and self.command == "DELETE":
            self.state.clear()
            self.answer(204, {}, b"")
        else:
            self.answer_json(404, {"error": f"no control endpoint {self.command} {path}"})

    def answer_json(self, status, value):
        self.answer(status, {"Content-Type": "application/json"}, json.dumps(value).encode())

    def answer(self, status, headers, body):
        """Writes a whole response; a client that has gone away is not an error."""
        items = headers.items() if isinstance(headers, dict) else headers
        try:
            self.send_response(status)
            for name, value in items:
                self.send_header(name, value)
            # No Content-Length on a 1xx, 204 or 304 (RFC 9110, 8.6); every other
            # response has one, so that the connection stays usable.
            if not (status < 200 or status in (204, 304)):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body and status not in (204, 304):
                self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    # Clients (the portal under test) may open many connections at once.
    request_queue_size = 128


def watch_parent():
    """Exits the process when its parent (the test process) is gone."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:8080")
    args = parser.parse_args()
    watch_parent()
    upstream = urllib.parse.urlsplit(args.upstream)
    if upstream.scheme != "http" or not upstream.hostname or not upstream.port:
        parser.error("--upstream must be http://HOST:PORT")
    ProxyHandler.state = State()
    ProxyHandler.upstream = upstream
    server = ProxyServer((args.host, args.port), ProxyHandler)
    print(
        f"Proxy listening on http://{args.host}:{args.port} for {args.upstream}",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
