// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMIoctls
import Synchronization
import VMDevice
import VMMSysUtil

/// The whole GSI routing table of one KVM virtual machine: the fixed irqchip routes
/// plus one MSI route per allocated GSI. Every ``KVMMSIInterruptGroup`` of the VM
/// shares one table.
///
/// Why one shared object: `KVM_SET_GSI_ROUTING` replaces the VM's entire table. A
/// group that pushed only its own routes would erase the routes of every other
/// device and the irqchip routes `KVM_CREATE_IRQCHIP` installed for GSIs 0-23
/// (legacy lines, the PIT, the serial ports would go silent). So one object per VM
/// owns the complete table, hands out GSIs so no two groups collide, and serializes
/// the pushes. Groups only ever change their own GSIs' routes.
///
/// The default fixed routes are the ones the kernel installs with the in-kernel
/// irqchip on x86 (``x86DefaultRoutes``); a VMM with a split irqchip
/// (`KVM_CAP_SPLIT_IRQCHIP`, no in-kernel PIC/IOAPIC) passes `fixedRoutes: []`.
///
/// ```swift
/// let vm = try KVMHypervisor().createVirtualMachine()
/// try vm.createInterruptController()
/// let routing = try KVMGSIRoutingTable(vm: vm, msiGSIs: 24..<1024)  // one per VM
/// let net = try KVMMSIInterruptGroup(routing: routing, count: 3)  // GSIs 24, 25, 26
/// let block = try KVMMSIInterruptGroup(routing: routing, count: 2)  // GSIs 27, 28
/// ```
public final class KVMGSIRoutingTable: Sendable {
    /// The routes KVM installs on x86 when it creates the in-kernel irqchip: GSI 0-15 go to
    /// the IOAPIC pin of the same number and to the 8259 PIC (master for 0-7, slave for
    /// 8-15, pin `gsi % 8`); GSI 16-23 go to the IOAPIC only. Forty entries.
    ///
    /// ```swift
    /// let routes = KVMGSIRoutingTable.x86DefaultRoutes  // 40 entries
    /// routes.contains(.irqchip(gsi: 4, chip: 2, pin: 4))  // true: IOAPIC pin 4
    /// routes.contains(.irqchip(gsi: 4, chip: 0, pin: 4))  // true: PIC master IRQ 4
    /// ```
    public static var x86DefaultRoutes: [IRQRoute] {
        // KVM_IRQCHIP_PIC_MASTER 0, KVM_IRQCHIP_PIC_SLAVE 1, KVM_IRQCHIP_IOAPIC 2.
        var routes: [IRQRoute] = []
        for gsi in UInt32(0)..<24 {
            routes.append(.irqchip(gsi: gsi, chip: 2, pin: gsi))
            if gsi < 16 { routes.append(.irqchip(gsi: gsi, chip: gsi < 8 ? 0 : 1, pin: gsi % 8)) }
        }
        return routes
    }

    /// The first GSI above the x86 IOAPIC's 24 pins, where MSI GSIs usually start.
    public static let x86FirstMSIGSI: UInt32 = 24

    /// The virtual machine whose table this is.
    public let vm: KVMVirtualMachine
    /// The irqchip routes every push keeps.
    public let fixedRoutes: [IRQRoute]
    /// The GSIs ``allocate(count:)`` hands out.
    public let msiGSIs: Range<UInt32>

    private struct State {
        var allocated: Set<UInt32> = []
        var messages: [UInt32: MSIMessage] = [:]
    }
    private let state = Mutex(State())

    /// Creates the table of `vm`. Nothing reaches KVM until the first route is set, so
    /// the kernel's defaults stay in force until then.
    ///
    /// Throws `invalidArgument` when `msiGSIs` overlaps a fixed route's GSI or does not fit
    /// under the VM's routing limit (`KVM_CAP_IRQ_ROUTING`, 4096 entries on x86), and
    /// `unsupported` when the host has no GSI routing.
    public init(
        vm: KVMVirtualMachine, msiGSIs: Range<UInt32> = KVMGSIRoutingTable.x86FirstMSIGSI..<1024,
        fixedRoutes: [IRQRoute] = KVMGSIRoutingTable.x86DefaultRoutes
    ) throws(HypervisorError) {
        let limit = vm.vm.check(.irqRouting)
        guard limit > 0 else { throw HypervisorError("KVM_SET_GSI_ROUTING", .unsupported("KVM_CAP_IRQ_ROUTING")) }
        guard !msiGSIs.isEmpty, msiGSIs.upperBound <= limit, fixedRoutes.count + msiGSIs.count <= limit else {
            throw HypervisorError(
                "KVMGSIRoutingTable", .invalidArgument("MSI GSIs \(msiGSIs) do not fit in \(limit) routes"))
        }
        for route in fixedRoutes where msiGSIs.contains(route.gsi) || route.gsi >= limit {
            throw HypervisorError(
                "KVMGSIRoutingTable", .invalidArgument("fixed route for GSI \(route.gsi) collides with \(msiGSIs)"))
        }
        self.vm = vm
        self.fixedRoutes = fixedRoutes
        self.msiGSIs = msiGSIs
    }

    /// Takes `count` free GSIs from ``msiGSIs`` (lowest first), or none: throws `ENOSPC`
    /// when fewer are free. They carry no route until ``setRoutes(_:)``.
    public func allocate(count: Int) throws(HypervisorError) -> [UInt32] {
        guard count >= 0 else { throw HypervisorError("GSI allocation", .invalidArgument("count \(count) < 0")) }
        let range = msiGSIs
        return try state.withLock { (state) throws(HypervisorError) -> [UInt32] in
            guard count <= range.count - state.allocated.count else {
                throw HypervisorError("GSI allocation", .system(Errno(rawValue: ENOSPC)))
            }
            var taken: [UInt32] = []
            var gsi = range.lowerBound
            while taken.count < count {
                if !state.allocated.contains(gsi) { taken.append(gsi) }
                gsi += 1
            }
            state.allocated.formUnion(taken)
            return taken
        }
    }

    /// Returns GSIs the caller allocated to the pool, removing their routes from KVM first
    /// (one push). GSIs not handed out are ignored; when KVM refuses the push, all stay
    /// allocated. A ``KVMMSIInterruptGroup`` releases its GSIs when it is deallocated.
    public func release(_ gsis: [UInt32]) throws(HypervisorError) {
        try state.withLock { (state) throws(HypervisorError) in
            var updated = state.messages
            for gsi in gsis { updated[gsi] = nil }
            try push(&state, updated)
            state.allocated.subtract(gsis)
        }
    }

    /// Sets (a message) or clears (nil) the MSI routes of allocated GSIs and pushes the
    /// whole table to KVM once. Nothing changes, in this object or in KVM, when a GSI is
    /// not allocated (`invalidArgument`) or KVM refuses the table (its errno).
    ///
    /// `MSIMessage.deviceID` is not passed on: x86 KVM routes MSIs by address and data.
    public func setRoutes(_ routes: [(gsi: UInt32, message: MSIMessage?)]) throws(HypervisorError) {
        try state.withLock { (state) throws(HypervisorError) in
            var updated = state.messages
            for (gsi, message) in routes {
                guard state.allocated.contains(gsi) else {
                    throw HypervisorError("KVMGSIRoutingTable", .invalidArgument("GSI \(gsi) is not allocated"))
                }
                updated[gsi] = message
            }
            try push(&state, updated)
        }
    }

    /// Makes `updated` the MSI routes, pushing fixed + MSI routes to KVM when they changed.
    private func push(_ state: inout State, _ updated: [UInt32: MSIMessage]) throws(HypervisorError) {
        // A guest rewriting an MSI-X entry with the same values costs no ioctl (each push
        // waits for an SRCU grace period in the kernel).
        guard updated != state.messages else { return }
        do {
            try vm.vm.setGSIRouting(fixedRoutes + Self.msiRoutes(updated))
        } catch {
            throw HypervisorError(error)
        }
        state.messages = updated
    }

    private static func msiRoutes(_ messages: [UInt32: MSIMessage]) -> [IRQRoute] {
        messages.sorted { $0.key < $1.key }.map { .msi(gsi: $0.key, address: $0.value.address, data: $0.value.data) }
    }

    /// The complete table this object last pushed (fixed routes, then MSI routes by GSI),
    /// which is what KVM holds once any route has been set.
    public var routes: [IRQRoute] {
        fixedRoutes + state.withLock { Self.msiRoutes($0.messages) }
    }

    /// The MSI message routed to `gsi`, if any.
    public func message(gsi: UInt32) -> MSIMessage? { state.withLock { $0.messages[gsi] } }

    /// GSIs currently handed out.
    public var allocatedCount: Int { state.withLock { $0.allocated.count } }
}

extension IRQRoute {
    /// The GSI this route serves.
    var gsi: UInt32 {
        switch self {
        case .irqchip(let gsi, _, _): gsi
        case .msi(let gsi, _, _): gsi
        }
    }
}
