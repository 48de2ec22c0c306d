#!/bin/sh
# Copyright 2026 The swift-vmm Authors.
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# swift-vmm guest /init (busybox sh), packed by `vmm-tools guest initramfs`.
#
# Contract with the VMM (see ci/guest/README.md):
#   prints  VMM-GUEST-READY uptime=<s> cpus=<n> kernel=<release>  once userspace runs,
#   runs    the command in vmm.cmd="..." on the kernel command line (if any) in a
#           subshell (a kernel parameter, not arguments after `--`: VMMs such as
#           QEMU microvm append their own parameters, e.g. virtio_mmio.device=),
#   or, without vmm.cmd and with vmm.shell on the command line, starts an
#           interactive login shell on ttyS0 (its controlling terminal, so job
#           control and Ctrl-C work) and waits until it exits (`exit`; `poweroff`,
#           `reboot` and `halt` in it stop the guest at once, after a sync),
#   prints  VMM-GUEST-EXIT status=<n>  with that command's (or shell's) exit status,
#   then    reboots (with reboot=t the kernel triple-faults: the VMM sees the exit)
#           or powers off when the kernel command line has vmm.poweroff.
# Each marker is printed as a whole line on /dev/console.
#
# Every process costs on a PVM host (fork, exec and page faults run in the host's
# instruction emulator, ~1 s each), so this script starts as few as it can: one
# `mount -a` (/etc/fstab: proc, sysfs, devtmpfs), shell builtins for the rest.

export PATH=/bin:/sbin
[ -r /proc/uptime ] || mount -a

# A kernel without XSAVE (kvmpvm_compat clears it: PVM's emulator cannot run it)
# switches tasks with FXSAVE, which covers x87/SSE only. Guest user mode runs
# natively on PVM and CPUID there reports the host's AVX, AVX-512 and OSXSAVE, so
# glibc would pick AVX string functions whose YMM/ZMM upper halves and opmask
# registers leak between processes. Keep glibc (busybox is static glibc) on SSE2,
# and re-execute /init so that it and every child start with the setting.
# `kvmpvm_compat` on the command line always hides XSAVE, which saves a grep.
read -r cmdline </proc/cmdline
hidden_xsave() {
    case " $cmdline " in
    *" kvmpvm_compat "*) return 0 ;;
    *) ! grep -qw xsave /proc/cpuinfo ;;
    esac
}
if [ -z "$VMM_GUEST_NO_AVX" ] && hidden_xsave; then
    export VMM_GUEST_NO_AVX=1
    export GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD,-XSAVE,-XSAVEC
    exec /bin/sh /init "$@"
fi
exec </dev/console >/dev/console 2>&1

read -r uptime _ </proc/uptime
read -r online </sys/devices/system/cpu/online
case "$online" in
*,*) cpus=$(nproc) ;;
*) cpus=$((${online##*-} + 1)) ;;
esac
read -r release </proc/sys/kernel/osrelease
echo "VMM-GUEST-READY uptime=$uptime cpus=$cpus kernel=$release"

# The last vmm.cmd= wins; a quoted command ends at the next double quote.
command=
case "$cmdline" in
*'vmm.cmd="'*)
    command=${cmdline##*vmm.cmd=\"}
    command=${command%%\"*}
    ;;
*vmm.cmd=*)
    command=${cmdline##*vmm.cmd=}
    command=${command%% *}
    ;;
esac
status=0
if [ -n "$command" ]; then
    (eval "$command")
    status=$?
else
    case " $cmdline " in
    *" vmm.shell "*)
        cd /root || :
        echo "swift-vmm guest shell: exit or poweroff stops the guest; Ctrl-A X quits the VMM"
        # setsid -c: a new session whose controlling terminal is ttyS0 (/dev/console cannot
        # be one), so the shell has job control and ^C reaches its foreground job. In the
        # foreground: this non-interactive shell would start a background job with SIGINT
        # ignored, which every process of the interactive shell would inherit. /etc/profile
        # makes poweroff/reboot/halt work while this script waits (see InitramfsBuilder).
        setsid -c sh -l </dev/ttyS0 >/dev/ttyS0 2>&1
        status=$?
        ;;
    esac
fi
echo "VMM-GUEST-EXIT status=$status"

case " $cmdline " in
*" vmm.poweroff "*) poweroff -f ;;
*) reboot -f ;;
esac
# Neither returns; if they fail, stop here rather than let init exit (a panic).
while :; do sleep 3600; done
