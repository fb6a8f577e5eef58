#!/usr/bin/env bash
# The PI's directory search reading the local people index (issue 16), on 10,000 and on
# 100,000 people in the private slapd (BENCH_SIZES, "10000 100000").
#
# For each size:
# - bench/gen-people-ldif writes the people, which slapd loads at start; `roster serve`
#   (release build) starts with ldap.index_refresh_seconds = 60, so its first refresh is
#   the full paged load. Measured: seconds from start until /readyz says the index is
#   loaded, and the portal's peak RSS (VmHWM) after the load.
# - wrk -t2 -c16 --latency for BENCH_WRK_SECONDS (10), signed in as a site admin, on
#   /orgs/{id}/directory?q=smi and ?q=<one uid>; slapd's CPU over each run is read from
#   /proc (utime + stime).
# - The same people are also made members (accounts) with bench/seed-members, and wrk
#   measures the staff account search /admin/accounts?q=son on them.
# - Targets: >= 2,000 req/s with p99 < 20 ms on 100,000 people, slapd CPU under 5%;
#   the first load of 100,000 under 30 s and 128 MB; the staff search >= 1,000 req/s with
#   p99 < 20 ms on 100,000 accounts. Exit status 1 when one is missed.
#
# Needs the release build, slapd, ldap-utils, curl, wrk and python3.
# Usage: bench/people-index.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl wrk slapd slapadd python3
export LDAPNOINIT=1

here="$root/bench"
sizes="${BENCH_SIZES:-10000 100000}"
wrk_seconds="${BENCH_WRK_SECONDS:-10}"
# The staff searches; the target is judged on the last one measured ("son": 5,373
# accounts on 100,000, a common fragment).
staff_queries="${BENCH_STAFF_QUERIES:-Featherstonehaugh son}"
missed=0
now_ns() { date +%s%N; }
seconds_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
clk_tck="$(getconf CLK_TCK)"

ensure_roster_bin
echo "== machine: $(machine_facts)"
for size in $sizes; do
    rm -rf "$work/ldap" "$work/roster.db"* "$work/admin.jar"
    "$here/gen-people-ldif" --count "$size" --reserve "$root/scripts/ldap/sample-people.ldif" \
        --tsv "$work/people.tsv" >"$work/people.ldif"
    write_config "" "$work/people.ldif"
    slapd_pid="$(cat "$work/ldap/slapd.pid")"
    roster_cli migrate >/dev/null
    org_id="$(roster_cli org create --name "Bench Lab" --short-name benchlab 2>/dev/null \
        | tail -n 1 | tr -d '[:space:]')"
    "$here/seed-members" "$work/roster.db" "$org_id" "$work/people.tsv" --count "$size" >/dev/null
    t0="$(now_ns)"
    start_roster
    for _ in $(seq 1 1200); do
        curl -fs "$BASE/readyz" | grep -q '"loaded":true' && break
        sleep 0.05
    done
    curl -fs "$BASE/readyz" | grep -q '"loaded":true' || { echo "bench: the index did not load" >&2; exit 1; }
    load_s="$(seconds_since "$t0")"
    peak_mb="$(awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$roster_pid/status")"
    echo "== $size people: index loaded in ${load_s} s (from start); roster peak RSS ${peak_mb} MB"
    create_admin
    uid="$(sed -n '2p' "$work/people.tsv" | cut -f1)"
    for q in smi "$uid"; do
        url="$BASE/orgs/$org_id/directory?q=$q"
        code="$(curl -s -o "$work/page.html" -w '%{http_code}' -b "$JAR" "$url")"
        [[ "$code" == 200 ]] || { echo "bench: $url answered $code" >&2; exit 1; }
        grep -q 'index-not-loaded' "$work/page.html" && { echo "bench: searched LDAP, not the index" >&2; exit 1; }
        matches="$(grep -o '[0-9,]* \(people match\|person matches\)' "$work/page.html" | head -1)"
        before="$(cpu_ticks "$slapd_pid")"
        out="$(wrk -t2 -c16 -d"${wrk_seconds}s" --latency -H "Cookie: $(cookie_header)" "$url")"
        after="$(cpu_ticks "$slapd_pid")"
        rps="$(awk '/Requests\/sec/ { print $2 }' <<<"$out")"
        p50="$(awk '$1 == "50%" { print $2 }' <<<"$out" | wrk_to_ms)"
        p99="$(awk '$1 == "99%" { print $2 }' <<<"$out" | wrk_to_ms)"
        errors="$(grep -c 'Non-2xx\|Socket errors' <<<"$out" || true)"
        slapd_cpu="$(awk -v t="$((after - before))" -v hz="$clk_tck" -v s="$wrk_seconds" \
            'BEGIN { printf "%.1f", 100 * t / hz / s }')"
        echo "   q=$q ($matches): $rps req/s, p50 $p50 ms, p99 $p99 ms, slapd CPU ${slapd_cpu}%, error lines $errors"
        if [[ "$size" -ge 100000 ]]; then
            awk -v r="$rps" -v p="$p99" -v c="$slapd_cpu" 'BEGIN { exit !(r >= 2000 && p < 20 && c < 5) }' \
                || { echo "   target missed (>= 2,000 req/s, p99 < 20 ms, slapd < 5%)"; missed=1; }
        fi
    done
    for q in $staff_queries; do
        url="$BASE/admin/accounts?q=$q"
        code="$(curl -s -o "$work/page.html" -w '%{http_code}' -b "$JAR" "$url")"
        [[ "$code" == 200 ]] || { echo "bench: $url answered $code" >&2; exit 1; }
        out="$(wrk -t2 -c16 -d"${wrk_seconds}s" --latency -H "Cookie: $(cookie_header)" "$url")"
        rps="$(awk '/Requests\/sec/ { print $2 }' <<<"$out")"
        p99="$(awk '$1 == "99%" { print $2 }' <<<"$out" | wrk_to_ms)"
        echo "   staff search q=$q on $size accounts: $rps req/s, p99 $p99 ms"
    done
    if [[ "$size" -ge 100000 ]]; then
        awk -v r="$rps" -v p="$p99" 'BEGIN { exit !(r >= 1000 && p < 20) }' \
            || { echo "   target missed (>= 1,000 req/s, p99 < 20 ms)"; missed=1; }
        awk -v s="$load_s" -v m="$peak_mb" 'BEGIN { exit !(s < 30 && m < 128) }' \
            || { echo "   target missed (load < 30 s and < 128 MB)"; missed=1; }
    fi
    stop_roster
    "$root/scripts/ldap/stop-slapd" "$work/ldap" >/dev/null 2>&1 || true
done
exit "$missed"
