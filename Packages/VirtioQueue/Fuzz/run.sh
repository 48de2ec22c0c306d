#!/bin/sh
# Copyright 2026 The swift-vmm Authors.
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# Builds and runs the VirtioQueue libFuzzer target:
#   Packages/VirtioQueue/Fuzz/run.sh virtqueue [runs] [extra libFuzzer flags...]
#   Packages/VirtioQueue/Fuzz/run.sh --list      (the targets, one per line; `vmm-tools fuzz` uses it)
# VMMemory and VirtioQueue are compiled as modules with -sanitize=fuzzer,address
# (coverage + AddressSanitizer), then linked with the target into
# Packages/VirtioQueue/.build/fuzz/virtqueue/fuzz. Crash inputs land in that folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
package=$(dirname "$here")
target=${1:?usage: run.sh virtqueue [runs]}
case $target in
--list) echo virtqueue; exit 0 ;;
virtqueue) ;;
*) echo "unknown target $target (virtqueue)" >&2; exit 2 ;;
esac
runs=${2:-1000000}
[ $# -ge 2 ] && shift 2 || shift $#
out=$package/.build/fuzz
work=$out/virtqueue
mkdir -p "$work/corpus"
# Seeds: the valid split and packed templates with each mode combination that matters
# (header only: 13 bytes, the first one the mode, no patches).
if [ -z "$(ls -A "$work/corpus")" ]; then
    for mode in 001 003 005 007 041 043 045 047 141 143 145 147 201 203 205 207 301 303 305 307; do
        printf "\\$mode\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0" >"$work/corpus/seed-$mode"
    done
fi
flags="-sanitize=fuzzer,address -parse-as-library -wmo -O -g"
if [ ! -f "$out/VirtioQueue.o" ] || [ -n "$(find "$package/Sources" "$package/../VMMemory/Sources/VMMemory" -newer "$out/VirtioQueue.o" -name '*.swift')" ]; then
    swiftc $flags -module-name VMMemory -emit-module -emit-module-path "$out/VMMemory.swiftmodule" \
        -c "$package"/../VMMemory/Sources/VMMemory/*.swift -o "$out/VMMemory.o"
    swiftc $flags -module-name VirtioQueue -I "$out" -emit-module -emit-module-path "$out/VirtioQueue.swiftmodule" \
        -c "$package"/Sources/VirtioQueue/*.swift -o "$out/VirtioQueue.o"
fi
swiftc $flags -module-name VirtioQueueFuzz -I "$out" "$here/Support.swift" "$here/VirtqueueFuzz.swift" \
    "$out/VMMemory.o" "$out/VirtioQueue.o" -o "$work/fuzz"
cd "$work"
exec ./fuzz -runs="$runs" -max_len=20000 -artifact_prefix="$work/" -print_final_stats=1 "$@" corpus
