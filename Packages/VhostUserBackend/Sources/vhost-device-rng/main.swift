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
        usage: vhost-device-rng --socket-path PATH [--frontends N]

        Serves virtio-rng (the guest's /dev/hwrng, bytes from the host's getrandom) on the
        vhost-user socket PATH, one front-end at a time: forever, or N front-ends.

        QEMU (microvm, virtio-mmio):
          qemu-system-x86_64 -M microvm,memory-backend=mem \\
            -object memory-backend-memfd,id=mem,size=256M,share=on \\
            -global virtio-mmio.force-legacy=false \\
            -chardev socket,id=rng0,path=PATH -device vhost-user-rng,chardev=rng0 ...
        integration-vmm:
          swift run integration-vmm --vhost-user socket=PATH,device-id=4,queues=1
        """
) { _ in EntropyDevice<GuestMemoryMap<MmapRegion>>() }
