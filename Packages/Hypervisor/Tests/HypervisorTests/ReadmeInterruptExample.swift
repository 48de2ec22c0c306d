// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Hypervisor
import Testing
import VMDevice
import X86Machine

/// The README's interrupt example: its lines after the imports are the first lines of
/// this body, indented by four (checked below), so the README shows code that runs.
func readmeInterruptExample() throws -> (KVMVirtualMachine, KVMMSIInterruptGroup) {
    let vm = try KVMHypervisor().createVirtualMachine()
    try vm.createInterruptController()  // in-kernel PIC, IOAPIC and local APICs

    // A serial port on IRQ 4.
    let serial = try KVMLegacyInterruptGroup(vm: vm, lines: [LegacyInterruptLine(pin: 4)])
    try serial.enable()
    try serial.trigger(index: 0)

    // A virtio-pci device with two MSI-X vectors: GSIs 24 and 25 of the VM's table.
    let routing = try KVMGSIRoutingTable(vm: vm)  // exactly one per VM
    let msix = try KVMMSIInterruptGroup(routing: routing, count: 2)
    // The guest programs entry 0 (APIC 0, vector 0x41) and sets MSI-X Enable.
    try msix.update(index: 0, route: .msi(MSIMessage(address: 0xFEE0_0000, data: 0x41)), masked: false)
    try msix.enable()
    try msix.trigger(index: 0)
    try msix.trigger(index: 1)  // not programmed yet: dropped, as while masked
    return (vm, msix)
}

/// The lines of the file at `relative` from the package root.
private func packageLines(_ relative: String) throws -> [Substring] {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/HypervisorTests/<this file>
    let path = parts.joined(separator: "/") + "/" + relative
    let file = try #require(fopen(path, "r"), "cannot open \(path)")
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count == 0 { break }
        bytes += chunk[..<count]
    }
    return String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
}

@Suite struct ReadmeInterruptExampleTests {
    @Test func theReadmeShowsTheTestedExample() throws {
        let readme = try packageLines("README.md")
        let section = try #require(readme.firstIndex(of: "## Device interrupts over KVM irqfd"))
        let start = try #require(readme[section...].firstIndex(of: "```swift")) + 1
        let end = try #require(readme[start...].firstIndex(of: "```"))
        let shown = readme[start..<end].drop { $0.hasPrefix("import ") || $0.isEmpty }

        let source = try packageLines("Tests/HypervisorTests/ReadmeInterruptExample.swift")
        let body = try #require(source.firstIndex { $0.hasPrefix("func readmeInterruptExample()") }) + 1
        let tested = source[body...].prefix(shown.count).map { $0.isEmpty ? $0 : $0.dropFirst(4) }
        #expect(shown.count > 10)
        #expect(Array(shown) == tested)
    }

    @Test func theReadmeExampleRuns() throws {
        guard openHypervisorOrSkip() != nil else { return }
        let (vm, msix) = try readmeInterruptExample()
        #expect(msix.gsis == [24, 25])
        #expect(pending(msix, 0) == nil)
        #expect(try eventually { try picIRR(vm) & (1 << 4) != 0 })
    }
}
