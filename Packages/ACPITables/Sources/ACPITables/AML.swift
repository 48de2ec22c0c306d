// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Encoders for the ACPI Machine Language terms a VMM's DSDT needs (ACPI 6.5
/// chapter 20): names, scopes, devices, methods, integers, strings, packages,
/// buffers, EISA ids and resource templates. Each function returns the term's
/// bytes, so terms nest by passing one's result into another.
///
/// ```swift
/// let com1 = try AML.device("COM1", [
///     try AML.name("_HID", try AML.eisaID("PNP0501")),
///     try AML.name("_UID", AML.integer(1)),
///     try AML.name("_CRS", try AML.resourceTemplate([
///         ResourceDescriptor.io(base: 0x3f8, length: 8),
///         ResourceDescriptor.irq(4),
///     ])),
/// ])
/// let dsdt = try ACPITable.dsdt(aml: try AML.scope("\\_SB_", [com1]))
/// ```
public enum AML {
    static let zeroOp: UInt8 = 0x00
    static let oneOp: UInt8 = 0x01
    static let nameOp: UInt8 = 0x08
    static let bytePrefix: UInt8 = 0x0a
    static let wordPrefix: UInt8 = 0x0b
    static let dwordPrefix: UInt8 = 0x0c
    static let stringPrefix: UInt8 = 0x0d
    static let qwordPrefix: UInt8 = 0x0e
    static let scopeOp: UInt8 = 0x10
    static let bufferOp: UInt8 = 0x11
    static let packageOp: UInt8 = 0x12
    static let methodOp: UInt8 = 0x14
    static let dualNamePrefix: UInt8 = 0x2e
    static let multiNamePrefix: UInt8 = 0x2f
    static let rootCharacter: UInt8 = 0x5c
    static let extendedOpPrefix: UInt8 = 0x5b
    static let deviceOp: UInt8 = 0x82
    static let returnOp: UInt8 = 0xa4
    static let onesOp: UInt8 = 0xff

    /// The PkgLength encoding of a package whose body is `bodyLength` bytes.
    public static func packageLength(_ bodyLength: Int) throws(ACPIError) -> [UInt8] {
        if bodyLength + 1 <= 0x3f { return [UInt8(bodyLength + 1)] }
        for extra in 1...3 {
            let total = bodyLength + 1 + extra
            if total < 1 << (4 + 8 * extra) {
                var bytes = [UInt8((extra << 6) | (total & 0x0f))]
                for index in 0..<extra { bytes.append(UInt8(truncatingIfNeeded: total >> (4 + 8 * index))) }
                return bytes
            }
        }
        throw .packageTooLong(bodyLength)
    }

    /// A name path: `_S5_`, `\_SB_`, `\_SB_.COM1` or `^PCI0`-free relative paths; segments shorter than
    /// four characters are padded with `_`.
    public static func nameString(_ path: String) throws(ACPIError) -> [UInt8] {
        var bytes = Array(path.utf8)
        var prefix: [UInt8] = []
        if bytes.first == rootCharacter {
            prefix = [rootCharacter]
            bytes.removeFirst()
        }
        var segments: [[UInt8]] = []
        var current: [UInt8] = []
        for byte in bytes {
            if byte == 0x2e {
                segments.append(try segment(current))
                current = []
            } else {
                current.append(byte)
            }
        }
        if !current.isEmpty || !segments.isEmpty { segments.append(try segment(current)) }
        switch segments.count {
        case 0:
            guard !prefix.isEmpty else { throw .invalidName }
            return prefix + [0]  // the root itself: NullName
        case 1: return prefix + segments[0]
        case 2: return prefix + [dualNamePrefix] + segments[0] + segments[1]
        default:
            guard segments.count <= 255 else { throw .invalidName }
            return prefix + [multiNamePrefix, UInt8(segments.count)] + segments.flatMap { $0 }
        }
    }

    static func segment(_ raw: [UInt8]) throws(ACPIError) -> [UInt8] {
        guard (1...4).contains(raw.count) else { throw .invalidName }
        for (index, byte) in raw.enumerated() {
            let isLead = byte == 0x5f || (0x41...0x5a).contains(byte)
            let isDigit = (0x30...0x39).contains(byte)
            guard isLead || (index > 0 && isDigit) else { throw .invalidName }
        }
        return raw + [UInt8](repeating: 0x5f, count: 4 - raw.count)
    }

    /// An integer with the shortest encoding (ZeroOp, OneOp, Byte/Word/DWord/QWord constants).
    public static func integer(_ value: UInt64) -> [UInt8] {
        switch value {
        case 0: return [zeroOp]
        case 1: return [oneOp]
        case 0...0xff: return [bytePrefix, UInt8(value)]
        case 0...0xffff: return [wordPrefix] + littleEndian(value, 2)
        case 0...0xffff_ffff: return [dwordPrefix] + littleEndian(value, 4)
        default: return [qwordPrefix] + littleEndian(value, 8)
        }
    }

    /// A NUL-terminated ASCII string constant.
    public static func string(_ value: String) throws(ACPIError) -> [UInt8] {
        var bytes = [stringPrefix]
        for byte in value.utf8 {
            guard byte != 0, byte < 0x80 else { throw .invalidString }
            bytes.append(byte)
        }
        return bytes + [0]
    }

    /// A compressed EISA id such as `PNP0501` as a DWord constant.
    public static func eisaID(_ id: String) throws(ACPIError) -> [UInt8] {
        let bytes = Array(id.utf8)
        guard bytes.count == 7 else { throw .invalidEISAID }
        for letter in bytes[0..<3] where !(0x41...0x5a).contains(letter) { throw .invalidEISAID }
        var digits: [UInt8] = []
        for character in bytes[3..<7] {
            switch character {
            case 0x30...0x39: digits.append(character - 0x30)
            case 0x41...0x46: digits.append(character - 0x41 + 10)
            default: throw .invalidEISAID
            }
        }
        let first = bytes[0] & 0x1f
        let second = bytes[1] & 0x1f
        let third = bytes[2] & 0x1f
        let encoded: [UInt8] = [
            first << 2 | second >> 3, (second << 5) | third, digits[0] << 4 | digits[1], digits[2] << 4 | digits[3],
        ]
        return [dwordPrefix] + encoded
    }

    /// `Name(path, value)`.
    public static func name(_ path: String, _ value: [UInt8]) throws(ACPIError) -> [UInt8] {
        [nameOp] + (try nameString(path)) + value
    }

    /// `Package() { elements }`.
    public static func package(_ elements: [[UInt8]]) throws(ACPIError) -> [UInt8] {
        guard elements.count <= 255 else { throw .tooManyPackageElements(elements.count) }
        let body = [UInt8(elements.count)] + elements.flatMap { $0 }
        return [packageOp] + (try packageLength(body.count)) + body
    }

    /// `Buffer() { bytes }`.
    public static func buffer(_ bytes: [UInt8]) throws(ACPIError) -> [UInt8] {
        let body = integer(UInt64(bytes.count)) + bytes
        return [bufferOp] + (try packageLength(body.count)) + body
    }

    /// `Scope(path) { terms }`.
    public static func scope(_ path: String, _ terms: [[UInt8]]) throws(ACPIError) -> [UInt8] {
        let body = (try nameString(path)) + terms.flatMap { $0 }
        return [scopeOp] + (try packageLength(body.count)) + body
    }

    /// `Device(name) { terms }`.
    public static func device(_ path: String, _ terms: [[UInt8]]) throws(ACPIError) -> [UInt8] {
        let body = (try nameString(path)) + terms.flatMap { $0 }
        return [extendedOpPrefix, deviceOp] + (try packageLength(body.count)) + body
    }

    /// `Method(name, argumentCount, Serialized?) { terms }`.
    public static func method(
        _ path: String, argumentCount: UInt8 = 0, serialized: Bool = false, _ terms: [[UInt8]]
    )
        throws(ACPIError) -> [UInt8]
    {
        let flags = (argumentCount & 7) | (serialized ? 8 : 0)
        let body = (try nameString(path)) + [flags] + terms.flatMap { $0 }
        return [methodOp] + (try packageLength(body.count)) + body
    }

    /// `Return(value)`.
    public static func returnValue(_ value: [UInt8]) -> [UInt8] { [returnOp] + value }

    /// `ResourceTemplate() { descriptors }`: a buffer of resource descriptors closed by an end tag.
    public static func resourceTemplate(_ descriptors: [ResourceDescriptor]) throws(ACPIError) -> [UInt8] {
        var bytes: [UInt8] = []
        for descriptor in descriptors { bytes += try descriptor.bytes() }
        bytes += [0x79, 0x00]  // End Tag; checksum 0 means "treat as correct"
        return try buffer(bytes)
    }

    static func littleEndian(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}

/// A resource descriptor for `_CRS` (ACPI 6.5 section 6.4).
public enum ResourceDescriptor: Equatable, Sendable {
    /// A 16-bit decoded I/O port range at a fixed base (`IO(Decode16, base, base, 1, length)`).
    case io(base: UInt16, length: UInt8)
    /// A legacy ISA IRQ, edge-triggered, active-high (`IRQNoFlags() { irq }`).
    case irq(UInt8)
    /// A fixed 32-bit memory range (`Memory32Fixed(ReadWrite|ReadOnly, base, length)`).
    case memory32Fixed(base: UInt32, length: UInt32, writable: Bool)
    /// An extended interrupt (`Interrupt(ResourceConsumer, Edge|Level, ActiveHigh|ActiveLow, Exclusive|Shared) { gsi }`).
    case interrupt(gsi: [UInt32], edgeTriggered: Bool, activeLow: Bool, shared: Bool)

    /// The descriptor's bytes.
    public func bytes() throws(ACPIError) -> [UInt8] {
        switch self {
        case .io(let base, let length):
            return [0x47, 0x01] + AML.littleEndian(UInt64(base), 2) + AML.littleEndian(UInt64(base), 2) + [1, length]
        case .irq(let irq):
            let mask = UInt16(1) << (irq & 15)
            return [0x22] + AML.littleEndian(UInt64(mask), 2)
        case .memory32Fixed(let base, let length, let writable):
            return [0x86, 9, 0, writable ? 1 : 0] + AML.littleEndian(UInt64(base), 4)
                + AML.littleEndian(UInt64(length), 4)
        case .interrupt(let gsi, let edgeTriggered, let activeLow, let shared):
            guard (1...255).contains(gsi.count) else { throw .invalidInterruptCount(gsi.count) }
            let flags: UInt8 = 0x01 | (edgeTriggered ? 0x02 : 0) | (activeLow ? 0x04 : 0) | (shared ? 0x08 : 0)
            let length = 2 + 4 * gsi.count
            var bytes: [UInt8] = [0x89] + AML.littleEndian(UInt64(length), 2) + [flags, UInt8(gsi.count)]
            for line in gsi { bytes += AML.littleEndian(UInt64(line), 4) }
            return bytes
        }
    }
}
