// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMFDT

/// A writer with an open root node.
func rootWriter() throws(TestFailure) -> (FDTWriter, FDTNode) {
    var fdt = FDTWriter()
    let root = try expectNoError { () throws(FDTError) in try fdt.beginNode("") }
    return (fdt, root)
}

/// The example tree: a root with cells, a memory node and reservations.
func sampleTree() throws(FDTError) -> [UInt8] {
    var fdt = FDTWriter(bootCPUID: 1)
    try fdt.addMemoryReservation(address: 0x8000_0000, size: 0x20_0000)
    try fdt.addMemoryReservation(address: 0x1_0000_0000, size: 0x1000)
    let root = try fdt.beginNode("")
    try fdt.property("#address-cells", u32: 2)
    try fdt.property("#size-cells", u32: 2)
    try fdt.property("compatible", strings: ["swift-vmm,test", "linux,dummy-virt"])
    let memory = try fdt.beginNode("memory@80000000")
    try fdt.property("device_type", string: "memory")
    try fdt.property("reg", u64s: [0x8000_0000, 0x1000_0000])
    try fdt.endNode(memory)
    let chosen = try fdt.beginNode("chosen")
    try fdt.property("bootargs", string: "console=ttyS0")
    try fdt.property("blob", bytes: [1, 2, 3])
    try fdt.property("linux,initrd-start", u64: 0x8800_0000)
    try fdt.endNode(chosen)
    try fdt.endNode(root)
    return try fdt.finish()
}

let writerCases: [PortableTestCase] = [
    PortableTestCase("FDTWriter", "writes a valid header, reservations and properties") { () throws(TestFailure) in
        let blob = try expectNoError { () throws(FDTError) in try sampleTree() }
        let tree = try DecodedFDT(blob)
        try expectEqual(tree.version, 17)
        try expectEqual(bigEndian32(blob, 28), 1, "boot_cpuid_phys")
        try expectEqual(tree.reservations.count, 2)
        try expectEqual(tree.reservations[1].0, 0x1_0000_0000)
        try expectEqual(tree.reservations[1].1, 0x1000)
        try expect(tree.hasNode("/memory@80000000"))
        try expectEqual(tree.u32s("/", "#address-cells"), [2])
        try expectEqual(tree.u32s("/memory@80000000", "reg"), [0, 0x8000_0000, 0, 0x1000_0000])
        try expectEqual(tree.value("/memory@80000000", "device_type") ?? [], utf8("memory") + [0])
        try expectEqual(
            tree.value("/", "compatible") ?? [], utf8("swift-vmm,test") + [0] + utf8("linux,dummy-virt") + [0])
        try expectEqual(tree.value("/chosen", "blob") ?? [], [1, 2, 3])
        try expectEqual(tree.u32s("/chosen", "linux,initrd-start"), [0, 0x8800_0000])
    },
    PortableTestCase("FDTWriter", "deduplicates property names in the strings block") { () throws(TestFailure) in
        var (fdt, root) = try rootWriter()
        for index in 0..<3 {
            let node = try expectNoError { () throws(FDTError) in
                try fdt.beginNode(index == 0 ? "a" : index == 1 ? "b" : "c")
            }
            try expectNoError { () throws(FDTError) in try fdt.property("compatible", string: "x") }
            try expectNoError { () throws(FDTError) in try fdt.endNode(node) }
        }
        try expectNoError { () throws(FDTError) in try fdt.endNode(root) }
        let blob = try expectNoError { () throws(FDTError) in try fdt.finish() }
        try expectEqual(bigEndian32(blob, 32), 11, "strings block holds \"compatible\\0\" once")
    },
    PortableTestCase("FDTWriter", "the first node must be the root and there is only one") { () throws(TestFailure) in
        var fdt = FDTWriter()
        try expectError(.rootNodeMustBeFirst) { () throws(FDTError) in _ = try fdt.beginNode("cpus") }
        try expectError(.propertyOutsideNode) { () throws(FDTError) in try fdt.property("x", u32: 1) }
        try expectError(.unclosedNodes(1)) { () throws(FDTError) in _ = try fdt.finish() }
        let root = try expectNoError { () throws(FDTError) in try fdt.beginNode("") }
        try expectError(.rootNodeMustBeFirst) { () throws(FDTError) in _ = try fdt.beginNode("") }
        try expectError(.unclosedNodes(1)) { () throws(FDTError) in _ = try fdt.finish() }
        try expectNoError { () throws(FDTError) in try fdt.endNode(root) }
        try expectError(.nodeAfterRoot) { () throws(FDTError) in _ = try fdt.beginNode("late") }
        try expectError(.unbalancedEndNode) { () throws(FDTError) in try fdt.endNode(root) }
    },
    PortableTestCase("FDTWriter", "node and property names follow the specification") { () throws(TestFailure) in
        var (fdt, _) = try rootWriter()
        for bad: String in ["a b", "@1", "x@", "a@b@c", "0123456789012345678901234567890123", "é"] {
            try expectError(.invalidNodeName) { () throws(FDTError) in _ = try fdt.beginNode(bad) }
        }
        for bad: String in ["", "has space", "0123456789012345678901234567890123", "a@b"] {
            try expectError(.invalidPropertyName) { () throws(FDTError) in try fdt.property(bad, u32: 1) }
        }
        try expectNoError { () throws(FDTError) in try fdt.property("#size-cells", u32: 1) }
        try expectNoError { () throws(FDTError) in try fdt.property("linux,phandle?", u32: 1) }
        let node = try expectNoError { () throws(FDTError) in try fdt.beginNode("virtio_mmio@d0000000") }
        try expectNoError { () throws(FDTError) in try fdt.endNode(node) }
    },
    PortableTestCase("FDTWriter", "rejects duplicates, late properties and unbalanced ends") { () throws(TestFailure) in
        var (fdt, root) = try rootWriter()
        try expectNoError { () throws(FDTError) in try fdt.property("model", string: "m") }
        try expectError(.duplicateProperty) { () throws(FDTError) in try fdt.property("model", string: "n") }
        let child = try expectNoError { () throws(FDTError) in try fdt.beginNode("child") }
        let grandchild = try expectNoError { () throws(FDTError) in try fdt.beginNode("grandchild") }
        try expectError(.unbalancedEndNode) { () throws(FDTError) in try fdt.endNode(child) }
        try expectNoError { () throws(FDTError) in try fdt.endNode(grandchild) }
        try expectNoError { () throws(FDTError) in try fdt.endNode(child) }
        try expectError(.propertyAfterSubnode) { () throws(FDTError) in try fdt.property("late", u32: 1) }
        try expectError(.duplicateNodeName) { () throws(FDTError) in _ = try fdt.beginNode("child") }
        try expectError(.stringContainsNul) { () throws(FDTError) in
            _ = try fdt.beginNode("other")
            try fdt.property("s", strings: ["ok", "bad\u{0}"])
        }
        _ = root
    },
    PortableTestCase("FDTWriter", "phandles are unique and never 0 or 0xffffffff") { () throws(TestFailure) in
        var (fdt, root) = try rootWriter()
        let first = fdt.allocatePhandle()
        try expectEqual(first, 1)
        let a = try expectNoError { () throws(FDTError) in try fdt.beginNode("a") }
        try expectNoError { () throws(FDTError) in try fdt.property(phandle: 5) }
        try expectNoError { () throws(FDTError) in try fdt.endNode(a) }
        let b = try expectNoError { () throws(FDTError) in try fdt.beginNode("b") }
        try expectError(.duplicatePhandle(5)) { () throws(FDTError) in try fdt.property(phandle: 5) }
        try expectError(.invalidPhandle(0)) { () throws(FDTError) in try fdt.property(phandle: 0) }
        try expectError(.invalidPhandle(UInt32.max)) { () throws(FDTError) in try fdt.property(phandle: UInt32.max) }
        try expectNoError { () throws(FDTError) in try fdt.endNode(b) }
        var seen: [UInt32] = []
        for _ in 0..<6 { seen.append(fdt.allocatePhandle()) }
        try expectEqual(seen, [2, 3, 4, 6, 7, 8], "allocatePhandle skips the used 5")
        try expectNoError { () throws(FDTError) in try fdt.endNode(root) }
        try expectError(.reservationOverflow(address: UInt64.max, size: 2)) { () throws(FDTError) in
            try fdt.addMemoryReservation(address: UInt64.max, size: 2)
        }
    },
    PortableTestCase("RiscVVirtFDT", "describes memory, harts, PLIC, serial and virtio-mmio") {
        () throws(TestFailure) in
        var machine = RiscVVirtFDT(memorySize: 256 << 20, cpuCount: 2)
        machine.bootArguments = "console=ttyS0"
        machine.initrd = (0x8800_0000, 0x8810_0000)
        machine.virtioDevices = [
            .init(base: 0x1000_1000, irq: 1), .init(base: 0x1000_2000, irq: 2),
        ]
        let tree = try DecodedFDT(try expectNoError { () throws(FDTError) in try machine.build() })
        try expectEqual(tree.u32s("/memory@80000000", "reg"), [0, 0x8000_0000, 0, 0x1000_0000])
        try expect(tree.hasNode("/cpus/cpu@0/interrupt-controller"))
        try expect(tree.hasNode("/cpus/cpu@1/interrupt-controller"))
        try expectEqual(tree.value("/cpus/cpu@1", "riscv,isa") ?? [], utf8("rv64imafdc_zicsr_zifencei") + [0])
        try expectEqual(tree.u32s("/cpus/cpu@1", "reg"), [1])
        try expectEqual(tree.u32s("/cpus", "timebase-frequency"), [10_000_000])
        let intc0 = tree.u32s("/cpus/cpu@0/interrupt-controller", "phandle")
        let intc1 = tree.u32s("/cpus/cpu@1/interrupt-controller", "phandle")
        let plic = tree.u32s("/soc/plic@c000000", "phandle")
        try expectEqual(intc0.count, 1)
        try expectEqual(
            tree.u32s("/soc/plic@c000000", "interrupts-extended"),
            intc0 + [11] + intc0 + [9] + intc1 + [11] + intc1 + [9])
        try expectEqual(tree.u32s("/soc/serial@10000000", "interrupt-parent"), plic)
        try expectEqual(tree.u32s("/soc/serial@10000000", "interrupts"), [10])
        try expectEqual(tree.u32s("/soc/serial@10000000", "clock-frequency"), [3_686_400])
        try expectEqual(tree.u32s("/soc/virtio_mmio@10002000", "reg"), [0, 0x1000_2000, 0, 0x1000])
        try expectEqual(tree.u32s("/soc/virtio_mmio@10002000", "interrupts"), [2])
        try expectEqual(tree.value("/chosen", "stdout-path") ?? [], utf8("/soc/serial@10000000") + [0])
        try expectEqual(tree.u32s("/chosen", "linux,initrd-end"), [0, 0x8810_0000])
    },
]

/// VMFDT's cases (host and riscv64).
public let allCases: [PortableTestCase] = writerCases
