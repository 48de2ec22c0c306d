// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMSysUtil

/// Identifies a subscriber added to an ``EventManager``; never reused by that manager.
///
/// ```swift
/// let id = try manager.add(console)
/// try manager.remove(id)
/// ```
public struct SubscriberID: Hashable, Sendable, CustomStringConvertible {
    /// The number the manager handed out (counting from 1).
    public let rawValue: UInt64

    /// Wraps a number handed out by a manager.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// `subscriber#<n>`.
    public var description: String { "subscriber#\(rawValue)" }
}

/// A ready descriptor, as delivered to the subscriber that registered it.
///
/// ```swift
/// func process(_ event: ReadyEvent, with ops: EventOps) throws {
///     if event.events.contains(.hangUp) { try ops.remove(event.descriptor) }
///     if event.data == Queue.transmit.rawValue { try drainTransmitQueue() }
/// }
/// ```
public struct ReadyEvent: Sendable, Hashable {
    /// The descriptor that is ready.
    public let descriptor: Int32
    /// What the kernel reported (readable, writable, hang-up...).
    public let events: Epoll.Events
    /// The value the subscriber attached when registering the descriptor.
    public let data: UInt64

    /// Creates an event value (the manager builds these; tests may too).
    public init(descriptor: Int32, events: Epoll.Events, data: UInt64) {
        self.descriptor = descriptor
        self.events = events
        self.data = data
    }
}

/// Something that owns descriptors and reacts when they become ready: a
/// device's queue notifier, a serial console's stdin, a timer.
///
/// The manager calls both methods on its loop thread only, so a subscriber
/// needs no locking for state it touches from there. Errors are untyped on
/// purpose: each subscriber throws its own error type, and the manager's job
/// is only to isolate the failure (see ``EventManager/failures``).
///
/// ```swift
/// final class Console: EventSubscriber {
///     let input = try! EventFd(flags: .nonBlocking)
///     func register(with ops: EventOps) throws {
///         try ops.add(input.descriptor.rawValue, events: .readable)
///     }
///     func process(_ event: ReadyEvent, with ops: EventOps) throws {
///         _ = try input.wait()
///     }
/// }
/// ```
public protocol EventSubscriber: AnyObject {
    /// Registers the subscriber's initial descriptors; called once, when it is added.
    func register(with ops: EventOps) throws

    /// Handles one ready descriptor. May add, modify or remove its descriptors
    /// through `ops`. A thrown error removes this subscriber (and only it).
    func process(_ event: ReadyEvent, with ops: EventOps) throws
}

/// The registration operations a subscriber may perform on its own descriptors.
///
/// Handed to ``EventSubscriber`` callbacks; use it only during the call (it
/// belongs to the loop thread).
///
/// ```swift
/// func process(_ event: ReadyEvent, with ops: EventOps) throws {
///     // Output drained: stop asking for writability until there is more.
///     try ops.modify(event.descriptor, events: .readable)
/// }
/// ```
public struct EventOps {
    let manager: EventManager
    /// The subscriber these operations act for.
    public let subscriber: SubscriberID

    /// Starts watching `descriptor` for `events`; `data` comes back in each ``ReadyEvent``.
    public func add(_ descriptor: Int32, events: Epoll.Events, data: UInt64 = 0) throws(EventManagerError) {
        try manager.register(descriptor, events: events, data: data, for: subscriber)
    }

    /// Changes the events (and, if given, the data) of one of this subscriber's descriptors.
    public func modify(_ descriptor: Int32, events: Epoll.Events, data: UInt64? = nil) throws(EventManagerError) {
        try manager.modify(descriptor, events: events, data: data, for: subscriber)
    }

    /// Stops watching one of this subscriber's descriptors. Do this before closing it.
    public func remove(_ descriptor: Int32) throws(EventManagerError) {
        try manager.unregister(descriptor, for: subscriber)
    }

    /// The descriptors this subscriber has registered, in ascending order.
    public var descriptors: [Int32] { manager.descriptors(of: subscriber) }
}
