// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Synchronization
import Testing
import VMMSysUtil

@Suite struct RemoteEndpointTests {
    @Test func callsFromSeveralThreadsAllRunOnTheLoopThread() throws {
        let loop = try EventLoopThread.start()
        let loopThread = try loop.remote.call { _ in pthread_self() }
        #expect(pthread_equal(loopThread, pthread_self()) == 0)

        let calls = Counter()
        let elsewhere = Counter()
        let ordered = Counter()
        onThreads(4) { thread in
            for index in 0..<100 {
                do {
                    let (ranOn, echoed) = try loop.remote.call { _ in (pthread_self(), index * 10 + thread) }
                    calls.increment()
                    if pthread_equal(ranOn, loopThread) == 0 { elsewhere.increment() }
                    if echoed == index * 10 + thread { ordered.increment() }
                } catch {
                    Issue.record("remote call failed: \(error)")
                }
            }
        }
        #expect(calls.value == 400)
        #expect(ordered.value == 400)
        #expect(elsewhere.value == 0)
        #expect(try loop.stopAndJoin().get() == ())
    }

    @Test func addRegistersOnTheLoopAndReportsARefusedDescriptor() throws {
        let loop = try EventLoopThread.start()
        let shared = Counter()
        let subscriber = try EventFdSubscriber(shared: shared)
        try subscriber.event.signal()
        let id = try loop.remote.add(subscriber)
        #expect(try loop.remote.call { $0.subscriber(id) != nil })
        let deadline = ContinuousClock.now + .seconds(10)
        while shared.value == 0, ContinuousClock.now < deadline { usleep(1000) }
        #expect(shared.value == 1, "the added subscriber's event was not handled")

        final class Broken: EventSubscriber {
            func register(with ops: EventOps) throws { try ops.add(-1, events: .readable) }
            func process(_ event: ReadyEvent, with ops: EventOps) throws {}
        }
        #expect(throws: EventManagerError.self) { try loop.remote.add(Broken()) }
        #expect(try loop.stopAndJoin().get() == ())
        #expect(throws: EventManagerError.self) { try loop.remote.add(Broken()) }
    }

    @Test func postedClosuresAddSubscribersThatThenRunOnTheLoop() throws {
        let loop = try EventLoopThread.start()
        let handled = Counter()
        let descriptor = try loop.remote.call { manager in
            Result { () throws -> Int32 in
                let subscriber = try EventFdSubscriber(shared: handled)
                try manager.add(subscriber)
                return subscriber.descriptor
            }
        }.get()
        var one: UInt64 = 1
        #expect(write(descriptor, &one, 8) == 8)
        let deadline = ContinuousClock.now + .seconds(5)
        while handled.value == 0 && ContinuousClock.now < deadline { usleep(1000) }
        #expect(handled.value == 1)

        let count = Counter()
        try loop.remote.post { manager in count.increment(by: manager.subscriberCount) }
        // post is asynchronous; a following call is queued behind it.
        #expect(try loop.remote.call { $0.subscriberCount } == 1)
        #expect(count.value == 1)
        _ = loop.stopAndJoin()
    }

    @Test func stopsCleanlyFromAnotherThreadWhileIdle() throws {
        let loop = try EventLoopThread.start { manager throws(EventManagerError) in
            try manager.add(try! EventFdSubscriber())
        }
        usleep(20_000)  // let it block in epoll_wait with nothing to do
        let start = ContinuousClock.now
        let outcome = loop.stopAndJoin()
        let elapsed = ContinuousClock.now - start
        #expect(try outcome.get() == ())
        #expect(elapsed < .milliseconds(500))
        // The manager is gone with its thread: calls fail instead of hanging.
        #expect(throws: EventManagerError.managerGone) { try loop.remote.call { $0.subscriberCount } }
        #expect(throws: EventManagerError.managerGone) { try loop.remote.post { _ in } }
        // Stopping twice is harmless.
        #expect(try loop.stopAndJoin().get() == ())
    }

    @Test func stopFromAnotherThreadWhileBusy() throws {
        let handled = Counter()
        let loop = try EventLoopThread.start { manager throws(EventManagerError) in
            // A periodic timer keeps the loop busy.
            final class Ticker: EventSubscriber {
                let timer = try! TimerFd(flags: .nonBlocking)
                let handled: Counter
                init(handled: Counter) { self.handled = handled }
                func register(with ops: EventOps) throws {
                    try ops.add(timer.descriptor.rawValue, events: .readable)
                    try timer.arm(after: .milliseconds(1), repeating: .milliseconds(1))
                }
                func process(_ event: ReadyEvent, with ops: EventOps) throws {
                    handled.increment(by: Int(try timer.wait()))
                }
            }
            try manager.add(Ticker(handled: handled))
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while handled.value < 5 && ContinuousClock.now < deadline { usleep(1000) }
        #expect(handled.value >= 5)
        onThreads(1) { _ in _ = loop.stopAndJoin() }
        #expect(try loop.stopAndJoin().get() == ())
    }

    @Test func setupFailureIsReportedByStart() {
        #expect(throws: EventManagerError.unknownSubscriber(SubscriberID(rawValue: 42))) {
            _ = try EventLoopThread.start { manager throws(EventManagerError) in
                try manager.remove(SubscriberID(rawValue: 42))
            }
        }
    }

    @Test func pendingCallsFailWhenTheManagerIsDestroyed() throws {
        var manager: EventManager? = try EventManager()
        let remote = manager!.remote
        let outcome = Mutex<EventManagerError?>(nil)
        // The caller blocks (nobody runs the loop) until the manager goes away.
        let caller = try CallerThread {
            do throws(EventManagerError) {
                _ = try remote.call { $0.subscriberCount }
            } catch {
                outcome.withLock { $0 = error }
            }
        }
        usleep(20_000)
        manager = nil
        caller.join()
        #expect(outcome.withLock { $0 } == .managerGone)
    }
}

/// One background thread running a closure.
final class CallerThread: Sendable {
    private let thread: pthread_t

    init(_ body: @escaping @Sendable () -> Void) throws {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var handle = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let result = pthread_create(
            &handle, nil,
            { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, box)
        try #require(result == 0)
        thread = handle
    }

    func join() { pthread_join(thread, nil) }
}
