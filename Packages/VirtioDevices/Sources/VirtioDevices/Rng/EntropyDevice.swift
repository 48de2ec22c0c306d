// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Synchronization
import VMMSysUtil
import VMMemory
import VirtioQueue

/// virtio-rng (virtio 1.2, section 5.4): fills each buffer the driver offers with
/// bytes from the host kernel's `getrandom(2)`. One queue, no configuration space.
///
/// ```swift
/// let rng = EntropyDevice<GuestMemoryMap<MmapRegion>>()
/// let transport = try MmioTransport(device: rng, interrupt: interrupt, eventLoop: loop.remote, memory: memory)
/// ```
public final class EntropyDevice<Memory: GuestMemory>: VirtioDevice, Sendable {
    /// The most bytes served per request; larger buffers are filled up to this (the driver asks again).
    public static var requestLimit: Int { 64 * 1024 }
    private let active = Mutex<VirtioActivation<Memory>?>(nil)
    private let served = Atomic<UInt64>(0)

    /// A device with no state beyond its queue.
    public init() {}

    /// Bytes handed to the guest so far.
    public var bytesServed: UInt64 { served.load(ordering: .relaxed) }
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

    /// Starts serving the request queue.
    public func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError) {
        guard activation.queues.first?.ready == true else { throw .queueNotReady(0) }
        active.withLock { $0 = activation }
    }

    /// Stops serving.
    public func reset() { active.withLock { $0 = nil } }

    /// The request queue while active.
    public var activeQueues: [Virtqueue]? { active.withLock { $0?.queues } }

    /// Fills every available buffer.
    public func queueNotified(_ index: Int) {
        active.withLock { activation in
            guard index == 0, activation != nil else { return }
            activation!.serveQueue(0) { chain, memory throws(VirtioDeviceError) in
                var writer = DescriptorChainWriter(chain)
                let count = Int(min(writer.remaining, UInt64(Self.requestLimit)))
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
    }
}
