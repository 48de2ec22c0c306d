// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import IntegrationVMMCore
import Seccompiler
import Testing

/// The built-in policy, checked call by call against the real kernel in throwaway child
/// processes (`BPFProgram.probe`): what a vCPU or the VMM thread needs runs, the rest traps.
@Suite("integration-vmm's seccomp policy")
struct SandboxTests {
    let sandbox: Sandbox

    init() throws {
        sandbox = try Sandbox(policy: Sandbox.defaultPolicy())
    }

    /// ioctl request numbers (x86_64 <linux/kvm.h>).
    static let kvmRun: UInt64 = 0xAE80
    static let kvmCreateVM: UInt64 = 0xAE01
    static let kvmSetUserMemoryRegion: UInt64 = 0x4020_AE46
    /// ioctl's x86_64 system call number (Glibc does not export the SYS_ macros to Swift).
    static let ioctlNumber: Int32 = 16

    @Test func vcpuThreadsMayRunTheVCPUAndNothingThatOpensOrMaps() throws {
        // A bad descriptor: the call reaches the kernel, which answers EBADF.
        #expect(
            try sandbox.vcpu.probe("ioctl", arguments: [UInt64(bitPattern: -1), Self.kvmRun])
                == .failed(.badFileDescriptor))
        #expect(
            try sandbox.vcpu.probe("write", arguments: [UInt64(bitPattern: -1), 0, 0]) == .failed(.badFileDescriptor))
        for request in [Self.kvmCreateVM, Self.kvmSetUserMemoryRegion] {
            let outcome = try sandbox.vcpu.probe("ioctl", arguments: [UInt64(bitPattern: -1), request])
            #expect(outcome == .trapped(syscall: Self.ioctlNumber, data: 0), "ioctl 0x\(String(request, radix: 16))")
        }
        for call in ["openat", "socket", "execve", "clone3", "ptrace", "mount", "read"] {
            guard case .trapped = try sandbox.vcpu.probe(call) else {
                Issue.record("vcpu filter lets \(call) through")
                continue
            }
        }
    }

    /// The virtio I/O thread: file, tap and socket I/O on descriptors it already has, no new
    /// files, processes or KVM calls.
    @Test func theIOThreadMayServeDevicesButOpensNothing() throws {
        let badFD = UInt64(bitPattern: -1)
        for call in ["preadv", "pwritev", "readv", "writev", "fdatasync", "fallocate", "connect", "accept4", "fcntl"] {
            #expect(try sandbox.io.probe(call, arguments: [badFD, 0, 0, 0]) == .failed(.badFileDescriptor), "\(call)")
        }
        guard case .returned = try sandbox.io.probe("getrandom", arguments: [0, 0, 0]) else {
            Issue.record("getrandom did not run under the io filter")
            return
        }
        for call in ["ioctl", "openat", "open", "execve", "clone", "clone3", "ptrace", "mount", "kill", "bind"] {
            guard case .trapped = try sandbox.io.probe(call) else {
                Issue.record("io filter lets \(call) through")
                continue
            }
        }
    }

    /// TUNSETOFFLOAD is the one non-KVM ioctl a vCPU may make (virtio-net activation on DRIVER_OK).
    @Test func vcpuThreadsMaySetTapOffloadsOnly() throws {
        let badFD = UInt64(bitPattern: -1)
        #expect(try sandbox.vcpu.probe("ioctl", arguments: [badFD, 0x4004_54d0]) == .failed(.badFileDescriptor))
        #expect(
            try sandbox.vcpu.probe("ioctl", arguments: [badFD, 0x4004_54ca])
                == .trapped(syscall: Self.ioctlNumber, data: 0))
    }

    @Test func theVMMThreadMayWaitAndRestoreTheTerminalOnly() throws {
        #expect(
            try sandbox.vmm.probe("read", arguments: [UInt64(bitPattern: -1), 0, 0]) == .failed(.badFileDescriptor))
        #expect(
            try sandbox.vmm.probe("ioctl", arguments: [UInt64(bitPattern: -1), 0x5402]) == .failed(.badFileDescriptor))
        let kvmRun = try sandbox.vmm.probe("ioctl", arguments: [UInt64(bitPattern: -1), Self.kvmRun])
        #expect(kvmRun == .trapped(syscall: Self.ioctlNumber, data: 0))
        // A coverage build lets this thread open its profile as it exits (ProfileWriter.rules).
        let opens = ProfileWriter.isLinked ? [] : ["openat"]
        for call in opens + ["socket", "execve", "clone", "clone3", "connect", "fork"] {
            guard case .trapped = try sandbox.vmm.probe(call) else {
                Issue.record("vmm filter lets \(call) through")
                continue
            }
        }
    }

    /// Learning mode refuses nothing: an unlisted call runs (and the kernel audits it).
    @Test func learningModeLogsInsteadOfTrapping() throws {
        let learning = try Sandbox(policy: Sandbox.defaultPolicy(), learning: true)
        #expect(learning.learning)
        #expect(learning.vcpu.bytes != sandbox.vcpu.bytes)
        guard case .returned(let pid) = try learning.vcpu.probe("getppid") else {
            Issue.record("getppid did not run under the learning filter")
            return
        }
        #expect(pid == Int(getpid()))
    }

    @Test func aPolicyMustDefineExactlyTheVMMAndVCPUFilters() throws {
        let onlyVMM = try Sandbox.policy(
            jsonBytes: Array(#"{"vmm": {"default_action": "trap", "filter_action": "allow", "filter": []}}"#.utf8),
            origin: "only-vmm.json")
        #expect(throws: VMMError.self) { try Sandbox(policy: onlyVMM) }
        do {
            _ = try Sandbox(policy: onlyVMM)
        } catch {
            #expect(error.description.contains(#"needs exactly ["io", "vcpu", "vmm"]"#), "\(error)")
        }
    }

    @Test func malformedPoliciesNameTheFileLineAndColumn() {
        let text = """
            {"vmm": {"default_action": "trap",
                     "filter_action": "allow", "filter": [{"syscall": 7}]}}
            """
        do {
            _ = try Sandbox.policy(jsonBytes: Array(text.utf8), origin: "policy.json")
            Issue.record("a malformed policy was accepted")
        } catch {
            #expect(error.description.hasPrefix("policy.json:2:"), "\(error)")
        }
    }
}
