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

# Every virtio device at work: block reads, writes, flush and discard, rng, console output,
# vsock both ways' setup, and a tap in a throwaway network namespace.
work=$(mktemp -d)
trap 'rm -rf "$work"; ip netns del "learn$$" 2>/dev/null || true' EXIT
truncate -s 64M "$work/disk.img"
ip netns add "learn$$" && ip netns exec "learn$$" ip tuntap add dev learn0 mode tap vnet_hdr &&
    ip netns exec "learn$$" ip addr add 172.31.0.1/24 dev learn0 && ip netns exec "learn$$" ip link set learn0 up
ip netns exec "learn$$" "$binary" "${learn[@]}" --block path="$work/disk.img" --rng --console output="$work/hvc0" \
    --vsock cid=3,uds="$work/v.sock" --net tap=learn0 --command \
    'dd if=/dev/hwrng of=/dev/vda bs=4096 count=16 oflag=direct; sync; blkdiscard /dev/vda 2>/dev/null; dd if=/dev/vda of=/dev/null bs=4096 count=16 iflag=direct; echo x > /dev/hvc0; ip addr add 172.31.0.2/24 dev eth0; ip link set eth0 up; ping -c 2 172.31.0.1' \
    >/dev/null || true

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
    category = "vcpu" if comm.startswith("vcpu") else "io" if comm == "virtio-io" else "vmm"
    seen.setdefault(category, set()).add(names.get(number, str(number)))
print("missing:")
for category in sorted(seen):
    print("  %s: %s" % (category, ", ".join(sorted(seen[category]))))
'
