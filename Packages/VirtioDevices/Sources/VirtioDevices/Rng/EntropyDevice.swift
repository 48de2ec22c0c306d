// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Synchronization
import VMMSysUtil
import VMMemory
import VirtioQueue

/// virtio-rng (virtio 1.2, section 5.4): fills each buffer the driver offers with
/// bytes from the host kernel's `getrandom(2)`. One queue, no configuration space.
/// Optionally throttled by a ``RateLimiter``'s byte bucket (rust-vmm vhost-device-rng's
/// `--period`/`--max-bytes`): a buffer the bucket cannot pay for waits, and the queue with
/// it, until the bucket has refilled.
///
/// ```swift
/// let rng = EntropyDevice<GuestMemoryMap<MmapRegion>>()
/// let transport = try MmioTransport(device: rng, interrupt: interrupt, eventLoop: loop.remote, memory: memory)
/// // at most 4 KiB per second:
/// let slow = EntropyDevice<GuestMemoryMap<MmapRegion>>(
///     rateLimiter: RateLimiter(bandwidth: try TokenBucket(size: 4096, refillTime: .seconds(1))))
/// ```
public final class EntropyDevice<Memory: GuestMemory>: VirtioDevice, Sendable {
    /// The most bytes served per request; larger buffers are filled up to this (the driver asks again).
    public static var requestLimit: Int { 64 * 1024 }

    struct State: ThrottledState {
        var activation: VirtioActivation<Memory>?
        var limiter: RateLimiter?
        var timer: ThrottleTimer?
        /// A chain taken from the queue that the limiter has not paid for yet.
        var pending: DescriptorChain?
        /// Bumped by every activation and reset: a timer of an older one does nothing.
        var generation: UInt64 = 0

        mutating func clearServing() { pending = nil }
    }
    private let state: Mutex<State>
    private let served = Atomic<UInt64>(0)
    private let throttles = Atomic<UInt64>(0)

    /// A device with no state beyond its queue, throttled by `rateLimiter` when one is given.
    public init(rateLimiter: RateLimiter? = nil) {
        state = Mutex(State(limiter: rateLimiter?.isLimiting == true ? rateLimiter : nil))
    }

    /// Bytes handed to the guest so far.
    public var bytesServed: UInt64 { served.load(ordering: .relaxed) }
    /// Times a buffer waited for the rate limiter.
    public var throttleCount: UInt64 { throttles.load(ordering: .relaxed) }
    /// ``VirtioDeviceType/entropy``.
    public var deviceType: VirtioDeviceType { .entropy }
    /// One request queue of 256 entries.
    public var queueMaximumSizes: [UInt16] { [256] }
    /// No device-specific features.
    public var deviceFeatures: UInt64 { 0 }
    /// No configuration space.
    public var configSize: Int { 0 }
    /// Nothing to read.
    public func readConfig(offset: Int, size: Int) -> UInt64 { 0 }
    /// Nothing to write.
    public func writeConfig(offset: Int, size: Int, value: UInt64) {}

    /// Starts serving the request queue; with a rate limiter, registers its timer on the event loop.
    public func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError) {
        guard activation.queues.first?.ready == true else { throw .queueNotReady(0) }
        try state.activateThrottled(activation) {
            { [weak self] generation in self?.throttleExpired(generation: generation) }
        }
    }

    /// Stops serving; an armed throttle timer is cancelled and a waiting buffer dropped.
    public func reset() { state.resetThrottled() }

    /// The request queue while active.
    public var activeQueues: [Virtqueue]? { state.withLock { $0.activation?.queues } }

    /// Fills every available buffer (the ones the rate limiter allows now).
    public func queueNotified(_ index: Int) {
        guard index == 0 else { return }
        state.withLock { drain(&$0) }
    }

    /// The throttle timer fired (event loop): serve the waiting buffer and what followed it.
    private func throttleExpired(generation: UInt64) {
        state.withLock { state in
            guard state.generation == generation else { return }
            drain(&state)
        }
    }

    private func drain(_ state: inout State) {
        guard state.activation != nil, state.pending == nil || state.timer?.isArmed == false else { return }
        if state.limiter == nil {
            state.activation!.serveQueue(0) { chain, memory throws(VirtioDeviceError) in
                try self.fill(chain, memory: memory, count: Self.requestLimit)
            }
            return
        }
        // Throttled serving: a chain is completed only once the bucket paid for it.
        while let chain = state.pending ?? state.activation!.nextChain(queue: 0) {
            state.pending = nil
            let count = min(
                DescriptorChainWriter(chain).remaining, UInt64(Self.requestLimit),
                state.limiter!.bandwidth.map(\.size) ?? .max)
            if let wait = state.limiter!.consume(bytes: count).retryAfter {
                state.pending = chain
                throttles.add(1, ordering: .relaxed)
                do {
                    try state.timer?.arm(after: wait)
                } catch {
                    state.pending = nil
                    state.activation!.markBroken("rate limiter timer: \(error)")
                }
                return
            }
            do throws(VirtioDeviceError) {
                let written = try fill(chain, memory: state.activation!.memory, count: Int(count))
                guard state.activation!.complete(chain, writtenLength: written, queue: 0) else { return }
            } catch {
                state.activation!.markBroken("queue 0: \(error)")
                return
            }
        }
    }

    /// Writes up to `count` random bytes into `chain`'s writable buffers; returns the length written.
    private func fill(_ chain: DescriptorChain, memory: Memory, count limit: Int) throws(VirtioDeviceError) -> UInt32 {
        var writer = DescriptorChainWriter(chain)
        let count = Int(min(writer.remaining, UInt64(limit)))
        guard count > 0 else { return 0 }
        let bytes: [UInt8]
        do {
            bytes = try HostRandom.bytes(count)
        } catch {
            throw .backend("\(error)")
        }
        try queueCall { () throws(VirtioQueueError) in try writer.write(bytes, to: memory) }
        served.add(UInt64(count), ordering: .relaxed)
        return writer.writtenLength
    }
}
