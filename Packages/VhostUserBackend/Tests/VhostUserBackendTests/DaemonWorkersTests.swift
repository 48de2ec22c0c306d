// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Glibc
import Synchronization
import Testing
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import Vhost
import VhostUser
import VhostUserBackend
import VirtioDevices

/// A three-ring device that records which thread each kick reached it on and answers
/// every kick with a used-buffer interrupt for that ring only.
final class RingProbe: VirtioDevice, Sendable {
    typealias Memory = GuestMemoryMap<MmapRegion>
    private let active = Mutex<VirtioActivation<Memory>?>(nil)
    private let kicks = Mutex<[(ring: Int, thread: UInt)]>([])

    var deviceType: VirtioDeviceType { .entropy }
    var queueMaximumSizes: [UInt16] { [8, 8, 8] }
    var deviceFeatures: UInt64 { 0 }
    var configSize: Int { 0 }
    func readConfig(offset: Int, size: Int) -> UInt64 { 0 }
    func writeConfig(offset: Int, size: Int, value: UInt64) {}
    func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError) {
        active.withLock { $0 = activation }
    }
    func reset() { active.withLock { $0 = nil } }
    func queueNotified(_ index: Int) {
        guard let interrupt = active.withLock({ $0?.interrupt }) else { return }
        kicks.withLock { $0.append((index, threadID())) }
        interrupt.signal(.usedBuffer, queue: index)
    }

    /// The kicks recorded since the last call.
    func takeKicks() -> [(ring: Int, thread: UInt)] {
        kicks.withLock { kicks in
            defer { kicks.removeAll() }
            return kicks
        }
    }
}

/// The calling thread's identity.
private func threadID() -> UInt { UInt(pthread_self()) }

/// A non-blocking eventfd that can sit in an array.
private final class Event {
    let event: EventFd
    init() throws { event = try EventFd(flags: .nonBlocking) }
    var raw: Int32 { event.descriptor.rawValue }

    /// Whether it is signalled within `milliseconds`; consumes the signal.
    func signalled(within milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: raw, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, milliseconds) == 1 else { return false }
        _ = try? event.wait()
        return true
    }
}

@Suite("VhostUserDaemon: workers serve the rings' kicks, and each ring gets its own call")
struct DaemonWorkersTests {
    /// Over the socket, from this project's front-end: the ring a kick arrives on is the ring
    /// that is called, and ring `i`'s kicks are served on worker `i % workers` (worker 0 being
    /// the thread that serves the connection).
    @Test(arguments: [1, 2, 3])
    func ringsAreServedOnTheirWorkersAndCalledAlone(workers: Int) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("workers-\(UUID()).sock").path
        let probe = RingProbe()
        let servingThread = Atomic<UInt>(0)
        let outcome = LockedOutcome()
        let finished = serveInBackground(outcome) { listening in
            servingThread.store(threadID(), ordering: .releasing)
            let daemon = VhostUserDaemon(device: probe, socketPath: path, workers: workers)
            daemon.log = { outcome.lines.append($0) }
            try daemon.serve(frontends: 1) { listening() }
        }
        let kicks = try (0..<3).map { _ in try Event() }
        let calls = try (0..<3).map { _ in try Event() }
        do {
            let frontend = try VhostUserFrontend(connectingTo: path)
            try frontend.setOwner()
            try frontend.setFeatures(VirtioFeature.version1 | VhostUserFeatures.protocolFeatures)
            try frontend.setProtocolFeatures(try frontend.getProtocolFeatures())
            let ram = try MemFd(name: "ram", size: 1 << 20)
            let base: UInt64 = 0x7f00_0000_0000
            try frontend.setMemoryTable(
                [VhostUserMemoryRegion(guestAddress: 0, size: 1 << 20, userAddress: base, mmapOffset: 0)],
                descriptors: [ram.descriptor.rawValue])
            for ring in 0..<3 {
                let area = base + UInt64(ring) * 0x4000
                try frontend.setVringSize(UInt32(ring), 8)
                try frontend.setVringAddress(
                    VringAddress(
                        index: UInt32(ring), descriptorTable: area + 0x1000, usedRing: area + 0x3000,
                        availableRing: area + 0x2000))
                try frontend.setVringBase(UInt32(ring), 0)
                try frontend.setVringDescriptor(.setVringCall, index: UInt8(ring), descriptor: calls[ring].raw)
                try frontend.setVringDescriptor(.setVringKick, index: UInt8(ring), descriptor: kicks[ring].raw)
                try frontend.setVringEnabled(UInt32(ring), true)  // acknowledged: the ring runs now
            }
            // Starting the rings served each once, from the connection's thread; forget that.
            for call in calls { _ = call.signalled(within: 1000) }
            _ = probe.takeKicks()
            for ring in 0..<3 {
                try kicks[ring].event.signal()
                #expect(calls[ring].signalled(within: 10_000), "ring \(ring) was not called")
                for other in 0..<3 where other != ring {
                    #expect(!calls[other].signalled(within: 0), "a kick on ring \(ring) called ring \(other)")
                }
            }
            let served = probe.takeKicks()
            #expect(served.map(\.ring) == [0, 1, 2])
            let threads = Dictionary(served.map { ($0.ring, $0.thread) }, uniquingKeysWith: { first, _ in first })
            #expect(threads[0] == servingThread.load(ordering: .acquiring), "worker 0 is the serving thread")
            for ring in 0..<3 {
                for other in 0..<3 where other != ring {
                    let sameWorker = ring % workers == other % workers
                    #expect(
                        (threads[ring] == threads[other]) == sameWorker,
                        "rings \(ring) and \(other) with \(workers) worker(s)")
                }
            }
        }
        #expect(finished.wait(timeout: .now() + 10) == .success, "the daemon did not return after its one front-end")
        #expect(outcome.error == nil, "\(outcome.error ?? "")")
        #expect(outcome.lines.last == "front-end 1 disconnected")
    }

    /// A daemon never runs more workers than its device has rings.
    @Test func workersAreCappedAtTheRingCount() {
        #expect(VhostUserDaemon(device: RingProbe(), socketPath: "/unused", workers: 8).workers == 3)
        #expect(VhostUserDaemon(device: RingProbe(), socketPath: "/unused").workers == 1)
    }
}
