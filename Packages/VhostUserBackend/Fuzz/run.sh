#!/bin/sh
# Copyright 2026 The swift-vmm Authors.
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# Builds and runs the VhostUserBackend libFuzzer target:
#   Packages/VhostUserBackend/Fuzz/run.sh session [runs] [extra libFuzzer flags...]
#   Packages/VhostUserBackend/Fuzz/run.sh --list      (the targets, one per line; `vmm-tools fuzz` uses it)
# session: a hostile front-end's message stream, with descriptors and the shared memory's
# contents, against a daemon's session serving virtio-rng or virtio-blk (layout in SessionFuzz.swift).
# VhostUserBackend and what it builds on (VMMSysUtil and Seccompiler with their C shims,
# EventManager, VMDevice, VMMemory, VMMemoryLinux, VirtioQueue, VirtioDevices, Vhost) are compiled as modules with
# -sanitize=fuzzer,address, VhostUserBackend with -enable-testing (the fuzzer kicks rings as the
# daemon's loop does), then linked with the target into Packages/VhostUserBackend/.build/fuzz/session/fuzz.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
package=$(dirname "$here")
packages=$(dirname "$package")
target=${1:?usage: run.sh session [runs]}
case $target in
--list) printf 'session\n'; exit 0 ;;
session) ;;
*) echo "unknown target $target (session)" >&2; exit 2 ;;
esac
runs=${2:-1000000}
[ $# -ge 2 ] && shift 2 || shift $#
out=$package/.build/fuzz
work=$out/$target
mkdir -p "$work/corpus"
# Seeds (hex, spaces ignored): a front-end's start of a virtio-rng and a virtio-blk session with
# one ring of 256 at 0x0 (descriptors), 0x1000 (available), 0x2000 (used) of a memory table
# mapping the 64 KiB memfd at guest 0 (user address 0x7f000000000000), a 512-byte buffer at
# 0x4000 the driver offers; virtio-blk also reads its configuration. Each ends with GET_VRING_BASE.
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
    # Memory image (0x1006 bytes): descriptor 0 = 0x4000, 512 bytes, write; available ring
    # flags 0, idx 1, ring[0] = 0.
    descriptor="0040000000000000 00020000 0200 0000"
    image="0610 $descriptor $(printf '%08160d' 0) 0000 0100 0000"
    features="00 01000000 01000000 00000000"
    set_features="00 02000000 01000000 08000000 00000040 01000000"
    protocol="00 10000000 01000000 08000000 01020000 00000000"
    table="01 05000000 01000000 28000000 01000000 00000000 0000000000000000 0000010000000000 0000000000007f00 0000000000000000"
    num="00 08000000 01000000 08000000 00000000 00010000"
    addr="00 09000000 01000000 28000000 00000000 00000000 0000000000007f00 0020000000007f00 0010000000007f00 0000000000000000"
    base="00 0a000000 01000000 08000000 00000000 00000000"
    call="09 0d000000 01000000 08000000 0000000000000000"
    kick="89 0c000000 01000000 08000000 0000000000000000"
    enable="80 12000000 01000000 08000000 00000000 01000000"
    get_base="00 0b000000 01000000 08000000 00000000 00000000"
    start="$features $set_features $protocol $table $num $addr $base $call $kick $enable"
    seed rng "00 $image $start $get_base"
    seed blk "01 $image $start 00 18000000 01000000 14000000 00000000 08000000 00000000 0000000000000000 $get_base"
fi
flags="-sanitize=fuzzer,address -parse-as-library -wmo -O -g"
sources="$package/Sources/VhostUserBackend $packages/VMMSysUtil/Sources $packages/EventManager/Sources/EventManager
    $packages/VMDevice/Sources/VMDevice $packages/VMMemory/Sources $packages/VirtioQueue/Sources/VirtioQueue
    $packages/VirtioDevices/Sources $packages/Vhost/Sources/Vhost $packages/Seccompiler/Sources"
# shellcheck disable=SC2086 # $sources is a list of folders
if [ ! -f "$out/VhostUserBackend.o" ] || [ -n "$(find $sources -newer "$out/VhostUserBackend.o" \( -name '*.swift' -o -name '*.[ch]' \))" ]; then
    # SwiftPM generates the C target's module map; here it names the umbrella header itself.
    mkdir -p "$out/CVMMSysUtil"
    printf 'module CVMMSysUtil {\n    umbrella header "%s"\n    export *\n}\n' \
        "$packages/VMMSysUtil/Sources/CVMMSysUtil/include/CVMMSysUtil.h" >"$out/CVMMSysUtil/module.modulemap"
    clang -fsanitize=fuzzer-no-link,address -O2 -g -I "$packages/VMMSysUtil/Sources/CVMMSysUtil/include" \
        -c "$packages/VMMSysUtil/Sources/CVMMSysUtil/shim.c" -o "$out/CVMMSysUtil.o"
    mkdir -p "$out/CSeccomp"
    printf 'module CSeccomp {\n    umbrella header "%s"\n    export *\n}\n' \
        "$packages/Seccompiler/Sources/CSeccomp/include/CSeccomp.h" >"$out/CSeccomp/module.modulemap"
    clang -fsanitize=fuzzer-no-link,address -O2 -g -I "$packages/Seccompiler/Sources/CSeccomp/include" \
        -c "$packages/Seccompiler/Sources/CSeccomp/shim.c" -o "$out/CSeccomp.o"
    module() {
        name=$1
        shift
        swiftc $flags -module-name "$name" -I "$out" -I "$out/CVMMSysUtil" -I "$out/CSeccomp" -emit-module \
            -emit-module-path "$out/$name.swiftmodule" -c "$@" -o "$out/$name.o"
    }
    module VMMSysUtil "$packages"/VMMSysUtil/Sources/VMMSysUtil/*.swift
    module EventManager "$packages"/EventManager/Sources/EventManager/*.swift
    module VMDevice "$packages"/VMDevice/Sources/VMDevice/*.swift
    module VMMemory "$packages"/VMMemory/Sources/VMMemory/*.swift
    module VMMemoryLinux "$packages"/VMMemory/Sources/VMMemoryLinux/*.swift
    module VirtioQueue "$packages"/VirtioQueue/Sources/VirtioQueue/*.swift
    module VirtioDevices "$packages"/VirtioDevices/Sources/VirtioDevices/*/*.swift
    module Vhost "$packages"/Vhost/Sources/Vhost/*.swift
    module Seccompiler "$packages"/Seccompiler/Sources/Seccompiler/*.swift
    module VhostUserBackend -enable-testing "$package"/Sources/VhostUserBackend/*.swift
fi
objects="$out/CVMMSysUtil.o $out/VMMSysUtil.o $out/EventManager.o $out/VMDevice.o $out/VMMemory.o
    $out/VMMemoryLinux.o $out/VirtioQueue.o $out/VirtioDevices.o $out/Vhost.o $out/CSeccomp.o $out/Seccompiler.o
    $out/VhostUserBackend.o"
# shellcheck disable=SC2086 # $objects is a list of files
swiftc $flags -module-name VhostUserBackendFuzz -I "$out" -I "$out/CVMMSysUtil" -I "$out/CSeccomp" \
    "$here/SessionFuzz.swift" $objects -lseccomp -o "$work/fuzz"
cd "$work"
# Swift's backtracer reads other threads' stacks, which AddressSanitizer reports as a second,
# misleading error; libFuzzer prints the failing stack itself.
SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
export SWIFT_BACKTRACE
exec ./fuzz -runs="$runs" -max_len=12288 -artifact_prefix="$work/" -print_final_stats=1 "$@" corpus
