// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMSysUtil

@Suite struct TimerFdTests {
    @Test func oneShotExpiresOnceAfterItsDelay() throws {
        let timer = try TimerFd()
        let start = ContinuousClock.now
        try timer.arm(after: .milliseconds(15))
        #expect(try timer.setting().interval == nil)
        #expect(try timer.wait() == 1)
        #expect(ContinuousClock.now - start >= .milliseconds(15))
        // Disarmed after firing.
        #expect(try timer.setting().remaining == nil)
    }

    @Test func periodicTimerCountsMissedExpirations() throws {
        let timer = try TimerFd(flags: .nonBlocking)
        try timer.arm(after: .milliseconds(2), repeating: .milliseconds(2))
        #expect(try timer.setting().interval == .milliseconds(2))
        usleep(21_000)
        let expirations = try timer.wait()
        #expect(expirations >= 5)  // ~10 expected; allow a loaded machine
        try timer.disarm()
        #expect(try timer.setting() == TimerFd.Setting(remaining: nil, interval: nil))
    }

    @Test func nonBlockingReadBeforeExpiryThrowsEAGAIN() throws {
        let timer = try TimerFd(flags: .nonBlocking)
        try timer.arm(after: .seconds(60))
        let remaining = try #require(try timer.setting().remaining)
        #expect(remaining > .seconds(59) && remaining <= .seconds(60))
        #expect(throws: SystemError("read(timerfd)", errno: .wouldBlock)) { try timer.wait() }
    }

    @Test func zeroDelayFiresImmediatelyInsteadOfDisarming() throws {
        let timer = try TimerFd()
        try timer.arm(after: .zero)
        #expect(try timer.wait() == 1)
    }

    @Test func readableThroughEpoll() throws {
        let timer = try TimerFd(flags: .nonBlocking)
        let epoll = try Epoll()
        try epoll.add(timer.descriptor.rawValue, events: .readable, data: 77)
        try timer.arm(after: .milliseconds(5))
        var ready = Epoll.EventBuffer(capacity: 1)
        #expect(try epoll.wait(into: &ready, timeout: .seconds(2)) == 1)
        #expect(ready[0].data == 77)
        #expect(try timer.wait() == 1)
    }

    @Test func badDurationsAreRejected() throws {
        let timer = try TimerFd()
        #expect(throws: SystemError("timerfd_settime", errno: .invalidArgument)) {
            try timer.arm(after: .milliseconds(-1))
        }
        #expect(throws: SystemError("timerfd_settime", errno: .invalidArgument)) {
            try timer.arm(after: .milliseconds(1), repeating: .zero)
        }
    }
}
