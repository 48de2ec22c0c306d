// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Dispatch
import Glibc
import Synchronization
import VMMSysUtil

/// An ``EventManager`` running on its own thread: the usual way a VMM runs its
/// device event loop next to the vCPU threads.
///
/// ```swift
/// let loop = try EventLoopThread.start { manager in
///     try manager.add(Console())
/// }
/// try loop.remote.post { manager in _ = try? manager.add(BlockDevice()) }
/// let outcome = loop.stopAndJoin()  // .success(()) unless the loop itself failed
/// ```
public final class EventLoopThread: Sendable {
    /// The loop's remote endpoint.
    public let remote: RemoteEndpoint
    private let thread: Mutex<pthread_t?>
    private let context: StartContext

    private init(remote: RemoteEndpoint, thread: pthread_t, context: StartContext) {
        self.remote = remote
        self.thread = Mutex(thread)
        self.context = context
    }

    /// Starts a thread that creates a manager, passes it to `setup` (to add the
    /// first subscribers) and runs it until stopped. Returns once the loop is ready.
    public static func start(
        eventsPerWait: Int = 256, setup: sending @escaping (EventManager) throws(EventManagerError) -> Void = { _ in }
    ) throws(EventManagerError) -> EventLoopThread {
        let context = StartContext(eventsPerWait: eventsPerWait, setup: setup)
        var handle = pthread_t()
        // SAFETY: the +1 retain keeps `context` alive until exactly one owner balances it: the new thread's
        // takeRetainedValue, or the release below when pthread_create fails.
        let retained = unsafe Unmanaged.passRetained(context).toOpaque()
        // SAFETY: &handle is a local pthread_t that pthread_create fills; nil attributes are the defaults; the start
        // routine is a capture-free closure (a plain C function) and its argument is the retained context.
        let result = unsafe pthread_create(
            &handle, nil,
            { raw in
                // SAFETY: `raw` is `retained` (passed below), a +1 StartContext reference only this thread
                // consumes, so takeRetainedValue balances the passRetained exactly once.
                guard let raw = unsafe raw else { return nil }
                unsafe Unmanaged<StartContext>.fromOpaque(raw).takeRetainedValue().runLoop()
                return nil
            }, unsafe retained)  // SAFETY: hands the +1 reference to the new thread.
        if result != 0 {
            // SAFETY: pthread_create failed, so no thread received `retained`; this balances the passRetained once.
            unsafe Unmanaged<StartContext>.fromOpaque(retained).release()
            throw .system(SystemError("pthread_create", errno: Errno(rawValue: result)))
        }
        context.ready.wait()
        switch context.startup.withLock({ $0 }) {
        case .success(let remote):
            return EventLoopThread(remote: remote, thread: handle, context: context)
        case .failure(let error):
            pthread_join(handle, nil)
            throw error
        case nil:
            preconditionFailure("event loop thread signalled readiness without a result")
        }
    }

    /// Stops the loop, waits for its thread to end and returns how the loop ended.
    /// Calling it again returns the same outcome.
    public func stopAndJoin() -> Result<Void, EventManagerError> {
        remote.stop()
        if let handle = thread.withLock({ slot in
            let handle = slot
            slot = nil
            return handle
        }) {
            pthread_join(handle, nil)
        }
        return context.outcome.withLock { $0 } ?? .success(())
    }
}

/// What the new thread needs, and what it reports back.
private final class StartContext: @unchecked Sendable {
    // Unchecked: `setup` was passed `sending` and is called once, on the loop
    // thread; every other field is synchronised (Mutex, semaphore).
    let eventsPerWait: Int
    let setup: (EventManager) throws(EventManagerError) -> Void
    let ready = DispatchSemaphore(value: 0)
    let startup = Mutex<Result<RemoteEndpoint, EventManagerError>?>(nil)
    let outcome = Mutex<Result<Void, EventManagerError>?>(nil)

    init(eventsPerWait: Int, setup: @escaping (EventManager) throws(EventManagerError) -> Void) {
        self.eventsPerWait = eventsPerWait
        self.setup = setup
    }

    func runLoop() {
        let manager: EventManager
        do {
            manager = try EventManager(eventsPerWait: eventsPerWait)
            try setup(manager)
        } catch {
            startup.withLock { $0 = .failure(error) }
            ready.signal()
            return
        }
        startup.withLock { $0 = .success(manager.remote) }
        ready.signal()
        do {
            try manager.run()
            outcome.withLock { $0 = .success(()) }
        } catch {
            outcome.withLock { $0 = .failure(error) }
        }
    }
}
