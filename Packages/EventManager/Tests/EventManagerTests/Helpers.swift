// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Synchronization
import VMMSysUtil

/// Runs `body(index)` on `count` new threads at once and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Work: @unchecked Sendable {
        // Unchecked: immutable after creation, handed to one thread.
        let index: Int
        let body: @Sendable (Int) -> Void
        init(index: Int, body: @escaping @Sendable (Int) -> Void) {
            self.index = index
            self.body = body
        }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        var thread = pthread_t()
        let work = Unmanaged.passRetained(Work(index: index, body: body)).toOpaque()
        let result = pthread_create(
            &thread, nil,
            { raw in
                let work = Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue()
                work.body(work.index)
                return nil
            }, work)
        precondition(result == 0, "pthread_create failed: \(result)")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

/// A thread-safe counter shared between the loop and the test.
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)
    func increment(by amount: Int = 1) { storage.add(amount, ordering: .relaxed) }
    var value: Int { storage.load(ordering: .relaxed) }
}

/// Owns one eventfd, counts the events it handled and the value it read.
final class EventFdSubscriber: EventSubscriber {
    let event: EventFd
    let data: UInt64
    private(set) var handled = 0
    private(set) var total: UInt64 = 0
    private(set) var lastEvent: ReadyEvent?
    let shared: Counter?

    init(data: UInt64 = 0, shared: Counter? = nil) throws {
        event = try EventFd(flags: .nonBlocking)
        self.data = data
        self.shared = shared
    }

    var descriptor: Int32 { event.descriptor.rawValue }

    func register(with ops: EventOps) throws {
        try ops.add(descriptor, events: .readable, data: data)
    }

    func process(_ event: ReadyEvent, with ops: EventOps) throws {
        handled += 1
        lastEvent = event
        if event.events.contains(.readable) { total += try self.event.wait() }
        shared?.increment()
    }
}

struct Boom: Error, CustomStringConvertible {
    var description: String { "boom" }
}

/// Registers an eventfd and throws on its first event.
final class FailingSubscriber: EventSubscriber {
    let event: EventFd
    private(set) var calls = 0

    init() throws { event = try EventFd(flags: .nonBlocking) }

    func register(with ops: EventOps) throws {
        try ops.add(event.descriptor.rawValue, events: .readable)
    }

    func process(_ event: ReadyEvent, with ops: EventOps) throws {
        calls += 1
        throw Boom()
    }
}
