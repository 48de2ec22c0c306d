#!/bin/sh
# Copyright 2026 The swift-vmm Authors.
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# Builds and runs one LinuxLoader libFuzzer target:
#   Packages/LinuxLoader/Fuzz/run.sh <bzimage|elf|image|cmdline> [runs] [extra libFuzzer flags...]
#   Packages/LinuxLoader/Fuzz/run.sh --list      (the targets, one per line; `vmm-tools fuzz` uses it)
# VMMemory and LinuxLoader are compiled as modules with -sanitize=fuzzer,address
# (coverage + AddressSanitizer), then linked with the target into
# Packages/LinuxLoader/.build/fuzz/<target>/fuzz. Crash inputs land in that folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
package=$(dirname "$here")
target=${1:?usage: run.sh <bzimage|elf|image|cmdline> [runs]}
if [ "$target" = --list ]; then
    printf '%s\n' bzimage elf image cmdline
    exit 0
fi
runs=${2:-1000000}
[ $# -ge 2 ] && shift 2 || shift $#
case $target in
bzimage) source=BzImageFuzz.swift ;;
elf) source=ELFFuzz.swift ;;
image) source=ImageFuzz.swift ;;
cmdline) source=CommandLineFuzz.swift ;;
*) echo "unknown target $target (bzimage, elf, image, cmdline)" >&2; exit 2 ;;
esac
out=$package/.build/fuzz
work=$out/$target
mkdir -p "$work/corpus"
flags="-sanitize=fuzzer,address -parse-as-library -wmo -O -g"
if [ ! -f "$out/LinuxLoader.o" ] || [ -n "$(find "$package/Sources" "$package/../VMMemory/Sources/VMMemory" -newer "$out/LinuxLoader.o" -name '*.swift')" ]; then
    swiftc $flags -module-name VMMemory -emit-module -emit-module-path "$out/VMMemory.swiftmodule" \
        -c "$package"/../VMMemory/Sources/VMMemory/*.swift -o "$out/VMMemory.o"
    swiftc $flags -module-name LinuxLoader -I "$out" -emit-module -emit-module-path "$out/LinuxLoader.swiftmodule" \
        -c "$package"/Sources/LinuxLoader/*.swift -o "$out/LinuxLoader.o"
fi
swiftc $flags -module-name LinuxLoaderFuzz -I "$out" "$here/Support.swift" "$here/$source" \
    "$out/VMMemory.o" "$out/LinuxLoader.o" -o "$work/fuzz"
cd "$work"
exec ./fuzz -runs="$runs" -max_len=8192 -artifact_prefix="$work/" -print_final_stats=1 "$@" corpus
