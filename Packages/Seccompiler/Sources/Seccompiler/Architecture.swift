// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CSeccomp
import Glibc

/// The architecture a filter is compiled for. System call numbers differ between
/// architectures, and every program checks `seccomp_data.arch` first, so a program only
/// works on the architecture it was compiled for.
///
/// ```swift
/// let arm = try filter.compile(for: .aarch64)  // build on x86_64, ship to an arm64 host
/// ```
public enum Architecture: String, Hashable, Sendable, CaseIterable {
    /// x86-64 (`AUDIT_ARCH_X86_64`).
    case x86_64
    /// 64-bit Arm (`AUDIT_ARCH_AARCH64`).
    case aarch64
    /// 64-bit RISC-V (`AUDIT_ARCH_RISCV64`).
    case riscv64

    /// The architecture this process runs on, if it is one of the supported ones.
    public static var native: Architecture? {
        let token = seccomp_arch_native()
        return allCases.first { $0.token == token }
    }

    /// libseccomp's token for the architecture (the kernel's `AUDIT_ARCH_*` value).
    public var token: UInt32 {
        switch self {
        case .x86_64: return cseccomp_arch_x86_64()
        case .aarch64: return cseccomp_arch_aarch64()
        case .riscv64: return cseccomp_arch_riscv64()
        }
    }

    /// The number of system call `name` on this architecture, or nil when it has no such call.
    ///
    /// libseccomp answers names a table knows but the architecture lacks (`open` on aarch64)
    /// with negative pseudo numbers; those count as unknown here, since a rule for them would
    /// silently match nothing.
    public func syscallNumber(_ name: String) -> Int32? { Self.resolve(name, token: token) }

    /// The number of `name` on the host's architecture, which need not be a supported one.
    static func hostSyscallNumber(_ name: String) -> Int32? { resolve(name, token: 0) }  // SCMP_ARCH_NATIVE

    private static func resolve(_ name: String, token: UInt32) -> Int32? {
        // A NUL would end the C string early and turn "read\0junk" into "read".
        guard !name.isEmpty, !name.utf8.contains(0) else { return nil }
        // SAFETY: the name (non-empty, no NUL: checked above) goes as a C copy alive for the call; libseccomp reads it.
        let number = unsafe seccomp_syscall_resolve_name_arch(token, name)
        return number >= 0 ? number : nil
    }

    /// The name of system call `number` on this architecture, if it has one.
    public func syscallName(_ number: Int32) -> String? {
        // SAFETY: libseccomp returns a malloc'd NUL-terminated name (or NULL) that the caller owns.
        guard let name = unsafe seccomp_syscall_resolve_num_arch(token, number) else { return nil }
        // SAFETY: `name` is freed exactly once, by the defer, after String(cString:) has copied it.
        defer { unsafe free(name) }
        return unsafe String(cString: name)
    }
}
