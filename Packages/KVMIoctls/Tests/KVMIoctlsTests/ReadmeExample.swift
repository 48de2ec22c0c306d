// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// The section between the markers is the README's ```swift example, byte for byte
// (ReadmeExampleTests checks it), so the README cannot drift from code that runs.
// BEGIN README EXAMPLE
import Glibc
import KVMIoctls

/// Runs a 16-bit guest that prints "Hello, guest!" on port 0x3f8, and returns the text.
func helloGuest() throws(KVMError) -> String {
    let kvm = try KVM()  // opens /dev/kvm, checks the API version
    let vm = try kvm.createVM()

    // 64 KiB of guest RAM at guest-physical 0, from an anonymous mapping.
    let size = 0x1_0000
    guard let ram = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), ram != MAP_FAILED
    else { throw KVMError.current("mmap") }
    defer { munmap(ram, size) }
    try vm.setUserMemoryRegion(
        MemoryRegion(slot: 0, guestAddress: 0, size: UInt64(size), hostAddress: UInt64(UInt(bitPattern: ram))))

    // Real-mode code at 0x1000: print the zero-terminated string at 0x1100, then halt.
    let code: [UInt8] = [
        0xBE, 0x00, 0x11,  // mov $0x1100, %si
        0xBA, 0xF8, 0x03,  // mov $0x3f8, %dx
        0xAC,  // 1: lodsb           al = [si++]
        0x84, 0xC0,  // test %al, %al
        0x74, 0x03,  // jz 2f
        0xEE,  // out %al, (%dx)
        0xEB, 0xF8,  // jmp 1b
        0xF4,  // 2: hlt
    ]
    let bytes = ram.assumingMemoryBound(to: UInt8.self)
    for (offset, byte) in code.enumerated() { bytes[0x1000 + offset] = byte }
    for (offset, byte) in "Hello, guest!\n".utf8.enumerated() { bytes[0x1100 + offset] = byte }
    bytes[0x1100 + 14] = 0

    // One vCPU, starting at 0000:1000 in real mode.
    let vcpu = try vm.createVCPU(id: 0)
    var sregs = try vcpu.specialRegisters()
    sregs.cs.base = 0
    sregs.cs.selector = 0
    try vcpu.setSpecialRegisters(sregs)
    var regs = kvm_regs()
    regs.rip = 0x1000
    regs.rflags = 0x2
    try vcpu.setRegisters(regs)

    // The VMM's run loop: collect serial output until the guest halts.
    var output: [UInt8] = []
    while true {
        switch try vcpu.run() {
        case .ioOut(port: 0x3F8, let data): output += data.bytes
        case .hlt: return String(decoding: output, as: UTF8.self)
        case let exit: throw KVMError("KVM_RUN", .invalidArgument("unexpected exit \(exit)"))
        }
    }
}
// END README EXAMPLE
