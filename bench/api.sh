#!/usr/bin/env bash
# The automation API under load: the member list through the API and the token endpoint.
#
# - Setup (timed, not measured): bench/gen-people-ldif writes 10,000 people (deterministic)
#   that slapd loads with slapadd at start; `roster org create` makes "Bench Lab" (benchlab);
#   bench/seed-members writes those people into the database as its 10,000 members;
#   `roster client create --org benchlab --name bench --scope org.view` makes an API client
#   (its client_id=... and client_secret=... lines are read from standard output).
# - The portal runs with ROSTER_API__RATE_PER_MINUTE=100000000, so the per-client rate limit
#   never throttles the benchmark, and ROSTER_API__TOKEN_MINUTES=60, so the token does not
#   expire during the run. A token comes from POST /oauth/token (HTTP Basic,
#   grant_type=client_credentials).
# - Checked with curl before and after each wrk run, so a benchmark of 401s or 429s cannot
#   pass: the member list answers 200 with exactly 100 members and a next cursor; the token
#   endpoint answers 200 with a Bearer token to the very request wrk sends.
# - wrk, --latency: GET /api/v1/orgs/benchlab/members?limit=100 with the Bearer token
#   (-t2 -c16); POST /oauth/token with a Lua script (form body, Basic authorization) at a
#   concurrency realistic for a token endpoint (-t1 -c4), and at -t2 -c16.
# - Targets: member list >= 3,000 req/s; token endpoint p99 < 5 ms at -t1 -c4 (the -t2 -c16
#   run is reported). Non-2xx responses or socket errors in a run miss its target. The exit
#   status is 1 when a target is missed.
#
# Needs the release build with `roster client create` (built only when missing), slapd,
# ldap-utils, curl, wrk, base64 and python3. Usage: bench/api.sh
#
# Environment, for quicker or different runs:
#   BENCH_PEOPLE        people in LDAP (10000; at least BENCH_MEMBERS)
#   BENCH_MEMBERS       members of the organisation (10000)
#   BENCH_WRK_SECONDS   length of each wrk run (10)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl wrk slapd slapadd ldapsearch python3 base64
export LDAPNOINIT=1 # keep ~/.ldaprc and /etc/ldap/ldap.conf out of ldapsearch

here="$root/bench"
people_count="${BENCH_PEOPLE:-10000}"
member_count="${BENCH_MEMBERS:-10000}"
wrk_seconds="${BENCH_WRK_SECONDS:-10}"
org_short="benchlab"
page_limit=100
target_list_rps=3000
target_token_p99_ms=5
# Settings of the portal (and the CLI) for this run; see the header.
export ROSTER_API__RATE_PER_MINUTE=100000000
export ROSTER_API__TOKEN_MINUTES=60

fail() {
    echo "bench: $*" >&2
    if [[ -s "$work/roster.log" ]]; then
        echo "bench: last lines of the roster log:" >&2
        tail -n 20 "$work/roster.log" >&2
    fi
    exit 1
}
now_ns() { date +%s%N; }
seconds_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
header_of() { # headers file, name -> value (case-insensitive name, CR stripped)
    awk -v name="$2" 'BEGIN { name = tolower(name) ":" }
        tolower($1) == name { sub(/^[^:]*:[ \t]*/, ""); sub(/\r$/, ""); value = $0 }
        END { print value }' "$1"
}

(( people_count >= member_count )) \
    || fail "BENCH_PEOPLE ($people_count) must be at least BENCH_MEMBERS ($member_count)"
(( member_count > page_limit )) \
    || fail "BENCH_MEMBERS ($member_count) must exceed the page size ($page_limit)"

# ---------------------------------------------------------------------------- binary
bench_start_ns="$(now_ns)"
ensure_roster_bin
"$roster_bin" client create --help >/dev/null 2>&1 \
    || fail "$roster_bin has no 'client create' command: it was built before the automation" \
        "API existed. Rebuild it (cargo build --release --locked --bin roster) and run this again."
facts_before="$(machine_facts)"
echo "== machine: $facts_before"
if awk '{ exit !($1 > 0.5) }' /proc/loadavg; then
    echo "   (the machine is busy: figures will be lower than on an idle one)"
fi

# ---------------------------------------------------------------------------- LDAP
t0="$(now_ns)"
"$here/gen-people-ldif" --count "$people_count" --reserve "$root/scripts/ldap/sample-people.ldif" \
    --tsv "$work/people.tsv" >"$work/people.ldif"
gen_s="$(seconds_since "$t0")"
t0="$(now_ns)"
write_config "" "$work/people.ldif"
slapadd_s="$(seconds_since "$t0")"
echo "== setup: $people_count people generated in $gen_s s; slapadd + slapd start $slapadd_s s"

last_uid_number=$((200000 + people_count - 1))
[[ "$(ldapsearch -x -LLL -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PASSWORD" \
    -b "$LDAP_PEOPLE_DN" "(uidNumber=$last_uid_number)" dn | grep -c '^dn:' || true)" == 1 ]] \
    || fail "slapd does not hold the generated people (no uidNumber $last_uid_number)"

# Other builds or benchmarks running beside this one would skew every figure: sample the
# process list every 2 s, and name them in the summary.
(
    while :; do
        ps -eo args= | grep -E '(^|/)(cargo|rustc|roster|slapd|wrk)( |$)|activate\.py' \
            | grep -vF -e "$work" -e "$BASE" | cut -c1-120 || true
        sleep 2
    done
) >"$work/foreign.raw" 2>/dev/null &
pids+=($!)

# ---------------------------------------------------------------------------- database
# The settings are checked by every command: a build without [api] rate_per_minute and
# token_minutes refuses ROSTER_API__* as unknown keys here.
roster_cli migrate >/dev/null 2>>"$work/cli.log" \
    || fail "roster migrate failed (does this build know the settings api.rate_per_minute and" \
        "api.token_minutes?): $(tail -n 5 "$work/cli.log")"
org_out="$(roster_cli org create --name "Bench Lab" --short-name "$org_short" 2>>"$work/cli.log")" \
    || fail "roster org create failed: $(tail -n 5 "$work/cli.log")"
org_id="$(printf '%s\n' "$org_out" | tail -n 1 | tr -d '[:space:]')"
[[ "$org_id" =~ ^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$ ]] \
    || fail "roster org create did not end with an organisation id; it printed: $org_out"
"$here/seed-members" "$work/roster.db" "$org_id" "$work/people.tsv" --count "$member_count" \
    | sed 's/^/== /'

client_out="$(roster_cli client create --org "$org_short" --name bench --scope org.view \
    2>>"$work/cli.log")" || fail "roster client create failed: $(tail -n 5 "$work/cli.log")"
client_id="$(sed -n 's/^client_id=//p' <<<"$client_out" | tail -n 1 | tr -d '[:space:]')"
client_secret="$(sed -n 's/^client_secret=//p' <<<"$client_out" | tail -n 1 | tr -d '[:space:]')"
[[ -n "$client_id" && -n "$client_secret" ]] \
    || fail "roster client create printed no client_id=... and client_secret=... lines;" \
        "it printed: $(sed 's/^client_secret=.*/client_secret=(hidden)/' <<<"$client_out")"
# RFC 6749 2.3.1: Basic credentials are the form-encoded id and secret; rc_... ids and
# base64url secrets are unchanged by that encoding, as curl -u sends them.
basic="$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"
echo "== client $client_id for $org_short (scope org.view)"

# ---------------------------------------------------------------------------- portal
start_roster
wait_for_directory_jobs 30 || echo "   warning: directory jobs still pending; they may disturb the figures"

token_url="$BASE/oauth/token"
members_url="$BASE/api/v1/orgs/$org_short/members?limit=$page_limit"

# POST /oauth/token exactly as the wrk script sends it -> $work/token.json and .headers.
check_token_endpoint() { # when (label for errors)
    local code
    code="$(curl -s -o "$work/token.json" -D "$work/token.headers" -w '%{http_code}' \
        -H "Authorization: Basic $basic" \
        -H "Content-Type: application/x-www-form-urlencoded" \
        --data-raw "grant_type=client_credentials" "$token_url" || true)"
    [[ "$code" == 200 ]] || fail "$1: POST /oauth/token answered $code, not 200:" \
        "$(head -c 300 "$work/token.json")"
}
check_token_endpoint "before the runs"
token_fields="$(python3 - "$work/token.json" 2>&1 <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError as error:
    sys.exit(f"the answer is not JSON: {error}")
if not isinstance(d.get("access_token"), str) or not d["access_token"]:
    sys.exit("no access_token")
if str(d.get("token_type", "")).lower() != "bearer":
    sys.exit(f"token_type is {d.get('token_type')!r}, not Bearer")
print(d["access_token"], d.get("expires_in", ""), d.get("scope", ""), sep="\n")
PY
)" || fail "POST /oauth/token: $token_fields"
{ read -r token; read -r expires_in; read -r token_scope; } <<<"$token_fields"
echo "== token: expires_in $expires_in s, scope \"$token_scope\""
[[ "$expires_in" == "$((ROSTER_API__TOKEN_MINUTES * 60))" ]] \
    || echo "   warning: expires_in is '$expires_in', not $((ROSTER_API__TOKEN_MINUTES * 60))" \
        "(ROSTER_API__TOKEN_MINUTES=$ROSTER_API__TOKEN_MINUTES not applied?)"
# The limit is the header's leading number (also when a window follows, e.g. "300;w=60").
rate_limit="$(header_of "$work/token.headers" RateLimit-Limit)"
rate_limit="${rate_limit%%[!0-9]*}"
if [[ -z "$rate_limit" ]]; then
    echo "   warning: POST /oauth/token sent no RateLimit-Limit header (or no number in it)"
elif (( rate_limit < ROSTER_API__RATE_PER_MINUTE )); then
    fail "RateLimit-Limit is '$rate_limit', not $ROSTER_API__RATE_PER_MINUTE:" \
        "ROSTER_API__RATE_PER_MINUTE was not applied, and wrk would measure 429s"
fi

check_members() { # when (label for errors)
    local code out
    code="$(curl -s -o "$work/members.json" -D "$work/members.headers" -w '%{http_code}' \
        -H "Authorization: Bearer $token" "$members_url" || true)"
    [[ "$code" == 200 ]] || fail "$1: GET ${members_url#"$BASE"} answered $code, not 200:" \
        "$(head -c 300 "$work/members.json")"
    out="$(python3 - "$work/members.json" "$page_limit" 2>&1 <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError as error:
    sys.exit(f"the answer is not JSON: {error}")
members, want = d.get("members"), int(sys.argv[2])
if not isinstance(members, list):
    sys.exit("no members array")
if len(members) != want:
    sys.exit(f"{len(members)} members, not {want}")
if not d.get("next"):
    sys.exit("next is null on the first page of a larger organisation")
needed = {"person_id", "username", "email", "surname", "given_name", "role", "end_date", "status"}
missing = needed - set(members[0])
if missing:
    sys.exit(f"members lack {sorted(missing)}")
print(len(members))
PY
)" || fail "$1: GET ${members_url#"$BASE"}: $out"
}
check_members "before the runs"
members_bytes="$(wc -c <"$work/members.json" | tr -d ' ')"
members_etag="$(header_of "$work/members.headers" ETag)"
echo "== GET ${members_url#"$BASE"}: 200, $page_limit members, next cursor," \
    "$members_bytes bytes, ETag ${members_etag:-(none)}"
[[ -n "$members_etag" ]] || echo "   warning: the member list sent no ETag"

# The token request for wrk: form body, Basic authorization (the secret stays in $work).
cat >"$work/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA

# ---------------------------------------------------------------------------- wrk
run_wrk() { # label threads connections url [wrk options...] -> WRK_RPS, WRK_P50_MS, WRK_P99_MS, WRK_BAD
    local label="$1" threads="$2" connections="$3" url="$4" out
    shift 4
    echo
    echo "== wrk -t$threads -c$connections -d${wrk_seconds}s --latency: $label"
    out="$(wrk -t"$threads" -c"$connections" -d"${wrk_seconds}s" --latency --timeout 5s "$@" "$url")" \
        || fail "$label: wrk failed: $out"
    awk '/Latency|Req\/Sec|^ +(50|75|90|99)%|requests in|Non-2xx|Socket errors|Requests\/sec/' <<<"$out"
    WRK_RPS="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")"
    WRK_P50_MS="$(awk '$1 == "50%" { print $2 }' <<<"$out" | wrk_to_ms)"
    WRK_P99_MS="$(awk '$1 == "99%" { print $2 }' <<<"$out" | wrk_to_ms)"
    WRK_BAD="$(awk '/Non-2xx or 3xx responses:/ { n += $NF }
        /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")"
    [[ -n "$WRK_RPS" && -n "$WRK_P50_MS" && -n "$WRK_P99_MS" && "$WRK_P99_MS" != nan ]] \
        || fail "$label: cannot read Requests/sec and the 50%/99% latency from wrk's output: $out"
}

run_wrk "GET /api/v1/orgs/$org_short/members?limit=$page_limit (Bearer token)" 2 16 "$members_url" \
    -H "Authorization: Bearer $token"
list_rps="$WRK_RPS" list_p50="$WRK_P50_MS" list_p99="$WRK_P99_MS" list_bad="$WRK_BAD"
check_members "after the wrk run"

run_wrk "POST /oauth/token (client_credentials, Basic)" 1 4 "$token_url" -s "$work/token.lua"
token4_rps="$WRK_RPS" token4_p50="$WRK_P50_MS" token4_p99="$WRK_P99_MS" token4_bad="$WRK_BAD"
check_token_endpoint "after the wrk -t1 -c4 run"

run_wrk "POST /oauth/token (client_credentials, Basic)" 2 16 "$token_url" -s "$work/token.lua"
token16_rps="$WRK_RPS" token16_p50="$WRK_P50_MS" token16_p99="$WRK_P99_MS" token16_bad="$WRK_BAD"
check_token_endpoint "after the wrk -t2 -c16 run"

# ---------------------------------------------------------------------------- summary
verdict() { # value, awk condition on x -> PASS or MISS
    if awk -v x="$1" "BEGIN { exit !($2) }"; then echo PASS; else echo MISS; fi
}
bad_note() { [[ "$1" == 0 ]] || echo " ($1 failed)"; }
status=0
list_ok="$(verdict "$list_rps" "x >= $target_list_rps && $list_bad == 0")"
token_ok="$(verdict "$token4_p99" "x < $target_token_p99_ms && $token4_bad == 0")"
[[ "$list_ok" == PASS && "$token_ok" == PASS ]] || status=1
token16_note="-"
[[ "$token16_bad" == 0 ]] || { token16_note=MISS; status=1; }

echo
echo "== Summary: SQLite, $member_count members in one organisation, $people_count people in LDAP," \
    "$(nproc) cores; the run took $(seconds_since "$bench_start_ns") s"
echo "   machine at the start: $facts_before"
echo
row() { printf '   %-42s %-24s %-11s %-11s %-16s %s\n' "$@"; }
row "wrk -d${wrk_seconds}s --latency" "throughput" "p50" "p99" "target" "result"
row "GET members?limit=$page_limit (-t2 -c16)" "$list_rps req/s$(bad_note "$list_bad")" \
    "$list_p50 ms" "$list_p99 ms" ">= $target_list_rps req/s" "$list_ok"
row "POST /oauth/token (-t1 -c4)" "$token4_rps req/s$(bad_note "$token4_bad")" \
    "$token4_p50 ms" "$token4_p99 ms" "p99 < $target_token_p99_ms ms" "$token_ok"
row "POST /oauth/token (-t2 -c16)" "$token16_rps req/s$(bad_note "$token16_bad")" \
    "$token16_p50 ms" "$token16_p99 ms" "(report)" "$token16_note"
echo "   (members: one page of $page_limit, $members_bytes bytes, Bearer token of a client with"
echo "   org.view; token: client_credentials with HTTP Basic. Every run was checked with curl"
echo "   before and after; a run with failed responses misses its target.)"
echo "   machine at the end: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
awk '!seen[$0]++' "$work/foreign.raw" >"$work/foreign.log"
if [[ -s "$work/foreign.log" ]]; then
    echo "   WARNING: other builds or benchmarks ran during this one; the figures are not clean:"
    head -n 8 "$work/foreign.log" | sed 's/^/     /'
fi
echo
if [[ $status == 0 ]]; then
    echo "   all targets met"
else
    echo "   TARGETS MISSED"
fi
exit $status
