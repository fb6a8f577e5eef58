#!/usr/bin/env bash
# Member list and directory search at scale: 10,000 members in one organisation (SQLite)
# and 100,000 people in the private slapd.
#
# - Setup: bench/gen-people-ldif writes 100,000 people (deterministic) that slapd loads with
#   slapadd at start; `roster org create` makes "Bench Lab"; bench/seed-members writes the
#   first 10,000 of those people into the database as its members. Timings are printed.
# - wrk (2 threads, 16 connections, 15 s, signed in as a site admin): the member list
#   (page 1), the member list searched for a common surname fragment, and the staff
#   account search (/admin/accounts) for that fragment and for status=active.
# - hyperfine: the directory search page, `curl GET /orgs/{id}/directory?q=Q`, against the
#   same search made by `ldapsearch` on the same slapd (the portal's filter, base, size limit
#   500 and attributes), for queries from 1 to 500+ hits. Each side is one process spawn
#   and one request. The floor of each tool (curl on /healthz; ldapsearch binding and
#   reading the root DSE) is measured too, to show what the portal itself adds.
# - A summary with the targets: member list >= 2,000 req/s with p99 < 20 ms; directory
#   search within 1.5x of ldapsearch. The exit status is 1 when a target is missed.
#
# Needs the release build with `roster org create` (built only when missing), slapd,
# ldap-utils, curl, wrk, hyperfine and python3. Usage: bench/members-and-search.sh
#
# Environment, for quicker or different runs:
#   BENCH_PEOPLE        people in LDAP (100000)
#   BENCH_MEMBERS       members of the organisation (10000)
#   BENCH_WRK_SECONDS   length of each wrk run (15)
#   BENCH_RUNS          hyperfine runs per command (40)
#   BENCH_MEMBER_QUERY  the member-list search (son)
#   BENCH_QUERIES       directory searches, "label:q;label:q;..." (see default_queries)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl hyperfine wrk slapd slapadd ldapsearch python3
export LDAPNOINIT=1 # keep ~/.ldaprc and /etc/ldap/ldap.conf out of ldapsearch

here="$root/bench"
people_count="${BENCH_PEOPLE:-100000}"
member_count="${BENCH_MEMBERS:-10000}"
wrk_seconds="${BENCH_WRK_SECONDS:-15}"
runs="${BENCH_RUNS:-40}"
member_query="${BENCH_MEMBER_QUERY:-son}"
# With the default seed of gen-people-ldif, on 100,000 people (+ the 50 sample people):
# "son" matches 5,373 (the portal shows the first 500 and asks to narrow the search),
# "Featherstonehaugh" 2, "astro.example" 331, "jkaminsk2" 1.
default_queries="common surname fragment:son;rare full surname:Featherstonehaugh"
default_queries+=";email domain fragment:astro.example;uid:jkaminsk2"
queries="${BENCH_QUERIES:-$default_queries}"
target_rps=2000
target_p99_ms=20
target_ratio=1.5

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

# ---------------------------------------------------------------------------- binary
ensure_roster_bin
if ! "$roster_bin" org create --help >/dev/null 2>&1; then
    fail "$roster_bin has no 'org create' command: it was built before organisations" \
        "existed. Rebuild it (cargo build --release --locked --bin roster) and run this again."
fi

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$(slapd -VV 2>&1 | sed -n 's/.*\(slapd [0-9.]*\).*/\1/p' | head -n 1)," \
    "roster binary of $(date -r "$roster_bin" '+%Y-%m-%d %H:%M')"
if awk '{ exit !($1 > 0.5) }' /proc/loadavg; then
    echo "   (the machine is busy: figures will be lower than on an idle one)"
fi

# ---------------------------------------------------------------------------- LDAP
t0="$(now_ns)"
"$here/gen-people-ldif" --count "$people_count" --reserve "$root/scripts/ldap/sample-people.ldif" \
    --tsv "$work/people.tsv" >"$work/people.ldif"
gen_s="$(seconds_since "$t0")"
echo "== generated $people_count people: ${gen_s} s ($(du -m "$work/people.ldif" | cut -f1) MB of LDIF)"

t0="$(now_ns)"
write_config "" "$work/people.ldif"
slapadd_s="$(seconds_since "$t0")"
echo "== slapadd of $people_count people + slapd start: ${slapadd_s} s" \
    "($(du -sm "$work/ldap/data" | cut -f1) MB database)"

last_uid_number=$((200000 + people_count - 1))
[[ "$(ldapsearch -x -LLL -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PASSWORD" \
    -b "$LDAP_PEOPLE_DN" "(uidNumber=$last_uid_number)" dn | grep -c '^dn:' || true)" == 1 ]] \
    || fail "slapd does not hold the generated people (no uidNumber $last_uid_number)"

# ---------------------------------------------------------------------------- database
roster_cli migrate >/dev/null || fail "roster migrate failed"
org_out="$(roster_cli org create --name "Bench Lab" --short-name benchlab)" \
    || fail "roster org create failed"
org_id="$(printf '%s\n' "$org_out" | tail -n 1 | tr -d '[:space:]')"
[[ "$org_id" =~ ^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$ ]] \
    || fail "roster org create did not end with an organisation id; it printed: $org_out"
"$here/seed-members" "$work/roster.db" "$org_id" "$work/people.tsv" --count "$member_count" \
    | sed 's/^/== /'

# ---------------------------------------------------------------------------- portal
start_roster
create_admin
members_url="$BASE/orgs/$org_id/members"
code="$(curl -s -o "$work/members.html" -w '%{http_code}' -b "$JAR" "$members_url?page=1")"
[[ "$code" == 200 ]] || fail "GET /orgs/$org_id/members answered $code, not 200:" \
    "the admin is not signed in, or the page is missing from this binary"
cookie="$(cookie_header)"
[[ -n "$cookie" ]] || fail "no session cookie in $JAR"

# The page sorts by surname, given name, id: its first member must be on page 1.
first_email="$(python3 - "$work/roster.db" "$org_id" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
row = db.execute("SELECT p.email FROM memberships m JOIN people p ON p.id = m.person_id "
                 "WHERE m.organisation_id = ? ORDER BY p.surname, p.given_name, p.id LIMIT 1",
                 (sys.argv[2],)).fetchone()
print(row[0] if row else "")
PY
)"
grep -qF "$first_email" "$work/members.html" \
    || echo "   warning: page 1 of the member list does not show $first_email (check the seeding)"

# Group syncs left over from `org create` would run beside the measurements: wait for them.
pending_jobs() {
    python3 - "$work/roster.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=5)
try:
    print(db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'pending'").fetchone()[0])
except sqlite3.OperationalError:
    print(0)
PY
}
for _ in $(seq 1 60); do
    [[ "$(pending_jobs)" == 0 ]] && break
    sleep 0.5
done
[[ "$(pending_jobs)" == 0 ]] || echo "   warning: directory jobs still pending; they may disturb the figures"

# ---------------------------------------------------------------------------- wrk
to_ms() { # wrk durations: 850.00us, 12.34ms, 1.02s, 1.50m
    awk '{
        v = $1; unit = v; sub(/^[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
        f = (unit == "us") ? 0.001 : (unit == "ms") ? 1 : (unit == "s") ? 1000 : (unit == "m") ? 60000 : -1
        if (f < 0) { print "nan" } else { printf "%.2f\n", v * f }
    }'
}
run_wrk() { # label url -> WRK_RPS, WRK_P99_MS, WRK_BAD (non-2xx/3xx responses + socket errors)
    local label="$1" url="$2" out code
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$url")"
    [[ "$code" == 200 ]] || fail "$label: GET $url with the session cookie answered $code, not 200"
    echo
    echo "== wrk -t2 -c16 -d${wrk_seconds}s: $label"
    out="$(wrk -t2 -c16 -d"${wrk_seconds}s" --latency --timeout 5s -H "Cookie: $cookie" "$url")"
    awk '/Latency|Req\/Sec|^ +(50|75|90|99)%|requests in|Non-2xx|Socket errors|Requests\/sec/' <<<"$out"
    WRK_RPS="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")"
    WRK_P99_MS="$(awk '$1 == "99%" { print $2 }' <<<"$out" | to_ms)"
    WRK_BAD="$(awk '/Non-2xx or 3xx responses:/ { n += $NF }
        /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")"
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$url")"
    [[ "$code" == 200 ]] || fail "$label: after the wrk run, GET $url answered $code, not 200"
}

run_wrk "member list, page 1 of $member_count" "$members_url?page=1"
list_rps="$WRK_RPS" list_p99="$WRK_P99_MS" list_bad="$WRK_BAD"
member_query_url="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' \
    "$member_query")"
run_wrk "member list searched for q=$member_query" "$members_url?q=$member_query_url"
search_rps="$WRK_RPS" search_p99="$WRK_P99_MS" search_bad="$WRK_BAD"
# The helpdesk's account search across everyone in the portal (no target: reported).
run_wrk "account search q=$member_query" "$BASE/admin/accounts?q=$member_query_url"
accounts_q_rps="$WRK_RPS" accounts_q_p99="$WRK_P99_MS" accounts_q_bad="$WRK_BAD"
run_wrk "account search status=active, page 1" "$BASE/admin/accounts?status=active"
accounts_active_rps="$WRK_RPS" accounts_active_p99="$WRK_P99_MS" accounts_active_bad="$WRK_BAD"

# ---------------------------------------------------------------------------- directory
# q -> "url-encoded q<TAB>LDAP filter", the filter as the portal builds it. Every byte of
# the value other than [A-Za-z0-9.@_-] is written as \hh (RFC 4515), which slapd reads as
# the same value; so the filter holds no quote or space and can go on a command line.
query_parts() {
    python3 - "$1" <<'PY'
import sys, urllib.parse
q = sys.argv[1].strip()
v = "".join(c if c.isascii() and (c.isalnum() or c in ".@_-")
            else "".join(f"\\{b:02x}" for b in c.encode()) for c in q)
print(urllib.parse.quote(q, safe=""),
      f"(&(objectClass=inetOrgPerson)(|(sn=*{v}*)(givenName=*{v}*)(mail=*{v}*)(uid=*{v}*)))",
      sep="\t")
PY
}
mean_ms() { # hyperfine JSON -> mean of its first result, in ms
    python3 -c 'import json, sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["mean"] * 1000))' "$1"
}
ldap_cmd_prefix="ldapsearch -x -LLL -H '$LDAP_URL' -D '$LDAP_BIND_DN' -w '$LDAP_BIND_PASSWORD'"
# hyperfine -N runs the command without a shell, so both sides cost one process spawn.
hf() { # name json command [hyperfine options...]
    local name="$1" json="$2" command="$3"
    shift 3
    hyperfine -N --warmup 5 --runs "$runs" --style basic --export-json "$json" "$@" \
        -n "$name" "$command" | awk '/Time|Range/'
}

echo
echo "== tool floors (one process, one request, no real work)"
echo "-- curl GET /healthz"
hf "curl /healthz" "$work/floor-curl.json" "curl -sf -o /dev/null '$BASE/healthz'"
echo "-- ldapsearch: bind, read the root DSE"
hf "ldapsearch root DSE" "$work/floor-ldap.json" "$ldap_cmd_prefix -s base -b '' namingContexts"
curl_floor="$(mean_ms "$work/floor-curl.json")"
ldap_floor="$(mean_ms "$work/floor-ldap.json")"

dir_rows=()
IFS=';' read -r -a query_list <<<"$queries"
for entry in "${query_list[@]}"; do
    label="${entry%%:*}"
    q="${entry#*:}"
    IFS=$'\t' read -r q_url filter < <(query_parts "$q")
    [[ -n "$q_url" && -n "$filter" ]] || fail "cannot make a search of '$entry' (BENCH_QUERIES)"
    url="$BASE/orgs/$org_id/directory?q=$q_url"
    ldap_cmd="$ldap_cmd_prefix -b '$LDAP_PEOPLE_DN' -z 500 '$filter' uid cn sn givenName mail"

    code="$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" "$url")"
    [[ "$code" == 200 ]] || fail "GET /orgs/$org_id/directory?q=$q_url answered $code, not 200"
    # Exit status 4: the size limit (500) was reached, as the portal also sees it.
    rc=0
    ldapsearch -x -LLL -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PASSWORD" \
        -b "$LDAP_PEOPLE_DN" -z 500 "$filter" uid cn sn givenName mail \
        >"$work/ldap.out" 2>"$work/ldap.err" || rc=$?
    [[ $rc == 0 || $rc == 4 ]] || fail "ldapsearch for q=$q failed ($rc): $(cat "$work/ldap.err")"
    hits="$(grep -c '^dn:' "$work/ldap.out" || true)"
    if [[ $rc == 4 ]]; then # how many match in all (the rootdn has no server size limit)
        hits="$(ldapsearch -x -LLL -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PASSWORD" \
            -b "$LDAP_PEOPLE_DN" "$filter" 1.1 | grep -c '^dn:' || true) ($hits fetched)"
    fi

    echo
    echo "== directory search, $label: q=$q (LDAP hits: $hits)"
    echo "-- portal: curl GET /orgs/{id}/directory?q=$q"
    hf "portal q=$q" "$work/portal.json" "curl -sf -o /dev/null -b '$JAR' '$url'"
    echo "-- ldapsearch, same filter, base, size limit and attributes"
    # -i: ldapsearch exits with 4 when the size limit is reached (checked above).
    hf "ldapsearch q=$q" "$work/ldap.json" "$ldap_cmd" -i
    portal_ms="$(mean_ms "$work/portal.json")"
    ldap_ms="$(mean_ms "$work/ldap.json")"
    ratio="$(awk -v p="$portal_ms" -v l="$ldap_ms" 'BEGIN { printf "%.2f", p / l }')"
    echo "   mean: portal $portal_ms ms, ldapsearch $ldap_ms ms, ratio ${ratio}x;" \
        "above each tool's floor: portal $(awk -v a="$portal_ms" -v b="$curl_floor" \
        'BEGIN { printf "%.2f", a - b }') ms, ldapsearch $(awk -v a="$ldap_ms" -v b="$ldap_floor" \
        'BEGIN { printf "%.2f", a - b }') ms"
    dir_rows+=("$label|$q|$hits|$portal_ms|$ldap_ms|$ratio")
done

# ---------------------------------------------------------------------------- lifecycle
# The seeded end dates are spread from 2024 to 2027, so most are past: the first lifecycle
# run ends them all (memberUid removed from the 10,000-member group, mails to the member and
# the owners). Timed with /usr/bin/time as one `roster lifecycle run`.
echo
echo "== lifecycle: one 'roster lifecycle run' over $member_count memberships"
due_endings="$(python3 - "$work/roster.db" <<'PY'
import datetime, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
today = datetime.date.today().isoformat()
print(db.execute("SELECT COUNT(*) FROM memberships WHERE ends_on < ?", (today,)).fetchone()[0])
PY
)"
lifecycle_out="$( { ROSTER_LOG=warn /usr/bin/time -f 'TIME %e s, max RSS %M kB' \
    "$roster_bin" --config "$work/roster.toml" lifecycle run; } 2>&1 )"
printf '%s\n' "$lifecycle_out" | sed 's/^/   /'
lifecycle_time="$(awk '/^TIME/ { sub(/^TIME /, ""); print }' <<<"$lifecycle_out")"
lifecycle_ended="$(awk -F': ' '/^memberships ended/ { print $2 }' <<<"$lifecycle_out")"
lifecycle_uids="$(ldapsearch -x -LLL -H "$LDAP_URL" -D "$LDAP_BIND_DN" -w "$LDAP_BIND_PASSWORD" \
    -b "ou=groups,dc=example,dc=org" "(cn=benchlab)" memberUid | grep -c '^memberUid:' || true)"
echo "   past end dates: $due_endings; memberUid left in cn=benchlab: $lifecycle_uids"

# ---------------------------------------------------------------------------- summary
verdict() { # value, awk condition on x -> PASS or FAIL
    if awk -v x="$1" "BEGIN { exit !($2) }"; then echo PASS; else echo FAIL; fi
}
bad_note() { [[ "$1" == 0 ]] || echo " ($1 failed)"; }
status=0
list_rps_ok="$(verdict "$list_rps" "x >= $target_rps && $list_bad == 0")"
list_p99_ok="$(verdict "$list_p99" "x < $target_p99_ms && $list_bad == 0")"
[[ "$list_rps_ok" == PASS && "$list_p99_ok" == PASS ]] || status=1

echo
echo "== Summary: SQLite, $member_count members in one organisation, $people_count people in LDAP," \
    "$(nproc) cores"
echo "   setup: LDIF generated in $gen_s s; slapadd + slapd start $slapadd_s s"
echo
row() { printf '   %-34s %-22s %-16s %s\n' "$@"; }
row "member list (wrk -t2 -c16)" "measured" "target" "result"
row "page 1: throughput" "$list_rps req/s$(bad_note "$list_bad")" ">= $target_rps req/s" "$list_rps_ok"
row "page 1: p99 latency" "$list_p99 ms" "< $target_p99_ms ms" "$list_p99_ok"
row "q=$member_query: throughput" "$search_rps req/s$(bad_note "$search_bad")" "(none)" "-"
row "q=$member_query: p99 latency" "$search_p99 ms" "(none)" "-"
row "account search q=$member_query" "$accounts_q_rps req/s$(bad_note "$accounts_q_bad")" "(none)" "-"
row "  p99 latency" "$accounts_q_p99 ms" "(none)" "-"
row "account search status=active" "$accounts_active_rps req/s$(bad_note "$accounts_active_bad")" "(none)" "-"
row "  p99 latency" "$accounts_active_p99 ms" "(none)" "-"
echo
drow() { printf '   %-25s %-18s %-22s %-10s %-10s %-6s %s\n' "$@"; }
echo "   lifecycle run: $lifecycle_ended of $due_endings past end dates ended in $lifecycle_time;" \
    "$lifecycle_uids memberUid left in the group"
echo
drow "directory search" "q" "LDAP hits" "portal" "ldapsearch" "ratio" "target <= ${target_ratio}x"
for entry in "${dir_rows[@]}"; do
    IFS='|' read -r label q hits portal_ms ldap_ms ratio <<<"$entry"
    ok="$(verdict "$ratio" "x <= $target_ratio")"
    [[ "$ok" == PASS ]] || status=1
    drow "$label" "$q" "$hits" "$portal_ms ms" "$ldap_ms ms" "${ratio}x" "$ok"
done
echo "   Means of $runs runs. portal: curl GET /orgs/{id}/directory?q=...; ldapsearch: the same"
echo "   search on the same slapd; one process and one request each. Tool floors: curl /healthz"
echo "   $curl_floor ms, ldapsearch bind + root DSE $ldap_floor ms."
echo
if [[ $status == 0 ]]; then
    echo "   all targets met"
else
    echo "   TARGETS MISSED"
fi
exit $status
