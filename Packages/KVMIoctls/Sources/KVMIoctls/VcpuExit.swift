// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import KVMBindings

/// The data area of a port-I/O or MMIO exit, inside the vCPU's `kvm_run` page.
///
/// For writes it holds what the guest wrote; for reads the VMM stores the value the
/// guest will see with ``setValue(_:)`` or ``write(_:)`` before the next `run()`.
/// Valid only until the next ``VCPU/run()`` of the vCPU it came from.
///
/// ```swift
/// if case .ioIn(let port, let data) = try vcpu.run(), port == 0x60 {
///     data.setValue(0xFA)
/// }
/// ```
@safe  // SAFETY: points into the vCPU's kvm_run page; accessors check `size * count` against the page.
public struct ExitData {
    /// The bytes of all accesses (`size * count`), in the `kvm_run` page.
    public let buffer: UnsafeMutableRawBufferPointer
    /// Width of one access in bytes (1, 2, 4 or 8).
    public let size: Int
    /// Number of accesses (greater than 1 only for string port I/O, `rep outsb` and friends).
    public let count: Int

    /// Wraps a data area.
    public init(buffer: UnsafeMutableRawBufferPointer, size: Int, count: Int) {
        // SAFETY: only stores the pointer; whoever formed the unsafe buffer (VCPU.decodeExit) vouches for its bounds.
        unsafe self.buffer = unsafe buffer
        self.size = size
        self.count = count
    }

    /// A copy of the bytes.
    public var bytes: [UInt8] { unsafe Array(buffer) }  // SAFETY: reads the buffer.count bytes decodeExit bounded.

    /// The first access as a little-endian integer.
    public var value: UInt64 {
        var result: UInt64 = 0
        // SAFETY: the range is clamped to buffer.count, so every read stays inside the kvm_run data area.
        for index in unsafe 0..<min(size, 8, buffer.count) {
            unsafe result |= UInt64(buffer[index]) << (8 * UInt64(index))
        }
        return result
    }

    /// Stores `value` little-endian into every access slot (what a read returns to the guest).
    public func setValue(_ value: UInt64) {
        for access in 0..<count {
            // SAFETY: the `where` test keeps each store below buffer.count, inside the kvm_run mapping.
            for index in 0..<min(size, 8) where unsafe access * size + index < buffer.count {
                unsafe buffer[access * size + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))
            }
        }
    }

    /// Copies `bytes` into the area (extra bytes are ignored).
    public func write(_ bytes: [UInt8]) {
        // SAFETY: prefix(buffer.count) keeps every index inside the area; it lies in the vCPU's kvm_run mapping.
        for (index, byte) in unsafe bytes.prefix(buffer.count).enumerated() { unsafe buffer[index] = byte }
    }
}

/// Why `KVM_RUN` returned, with typed views of the exit's data.
///
/// ```swift
/// switch try vcpu.run() {
/// case .ioOut(let port, let data): print("out", port, data.bytes)
/// case .mmioWrite(let address, let data): print("mmio", address, data.value)
/// case .hlt: break
/// default: break
/// }
/// ```
public enum VcpuExit {
    /// The guest read `data.size` bytes from `port` (`in`); fill `data`.
    case ioIn(port: UInt16, data: ExitData)
    /// The guest wrote `data` to `port` (`out`).
    case ioOut(port: UInt16, data: ExitData)
    /// The guest read unbacked guest-physical `address`; fill `data`.
    case mmioRead(address: UInt64, data: ExitData)
    /// The guest wrote `data` to unbacked (or read-only) guest-physical `address`.
    case mmioWrite(address: UInt64, data: ExitData)
    /// The guest executed `hlt` (only without an in-kernel irqchip).
    case hlt
    /// The guest shut down (triple fault).
    case shutdown
    /// A system event: `type` is `KVM_SYSTEM_EVENT_*` (shutdown, reset, crash).
    case systemEvent(type: UInt32, data: [UInt64])
    /// Entering the guest failed; `hardwareReason` is vendor specific.
    case failEntry(hardwareReason: UInt64, cpu: UInt32)
    /// KVM could not handle something (for example emulation failure); `suberror` is `KVM_INTERNAL_ERROR_*`.
    case internalError(suberror: UInt32, data: [UInt64])
    /// A debug exit (single step or breakpoint set with ``VCPU/setGuestDebug(_:)``).
    case debug(exception: UInt32, pc: UInt64, dr6: UInt64, dr7: UInt64)
    /// The guest can take an interrupt now (after `request_interrupt_window`).
    case irqWindowOpen
    /// `KVM_RUN` was interrupted by a signal or `immediate_exit` (a kick).
    case interrupted
    /// An exit KVM could not classify, with the hardware reason.
    case unknown(hardwareReason: UInt64)
    /// Any other `KVM_EXIT_*` this type does not model yet.
    case other(reason: UInt32)
}
