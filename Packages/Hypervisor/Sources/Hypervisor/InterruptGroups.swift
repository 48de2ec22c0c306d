// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMIoctls
import Synchronization
import VMDevice
import VMMSysUtil

/// The eventfd behind one interrupt of a group; KVM's irqfd listens on it while the
/// interrupt is deliverable.
final class IRQNotifier: Sendable {
    let event: EventFd

    init() throws(SystemError) { event = try EventFd(flags: .nonBlocking) }

    /// Resets the counter, so interrupts signalled while nothing listened are not delivered late.
    func drain() { _ = try? event.wait() }  // EAGAIN: it was already zero
}

extension InterruptError {
    /// A KVM failure as the errno the portable error carries (`ENOSYS` for a missing capability).
    init(_ error: KVMError) { self = .backend(code: error.systemError.errno.rawValue) }

    /// A system call failure as its errno.
    init(_ error: SystemError) { self = .backend(code: error.errno.rawValue) }

    /// A hypervisor failure as an errno (`ENOSYS` unsupported, `EINVAL` refused argument).
    init(_ error: HypervisorError) {
        switch error.reason {
        case .system(let errno): self = .backend(code: errno.rawValue)
        case .unsupported: self = .backend(code: ENOSYS)
        case .invalidArgument: self = .backend(code: EINVAL)
        }
    }
}

/// Checks `index` against a group of `count` interrupts.
private func checkIndex(_ index: Int, _ count: Int) throws(InterruptError) {
    guard index >= 0, index < count else { throw .indexOutOfRange(index: index, count: count) }
}

/// Creates `count` non-blocking eventfds.
private func makeNotifiers(_ count: Int) throws(HypervisorError) -> [IRQNotifier] {
    var notifiers: [IRQNotifier] = []
    for _ in 0..<count {
        do {
            notifiers.append(try IRQNotifier())
        } catch {
            throw HypervisorError("eventfd", .system(error.errno))
        }
    }
    return notifiers
}

/// Legacy interrupt lines (IOAPIC/PIC pins) of one device, delivered through KVM irqfds:
/// each line has its own eventfd, registered on the line's GSI while the group is
/// enabled and the line unmasked, and ``trigger(index:)`` writes that eventfd. The
/// kernel injects an edge on the GSI (all the pins it is routed to: on x86 the IOAPIC
/// pin and, for GSI 0-15, the PIC pin) without a trip through the VMM.
///
/// Needs the in-kernel irqchip (``KVMVirtualMachine/createInterruptController()``):
/// without it ``enable()`` fails with `.backend(code: EINVAL)`.
///
/// A masked line's irqfd is unregistered, not just skipped: ``trigger(index:)`` drops
/// the interrupt, and anything else that writes the eventfd (see
/// ``withNotifier(index:_:)``) leaves it pending in the counter; KVM delivers it when the
/// line is unmasked. ``enable()`` clears what accumulated while the group was disabled.
///
/// Thread-safe: any number of threads may trigger while another updates or disables.
/// A trigger that races with a mask, re-route or disable is delivered (on the old or the
/// new GSI), left pending in the detached eventfd (delivered on unmask, dropped by the
/// next ``enable()``), or refused with `.disabled`; once a call that detaches the irqfd
/// returns, nothing more reaches the GSI it left.
///
/// ```swift
/// let vm = try KVMHypervisor().createVirtualMachine()
/// try vm.createInterruptController()
/// let serial = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 4)])
/// try serial.enable()
/// try serial.trigger(index: 0)  // IRQ 4 on the PIC and IOAPIC
/// try serial.update(index: 0, route: .legacy(LegacyInterruptLine(pin: 3)), masked: false)  // now IRQ 3
/// ```
public final class KVMLegacyInterruptGroup: EventInterruptSourceGroup {
    /// The x86 GSIs with an irqchip route after `KVM_CREATE_IRQCHIP`: the IOAPIC's 24 pins.
    public static let x86LegacyGSIs: Range<UInt32> = 0..<24

    /// The virtual machine the irqfds belong to.
    public let vm: KVMVirtualMachine
    /// The GSIs a line may use; other pins are refused, so a line cannot be pointed at a
    /// GSI with no irqchip route (or at an MSI GSI of another device).
    public let allowedGSIs: Range<UInt32>

    private let notifiers: [IRQNotifier]
    private struct State {
        var enabled = false
        var gsis: [UInt32]
        var masked: [Bool]
        /// The GSI each eventfd is registered on; set exactly when enabled and unmasked.
        var registered: [UInt32?]
    }
    private let state: Mutex<State>

    /// Creates a disabled group of `lines` (unmasked), each with its own eventfd.
    ///
    /// Throws `invalidArgument` for an empty list or a line outside `allowedGSIs` or on a
    /// controller other than 0 (KVM numbers every pin in one GSI space).
    public init(
        vm: KVMVirtualMachine, lines: [LegacyInterruptLine],
        allowedGSIs: Range<UInt32> = KVMLegacyInterruptGroup.x86LegacyGSIs
    ) throws(HypervisorError) {
        guard !lines.isEmpty else {
            throw HypervisorError("KVMLegacyInterruptGroup", .invalidArgument("a group needs at least one line"))
        }
        var gsis: [UInt32] = []
        for line in lines {
            guard let gsi = Self.gsi(of: line, allowed: allowedGSIs) else {
                throw HypervisorError(
                    "KVMLegacyInterruptGroup",
                    .invalidArgument("line \(line.controller):\(line.pin) is not a GSI in \(allowedGSIs)"))
            }
            gsis.append(gsi)
        }
        self.vm = vm
        self.allowedGSIs = allowedGSIs
        notifiers = try makeNotifiers(lines.count)
        state = Mutex(
            State(
                gsis: gsis, masked: Array(repeating: false, count: gsis.count),
                registered: Array(repeating: nil, count: gsis.count)))
    }

    deinit {
        // Closing the eventfds would also detach them, but asynchronously; detach now.
        state.withLock { state in
            for index in notifiers.indices {
                if let gsi = state.registered[index] { try? vm.vm.unregisterIRQFd(notifiers[index].event, gsi: gsi) }
            }
        }
    }

    private static func gsi(of line: LegacyInterruptLine, allowed: Range<UInt32>) -> UInt32? {
        line.controller == 0 && allowed.contains(line.pin) ? line.pin : nil
    }

    /// Number of lines.
    public var count: Int { notifiers.count }

    /// Whether the group is enabled.
    public var isEnabled: Bool { state.withLock { $0.enabled } }

    /// Where line `index` currently goes, or nil for an index outside the group.
    public func line(index: Int) -> LegacyInterruptLine? {
        guard index >= 0, index < count else { return nil }
        return LegacyInterruptLine(pin: state.withLock { $0.gsis[index] })
    }

    /// Runs `body` with the eventfd of line `index` (nil for an index outside the group),
    /// for a producer that signals it directly, for example a vhost backend's call fd.
    /// The eventfd lives as long as the group.
    @discardableResult
    public func withNotifier<R, E: Error>(index: Int, _ body: (borrowing EventFd) throws(E) -> R) throws(E) -> R? {
        guard index >= 0, index < count else { return nil }
        return try body(notifiers[index].event)
    }

    /// The eventfd of interrupt `index` as a raw descriptor (nil outside the group), to send
    /// to a vhost-user back-end as its call descriptor. The group keeps it open.
    public func eventDescriptor(index: Int) -> Int32? {
        withNotifier(index: index) { $0.descriptor.rawValue }
    }

    /// Registers the irqfd of every unmasked line. All or nothing: on failure nothing
    /// stays registered and the group stays disabled. Enabling twice does nothing.
    public func enable() throws(InterruptError) {
        try state.withLock { (state) throws(InterruptError) in
            guard !state.enabled else { return }
            for notifier in notifiers { notifier.drain() }
            state.enabled = true
            do throws(InterruptError) {
                for index in notifiers.indices { try reconcile(&state, index) }
            } catch {
                state.enabled = false
                for index in notifiers.indices { try? reconcile(&state, index) }
                throw error
            }
        }
    }

    /// Unregisters every irqfd; later triggers throw `.disabled`. Disabling twice does nothing.
    public func disable() throws(InterruptError) {
        try state.withLock { (state) throws(InterruptError) in
            guard state.enabled else { return }
            state.enabled = false
            var failure: InterruptError?
            for index in notifiers.indices {
                do throws(InterruptError) { try reconcile(&state, index) } catch { failure = failure ?? error }
            }
            if let failure { throw failure }
        }
    }

    /// Moves line `index` to another legacy line and sets its mask. While enabled, the
    /// eventfd is re-registered on the new GSI (or unregistered when masked). On failure
    /// the line keeps its previous route and mask.
    ///
    /// Throws `.unsupportedRoute` for an MSI route, a controller other than 0 or a pin
    /// outside ``allowedGSIs``.
    public func update(index: Int, route: InterruptRoute, masked: Bool) throws(InterruptError) {
        try checkIndex(index, count)
        guard case .legacy(let line) = route, let gsi = Self.gsi(of: line, allowed: allowedGSIs) else {
            throw .unsupportedRoute
        }
        try state.withLock { (state) throws(InterruptError) in
            let (oldGSI, oldMasked) = (state.gsis[index], state.masked[index])
            state.gsis[index] = gsi
            state.masked[index] = masked
            do throws(InterruptError) {
                try reconcile(&state, index)
            } catch {
                (state.gsis[index], state.masked[index]) = (oldGSI, oldMasked)
                try? reconcile(&state, index)
                throw error
            }
        }
    }

    /// Asserts line `index` (an edge): writes its eventfd, which the kernel consumes as it
    /// injects. Dropped while the line is masked; `.disabled` while the group is.
    public func trigger(index: Int) throws(InterruptError) {
        try checkIndex(index, count)
        let listening = try state.withLock { (state) throws(InterruptError) -> Bool in
            guard state.enabled else { throw .disabled }
            return state.registered[index] != nil
        }
        guard listening else { return }  // masked
        // Written outside the lock so triggers of different lines do not serialize; if a
        // mask or disable slips in between, the count stays pending in the unregistered eventfd.
        do {
            try notifiers[index].event.signal()
        } catch {
            throw InterruptError(error)
        }
    }

    /// Brings the registration of line `index` in line with the state; on failure the
    /// recorded registration still matches the kernel's.
    private func reconcile(_ state: inout State, _ index: Int) throws(InterruptError) {
        let wanted: UInt32? = state.enabled && !state.masked[index] ? state.gsis[index] : nil
        guard wanted != state.registered[index] else { return }
        do {
            if let current = state.registered[index] {
                try vm.vm.unregisterIRQFd(notifiers[index].event, gsi: current)
                state.registered[index] = nil
            }
            if let wanted {
                try vm.vm.registerIRQFd(notifiers[index].event, gsi: wanted)
                state.registered[index] = wanted
            }
        } catch {
            throw InterruptError(error)
        }
    }
}

/// The MSI or MSI-X vectors of one device, delivered through KVM irqfds on GSIs with
/// MSI routes: each vector gets a GSI from the VM's shared ``KVMGSIRoutingTable`` and an
/// eventfd, registered on that GSI while the group is enabled, the vector unmasked and
/// its message programmed. ``update(index:route:masked:)`` rewrites the vector's route
/// in the table (one `KVM_SET_GSI_ROUTING`, skipped when the message did not change).
///
/// Vectors start masked with no message, as MSI-X table entries do after reset; a
/// vector without a message drops its triggers like a masked one. Masking unregisters
/// the irqfd, so writes by other producers stay pending in the eventfd and are
/// delivered on unmask (the MSI-X pending bit); ``trigger(index:)`` itself drops
/// interrupts while masked. ``enable()`` pushes the programmed routes and registers
/// the irqfds; ``disable()`` undoes both. The GSIs go back to the table when the
/// group is released.
///
/// Thread-safe, with the same race rules as ``KVMLegacyInterruptGroup``.
///
/// ```swift
/// let routing = try KVMGSIRoutingTable(vm: vm)  // once per VM, after the irqchip
/// let msix = try KVMMSIInterruptGroup(routing: routing, count: 2)
/// // The guest programs vector 0: destination APIC 0, vector 0x41, fixed, edge.
/// try msix.update(index: 0, route: .msi(MSIMessage(address: 0xFEE0_0000, data: 0x41)), masked: false)
/// try msix.enable()  // MSI-X Enable set in the capability
/// try msix.trigger(index: 0)
/// ```
public final class KVMMSIInterruptGroup: EventInterruptSourceGroup {
    /// The VM's routing table the GSIs come from.
    public let routing: KVMGSIRoutingTable
    /// The GSI of each vector, fixed for the group's lifetime.
    public let gsis: [UInt32]

    private let notifiers: [IRQNotifier]
    private struct State {
        var enabled = false
        var messages: [MSIMessage?]
        var masked: [Bool]
        /// Set exactly when enabled, unmasked and programmed.
        var registered: [Bool]
    }
    private let state: Mutex<State>

    /// Allocates `count` GSIs from `routing` and one eventfd per vector; the group starts
    /// disabled with every vector masked. Throws `ENOSPC` when the table has too few free
    /// GSIs, `invalidArgument` for a count below 1.
    public init(routing: KVMGSIRoutingTable, count: Int) throws(HypervisorError) {
        guard count > 0 else {
            throw HypervisorError("KVMMSIInterruptGroup", .invalidArgument("a group needs at least one vector"))
        }
        let gsis = try routing.allocate(count: count)
        let notifiers: [IRQNotifier]
        do {
            notifiers = try makeNotifiers(count)
        } catch {
            try? routing.release(gsis)
            throw error
        }
        self.routing = routing
        self.gsis = gsis
        self.notifiers = notifiers
        state = Mutex(
            State(
                messages: Array(repeating: nil, count: count), masked: Array(repeating: true, count: count),
                registered: Array(repeating: false, count: count)))
    }

    deinit {
        state.withLock { state in
            for index in notifiers.indices where state.registered[index] {
                try? routing.vm.vm.unregisterIRQFd(notifiers[index].event, gsi: gsis[index])
            }
        }
        try? routing.release(gsis)
    }

    /// Number of vectors.
    public var count: Int { gsis.count }

    /// Whether the group is enabled.
    public var isEnabled: Bool { state.withLock { $0.enabled } }

    /// Runs `body` with the eventfd of vector `index` (nil for an index outside the group),
    /// for a producer that signals it directly, for example a vhost backend's call fd.
    /// The eventfd lives as long as the group.
    @discardableResult
    public func withNotifier<R, E: Error>(index: Int, _ body: (borrowing EventFd) throws(E) -> R) throws(E) -> R? {
        guard index >= 0, index < count else { return nil }
        return try body(notifiers[index].event)
    }

    /// The eventfd of interrupt `index` as a raw descriptor (nil outside the group), to send
    /// to a vhost-user back-end as its call descriptor. The group keeps it open.
    public func eventDescriptor(index: Int) -> Int32? {
        withNotifier(index: index) { $0.descriptor.rawValue }
    }

    /// Pushes the routes of the programmed vectors, then registers the irqfds of the
    /// programmed, unmasked ones. All or nothing; enabling twice does nothing.
    public func enable() throws(InterruptError) {
        try state.withLock { (state) throws(InterruptError) in
            guard !state.enabled else { return }
            for notifier in notifiers { notifier.drain() }
            var routes: [(gsi: UInt32, message: MSIMessage?)] = []
            for (index, message) in state.messages.enumerated() where message != nil {
                routes.append((gsis[index], message))
            }
            do throws(HypervisorError) {
                try routing.setRoutes(routes)
            } catch {
                throw InterruptError(error)
            }
            state.enabled = true
            do throws(InterruptError) {
                for index in notifiers.indices { try reconcile(&state, index) }
            } catch {
                state.enabled = false
                for index in notifiers.indices { try? reconcile(&state, index) }
                try? routing.setRoutes(gsis.map { ($0, nil) })
                throw error
            }
        }
    }

    /// Unregisters every irqfd and removes the group's routes from the table; later
    /// triggers throw `.disabled`. The programmed messages are kept for the next enable.
    /// Disabling twice does nothing.
    public func disable() throws(InterruptError) {
        try state.withLock { (state) throws(InterruptError) in
            guard state.enabled else { return }
            state.enabled = false
            var failure: InterruptError?
            for index in notifiers.indices {
                do throws(InterruptError) { try reconcile(&state, index) } catch { failure = failure ?? error }
            }
            do throws(HypervisorError) {
                try routing.setRoutes(gsis.map { ($0, nil) })
            } catch {
                failure = failure ?? InterruptError(error)
            }
            if let failure { throw failure }
        }
    }

    /// Programs vector `index` with an MSI message and sets its mask. While enabled, the
    /// route is rewritten in KVM (masking happens before the new route, unmasking after
    /// it); while disabled the message is kept for ``enable()``. On failure the vector
    /// keeps its previous message and mask. KVM decides which messages it accepts; a
    /// refused one is `.backend(code:)` with KVM's errno.
    ///
    /// Throws `.unsupportedRoute` for a legacy route.
    public func update(index: Int, route: InterruptRoute, masked: Bool) throws(InterruptError) {
        try checkIndex(index, count)
        guard case .msi(let message) = route else { throw .unsupportedRoute }
        let gsi = gsis[index]
        try state.withLock { (state) throws(InterruptError) in
            let (oldMessage, oldMasked) = (state.messages[index], state.masked[index])
            do throws(InterruptError) {
                state.masked[index] = masked
                if masked { try reconcile(&state, index) }
                if state.enabled {
                    do throws(HypervisorError) {
                        try routing.setRoutes([(gsi, message)])
                    } catch {
                        throw InterruptError(error)
                    }
                }
                state.messages[index] = message
                try reconcile(&state, index)
            } catch {
                (state.messages[index], state.masked[index]) = (oldMessage, oldMasked)
                if state.enabled { try? routing.setRoutes([(gsi, oldMessage)]) }
                try? reconcile(&state, index)
                throw error
            }
        }
    }

    /// Sends vector `index`: writes its eventfd, which the kernel consumes as it injects
    /// the MSI. Dropped while the vector is masked or unprogrammed; `.disabled` while the
    /// group is.
    public func trigger(index: Int) throws(InterruptError) {
        try checkIndex(index, count)
        let listening = try state.withLock { (state) throws(InterruptError) -> Bool in
            guard state.enabled else { throw .disabled }
            return state.registered[index]
        }
        guard listening else { return }
        do {
            try notifiers[index].event.signal()
        } catch {
            throw InterruptError(error)
        }
    }

    private func reconcile(_ state: inout State, _ index: Int) throws(InterruptError) {
        let wanted = state.enabled && !state.masked[index] && state.messages[index] != nil
        guard wanted != state.registered[index] else { return }
        do {
            if wanted {
                try routing.vm.vm.registerIRQFd(notifiers[index].event, gsi: gsis[index])
            } else {
                try routing.vm.vm.unregisterIRQFd(notifiers[index].event, gsi: gsis[index])
            }
        } catch {
            throw InterruptError(error)
        }
        state.registered[index] = wanted
    }
}
