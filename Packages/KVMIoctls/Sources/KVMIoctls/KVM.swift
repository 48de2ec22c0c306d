// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMBindings
import VMMSysUtil

/// The KVM subsystem (`/dev/kvm`): capabilities, host CPUID and MSR lists, and VM creation.
///
/// Opening checks the API version, so a `KVM` value always speaks the stable API (12).
///
/// ```swift
/// let kvm = try KVM()
/// print(kvm.supports(.irqfd), try kvm.vcpuMmapSize())
/// let vm = try kvm.createVM()
/// ```
public final class KVM: Sendable {
    /// The `/dev/kvm` descriptor, owned by this value.
    public let descriptor: FileDescriptor

    /// Opens `path` (normally `/dev/kvm`) and checks the API version.
    public convenience init(path: String = "/dev/kvm") throws(KVMError) {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, flags: O_RDWR)
        } catch {
            throw KVMError("open(\(path))", .system(error.errno))
        }
        try self.init(adopting: fd)
    }

    /// Takes ownership of an already open KVM descriptor and checks the API version.
    public init(adopting descriptor: consuming FileDescriptor) throws(KVMError) {
        let version = try IOCtl.call(descriptor.rawValue, KVMB_GET_API_VERSION, "KVM_GET_API_VERSION")
        guard version == KVM_API_VERSION else { throw KVMError("KVM_GET_API_VERSION", .apiVersionMismatch(version)) }
        self.descriptor = descriptor
    }

    /// `KVM_GET_API_VERSION` (12 on every kernel since 2.6.22).
    public func apiVersion() throws(KVMError) -> Int32 {
        try IOCtl.call(descriptor.rawValue, KVMB_GET_API_VERSION, "KVM_GET_API_VERSION")
    }

    /// `KVM_CHECK_EXTENSION`: 0 when unsupported, otherwise 1 or a capability-specific number.
    public func check(_ capability: Capability) -> Int {
        Int(max(0, ioctl(descriptor.rawValue, KVMB_CHECK_EXTENSION, capability.rawValue)))
    }

    /// Whether the host supports `capability`.
    public func supports(_ capability: Capability) -> Bool { check(capability) > 0 }

    /// Throws ``KVMError/Reason/missingCapability(_:)`` naming `call` when `capability` is absent.
    public func require(_ capability: Capability, for call: String) throws(KVMError) {
        if !supports(capability) { throw KVMError(call, .missingCapability(capability)) }
    }

    /// `KVM_GET_VCPU_MMAP_SIZE`: bytes to map from each vCPU descriptor (the `kvm_run` page and more).
    public func vcpuMmapSize() throws(KVMError) -> Int {
        Int(try IOCtl.call(descriptor.rawValue, KVMB_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE"))
    }

    /// `KVM_GET_SUPPORTED_CPUID`: the CPUID leaves KVM can expose to guests.
    public func supportedCPUID(maxEntries: Int = 256) throws(KVMError) -> CPUID {
        try CPUID.fetch(descriptor.rawValue, KVMB_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID", maxEntries)
    }

    /// `KVM_GET_EMULATED_CPUID`: CPUID features KVM emulates in software.
    public func emulatedCPUID(maxEntries: Int = 256) throws(KVMError) -> CPUID {
        try require(.emulatedCPUID, for: "KVM_GET_EMULATED_CPUID")
        return try CPUID.fetch(descriptor.rawValue, KVMB_GET_EMULATED_CPUID, "KVM_GET_EMULATED_CPUID", maxEntries)
    }

    /// `KVM_GET_MSR_INDEX_LIST`: the MSRs `KVM_GET_MSRS`/`KVM_SET_MSRS` accept.
    public func msrIndexList() throws(KVMError) -> [UInt32] {
        try Self.msrList(descriptor.rawValue, KVMB_GET_MSR_INDEX_LIST, "KVM_GET_MSR_INDEX_LIST")
    }

    /// `KVM_GET_MSR_FEATURE_INDEX_LIST`: MSRs that describe host features.
    public func msrFeatureIndexList() throws(KVMError) -> [UInt32] {
        try require(.getMSRFeatures, for: "KVM_GET_MSR_FEATURE_INDEX_LIST")
        return try Self.msrList(descriptor.rawValue, KVMB_GET_MSR_FEATURE_INDEX_LIST, "KVM_GET_MSR_FEATURE_INDEX_LIST")
    }

    /// `KVM_CREATE_VM` with a machine type (0 is the default x86 VM).
    public func createVM(type: UInt = 0) throws(KVMError) -> VM {
        let mmapSize = try vcpuMmapSize()
        let fd = try IOCtl.call(descriptor.rawValue, KVMB_CREATE_VM, value: type, "KVM_CREATE_VM")
        return VM(descriptor: FileDescriptor(owning: fd), vcpuMmapSize: mmapSize)
    }

    private static func msrList(_ fd: Int32, _ request: UInt, _ name: String) throws(KVMError) -> [UInt32] {
        var capacity: UInt32 = 64
        while true {
            let size = kvmb_msr_list_size(capacity)
            let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
            defer { unsafe raw.deallocate() }
            // SAFETY: `size` covers the header plus `capacity` indices.
            let list = unsafe raw.bindMemory(to: kvm_msr_list.self, capacity: 1)
            unsafe list.pointee.nmsrs = capacity
            if unsafe ioctl(fd, request, raw) < 0 {
                let errno = Errno.current
                // E2BIG: KVM wrote the needed count into nmsrs; retry with that much room.
                // SAFETY: list heads the block allocated above (freed by the defer); nmsrs was set before the call.
                if unsafe errno.rawValue == E2BIG && list.pointee.nmsrs > capacity {
                    capacity = unsafe list.pointee.nmsrs
                    continue
                }
                if errno == .interrupted { continue }
                throw KVMError(name, .system(errno))
            }
            // SAFETY: list heads the block allocated above, freed only by the defer after the copy below.
            let count = unsafe Int(min(list.pointee.nmsrs, capacity))
            // SAFETY: count <= capacity (clamped above, whatever KVM reported), and the block holds `capacity`
            // indices after the header, so the copy stays inside it.
            let indices = unsafe kvmb_msr_list_indices(list)!
            return unsafe Array(UnsafeBufferPointer(start: indices, count: count))
        }
    }
}

/// A list of CPUID leaves (`kvm_cpuid2`), as KVM reports them or as a VMM sets them on a vCPU.
///
/// ```swift
/// var cpuid = try kvm.supportedCPUID()
/// cpuid.entries.removeAll { $0.function == 0x4000_0000 }  // hide the KVM signature
/// try vcpu.setCPUID2(cpuid)
/// ```
public struct CPUID: Sendable {
    /// The leaves, in KVM's order.
    public var entries: [kvm_cpuid_entry2]

    /// Wraps a list of leaves.
    public init(entries: [kvm_cpuid_entry2]) { self.entries = entries }

    /// The leaf for `function` (and sub-leaf `index`, for leaves that have them).
    public func entry(function: UInt32, index: UInt32 = 0) -> kvm_cpuid_entry2? {
        // KVM_CPUID_FLAG_SIGNIFCANT_INDEX (bit 0): only then does the sub-leaf index matter.
        entries.first { $0.function == function && ($0.index == index || $0.flags & 1 == 0) }
    }

    /// The most leaves KVM accepts or returns (the kernel's KVM_MAX_CPUID_ENTRIES).
    public static let maximumEntries = 256

    /// Lays the entries out as a `kvm_cpuid2` and passes it to `body`.
    func withKVMCPUID2<R>(_ body: (UnsafeMutableRawPointer) throws(KVMError) -> R) throws(KVMError) -> R {
        let size = kvmb_cpuid2_size(UInt32(entries.count))
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        // SAFETY: frees the block allocated just above, once, after body has returned.
        defer { unsafe raw.deallocate() }
        unsafe raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        // SAFETY: `size` covers the header and the entries.
        let header = unsafe raw.bindMemory(to: kvm_cpuid2.self, capacity: 1)
        unsafe header.pointee.nent = UInt32(entries.count)
        let first = unsafe kvmb_cpuid2_entries(header)!
        for (index, entry) in entries.enumerated() { unsafe first[index] = entry }
        // SAFETY: the block is initialized and allocated until the defer runs after body returns; the only
        // callers (setCPUID2) use it within body.
        return try unsafe body(raw)
    }

    /// Runs a CPUID-returning ioctl with room for `maxEntries` leaves.
    static func fetch(_ fd: Int32, _ request: UInt, _ name: String, _ maxEntries: Int) throws(KVMError) -> CPUID {
        guard maxEntries > 0, maxEntries <= maximumEntries else {
            throw KVMError(name, .invalidArgument("maxEntries \(maxEntries) outside 1...\(maximumEntries)"))
        }
        let size = kvmb_cpuid2_size(UInt32(maxEntries))
        let raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        // SAFETY: frees the block allocated just above, once, after the entries are copied out.
        defer { unsafe raw.deallocate() }
        unsafe raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        // SAFETY: `size` covers header and maxEntries entries.
        let header = unsafe raw.bindMemory(to: kvm_cpuid2.self, capacity: 1)
        unsafe header.pointee.nent = UInt32(maxEntries)
        try unsafe IOCtl.call(fd, request, pointer: raw, name)
        // SAFETY: header is the live block (freed by the defer); the count is clamped to maxEntries, the entries
        // allocated and zero-initialized, so even entries KVM did not write are initialized.
        let count = unsafe min(Int(header.pointee.nent), maxEntries)
        return unsafe CPUID(entries: Array(UnsafeBufferPointer(start: kvmb_cpuid2_entries(header), count: count)))
    }
}
