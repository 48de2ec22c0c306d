// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Testing
import VMMSysUtil
import VMMemory
import VMMemoryLinux

/// The /proc/self/maps line of the mapping that contains `address`.
func mapsLine(containing address: UInt) throws -> Substring? {
    let maps = try String(contentsOfProcFile: "/proc/self/maps")
    return maps.split(separator: "\n").first { line in
        let range = line.prefix { $0 != " " }.split(separator: "-")
        guard range.count == 2, let low = UInt(range[0], radix: 16), let high = UInt(range[1], radix: 16) else {
            return false
        }
        return address >= low && address < high
    }
}

/// The VmFlags line of /proc/self/smaps for the mapping that starts at `address`.
func vmFlags(of address: UInt) throws -> [Substring] {
    let smaps = try String(contentsOfProcFile: "/proc/self/smaps")
    let prefix = String(address, radix: 16) + "-"
    var inMapping = false
    for line in smaps.split(separator: "\n") {
        if line.first?.isHexDigit == true && line.contains("-") && !line.hasPrefix("VmFlags") {
            inMapping = line.hasPrefix(prefix)
        } else if inMapping, line.hasPrefix("VmFlags:") {
            return line.dropFirst("VmFlags:".count).split(separator: " ")
        }
    }
    return []
}

extension String {
    /// Reads a /proc file (its size reads as 0, so read until end of file).
    init(contentsOfProcFile path: String) throws {
        let fd = try FileDescriptor.open(path, flags: O_RDONLY)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        self = String(decoding: bytes, as: UTF8.self)
    }
}

func hugePagesFree() throws -> Int {
    let meminfo = try String(contentsOfProcFile: "/proc/meminfo")
    let line = meminfo.split(separator: "\n").first { $0.hasPrefix("HugePages_Free:") } ?? ""
    return Int(line.split(separator: " ").last ?? "") ?? 0
}

@Suite struct MmapRegionTests {
    let page = MmapRegion.basePageSize

    @Test func anonymousMemoryReadsAndWrites() throws {
        let region = try MmapRegion.anonymous(at: GuestAddress(0x10_0000), size: 16 * page)
        #expect(region.fileDescriptor == nil)
        #expect(!region.usesHugePages)
        let memory = try GuestMemoryMap(regions: [region])
        try memory.writeLittleEndian(UInt64(0x0123_4567_89ab_cdef), to: GuestAddress(0x10_0ffc))
        #expect(try memory.readLittleEndian(UInt64.self, from: GuestAddress(0x10_0ffc)) == 0x0123_4567_89ab_cdef)
        #expect(try memory.read(count: 4, from: region.lastAddress.wrappingSubtract(3)) == [0, 0, 0, 0])
    }

    @Test func invalidSizesAreRefused() {
        #expect(throws: MmapRegionError.layout(.emptyRegion(.zero))) { try MmapRegion.anonymous(at: .zero, size: 0) }
        #expect(throws: MmapRegionError.sizeNotPageAligned(size: 100, pageSize: page)) {
            try MmapRegion.anonymous(at: .zero, size: 100)
        }
        #expect(throws: MmapRegionError.layout(.regionWrapsAddressSpace(.max, size: page))) {
            try MmapRegion.anonymous(at: .max, size: page)
        }
        #expect(throws: MmapRegionError.self) { try MmapRegion.anonymous(at: .zero, size: UInt64.max & ~0xfff) }
    }

    @Test func memfdIsSharedThroughItsDescriptor() throws {
        let region = try MmapRegion.memfd(at: GuestAddress(0), size: 4 * page, name: "vmmemory-test")
        let fd = try #require(region.fileDescriptor)
        #expect(region.fileOffset == 0)
        let memory = try GuestMemoryMap(regions: [region])
        try memory.write(Array("shared".utf8), to: GuestAddress(0x1000))
        // Another process (a vhost-user backend) sees the bytes through the descriptor.
        var readBack = [UInt8](repeating: 0, count: 6)
        #expect(readBack.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 6, 0x1000) } == 6)
        #expect(readBack == Array("shared".utf8))
        // And a second mapping of the same descriptor is the same memory.
        let second = try MmapRegion.file(
            at: GuestAddress(0), size: 4 * page, descriptor: FileDescriptor(owning: dup(fd)))
        #expect(
            try GuestMemoryMap(regions: [second]).read(count: 6, from: GuestAddress(0x1000)) == Array("shared".utf8))
        try GuestMemoryMap(regions: [second]).write([0x21], to: GuestAddress(0x2000))
        #expect(try memory.read(count: 1, from: GuestAddress(0x2000)) == [0x21])
    }

    @Test func fileBackedRegionsWriteThroughToTheFile() throws {
        var template = Array("/tmp/vmmemory-test-XXXXXX".utf8CString)
        let raw = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let file = FileDescriptor(owning: raw)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        #expect(ftruncate(file.rawValue, off_t(3 * page)) == 0)
        let region = try MmapRegion.file(at: GuestAddress(0x4000), size: 2 * page, descriptor: file, offset: page)
        #expect(region.fileOffset == page)
        try GuestMemoryMap(regions: [region]).writeLittleEndian(UInt32(0xfeed_face), to: GuestAddress(0x4000))
        var word: UInt32 = 0
        #expect(pread(file.rawValue, &word, 4, off_t(page)) == 4)
        #expect(UInt32(littleEndian: word) == 0xfeed_face)
        #expect(throws: MmapRegionError.fileTooSmall(fileSize: 3 * page, required: 4 * page)) {
            try MmapRegion.file(at: .zero, size: 2 * page, descriptor: file, offset: 2 * page)
        }
        #expect(throws: MmapRegionError.sizeNotPageAligned(size: 1, pageSize: page)) {
            try MmapRegion.file(at: .zero, size: page, descriptor: file, offset: 1)
        }
    }

    @Test func copyOnWriteRegionsReadTheFileAndKeepWritesPrivate() throws {
        var template = Array("/tmp/vmmemory-test-XXXXXX".utf8CString)
        let raw = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let file = FileDescriptor(owning: raw)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        #expect(ftruncate(file.rawValue, off_t(4 * page)) == 0)  // a hole except for the word below
        var saved = UInt32(0x5a5a_0001).littleEndian
        #expect(pwrite(file.rawValue, &saved, 4, off_t(page + 8)) == 4)
        let region = try MmapRegion.copyOnWrite(
            at: GuestAddress(0x10000), size: 2 * page, descriptor: file, offset: page)
        #expect(region.fileDescriptor == nil)
        let memory = try GuestMemoryMap(regions: [region])
        #expect(try memory.readLittleEndian(UInt32.self, from: GuestAddress(0x10008)) == 0x5a5a_0001)
        #expect(try memory.read(count: 8, from: GuestAddress(0x11000)) == [UInt8](repeating: 0, count: 8))
        try memory.writeLittleEndian(UInt32(0x1234_5678), to: GuestAddress(0x10008))
        #expect(try memory.readLittleEndian(UInt32.self, from: GuestAddress(0x10008)) == 0x1234_5678)
        var word: UInt32 = 0
        #expect(pread(file.rawValue, &word, 4, off_t(page + 8)) == 4)
        #expect(UInt32(littleEndian: word) == 0x5a5a_0001)  // the file keeps what was saved
        #expect(throws: MmapRegionError.fileTooSmall(fileSize: 4 * page, required: 5 * page)) {
            try MmapRegion.copyOnWrite(at: .zero, size: 2 * page, descriptor: file, offset: 3 * page)
        }
    }

    @Test func guardPagesSurroundTheRegion() throws {
        let region = try MmapRegion.anonymous(at: .zero, size: 8 * page, options: .init(guardPages: true))
        let base = UInt(bitPattern: region.hostAddress)
        let below = try #require(try mapsLine(containing: base - 1))
        let above = try #require(try mapsLine(containing: base + UInt(region.size)))
        let inside = try #require(try mapsLine(containing: base))
        #expect(below.contains(" ---p "), "\(below)")
        #expect(above.contains(" ---p "), "\(above)")
        #expect(inside.contains(" rw-p "), "\(inside)")
    }

    @Test func madviseHintsAreApplied() throws {
        let ksm = access("/sys/kernel/mm/ksm", F_OK) == 0
        let options = MmapRegion.Options(dontDump: true, mergeable: ksm)
        let region = try MmapRegion.anonymous(at: .zero, size: 4 * page, options: options)
        let flags = try vmFlags(of: UInt(bitPattern: region.hostAddress))
        #expect(flags.contains("dd"), "VmFlags: \(flags)")
        if ksm { #expect(flags.contains("mg"), "VmFlags: \(flags)") }
    }

    @Test func hugePagesAreUsedOrClearlyRefused() throws {
        let size = 2 * MmapRegion.hugePageSize
        let available = try hugePagesFree() >= 2
        if available {
            let region = try MmapRegion.anonymous(at: .zero, size: size, options: .init(hugePages: .required))
            #expect(region.usesHugePages && region.pageSize == MmapRegion.hugePageSize)
        } else {
            #expect {
                try MmapRegion.anonymous(at: .zero, size: size, options: .init(hugePages: .required))
            } throws: { error in
                guard case .hugePagesUnavailable = error as? MmapRegionError else { return false }
                return true
            }
            #expect {
                try MmapRegion.memfd(at: .zero, size: size, options: .init(hugePages: .required))
            } throws: { error in
                guard case .hugePagesUnavailable = error as? MmapRegionError else { return false }
                return true
            }
        }
        // `.preferred` always succeeds and says which page size it got.
        let preferred = try MmapRegion.memfd(
            at: .zero, size: size, options: .init(hugePages: .preferred, guardPages: true))
        #expect(preferred.usesHugePages == available)
        try GuestMemoryMap(regions: [preferred]).write([1, 2, 3], to: GuestAddress(size - 3))
        // MAP_NORESERVE is never used for huge pages: without free ones `.preferred` falls back to
        // normal pages (touching them must not raise SIGBUS) and `.required` is refused.
        let unreserved = MmapRegion.Options(hugePages: .preferred, noReserve: true)
        for region in [
            try MmapRegion.anonymous(at: .zero, size: size, options: unreserved),
            try MmapRegion.memfd(at: .zero, size: size, options: unreserved),
        ] {
            #expect(region.usesHugePages == available)
            let memory = try GuestMemoryMap(regions: [region])
            try memory.fill(0x5a, count: size, at: .zero)
            #expect(try memory.read(count: 1, from: GuestAddress(size - 1)) == [0x5a])
        }
        if !available {
            #expect(throws: MmapRegionError.self) {
                try MmapRegion.anonymous(
                    at: .zero, size: size, options: .init(hugePages: .required, noReserve: true))
            }
        }
        // A huge page region must be a multiple of 2 MiB.
        #expect(throws: MmapRegionError.sizeNotPageAligned(size: page, pageSize: MmapRegion.hugePageSize)) {
            try MmapRegion.anonymous(at: .zero, size: page, options: .init(hugePages: .required))
        }
    }

    @Test func dirtyTrackingCoversWritesMadeByTheVMM() throws {
        let region = try MmapRegion.anonymous(
            at: GuestAddress(0x1_0000_0000), size: 64 * page, options: .init(trackDirtyPages: true))
        let memory = try GuestMemoryMap(regions: [region])
        try memory.write([1], to: GuestAddress(0x1_0000_0000 + 3 * page))
        try memory.fill(9, count: 2 * page, at: GuestAddress(0x1_0000_0000 + 10 * page - 1))
        #expect(region.dirtyBitmap?.takeDirtyPages() == [3, 9, 10, 11])
        #expect(region.dirtyBitmap?.dirtyPages() == [])
    }
}
