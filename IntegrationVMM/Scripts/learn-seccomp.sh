#!/bin/bash
# Copyright 2026 The swift-vmm Authors.
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# Learns what integration-vmm's seccomp policy (Sources/IntegrationVMMCore/Seccomp/x86_64.json)
# is missing: boots guests with --seccomp-learn, where each filter's default action is `log`
# (SCMP_ACT_LOG), and lists, per thread, every system call the kernel audited (dmesg,
# type=1326). Nothing printed after "missing:" means the policy covers these runs. The kernel
# rate-limits audit lines, so run it again after adding calls until the list stays empty.
#
#   IntegrationVMM/Scripts/learn-seccomp.sh [path/to/integration-vmm [policy.json]]
#
# With a policy file, that policy is learned instead of the built-in one.
set -euo pipefail
binary=${1:-.build/debug/integration-vmm}
[ -x "$binary" ] || { echo "learn-seccomp: $binary is not built (swift build --product integration-vmm)" >&2; exit 1; }
exe=$(readlink -f "$binary")
learn=(--seccomp-learn)
[ $# -ge 2 ] && learn+=(--seccomp-filter "$2")
before=$(dmesg | wc -l)

# The paths a guest run takes: a command on 2 vCPUs, power-off, SIGTERM, and an interactive
# console on a pseudo-terminal (raw mode, keyboard input, Ctrl-A X, terminal restored).
"$binary" "${learn[@]}" --vcpus 2 --command 'seq 1 200 | sort | md5sum' >/dev/null || true
"$binary" "${learn[@]}" --command 'poweroff -f' >/dev/null || true
"$binary" "${learn[@]}" --vcpus 2 --command 'sleep 30' >/dev/null 2>&1 &
sleep 5
kill -TERM $! && wait $! || true
(sleep 5; printf '\001x') | script -qfec "$binary ${learn[*]}" /dev/null >/dev/null || true

dmesg | tail -n +"$((before + 1))" | { grep 'type=1326' || true; } | { grep -F "exe=\"$exe\"" || true; } | python3 -c '
import re, sys
names = {}
for line in open("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"):
    match = re.match(r"#define __NR_(\w+) (\d+)", line)
    if match:
        names[int(match.group(2))] = match.group(1)
seen = {}
for line in sys.stdin:
    comm = re.search(r"comm=\"([^\"]*)\"", line).group(1)
    number = int(re.search(r" syscall=(\d+)", line).group(1))
    category = "vcpu" if comm.startswith("vcpu") else "vmm"
    seen.setdefault(category, set()).add(names.get(number, str(number)))
print("missing:")
for category in sorted(seen):
    print("  %s: %s" % (category, ", ".join(sorted(seen[category]))))
'
