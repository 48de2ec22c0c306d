// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// vhost-device-blk: virtio-blk on a raw image as a vhost-user daemon, VirtioDevices'
// BlockDevice (the one integration-vmm's --block uses) served to any front-end.

import VMMemory
import VMMemoryLinux
import VhostUserBackend
import VirtioDevices

DaemonCommandLine.run(
    name: "vhost-device-blk",
    usage: """
        usage: vhost-device-blk --socket-path PATH --image FILE [--readonly] [--direct] [--serial ID] [--frontends N]

        Serves the raw image FILE as virtio-blk on the vhost-user socket PATH (flush, discard,
        write-zeroes, get-id; --readonly refuses writes, --direct opens it O_DIRECT), one
        front-end at a time: forever, or N front-ends.

        QEMU (microvm, virtio-mmio):
          qemu-system-x86_64 -M microvm,memory-backend=mem \\
            -object memory-backend-memfd,id=mem,size=256M,share=on \\
            -global virtio-mmio.force-legacy=false \\
            -chardev socket,id=blk0,path=PATH -device vhost-user-blk,chardev=blk0,num-queues=1 ...
        integration-vmm:
          swift run integration-vmm --vhost-user-blk socket=PATH
        """,
    values: ["--image", "--serial"], switches: ["--readonly", "--direct"]
) { options in
    guard let image = options.values["--image"] else { throw DaemonCommandLine.Failure("--image is required") }
    let serial = options.values["--serial"]
    if let serial, serial.utf8.count > 20 { throw DaemonCommandLine.Failure("--serial has at most 20 bytes") }
    return try BlockDevice<GuestMemoryMap<MmapRegion>>(
        path: image,
        options: DiskImage.Options(
            readOnly: options.switches.contains("--readonly"), direct: options.switches.contains("--direct"),
            identifier: serial))
}
