// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil

// integration-vmm is the superset VMM that composes every swift-vmm package.
// Until the KVM layer, the boot path and the devices land it can only say what
// is missing; it still checks what it can already check: that /dev/kvm opens.
let missing = [
    "KVMIoctls and the Hypervisor abstraction",
    "VMMemory (guest memory)",
    "LinuxLoader, ACPITables (boot path)",
    "VMSuperIO, VMDevice, EventManager (serial console, buses, event loop)",
]
do {
    let kvm = try FileDescriptor.open("/dev/kvm", flags: O_RDWR)
    _ = kvm
    FileHandle_write("integration-vmm: /dev/kvm opens; cannot boot a guest yet.\n")
} catch {
    FileHandle_write("integration-vmm: \(error)\n")
}
FileHandle_write("integration-vmm: missing before a guest can boot:\n")
for item in missing { FileHandle_write("  - \(item)\n") }
exit(2)

func FileHandle_write(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}
