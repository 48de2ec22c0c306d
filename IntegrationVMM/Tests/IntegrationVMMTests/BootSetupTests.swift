// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets
import IntegrationVMMCore
import LinuxLoader
import Testing
import VMMemory
import X86Machine

@Suite("Boot setup into guest memory")
struct BootSetupTests {
    func memory(_ plan: BootPlan) throws -> GuestMemoryMap<BufferRegion> {
        try GuestMemoryMap(regions: [try BufferRegion(start: GuestAddress(0), size: plan.layout.lowMemorySize)])
    }

    @Test func layoutSplitsAroundTheMMIOGap() throws {
        let plan = try BootPlan(memorySize: 5000 << 20, vcpus: 4)
        #expect(plan.layout.ramRegions.count == 2)
        #expect(plan.layout.lowMemorySize == 3 << 30)
        #expect(plan.layout.highMemorySize == (5000 << 20) - (3 << 30))
        #expect(plan.bootTimerAddress >= plan.layout.mmioGapStart)
        let names = try plan.acpiTables().map(\.name)
        #expect(names.sorted() == ["APIC", "DSDT", "FACP", "RSDP", "XSDT"])
    }

    @Test func truncatedKernelGivesOneClearError() throws {
        let plan = try BootPlan(memorySize: 128 << 20, vcpus: 1)
        let guest = try memory(plan)
        for bytes in [[UInt8](), [0x7f, 0x45, 0x4c, 0x46, 2, 1], [UInt8](repeating: 0x90, count: 4096)] {
            do {
                _ = try BootImage.load(kernel: bytes, initrd: nil, commandLine: "quiet", into: guest, plan: plan)
                Issue.record("a \(bytes.count)-byte kernel was accepted")
            } catch {
                #expect(error.description.hasPrefix("kernel ("), "\(error)")
                #expect(!error.description.contains("\n"))
            }
        }
    }

    @Test func commandLineTooLongIsRefused() throws {
        let plan = try BootPlan(memorySize: 128 << 20, vcpus: 1)
        let long = String(repeating: "a", count: 3000)
        #expect(throws: VMMError.self) {
            _ = try BootImage.load(kernel: [], initrd: nil, commandLine: long, into: try memory(plan), plan: plan)
        }
    }

    @Test func realKernelLoadsThroughPVHWithInitrdModule() throws {
        guard let assets = GuestRequirement.assets(),
            let kernel = FileManager.default.contents(atPath: assets.kernel.path)
        else {
            try GuestRequirement.missing("the guest kernel (swift run vmm-tools guest)")
            return
        }
        let plan = try BootPlan(memorySize: 256 << 20, vcpus: 2)
        let guest = try memory(plan)
        let initrd = [UInt8](repeating: 0xab, count: 8192)
        let entry = try BootImage.load(
            kernel: [UInt8](kernel), initrd: initrd, commandLine: "console=ttyS0 quiet", into: guest, plan: plan)
        guard case .pvh = entry else {
            Issue.record("expected the PVH entry, got \(entry)")
            return
        }
        // hvm_start_info: magic, one module, command line and RSDP where the plan says.
        #expect(
            try guest.readLittleEndian(UInt32.self, from: X86MemoryLayout.pvhStartInfoAddress) == PVHStartInfo.magic)
        let info = X86MemoryLayout.pvhStartInfoAddress.rawValue
        #expect(try guest.readLittleEndian(UInt32.self, from: GuestAddress(info + 12)) == 1)
        #expect(try guest.readLittleEndian(UInt64.self, from: GuestAddress(info + 32)) == BootPlan.rsdpAddress)
        let module = try guest.readLittleEndian(UInt64.self, from: BootPlan.pvhModuleListAddress)
        #expect(try guest.read(count: 4, from: GuestAddress(module)) == [0xab, 0xab, 0xab, 0xab])
        let line = try guest.read(count: 19, from: X86MemoryLayout.commandLineAddress)
        #expect(String(decoding: line, as: UTF8.self) == "console=ttyS0 quiet")
        #expect(try guest.read(count: 8, from: GuestAddress(BootPlan.rsdpAddress)) == Array("RSD PTR ".utf8))

        let linux64 = try BootImage.load(
            kernel: [UInt8](kernel), initrd: nil, commandLine: "quiet", into: guest, plan: plan,
            preferLinux64Entry: true)
        guard case .linux64 = linux64 else {
            Issue.record("expected the 64-bit entry, got \(linux64)")
            return
        }
        #expect(
            Int(try guest.readLittleEndian(UInt8.self, from: GuestAddress(0x7000 + 0x1e8)))
                == plan.layout.e820Entries.count)  // E820 entries in the zero page
    }
}
