// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// The x86 boot protocol's setup header: the bytes of a bzImage (and of the
/// zero page) from offset `0x1f1`, with typed accessors for the fields a loader
/// reads and writes.
///
/// Offsets below are the documented ones (Documentation/arch/x86/boot.rst),
/// relative to the start of the image / zero page.
///
/// ```swift
/// let image = try BzImage(bytes)
/// print(image.header.version, image.header.isRelocatable)  // 527 true  (2.15)
/// ```
public struct SetupHeader: Equatable, Sendable {
    /// Where the header starts in an image and in the zero page.
    public static let offset = 0x1f1
    /// The header's bytes as the image carries them (at least up to `0x268`).
    public internal(set) var bytes: [UInt8]

    /// `LOADED_HIGH`: the protected-mode kernel is loaded at 0x100000 or above.
    public static let loadedHigh: UInt8 = 0x01
    /// `KEEP_SEGMENTS`: obsolete since 2.07's 32-bit boot, kept for completeness.
    public static let keepSegments: UInt8 = 0x40
    /// `CAN_USE_HEAP`: `heap_end_ptr` is valid.
    public static let canUseHeap: UInt8 = 0x80
    /// `XLF_KERNEL_64`: the kernel has the 64-bit entry point at load address + 0x200.
    public static let xlfKernel64: UInt16 = 0x1
    /// `XLF_CAN_BE_LOADED_ABOVE_4G`: kernel, initrd and command line may live above 4 GiB.
    public static let xlfCanBeLoadedAbove4G: UInt16 = 0x2

    /// Wraps header bytes (from image offset 0x1f1; at least 0x77 bytes).
    init(bytes: [UInt8]) { self.bytes = bytes }

    func field<T: FixedWidthInteger>(_: T.Type, _ absolute: Int) -> T {
        bytes.loadLittleEndian(T.self, at: absolute - Self.offset)
    }

    mutating func setField<T: FixedWidthInteger>(_ value: T, _ absolute: Int) {
        bytes.storeLittleEndian(value, at: absolute - Self.offset)
    }

    /// `setup_sects` (0x1f1): 512-byte sectors of real-mode setup code after the boot sector (0 means 4).
    public var setupSectors: UInt8 { field(UInt8.self, 0x1f1) }
    /// `syssize` (0x1f4): protected-mode code size in 16-byte paragraphs.
    public var systemSize: UInt32 { field(UInt32.self, 0x1f4) }
    /// `vid_mode` (0x1fa).
    public var videoMode: UInt16 {
        get { field(UInt16.self, 0x1fa) }
        set { setField(newValue, 0x1fa) }
    }
    /// `boot_flag` (0x1fe): 0xaa55.
    public var bootFlag: UInt16 { field(UInt16.self, 0x1fe) }
    /// `jump` (0x200): its second byte says how long the header is.
    public var jump: UInt16 { field(UInt16.self, 0x200) }
    /// `header` (0x202): "HdrS".
    public var magic: UInt32 { field(UInt32.self, 0x202) }
    /// `version` (0x206): boot protocol version, major in the high byte.
    public var version: UInt16 { field(UInt16.self, 0x206) }
    /// `type_of_loader` (0x210).
    public var typeOfLoader: UInt8 {
        get { field(UInt8.self, 0x210) }
        set { setField(newValue, 0x210) }
    }
    /// `loadflags` (0x211).
    public var loadFlags: UInt8 {
        get { field(UInt8.self, 0x211) }
        set { setField(newValue, 0x211) }
    }
    /// `code32_start` (0x214): the 32-bit entry (default load address, 0x100000).
    public var code32Start: UInt32 {
        get { field(UInt32.self, 0x214) }
        set { setField(newValue, 0x214) }
    }
    /// `ramdisk_image` (0x218): low 32 bits of the initrd address.
    public var ramdiskImage: UInt32 {
        get { field(UInt32.self, 0x218) }
        set { setField(newValue, 0x218) }
    }
    /// `ramdisk_size` (0x21c): low 32 bits of the initrd size.
    public var ramdiskSize: UInt32 {
        get { field(UInt32.self, 0x21c) }
        set { setField(newValue, 0x21c) }
    }
    /// `heap_end_ptr` (0x224).
    public var heapEndPointer: UInt16 {
        get { field(UInt16.self, 0x224) }
        set { setField(newValue, 0x224) }
    }
    /// `cmd_line_ptr` (0x228): low 32 bits of the command line address.
    public var commandLinePointer: UInt32 {
        get { field(UInt32.self, 0x228) }
        set { setField(newValue, 0x228) }
    }
    /// `initrd_addr_max` (0x22c): highest address the initrd's last byte may occupy.
    public var initrdAddressMax: UInt32 { field(UInt32.self, 0x22c) }
    /// `kernel_alignment` (0x230): physical alignment a relocatable kernel needs.
    public var kernelAlignment: UInt32 {
        get { field(UInt32.self, 0x230) }
        set { setField(newValue, 0x230) }
    }
    /// `relocatable_kernel` (0x234).
    public var isRelocatable: Bool { field(UInt8.self, 0x234) != 0 }
    /// `min_alignment` (0x235): log2 of the smallest alignment a relocatable kernel accepts.
    public var minimumAlignmentShift: UInt8 { field(UInt8.self, 0x235) }
    /// `xloadflags` (0x236).
    public var extendedLoadFlags: UInt16 { field(UInt16.self, 0x236) }
    /// `cmdline_size` (0x238): the command line's maximum length, without its terminating NUL.
    public var commandLineSize: UInt32 { field(UInt32.self, 0x238) }
    /// `hardware_subarch` (0x23c).
    public var hardwareSubarch: UInt32 { field(UInt32.self, 0x23c) }
    /// `payload_offset` (0x248): offset of the compressed payload in the protected-mode code.
    public var payloadOffset: UInt32 { field(UInt32.self, 0x248) }
    /// `payload_length` (0x24c).
    public var payloadLength: UInt32 { field(UInt32.self, 0x24c) }
    /// `setup_data` (0x250): physical address of a linked list of `setup_data`.
    public var setupData: UInt64 {
        get { field(UInt64.self, 0x250) }
        set { setField(newValue, 0x250) }
    }
    /// `pref_address` (0x258): preferred load address of a relocatable kernel.
    public var preferredAddress: UInt64 { field(UInt64.self, 0x258) }
    /// `init_size` (0x260): bytes the kernel needs from its load address while it decompresses.
    public var initSize: UInt32 { field(UInt32.self, 0x260) }
    /// `handover_offset` (0x264): EFI handover entry offset.
    public var handoverOffset: UInt32 { field(UInt32.self, 0x264) }

    /// Whether the kernel has the 64-bit entry point (`XLF_KERNEL_64`).
    public var has64BitEntry: Bool { extendedLoadFlags & Self.xlfKernel64 != 0 }
}

/// A parsed x86 bzImage: the setup header checked against the boot protocol
/// (version 2.06 or later), and where the protected-mode kernel lies in the file.
///
/// ```swift
/// let image = try BzImage(bytes)
/// let kernel = try image.load(into: memory)          // at pref_address for relocatable kernels
/// var params = BootParams(header: image.header)
/// print(kernel.entry)                                // load address + 0x200, the 64-bit entry
/// ```
public struct BzImage: Sendable {
    /// The boot protocol this loader requires at least (2.06: `cmdline_size`).
    public static let minimumBootProtocol: UInt16 = 0x0206
    /// `init_size` above this is refused: no real kernel needs 1 GiB to decompress.
    public static let maximumInitSize: UInt64 = 1 << 30
    /// The end of the header fields this loader reads (through `kernel_info_offset`).
    static let headerEnd = 0x26c

    /// The whole image.
    public let bytes: [UInt8]
    /// The setup header.
    public let header: SetupHeader
    /// Bytes of real-mode code before the protected-mode kernel: `(setup_sects + 1) * 512`.
    public let setupSize: Int

    /// Parses and checks `bytes`.
    public init(_ bytes: [UInt8]) throws(LoaderError) {
        let image = ImageBytes(bytes: bytes)
        try image.require(0, 0x208)  // through `version`, which says how much more to expect
        guard try image.u16(0x1fe) == 0xaa55, try image.u32(0x202) == 0x5372_6448 else { throw .badMagic(.bzImage) }
        let version = try image.u16(0x206)
        guard version >= Self.minimumBootProtocol else { throw .unsupportedBootProtocol(version) }
        // Older protocols end their header earlier; read what exists and zero the rest.
        let headerLength = Swift.min(Self.headerEnd, 0x202 + Int(try image.u8(0x201)))
        try image.require(UInt64(SetupHeader.offset), UInt64(Swift.max(0, headerLength - SetupHeader.offset)))
        var headerBytes = [UInt8](repeating: 0, count: Self.headerEnd - SetupHeader.offset)
        for index in SetupHeader.offset..<headerLength { headerBytes[index - SetupHeader.offset] = bytes[index] }
        let header = SetupHeader(bytes: headerBytes)
        guard header.loadFlags & SetupHeader.loadedHigh != 0 else { throw .notLoadedHigh }
        let sectors = header.setupSectors == 0 ? 4 : Int(header.setupSectors)
        let setupSize = (sectors + 1) * 512
        guard setupSize < bytes.count else {
            throw .truncated(offset: UInt64(setupSize), length: 1, size: UInt64(bytes.count))
        }
        if header.isRelocatable {
            let alignment = UInt64(header.kernelAlignment)
            guard alignment != 0, alignment & (alignment - 1) == 0 else { throw .invalidAlignment(alignment) }
            if version >= 0x020a {
                guard header.minimumAlignmentShift < 64, UInt64(1) << header.minimumAlignmentShift <= alignment else {
                    throw .invalidAlignment(UInt64(1) << Swift.min(63, header.minimumAlignmentShift))
                }
            }
        }
        if UInt64(header.initSize) > Self.maximumInitSize { throw .absurdSize(.initSize, UInt64(header.initSize)) }
        self.bytes = bytes
        self.header = header
        self.setupSize = setupSize
    }

    /// The protected-mode kernel: everything after the setup code.
    public var kernelRange: Range<Int> { setupSize..<bytes.count }

    /// Memory the kernel occupies from its load address while booting:
    /// `init_size` (2.10+) or at least the protected-mode code itself.
    public var memoryFootprint: UInt64 {
        Swift.max(UInt64(header.initSize), UInt64(kernelRange.count))
    }

    /// Where the kernel goes when the caller does not choose: `pref_address`
    /// (2.10+, relocatable kernels) or the classic 0x100000.
    public var defaultLoadAddress: GuestAddress {
        if header.version >= 0x020a, header.preferredAddress != 0 { return GuestAddress(header.preferredAddress) }
        return GuestAddress(UInt64(header.code32Start == 0 ? 0x10_0000 : header.code32Start))
    }

    /// The smallest alignment this kernel accepts at a caller-chosen address.
    public var requiredAlignment: UInt64 {
        guard header.isRelocatable else { return 1 }
        if header.version >= 0x020a { return UInt64(1) << header.minimumAlignmentShift }
        return UInt64(header.kernelAlignment)
    }

    /// Copies the protected-mode kernel into `memory` at `address` (default
    /// ``defaultLoadAddress``), after checking alignment, relocatability and that
    /// its whole ``memoryFootprint`` is guest RAM.
    public func load(
        into memory: some GuestMemory, at address: GuestAddress? = nil
    ) throws(LoaderError)
        -> LoadedKernel
    {
        let target = address ?? defaultLoadAddress
        if !header.isRelocatable && target != defaultLoadAddress {
            throw .notRelocatable(requested: target, required: defaultLoadAddress)
        }
        guard target.rawValue & (requiredAlignment - 1) == 0 else {
            throw .misalignedLoadAddress(target, alignment: requiredAlignment)
        }
        let footprint = memoryFootprint
        do throws(GuestMemoryError) {
            try memory.checkRange(at: target, length: footprint)
        } catch {
            throw .kernelOutsideMemory(target, length: footprint)
        }
        try copy(bytes, kernelRange, to: target, memory: memory)
        return LoadedKernel(
            start: target, end: GuestAddress(target.rawValue + footprint),
            entry: GuestAddress(target.rawValue + 0x200), pvhEntry: nil, setupHeader: header)
    }
}

/// Where a kernel landed in guest memory and how to enter it.
///
/// ```swift
/// let kernel = try ELFKernel(bytes).load(into: memory)
/// print(kernel.entry, kernel.pvhEntry as Any, kernel.end)
/// ```
public struct LoadedKernel: Equatable, Sendable {
    /// The lowest guest address the kernel occupies.
    public var start: GuestAddress
    /// The first guest address past the kernel's footprint (place an initrd above it).
    public var end: GuestAddress
    /// The 64-bit entry point (bzImage: load address + 0x200; ELF: `e_entry`; Image: load address).
    public var entry: GuestAddress
    /// The 32-bit PVH entry point from the ELF Xen note, if the kernel has one.
    public var pvhEntry: GuestAddress?
    /// The bzImage setup header, to build the zero page from.
    public var setupHeader: SetupHeader?

    /// Describes a loaded kernel.
    public init(
        start: GuestAddress, end: GuestAddress, entry: GuestAddress, pvhEntry: GuestAddress?,
        setupHeader: SetupHeader?
    ) {
        self.start = start
        self.end = end
        self.entry = entry
        self.pvhEntry = pvhEntry
        self.setupHeader = setupHeader
    }
}
