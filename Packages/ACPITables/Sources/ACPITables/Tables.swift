// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Who made the tables: the OEM fields of every system description table header.
///
/// ```swift
/// let oem = try OEMIdentity(oemID: "SWIFTV", oemTableID: "SVMMTBLS")
/// ```
public struct OEMIdentity: Equatable, Sendable {
    /// `OEMID`, 6 bytes.
    public var oemID: [UInt8]
    /// `OEM Table ID`, 8 bytes.
    public var oemTableID: [UInt8]
    /// `OEM Revision`.
    public var oemRevision: UInt32
    /// `Creator ID`, 4 bytes.
    public var creatorID: [UInt8]
    /// `Creator Revision`.
    public var creatorRevision: UInt32

    /// Identifiers are ASCII, at most 6 / 8 / 4 bytes, padded with spaces.
    public init(
        oemID: String = "SWIFTV", oemTableID: String = "SWIFTVMM", oemRevision: UInt32 = 1, creatorID: String = "SVMM",
        creatorRevision: UInt32 = 1
    ) throws(ACPIError) {
        self.oemID = try Self.padded(oemID, 6)
        self.oemTableID = try Self.padded(oemTableID, 8)
        self.oemRevision = oemRevision
        self.creatorID = try Self.padded(creatorID, 4)
        self.creatorRevision = creatorRevision
    }

    static func padded(_ text: String, _ count: Int) throws(ACPIError) -> [UInt8] {
        let bytes = Array(text.utf8)
        guard bytes.count <= count else { throw .invalidIdentifier }
        for byte in bytes where byte < 0x20 || byte >= 0x7f { throw .invalidIdentifier }
        return bytes + [UInt8](repeating: 0x20, count: count - bytes.count)
    }

    /// The identity swift-vmm uses by default.
    public static var swiftVMM: OEMIdentity {
        // Computed rather than a stored global: no lazy global initialization in Embedded builds.
        OEMIdentity(
            checkedOEMID: [0x53, 0x57, 0x49, 0x46, 0x54, 0x56],
            oemTableID: [0x53, 0x57, 0x49, 0x46, 0x54, 0x56, 0x4d, 0x4d],
            creatorID: [0x53, 0x56, 0x4d, 0x4d])
    }

    private init(checkedOEMID: [UInt8], oemTableID: [UInt8], creatorID: [UInt8]) {
        self.oemID = checkedOEMID
        self.oemTableID = oemTableID
        self.oemRevision = 1
        self.creatorID = creatorID
        self.creatorRevision = 1
    }
}

/// A generic address structure (GAS, 12 bytes): where a register lives.
///
/// ```swift
/// let sleepControl = GenericAddress.io(port: 0x3c0, bitWidth: 8)
/// ```
public struct GenericAddress: Equatable, Sendable {
    /// Address space id: 0 system memory, 1 system I/O.
    public var addressSpace: UInt8
    /// Register width in bits.
    public var bitWidth: UInt8
    /// Register offset in bits.
    public var bitOffset: UInt8
    /// Access size: 1 byte, 2 word, 3 dword, 4 qword.
    public var accessSize: UInt8
    /// The register's address.
    public var address: UInt64

    /// Describes a register.
    public init(addressSpace: UInt8, bitWidth: UInt8, bitOffset: UInt8 = 0, accessSize: UInt8, address: UInt64) {
        self.addressSpace = addressSpace
        self.bitWidth = bitWidth
        self.bitOffset = bitOffset
        self.accessSize = accessSize
        self.address = address
    }

    /// An I/O port register of `bitWidth` bits (8, 16 or 32).
    public static func io(port: UInt16, bitWidth: UInt8 = 8) -> GenericAddress {
        GenericAddress(
            addressSpace: 1, bitWidth: bitWidth, accessSize: bitWidth / 8 == 4 ? 3 : bitWidth / 8, address: UInt64(port)
        )
    }

    /// A memory-mapped register of `bitWidth` bits.
    public static func memory(address: UInt64, bitWidth: UInt8 = 8) -> GenericAddress {
        GenericAddress(
            addressSpace: 0, bitWidth: bitWidth, accessSize: bitWidth / 8 == 4 ? 3 : bitWidth / 8, address: address)
    }

    /// The structure's 12 bytes.
    public var bytes: [UInt8] { [addressSpace, bitWidth, bitOffset, accessSize] + AML.littleEndian(address, 8) }
}

/// Builders for the tables themselves. Every function returns the finished
/// table bytes with the header filled in and the checksum set so the bytes sum
/// to zero.
///
/// ```swift
/// let dsdt = try ACPITable.dsdt(aml: try AML.name("\\_S5_", try AML.package([AML.integer(5), AML.integer(0)])))
/// let xsdt = try ACPITable.xsdt(entries: [0xe_1000, 0xe_2000])
/// let rsdp = ACPITable.rsdp(xsdtAddress: 0xe_0100)
/// ```
public enum ACPITable {
    /// The length of a system description table header.
    public static let headerLength = 36

    /// Wraps `body` in a header with `signature` and `revision`, then sets the checksum.
    public static func make(
        signature: String, revision: UInt8, body: [UInt8], oem: OEMIdentity = .swiftVMM
    )
        throws(ACPIError) -> [UInt8]
    {
        let name = Array(signature.utf8)
        guard name.count == 4 else { throw .invalidIdentifier }
        let length = headerLength + body.count
        guard length <= Int(UInt32.max) else { throw .tableTooLarge }
        var table = name + AML.littleEndian(UInt64(length), 4) + [revision, 0]
        table += oem.oemID + oem.oemTableID + AML.littleEndian(UInt64(oem.oemRevision), 4)
        table += oem.creatorID + AML.littleEndian(UInt64(oem.creatorRevision), 4)
        table += body
        table[9] = checksum(table)
        return table
    }

    /// The byte that makes `bytes` sum to zero modulo 256 (given that its own slot holds 0).
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt8 {
        var sum: UInt8 = 0
        for byte in bytes { sum &+= byte }
        return 0 &- sum
    }

    /// The Root System Description Pointer (ACPI 2.0+, 36 bytes) pointing at the XSDT.
    public static func rsdp(xsdtAddress: UInt64, oem: OEMIdentity = .swiftVMM) -> [UInt8] {
        var table = Array("RSD PTR ".utf8) + [0] + oem.oemID + [2] + [0, 0, 0, 0]  // no RSDT
        table += AML.littleEndian(36, 4) + AML.littleEndian(xsdtAddress, 8) + [0, 0, 0, 0]
        table[8] = checksum(table[0..<20])
        table[32] = checksum(table)
        return table
    }

    /// The Extended System Description Table listing the other tables' addresses.
    public static func xsdt(entries: [UInt64], oem: OEMIdentity = .swiftVMM) throws(ACPIError) -> [UInt8] {
        try make(signature: "XSDT", revision: 1, body: entries.flatMap { AML.littleEndian($0, 8) }, oem: oem)
    }

    /// The Differentiated System Description Table holding `aml`.
    public static func dsdt(aml: [UInt8], oem: OEMIdentity = .swiftVMM) throws(ACPIError) -> [UInt8] {
        try make(signature: "DSDT", revision: 2, body: aml, oem: oem)
    }
}

/// The Fixed ACPI Description Table (revision 6.5, 276 bytes) of a
/// hardware-reduced platform: no PM1/GPE blocks and no SCI, power managed
/// through the sleep control and status registers.
///
/// Linux powers off a hardware-reduced guest by writing
/// `SLP_TYPx << 2 | SLP_EN (0x20)` to the sleep control register, with
/// `SLP_TYPx` from the DSDT's `\_S5` package; the VMM traps that write. With
/// `\_S5 = Package() {5, ...}` the byte written is `0x34`.
///
/// ```swift
/// var fadt = FADT(dsdtAddress: 0xe_2000)
/// fadt.sleepControl = .io(port: 0x3c0)
/// fadt.sleepStatus = .io(port: 0x3c1)
/// let bytes = try fadt.bytes()
/// ```
public struct FADT: Equatable, Sendable {
    /// Table length for revision 6.
    public static let length = 276
    /// `HW_REDUCED_ACPI` (flag bit 20).
    public static let hardwareReducedFlag: UInt32 = 1 << 20
    /// `RESET_REG_SUP` (flag bit 10).
    public static let resetRegisterSupportedFlag: UInt32 = 1 << 10
    /// `PWR_BUTTON` (bit 4): no fixed-feature power button.
    public static let powerButtonFlag: UInt32 = 1 << 4
    /// `SLP_BUTTON` (bit 5): no fixed-feature sleep button.
    public static let sleepButtonFlag: UInt32 = 1 << 5
    /// `IAPC_BOOT_ARCH` bit 1: an 8042 keyboard controller is present.
    public static let has8042: UInt16 = 1 << 1
    /// `IAPC_BOOT_ARCH` bit 2: no VGA.
    public static let vgaNotPresent: UInt16 = 1 << 2
    /// `IAPC_BOOT_ARCH` bit 3: MSI must not be enabled.
    public static let msiNotSupported: UInt16 = 1 << 3
    /// `IAPC_BOOT_ARCH` bit 5: no CMOS RTC.
    public static let cmosRTCNotPresent: UInt16 = 1 << 5

    /// Address of the DSDT (written to both `DSDT` and `X_DSDT`).
    public var dsdtAddress: UInt64
    /// Flags (`HW_REDUCED_ACPI`, power and sleep buttons by default).
    public var flags: UInt32 = FADT.hardwareReducedFlag | FADT.powerButtonFlag | FADT.sleepButtonFlag
    /// `IAPC_BOOT_ARCH` (x86 legacy devices present or not).
    public var bootArchitectureFlags: UInt16 = FADT.vgaNotPresent
    /// `SLEEP_CONTROL_REG`.
    public var sleepControl: GenericAddress? = .io(port: 0x3c0)
    /// `SLEEP_STATUS_REG`.
    public var sleepStatus: GenericAddress? = .io(port: 0x3c1)
    /// `RESET_REG` and `RESET_VALUE`; setting it also sets `RESET_REG_SUP`.
    public var reset: (register: GenericAddress, value: UInt8)?
    /// `Hypervisor Vendor Identity`.
    public var hypervisorVendor: UInt64 = 0

    /// A hardware-reduced FADT pointing at the DSDT.
    public init(dsdtAddress: UInt64) { self.dsdtAddress = dsdtAddress }

    /// Compares every field (the reset tuple included).
    public static func == (lhs: FADT, rhs: FADT) -> Bool {
        lhs.dsdtAddress == rhs.dsdtAddress && lhs.flags == rhs.flags
            && lhs.bootArchitectureFlags == rhs.bootArchitectureFlags && lhs.sleepControl == rhs.sleepControl
            && lhs.sleepStatus == rhs.sleepStatus && lhs.reset?.register == rhs.reset?.register
            && lhs.reset?.value == rhs.reset?.value && lhs.hypervisorVendor == rhs.hypervisorVendor
    }

    /// The table's bytes.
    public func bytes(oem: OEMIdentity = .swiftVMM) throws(ACPIError) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: Self.length - ACPITable.headerLength)
        func put(_ bytes: [UInt8], at offset: Int) {
            for (index, byte) in bytes.enumerated() { body[offset - ACPITable.headerLength + index] = byte }
        }
        if dsdtAddress <= UInt64(UInt32.max) { put(AML.littleEndian(dsdtAddress, 4), at: 40) }
        put(AML.littleEndian(UInt64(bootArchitectureFlags), 2), at: 109)
        var flags = self.flags
        if let reset {
            flags |= Self.resetRegisterSupportedFlag
            put(reset.register.bytes, at: 116)
            put([reset.value], at: 128)
        }
        put(AML.littleEndian(UInt64(flags), 4), at: 112)
        put([5], at: 131)  // FADT minor version: ACPI 6.5
        put(AML.littleEndian(dsdtAddress, 8), at: 140)
        if let sleepControl { put(sleepControl.bytes, at: 244) }
        if let sleepStatus { put(sleepStatus.bytes, at: 256) }
        put(AML.littleEndian(hypervisorVendor, 8), at: 268)
        return try ACPITable.make(signature: "FACP", revision: 6, body: body, oem: oem)
    }
}

/// The Multiple APIC Description Table: one local APIC (x2APIC for ids above
/// 254) per vCPU, the I/O APICs, ISA interrupt source overrides and the LINT1 NMI.
///
/// ```swift
/// var madt = MADT(apicIDs: [0, 1, 2, 3])
/// madt.ioAPICs = [.init(id: 4, address: 0xfec0_0000, gsiBase: 0)]
/// madt.overrides = [.init(source: 0, gsi: 2, flags: 0)]  // PIT on GSI 2
/// let bytes = try madt.bytes()
/// ```
public struct MADT: Equatable, Sendable {
    /// An I/O APIC.
    public struct IOAPIC: Equatable, Sendable {
        /// I/O APIC id.
        public var id: UInt8
        /// Register window address.
        public var address: UInt32
        /// First GSI it serves.
        public var gsiBase: UInt32

        /// Describes an I/O APIC.
        public init(id: UInt8, address: UInt32 = 0xfec0_0000, gsiBase: UInt32 = 0) {
            self.id = id
            self.address = address
            self.gsiBase = gsiBase
        }
    }

    /// An interrupt source override (ISA IRQ `source` arrives on `gsi`).
    public struct Override: Equatable, Sendable {
        /// ISA IRQ.
        public var source: UInt8
        /// Global system interrupt.
        public var gsi: UInt32
        /// MPS INTI flags (polarity bits 0-1, trigger mode bits 2-3; 0 = conforms to the bus).
        public var flags: UInt16

        /// Describes an override.
        public init(source: UInt8, gsi: UInt32, flags: UInt16 = 0) {
            self.source = source
            self.gsi = gsi
            self.flags = flags
        }
    }

    /// The local APIC id of each vCPU, in processor-UID order.
    public var apicIDs: [UInt32]
    /// Local APIC register window.
    public var localAPICAddress: UInt32 = 0xfee0_0000
    /// `PCAT_COMPAT`: the platform also has dual 8259 PICs.
    public var pcatCompatible = true
    /// The I/O APICs.
    public var ioAPICs: [IOAPIC] = [IOAPIC(id: 0)]
    /// Interrupt source overrides.
    public var overrides: [Override] = [Override(source: 0, gsi: 2)]
    /// Connect every processor's LINT1 to NMI (as PC firmware does).
    public var lint1NMI = true

    /// A MADT with one local APIC per id.
    public init(apicIDs: [UInt32]) { self.apicIDs = apicIDs }

    /// The table's bytes.
    public func bytes(oem: OEMIdentity = .swiftVMM) throws(ACPIError) -> [UInt8] {
        var body = AML.littleEndian(UInt64(localAPICAddress), 4) + AML.littleEndian(pcatCompatible ? 1 : 0, 4)
        var seen: Set<UInt32> = []
        var needsX2APIC = false
        for (uid, id) in apicIDs.enumerated() {
            guard seen.insert(id).inserted else { throw .duplicateAPICID(id) }
            if id < 255 && uid < 255 {
                body += [0, 8, UInt8(uid), UInt8(id)] + AML.littleEndian(1, 4)  // Processor Local APIC, enabled
            } else {
                needsX2APIC = true
                body += [9, 16, 0, 0] + AML.littleEndian(UInt64(id), 4) + AML.littleEndian(1, 4)
                body += AML.littleEndian(UInt64(uid), 4)
            }
        }
        for ioAPIC in ioAPICs {
            body += [1, 12, ioAPIC.id, 0] + AML.littleEndian(UInt64(ioAPIC.address), 4)
            body += AML.littleEndian(UInt64(ioAPIC.gsiBase), 4)
        }
        for override in overrides {
            body += [2, 10, 0, override.source] + AML.littleEndian(UInt64(override.gsi), 4)
            body += AML.littleEndian(UInt64(override.flags), 2)
        }
        if lint1NMI {
            body += [4, 6, 0xff, 0, 0, 1]  // every processor, conforming flags, LINT1
            if needsX2APIC { body += [0x0a, 12, 0, 0] + AML.littleEndian(0xffff_ffff, 4) + [1, 0, 0, 0] }
        }
        return try ACPITable.make(signature: "APIC", revision: 5, body: body, oem: oem)
    }
}
