// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A node opened by ``FDTWriter/beginNode(_:)``; hand it back to ``FDTWriter/endNode(_:)``.
public struct FDTNode: Equatable, Sendable {
    /// Nesting depth (the root is 1).
    public let depth: Int
}

/// Writes a flattened devicetree blob (DTB, version 17) as the devicetree
/// specification v0.4 chapter 5 lays it out: a 40-byte header, the memory
/// reservation block, the structure block and the deduplicated strings block,
/// all big-endian.
///
/// Nodes open and close in order; properties of a node come before its
/// subnodes. Every structural rule is checked as the tree is written and a
/// violation is a typed ``FDTError``, so ``finish()`` only returns well-formed blobs.
///
/// ```swift
/// var fdt = FDTWriter()
/// try fdt.addMemoryReservation(address: 0x8000_0000, size: 0x20_0000)
/// let root = try fdt.beginNode("")
/// try fdt.property("#address-cells", u32: 2)
/// try fdt.property("#size-cells", u32: 2)
/// try fdt.property("compatible", string: "linux,dummy-virt")
/// let memory = try fdt.beginNode("memory@80000000")
/// try fdt.property("device_type", string: "memory")
/// try fdt.property("reg", u64s: [0x8000_0000, 0x1000_0000])
/// try fdt.endNode(memory)
/// try fdt.endNode(root)
/// let blob = try fdt.finish()
/// ```
public struct FDTWriter: Sendable {
    /// `FDT_MAGIC`.
    public static let magic: UInt32 = 0xd00d_feed
    /// The version written.
    public static let version: UInt32 = 17
    /// The oldest version this blob is compatible with.
    public static let lastCompatibleVersion: UInt32 = 16
    static let headerSize = 40
    static let beginNodeToken: UInt32 = 1
    static let endNodeToken: UInt32 = 2
    static let propertyToken: UInt32 = 3
    static let endToken: UInt32 = 9

    private var structure: [UInt8] = []
    private var strings: [UInt8] = []
    private var stringOffsets: [[UInt8]: UInt32] = [:]
    private var reservations: [(address: UInt64, size: UInt64)] = []
    private var phandles: Set<UInt32> = []
    private var nextPhandle: UInt32 = 1

    private struct OpenNode {
        var childNames: Set<[UInt8]> = []
        var propertyNames: Set<[UInt8]> = []
        var hasChildren = false
    }
    private var open: [OpenNode] = []
    private var rootClosed = false
    private var rootStarted = false

    /// The physical id of the boot CPU (`boot_cpuid_phys`).
    public var bootCPUID: UInt32

    /// An empty writer.
    public init(bootCPUID: UInt32 = 0) { self.bootCPUID = bootCPUID }

    // MARK: Memory reservations

    /// Reserves `[address, address + size)` from the OS (the `/memreserve/` block).
    public mutating func addMemoryReservation(address: UInt64, size: UInt64) throws(FDTError) {
        guard size == 0 || address <= UInt64.max - (size - 1) else {
            throw .reservationOverflow(address: address, size: size)
        }
        reservations.append((address, size))
    }

    // MARK: Nodes

    /// Opens a node named `name` inside the innermost open node (the first node is the root, `""`).
    public mutating func beginNode(_ name: String) throws(FDTError) -> FDTNode {
        let bytes = Array(name.utf8)
        if rootClosed { throw .nodeAfterRoot }
        if !rootStarted {
            guard bytes.isEmpty else { throw .rootNodeMustBeFirst }
            rootStarted = true
        } else {
            guard Self.isValidNodeName(bytes) else { throw bytes.isEmpty ? .rootNodeMustBeFirst : .invalidNodeName }
            guard !open[open.count - 1].childNames.contains(bytes) else { throw .duplicateNodeName }
            open[open.count - 1].childNames.insert(bytes)
            open[open.count - 1].hasChildren = true
        }
        appendToken(Self.beginNodeToken)
        structure += bytes
        structure.append(0)
        padStructure()
        open.append(OpenNode())
        return FDTNode(depth: open.count)
    }

    /// Closes `node`, which must be the innermost open node.
    public mutating func endNode(_ node: FDTNode) throws(FDTError) {
        guard node.depth == open.count, !open.isEmpty else { throw .unbalancedEndNode }
        appendToken(Self.endNodeToken)
        open.removeLast()
        if open.isEmpty { rootClosed = true }
    }

    /// node-name `[0-9a-zA-Z,._+-]{1,31}`, then optionally `@` and a unit address of the same characters.
    static func isValidNodeName(_ name: [UInt8]) -> Bool {
        var seenAt = false
        var baseLength = 0
        for byte in name {
            if byte == 0x40 {  // @
                if seenAt || baseLength == 0 { return false }
                seenAt = true
                continue
            }
            guard isNameCharacter(byte) else { return false }
            if !seenAt { baseLength += 1 }
        }
        if seenAt && name.last == 0x40 { return false }
        return baseLength >= 1 && baseLength <= 31
    }

    static func isNameCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5a, 0x61...0x7a, 0x2c, 0x2e, 0x5f, 0x2b, 0x2d: return true
        default: return false
        }
    }

    static func isValidPropertyName(_ name: [UInt8]) -> Bool {
        guard !name.isEmpty, name.count <= 31 else { return false }
        for byte in name where !isNameCharacter(byte) && byte != 0x3f && byte != 0x23 { return false }  // ? #
        return true
    }

    // MARK: Properties

    /// Adds a property with raw bytes as its value.
    public mutating func property(_ name: String, bytes value: [UInt8]) throws(FDTError) {
        let nameBytes = Array(name.utf8)
        guard !open.isEmpty else { throw .propertyOutsideNode }
        guard Self.isValidPropertyName(nameBytes) else { throw .invalidPropertyName }
        guard !open[open.count - 1].hasChildren else { throw .propertyAfterSubnode }
        guard !open[open.count - 1].propertyNames.contains(nameBytes) else { throw .duplicateProperty }
        guard UInt64(structure.count) + UInt64(value.count) < UInt64(UInt32.max) / 2 else { throw .tooLarge }
        open[open.count - 1].propertyNames.insert(nameBytes)
        let nameOffset = stringOffset(nameBytes)
        appendToken(Self.propertyToken)
        appendToken(UInt32(value.count))
        appendToken(nameOffset)
        structure += value
        padStructure()
    }

    /// Adds an empty (boolean) property such as `interrupt-controller`.
    public mutating func property(_ name: String) throws(FDTError) { try property(name, bytes: []) }

    /// Adds a big-endian 32-bit cell.
    public mutating func property(_ name: String, u32 value: UInt32) throws(FDTError) {
        try property(name, u32s: [value])
    }

    /// Adds big-endian 32-bit cells.
    public mutating func property(_ name: String, u32s values: [UInt32]) throws(FDTError) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for value in values { Self.appendBigEndian(value, to: &bytes) }
        try property(name, bytes: bytes)
    }

    /// Adds a big-endian 64-bit value (two cells).
    public mutating func property(_ name: String, u64 value: UInt64) throws(FDTError) {
        try property(name, u64s: [value])
    }

    /// Adds big-endian 64-bit values (two cells each), as in `reg` with 2 address and 2 size cells.
    public mutating func property(_ name: String, u64s values: [UInt64]) throws(FDTError) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 8)
        for value in values {
            Self.appendBigEndian(UInt32(truncatingIfNeeded: value >> 32), to: &bytes)
            Self.appendBigEndian(UInt32(truncatingIfNeeded: value), to: &bytes)
        }
        try property(name, bytes: bytes)
    }

    /// Adds a NUL-terminated string.
    public mutating func property(_ name: String, string value: String) throws(FDTError) {
        try property(name, strings: [value])
    }

    /// Adds a string list: each string NUL-terminated, back to back.
    public mutating func property(_ name: String, strings values: [String]) throws(FDTError) {
        var bytes: [UInt8] = []
        for value in values {
            for byte in value.utf8 {
                if byte == 0 { throw .stringContainsNul }
                bytes.append(byte)
            }
            bytes.append(0)
        }
        try property(name, bytes: bytes)
    }

    /// Returns an unused phandle (it is reserved: pass it to ``property(_:phandle:)``).
    public mutating func allocatePhandle() -> UInt32 {
        while phandles.contains(nextPhandle) || nextPhandle == 0 || nextPhandle == UInt32.max { nextPhandle &+= 1 }
        let value = nextPhandle
        nextPhandle &+= 1
        return value
    }

    /// Adds the `phandle` property, checking that no other node uses the value.
    public mutating func property(phandle value: UInt32) throws(FDTError) {
        guard value != 0, value != UInt32.max else { throw .invalidPhandle(value) }
        guard !phandles.contains(value) else { throw .duplicatePhandle(value) }
        try property("phandle", u32: value)
        phandles.insert(value)
    }

    // MARK: Output

    /// Closes the structure block and returns the blob.
    public func finish() throws(FDTError) -> [UInt8] {
        guard rootClosed, open.isEmpty else { throw .unclosedNodes(Swift.max(open.count, 1)) }
        let reservationOffset = Self.headerSize
        let reservationSize = (reservations.count + 1) * 16
        let structureOffset = reservationOffset + reservationSize
        let structureSize = structure.count + 4
        let stringsOffset = structureOffset + structureSize
        let total = UInt64(stringsOffset) + UInt64(strings.count)
        guard total <= UInt64(UInt32.max) else { throw .tooLarge }
        var blob: [UInt8] = []
        blob.reserveCapacity(Int(total))
        for field in [
            Self.magic, UInt32(total), UInt32(structureOffset), UInt32(stringsOffset), UInt32(reservationOffset),
            Self.version, Self.lastCompatibleVersion, bootCPUID, UInt32(strings.count), UInt32(structureSize),
        ] {
            Self.appendBigEndian(field, to: &blob)
        }
        for reservation in reservations {
            Self.appendBigEndian(UInt32(truncatingIfNeeded: reservation.address >> 32), to: &blob)
            Self.appendBigEndian(UInt32(truncatingIfNeeded: reservation.address), to: &blob)
            Self.appendBigEndian(UInt32(truncatingIfNeeded: reservation.size >> 32), to: &blob)
            Self.appendBigEndian(UInt32(truncatingIfNeeded: reservation.size), to: &blob)
        }
        blob += [UInt8](repeating: 0, count: 16)
        blob += structure
        Self.appendBigEndian(Self.endToken, to: &blob)
        blob += strings
        return blob
    }

    // MARK: Helpers

    private mutating func stringOffset(_ name: [UInt8]) -> UInt32 {
        if let offset = stringOffsets[name] { return offset }
        let offset = UInt32(strings.count)
        strings += name
        strings.append(0)
        stringOffsets[name] = offset
        return offset
    }

    private mutating func appendToken(_ value: UInt32) { Self.appendBigEndian(value, to: &structure) }

    private mutating func padStructure() {
        while structure.count % 4 != 0 { structure.append(0) }
    }

    static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }
}
