#!/usr/bin/env bash
# Bulk invitations: the preview and the confirmation of a 5,000-row spreadsheet, through
# the Invitations page as a browser sends them.
#
# - Setup (timed, not measured): bench/gen-people-ldif writes BENCH_PEOPLE people (10,000)
#   that slapd loads at start, so the preview's directory lookup searches a real-sized
#   directory; `roster org create` makes "Bench Lab"; an admin is activated through the
#   real invitation link and signs in.
# - Each run's file has 5,000 rows (BENCH_ROWS): 4,950 new people and 50 who are in the
#   directory (so the plan has both kinds), with names like Müller and O'Brien, a role and
#   an end date column. Every run uses new addresses, so each confirmation writes 4,950
#   invitations, 50 memberships, their mails and audit events.
# - Preview: POST /orgs/{org}/invitations/batch (multipart, the file), timed by curl; the
#   answer must be 200 with 5,000 preview rows. Confirm: POST …/batch/confirm with the batch
#   id, the file and every row ticked (as the preview's form sends them); it must answer 303
#   to the batch page, and the database must then hold the batch's 4,950 invitations.
# - BENCH_RUNS runs (3) of each; the figures are each run's time and the slowest.
# - Targets: preview < 2 s and confirmation < 3 s, the slowest run of each. The mails are
#   sent afterwards by the mail worker (file transport here), outside the timings. The exit
#   status is 1 when a target is missed.
#
# Needs the release build, slapd, ldap-utils, curl and python3. Usage: bench/invitations.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl slapd slapadd python3
export LDAPNOINIT=1

here="$root/bench"
people_count="${BENCH_PEOPLE:-10000}"
rows="${BENCH_ROWS:-5000}"
runs="${BENCH_RUNS:-3}"
in_directory=50
target_preview_s=2
target_confirm_s=3

fail() {
    echo "bench: $*" >&2
    [[ -s "$work/roster.log" ]] && tail -n 20 "$work/roster.log" >&2
    exit 1
}

ensure_roster_bin
echo "== machine: $(machine_facts)"
"$here/gen-people-ldif" --count "$people_count" --reserve "$root/scripts/ldap/sample-people.ldif" \
    --tsv "$work/people.tsv" >"$work/people.ldif"
write_config "" "$work/people.ldif"
roster_cli migrate >/dev/null
org_id="$(roster_cli org create --name "Bench Lab" --short-name benchlab 2>/dev/null \
    | tail -n 1 | tr -d '[:space:]')"
start_roster
create_admin
sign_in_as "$ADMIN_EMAIL" "$ADMIN_PASSWORD"
echo "== setup: $people_count people in LDAP, organisation $org_id, admin signed in"

# Writes run $1's CSV ($work/class-$1.csv) and its confirm body ($work/confirm-$1.body,
# multipart with boundary "bench-boundary"), using people.tsv for the directory rows.
write_run_files() {
    python3 - "$1" "$rows" "$in_directory" "$work/people.tsv" "$work" <<'PY'
import sys, uuid
run, rows, in_dir, tsv, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
directory = []
with open(tsv) as people:
    for line in people:
        fields = line.rstrip("\n").split("\t")
        mails = [f for f in fields if "@" in f]
        if mails:
            directory.append(mails[0])
        if len(directory) >= in_dir * (int(run) + 1):
            break
directory = directory[in_dir * int(run):]
names = ["Müller", "O'Brien", "Nuñez", "Smith", "Ng"]
lines = ["surname,given name,email,role,end date"]
for n in range(rows - len(directory)):
    lines.append(f"\"{names[n % len(names)]}\",Student {n},run{run}-s{n}@example.org,member,2099-06-30")
for mail in directory:
    lines.append(f"Directory,Person,{mail},member,")
csv = "\r\n".join(lines) + "\r\n"
open(f"{work}/class-{run}.csv", "w", encoding="utf-8").write(csv)
parts = [("batch_id", str(uuid.uuid4())), ("sheet", csv)]
parts += [("line", str(line)) for line in range(2, len(lines) + 1)]
body = "".join(
    f"--bench-boundary\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
    for name, value in parts
) + "--bench-boundary--\r\n"
open(f"{work}/confirm-{run}.body", "wb").write(body.encode("utf-8"))
PY
}

invitation_count() {
    python3 - "$work/roster.db" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=10)
print(db.execute("SELECT COUNT(*) FROM invitations WHERE email LIKE ?", (f"run{sys.argv[2]}-%",)).fetchone()[0])
PY
}

csrf="$(csrf_of "/orgs/$org_id/invitations")"
[[ -n "$csrf" ]] || fail "no CSRF token on the Invitations page"
preview_times=()
confirm_times=()
for run in $(seq 0 $((runs - 1))); do
    write_run_files "$run"
    read -r code seconds < <(curl -s -o "$work/preview-$run.html" -w '%{http_code} %{time_total}\n' \
        -b "$JAR" -c "$JAR" -F "file=@$work/class-$run.csv;type=text/csv" \
        "$BASE/orgs/$org_id/invitations/batch?csrf_token=$csrf")
    [[ "$code" == 200 ]] || fail "preview $run answered $code: $(head -c 300 "$work/preview-$run.html")"
    shown="$(grep -c '<tr id="line-' "$work/preview-$run.html" || true)"
    [[ "$shown" == "$rows" ]] || fail "preview $run shows $shown rows, not $rows"
    added="$(grep -c 'class="outcome-add"' "$work/preview-$run.html" || true)"
    preview_times+=("$seconds")
    read -r code seconds < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' \
        -b "$JAR" -c "$JAR" -H 'Content-Type: multipart/form-data; boundary=bench-boundary' \
        --data-binary "@$work/confirm-$run.body" \
        "$BASE/orgs/$org_id/invitations/batch/confirm?csrf_token=$csrf")
    [[ "$code" == 303 ]] || fail "confirm $run answered $code"
    made="$(invitation_count "$run")"
    [[ "$made" == "$((rows - in_directory))" ]] \
        || fail "confirm $run left $made invitations, not $((rows - in_directory))"
    confirm_times+=("$seconds")
    echo "== run $run: preview ${preview_times[-1]} s ($added to add from the directory)," \
        "confirm ${confirm_times[-1]} s ($made invitations)"
done

slowest() { printf '%s\n' "$@" | sort -g | tail -n 1; }
preview_max="$(slowest "${preview_times[@]}")"
confirm_max="$(slowest "${confirm_times[@]}")"
status=0
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
for figure in "preview:$preview_max:$target_preview_s" "confirmation:$confirm_max:$target_confirm_s"; do
    IFS=: read -r what took target <<<"$figure"
    if below "$took" "$target"; then verdict=met; else verdict=MISSED; status=1; fi
    echo "== $what of $rows rows: slowest $took s (target < $target s): $verdict"
done
exit "$status"
