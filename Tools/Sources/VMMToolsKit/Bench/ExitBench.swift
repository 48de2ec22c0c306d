// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Hypervisor
import KVMBindings
import KVMIoctls
import VMMSysUtil
import X86Machine

/// The cost of one vCPU exit as a VMM sees it: a real-mode guest that writes port 0x80
/// in a loop, run through the Hypervisor protocols (``KVMHypervisor``, exits decoded into
/// `VMExit` and dispatched to `VMOperations`, what integration-vmm uses) beside the same
/// guest on raw KVMIoctls (`VCPU.run()` and a `switch` on `VcpuExit`, the layer below).
/// The ratio says what the one door to the hypervisor costs per exit.
///
/// ```swift
/// let report = try ExitBench(exits: 100_000, rounds: 5).run()
/// print(report.text())
/// ```
public struct ExitBench: Sendable {
    /// Port writes per timed run.
    public var exits: Int
    /// Alternating rounds (one timed run per side each).
    public var rounds: Int

    /// Creates the benchmark.
    public init(exits: Int = 200_000, rounds: Int = 5) {
        self.exits = exits
        self.rounds = rounds
    }

    /// `out %al, $0x80 ; jmp .-2` (real mode): one PIO exit per loop.
    static let guestCode: [UInt8] = [0xE6, 0x80, 0xEB, 0xFC]
    static let guestEntry: UInt64 = 0x1000
    static let guestMemory = 0x10000

    /// Runs both sides, alternating, and assembles the report.
    public func run() throws -> BenchReport {
        let ours = try ProtocolSide()
        let peer = try DirectSide()
        _ = try ours.measure(exits: exits / 10)  // warm-up: page faults, first exits
        _ = try peer.measure(exits: exits / 10)
        var oursRounds: [Double] = []
        var peerRounds: [Double] = []
        for round in 0..<rounds {
            // Alternate who goes first: a host that slows over time favours neither side.
            if round % 2 == 0 {
                oursRounds.append(try ours.measure(exits: exits))
                peerRounds.append(try peer.measure(exits: exits))
            } else {
                peerRounds.append(try peer.measure(exits: exits))
                oursRounds.append(try ours.measure(exits: exits))
            }
        }
        func nanoseconds(_ value: Double) -> String { String(format: "%.0f", value) }
        let result = BenchResult(
            name: "pio-exit-round-trip", unit: "ns/exit", ours: BenchEnvironment.median(oursRounds),
            peer: BenchEnvironment.median(peerRounds), peerName: "KVMIoctls (raw KVM_RUN, same process)",
            higherIsBetter: false, goal: 0.95,
            notes: [
                "\(exits) port writes per run, \(rounds) alternating rounds, median wall time per exit on one thread",
                "ours: KVMHypervisor VirtualCPU.run() → VMExit.ioHandled after VMOperations.pioWrite; peer: "
                    + "KVMIoctls VCPU.run() → VcpuExit.ioOut, value read; both \(BenchEnvironment.buildConfiguration)",
                "rounds: ours \(oursRounds.map(nanoseconds).joined(separator: ", ")); "
                    + "peer \(peerRounds.map(nanoseconds).joined(separator: ", ")) ns/exit",
                "goal: the protocol layer costs at most ~5% per exit (noise on a shared host is about that)",
            ])
        return BenchReport(area: "exits", results: [result])
    }

    /// Guest RAM with the loop at ``guestEntry``, page-aligned as KVM wants it.
    static func guestRAM() throws -> AlignedBuffer {
        let ram = try AlignedBuffer.pageAligned(byteCount: guestMemory)
        for (offset, byte) in guestCode.enumerated() {
            // SAFETY: guestEntry + guestCode.count is far below guestMemory, the buffer's size.
            unsafe ram.bytes[Int(guestEntry) + offset] = byte
        }
        return ram
    }

    /// The host address KVM maps the guest RAM from.
    static func hostAddress(_ ram: borrowing AlignedBuffer) -> UInt64 {
        // SAFETY: only the address is read, as an integer for KVM; the buffer outlives the VM using it.
        UInt64(UInt(bitPattern: unsafe ram.bytes.baseAddress))
    }

    /// Wall-clock nanoseconds per call of `exit`, run `exits` times.
    static func nanosecondsPerExit(_ exits: Int, _ exit: () throws -> Void) throws -> Double {
        let start = ContinuousClock.now
        for _ in 0..<exits { try exit() }
        return Double((ContinuousClock.now - start).wholeNanoseconds) / Double(exits)
    }

    /// Why a side stopped measuring.
    struct Unexpected: Error, CustomStringConvertible {
        var description: String
    }

    /// Where the protocol side's port writes go: counted, so every exit is known to have arrived.
    final class CountingPorts: VMOperations, @unchecked Sendable {
        // @unchecked: used from the measuring thread only.
        var writes = 0
        func pioRead(port: UInt16, size: Int) -> UInt64 { 0 }
        func pioWrite(port: UInt16, size: Int, value: UInt64) { writes &+= 1 }
        func mmioRead(address: UInt64, size: Int) -> UInt64 { 0 }
        func mmioWrite(address: UInt64, size: Int, value: UInt64) {}
    }

    /// The guest through the Hypervisor protocols.
    final class ProtocolSide {
        let ram: AlignedBuffer
        let vm: KVMVirtualMachine
        let cpu: KVMVirtualCPU
        let ports = CountingPorts()

        init() throws {
            ram = try ExitBench.guestRAM()
            vm = try KVMHypervisor().createVirtualMachine()
            try vm.mapMemory(
                slot: 0, guestAddress: 0, size: UInt64(ExitBench.guestMemory), hostAddress: ExitBench.hostAddress(ram),
                flags: [])
            cpu = try vm.createVirtualCPU(id: 0, operations: ports)
            var sregs = try cpu.specialRegisters()
            sregs.cs.base = 0
            sregs.cs.selector = 0
            try cpu.setSpecialRegisters(sregs)
            try cpu.setStandardRegisters(StandardRegisters(rip: ExitBench.guestEntry, rsp: 0x7000))
        }

        /// Nanoseconds per exit over `exits` exits.
        func measure(exits: Int) throws -> Double {
            let before = ports.writes
            let perExit = try ExitBench.nanosecondsPerExit(exits) {
                guard case .ioHandled = try cpu.run() else { throw Unexpected(description: "ours: not a port exit") }
            }
            let arrived = ports.writes - before
            guard arrived == exits else { throw Unexpected(description: "ours: \(arrived) of \(exits) writes arrived") }
            return perExit
        }
    }

    /// The guest on raw KVMIoctls.
    final class DirectSide {
        let ram: AlignedBuffer
        let vm: VM
        let vcpu: VCPU
        var sum: UInt64 = 0

        init() throws {
            ram = try ExitBench.guestRAM()
            vm = try KVM().createVM()
            try vm.setUserMemoryRegion(
                MemoryRegion(
                    slot: 0, guestAddress: 0, size: UInt64(ExitBench.guestMemory),
                    hostAddress: ExitBench.hostAddress(ram)))
            vcpu = try vm.createVCPU(id: 0)
            var sregs = try vcpu.specialRegisters()
            sregs.cs.base = 0
            sregs.cs.selector = 0
            try vcpu.setSpecialRegisters(sregs)
            var regs = kvm_regs()
            regs.rip = ExitBench.guestEntry
            regs.rsp = 0x7000
            regs.rflags = 0x2
            try vcpu.setRegisters(regs)
        }

        /// Nanoseconds per exit over `exits` exits.
        func measure(exits: Int) throws -> Double {
            try ExitBench.nanosecondsPerExit(exits) {
                guard case .ioOut(port: 0x80, let data) = try vcpu.run() else {
                    throw Unexpected(description: "peer: not a port 0x80 write")
                }
                sum &+= data.value
            }
        }
    }
}
