// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import VMMSysUtil
import VMMemory

/// Why a memory mapping for guest RAM could not be created.
///
/// ```swift
/// do {
///     _ = try MmapRegion.anonymous(at: .zero, size: 4 << 20, options: .init(hugePages: .required))
/// } catch .hugePagesUnavailable(let cause) {
///     print("no 2 MiB pages reserved: \(cause)")  // see /proc/sys/vm/nr_hugepages
/// } catch {
///     print(error)
/// }
/// ```
public enum MmapRegionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The layout itself is invalid (zero size, wraps past 2^64, too large for the host).
    case layout(GuestMemoryError)
    /// The size is not a multiple of the page size in use.
    case sizeNotPageAligned(size: UInt64, pageSize: UInt64)
    /// A file is shorter than `offset + size`; touching the missing part would raise SIGBUS.
    case fileTooSmall(fileSize: UInt64, required: UInt64)
    /// 2 MiB huge pages were required but the kernel could not provide them
    /// (none reserved in /proc/sys/vm/nr_hugepages, or hugetlbfs unsupported).
    case hugePagesUnavailable(SystemError)
    /// A system call failed.
    case system(SystemError)

    /// One line naming what failed.
    public var description: String {
        switch self {
        case .layout(let error): return "invalid region layout: \(error)"
        case .sizeNotPageAligned(let size, let pageSize):
            return "region size \(size) is not a multiple of the page size \(pageSize)"
        case .fileTooSmall(let fileSize, let required):
            return "backing file has \(fileSize) bytes, the region needs \(required)"
        case .hugePagesUnavailable(let cause):
            return "2 MiB huge pages unavailable (reserve some in /proc/sys/vm/nr_hugepages): \(cause)"
        case .system(let cause): return cause.description
        }
    }
}

/// A guest memory region backed by an `mmap(2)` mapping: anonymous memory, a
/// memfd (shareable with vhost-user backends), or a file; optionally with 2 MiB
/// huge pages, guard pages and `madvise` hints.
///
/// The mapping is released when the last reference to the region goes away.
///
/// ```swift
/// var options = MmapRegion.Options()
/// options.guardPages = true
/// options.dontDump = true
/// let ram = try MmapRegion.memfd(at: GuestAddress(0), size: 256 << 20, name: "guest-ram", options: options)
/// let memory = try GuestMemoryMap(regions: [ram])
/// // Hand `ram.fileDescriptor` and `ram.fileOffset` to a vhost-user backend.
/// ```
@safe  // SAFETY: owns its mapping (unmapped in deinit) and hands out its base only with its size.
public final class MmapRegion: GuestMemoryRegion, @unchecked Sendable {
    // @unchecked: every field is fixed at init; the mapped bytes are guest
    // memory, which the guest and device threads share by design.

    /// How to use 2 MiB huge pages.
    public enum HugePages: Sendable {
        /// Normal pages.
        case never
        /// 2 MiB hugetlb pages, or ``MmapRegionError/hugePagesUnavailable(_:)``.
        case required
        /// 2 MiB hugetlb pages when reserved; otherwise normal pages with a
        /// transparent-huge-page hint (`MADV_HUGEPAGE`).
        case preferred
    }

    /// Mapping options.
    public struct Options: Sendable {
        /// These options for a hugetlb mapping: never `MAP_NORESERVE`. Huge pages are reserved
        /// when mapped, so a host without enough free ones refuses the mapping (and `.preferred`
        /// falls back to normal pages); with `MAP_NORESERVE` the mapping would succeed and the
        /// first touch of a page that cannot be had would raise SIGBUS.
        var reservingHugePages: Options {
            var copy = self
            copy.noReserve = false
            return copy
        }

        /// Huge page use; check ``MmapRegion/usesHugePages`` for the outcome.
        public var hugePages: HugePages
        /// Surround the region with one inaccessible page on each side, so a stray
        /// host access just past either end faults instead of hitting other data.
        public var guardPages: Bool
        /// Leave the region out of core dumps (`MADV_DONTDUMP`): guest RAM is large and private.
        public var dontDump: Bool
        /// Let KSM merge identical pages (`MADV_MERGEABLE`); fails where KSM is not built in.
        public var mergeable: Bool
        /// Do not reserve swap for the mapping (`MAP_NORESERVE`).
        public var noReserve: Bool
        /// Fault every page in at creation (`MAP_POPULATE`).
        public var populate: Bool
        /// Record writes made through this library in a ``DirtyBitmap`` (4 KiB pages).
        public var trackDirtyPages: Bool

        /// Options; every hint is off by default.
        public init(
            hugePages: HugePages = .never, guardPages: Bool = false, dontDump: Bool = false, mergeable: Bool = false,
            noReserve: Bool = false, populate: Bool = false, trackDirtyPages: Bool = false
        ) {
            self.hugePages = hugePages
            self.guardPages = guardPages
            self.dontDump = dontDump
            self.mergeable = mergeable
            self.noReserve = noReserve
            self.populate = populate
            self.trackDirtyPages = trackDirtyPages
        }
    }

    /// The guest physical address of the region's first byte.
    public let startAddress: GuestAddress
    /// The region's length in bytes.
    public let size: UInt64
    /// The host address of the mapping.
    public let hostAddress: UnsafeMutableRawPointer
    /// Pages written by the VMM, when ``Options/trackDirtyPages`` is set.
    public let dirtyBitmap: DirtyBitmap?
    /// The page size of the mapping: 4096 or 2 MiB for hugetlb.
    public let pageSize: UInt64
    /// Whether the mapping uses hugetlb pages.
    public var usesHugePages: Bool { pageSize == MmapRegion.hugePageSize }
    /// The descriptor backing the mapping (memfd or file), owned by the region;
    /// `nil` for anonymous memory. Pass it with ``fileOffset`` to share the region.
    public var fileDescriptor: Int32? { backingDescriptor }
    /// The offset of the region's first byte in ``fileDescriptor``.
    public let fileOffset: UInt64
    /// The options the region was created with.
    public let options: Options

    private let backingDescriptor: Int32?
    private let reservation: UnsafeMutableRawPointer
    private let reservationSize: Int

    /// The 2 MiB huge page size.
    public static let hugePageSize: UInt64 = 2 << 20
    /// The host's base page size.
    public static let basePageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))

    private init(
        start: GuestAddress, size: UInt64, mapping: Mapping, pageSize: UInt64, descriptor: Int32?, fileOffset: UInt64,
        options: Options
    ) {
        startAddress = start
        self.size = size
        // SAFETY: takes ownership of the mapping made by map(): `data` is mapped read/write for `size` bytes and
        // lies inside [reservation, reservation + reservationSize), which deinit unmaps exactly once.
        unsafe hostAddress = unsafe mapping.data
        unsafe reservation = unsafe mapping.reservation
        reservationSize = mapping.reservationSize
        self.pageSize = pageSize
        backingDescriptor = descriptor
        self.fileOffset = fileOffset
        self.options = options
        dirtyBitmap = options.trackDirtyPages ? DirtyBitmap(size: size, pageSize: MmapRegion.basePageSize) : nil
    }

    deinit {
        // SAFETY: the exact address and length mmap returned for this region's reservation (which covers the data
        // mapping); unmapped only here, once, when the last reference to the region goes.
        _ = unsafe munmap(reservation, reservationSize)
        if let backingDescriptor { _ = close(backingDescriptor) }
    }

    /// Private anonymous memory (`MAP_PRIVATE | MAP_ANONYMOUS`).
    public static func anonymous(
        at start: GuestAddress, size: UInt64, options: Options = Options()
    ) throws(MmapRegionError) -> MmapRegion {
        try validate(start: start, size: size)
        if options.hugePages != .never {
            let hugeFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | hugeTLB2MiBFlag
            do throws(MmapRegionError) {
                try checkPageAligned(size, hugePageSize)
                let mapping = try map(
                    size: size, pageSize: hugePageSize, flags: hugeFlags, descriptor: -1, offset: 0,
                    options: options.reservingHugePages)
                return MmapRegion(
                    start: start, size: size, mapping: mapping, pageSize: hugePageSize, descriptor: nil, fileOffset: 0,
                    options: options)
            } catch {
                if options.hugePages == .required { throw error }
            }
        }
        try checkPageAligned(size, basePageSize)
        let mapping = try map(
            size: size, pageSize: basePageSize, flags: MAP_PRIVATE | MAP_ANONYMOUS, descriptor: -1, offset: 0,
            options: options)
        return MmapRegion(
            start: start, size: size, mapping: mapping, pageSize: basePageSize, descriptor: nil, fileOffset: 0,
            options: options)
    }

    /// Shared memory in a new memfd called `name`, sized to `size` bytes; the
    /// region owns the memfd and exposes it as ``fileDescriptor`` for sharing.
    public static func memfd(
        at start: GuestAddress, size: UInt64, name: String = "guest-memory", options: Options = Options()
    ) throws(MmapRegionError) -> MmapRegion {
        try validate(start: start, size: size)
        if options.hugePages != .never {
            do throws(MmapRegionError) {
                try checkPageAligned(size, hugePageSize)
                let file = try memfd(name: name, size: size, flags: [.allowSealing, .hugeTLB2MiB])
                return try mapShared(
                    start: start, size: size, file: file, offset: 0, pageSize: hugePageSize,
                    options: options.reservingHugePages)
            } catch {
                if options.hugePages == .required { throw error }
            }
        }
        try checkPageAligned(size, basePageSize)
        let file = try memfd(name: name, size: size, flags: [.allowSealing])
        return try mapShared(start: start, size: size, file: file, offset: 0, pageSize: basePageSize, options: options)
    }

    /// A shared mapping of `size` bytes of an open file starting at `offset`
    /// (a page multiple). The region keeps its own duplicate of `descriptor`.
    ///
    /// The file must already hold `offset + size` bytes: the kernel raises SIGBUS on
    /// access past a file's end, so a short file is refused here. (Keep the file from
    /// being truncated while the region lives.)
    public static func file(
        at start: GuestAddress, size: UInt64, descriptor: borrowing FileDescriptor, offset: UInt64 = 0,
        options: Options = Options()
    ) throws(MmapRegionError) -> MmapRegion {
        let pageSize = try checkFileRange(start: start, size: size, descriptor: descriptor, offset: offset, options)
        let file: FileDescriptor
        do { file = try descriptor.duplicate() } catch { throw .system(error) }
        return try mapShared(start: start, size: size, file: file, offset: offset, pageSize: pageSize, options: options)
    }

    /// A private, copy-on-write mapping of `size` bytes of an open file starting at `offset`:
    /// the guest reads the file's bytes (each page read in on first touch; holes read as
    /// zeros) and its writes stay in this process. This is how a VMM restores guest memory
    /// from a snapshot's memory file without reading all of it first. The file must hold
    /// `offset + size` bytes, as for ``file(at:size:descriptor:offset:options:)``; the region
    /// exposes no ``fileDescriptor``, since its writes never reach the file.
    ///
    /// ```swift
    /// let saved = try FileDescriptor.open("/snapshots/vm.mem", flags: O_RDONLY | O_CLOEXEC)
    /// let ram = try MmapRegion.copyOnWrite(at: GuestAddress(0), size: 256 << 20, descriptor: saved)
    /// ```
    public static func copyOnWrite(
        at start: GuestAddress, size: UInt64, descriptor: borrowing FileDescriptor, offset: UInt64 = 0,
        options: Options = Options()
    ) throws(MmapRegionError) -> MmapRegion {
        let pageSize = try checkFileRange(start: start, size: size, descriptor: descriptor, offset: offset, options)
        let mapping = try map(
            size: size, pageSize: pageSize, flags: MAP_PRIVATE, descriptor: descriptor.rawValue, offset: offset,
            options: options)
        return MmapRegion(
            start: start, size: size, mapping: mapping, pageSize: pageSize, descriptor: nil, fileOffset: 0,
            options: options)
    }

    /// Checks a file mapping's layout and that the file is long enough (the kernel raises
    /// SIGBUS past its end); returns the page size to map with.
    static func checkFileRange(
        start: GuestAddress, size: UInt64, descriptor: borrowing FileDescriptor, offset: UInt64, _ options: Options
    ) throws(MmapRegionError) -> UInt64 {
        try validate(start: start, size: size)
        let pageSize = options.hugePages == .required ? hugePageSize : basePageSize
        try checkPageAligned(size, pageSize)
        try checkPageAligned(offset, pageSize)
        var status = stat()
        // SAFETY: `status` is a local `stat` buffer of the type fstat fills; the borrowed descriptor is open.
        if unsafe fstat(descriptor.rawValue, &status) != 0 { throw .system(.current("fstat")) }
        let (required, overflow) = offset.addingReportingOverflow(size)
        guard !overflow, UInt64(status.st_size) >= required else {
            throw .fileTooSmall(fileSize: UInt64(status.st_size), required: required)
        }
        return pageSize
    }

    // MARK: - Mapping

    /// `MAP_HUGE_2MB`: log2(2 MiB) in the MAP_HUGE_SHIFT bits (the macro does not import).
    static let hugeTLB2MiBFlag = Int32(21) << MAP_HUGE_SHIFT

    @safe  // SAFETY: describes one live mapping; only MmapRegion, which owns and unmaps it, dereferences it.
    struct Mapping {
        var data: UnsafeMutableRawPointer
        var reservation: UnsafeMutableRawPointer
        var reservationSize: Int
    }

    static func validate(start: GuestAddress, size: UInt64) throws(MmapRegionError) {
        guard size > 0 else { throw .layout(.emptyRegion(start)) }
        guard start.checkedAdd(size - 1) != nil else { throw .layout(.regionWrapsAddressSpace(start, size: size)) }
        // Leave room for two guard pages and huge page alignment slack.
        guard size <= UInt64(Int.max) - 4 * hugePageSize else { throw .layout(.hostAllocationFailed(size: size)) }
    }

    static func checkPageAligned(_ value: UInt64, _ pageSize: UInt64) throws(MmapRegionError) {
        guard value % pageSize == 0 else { throw .sizeNotPageAligned(size: value, pageSize: pageSize) }
    }

    static func memfd(name: String, size: UInt64, flags: MemFd.Flags) throws(MmapRegionError) -> FileDescriptor {
        do {
            return try MemFd(name: name, size: Int(size), flags: flags).descriptor.duplicate()
        } catch {
            if flags.contains(.hugeTLB2MiB) { throw .hugePagesUnavailable(error) }
            throw .system(error)
        }
    }

    static func mapShared(
        start: GuestAddress, size: UInt64, file: consuming FileDescriptor, offset: UInt64, pageSize: UInt64,
        options: Options
    ) throws(MmapRegionError) -> MmapRegion {
        let mapping = try map(
            size: size, pageSize: pageSize, flags: MAP_SHARED, descriptor: file.rawValue, offset: offset,
            options: options)
        return MmapRegion(
            start: start, size: size, mapping: mapping, pageSize: pageSize, descriptor: file.release(),
            fileOffset: offset, options: options)
    }

    /// Maps `size` bytes, inside a PROT_NONE reservation when guard pages are asked
    /// for, and applies the `madvise` hints. Unmaps everything on failure.
    static func map(
        size: UInt64, pageSize: UInt64, flags: Int32, descriptor: Int32, offset: UInt64, options: Options
    ) throws(MmapRegionError) -> Mapping {
        let huge = pageSize == hugePageSize
        var flags = flags
        if options.noReserve { flags |= MAP_NORESERVE }
        if options.populate { flags |= MAP_POPULATE }
        let length = Int(size)
        let mapping: Mapping
        if options.guardPages {
            // Reserve guard + data + guard (+ alignment slack for huge pages), then
            // place the data mapping over the middle with MAP_FIXED.
            let guardSize = Int(pageSize)
            let slack = huge ? Int(hugePageSize) : 0
            let total = length + 2 * guardSize + slack
            // SAFETY: a fresh anonymous PROT_NONE reservation (no fixed address, so no existing mapping is replaced);
            // the result is compared against MAP_FAILED only, not dereferenced.
            let reserved = unsafe mmap(nil, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
            guard let reserved = unsafe reserved, unsafe reserved != MAP_FAILED else {
                throw .system(.current("mmap(guard reservation)"))
            }
            let afterGuard = UInt(bitPattern: reserved) + UInt(guardSize)
            let aligned = (afterGuard + UInt(pageSize) - 1) & ~(UInt(pageSize) - 1)
            // SAFETY: `aligned` lies inside the reservation just made, guardSize past its start.
            let target = unsafe UnsafeMutableRawPointer(bitPattern: aligned)
            let data = unsafe mmap(target, length, PROT_READ | PROT_WRITE, flags | MAP_FIXED, descriptor, off_t(offset))
            guard let data = unsafe data, unsafe data != MAP_FAILED else {
                let error = SystemError.current("mmap")
                // SAFETY: unmaps exactly the reservation made above (its mmap address and length) before throwing.
                _ = unsafe munmap(reserved, total)
                throw huge ? .hugePagesUnavailable(error) : .system(error)
            }
            // SAFETY: `data` maps `length` bytes from aligned >= reserved + guardSize and ends at least a guard page
            // before reserved + total (slack absorbs huge-page alignment), so it lies wholly inside the reservation.
            mapping = unsafe Mapping(data: data, reservation: reserved, reservationSize: total)
        } else {
            // SAFETY: a fresh mapping at a kernel-chosen address (no MAP_FIXED); checked against MAP_FAILED below.
            let data = unsafe mmap(nil, length, PROT_READ | PROT_WRITE, flags, descriptor, off_t(offset))
            guard let data = unsafe data, unsafe data != MAP_FAILED else {
                let error = SystemError.current("mmap")
                throw huge ? .hugePagesUnavailable(error) : .system(error)
            }
            // SAFETY: no guard pages, so the reservation is the data mapping itself, `length` bytes as mapped above.
            mapping = unsafe Mapping(data: data, reservation: data, reservationSize: length)
        }
        do throws(MmapRegionError) {
            // SAFETY: each hint covers exactly the data mapping just created: `length` bytes from mapping.data.
            if options.dontDump { try unsafe advise(mapping.data, length, MADV_DONTDUMP, "madvise(MADV_DONTDUMP)") }
            if options.mergeable { try unsafe advise(mapping.data, length, MADV_MERGEABLE, "madvise(MADV_MERGEABLE)") }
            if !huge && options.hugePages == .preferred {
                // SAFETY: the hint covers exactly the data mapping created above: `length` bytes from mapping.data.
                try unsafe advise(mapping.data, length, MADV_HUGEPAGE, "madvise(MADV_HUGEPAGE)")
            }
        } catch {
            // SAFETY: unmaps exactly the reservation (or plain mapping) made above; the throw drops `mapping`.
            _ = unsafe munmap(mapping.reservation, mapping.reservationSize)
            throw error
        }
        return mapping
    }

    static func advise(
        _ address: UnsafeMutableRawPointer, _ length: Int, _ advice: Int32, _ call: String
    ) throws(MmapRegionError) {
        // SAFETY: map() passes a mapping it just made, with advice that keeps contents (DONTDUMP/MERGEABLE/HUGEPAGE).
        if unsafe madvise(address, length, advice) != 0 { throw .system(.current(call)) }
    }
}
