// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// An E820 memory map entry as the zero page stores it (20 bytes).
///
/// ```swift
/// let ram = E820Entry(address: 0x10_0000, size: 255 << 20, type: .ram)
/// ```
public struct E820Entry: Equatable, Sendable {
    /// The kind of memory an entry describes.
    public enum Kind: UInt32, Sendable {
        /// Usable RAM.
        case ram = 1
        /// Reserved (firmware, MMIO holes).
        case reserved = 2
        /// ACPI tables the OS may reclaim after reading them.
        case acpiReclaimable = 3
        /// ACPI non-volatile storage.
        case acpiNVS = 4
        /// Memory with errors.
        case unusable = 5
    }

    /// First byte.
    public var address: UInt64
    /// Length in bytes.
    public var size: UInt64
    /// The raw type (1 RAM, 2 reserved, 3 ACPI, 4 NVS, 5 unusable, others pass through).
    public var type: UInt32

    /// Describes an entry.
    public init(address: UInt64, size: UInt64, type: Kind) {
        self.init(address: address, size: size, rawType: type.rawValue)
    }

    /// Describes an entry with a raw type value.
    public init(address: UInt64, size: UInt64, rawType: UInt32) {
        self.address = address
        self.size = size
        self.type = rawType
    }
}

/// The zero page (`struct boot_params`, 4096 bytes) a 64-bit Linux boot hands the
/// kernel in `%rsi`: the setup header plus the E820 map, command line, initrd and
/// RSDP pointers.
///
/// Field offsets are the documented ones (Documentation/arch/x86/zero-page.rst);
/// `bytes` is exactly what goes into guest memory.
///
/// ```swift
/// var params = BootParams(header: kernel.setupHeader!)
/// params.setCommandLine(at: GuestAddress(0x20000), size: cmdline.count)
/// try params.setRamdisk(at: initrd, size: 4 << 20)
/// try params.addE820(E820Entry(address: 0, size: 0x9fc00, type: .ram))
/// try params.write(to: memory, at: GuestAddress(0x7000))
/// ```
public struct BootParams: Equatable, Sendable {
    /// The zero page is one 4 KiB page.
    public static let size = 4096
    /// `e820_table` holds at most this many entries.
    public static let maximumE820Entries = 128
    /// Offset of `e820_entries` (u8).
    public static let e820CountOffset = 0x1e8
    /// Offset of `e820_table`.
    public static let e820TableOffset = 0x2d0
    /// Offset of `acpi_rsdp_addr` (u64).
    public static let acpiRSDPOffset = 0x070
    /// Offset of `ext_ramdisk_image` (u32, high half of the initrd address).
    public static let extRamdiskImageOffset = 0x0c0
    /// Offset of `ext_ramdisk_size` (u32).
    public static let extRamdiskSizeOffset = 0x0c4
    /// Offset of `ext_cmd_line_ptr` (u32).
    public static let extCommandLineOffset = 0x0c8
    /// `type_of_loader` for a loader without an assigned id.
    public static let undefinedLoader: UInt8 = 0xff

    /// The page's bytes.
    public private(set) var bytes: [UInt8]

    /// A zero page carrying a bzImage's setup header, marked as loaded by an
    /// undefined boot loader (`type_of_loader = 0xff`), with the normal video mode.
    public init(header: SetupHeader) {
        bytes = [UInt8](repeating: 0, count: Self.size)
        for (index, byte) in header.bytes.enumerated() { bytes[SetupHeader.offset + index] = byte }
        var updated = header
        updated.typeOfLoader = Self.undefinedLoader
        updated.videoMode = 0xffff
        self.header = updated
    }

    /// A zero page for an ELF (vmlinux) entered at its 64-bit entry: a minimal
    /// valid setup header (boot flag, "HdrS", 16 MiB kernel alignment), as the
    /// kernel's 64-bit entry expects.
    public init() {
        bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.storeLittleEndian(UInt16(0xaa55), at: 0x1fe)
        bytes.storeLittleEndian(UInt32(0x5372_6448), at: 0x202)
        bytes.storeLittleEndian(UInt16(0x020f), at: 0x206)
        bytes.storeLittleEndian(UInt32(0x100_0000), at: 0x230)
        bytes[0x211] = SetupHeader.loadedHigh
        bytes[0x210] = Self.undefinedLoader
    }

    /// The setup header inside the page.
    public var header: SetupHeader {
        get { SetupHeader(bytes: Array(bytes[SetupHeader.offset..<BzImage.headerEnd])) }
        set {
            for (index, byte) in newValue.bytes.enumerated() where SetupHeader.offset + index < Self.size {
                bytes[SetupHeader.offset + index] = byte
            }
        }
    }

    /// Reads a little-endian field at `offset` of the page.
    public func field<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        bytes.loadLittleEndian(T.self, at: offset)
    }

    /// Points `cmd_line_ptr` (and `ext_cmd_line_ptr`) at a NUL-terminated command line.
    public mutating func setCommandLine(at address: GuestAddress, size: Int) {
        _ = size  // the kernel finds the end by the NUL; the size is checked by KernelCommandLine
        bytes.storeLittleEndian(UInt32(truncatingIfNeeded: address.rawValue), at: 0x228)
        bytes.storeLittleEndian(UInt32(truncatingIfNeeded: address.rawValue >> 32), at: Self.extCommandLineOffset)
    }

    /// The command line address (`cmd_line_ptr` | `ext_cmd_line_ptr` << 32).
    public var commandLineAddress: UInt64 {
        UInt64(field(UInt32.self, at: 0x228)) | UInt64(field(UInt32.self, at: Self.extCommandLineOffset)) << 32
    }

    /// Sets `ramdisk_image`/`ramdisk_size` and their `ext_` high halves.
    public mutating func setRamdisk(at address: GuestAddress, size: UInt64) {
        bytes.storeLittleEndian(UInt32(truncatingIfNeeded: address.rawValue), at: 0x218)
        bytes.storeLittleEndian(UInt32(truncatingIfNeeded: size), at: 0x21c)
        bytes.storeLittleEndian(UInt32(truncatingIfNeeded: address.rawValue >> 32), at: Self.extRamdiskImageOffset)
        bytes.storeLittleEndian(UInt32(truncatingIfNeeded: size >> 32), at: Self.extRamdiskSizeOffset)
    }

    /// The initrd address and size, both halves combined.
    public var ramdisk: (address: UInt64, size: UInt64) {
        (
            UInt64(field(UInt32.self, at: 0x218)) | UInt64(field(UInt32.self, at: Self.extRamdiskImageOffset)) << 32,
            UInt64(field(UInt32.self, at: 0x21c)) | UInt64(field(UInt32.self, at: Self.extRamdiskSizeOffset)) << 32
        )
    }

    /// Sets `acpi_rsdp_addr`, so the kernel does not scan the BIOS area for the RSDP.
    public mutating func setACPIRSDP(_ address: GuestAddress) {
        bytes.storeLittleEndian(address.rawValue, at: Self.acpiRSDPOffset)
    }

    /// Appends an E820 entry (at most 128).
    public mutating func addE820(_ entry: E820Entry) throws(LoaderError) {
        let count = Int(bytes[Self.e820CountOffset])
        guard count < Self.maximumE820Entries else { throw .tooManyE820Entries }
        let offset = Self.e820TableOffset + count * 20
        bytes.storeLittleEndian(entry.address, at: offset)
        bytes.storeLittleEndian(entry.size, at: offset + 8)
        bytes.storeLittleEndian(entry.type, at: offset + 16)
        bytes[Self.e820CountOffset] = UInt8(count + 1)
    }

    /// The E820 entries written so far.
    public var e820Entries: [E820Entry] {
        (0..<Int(bytes[Self.e820CountOffset])).map { index in
            let offset = Self.e820TableOffset + index * 20
            return E820Entry(
                address: field(UInt64.self, at: offset), size: field(UInt64.self, at: offset + 8),
                rawType: field(UInt32.self, at: offset + 16))
        }
    }

    /// Writes the page into guest memory.
    public func write(to memory: some GuestMemory, at address: GuestAddress) throws(LoaderError) {
        try copy(bytes, 0..<bytes.count, to: address, memory: memory)
    }
}

/// The `hvm_start_info` structure a PVH entry receives in `%ebx`
/// (Xen's `arch-x86/hvm/start_info.h`, version 1), plus its memory map.
///
/// ```swift
/// var info = PVHStartInfo()
/// info.commandLineAddress = 0x20000
/// info.memoryMap = [PVHMemoryMapEntry(address: 0, size: 0x9fc00, type: 1)]
/// try info.write(to: memory, at: GuestAddress(0x6000), memoryMapAt: GuestAddress(0x6040))
/// ```
public struct PVHStartInfo: Equatable, Sendable {
    /// `XEN_HVM_START_MAGIC_VALUE`.
    public static let magic: UInt32 = 0x336e_c578
    /// Bytes of the structure.
    public static let size = 56

    /// Guest address of the NUL-terminated command line (0: none).
    public var commandLineAddress: UInt64 = 0
    /// Guest address of the RSDP (0: let the kernel search).
    public var rsdpAddress: UInt64 = 0
    /// Guest address of the module list (`hvm_modlist_entry` array), 0 when none.
    public var moduleListAddress: UInt64 = 0
    /// Number of modules (an initrd is module 0).
    public var moduleCount: UInt32 = 0
    /// The memory map (E820 types).
    public var memoryMap: [E820Entry] = []

    /// An empty start info.
    public init() {}

    /// The structure's bytes, pointing at a memory map placed at `memoryMapAddress`.
    public func bytes(memoryMapAddress: GuestAddress) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.storeLittleEndian(Self.magic, at: 0)
        bytes.storeLittleEndian(UInt32(1), at: 4)  // version 1: has the memory map fields
        bytes.storeLittleEndian(moduleCount, at: 12)
        bytes.storeLittleEndian(moduleListAddress, at: 16)
        bytes.storeLittleEndian(commandLineAddress, at: 24)
        bytes.storeLittleEndian(rsdpAddress, at: 32)
        bytes.storeLittleEndian(memoryMapAddress.rawValue, at: 40)
        bytes.storeLittleEndian(UInt32(memoryMap.count), at: 48)
        return bytes
    }

    /// The memory map's bytes (`hvm_memmap_table_entry`: address, size, type, reserved).
    public var memoryMapBytes: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: memoryMap.count * 24)
        for (index, entry) in memoryMap.enumerated() {
            bytes.storeLittleEndian(entry.address, at: index * 24)
            bytes.storeLittleEndian(entry.size, at: index * 24 + 8)
            bytes.storeLittleEndian(entry.type, at: index * 24 + 16)
        }
        return bytes
    }

    /// Writes the structure at `address` and its memory map at `memoryMapAddress`.
    public func write(
        to memory: some GuestMemory, at address: GuestAddress, memoryMapAt memoryMapAddress: GuestAddress
    )
        throws(LoaderError)
    {
        let info = bytes(memoryMapAddress: memoryMapAddress)
        try copy(info, 0..<info.count, to: address, memory: memory)
        let map = memoryMapBytes
        try copy(map, 0..<map.count, to: memoryMapAddress, memory: memory)
    }

    /// A module list entry (`hvm_modlist_entry`, 32 bytes) for an initrd.
    public static func moduleEntry(address: UInt64, size: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 32)
        bytes.storeLittleEndian(address, at: 0)
        bytes.storeLittleEndian(size, at: 8)
        return bytes
    }
}

/// Places an initrd as high as possible in guest RAM, below the kernel's limit
/// and above the kernel, page aligned — what boot loaders do so the kernel's
/// early allocations below it stay free.
///
/// ```swift
/// let address = try InitrdPlacement.highest(
///     size: initrd.count, in: memory, below: UInt64(header.initrdAddressMax), above: kernel.end)
/// ```
public enum InitrdPlacement {
    /// The highest page-aligned address `a` with `[a, a + size)` inside one
    /// memory region, `a + size - 1 <= limit` and `a >= above`.
    public static func highest(
        size: UInt64, in memory: some GuestMemory, below limit: UInt64, above: GuestAddress
    )
        throws(LoaderError) -> GuestAddress
    {
        guard size > 0 else { return GuestAddress(above.rawValue) }
        for region in memory.regions.reversed() {
            let top = Swift.min(region.lastAddress.rawValue, limit)
            guard top >= region.startAddress.rawValue, top - region.startAddress.rawValue + 1 >= size else { continue }
            let start = (top - (size - 1)) & ~UInt64(0xfff)
            if start >= region.startAddress.rawValue && start >= above.rawValue { return GuestAddress(start) }
        }
        throw .noRoomForInitrd(size: size, limit: limit)
    }
}
