// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMSysUtil

/// What went wrong in an ``EventManager`` or ``RemoteEndpoint`` operation.
///
/// ```swift
/// do {
///     _ = try remote.call { $0.subscriberCount }
/// } catch .managerGone {
///     // the loop ended; nothing to ask
/// } catch {
///     print(error)
/// }
/// ```
public enum EventManagerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A system call failed (epoll, eventfd).
    case system(SystemError)
    /// The descriptor is already watched by this manager (possibly for another subscriber).
    case descriptorAlreadyRegistered(Int32)
    /// The descriptor is not one of this subscriber's.
    case descriptorNotRegistered(Int32, SubscriberID)
    /// No subscriber with this ID (never added, or already removed).
    case unknownSubscriber(SubscriberID)
    /// A subscriber's ``EventSubscriber/register(with:)`` threw; it was not added.
    case registrationFailed(SubscriberID, reason: String)
    /// ``EventManager/run()`` or ``EventManager/runOnce(timeout:)`` was called from inside a callback.
    case reentrantRun
    /// A blocking remote call was made from the loop thread itself, which would wait forever.
    case calledFromLoopThread
    /// The manager is gone, so the remote call cannot run.
    case managerGone

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .system(let error): "\(error)"
        case .descriptorAlreadyRegistered(let fd): "descriptor \(fd) is already registered"
        case .descriptorNotRegistered(let fd, let id): "descriptor \(fd) is not registered by \(id)"
        case .unknownSubscriber(let id): "no \(id) in this event manager"
        case .registrationFailed(let id, let reason): "\(id) failed to register: \(reason)"
        case .reentrantRun: "the event loop was run from inside one of its callbacks"
        case .calledFromLoopThread: "a blocking remote call was made on the event loop's own thread"
        case .managerGone: "the event manager is gone"
        }
    }
}

/// A subscriber that failed and was removed, as reported by ``EventManager/failures``.
///
/// ```swift
/// manager.onFailure = { failure in log("device stopped: \(failure)") }
/// ```
public struct SubscriberFailure: Sendable, CustomStringConvertible {
    /// When the failure happened.
    public enum Phase: Sendable, Hashable {
        /// In ``EventSubscriber/register(with:)``.
        case registration
        /// In ``EventSubscriber/process(_:with:)``, handling this event.
        case processing(ReadyEvent)
    }

    /// The subscriber that failed (now removed).
    public let subscriber: SubscriberID
    /// When it failed.
    public let phase: Phase
    /// What it threw.
    public let error: any Error

    /// `"<id> failed while <phase>: <error>"`.
    public var description: String {
        switch phase {
        case .registration: "\(subscriber) failed while registering: \(error)"
        case .processing(let event): "\(subscriber) failed on descriptor \(event.descriptor): \(error)"
        }
    }
}
