// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Synchronization
import Testing
import VMMSysUtil

/// Runs the loop until `done()` or until `limit` passes; returns the events dispatched.
@discardableResult
private func pump(_ manager: EventManager, limit: Duration = .seconds(5), until done: () -> Bool) throws -> Int {
    let deadline = ContinuousClock.now + limit
    var dispatched = 0
    while !done() && ContinuousClock.now < deadline {
        dispatched += try manager.runOnce(timeout: .milliseconds(50))
    }
    return dispatched
}

@Suite struct EventManagerTests {
    @Test func thousandSubscribersAreEachHandledExactlyOnce() throws {
        let manager = try EventManager(eventsPerWait: 128)
        let handled = Counter()
        var subscribers: [EventFdSubscriber] = []
        var ids: Set<SubscriberID> = []
        for index in 0..<1000 {
            let subscriber = try EventFdSubscriber(data: UInt64(index), shared: handled)
            ids.insert(try manager.add(subscriber))
            subscribers.append(subscriber)
        }
        #expect(ids.count == 1000)
        #expect(manager.subscriberCount == 1000)
        #expect(manager.descriptorCount == 1000)

        // Signal every descriptor from other threads, as devices and vCPUs would.
        let descriptors = subscribers.map(\.descriptor)
        onThreads(4) { part in
            for fd in descriptors[(part * 250)..<((part + 1) * 250)] {
                var one: UInt64 = 1
                precondition(write(fd, &one, 8) == 8)
            }
        }
        let dispatched = try pump(manager) { handled.value == 1000 }
        #expect(dispatched == 1000)
        for (index, subscriber) in subscribers.enumerated() {
            #expect(subscriber.handled == 1, "subscriber \(index) handled \(subscriber.handled) events")
            #expect(subscriber.total == 1)
            #expect(subscriber.lastEvent?.data == UInt64(index))
            #expect(subscriber.lastEvent?.descriptor == subscriber.descriptor)
        }
        // Nothing is left over.
        #expect(try manager.runOnce(timeout: .zero) == 0)
    }

    @Test func failingSubscriberIsRemovedAndTheOthersKeepRunning() throws {
        let manager = try EventManager()
        let good = try EventFdSubscriber()
        let bad = try FailingSubscriber()
        let goodID = try manager.add(good)
        let badID = try manager.add(bad)
        let reported = Mutex<[SubscriberID]>([])
        manager.onFailure = { failure in reported.withLock { $0.append(failure.subscriber) } }

        try good.event.signal()
        try bad.event.signal()
        try pump(manager) { good.handled == 1 && bad.calls == 1 }
        #expect(bad.calls == 1)
        #expect(good.handled == 1)
        #expect(manager.failures.count == 1)
        #expect(manager.failures.first?.subscriber == badID)
        #expect(
            manager.failures.first?.description
                == "\(badID) failed on descriptor \(bad.event.descriptor.rawValue): boom")
        #expect(reported.withLock { $0 } == [badID])
        #expect(manager.subscriber(badID) == nil)
        #expect(manager.subscriber(goodID) != nil)
        #expect(manager.descriptorCount == 1)

        // The failed subscriber's descriptor left epoll: signalled, it does not even wake the loop.
        try bad.event.signal()
        let start = ContinuousClock.now
        #expect(try manager.runOnce(timeout: .milliseconds(30)) == 0)
        #expect(ContinuousClock.now - start >= .milliseconds(30))
        // The good one is still watched.
        try good.event.signal()
        try pump(manager) { good.handled == 2 }
        #expect(good.handled == 2)
        #expect(bad.calls == 1)
    }

    @Test func failedRegistrationIsUndone() throws {
        final class HalfRegistered: EventSubscriber {
            let first = try! EventFd()
            func register(with ops: EventOps) throws {
                try ops.add(first.descriptor.rawValue, events: .readable)
                throw Boom()
            }
            func process(_ event: ReadyEvent, with ops: EventOps) throws {}
        }
        let manager = try EventManager()
        let subscriber = HalfRegistered()
        do {
            try manager.add(subscriber)
            Issue.record("registration that throws was accepted")
        } catch {
            guard case .registrationFailed(let id, let reason) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(reason == "boom")
            #expect(manager.subscriber(id) == nil)
        }
        #expect(manager.subscriberCount == 0)
        #expect(manager.descriptorCount == 0)
        // The descriptor left epoll too: it can be registered again.
        let again = try EventFdSubscriber()
        try manager.add(again)
        #expect(manager.descriptorCount == 1)
        #expect(manager.failures.count == 1)
    }

    @Test func subscribersModifyAndRemoveTheirEventsWhileRunning() throws {
        /// Readable first; then switches to writable with new data; then removes itself.
        final class Shifter: EventSubscriber {
            let event = try! EventFd(flags: .nonBlocking)
            var seen: [ReadyEvent] = []
            func register(with ops: EventOps) throws {
                try ops.add(event.descriptor.rawValue, events: .readable, data: 1)
            }
            func process(_ ready: ReadyEvent, with ops: EventOps) throws {
                seen.append(ready)
                switch seen.count {
                case 1:
                    _ = try event.wait()
                    try ops.modify(ready.descriptor, events: .writable, data: 2)
                default:
                    try ops.remove(ready.descriptor)
                    #expect(ops.descriptors.isEmpty)
                }
            }
        }
        let manager = try EventManager()
        let shifter = Shifter()
        let id = try manager.add(shifter)
        try shifter.event.signal()
        try pump(manager) { shifter.seen.count == 2 }
        let fd = shifter.event.descriptor.rawValue
        #expect(
            shifter.seen == [
                ReadyEvent(descriptor: fd, events: .readable, data: 1),
                ReadyEvent(descriptor: fd, events: .writable, data: 2),
            ])
        // Removed: an always-writable eventfd produces nothing now.
        #expect(try manager.runOnce(timeout: .milliseconds(10)) == 0)
        #expect(manager.subscriber(id) != nil)
        #expect(manager.descriptorCount == 0)
    }

    @Test func subscriberAddsDescriptorsWhileRunning() throws {
        final class Spawner: EventSubscriber {
            let trigger = try! EventFd(flags: .nonBlocking)
            let extra = try! EventFd(flags: .nonBlocking)
            var extraEvents = 0
            func register(with ops: EventOps) throws {
                try ops.add(trigger.descriptor.rawValue, events: .readable, data: 10)
            }
            func process(_ ready: ReadyEvent, with ops: EventOps) throws {
                if ready.data == 10 {
                    _ = try trigger.wait()
                    try ops.add(extra.descriptor.rawValue, events: .readable, data: 11)
                    try extra.signal()
                } else {
                    _ = try extra.wait()
                    extraEvents += 1
                }
            }
        }
        let manager = try EventManager()
        let spawner = Spawner()
        let id = try manager.add(spawner)
        try spawner.trigger.signal()
        try pump(manager) { spawner.extraEvents == 1 }
        #expect(spawner.extraEvents == 1)
        #expect(manager.descriptorCount == 2)
        let removed = try manager.remove(id)
        #expect(removed === spawner)
        #expect(manager.descriptorCount == 0)
    }

    @Test func eventsForASubscriberRemovedEarlierInTheBatchAreDropped() throws {
        /// Removes its partner when it runs; whichever runs first wins.
        final class Rival: EventSubscriber {
            let event = try! EventFd(flags: .nonBlocking)
            weak var manager: EventManager?
            var partner: SubscriberID?
            var calls = 0
            func register(with ops: EventOps) throws {
                try ops.add(event.descriptor.rawValue, events: .readable)
            }
            func process(_ ready: ReadyEvent, with ops: EventOps) throws {
                calls += 1
                _ = try event.wait()
                if let partner { try manager?.remove(partner) }
            }
        }
        let manager = try EventManager()
        let first = Rival()
        let second = Rival()
        first.manager = manager
        second.manager = manager
        let firstID = try manager.add(first)
        let secondID = try manager.add(second)
        first.partner = secondID
        second.partner = firstID
        try first.event.signal()
        try second.event.signal()
        // Both are ready in the same wait; only one may run.
        #expect(try manager.runOnce(timeout: .seconds(1)) == 1)
        #expect(first.calls + second.calls == 1)
        #expect(manager.subscriberCount == 1)
        #expect(manager.failures.isEmpty)
    }

    @Test func descriptorNumberReusedAfterACloseWithoutRemoveGoesToItsNewOwner() throws {
        final class Careless: EventSubscriber {
            let fd: Int32
            init(fd: Int32) { self.fd = fd }
            func register(with ops: EventOps) throws { try ops.add(fd, events: .readable, data: 1) }
            func process(_ event: ReadyEvent, with ops: EventOps) throws { Issue.record("stale event delivered") }
        }
        final class Adopter: EventSubscriber {
            let fd: Int32
            var events: [ReadyEvent] = []
            init(fd: Int32) { self.fd = fd }
            func register(with ops: EventOps) throws { try ops.add(fd, events: .readable, data: 2) }
            func process(_ event: ReadyEvent, with ops: EventOps) throws { events.append(event) }
        }
        let manager = try EventManager()
        let old = try EventFd(flags: .nonBlocking)
        let number = old.descriptor.rawValue
        let carelessID = try manager.add(Careless(fd: number))
        // Replace the file behind the number in one step (dup2 closes the old
        // file, which leaves epoll), as a close-then-reuse would.
        let fresh = try EventFd(initialValue: 1, flags: .nonBlocking)
        #expect(dup2(fresh.descriptor.rawValue, number) == number)
        let adopter = Adopter(fd: number)
        try manager.add(adopter)
        try pump(manager) { !adopter.events.isEmpty }
        #expect(adopter.events == [ReadyEvent(descriptor: number, events: .readable, data: 2)])
        // The stale registration was forgotten; the careless subscriber itself stays.
        #expect(manager.descriptorCount == 1)
        #expect(manager.subscriber(carelessID) != nil)
        _ = old
    }

    @Test func misuseIsReportedWithTypedErrors() throws {
        final class Greedy: EventSubscriber {
            let fd: Int32
            init(fd: Int32) { self.fd = fd }
            func register(with ops: EventOps) throws { try ops.add(fd, events: .readable) }
            func process(_ event: ReadyEvent, with ops: EventOps) throws {}
        }
        let manager = try EventManager()
        let owner = try EventFdSubscriber()
        let ownerID = try manager.add(owner)
        #expect(
            throws: EventManagerError.registrationFailed(
                SubscriberID(rawValue: 2), reason: "descriptor \(owner.descriptor) is already registered")
        ) {
            try manager.add(Greedy(fd: owner.descriptor))
        }
        #expect(
            throws: EventManagerError.registrationFailed(
                SubscriberID(rawValue: 3), reason: "epoll_ctl(ADD, -1): Bad file descriptor (errno 9)")
        ) {
            try manager.add(Greedy(fd: -1))
        }
        let ghost = SubscriberID(rawValue: 999)
        #expect(throws: EventManagerError.unknownSubscriber(ghost)) { try manager.remove(ghost) }
        _ = ownerID
    }

    @Test func opsOnForeignDescriptorsAndReentrancyAreRejected() throws {
        final class Meddler: EventSubscriber {
            let event = try! EventFd(flags: .nonBlocking)
            let foreign: Int32
            weak var manager: EventManager?
            var errors: [EventManagerError] = []
            init(foreign: Int32) { self.foreign = foreign }
            func register(with ops: EventOps) throws {
                try ops.add(event.descriptor.rawValue, events: .readable)
            }
            func process(_ ready: ReadyEvent, with ops: EventOps) throws {
                _ = try event.wait()
                do { try ops.modify(foreign, events: .writable) } catch { errors.append(error) }
                do { try ops.remove(foreign) } catch { errors.append(error) }
                do { try manager?.runOnce(timeout: .zero) } catch { errors.append(error) }
                do { _ = try manager?.remote.call { _ in 1 } } catch { errors.append(error) }
            }
        }
        let manager = try EventManager()
        let other = try EventFdSubscriber()
        try manager.add(other)
        let meddler = Meddler(foreign: other.descriptor)
        meddler.manager = manager
        let id = try manager.add(meddler)
        try meddler.event.signal()
        try pump(manager) { !meddler.errors.isEmpty }
        #expect(
            meddler.errors == [
                .descriptorNotRegistered(other.descriptor, id), .descriptorNotRegistered(other.descriptor, id),
                .reentrantRun, .calledFromLoopThread,
            ])
        #expect(manager.failures.isEmpty)
    }
}
