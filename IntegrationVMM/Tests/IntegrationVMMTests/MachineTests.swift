// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Hypervisor
import IntegrationVMMCore
import Testing
import VMMSysUtil

/// A 64-bit ELF "kernel" (no PVH note, so it is entered in long mode as Linux's 64-bit
/// boot protocol says): writes "K\n" to COM1, then asks the i8042 for a reset.
func resettingKernel() -> [UInt8] {
    let code: [UInt8] = [
        0x66, 0xBA, 0xF8, 0x03,  // mov dx, 0x3f8
        0xB0, 0x4B, 0xEE,  // mov al, 'K'; out dx, al
        0xB0, 0x0A, 0xEE,  // mov al, '\n'; out dx, al
        0xB0, 0xFE, 0xE6, 0x64,  // mov al, 0xfe; out 0x64, al (pulse reset)
        0xF4, 0xEB, 0xFD,  // hlt; jmp back to hlt
    ]
    var image = [UInt8](repeating: 0, count: 0x1000 + code.count)
    func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        for index in 0..<(T.bitWidth / 8) { image[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
    image.replaceSubrange(0..<7, with: [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1])  // ELF64, little-endian, version 1
    put(UInt16(2), at: 16)  // ET_EXEC
    put(UInt16(62), at: 18)  // x86_64
    put(UInt32(1), at: 20)
    put(UInt64(0x100_0000), at: 24)  // entry
    put(UInt64(64), at: 32)  // program headers right after the header
    put(UInt16(64), at: 52)
    put(UInt16(56), at: 54)
    put(UInt16(1), at: 56)  // one PT_LOAD
    put(UInt32(1), at: 64)
    put(UInt32(5), at: 68)  // R+X
    put(UInt64(0x1000), at: 72)  // file offset
    put(UInt64(0x100_0000), at: 80)  // virtual address
    put(UInt64(0x100_0000), at: 88)  // physical address
    put(UInt64(code.count), at: 96)
    put(UInt64(code.count), at: 104)
    image.replaceSubrange(0x1000..<(0x1000 + code.count), with: code)
    return image
}

@Suite("Machine: built by one step, run by another; errors keep their cause")
struct MachineTests {
    @Test func aMachineIsBuiltThenRunOnce() throws {
        guard access("/dev/kvm", R_OK | W_OK) == 0 else {
            try GuestRequirement.missing("/dev/kvm")
            return
        }
        let kernel = FileManager.default.temporaryDirectory.appendingPathComponent("ivmm-reset-kernel-\(getpid())")
        try Data(resettingKernel()).write(to: kernel)
        defer { try? FileManager.default.removeItem(at: kernel) }
        var config = MachineConfig(kernel: kernel.path, commandLine: "console=ttyS0")
        config.vcpus = 2
        config.memorySize = 128 << 20
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        var options = RunOptions()
        options.forwardInput = false
        options.outputDescriptor = fds[1]

        // Building boots nothing: the machine exists, with its configuration, and has not run.
        let machine = try Machine.build(config, options: options, on: try KVMHypervisor())
        #expect(machine.config.vcpus == 2)
        let result = try machine.run()
        #expect(result.outcome == .rebooted)
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = read(fds[0], &bytes, bytes.count)
        #expect(count == 2 && Array(bytes[0..<2]) == Array("K\n".utf8))
        // A machine runs once.
        #expect(throws: VMMError("this machine has already run")) { try machine.run() }
    }

    @Test func aMachineBuiltButNeverRunReleasesItsDevices() throws {
        guard access("/dev/kvm", R_OK | W_OK) == 0 else {
            try GuestRequirement.missing("/dev/kvm")
            return
        }
        let kernel = FileManager.default.temporaryDirectory.appendingPathComponent("ivmm-idle-kernel-\(getpid())")
        let disk = FileManager.default.temporaryDirectory.appendingPathComponent("ivmm-idle-disk-\(getpid())")
        try Data(resettingKernel()).write(to: kernel)
        try Data(count: 1 << 20).write(to: disk)
        defer {
            try? FileManager.default.removeItem(at: kernel)
            try? FileManager.default.removeItem(at: disk)
        }
        var config = MachineConfig(kernel: kernel.path, commandLine: "console=ttyS0")
        config.virtioDevices = [try VirtioDeviceOption.parseBlock("path=\(disk.path)")]
        var options = RunOptions()
        options.forwardInput = false
        do {
            let machine = try Machine.build(config, options: options, on: try KVMHypervisor())
            // The virtio device's place reached the kernel command line, and the disk is open.
            #expect(machine.config.commandLine.contains("virtio_mmio.device="))
            #expect(try descriptors(naming: disk.path) == 1)
        }
        // Dropped unrun: its I/O thread stopped and released the device, which closed the disk.
        #expect(try descriptors(naming: disk.path) == 0)
    }

    @Test func failuresNameTheOperationAndKeepTheCause() throws {
        let missing = MachineConfig(kernel: "/nonexistent/vmlinux", commandLine: "")
        do {
            _ = try IntegrationVMM.run(missing, options: RunOptions())
            Issue.record("a missing kernel was accepted")
        } catch {
            #expect(error.operation == "kernel" || error.operation == "cannot open KVM", "\(error)")
            if error.operation == "kernel" {
                #expect(error.description == "kernel: open(/nonexistent/vmlinux): No such file or directory (errno 2)")
                #expect(error.underlying(SystemError.self)?.errno == .noSuchFile)
            }
        }
        guard access("/dev/kvm", R_OK | W_OK) == 0 else {
            try GuestRequirement.missing("/dev/kvm")
            return
        }
        let hypervisor = try KVMHypervisor()
        var invalid = MachineConfig(kernel: "/nonexistent/vmlinux", commandLine: "")
        invalid.vcpus = 0
        do {
            _ = try Machine.build(invalid, options: RunOptions(), on: hypervisor)
            Issue.record("zero vCPUs were accepted")
        } catch {
            #expect(error.operation == "configuration")
            #expect(error.underlying(ConfigError.self) != nil)
            #expect(error.underlying(SystemError.self) == nil)
        }
        // Nested: the first match in the chain of causes.
        let nested = VMMError("outer", cause: VMMError("inner", cause: SystemError("ioctl", errno: .noSuchFile)))
        #expect(nested.underlying(SystemError.self) == SystemError("ioctl", errno: .noSuchFile))
        #expect(nested.description == "outer: inner: ioctl: No such file or directory (errno 2)")
    }

    /// How many of this process's descriptors are open on `path` (from /proc/self/fd; the
    /// path is this test's own, so tests running alongside do not change the count).
    func descriptors(naming path: String) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count { name in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")) == path
        }
    }
}
