// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Synchronization
import VMMSysUtil
import VMMemory
import VMMemoryLinux

/// Why a disk image could not be opened or an operation on it failed.
///
/// ```swift
/// do {
///     _ = try DiskImage(path: "/var/lib/vm/missing.img")
/// } catch .notFound(let path) {
///     print("no disk image at \(path)")
/// } catch {
///     print(error)
/// }
/// ```
public enum DiskImageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing exists at the path.
    case notFound(String)
    /// The file exists but may not be opened as asked (read-write on a read-only file, no read permission).
    case permissionDenied(String)
    /// The path is neither a regular file nor a block device (a directory, a FIFO...).
    case notADisk(String)
    /// The file system refused `O_DIRECT`.
    case directIOUnsupported(String)
    /// A disk ID longer than 20 bytes or not ASCII.
    case invalidIdentifier(String)
    /// Opening or inspecting the file failed otherwise.
    case open(String, SystemError)
    /// A read, write, flush or deallocation failed.
    case io(SystemError)
    /// The file ended early (it was truncated behind the device's back).
    case unexpectedEndOfFile(offset: UInt64)
    /// The range lies (partly) beyond the disk's capacity, or overflows.
    case outOfRange(offset: UInt64, length: UInt64)
    /// A write to a read-only image.
    case readOnly
    /// No memory for an aligned bounce buffer.
    case noMemory(AlignmentError)

    /// One line naming what failed.
    public var description: String {
        switch self {
        case .notFound(let path): "disk image \(path) does not exist"
        case .permissionDenied(let path): "disk image \(path) may not be opened (permission denied)"
        case .notADisk(let path): "\(path) is not a regular file or block device"
        case .directIOUnsupported(let path): "the file system of \(path) does not support O_DIRECT"
        case .invalidIdentifier(let id): "disk ID \"\(id)\" is not at most 20 ASCII bytes"
        case .open(let path, let error): "disk image \(path): \(error)"
        case .io(let error): "disk I/O: \(error)"
        case .unexpectedEndOfFile(let offset): "disk image ended at byte \(offset) (truncated?)"
        case .outOfRange(let offset, let length): "range of \(length) bytes at \(offset) is beyond the disk"
        case .readOnly: "the disk image is read-only"
        case .noMemory(let error): "bounce buffer: \(error)"
        }
    }

    /// A vectored transfer's failure, for a request at `offset`.
    init(_ error: GuestMemoryIOError, at offset: UInt64) {
        switch error {
        case .system(let error): self = .io(error)
        case .endOfFile(let transferred, _): self = .unexpectedEndOfFile(offset: offset + UInt64(transferred))
        // Unreachable: the slices were checked when the chain was read. Still an I/O error, never a crash.
        case .memory: self = .io(SystemError("preadv/pwritev", errno: Errno(rawValue: EFAULT)))
        }
    }
}

/// A raw disk image: a file (or host block device) whose bytes are the disk's
/// bytes, served in 512-byte sectors.
///
/// Capacity is the file size divided by 512, rounded down: a trailing partial
/// sector is unreachable (never read, never written). With `O_DIRECT` on storage
/// whose logical blocks are larger than 512 bytes, capacity is also rounded down
/// to whole blocks. The size is read once, at open.
///
/// I/O goes straight between the file and guest memory (`preadv`/`pwritev` on
/// the host addresses of guest buffers). With ``Options/direct`` the kernel
/// needs buffers, offsets and lengths aligned to the storage's logical block
/// size; requests that are not go through an aligned bounce buffer instead.
///
/// ```swift
/// let image = try DiskImage(path: "/var/lib/vm/rootfs.ext4", options: .init(readOnly: true))
/// print(image.capacity, image.identifierString)   // sectors, "2b7a01-fd00"
/// let disk = BlockDevice<GuestMemoryMap<MmapRegion>>(image: image)
/// ```
public final class DiskImage: Sendable {
    /// How to open an image.
    public struct Options: Sendable, Equatable {
        /// Open read-only: the device offers `VIRTIO_BLK_F_RO` and refuses every write.
        public var readOnly: Bool
        /// Open with `O_DIRECT`, bypassing the host page cache.
        public var direct: Bool
        /// The disk ID (`VIRTIO_BLK_T_GET_ID`, at most 20 ASCII bytes); nil derives one
        /// from the file's device and inode numbers, stable for the life of the file.
        public var identifier: String?

        /// Options; the defaults are read-write, buffered, derived ID.
        public init(readOnly: Bool = false, direct: Bool = false, identifier: String? = nil) {
            self.readOnly = readOnly
            self.direct = direct
            self.identifier = identifier
        }
    }

    /// Bytes in a virtio-blk sector.
    public static var sectorSize: UInt64 { 512 }
    /// Bytes in a disk ID.
    public static var identifierLength: Int { 20 }

    /// The path the image was opened from.
    public let path: String
    /// How it was opened.
    public let options: Options
    /// The file's size in bytes at open.
    public let fileSize: UInt64
    /// Capacity in 512-byte sectors.
    public let capacity: UInt64
    /// The disk ID, NUL-padded to 20 bytes.
    public let identifier: [UInt8]
    /// The alignment `O_DIRECT` needs for buffers, offsets and lengths (1 without it).
    public let ioAlignment: Int
    /// The open file.
    let descriptor: FileDescriptor
    private let bounces = Atomic<UInt64>(0)

    /// Opens the image at `path`.
    public init(path: String, options: Options = Options()) throws(DiskImageError) {
        self.path = path
        self.options = options
        var flags = options.readOnly ? O_RDONLY : O_RDWR
        if options.direct { flags |= BlockFileCalls.directFlag }
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(path, flags: flags)
        } catch {
            switch error.errno {
            case .noSuchFile: throw .notFound(path)
            case .accessDenied, .notPermitted, Errno(rawValue: EROFS): throw .permissionDenied(path)
            case Errno(rawValue: EISDIR): throw .notADisk(path)
            case .invalidArgument where options.direct: throw .directIOUnsupported(path)
            default: throw .open(path, error)
            }
        }
        var status = stat()
        // SAFETY: `status` is a local, whole `stat` struct, alive for the call: exactly what fstat fills in.
        guard unsafe fstat(file.rawValue, &status) == 0 else { throw .open(path, SystemError.current("fstat")) }
        let kind = status.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFBLK else { throw .notADisk(path) }
        // lseek to the end gives the size of block devices too (st_size is 0 for them).
        let end = lseek(file.rawValue, 0, SEEK_END)
        guard end >= 0 else { throw .open(path, SystemError.current("lseek")) }
        fileSize = UInt64(end)

        if let name = options.identifier {
            let bytes = Array(name.utf8)
            guard bytes.count <= Self.identifierLength, bytes.allSatisfy({ $0 < 0x80 }) else {
                throw .invalidIdentifier(name)
            }
            identifier = bytes + [UInt8](repeating: 0, count: Self.identifierLength - bytes.count)
        } else {
            identifier = Self.derivedIdentifier(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        }

        let alignment = options.direct ? Self.probeDirectAlignment(file.rawValue, size: fileSize) : 1
        ioAlignment = alignment
        // Whole sectors only; with large direct-I/O blocks, whole blocks only (a write of the
        // last partial block would otherwise grow the file).
        let usable = fileSize - fileSize % UInt64(max(alignment, Int(Self.sectorSize)))
        capacity = usable / Self.sectorSize
        descriptor = file
    }

    /// The ID as text (up to the first NUL).
    public var identifierString: String {
        String(decoding: identifier.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The capacity in bytes.
    public var capacityBytes: UInt64 { capacity * Self.sectorSize }

    /// Whether writes are refused.
    public var isReadOnly: Bool { options.readOnly }

    /// How many transfers went through the aligned bounce buffer because guest buffers
    /// (or offsets) did not meet the `O_DIRECT` alignment; always 0 without `O_DIRECT`.
    public var bouncedTransfers: UInt64 { bounces.load(ordering: .relaxed) }

    /// `<inode>-<device>` in hexadecimal, cut to 20 bytes (inode first, so a cut only
    /// shortens the device part): distinct per file on a host and stable across VMM
    /// restarts, so a guest's `/dev/disk/by-id` names stay put.
    static func derivedIdentifier(device: UInt64, inode: UInt64) -> [UInt8] {
        let text = Array((String(inode, radix: 16) + "-" + String(device, radix: 16)).utf8.prefix(identifierLength))
        return text + [UInt8](repeating: 0, count: identifierLength - text.count)
    }

    /// The smallest of 512 and 4096 that `O_DIRECT` accepts for this file: a 512-byte
    /// read at offset 0 into a page-aligned buffer fails with `EINVAL` on storage with
    /// 4 KiB logical blocks. An image too small to probe gets 4096, the safe choice.
    static func probeDirectAlignment(_ descriptor: Int32, size: UInt64) -> Int {
        guard size >= 512, let buffer = try? AlignedBuffer(byteCount: 4096, alignment: 4096) else { return 4096 }
        // SAFETY: the buffer holds 4096 bytes; the read asks for 512.
        let result = unsafe pread(descriptor, buffer.bytes.baseAddress, 512, 0)
        return result >= 0 ? 512 : 4096
    }

    // MARK: Operations

    /// Checks `[offset, offset + length)` against the capacity.
    func checkRange(offset: UInt64, length: UInt64) throws(DiskImageError) {
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= capacityBytes else { throw .outOfRange(offset: offset, length: length) }
    }

    /// Whether `O_DIRECT` can use these guest buffers at `offset` as they are.
    func isDirectlyUsable(_ slices: [VolatileSlice], offset: UInt64) -> Bool {
        guard ioAlignment > 1 else { return true }
        let mask = ioAlignment - 1
        guard Int(truncatingIfNeeded: offset) & mask == 0 else { return false }
        // SAFETY: only the slices' addresses are read, as integers to test alignment; no memory is accessed.
        return slices.allSatisfy { unsafe UInt(bitPattern: $0.baseAddress) & UInt(mask) == 0 && $0.count & mask == 0 }
    }

    /// Reads `offset ..< offset + total` of the disk into `slices` (guest memory), in order.
    public func read(at offset: UInt64, into slices: [VolatileSlice]) throws(DiskImageError) {
        let total = slices.reduce(UInt64(0)) { $0 + UInt64($1.count) }
        try checkRange(offset: offset, length: total)
        guard total > 0 else { return }
        if isDirectlyUsable(slices, offset: offset) {
            var vectors = GuestIOVectors(slices)  // marks what the kernel writes dirty
            do { try vectors.readFully(from: descriptor.rawValue, at: offset) } catch {
                throw DiskImageError(error, at: offset)
            }
        } else {
            bounces.add(1, ordering: .relaxed)
            try bounce(.read, offset: offset, length: total, guest: slices)
        }
    }

    /// Writes `slices` (guest memory) to `offset ..< offset + total` of the disk.
    public func write(at offset: UInt64, from slices: [VolatileSlice]) throws(DiskImageError) {
        guard !isReadOnly else { throw .readOnly }
        let total = slices.reduce(UInt64(0)) { $0 + UInt64($1.count) }
        try checkRange(offset: offset, length: total)
        guard total > 0 else { return }
        if isDirectlyUsable(slices, offset: offset) {
            var vectors = GuestIOVectors(slices)
            do { try vectors.writeFully(to: descriptor.rawValue, at: offset) } catch {
                throw DiskImageError(error, at: offset)
            }
        } else {
            bounces.add(1, ordering: .relaxed)
            try bounce(.write, offset: offset, length: total, guest: slices)
        }
    }

    /// Makes completed writes durable (`fdatasync`).
    public func flush() throws(DiskImageError) {
        do {
            _ = try retryOnInterrupt("fdatasync") { fdatasync(descriptor.rawValue) }
        } catch {
            throw .io(error)
        }
    }

    /// Deallocates `offset ..< offset + length` (`fallocate` with `PUNCH_HOLE | KEEP_SIZE`):
    /// the range reads back as zeros. A file system that cannot punch holes leaves the
    /// data as it is, which discard allows (it is a hint); returns whether it deallocated.
    @discardableResult
    public func discard(offset: UInt64, length: UInt64) throws(DiskImageError) -> Bool {
        guard !isReadOnly else { throw .readOnly }
        try checkRange(offset: offset, length: length)
        guard length > 0 else { return true }
        return try allocate([.punchHole, .keepSize], offset: offset, length: length)
    }

    /// Makes `offset ..< offset + length` read back as zeros: `fallocate` with `ZERO_RANGE`
    /// (space stays allocated) or, when `unmap` allows deallocating, `PUNCH_HOLE`; when the
    /// file system refuses both, zeros are written.
    public func writeZeroes(offset: UInt64, length: UInt64, unmap: Bool) throws(DiskImageError) {
        guard !isReadOnly else { throw .readOnly }
        try checkRange(offset: offset, length: length)
        guard length > 0 else { return }
        if unmap, try allocate([.punchHole, .keepSize], offset: offset, length: length) {
            return
        }
        if try allocate([.zeroRange, .keepSize], offset: offset, length: length) { return }
        try bounce(.write, offset: offset, length: length, guest: nil)
    }

    /// Runs `fallocate(mode)`; false when the file system (or the C library) does not
    /// support that mode, so the caller can fall back.
    private func allocate(_ mode: FileSpace.Mode, offset: UInt64, length: UInt64) throws(DiskImageError) -> Bool {
        do {
            return try FileSpace.allocate(descriptor.rawValue, mode: mode, offset: offset, length: length)
        } catch {
            throw .io(error)
        }
    }

    /// Moves data through an aligned buffer, in chunks, widening each chunk to the
    /// `O_DIRECT` alignment: reads copy out the middle; writes read the partial edge
    /// blocks first (read-modify-write) and copy the new bytes in. `guest` nil writes zeros.
    private func bounce(
        _ direction: BlockFileCalls.Direction, offset: UInt64, length: UInt64, guest: [VolatileSlice]?
    ) throws(DiskImageError) {
        let alignment = UInt64(max(ioAlignment, 1))
        let chunk: UInt64 = 256 * 1024
        let buffer: AlignedBuffer
        do {
            buffer = try AlignedBuffer(byteCount: Int(chunk + alignment), alignment: max(Int(alignment), 4096))
        } catch {
            throw .noMemory(error)
        }
        var cursor = BlockSliceCursor(slices: guest ?? [])
        var done: UInt64 = 0
        while done < length {
            let position = offset + done
            let spanStart = position - position % alignment
            let pieceEnd = min(offset + length, spanStart + chunk)
            let spanEnd = (pieceEnd + alignment - 1) / alignment * alignment
            let head = Int(position - spanStart)
            let count = Int(pieceEnd - position)
            // SAFETY: spanEnd - spanStart <= chunk + alignment - 1 < buffer.count.
            let span = unsafe UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[0..<Int(spanEnd - spanStart)])
            let partial = head != 0 || pieceEnd != spanEnd
            if direction == .read || partial {
                // SAFETY: `span` lies inside `buffer` (checked above), which this function owns until it returns;
                // readFully fills at most span.count bytes.
                try unsafe BlockFileCalls.readFully(descriptor.rawValue, into: span, offset: spanStart)
            }
            // SAFETY: head + count <= span.count by construction of the span.
            let middle = unsafe UnsafeMutableRawBufferPointer(rebasing: span[head..<(head + count)])
            switch direction {
            case .read:
                // SAFETY: `middle` lies inside the live `buffer`; copyOut reads at most middle.count bytes from it.
                try unsafe cursor.copyOut(UnsafeRawBufferPointer(middle))
            case .write:
                if guest == nil {
                    // SAFETY: zeroes exactly middle's bytes, which lie inside the live `buffer`.
                    unsafe middle.initializeMemory(as: UInt8.self, repeating: 0)
                } else {
                    // SAFETY: `middle` lies inside the live `buffer`; copyIn writes at most middle.count bytes into it.
                    try unsafe cursor.copyIn(middle)
                }
                // SAFETY: `span` lies inside the live `buffer`; writeFully reads exactly span.count bytes from it.
                try unsafe BlockFileCalls.writeFully(
                    descriptor.rawValue, from: UnsafeRawBufferPointer(span), offset: spanStart)
            }
            done += UInt64(count)
        }
    }
}

/// A position in a list of guest slices, for copying to and from a bounce buffer.
struct BlockSliceCursor {
    let slices: [VolatileSlice]
    var index = 0
    var offset = 0

    init(slices: [VolatileSlice]) { self.slices = slices }

    /// Copies `bytes` into the guest slices at the cursor, moving it forward.
    mutating func copyOut(_ bytes: UnsafeRawBufferPointer) throws(DiskImageError) {
        var done = 0
        while done < bytes.count {
            guard index < slices.count else { throw .outOfRange(offset: UInt64(done), length: UInt64(bytes.count)) }
            let slice = slices[index]
            let count = min(slice.count - offset, bytes.count - done)
            if count > 0 {
                // SAFETY: done + count <= bytes.count.
                let piece = unsafe UnsafeRawBufferPointer(rebasing: bytes[done..<(done + count)])
                do { try unsafe slice.write(piece, at: UInt64(offset)) } catch {
                    throw .outOfRange(offset: 0, length: 0)
                }
            }
            advance(by: count, in: slice)
            done += count
        }
    }

    /// Fills `bytes` from the guest slices at the cursor, moving it forward.
    mutating func copyIn(_ bytes: UnsafeMutableRawBufferPointer) throws(DiskImageError) {
        var done = 0
        while done < bytes.count {
            guard index < slices.count else { throw .outOfRange(offset: UInt64(done), length: UInt64(bytes.count)) }
            let slice = slices[index]
            let count = min(slice.count - offset, bytes.count - done)
            if count > 0 {
                // SAFETY: done + count <= bytes.count.
                let piece = unsafe UnsafeMutableRawBufferPointer(rebasing: bytes[done..<(done + count)])
                do { try unsafe slice.read(into: piece, at: UInt64(offset)) } catch {
                    throw .outOfRange(offset: 0, length: 0)
                }
            }
            advance(by: count, in: slice)
            done += count
        }
    }

    private mutating func advance(by count: Int, in slice: VolatileSlice) {
        offset += count
        if offset == slice.count {
            index += 1
            offset = 0
        }
    }
}
