// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Dispatch
import Glibc
import Hypervisor
import KVMIoctls
import Synchronization
import Testing
import VMDevice
import VMMSysUtil
import X86Machine

/// A VM with the in-kernel irqchip (PIC, IOAPIC, LAPICs), or nil after a loud skip.
func irqchipVMOrSkip(_ test: String = #function) throws -> KVMVirtualMachine? {
    guard let hypervisor = openHypervisorOrSkip(test) else { return nil }
    let vm = try hypervisor.createVirtualMachine()
    try vm.createInterruptController()
    return vm
}

/// What a non-blocking read of an eventfd finds: its counter, or nil when it is empty (EAGAIN).
func counter(_ event: borrowing EventFd) -> UInt64? {
    do {
        return try event.wait()
    } catch {
        #expect(error.errno == .wouldBlock, "reading the eventfd failed: \(error)")
        return nil
    }
}

/// What the eventfd of interrupt `index` holds (nil: empty), read through the group.
func pending(_ group: KVMLegacyInterruptGroup, _ index: Int) -> UInt64? {
    group.withNotifier(index: index) { counter($0) } ?? nil
}

/// What the eventfd of vector `index` holds (nil: empty), read through the group.
func pending(_ group: KVMMSIInterruptGroup, _ index: Int) -> UInt64? {
    group.withNotifier(index: index) { counter($0) } ?? nil
}

/// `KVM_GET_IRQCHIP` of the 8259 PIC: the interrupt request register of the master
/// (`slave: false`, IRQ 0-7) or the slave (IRQ 8-15). An edge latches its bit there
/// until the guest acknowledges it.
func picIRR(_ vm: KVMVirtualMachine, slave: Bool = false) throws -> UInt8 {
    var chip = kvm_irqchip()
    chip.chip_id = slave ? 1 : 0
    // SAFETY: `chip` is a whole kvm_irqchip, the struct KVM_GET_IRQCHIP reads and writes.
    let result = withUnsafeMutablePointer(to: &chip) {
        ioctl(vm.vm.descriptor.rawValue, KVMB_GET_IRQCHIP, UnsafeMutableRawPointer($0))
    }
    if result < 0 { throw SystemError.current("KVM_GET_IRQCHIP") }
    return chip.chip.pic.irr
}

/// Whether bit `vector` of the local APIC's interrupt request register is set (KVM_GET_LAPIC).
func lapicRequested(_ cpu: some VirtualCPU, vector: UInt8) throws -> Bool {
    let page = try cpu.localAPIC().registers
    let offset = 0x200 + Int(vector / 32) * 0x10  // IRR words end at 0x270
    let word = (0..<4).reduce(UInt32(0)) { $0 | UInt32(page[offset + $1]) << (8 * UInt32($1)) }
    return word & (1 << UInt32(vector % 32)) != 0
}

/// Software-enables vCPU 0's local APIC (SVR bit 8), which drops fixed interrupts while disabled.
func enableLAPIC(_ cpu: some VirtualCPU) throws {
    var apic = try cpu.localAPIC()
    apic.registers.replaceSubrange(0xF0..<0xF4, with: [0xFF, 0x01, 0, 0])  // SVR: enabled, spurious 0xff
    try cpu.setLocalAPIC(apic)
}

/// Polls `condition` for up to `milliseconds`: irqchip (PIC/IOAPIC) injection runs on a
/// kernel workqueue after the eventfd write returns.
func eventually(milliseconds: Int = 5000, _ condition: () throws -> Bool) rethrows -> Bool {
    for _ in 0..<milliseconds {
        if try condition() { return true }
        usleep(1000)
    }
    return try condition()
}

/// An MSI message to local APIC 0, fixed delivery, edge, `vector`.
func msi(vector: UInt8) -> MSIMessage { MSIMessage(address: 0xFEE0_0000, data: UInt32(vector)) }

@Suite(.serialized) struct LegacyInterruptGroupTests {
    @Test func aTriggerIsTakenByTheKernelAndLatchedInThePIC() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let group = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 4)])
        #expect(group.count == 1)
        #expect(!group.isEnabled)
        #expect(try picIRR(vm) & (1 << 4) == 0)

        // Disabled: the trigger is refused, and a direct write stays in the eventfd: nobody listens.
        #expect(throws: InterruptError.disabled) { try group.trigger(index: 0) }
        #expect(pending(group, 0) == nil)
        try group.withNotifier(index: 0) { (event) throws(SystemError) in try event.signal() }
        #expect(pending(group, 0) == 1)

        try group.enable()
        #expect(group.isEnabled)
        try group.trigger(index: 0)
        // KVM's irqfd consumed the counter as it took the interrupt ...
        #expect(pending(group, 0) == nil)
        // ... and the edge reached PIC master IRQ 4 (GSI 4's default route).
        #expect(try eventually { try picIRR(vm) & (1 << 4) != 0 })
        #expect(try picIRR(vm) & ~UInt8(1 << 4) == 0)
    }

    @Test func enableDrainsWhatAccumulatedWhileDisabled() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let group = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 5)])
        try group.withNotifier(index: 0) { (event) throws(SystemError) in try event.signal(3) }
        try group.enable()
        #expect(pending(group, 0) == nil)
        usleep(50_000)  // an injection would be queued by now; none is
        #expect(try picIRR(vm) & (1 << 5) == 0)
    }

    @Test func aMaskedLineWritesNothingAndAnExternalWriteWaitsForTheUnmask() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let group = try KVMLegacyInterruptGroup(
            vm: vm, lines: [LegacyInterruptLine(pin: 3), LegacyInterruptLine(pin: 6)])
        try group.enable()
        try group.update(index: 1, route: .legacy(LegacyInterruptLine(pin: 6)), masked: true)
        try group.trigger(index: 1)  // dropped
        #expect(pending(group, 1) == nil)

        // Another producer (say a vhost backend) writes while masked: the irqfd is detached,
        // so the count stays pending ...
        try group.withNotifier(index: 1) { (event) throws(SystemError) in try event.signal() }
        usleep(50_000)
        #expect(try picIRR(vm) & (1 << 6) == 0)
        // ... and KVM delivers it when the line is unmasked and its irqfd registered again.
        try group.update(index: 1, route: .legacy(LegacyInterruptLine(pin: 6)), masked: false)
        #expect(try eventually { try picIRR(vm) & (1 << 6) != 0 })

        // The other line was untouched by all this.
        #expect(try picIRR(vm) & (1 << 3) == 0)
        try group.trigger(index: 0)
        #expect(pending(group, 0) == nil)
        #expect(try eventually { try picIRR(vm) & (1 << 3) != 0 })
    }

    @Test func reroutingAnEnabledLineMovesItsIRQFdToTheNewGSI() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let group = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 4)])
        try group.enable()
        try group.update(index: 0, route: .legacy(LegacyInterruptLine(pin: 10)), masked: false)
        #expect(group.line(index: 0) == LegacyInterruptLine(pin: 10))
        try group.trigger(index: 0)
        #expect(pending(group, 0) == nil)
        // GSI 10 is PIC slave IRQ 2; GSI 4 saw nothing.
        #expect(try eventually { try picIRR(vm, slave: true) & (1 << 2) != 0 })
        #expect(try picIRR(vm) & (1 << 4) == 0)
        // The eventfd is registered on GSI 10 and nowhere else: KVM refuses a second
        // registration of the same eventfd while one exists, and accepts it once we detach it.
        try group.withNotifier(index: 0) { (event) throws(KVMError) in
            #expect(throws: KVMError("KVM_IRQFD", .system(Errno(rawValue: EBUSY)))) {
                try vm.vm.registerIRQFd(event, gsi: 4)
            }
        }
        try group.disable()
        try group.withNotifier(index: 0) { (event) throws(KVMError) in
            try vm.vm.registerIRQFd(event, gsi: 4)
            try vm.vm.unregisterIRQFd(event, gsi: 4)
        }
    }

    @Test func enablingAndDisablingTwiceIsHarmless() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let group = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 7)])
        try group.enable()
        try group.enable()
        try group.trigger(index: 0)
        #expect(pending(group, 0) == nil)
        try group.disable()
        try group.disable()
        #expect(!group.isEnabled)
        #expect(throws: InterruptError.disabled) { try group.trigger(index: 0) }
        // Detached: a direct write now stays in the counter.
        try group.withNotifier(index: 0) { (event) throws(SystemError) in try event.signal() }
        #expect(pending(group, 0) == 1)
        // And it can come back.
        try group.enable()
        try group.trigger(index: 0)
        #expect(pending(group, 0) == nil)
    }

    @Test func badIndicesAndRoutesAreTypedErrors() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let group = try KVMLegacyInterruptGroup(
            vm: vm, lines: [LegacyInterruptLine(pin: 4), LegacyInterruptLine(pin: 3)])
        try group.enable()
        for index in [-1, 2, Int.max, Int.min] {
            #expect(throws: InterruptError.indexOutOfRange(index: index, count: 2)) {
                try group.trigger(index: index)
            }
            #expect(throws: InterruptError.indexOutOfRange(index: index, count: 2)) {
                try group.update(index: index, route: .legacy(LegacyInterruptLine(pin: 4)), masked: false)
            }
            #expect(group.withNotifier(index: index) { _ in 1 } == nil)
            #expect(group.eventDescriptor(index: index) == nil)
            #expect(group.line(index: index) == nil)
        }
        // The descriptor handed to a vhost-user back-end is the line's own irqfd.
        let direct: any EventInterruptSourceGroup = group
        #expect(direct.eventDescriptor(index: 1) == group.withNotifier(index: 1) { $0.descriptor.rawValue })
        #expect(direct.eventDescriptor(index: 0) != direct.eventDescriptor(index: 1))
        // MSI routes, other controllers and pins without an irqchip route are refused,
        // and the line keeps working on its old GSI.
        let refused: [InterruptRoute] = [
            .msi(msi(vector: 0x41)), .legacy(LegacyInterruptLine(pin: 24)),
            .legacy(LegacyInterruptLine(pin: UInt32.max)), .legacy(LegacyInterruptLine(controller: 1, pin: 4)),
        ]
        for route in refused {
            #expect(throws: InterruptError.unsupportedRoute) { try group.update(index: 0, route: route, masked: false) }
        }
        #expect(group.line(index: 0) == LegacyInterruptLine(pin: 4))
        try group.trigger(index: 0)
        #expect(pending(group, 0) == nil)
        #expect(try eventually { try picIRR(vm) & (1 << 4) != 0 })

        // A VMM bug at construction is a HypervisorError naming the type.
        #expect(throws: HypervisorError.self) { _ = try KVMLegacyInterruptGroup(vm: vm, lines: []) }
        #expect(throws: HypervisorError.self) {
            _ = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 99)])
        }
        let wider = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 30)], allowedGSIs: 0..<48)
        #expect(wider.line(index: 0) == LegacyInterruptLine(pin: 30))
    }

    @Test func withoutAnIRQChipEnableFailsWithKVMsErrnoAndStaysDisabled() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let vm = try hypervisor.createVirtualMachine()  // no KVM_CREATE_IRQCHIP
        let group = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 4)])
        #expect(throws: InterruptError.backend(code: EINVAL)) { try group.enable() }
        #expect(!group.isEnabled)
        #expect(throws: InterruptError.disabled) { try group.trigger(index: 0) }
        try group.disable()
    }

    @Test func severalThreadsTriggerWhileAnotherMasksAndReroutes() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let group = try KVMLegacyInterruptGroup(
            vm: vm, lines: (0..<4).map { LegacyInterruptLine(pin: UInt32(3 + $0)) })
        try group.enable()
        let failures = Atomic<Int>(0)
        let triggers = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 5) { worker in
            for round in 0..<400 {
                if worker == 4 {
                    // The configuring thread: mask, move and restore line 3.
                    let pin = UInt32(round % 2 == 0 ? 14 : 6)
                    do {
                        try group.update(
                            index: 3, route: .legacy(LegacyInterruptLine(pin: pin)), masked: round % 3 == 0)
                    } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                } else {
                    do {
                        try group.trigger(index: (worker + round) % 4)
                        triggers.add(1, ordering: .relaxed)
                    } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(triggers.load(ordering: .relaxed) == 4 * 400)
        // Every unmasked line ends registered and consuming; line 3 ends on its last route.
        try group.update(index: 3, route: .legacy(LegacyInterruptLine(pin: 6)), masked: false)
        for index in 0..<4 {
            _ = pending(group, index)  // whatever raced with a mask is pending here
            try group.trigger(index: index)
            #expect(pending(group, index) == nil)
        }
    }
}

@Suite(.serialized) struct MSIInterruptGroupTests {
    @Test func theDefaultX86RoutesAreTheKernelsForty() {
        let routes = KVMGSIRoutingTable.x86DefaultRoutes
        #expect(routes.count == 16 * 2 + 8)
        #expect(routes.contains(.irqchip(gsi: 0, chip: 2, pin: 0)))
        #expect(routes.contains(.irqchip(gsi: 0, chip: 0, pin: 0)))
        #expect(routes.contains(.irqchip(gsi: 9, chip: 2, pin: 9)))
        #expect(routes.contains(.irqchip(gsi: 9, chip: 1, pin: 1)))
        #expect(routes.contains(.irqchip(gsi: 23, chip: 2, pin: 23)))
        #expect(
            !routes.contains { if case .irqchip(let gsi, let chip, _) = $0 { gsi >= 16 && chip != 2 } else { true } })
    }

    @Test func vectorsGetGSIsAboveTheIOAPICAndTheKernelTakesTheirMSIs() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let cpu = try vm.createVirtualCPU(id: 0, operations: nil)
        try enableLAPIC(cpu)
        let routing = try KVMGSIRoutingTable(vm: vm)
        let net = try KVMMSIInterruptGroup(routing: routing, count: 3)
        let block = try KVMMSIInterruptGroup(routing: routing, count: 2)
        #expect(net.gsis == [24, 25, 26])
        #expect(block.gsis == [27, 28])
        #expect(routing.allocatedCount == 5)

        try net.update(index: 0, route: .msi(msi(vector: 0x41)), masked: false)
        try block.update(index: 1, route: .msi(msi(vector: 0x52)), masked: false)
        #expect(routing.routes == KVMGSIRoutingTable.x86DefaultRoutes)  // disabled groups push nothing
        try net.enable()
        try block.enable()
        #expect(
            routing.routes
                == KVMGSIRoutingTable.x86DefaultRoutes + [
                    .msi(gsi: 24, address: 0xFEE0_0000, data: 0x41), .msi(gsi: 28, address: 0xFEE0_0000, data: 0x52),
                ])

        try net.trigger(index: 0)
        #expect(pending(net, 0) == nil)
        #expect(try eventually { try lapicRequested(cpu, vector: 0x41) })
        try block.trigger(index: 1)
        #expect(pending(block, 1) == nil)
        #expect(try eventually { try lapicRequested(cpu, vector: 0x52) })

        // The guest reprograms vector 0: the route is rewritten in KVM.
        try net.update(index: 0, route: .msi(msi(vector: 0x63)), masked: false)
        #expect(routing.message(gsi: 24) == msi(vector: 0x63))
        try net.trigger(index: 0)
        #expect(pending(net, 0) == nil)
        #expect(try eventually { try lapicRequested(cpu, vector: 0x63) })

        // The MSI pushes kept the irqchip routes: a legacy line still reaches the PIC.
        let serial = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 4)])
        try serial.enable()
        try serial.trigger(index: 0)
        #expect(try eventually { try picIRR(vm) & (1 << 4) != 0 })
    }

    @Test func aTableWithoutTheDefaultRoutesSilencesLegacyLines() throws {
        // Why the table carries the irqchip routes: replace them and GSI 3 goes nowhere.
        guard let vm = try irqchipVMOrSkip() else { return }
        let routing = try KVMGSIRoutingTable(vm: vm, fixedRoutes: [])
        let group = try KVMMSIInterruptGroup(routing: routing, count: 1)
        try group.update(index: 0, route: .msi(msi(vector: 0x41)), masked: false)
        try group.enable()
        let serial = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 3)])
        try serial.enable()
        try serial.trigger(index: 0)
        #expect(pending(serial, 0) == nil)  // the irqfd still took it ...
        usleep(100_000)
        #expect(try picIRR(vm) & (1 << 3) == 0)  // ... but no chip got it
    }

    @Test func maskedAndUnprogrammedVectorsWriteNothingAndPendingWritesArriveOnUnmask() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let cpu = try vm.createVirtualCPU(id: 0, operations: nil)
        try enableLAPIC(cpu)
        let routing = try KVMGSIRoutingTable(vm: vm)
        let group = try KVMMSIInterruptGroup(routing: routing, count: 2)
        try group.enable()
        try group.trigger(index: 1)  // never programmed: dropped
        #expect(pending(group, 1) == nil)
        try group.update(index: 0, route: .msi(msi(vector: 0x44)), masked: true)
        try group.trigger(index: 0)  // masked: dropped
        #expect(pending(group, 0) == nil)
        #expect(try !lapicRequested(cpu, vector: 0x44))

        try group.withNotifier(index: 0) { (event) throws(SystemError) in try event.signal() }
        usleep(50_000)
        #expect(try !lapicRequested(cpu, vector: 0x44))
        try group.update(index: 0, route: .msi(msi(vector: 0x44)), masked: false)
        #expect(try eventually { try lapicRequested(cpu, vector: 0x44) })
    }

    @Test func disableRemovesTheRoutesAndEnableRestoresThem() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let routing = try KVMGSIRoutingTable(vm: vm)
        let group = try KVMMSIInterruptGroup(routing: routing, count: 2)
        try group.update(index: 1, route: .msi(msi(vector: 0x45)), masked: false)
        try group.enable()
        try group.enable()
        #expect(routing.routes.count == 41)
        try group.disable()
        try group.disable()
        #expect(routing.routes == KVMGSIRoutingTable.x86DefaultRoutes)
        #expect(throws: InterruptError.disabled) { try group.trigger(index: 1) }
        try group.withNotifier(index: 1) { (event) throws(SystemError) in try event.signal() }
        #expect(pending(group, 1) == 1)  // detached
        // Reprogramming while disabled is kept for the next enable, without a push.
        try group.update(index: 1, route: .msi(msi(vector: 0x46)), masked: false)
        #expect(routing.routes == KVMGSIRoutingTable.x86DefaultRoutes)
        try group.enable()
        #expect(routing.message(gsi: group.gsis[1]) == msi(vector: 0x46))
        try group.trigger(index: 1)
        #expect(pending(group, 1) == nil)
    }

    @Test func badIndicesRoutesAndHostileMessagesAreTypedErrors() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let routing = try KVMGSIRoutingTable(vm: vm)
        let group = try KVMMSIInterruptGroup(routing: routing, count: 2)
        try group.enable()
        for index in [-1, 2, Int.max] {
            #expect(throws: InterruptError.indexOutOfRange(index: index, count: 2)) { try group.trigger(index: index) }
            #expect(throws: InterruptError.indexOutOfRange(index: index, count: 2)) {
                try group.update(index: index, route: .msi(msi(vector: 0x41)), masked: false)
            }
            #expect(group.withNotifier(index: index) { _ in 1 } == nil)
            #expect(group.eventDescriptor(index: index) == nil)
        }
        #expect(group.eventDescriptor(index: 0) == group.withNotifier(index: 0) { $0.descriptor.rawValue })
        #expect(throws: InterruptError.unsupportedRoute) {
            try group.update(index: 0, route: .legacy(LegacyInterruptLine(pin: 4)), masked: false)
        }
        // Whatever a guest writes into an MSI-X table entry: KVM takes it or refuses it
        // with an errno, and a refused message leaves the vector as it was.
        try group.update(index: 0, route: .msi(msi(vector: 0x41)), masked: false)
        let hostile: [MSIMessage] = [
            MSIMessage(address: 0, data: 0), MSIMessage(address: UInt64.max, data: UInt32.max),
            MSIMessage(address: 0xFEE0_0000, data: 0x0700),  // ExtINT delivery mode, vector 0
            MSIMessage(address: 0xDEAD_BEEF_0000_0000, data: 0xFF, deviceID: 7),
        ]
        for message in hostile {
            do {
                try group.update(index: 0, route: .msi(message), masked: false)
                #expect(routing.message(gsi: group.gsis[0]) == message)
            } catch {
                guard case .backend(let code) = error else {
                    Issue.record("unexpected \(error)")
                    continue
                }
                #expect(code > 0)
                #expect(routing.message(gsi: group.gsis[0]) != message)
            }
            try group.trigger(index: 0)
            #expect(pending(group, 0) == nil)
        }
    }

    @Test func aMessageKVMRefusesLeavesTheVectorAsItWas() throws {
        // With 32-bit x2APIC IDs (KVM_CAP_X2APIC_API) KVM refuses MSI routes whose upper
        // address bits 0-7 are set: a guest-written value the kernel turns down.
        guard let vm = try irqchipVMOrSkip() else { return }
        guard vm.vm.supports(.x2apicAPI) else {
            print("⚠️ SKIPPED \(#function): KVM_CAP_X2APIC_API unavailable")
            return
        }
        try vm.vm.enableCapability(.x2apicAPI, arguments: [1])  // KVM_X2APIC_API_USE_32BIT_IDS
        let cpu = try vm.createVirtualCPU(id: 0, operations: nil)
        try enableLAPIC(cpu)
        let routing = try KVMGSIRoutingTable(vm: vm)
        let group = try KVMMSIInterruptGroup(routing: routing, count: 1)
        try group.update(index: 0, route: .msi(msi(vector: 0x48)), masked: false)
        try group.enable()
        let refused = MSIMessage(address: 0x1_FEE0_0000, data: 0x49)
        #expect(throws: InterruptError.backend(code: EINVAL)) {
            try group.update(index: 0, route: .msi(refused), masked: false)
        }
        #expect(routing.message(gsi: group.gsis[0]) == msi(vector: 0x48))
        #expect(routing.routes.last == .msi(gsi: group.gsis[0], address: 0xFEE0_0000, data: 0x48))
        try group.trigger(index: 0)
        #expect(pending(group, 0) == nil)
        #expect(try eventually { try lapicRequested(cpu, vector: 0x48) })
        #expect(try !lapicRequested(cpu, vector: 0x49))
    }

    /// End to end: a real-mode guest takes vector 0x41 from the group through its local APIC.
    ///
    /// Guest (as --64, .code16): stores 0000:1100 in IVT[0x41], writes "ready" to port
    /// 0x3f8, then `sti; 1: hlt; jmp 1b`. The handler writes 0x99 to port 0x3f9.
    @Test func aGuestRunsTheHandlerOfTheVectorTheGroupSends() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let kick = try KickSignal(offset: 2)
        try kick.installEmptyHandler()
        let ram = GuestRAM(size: 0x9000)
        ram.load(
            [
                0xC7, 0x06, 0x04, 0x01, 0x00, 0x11,  // movw $0x1100, 0x104   IVT[0x41].offset
                0xC7, 0x06, 0x06, 0x01, 0x00, 0x00,  // movw $0x0, 0x106      IVT[0x41].segment
                0xBA, 0xF8, 0x03,  // mov $0x3f8, %dx
                0xEE,  // out %al, (%dx)      "ready"
                0xFB,  // sti
                0xF4,  // 1: hlt
                0xEB, 0xFD,  // jmp 1b
            ], at: 0x1000)
        ram.load(
            [
                0xBA, 0xF9, 0x03,  // mov $0x3f9, %dx
                0xB0, 0x99,  // mov $0x99, %al
                0xEE,  // out %al, (%dx)      "handled"
                0xF4,  // 1: hlt
                0xEB, 0xFD,  // jmp 1b
            ], at: 0x1100)
        try vm.mapMemory(slot: 0, guestAddress: 0, size: UInt64(ram.size), hostAddress: ram.hostAddress, flags: [])
        let bus = RecordingBus()
        let cpu = try vm.createVirtualCPU(id: 0, operations: bus)
        var sregs = try cpu.specialRegisters()
        sregs.cs.base = 0
        sregs.cs.selector = 0
        try cpu.setSpecialRegisters(sregs)
        try cpu.setStandardRegisters(StandardRegisters(rip: 0x1000, rsp: 0x7000))
        try enableLAPIC(cpu)

        let routing = try KVMGSIRoutingTable(vm: vm)
        let group = try KVMMSIInterruptGroup(routing: routing, count: 2)
        try group.update(index: 1, route: .msi(msi(vector: 0x41)), masked: false)
        try group.enable()

        #expect(try cpu.run() == .ioHandled)
        #expect(bus.events == [.pioWrite(port: 0x3F8, size: 1, value: 0)])
        try group.trigger(index: 1)

        // If the interrupt never came, HLT would wait in the kernel forever: a watchdog
        // kicks the vCPU out after 10 s so the test fails instead of hanging.
        let kicker = try cpu.kicker(signal: kick)
        let done = Atomic<Bool>(false)
        let watchdog = DispatchGroup()
        DispatchQueue.global().async(group: watchdog) {
            for _ in 0..<1000 where !done.load(ordering: .acquiring) { usleep(10_000) }
            if !done.load(ordering: .acquiring) { try? kicker.kick() }
        }
        let exit = try cpu.run()
        done.store(true, ordering: .releasing)
        watchdog.wait()
        #expect(exit == .ioHandled)
        #expect(bus.events.last == .pioWrite(port: 0x3F9, size: 1, value: 0x99))
    }

    @Test func theTableHandsOutEachGSIOnceAndTakesThemBack() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let routing = try KVMGSIRoutingTable(vm: vm, msiGSIs: 24..<28)
        do {
            let first = try KVMMSIInterruptGroup(routing: routing, count: 3)
            try first.update(index: 2, route: .msi(msi(vector: 0x50)), masked: false)
            try first.enable()
            #expect(throws: HypervisorError("GSI allocation", .system(Errno(rawValue: ENOSPC)))) {
                _ = try KVMMSIInterruptGroup(routing: routing, count: 2)
            }
            #expect(routing.allocatedCount == 3)  // the failed group took nothing
            let second = try KVMMSIInterruptGroup(routing: routing, count: 1)
            #expect(second.gsis == [27])
            #expect(throws: HypervisorError.self) { try routing.setRoutes([(gsi: 40, message: msi(vector: 1))]) }
            #expect(throws: HypervisorError.self) { _ = try KVMMSIInterruptGroup(routing: routing, count: 0) }
        }
        // Released groups gave their GSIs and routes back.
        #expect(routing.allocatedCount == 0)
        #expect(routing.routes == KVMGSIRoutingTable.x86DefaultRoutes)
        let again = try KVMMSIInterruptGroup(routing: routing, count: 4)
        #expect(again.gsis == [24, 25, 26, 27])

        // Ranges that collide with the irqchip routes or exceed KVM's limit are refused.
        #expect(throws: HypervisorError.self) { _ = try KVMGSIRoutingTable(vm: vm, msiGSIs: 20..<30) }
        #expect(throws: HypervisorError.self) { _ = try KVMGSIRoutingTable(vm: vm, msiGSIs: 24..<100_000) }
        #expect(throws: HypervisorError.self) { _ = try KVMGSIRoutingTable(vm: vm, msiGSIs: 24..<24) }
    }

    @Test func severalThreadsTriggerWhileAnotherReprogramsAndMasks() throws {
        guard let vm = try irqchipVMOrSkip() else { return }
        let cpu = try vm.createVirtualCPU(id: 0, operations: nil)
        try enableLAPIC(cpu)
        let routing = try KVMGSIRoutingTable(vm: vm)
        let group = try KVMMSIInterruptGroup(routing: routing, count: 4)
        for index in 0..<4 {
            try group.update(index: index, route: .msi(msi(vector: UInt8(0x40 + index))), masked: false)
        }
        try group.enable()
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 5) { worker in
            for round in 0..<200 {
                do {
                    if worker == 4 {
                        let vector = UInt8(round % 2 == 0 ? 0x70 : 0x43)
                        try group.update(index: 3, route: .msi(msi(vector: vector)), masked: round % 3 == 0)
                    } else {
                        try group.trigger(index: (worker + round) % 4)
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        for vector in UInt8(0x40)...0x42 { #expect(try lapicRequested(cpu, vector: vector)) }
        try group.update(index: 3, route: .msi(msi(vector: 0x43)), masked: false)
        for index in 0..<4 {
            _ = pending(group, index)
            try group.trigger(index: index)
            #expect(pending(group, index) == nil)
        }
    }
}
