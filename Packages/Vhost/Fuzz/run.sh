#!/bin/sh
# Copyright 2026 The swift-vmm Authors.
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# Builds and runs a Vhost libFuzzer target:
#   Packages/Vhost/Fuzz/run.sh message|reply [runs] [extra libFuzzer flags...]
# message: any bytes as a request, a reply and a header; reply: a hostile back-end's byte
# stream as the front-end reads it (a session's replies, then back-end channel requests).
#   Packages/Vhost/Fuzz/run.sh --list      (the targets, one per line; `vmm-tools fuzz` uses it)
# The Vhost codec (no dependencies) is compiled as a module with -sanitize=fuzzer,address
# (coverage + AddressSanitizer), then linked with the target into
# Packages/Vhost/.build/fuzz/<target>/fuzz. Crash inputs land in that folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
package=$(dirname "$here")
target=${1:?usage: run.sh message|reply [runs]}
case $target in
--list) printf 'message\nreply\n'; exit 0 ;;
message) source=MessageFuzz.swift ;;
reply) source=ReplyFuzz.swift ;;
*) echo "unknown target $target (message, reply)" >&2; exit 2 ;;
esac
runs=${2:-1000000}
[ $# -ge 2 ] && shift 2 || shift $#
out=$package/.build/fuzz
work=$out/$target
mkdir -p "$work/corpus"
# reply seeds: GET_FEATURES' reply (VERSION_1 | PROTOCOL_FEATURES), GET_PROTOCOL_FEATURES' reply,
# a REPLY_ACK of SET_PROTOCOL_FEATURES, in the first half; CONFIG_CHANGE_MSG twice in the second.
if [ "$target" = reply ] && [ -z "$(ls -A "$work/corpus")" ]; then
    printf '\001\0\0\0\005\0\0\0\010\0\0\0\0\0\0\100\001\0\0\0\017\0\0\0\005\0\0\0\010\0\0\0\013\002\001\0\0\0\0\0\020\0\0\0\005\0\0\0\010\0\0\0\0\0\0\0\0\0\0\0' >"$work/corpus/seed-negotiation"
    printf '\002\0\0\0\001\0\0\0\0\0\0\0\002\0\0\0\011\0\0\0\010\0\0\0\0\0\0\0\0\0\0\0' >>"$work/corpus/seed-negotiation"
    # ...and VRING_HOST_NOTIFIER_MSG with 16 opaque bytes, so both halves hold 60 bytes.
    printf '\003\0\0\0\001\0\0\0\020\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' >>"$work/corpus/seed-negotiation"
fi
# message seeds: valid requests of each layout and a REPLY_ACK (12-byte header, then the payload).
if [ "$target" = message ] && [ -z "$(ls -A "$work/corpus")" ]; then
    # SET_OWNER, no payload.
    printf '\003\0\0\0\001\0\0\0\0\0\0\0' >"$work/corpus/seed-set-owner"
    # SET_FEATURES with need-reply, u64 0x40000000.
    printf '\002\0\0\0\011\0\0\0\010\0\0\0\0\0\0\100\0\0\0\0' >"$work/corpus/seed-set-features"
    # SET_VRING_NUM index 1 num 256.
    printf '\010\0\0\0\001\0\0\0\010\0\0\0\001\0\0\0\0\001\0\0' >"$work/corpus/seed-set-vring-num"
    # SET_VRING_ADDR index 0, flags 0, descriptor 0x1000, used 0x3000, available 0x2000, log 0.
    printf '\011\0\0\0\001\0\0\0\050\0\0\0\0\0\0\0\0\0\0\0\0\020\0\0\0\0\0\0\0\060\0\0\0\0\0\0\0\040\0\0\0\0\0\0\0\0\0\0\0\0\0\0' \
        >"$work/corpus/seed-set-vring-addr"
    # SET_MEM_TABLE with one region: guest 0, size 0x100000, user 0x7f0000000000, offset 0.
    printf '\005\0\0\0\001\0\0\0\050\0\0\0\001\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\020\0\0\0\0\0\0\0\0\0\0\177\0\0\0\0\0\0\0\0\0\0' \
        >"$work/corpus/seed-set-mem-table"
    # ADD_MEM_REG: 8 bytes of padding, then one region.
    printf '\045\0\0\0\001\0\0\0\050\0\0\0\0\0\0\0\0\0\0\0\0\0\020\0\0\0\0\0\0\0\020\0\0\0\0\0\0\0\0\0\0\177\0\0\0\0\0\0\0\0\0\0' \
        >"$work/corpus/seed-add-mem-reg"
    # SET_CONFIG offset 4, size 4, flags 0, four bytes.
    printf '\031\0\0\0\001\0\0\0\020\0\0\0\004\0\0\0\004\0\0\0\0\0\0\0\001\002\003\004' >"$work/corpus/seed-set-config"
    # A REPLY_ACK (flags reply) of SET_VRING_NUM with status 0.
    printf '\010\0\0\0\005\0\0\0\010\0\0\0\0\0\0\0\0\0\0\0' >"$work/corpus/seed-reply-ack"
    # IOTLB_MSG, opaque 4 bytes.
    printf '\026\0\0\0\001\0\0\0\004\0\0\0\001\002\003\004' >"$work/corpus/seed-iotlb"
fi
flags="-sanitize=fuzzer,address -parse-as-library -wmo -O -g"
if [ ! -f "$out/Vhost.o" ] || [ -n "$(find "$package/Sources/Vhost" -newer "$out/Vhost.o" -name '*.swift')" ]; then
    mkdir -p "$out"
    swiftc $flags -module-name Vhost -emit-module -emit-module-path "$out/Vhost.swiftmodule" \
        -c "$package"/Sources/Vhost/*.swift -o "$out/Vhost.o"
fi
swiftc $flags -module-name VhostFuzz -I "$out" "$here/Support.swift" "$here/$source" \
    "$out/Vhost.o" -o "$work/fuzz"
cd "$work"
exec ./fuzz -runs="$runs" -max_len=8192 -artifact_prefix="$work/" -print_final_stats=1 "$@" corpus
