// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing
import VMMemory
import VMMemoryLinux
import Vhost
import VhostUser
import VhostUserBackend
import VirtioDevices

/// The README's example, as written there (with a temporary socket path), served to this
/// project's own front-end: it negotiates, then leaves, and `serve(frontends: 1)` returns.
@Test func readmeExampleServesOneFrontEnd() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID()).sock").path
    let outcome = LockedOutcome()
    let finished = serveInBackground(outcome) { listening in
        let daemon = VhostUserDaemon(device: EntropyDevice<GuestMemoryMap<MmapRegion>>(), socketPath: path)
        daemon.log = { outcome.lines.append($0) }
        try daemon.serve(frontends: 1) { listening() }
    }
    do {
        let frontend = try VhostUserFrontend(connectingTo: path)
        #expect(try frontend.getFeatures() & VhostUserFeatures.protocolFeatures != 0)
        try frontend.setOwner()
        try frontend.setProtocolFeatures(try frontend.getProtocolFeatures())
        #expect(frontend.protocolFeatures.contains(.replyAck))
        #expect(try frontend.getQueueCount() == 1)
        try frontend.setVringSize(0, 256)  // acknowledged (REPLY_ACK)
    }
    #expect(finished.wait(timeout: .now() + 10) == .success, "the daemon did not return after its one front-end")
    #expect(outcome.error == nil, "\(outcome.error ?? "")")
    #expect(outcome.lines == ["front-end 1 connected on \(path)", "front-end 1 disconnected"])
    #expect(!FileManager.default.fileExists(atPath: path))
}

/// Runs `serve` (a daemon serving) on a thread of its own and returns once it calls its
/// argument (the daemon listens): a semaphore signalled when `serve` returns. A throw goes
/// to `outcome.error`.
func serveInBackground(
    _ outcome: LockedOutcome, _ serve: @escaping @Sendable (_ listening: @escaping () -> Void) throws -> Void
) -> DispatchSemaphore {
    let listening = DispatchSemaphore(value: 0)
    let finished = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        do {
            try serve { listening.signal() }
        } catch {
            outcome.error = "\(error)"
        }
        finished.signal()
    }
    #expect(listening.wait(timeout: .now() + 10) == .success, "the daemon did not listen")
    return finished
}

/// What the daemon thread reports.
final class LockedOutcome: @unchecked Sendable {
    // @unchecked: written by the daemon thread before `finished` is signalled, read after.
    var lines: [String] = []
    var error: String?
}
