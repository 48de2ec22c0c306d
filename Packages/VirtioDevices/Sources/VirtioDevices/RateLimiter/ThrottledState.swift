// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Synchronization
import VMMemory

/// The part of a rate-limited device's locked state that activation and reset manage: the
/// activation, the limiter, the throttle timer of the current activation and the generation
/// that tells that timer from a late one of an earlier activation.
protocol ThrottledState<Memory>: ~Copyable {
    associatedtype Memory: GuestMemory
    var activation: VirtioActivation<Memory>? { get set }
    var limiter: RateLimiter? { get }
    var timer: ThrottleTimer? { get set }
    var generation: UInt64 { get set }
    /// Forgets what serving the previous activation left behind (a held chain, flags).
    mutating func clearServing()
}

extension Mutex where Value: ThrottledState & ~Copyable {
    /// Installs `activation`; with a limiter, first attaches a new throttle timer to the
    /// activation's event loop that calls the callback `expired()` makes with this
    /// activation's generation. The callback is made only when there is a limiter (a weak
    /// capture in it allocates a side table, which an unlimited device need not carry).
    /// A reset that comes in meanwhile wins: the new timer is detached instead.
    func activateThrottled(
        _ activation: VirtioActivation<Value.Memory>, expired: () -> @Sendable (UInt64) -> Void
    ) throws(VirtioDeviceError) {
        let (generation, limited) = withLock { state in
            state.generation &+= 1
            return (state.generation, state.limiter != nil)
        }
        var timer: ThrottleTimer?
        if limited {
            do {
                let callback = expired()
                let made = try ThrottleTimer { callback(generation) }
                try made.attach(to: activation.eventLoop)
                timer = made
            } catch {
                throw .backend("rate limiter timer: \(error)")
            }
        }
        // Install unless a reset came in meanwhile; either way one timer is left over to detach.
        let leftover = withLock { state -> ThrottleTimer? in
            guard state.generation == generation else { return timer }
            let previous = state.timer
            state.activation = activation
            state.timer = timer
            state.clearServing()
            return previous
        }
        leftover?.detach()
    }

    /// Drops the activation; an armed throttle timer is cancelled.
    func resetThrottled() {
        let timer = withLock { state in
            state.generation &+= 1
            state.activation = nil
            state.clearServing()
            let timer = state.timer
            state.timer = nil
            return timer
        }
        timer?.detach()
    }
}
