#!/usr/bin/env python3
"""Provision an organisation through Roster's automation API, end to end.

This is docs/api.md as a script. It:

  1. gets an access token (client credentials, HTTP Basic at /oauth/token);
  2. looks up the organisation twice, the second time with If-None-Match (304);
  3. invites one person by email (the link is mailed to them);
  4. adds the --add people in one batch (PATCH members with If-Match), re-reading
     the members ETag and retrying when the version moved (412);
  5. shows a 412 on purpose: an empty batch sent with the old ETag, then re-read
     and sent again;
  6. pages through the members two at a time and checks that everyone was added.

It needs Python 3.8 or later and `requests` (Debian: apt install python3-requests).
Create a client first (or use the organisation's "API clients" page):

    eval "$(roster client create --org physics --name provisioning \\
        --scope org.view --scope members.manage --scope invitations.manage)"
    export ROSTER_URL=http://127.0.0.1:8080 ROSTER_ORG=physics
    export ROSTER_CLIENT_ID="$client_id" ROSTER_CLIENT_SECRET="$client_secret"

    examples/provision.py --invite-email ada@example.org --invite-surname Lovelace \\
        --add amueller --add jmueller --add aangstroem --add skierkegaard \\
        --add zbronte --add jgarcia --add mfernandezlopez --add flefevre \\
        --add hdubois --add lwojcik

Use people who are not members yet and an address not invited yet: the script
expects every step to succeed. Adding someone as manager or owner (--role) needs
the members.grant_manager scope as well.

It prints what it does and ends with "provision.py: done" (exit status 0). Any
unexpected answer is printed to standard error and the exit status is 1.
"""

import argparse
import base64
import json
import os
import sys
import time

import requests

# Get a new token this many seconds before the current one expires.
REFRESH_MARGIN = 30
# How often one request is retried after a 429 before giving up.
MAX_RATE_LIMIT_RETRIES = 5
# The longest wait accepted from Retry-After, in seconds.
MAX_RETRY_AFTER = 120
# How often a batch is re-read and resent after a 412.
MAX_STALE_RETRIES = 3


class Unexpected(Exception):
    """An answer the script did not expect; main() prints it and exits 1."""

    def __init__(self, what, response=None):
        self.what = what
        self.response = response
        super().__init__(what)

    def __str__(self):
        if self.response is None:
            return self.what
        r = self.response
        lines = [f"{self.what}: {r.request.method} {r.url} answered {r.status_code}"]
        try:
            body = r.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            # problem+json from the API, {"error": ...} from the token endpoint
            for key in ("title", "detail", "error", "error_description"):
                if body.get(key):
                    lines.append(f"  {key}: {body[key]}")
            for error in body.get("errors") or []:
                lines.append(
                    f"  item {error.get('index')}: {error.get('field')}: {error.get('message')}"
                )
        elif r.text:
            lines.append("  " + r.text[:500])
        challenge = r.headers.get("WWW-Authenticate")
        if challenge:
            lines.append(f"  WWW-Authenticate: {challenge}")
        return "\n".join(lines)


class Roster:
    """A small client for the automation API.

    Every HTTP request goes through _send(), which waits Retry-After seconds and
    retries on 429. API calls go through request(), which adds the bearer token,
    gets a new token shortly before the old one expires or after a 401, and
    checks the status against the ones the caller expects.
    """

    def __init__(self, url, client_id, client_secret, timeout=30):
        self.url = url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["Accept"] = "application/json"
        self.token = None
        self.token_expires = 0.0
        self.last_response = None
        self.cache = {}  # path -> (ETag, body) for get_cached()

    def _send(self, method, path, **kwargs):
        for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
            response = self.http.request(
                method, self.url + path, timeout=self.timeout, **kwargs
            )
            self.last_response = response
            if response.status_code != 429 or attempt == MAX_RATE_LIMIT_RETRIES:
                return response
            wait = retry_after(response)
            print(f"rate limited: waiting {wait} s (Retry-After)")
            time.sleep(wait)
        raise AssertionError("unreachable")

    def get_token(self):
        response = self._send(
            "POST",
            "/oauth/token",
            auth=(self.client_id, self.client_secret),
            data={"grant_type": "client_credentials"},
        )
        if response.status_code != 200:
            raise Unexpected("token request refused", response)
        body = response.json()
        if body.get("token_type", "").lower() != "bearer" or not body.get("access_token"):
            raise Unexpected(f"token response without a bearer token: {body}")
        self.token = body["access_token"]
        self.token_expires = time.monotonic() + int(body["expires_in"])
        return body

    def _bearer(self):
        if self.token is None or time.monotonic() > self.token_expires - REFRESH_MARGIN:
            self.get_token()
        return self.token

    def request(self, method, path, expect, headers=None, **kwargs):
        """One API call; raises Unexpected unless the status is in `expect`."""
        retried_401 = False
        while True:
            all_headers = dict(headers or {})
            all_headers["Authorization"] = f"Bearer {self._bearer()}"
            response = self._send(method, path, headers=all_headers, **kwargs)
            if response.status_code == 401 and not retried_401:
                # Expired early, or the signing key was rotated: one new token, one retry.
                retried_401 = True
                print("token refused (401): getting a new one")
                self.token = None
                continue
            if response.status_code not in expect:
                raise Unexpected("unexpected answer", response)
            return response

    def get_cached(self, path):
        """GET with ETag caching. Returns (body, status): status 304 means the cache was used."""
        headers = {}
        if path in self.cache:
            headers["If-None-Match"] = self.cache[path][0]
        response = self.request("GET", path, expect={200, 304}, headers=headers)
        if response.status_code == 304:
            if path not in self.cache:
                raise Unexpected("304 for a request without If-None-Match", response)
            return self.cache[path][1], 304
        body = response.json()
        etag = response.headers.get("ETag")
        if etag:
            self.cache[path] = (etag, body)
        return body, 200


def retry_after(response):
    value = response.headers.get("Retry-After", "")
    try:
        seconds = int(value)
    except ValueError:
        seconds = 1
    return min(max(seconds, 1), MAX_RETRY_AFTER)


def jwt_claims(token):
    """The claims of a JWT, *without* checking its signature (for display only)."""
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def members_etag(api, org):
    response = api.request("GET", f"/api/v1/orgs/{org}/members?limit=1", expect={200})
    etag = response.headers.get("ETag")
    if not etag:
        raise Unexpected("members answer without an ETag", response)
    return etag


def patch_members(api, org, batch, etag):
    """Send a batch with If-Match; on 412 re-read the ETag and resend (bounded).

    Returns (response, the ETag the successful request was sent with).
    """
    for _ in range(MAX_STALE_RETRIES):
        response = api.request(
            "PATCH",
            f"/api/v1/orgs/{org}/members",
            expect={200, 412},
            headers={"If-Match": etag},
            json=batch,
        )
        if response.status_code == 200:
            return response, etag
        print("stale version: re-reading")
        etag = members_etag(api, org)
    raise Unexpected(f"members version still moving after {MAX_STALE_RETRIES} tries")


def check_version(response):
    """The body's version and the ETag header name the same version."""
    version = response.json()["version"]
    if response.headers.get("ETag") != f'"{version}"':
        raise Unexpected(
            f"ETag {response.headers.get('ETag')!r} does not match version {version!r}"
        )
    return version


def parse_args():
    env = os.environ.get
    p = argparse.ArgumentParser(
        description="Provision an organisation through Roster's automation API."
    )
    p.add_argument("--url", default=env("ROSTER_URL"), help="portal URL (ROSTER_URL)")
    p.add_argument("--client-id", default=env("ROSTER_CLIENT_ID"), help="(ROSTER_CLIENT_ID)")
    p.add_argument(
        "--client-secret", default=env("ROSTER_CLIENT_SECRET"), help="(ROSTER_CLIENT_SECRET)"
    )
    p.add_argument("--org", default=env("ROSTER_ORG"), help="organisation short name (ROSTER_ORG)")
    p.add_argument("--invite-email", required=True, help="email address to invite")
    p.add_argument("--invite-surname", required=True, help="surname of the invited person")
    p.add_argument("--invite-given-name", help="given name of the invited person (optional)")
    p.add_argument(
        "--add",
        action="append",
        required=True,
        metavar="USERNAME",
        help="a person to add in the batch; repeat it for each (e.g. ten times)",
    )
    p.add_argument("--role", default="member", help="role for the invitation and the batch")
    args = p.parse_args()
    for name in ("url", "client_id", "client_secret", "org"):
        if not getattr(args, name):
            p.error(f"--{name.replace('_', '-')} (or ROSTER_{name.upper()}) is required")
    if len(set(args.add)) != len(args.add):
        p.error("--add names someone twice")
    return args


def provision(args):
    api = Roster(args.url, args.client_id, args.client_secret)
    org = args.org

    # 1. A token. Its claims are printed for information only; they are not verified here.
    token = api.get_token()
    claims = jwt_claims(token["access_token"])
    print(
        f"token: expires in {token['expires_in']} s, scope {token.get('scope')!r}, "
        f"org {claims.get('org')!r}, permissions {claims.get('permissions')}"
    )

    # 2. The organisation, twice: the second GET sends If-None-Match and gets 304.
    org_path = f"/api/v1/orgs/{org}"
    body, status = api.get_cached(org_path)
    if status != 200 or org_path not in api.cache:
        raise Unexpected("organisation answer without an ETag", api.last_response)
    if api.cache[org_path][0] != f'"{body["version"]}"':
        raise Unexpected(f"ETag {api.cache[org_path][0]} does not match version {body['version']}")
    print(
        f"organisation {body['short_name']}: {body['name']!r}, gid {body['gid_number']}, "
        f"{body['member_count']} members, version {body['version']}"
    )
    body, status = api.get_cached(org_path)
    if status != 304:
        raise Unexpected("the second look-up was not answered 304", api.last_response)
    print("cache hit: 304")

    # 3. An invitation. The link is mailed to the person; the API never returns it.
    invitation = {"email": args.invite_email, "surname": args.invite_surname, "role": args.role}
    if args.invite_given_name:
        invitation["given_name"] = args.invite_given_name
    response = api.request(
        "POST", f"/api/v1/orgs/{org}/invitations", expect={201}, json=invitation
    )
    created = response.json()
    print(
        f"invited {created['email']}: invitation {created['id']}, status {created['status']}, "
        f"expires {created['expires_at']}, at {response.headers.get('Location')}"
    )

    # 4. The batch: everyone in one PATCH, guarded by the members ETag.
    batch = {"add": [{"username": name, "role": args.role} for name in args.add]}
    response, sent_with = patch_members(api, org, batch, members_etag(api, org))
    version = check_version(response)
    added = [c for c in response.json()["changes"] if c["op"] == "add"]
    print(f"batch: members version {version}, {len(added)} of {len(args.add)} added")

    # 5. A 412 on purpose: the ETag the batch was sent with is stale now.
    response = api.request(
        "PATCH",
        f"/api/v1/orgs/{org}/members",
        expect={412},
        headers={"If-Match": sent_with},
        json={"update": []},
    )
    print("stale version: re-reading")
    response, _ = patch_members(api, org, {"update": []}, members_etag(api, org))
    version = check_version(response)
    print(f"resent with the current version: {response.status_code}, version {version}")

    # 6. Every member, two per page, following "next".
    usernames = set()
    pages = 0
    after = None
    while True:
        params = {"limit": 2}
        if after is not None:
            params["after"] = after
        response = api.request(
            "GET", f"/api/v1/orgs/{org}/members", expect={200}, params=params
        )
        page = response.json()
        pages += 1
        usernames.update(m["username"] for m in page["members"] if m.get("username"))
        after = page["next"]
        if after is None:
            break
        if pages > 100_000:
            raise Unexpected("paging does not end")
    missing = [name for name in args.add if name not in usernames]
    if missing:
        raise Unexpected(f"not in the member list after the batch: {', '.join(missing)}")
    print(f"members: {len(usernames)} with a username, {pages} pages; all {len(args.add)} present")

    headers = api.last_response.headers
    print(
        f"rate limit: {headers.get('RateLimit-Remaining')} of {headers.get('RateLimit-Limit')} "
        f"left, window resets in {headers.get('RateLimit-Reset')} s"
    )


def main():
    args = parse_args()
    try:
        provision(args)
    except Unexpected as error:
        print(f"provision.py: {error}", file=sys.stderr)
        return 1
    except requests.RequestException as error:
        print(f"provision.py: request failed: {error}", file=sys.stderr)
        return 1
    except (ValueError, KeyError, TypeError, IndexError) as error:
        # a body that is not JSON, or lacks a field the contract promises
        print(f"provision.py: malformed answer: {error!r}", file=sys.stderr)
        return 1
    print("provision.py: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
