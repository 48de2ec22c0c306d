// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMIoctls
import Testing

/// Opens /dev/kvm, or returns nil after a loud skip message. With CI=true a missing
/// /dev/kvm is a test failure, never a skip.
func openKVMOrSkip(_ test: String = #function) -> KVM? {
    do {
        return try KVM()
    } catch {
        let ci = getenv("CI").map { String(cString: $0) } == "true"
        #expect(!ci, "CI=true but KVM is unavailable: \(error)")
        print("⚠️ SKIPPED \(test): KVM unavailable (\(error)); this test needs a real /dev/kvm")
        return nil
    }
}

/// Anonymous host memory used as guest RAM (plain mmap, page aligned), unmapped on deinit.
final class GuestRAM {
    let base: UnsafeMutableRawPointer
    let size: Int

    init(size: Int) {
        let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        precondition(mapping != MAP_FAILED && mapping != nil, "mmap of \(size) bytes failed")
        base = mapping!
        self.size = size
    }

    deinit { munmap(base, size) }

    var hostAddress: UInt64 { UInt64(UInt(bitPattern: base)) }

    func load(_ bytes: [UInt8], at offset: Int) {
        precondition(offset + bytes.count <= size)
        for (index, byte) in bytes.enumerated() {
            base.storeBytes(of: byte, toByteOffset: offset + index, as: UInt8.self)
        }
    }

    func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset + MemoryLayout<T>.size <= size)
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        precondition(offset + MemoryLayout<T>.size <= size)
        return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

/// A VM with `ram` mapped at guest-physical 0 in slot 0.
func makeVM(_ kvm: KVM, ram: GuestRAM, flags: MemoryRegionFlags = []) throws -> VM {
    let vm = try kvm.createVM()
    try vm.setUserMemoryRegion(
        MemoryRegion(slot: 0, guestAddress: 0, size: UInt64(ram.size), hostAddress: ram.hostAddress, flags: flags))
    return vm
}

/// Points a fresh vCPU at real-mode code: CS base 0, IP `entry`, SP `stack`.
func startRealMode(_ vcpu: VCPU, entry: UInt64, stack: UInt64 = 0x7000) throws {
    var sregs = try vcpu.specialRegisters()
    sregs.cs.base = 0
    sregs.cs.selector = 0
    try vcpu.setSpecialRegisters(sregs)
    var regs = kvm_regs()
    regs.rip = entry
    regs.rsp = stack
    regs.rflags = 0x2  // bit 1 is reserved and must be set
    try vcpu.setRegisters(regs)
}

/// Runs `body` on a new pthread; join the returned id with `pthread_join`.
func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: @unchecked Sendable {  // handed to exactly one thread
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let result = pthread_create(
        &thread, nil,
        { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
    precondition(result == 0, "pthread_create failed: \(result)")
    return thread
}

/// Monotonic clock in nanoseconds.
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// A short description of an exit, for test failure messages.
func describe(_ exit: VcpuExit) -> String {
    switch exit {
    case .ioIn(let port, let data): "ioIn(port: \(port), size: \(data.size))"
    case .ioOut(let port, let data): "ioOut(port: \(port), bytes: \(data.bytes))"
    case .mmioRead(let address, let data): "mmioRead(\(address), size: \(data.size))"
    case .mmioWrite(let address, let data): "mmioWrite(\(address), bytes: \(data.bytes))"
    case .hlt: "hlt"
    case .shutdown: "shutdown"
    case .systemEvent(let type, _): "systemEvent(\(type))"
    case .failEntry(let reason, _): "failEntry(\(reason))"
    case .internalError(let suberror, let data): "internalError(\(suberror), \(data))"
    case .debug(let exception, let pc, _, _): "debug(\(exception), pc: \(pc))"
    case .irqWindowOpen: "irqWindowOpen"
    case .interrupted: "interrupted"
    case .unknown(let reason): "unknown(\(reason))"
    case .other(let reason): "other(\(reason))"
    }
}
