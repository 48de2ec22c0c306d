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
        // SAFETY: the String is passed as a NUL-terminated C copy that lives for the call; access() only reads it.
        func loaded(_ name: String) -> Bool { unsafe access("\(sysfsModules)/\(name)", F_OK) == 0 }
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
