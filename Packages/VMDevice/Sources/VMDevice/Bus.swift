// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A device that answers guest accesses on a bus.
///
/// Class-bound, so a bus can hold different device types behind `any BusDevice`
/// (class existentials work in Embedded Swift) and hand the same instance to
/// several vCPU threads. Each device serializes its own state (a lock around a
/// VMSuperIO value model, atomics, or immutability): the bus only
/// guarantees that the range table is consistent, not that devices are.
///
/// `offset` is relative to the base of the range the device was inserted at;
/// `size` is 1, 2, 4 or 8 bytes and the value is little-endian in the low bytes.
///
/// ```swift
/// final class Scratch: BusDevice, @unchecked Sendable {
///     let lock = ReadWriteSpinLock()
///     var value: UInt64 = 0
///     func read(offset: UInt64, size: Int) -> UInt64 { lock.withReadLock { value } }
///     func write(offset: UInt64, size: Int, value: UInt64) { lock.withWriteLock { self.value = value } }
/// }
/// ```
public protocol BusDevice: AnyObject, Sendable {
    /// Handles a guest read of `size` bytes at `offset` into the device's range.
    func read(offset: UInt64, size: Int) -> UInt64
    /// Handles a guest write of the low `size` bytes of `value` at `offset`.
    func write(offset: UInt64, size: Int, value: UInt64)
}

/// An address space a ``Bus`` covers.
///
/// ```swift
/// let ports = Bus<PortIO>()      // 0x0000...0xFFFF
/// let memory = Bus<MemoryMapped>()
/// ```
public protocol AddressSpace {
    /// One past the highest address of the space.
    static var limit: UInt64 { get }
    /// The space's name in error messages ("pio", "mmio").
    static var name: StaticString { get }
}

/// Port I/O (x86 `in`/`out`): 64 Ki ports.
///
/// ```swift
/// let pio = PioBus()
/// ```
public enum PortIO: AddressSpace {
    /// 0x10000 ports.
    public static var limit: UInt64 { 0x1_0000 }
    /// "pio".
    public static var name: StaticString { "pio" }
}

/// Memory-mapped I/O: the whole 64-bit physical address space (the top byte
/// excluded so a range's end is always representable).
///
/// ```swift
/// let mmio = MmioBus()
/// ```
public enum MemoryMapped: AddressSpace {
    /// 2^64 - 1.
    public static var limit: UInt64 { UInt64.max }
    /// "mmio".
    public static var name: StaticString { "mmio" }
}

/// The port I/O bus.
public typealias PioBus = Bus<PortIO>
/// The MMIO bus.
public typealias MmioBus = Bus<MemoryMapped>

/// A half-open address range `[base, base + size)`.
///
/// ```swift
/// let com1 = BusRange(base: 0x3f8, size: 8)
/// com1.contains(0x3fd)  // true
/// ```
public struct BusRange: Sendable, Equatable, Hashable {
    /// First address.
    public var base: UInt64
    /// Length in bytes (or ports).
    public var size: UInt64

    /// Creates a range.
    public init(base: UInt64, size: UInt64) {
        self.base = base
        self.size = size
    }

    /// One past the last address, or nil when it does not fit in 64 bits.
    public var end: UInt64? {
        let (end, overflow) = base.addingReportingOverflow(size)
        return overflow ? nil : end
    }

    /// Whether `address` is inside.
    public func contains(_ address: UInt64) -> Bool {
        address >= base && address - base < size
    }

    /// Whether the two ranges share at least one address.
    public func overlaps(_ other: BusRange) -> Bool {
        guard size > 0, other.size > 0 else { return false }
        return base < other.base ? other.base - base < size : base - other.base < other.size
    }
}

/// Why a bus operation was refused.
///
/// ```swift
/// do { try bus.insert(device, at: BusRange(base: 0x3f8, size: 8)) }
/// catch .overlap(let existing) { print("taken by", existing) }
/// ```
public enum BusError: Error, Equatable {
    /// The range has size zero.
    case emptyRange
    /// The range leaves the address space (or wraps around 2^64).
    case outOfSpace(BusRange)
    /// The range overlaps one already on the bus.
    case overlap(existing: BusRange)
    /// No device is inserted at exactly this range.
    case notFound(BusRange)
    /// No device covers the accessed address.
    case noDevice(address: UInt64)
    /// The access size is not 1, 2, 4 or 8, or the access runs past the end of
    /// the device's range (a guest crossing device boundaries).
    case invalidAccess(address: UInt64, size: Int)
}

/// A bus of devices keyed by non-overlapping address ranges: insertion and
/// removal with overlap rejection, O(log n) lookup by binary search over ranges
/// kept sorted by base, and dispatch safe from any number of vCPU threads.
///
/// Concurrency design: the range table lives behind a ``ReadWriteSpinLock``.
/// vCPU threads take it shared only for the binary search and copy out the device
/// reference (a retain), then release it *before* calling the device, so
/// - lookups from many vCPUs run in parallel (only an atomic add each),
/// - a device handler may itself insert or remove ranges (a PCI BAR move) without
///   deadlocking, and
/// - a device removed while an access to it is in flight stays alive until that
///   access returns (the reference keeps it).
/// An immutable snapshot swapped atomically would make lookups wait-free, but
/// freeing the old snapshot safely needs hazard pointers or epochs that Embedded
/// Swift's `Atomic` alone does not give; range changes are rare (setup, hotplug),
/// so a lock with writer preference is the simpler correct choice. Device state
/// is serialized by each device (see ``BusDevice``).
///
/// ```swift
/// let pio = PioBus()
/// try pio.insert(serialDevice, at: BusRange(base: 0x3f8, size: 8))
/// let lsr = try pio.read(address: 0x3fd, size: 1)
/// ```
public final class Bus<Space: AddressSpace>: @unchecked Sendable {
    /// One occupied range and its device.
    struct Entry {
        var range: BusRange
        var device: any BusDevice
    }

    private let lock = ReadWriteSpinLock()
    /// Sorted by `range.base`; ranges never overlap. Guarded by `lock`.
    private var entries: [Entry] = []

    /// Creates an empty bus.
    public init() {}

    /// Number of devices ranges on the bus.
    public var count: Int { lock.withReadLock { entries.count } }

    /// Every occupied range, in address order.
    public var ranges: [BusRange] { lock.withReadLock { entries.map { $0.range } } }

    /// Puts `device` at `range`; refuses an empty range, one outside the address
    /// space, or one overlapping a range already on the bus.
    public func insert(_ device: any BusDevice, at range: BusRange) throws(BusError) {
        guard range.size > 0 else { throw .emptyRange }
        guard let end = range.end, end <= Space.limit else { throw .outOfSpace(range) }
        try lock.withWriteLock { () throws(BusError) -> Void in
            let position = firstIndex(withBaseAbove: range.base)
            // Only the neighbours can overlap: ranges are sorted and disjoint.
            if position > 0, entries[position - 1].range.overlaps(range) {
                throw .overlap(existing: entries[position - 1].range)
            }
            if position < entries.count, entries[position].range.overlaps(range) {
                throw .overlap(existing: entries[position].range)
            }
            entries.insert(Entry(range: range, device: device), at: position)
        }
    }

    /// Takes the device at exactly `range` off the bus and returns it.
    @discardableResult
    public func remove(_ range: BusRange) throws(BusError) -> any BusDevice {
        try lock.withWriteLock { () throws(BusError) -> any BusDevice in
            let position = firstIndex(withBaseAbove: range.base) - 1
            guard position >= 0, entries[position].range == range else { throw .notFound(range) }
            return entries.remove(at: position).device
        }
    }

    /// The device covering `address`, its range, and the offset into it.
    public func lookup(_ address: UInt64) -> (device: any BusDevice, range: BusRange, offset: UInt64)? {
        lock.withReadLock {
            let position = firstIndex(withBaseAbove: address) - 1
            guard position >= 0 else { return nil }
            let entry = entries[position]
            guard entry.range.contains(address) else { return nil }
            return (entry.device, entry.range, address - entry.range.base)
        }
    }

    /// Dispatches a guest read of `size` bytes at `address`.
    public func read(address: UInt64, size: Int) throws(BusError) -> UInt64 {
        let (device, offset) = try resolve(address: address, size: size)
        return device.read(offset: offset, size: size)
    }

    /// Dispatches a guest write of the low `size` bytes of `value` at `address`.
    public func write(address: UInt64, size: Int, value: UInt64) throws(BusError) {
        let (device, offset) = try resolve(address: address, size: size)
        device.write(offset: offset, size: size, value: value)
    }

    private func resolve(address: UInt64, size: Int) throws(BusError) -> (any BusDevice, UInt64) {
        guard size == 1 || size == 2 || size == 4 || size == 8 else {
            throw .invalidAccess(address: address, size: size)
        }
        guard let (device, range, offset) = lookup(address) else { throw .noDevice(address: address) }
        guard range.size - offset >= UInt64(size) else { throw .invalidAccess(address: address, size: size) }
        return (device, offset)
    }

    /// Index of the first entry whose base is greater than `address` (binary search).
    private func firstIndex(withBaseAbove address: UInt64) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].range.base <= address {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }
}
