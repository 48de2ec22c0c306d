// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// vhost-device-vsock: virtio-vsock as a vhost-user daemon, VirtioDevices' VsockDevice (the one
// integration-vmm's --vsock uses): guest connections to host port P reach the Unix socket
// <uds-path>_P; host clients connect to <uds-path> and send "CONNECT <port>\n".

import Glibc
import VMMemory
import VMMemoryLinux
import VhostUserBackend
import VirtioDevices

let usage = """
    usage: vhost-device-vsock --vm guest-cid=N,socket=PATH,uds-path=PATH [--frontends N] [--workers N]
           vhost-device-vsock --socket-path PATH --guest-cid N --uds-path PATH [--frontends N] [--workers N]

    Serves virtio-vsock on the vhost-user socket PATH, one front-end at a time: forever, or
    N front-ends. Guest connections to host port P go to the Unix socket <uds-path>_P; host
    programs connect to <uds-path> and send "CONNECT <port>\\n" (Firecracker's convention).
    --workers N (1 to 3) serves the three rings' kicks on N threads, ring i on thread i % N.

    QEMU (microvm, virtio-mmio):
      qemu-system-x86_64 -M microvm,memory-backend=mem \\
        -object memory-backend-memfd,id=mem,size=256M,share=on \\
        -global virtio-mmio.force-legacy=false \\
        -chardev socket,id=vsock0,path=PATH -device vhost-user-vsock-device,chardev=vsock0 ...
    integration-vmm:
      swift run integration-vmm --vhost-user socket=PATH,device-id=19,queues=3,config-size=8
    """
let arguments: [String]
do {
    arguments = try DaemonCommandLine.expandingVM(Array(CommandLine.arguments.dropFirst()))
} catch {
    print("vhost-device-vsock: \(error)\n\(usage)")
    exit(2)
}
DaemonCommandLine.run(
    name: "vhost-device-vsock", usage: usage, arguments: arguments, values: ["--guest-cid", "--uds-path"]
) { options in
    guard let cid = options.values["--guest-cid"].flatMap({ UInt64($0) }), cid >= 3, cid < 0xffff_ffff else {
        throw DaemonCommandLine.Failure("guest-cid must be 3...4294967294")
    }
    guard let path = options.values["--uds-path"] else { throw DaemonCommandLine.Failure("uds-path is required") }
    return try VsockDevice<GuestMemoryMap<MmapRegion>>(
        configuration: VsockConfiguration(guestCID: cid, socketPath: path))
}
