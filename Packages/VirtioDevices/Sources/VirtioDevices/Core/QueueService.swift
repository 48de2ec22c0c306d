// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory
import VirtioQueue

extension VirtioActivation {
    /// Serves every chain the driver made available on queue `index`: `serve` handles
    /// one chain and returns how many bytes it wrote into the chain's writable buffers;
    /// the chain is then returned used. Notifications stay off while the queue is
    /// drained and one interrupt at the end covers the batch (when the driver wants one).
    ///
    /// A fault in the ring or a malformed chain (loops, out-of-range addresses or
    /// indices, readable after writable buffers) is the guest's doing: the device is
    /// marked broken and the call returns false. `serve` reports a request it cannot
    /// complete the device's own way (a status byte) and throws only when the device
    /// cannot go on; that too marks it broken.
    ///
    /// ```swift
    /// func queueNotified(_ index: Int) {
    ///     state.withLock { active in
    ///         _ = active?.serveQueue(index) { chain, memory throws(VirtioDeviceError) in
    ///             var writer = DescriptorChainWriter(chain)
    ///             try writer.write(bytes, to: memory)   // (map VirtioQueueError to .queue)
    ///             return writer.writtenLength
    ///         }
    ///     }
    /// }
    /// ```
    @discardableResult
    public mutating func serveQueue(
        _ index: Int, maximumChains: Int = .max,
        _ serve: (DescriptorChain, Memory) throws(VirtioDeviceError) -> UInt32
    ) -> Bool {
        var none: DescriptorChain?
        return serveQueue(index, maximumChains: maximumChains, holding: &none) {
            chain, memory throws(VirtioDeviceError) in
            .served(written: try serve(chain, memory))
        }
    }

    /// ``serveQueue(_:maximumChains:_:)`` for a device that may have to stop before a chain
    /// (a rate limiter out of budget): `serve` answers ``ChainDecision/hold`` for it, and the
    /// chain goes to `held` instead of the used ring. Serving stops there with
    /// notifications left off (the device comes back on its own, say from a timer), and
    /// the next call serves `held` first.
    ///
    /// ```swift
    /// let healthy = activation.serveQueue(0, holding: &pending) { chain, memory throws(VirtioDeviceError) in
    ///     if limiter.consume(operations: 1, bytes: 0).retryAfter != nil { return .hold }
    ///     return .served(written: try handle(chain, memory))
    /// }
    /// ```
    @discardableResult
    public mutating func serveQueue(
        _ index: Int, maximumChains: Int = .max, holding held: inout DescriptorChain?,
        _ serve: (DescriptorChain, Memory) throws(VirtioDeviceError) -> ChainDecision
    ) -> Bool {
        guard index < queues.count, queues[index].ready else { return true }
        var served = 0
        var rounds = 0
        do throws(VirtioDeviceError) {
            try queueCall { () throws(VirtioQueueError) in try queues[index].disableNotification(in: memory) }
            serving: while served < maximumChains {
                while served < maximumChains {
                    let chain: DescriptorChain
                    if let first = held {
                        chain = first
                        held = nil
                    } else if let next = try queueCall({ () throws(VirtioQueueError) in
                        try queues[index].pop(from: memory)
                    }) {
                        chain = next
                    } else {
                        break
                    }
                    guard case .served(let written) = try serve(chain, memory) else {
                        held = chain
                        break serving
                    }
                    try queueCall { () throws(VirtioQueueError) in
                        try queues[index].addUsed(chain, writtenLength: written, to: memory)
                    }
                    served += 1
                }
                // Re-enable, then look again: the driver may have added buffers before it saw the request.
                if try !queueCall({ () throws(VirtioQueueError) in try queues[index].enableNotification(in: memory) }) {
                    break
                }
                // Bounded: a ring whose buffers the device's own writes refill must not hold the thread.
                rounds += 1
                if rounds == Self.servingRounds {
                    resume(index)
                    break
                }
            }
            if served > 0,
                try queueCall({ () throws(VirtioQueueError) in try queues[index].needsNotification(memory) })
            {
                interrupt.signal(.usedBuffer, queue: index)
            }
            return true
        } catch {
            held = nil
            markBroken("queue \(index): \(error)")
            return false
        }
    }

    /// The most times one serving pass re-enables notifications and finds more buffers
    /// before it stops and asks to be run again (``resume(_:)``). A driver adding buffers
    /// that fast is rare; a hostile ring whose buffers the device's own writes refill
    /// would otherwise keep the serving thread forever.
    public static var servingRounds: Int { 64 }

    /// Asks for queue `index` to be served again later, through its notifier when the
    /// transport gave one (the event loop calls `queueNotified` after its other work).
    /// Without a notifier the next driver notification does it.
    public func resume(_ index: Int) {
        guard index < notifiers.count else { return }
        try? notifiers[index].event.signal()
    }

    /// Returns one chain used outside ``serveQueue(_:maximumChains:_:)`` (deferred
    /// completions, receive queues filled when data arrives) and interrupts the driver
    /// if it asked for it. A ring fault marks the device broken.
    @discardableResult
    public mutating func complete(_ chain: DescriptorChain, writtenLength: UInt32, queue index: Int) -> Bool {
        guard index < queues.count else { return false }
        do throws(VirtioDeviceError) {
            try queueCall { () throws(VirtioQueueError) in
                try queues[index].addUsed(chain, writtenLength: writtenLength, to: memory)
            }
            if try queueCall({ () throws(VirtioQueueError) in try queues[index].needsNotification(memory) }) {
                interrupt.signal(.usedBuffer, queue: index)
            }
            return true
        } catch {
            markBroken("queue \(index): \(error)")
            return false
        }
    }

    /// Takes the next available chain of queue `index` (receive paths that wait for data).
    /// A malformed chain or ring marks the device broken and returns nil.
    public mutating func nextChain(queue index: Int) -> DescriptorChain? {
        guard index < queues.count, queues[index].ready else { return nil }
        do throws(VirtioDeviceError) {
            return try queueCall { () throws(VirtioQueueError) in try queues[index].pop(from: memory) }
        } catch {
            markBroken("queue \(index): \(error)")
            return nil
        }
    }
}

/// Runs a queue operation, turning its error into a device error.
@inline(__always)
func queueCall<T>(_ body: () throws(VirtioQueueError) -> T) throws(VirtioDeviceError) -> T {
    do { return try body() } catch { throw .queue(error) }
}

/// What a device's `serve` decided about one chain (see
/// ``VirtioActivation/serveQueue(_:maximumChains:holding:_:)``).
public enum ChainDecision: Equatable, Sendable {
    /// Served: it goes to the used ring with this many bytes written into its writable buffers.
    case served(written: UInt32)
    /// Not now: the chain is held, and serving stops until the device calls again.
    case hold
}
