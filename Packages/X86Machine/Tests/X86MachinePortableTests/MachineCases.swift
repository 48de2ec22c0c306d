// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import LinuxLoader
import PortableTesting
import VMMemory
import X86Machine

func le64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
    var value: UInt64 = 0
    for index in stride(from: 7, through: 0, by: -1) { value = value << 8 | UInt64(bytes[offset + index]) }
    return value
}

func le32(_ bytes: [UInt8], _ offset: Int) -> UInt32 { UInt32(truncatingIfNeeded: le64(bytes + [0, 0, 0, 0], offset)) }

func memory(_ size: UInt64) throws(TestFailure) -> GuestMemoryMap<BufferRegion> {
    try expectNoError { () throws(GuestMemoryError) in
        try GuestMemoryMap(regions: [try BufferRegion(start: GuestAddress(0), size: size)])
    }
}

let layoutCases: [PortableTestCase] = [
    PortableTestCase("X86MemoryLayout", "64 MiB fits below the gap") { () throws(TestFailure) in
        let layout = try expectNoError { () throws(X86MachineError) in try X86MemoryLayout(memorySize: 64 << 20) }
        try expectEqual(layout.ramRegions.count, 1)
        try expectEqual(layout.ramRegions[0].size, 64 << 20)
        try expectEqual(layout.memoryEnd, 64 << 20)
        let e820 = layout.e820Entries
        try expectEqual(e820.count, 4)
        try expectEqual(e820[0], E820Entry(address: 0, size: 0x9_fc00, type: .ram))
        try expectEqual(e820[1], E820Entry(address: 0x9_fc00, size: 0x400, type: .reserved))
        try expectEqual(e820[2], E820Entry(address: 0xe_0000, size: 0x2_0000, type: .reserved))
        try expectEqual(e820[3], E820Entry(address: 0x10_0000, size: (64 << 20) - 0x10_0000, type: .ram))
    },
    PortableTestCase("X86MemoryLayout", "RAM beyond the MMIO gap continues at 4 GiB") { () throws(TestFailure) in
        for gib: UInt64 in [3, 4, 16, 17, 1024] {
            let layout = try expectNoError { () throws(X86MachineError) in try X86MemoryLayout(memorySize: gib << 30) }
            try expectEqual(layout.lowMemorySize, Swift.min(gib << 30, 3 << 30))
            try expectEqual(layout.highMemorySize, (gib << 30) - layout.lowMemorySize)
            var total: UInt64 = 0
            for entry in layout.e820Entries where entry.type == 1 { total += entry.size }
            try expectEqual(total, (gib << 30) - 0x6_0400, "E820 RAM = all RAM minus the EBDA and the BIOS hole")
            for entry in layout.e820Entries {
                try expect(entry.address + entry.size <= 3 << 30 || entry.address >= 4 << 30, "RAM inside the MMIO gap")
            }
        }
        let sixteen = try expectNoError { () throws(X86MachineError) in try X86MemoryLayout(memorySize: 16 << 30) }
        try expectEqual(sixteen.ramRegions[1].start, GuestAddress(4 << 30))
        try expectEqual(sixteen.memoryEnd, 17 << 30)
        try expectEqual(sixteen.mmioGap.lowerBound, 3 << 30)
        try expectEqual(sixteen.mmioGap.upperBound, 4 << 30)
    },
    PortableTestCase("X86MemoryLayout", "refuses sizes and gaps it cannot lay out") { () throws(TestFailure) in
        try expectError(.memoryTooSmall(size: 1 << 20, minimum: 2 << 20)) { () throws(X86MachineError) in
            _ = try X86MemoryLayout(memorySize: 1 << 20)
        }
        try expectError(.memoryNotPageAligned((64 << 20) + 1)) { () throws(X86MachineError) in
            _ = try X86MemoryLayout(memorySize: (64 << 20) + 1)
        }
        try expectError(.invalidMMIOGap(start: 0xd010_0000)) { () throws(X86MachineError) in
            _ = try X86MemoryLayout(memorySize: 64 << 20, mmioGapStart: 0xd010_0000)
        }
        try expectError(.invalidMMIOGap(start: 1 << 32)) { () throws(X86MachineError) in
            _ = try X86MemoryLayout(memorySize: 64 << 20, mmioGapStart: 1 << 32)
        }
        try expectError(.memoryTooLarge(1 << 52)) { () throws(X86MachineError) in
            _ = try X86MemoryLayout(memorySize: 1 << 52)
        }
    },
]

let longModeCases: [PortableTestCase] = [
    PortableTestCase("BootGDT", "packs the classic long-mode descriptors") { () throws(TestFailure) in
        let gdt = BootGDT.longMode
        try expectEqual(gdt.entries[1].rawValue, 0x00af_9b00_0000_ffff)
        try expectEqual(gdt.entries[2].rawValue, 0x00cf_9300_0000_ffff)
        try expectEqual(gdt.entries[3].rawValue, 0x008f_8b00_0000_ffff)
        try expectEqual(gdt.limit, 31)
        let code = gdt.segment(1)
        try expectEqual(code.selector, 8)
        try expectEqual(code.long, true)
        try expectEqual(code.db, false)
        try expectEqual(code.type, 0xb)
        try expectEqual(code.present, true)
        try expectEqual(code.codeOrData, true)
        try expectEqual(code.limit, 0xffff_ffff)
        let data = gdt.segment(2)
        try expectEqual(data.selector, 0x10)
        try expectEqual(data.db, true)
        try expectEqual(data.type, 3)
        let tss = gdt.segment(3)
        try expectEqual(tss.codeOrData, false)
        try expectEqual(tss.limit, 0xffff_ffff)
        try expectEqual(GDTEntry(rawValue: 0).segment(index: 0).unusable, true)
        let based = GDTEntry(flags: 0xc093, base: 0x1234_5678, limit: 0xabcde).segment(index: 5)
        try expectEqual(based.base, 0x1234_5678)
        try expectEqual(based.limit, 0xabcd_efff)
        try expectEqual(BootGDT.protectedMode.segment(1).db, true)
        try expectEqual(BootGDT.protectedMode.segment(1).long, false)
    },
    PortableTestCase("BootGDT", "writes the GDT at 0x500 and an empty IDT") { () throws(TestFailure) in
        let ram = try memory(1 << 20)
        try expectNoError { () throws(GuestMemoryError) in try ram.fill(0xff, count: 8, at: GuestAddress(0x520)) }
        try expectNoError { () throws(X86MachineError) in try BootGDT.longMode.write(to: ram) }
        let bytes = try expectNoError { () throws(GuestMemoryError) in
            try ram.read(count: 40, from: GuestAddress(0x500))
        }
        try expectEqual(le64(bytes, 8), 0x00af_9b00_0000_ffff)
        try expectEqual(le64(bytes, 32), 0, "IDT not cleared")
    },
    PortableTestCase("IdentityPageTables", "map each GiB with 2 MiB pages") { () throws(TestFailure) in
        let tables = try expectNoError { () throws(X86MachineError) in try IdentityPageTables(mappedBytes: 4 << 30) }
        try expectEqual(tables.directoryCount, 4)
        try expectEqual(tables.size, 6 * 4096)
        try expectEqual(tables.cr3, 0x9000)
        let ram = try memory(1 << 20)
        try expectNoError { () throws(X86MachineError) in try tables.write(to: ram) }
        let bytes = try expectNoError { () throws(GuestMemoryError) in
            try ram.read(count: 6 * 4096, from: GuestAddress(0x9000))
        }
        try expectEqual(le64(bytes, 0), 0xa003)
        try expectEqual(le64(bytes, 8), 0)
        try expectEqual(le64(bytes, 0x1000), 0xb003)
        try expectEqual(le64(bytes, 0x1018), 0xe003)
        try expectEqual(le64(bytes, 0x1020), 0)
        try expectEqual(le64(bytes, 0x2000), 0x83)
        try expectEqual(le64(bytes, 0x2008), 0x20_0083)
        try expectEqual(le64(bytes, 0x5ff8), (4 << 30) - (2 << 20) | 0x83, "last 2 MiB page below 4 GiB")
        try expectError(.identityMappingTooLarge(513 << 30)) { () throws(X86MachineError) in
            _ = try IdentityPageTables(mappedBytes: 513 << 30)
        }
        let registers = LongModeRegisters(cr3: tables.cr3)
        try expectEqual(registers.cr0 & 0x8000_0001, 0x8000_0001)
        try expectEqual(registers.cr4 & 0x20, 0x20)
        try expectEqual(registers.efer, 0x500)
    },
    PortableTestCase("BootRegisters", "Linux 64-bit and PVH entries, MSRs, FPU and LINTs") { () throws(TestFailure) in
        let linux = BootRegisters.linux64(entry: GuestAddress(0x100_0200), zeroPage: X86MemoryLayout.zeroPageAddress)
        try expectEqual(linux.rip, 0x100_0200)
        try expectEqual(linux.rsi, 0x7000)
        try expectEqual(linux.rflags, 2)
        try expectEqual(linux.rsp, 0x8ff0)
        let pvh = BootRegisters.pvh(entry: GuestAddress(0x100_0000), startInfo: X86MemoryLayout.pvhStartInfoAddress)
        try expectEqual(pvh.rbx, 0x6000)
        try expectEqual(BootFPU.controlWord, 0x37f)
        try expectEqual(BootFPU.mxcsr, 0x1f80)
        let misc = BootMSRs.entries.first { $0.index == 0x1a0 }
        try expectEqual(misc?.value ?? 0, 1)
        let mtrr = BootMSRs.entries.first { $0.index == 0x2ff }
        try expectEqual(mtrr?.value ?? 0, 0x806)
        var page = [UInt8](repeating: 0, count: 1024)
        page[0x350 + 1] = 0x07  // junk in the delivery-mode bits
        page[0x350] = 0x30  // a vector that must survive
        page[0x362] = 0x01  // the mask bit (16) must survive
        LocalAPIC.configureLINTs(&page)
        try expectEqual(LocalAPIC.deliveryMode(page, at: 0x350), 7)
        try expectEqual(LocalAPIC.deliveryMode(page, at: 0x360), 4)
        try expectEqual(page[0x350], 0x30)
        try expectEqual(page[0x362], 0x01)
        var short = [UInt8](repeating: 0, count: 16)
        LocalAPIC.configureLINTs(&short)
        try expectEqual(short, [UInt8](repeating: 0, count: 16))
    },
]

let mpTableCases: [PortableTestCase] = [
    PortableTestCase("MPTable", "floating pointer and configuration table with checksums") { () throws(TestFailure) in
        let table = try expectNoError { () throws(X86MachineError) in try MPTable(cpuCount: 4) }
        let bytes = table.bytes
        try expectEqual(Array(bytes[0..<4]), [0x5f, 0x4d, 0x50, 0x5f])  // _MP_
        try expectEqual(le32(bytes, 4), 0x9_fc10)
        try expectEqual(bytes[0..<16].reduce(0, &+), 0, "floating pointer checksum")
        let configuration = Array(bytes[16...])
        try expectEqual(Array(configuration[0..<4]), [0x50, 0x43, 0x4d, 0x50])  // PCMP
        let length = Int(configuration[4]) | Int(configuration[5]) << 8
        try expectEqual(length, configuration.count)
        try expectEqual(configuration.reduce(0, &+), 0, "configuration table checksum")
        try expectEqual(Int(configuration[34]) | Int(configuration[35]) << 8, 4 + 2 + 16 + 2, "entry count")
        try expectEqual(le32(configuration, 36), 0xfee0_0000)
        try expectEqual(Array(configuration[44..<48]), [0, 0, 0x14, 0x03], "BSP entry")
        try expectEqual(Array(configuration[64..<68]), [0, 1, 0x14, 0x01], "AP entry")
        try expectEqual(Array(configuration[124..<128]), [1, 0, 0x49, 0x53], "ISA bus")
        try expectEqual(Array(configuration[132..<136]), [2, 4, 0x11, 1], "I/O APIC")
        try expectEqual(bytes.count <= MPTable.maximumSize, true)
        let ram = try memory(1 << 20)
        try expectNoError { () throws(X86MachineError) in try table.write(to: ram) }
        try expectEqual(
            try expectNoError { () throws(GuestMemoryError) in try ram.read(count: 4, from: GuestAddress(0x9_fc00)) },
            [0x5f, 0x4d, 0x50, 0x5f])
    },
    PortableTestCase("MPTable", "refuses more CPUs than fit in the EBDA") { () throws(TestFailure) in
        _ = try expectNoError { () throws(X86MachineError) in try MPTable(cpuCount: 40) }
        try expectError(.tooManyCPUsForMPTable(41)) { () throws(X86MachineError) in _ = try MPTable(cpuCount: 41) }
        try expectError(.tooManyCPUsForMPTable(0)) { () throws(X86MachineError) in _ = try MPTable(cpuCount: 0) }
    },
]

/// A supported list shaped like KVM's on a modern Intel host.
func sampleSupported() -> [CPUIDEntry] {
    [
        CPUIDEntry(function: 0, eax: 0x1f, ebx: 0x756e_6547),
        CPUIDEntry(function: 1, eax: 0x806c1, ebx: 0x0008_0800, ecx: 0xf7fa_3223, edx: 0x0f8b_fbff),
        CPUIDEntry(function: 4, index: 0, flags: 1, eax: 0x1c00_4121),
        CPUIDEntry(function: 4, index: 3, flags: 1, eax: 0x1c03_c163),
        CPUIDEntry(function: 7, index: 0, flags: 1, ebx: 0xf2bf_27ef, ecx: 0x1840_5f4e),
        CPUIDEntry(function: 0xb, index: 0, flags: 1, eax: 1, ebx: 2, ecx: 0x100),
        CPUIDEntry(function: 0xd, index: 0, flags: 1, eax: 0xe7),
        CPUIDEntry(function: 0xd, index: 1, flags: 1, eax: 0xf),
        CPUIDEntry(function: 0x4000_0001, eax: 0x0100_7afb),
        CPUIDEntry(function: 0x8000_0001, ecx: 0x121, edx: 0x2c10_0800),
    ]
}

let cpuidCases: [PortableTestCase] = [
    PortableTestCase("CPUIDPolicy", "sets APIC ids, counts and the hypervisor bit per vCPU") { () throws(TestFailure) in
        let policy = CPUIDPolicy(cpuCount: 4)
        let entries = policy.entries(forVCPU: 2, supported: sampleSupported())
        let leaf1 = entries.first { $0.function == 1 }
        try expectEqual((leaf1?.ebx ?? 0) >> 24, 2, "initial APIC id")
        try expectEqual(((leaf1?.ebx ?? 0) >> 16) & 0xff, 4, "logical processor count")
        try expectEqual((leaf1?.ebx ?? 0) & 0xffff, 0x0800, "CLFLUSH size kept")
        try expectEqual((leaf1?.ecx ?? 0) >> 31, 1, "hypervisor bit")
        try expectEqual(((leaf1?.edx ?? 0) >> 28) & 1, 1, "HTT")
        let l1 = entries.first { $0.function == 4 && $0.index == 0 }
        try expectEqual((l1?.eax ?? 0) >> 26, 3, "cores per package - 1")
        try expectEqual(((l1?.eax ?? 0) >> 14) & 0xfff, 0, "L1 is private")
        let l3 = entries.first { $0.function == 4 && $0.index == 3 }
        try expectEqual(((l3?.eax ?? 0) >> 14) & 0xfff, 3, "L3 is shared by all")
        let single = CPUIDPolicy(cpuCount: 1).entries(forVCPU: 0, supported: sampleSupported())
        try expectEqual(((single.first { $0.function == 1 }?.edx ?? 0) >> 28) & 1, 0, "no HTT with one vCPU")
    },
    PortableTestCase("CPUIDPolicy", "rebuilds the extended topology leaf") { () throws(TestFailure) in
        let entries = CPUIDPolicy(cpuCount: 6).entries(forVCPU: 5, supported: sampleSupported())
        let topology = entries.filter { $0.function == 0xb }
        try expectEqual(topology.count, 3)
        try expectEqual(topology[0].eax, 0)
        try expectEqual(topology[0].ebx, 1)
        try expectEqual(topology[0].ecx, 0x100)
        try expectEqual(topology[1].eax, 3, "ceil(log2(6))")
        try expectEqual(topology[1].ebx, 6)
        try expectEqual(topology[1].ecx, 0x201)
        try expectEqual(topology[2].ecx, 2, "invalid level terminates")
        for entry in topology {
            try expectEqual(entry.edx, 5, "x2APIC id")
            try expectEqual(entry.flags, 1)
        }
    },
    PortableTestCase("CPUIDPolicy", "passes hypervisor leaves through with KVM's signature") { () throws(TestFailure) in
        let entries = CPUIDPolicy(cpuCount: 1).entries(forVCPU: 0, supported: sampleSupported())
        let signature = entries.first { $0.function == 0x4000_0000 }
        try expectEqual(signature?.ebx ?? 0, 0x4b4d_564b)
        try expectEqual(signature?.ecx ?? 0, 0x564b_4d56)
        try expectEqual(signature?.edx ?? 0, 0x4d)
        try expectEqual(signature?.eax ?? 0, 0x4000_0001)
        try expectEqual(
            entries.first { $0.function == 0x4000_0001 }?.eax ?? 0, 0x0100_7afb, "KVM features passed through")
    },
    PortableTestCase("CPUIDPolicy", "hides what the PVM host cannot run, with dependents") { () throws(TestFailure) in
        var policy = CPUIDPolicy(cpuCount: 2)
        policy.hiddenFeatures = CPUIDFeature.unsupportedOnPVM
        let entries = policy.entries(forVCPU: 0, supported: sampleSupported())
        let leaf1 = entries.first { $0.function == 1 }?.ecx ?? 0xffff_ffff
        for bit: UInt32 in [13, 22, 23, 26, 27, 28, 12, 29] {
            try expectEqual((leaf1 >> bit) & 1, 0, "leaf 1 ECX bit hidden")
        }
        try expectEqual((leaf1 >> 21) & 1, 1, "x2APIC kept")
        let leaf7 = entries.first { $0.function == 7 }
        for bit: UInt32 in [5, 10, 16, 20, 24] {
            try expectEqual(((leaf7?.ebx ?? 0xffff_ffff) >> bit) & 1, 0, "leaf 7 EBX bit hidden")
        }
        try expectEqual(((leaf7?.ebx ?? 0) >> 0) & 1, 1, "FSGSBASE kept")
        try expectEqual(((leaf7?.ecx ?? 0xffff_ffff) >> 22) & 1, 0, "RDPID hidden")
        try expectEqual(
            ((entries.first { $0.function == 0x8000_0001 }?.edx ?? 0xffff_ffff) >> 27) & 1, 0, "RDTSCP hidden")
        try expect(!entries.contains { $0.function == 0xd }, "XSAVE leaf 0xD removed")
    },
    PortableTestCase("CPUIDPolicy", "the adjust hook sees every entry and the vCPU index") { () throws(TestFailure) in
        var policy = CPUIDPolicy(cpuCount: 3)
        policy.adjust = { entry, vcpu in
            if entry.function == 6 || entry.function == 0 { entry.ecx = UInt32(vcpu) }
        }
        let entries = policy.entries(forVCPU: 2, supported: sampleSupported())
        try expectEqual(entries.first { $0.function == 0 }?.ecx ?? 0, 2)
    },
]

/// X86Machine's cases (host and riscv64).
public let allCases: [PortableTestCase] = layoutCases + longModeCases + mpTableCases + cpuidCases
