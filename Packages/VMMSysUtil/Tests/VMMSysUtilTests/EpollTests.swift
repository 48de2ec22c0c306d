// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMSysUtil

@Suite struct EpollTests {
    @Test func reportsReadyDescriptorWithItsUserData() throws {
        let epoll = try Epoll()
        let quiet = try EventFd(flags: .nonBlocking)
        let loud = try EventFd(flags: .nonBlocking)
        try epoll.add(quiet.descriptor.rawValue, events: .readable, data: 1)
        try epoll.add(loud.descriptor.rawValue, events: .readable, data: 0xDEAD_BEEF_0000_0002)
        try loud.signal()
        var ready = Epoll.EventBuffer(capacity: 8)
        let count = try epoll.wait(into: &ready, timeout: .seconds(1))
        #expect(count == 1)
        #expect(ready.count == 1)
        #expect(ready[0] == Epoll.Event(events: .readable, data: 0xDEAD_BEEF_0000_0002))
    }

    @Test func timeoutReturnsZeroAfterWaitingAtLeastTheTimeout() throws {
        let epoll = try Epoll()
        let event = try EventFd(flags: .nonBlocking)
        try epoll.add(event.descriptor.rawValue, events: .readable, data: 7)
        var ready = Epoll.EventBuffer(capacity: 4)
        let start = ContinuousClock.now
        #expect(try epoll.wait(into: &ready, timeout: .milliseconds(20)) == 0)
        #expect(ContinuousClock.now - start >= .milliseconds(20))
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 0)
    }

    @Test func modifyChangesEventsAndData() throws {
        let epoll = try Epoll()
        let event = try EventFd(flags: .nonBlocking)
        let fd = event.descriptor.rawValue
        try epoll.add(fd, events: .readable, data: 1)
        var ready = Epoll.EventBuffer(capacity: 4)
        // An eventfd is always writable; reading interest is not satisfied yet.
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 0)
        try epoll.modify(fd, events: [.readable, .writable], data: 2)
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 1)
        #expect(ready[0] == Epoll.Event(events: .writable, data: 2))
    }

    @Test func deleteStopsReporting() throws {
        let epoll = try Epoll()
        let event = try EventFd(flags: .nonBlocking)
        try epoll.add(event.descriptor.rawValue, events: .readable, data: 1)
        try event.signal()
        try epoll.delete(event.descriptor.rawValue)
        var ready = Epoll.EventBuffer(capacity: 4)
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 0)
    }

    @Test func controlErrorsAreTypedAndNameTheCall() throws {
        let epoll = try Epoll()
        let event = try EventFd()
        let fd = event.descriptor.rawValue
        #expect(throws: SystemError("epoll_ctl(MOD, \(fd))", errno: .noSuchFile)) {
            try epoll.modify(fd, events: .readable, data: 0)
        }
        try epoll.add(fd, events: .readable, data: 0)
        #expect(throws: SystemError("epoll_ctl(ADD, \(fd))", errno: .exists)) {
            try epoll.add(fd, events: .readable, data: 0)
        }
        #expect(throws: SystemError("epoll_ctl(ADD, -1)", errno: .badFileDescriptor)) {
            try epoll.add(-1, events: .readable, data: 0)
        }
        // Regular files cannot be polled.
        let file = try FileDescriptor.open("/proc/self/status", flags: O_RDONLY)
        let regular = file.rawValue
        #expect(throws: SystemError("epoll_ctl(ADD, \(regular))", errno: Errno(rawValue: EPERM))) {
            try epoll.add(regular, events: .readable, data: 0)
        }
    }

    @Test func bufferSmallerThanReadySetReturnsTheRestNextTime() throws {
        let epoll = try Epoll()
        let first = try EventFd(initialValue: 1, flags: .nonBlocking)
        let second = try EventFd(initialValue: 1, flags: .nonBlocking)
        let third = try EventFd(initialValue: 1, flags: .nonBlocking)
        try epoll.add(first.descriptor.rawValue, events: [.readable, .edgeTriggered], data: 1)
        try epoll.add(second.descriptor.rawValue, events: [.readable, .edgeTriggered], data: 2)
        try epoll.add(third.descriptor.rawValue, events: [.readable, .edgeTriggered], data: 3)
        var ready = Epoll.EventBuffer(capacity: 2)
        var seen: Set<UInt64> = []
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 2)
        seen.insert(ready[0].data)
        seen.insert(ready[1].data)
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 1)
        seen.insert(ready[0].data)
        #expect(seen == [1, 2, 3])
        // Edge-triggered: nothing new happened, so nothing is reported again.
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 0)
    }

    @Test func oneShotNeedsRearming() throws {
        let epoll = try Epoll()
        let event = try EventFd(initialValue: 1, flags: .nonBlocking)
        let fd = event.descriptor.rawValue
        try epoll.add(fd, events: [.readable, .oneShot], data: 9)
        var ready = Epoll.EventBuffer(capacity: 1)
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 1)
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 0)
        try epoll.modify(fd, events: [.readable, .oneShot], data: 10)
        #expect(try epoll.wait(into: &ready, timeout: .zero) == 1)
        #expect(ready[0].data == 10)
    }

    @Test func hangUpIsReportedWithoutAsking() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let reader = FileDescriptor(owning: ends[0])
        let writer = FileDescriptor(owning: ends[1])
        let epoll = try Epoll()
        try epoll.add(reader.rawValue, events: .readable, data: 5)
        try writer.close()
        var ready = Epoll.EventBuffer(capacity: 1)
        #expect(try epoll.wait(into: &ready, timeout: .seconds(1)) == 1)
        #expect(ready[0].events.contains(.hangUp))
        #expect(ready[0].events.description.contains("hangUp"))
    }

    @Test func waitWakesWhenAnotherThreadSignals() throws {
        let epoll = try Epoll()
        let event = try EventFd(flags: .nonBlocking)
        try epoll.add(event.descriptor.rawValue, events: .readable, data: 3)
        let raw = event.descriptor.rawValue
        let thread = try SignalThread(fd: raw, after: .milliseconds(10))
        var ready = Epoll.EventBuffer(capacity: 2)
        #expect(try epoll.wait(into: &ready, timeout: .seconds(5)) == 1)
        #expect(ready[0].data == 3)
        thread.join()
    }

    @Test func interruptedWaitResumesUntilItsTimeout() throws {
        // A handler installed without SA_RESTART makes epoll_wait fail with EINTR.
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0
        var previous = sigaction()
        #expect(sigaction(SIGURG, &action, &previous) == 0)
        defer { _ = sigaction(SIGURG, &previous, nil) }

        let epoll = try Epoll()
        let target = pthread_self()
        let interrupter = try Interrupter(thread: target, signal: SIGURG, after: .milliseconds(10))
        var ready = Epoll.EventBuffer(capacity: 1)
        let start = ContinuousClock.now
        #expect(try epoll.wait(into: &ready, timeout: .milliseconds(60)) == 0)
        #expect(ContinuousClock.now - start >= .milliseconds(60))
        interrupter.join()
        #expect(interrupter.delivered)
    }

    @Test func timeoutsRoundUpToWholeMilliseconds() throws {
        let epoll = try Epoll()
        var ready = Epoll.EventBuffer(capacity: 1)
        let start = ContinuousClock.now
        #expect(try epoll.wait(into: &ready, timeout: .microseconds(1500)) == 0)
        #expect(ContinuousClock.now - start >= .microseconds(1500))
    }
}

/// Writes to an eventfd from another thread after a delay.
final class SignalThread: Sendable {
    private let thread: pthread_t

    init(fd: Int32, after delay: Duration) throws {
        let micros = useconds_t(delay.wholeNanoseconds / 1000)
        let box = Unmanaged.passRetained(Payload(fd: fd, micros: micros)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(
            &handle, nil,
            { raw in
                let payload = Unmanaged<Payload>.fromOpaque(raw!).takeRetainedValue()
                usleep(payload.micros)
                var one: UInt64 = 1
                _ = write(payload.fd, &one, 8)
                return nil
            }, box)
        try #require(result == 0)
        thread = handle
    }

    func join() { pthread_join(thread, nil) }

    private final class Payload {
        let fd: Int32
        let micros: useconds_t
        init(fd: Int32, micros: useconds_t) {
            self.fd = fd
            self.micros = micros
        }
    }
}

/// Sends a signal to a thread after a delay, from a helper thread.
final class Interrupter: @unchecked Sendable {
    private var thread = pthread_t()
    private(set) var delivered = false
    let target: pthread_t
    let signal: Int32
    let micros: useconds_t

    init(thread target: pthread_t, signal: Int32, after delay: Duration) throws {
        self.target = target
        self.signal = signal
        micros = useconds_t(delay.wholeNanoseconds / 1000)
        let box = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(
            &thread, nil,
            { raw in
                let me = Unmanaged<Interrupter>.fromOpaque(raw!).takeRetainedValue()
                usleep(me.micros)
                me.delivered = pthread_kill(me.target, me.signal) == 0
                return nil
            }, box)
        try #require(result == 0)
    }

    func join() { pthread_join(thread, nil) }
}
