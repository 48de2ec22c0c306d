// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// One CPUID leaf/subleaf result, as a hypervisor reports what it supports
/// (KVM_GET_SUPPORTED_CPUID) and takes a vCPU's CPUID (KVM_SET_CPUID2).
public struct CPUIDEntry: Hashable, Sendable {
    /// `flags` bit: the entry depends on `index` (ECX input).
    public static let significantIndex: UInt32 = 1

    /// EAX input (leaf).
    public var function: UInt32
    /// ECX input (subleaf), meaningful when `flags` has ``significantIndex``.
    public var index: UInt32
    /// Hypervisor flags.
    public var flags: UInt32
    /// EAX output.
    public var eax: UInt32
    /// EBX output.
    public var ebx: UInt32
    /// ECX output.
    public var ecx: UInt32
    /// EDX output.
    public var edx: UInt32

    /// Describes an entry.
    public init(
        function: UInt32, index: UInt32 = 0, flags: UInt32 = 0, eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0,
        edx: UInt32 = 0
    ) {
        self.function = function
        self.index = index
        self.flags = flags
        self.eax = eax
        self.ebx = ebx
        self.ecx = ecx
        self.edx = edx
    }
}

/// A CPUID output register.
public enum CPUIDRegister: Equatable, Sendable {
    /// EAX.
    case eax
    /// EBX.
    case ebx
    /// ECX.
    case ecx
    /// EDX.
    case edx
}

/// A CPU feature bit: which leaf, subleaf, register and bit announce it.
public struct CPUIDFeature: Equatable, Sendable {
    /// Leaf.
    public var function: UInt32
    /// Subleaf.
    public var index: UInt32
    /// Output register.
    public var register: CPUIDRegister
    /// Bit number.
    public var bit: UInt32

    /// Describes a feature bit.
    public init(function: UInt32, index: UInt32 = 0, register: CPUIDRegister, bit: UInt32) {
        self.function = function
        self.index = index
        self.register = register
        self.bit = bit
    }

    /// CMPXCHG16B.
    public static let cx16 = CPUIDFeature(function: 1, register: .ecx, bit: 13)
    /// POPCNT.
    public static let popcnt = CPUIDFeature(function: 1, register: .ecx, bit: 23)
    /// MOVBE.
    public static let movbe = CPUIDFeature(function: 1, register: .ecx, bit: 22)
    /// XSAVE/XRSTOR.
    public static let xsave = CPUIDFeature(function: 1, register: .ecx, bit: 26)
    /// OSXSAVE (XSAVE enabled by the OS).
    public static let osxsave = CPUIDFeature(function: 1, register: .ecx, bit: 27)
    /// AVX (needs XSAVE).
    public static let avx = CPUIDFeature(function: 1, register: .ecx, bit: 28)
    /// FMA (needs AVX).
    public static let fma = CPUIDFeature(function: 1, register: .ecx, bit: 12)
    /// F16C (needs AVX).
    public static let f16c = CPUIDFeature(function: 1, register: .ecx, bit: 29)
    /// x2APIC.
    public static let x2apic = CPUIDFeature(function: 1, register: .ecx, bit: 21)
    /// Hypervisor present.
    public static let hypervisor = CPUIDFeature(function: 1, register: .ecx, bit: 31)
    /// AVX2 (needs AVX).
    public static let avx2 = CPUIDFeature(function: 7, register: .ebx, bit: 5)
    /// INVPCID.
    public static let invpcid = CPUIDFeature(function: 7, register: .ebx, bit: 10)
    /// AVX-512 Foundation (needs XSAVE).
    public static let avx512f = CPUIDFeature(function: 7, register: .ebx, bit: 16)
    /// SMAP (stac/clac).
    public static let smap = CPUIDFeature(function: 7, register: .ebx, bit: 20)
    /// CLWB.
    public static let clwb = CPUIDFeature(function: 7, register: .ebx, bit: 24)
    /// RDPID.
    public static let rdpid = CPUIDFeature(function: 7, register: .ecx, bit: 22)
    /// RDTSCP.
    public static let rdtscp = CPUIDFeature(function: 0x8000_0001, register: .edx, bit: 27)

    /// Features that depend on `self` and must disappear with it.
    public var dependents: [CPUIDFeature] {
        if self == .xsave { return [.osxsave, .avx, .fma, .f16c, .avx2, .avx512f] }
        if self == .avx { return [.fma, .f16c, .avx2, .avx512f] }
        return []
    }

    /// What the instruction emulator of this project's PVM hosts cannot run
    /// (ci/guest/README.md): cx16, XSAVE (and everything built on it),
    /// POPCNT, MOVBE, SMAP, INVPCID, RDPID, RDTSCP, CLWB.
    public static var unsupportedOnPVM: [CPUIDFeature] {
        [.cx16, .xsave, .popcnt, .movbe, .smap, .invpcid, .rdpid, .rdtscp, .clwb]
    }
}

/// Turns a hypervisor's supported CPUID list into one vCPU's CPUID: APIC ids,
/// topology leaves (1, 4, 0xB, 0x1F), the hypervisor leaves, and hidden
/// features. A pure transform over ``CPUIDEntry`` values — applying the result
/// to a vCPU is the hypervisor layer's job.
///
/// ```swift
/// var policy = CPUIDPolicy(cpuCount: 4)
/// policy.hiddenFeatures = CPUIDFeature.unsupportedOnPVM
/// let vcpu2 = policy.entries(forVCPU: 2, supported: supportedByKVM)
/// ```
public struct CPUIDPolicy: Sendable {
    /// "KVMKVMKVM\0\0\0" in EBX, ECX, EDX of leaf 0x40000000.
    public static let kvmSignature: (ebx: UInt32, ecx: UInt32, edx: UInt32) = (0x4b4d_564b, 0x564b_4d56, 0x4d)

    /// vCPUs in the (single) package.
    public var cpuCount: Int
    /// Hardware threads per core (1: every vCPU is its own core).
    public var threadsPerCore: Int = 1
    /// Features to clear (and everything that depends on them).
    public var hiddenFeatures: [CPUIDFeature] = []
    /// A last adjustment per entry and vCPU index, for what the fields above do not cover.
    public var adjust: (@Sendable (inout CPUIDEntry, Int) -> Void)?

    /// A policy for `cpuCount` vCPUs.
    public init(cpuCount: Int) { self.cpuCount = Swift.max(1, cpuCount) }

    /// The APIC id of vCPU `index` (its index: ids are dense).
    public func apicID(forVCPU index: Int) -> UInt32 { UInt32(index) }

    /// Bits needed to number `count` items (ceil(log2(count))).
    static func bits(_ count: Int) -> UInt32 {
        var bits: UInt32 = 0
        while (1 << bits) < count { bits += 1 }
        return bits
    }

    /// vCPU `vcpu`'s CPUID entries derived from `supported`.
    public func entries(forVCPU vcpu: Int, supported: [CPUIDEntry]) -> [CPUIDEntry] {
        let apicID = apicID(forVCPU: vcpu)
        var hidden: [CPUIDFeature] = []
        for feature in hiddenFeatures { hidden += [feature] + feature.dependents }
        let hidesXSAVE = hidden.contains(.xsave)
        var result: [CPUIDEntry] = []
        var sawHypervisorLeaf = false
        var maxBasicLeaf: UInt32 = 0
        for var entry in supported {
            switch entry.function {
            case 0:
                maxBasicLeaf = entry.eax
            case 1:
                entry.ebx = (entry.ebx & 0x0000_ffff) | (apicID & 0xff) << 24 | UInt32(Swift.min(cpuCount, 255)) << 16
                entry.ecx |= 1 << 31  // hypervisor present
                if cpuCount > 1 { entry.edx |= 1 << 28 } else { entry.edx &= ~(1 << 28) }  // HTT
            case 4:
                let cacheLevel = (entry.eax >> 5) & 7
                let sharing = cacheLevel >= 3 ? cpuCount : threadsPerCore
                let cores = Swift.max(1, cpuCount / Swift.max(1, threadsPerCore))
                entry.eax =
                    (entry.eax & 0x3fff) | UInt32(Swift.min(cores - 1, 63)) << 26
                    | UInt32(Swift.min(sharing - 1, 0xfff)) << 14
            case 0xb, 0x1f:
                continue  // rebuilt below
            case 0xd where hidesXSAVE:
                continue  // no XSAVE state components without XSAVE
            case 0x4000_0000:
                sawHypervisorLeaf = true
                entry.ebx = Self.kvmSignature.ebx
                entry.ecx = Self.kvmSignature.ecx
                entry.edx = Self.kvmSignature.edx
                entry.eax = Swift.max(entry.eax, 0x4000_0001)
            default:
                break
            }
            for feature in hidden where feature.function == entry.function && feature.index == entry.index {
                let mask = ~(UInt32(1) << feature.bit)
                switch feature.register {
                case .eax: entry.eax &= mask
                case .ebx: entry.ebx &= mask
                case .ecx: entry.ecx &= mask
                case .edx: entry.edx &= mask
                }
            }
            result.append(entry)
        }
        if maxBasicLeaf >= 0xb || supported.contains(where: { $0.function == 0xb }) {
            result += topologyLeaf(0xb, apicID: apicID)
        }
        if supported.contains(where: { $0.function == 0x1f }) { result += topologyLeaf(0x1f, apicID: apicID) }
        if !sawHypervisorLeaf {
            result.append(
                CPUIDEntry(
                    function: 0x4000_0000, eax: 0x4000_0001, ebx: Self.kvmSignature.ebx, ecx: Self.kvmSignature.ecx,
                    edx: Self.kvmSignature.edx))
        }
        if let adjust {
            for position in result.indices { adjust(&result[position], vcpu) }
        }
        return result
    }

    /// The extended topology subleaves: SMT, core, and the terminating invalid level.
    func topologyLeaf(_ function: UInt32, apicID: UInt32) -> [CPUIDEntry] {
        let threads = Swift.max(1, threadsPerCore)
        let flags = CPUIDEntry.significantIndex
        return [
            CPUIDEntry(
                function: function, index: 0, flags: flags, eax: Self.bits(threads), ebx: UInt32(threads),
                ecx: 0 | 1 << 8, edx: apicID),
            CPUIDEntry(
                function: function, index: 1, flags: flags, eax: Self.bits(cpuCount), ebx: UInt32(cpuCount),
                ecx: 1 | 2 << 8, edx: apicID),
            CPUIDEntry(function: function, index: 2, flags: flags, eax: 0, ebx: 0, ecx: 2, edx: apicID),
        ]
    }
}

#if !hasFeature(Embedded)
// Snapshots store the CPUID a guest saw (see Registers.swift for why here).
extension CPUIDEntry: Codable {}
#endif
