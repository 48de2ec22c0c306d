// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// vhost-device-rng: virtio-rng as a vhost-user daemon, VirtioDevices' EntropyDevice
// served to any front-end (QEMU, integration-vmm), with rust-vmm vhost-device's conventions.

import Glibc
import VMMemory
import VMMemoryLinux
import VhostUserBackend
import VirtioDevices

let usage = """
    usage: vhost-device-rng --socket-path PATH [--frontends N]

    Serves virtio-rng (the guest's /dev/hwrng, bytes from the host's getrandom) on the
    vhost-user socket PATH, one front-end at a time: forever, or N front-ends.

    QEMU (microvm, virtio-mmio):
      qemu-system-x86_64 -M microvm,memory-backend=mem \\
        -object memory-backend-memfd,id=mem,size=256M,share=on \\
        -global virtio-mmio.force-legacy=false \\
        -chardev socket,id=rng0,path=PATH -device vhost-user-rng-device,chardev=rng0 ...
    integration-vmm:
      swift run integration-vmm --vhost-user socket=PATH,device-id=4,queues=1
    """

/// Writes `text` to standard error.
func report(_ text: String) {
    let bytes = Array(text.utf8)
    // SAFETY: write reads exactly the array's bytes, alive for the call.
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

func fail(_ message: String) -> Never {
    report("vhost-device-rng: \(message)\n\(usage)\n")
    exit(2)
}

var arguments = Array(CommandLine.arguments.dropFirst())
var socketPath: String?
var frontends: Int?
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    switch flag {
    case "-h", "--help":
        print(usage)
        exit(0)
    case "--socket-path", "-s":
        guard let value = arguments.first, !value.isEmpty else { fail("\(flag) needs a path") }
        arguments.removeFirst()
        socketPath = value
    case "--frontends":
        guard let value = arguments.first.flatMap({ Int($0) }), value > 0 else { fail("--frontends needs a count") }
        arguments.removeFirst()
        frontends = value
    default:
        fail("unknown argument '\(flag)'")
    }
}
guard let socketPath else { fail("--socket-path is required") }
let daemon = VhostUserDaemon(device: EntropyDevice<GuestMemoryMap<MmapRegion>>(), socketPath: socketPath)
do {
    try daemon.serve(frontends: frontends) { report("vhost-device-rng: listening on \(socketPath)\n") }
} catch {
    report("vhost-device-rng: \(error)\n")
    exit(1)
}
