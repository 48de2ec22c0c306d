// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMIoctls
import Testing
import VMMSysUtil

@Suite struct SystemQueryTests {
    @Test func apiVersionCapabilitiesAndMmapSize() throws {
        guard let kvm = openKVMOrSkip() else { return }
        #expect(try kvm.apiVersion() == 12)
        #expect(kvm.supports(.userMemory))
        #expect(kvm.check(.memorySlots) >= 32)
        #expect(try kvm.vcpuMmapSize() >= 4096)
        // Every capability answers without crashing; names come from the kernel header.
        for capability in Capability.allCases { _ = kvm.check(capability) }
        #expect(Capability.irqfd.description == "KVM_CAP_IRQFD")
        #expect(Capability.irqfd.rawValue == 32)
    }

    @Test func supportedCPUIDHasTheVendorLeaf() throws {
        guard let kvm = openKVMOrSkip() else { return }
        let cpuid = try kvm.supportedCPUID()
        #expect(!cpuid.entries.isEmpty)
        #expect(cpuid.entry(function: 0) != nil)
        if kvm.supports(.emulatedCPUID) {
            #expect(!(try kvm.emulatedCPUID().entries.isEmpty))
        }
    }

    @Test func msrIndexListContainsSyscallMSRs() throws {
        guard let kvm = openKVMOrSkip() else { return }
        let indices = try kvm.msrIndexList()
        #expect(indices.contains(0x174))  // IA32_SYSENTER_CS
        #expect(indices.contains(0xC000_0082))  // LSTAR (EFER itself travels in sregs)
    }
}

@Suite struct VCPUStateTests {
    @Test func registerStateRoundTrips() throws {
        guard let kvm = openKVMOrSkip() else { return }
        let ram = GuestRAM(size: 0x9000)
        let vm = try makeVM(kvm, ram: ram)
        let vcpu = try vm.createVCPU(id: 0)
        var regs = try vcpu.registers()
        regs.rax = 0x1234_5678
        regs.rip = 0x1000
        regs.rflags = 2
        try vcpu.setRegisters(regs)
        #expect(try vcpu.registers().rax == 0x1234_5678)

        var cpuid = try kvm.supportedCPUID()
        cpuid.entries = cpuid.entries.filter { $0.function < 0x4000_0000 || $0.function >= 0x8000_0000 }
        try vcpu.setCPUID2(cpuid)
        #expect(try vcpu.cpuid2().entries.count == cpuid.entries.count)

        try vcpu.setMSRs([MSREntry(index: 0x174, data: 0x10)])  // IA32_SYSENTER_CS
        #expect(try vcpu.msrs([0x174]) == [MSREntry(index: 0x174, data: 0x10)])

        #expect(try vcpu.mpState() == UInt32(KVM_MP_STATE_RUNNABLE))
        let events = try vcpu.vcpuEvents()
        try vcpu.setVCPUEvents(events)
        let fpu = try vcpu.fpu()
        try vcpu.setFPU(fpu)
        if kvm.supports(.debugRegisters) {
            var debug = try vcpu.debugRegisters()
            debug.db.0 = 0x1000
            try vcpu.setDebugRegisters(debug)
            #expect(try vcpu.debugRegisters().db.0 == 0x1000)
        }
        if kvm.supports(.xcrs) {
            let xcrs = try vcpu.xcrs()
            #expect(xcrs.nr_xcrs <= 16)
        }
        if kvm.supports(.xsave) { _ = try vcpu.xsave() }
        var debug = kvm_guest_debug()
        debug.control = UInt32(KVM_GUESTDBG_ENABLE)
        try vcpu.setGuestDebug(debug)
        vcpu.immediateExit = true
        guard case .interrupted = try vcpu.run() else {
            Issue.record("immediate_exit did not stop KVM_RUN")
            return
        }
        #expect(!vcpu.immediateExit)
    }

    @Test func vmClockAndX86SetupAddresses() throws {
        guard let kvm = openKVMOrSkip() else { return }
        let vm = try kvm.createVM()
        try vm.setTSSAddress(0xFFFB_D000)
        try vm.setIdentityMapAddress(0xFFFB_C000)
        if vm.supports(.adjustClock) {
            let clock = try vm.clock()
            try vm.setClock(
                kvm_clock_data(
                    clock: clock.clock + 1_000_000, flags: 0, pad0: 0, realtime: 0, host_tsc: 0, pad: (0, 0, 0, 0)))
            #expect(try vm.clock().clock >= clock.clock + 1_000_000)
        }
    }

    @Test func irqchipPITRoutingAndMSI() throws {
        guard let kvm = openKVMOrSkip() else { return }
        guard kvm.supports(.irqchip) else {
            #expect(throws: KVMError("KVM_CREATE_IRQCHIP", .missingCapability(.irqchip))) {
                try kvm.createVM().createIRQChip()
            }
            return
        }
        let vm = try kvm.createVM()
        try vm.createIRQChip()
        if kvm.supports(.pit2) { try vm.createPIT2() }
        try vm.setIRQLine(4, active: true)
        try vm.setIRQLine(4, active: false)
        try vm.setGSIRouting([.irqchip(gsi: 0, chip: 0, pin: 0), .msi(gsi: 24, address: 0xFEE0_0000, data: 0x30)])
        let vcpu = try vm.createVCPU(id: 0)
        let lapic = try vcpu.lapic()
        try vcpu.setLAPIC(lapic)
        if kvm.supports(.signalMSI) { _ = try vm.signalMSI(address: 0xFEE0_0000, data: 0x30) }
        // A second irqchip is refused by the kernel, by name.
        #expect(throws: KVMError("KVM_CREATE_IRQCHIP", .system(.exists))) { try vm.createIRQChip() }
    }
}

@Suite struct DeviceTests {
    /// KVM_CREATE_DEVICE of a VFIO device (no hardware needed): attributes answer, unknown ones are refused.
    @Test func vfioDeviceAttributes() throws {
        guard let kvm = openKVMOrSkip() else { return }
        let vm = try kvm.createVM()
        let type = KVM_DEV_TYPE_VFIO.rawValue
        guard vm.supports(.deviceControl), vm.canCreateDevice(type: type) else {
            #expect(throws: KVMError.self) { _ = try vm.createDevice(type: type) }
            print("⚠️ this host cannot create a KVM VFIO device; only the refusal was checked")
            return
        }
        let device = try vm.createDevice(type: type)
        #expect(device.hasAttribute(group: UInt32(KVM_DEV_VFIO_GROUP), attribute: UInt64(KVM_DEV_VFIO_GROUP_ADD)))
        #expect(!device.hasAttribute(group: 0xFFFF, attribute: 0))
        #expect(throws: KVMError.self) { _ = try device.attribute(group: 0xFFFF, attribute: 0) }
        // Adding a descriptor that is not a VFIO group is refused by name.
        do {
            try device.setAttribute(
                group: UInt32(KVM_DEV_VFIO_GROUP), attribute: UInt64(KVM_DEV_VFIO_GROUP_ADD), value: 0)
            Issue.record("KVM accepted stdin as a VFIO group")
        } catch {
            #expect(error.call == "KVM_SET_DEVICE_ATTR")
        }
        // An unknown device type: typed error from the kernel.
        #expect(!vm.canCreateDevice(type: 0xFFFF))
        #expect(throws: KVMError.self) { _ = try vm.createDevice(type: 0xFFFF) }
    }
}

@Suite struct BadInputTests {
    @Test func closedDescriptorIsATypedError() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        close(fds[0])
        close(fds[1])
        // The numbers are closed now: KVM's first call names itself and reports EBADF.
        #expect(throws: KVMError("KVM_GET_API_VERSION", .system(.badFileDescriptor))) {
            _ = try KVM(adopting: FileDescriptor(owning: fds[0]))
        }
    }

    @Test func aDescriptorThatIsNotKVMIsRefused() throws {
        #expect(throws: KVMError("KVM_GET_API_VERSION", .system(.notATerminal))) {
            _ = try KVM(path: "/dev/null")
        }
        #expect(throws: KVMError("open(/nonexistent/kvm)", .system(.noSuchFile))) {
            _ = try KVM(path: "/nonexistent/kvm")
        }
    }

    @Test func unsupportedCapabilitiesAreReportedByName() throws {
        guard let kvm = openKVMOrSkip() else { return }
        let missing = Capability.allCases.filter { !kvm.supports($0) }
        #expect(!missing.isEmpty, "this host claims every capability; pick another probe")
        for capability in missing {
            #expect(throws: KVMError("probe", .missingCapability(capability))) {
                try kvm.require(capability, for: "probe")
            }
        }
        let error = KVMError("KVM_IRQFD", .missingCapability(.irqfd))
        #expect(error.description == "KVM_IRQFD: host KVM lacks KVM_CAP_IRQFD")
        #expect(error.systemError == SystemError("KVM_IRQFD", errno: .notImplemented))
    }

    @Test func overlappingAndUnalignedSlotsAreRefused() throws {
        guard let kvm = openKVMOrSkip() else { return }
        let ram = GuestRAM(size: 0x4000)
        let vm = try makeVM(kvm, ram: ram)
        // Slot 1 overlapping slot 0's guest range.
        #expect(throws: KVMError("KVM_SET_USER_MEMORY_REGION", .system(.exists))) {
            try vm.setUserMemoryRegion(
                MemoryRegion(slot: 1, guestAddress: 0x2000, size: 0x2000, hostAddress: ram.hostAddress))
        }
        // Unaligned guest address, size and host address.
        for region in [
            MemoryRegion(slot: 2, guestAddress: 0x10_0800, size: 0x1000, hostAddress: ram.hostAddress),
            MemoryRegion(slot: 2, guestAddress: 0x10_0000, size: 0x800, hostAddress: ram.hostAddress),
            MemoryRegion(slot: 2, guestAddress: 0x10_0000, size: 0x1000, hostAddress: ram.hostAddress + 8),
        ] {
            #expect(throws: KVMError("KVM_SET_USER_MEMORY_REGION", .system(.invalidArgument))) {
                try vm.setUserMemoryRegion(region)
            }
        }
        // A slot number past the limit.
        #expect(throws: KVMError("KVM_SET_USER_MEMORY_REGION", .system(.invalidArgument))) {
            try vm.setUserMemoryRegion(
                MemoryRegion(slot: 0xFFFF, guestAddress: 0x20_0000, size: 0x1000, hostAddress: ram.hostAddress))
        }
        // Dirty log of a slot without logging.
        #expect(throws: KVMError("KVM_GET_DIRTY_LOG", .system(.noSuchFile))) {
            _ = try vm.dirtyLog(slot: 0, size: 0x4000)
        }
        // A slot never mapped, or a size other than the slot's: refused before KVM sizes a bitmap by the slot.
        #expect(throws: KVMError("KVM_GET_DIRTY_LOG", .invalidArgument("slot 7 is not mapped"))) {
            _ = try vm.dirtyLog(slot: 7, size: 0x4000)
        }
        #expect(throws: KVMError("KVM_GET_DIRTY_LOG", .invalidArgument("size 4096 is not slot 0's size 16384"))) {
            _ = try vm.dirtyLog(slot: 0, size: 0x1000)
        }
        // Bad ioeventfd length is refused before the kernel.
        let event = try EventFd()
        #expect(throws: KVMError("KVM_IOEVENTFD", .invalidArgument("length 3 is not 0, 1, 2, 4 or 8"))) {
            try vm.registerIOEventFd(event, address: .pio(0x100), length: 3)
        }
        // Removing and re-adding a slot works.
        try vm.removeMemoryRegion(slot: 0)
        try vm.setUserMemoryRegion(
            MemoryRegion(slot: 1, guestAddress: 0x2000, size: 0x2000, hostAddress: ram.hostAddress))
    }

    @Test func cpuidCountOutsideKVMLimitsIsRejected() throws {
        guard let kvm = openKVMOrSkip() else { return }
        #expect(throws: KVMError("KVM_GET_SUPPORTED_CPUID", .invalidArgument("maxEntries 0 outside 1...256"))) {
            _ = try kvm.supportedCPUID(maxEntries: 0)
        }
        // Too small a buffer: the kernel says E2BIG.
        #expect(throws: KVMError("KVM_GET_SUPPORTED_CPUID", .system(Errno(rawValue: E2BIG)))) {
            _ = try kvm.supportedCPUID(maxEntries: 1)
        }
    }

    @Test func mmioLayoutOffsetMatchesTheHeader() throws {
        // VCPU reads mmio.data at 32 + 8 bytes into kvm_run; check against the imported struct.
        var run = kvm_run()
        withUnsafeMutableBytes(of: &run) { raw in
            raw.storeBytes(of: UInt64(0xAABB), toByteOffset: 32, as: UInt64.self)
            raw.storeBytes(of: UInt8(0x5C), toByteOffset: 40, as: UInt8.self)
        }
        #expect(run.mmio.phys_addr == 0xAABB)
        #expect(run.mmio.data.0 == 0x5C)
    }
}
