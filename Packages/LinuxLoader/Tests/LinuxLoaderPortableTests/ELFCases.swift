// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import PortableTesting
import VMMemory

private let xen: [UInt8] = [0x58, 0x65, 0x6e]

let elfCases: [PortableTestCase] = [
    PortableTestCase("ELFKernel", "loads PT_LOAD segments and zeroes their BSS") { () throws(TestFailure) in
        let memory = try makeMemory()
        try expectNoError { () throws(GuestMemoryError) in
            try memory.fill(0xee, count: 0x3000, at: GuestAddress(0x100_0000))
        }
        let kernel = try expectNoError { () throws(LoaderError) in try ELFKernel(makeELF()) }
        try expectEqual(kernel.segments.count, 2)
        try expectEqual(kernel.machine, 62)
        try expect(kernel.pvhEntry == nil)
        let loaded = try expectNoError { () throws(LoaderError) in try kernel.load(into: memory) }
        try expectEqual(loaded.entry, GuestAddress(0x100_0000))
        try expectEqual(loaded.start, GuestAddress(0x100_0000))
        try expectEqual(loaded.end, GuestAddress(0x100_3000))
        try expectEqual(try readMemory(memory, 0x100_0000, 2), [0x5a, 0x5b])
        try expectEqual(try readMemory(memory, 0x100_1000, 1), [UInt8(truncatingIfNeeded: 0x2000 ^ 0x5a)])
        try expectEqual(try readMemory(memory, 0x100_1800, 4), [0, 0, 0, 0], "BSS not zeroed")
        try expectEqual(try readMemory(memory, 0x100_2fff, 1), [0], "BSS not zeroed")
    },
    PortableTestCase("ELFKernel", "finds the PVH entry in an 8-byte or 4-byte Xen note") { () throws(TestFailure) in
        let other = makeNote(name: xen, type: 19, descriptor: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        let eight = makeNote(name: xen, type: 18, descriptor: bytesOf(UInt64(0x100_0040)))
        let kernel = try expectNoError { () throws(LoaderError) in try ELFKernel(makeELF(notes: other + eight)) }
        try expectEqual(kernel.pvhEntry ?? 0, 0x100_0040)
        let four = makeNote(name: xen, type: 18, descriptor: bytesOf(UInt32(0x100_0080)))
        let linux = makeNote(name: [0x4c, 0x69, 0x6e, 0x75, 0x78], type: 18, descriptor: bytesOf(UInt32(5)))
        let second = try expectNoError { () throws(LoaderError) in try ELFKernel(makeELF(notes: linux + four)) }
        try expectEqual(second.pvhEntry ?? 0, 0x100_0080)
        let memory = try makeMemory()
        let loaded = try expectNoError { () throws(LoaderError) in try second.load(into: memory) }
        try expectEqual(loaded.pvhEntry, GuestAddress(0x100_0080))
    },
    PortableTestCase("ELFKernel", "refuses malformed notes and PVH entries outside the image") {
        () throws(TestFailure) in
        var note = makeNote(name: xen, type: 18, descriptor: bytesOf(UInt64(0x100_0040)))
        note.put(UInt32(0xffff_fff0), at: 4)  // descriptor size runs past the segment
        try expectError(.malformedNote(offset: 0x2c00)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(notes: note))
        }
        let odd = makeNote(name: xen, type: 18, descriptor: [1, 2, 3, 4, 5, 6])
        try expectError(.malformedNote(offset: 0x2c00)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(notes: odd))
        }
        let short = [UInt8](repeating: 0, count: 8)
        try expectError(.malformedNote(offset: 0x2c00)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(notes: short))
        }
        let outside = makeNote(name: xen, type: 18, descriptor: bytesOf(UInt64(0x2000_0000)))
        try expectError(.invalidPVHEntry(0x2000_0000)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(notes: outside))
        }
        let high = makeNote(name: xen, type: 18, descriptor: bytesOf(UInt64(0x1_0100_0000)))
        try expectError(.invalidPVHEntry(0x1_0100_0000)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(notes: high))
        }
    },
    PortableTestCase("ELFKernel", "refuses overlapping segments, bad sizes and entries outside") {
        () throws(TestFailure) in
        let overlapping = [
            ProgramHeader(offset: 0x1000, address: 0x100_0000, fileSize: 0x1000, memorySize: 0x2000),
            ProgramHeader(offset: 0x2000, address: 0x100_1fff, fileSize: 0x10, memorySize: 0x10),
        ]
        try expectError(.overlappingSegments(0, 1)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(segments: overlapping))
        }
        let fileBeyondMemory = [ProgramHeader(offset: 0x1000, address: 0x100_0000, fileSize: 0x100, memorySize: 0x10)]
        try expectError(.segmentFileSizeExceedsMemorySize(index: 0)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(segments: fileBeyondMemory))
        }
        let pastFile = [ProgramHeader(offset: 0x2f00, address: 0x100_0000, fileSize: 0x200, memorySize: 0x200)]
        try expectError(.segmentBeyondFile(index: 0)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(segments: pastFile))
        }
        let wrapOffset = [ProgramHeader(offset: UInt64.max, address: 0x100_0000, fileSize: 2, memorySize: 2)]
        try expectError(.segmentBeyondFile(index: 0)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(segments: wrapOffset))
        }
        let wrapAddress = [ProgramHeader(offset: 0x1000, address: UInt64.max - 0x10, fileSize: 0x10, memorySize: 0x100)]
        try expectError(.segmentAddressOverflow(index: 0)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(entry: UInt64.max - 0x10, segments: wrapAddress))
        }
        let huge = [ProgramHeader(offset: 0x1000, address: 0x100_0000, fileSize: 0x10, memorySize: 1 << 40)]
        try expectError(.absurdSize(.segmentMemorySize, 1 << 40)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(segments: huge))
        }
        try expectError(.entryOutsideImage(0x200_0000)) { () throws(LoaderError) in
            _ = try ELFKernel(makeELF(entry: 0x200_0000))
        }
        let none = [ProgramHeader(type: 6, offset: 0, address: 0, fileSize: 0, memorySize: 0)]
        try expectError(.noLoadableSegments) { () throws(LoaderError) in _ = try ELFKernel(makeELF(segments: none)) }
    },
    PortableTestCase("ELFKernel", "refuses bad identification and header fields") { () throws(TestFailure) in
        var image = makeELF()
        image[1] = 0x46
        try expectError(.badMagic(.elf)) { () throws(LoaderError) in _ = try ELFKernel(image) }
        image = makeELF()
        image[4] = 1
        try expectError(.unsupportedELFFormat(elfClass: 1, encoding: 1)) { () throws(LoaderError) in
            _ = try ELFKernel(image)
        }
        image = makeELF()
        image[5] = 2
        try expectError(.unsupportedELFFormat(elfClass: 2, encoding: 2)) { () throws(LoaderError) in
            _ = try ELFKernel(image)
        }
        image = makeELF()
        image.put(UInt16(1), at: 16)
        try expectError(.unsupportedELFType(1)) { () throws(LoaderError) in _ = try ELFKernel(image) }
        image = makeELF()
        image.put(UInt16(32), at: 54)
        try expectError(.invalidProgramHeaderSize(32)) { () throws(LoaderError) in _ = try ELFKernel(image) }
        image = makeELF()
        image.put(UInt16(0xffff), at: 56)
        try expectError(.absurdSize(.programHeaderCount, 0xffff)) { () throws(LoaderError) in
            _ = try ELFKernel(image)
        }
        image = makeELF()
        image.put(UInt64(0x2ff0), at: 32)  // program headers past the end
        try expectError(.truncated(offset: 0x2ff0, length: 112, size: 0x3000)) { () throws(LoaderError) in
            _ = try ELFKernel(image)
        }
    },
    PortableTestCase("ELFKernel", "every truncation is a typed error") { () throws(TestFailure) in
        let note = makeNote(name: xen, type: 18, descriptor: bytesOf(UInt64(0x100_0040)))
        let image = makeELF(notes: note)
        // Every byte up to the end of the note is referenced; the padding after it is not.
        for length in stride(from: 0, to: 0x2c00 + note.count, by: 61) {
            try expectRefused { () throws(LoaderError) in _ = try ELFKernel(Array(image[0..<length])) }
        }
        _ = try expectNoError { () throws(LoaderError) in try ELFKernel(image) }
    },
    PortableTestCase("ELFKernel", "a segment outside guest memory is refused before copying") {
        () throws(TestFailure) in
        let memory = try makeMemory(size: 0x100_1800)
        let kernel = try expectNoError { () throws(LoaderError) in try ELFKernel(makeELF()) }
        try expectError(.kernelOutsideMemory(GuestAddress(0x100_1000), length: 0x2000)) { () throws(LoaderError) in
            _ = try kernel.load(into: memory)
        }
        try expectEqual(try readMemory(memory, 0x100_0000, 1), [0], "a refused load wrote memory")
    },
    PortableTestCase("ELFKernel", "random corruption of headers never traps") { () throws(TestFailure) in
        var random = SplitMix64(seed: 11)
        let original = makeELF(notes: makeNote(name: xen, type: 18, descriptor: bytesOf(UInt64(0x100_0040))))
        let memory = try makeMemory()
        var refused = 0
        for _ in 0..<400 {
            var image = original
            for _ in 0..<(1 + random.next() % 4) {
                let offset = random.next() % 2 == 0 ? Int(random.next() % 232) : 0x2c00 + Int(random.next() % 40)
                image[offset] = UInt8(truncatingIfNeeded: random.next())
            }
            do throws(LoaderError) {
                _ = try ELFKernel(image).load(into: memory)
            } catch {
                refused += 1
            }
        }
        try expect(refused > 0, "no corruption was refused (the test lost its power)")
    },
]

let imageHeaderCases: [PortableTestCase] = [
    PortableTestCase("Arm64ImageHeader", "parses text_offset, image_size and flags") { () throws(TestFailure) in
        let header = try expectNoError { () throws(LoaderError) in try Arm64ImageHeader(makeArm64Image()) }
        try expectEqual(header.textOffset, 0)
        try expectEqual(header.imageSize, 0x4000)
        try expectEqual(header.pageSize, 4096)
        try expect(header.canBePlacedAnywhere)
        let memory = try expectNoError { () throws(GuestMemoryError) in
            try GuestMemoryMap(regions: [try BufferRegion(start: GuestAddress(0x4000_0000), size: 0x40_0000)])
        }
        try expectNoError { () throws(GuestMemoryError) in
            try memory.fill(0x77, count: 0x4000, at: GuestAddress(0x4000_0000))
        }
        let kernel = try expectNoError { () throws(LoaderError) in
            try header.load(makeArm64Image(), into: memory, ramBase: GuestAddress(0x4000_0000))
        }
        try expectEqual(kernel.entry, GuestAddress(0x4000_0000))
        try expectEqual(kernel.end, GuestAddress(0x4000_4000))
        try expectEqual(try readMemory(memory, 0x4000_0038, 4), [0x41, 0x52, 0x4d, 0x64])
        try expectEqual(try readMemory(memory, 0x4000_2000, 1), [0], "BSS not zeroed")
        try expectError(.misalignedLoadAddress(GuestAddress(0x4000_1000), alignment: 0x20_0000)) {
            () throws(LoaderError) in
            _ = try header.loadAddress(ramBase: GuestAddress(0x4000_1000))
        }
    },
    PortableTestCase("Arm64ImageHeader", "old kernels with image_size 0 use text_offset 0x80000") {
        () throws(TestFailure) in
        let header = try expectNoError { () throws(LoaderError) in
            try Arm64ImageHeader(makeArm64Image(textOffset: 0x1234, imageSize: 0, flags: 0))
        }
        try expectEqual(header.textOffset, 0x8_0000)
        try expectEqual(header.imageSize, 0x2000)
        try expectEqual(header.pageSize, 0)
        let address = try expectNoError { () throws(LoaderError) in
            try header.loadAddress(ramBase: GuestAddress(0x4000_0000))
        }
        try expectEqual(address, GuestAddress(0x4008_0000))
    },
    PortableTestCase("Arm64ImageHeader", "refuses bad magic, big-endian, truncated and absurd images") {
        () throws(TestFailure) in
        var image = makeArm64Image()
        image[56] = 0
        try expectError(.badMagic(.arm64Image)) { () throws(LoaderError) in _ = try Arm64ImageHeader(image) }
        try expectError(.bigEndianImage) { () throws(LoaderError) in _ = try Arm64ImageHeader(makeArm64Image(flags: 1))
        }
        try expectError(.truncated(offset: 0, length: 64, size: 63)) { () throws(LoaderError) in
            _ = try Arm64ImageHeader(Array(makeArm64Image()[0..<63]))
        }
        try expectError(.absurdSize(.imageSize, 1 << 40)) { () throws(LoaderError) in
            _ = try Arm64ImageHeader(makeArm64Image(imageSize: 1 << 40))
        }
        try expectError(.absurdSize(.imageSize, 0x2000)) { () throws(LoaderError) in
            _ = try Arm64ImageHeader(makeArm64Image(imageSize: 0x1000))
        }
    },
    PortableTestCase("RiscV64ImageHeader", "parses the header and loads at RAM base + text_offset") {
        () throws(TestFailure) in
        let bytes = makeRiscVImage()
        let header = try expectNoError { () throws(LoaderError) in try RiscV64ImageHeader(bytes) }
        try expectEqual(header.textOffset, 0x20_0000)
        try expectEqual(header.imageSize, 0x4000)
        try expectEqual(header.majorVersion, 0)
        try expectEqual(header.minorVersion, 2)
        let memory = try expectNoError { () throws(GuestMemoryError) in
            try GuestMemoryMap(regions: [try BufferRegion(start: GuestAddress(0x8000_0000), size: 0x80_0000)])
        }
        let kernel = try expectNoError { () throws(LoaderError) in
            try header.load(bytes, into: memory, ramBase: GuestAddress(0x8000_0000))
        }
        try expectEqual(kernel.entry, GuestAddress(0x8020_0000))
        try expectEqual(kernel.end, GuestAddress(0x8020_4000))
        try expectEqual(try readMemory(memory, 0x8020_0038, 4), [0x52, 0x53, 0x43, 0x05])
        try expectEqual(try readMemory(memory, 0x8020_3fff, 1), [0], "BSS not zeroed")
        // The deprecated magic alone is still accepted.
        _ = try expectNoError { () throws(LoaderError) in try RiscV64ImageHeader(makeRiscVImage(magic2: false)) }
    },
    PortableTestCase("RiscV64ImageHeader", "refuses bad, truncated and oversized images") { () throws(TestFailure) in
        var image = makeRiscVImage(magic2: false)
        image[48] = 0
        try expectError(.badMagic(.riscv64Image)) { () throws(LoaderError) in _ = try RiscV64ImageHeader(image) }
        try expectError(.absurdSize(.imageSize, 0)) { () throws(LoaderError) in
            _ = try RiscV64ImageHeader(makeRiscVImage(imageSize: 0))
        }
        try expectError(.absurdSize(.imageSize, 1 << 31)) { () throws(LoaderError) in
            _ = try RiscV64ImageHeader(makeRiscVImage(textOffset: 1 << 31))
        }
        image = makeRiscVImage()
        image[24] = 1
        try expectError(.bigEndianImage) { () throws(LoaderError) in _ = try RiscV64ImageHeader(image) }
        for length in stride(from: 0, to: 64, by: 5) {
            try expectRefused { () throws(LoaderError) in
                _ = try RiscV64ImageHeader(Array(makeRiscVImage()[0..<length]))
            }
        }
        let memory = try makeMemory(size: 0x1000)
        let header = try expectNoError { () throws(LoaderError) in try RiscV64ImageHeader(makeRiscVImage()) }
        try expectError(.kernelOutsideMemory(GuestAddress(0x20_0000), length: 0x4000)) { () throws(LoaderError) in
            _ = try header.load(makeRiscVImage(), into: memory, ramBase: GuestAddress(0))
        }
    },
]
