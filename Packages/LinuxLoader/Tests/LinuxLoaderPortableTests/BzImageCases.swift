// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import PortableTesting
import VMMemory

let bzImageCases: [PortableTestCase] = [
    PortableTestCase("BzImage", "parses the setup header fields") { () throws(TestFailure) in
        let image = try expectNoError { () throws(LoaderError) in try BzImage(makeBzImage()) }
        try expectEqual(image.header.version, 0x020f)
        try expect(image.header.isRelocatable)
        try expect(image.header.has64BitEntry)
        try expectEqual(image.header.kernelAlignment, 0x20_0000)
        try expectEqual(image.header.commandLineSize, 2047)
        try expectEqual(image.header.initrdAddressMax, 0x7fff_ffff)
        try expectEqual(image.setupSize, 5 * 512)
        try expectEqual(image.kernelRange.count, 0x3000)
        try expectEqual(image.memoryFootprint, 0x8000)
        try expectEqual(image.defaultLoadAddress, GuestAddress(0x100_0000))
        try expectEqual(image.requiredAlignment, 0x20_0000)
    },
    PortableTestCase("BzImage", "loads the protected-mode kernel at pref_address") { () throws(TestFailure) in
        let memory = try makeMemory()
        let image = try expectNoError { () throws(LoaderError) in try BzImage(makeBzImage()) }
        let kernel = try expectNoError { () throws(LoaderError) in try image.load(into: memory) }
        try expectEqual(kernel.start, GuestAddress(0x100_0000))
        try expectEqual(kernel.entry, GuestAddress(0x100_0200))
        try expectEqual(kernel.end, GuestAddress(0x100_8000))
        try expectEqual(try readMemory(memory, 0x100_0000, 4), [0, 1, 2, 3])
        try expectEqual(try readMemory(memory, 0x100_2fff, 1), [0xff])
    },
    PortableTestCase("BzImage", "relocates to an aligned address and refuses a misaligned one") {
        () throws(TestFailure) in
        let memory = try makeMemory(size: 0x400_0000)
        let image = try expectNoError { () throws(LoaderError) in try BzImage(makeBzImage()) }
        let kernel = try expectNoError { () throws(LoaderError) in
            try image.load(into: memory, at: GuestAddress(0x200_0000))
        }
        try expectEqual(kernel.entry, GuestAddress(0x200_0200))
        try expectError(.misalignedLoadAddress(GuestAddress(0x210_0000), alignment: 0x20_0000)) {
            () throws(LoaderError) in
            _ = try image.load(into: memory, at: GuestAddress(0x210_0000))
        }
    },
    PortableTestCase("BzImage", "a non-relocatable kernel loads only at 0x100000") { () throws(TestFailure) in
        let memory = try makeMemory()
        let image = try expectNoError { () throws(LoaderError) in
            try BzImage(makeBzImage(relocatable: false, preferred: 0))
        }
        try expectEqual(image.defaultLoadAddress, GuestAddress(0x10_0000))
        try expectError(.notRelocatable(requested: GuestAddress(0x100_0000), required: GuestAddress(0x10_0000))) {
            () throws(LoaderError) in
            _ = try image.load(into: memory, at: GuestAddress(0x100_0000))
        }
        let kernel = try expectNoError { () throws(LoaderError) in try image.load(into: memory) }
        try expectEqual(kernel.entry, GuestAddress(0x10_0200))
    },
    PortableTestCase("BzImage", "refuses bad magic, old protocols and zImages") { () throws(TestFailure) in
        var image = makeBzImage()
        image[0x1fe] = 0
        try expectError(.badMagic(.bzImage)) { () throws(LoaderError) in _ = try BzImage(image) }
        image = makeBzImage()
        image[0x202] = 0x48
        image[0x203] = 0x48
        try expectError(.badMagic(.bzImage)) { () throws(LoaderError) in _ = try BzImage(image) }
        try expectError(.unsupportedBootProtocol(0x0205)) { () throws(LoaderError) in
            _ = try BzImage(makeBzImage(version: 0x0205))
        }
        image = makeBzImage()
        image[0x211] = 0
        try expectError(.notLoadedHigh) { () throws(LoaderError) in _ = try BzImage(image) }
    },
    PortableTestCase("BzImage", "refuses absurd sizes and alignments") { () throws(TestFailure) in
        try expectError(.absurdSize(.initSize, 0x8000_0000)) { () throws(LoaderError) in
            _ = try BzImage(makeBzImage(initSize: 0x8000_0000))
        }
        try expectError(.invalidAlignment(0x30_0000)) { () throws(LoaderError) in
            _ = try BzImage(makeBzImage(alignment: 0x30_0000))
        }
        try expectError(.invalidAlignment(0)) { () throws(LoaderError) in _ = try BzImage(makeBzImage(alignment: 0)) }
        try expectError(.invalidAlignment(1 << 22)) { () throws(LoaderError) in
            _ = try BzImage(makeBzImage(minAlignmentShift: 22))
        }
        var image = makeBzImage()
        image[0x1f1] = 200  // setup code longer than the file
        try expectError(.truncated(offset: 201 * 512, length: 1, size: UInt64(image.count))) {
            () throws(LoaderError) in
            _ = try BzImage(image)
        }
    },
    PortableTestCase("BzImage", "every truncation is a typed error") { () throws(TestFailure) in
        let image = makeBzImage(kernelSize: 0x10)
        for length in stride(from: 0, through: 5 * 512, by: 7) {
            try expectRefused { () throws(LoaderError) in _ = try BzImage(Array(image[0..<length])) }
        }
        _ = try expectNoError { () throws(LoaderError) in try BzImage(image) }
    },
    PortableTestCase("BzImage", "a kernel that does not fit guest memory is refused before copying") {
        () throws(TestFailure) in
        let memory = try makeMemory(size: 0x100_4000)
        let image = try expectNoError { () throws(LoaderError) in try BzImage(makeBzImage()) }
        try expectError(.kernelOutsideMemory(GuestAddress(0x100_0000), length: 0x8000)) { () throws(LoaderError) in
            _ = try image.load(into: memory)
        }
        try expectEqual(try readMemory(memory, 0x100_0001, 1), [0], "a refused load wrote memory")
    },
    PortableTestCase("BzImage", "random corruption of the header never traps") { () throws(TestFailure) in
        var random = SplitMix64(seed: 7)
        let memory = try makeMemory(size: 0x400_0000)
        let original = makeBzImage(kernelSize: 0x200, initSize: 0x1000)
        var accepted = 0
        for _ in 0..<400 {
            var image = original
            for _ in 0..<(1 + random.next() % 6) {
                image[0x1f1 + Int(random.next() % 0x7b)] = UInt8(truncatingIfNeeded: random.next())
            }
            do throws(LoaderError) {
                let parsed = try BzImage(image)
                _ = try parsed.load(into: memory)
                accepted += 1
            } catch {
                // Any typed refusal is fine; a trap would end the run.
            }
        }
        try expect(accepted > 0, "no corrupted image was accepted at all (the test lost its power)")
    },
]

let bootParamsCases: [PortableTestCase] = [
    PortableTestCase("BootParams", "copies the setup header and marks the loader") { () throws(TestFailure) in
        let image = try expectNoError { () throws(LoaderError) in try BzImage(makeBzImage()) }
        let params = BootParams(header: image.header)
        try expectEqual(params.bytes.count, 4096)
        try expectEqual(params.field(UInt16.self, at: 0x1fe), 0xaa55)
        try expectEqual(params.field(UInt32.self, at: 0x202), 0x5372_6448)
        try expectEqual(params.field(UInt16.self, at: 0x206), 0x020f)
        try expectEqual(params.field(UInt8.self, at: 0x210), 0xff)
        try expectEqual(params.field(UInt16.self, at: 0x1fa), 0xffff)
        try expectEqual(params.field(UInt32.self, at: 0x230), 0x20_0000)
        try expectEqual(params.header.commandLineSize, 2047)
    },
    PortableTestCase("BootParams", "command line, initrd and RSDP land at their documented offsets") {
        () throws(TestFailure) in
        var params = BootParams()
        params.setCommandLine(at: GuestAddress(0x1_2000_0000), size: 10)
        params.setRamdisk(at: GuestAddress(0x2_3000_0000), size: 0x1_0000_0010)
        params.setACPIRSDP(GuestAddress(0xe_0000))
        try expectEqual(params.field(UInt32.self, at: 0x228), 0x2000_0000)
        try expectEqual(params.field(UInt32.self, at: 0x0c8), 1)
        try expectEqual(params.field(UInt32.self, at: 0x218), 0x3000_0000)
        try expectEqual(params.field(UInt32.self, at: 0x0c0), 2)
        try expectEqual(params.field(UInt32.self, at: 0x21c), 0x10)
        try expectEqual(params.field(UInt32.self, at: 0x0c4), 1)
        try expectEqual(params.field(UInt64.self, at: 0x070), 0xe_0000)
        try expectEqual(params.commandLineAddress, 0x1_2000_0000)
        try expectEqual(params.ramdisk.address, 0x2_3000_0000)
        try expectEqual(params.ramdisk.size, 0x1_0000_0010)
    },
    PortableTestCase("BootParams", "E820 entries: count at 0x1e8, table at 0x2d0, at most 128") {
        () throws(TestFailure) in
        var params = BootParams()
        try expectNoError { () throws(LoaderError) in
            try params.addE820(E820Entry(address: 0, size: 0x9fc00, type: .ram))
        }
        try expectNoError { () throws(LoaderError) in
            try params.addE820(E820Entry(address: 0x10_0000, size: 0x7f0_0000, type: .ram))
        }
        try expectEqual(params.field(UInt8.self, at: 0x1e8), 2)
        try expectEqual(params.field(UInt64.self, at: 0x2d0 + 20), 0x10_0000)
        try expectEqual(params.field(UInt64.self, at: 0x2d0 + 28), 0x7f0_0000)
        try expectEqual(params.field(UInt32.self, at: 0x2d0 + 36), 1)
        try expectEqual(params.e820Entries.count, 2)
        for index in 2..<128 {
            try expectNoError { () throws(LoaderError) in
                try params.addE820(E820Entry(address: UInt64(index) << 32, size: 0x1000, type: .reserved))
            }
        }
        try expectError(.tooManyE820Entries) { () throws(LoaderError) in
            try params.addE820(E820Entry(address: 0, size: 1, type: .ram))
        }
        try expectEqual(params.e820Entries.last?.type ?? 0, 2)
    },
    PortableTestCase("BootParams", "writes one page into guest memory") { () throws(TestFailure) in
        let memory = try makeMemory()
        var params = BootParams()
        params.setCommandLine(at: GuestAddress(0x20000), size: 5)
        try expectNoError { () throws(LoaderError) in try params.write(to: memory, at: GuestAddress(0x7000)) }
        try expectEqual(try readMemory(memory, 0x7000 + 0x228, 4), [0, 0, 2, 0])
        try expectError(.memory(.partialAccess(GuestAddress(0x1ff_f800), length: 4096, completed: 0x800))) {
            () throws(LoaderError) in
            try params.write(to: memory, at: GuestAddress(0x1ff_f800))
        }
    },
    PortableTestCase("PVHStartInfo", "lays out hvm_start_info version 1 and its memory map") {
        () throws(TestFailure) in
        var info = PVHStartInfo()
        info.commandLineAddress = 0x20000
        info.rsdpAddress = 0xe0000
        info.memoryMap = [
            E820Entry(address: 0, size: 0x9fc00, type: .ram), E820Entry(address: 0x10_0000, size: 0x1000, type: .ram),
        ]
        let memory = try makeMemory()
        try expectNoError { () throws(LoaderError) in
            try info.write(to: memory, at: GuestAddress(0x6000), memoryMapAt: GuestAddress(0x6040))
        }
        let bytes = try readMemory(memory, 0x6000, 56)
        try expectEqual(bytes.get(UInt32.self, at: 0), 0x336e_c578)
        try expectEqual(bytes.get(UInt32.self, at: 4), 1)
        try expectEqual(bytes.get(UInt64.self, at: 24), 0x20000)
        try expectEqual(bytes.get(UInt64.self, at: 32), 0xe0000)
        try expectEqual(bytes.get(UInt64.self, at: 40), 0x6040)
        try expectEqual(bytes.get(UInt32.self, at: 48), 2)
        let map = try readMemory(memory, 0x6040, 48)
        try expectEqual(map.get(UInt64.self, at: 24), 0x10_0000)
        try expectEqual(map.get(UInt32.self, at: 40), 1)
    },
    PortableTestCase("InitrdPlacement", "goes as high as allowed, page aligned, above the kernel") {
        () throws(TestFailure) in
        let memory = try makeMemory(size: 0x800_0000, high: (0x1_0000_0000, 0x1000_0000))
        let below4G = try expectNoError { () throws(LoaderError) in
            try InitrdPlacement.highest(size: 0x1234, in: memory, below: 0x7fff_ffff, above: GuestAddress(0x200_0000))
        }
        try expectEqual(below4G, GuestAddress(0x7ffe_000))
        try expectEqual(below4G.rawValue & 0xfff, 0)
        try expect(below4G.rawValue + 0x1234 <= 0x800_0000)
        let anywhere = try expectNoError { () throws(LoaderError) in
            try InitrdPlacement.highest(size: 0x1000, in: memory, below: UInt64.max, above: GuestAddress(0))
        }
        try expectEqual(anywhere, GuestAddress(0x1_0fff_f000))
        try expectError(.noRoomForInitrd(size: 0x700_0000, limit: 0x7fff_ffff)) { () throws(LoaderError) in
            _ = try InitrdPlacement.highest(
                size: 0x700_0000, in: memory, below: 0x7fff_ffff, above: GuestAddress(0x200_0000))
        }
    },
]
