#!/usr/bin/env bash
# Adopting an existing directory at scale (issue 18): `roster adopt plan` and
# `roster adopt apply` on BENCH_PEOPLE (100,000) people and BENCH_GROUPS (2,000) groups in
# the private slapd, on SQLite, each under /usr/bin/time -v (wall time and peak RSS).
#
# - The directory: people adopt000000… with uidNumber 300000+, mail, an SSH key on every
#   tenth; groups grp0000… with gidNumber 400000+, an owner (by DN) and the people whose
#   number is congruent to the group's as members (about 50 each); the last 1% of the
#   people in no group (personal organisations). A few conflicts: duplicate uidNumbers and
#   people without mail.
# - Measured: the plan (with --personal-groups), the apply, and a second apply (which
#   must find nothing to do).
# - Targets: the plan under 60 s and 256 MB peak. Exit status 1 when one is missed.
#
# Needs the release build, slapd, ldap-utils, python3 and /usr/bin/time.
# Usage: bench/adopt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need slapd slapadd python3
[[ -x /usr/bin/time ]] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

people="${BENCH_PEOPLE:-100000}"
groups="${BENCH_GROUPS:-2000}"
target_seconds=60
target_mb=256

ensure_roster_bin
"$roster_bin" adopt plan --help >/dev/null 2>&1 \
    || { echo "bench: $roster_bin has no 'adopt plan': rebuild it (cargo build --release --bin roster)" >&2; exit 1; }
echo "== machine: $(machine_facts)"

python3 - "$people" "$groups" >"$work/existing.ldif" <<'PY'
import sys
people, groups = int(sys.argv[1]), int(sys.argv[2])
grouped = people - people // 100
out = sys.stdout
for i in range(people):
    uid = f"adopt{i:06d}"
    number = 300000 + (i - 1 if i % 10000 == 1 else i)  # a few duplicate uidNumbers
    gid = 400000 + i % groups if i < grouped else 100
    out.write(f"dn: uid={uid},ou=people,dc=example,dc=org\nobjectClass: top\n"
              "objectClass: inetOrgPerson\nobjectClass: posixAccount\nobjectClass: ldapPublicKey\n"
              f"uid: {uid}\ncn: Person {i}\nsn: Person{i % 997}\ngivenName: Given{i}\n"
              f"uidNumber: {number}\ngidNumber: {gid}\nhomeDirectory: /home/{uid}\n"
              "loginShell: /bin/bash\n")
    if i % 5000 != 7:  # a few without mail
        out.write(f"mail: {uid}@example.org\n")
    if i % 10 == 0:
        out.write("sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbJ0aSBhKA7g+2dJ0b5C5d6mTSt6S9ObOBiyMEj0Uqp legacy\n")
    out.write("\n")
for g in range(groups):
    owner = g + groups * 3  # a member of the group, never a conflict above
    out.write(f"dn: cn=grp{g:04d},ou=groups,dc=example,dc=org\nobjectClass: top\n"
              "objectClass: posixGroup\nobjectClass: extensibleObject\n"
              f"cn: grp{g:04d}\ngidNumber: {400000 + g}\n"
              f"owner: uid=adopt{owner:06d},ou=people,dc=example,dc=org\n")
    for i in range(g, grouped, groups):
        out.write(f"memberUid: adopt{i:06d}\n")
    out.write("\n")
PY
echo "== generated $people people and $groups groups ($(du -m "$work/existing.ldif" | cut -f1) MB of LDIF)"
write_config "" "$work/existing.ldif"
roster_cli migrate >/dev/null

measure() { # label, then the roster arguments; prints wall seconds and peak MB
    local label="$1"
    shift
    ROSTER_LOG=warn /usr/bin/time -v "$roster_bin" --config "$work/roster.toml" "$@" \
        >"$work/$label.out" 2>"$work/$label.err" || { cat "$work/$label.err" >&2; exit 1; }
    local wall rss
    wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/$label.err" \
        | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.1f", s }')"
    rss="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/$label.err" | awk '{ printf "%.0f", $1 / 1024 }')"
    grep -v -e '^\s' -e 'Command being timed' "$work/$label.err" | sed 's/^/   /' || true
    echo "== $label: ${wall} s, peak RSS ${rss} MB"
    eval "${label//-/_}_seconds=$wall; ${label//-/_}_mb=$rss"
}

measure plan adopt plan --out "$work/plan.toml" --personal-groups
echo "   plan: $(du -m "$work/plan.toml" | cut -f1) MB, $(wc -l <"$work/plan.toml") lines"
measure apply adopt apply "$work/plan.toml"
measure apply-again adopt apply "$work/plan.toml"
grep -q "nothing to do" "$work/apply-again.err" || { echo "bench: the second apply did something" >&2; exit 1; }

missed=0
awk -v s="$plan_seconds" -v t="$target_seconds" 'BEGIN { exit !(s < t) }' || missed=1
((plan_mb < target_mb)) || missed=1
echo "== summary: plan ${plan_seconds} s / ${plan_mb} MB (target < ${target_seconds} s, < ${target_mb} MB);" \
    "apply ${apply_seconds} s / ${apply_mb} MB; second apply ${apply_again_seconds} s / ${apply_again_mb} MB"
exit "$missed"
