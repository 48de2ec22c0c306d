// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A table placed at a guest physical address.
public struct PlacedTable: Equatable, Sendable {
    /// The 4-byte signature ("RSDP" for the RSDP, whose own signature is "RSD PTR ").
    public var signature: [UInt8]
    /// Guest physical address.
    public var address: UInt64
    /// The table's bytes.
    public var bytes: [UInt8]

    /// The signature as text.
    public var name: String { String(decoding: signature, as: UTF8.self) }
}

/// The complete ACPI tables of a hardware-reduced x86 microVM: RSDP, XSDT,
/// FADT, MADT and a DSDT describing COM1, the virtio-mmio devices (as
/// `LNRO0005`, the id Linux's virtio-mmio driver matches) and `\_S5` for
/// power-off through the FADT's sleep control register.
///
/// ```swift
/// var tables = X86ACPITables(cpuCount: 2)
/// tables.virtioDevices = [.init(base: 0xd000_0000, size: 0x1000, gsi: 5)]
/// for table in try tables.build(rsdpAddress: 0xe_0000, tablesAddress: 0xe_1000) {
///     try memory.write(table.bytes, to: GuestAddress(table.address))
/// }
/// ```
public struct X86ACPITables: Sendable {
    /// A virtio-mmio device.
    public struct VirtioDevice: Equatable, Sendable {
        /// Register window base (below 4 GiB).
        public var base: UInt32
        /// Window size.
        public var size: UInt32
        /// GSI (I/O APIC input).
        public var gsi: UInt32

        /// Describes a device.
        public init(base: UInt32, size: UInt32 = 0x1000, gsi: UInt32) {
            self.base = base
            self.size = size
            self.gsi = gsi
        }
    }

    /// The local APIC ids (default `0..<cpuCount`).
    public var apicIDs: [UInt32]
    /// Describe COM1 (0x3f8, IRQ 4) in the DSDT.
    public var serialCOM1 = true
    /// virtio-mmio devices.
    public var virtioDevices: [VirtioDevice] = []
    /// `SLP_TYPx` for S5 (what Linux writes to the sleep control register, shifted by 2, with SLP_EN).
    public var s5SleepType: UInt8 = 5
    /// The FADT (its DSDT address is filled in by ``build(rsdpAddress:tablesAddress:)``).
    public var fadt = FADT(dsdtAddress: 0)
    /// The MADT template (its APIC ids are replaced by ``apicIDs``).
    public var madt = MADT(apicIDs: [])
    /// Table header identity.
    public var oem = OEMIdentity.swiftVMM

    /// Tables for `cpuCount` vCPUs with APIC ids 0...cpuCount-1.
    public init(cpuCount: Int) { apicIDs = (0..<cpuCount).map { UInt32($0) } }

    /// The DSDT's AML.
    public func dsdtAML() throws(ACPIError) -> [UInt8] {
        var devices: [[UInt8]] = []
        if serialCOM1 {
            devices.append(
                try AML.device(
                    "COM1",
                    [
                        try AML.name("_HID", try AML.eisaID("PNP0501")),
                        try AML.name("_UID", AML.integer(1)),
                        try AML.name("_CRS", try AML.resourceTemplate([.io(base: 0x3f8, length: 8), .irq(4)])),
                    ]))
        }
        for (index, device) in virtioDevices.enumerated() {
            let digits = Array("0123456789ABCDEF".utf8)
            let name = String(
                decoding: [0x56, digits[(index >> 8) & 15], digits[(index >> 4) & 15], digits[index & 15]],
                as: UTF8.self)
            devices.append(
                try AML.device(
                    name,
                    [
                        try AML.name("_HID", try AML.string("LNRO0005")),
                        try AML.name("_UID", AML.integer(UInt64(index))),
                        try AML.name(
                            "_CRS",
                            try AML.resourceTemplate([
                                .memory32Fixed(base: device.base, length: device.size, writable: true),
                                .interrupt(gsi: [device.gsi], edgeTriggered: true, activeLow: false, shared: false),
                            ])),
                    ]))
        }
        let sleep = AML.integer(UInt64(s5SleepType))
        return try AML.scope("\\_SB_", devices)
            + (try AML.name("\\_S5_", try AML.package([sleep, sleep, AML.integer(0), AML.integer(0)])))
    }

    /// Lays the tables out: the RSDP at `rsdpAddress`, the others from
    /// `tablesAddress` on, each 8-byte aligned, in the order DSDT, FADT, MADT, XSDT.
    public func build(rsdpAddress: UInt64, tablesAddress: UInt64) throws(ACPIError) -> [PlacedTable] {
        var placed: [PlacedTable] = []
        var cursor = tablesAddress
        func place(_ signature: StaticString, _ bytes: [UInt8]) -> UInt64 {
            let address = cursor
            // SAFETY: `signature` is a string literal: utf8Start points at utf8CodeUnitCount bytes of immortal storage.
            unsafe placed.append(
                PlacedTable(
                    signature: Array(
                        UnsafeBufferPointer(start: signature.utf8Start, count: signature.utf8CodeUnitCount)),
                    address: address, bytes: bytes))
            cursor = (cursor + UInt64(bytes.count) + 7) & ~7
            return address
        }
        let dsdtAddress = place("DSDT", try ACPITable.dsdt(aml: try dsdtAML(), oem: oem))
        var fadt = self.fadt
        fadt.dsdtAddress = dsdtAddress
        let fadtAddress = place("FACP", try fadt.bytes(oem: oem))
        var madt = self.madt
        madt.apicIDs = apicIDs
        let madtAddress = place("APIC", try madt.bytes(oem: oem))
        let xsdtAddress = place("XSDT", try ACPITable.xsdt(entries: [fadtAddress, madtAddress], oem: oem))
        placed.append(
            PlacedTable(
                signature: [0x52, 0x53, 0x44, 0x50], address: rsdpAddress,
                bytes: ACPITable.rsdp(xsdtAddress: xsdtAddress, oem: oem)))
        return placed
    }
}
