// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Hypervisor
import Testing
import VMDevice
import X86Machine

/// A long-mode guest that counts to 100, reporting each count on port 0x3f8 with
/// interrupts off, then enables them, leaves once through port 0x3fa (a hypervisor that
/// delivers interrupts only on entry, as PVM's emulator, delivers it there), and reports on port 0x3f9 how many times its
/// vector-0x41 handler ran. Identity-mapped first 2 MiB; GDT at 0x500, IDT at 0x2000,
/// page tables at 0xA000, the handler's counter at 0x9000.
enum CountingGuest {
    static let code: [UInt8] = [
        0xFA,  // cli
        0x31, 0xC9,  // xor %ecx, %ecx
        0x48, 0xFF, 0xC1,  // 1: inc %rcx
        0x66, 0xBA, 0xF8, 0x03,  // mov $0x3f8, %dx
        0x89, 0xC8,  // mov %ecx, %eax
        0xEE,  // out %al, (%dx)          one exit per count
        0x48, 0x83, 0xF9, 0x64,  // cmp $100, %rcx
        0x75, 0xF0,  // jne 1b
        0xFB,  // sti
        0x90,  // nop                     (the STI shadow)
        0x66, 0xBA, 0xFA, 0x03,  // mov $0x3fa, %dx
        0xEE,  // out %al, (%dx)          an exit: interrupts are injected on the way back in at the latest
        0x66, 0xBA, 0xF9, 0x03,  // mov $0x3f9, %dx
        0x48, 0x8B, 0x04, 0x25, 0x00, 0x90, 0x00, 0x00,  // mov 0x9000, %rax
        0xEE,  // out %al, (%dx)          the handler's count
        0xF4,  // hlt
    ]
    static let handler: [UInt8] = [
        0x48, 0xFF, 0x04, 0x25, 0x00, 0x90, 0x00, 0x00,  // incq 0x9000
        0x48, 0xCF,  // iretq
    ]
    static let vector: UInt8 = 0x41

    /// Loads code, handler, GDT, IDT and page tables into `ram`.
    static func load(into ram: GuestRAM) {
        ram.load(code, at: 0x1000)
        ram.load(handler, at: 0x1100)
        for (index, entry) in BootGDT.longMode.entries.enumerated() { ram.store(entry.rawValue, at: 0x500 + index * 8) }
        // An interrupt gate for the vector: offset 0x1100, selector 8, present, DPL 0, type 0xE.
        let gate = 0x2000 + Int(vector) * 16
        ram.store(0x0000_8E00_0008_1100, at: gate)
        ram.store(0, at: gate + 8)
        ram.store(0xB000 | 3, at: 0xA000)  // PML4[0] -> PDPT
        ram.store(0xC000 | 3, at: 0xB000)  // PDPT[0] -> page directory
        ram.store(0x83, at: 0xC000)  // PD[0]: a 2 MiB page at 0, present, writable
    }

    /// Long mode with interrupts off, at the code.
    static func enter(_ cpu: some VirtualCPU) throws(HypervisorError) {
        var special = try cpu.specialRegisters()
        let control = LongModeRegisters(cr3: 0xA000)
        special.cs = BootGDT.longMode.segment(1)
        let data = BootGDT.longMode.segment(2)
        special.ds = data
        special.es = data
        special.ss = data
        special.gdt = DescriptorTable(base: 0x500, limit: BootGDT.longMode.limit)
        special.idt = DescriptorTable(base: 0x2000, limit: 16 * 256 - 1)
        special.cr0 = control.cr0
        special.cr3 = control.cr3
        special.cr4 = control.cr4
        special.efer = control.efer
        try cpu.setSpecialRegisters(special)
        try cpu.setStandardRegisters(StandardRegisters(rip: 0x1000, rsp: 0x8000))
    }
}

@Suite("Save and restore: a running guest moves to a fresh VM through the protocols", .serialized)
struct SaveRestoreTests {
    /// The guest counts to 50 in one VM and gets an interrupt it cannot take yet (IF=0), so
    /// the vector waits in its local APIC. Its vCPU and VM state are saved, restored into a
    /// new VM and vCPU over the same memory, and there it counts on from 51 to 100 and then
    /// takes the interrupt exactly once.
    @Test func aCountingGuestContinuesInAFreshVMWithItsPendingInterrupt() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let ram = GuestRAM(size: 0x10000)
        CountingGuest.load(into: ram)

        let first = try hypervisor.createVirtualMachine()
        try first.createInterruptController()
        try first.createTimer()  // not programmed by the guest: it saves and restores, and stays quiet
        try first.mapMemory(slot: 0, guestAddress: 0, size: UInt64(ram.size), hostAddress: ram.hostAddress, flags: [])
        let bus = RecordingBus()
        let cpu = try first.createVirtualCPU(id: 0, operations: bus)
        _ = try configureBootState(hypervisor, cpu)
        try enableLAPIC(cpu)
        try CountingGuest.enter(cpu)
        for count in 1...50 {
            #expect(try cpu.run() == .ioHandled)
            #expect(bus.events.last == .pioWrite(port: 0x3F8, size: 1, value: UInt64(count)))
        }
        let routing = try KVMGSIRoutingTable(vm: first)
        let group = try KVMMSIInterruptGroup(routing: routing, count: 1)
        try group.update(index: 0, route: .msi(msi(vector: CountingGuest.vector)), masked: false)
        try group.enable()
        try group.trigger(index: 0)
        #expect(try eventually { try lapicRequested(cpu, vector: CountingGuest.vector) }, "the vector is not pending")

        let vcpuState = try cpu.saveState()
        let vmState = try first.saveState()
        #expect(vcpuState.standard.rcx == 50 && vcpuState.multiprocessorState == .runnable)
        #expect(vcpuState.xsave.count == 4096 && !vcpuState.msrs.isEmpty)
        #expect(Set(vmState.platform.map(\.name)) == ["kvm-pic-master", "kvm-pic-slave", "kvm-ioapic", "kvm-pit"])

        let second = try hypervisor.createVirtualMachine()
        try second.createInterruptController()
        try second.createTimer()
        try second.mapMemory(slot: 0, guestAddress: 0, size: UInt64(ram.size), hostAddress: ram.hostAddress, flags: [])
        let moved = RecordingBus()
        let restored = try second.createVirtualCPU(id: 0, operations: moved)
        try second.restoreState(vmState)
        try restored.restoreState(vcpuState)
        #expect(try restored.standardRegisters() == vcpuState.standard)
        #expect(try lapicRequested(restored, vector: CountingGuest.vector), "the pending vector did not move")

        for count in 51...100 {
            #expect(try restored.run() == .ioHandled)
            #expect(moved.events.last == .pioWrite(port: 0x3F8, size: 1, value: UInt64(count)))
        }
        #expect(try restored.run() == .ioHandled)
        #expect(moved.events.last == .pioWrite(port: 0x3FA, size: 1, value: 100))
        #expect(try restored.run() == .ioHandled)
        #expect(moved.events.last == .pioWrite(port: 0x3F9, size: 1, value: 1), "the handler did not run once")
    }

    /// A VM without an in-kernel irqchip or PIT saves none of their parts (and nothing else
    /// is lost: that is the only failure read as "absent").
    @Test func aVMWithoutEmulatedChipsSavesOnlyItsClock() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let vm = try hypervisor.createVirtualMachine()
        #expect(try vm.saveState().platform.isEmpty)
        try vm.createInterruptController()
        #expect(try vm.saveState().platform.map(\.name) == ["kvm-pic-master", "kvm-pic-slave", "kvm-ioapic"])
    }

    /// A saved part this VM has no place for, or of the wrong size, is refused with its name.
    @Test func aPlatformStateThatDoesNotFitIsRefused() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let vm = try hypervisor.createVirtualMachine()
        try vm.createInterruptController()
        var state = try vm.saveState()
        state.platform.append(PlatformStatePart(name: "hpet", bytes: [1, 2, 3]))
        #expect(throws: HypervisorError("restore", .invalidArgument("unknown platform state part 'hpet'"))) {
            try vm.restoreState(state)
        }
        state.platform = [PlatformStatePart(name: "kvm-ioapic", bytes: [0])]
        #expect(throws: HypervisorError.self) { try vm.restoreState(state) }
    }
}

@Suite("Guest debug through the protocols", .serialized)
struct GuestDebugTests {
    /// Single steps stop after each instruction of the counting guest; a hardware breakpoint
    /// on the loop's `cmp` stops there; turning debugging off lets the guest run to its port.
    @Test func singleStepsAndAHardwareBreakpointStopTheGuest() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let ram = GuestRAM(size: 0x10000)
        CountingGuest.load(into: ram)
        let vm = try hypervisor.createVirtualMachine()
        try vm.createInterruptController()
        try vm.mapMemory(slot: 0, guestAddress: 0, size: UInt64(ram.size), hostAddress: ram.hostAddress, flags: [])
        let bus = RecordingBus()
        let cpu = try vm.createVirtualCPU(id: 0, operations: bus)
        _ = try configureBootState(hypervisor, cpu)
        try CountingGuest.enter(cpu)

        try cpu.setGuestDebug(GuestDebug(enabled: true, singleStep: true))
        // cli (1 byte), xor (2), inc (3): each step ends at the next instruction.
        for expected: UInt64 in [0x1001, 0x1003, 0x1006] {
            #expect(try cpu.run() == .debug(pc: expected))
            #expect(try cpu.standardRegisters().rip == expected)
        }
        var breakpoints = DebugRegisters()
        breakpoints.addresses[0] = 0x100D  // cmp $100, %rcx
        breakpoints.dr7 = 0x1  // L0: execute breakpoint on DR0
        try cpu.setGuestDebug(GuestDebug(enabled: true, hardwareBreakpoints: breakpoints))
        #expect(try cpu.run() == .ioHandled)  // the first count's out
        #expect(try cpu.run() == .debug(pc: 0x100D))
        try cpu.setGuestDebug(GuestDebug())
        #expect(try cpu.run() == .ioHandled)
        #expect(bus.events.last == .pioWrite(port: 0x3F8, size: 1, value: 2))
    }
}
