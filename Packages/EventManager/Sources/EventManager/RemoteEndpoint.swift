// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Dispatch
import Glibc
import Synchronization
import VMMSysUtil

/// The thread-safe door into an ``EventManager``: other threads use it to run
/// closures on the loop thread (where subscribers live) and to stop the loop.
///
/// Requests wait in a queue and the loop is woken through an eventfd it
/// watches, so a request runs at the loop's next turn, between subscriber
/// callbacks, never at the same time as one.
///
/// ```swift
/// let remote = manager.remote  // hand this to other threads
/// // on an API thread:
/// let count = try remote.call { manager in manager.subscriberCount }
/// try remote.post { manager in _ = try? manager.add(NewDevice()) }
/// remote.stop()
/// ```
public final class RemoteEndpoint: Sendable {
    /// A queued closure; moved once from the caller to the loop thread.
    struct Job: @unchecked Sendable {
        // Unchecked: the closure was passed `sending`, so nothing else refers to
        // its captures; it is run (or cancelled) exactly once, on one thread.
        let run: (EventManager) -> Void
        let cancel: () -> Void
    }

    struct State {
        var jobs: [Job] = []
        var stopRequested = false
        var gone = false
        var loopThread: pthread_t?
    }

    let state = Mutex(State())
    let wake: EventFd

    init() throws(SystemError) {
        wake = try EventFd(flags: .nonBlocking)
    }

    /// Runs `body` on the loop thread and waits for its result.
    ///
    /// The loop must be running (or run later) for the call to finish. Calling
    /// this from the loop thread itself throws ``EventManagerError/calledFromLoopThread``
    /// instead of deadlocking; a manager destroyed before running the closure
    /// makes it throw ``EventManagerError/managerGone``. To report errors from
    /// `body`, return a `Result`.
    public func call<Value: Sendable>(
        _ body: sending @escaping (EventManager) -> Value
    )
        throws(EventManagerError) -> Value
    {
        let completion = Completion<Value>()
        let isLoopThread = state.withLock { state in state.loopThread.map { pthread_equal($0, pthread_self()) != 0 } }
        if isLoopThread == true { throw .calledFromLoopThread }
        try enqueue(
            Job(
                run: { manager in completion.finish(.success(body(manager))) },
                cancel: { completion.finish(.failure(.managerGone)) }))
        return try completion.wait().get()
    }

    /// Adds `subscriber` to the manager on the loop thread and returns its ID once it is
    /// registered: a manager failure (a bad descriptor) and a loop that is gone are both
    /// `EventManagerError`s.
    ///
    /// ```swift
    /// let id = try loop.remote.add(NotificationWatcher(notifiers: notifiers))
    /// ```
    public func add(_ subscriber: sending any EventSubscriber) throws(EventManagerError) -> SubscriberID {
        let added = try call { manager -> Result<SubscriberID, EventManagerError> in
            do throws(EventManagerError) { return .success(try manager.add(subscriber)) } catch {
                return .failure(error)
            }
        }
        return try added.get()
    }

    /// Queues `body` to run on the loop thread and returns at once.
    public func post(_ body: sending @escaping (EventManager) -> Void) throws(EventManagerError) {
        try enqueue(Job(run: body, cancel: {}))
    }

    /// Asks the loop to return from ``EventManager/run()`` after the events it is
    /// handling now. Safe from any thread, including inside a callback.
    public func stop() {
        state.withLock { $0.stopRequested = true }
        try? wake.signal()
    }

    private func enqueue(_ job: Job) throws(EventManagerError) {
        let accepted = state.withLock { state in
            if state.gone { return false }
            state.jobs.append(job)
            return true
        }
        if !accepted { throw .managerGone }
        do { try wake.signal() } catch { throw .system(error) }
    }

    /// Takes the queued jobs (loop thread).
    func takeJobs() -> [Job] {
        state.withLock { state in
            let jobs = state.jobs
            state.jobs = []
            return jobs
        }
    }

    /// Reads and clears a pending stop request (loop thread).
    func takeStopRequest() -> Bool {
        state.withLock { state in
            let requested = state.stopRequested
            state.stopRequested = false
            return requested
        }
    }

    /// Marks the manager destroyed and fails every queued call.
    func close() {
        let orphans = state.withLock { state in
            state.gone = true
            let jobs = state.jobs
            state.jobs = []
            return jobs
        }
        for job in orphans { job.cancel() }
    }
}

/// One blocking call's result slot, filled once on the loop thread.
final class Completion<Value: Sendable>: Sendable {
    private let result = Mutex<Result<Value, EventManagerError>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    func finish(_ value: Result<Value, EventManagerError>) {
        result.withLock { $0 = value }
        done.signal()
    }

    func wait() -> Result<Value, EventManagerError> {
        done.wait()
        return result.withLock { $0! }
    }
}
