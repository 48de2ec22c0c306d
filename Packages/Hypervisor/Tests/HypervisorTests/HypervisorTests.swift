// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Hypervisor
import Synchronization
import Testing
import VMMSysUtil
import X86Machine

/// Opens the KVM backend, or returns nil after a loud skip (a failure when CI=true).
func openHypervisorOrSkip(_ test: String = #function) -> KVMHypervisor? {
    do {
        return try KVMHypervisor()
    } catch {
        let ci = getenv("CI").map { String(cString: $0) } == "true"
        #expect(!ci, "CI=true but KVM is unavailable: \(error)")
        print("⚠️ SKIPPED \(test): KVM unavailable (\(error)); this test needs a real /dev/kvm")
        return nil
    }
}

/// Anonymous host memory used as guest RAM.
final class GuestRAM {
    let base: UnsafeMutableRawPointer
    let size: Int

    init(size: Int) {
        let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        precondition(mapping != MAP_FAILED && mapping != nil)
        base = mapping!
        self.size = size
    }

    deinit { munmap(base, size) }

    var hostAddress: UInt64 { UInt64(UInt(bitPattern: base)) }

    func load(_ bytes: [UInt8], at offset: Int) {
        for (index, byte) in bytes.enumerated() {
            base.storeBytes(of: byte, toByteOffset: offset + index, as: UInt8.self)
        }
    }

    func store(_ value: UInt64, at offset: Int) {
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self)
    }

    func byte(at offset: Int) -> UInt8 { base.load(fromByteOffset: offset, as: UInt8.self) }
}

/// A recording device bus: port 0x3f8 reads 0x5A, MMIO reads 0xCAFEBABE.
final class RecordingBus: VMOperations, @unchecked Sendable {  // used from the test's vCPU thread only
    var events: [ExitEvent] = []
    func pioRead(port: UInt16, size: Int) -> UInt64 {
        events.append(.pioRead(port: port, size: size))
        return 0x5A
    }
    func pioWrite(port: UInt16, size: Int, value: UInt64) {
        events.append(.pioWrite(port: port, size: size, value: value))
    }
    func mmioRead(address: UInt64, size: Int) -> UInt64 {
        events.append(.mmioRead(address: address, size: size))
        return 0xCAFE_BABE
    }
    func mmioWrite(address: UInt64, size: Int, value: UInt64) {
        events.append(.mmioWrite(address: address, size: size, value: value))
    }
}

/// Records what it sees; denies writes to `deniedPort`.
final class Monitor: ExitObserver {
    var before: [ExitEvent] = []
    var after: [(ExitEvent, UInt64?)] = []
    let deniedPort: UInt16?
    init(denying port: UInt16? = nil) { deniedPort = port }
    func willHandle(_ event: ExitEvent, vcpu: UInt32) -> ExitDecision {
        before.append(event)
        if case .pioWrite(let port, _, _) = event, port == deniedPort { return .deny }
        if case .pioRead(let port, _) = event, port == deniedPort { return .deny }
        return .proceed
    }
    func didHandle(_ event: ExitEvent, vcpu: UInt32, readValue: UInt64?) { after.append((event, readValue)) }
}

/// Real-mode guest (as --64, .code16):
///   mov $0x3f8,%dx ; mov $0x41,%al ; out %al,(%dx) ; in (%dx),%al ; mov %al,0x500
///   mov $0xbeef,%ax ; mov %ax,0x9000 ; mov 0x9004,%eax ; mov %eax,0x504 ; hlt
let realModeCode: [UInt8] = [
    0xBA, 0xF8, 0x03,  // mov $0x3f8, %dx
    0xB0, 0x41,  // mov $0x41, %al
    0xEE,  // out %al, (%dx)
    0xEC,  // in (%dx), %al
    0xA2, 0x00, 0x05,  // mov %al, 0x500
    0xB8, 0xEF, 0xBE,  // mov $0xbeef, %ax
    0xA3, 0x00, 0x90,  // mov %ax, 0x9000
    0x66, 0xA1, 0x04, 0x90,  // mov 0x9004, %eax
    0x66, 0xA3, 0x04, 0x05,  // mov %eax, 0x504
    0xF4,  // hlt
]

/// Generic over the hypervisor: what a VMM's setup code looks like.
func startRealModeGuest<H: Hypervisor>(
    on hypervisor: H, ram: GuestRAM, code: [UInt8], operations: some VMOperations
) throws(HypervisorError) -> (H.Machine, H.Machine.CPU) {
    ram.load(code, at: 0x1000)
    let vm = try hypervisor.createVirtualMachine()
    try vm.mapMemory(slot: 0, guestAddress: 0, size: UInt64(ram.size), hostAddress: ram.hostAddress, flags: [])
    let cpu = try vm.createVirtualCPU(id: 0, operations: operations)
    var sregs = try cpu.specialRegisters()
    sregs.cs.base = 0
    sregs.cs.selector = 0
    try cpu.setSpecialRegisters(sregs)
    try cpu.setStandardRegisters(StandardRegisters(rip: 0x1000, rsp: 0x7000))
    return (vm, cpu)
}

@Suite(.serialized) struct HypervisorTests {
    @Test func hostFlavourMatchesTheLoadedModule() {
        let flavour = HostFlavour.detect()
        if access("/sys/module/kvm_pvm", F_OK) == 0 {
            #expect(flavour == .pvm)
        } else if access("/sys/module/kvm_intel", F_OK) == 0 {
            #expect(flavour == .vmx)
        }
        #expect(HostFlavour.detect(sysfsModules: "/nonexistent") == .unknown)
    }

    @Test func ioExitsReachTheVMOperationsWithPortAddressSizeAndData() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let ram = GuestRAM(size: 0x9000)
        let bus = RecordingBus()
        let (_, cpu) = try startRealModeGuest(on: hypervisor, ram: ram, code: realModeCode, operations: bus)
        #expect(try cpu.runUntilExit() == .halt)
        #expect(
            bus.events == [
                .pioWrite(port: 0x3F8, size: 1, value: 0x41),
                .pioRead(port: 0x3F8, size: 1),
                .mmioWrite(address: 0x9000, size: 2, value: 0xBEEF),
                .mmioRead(address: 0x9004, size: 4),
            ])
        #expect(ram.byte(at: 0x500) == 0x5A)
        #expect(ram.base.loadUnaligned(fromByteOffset: 0x504, as: UInt32.self) == 0xCAFE_BABE)
        #expect(try cpu.standardRegisters().rip == 0x1000 + UInt64(realModeCode.count))
    }

    @Test func observersSeeEveryExitAndMayDenyAccesses() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let ram = GuestRAM(size: 0x9000)
        let bus = RecordingBus()
        let (_, cpu) = try startRealModeGuest(on: hypervisor, ram: ram, code: realModeCode, operations: bus)
        let monitor = Monitor(denying: 0x3F8)
        let tracer = Monitor()
        cpu.addObserver(monitor)
        cpu.addObserver(tracer)
        #expect(try cpu.runUntilExit() == .halt)
        // The security monitor kept port 0x3f8 away from the device: the read saw an empty bus.
        #expect(
            bus.events == [
                .mmioWrite(address: 0x9000, size: 2, value: 0xBEEF), .mmioRead(address: 0x9004, size: 4),
            ])
        #expect(ram.byte(at: 0x500) == 0xFF)
        let expected: [ExitEvent] = [
            .pioWrite(port: 0x3F8, size: 1, value: 0x41), .pioRead(port: 0x3F8, size: 1),
            .mmioWrite(address: 0x9000, size: 2, value: 0xBEEF), .mmioRead(address: 0x9004, size: 4),
            .exit(.halt),
        ]
        #expect(tracer.before == expected)
        #expect(tracer.after.map(\.0) == expected)
        #expect(tracer.after.map(\.1) == [nil, 0xFF, nil, 0xCAFE_BABE, nil])
        cpu.removeObserver(monitor)
        cpu.removeObserver(tracer)
    }

    @Test func tripleFaultInLongModeIsAShutdown() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let ram = GuestRAM(size: 0x10_0000)
        ram.load([0x31, 0xC0, 0xF6, 0xF0], at: 0x1000)  // xor %eax,%eax ; div %al  (divide by zero)
        ram.store(0, at: 0x500)  // GDT: null, code64, data
        ram.store(0x00AF_9B00_0000_FFFF, at: 0x508)
        ram.store(0x00CF_9300_0000_FFFF, at: 0x510)
        ram.store(0x3003, at: 0x2000)  // PML4 → PDPT
        ram.store(0x4003, at: 0x3000)  // PDPT → PD
        ram.store(0x83, at: 0x4000)  // 2 MiB identity page
        let vm = try hypervisor.createVirtualMachine()
        try vm.mapMemory(slot: 0, guestAddress: 0, size: UInt64(ram.size), hostAddress: ram.hostAddress, flags: [])
        let cpu = try vm.createVirtualCPU(id: 0, operations: nil)
        var sregs = try cpu.specialRegisters()
        let code = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 8, type: 0xB, long: true, granularity: true)
        let data = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x10, type: 0x3, db: true, granularity: true)
        sregs.cs = code
        (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data)
        sregs.gdt = DescriptorTable(base: 0x500, limit: 0x17)
        sregs.idt = DescriptorTable(base: 0, limit: 0)  // nothing can be delivered
        sregs.cr3 = 0x2000
        sregs.cr4 = 0x20
        sregs.cr0 = 0x8000_0011
        sregs.efer = 0x500
        try cpu.setSpecialRegisters(sregs)
        #expect(try cpu.specialRegisters().cs.long)
        try cpu.setStandardRegisters(StandardRegisters(rip: 0x1000, rsp: 0x8000))
        let tracer = Monitor()
        cpu.addObserver(tracer)
        #expect(try cpu.runUntilExit() == .shutdown)
        #expect(tracer.before == [.exit(.shutdown)])
    }

    @Test func dirtyPagesAndEventWiringThroughTheProtocol() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let ram = GuestRAM(size: 0x9000)
        ram.load(
            [
                0xB0, 0x42,  // mov $0x42, %al
                0xA2, 0x00, 0x30,  // mov %al, 0x3000     page 3
                0xBA, 0x00, 0x01,  // mov $0x100, %dx
                0xEE,  // out %al, (%dx)      ioeventfd: no exit
                0xF4,  // hlt
            ], at: 0x1000)
        let vm = try hypervisor.createVirtualMachine()
        try vm.mapMemory(
            slot: 0, guestAddress: 0, size: UInt64(ram.size), hostAddress: ram.hostAddress, flags: .logDirtyPages)
        let event = try EventFd(flags: .nonBlocking)
        try vm.registerIOEventFd(event, address: .pio(0x100), length: 1, datamatch: 0x42)
        let bus = RecordingBus()
        let cpu = try vm.createVirtualCPU(id: 0, operations: bus)
        var sregs = try cpu.specialRegisters()
        sregs.cs.base = 0
        sregs.cs.selector = 0
        try cpu.setSpecialRegisters(sregs)
        try cpu.setStandardRegisters(StandardRegisters(rip: 0x1000, rsp: 0x7000))
        #expect(try vm.dirtyPages(slot: 0, size: UInt64(ram.size)) == [])
        #expect(try cpu.runUntilExit() == .halt)
        #expect(try vm.dirtyPages(slot: 0, size: UInt64(ram.size)) == [3])
        #expect(try event.wait() == 1)
        #expect(bus.events.isEmpty)
    }

    @Test func badInputIsATypedErrorNamingTheCall() throws {
        #expect(throws: HypervisorError("KVM_GET_API_VERSION", .system(.notATerminal))) {
            _ = try KVMHypervisor(path: "/dev/null")
        }
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let vm = try hypervisor.createVirtualMachine()
        let ram = GuestRAM(size: 0x2000)
        #expect(throws: HypervisorError("KVM_SET_USER_MEMORY_REGION", .system(.invalidArgument))) {
            try vm.mapMemory(slot: 0, guestAddress: 0x1001, size: 0x1000, hostAddress: ram.hostAddress, flags: [])
        }
        try vm.mapMemory(slot: 0, guestAddress: 0, size: 0x2000, hostAddress: ram.hostAddress, flags: [])
        #expect(throws: HypervisorError("KVM_SET_USER_MEMORY_REGION", .system(.exists))) {
            try vm.mapMemory(slot: 1, guestAddress: 0x1000, size: 0x1000, hostAddress: ram.hostAddress, flags: [])
        }
        #expect(
            HypervisorError("KVM_IRQFD", .unsupported("KVM_CAP_IRQFD")).description
                == "KVM_IRQFD: unsupported by this host: KVM_CAP_IRQFD")
    }

    @Test func kickerInterruptsARunningVCPU() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let kick = try KickSignal(offset: 2)
        try kick.installEmptyHandler()
        let ram = GuestRAM(size: 0x9000)
        let vm = try hypervisor.createVirtualMachine()
        try vm.createInterruptController()  // HLT then waits in the kernel
        ram.load([0xFA, 0xF4, 0xEB, 0xFD], at: 0x1000)  // cli ; 1: hlt ; jmp 1b
        try vm.mapMemory(slot: 0, guestAddress: 0, size: UInt64(ram.size), hostAddress: ram.hostAddress, flags: [])
        let cpu = try vm.createVirtualCPU(id: 0, operations: nil)
        var sregs = try cpu.specialRegisters()
        sregs.cs.base = 0
        sregs.cs.selector = 0
        try cpu.setSpecialRegisters(sregs)
        try cpu.setStandardRegisters(StandardRegisters(rip: 0x1000, rsp: 0x7000))

        final class Shared: @unchecked Sendable {  // handed over through `ready`
            let cpu: KVMVirtualCPU
            var kicker: KVMVirtualCPUKicker?
            var exit: VMExit?
            init(_ cpu: KVMVirtualCPU) { self.cpu = cpu }
        }
        let shared = Shared(cpu)
        let ready = Atomic<Bool>(false)
        var thread = pthread_t()
        final class Body: @unchecked Sendable {
            let run: () -> Void
            init(_ run: @escaping () -> Void) { self.run = run }
        }
        let body = Body {
            shared.kicker = try? shared.cpu.kicker(signal: kick)
            ready.store(true, ordering: .sequentiallyConsistent)
            shared.exit = try? shared.cpu.runUntilExit()
        }
        let created = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, Unmanaged.passRetained(body).toOpaque())
        #expect(created == 0)
        while !ready.load(ordering: .sequentiallyConsistent) { sched_yield() }
        usleep(20_000)
        try #require(shared.kicker).kick()
        pthread_join(thread, nil)
        #expect(shared.exit == .interrupted)
    }
}
