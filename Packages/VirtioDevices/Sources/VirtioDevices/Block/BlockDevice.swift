// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Synchronization
import VMMSysUtil
import VMMemory
import VirtioQueue

/// virtio-blk feature bits (virtio 1.2, section 5.2.3) that ``BlockDevice`` may offer.
///
/// ```swift
/// let readOnly = driver.deviceFeatures & VirtioBlockFeature.readOnly != 0
/// ```
public enum VirtioBlockFeature {
    /// `VIRTIO_BLK_F_SEG_MAX` (2): `seg_max` holds the most data buffers per request.
    public static let segmentMaximum: UInt64 = 1 << 2
    /// `VIRTIO_BLK_F_RO` (5): the disk is read-only.
    public static let readOnly: UInt64 = 1 << 5
    /// `VIRTIO_BLK_F_BLK_SIZE` (6): `blk_size` holds the logical block size.
    public static let blockSize: UInt64 = 1 << 6
    /// `VIRTIO_BLK_F_FLUSH` (9): `VIRTIO_BLK_T_FLUSH` is supported.
    public static let flush: UInt64 = 1 << 9
    /// `VIRTIO_BLK_F_DISCARD` (13): `VIRTIO_BLK_T_DISCARD` is supported.
    public static let discard: UInt64 = 1 << 13
    /// `VIRTIO_BLK_F_WRITE_ZEROES` (14): `VIRTIO_BLK_T_WRITE_ZEROES` is supported.
    public static let writeZeroes: UInt64 = 1 << 14
}

/// Byte offsets of the `virtio_blk_config` fields (virtio 1.2, section 5.2.4) the device fills in.
///
/// ```swift
/// let capacity = transport.read(offset: MmioRegister.config + BlockConfigOffset.capacity, size: 8)
/// ```
public enum BlockConfigOffset {
    /// `capacity` (le64): 512-byte sectors.
    public static let capacity: UInt64 = 0
    /// `size_max` (le32): unused (0; `VIRTIO_BLK_F_SIZE_MAX` is not offered).
    public static let sizeMaximum: UInt64 = 8
    /// `seg_max` (le32).
    public static let segmentMaximum: UInt64 = 12
    /// `geometry` (4 bytes): unused (0).
    public static let geometry: UInt64 = 16
    /// `blk_size` (le32).
    public static let blockSize: UInt64 = 20
    /// `topology` (8 bytes): unused (0).
    public static let topology: UInt64 = 24
    /// `writeback` (u8).
    public static let writeback: UInt64 = 32
    /// `num_queues` (le16).
    public static let queueCount: UInt64 = 34
    /// `max_discard_sectors` (le32).
    public static let maximumDiscardSectors: UInt64 = 36
    /// `max_discard_seg` (le32).
    public static let maximumDiscardSegments: UInt64 = 40
    /// `discard_sector_alignment` (le32).
    public static let discardSectorAlignment: UInt64 = 44
    /// `max_write_zeroes_sectors` (le32).
    public static let maximumWriteZeroesSectors: UInt64 = 48
    /// `max_write_zeroes_seg` (le32).
    public static let maximumWriteZeroesSegments: UInt64 = 52
    /// `write_zeroes_may_unmap` (u8).
    public static let writeZeroesMayUnmap: UInt64 = 56
    /// The bytes of configuration space (through `unused1`).
    public static let size: Int = 60
}

/// Counters of what a ``BlockDevice`` has done, for monitoring and tests.
///
/// ```swift
/// let stats = disk.statistics
/// print(stats.bytesRead, stats.bytesWritten, stats.throttled)
/// ```
public struct BlockDeviceStatistics: Sendable, Hashable {
    /// Requests completed (any status).
    public var requests: UInt64 = 0
    /// Successful reads.
    public var reads: UInt64 = 0
    /// Successful writes.
    public var writes: UInt64 = 0
    /// Successful flushes.
    public var flushes: UInt64 = 0
    /// Successful discards and write-zeroes.
    public var deallocations: UInt64 = 0
    /// Bytes read into guest memory.
    public var bytesRead: UInt64 = 0
    /// Bytes written from guest memory.
    public var bytesWritten: UInt64 = 0
    /// Requests answered `IOERR` (including chains with no status byte).
    public var ioErrors: UInt64 = 0
    /// Requests answered `UNSUPP`.
    public var unsupported: UInt64 = 0
    /// Times the rate limiter stopped the queue.
    public var throttled: UInt64 = 0

    /// All zero.
    public init() {}
}

/// virtio-blk (virtio 1.2, section 5.2) over a raw ``DiskImage``: one request queue,
/// reads and writes straight between the file and guest memory, flush, device ID,
/// discard and write-zeroes, optionally throttled by a ``RateLimiter``.
///
/// Requests run on the transport's event loop (I/O) thread, one at a time, in
/// queue order. Every chain the guest offers is checked before anything is done
/// with it: a malformed request is answered with `VIRTIO_BLK_S_IOERR` or
/// `VIRTIO_BLK_S_UNSUPP`, and a chain without room for the status byte is
/// returned untouched with length 0. Only a broken ring marks the device broken.
///
/// With a rate limiter, a request that finds too few tokens stays at the head of
/// the queue; the device stops taking requests and arms a ``ThrottleTimer`` on
/// the event loop, and continues when it fires. Tokens are not refilled by a
/// device reset.
///
/// ```swift
/// let image = try DiskImage(path: "disk.img", options: .init(direct: true))
/// let limiter = RateLimiter(bandwidth: try TokenBucket(size: 50 << 20, refillTime: .seconds(1)))
/// let disk = BlockDevice<GuestMemoryMap<MmapRegion>>(image: image, rateLimiter: limiter)
/// let transport = try MmioTransport(device: disk, interrupt: interrupt, eventLoop: loop.remote, memory: memory)
/// ```
public final class BlockDevice<Memory: GuestMemory>: VirtioDevice, Sendable {
    /// Entries in the request queue.
    public static var queueSize: UInt16 { 256 }
    /// Data buffers allowed per request (`seg_max`): the queue size minus header and status.
    public static var segmentMaximum: Int { Int(queueSize) - 2 }
    /// Sectors per discard range (`max_discard_sectors`).
    public static var maximumDiscardSectors: UInt32 { .max }
    /// Sectors per write-zeroes range (`max_write_zeroes_sectors`): 512 MiB, which bounds
    /// the time one request can hold the I/O thread when zeros must be written out.
    public static var maximumWriteZeroesSectors: UInt32 { 1 << 20 }

    /// The disk.
    public let image: DiskImage
    /// Features offered (see ``VirtioBlockFeature``).
    public let deviceFeatures: UInt64
    private let config: [UInt8]
    private let state: Mutex<State>
    private let counters = BlockCounters()

    /// What changes while the device runs; guarded by `state`.
    struct State: ThrottledState, ~Copyable {
        var activation: VirtioActivation<Memory>?
        var limiter: RateLimiter?
        var timer: ThrottleTimer?
        /// The chain the limiter refused, first in line when the queue resumes.
        var pending: DescriptorChain?
        var throttled = false
        var broken = false
        /// Bumped by every activation and reset, so a late timer from an old activation does nothing.
        var generation: UInt64 = 0

        mutating func clearServing() {
            pending = nil
            throttled = false
            broken = false
        }
    }

    /// A device for `image`, throttled by `rateLimiter` when one is given.
    public init(image: DiskImage, rateLimiter: RateLimiter? = nil) {
        self.image = image
        var features = VirtioBlockFeature.segmentMaximum | VirtioBlockFeature.blockSize | VirtioBlockFeature.flush
        if image.isReadOnly {
            features |= VirtioBlockFeature.readOnly
        } else {
            features |= VirtioBlockFeature.discard | VirtioBlockFeature.writeZeroes
        }
        deviceFeatures = features
        config = Self.configuration(image: image, features: features)
        let limiter = rateLimiter?.isLimiting == true ? rateLimiter : nil
        state = Mutex(State(limiter: limiter))
    }

    /// Opens the image at `path` and makes a device for it.
    public convenience init(
        path: String, options: DiskImage.Options = DiskImage.Options(), rateLimiter: RateLimiter? = nil
    ) throws(DiskImageError) {
        self.init(image: try DiskImage(path: path, options: options), rateLimiter: rateLimiter)
    }

    /// ``VirtioDeviceType/block``.
    public var deviceType: VirtioDeviceType { .block }
    /// One request queue.
    public var queueMaximumSizes: [UInt16] { [Self.queueSize] }
    /// ``BlockConfigOffset/size`` bytes.
    public var configSize: Int { config.count }
    /// What the device has done so far.
    public var statistics: BlockDeviceStatistics { counters.snapshot }
    /// Whether the rate limiter is holding the queue right now.
    public var isThrottled: Bool { state.withLock { $0.throttled } }

    /// Reads the configuration image.
    public func readConfig(offset: Int, size: Int) -> UInt64 {
        Self.readLittleEndian(config, offset: offset, size: size)
    }

    /// Every field is read-only (`VIRTIO_BLK_F_CONFIG_WCE` is not offered).
    public func writeConfig(offset: Int, size: Int, value: UInt64) {}

    /// Starts serving the request queue; with a rate limiter, registers its timer on the event loop.
    public func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError) {
        guard activation.queues.first?.ready == true else { throw .queueNotReady(0) }
        try state.activateThrottled(activation) {
            { [weak self] generation in self?.throttleExpired(generation: generation) }
        }
    }

    /// Stops serving; an armed throttle timer is cancelled and a held request dropped.
    public func reset() { state.resetThrottled() }

    /// The request queue while active.
    public var activeQueues: [Virtqueue]? { state.withLock { $0.activation?.queues } }

    /// Serves the request queue (I/O thread).
    public func queueNotified(_ index: Int) {
        guard index == 0 else { return }
        state.withLock { drain(&$0) }
    }

    /// The throttle timer fired (I/O thread): take requests again.
    private func throttleExpired(generation: UInt64) {
        state.withLock { state in
            guard state.generation == generation else { return }
            state.throttled = false
            drain(&state)
        }
    }

    /// Takes and completes requests until the queue is empty or the limiter says stop.
    private func drain(_ state: inout State) {
        guard !state.throttled, !state.broken, state.activation != nil else { return }
        let limits = BlockLimits(
            capacityBytes: image.capacityBytes, readOnly: image.isReadOnly, segmentMaximum: Self.segmentMaximum,
            discardNegotiated: state.activation!.negotiated(VirtioBlockFeature.discard),
            writeZeroesNegotiated: state.activation!.negotiated(VirtioBlockFeature.writeZeroes),
            maximumDiscardSectors: Self.maximumDiscardSectors,
            maximumWriteZeroesSectors: Self.maximumWriteZeroesSectors, maximumRangeSegments: 1)
        var limiter = state.limiter
        var throttledFor: Duration?
        let healthy = state.activation!.serveQueue(0, holding: &state.pending) {
            chain, memory throws(VirtioDeviceError) in
            let request = BlockRequest.parse(chain, memory: memory, limits: limits)
            // Every request costs an operation, reads and writes their bytes too.
            if let wait = limiter?.consume(operations: 1, bytes: request.dataLength).retryAfter {
                throttledFor = wait
                return .hold
            }
            return .served(written: try perform(request, memory: memory))
        }
        state.limiter = limiter
        guard healthy else {
            state.broken = true
            return
        }
        if let wait = throttledFor {
            // The chain is held with notifications left off: the timer brings the device back.
            state.throttled = true
            counters.throttled.add(1, ordering: .relaxed)
            do {
                try state.timer?.arm(after: wait)
            } catch {
                state.broken = true
                state.pending = nil
                state.activation!.markBroken("queue 0: rate limiter timer: \(error)")
            }
        }
    }

    /// Carries out a parsed request and writes its status byte; returns the bytes written
    /// into the chain's writable buffers (data plus status), 0 without a status byte.
    private func perform(_ request: BlockRequest, memory: Memory) throws(VirtioDeviceError) -> UInt32 {
        counters.requests.add(1, ordering: .relaxed)
        guard let statusAddress = request.statusAddress else {
            counters.ioErrors.add(1, ordering: .relaxed)
            return 0
        }
        var status = BlockStatus.ok
        var dataWritten: UInt64 = 0
        do throws(DiskImageError) {
            switch request.operation {
            case .read(let offset, let data):
                try image.read(at: offset, into: Self.slices(data, memory))
                dataWritten = request.dataLength
                counters.reads.add(1, ordering: .relaxed)
                counters.bytesRead.add(request.dataLength, ordering: .relaxed)
            case .write(let offset, let data):
                try image.write(at: offset, from: Self.slices(data, memory))
                counters.writes.add(1, ordering: .relaxed)
                counters.bytesWritten.add(request.dataLength, ordering: .relaxed)
            case .flush:
                try image.flush()
                counters.flushes.add(1, ordering: .relaxed)
            case .getID(let data):
                // At most 20 bytes, so plain copies suffice.
                var remaining = image.identifier[...]
                for segment in data {
                    let piece = Array(remaining.prefix(Int(segment.length)))
                    remaining = remaining.dropFirst(piece.count)
                    do {
                        try memory.write(piece, to: segment.address)
                    } catch {
                        throw .outOfRange(offset: segment.address.rawValue, length: segment.length)
                    }
                    dataWritten += UInt64(piece.count)
                }
            case .discard(let ranges):
                for range in ranges { try image.discard(offset: range.offset, length: range.length) }
                counters.deallocations.add(1, ordering: .relaxed)
            case .writeZeroes(let ranges):
                for range in ranges {
                    try image.writeZeroes(offset: range.offset, length: range.length, unmap: range.unmap)
                }
                counters.deallocations.add(1, ordering: .relaxed)
            case .reject(let code):
                status = code
            }
        } catch {
            status = .ioError
            dataWritten = 0
        }
        switch status {
        case .ok: break
        case .ioError: counters.ioErrors.add(1, ordering: .relaxed)
        case .unsupported: counters.unsupported.add(1, ordering: .relaxed)
        }
        do {
            try memory.write([status.rawValue], to: statusAddress)
        } catch {
            // The chain was checked at pop; failing now means the memory map changed under us.
            throw .malformedRequest("status byte at \(statusAddress): \(error)")
        }
        return UInt32(clamping: dataWritten + 1)
    }

    /// Host views of the data buffers, in order.
    private static func slices(_ data: [BlockDataSegment], _ memory: Memory) throws(DiskImageError) -> [VolatileSlice] {
        var result: [VolatileSlice] = []
        result.reserveCapacity(data.count)
        for segment in data {
            do {
                result += try memory.slices(at: segment.address, length: segment.length)
            } catch {
                throw .outOfRange(offset: segment.address.rawValue, length: segment.length)
            }
        }
        return result
    }

    /// The configuration image: see ``BlockConfigOffset``.
    static func configuration(image: DiskImage, features: UInt64) -> [UInt8] {
        let discard = features & VirtioBlockFeature.discard != 0
        let zeroes = features & VirtioBlockFeature.writeZeroes != 0
        var config = ConfigSpace()
        config.append(image.capacity)
        config.append(UInt32(0))  // size_max
        config.append(UInt32(segmentMaximum))
        config.append(UInt32(0))  // geometry
        config.append(UInt32(max(image.ioAlignment, Int(DiskImage.sectorSize))))  // blk_size
        config.append(UInt64(0))  // topology
        config.append(UInt8(0))  // writeback (no CONFIG_WCE: drivers assume a writeback cache with FLUSH)
        config.append(UInt8(0))  // unused0
        config.append(UInt16(1))  // num_queues
        config.append(discard ? maximumDiscardSectors : 0)
        config.append(UInt32(discard ? 1 : 0))  // max_discard_seg
        // Hosts deallocate in pages or file-system blocks: tell the driver to discard in 4 KiB units.
        config.append(UInt32(discard ? max(4096, image.ioAlignment) / 512 : 0))
        config.append(zeroes ? maximumWriteZeroesSectors : 0)
        config.append(UInt32(zeroes ? 1 : 0))  // max_write_zeroes_seg
        config.append(UInt8(zeroes ? 1 : 0))  // write_zeroes_may_unmap: UNMAP punches holes
        config.append(bytes: [0, 0, 0])  // unused1
        return config.bytes
    }
}

/// The statistics counters, updated from the I/O thread and read from anywhere.
final class BlockCounters: Sendable {
    let requests = Atomic<UInt64>(0)
    let reads = Atomic<UInt64>(0)
    let writes = Atomic<UInt64>(0)
    let flushes = Atomic<UInt64>(0)
    let deallocations = Atomic<UInt64>(0)
    let bytesRead = Atomic<UInt64>(0)
    let bytesWritten = Atomic<UInt64>(0)
    let ioErrors = Atomic<UInt64>(0)
    let unsupported = Atomic<UInt64>(0)
    let throttled = Atomic<UInt64>(0)

    var snapshot: BlockDeviceStatistics {
        var result = BlockDeviceStatistics()
        result.requests = requests.load(ordering: .relaxed)
        result.reads = reads.load(ordering: .relaxed)
        result.writes = writes.load(ordering: .relaxed)
        result.flushes = flushes.load(ordering: .relaxed)
        result.deallocations = deallocations.load(ordering: .relaxed)
        result.bytesRead = bytesRead.load(ordering: .relaxed)
        result.bytesWritten = bytesWritten.load(ordering: .relaxed)
        result.ioErrors = ioErrors.load(ordering: .relaxed)
        result.unsupported = unsupported.load(ordering: .relaxed)
        result.throttled = throttled.load(ordering: .relaxed)
        return result
    }
}
