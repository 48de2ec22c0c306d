// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc
import Testing
import VMMSysUtil

// Signals are sent to the test's own thread (thread-directed), blocked there, so
// no other thread of the test process can take them. SIGWINCH and SIGURG are
// ignored by default: a leak would not kill the test run.
@Suite(.serialized) struct SignalFdTests {
    @Test func readsABlockedSignalWithItsSender() throws {
        try SignalFd.block([SIGWINCH])
        defer { try? SignalFd.unblock([SIGWINCH]) }
        #expect(try SignalFd.isBlocked(SIGWINCH))
        let signals = try SignalFd(signals: [SIGWINCH], flags: .nonBlocking)
        #expect(pthread_kill(pthread_self(), SIGWINCH) == 0)
        let info = try signals.read()
        #expect(info.signal == SIGWINCH)
        #expect(info.senderPID == getpid())
        #expect(info.senderUID == getuid())
        #expect(info.code == SI_TKILL)
        // Consumed: nothing more is pending.
        #expect(throws: SystemError("read(signalfd)", errno: .wouldBlock)) { try signals.read() }
    }

    @Test func carriesTheQueuedValue() throws {
        try SignalFd.block([SIGURG])
        defer { try? SignalFd.unblock([SIGURG]) }
        let signals = try SignalFd(signals: [SIGURG])
        #expect(cvmm_sfd_pthread_sigqueue(pthread_self(), SIGURG, 4242) == 0)
        let info = try signals.read()  // blocking: one is already pending
        #expect(info.signal == SIGURG)
        #expect(info.value == 4242)
        #expect(info.code == SI_QUEUE)
    }

    @Test func signalsOutsideTheSetAreNotReported() throws {
        try SignalFd.block([SIGWINCH, SIGURG])
        defer { try? SignalFd.unblock([SIGWINCH, SIGURG]) }
        let signals = try SignalFd(signals: [SIGURG], flags: .nonBlocking)
        #expect(pthread_kill(pthread_self(), SIGWINCH) == 0)
        #expect(throws: SystemError("read(signalfd)", errno: .wouldBlock)) { try signals.read() }
        // Drain the SIGWINCH so unblocking does not deliver it.
        let drain = try SignalFd(signals: [SIGWINCH], flags: .nonBlocking)
        #expect(try drain.read().signal == SIGWINCH)
    }

    @Test func readableThroughEpoll() throws {
        try SignalFd.block([SIGURG])
        defer { try? SignalFd.unblock([SIGURG]) }
        let signals = try SignalFd(signals: [SIGURG], flags: .nonBlocking)
        let epoll = try Epoll()
        try epoll.add(signals.descriptor.rawValue, events: .readable, data: 15)
        var ready = Epoll.EventBuffer(capacity: 1)
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 0)
        #expect(pthread_kill(pthread_self(), SIGURG) == 0)
        #expect(try epoll.wait(into: &ready, timeout: .seconds(1)) == 1)
        #expect(try signals.read().signal == SIGURG)
    }

    @Test func invalidSignalNumberIsATypedError() {
        #expect(throws: SystemError("sigaddset(999)", errno: .invalidArgument)) {
            _ = try SignalFd(signals: [999])
        }
        #expect(throws: SystemError("sigaddset(-1)", errno: .invalidArgument)) { try SignalFd.block([-1]) }
    }
}
