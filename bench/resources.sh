#!/usr/bin/env bash
# The access check a device gateway makes: GET /api/v1/resources/{id}/access?username=U,
# on an organisation of 10,000 members with 200 resources.
#
# - Setup (timed, not measured): bench/gen-people-ldif writes 10,000 people that slapd
#   loads; `roster org create` makes "Bench Lab" (benchlab) and bench/seed-members makes
#   them its members; `roster resource create` makes 200 open resources (BENCH_RESOURCES),
#   whose posixGroups (10,000 memberUid each) are written before the run.
# - A client with resources.read gets a token (HTTP Basic, client_credentials); the portal
#   runs with ROSTER_API__RATE_PER_MINUTE=100000000 and ROSTER_API__TOKEN_MINUTES=60.
# - Checked with curl before and after the run: the answer is 200 with "allowed": true
#   and "reason": "role" for the member asked about.
# - wrk -t2 -c16 --latency for BENCH_WRK_SECONDS (10) on one resource and one member.
# - Targets: >= 3,000 req/s and p99 < 10 ms, with no failed responses. Exit status 1 when
#   a target is missed.
#
# Needs the release build, slapd, ldap-utils, curl, wrk, base64 and python3.
# Usage: bench/resources.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl wrk slapd slapadd python3 base64
export LDAPNOINIT=1

here="$root/bench"
people_count="${BENCH_PEOPLE:-10000}"
resource_count="${BENCH_RESOURCES:-200}"
wrk_seconds="${BENCH_WRK_SECONDS:-10}"
target_rps=3000
target_p99_ms=10
export ROSTER_API__RATE_PER_MINUTE=100000000
export ROSTER_API__TOKEN_MINUTES=60

fail() {
    echo "bench: $*" >&2
    [[ -s "$work/roster.log" ]] && tail -n 20 "$work/roster.log" >&2
    exit 1
}
now_ns() { date +%s%N; }
seconds_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

ensure_roster_bin
echo "== machine: $(machine_facts)"
t0="$(now_ns)"
"$here/gen-people-ldif" --count "$people_count" --reserve "$root/scripts/ldap/sample-people.ldif" \
    --tsv "$work/people.tsv" >"$work/people.ldif"
write_config "" "$work/people.ldif"
roster_cli migrate >/dev/null
org_id="$(roster_cli org create --name "Bench Lab" --short-name benchlab 2>/dev/null \
    | tail -n 1 | tr -d '[:space:]')"
"$here/seed-members" "$work/roster.db" "$org_id" "$work/people.tsv" --count "$people_count" \
    | sed 's/^/== /'
for n in $(seq 1 "$resource_count"); do
    id="$(roster_cli resource create --org benchlab --short-name "r$n" --name "Resource $n" \
        --kind device 2>/dev/null | tail -n 1 | tr -d '[:space:]')" \
        || fail "roster resource create r$n failed"
    [[ "$n" == 1 ]] && resource_id="$id"
done
[[ -n "${resource_id:-}" ]] || fail "no resource id printed"
client_out="$(roster_cli client create --org benchlab --name gateway --scope resources.read)"
client_id="$(sed -n 's/^client_id=//p' <<<"$client_out" | tr -d '[:space:]')"
client_secret="$(sed -n 's/^client_secret=//p' <<<"$client_out" | tr -d '[:space:]')"
basic="$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"
start_roster
wait_for_directory_jobs 600 || fail "the resources' groups were not written within 10 minutes"
echo "== setup: $people_count members, $resource_count resources and their groups in $(seconds_since "$t0") s"

token="$(curl -fs -H "Authorization: Basic $basic" --data-raw grant_type=client_credentials \
    "$BASE/oauth/token" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')" \
    || fail "no token"
username="$(awk -F '\t' 'NR == 10 { print $1 }' "$work/people.tsv")"
url="$BASE/api/v1/resources/$resource_id/access?username=$username"
check() {
    local answer
    answer="$(curl -fs -H "Authorization: Bearer $token" "$url")" || fail "$1: the access check failed"
    [[ "$answer" == '{"allowed":true,"reason":"role"}' ]] || fail "$1: unexpected answer $answer"
}
check "before the run"
members="$(ldapsearch -x -LLL -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PASSWORD" \
    -b "cn=benchlab-r1,ou=groups,dc=example,dc=org" memberUid | grep -c '^memberUid:' || true)"
echo "== benchlab-r1 holds $members memberUid values; asking about $username"

out="$(wrk -t2 -c16 -d"${wrk_seconds}s" --latency --timeout 5s \
    -H "Authorization: Bearer $token" "$url")" || fail "wrk failed: $out"
check "after the run"
awk '/Latency|Req\/Sec|^ +(50|75|90|99)%|requests in|Non-2xx|Socket errors|Requests\/sec/' <<<"$out"
rps="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")"
p99="$(awk '$1 == "99%" { print $2 }' <<<"$out" | wrk_to_ms)"
bad="$(awk '/Non-2xx or 3xx responses:/ { n += $NF }
    /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")"
status=0
if awk -v r="$rps" -v p="$p99" -v b="$bad" -v tr="$target_rps" -v tp="$target_p99_ms" \
    'BEGIN { exit !(r >= tr && p < tp && b == 0) }'; then verdict=met; else verdict=MISSED; status=1; fi
echo "== access check: $rps req/s, p99 $p99 ms, $bad failed (targets >= $target_rps req/s," \
    "p99 < $target_p99_ms ms): $verdict"
exit "$status"
