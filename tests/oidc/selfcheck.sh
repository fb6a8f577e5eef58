#!/usr/bin/env bash
# Self-check for the test OpenID Connect provider in this folder.
#
# Starts provider.mjs on a free loopback port, walks real authorization-code
# flows with curl (cookie jar, one redirect at a time, PKCE S256, state, nonce),
# checks the tokens with node (signature against the JWKS, claims), stops the
# provider with SIGTERM, and exits non-zero if any check failed.
#
# Usage: bash tests/oidc/selfcheck.sh      (runs `npm ci` first if node_modules is missing)
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

if [[ ! -d node_modules/oidc-provider ]]; then
  echo "selfcheck: node_modules missing, running npm ci" >&2
  npm ci --no-audit --no-fund >&2 || { echo "selfcheck: npm ci failed" >&2; exit 1; }
fi

WORK="$(mktemp -d)"
CLIENT_ID="roster-selfcheck"
CLIENT_SECRET="selfcheck-secret-$RANDOM$RANDOM"
REDIRECT_URI="http://127.0.0.1:41234/auth/oidc/callback"
PID=""

cleanup() {
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PASS=0
FAIL=0
ok()   { PASS=$((PASS + 1)); echo "ok   - $1"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; }
# check "description" <command...>: passes when the command exits 0.
check() {
  local what="$1"; shift
  local out
  if out="$("$@" 2>&1)"; then ok "$what"; else fail "$what${out:+ ($out)}"; fi
}
expect_eq() { # expect_eq "description" actual expected
  if [[ "$2" == "$3" ]]; then ok "$1"; else fail "$1 (got '$2', want '$3')"; fi
}

# --- start the provider -------------------------------------------------------
OIDC_PORT=0 OIDC_CLIENT_ID="$CLIENT_ID" OIDC_CLIENT_SECRET="$CLIENT_SECRET" \
  OIDC_REDIRECT_URI="$REDIRECT_URI" \
  node provider.mjs >"$WORK/stdout" 2>"$WORK/stderr" &
PID=$!

ISS=""
for _ in $(seq 1 100); do
  if grep -q '^READY ' "$WORK/stdout" 2>/dev/null; then
    ISS="$(awk '/^READY /{print $2; exit}' "$WORK/stdout")"
    break
  fi
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$ISS" ]]; then
  echo "selfcheck: provider did not print READY; stderr:" >&2
  cat "$WORK/stderr" >&2
  exit 1
fi
echo "# provider up: $ISS (pid $PID)"

# --- helpers ----------------------------------------------------------------
# node snippets read JSON from files; no network from node.
json_get() { # json_get file expression-on-d
  node -e 'const fs=require("fs");const d=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));const v=('"$2"');process.stdout.write(typeof v==="string"?v:JSON.stringify(v))' "$1"
}
urlq() { node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$1"; }
query_param() { # query_param url name
  node -e 'const u=new URL(process.argv[1]);const v=u.searchParams.get(process.argv[2]);process.stdout.write(v===null?"":v)' "$1" "$2"
}
control() { # control path json -> prints HTTP status
  curl -s -o "$WORK/control.json" -w '%{http_code}' -X POST -H 'content-type: application/json' \
    --data "$2" "$ISS$1"
}

# One hop, no automatic redirects: prints "<status> <absolute Location>".
hop() { # hop jar url
  curl -s -o "$WORK/hop.body" -w '%{http_code} %{redirect_url}' -b "$1" -c "$1" "$2"
}

# Runs /auth -> /interaction/<uid> -> /auth/<uid> -> redirect_uri, one hop at a
# time with the given cookie jar. Sets FLOW_FINAL (the URL at the redirect URI),
# FLOW_STATE, FLOW_NONCE, FLOW_VERIFIER, and FLOW_ERR on unexpected hops.
# Extra query parameters (already encoded) may be passed as $2.
flow() {
  local jar="$1" extra="${2:-}"
  FLOW_STATE="st-$RANDOM$RANDOM"
  FLOW_NONCE="n-$RANDOM$RANDOM"
  FLOW_VERIFIER="$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64url"))')"
  local challenge
  challenge="$(node -e 'process.stdout.write(require("crypto").createHash("sha256").update(process.argv[1]).digest("base64url"))' "$FLOW_VERIFIER")"
  FLOW_FINAL=""; FLOW_ERR=""
  local url="$ISS/auth?client_id=$(urlq "$CLIENT_ID")&response_type=code&scope=openid%20email%20profile"
  url+="&redirect_uri=$(urlq "$REDIRECT_URI")&state=$FLOW_STATE&nonce=$FLOW_NONCE"
  url+="&code_challenge=$challenge&code_challenge_method=S256$extra"
  local status location i
  for i in 1 2 3 4 5; do
    read -r status location < <(hop "$jar" "$url")
    if [[ "$status" != 30[123] || -z "$location" ]]; then
      FLOW_ERR="hop $i: GET ${url%%\?*} -> $status $(head -c 300 "$WORK/hop.body")"
      return 1
    fi
    if [[ "$location" == "$REDIRECT_URI"* ]]; then
      FLOW_FINAL="$location"
      return 0
    fi
    if [[ "$location" != "$ISS/"* ]]; then
      FLOW_ERR="hop $i: redirected off the provider to $location"
      return 1
    fi
    url="$location"
  done
  FLOW_ERR="too many redirects"
  return 1
}

token_request() { # token_request out.json code verifier [post]
  local auth=(-u "$(urlq "$CLIENT_ID"):$(urlq "$CLIENT_SECRET")")
  local creds=()
  if [[ "${4:-basic}" == post ]]; then auth=(); creds=(--data-urlencode "client_id=$CLIENT_ID" --data-urlencode "client_secret=$CLIENT_SECRET"); fi
  curl -s -o "$1" -w '%{http_code}' "${auth[@]}" "${creds[@]}" \
    --data-urlencode grant_type=authorization_code \
    --data-urlencode "code=$2" \
    --data-urlencode "redirect_uri=$REDIRECT_URI" \
    --data-urlencode "code_verifier=$3" \
    "$ISS/token"
}

# verify_id_token token.json jwks.json expectations-json: checks the RS256
# signature against the JWKS and compares claims; prints problems, exits 1 on any.
verify_id_token() {
  node --input-type=module -e '
    import * as crypto from "node:crypto";
    import * as fs from "node:fs";
    const [tokenFile, jwksFile, want] = process.argv.slice(1);
    const { id_token: jwt } = JSON.parse(fs.readFileSync(tokenFile, "utf8"));
    const { keys } = JSON.parse(fs.readFileSync(jwksFile, "utf8"));
    const expected = JSON.parse(want);
    const problems = [];
    const [h, p, s] = jwt.split(".");
    const header = JSON.parse(Buffer.from(h, "base64url"));
    const payload = JSON.parse(Buffer.from(p, "base64url"));
    if (header.alg !== "RS256") problems.push(`alg ${header.alg}`);
    const jwk = keys.find((k) => k.kid === header.kid);
    if (!jwk) problems.push(`kid ${header.kid} not in JWKS`);
    else {
      const key = crypto.createPublicKey({ key: jwk, format: "jwk" });
      if (!crypto.verify("sha256", Buffer.from(`${h}.${p}`), key, Buffer.from(s, "base64url"))) problems.push("bad signature");
    }
    for (const [k, v] of Object.entries(expected)) {
      if (JSON.stringify(payload[k]) !== JSON.stringify(v)) problems.push(`${k}=${JSON.stringify(payload[k])} want ${JSON.stringify(v)}`);
    }
    const now = Math.floor(Date.now() / 1000);
    if (!(payload.exp > now && payload.exp - payload.iat <= 300)) problems.push(`exp/iat ${payload.iat}..${payload.exp}`);
    if (problems.length) { console.log(problems.join("; ")); process.exit(1); }
  ' "$1" "$2" "$3"
}

# --- checks -----------------------------------------------------------------
curl -s -o "$WORK/disc.json" "$ISS/.well-known/openid-configuration"
expect_eq "discovery issuer is the exact base URL (no trailing slash)" "$(json_get "$WORK/disc.json" d.issuer)" "$ISS"
expect_eq "discovery token endpoint" "$(json_get "$WORK/disc.json" d.token_endpoint)" "$ISS/token"
expect_eq "discovery code_challenge_methods_supported" "$(json_get "$WORK/disc.json" d.code_challenge_methods_supported)" '["S256"]'
expect_eq "discovery response_types_supported" "$(json_get "$WORK/disc.json" d.response_types_supported)" '["code"]'
expect_eq "discovery token_endpoint_auth_methods_supported" \
  "$(json_get "$WORK/disc.json" d.token_endpoint_auth_methods_supported)" '["client_secret_basic","client_secret_post"]'
JWKS_URI="$(json_get "$WORK/disc.json" d.jwks_uri)"
curl -s -o "$WORK/jwks.json" "$JWKS_URI"
expect_eq "JWKS has one RS256 key" "$(json_get "$WORK/jwks.json" 'd.keys.map(k=>k.kty+"/"+k.alg+"/"+k.use).join()')" "RSA/RS256/sig"
expect_eq "GET /__test/health is 200" "$(curl -s -o /dev/null -w '%{http_code}' "$ISS/__test/health")" 200

# No next identity yet: the interaction answers 409.
JAR="$WORK/jar0"
read -r s1 l1 < <(hop "$JAR" "$ISS/auth?client_id=$(urlq "$CLIENT_ID")&response_type=code&scope=openid&redirect_uri=$(urlq "$REDIRECT_URI")&state=x&nonce=y&code_challenge=$(node -e 'process.stdout.write(require("crypto").createHash("sha256").update("v".repeat(43)).digest("base64url"))')&code_challenge_method=S256")
read -r s2 _ < <(hop "$JAR" "$l1")
expect_eq "/auth redirects to /interaction/<uid>" "$s1 ${l1%/*}" "303 $ISS/interaction"
expect_eq "interaction without a next identity is 409" "$s2" 409

# Full flow as alice, client_secret_basic.
expect_eq "POST /__test/next (alice)" \
  "$(control /__test/next '{"sub":"alice-123","email":"alice@example.test","email_verified":true,"name":"Alice Example","deny":false}')" 200
JAR="$WORK/jar1"
if flow "$JAR"; then
  ok "authorization flow ends at the redirect URI"
  CODE="$(query_param "$FLOW_FINAL" code)"
  expect_eq "redirect carries the state" "$(query_param "$FLOW_FINAL" state)" "$FLOW_STATE"
  expect_eq "redirect carries iss (RFC 9207)" "$(query_param "$FLOW_FINAL" iss)" "$ISS"
  check "redirect carries a code" test -n "$CODE"
  expect_eq "token exchange (client_secret_basic) is 200" "$(token_request "$WORK/tok1.json" "$CODE" "$FLOW_VERIFIER")" 200
  check "id_token: RS256 signature verifies against JWKS; iss, aud, sub, email, email_verified, name, nonce" \
    verify_id_token "$WORK/tok1.json" "$WORK/jwks.json" \
    "{\"iss\":\"$ISS\",\"aud\":\"$CLIENT_ID\",\"sub\":\"alice-123\",\"email\":\"alice@example.test\",\"email_verified\":true,\"name\":\"Alice Example\",\"nonce\":\"$FLOW_NONCE\"}"
  expect_eq "token_type is Bearer" "$(json_get "$WORK/tok1.json" d.token_type)" Bearer
  AT="$(json_get "$WORK/tok1.json" d.access_token)"
  curl -s -o "$WORK/userinfo.json" -H "authorization: Bearer $AT" "$ISS/me"
  expect_eq "userinfo returns the account's email" "$(json_get "$WORK/userinfo.json" d.email)" "alice@example.test"
  expect_eq "same code a second time is refused (400)" "$(token_request "$WORK/tok1b.json" "$CODE" "$FLOW_VERIFIER")" 400
  expect_eq "... with invalid_grant" "$(json_get "$WORK/tok1b.json" d.error)" invalid_grant
else
  fail "authorization flow ends at the redirect URI ($FLOW_ERR)"
fi

# Wrong code_verifier.
if flow "$JAR"; then
  CODE="$(query_param "$FLOW_FINAL" code)"
  expect_eq "wrong code_verifier is refused (400)" \
    "$(token_request "$WORK/tok2.json" "$CODE" "$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64url"))')")" 400
  expect_eq "... with invalid_grant" "$(json_get "$WORK/tok2.json" d.error)" invalid_grant
else
  fail "second flow ($FLOW_ERR)"
fi

# Wrong client secret.
if flow "$JAR"; then
  CODE="$(query_param "$FLOW_FINAL" code)"
  status="$(curl -s -o "$WORK/tok3.json" -w '%{http_code}' -u "$CLIENT_ID:wrong" --data-urlencode grant_type=authorization_code \
    --data-urlencode "code=$CODE" --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$FLOW_VERIFIER" "$ISS/token")"
  expect_eq "wrong client secret is refused with invalid_client" "$status $(json_get "$WORK/tok3.json" d.error)" "401 invalid_client"
else
  fail "third flow ($FLOW_ERR)"
fi

# client_secret_post.
if flow "$JAR"; then
  CODE="$(query_param "$FLOW_FINAL" code)"
  expect_eq "token exchange with client_secret_post is 200" "$(token_request "$WORK/tok4.json" "$CODE" "$FLOW_VERIFIER" post)" 200
else
  fail "fourth flow ($FLOW_ERR)"
fi

# PKCE is required: no code_challenge -> error at the redirect URI.
read -r status location < <(hop "$WORK/jar-nopkce" "$ISS/auth?client_id=$(urlq "$CLIENT_ID")&response_type=code&scope=openid&redirect_uri=$(urlq "$REDIRECT_URI")&state=nopkce&nonce=n")
expect_eq "authorization request without PKCE ends in error=invalid_request at the redirect URI" \
  "${location%%\?*} $(query_param "$location" error) $(query_param "$location" state)" "$REDIRECT_URI invalid_request nopkce"

# Identity switch in the same cookie jar (no SSO), and findAccount for an
# earlier identity after the next identity changed.
if flow "$JAR"; then
  ALICE_CODE="$(query_param "$FLOW_FINAL" code)"; ALICE_VERIFIER="$FLOW_VERIFIER"; ALICE_NONCE="$FLOW_NONCE"
  control /__test/next '{"sub":"bob-456","email":"bob@example.test","email_verified":false,"name":"Bob"}' >/dev/null
  if flow "$JAR"; then
    token_request "$WORK/tok5.json" "$(query_param "$FLOW_FINAL" code)" "$FLOW_VERIFIER" >/dev/null
    check "same cookie jar, next identity bob: id_token is bob's" verify_id_token "$WORK/tok5.json" "$WORK/jwks.json" \
      "{\"aud\":\"$CLIENT_ID\",\"sub\":\"bob-456\",\"email\":\"bob@example.test\",\"email_verified\":false,\"name\":\"Bob\",\"nonce\":\"$FLOW_NONCE\"}"
  else
    fail "bob flow ($FLOW_ERR)"
  fi
  token_request "$WORK/tok6.json" "$ALICE_CODE" "$ALICE_VERIFIER" >/dev/null
  check "alice's code exchanged after switching to bob still yields alice's claims" verify_id_token "$WORK/tok6.json" "$WORK/jwks.json" \
    "{\"sub\":\"alice-123\",\"email\":\"alice@example.test\",\"nonce\":\"$ALICE_NONCE\"}"
else
  fail "alice flow before switch ($FLOW_ERR)"
fi

# deny: true -> access_denied at the redirect URI.
control /__test/next '{"sub":"carol","email":"carol@example.test","email_verified":true,"name":"Carol","deny":true}' >/dev/null
if flow "$WORK/jar-deny"; then
  expect_eq "deny=true ends at the redirect URI with error=access_denied and the state" \
    "${FLOW_FINAL%%\?*} $(query_param "$FLOW_FINAL" error) $(query_param "$FLOW_FINAL" state) code=$(query_param "$FLOW_FINAL" code)" \
    "$REDIRECT_URI access_denied $FLOW_STATE code="
else
  fail "deny flow ($FLOW_ERR)"
fi

# Wrong-audience ID token, validly signed.
control /__test/next '{"sub":"dave","email":"dave@example.test","email_verified":true,"name":"Dave"}' >/dev/null
expect_eq "POST /__test/id-token-audience someone-else" "$(control /__test/id-token-audience '{"aud":"someone-else"}')" 200
if flow "$WORK/jar-aud"; then
  expect_eq "token exchange with audience override is 200" "$(token_request "$WORK/tok7.json" "$(query_param "$FLOW_FINAL" code)" "$FLOW_VERIFIER")" 200
  check "overridden id_token: aud=someone-else, same claims, signature verifies against JWKS" verify_id_token "$WORK/tok7.json" "$WORK/jwks.json" \
    "{\"iss\":\"$ISS\",\"aud\":\"someone-else\",\"sub\":\"dave\",\"email\":\"dave@example.test\",\"nonce\":\"$FLOW_NONCE\"}"
else
  fail "audience flow ($FLOW_ERR)"
fi
expect_eq "POST /__test/id-token-audience null" "$(control /__test/id-token-audience '{"aud":null}')" 200
if flow "$WORK/jar-aud"; then
  token_request "$WORK/tok8.json" "$(query_param "$FLOW_FINAL" code)" "$FLOW_VERIFIER" >/dev/null
  check "after reset the id_token aud is the client id again" verify_id_token "$WORK/tok8.json" "$WORK/jwks.json" \
    "{\"aud\":\"$CLIENT_ID\",\"sub\":\"dave\"}"
else
  fail "audience reset flow ($FLOW_ERR)"
fi

# Clean stop.
kill -TERM "$PID"
wait "$PID"
expect_eq "SIGTERM: provider exits with status 0" "$?" 0
PID=""
expect_eq "stdout held only the READY line" "$(cat "$WORK/stdout")" "READY $ISS"

echo "$PASS passed, $FAIL failed"
[[ "$FAIL" -eq 0 ]]
