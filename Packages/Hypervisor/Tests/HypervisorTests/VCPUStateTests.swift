// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Hypervisor
import Testing
import X86Machine

/// Generic over the hypervisor: a VMM sets up a vCPU's x86 state only through the protocols.
func configureBootState<H: Hypervisor>(
    _ hypervisor: H, _ cpu: H.Machine.CPU
) throws(HypervisorError) -> [CPUIDEntry] {
    let entries = CPUIDPolicy(cpuCount: 1).entries(forVCPU: 0, supported: try hypervisor.supportedCPUID())
    try cpu.setCPUID(entries)
    try cpu.setMSRs(BootMSRs.entries)
    try cpu.setFPU(FPUState(controlWord: BootFPU.controlWord, mxcsr: BootFPU.mxcsr))
    var apic = try cpu.localAPIC()
    LocalAPIC.configureLINTs(&apic.registers)
    try cpu.setLocalAPIC(apic)
    return entries
}

@Suite("VirtualCPU: x86 state in X86Machine's types, through the protocols", .serialized)
struct VCPUStateTests {
    /// What is set is read back: every CPUID leaf set comes back with its values (the
    /// hypervisor may add leaves of its own), MSRs, the FPU's words and registers, the
    /// local APIC's LINT modes, and every special register the type carries.
    @Test func stateSetThroughTheProtocolsReadsBack() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        let vm = try hypervisor.createVirtualMachine()
        try vm.createInterruptController()
        let cpu = try vm.createVirtualCPU(id: 0, operations: nil)
        let entries = try configureBootState(hypervisor, cpu)
        #expect(!entries.isEmpty)

        // The hypervisor fills in fields of its own (APIC IDs, XSAVE sizes, OS-enabled bits),
        // so what is read back is what is set again: reading and setting must be lossless.
        let readBack = try cpu.cpuid()
        for entry in entries {
            #expect(
                readBack.contains {
                    $0.function == entry.function
                        && ($0.index == entry.index || entry.flags & CPUIDEntry.significantIndex == 0)
                }, "leaf \(entry.function) subleaf \(entry.index) is missing")
        }
        #expect(readBack.first { $0.function == 0 } == entries.first { $0.function == 0 }, "the vendor leaf")
        try cpu.setCPUID(readBack)
        #expect(try cpu.cpuid() == readBack)

        let star = ModelSpecificRegister(index: BootMSRs.star, value: 0x0023_0010_0000_0000)
        let lstar = ModelSpecificRegister(index: BootMSRs.lstar, value: 0xffff_ffff_8100_0000)
        try cpu.setMSRs([star, lstar])
        #expect(try cpu.msrs([BootMSRs.star, BootMSRs.lstar]) == [star, lstar])

        var fpu = FPUState(controlWord: 0x27f, mxcsr: 0x7f80)
        fpu.xmm[0] = 0xab
        fpu.xmm[255] = 0xcd
        fpu.registers[0] = 0x11
        try cpu.setFPU(fpu)
        let fpuBack = try cpu.fpu()
        // MXCSR is not asserted: KVM on PVM reads it back as 0 after KVM_SET_FPU (the SSE
        // component stays in its init state); a snapshot carries it in the XSAVE area.
        #expect(fpuBack.controlWord == 0x27f)
        #expect(fpuBack.xmm == fpu.xmm && fpuBack.registers[0] == 0x11)

        let apic = try cpu.localAPIC()
        #expect(apic.registers.count == LocalAPICState.size)
        #expect(LocalAPIC.deliveryMode(apic.registers, at: LocalAPIC.lint0Offset) == LocalAPIC.extINT)
        #expect(LocalAPIC.deliveryMode(apic.registers, at: LocalAPIC.lint1Offset) == LocalAPIC.nmi)

        // Long mode as integration-vmm enters it: segments from X86Machine's boot GDT.
        var special = try cpu.specialRegisters()
        let control = LongModeRegisters(cr3: X86MemoryLayout.pml4Address.rawValue)
        special.cs = BootGDT.longMode.segment(1)
        special.ds = BootGDT.longMode.segment(2)
        special.gdt = DescriptorTable(base: X86MemoryLayout.gdtAddress.rawValue, limit: BootGDT.longMode.limit)
        special.cr0 = control.cr0
        special.cr3 = control.cr3
        special.cr4 = control.cr4
        special.efer = control.efer
        special.cr8 = 3
        try cpu.setSpecialRegisters(special)
        let specialBack = try cpu.specialRegisters()
        #expect(specialBack.cs == special.cs && specialBack.ds == special.ds && specialBack.cr3 == special.cr3)
        #expect(specialBack.gdt == special.gdt && specialBack.cr8 == 3 && specialBack.apicBase == special.apicBase)
    }

    /// A refused MSR is an error, not a silent partial write.
    @Test func anMSRTheHypervisorRefusesIsAnError() throws {
        guard let hypervisor = openHypervisorOrSkip() else { return }
        // A host with kvm.ignore_msrs=Y accepts every MSR: there is nothing to refuse.
        let ignoring = try? String(contentsOfFile: "/sys/module/kvm/parameters/ignore_msrs", encoding: .utf8)
        if ignoring?.hasPrefix("Y") == true {
            print("⚠️ SKIPPED \(#function): kvm.ignore_msrs=Y, KVM refuses no MSR")
            return
        }
        let vm = try hypervisor.createVirtualMachine()
        let cpu = try vm.createVirtualCPU(id: 0, operations: nil)
        #expect(throws: HypervisorError.self) {
            try cpu.setMSRs([ModelSpecificRegister(index: 0x4b56_ffff, value: 1)])
        }
    }
}
