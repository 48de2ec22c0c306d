// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Foundation
import Testing
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import Vhost
import VhostUserBackend
import VirtioDevices

@Suite("The daemon template in the README")
struct TemplateDaemonTests {
    /// The template's device behind a session: a front-end's ring with two buffers (48 and
    /// 16 bytes) gets the source file's bytes, starting over at its end (the file has 40).
    @Test func theTemplateDeviceFillsBuffersFromItsSource() throws {
        let source = FileManager.default.temporaryDirectory.appendingPathComponent("template-\(UUID()).bin")
        let pattern = (0..<40).map { UInt8($0 * 3 + 1) }
        try Data(pattern).write(to: source)
        defer { try? FileManager.default.removeItem(at: source) }
        let loop = try EventLoopThread.start()
        defer { _ = loop.stopAndJoin() }
        let device = try FileEntropyDevice<GuestMemoryMap<MmapRegion>>(path: source.path)
        let session = VhostUserBackendSession(device: device, eventLoop: loop.remote)

        // Guest memory: descriptors at 0x1000, available ring at 0x2000, used ring at 0x3000,
        // buffers at 0x5000 (48 bytes, then 16 bytes chained) — what a driver would write.
        let ram = try MemFd(name: "ram", size: 1 << 16)
        func put(_ bytes: [UInt8], at offset: Int) {
            _ = bytes.withUnsafeBytes { pwrite(ram.descriptor.rawValue, $0.baseAddress, $0.count, off_t(offset)) }
        }
        func le(_ value: UInt64, _ size: Int) -> [UInt8] {
            (0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        }
        put(le(0x5000, 8) + le(48, 4) + le(3, 2) + le(1, 2), at: 0x1000)  // NEXT | WRITE, next 1
        put(le(0x5030, 8) + le(16, 4) + le(2, 2) + le(0, 2), at: 0x1010)  // WRITE
        put(le(0, 2) + le(1, 2) + le(0, 2), at: 0x2000)  // flags, idx 1, ring[0] = descriptor 0

        let user: UInt64 = 0x7f00_0000_0000
        var none: [ReceivedDescriptor] = []
        var table = [ReceivedDescriptor(try ram.descriptor.duplicate())]
        _ = try session.handle(
            VhostUserMessage(
                .setMemTable,
                payload: .memoryTable([
                    VhostUserMemoryRegion(guestAddress: 0, size: 1 << 16, userAddress: user, mmapOffset: 0)
                ])), descriptors: &table)
        for message in [
            VhostUserMessage(.setFeatures, payload: .u64(VirtioFeature.version1)),
            VhostUserMessage(.setVringNum, payload: .vringState(VringState(index: 0, num: 8))),
            VhostUserMessage(
                .setVringAddr,
                payload: .vringAddress(
                    VringAddress(
                        index: 0, descriptorTable: user + 0x1000, usedRing: user + 0x3000, availableRing: user + 0x2000)
                )),
        ] {
            _ = try session.handle(message, descriptors: &none)
        }
        let kick = try EventFd()
        var kicks = [ReceivedDescriptor(try kick.descriptor.duplicate())]
        _ = try session.handle(VhostUserMessage(.setVringKick, payload: .u64(0)), descriptors: &kicks)
        #expect(session.isActive)
        // Starting the ring served what was already available.
        var buffer = [UInt8](repeating: 0, count: 64)
        _ = buffer.withUnsafeMutableBytes { pread(ram.descriptor.rawValue, $0.baseAddress, 64, 0x5000) }
        #expect(buffer == Array((pattern + pattern).prefix(64)))
        var used = [UInt8](repeating: 0, count: 12)
        _ = used.withUnsafeMutableBytes { pread(ram.descriptor.rawValue, $0.baseAddress, 12, 0x3002) }
        #expect(used == le(1, 2) + le(0, 4) + le(64, 4) + [0, 0], "used idx 1, element (0, 64 bytes)")
    }

    /// The README shows the template as it is compiled here, in under 150 lines.
    @Test func theGuideShowsTheCompiledTemplate() throws {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let code = try String(contentsOf: tests.appendingPathComponent("TemplateDaemon.swift"), encoding: .utf8)
        let package = tests.deletingLastPathComponent().deletingLastPathComponent()
        let guide = try String(contentsOf: package.appendingPathComponent("README.md"), encoding: .utf8)
        guard let begin = code.range(of: "// template: begin\n"), let end = code.range(of: "// template: end") else {
            Issue.record("the template markers are missing")
            return
        }
        let template = String(code[begin.upperBound..<end.lowerBound])
        #expect(
            guide.contains("```swift\n" + template + "```"), "the README's template differs from TemplateDaemon.swift")
        #expect(template.split(separator: "\n", omittingEmptySubsequences: false).count < 150)
    }
}
