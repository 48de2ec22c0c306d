// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory

/// The 64-byte header at the start of an arm64 Linux `Image`
/// (Documentation/arch/arm64/booting.rst).
///
/// ```swift
/// let header = try Arm64ImageHeader(bytes)
/// let kernel = try header.load(bytes, into: memory, ramBase: GuestAddress(0x4000_0000))
/// ```
public struct Arm64ImageHeader: Equatable, Sendable {
    /// "ARM\x64" at offset 56.
    public static let magic: UInt32 = 0x644d_5241
    /// Images larger than this are refused.
    public static let maximumImageSize: UInt64 = 1 << 30

    /// `text_offset`: the image's offset from a 2 MiB-aligned base.
    public var textOffset: UInt64
    /// `image_size`: bytes the kernel occupies in memory, BSS included.
    public var imageSize: UInt64
    /// `flags`: bit 0 big-endian, bits 1-2 page size, bit 3 "may be placed anywhere".
    public var flags: UInt64

    /// The kernel page size in bytes (0 when unspecified).
    public var pageSize: UInt64 {
        switch (flags >> 1) & 3 {
        case 1: return 4096
        case 2: return 16384
        case 3: return 65536
        default: return 0
        }
    }

    /// Whether the kernel may be placed anywhere in memory (flag bit 3) rather
    /// than as close as possible to the start of RAM.
    public var canBePlacedAnywhere: Bool { flags & 8 != 0 }

    /// Parses and checks the header of `bytes`.
    public init(_ bytes: [UInt8]) throws(LoaderError) {
        let image = ImageBytes(bytes: bytes)
        try image.require(0, 64)
        guard try image.u32(56) == Self.magic else { throw .badMagic(.arm64Image) }
        var textOffset = try image.u64(8)
        var imageSize = try image.u64(16)
        flags = try image.u64(24)
        if imageSize == 0 {
            // Kernels before 3.17 leave image_size zero: text_offset is then 0x80000.
            textOffset = 0x8_0000
            imageSize = image.count
        }
        guard flags & 1 == 0 else { throw .bigEndianImage }
        guard imageSize <= Self.maximumImageSize else { throw .absurdSize(.imageSize, imageSize) }
        guard textOffset <= Self.maximumImageSize else { throw .absurdSize(.imageSize, textOffset) }
        guard image.count <= imageSize else { throw .absurdSize(.imageSize, image.count) }
        self.textOffset = textOffset
        self.imageSize = imageSize
    }

    /// Where the kernel goes: the 2 MiB-aligned `ramBase` plus `text_offset`.
    public func loadAddress(ramBase: GuestAddress) throws(LoaderError) -> GuestAddress {
        guard ramBase.rawValue & 0x1f_ffff == 0 else { throw .misalignedLoadAddress(ramBase, alignment: 0x20_0000) }
        guard let address = ramBase.checkedAdd(textOffset) else {
            throw .kernelOutsideMemory(ramBase, length: imageSize)
        }
        return address
    }

    /// Copies `bytes` (the whole Image) to ``loadAddress(ramBase:)`` and zeroes the rest of `image_size`.
    public func load(
        _ bytes: [UInt8], into memory: some GuestMemory, ramBase: GuestAddress
    ) throws(LoaderError)
        -> LoadedKernel
    {
        let address = try loadAddress(ramBase: ramBase)
        return try loadFlatImage(bytes, imageSize: imageSize, at: address, into: memory)
    }
}

/// The 64-byte header at the start of a riscv64 Linux `Image`
/// (Documentation/arch/riscv/boot-image-header.rst).
///
/// ```swift
/// let header = try RiscV64ImageHeader(bytes)
/// let kernel = try header.load(bytes, into: memory, ramBase: GuestAddress(0x8000_0000))
/// ```
public struct RiscV64ImageHeader: Equatable, Sendable {
    /// "RSC\x05" at offset 56.
    public static let magic2: UInt32 = 0x0543_5352
    /// "RISCV\0\0\0" at offset 48 (deprecated, still written).
    public static let magic: UInt64 = 0x5643_5349_52
    /// Images larger than this are refused.
    public static let maximumImageSize: UInt64 = 1 << 30

    /// `text_offset`: the image's offset from the start of RAM.
    public var textOffset: UInt64
    /// `image_size`: bytes the kernel occupies in memory.
    public var imageSize: UInt64
    /// `flags` (bit 0: big-endian).
    public var flags: UInt64
    /// `version`: major in the upper 16 bits, minor in the lower 16.
    public var version: UInt32

    /// The header version's major number.
    public var majorVersion: UInt16 { UInt16(version >> 16) }
    /// The header version's minor number.
    public var minorVersion: UInt16 { UInt16(truncatingIfNeeded: version) }

    /// Parses and checks the header of `bytes`.
    public init(_ bytes: [UInt8]) throws(LoaderError) {
        let image = ImageBytes(bytes: bytes)
        try image.require(0, 64)
        let magic2 = try image.u32(56)
        let magic = try image.u64(48)
        guard magic2 == Self.magic2 || magic == Self.magic else {
            throw .badMagic(.riscv64Image)
        }
        textOffset = try image.u64(8)
        imageSize = try image.u64(16)
        flags = try image.u64(24)
        version = try image.u32(32)
        guard flags & 1 == 0 else { throw .bigEndianImage }
        guard imageSize != 0, imageSize <= Self.maximumImageSize else { throw .absurdSize(.imageSize, imageSize) }
        guard textOffset <= Self.maximumImageSize else { throw .absurdSize(.imageSize, textOffset) }
        guard image.count <= imageSize else { throw .absurdSize(.imageSize, image.count) }
    }

    /// Where the kernel goes: `ramBase + text_offset` (the kernel wants a 2 MiB-aligned
    /// address on rv64; `ramBase` must be aligned so).
    public func loadAddress(ramBase: GuestAddress) throws(LoaderError) -> GuestAddress {
        guard ramBase.rawValue & 0x1f_ffff == 0 else { throw .misalignedLoadAddress(ramBase, alignment: 0x20_0000) }
        guard let address = ramBase.checkedAdd(textOffset) else {
            throw .kernelOutsideMemory(ramBase, length: imageSize)
        }
        return address
    }

    /// Copies `bytes` (the whole Image) to ``loadAddress(ramBase:)`` and zeroes the rest of `image_size`.
    public func load(
        _ bytes: [UInt8], into memory: some GuestMemory, ramBase: GuestAddress
    ) throws(LoaderError)
        -> LoadedKernel
    {
        let address = try loadAddress(ramBase: ramBase)
        return try loadFlatImage(bytes, imageSize: imageSize, at: address, into: memory)
    }
}

/// Copies a flat Image and zeroes up to `imageSize`; the entry is the load address.
func loadFlatImage(
    _ bytes: [UInt8], imageSize: UInt64, at address: GuestAddress, into memory: some GuestMemory
)
    throws(LoaderError) -> LoadedKernel
{
    do throws(GuestMemoryError) {
        try memory.checkRange(at: address, length: imageSize)
    } catch {
        throw .kernelOutsideMemory(address, length: imageSize)
    }
    try copy(bytes, 0..<bytes.count, to: address, memory: memory)
    if imageSize > UInt64(bytes.count) {
        do throws(GuestMemoryError) {
            try memory.fill(
                0, count: imageSize - UInt64(bytes.count), at: GuestAddress(address.rawValue + UInt64(bytes.count)))
        } catch {
            throw .memory(error)
        }
    }
    return LoadedKernel(
        start: address, end: GuestAddress(address.rawValue + imageSize), entry: address, pvhEntry: nil,
        setupHeader: nil)
}
