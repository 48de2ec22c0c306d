// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// vhost-device-rng: virtio-rng as a vhost-user daemon, VirtioDevices' EntropyDevice
// served to any front-end (QEMU, integration-vmm), with rust-vmm vhost-device's conventions.

import VMMemory
import VMMemoryLinux
import VhostUserBackend
import VirtioDevices

DaemonCommandLine.run(
    name: "vhost-device-rng",
    usage: """
        usage: vhost-device-rng --socket-path PATH [--period-ms N] [--max-bytes N] [--frontends N]

        Serves virtio-rng (the guest's /dev/hwrng, bytes from the host's getrandom) on the
        vhost-user socket PATH, one front-end at a time: forever, or N front-ends. With
        --max-bytes, at most that many bytes per --period-ms milliseconds (default 65536,
        as rust-vmm's vhost-device-rng); a request waits until the budget allows it.

        QEMU (microvm, virtio-mmio):
          qemu-system-x86_64 -M microvm,memory-backend=mem \\
            -object memory-backend-memfd,id=mem,size=256M,share=on \\
            -global virtio-mmio.force-legacy=false \\
            -chardev socket,id=rng0,path=PATH -device vhost-user-rng,chardev=rng0 ...
        integration-vmm:
          swift run integration-vmm --vhost-user socket=PATH,device-id=4,queues=1
        """,
    values: ["--period-ms", "--max-bytes", "--period"]
) { options in
    // rust-vmm spells it --period (milliseconds); both are accepted.
    let periodText = options.values["--period-ms"] ?? options.values["--period"]
    guard let maxText = options.values["--max-bytes"] else {
        if periodText != nil { throw DaemonCommandLine.Failure("--period-ms needs --max-bytes") }
        return EntropyDevice<GuestMemoryMap<MmapRegion>>()
    }
    guard let maxBytes = UInt64(maxText), maxBytes > 0 else {
        throw DaemonCommandLine.Failure("--max-bytes needs a byte count above 0")
    }
    guard let period = UInt64(periodText ?? "65536"), period > 0, period <= 86_400_000 else {
        throw DaemonCommandLine.Failure("--period-ms needs milliseconds from 1 to 86400000")
    }
    let bucket: TokenBucket
    do {
        bucket = try TokenBucket(size: maxBytes, refillTime: .milliseconds(period))
    } catch {
        throw DaemonCommandLine.Failure("--max-bytes/--period-ms: \(error)")
    }
    return EntropyDevice<GuestMemoryMap<MmapRegion>>(rateLimiter: RateLimiter(bandwidth: bucket))
}
