// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Synchronization
import VMMSysUtil

/// A one-shot `timerfd` watched by a device's event loop: what a device that a
/// ``RateLimiter`` throttled waits on. When it expires, `onFire` runs on the
/// loop's thread (the same thread that serves the device's queues), where the
/// device takes requests again.
///
/// Attach it to the activation's event loop when the device starts and detach
/// it at reset; both only post work to the loop, so they are safe from a vCPU
/// thread and never wait for the loop.
///
/// ```swift
/// let timer = try ThrottleTimer { [weak self] in self?.resumeAfterThrottle() }
/// try timer.attach(to: activation.eventLoop)
/// if case .throttled(let wait) = limiter.consume(operations: 1, bytes: length) {
///     try timer.arm(after: wait)   // stop taking requests until onFire
/// }
/// timer.detach()                   // at reset
/// ```
public final class ThrottleTimer: Sendable {
    /// What the loop side knows: the subscriber it added, and whether the owner let go.
    struct Registration {
        var loop: RemoteEndpoint?
        var subscriber: SubscriberID?
        var detached = false
    }

    let timer: TimerFd
    private let onFire: @Sendable () -> Void
    private let registration = Mutex(Registration())
    private let armed = Atomic<Bool>(false)

    /// A disarmed timer that will call `onFire` on the loop it is attached to.
    public init(onFire: @escaping @Sendable () -> Void) throws(SystemError) {
        timer = try TimerFd(flags: .nonBlocking)
        self.onFire = onFire
    }

    /// Whether the timer is armed and has not fired yet.
    public var isArmed: Bool { armed.load(ordering: .acquiring) }

    /// Registers the timer with `loop` (asynchronously: the loop adds it at its next turn).
    /// A timer is attached to one loop, once.
    public func attach(to loop: RemoteEndpoint) throws(EventManagerError) {
        let first = registration.withLock { state in
            guard state.loop == nil, !state.detached else { return false }
            state.loop = loop
            return true
        }
        guard first else { return }
        try loop.post { [self] manager in
            let id: SubscriberID
            do {
                id = try manager.add(ThrottleTimerSubscriber(owner: self))
            } catch {
                return  // the timer never fires; the device stays throttled until reset, as it would without a loop
            }
            let orphaned = registration.withLock { state in
                state.subscriber = id
                return state.detached
            }
            // Detached before the loop got here: undo at once.
            if orphaned { _ = try? manager.remove(id) }
        }
    }

    /// Stops the timer and removes it from its loop (asynchronously). Later expirations
    /// do not call `onFire`; one already running on the loop thread may finish, so the
    /// callback checks its device's state as usual.
    public func detach() {
        try? timer.disarm()
        armed.store(false, ordering: .releasing)
        let loop = registration.withLock { state in
            state.detached = true
            return state.loop
        }
        guard let loop else { return }
        try? loop.post { [self] manager in
            if let id = registration.withLock({ $0.subscriber }) { _ = try? manager.remove(id) }
        }
    }

    /// Arms the timer to fire once after `delay` (replacing an earlier setting).
    public func arm(after delay: Duration) throws(SystemError) {
        guard !registration.withLock({ $0.detached }) else { return }
        armed.store(true, ordering: .releasing)
        do {
            try timer.arm(after: max(delay, .zero))
        } catch {
            armed.store(false, ordering: .releasing)
            throw error
        }
    }

    /// Disarms the timer without detaching it.
    public func disarm() {
        try? timer.disarm()
        armed.store(false, ordering: .releasing)
    }

    /// The loop saw the timerfd readable (loop thread).
    func fired() {
        // Reading clears the readable state; EAGAIN means a re-arm raced with the read: nothing expired.
        guard let expirations = try? timer.wait(), expirations > 0 else { return }
        guard !registration.withLock({ $0.detached }) else { return }
        armed.store(false, ordering: .releasing)
        onFire()
    }
}

/// The loop-side half of a ``ThrottleTimer``.
final class ThrottleTimerSubscriber: EventSubscriber {
    let owner: ThrottleTimer

    init(owner: ThrottleTimer) { self.owner = owner }

    func register(with ops: EventOps) throws {
        try ops.add(owner.timer.descriptor.rawValue, events: .readable)
    }

    func process(_ event: ReadyEvent, with ops: EventOps) throws {
        owner.fired()
    }
}
