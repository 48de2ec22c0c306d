// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import ACPITables
import PortableTesting

func le32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
        | UInt32(bytes[offset + 3]) << 24
}

func le64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
    UInt64(le32(bytes, offset)) | UInt64(le32(bytes, offset + 4)) << 32
}

func sum(_ bytes: ArraySlice<UInt8>) -> UInt8 { bytes.reduce(0, &+) }

func utf8(_ text: StaticString) -> [UInt8] {
    Array(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
}

/// ACPITables' cases (host and riscv64).
public let allCases: [PortableTestCase] = [
    PortableTestCase("AML", "PkgLength uses 1 to 4 bytes as the spec encodes them") { () throws(TestFailure) in
        try expectEqual(try expectNoError { () throws(ACPIError) in try AML.packageLength(0) }, [0x01])
        try expectEqual(try expectNoError { () throws(ACPIError) in try AML.packageLength(0x3e) }, [0x3f])
        // 0x3f + 2 = 0x41: lead 0x41 (one byte follows, low nibble 1), then 0x04.
        try expectEqual(try expectNoError { () throws(ACPIError) in try AML.packageLength(0x3f) }, [0x41, 0x04])
        try expectEqual(try expectNoError { () throws(ACPIError) in try AML.packageLength(0xffd) }, [0x4f, 0xff])
        try expectEqual(try expectNoError { () throws(ACPIError) in try AML.packageLength(0xffe) }, [0x81, 0x00, 0x01])
        try expectEqual(
            try expectNoError { () throws(ACPIError) in try AML.packageLength(0xfff_fffb) }, [0xcf, 0xff, 0xff, 0xff])
        try expectError(.packageTooLong(0xfff_fffc)) { () throws(ACPIError) in _ = try AML.packageLength(0xfff_fffc) }
    },
    PortableTestCase("AML", "integers take the shortest encoding") { () throws(TestFailure) in
        try expectEqual(AML.integer(0), [0x00])
        try expectEqual(AML.integer(1), [0x01])
        try expectEqual(AML.integer(5), [0x0a, 5])
        try expectEqual(AML.integer(0x3f8), [0x0b, 0xf8, 0x03])
        try expectEqual(AML.integer(0xd000_0000), [0x0c, 0, 0, 0, 0xd0])
        try expectEqual(AML.integer(0x1_0000_0000), [0x0e, 0, 0, 0, 0, 1, 0, 0, 0])
    },
    PortableTestCase("AML", "names, paths, EISA ids and strings") { () throws(TestFailure) in
        try expectEqual(try expectNoError { () throws(ACPIError) in try AML.nameString("_S5") }, utf8("_S5_"))
        try expectEqual(
            try expectNoError { () throws(ACPIError) in try AML.nameString("\\_SB_") }, [0x5c] + utf8("_SB_"))
        try expectEqual(
            try expectNoError { () throws(ACPIError) in try AML.nameString("\\_SB.COM1") },
            [0x5c, 0x2e] + utf8("_SB_COM1"))
        try expectEqual(
            try expectNoError { () throws(ACPIError) in try AML.nameString("A.B.C") }, [0x2f, 3] + utf8("A___B___C___"))
        for bad: String in ["1ABC", "ABCDE", "a", "A..B", "", "A-B"] {
            try expectError(.invalidName) { () throws(ACPIError) in _ = try AML.nameString(bad) }
        }
        try expectEqual(
            try expectNoError { () throws(ACPIError) in try AML.eisaID("PNP0501") }, [0x0c, 0x41, 0xd0, 0x05, 0x01])
        try expectEqual(
            try expectNoError { () throws(ACPIError) in try AML.eisaID("PNP0A03") }, [0x0c, 0x41, 0xd0, 0x0a, 0x03])
        for bad: String in ["PNP050", "pnp0501", "PNP05G1"] {
            try expectError(.invalidEISAID) { () throws(ACPIError) in _ = try AML.eisaID(bad) }
        }
        try expectEqual(
            try expectNoError { () throws(ACPIError) in try AML.string("LNRO0005") }, [0x0d] + utf8("LNRO0005") + [0])
        try expectError(.invalidString) { () throws(ACPIError) in _ = try AML.string("a\u{0}b") }
    },
    PortableTestCase("AML", "resource descriptors have the documented layouts") { () throws(TestFailure) in
        try expectEqual(
            try expectNoError { () throws(ACPIError) in try ResourceDescriptor.io(base: 0x3f8, length: 8).bytes() },
            [0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08])
        try expectEqual(
            try expectNoError { () throws(ACPIError) in try ResourceDescriptor.irq(4).bytes() }, [0x22, 0x10, 0x00])
        try expectEqual(
            try expectNoError { () throws(ACPIError) in
                try ResourceDescriptor.memory32Fixed(base: 0xd000_0000, length: 0x1000, writable: true).bytes()
            }, [0x86, 0x09, 0x00, 0x01, 0, 0, 0, 0xd0, 0, 0x10, 0, 0])
        try expectEqual(
            try expectNoError { () throws(ACPIError) in
                try ResourceDescriptor.interrupt(gsi: [5], edgeTriggered: true, activeLow: false, shared: false).bytes()
            }, [0x89, 0x06, 0x00, 0x03, 0x01, 5, 0, 0, 0])
        try expectError(.invalidInterruptCount(0)) { () throws(ACPIError) in
            _ = try ResourceDescriptor.interrupt(gsi: [], edgeTriggered: true, activeLow: false, shared: false).bytes()
        }
        let template = try expectNoError { () throws(ACPIError) in try AML.resourceTemplate([.irq(4)]) }
        try expectEqual(template, [0x11, 0x08, 0x0a, 0x05, 0x22, 0x10, 0x00, 0x79, 0x00])
    },
    PortableTestCase("AML", "packages, scopes, devices and methods nest with correct lengths") {
        () throws(TestFailure) in
        let package = try expectNoError { () throws(ACPIError) in try AML.package([AML.integer(5), AML.integer(0)]) }
        try expectEqual(package, [0x12, 0x05, 0x02, 0x0a, 0x05, 0x00])
        let device = try expectNoError { () throws(ACPIError) in
            try AML.device("DEV0", [try AML.name("_UID", AML.integer(0))])
        }
        try expectEqual(device, [0x5b, 0x82, 0x0b] + utf8("DEV0") + [0x08] + utf8("_UID") + [0x00])
        let method = try expectNoError { () throws(ACPIError) in
            try AML.method("_STA", [AML.returnValue(AML.integer(0x0f))])
        }
        try expectEqual(method, [0x14, 0x09] + utf8("_STA") + [0x00, 0xa4, 0x0a, 0x0f])
        let big = try expectNoError { () throws(ACPIError) in try AML.buffer([UInt8](repeating: 7, count: 100)) }
        try expectEqual(Array(big[0..<4]), [0x11, 0x48, 0x06, 0x0a])  // PkgLength 0x68 in two bytes
        try expectEqual(big.count, 105)
        try expectError(.tooManyPackageElements(256)) { () throws(ACPIError) in
            _ = try AML.package([[UInt8]](repeating: [0], count: 256))
        }
    },
    PortableTestCase("ACPITable", "headers carry length, revision, OEM ids and a zero-sum checksum") {
        () throws(TestFailure) in
        let table = try expectNoError { () throws(ACPIError) in try ACPITable.dsdt(aml: [0x08] + utf8("ABCD") + [0x00])
        }
        try expectEqual(Array(table[0..<4]), utf8("DSDT"))
        try expectEqual(Int(le32(table, 4)), table.count)
        try expectEqual(table[8], 2)
        try expectEqual(sum(table[...]), 0)
        try expectEqual(Array(table[10..<16]), utf8("SWIFTV"))
        try expectEqual(Array(table[16..<24]), utf8("SWIFTVMM"))
        try expectError(.invalidIdentifier) { () throws(ACPIError) in _ = try OEMIdentity(oemID: "TOOLONGID") }
        try expectError(.invalidIdentifier) { () throws(ACPIError) in
            _ = try ACPITable.make(signature: "ABC", revision: 1, body: [])
        }
    },
    PortableTestCase("ACPITable", "RSDP has both checksums and points at the XSDT") { () throws(TestFailure) in
        let rsdp = ACPITable.rsdp(xsdtAddress: 0x1_2345_6780)
        try expectEqual(rsdp.count, 36)
        try expectEqual(Array(rsdp[0..<8]), utf8("RSD PTR "))
        try expectEqual(sum(rsdp[0..<20]), 0)
        try expectEqual(sum(rsdp[...]), 0)
        try expectEqual(rsdp[15], 2)
        try expectEqual(le32(rsdp, 20), 36)
        try expectEqual(le64(rsdp, 24), 0x1_2345_6780)
        let xsdt = try expectNoError { () throws(ACPIError) in try ACPITable.xsdt(entries: [0xe_1000, 0xe_2000]) }
        try expectEqual(xsdt.count, 36 + 16)
        try expectEqual(le64(xsdt, 44), 0xe_2000)
        try expectEqual(sum(xsdt[...]), 0)
    },
    PortableTestCase("FADT", "is hardware-reduced with sleep control and status registers") { () throws(TestFailure) in
        var fadt = FADT(dsdtAddress: 0xe_2000)
        fadt.reset = (GenericAddress.io(port: 0xcf9), 0x06)
        let table = try expectNoError { () throws(ACPIError) in try fadt.bytes() }
        try expectEqual(table.count, 276)
        try expectEqual(Array(table[0..<4]), utf8("FACP"))
        try expectEqual(table[8], 6)
        try expectEqual(table[131], 5)
        try expectEqual(sum(table[...]), 0)
        try expectEqual(le32(table, 40), 0xe_2000)
        try expectEqual(le64(table, 140), 0xe_2000)
        let flags = le32(table, 112)
        try expect(flags & (1 << 20) != 0, "HW_REDUCED_ACPI")
        try expect(flags & (1 << 10) != 0, "RESET_REG_SUP")
        try expectEqual(Array(table[116..<120]), [1, 8, 0, 1])
        try expectEqual(table[128], 6)
        try expectEqual(Array(table[244..<248]), [1, 8, 0, 1], "SLEEP_CONTROL_REG is an 8-bit I/O register")
        try expectEqual(le64(table, 248), 0x3c0)
        try expectEqual(le64(table, 260), 0x3c1)
        try expectEqual(le32(table, 56), 0, "no PM1a event block")
    },
    PortableTestCase("MADT", "one local APIC per vCPU, x2APIC above 254, IOAPIC and overrides") {
        () throws(TestFailure) in
        let table = try expectNoError { () throws(ACPIError) in try MADT(apicIDs: [0, 1, 300]).bytes() }
        try expectEqual(Array(table[0..<4]), utf8("APIC"))
        try expectEqual(sum(table[...]), 0)
        try expectEqual(le32(table, 36), 0xfee0_0000)
        try expectEqual(le32(table, 40), 1)
        try expectEqual(Array(table[44..<52]), [0, 8, 0, 0, 1, 0, 0, 0])
        try expectEqual(Array(table[52..<60]), [0, 8, 1, 1, 1, 0, 0, 0])
        try expectEqual(Array(table[60..<64]), [9, 16, 0, 0])
        try expectEqual(le32(table, 64), 300)
        try expectEqual(le32(table, 72), 2, "x2APIC processor UID")
        try expectEqual(Array(table[76..<80]), [1, 12, 0, 0])
        try expectEqual(le32(table, 80), 0xfec0_0000)
        try expectEqual(Array(table[88..<92]), [2, 10, 0, 0])
        try expectEqual(le32(table, 92), 2, "IRQ0 -> GSI2")
        try expectEqual(Array(table[98..<104]), [4, 6, 0xff, 0, 0, 1])
        try expectEqual(table[104], 0x0a)
        try expectEqual(table.count, 116)
        try expectError(.duplicateAPICID(1)) { () throws(ACPIError) in _ = try MADT(apicIDs: [0, 1, 1]).bytes() }
    },
    PortableTestCase("X86ACPITables", "lays out linked tables with valid checksums") { () throws(TestFailure) in
        var set = X86ACPITables(cpuCount: 2)
        set.virtioDevices = [.init(base: 0xd000_0000, gsi: 5), .init(base: 0xd000_1000, gsi: 6)]
        let tables = try expectNoError { () throws(ACPIError) in
            try set.build(rsdpAddress: 0xe_0000, tablesAddress: 0xe_1000)
        }
        try expectEqual(tables.count, 5)
        for table in tables { try expectEqual(sum(table.bytes[...]), 0, "table checksum") }
        let dsdt = tables[0]
        let fadt = tables[1]
        let madt = tables[2]
        let xsdt = tables[3]
        let rsdp = tables[4]
        try expectEqual(dsdt.address, 0xe_1000)
        try expectEqual(le64(fadt.bytes, 140), dsdt.address)
        try expectEqual(le64(xsdt.bytes, 36), fadt.address)
        try expectEqual(le64(xsdt.bytes, 44), madt.address)
        try expectEqual(le64(rsdp.bytes, 24), xsdt.address)
        try expectEqual(rsdp.address, 0xe_0000)
        for table in tables.dropLast() { try expectEqual(table.address % 8, 0) }
        // The _S5 package: Name(\_S5_, Package(4) {5, 5, 0, 0}) closes the DSDT.
        try expectEqual(
            Array(dsdt.bytes.suffix(15)), [0x08, 0x5c] + utf8("_S5_") + [0x12, 0x08, 0x04, 0x0a, 5, 0x0a, 5, 0, 0])
    },
]
