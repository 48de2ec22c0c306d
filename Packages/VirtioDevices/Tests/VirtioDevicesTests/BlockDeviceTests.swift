// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Dispatch
import Glibc
import Testing
import VMMSysUtil
import VMMemory
import VirtioDevices
import VirtioQueue

/// The byte a fresh test image holds at `offset`: differs between neighbouring sectors
/// and bytes, so a read from the wrong place shows.
func imagePattern(_ offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset &* 31 &+ offset / 512 &* 7 &+ 1) }

/// A disk image file in a temporary directory, a block device on it and a test driver.
final class BlockHarness {
    let directory: TemporaryDirectory
    let path: String
    let device: BlockDevice<TestMemory>
    let driver: TestDriver<BlockDevice<TestMemory>>
    /// Chains used so far (``TestDriver/waitUsed(queue:count:timeout:)`` counts from the start).
    var completed = 0

    init(
        size: Int, in parent: String? = nil, options: DiskImage.Options = DiskImage.Options(),
        rateLimiter: RateLimiter? = nil, accept: UInt64 = .max, queueSize: UInt16 = 256, start: Bool = true,
        fastFill: Bool = false
    ) throws {
        directory = try TemporaryDirectory(prefix: "virtio-blk", in: parent)
        path = directory.path + "/disk.img"
        try Self.createImage(path, size: size, fastFill: fastFill)
        device = try BlockDevice(path: path, options: options, rateLimiter: rateLimiter)
        driver = try TestDriver(device: device)
        if start { try driver.start(accept: accept, queueSize: queueSize) }
    }

    /// Writes an image of `size` bytes: ``imagePattern(_:)`` everywhere, or (`fastFill`,
    /// for large benchmark images) the first MiB of it repeated.
    static func createImage(_ path: String, size: Int, fastFill: Bool = false) throws {
        let file = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_TRUNC, mode: 0o644)
        let first = (0..<min(1 << 20, size)).map(imagePattern)
        var offset = 0
        while offset < size {
            let count = min(1 << 20, size - offset)
            try file.write(
                fastFill || offset == 0 ? Array(first[0..<count]) : (offset..<(offset + count)).map(imagePattern))
            offset += count
        }
    }

    var memory: TestMemory { driver.memory }

    /// A request header in guest memory.
    func header(_ type: UInt32, sector: UInt64) throws -> UInt64 {
        var bytes: [UInt8] = []
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: type >> UInt32(shift))) }
        bytes += [0, 0, 0, 0]
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: sector >> UInt64(shift))) }
        return try driver.place(bytes)
    }

    /// A one-byte status buffer holding 0xEE (no valid status), so a write to it shows.
    func statusByte() throws -> UInt64 { try driver.place([0xEE]) }

    /// A guest buffer of `length` bytes starting `offset` bytes past a 4 KiB boundary.
    func buffer(_ length: Int, offset: Int = 0) -> UInt64 {
        let base = (driver.allocate(length + 8192) + 4095) & ~4095
        return base + UInt64(offset)
    }

    /// Posts one chain, waits for it and returns the used length and the status byte.
    func run(_ buffers: [(UInt64, UInt32, Bool)], status: UInt64?) throws -> (length: UInt32, status: UInt8?) {
        let head = try driver.post(queue: 0, buffers)
        completed += 1
        let used = try driver.waitUsed(queue: 0, count: completed)
        try #require(used.count == 1)
        #expect(used[0].id == UInt32(head))
        let code = try status.map { try memory.read(count: 1, from: GuestAddress($0))[0] }
        return (used[0].length, code)
    }

    /// Reads `count` sectors at `sector` into buffers of the given byte lengths.
    func read(sector: UInt64, lengths: [Int]) throws -> (status: UInt8?, length: UInt32, bytes: [UInt8]) {
        let status = try statusByte()
        let buffers = lengths.map { (buffer($0), UInt32($0), true) }
        let result = try run(
            [(try header(0, sector: sector), 16, false)] + buffers + [(status, 1, true)], status: status)
        var bytes: [UInt8] = []
        for (address, length, _) in buffers {
            bytes += try memory.read(count: Int(length), from: GuestAddress(address))
        }
        return (result.status, result.length, bytes)
    }

    /// Writes `data` at `sector`, split into buffers of the given lengths.
    func write(sector: UInt64, _ data: [UInt8], split: [Int]? = nil) throws -> (length: UInt32, status: UInt8?) {
        var buffers: [(UInt64, UInt32, Bool)] = []
        var offset = 0
        for length in split ?? [data.count] {
            let address = buffer(length)
            try memory.write(Array(data[offset..<(offset + length)]), to: GuestAddress(address))
            buffers.append((address, UInt32(length), false))
            offset += length
        }
        let status = try statusByte()
        return try run([(try header(1, sector: sector), 16, false)] + buffers + [(status, 1, true)], status: status)
    }

    /// A request with no data: flush, or any type in hostile tests.
    func bare(_ type: UInt32, sector: UInt64 = 0) throws -> (status: UInt8?, length: UInt32) {
        let status = try statusByte()
        let result = try run([(try header(type, sector: sector), 16, false), (status, 1, true)], status: status)
        return (result.status, result.length)
    }

    /// A discard (11) or write-zeroes (13) request with the given ranges (sector, count, flags).
    func ranges(_ type: UInt32, _ ranges: [(UInt64, UInt32, UInt32)]) throws -> (status: UInt8?, length: UInt32) {
        var bytes: [UInt8] = []
        for (sector, count, flags) in ranges {
            for shift in stride(from: 0, to: 64, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: sector >> UInt64(shift)))
            }
            for shift in stride(from: 0, to: 32, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: count >> UInt32(shift)))
            }
            for shift in stride(from: 0, to: 32, by: 8) {
                bytes.append(UInt8(truncatingIfNeeded: flags >> UInt32(shift)))
            }
        }
        let payload = try driver.place(bytes)
        let status = try statusByte()
        let result = try run(
            [(try header(type, sector: 0), 16, false), (payload, UInt32(bytes.count), false), (status, 1, true)],
            status: status)
        return (result.status, result.length)
    }

    /// The image file's bytes, read independently of the device.
    func fileBytes(offset: Int, count: Int) throws -> [UInt8] {
        let file = try FileDescriptor.open(path, flags: O_RDONLY)
        var bytes = [UInt8](repeating: 0, count: count)
        // SAFETY: the array holds `count` bytes, which is what pread may write.
        let read = bytes.withUnsafeMutableBytes { pread(file.rawValue, $0.baseAddress, count, off_t(offset)) }
        try #require(read == count)
        return bytes
    }

    /// 512-byte blocks allocated to the image file.
    func allocatedBlocks() -> Int {
        var status = stat()
        guard stat(path, &status) == 0 else { return -1 }
        return Int(status.st_blocks)
    }

    /// Resets the device and starts it again on freshly zeroed rings, as a driver would.
    func restart() throws {
        driver.write(MmioRegister.status, 0)
        try memory.write([UInt8](repeating: 0, count: 0x1_0000), to: GuestAddress(0x1000))
        try driver.start()
        completed = 0
    }

    func config(_ offset: UInt64, size: Int) -> UInt64 {
        driver.transport.read(offset: MmioRegister.config + offset, size: size)
    }
}

/// Deterministic bytes for a test payload.
func blockPayload(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
}

@Suite("virtio-blk")
struct BlockDeviceTests {
    @Test("writes across buffers land at their sectors and read back across other buffers")
    func readWrite() throws {
        let disk = try BlockHarness(size: 1 << 20)
        let capacity = disk.device.image.capacity
        #expect(capacity == 2048)
        for (sector, seed) in [(UInt64(3), UInt64(1)), (100, 2), (capacity - 4, 3)] {
            let data = blockPayload(2048, seed: seed)
            let written = try disk.write(sector: sector, data, split: [512, 1024, 512])
            #expect(written.status == BlockStatus.ok.rawValue)
            #expect(written.length == 1, "a write puts only the status byte in the guest's buffers")
            #expect(try disk.fileBytes(offset: Int(sector) * 512, count: 2048) == data)
            // Read a wider range than was written, split differently: neighbours are untouched.
            let start = Int(sector) - 1
            let read = try disk.read(sector: UInt64(start), lengths: [1536, 1024])
            #expect(read.status == BlockStatus.ok.rawValue)
            #expect(read.length == 2561)
            #expect(Array(read.bytes[512..<2560]) == data)
            #expect(Array(read.bytes[0..<512]) == (start * 512..<(start * 512 + 512)).map(imagePattern))
        }
        // A buffer holding the last data bytes and the status byte together works too.
        let combined = disk.buffer(513)
        let head = try disk.header(0, sector: 7)
        let result = try disk.run([(head, 16, false), (combined, 513, true)], status: combined + 512)
        #expect(result.status == BlockStatus.ok.rawValue)
        #expect(result.length == 513)
        #expect(try disk.memory.read(count: 512, from: GuestAddress(combined)) == (3584..<4096).map(imagePattern))
        let stats = disk.device.statistics
        #expect(stats.writes == 3)
        #expect(stats.reads == 4)
        #expect(stats.bytesWritten == 3 * 2048)
        #expect(stats.ioErrors == 0)
        #expect(disk.driver.transport.brokenReason == nil)
    }

    @Test("flush succeeds and is counted")
    func flush() throws {
        let disk = try BlockHarness(size: 64 * 1024)
        #expect(try disk.write(sector: 0, blockPayload(512, seed: 9)).status == BlockStatus.ok.rawValue)
        let flushed = try disk.bare(4)
        #expect(flushed.status == BlockStatus.ok.rawValue)
        #expect(flushed.length == 1)
        #expect(disk.device.statistics.flushes == 1)
        #expect(disk.device.deviceFeatures & VirtioBlockFeature.flush != 0)
    }

    @Test("GET_ID returns the configured ID, or one derived from the file's device and inode")
    func getID() throws {
        let disk = try BlockHarness(size: 4096)
        var status = stat()
        try #require(stat(disk.path, &status) == 0)
        let expected = String(String(UInt64(status.st_ino), radix: 16) + "-" + String(UInt64(status.st_dev), radix: 16))
            .prefix(20)
        let id = disk.buffer(20)
        let statusAddress = try disk.statusByte()
        let result = try disk.run(
            [(try disk.header(8, sector: 0), 16, false), (id, 20, true), (statusAddress, 1, true)],
            status: statusAddress)
        #expect(result.status == BlockStatus.ok.rawValue)
        #expect(result.length == 21)
        let bytes = try disk.memory.read(count: 20, from: GuestAddress(id))
        #expect(String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self) == expected)
        #expect(disk.device.image.identifierString == expected)

        let named = try BlockHarness(size: 4096, options: DiskImage.Options(identifier: "swift-vmm-disk-0001"))
        // A short buffer gets what fits.
        let short = named.buffer(8)
        let shortStatus = try named.statusByte()
        let shortResult = try named.run(
            [(try named.header(8, sector: 0), 16, false), (short, 8, true), (shortStatus, 1, true)], status: shortStatus
        )
        #expect(shortResult.status == BlockStatus.ok.rawValue)
        #expect(shortResult.length == 9)
        #expect(try named.memory.read(count: 8, from: GuestAddress(short)) == Array("swift-vm".utf8))
        let full = named.buffer(20)
        let fullStatus = try named.statusByte()
        _ = try named.run(
            [(try named.header(8, sector: 0), 16, false), (full, 20, true), (fullStatus, 1, true)], status: fullStatus)
        #expect(try named.memory.read(count: 20, from: GuestAddress(full)) == Array("swift-vmm-disk-0001".utf8) + [0])
        // No room for the ID at all: IOERR.
        #expect(try named.bare(8).status == BlockStatus.ioError.rawValue)

        #expect(throws: DiskImageError.invalidIdentifier("twenty-one-characters")) {
            _ = try DiskImage(path: named.path, options: DiskImage.Options(identifier: "twenty-one-characters"))
        }
        #expect(throws: DiskImageError.invalidIdentifier("disk-é")) {
            _ = try DiskImage(path: named.path, options: DiskImage.Options(identifier: "disk-é"))
        }
    }

    @Test("discard reads back as zeros and frees blocks", arguments: [nil, "/dev/shm"])
    func discard(parent: String?) throws {
        let disk = try BlockHarness(size: 4 << 20, in: parent)
        #expect(disk.driver.transport.driverFeatures & VirtioBlockFeature.discard != 0)
        let before = disk.allocatedBlocks()
        // 1 MiB at 1 MiB: sectors 2048..<4096.
        let result = try disk.ranges(11, [(2048, 2048, 0)])
        #expect(result.status == BlockStatus.ok.rawValue)
        #expect(result.length == 1)
        let after = disk.allocatedBlocks()
        #expect(after <= before - 2048, "st_blocks \(before) -> \(after)")
        #expect(try disk.fileBytes(offset: 1 << 20, count: 1 << 20).allSatisfy { $0 == 0 })
        let read = try disk.read(sector: 2047, lengths: [4096])
        #expect(Array(read.bytes[0..<512]) == (2047 * 512..<2048 * 512).map(imagePattern))
        #expect(read.bytes[512...].allSatisfy { $0 == 0 })
        #expect(try disk.fileBytes(offset: 2 << 20, count: 512) == (4096 * 512..<4097 * 512).map(imagePattern))
        #expect(disk.device.statistics.deallocations == 1)
        // The file keeps its size.
        var status = stat()
        try #require(stat(disk.path, &status) == 0)
        #expect(status.st_size == 4 << 20)
    }

    @Test("write-zeroes zeroes ranges, with and without unmap", arguments: [nil, "/dev/shm"])
    func writeZeroes(parent: String?) throws {
        let disk = try BlockHarness(size: 4 << 20, in: parent)
        #expect(disk.config(BlockConfigOffset.writeZeroesMayUnmap, size: 1) == 1)
        // Unaligned, partial-page range without unmap: ZERO_RANGE, or zeros written where refused (tmpfs).
        #expect(try disk.ranges(13, [(3, 5, 0)]).status == BlockStatus.ok.rawValue)
        let region = try disk.fileBytes(offset: 0, count: 4096)
        #expect(Array(region[0..<1536]) == (0..<1536).map(imagePattern))
        #expect(region[1536..<4096].allSatisfy { $0 == 0 })
        #expect(try disk.fileBytes(offset: 4096, count: 512) == (4096..<4608).map(imagePattern))
        // With unmap the range may be deallocated; it must read as zeros either way.
        let before = disk.allocatedBlocks()
        #expect(try disk.ranges(13, [(4096, 2048, 1)]).status == BlockStatus.ok.rawValue)
        #expect(try disk.fileBytes(offset: 2 << 20, count: 1 << 20).allSatisfy { $0 == 0 })
        #expect(disk.allocatedBlocks() <= before - 2048)
        let read = try disk.read(sector: 4095, lengths: [1024])
        #expect(Array(read.bytes[0..<512]) == (4095 * 512..<4096 * 512).map(imagePattern))
        #expect(read.bytes[512...].allSatisfy { $0 == 0 })
        #expect(disk.device.statistics.deallocations == 2)
    }

    @Test("a read-only disk offers RO, refuses every kind of write, and leaves the file as it was")
    func readOnly() throws {
        let disk = try BlockHarness(size: 256 * 1024, options: DiskImage.Options(readOnly: true))
        let original = try disk.fileBytes(offset: 0, count: 256 * 1024)
        let features = disk.driver.deviceFeatures
        #expect(features & VirtioBlockFeature.readOnly != 0)
        #expect(features & VirtioBlockFeature.discard == 0)
        #expect(features & VirtioBlockFeature.writeZeroes == 0)
        #expect(disk.config(BlockConfigOffset.maximumDiscardSectors, size: 4) == 0)
        // The driver ignores RO and writes anyway.
        #expect(try disk.write(sector: 0, blockPayload(4096, seed: 5)).status == BlockStatus.ioError.rawValue)
        #expect(try disk.ranges(11, [(0, 8, 0)]).status == BlockStatus.ioError.rawValue)
        #expect(try disk.ranges(13, [(0, 8, 0)]).status == BlockStatus.ioError.rawValue)
        #expect(try disk.ranges(13, [(8, 8, 1)]).status == BlockStatus.ioError.rawValue)
        #expect(try disk.fileBytes(offset: 0, count: 256 * 1024) == original)
        // Reads and flushes still work.
        let read = try disk.read(sector: 10, lengths: [512])
        #expect(read.status == BlockStatus.ok.rawValue)
        #expect(read.bytes == (5120..<5632).map(imagePattern))
        #expect(try disk.bare(4).status == BlockStatus.ok.rawValue)
        #expect(disk.device.statistics.ioErrors == 4)
        #expect(throws: DiskImageError.readOnly) { try disk.device.image.discard(offset: 0, length: 512) }
    }

    @Test("O_DIRECT: aligned guest buffers go straight through, unaligned ones through a bounce buffer")
    func directIO() throws {
        let disk = try BlockHarness(size: 1 << 20, options: DiskImage.Options(direct: true))
        let image = disk.device.image
        #expect([512, 4096].contains(image.ioAlignment))
        #expect(disk.config(BlockConfigOffset.blockSize, size: 4) == UInt64(image.ioAlignment))
        let sector = UInt64(image.ioAlignment / 512) * 4
        // Aligned: no bounce.
        let aligned = blockPayload(8192, seed: 21)
        #expect(try disk.write(sector: sector, aligned).status == BlockStatus.ok.rawValue)
        #expect(image.bouncedTransfers == 0)
        #expect(try disk.fileBytes(offset: Int(sector) * 512, count: 8192) == aligned)
        // Unaligned addresses and lengths (three pieces of a 4 KiB write, 8 bytes off alignment).
        let data = blockPayload(4096, seed: 22)
        var buffers: [(UInt64, UInt32, Bool)] = []
        var offset = 0
        for length in [1000, 2000, 1096] {
            let address = disk.buffer(length, offset: 8)
            try disk.memory.write(Array(data[offset..<(offset + length)]), to: GuestAddress(address))
            buffers.append((address, UInt32(length), false))
            offset += length
        }
        let status = try disk.statusByte()
        let target = sector + 32
        let written = try disk.run(
            [(try disk.header(1, sector: target), 16, false)] + buffers + [(status, 1, true)], status: status)
        #expect(written.status == BlockStatus.ok.rawValue)
        #expect(image.bouncedTransfers == 1)
        #expect(try disk.fileBytes(offset: Int(target) * 512, count: 4096) == data)
        // And read back into unaligned buffers.
        let readStatus = try disk.statusByte()
        let pieces = [disk.buffer(700, offset: 24), disk.buffer(3396, offset: 100)]
        let read = try disk.run(
            [
                (try disk.header(0, sector: target), 16, false), (pieces[0], 700, true), (pieces[1], 3396, true),
                (readStatus, 1, true),
            ],
            status: readStatus)
        #expect(read.status == BlockStatus.ok.rawValue)
        #expect(read.length == 4097)
        let back =
            try disk.memory.read(count: 700, from: GuestAddress(pieces[0]))
            + disk.memory.read(count: 3396, from: GuestAddress(pieces[1]))
        #expect(back == data)
        #expect(image.bouncedTransfers == 2)
        // Write-zeroes falls back cleanly under O_DIRECT too.
        #expect(try disk.ranges(13, [(target, 8, 0)]).status == BlockStatus.ok.rawValue)
        #expect(try disk.fileBytes(offset: Int(target) * 512, count: 4096).allSatisfy { $0 == 0 })
    }

    @Test("configuration space through the transport registers")
    func configSpace() throws {
        // 3 sectors and 100 bytes: the partial tail sector is unreachable.
        let disk = try BlockHarness(size: 3 * 512 + 100)
        #expect(disk.driver.read(MmioRegister.deviceID) == 2)
        #expect(disk.config(BlockConfigOffset.capacity, size: 8) == 3)
        #expect(disk.config(BlockConfigOffset.capacity, size: 4) == 3)
        #expect(disk.config(BlockConfigOffset.capacity + 4, size: 4) == 0)
        #expect(disk.config(BlockConfigOffset.segmentMaximum, size: 4) == 254)
        #expect(disk.config(BlockConfigOffset.blockSize, size: 4) == 512)
        #expect(disk.config(BlockConfigOffset.queueCount, size: 2) == 1)
        #expect(disk.config(BlockConfigOffset.maximumDiscardSectors, size: 4) == 0xFFFF_FFFF)
        #expect(disk.config(BlockConfigOffset.maximumDiscardSegments, size: 4) == 1)
        #expect(disk.config(BlockConfigOffset.discardSectorAlignment, size: 4) == 8)
        #expect(disk.config(BlockConfigOffset.maximumWriteZeroesSectors, size: 4) == 1 << 20)
        #expect(disk.config(BlockConfigOffset.maximumWriteZeroesSegments, size: 4) == 1)
        #expect(disk.config(BlockConfigOffset.writeZeroesMayUnmap, size: 1) == 1)
        #expect(disk.config(57, size: 2) == 0, "unused1 is zero")
        #expect(disk.device.configSize == 60)
        // Past the end of configuration space: the transport answers 0.
        #expect(disk.config(60, size: 4) == 0)
        // Writes are ignored.
        disk.driver.transport.write(offset: MmioRegister.config, size: 8, value: 99)
        #expect(disk.config(BlockConfigOffset.capacity, size: 8) == 3)
        let features = disk.driver.deviceFeatures
        let expected =
            VirtioBlockFeature.segmentMaximum | VirtioBlockFeature.blockSize | VirtioBlockFeature.flush
            | VirtioBlockFeature.discard | VirtioBlockFeature.writeZeroes
        #expect(
            features & 0xFFFF_FFFF & ~(VirtioFeature.indirectDescriptors | VirtioFeature.ringEventIndex) == expected)
        // The last whole sector reads; the partial one is out of range.
        #expect(try disk.read(sector: 2, lengths: [512]).status == BlockStatus.ok.rawValue)
        #expect(try disk.read(sector: 3, lengths: [512]).status == BlockStatus.ioError.rawValue)
    }

    @Test("opening: missing file, directory, refused read-write access")
    func openErrors() throws {
        let scratch = try TemporaryDirectory(prefix: "virtio-blk")
        #expect(throws: DiskImageError.notFound(scratch.path + "/none.img")) {
            _ = try DiskImage(path: scratch.path + "/none.img")
        }
        #expect(throws: DiskImageError.notADisk(scratch.path)) { _ = try DiskImage(path: scratch.path) }
        #expect(throws: DiskImageError.notADisk("/dev/null")) {
            _ = try DiskImage(path: "/dev/null", options: DiskImage.Options(readOnly: true))
        }
        // sysfs refuses read-write opens even to root; read-only works (a 0-sector "disk").
        if access("/sys/kernel/notes", F_OK) == 0 {
            #expect(throws: DiskImageError.permissionDenied("/sys/kernel/notes")) {
                _ = try DiskImage(path: "/sys/kernel/notes")
            }
        }
        let error = DiskImageError.notFound("/x")
        #expect(error.description.contains("/x"))
    }

    @Test("hostile layouts get IOERR or UNSUPP, chains without a status byte come back with length 0")
    func hostileLayouts() throws {
        let disk = try BlockHarness(size: 64 * 1024)
        let original = try disk.fileBytes(offset: 0, count: 64 * 1024)
        let memory = disk.memory

        // Header shorter than 16 bytes.
        let shortHeader = try disk.driver.place([0, 0, 0, 0, 0, 0, 0, 0])
        var status = try disk.statusByte()
        var result = try disk.run([(shortHeader, 8, false), (status, 1, true)], status: status)
        expectBlockResult(result, length: 1, status: BlockStatus.ioError.rawValue)

        // No status byte at all: header only.
        result = try disk.run([(try disk.header(0, sector: 0), 16, false)], status: nil)
        #expect(result.length == 0)

        // The "status" buffer is not writable.
        status = try disk.statusByte()
        result = try disk.run([(try disk.header(4, sector: 0), 16, false), (status, 1, false)], status: status)
        expectBlockResult(result, length: 0, status: 0xEE, "a read-only status buffer must not be written")

        // IN with a device-readable data buffer.
        status = try disk.statusByte()
        let data = disk.buffer(512)
        result = try disk.run(
            [(try disk.header(0, sector: 0), 16, false), (data, 512, false), (status, 1, true)], status: status)
        expectBlockResult(result, length: 1, status: BlockStatus.ioError.rawValue)

        // OUT with a device-writable data buffer.
        try memory.write(blockPayload(512, seed: 7), to: GuestAddress(data))
        status = try disk.statusByte()
        result = try disk.run(
            [(try disk.header(1, sector: 0), 16, false), (data, 512, true), (status, 1, true)], status: status)
        expectBlockResult(result, length: 1, status: BlockStatus.ioError.rawValue)
        #expect(
            try memory.read(count: 512, from: GuestAddress(data)) == blockPayload(512, seed: 7),
            "the data buffer was written")

        // Sectors: multiplying by 512 overflows; at and past the end; ending past the end.
        for sector in [UInt64.max, UInt64.max / 512 + 1, 128, 127, 1 << 40] {
            let length = sector == 127 ? 1024 : 512
            #expect(
                try disk.read(sector: sector, lengths: [length]).status == BlockStatus.ioError.rawValue,
                "read sector \(sector)")
            #expect(
                try disk.write(sector: sector, blockPayload(length, seed: sector)).status
                    == BlockStatus.ioError.rawValue)
        }
        #expect(try disk.read(sector: 127, lengths: [512]).status == BlockStatus.ok.rawValue)

        // Lengths that are not whole sectors.
        #expect(try disk.read(sector: 0, lengths: [100]).status == BlockStatus.ioError.rawValue)
        #expect(try disk.read(sector: 0, lengths: [512, 1]).status == BlockStatus.ioError.rawValue)
        #expect(try disk.write(sector: 0, blockPayload(513, seed: 1)).status == BlockStatus.ioError.rawValue)

        // Unknown and unsupported request types.
        for type: UInt32 in [2, 3, 5, 10, 14, 16, 99, 0xFFFF_FFFF] {
            #expect(try disk.bare(type).status == BlockStatus.unsupported.rawValue, "type \(type)")
        }
        // Flush and GET_ID with data in the wrong direction.
        status = try disk.statusByte()
        result = try disk.run(
            [(try disk.header(4, sector: 0), 16, false), (data, 512, false), (status, 1, true)], status: status)
        expectBlockResult(result, length: 1, status: BlockStatus.ioError.rawValue)
        status = try disk.statusByte()
        result = try disk.run(
            [(try disk.header(8, sector: 0), 16, false), (data, 20, false), (status, 1, true)], status: status)
        expectBlockResult(result, length: 1, status: BlockStatus.ioError.rawValue)

        // Discard and write-zeroes: out of range, overflowing, bad flags, too many segments, bad sizes.
        #expect(try disk.ranges(11, [(120, 9, 0)]).status == BlockStatus.ioError.rawValue)
        #expect(try disk.ranges(11, [(UInt64.max / 512, 2, 0)]).status == BlockStatus.ioError.rawValue)
        #expect(try disk.ranges(13, [(UInt64.max - 1, 8, 0)]).status == BlockStatus.ioError.rawValue)
        #expect(
            try disk.ranges(13, [(0, 0x0020_0000, 0)]).status == BlockStatus.ioError.rawValue,
            "above max_write_zeroes_sectors")
        #expect(try disk.ranges(11, [(0, 8, 1)]).status == BlockStatus.unsupported.rawValue, "unmap on a discard")
        #expect(try disk.ranges(13, [(0, 8, 2)]).status == BlockStatus.unsupported.rawValue, "unknown flag")
        #expect(
            try disk.ranges(11, [(0, 8, 0), (16, 8, 0)]).status == BlockStatus.unsupported.rawValue, "two segments")
        #expect(try disk.ranges(11, []).status == BlockStatus.ioError.rawValue, "no segment")
        status = try disk.statusByte()
        let odd = try disk.driver.place([UInt8](repeating: 0, count: 12))
        result = try disk.run(
            [(try disk.header(11, sector: 0), 16, false), (odd, 12, false), (status, 1, true)], status: status)
        expectBlockResult(result, length: 1, status: BlockStatus.ioError.rawValue)

        #expect(try disk.fileBytes(offset: 0, count: 64 * 1024) == original, "a refused request changed the file")
        #expect(disk.driver.transport.brokenReason == nil)
        // Still serving normally.
        #expect(try disk.read(sector: 5, lengths: [512]).bytes == (2560..<3072).map(imagePattern))
        let stats = disk.device.statistics
        #expect(stats.unsupported == 11)
        #expect(stats.reads == 2)
        #expect(stats.writes == 0)
    }

    @Test("an image truncated behind the device's back gives IOERR, not a hang or short data")
    func truncatedImage() throws {
        let disk = try BlockHarness(size: 64 * 1024)
        #expect(truncate(disk.path, 32 * 1024) == 0)
        // Capacity still says 128 sectors; the file now ends at sector 64.
        let read = try disk.read(sector: 60, lengths: [8192])
        #expect(read.status == BlockStatus.ioError.rawValue)
        #expect(read.length == 1)
        #expect(try disk.read(sector: 10, lengths: [512]).status == BlockStatus.ok.rawValue)
        // Writes past the new end simply extend the file again.
        #expect(try disk.write(sector: 100, blockPayload(512, seed: 3)).status == BlockStatus.ok.rawValue)
        #expect(disk.driver.transport.brokenReason == nil)
    }

    @Test("a chain with more data buffers than seg_max (indirect table) gets IOERR")
    func hugeChain() throws {
        let disk = try BlockHarness(size: 1 << 20)
        #expect(disk.driver.transport.driverFeatures & VirtioFeature.indirectDescriptors != 0)
        let memory = disk.memory
        let count = BlockDevice<TestMemory>.segmentMaximum + 1
        // Table: header, `count` 512-byte writable buffers, status.
        let entries = count + 2
        let table = disk.driver.allocate(16 * entries)
        let status = try disk.statusByte()
        let data = disk.buffer(512 * count)
        var buffers: [(UInt64, UInt32, UInt16)] = [(try disk.header(0, sector: 0), 16, 1)]
        for index in 0..<count { buffers.append((data + UInt64(512 * index), 512, 3)) }
        buffers.append((status, 1, 2))
        for (index, buffer) in buffers.enumerated() {
            let entry = GuestAddress(table + UInt64(16 * index))
            try memory.writeLittleEndian(buffer.0, to: entry)
            try memory.writeLittleEndian(buffer.1, to: GuestAddress(entry.rawValue + 8))
            try memory.writeLittleEndian(buffer.2, to: GuestAddress(entry.rawValue + 12))
            try memory.writeLittleEndian(UInt16(index + 1), to: GuestAddress(entry.rawValue + 14))
        }
        let slot = disk.driver.queues[0].nextDescriptor
        disk.driver.queues[0].nextDescriptor = (slot + 1) % disk.driver.queues[0].size
        try disk.driver.queues[0].writeDescriptor(
            slot, address: table, length: UInt32(16 * entries), flags: 4, next: 0, memory: memory)
        try disk.driver.queues[0].writeRawChainHead(slot, memory: memory)
        disk.driver.write(MmioRegister.queueNotify, 0)
        disk.completed += 1
        let used = try disk.driver.waitUsed(queue: 0, count: disk.completed)
        #expect(used.first?.length == 1)
        #expect(try memory.read(count: 1, from: GuestAddress(status)) == [BlockStatus.ioError.rawValue])
        // Exactly seg_max buffers are fine.
        let fine = try disk.read(sector: 0, lengths: [Int](repeating: 512, count: 8))
        #expect(fine.status == BlockStatus.ok.rawValue)
        #expect(fine.bytes == (0..<4096).map(imagePattern))
    }

    @Test("discard and write-zeroes from a driver that did not negotiate them are UNSUPP")
    func unnegotiated() throws {
        let accepted = ~(VirtioBlockFeature.discard | VirtioBlockFeature.writeZeroes)
        let disk = try BlockHarness(size: 64 * 1024, accept: accepted)
        #expect(disk.driver.transport.driverFeatures & VirtioBlockFeature.discard == 0)
        #expect(try disk.ranges(11, [(0, 8, 0)]).status == BlockStatus.unsupported.rawValue)
        #expect(try disk.ranges(13, [(0, 8, 0)]).status == BlockStatus.unsupported.rawValue)
        #expect(try disk.fileBytes(offset: 0, count: 4096) == (0..<4096).map(imagePattern))
    }

    @Test("a chain pointing outside guest memory marks the device broken; a reset recovers")
    func brokenRing() throws {
        let disk = try BlockHarness(size: 64 * 1024)
        let memory = disk.memory
        try disk.driver.queues[0].writeDescriptor(
            0, address: TestDriver<BlockDevice<TestMemory>>.memorySize + 4096, length: 16, flags: 0, next: 0,
            memory: memory)
        try disk.driver.queues[0].writeRawChainHead(0, memory: memory)
        disk.driver.write(MmioRegister.queueNotify, 0)
        let deadline = ContinuousClock.now + .seconds(10)
        while disk.driver.transport.brokenReason == nil && ContinuousClock.now < deadline { usleep(1000) }
        #expect(disk.driver.transport.brokenReason != nil)
        try disk.restart()
        #expect(try disk.read(sector: 1, lengths: [512]).bytes == (512..<1024).map(imagePattern))
    }

    @Test("rate limited: requests beyond the budget wait for the timer, then complete in order")
    func rateLimitedManualClock() throws {
        let clock = ManualClock()
        let limiter = RateLimiter(
            operations: try TokenBucket(size: 2, refillTime: .milliseconds(100)), clock: clock.clock)
        let disk = try BlockHarness(size: 64 * 1024, rateLimiter: limiter)
        var heads: [UInt16] = []
        var statuses: [UInt64] = []
        for index in 0..<5 {
            let status = try disk.statusByte()
            statuses.append(status)
            heads.append(
                try disk.driver.post(
                    queue: 0,
                    [
                        (try disk.header(0, sector: UInt64(index)), 16, false), (disk.buffer(512), 512, true),
                        (status, 1, true),
                    ],
                    notify: index == 4))
        }
        var used = try disk.driver.waitUsed(queue: 0, count: 2)
        // The clock is frozen, so however often the timer fires, no more tokens appear.
        usleep(300_000)
        #expect(try disk.driver.queues[0].usedIndex(disk.memory) == 2)
        #expect(disk.device.isThrottled)
        #expect(disk.device.statistics.throttled >= 1)
        clock.advance(.milliseconds(100))  // two more operations
        used += try disk.driver.waitUsed(queue: 0, count: 4)
        usleep(200_000)
        #expect(try disk.driver.queues[0].usedIndex(disk.memory) == 4)
        clock.advance(.milliseconds(50))  // one more
        used += try disk.driver.waitUsed(queue: 0, count: 5)
        #expect(used.map(\.id) == heads.map(UInt32.init))
        #expect(used.allSatisfy { $0.length == 513 })
        for status in statuses {
            #expect(try disk.memory.read(count: 1, from: GuestAddress(status)) == [BlockStatus.ok.rawValue])
        }
        #expect(!disk.device.isThrottled)
    }

    @Test("rate limited on the real clock: a byte budget delays writes, all complete")
    func rateLimitedRealClock() throws {
        let limiter = RateLimiter(bandwidth: try TokenBucket(size: 64 * 1024, refillTime: .milliseconds(200)))
        let disk = try BlockHarness(size: 1 << 20, rateLimiter: limiter)
        let data = blockPayload(64 * 1024, seed: 77)
        for index in 0..<5 {
            let address = disk.buffer(data.count)
            try disk.memory.write(data, to: GuestAddress(address))
            try disk.driver.post(
                queue: 0,
                [
                    (try disk.header(1, sector: UInt64(index * 128)), 16, false), (address, UInt32(data.count), false),
                    (try disk.statusByte(), 1, true),
                ],
                notify: index == 4)
        }
        let used = try disk.driver.waitUsed(queue: 0, count: 5)
        #expect(used.count == 5)
        #expect(disk.device.statistics.throttled >= 1)
        #expect(disk.device.statistics.bytesWritten == 5 * 64 * 1024)
        for index in 0..<5 { #expect(try disk.fileBytes(offset: index * 64 * 1024, count: data.count) == data) }
    }

    @Test("a reset while throttled drops the held request; tokens are not refilled by the reset")
    func resetWhileThrottled() throws {
        let clock = ManualClock()
        let limiter = RateLimiter(operations: try TokenBucket(size: 1, refillTime: .seconds(1)), clock: clock.clock)
        let disk = try BlockHarness(size: 64 * 1024, rateLimiter: limiter)
        for index in 0..<2 {
            try disk.driver.post(
                queue: 0,
                [
                    (try disk.header(0, sector: UInt64(index)), 16, false), (disk.buffer(512), 512, true),
                    (try disk.statusByte(), 1, true),
                ],
                notify: index == 1)
        }
        _ = try disk.driver.waitUsed(queue: 0, count: 1)
        let deadline = ContinuousClock.now + .seconds(10)
        while !disk.device.isThrottled && ContinuousClock.now < deadline { usleep(1000) }
        #expect(disk.device.isThrottled)
        try disk.restart()
        #expect(!disk.device.isThrottled)
        // Still no token: the new request waits too, until the clock moves.
        let status = try disk.statusByte()
        try disk.driver.post(
            queue: 0, [(try disk.header(0, sector: 9), 16, false), (disk.buffer(512), 512, true), (status, 1, true)])
        usleep(100_000)
        #expect(try disk.driver.queues[0].usedIndex(disk.memory) == 0)
        clock.advance(.seconds(1))
        let used = try disk.driver.waitUsed(queue: 0, count: 1)
        #expect(used.count == 1)
        #expect(try disk.memory.read(count: 1, from: GuestAddress(status)) == [BlockStatus.ok.rawValue])
    }
}

/// Checks a used length and status byte together.
func expectBlockResult(
    _ result: (length: UInt32, status: UInt8?), length: UInt32, status: UInt8?, _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.length == length, comment, sourceLocation: sourceLocation)
    #expect(result.status == status, comment, sourceLocation: sourceLocation)
}

/// Where a throughput run puts its image.
struct ThroughputTarget: Sendable, CustomTestStringConvertible {
    var parent: String?
    var direct: Bool
    var testDescription: String { "\(parent ?? "$TMPDIR or /tmp")\(direct ? ", O_DIRECT" : "")" }
}

/// Throughput of the device through the test driver (a measurement, not a test of
/// speed: nothing is asserted about time). Enabled with `VIRTIO_BLK_BENCH=1`; run it
/// in release mode:
/// `VIRTIO_BLK_BENCH=1 swift test -c release --filter BlockThroughput --package-path Packages/VirtioDevices`.
@Suite("virtio-blk throughput", .enabled(if: getenv("VIRTIO_BLK_BENCH") != nil), .serialized)
struct BlockThroughputTests {
    static let imageSize = 256 << 20

    @Test(
        "sequential 1 MiB and random 4 KiB reads and writes",
        arguments: [
            ThroughputTarget(parent: "/dev/shm", direct: false), ThroughputTarget(parent: nil, direct: false),
            ThroughputTarget(parent: nil, direct: true),
        ])
    func throughput(target: ThroughputTarget) throws {
        let disk = try BlockHarness(
            size: Self.imageSize, in: target.parent, options: DiskImage.Options(direct: target.direct), fastFill: true)
        var lines: [String] = []
        for (name, type, size, count, batch, random) in [
            ("seq write 1 MiB", UInt32(1), 1 << 20, 256, 16, false), ("seq read 1 MiB", 0, 1 << 20, 256, 16, false),
            ("rand write 4 KiB", 1, 4096, 16384, 64, true), ("rand read 4 KiB", 0, 4096, 16384, 64, true),
        ] {
            let seconds = try Self.run(disk, type: type, size: size, count: count, batch: batch, random: random)
            let mebibytes = Double(size * count) / Double(1 << 20)
            lines.append(
                "\(name): \(Int(mebibytes / seconds)) MiB/s, \(Int(Double(count) / seconds)) requests/s")
        }
        print("virtio-blk throughput [\(target.testDescription)]\n  " + lines.joined(separator: "\n  "))
        #expect(disk.device.statistics.ioErrors == 0)
        #expect(disk.device.statistics.requests == 2 * 256 + 2 * 16384)
    }

    /// The design question behind the synchronous device: would a small worker pool serving
    /// a notified batch in parallel beat `pread` one request at a time on the I/O thread?
    /// Measures random 4 KiB reads of the image file directly, in batches of 64 like the
    /// device sees them: one thread, then the batch split over 4 threads (with the
    /// hand-off and join a pool would pay).
    @Test(
        "synchronous pread versus a 4-thread pool, random 4 KiB",
        arguments: [
            ThroughputTarget(parent: "/dev/shm", direct: false), ThroughputTarget(parent: nil, direct: true),
        ])
    func workerPool(target: ThroughputTarget) throws {
        let directory = try TemporaryDirectory(prefix: "virtio-blk", in: target.parent)
        let path = directory.path + "/disk.img"
        try BlockHarness.createImage(path, size: Self.imageSize, fastFill: true)
        let image = try DiskImage(path: path, options: DiskImage.Options(direct: target.direct))
        let file = try FileDescriptor.open(path, flags: target.direct ? O_RDONLY | 0o40000 : O_RDONLY)
        let descriptor = file.rawValue
        let requests = 16384
        let batch = 64
        let slots = image.capacity / 8
        var state: UInt64 = 999
        let offsets = (0..<requests).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return off_t((state >> 33) % slots * 4096)
        }
        let buffers = try AlignedBuffer(byteCount: 4096 * batch, alignment: 4096)
        let pointers = (0..<batch).map { UInt(bitPattern: buffers.bytes.baseAddress) + UInt(4096 * $0) }
        func seconds(_ body: () -> Void) -> Double {
            let start = ContinuousClock.now
            body()
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        let single = seconds {
            for first in stride(from: 0, to: requests, by: batch) {
                for index in 0..<batch {
                    // SAFETY: each pointer starts 4096 bytes of `buffers`, the size read.
                    _ = pread(
                        descriptor, UnsafeMutableRawPointer(bitPattern: pointers[index]), 4096, offsets[first + index])
                }
            }
        }
        let pooled = seconds {
            for first in stride(from: 0, to: requests, by: batch) {
                DispatchQueue.concurrentPerform(iterations: 4) { worker in
                    for index in stride(from: worker, to: batch, by: 4) {
                        // SAFETY: as above; workers read into disjoint 4096-byte pieces.
                        _ = pread(
                            descriptor, UnsafeMutableRawPointer(bitPattern: pointers[index]), 4096,
                            offsets[first + index])
                    }
                }
            }
        }
        print(
            "pread random 4 KiB [\(target.testDescription)]: one thread \(Int(Double(requests) / single)) requests/s, "
                + "4-thread pool \(Int(Double(requests) / pooled)) requests/s")
        #expect(single > 0 && pooled > 0)
    }

    /// Posts `count` requests of `size` bytes in batches of `batch` (one notification per
    /// batch) and returns the seconds taken. Waits by spinning on the used index, so the
    /// harness's 1 ms polling does not dominate small requests.
    static func run(
        _ disk: BlockHarness, type: UInt32, size: Int, count: Int, batch: Int, random: Bool
    ) throws -> Double {
        let headers = (0..<batch).map { _ in disk.driver.allocate(16) }
        let buffers = (0..<batch).map { _ in disk.buffer(size) }
        let statuses = (0..<batch).map { _ in disk.driver.allocate(1) }
        let sectorsPerRequest = UInt64(size / 512)
        let slots = disk.device.image.capacity / sectorsPerRequest
        var state: UInt64 = 12345
        let start = ContinuousClock.now
        var submitted = 0
        while submitted < count {
            let now = min(batch, count - submitted)
            for index in 0..<now {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let slot = random ? (state >> 33) % slots : UInt64(submitted + index) % slots
                let sector = slot * sectorsPerRequest
                try disk.memory.writeLittleEndian(type, to: GuestAddress(headers[index]))
                try disk.memory.writeLittleEndian(sector, to: GuestAddress(headers[index] + 8))
                try disk.driver.post(
                    queue: 0,
                    [
                        (headers[index], 16, false), (buffers[index], UInt32(size), type == 0),
                        (statuses[index], 1, true),
                    ],
                    notify: index == now - 1)
            }
            disk.completed += now
            let target = UInt16(truncatingIfNeeded: disk.completed)
            let deadline = ContinuousClock.now + .seconds(60)
            while try disk.driver.queues[0].usedIndex(disk.memory) != target {
                if ContinuousClock.now > deadline { throw TestDriverError("throughput run stalled") }
                sched_yield()
            }
            _ = try disk.driver.queues[0].takeUsed(disk.memory)
            submitted += now
        }
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
