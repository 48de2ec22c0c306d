// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Foundation
import Testing
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import Vhost
import VhostUser
import VhostUserBackend
import VirtioDevices

typealias Rng = EntropyDevice<GuestMemoryMap<MmapRegion>>

/// Runs `body` with a session serving a fresh EntropyDevice.
func withSession(_ body: (VhostUserBackendSession<Rng>) throws -> Void) throws {
    let loop = try EventLoopThread.start()
    defer { _ = loop.stopAndJoin() }
    try body(VhostUserBackendSession(device: Rng(), eventLoop: loop.remote))
}

/// Handles `message` without descriptors.
@discardableResult
func send(
    _ session: VhostUserBackendSession<Rng>, _ request: VhostUserRequest, _ payload: VhostUserPayload = .empty
) throws(VhostUserBackendError) -> VhostUserMessage? {
    var none: [ReceivedDescriptor] = []
    return try session.handle(VhostUserMessage(request, payload: payload), descriptors: &none)
}

@Suite("VhostUserBackendSession: what a front-end's requests do, and what a hostile one gets")
struct BackendSessionTests {
    @Test func negotiationAnswersFromTheDevice() throws {
        try withSession { session in
            let features = try send(session, .getFeatures)
            guard case .u64(let bits)? = features?.payload else {
                Issue.record("\(String(describing: features))")
                return
            }
            #expect(bits & VirtioFeature.version1 != 0 && bits & VhostUserFeatures.protocolFeatures != 0)
            // virtio-rng has no configuration space, so CONFIG is not offered.
            #expect(try send(session, .getProtocolFeatures)?.payload == .u64(0b1001))
            #expect(try send(session, .getQueueNum)?.payload == .u64(1))
            try send(session, .setProtocolFeatures, .u64(UInt64.max))
            #expect(session.protocolFeatures == [.multiQueue, .replyAck])
            #expect(throws: VhostUserBackendError.unsupported(VhostUserRequest.getConfig.rawValue)) {
                try send(session, .getConfig, .config(VhostUserConfig(offset: 0, bytes: [0, 0])))
            }
        }
    }

    @Test func hostileRingRequestsGetTypedErrors() throws {
        try withSession { session in
            #expect(throws: VhostUserBackendError.ringIndex(1)) {
                try send(session, .setVringNum, .vringState(VringState(index: 1, num: 256)))
            }
            #expect(throws: VhostUserBackendError.ringIndex(Int(Int32.max))) {
                try send(session, .setVringBase, .vringState(VringState(index: .max, num: 0)))
            }
            for size: UInt32 in [0, 3, 65536, .max] {
                #expect(throws: VhostUserBackendError.ringSize(index: 0, size: size)) {
                    try send(session, .setVringNum, .vringState(VringState(index: 0, num: size)))
                }
            }
            // A kick announced with a descriptor that did not come, and one that came unannounced.
            #expect(throws: VhostUserBackendError.descriptorCount(request: 12, expected: 1, got: 0)) {
                try send(session, .setVringKick, .u64(0))
            }
            let event = try EventFd()
            var extra = [ReceivedDescriptor(try event.descriptor.duplicate())]
            #expect(throws: VhostUserBackendError.descriptorCount(request: 3, expected: 0, got: 1)) {
                try session.handle(VhostUserMessage(.setOwner), descriptors: &extra)
            }
            // Bits beyond the index and the no-descriptor flag.
            #expect(throws: VhostUserBackendError.protocolError(.sizeMismatch(request: 13, size: 8))) {
                try send(session, .setVringCall, .u64(0x1_0000))
            }
            #expect(throws: VhostUserBackendError.unsupported(VhostUserRequest.setLogBase.rawValue)) {
                try send(session, .setLogBase, .u64(0))
            }
        }
    }

    @Test func aMemoryTableMustMatchItsDescriptorsAndTheirFiles() throws {
        try withSession { session in
            let region = VhostUserMemoryRegion(
                guestAddress: 0, size: 1 << 20, userAddress: 0x7f00_0000_0000, mmapOffset: 0)
            #expect(throws: VhostUserBackendError.descriptorCount(request: 5, expected: 1, got: 0)) {
                try send(session, .setMemTable, .memoryTable([region]))
            }
            // A file smaller than the region claims: refused before anything is mapped.
            let small = try MemFd(name: "small", size: 4096)
            var descriptors = [ReceivedDescriptor(try small.descriptor.duplicate())]
            do {
                _ = try session.handle(
                    VhostUserMessage(.setMemTable, payload: .memoryTable([region])), descriptors: &descriptors)
                Issue.record("a region larger than its file was mapped")
            } catch let error as VhostUserBackendError {
                guard case .memory(let reason) = error else {
                    Issue.record("\(error)")
                    return
                }
                #expect(reason.contains("0x0"), "\(reason)")
            }
            // A ring whose addresses the table does not cover cannot start.
            let ram = try MemFd(name: "ram", size: 1 << 20)
            descriptors = [ReceivedDescriptor(try ram.descriptor.duplicate())]
            _ = try session.handle(
                VhostUserMessage(.setMemTable, payload: .memoryTable([region])), descriptors: &descriptors)
            try send(session, .setVringNum, .vringState(VringState(index: 0, num: 8)))
            try send(
                session, .setVringAddr,
                .vringAddress(VringAddress(index: 0, descriptorTable: 0x1000, usedRing: 0x3000, availableRing: 0x2000)))
            let kick = try EventFd()
            var kicks = [ReceivedDescriptor(try kick.descriptor.duplicate())]
            #expect(throws: VhostUserBackendError.ringAddress(index: 0)) {
                try session.handle(VhostUserMessage(.setVringKick, payload: .u64(0)), descriptors: &kicks)
            }
            #expect(!session.isActive)
        }
    }

    @Test func aRingInTheTableStartsTheDeviceAndGetVringBaseStopsIt() throws {
        try withSession { session in
            let ram = try MemFd(name: "ram", size: 1 << 20)
            let base: UInt64 = 0x7f00_0000_0000
            var descriptors = [ReceivedDescriptor(try ram.descriptor.duplicate())]
            _ = try session.handle(
                VhostUserMessage(
                    .setMemTable,
                    payload: .memoryTable([
                        VhostUserMemoryRegion(guestAddress: 0, size: 1 << 20, userAddress: base, mmapOffset: 0)
                    ])), descriptors: &descriptors)
            try send(session, .setFeatures, .u64(VirtioFeature.version1))
            try send(session, .setVringNum, .vringState(VringState(index: 0, num: 8)))
            try send(session, .setVringBase, .vringState(VringState(index: 0, num: 5)))
            try send(
                session, .setVringAddr,
                .vringAddress(
                    VringAddress(
                        index: 0, descriptorTable: base + 0x1000, usedRing: base + 0x3000,
                        availableRing: base + 0x2000)))
            let kick = try EventFd()
            var kicks = [ReceivedDescriptor(try kick.descriptor.duplicate())]
            _ = try session.handle(VhostUserMessage(.setVringKick, payload: .u64(0)), descriptors: &kicks)
            // Without VHOST_USER_F_PROTOCOL_FEATURES the kick enables the ring: the device runs.
            #expect(session.isActive)
            #expect(session.device.activeQueues?.first?.nextAvailable == 5)
            let reply = try send(session, .getVringBase, .vringState(VringState(index: 0, num: 0)))
            #expect(reply?.payload == .vringState(VringState(index: 0, num: 5)))
            #expect(!session.isActive && session.device.activeQueues == nil)
        }
    }
}
