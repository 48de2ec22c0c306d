// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMIoctls
import VMMSysUtil

/// The host's hardware virtualization flavour.
///
/// ```swift
/// if HostFlavour.detect() == .pvm { /* guest kernel must avoid what PVM cannot emulate */ }
/// ```
public enum HostFlavour: Hashable, Sendable {
    /// Intel VT-x (`kvm_intel`).
    case vmx
    /// AMD-V (`kvm_amd`).
    case svm
    /// PVM, KVM without hardware virtualization (`kvm_pvm`).
    case pvm
    /// None of the above could be identified.
    case unknown

    /// Looks at which KVM vendor module is loaded (`/sys/module/kvm_{intel,amd,pvm}`).
    public static func detect(sysfsModules: String = "/sys/module") -> HostFlavour {
        func loaded(_ name: String) -> Bool { access("\(sysfsModules)/\(name)", F_OK) == 0 }
        // PVM first: it can be loaded next to a vendor module that found no hardware support.
        if loaded("kvm_pvm") { return .pvm }
        if loaded("kvm_intel") { return .vmx }
        if loaded("kvm_amd") { return .svm }
        return .unknown
    }
}

/// A failed hypervisor operation, independent of the backend.
///
/// ```swift
/// do { try vm.mapMemory(slot: 0, guestAddress: 0x1001, size: 4096, hostAddress: host, flags: []) }
/// catch { print(error.call, error.reason) }  // KVM_SET_USER_MEMORY_REGION system(EINVAL)
/// ```
public struct HypervisorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why it failed.
    public enum Reason: Hashable, Sendable {
        /// The backend's call failed with this error number.
        case system(Errno)
        /// The host lacks a feature (named by the backend, e.g. `"KVM_CAP_IRQFD"`).
        case unsupported(String)
        /// An argument was refused.
        case invalidArgument(String)
    }

    /// The failing backend call, for example `"KVM_RUN"`.
    public let call: String
    /// Why it failed.
    public let reason: Reason

    /// Creates an error.
    public init(_ call: String, _ reason: Reason) {
        self.call = call
        self.reason = reason
    }

    /// Converts a KVM error, keeping the call's name.
    public init(_ error: KVMError) {
        call = error.call
        switch error.reason {
        case .system(let errno): reason = .system(errno)
        case .missingCapability(let capability): reason = .unsupported(capability.description)
        case .apiVersionMismatch(let version): reason = .unsupported("KVM API version \(version)")
        case .invalidArgument(let why): reason = .invalidArgument(why)
        }
    }

    /// `"<call>: <reason>"`.
    public var description: String {
        switch reason {
        case .system(let errno): "\(call): \(errno) (errno \(errno.rawValue))"
        case .unsupported(let what): "\(call): unsupported by this host: \(what)"
        case .invalidArgument(let why): "\(call): invalid argument: \(why)"
        }
    }
}

/// x86 general-purpose registers, RIP and RFLAGS.
///
/// ```swift
/// try cpu.setStandardRegisters(StandardRegisters(rip: 0x1000, rsp: 0x8000))
/// ```
public struct StandardRegisters: Hashable, Sendable {
    /// RAX.
    public var rax: UInt64 = 0
    /// RBX.
    public var rbx: UInt64 = 0
    /// RCX.
    public var rcx: UInt64 = 0
    /// RDX.
    public var rdx: UInt64 = 0
    /// RSI.
    public var rsi: UInt64 = 0
    /// RDI.
    public var rdi: UInt64 = 0
    /// RSP.
    public var rsp: UInt64 = 0
    /// RBP.
    public var rbp: UInt64 = 0
    /// R8-R15.
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    /// R12-R15.
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    /// RIP.
    public var rip: UInt64 = 0
    /// RFLAGS (bit 1 must be set).
    public var rflags: UInt64 = 2

    /// Registers with the given instruction pointer, stack pointer and flags; the rest zero.
    public init(rip: UInt64 = 0, rsp: UInt64 = 0, rflags: UInt64 = 2) {
        self.rip = rip
        self.rsp = rsp
        self.rflags = rflags
    }
}

/// An x86 segment register, hidden part included.
///
/// ```swift
/// let code64 = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 8, type: 0xB, long: true, granularity: true)
/// ```
public struct Segment: Hashable, Sendable {
    /// Base address.
    public var base: UInt64
    /// Limit, in bytes.
    public var limit: UInt32
    /// Selector.
    public var selector: UInt16
    /// Type field (for example 0xB execute/read accessed code, 0x3 read/write accessed data).
    public var type: UInt8
    /// Present bit.
    public var present: Bool = true
    /// Descriptor privilege level.
    public var dpl: UInt8 = 0
    /// Default operation size (32-bit) bit.
    public var db: Bool = false
    /// A code or data segment (the descriptor's S bit); false for system segments such as a TSS.
    public var codeOrData: Bool = true
    /// 64-bit code segment.
    public var long: Bool = false
    /// Granularity (limit in 4 KiB units).
    public var granularity: Bool = false

    /// A segment; flags default to a present, ring-0 code/data segment.
    public init(
        base: UInt64, limit: UInt32, selector: UInt16, type: UInt8, db: Bool = false, long: Bool = false,
        granularity: Bool = false
    ) {
        self.base = base
        self.limit = limit
        self.selector = selector
        self.type = type
        self.db = db
        self.long = long
        self.granularity = granularity
    }
}

/// A descriptor table register (GDTR, IDTR).
///
/// ```swift
/// sregs.gdt = DescriptorTable(base: 0x500, limit: 0x17)  // three 8-byte descriptors
/// ```
public struct DescriptorTable: Hashable, Sendable {
    /// Base address.
    public var base: UInt64
    /// Limit (size - 1).
    public var limit: UInt16

    /// A table at `base` with `limit`.
    public init(base: UInt64, limit: UInt16) {
        self.base = base
        self.limit = limit
    }
}

/// x86 segments, descriptor tables, control registers and EFER.
///
/// ```swift
/// var sregs = try cpu.specialRegisters()
/// sregs.cr0 |= 1  // protected mode
/// try cpu.setSpecialRegisters(sregs)
/// ```
public struct SpecialRegisters: Hashable, Sendable {
    /// Segment registers.
    public var cs, ds, es, fs, gs, ss: Segment
    /// GDTR.
    public var gdt: DescriptorTable
    /// IDTR.
    public var idt: DescriptorTable
    /// Control registers.
    public var cr0, cr2, cr3, cr4: UInt64
    /// EFER.
    public var efer: UInt64

    /// Wraps every field.
    public init(
        cs: Segment, ds: Segment, es: Segment, fs: Segment, gs: Segment, ss: Segment, gdt: DescriptorTable,
        idt: DescriptorTable, cr0: UInt64, cr2: UInt64, cr3: UInt64, cr4: UInt64, efer: UInt64
    ) {
        self.cs = cs
        self.ds = ds
        self.es = es
        self.fs = fs
        self.gs = gs
        self.ss = ss
        self.gdt = gdt
        self.idt = idt
        self.cr0 = cr0
        self.cr2 = cr2
        self.cr3 = cr3
        self.cr4 = cr4
        self.efer = efer
    }
}
