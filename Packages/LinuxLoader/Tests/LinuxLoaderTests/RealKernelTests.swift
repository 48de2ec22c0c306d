// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import LinuxLoader
import Testing
import VMMemory

/// Real kernels: the project's PVM guest (bzImage and vmlinux) and Debian's cloud bzImage.
@Suite struct RealKernelTests {
    /// A file of the project's guest kernel: `vmlinux` is `VMM_GUEST_KERNEL`, other names are
    /// read beside it (`bzImage`). `vmm-tools test` and `vmm-tools ci` set the variable to what the
    /// workspace's guest-asset lookup finds (this package cannot depend on that Tools module).
    static func pvmGuestFile(_ name: String) -> [UInt8]? { pvmGuestPath(name).flatMap(read) }

    /// Where ``pvmGuestFile(_:)`` reads from, or nil when no file is there.
    static func pvmGuestPath(_ name: String) -> String? {
        guard let kernel = ProcessInfo.processInfo.environment["VMM_GUEST_KERNEL"], !kernel.isEmpty else {
            return nil
        }
        let folder = URL(fileURLWithPath: kernel).deletingLastPathComponent()
        let path = name == "vmlinux" ? kernel : folder.appendingPathComponent(name).path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
    static let cacheDirectory = FileManager.default.homeDirectoryForCurrentUser
        .appendingPathComponent(".cache/swift-vmm/linux-loader-tests").path

    static func read(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }

    /// Skips loudly, or fails under CI=true.
    static func unavailable(_ what: String) {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("\(what) is unavailable under CI=true")
        } else {
            print("SKIPPED (loudly): \(what) is unavailable")
        }
    }

    static func run(_ arguments: [String], in directory: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus == 0
        } catch {
            return false
        }
    }

    /// Debian's cloud kernel: `apt-get download` of the versioned image package the
    /// `linux-image-cloud-amd64` metapackage depends on, then `dpkg-deb -x`, cached.
    static func debianCloudKernel() -> [UInt8]? {
        let fileManager = FileManager.default
        try? fileManager.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        let extracted = cacheDirectory + "/root/boot"
        func cached() -> [UInt8]? {
            guard
                let name = (try? fileManager.contentsOfDirectory(atPath: extracted))?.first(where: {
                    $0.hasPrefix("vmlinuz-")
                })
            else { return nil }
            return read(extracted + "/" + name)
        }
        if let kernel = cached() { return kernel }
        let depends = Process()
        let pipe = Pipe()
        depends.executableURL = URL(fileURLWithPath: "/usr/bin/apt-cache")
        depends.arguments = ["depends", "linux-image-cloud-amd64"]
        depends.standardOutput = pipe
        guard (try? depends.run()) != nil else { return nil }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        depends.waitUntilExit()
        guard
            let package = output.split(separator: "\n").compactMap({ line -> String? in
                let parts = line.split(separator: " ")
                guard parts.count == 2, parts[0] == "Depends:", parts[1].hasPrefix("linux-image-") else { return nil }
                return String(parts[1])
            }).first
        else { return nil }
        guard run(["apt-get", "download", package], in: cacheDirectory) else { return nil }
        guard
            let deb = (try? fileManager.contentsOfDirectory(atPath: cacheDirectory))?.first(where: {
                $0.hasPrefix(package) && $0.hasSuffix(".deb")
            })
        else { return nil }
        guard run(["dpkg-deb", "-x", deb, "root"], in: cacheDirectory) else { return nil }
        return cached()
    }

    /// Loads a bzImage with an initrd and a command line and checks the documented zero-page fields.
    static func bootBzImage(_ bytes: [UInt8], minimumVersion: UInt16) throws {
        let image = try BzImage(bytes)
        #expect(image.header.version >= minimumVersion)
        #expect(image.header.isRelocatable)
        #expect(image.header.has64BitEntry)
        let memory = try GuestMemoryMap(regions: [try BufferRegion(start: GuestAddress(0), size: 128 << 20)])
        let kernel = try image.load(into: memory)
        #expect(kernel.start == image.defaultLoadAddress)
        #expect(kernel.entry.rawValue == kernel.start.rawValue + 0x200)
        // The protected-mode code is in guest memory byte for byte.
        let firstBytes = try memory.read(count: 64, from: kernel.start)
        #expect(firstBytes == Array(bytes[image.setupSize..<image.setupSize + 64]))

        var cmdline = KernelCommandLine(capacity: Int(image.header.commandLineSize) + 1)
        try cmdline.append("console", "ttyS0")
        try cmdline.append("reboot", "t")
        try cmdline.append("panic", "-1")
        try cmdline.write(to: memory, at: GuestAddress(0x2_0000))
        let initrd = [UInt8](repeating: 0x42, count: 3 << 20)
        let initrdAddress = try InitrdPlacement.highest(
            size: UInt64(initrd.count), in: memory, below: UInt64(image.header.initrdAddressMax), above: kernel.end)
        try memory.write(initrd, to: initrdAddress)

        var params = BootParams(header: image.header)
        params.setCommandLine(at: GuestAddress(0x2_0000), size: cmdline.nulTerminated.count)
        params.setRamdisk(at: initrdAddress, size: UInt64(initrd.count))
        try params.addE820(E820Entry(address: 0, size: 0x9_fc00, type: .ram))
        try params.addE820(E820Entry(address: 0x10_0000, size: (128 << 20) - 0x10_0000, type: .ram))
        try params.write(to: memory, at: GuestAddress(0x7000))

        // The zero page as the kernel will read it (Documentation/arch/x86/zero-page.rst, boot.rst).
        let page = try memory.read(count: 4096, from: GuestAddress(0x7000))
        func u8(_ offset: Int) -> UInt8 { page[offset] }
        func u16(_ offset: Int) -> UInt16 { UInt16(page[offset]) | UInt16(page[offset + 1]) << 8 }
        func u32(_ offset: Int) -> UInt32 { UInt32(u16(offset)) | UInt32(u16(offset + 2)) << 16 }
        func u64(_ offset: Int) -> UInt64 { UInt64(u32(offset)) | UInt64(u32(offset + 4)) << 32 }
        #expect(u16(0x1fe) == 0xaa55)  // boot_flag
        #expect(u32(0x202) == 0x5372_6448)  // "HdrS"
        #expect(u16(0x206) == image.header.version)
        #expect(u8(0x1f1) == bytes[0x1f1])  // setup_sects copied from the image
        #expect(u8(0x210) == 0xff)  // type_of_loader: undefined
        #expect(u8(0x211) & 0x01 == 0x01)  // loadflags: LOADED_HIGH
        #expect(u32(0x228) == 0x2_0000)  // cmd_line_ptr
        #expect(u32(0x0c8) == 0)  // ext_cmd_line_ptr
        #expect(u32(0x218) == UInt32(initrdAddress.rawValue))  // ramdisk_image
        #expect(u32(0x21c) == UInt32(initrd.count))  // ramdisk_size
        #expect(initrdAddress.rawValue + UInt64(initrd.count) - 1 <= UInt64(u32(0x22c)))  // under initrd_addr_max
        #expect(initrdAddress.rawValue >= kernel.end.rawValue)
        #expect(u32(0x230) == image.header.kernelAlignment)
        #expect(u32(0x238) == image.header.commandLineSize)
        #expect(u8(0x1e8) == 2)  // e820_entries
        #expect(u64(0x2d0) == 0 && u64(0x2d8) == 0x9_fc00 && u32(0x2e0) == 1)
        #expect(u64(0x2e4) == 0x10_0000 && u64(0x2ec) == (128 << 20) - 0x10_0000 && u32(0x2f4) == 1)
        let line = try memory.read(count: cmdline.nulTerminated.count, from: GuestAddress(0x2_0000))
        #expect(String(decoding: line.dropLast(), as: UTF8.self) == "console=ttyS0 reboot=t panic=-1")
        #expect(line.last == 0)
    }

    @Test func pvmGuestBzImage() throws {
        guard let bytes = Self.pvmGuestFile("bzImage") else {
            return Self.unavailable("the PVM guest bzImage (VMM_GUEST_KERNEL: vmm-tools test sets it)")
        }
        try Self.bootBzImage(bytes, minimumVersion: 0x020f)
        let image = try BzImage(bytes)
        #expect(image.defaultLoadAddress == GuestAddress(0x100_0000))
        #expect(image.header.kernelAlignment == 0x20_0000)
    }

    @Test func debianCloudBzImage() throws {
        guard let bytes = Self.debianCloudKernel() else {
            return Self.unavailable("Debian linux-image-*-cloud-amd64 (apt-get download)")
        }
        try Self.bootBzImage(bytes, minimumVersion: 0x020f)
    }

    @Test func pvmGuestVmlinuxWithPVHNote() throws {
        guard let bytes = Self.pvmGuestFile("vmlinux") else {
            return Self.unavailable("the PVM guest vmlinux (VMM_GUEST_KERNEL: vmm-tools test sets it)")
        }
        let kernel = try ELFKernel(bytes)
        #expect(kernel.machine == 62)
        #expect(kernel.pvhEntry == 0x100_0000)  // XEN_ELFNOTE_PHYS32_ENTRY, an 8-byte descriptor
        #expect(kernel.segments.count == 4)
        #expect(kernel.segments.first?.physicalAddress == 0x100_0000)
        let memory = try GuestMemoryMap(regions: [try BufferRegion(start: GuestAddress(0), size: 128 << 20)])
        let loaded = try kernel.load(into: memory)
        #expect(loaded.entry == GuestAddress(kernel.entry))
        #expect(loaded.pvhEntry == GuestAddress(0x100_0000))
        let first = kernel.segments[0]
        let copied = try memory.read(count: 256, from: GuestAddress(first.physicalAddress))
        #expect(copied == Array(bytes[Int(first.fileOffset)..<Int(first.fileOffset) + 256]))
        // Too little memory: a typed refusal.
        let small = try GuestMemoryMap(regions: [try BufferRegion(start: GuestAddress(0), size: 16 << 20)])
        #expect(throws: LoaderError.self) { try kernel.load(into: small) }
    }

    /// `nm --defined-only` of `path` as (address, name) pairs with a nonzero address, sorted;
    /// nil when `nm` cannot run. nm skips section and file symbols as ELFSymbolTable does.
    static func nmSymbols(_ path: String) -> [(address: UInt64, name: String)]? {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["nm", "--defined-only", path]
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        var symbols: [(address: UInt64, name: String)] = []
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let address = UInt64(fields[0], radix: 16) else { return nil }
            if address != 0 { symbols.append((address, String(fields[2]))) }
        }
        return symbols.sorted { ($0.address, $0.name) < ($1.address, $1.name) }
    }

    @Test func pvmGuestVmlinuxSymbols() throws {
        guard let path = Self.pvmGuestPath("vmlinux"), let bytes = Self.read(path) else {
            return Self.unavailable("the PVM guest vmlinux (VMM_GUEST_KERNEL: vmm-tools test sets it)")
        }
        let clock = ContinuousClock()
        var table: ELFSymbolTable?
        let parsing = try clock.measure { table = try ELFSymbolTable(bytes) }
        let symbols = try #require(table).symbols
        print("ELFSymbolTable: \(symbols.count) symbols of \(path) parsed in \(parsing)")
        #expect(try ELFSymbolTable(elf: ELFKernel(bytes)).symbols == symbols)

        let startKernel = try #require(symbols.first { $0.name == "start_kernel" })
        #expect(startKernel.address >= 0xffff_ffff_8000_0000)  // the kernel text mapping
        #expect(startKernel.size > 1)
        let inside = try #require(ELFSymbolTable(bytes).symbol(containing: startKernel.address + 1))
        #expect(inside.symbol == startKernel)
        #expect(inside.offset == 1)
        let resolved = try #require(table)
        let last = try #require(resolved.symbol(containing: startKernel.address + startKernel.size - 1))
        #expect(last.symbol == startKernel && last.offset == startKernel.size - 1)
        for name in ["do_idle", "default_idle", "schedule"] {
            let symbol = try #require(symbols.first { $0.name == name }, "\(name) missing")
            let found = try #require(resolved.symbol(containing: symbol.address + symbol.size / 2))
            #expect(found.symbol.address == symbol.address, "\(name) resolved to \(found.symbol.name)")
            #expect(found.offset == symbol.size / 2)
        }

        // Every symbol's own address resolves to a symbol at that address, at offset 0.
        var lookups = 0
        let lookupTime = clock.measure {
            for symbol in symbols {
                let found = resolved.symbol(containing: symbol.address)
                #expect(found?.symbol.address == symbol.address && found?.offset == 0, "\(symbol.name)")
                lookups += 1
            }
        }
        print("ELFSymbolTable: \(lookups) lookups in \(lookupTime)")

        // The same (address, name) pairs as binutils' nm, when it is installed.
        if let expected = Self.nmSymbols(path) {
            let ours = symbols.map { ($0.address, $0.name) }.sorted { $0 < $1 }
            #expect(ours.count == expected.count)
            #expect(ours.elementsEqual(expected) { $0.0 == $1.address && $0.1 == $1.name })
        } else {
            print("nm is not available: only bounding the symbol count")
            #expect((10_000...ELFSymbolTable.maximumSymbols).contains(symbols.count))
        }
    }

    /// The bzImage is not an ELF and the vmlinux is not a bzImage: both refused with typed errors.
    @Test func formatsAreNotConfused() throws {
        guard let bzImage = Self.pvmGuestFile("bzImage") else {
            return Self.unavailable("guest kernel")
        }
        #expect(throws: LoaderError.badMagic(.elf)) { try ELFKernel(bzImage) }
        #expect(throws: LoaderError.badMagic(.riscv64Image)) { try RiscV64ImageHeader(bzImage) }
        #expect(throws: LoaderError.badMagic(.arm64Image)) { try Arm64ImageHeader(bzImage) }
    }
}
