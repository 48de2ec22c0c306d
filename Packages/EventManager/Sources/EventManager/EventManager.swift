// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil

/// An epoll event loop that dispatches ready descriptors to their subscribers.
///
/// The manager belongs to one thread, the loop thread: create it there, add
/// subscribers there (or from their callbacks), and call ``run()`` there. Other
/// threads talk to it only through ``remote``. A subscriber that throws is
/// removed and reported in ``failures``; the loop and the other subscribers
/// carry on.
///
/// ```swift
/// let manager = try EventManager()
/// let id = try manager.add(Console())
/// let remote = manager.remote  // give to other threads; remote.stop() ends run()
/// try manager.run()
/// ```
public final class EventManager {
    struct Registration {
        let subscriber: SubscriberID
        let descriptor: Int32
        var data: UInt64
    }

    struct Entry {
        let subscriber: any EventSubscriber
        var tokens: Set<UInt64> = []
    }

    /// The epoll user data of the wake-up eventfd; subscriber tokens start above it.
    static let wakeToken: UInt64 = 0

    private let epoll: Epoll
    private var ready: Epoll.EventBuffer
    private var entries: [SubscriberID: Entry] = [:]
    private var registrations: [UInt64: Registration] = [:]
    private var tokenByDescriptor: [Int32: UInt64] = [:]
    private var nextSubscriber: UInt64 = 1
    private var nextToken: UInt64 = 1
    private var running = false
    private var stopRequested = false

    /// The endpoint other threads use to run closures on the loop and to stop it.
    public let remote: RemoteEndpoint

    /// Subscribers that threw and were removed, oldest first (at most ``failureHistoryLimit``).
    public private(set) var failures: [SubscriberFailure] = []
    /// How many failures ``failures`` keeps.
    public let failureHistoryLimit: Int
    /// Called on the loop thread when a subscriber fails, after it was removed.
    public var onFailure: ((SubscriberFailure) -> Void)?

    /// Creates a manager whose each epoll wait returns up to `eventsPerWait` ready descriptors.
    public init(eventsPerWait: Int = 256, failureHistoryLimit: Int = 64) throws(EventManagerError) {
        do {
            epoll = try Epoll()
            remote = try RemoteEndpoint()
            try epoll.add(remote.wake.descriptor.rawValue, events: .readable, data: Self.wakeToken)
        } catch {
            throw .system(error)
        }
        ready = Epoll.EventBuffer(capacity: eventsPerWait)
        self.failureHistoryLimit = max(0, failureHistoryLimit)
    }

    deinit {
        remote.close()
    }

    // MARK: Subscribers

    /// Adds `subscriber` and lets it register its descriptors. If its
    /// ``EventSubscriber/register(with:)`` throws, whatever it registered is
    /// undone and this throws ``EventManagerError/registrationFailed(_:reason:)``.
    @discardableResult
    public func add(_ subscriber: some EventSubscriber) throws(EventManagerError) -> SubscriberID {
        let id = SubscriberID(rawValue: nextSubscriber)
        nextSubscriber += 1
        entries[id] = Entry(subscriber: subscriber)
        do {
            try subscriber.register(with: EventOps(manager: self, subscriber: id))
        } catch {
            detach(id)
            record(SubscriberFailure(subscriber: id, phase: .registration, error: error))
            throw .registrationFailed(id, reason: "\(error)")
        }
        return id
    }

    /// Removes a subscriber and stops watching all its descriptors; returns it.
    @discardableResult
    public func remove(_ id: SubscriberID) throws(EventManagerError) -> any EventSubscriber {
        guard let subscriber = detach(id) else { throw .unknownSubscriber(id) }
        return subscriber
    }

    /// The subscriber with this ID, if it is still here.
    public func subscriber(_ id: SubscriberID) -> (any EventSubscriber)? { entries[id]?.subscriber }

    /// How many subscribers are registered.
    public var subscriberCount: Int { entries.count }

    /// How many descriptors are watched for subscribers.
    public var descriptorCount: Int { registrations.count }

    // MARK: The loop

    /// Waits up to `timeout` (`nil`: without limit) for ready descriptors and
    /// dispatches them; also runs queued remote closures. Returns how many
    /// subscriber events were dispatched.
    @discardableResult
    public func runOnce(timeout: Duration? = nil) throws(EventManagerError) -> Int {
        if running { throw .reentrantRun }
        running = true
        remote.state.withLock { $0.loopThread = pthread_self() }
        defer {
            running = false
            remote.state.withLock { $0.loopThread = nil }
        }
        let count: Int
        do { count = try epoll.wait(into: &ready, timeout: timeout) } catch { throw .system(error) }
        var dispatched = 0
        for index in 0..<count {
            let event = ready[index]
            if event.data == Self.wakeToken {
                serveRemote()
                continue
            }
            // A registration removed earlier in this batch leaves stale events: skip them.
            guard let registration = registrations[event.data], let entry = entries[registration.subscriber] else {
                continue
            }
            let delivered = ReadyEvent(
                descriptor: registration.descriptor, events: event.events, data: registration.data)
            dispatched += 1
            do {
                try entry.subscriber.process(
                    delivered, with: EventOps(manager: self, subscriber: registration.subscriber))
            } catch {
                detach(registration.subscriber)
                record(
                    SubscriberFailure(subscriber: registration.subscriber, phase: .processing(delivered), error: error))
            }
        }
        return dispatched
    }

    /// Runs the loop until ``stop()`` or ``RemoteEndpoint/stop()``.
    public func run() throws(EventManagerError) {
        stopRequested = false
        while !stopRequested {
            try runOnce()
        }
    }

    /// Makes ``run()`` return after the current batch of events (loop thread;
    /// other threads use ``RemoteEndpoint/stop()``).
    public func stop() { stopRequested = true }

    private func serveRemote() {
        _ = try? remote.wake.wait()  // non-blocking; a concurrent wait may have emptied it
        if remote.takeStopRequest() { stopRequested = true }
        for job in remote.takeJobs() { job.run(self) }
    }

    private func record(_ failure: SubscriberFailure) {
        if failureHistoryLimit > 0 {
            if failures.count == failureHistoryLimit { failures.removeFirst() }
            failures.append(failure)
        }
        onFailure?(failure)
    }

    // MARK: Registrations (through EventOps)

    func register(
        _ descriptor: Int32, events: Epoll.Events, data: UInt64, for id: SubscriberID
    )
        throws(EventManagerError)
    {
        guard entries[id] != nil else { throw .unknownSubscriber(id) }
        let token = nextToken
        // The kernel is the judge of "already registered": a number we still
        // list may belong to a descriptor that was closed without being removed
        // and then reused for a new file, which epoll no longer knows.
        do { try epoll.add(descriptor, events: events, data: token) } catch {
            if error.errno == .exists { throw .descriptorAlreadyRegistered(descriptor) }
            throw .system(error)
        }
        nextToken += 1
        if let stale = tokenByDescriptor[descriptor] {
            if let owner = registrations[stale]?.subscriber { entries[owner]?.tokens.remove(stale) }
            forget(stale)
        }
        registrations[token] = Registration(subscriber: id, descriptor: descriptor, data: data)
        tokenByDescriptor[descriptor] = token
        entries[id]?.tokens.insert(token)
    }

    func modify(
        _ descriptor: Int32, events: Epoll.Events, data: UInt64?, for id: SubscriberID
    )
        throws(EventManagerError)
    {
        let token = try token(of: descriptor, for: id)
        do { try epoll.modify(descriptor, events: events, data: token) } catch { throw .system(error) }
        if let data { registrations[token]?.data = data }
    }

    func unregister(_ descriptor: Int32, for id: SubscriberID) throws(EventManagerError) {
        let token = try token(of: descriptor, for: id)
        forget(token)
        entries[id]?.tokens.remove(token)
        // The kernel already dropped a closed descriptor (EBADF) or one whose
        // last duplicate was closed (ENOENT); either way it is no longer watched.
        do { try epoll.delete(descriptor) } catch {
            if error.errno != .badFileDescriptor && error.errno != .noSuchFile { throw .system(error) }
        }
    }

    func descriptors(of id: SubscriberID) -> [Int32] {
        (entries[id]?.tokens ?? []).compactMap { registrations[$0]?.descriptor }.sorted()
    }

    private func token(of descriptor: Int32, for id: SubscriberID) throws(EventManagerError) -> UInt64 {
        guard entries[id] != nil else { throw .unknownSubscriber(id) }
        guard let token = tokenByDescriptor[descriptor], registrations[token]?.subscriber == id else {
            throw .descriptorNotRegistered(descriptor, id)
        }
        return token
    }

    private func forget(_ token: UInt64) {
        if let registration = registrations.removeValue(forKey: token) {
            tokenByDescriptor[registration.descriptor] = nil
        }
    }

    /// Drops a subscriber and all its registrations; returns it if it was here.
    @discardableResult
    private func detach(_ id: SubscriberID) -> (any EventSubscriber)? {
        guard let entry = entries.removeValue(forKey: id) else { return nil }
        for token in entry.tokens {
            if let registration = registrations[token] { try? epoll.delete(registration.descriptor) }
            forget(token)
        }
        return entry.subscriber
    }
}
