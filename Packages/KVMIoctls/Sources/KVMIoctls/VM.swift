// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMBindings
import Synchronization
import VMMSysUtil

/// Flags of a guest memory slot (`KVM_MEM_*`).
///
/// ```swift
/// let flags: MemoryRegionFlags = [.logDirtyPages]
/// ```
public struct MemoryRegionFlags: OptionSet, Hashable, Sendable {
    /// The raw `KVM_MEM_*` bits.
    public let rawValue: UInt32
    /// Wraps raw `KVM_MEM_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `KVM_MEM_LOG_DIRTY_PAGES`: track guest writes for ``VM/dirtyLog(slot:size:)``.
    public static let logDirtyPages = MemoryRegionFlags(rawValue: UInt32(KVM_MEM_LOG_DIRTY_PAGES))
    /// `KVM_MEM_READONLY`: guest writes exit to userspace as MMIO (needs ``Capability/readOnlyMemory``).
    public static let readOnly = MemoryRegionFlags(rawValue: UInt32(KVM_MEM_READONLY))
}

/// One guest memory slot: guest-physical range backed by host memory.
///
/// ```swift
/// let region = MemoryRegion(slot: 0, guestAddress: 0, size: 0x10_0000, hostAddress: UInt64(UInt(bitPattern: ram)))
/// try vm.setUserMemoryRegion(region)
/// ```
public struct MemoryRegion: Hashable, Sendable {
    /// The slot number (below ``Capability/memorySlots``).
    public var slot: UInt32
    /// Guest-physical start; page aligned.
    public var guestAddress: UInt64
    /// Size in bytes; a multiple of the page size (0 removes the slot).
    public var size: UInt64
    /// Host virtual address of the backing memory; page aligned.
    public var hostAddress: UInt64
    /// Dirty logging, read-only.
    public var flags: MemoryRegionFlags

    /// Describes a slot.
    public init(slot: UInt32, guestAddress: UInt64, size: UInt64, hostAddress: UInt64, flags: MemoryRegionFlags = []) {
        self.slot = slot
        self.guestAddress = guestAddress
        self.size = size
        self.hostAddress = hostAddress
        self.flags = flags
    }
}

/// A guest-physical dirty-page bitmap, one bit per 4 KiB page, as `KVM_GET_DIRTY_LOG` returns it.
///
/// ```swift
/// let log = try vm.dirtyLog(slot: 0, size: ramSize)
/// for page in log.dirtyPages { copy(page * 4096) }
/// ```
public struct DirtyBitmap: Hashable, Sendable {
    /// Bitmap words; bit `n % 64` of word `n / 64` is page `n`.
    public let words: [UInt64]
    /// Pages covered.
    public let pageCount: Int

    /// Wraps a bitmap covering `pageCount` pages.
    public init(words: [UInt64], pageCount: Int) {
        self.words = words
        self.pageCount = pageCount
    }

    /// Whether page `page` (an index from the slot's start) was written.
    public func isDirty(page: Int) -> Bool {
        guard page >= 0, page < pageCount else { return false }
        return words[page / 64] & (1 << UInt64(page % 64)) != 0
    }

    /// The indices of the written pages, ascending.
    public var dirtyPages: [Int] { (0..<pageCount).filter { isDirty(page: $0) } }
}

/// Where an ioeventfd listens.
///
/// ```swift
/// try vm.registerIOEventFd(event, address: .mmio(0xD000_0050), length: 4)
/// ```
public enum IOEventAddress: Hashable, Sendable {
    /// A port-I/O address.
    case pio(UInt64)
    /// A guest-physical MMIO address.
    case mmio(UInt64)
}

/// One GSI routing entry for ``VM/setGSIRouting(_:)``.
///
/// ```swift
/// try vm.setGSIRouting([.irqchip(gsi: 4, chip: 2, pin: 4), .msi(gsi: 24, address: 0xFEE0_0000, data: 0x41)])
/// ```
public enum IRQRoute: Hashable, Sendable {
    /// Route `gsi` to `pin` of an in-kernel irqchip (0 PIC master, 1 PIC slave, 2 IOAPIC).
    case irqchip(gsi: UInt32, chip: UInt32, pin: UInt32)
    /// Route `gsi` to an MSI message.
    case msi(gsi: UInt32, address: UInt64, data: UInt32)
}

/// A virtual machine: memory slots, interrupt controllers and routing, eventfd wiring, vCPUs.
///
/// ```swift
/// let vm = try KVM().createVM()
/// try vm.setUserMemoryRegion(MemoryRegion(slot: 0, guestAddress: 0, size: size, hostAddress: host))
/// let vcpu = try vm.createVCPU(id: 0)
/// ```
public final class VM: Sendable {
    /// The VM descriptor, owned by this value.
    public let descriptor: FileDescriptor
    /// Bytes each vCPU maps for its `kvm_run` area.
    public let vcpuMmapSize: Int
    /// Each mapped slot's size, as KVM was told: the dirty log KVM writes is sized by it.
    private let slotSizes = Mutex<[UInt32: UInt64]>([:])

    init(descriptor: consuming FileDescriptor, vcpuMmapSize: Int) {
        self.descriptor = descriptor
        self.vcpuMmapSize = vcpuMmapSize
    }

    /// The page size KVM uses for slots and dirty logs on x86.
    public static let pageSize: UInt64 = 4096

    // MARK: Capabilities

    /// `KVM_CHECK_EXTENSION` on this VM (answers can differ per VM type).
    public func check(_ capability: Capability) -> Int {
        Int(max(0, ioctl(descriptor.rawValue, KVMB_CHECK_EXTENSION, capability.rawValue)))
    }

    /// Whether this VM supports `capability`.
    public func supports(_ capability: Capability) -> Bool { check(capability) > 0 }

    /// Throws ``KVMError/Reason/missingCapability(_:)`` naming `call` when `capability` is absent.
    public func require(_ capability: Capability, for call: String) throws(KVMError) {
        if !supports(capability) { throw KVMError(call, .missingCapability(capability)) }
    }

    /// `KVM_ENABLE_CAP` on the VM.
    public func enableCapability(_ capability: Capability, arguments: [UInt64] = []) throws(KVMError) {
        guard arguments.count <= 4 else { throw KVMError("KVM_ENABLE_CAP", .invalidArgument("at most 4 arguments")) }
        var request = kvm_enable_cap()
        request.cap = UInt32(capability.rawValue)
        unsafe withUnsafeMutableBytes(of: &request.args) { raw in  // SAFETY: args is 4 UInt64s; count checked above.
            for (index, value) in arguments.enumerated() {
                unsafe raw.storeBytes(of: value, toByteOffset: index * 8, as: UInt64.self)
            }
        }
        try IOCtl.call(descriptor.rawValue, KVMB_ENABLE_CAP, &request, "KVM_ENABLE_CAP")
    }

    // MARK: Memory

    /// `KVM_SET_USER_MEMORY_REGION`: adds, moves or (with size 0) removes a slot.
    ///
    /// Overlapping slots fail with `EEXIST`; unaligned addresses or sizes with `EINVAL`.
    public func setUserMemoryRegion(_ region: MemoryRegion) throws(KVMError) {
        if region.flags.contains(.readOnly) {
            try require(.readOnlyMemory, for: "KVM_SET_USER_MEMORY_REGION")
        }
        var raw = kvm_userspace_memory_region(
            slot: region.slot, flags: region.flags.rawValue, guest_phys_addr: region.guestAddress,
            memory_size: region.size, userspace_addr: region.hostAddress)
        try IOCtl.call(descriptor.rawValue, KVMB_SET_USER_MEMORY_REGION, &raw, "KVM_SET_USER_MEMORY_REGION")
        slotSizes.withLock { $0[region.slot] = region.size == 0 ? nil : region.size }
    }

    /// Removes slot `slot` (a zero-sized `KVM_SET_USER_MEMORY_REGION`).
    public func removeMemoryRegion(slot: UInt32) throws(KVMError) {
        try setUserMemoryRegion(MemoryRegion(slot: slot, guestAddress: 0, size: 0, hostAddress: 0))
    }

    /// `KVM_GET_DIRTY_LOG`: pages of slot `slot` written since the last call (which this call resets).
    ///
    /// `size` is the slot's size in bytes; the slot needs ``MemoryRegionFlags/logDirtyPages``.
    /// A slot this VM did not map, or a `size` other than the slot's, is
    /// ``KVMError/Reason/invalidArgument(_:)``: KVM sizes the bitmap it writes by the slot.
    public func dirtyLog(slot: UInt32, size: UInt64) throws(KVMError) -> DirtyBitmap {
        guard let mapped = slotSizes.withLock({ $0[slot] }) else {
            throw KVMError("KVM_GET_DIRTY_LOG", .invalidArgument("slot \(slot) is not mapped"))
        }
        guard mapped == size else {
            throw KVMError("KVM_GET_DIRTY_LOG", .invalidArgument("size \(size) is not slot \(slot)'s size \(mapped)"))
        }
        let pages = Int((size + Self.pageSize - 1) / Self.pageSize)
        // KVM writes whole 64-bit words: ALIGN(pages, 64) / 8 bytes.
        var words = [UInt64](repeating: 0, count: (pages + 63) / 64)
        // SAFETY: a zeroed local struct; its bitmap pointer is set only inside the closure below, where `raw` is live.
        var log = unsafe kvm_dirty_log()
        unsafe log.slot = slot
        let fd = descriptor.rawValue
        // Array.withUnsafeMutableBytes rethrows untyped errors, so the result travels out as a value.
        // SAFETY: KVM writes ALIGN(slot pages, 64)/8 bytes; `size` is the slot's own (checked above), so that is raw.count.
        let result: Result<Int32, KVMError> = unsafe words.withUnsafeMutableBytes { raw in
            unsafe kvmb_dirty_log_set_bitmap(&log, raw.baseAddress)
            return Result { () throws(KVMError) in
                // SAFETY: `log` points at `raw`, live for this call and as large as the bitmap KVM writes (above).
                try unsafe IOCtl.call(fd, KVMB_GET_DIRTY_LOG, &log, "KVM_GET_DIRTY_LOG")
            }
        }
        _ = try result.get()
        return DirtyBitmap(words: words, pageCount: pages)
    }

    // MARK: Interrupt controllers

    /// `KVM_CREATE_IRQCHIP`: in-kernel PIC, IOAPIC and local APICs. Call before creating vCPUs.
    public func createIRQChip() throws(KVMError) {
        try require(.irqchip, for: "KVM_CREATE_IRQCHIP")
        _ = try IOCtl.call(descriptor.rawValue, KVMB_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP")
    }

    /// `KVM_CREATE_PIT2`: the in-kernel i8254 timer (needs the irqchip).
    public func createPIT2(speakerDummy: Bool = false) throws(KVMError) {
        try require(.pit2, for: "KVM_CREATE_PIT2")
        var config = kvm_pit_config()
        config.flags = speakerDummy ? UInt32(KVM_PIT_SPEAKER_DUMMY) : 0
        try IOCtl.call(descriptor.rawValue, KVMB_CREATE_PIT2, &config, "KVM_CREATE_PIT2")
    }

    /// `KVM_GET_IRQCHIP`: the state of in-kernel chip `chip` (`KVM_IRQCHIP_PIC_MASTER`,
    /// `KVM_IRQCHIP_PIC_SLAVE` or `KVM_IRQCHIP_IOAPIC`).
    public func irqChip(_ chip: UInt32) throws(KVMError) -> kvm_irqchip {
        try require(.irqchip, for: "KVM_GET_IRQCHIP")
        var state = kvm_irqchip()
        state.chip_id = chip
        try IOCtl.call(descriptor.rawValue, KVMB_GET_IRQCHIP, &state, "KVM_GET_IRQCHIP")
        return state
    }

    /// `KVM_SET_IRQCHIP`: restores the chip `state.chip_id` names.
    public func setIRQChip(_ state: kvm_irqchip) throws(KVMError) {
        try require(.irqchip, for: "KVM_SET_IRQCHIP")
        var state = state
        try IOCtl.call(descriptor.rawValue, KVMB_SET_IRQCHIP, &state, "KVM_SET_IRQCHIP")
    }

    /// `KVM_GET_PIT2`: the in-kernel PIT's channels and flags.
    public func pit2() throws(KVMError) -> kvm_pit_state2 {
        try require(.pitState2, for: "KVM_GET_PIT2")
        var state = kvm_pit_state2()
        try IOCtl.call(descriptor.rawValue, KVMB_GET_PIT2, &state, "KVM_GET_PIT2")
        return state
    }

    /// `KVM_SET_PIT2`.
    public func setPIT2(_ state: kvm_pit_state2) throws(KVMError) {
        try require(.pitState2, for: "KVM_SET_PIT2")
        var state = state
        try IOCtl.call(descriptor.rawValue, KVMB_SET_PIT2, &state, "KVM_SET_PIT2")
    }

    /// `KVM_IRQ_LINE`: raises or lowers GSI `irq` on the in-kernel irqchip.
    public func setIRQLine(_ irq: UInt32, active: Bool) throws(KVMError) {
        var level = kvm_irq_level()
        level.irq = irq
        level.level = active ? 1 : 0
        try IOCtl.call(descriptor.rawValue, KVMB_IRQ_LINE, &level, "KVM_IRQ_LINE")
    }

    /// `KVM_SET_GSI_ROUTING`: replaces the whole GSI routing table.
    public func setGSIRouting(_ routes: [IRQRoute]) throws(KVMError) {
        try require(.irqRouting, for: "KVM_SET_GSI_ROUTING")
        let size = kvmb_irq_routing_size(UInt32(routes.count))
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        // SAFETY: frees the block allocated just above, once, after the ioctl has returned.
        defer { unsafe raw.deallocate() }
        unsafe raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        // SAFETY: `size` covers the header and the entries.
        let table = unsafe raw.bindMemory(to: kvm_irq_routing.self, capacity: 1)
        unsafe table.pointee.nr = UInt32(routes.count)
        let entries = unsafe kvmb_irq_routing_entries(table)!
        for (index, route) in routes.enumerated() {
            var entry = kvm_irq_routing_entry()
            switch route {
            case .irqchip(let gsi, let chip, let pin):
                entry.gsi = gsi
                entry.type = UInt32(KVM_IRQ_ROUTING_IRQCHIP)
                // SAFETY: writes the irqchip member of the local entry's plain-data union, the one `type` selects.
                unsafe entry.u.irqchip = kvm_irq_routing_irqchip(irqchip: chip, pin: pin)
            case .msi(let gsi, let address, let data):
                entry.gsi = gsi
                entry.type = UInt32(KVM_IRQ_ROUTING_MSI)
                var msi = kvm_irq_routing_msi()
                msi.address_lo = UInt32(truncatingIfNeeded: address)
                msi.address_hi = UInt32(truncatingIfNeeded: address >> 32)
                msi.data = data
                // SAFETY: writes the msi member of the local entry's plain-data union, the one `type` selects.
                unsafe entry.u.msi = msi
            }
            // SAFETY: index < routes.count, and `size` holds that many zeroed routing entries after the header.
            unsafe entries[index] = entry
        }
        // SAFETY: raw is a kvm_irq_routing (the struct SET_GSI_ROUTING encodes) followed by the `nr` entries it
        // declares, all allocated and initialized above.
        try unsafe IOCtl.call(descriptor.rawValue, KVMB_SET_GSI_ROUTING, pointer: raw, "KVM_SET_GSI_ROUTING")
    }

    /// `KVM_SIGNAL_MSI`: injects one MSI; returns whether the guest accepted it (false: masked).
    @discardableResult
    public func signalMSI(address: UInt64, data: UInt32) throws(KVMError) -> Bool {
        try require(.signalMSI, for: "KVM_SIGNAL_MSI")
        var msi = kvm_msi()
        msi.address_lo = UInt32(truncatingIfNeeded: address)
        msi.address_hi = UInt32(truncatingIfNeeded: address >> 32)
        msi.data = data
        return try IOCtl.call(descriptor.rawValue, KVMB_SIGNAL_MSI, &msi, "KVM_SIGNAL_MSI") > 0
    }

    // MARK: eventfd wiring

    /// `KVM_IRQFD`: a write to `event` raises GSI `gsi` without a trip through userspace.
    public func registerIRQFd(_ event: borrowing EventFd, gsi: UInt32) throws(KVMError) {
        try irqfd(event.descriptor.rawValue, gsi: gsi, resample: nil, deassign: false)
    }

    /// `KVM_IRQFD` with `KVM_IRQFD_FLAG_RESAMPLE`: level-triggered; `resample` is signalled
    /// when the guest acknowledges the interrupt, so the device can re-assert it.
    public func registerIRQFd(_ event: borrowing EventFd, gsi: UInt32, resample: borrowing EventFd) throws(KVMError) {
        try require(.irqfdResample, for: "KVM_IRQFD")
        try irqfd(event.descriptor.rawValue, gsi: gsi, resample: resample.descriptor.rawValue, deassign: false)
    }

    /// Detaches `event` from GSI `gsi`.
    public func unregisterIRQFd(_ event: borrowing EventFd, gsi: UInt32) throws(KVMError) {
        try irqfd(event.descriptor.rawValue, gsi: gsi, resample: nil, deassign: true)
    }

    private func irqfd(_ fd: Int32, gsi: UInt32, resample: Int32?, deassign: Bool) throws(KVMError) {
        try require(.irqfd, for: "KVM_IRQFD")
        var request = kvm_irqfd()
        request.fd = UInt32(bitPattern: fd)
        request.gsi = gsi
        if deassign { request.flags |= UInt32(KVM_IRQFD_FLAG_DEASSIGN) }
        if let resample {
            request.flags |= UInt32(KVM_IRQFD_FLAG_RESAMPLE)
            request.resamplefd = UInt32(bitPattern: resample)
        }
        try IOCtl.call(descriptor.rawValue, KVMB_IRQFD, &request, "KVM_IRQFD")
    }

    /// `KVM_IOEVENTFD`: a guest write of `length` bytes to `address` (equal to `datamatch`,
    /// when given) signals `event` inside the kernel; the vCPU does not exit.
    public func registerIOEventFd(
        _ event: borrowing EventFd, address: IOEventAddress, length: UInt32, datamatch: UInt64? = nil
    ) throws(KVMError) {
        try ioeventfd(event.descriptor.rawValue, address, length, datamatch, deassign: false)
    }

    /// Removes an ioeventfd registered with the same arguments.
    public func unregisterIOEventFd(
        _ event: borrowing EventFd, address: IOEventAddress, length: UInt32, datamatch: UInt64? = nil
    ) throws(KVMError) {
        try ioeventfd(event.descriptor.rawValue, address, length, datamatch, deassign: true)
    }

    private func ioeventfd(
        _ fd: Int32, _ address: IOEventAddress, _ length: UInt32, _ datamatch: UInt64?, deassign: Bool
    ) throws(KVMError) {
        try require(.ioeventfd, for: "KVM_IOEVENTFD")
        guard [0, 1, 2, 4, 8].contains(length) else {
            throw KVMError("KVM_IOEVENTFD", .invalidArgument("length \(length) is not 0, 1, 2, 4 or 8"))
        }
        // KVM_IOEVENTFD_FLAG_* are defined through an enum shift, which does not import:
        // datamatch is bit 0, pio bit 1, deassign bit 2 (kvm_ioeventfd_flag_nr_*).
        var request = kvm_ioeventfd()
        request.fd = fd
        request.len = length
        switch address {
        case .pio(let port):
            request.addr = port
            request.flags |= 1 << 1
        case .mmio(let guestAddress):
            request.addr = guestAddress
        }
        if let datamatch {
            request.datamatch = datamatch
            request.flags |= 1 << 0
        }
        if deassign { request.flags |= 1 << 2 }
        try IOCtl.call(descriptor.rawValue, KVMB_IOEVENTFD, &request, "KVM_IOEVENTFD")
    }

    // MARK: x86 setup

    /// `KVM_SET_TSS_ADDR`: three pages of guest-physical space KVM may use on Intel hosts.
    public func setTSSAddress(_ address: UInt64) throws(KVMError) {
        try require(.setTSSAddress, for: "KVM_SET_TSS_ADDR")
        _ = try IOCtl.call(descriptor.rawValue, KVMB_SET_TSS_ADDR, value: UInt(address), "KVM_SET_TSS_ADDR")
    }

    /// `KVM_SET_IDENTITY_MAP_ADDR`: one page KVM may use for its real-mode identity map.
    public func setIdentityMapAddress(_ address: UInt64) throws(KVMError) {
        try require(.setIdentityMapAddress, for: "KVM_SET_IDENTITY_MAP_ADDR")
        var value = address
        try IOCtl.call(descriptor.rawValue, KVMB_SET_IDENTITY_MAP_ADDR, &value, "KVM_SET_IDENTITY_MAP_ADDR")
    }

    /// `KVM_GET_CLOCK`: the guest's kvmclock base, in nanoseconds.
    public func clock() throws(KVMError) -> kvm_clock_data {
        try require(.adjustClock, for: "KVM_GET_CLOCK")
        var data = kvm_clock_data()
        try IOCtl.call(descriptor.rawValue, KVMB_GET_CLOCK, &data, "KVM_GET_CLOCK")
        return data
    }

    /// `KVM_SET_CLOCK`: sets the guest's kvmclock base (for restore and migration).
    public func setClock(_ data: kvm_clock_data) throws(KVMError) {
        try require(.adjustClock, for: "KVM_SET_CLOCK")
        var data = data
        try IOCtl.call(descriptor.rawValue, KVMB_SET_CLOCK, &data, "KVM_SET_CLOCK")
    }

    // MARK: Devices and vCPUs

    /// `KVM_CREATE_DEVICE` of type `type` (a `KVM_DEV_TYPE_*` value).
    public func createDevice(type: UInt32) throws(KVMError) -> Device {
        try require(.deviceControl, for: "KVM_CREATE_DEVICE")
        var request = kvm_create_device()
        request.type = type
        try IOCtl.call(descriptor.rawValue, KVMB_CREATE_DEVICE, &request, "KVM_CREATE_DEVICE")
        return Device(descriptor: FileDescriptor(owning: Int32(bitPattern: request.fd)))
    }

    /// Whether KVM could create a device of `type` (`KVM_CREATE_DEVICE_TEST`), without creating one.
    public func canCreateDevice(type: UInt32) -> Bool {
        var request = kvm_create_device()
        request.type = type
        request.flags = UInt32(KVM_CREATE_DEVICE_TEST)
        return (try? IOCtl.call(descriptor.rawValue, KVMB_CREATE_DEVICE, &request, "KVM_CREATE_DEVICE")) != nil
    }

    /// `KVM_CREATE_VCPU` and maps its `kvm_run` area.
    public func createVCPU(id: UInt32) throws(KVMError) -> VCPU {
        let fd = try IOCtl.call(descriptor.rawValue, KVMB_CREATE_VCPU, value: UInt(id), "KVM_CREATE_VCPU")
        return try VCPU(id: id, descriptor: FileDescriptor(owning: fd), mmapSize: vcpuMmapSize)
    }
}
