// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// The devicetree of a riscv64 "virt"-style machine: RAM, harts with their
/// per-hart interrupt controllers, a PLIC, a 16550 serial port and virtio-mmio
/// devices — what a riscv64 Linux kernel needs to boot from a VMM.
///
/// The layout follows QEMU's `virt` board (PLIC at 0x0c00_0000, UART at
/// 0x1000_0000 on PLIC source 10, virtio-mmio from 0x1000_1000 on sources 1...),
/// so guest kernels configured for it work unchanged.
///
/// ```swift
/// var machine = RiscVVirtFDT(memorySize: 256 << 20, cpuCount: 2)
/// machine.bootArguments = "console=ttyS0 earlycon"
/// machine.virtioDevices = [.init(base: 0x1000_1000, size: 0x1000, irq: 1)]
/// let blob = try machine.build()
/// ```
public struct RiscVVirtFDT: Sendable {
    /// A virtio-mmio device window and its PLIC source.
    public struct VirtioDevice: Equatable, Sendable {
        /// Base address of the register window.
        public var base: UInt64
        /// Size of the window (0x1000 for virtio-mmio).
        public var size: UInt64
        /// PLIC interrupt source.
        public var irq: UInt32

        /// Describes a device.
        public init(base: UInt64, size: UInt64 = 0x1000, irq: UInt32) {
            self.base = base
            self.size = size
            self.irq = irq
        }
    }

    /// Guest RAM start.
    public var memoryBase: UInt64 = 0x8000_0000
    /// Guest RAM size.
    public var memorySize: UInt64
    /// Number of harts.
    public var cpuCount: Int
    /// The `riscv,isa` string of every hart.
    public var isa = "rv64imafdc_zicsr_zifencei"
    /// The `mmu-type` of every hart.
    public var mmuType = "riscv,sv48"
    /// `timebase-frequency` of the harts' timers, in Hz.
    public var timebaseFrequency: UInt32 = 10_000_000
    /// PLIC register window.
    public var plicBase: UInt64 = 0x0c00_0000
    /// PLIC register window size.
    public var plicSize: UInt64 = 0x60_0000
    /// Number of PLIC interrupt sources (`riscv,ndev`).
    public var plicSources: UInt32 = 95
    /// 16550 UART base.
    public var serialBase: UInt64 = 0x1000_0000
    /// The UART's PLIC source.
    public var serialIRQ: UInt32 = 10
    /// The UART's input clock (`clock-frequency`).
    public var serialClock: UInt32 = 3_686_400
    /// virtio-mmio devices.
    public var virtioDevices: [VirtioDevice] = []
    /// The kernel command line (`/chosen/bootargs`).
    public var bootArguments: String?
    /// The initrd's first byte and one past its last (`linux,initrd-start/end`).
    public var initrd: (start: UInt64, end: UInt64)?

    /// A machine with `memorySize` bytes of RAM at 0x8000_0000 and `cpuCount` harts.
    public init(memorySize: UInt64, cpuCount: Int) {
        self.memorySize = memorySize
        self.cpuCount = cpuCount
    }

    /// The node path of the serial port, for `stdout-path`.
    public var serialPath: String { "/soc/serial@" + String(serialBase, radix: 16) }

    /// Writes the devicetree blob.
    public func build() throws(FDTError) -> [UInt8] {
        var fdt = FDTWriter()
        let root = try fdt.beginNode("")
        try fdt.property("#address-cells", u32: 2)
        try fdt.property("#size-cells", u32: 2)
        try fdt.property("compatible", string: "riscv-virtio")
        try fdt.property("model", string: "swift-vmm,riscv-virt")

        let chosen = try fdt.beginNode("chosen")
        if let bootArguments { try fdt.property("bootargs", string: bootArguments) }
        try fdt.property("stdout-path", string: serialPath)
        if let initrd {
            try fdt.property("linux,initrd-start", u64: initrd.start)
            try fdt.property("linux,initrd-end", u64: initrd.end)
        }
        try fdt.endNode(chosen)

        let memory = try fdt.beginNode("memory@" + String(memoryBase, radix: 16))
        try fdt.property("device_type", string: "memory")
        try fdt.property("reg", u64s: [memoryBase, memorySize])
        try fdt.endNode(memory)

        var controllers: [UInt32] = []
        let cpus = try fdt.beginNode("cpus")
        try fdt.property("#address-cells", u32: 1)
        try fdt.property("#size-cells", u32: 0)
        try fdt.property("timebase-frequency", u32: timebaseFrequency)
        for hart in 0..<cpuCount {
            let cpu = try fdt.beginNode("cpu@" + String(hart, radix: 16))
            try fdt.property("device_type", string: "cpu")
            try fdt.property("reg", u32: UInt32(hart))
            try fdt.property("status", string: "okay")
            try fdt.property("compatible", string: "riscv")
            try fdt.property("riscv,isa", string: isa)
            try fdt.property("mmu-type", string: mmuType)
            let controller = try fdt.beginNode("interrupt-controller")
            try fdt.property("#address-cells", u32: 0)
            try fdt.property("#interrupt-cells", u32: 1)
            try fdt.property("interrupt-controller")
            try fdt.property("compatible", string: "riscv,cpu-intc")
            let phandle = fdt.allocatePhandle()
            try fdt.property(phandle: phandle)
            controllers.append(phandle)
            try fdt.endNode(controller)
            try fdt.endNode(cpu)
        }
        try fdt.endNode(cpus)

        let soc = try fdt.beginNode("soc")
        try fdt.property("#address-cells", u32: 2)
        try fdt.property("#size-cells", u32: 2)
        try fdt.property("compatible", string: "simple-bus")
        try fdt.property("ranges")

        let plicPhandle = fdt.allocatePhandle()
        let plic = try fdt.beginNode("plic@" + String(plicBase, radix: 16))
        try fdt.property("compatible", strings: ["sifive,plic-1.0.0", "riscv,plic0"])
        try fdt.property("#address-cells", u32: 0)
        try fdt.property("#interrupt-cells", u32: 1)
        try fdt.property("interrupt-controller")
        try fdt.property("reg", u64s: [plicBase, plicSize])
        try fdt.property("riscv,ndev", u32: plicSources)
        // Each hart has an M-mode (11) and an S-mode (9) external interrupt context.
        var contexts: [UInt32] = []
        for controller in controllers { contexts += [controller, 11, controller, 9] }
        try fdt.property("interrupts-extended", u32s: contexts)
        try fdt.property(phandle: plicPhandle)
        try fdt.endNode(plic)

        let serial = try fdt.beginNode("serial@" + String(serialBase, radix: 16))
        try fdt.property("compatible", string: "ns16550a")
        try fdt.property("reg", u64s: [serialBase, 0x100])
        try fdt.property("clock-frequency", u32: serialClock)
        try fdt.property("interrupts", u32: serialIRQ)
        try fdt.property("interrupt-parent", u32: plicPhandle)
        try fdt.endNode(serial)

        for device in virtioDevices {
            let node = try fdt.beginNode("virtio_mmio@" + String(device.base, radix: 16))
            try fdt.property("compatible", string: "virtio,mmio")
            try fdt.property("reg", u64s: [device.base, device.size])
            try fdt.property("interrupts", u32: device.irq)
            try fdt.property("interrupt-parent", u32: plicPhandle)
            try fdt.endNode(node)
        }
        try fdt.endNode(soc)
        try fdt.endNode(root)
        return try fdt.finish()
    }
}
