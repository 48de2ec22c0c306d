#!/bin/sh
# Copyright 2026 The swift-vmm Authors.
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# Builds and runs one VirtioDevices libFuzzer target:
#   Packages/VirtioDevices/Fuzz/run.sh <block-request|vsock-packet|mmio-transport> [runs] [extra libFuzzer flags...]
#   Packages/VirtioDevices/Fuzz/run.sh --list      (the targets, one per line; `vmm-tools fuzz` uses it)
# VMMSysUtil (with its C shim), EventManager, VMDevice, VMMemory, VMMemoryLinux, VirtioQueue
# and VirtioDevices are compiled as modules with -sanitize=fuzzer,address (coverage +
# AddressSanitizer; VirtioDevices with -enable-testing, the parsers are internal),
# then linked with the target into Packages/VirtioDevices/.build/fuzz/<target>/fuzz.
# Crash inputs land in that folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
package=$(dirname "$here")
packages=$(dirname "$package")
target=${1:?usage: run.sh <block-request|vsock-packet|mmio-transport> [runs]}
if [ "$target" = --list ]; then
    printf '%s\n' block-request vsock-packet mmio-transport
    exit 0
fi
runs=${2:-1000000}
[ $# -ge 2 ] && shift 2 || shift $#
case $target in
block-request) source=BlockRequestFuzz.swift ;;
vsock-packet) source=VsockPacketFuzz.swift ;;
mmio-transport) source=MmioTransportFuzz.swift ;;
*) echo "unknown target $target (block-request, vsock-packet, mmio-transport)" >&2; exit 2 ;;
esac
out=$package/.build/fuzz
work=$out/$target
mkdir -p "$work/corpus"
# Seeds: valid inputs the fuzzer starts from (hex, spaces ignored); layouts in each target's source.
seed() {
    file=$work/corpus/$1
    shift
    hex=$(printf '%s' "$*" | tr -d ' ')
    : >"$file"
    while [ -n "$hex" ]; do
        byte=${hex%"${hex#??}"}
        hex=${hex#??}
        # shellcheck disable=SC2059 # the format is the octal escape of one byte
        printf "\\$(printf %03o "0x$byte")" >>"$file"
    done
}
if [ -z "$(ls -A "$work/corpus")" ]; then
    case $target in
    block-request)
        # Limits (discard and write-zeroes negotiated, 4096 sectors), descriptors: header at 0,
        # data at 0x1000 or in the high region, status at 0x3000; then the header and ranges.
        limits="06 80 08 10 10 0010"
        header="0000 1000 00"
        status="0003 0100 01"
        seed read "$limits 02 $header 0001 0004 01 $status 00000000 00000000 0100000000000000"
        seed write "$limits 02 $header 0000 0002 02 $status 01000000 00000000 0200000000000000"
        seed flush "$limits 01 $header $status 04000000 00000000 0000000000000000"
        seed get-id "$limits 02 $header 0001 1400 01 $status 08000000 00000000 0000000000000000"
        ranges="0800000000000000 08000000 00000000 2000000000000000 10000000 00000000"
        seed discard "$limits 02 $header 0100 2000 00 $status 0b000000 00000000 0000000000000000 $ranges"
        seed write-zeroes "$limits 02 $header 0100 2000 00 $status 0d000000 00000000 0000000000000000 $ranges"
        ;;
    vsock-packet)
        # Header at 0 (44 bytes), 16 payload bytes at 0x100, a 64-byte receive buffer at 0x1000.
        packet="0300000000000000 0200000000000000 00040000 34000000 10000000 0100 0500 00000000 00000400 00000000"
        seed rw "02 0000 1000 0000 2c00 00 1000 1000 00 0001 4000 01 $packet"
        seed request "00 0000 0000 0000 2c00 00 $(printf '%s' "$packet" | sed 's/0100 0500/0100 0100/')"
        seed connect "00 0000 0000 0000 0000 00 434f4e4e454354203532 0a"
        ;;
    mmio-transport)
        # A driver's probe: reset, ACKNOWLEDGE | DRIVER, VERSION_1 (plus RING_PACKED on the console)
        # and EVENT_IDX | INDIRECT_DESC, FEATURES_OK, queues at 0x1000.., DRIVER_OK, read back.
        start="82 7000 00000000 82 7000 01000000 82 7000 03000000 82 2400 01000000"
        features="82 2400 00000000 82 2000 00000030 82 7000 0b000000"
        queue0="82 3000 00000000 82 3800 10000000 82 8000 00100000 82 9000 00110000 82 a000 00120000 82 4400 01000000"
        queue1="82 3000 01000000 82 3800 10000000 82 8000 00200000 82 9000 00210000 82 a000 00220000 82 4400 01000000"
        finish="82 7000 0f000000 02 7000 00000000 02 6000 00000000"
        seed entropy "00 $start 82 2000 01000000 $features $queue0 $finish"
        seed console "01 $start 82 2000 05000000 $features $queue0 $queue1 $finish 00 0001 00000000 01 0201 00000000"
        ;;
    esac
fi
flags="-sanitize=fuzzer,address -parse-as-library -wmo -O -g"
sources="$package/Sources $packages/VMMSysUtil/Sources $packages/EventManager/Sources/EventManager
    $packages/VMDevice/Sources/VMDevice $packages/VMMemory/Sources/VMMemory $packages/VMMemory/Sources/VMMemoryLinux
    $packages/VirtioQueue/Sources/VirtioQueue"
# shellcheck disable=SC2086 # $sources is a list of folders
if [ ! -f "$out/VirtioDevices.o" ] || [ -n "$(find $sources -newer "$out/VirtioDevices.o" \( -name '*.swift' -o -name '*.[ch]' \))" ]; then
    # SwiftPM generates the C target's module map; here it names the umbrella header itself.
    mkdir -p "$out/CVMMSysUtil"
    printf 'module CVMMSysUtil {\n    umbrella header "%s"\n    export *\n}\n' \
        "$packages/VMMSysUtil/Sources/CVMMSysUtil/include/CVMMSysUtil.h" >"$out/CVMMSysUtil/module.modulemap"
    clang -fsanitize=fuzzer-no-link,address -O2 -g -I "$packages/VMMSysUtil/Sources/CVMMSysUtil/include" \
        -c "$packages/VMMSysUtil/Sources/CVMMSysUtil/shim.c" -o "$out/CVMMSysUtil.o"
    module() {
        name=$1
        shift
        swiftc $flags -module-name "$name" -I "$out" -I "$out/CVMMSysUtil" -emit-module \
            -emit-module-path "$out/$name.swiftmodule" -c "$@" -o "$out/$name.o"
    }
    module VMMSysUtil "$packages"/VMMSysUtil/Sources/VMMSysUtil/*.swift
    module EventManager "$packages"/EventManager/Sources/EventManager/*.swift
    module VMDevice "$packages"/VMDevice/Sources/VMDevice/*.swift
    module VMMemory "$packages"/VMMemory/Sources/VMMemory/*.swift
    module VMMemoryLinux "$packages"/VMMemory/Sources/VMMemoryLinux/*.swift
    module VirtioQueue "$packages"/VirtioQueue/Sources/VirtioQueue/*.swift
    module VirtioDevices -enable-testing "$package"/Sources/VirtioDevices/*/*.swift
fi
objects="$out/CVMMSysUtil.o $out/VMMSysUtil.o $out/EventManager.o $out/VMDevice.o $out/VMMemory.o
    $out/VMMemoryLinux.o $out/VirtioQueue.o $out/VirtioDevices.o"
# shellcheck disable=SC2086 # $objects is a list of files
swiftc $flags -module-name VirtioDevicesFuzz -I "$out" -I "$out/CVMMSysUtil" "$here/Support.swift" "$here/$source" \
    $objects -o "$work/fuzz"
cd "$work"
# Swift's backtracer reads other threads' stacks, which AddressSanitizer reports as a second,
# misleading error; libFuzzer prints the failing stack itself.
SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
export SWIFT_BACKTRACE
exec ./fuzz -runs="$runs" -max_len=4096 -artifact_prefix="$work/" -print_final_stats=1 "$@" corpus
