#!/usr/bin/env python3
"""Load generators for bench/activation.sh (standard library only).

Each simulated person is one thread-owned HTTP/1.1 keep-alive connection with its own
cookies, and reads the CSRF token from every page as a browser would.

  activate     N invitation links, each taken end to end (open the link, choose the
               password, choose username and shell, review, confirm) with C at a time;
               prints a JSON summary: accounts/s, latency per activation and per step.
  signin-load  keeps C sign-ins in flight (each one a bcrypt verification) until a stop
               file appears; worker 0 may be a probe that signs in successfully each time.
               Prints a JSON summary of the sign-in latencies.
"""

import argparse
import concurrent.futures
import http.client
import json
import math
import os
import re
import sys
import threading
import time
import urllib.parse

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


class Failure(Exception):
    pass


class Client:
    """One person: a keep-alive connection and a cookie jar (name -> value)."""

    def __init__(self, base, timeout=120.0):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port or 80
        self.timeout = timeout
        self.cookies = {}
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, form=None):
        """-> (status, location, body text, seconds)"""
        headers = {}
        body = None
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                text = resp.read().decode("utf-8", "replace")
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection closed by the server between requests: retry once.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            elapsed = time.perf_counter() - started
            for header in resp.headers.get_all("Set-Cookie") or []:
                pair, _, attrs = header.partition(";")
                name, _, value = pair.strip().partition("=")
                if value == "" or re.search(r"max-age=0\b", attrs, re.I):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
            if resp.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return resp.status, resp.getheader("Location", ""), text, elapsed
        raise Failure("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()


def csrf(text, what):
    match = CSRF_RE.search(text)
    if not match:
        raise Failure(f"{what}: no csrf_token in the page")
    return match.group(1)


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)  # nearest rank
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def ms(value):
    return None if value is None else round(value * 1000.0, 2)


def stats(values):
    return {
        "count": len(values),
        "mean_ms": ms(sum(values) / len(values)) if values else None,
        "p50_ms": ms(percentile(values, 50)),
        "p90_ms": ms(percentile(values, 90)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(max(values)) if values else None,
    }


# --------------------------------------------------------------------------- activate
STEPS = ["open link", "choose password", "open set-up", "review", "confirm"]


def activate_one(base, link, username, password, shell):
    """One activation end to end -> (outcome, seconds, per-step seconds)."""
    client = Client(base)
    path = urllib.parse.urlsplit(link).path
    times = []
    started = time.perf_counter()
    try:
        status, _, text, t = client.request("GET", path)
        times.append(t)
        if status != 200:
            raise Failure(f"GET invitation link: {status}")
        status, location, text, t = client.request("POST", path, {
            "csrf_token": csrf(text, "invitation page"),
            "password": password,
            "password_confirmation": password,
        })
        times.append(t)
        # To /account/setup (builds before it: to /, which sends members there).
        if status != 303:
            raise Failure(f"POST invitation link: {status} -> {location!r}")
        status, _, text, t = client.request("GET", "/account/setup")
        times.append(t)
        if status != 200:
            raise Failure(f"GET /account/setup: {status}")
        choice = {"username": username, "login_shell": shell}
        status, _, text, t = client.request(
            "POST", "/account/setup", {"csrf_token": csrf(text, "set-up page"), **choice})
        times.append(t)
        if status != 200:
            raise Failure(f"POST /account/setup: {status}")
        status, location, text, t = client.request(
            "POST", "/account/setup/confirm", {"csrf_token": csrf(text, "review page"), **choice})
        times.append(t)
        if status != 303:
            raise Failure(f"POST /account/setup/confirm: {status}")
        if location == "/?welcome=account":
            outcome = "account"
        elif location == "/?welcome=pending":
            outcome = "pending"
        else:
            raise Failure(f"POST /account/setup/confirm: 303 -> {location!r}")
    except (Failure, OSError, http.client.HTTPException) as error:
        return f"error: {username}: {error}", time.perf_counter() - started, times
    finally:
        client.close()
    return outcome, time.perf_counter() - started, times


def cmd_activate(args):
    with open(args.links) as f:
        links = [line.strip() for line in f if line.strip()]
    if args.count:
        links = links[: args.count]
    jobs = [(link, f"{args.prefix}{args.first + i:04d}") for i, link in enumerate(links)]
    results = []
    wall_start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [pool.submit(activate_one, args.base, link, user, args.password, args.shell)
                   for link, user in jobs]
        for future in futures:
            results.append(future.result())
    wall = time.perf_counter() - wall_start
    outcomes = [r[0] for r in results]
    done = [r for r in results if r[0] in ("account", "pending")]
    errors = [o for o in outcomes if o.startswith("error")]
    step_stats = {}
    for i, name in enumerate(STEPS):
        step_stats[name] = stats([r[2][i] for r in done if len(r[2]) > i])
    summary = {
        "activations": len(jobs),
        "concurrency": args.concurrency,
        "ldap_written": outcomes.count("account"),
        "ldap_pending": outcomes.count("pending"),
        "failed": len(errors),
        "errors": errors[:5],
        "wall_s": round(wall, 3),
        "accounts_per_s": round(len(done) / wall, 2) if wall > 0 else None,
        "latency": stats([r[1] for r in done]),
        "steps": step_stats,
        "usernames": [user for (_, user), r in zip(jobs, results) if r[0] in ("account", "pending")],
    }
    json.dump(summary, sys.stdout)
    print()
    return 0 if not errors else 1


# --------------------------------------------------------------------------- sign-in load
def cmd_signin_load(args):
    with open(args.logins) as f:
        logins = [line.strip() for line in f if line.strip()]
    if len(logins) < args.concurrency:
        raise SystemExit(f"signin-load: {args.concurrency} workers need as many logins, got {len(logins)}")
    stop = threading.Event()
    lock = threading.Lock()
    records = []  # (worker, start, seconds, status)
    errors = []
    probe = args.probe_login is not None
    in_flight_once = threading.Barrier(args.concurrency + 1)
    t0 = time.perf_counter()

    def worker(index):
        client = Client(args.base)
        is_probe = probe and index == 0
        login = args.probe_login if is_probe else logins[index]
        password = args.probe_password if is_probe else args.wrong_password
        token = None
        first = True
        try:
            while not stop.is_set():
                try:
                    if token is None or is_probe:
                        if is_probe:
                            client.cookies.clear()  # signed in: start from a fresh session
                        status, _, text, _ = client.request("GET", "/sign-in")
                        if status != 200:
                            raise Failure(f"GET /sign-in: {status}")
                        token = csrf(text, "sign-in page")
                    if first:
                        first = False
                        in_flight_once.wait()
                    start = time.perf_counter()
                    status, _, text, t = client.request("POST", "/sign-in", {
                        "csrf_token": token, "login": login, "password": password})
                    with lock:
                        records.append((index, start - t0, t, status))
                    if not is_probe:
                        match = CSRF_RE.search(text)
                        token = match.group(1) if match else None
                except (Failure, OSError, http.client.HTTPException,
                        threading.BrokenBarrierError) as error:
                    with lock:
                        errors.append(f"worker {index}: {error}")
                    token = None
                    time.sleep(0.2)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True)
               for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    try:
        in_flight_once.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass
    steady_at = time.perf_counter() - t0
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write("ready\n")
    while not os.path.exists(args.stop_file):
        time.sleep(0.05)
    stop_at = time.perf_counter() - t0
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    expected_wrong = 401
    load = [r for r in records if not (probe and r[0] == 0)]
    probes = [r for r in records if probe and r[0] == 0]
    # The load window: requests that started once all workers had one in flight and
    # before the stop file appeared.
    window = [r for r in load if steady_at <= r[1] < stop_at]
    summary = {
        "workers": args.concurrency,
        "window_s": round(stop_at - steady_at, 2),
        "completed": len(load),
        "statuses": {str(s): sum(1 for r in load if r[3] == s) for s in sorted({r[3] for r in load})},
        # 503: the portal gave up a check that waited too long for a hashing thread
        # (security.hash_queue_seconds) and said "busy, try again": an expected answer.
        "unexpected": sum(1 for r in load if r[3] not in (expected_wrong, 503)),
        "busy": sum(1 for r in load if r[3] == 503),
        "all": stats([r[2] for r in load]),
        "window": stats([r[2] for r in window]),
        "hashes_per_s": round(len([r for r in records if steady_at <= r[1] + r[2] <= stop_at])
                              / max(stop_at - steady_at, 1e-9), 2),
        "probe": {
            **stats([r[2] for r in probes]),
            "ok": sum(1 for r in probes if r[3] == 303),
            "busy": sum(1 for r in probes if r[3] == 503),
        } if probe else None,
        "errors": errors[:5],
        "error_count": len(errors),
    }
    json.dump(summary, sys.stdout)
    print()
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("activate", help="activate accounts from invitation links")
    a.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    a.add_argument("--links", required=True, help="file with one invitation link a line")
    a.add_argument("--count", type=int, default=0, help="use only the first COUNT links")
    a.add_argument("--concurrency", type=int, default=1)
    a.add_argument("--prefix", default="user", help="username prefix")
    a.add_argument("--first", type=int, default=1, help="number of the first username")
    a.add_argument("--password", required=True)
    a.add_argument("--shell", default="/bin/bash")
    a.set_defaults(func=cmd_activate)

    s = sub.add_parser("signin-load", help="keep sign-ins in flight until --stop-file exists")
    s.add_argument("--base", required=True)
    s.add_argument("--logins", required=True, help="file with one login a line (distinct)")
    s.add_argument("--concurrency", type=int, default=50)
    s.add_argument("--wrong-password", default="not the right password 17")
    s.add_argument("--probe-login", help="worker 0 signs in as this login, successfully")
    s.add_argument("--probe-password")
    s.add_argument("--ready-file", help="written once every worker has a sign-in in flight")
    s.add_argument("--stop-file", required=True)
    s.set_defaults(func=cmd_signin_load)

    args = parser.parse_args()
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
