// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Glibc
import Hypervisor
import Seccompiler
import VMDevice
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import X86Machine

/// KVM paravirt features (CPUID 0x40000001 EAX) whose guest side issues hypercalls:
/// PV_UNHALT (bit 7, kicks halted vCPUs of PV spinlocks), PV_SEND_IPI (bit 11) and
/// PV_SCHED_YIELD (bit 13). A PVM host's emulator does not run VMCALL/VMMCALL in guest
/// kernel mode: with PV IPIs on, a 4-vCPU guest oopsed in its four-argument KVM hypercall once its
/// text was read-only. Without them the guest uses APIC IPIs and plain spinlocks.
public let pvmHypercallFeatures: UInt32 = 1 << 7 | 1 << 11 | 1 << 13

/// Invariant TSC (CPUID 0x80000007 EDX bit 8), hidden on PVM hosts. With it Linux demotes
/// kvm-clock and keeps time with the raw TSC, which on PVM is the host's (a restore cannot set it
/// back): a guest restored from a snapshot a minute later saw a minute pass at once and stalled
/// in RCU. Without it the guest keeps time with kvm-clock, whose base a restore sets
/// (`KVM_SET_CLOCK`), and goes on counting where it stopped.
public let invariantTSC: UInt32 = 1 << 8

/// Routes vCPU exits to the device buses.
final class BusOperations: VMOperations, @unchecked Sendable {
    // @unchecked: the buses are thread-safe.
    let buses: DeviceBuses
    init(buses: DeviceBuses) { self.buses = buses }

    private static func allOnes(_ size: Int) -> UInt64 { size >= 8 ? .max : (1 << UInt64(size * 8)) - 1 }

    func pioRead(port: UInt16, size: Int) -> UInt64 {
        (try? buses.pio.read(address: UInt64(port), size: size)) ?? Self.allOnes(size)
    }
    func pioWrite(port: UInt16, size: Int, value: UInt64) {
        try? buses.pio.write(address: UInt64(port), size: size, value: value)
    }
    func mmioRead(address: UInt64, size: Int) -> UInt64 {
        (try? buses.mmio.read(address: address, size: size)) ?? Self.allOnes(size)
    }
    func mmioWrite(address: UInt64, size: Int, value: UInt64) {
        try? buses.mmio.write(address: address, size: size, value: value)
    }
}

/// The first outcome wins; setting it wakes the thread waiting in ``IntegrationVMM/run(_:options:)``.
/// It also parks the vCPU threads for a pause: each saves its own state when it parks.
final class RunControl: @unchecked Sendable {
    // @unchecked: every field is behind `condition`; the eventfd is thread-safe.
    private let condition = NSCondition()
    private var result: GuestOutcome?
    private var kickers: [any VirtualCPUKicker] = []
    private var pauseRequested = false
    /// Each parked vCPU's state (or why it could not be read), by vCPU id.
    private var parked: [UInt32: Result<VCPUState, HypervisorError>] = [:]
    let wake: EventFd

    init() throws(SystemError) { wake = try EventFd(flags: [.nonBlocking]) }

    var outcome: GuestOutcome? { condition.withLock { result } }

    func finish(_ outcome: GuestOutcome) {
        let first = condition.withLock {
            guard result == nil else { return false }
            result = outcome
            condition.broadcast()  // parked vCPUs leave
            return true
        }
        if first { try? wake.signal() }
    }

    func register(_ kicker: any VirtualCPUKicker) {
        let stopped = condition.withLock {
            kickers.append(kicker)
            return result != nil || pauseRequested
        }
        if stopped { try? kicker.kick() }
    }

    func kickAll() {
        for kicker in condition.withLock({ kickers }) { try? kicker.kick() }
    }

    /// Whether vCPUs should park (checked only after a kick, so it costs nothing on the I/O path).
    var pausing: Bool { condition.withLock { pauseRequested } }

    /// Parks the calling vCPU thread until ``resume()`` or an outcome. Call it only where the
    /// vCPU's state is complete: after a ``VMExit/interrupted`` exit (KVM finishes an I/O
    /// instruction in the `KVM_RUN` that follows its exit, so an immediate exit is that
    /// completion) or before the first run.
    func park(_ cpu: some VirtualCPU) {
        let state = Result { () throws(HypervisorError) in try cpu.saveState() }
        condition.withLock {
            parked[cpu.id] = state
            condition.broadcast()
            while pauseRequested && result == nil { condition.wait() }
            parked[cpu.id] = nil
            condition.broadcast()
        }
    }

    /// Asks every vCPU to park and waits until `count` have (kicking them again while it waits,
    /// in case one registered its kicker after the first kick); returns their states in id order.
    func pause(vcpus count: Int, timeout: Duration = .seconds(10)) throws(VMMError) -> [VCPUState] {
        condition.withLock { pauseRequested = true }
        let deadline = ContinuousClock.now + timeout
        while true {
            kickAll()
            let states: [Result<VCPUState, HypervisorError>]? = condition.withLock {
                if parked.count < count, result == nil {
                    _ = condition.wait(until: Date().addingTimeInterval(0.05))
                }
                guard parked.count == count else { return nil }
                return parked.keys.sorted().map { parked[$0]! }
            }
            if let states {
                var saved: [VCPUState] = []
                for (index, state) in states.enumerated() {
                    do {
                        saved.append(try state.get())
                    } catch {
                        resume()
                        throw VMMError("pause: reading vCPU \(index)'s state", cause: error)
                    }
                }
                return saved
            }
            if outcome != nil || ContinuousClock.now >= deadline {
                resume()
                throw VMMError(
                    outcome != nil ? "pause: the guest stopped" : "pause: a vCPU did not stop within \(timeout)")
            }
        }
    }

    /// Whether every one of `count` vCPUs is parked.
    func allParked(_ count: Int) -> Bool { condition.withLock { pauseRequested && parked.count == count } }

    /// Lets parked vCPUs run again (and vCPUs that have not parked yet not park).
    func resume() {
        condition.withLock {
            pauseRequested = false
            condition.broadcast()
        }
    }

    /// Asks vCPUs to park as they start (a restored machine that is not to resume at once).
    func requestPause() { condition.withLock { pauseRequested = true } }
}

/// How ``IntegrationVMM/run(_:options:)`` presents the guest.
///
/// ```swift
/// var options = RunOptions()
/// options.console = .commandOutput
/// ```
public struct RunOptions: Sendable {
    /// What reaches stdout.
    public var console: ConsoleOutput.Mode = .everything
    /// Forward stdin to the UART (raw mode on a terminal, Ctrl-A X quits).
    public var forwardInput = true
    /// Where the console goes.
    public var outputDescriptor: Int32 = STDOUT_FILENO
    /// Print boot-timer and timing lines to stderr.
    public var reportTimes = false
    /// When the VMM process started (for the boot timer).
    public var processStart = ContinuousClock.now
    /// Seccomp filters for the VMM and vCPU threads, installed once setup is done; nil runs unfiltered.
    public var sandbox: Sandbox?
    /// Samples every vCPU's instruction pointer while the guest runs (see ``GuestProfiler``); nil does not.
    public var profiler: GuestProfiler?

    /// Defaults: everything to stdout, stdin forwarded.
    public init() {}
}

/// What one run produced.
public struct RunResult: Sendable {
    /// How it ended.
    public var outcome: GuestOutcome
    /// What the console saw.
    public var console: ConsoleWatch
}

/// A machine ready to boot, built the way Firecracker's `build_microvm_for_boot` builds one:
/// guest memory with the kernel and boot tables loaded, a VM with that memory mapped and
/// its interrupt controller, the legacy and virtio devices on their buses, and every vCPU
/// configured (CPUID, MSRs, FPU, LAPIC; boot registers on vCPU 0). ``build(_:options:on:)``
/// does all of it and nothing more; ``run()`` starts the vCPUs and returns when the guest
/// stops. Everything is released with the machine.
///
/// ```swift
/// let machine = try Machine.build(config, options: RunOptions(), on: try KVMHypervisor())
/// let result = try machine.run()
/// exit(result.outcome.exitStatus)
/// ```
public final class Machine<H: Hypervisor>: @unchecked Sendable {
    // @unchecked: ``run()`` runs on one thread; ``pause()``, ``resume()`` and
    // ``snapshot(statePath:memoryPath:)`` are called from others and touch only what
    // RunControl locks, thread-safe devices, the VM's own calls and guest memory.
    /// The configuration built, with the virtio devices' kernel parameters added to its command line.
    public let config: MachineConfig
    /// How it presents the guest.
    public let options: RunOptions
    /// Guest RAM; it outlives the VM and the vCPUs (declared first, released last).
    let memory: GuestMemoryMap<MmapRegion>
    let vm: H.Machine
    let cpus: [H.Machine.CPU]
    let buses: DeviceBuses
    let serial: SerialPortDevice
    /// COM1's interrupt line (IRQ 4).
    let com1: any EventInterruptSourceGroup
    let control: RunControl
    let console: ConsoleOutput
    let virtio: VirtioAttachments?
    /// The host flavour, recorded in snapshots.
    let hostFlavour: HostFlavour
    private var state: State = .built

    private enum State { case built, running, finished }

    private init(
        config: MachineConfig, options: RunOptions, memory: GuestMemoryMap<MmapRegion>, vm: H.Machine,
        cpus: [H.Machine.CPU], parts: Parts, virtio: VirtioAttachments?, hostFlavour: HostFlavour
    ) {
        self.hostFlavour = hostFlavour
        self.config = config
        self.options = options
        self.memory = memory
        self.vm = vm
        self.cpus = cpus
        self.buses = parts.buses
        self.serial = parts.serial
        self.com1 = parts.com1
        self.control = parts.control
        self.console = parts.console
        self.virtio = virtio
    }

    deinit {
        // A machine built but never run still owns an I/O thread and interrupt lines.
        if state == .built { stopDevices() }
    }

    // MARK: Build

    /// Builds `config` on `hypervisor`, through its protocols only. Nothing runs yet.
    public static func build(
        _ config: MachineConfig, options: RunOptions, on hypervisor: H
    ) throws(VMMError) -> Machine {
        do {
            try config.validate()
        } catch {
            throw VMMError("configuration", cause: error)
        }
        let plan = try BootPlan(memorySize: config.memorySize, vcpus: config.vcpus)
        let virtioPlaces: [VirtioPlacement]
        do {
            virtioPlaces = try VirtioPlacement.places(
                count: config.virtioDevices.count, mmioGapStart: plan.layout.mmioGapStart)
        } catch {
            throw VMMError("virtio placement", cause: error)
        }
        var config = config
        for place in virtioPlaces { config.commandLine += " " + place.kernelParameter }

        let memory = try makeMemory(plan: plan, shared: config.virtioDevices.contains { $0.sharesGuestMemory })
        let entry = try IntegrationVMM.loadImages(config, into: memory, plan: plan)
        let vm = try makeVM(on: hypervisor, memory: memory)
        let parts = try makeLegacyDevices(vm: vm, plan: plan, options: options)
        let virtio = try VirtioAttachments.attach(
            config.virtioDevices, at: virtioPlaces, vm: vm, memory: memory, buses: parts.buses)
        do throws(VMMError) {
            let cpus = try makeVCPUs(config, on: hypervisor, vm: vm, buses: parts.buses, entry: entry)
            return Machine(
                config: config, options: options, memory: memory, vm: vm, cpus: cpus, parts: parts, virtio: virtio,
                hostFlavour: hypervisor.flavour)
        } catch {
            virtio?.shutdown()
            throw error
        }
    }

    /// Guest RAM: one mapping per layout region; a memfd (shared) when a vhost-user back-end maps it too.
    private static func makeMemory(plan: BootPlan, shared: Bool) throws(VMMError) -> GuestMemoryMap<MmapRegion> {
        var regions: [MmapRegion] = []
        for (index, region) in plan.layout.ramRegions.enumerated() {
            do {
                let options = MmapRegion.Options(dontDump: true, noReserve: true)
                regions.append(
                    shared
                        ? try MmapRegion.memfd(
                            at: region.start, size: region.size, name: "guest-ram-\(index)", options: options)
                        : try MmapRegion.anonymous(at: region.start, size: region.size, options: options))
            } catch {
                throw VMMError("guest memory (\(region.size >> 20) MiB at \(region.start))", cause: error)
            }
        }
        do {
            return try GuestMemoryMap(regions: regions)
        } catch {
            throw VMMError("guest memory map", cause: error)
        }
    }

    /// The VM: system pages, in-kernel interrupt controller and timer, then every RAM region in its slot.
    private static func makeVM(on hypervisor: H, memory: GuestMemoryMap<MmapRegion>) throws(VMMError) -> H.Machine {
        let vm: H.Machine
        do {
            vm = try hypervisor.createVirtualMachine()
        } catch {
            throw VMMError("cannot create a VM", cause: error)
        }
        // x86 hypervisors want these pages reserved below 4 GiB before vCPUs run (VMX uses them; PVM ignores them).
        try? vm.reserveSystemPages(identityMap: 0xfffb_c000, tss: 0xfffb_d000)
        do {
            try vm.createInterruptController()  // must precede the vCPUs; HLT then stays in the kernel
        } catch {
            throw VMMError("in-kernel interrupt controller", cause: error)
        }
        try? vm.createTimer()  // optional: Linux calibrates with kvmclock when there is no PIT
        for (slot, region) in memory.regions.enumerated() {
            do {
                // SAFETY: the region's mapping covers `size` bytes and lives in the machine's `memory`, which
                // outlives the VM.
                try unsafe vm.mapMemory(
                    slot: UInt32(slot), guestAddress: region.startAddress.rawValue, size: region.size,
                    hostAddress: UInt64(UInt(bitPattern: region.hostAddress)), flags: [])
            } catch {
                throw VMMError("mapping guest memory", cause: error)
            }
        }
        return vm
    }

    /// The legacy devices and what they report to.
    private struct Parts {
        let buses: DeviceBuses
        let serial: SerialPortDevice
        let com1: any EventInterruptSourceGroup
        let control: RunControl
        let console: ConsoleOutput
    }

    /// COM1, the i8042 (reset), the RTC, the ACPI sleep port (power-off) and the boot timer.
    private static func makeLegacyDevices(vm: H.Machine, plan: BootPlan, options: RunOptions) throws(VMMError) -> Parts
    {
        let console = ConsoleOutput(descriptor: options.outputDescriptor, mode: options.console)
        let buses = DeviceBuses()
        do {
            let control = try RunControl()
            let com1 = try vm.createLegacyInterruptGroup(lines: [LegacyInterruptLine(pin: 4)])
            try com1.enable()
            let serial = SerialPortDevice(line: GroupInterruptLine(group: com1, index: 0), output: console)
            try buses.pio.insert(serial, at: BusRange(base: 0x3f8, size: 8))
            try buses.pio.insert(I8042Device { control.finish(.rebooted) }, at: BusRange(base: 0x60, size: 5))
            try buses.pio.insert(RTCDevice(), at: BusRange(base: 0x70, size: 2))
            try buses.pio.insert(
                ACPISleepDevice(s5SleepType: 5) { control.finish(.poweredOff) }, at: BusRange(base: 0x3c0, size: 2))
            let reportTimes = options.reportTimes
            try buses.mmio.insert(
                BootTimerDevice(start: options.processStart) { elapsed in
                    if reportTimes { printError("integration-vmm: boot-timer: guest booted in \(elapsed)") }
                }, at: BusRange(base: plan.bootTimerAddress, size: 0x1000))
            console.onLine = { _, watch in
                // Without ACPI power-off the kernel announces the power-down (or halt) and then idles forever.
                if watch.sawHalt || watch.sawPowerDown { control.finish(.poweredOff) }
            }
            return Parts(buses: buses, serial: serial, com1: com1, control: control, console: console)
        } catch {
            throw VMMError("devices", cause: error)
        }
    }

    /// vCPUs: CPUID, MSRs, FPU, LINTs on every one; registers only on the boot vCPU
    /// (the others wait for INIT/SIPI in the in-kernel local APIC).
    private static func makeVCPUs(
        _ config: MachineConfig, on hypervisor: H, vm: H.Machine, buses: DeviceBuses, entry: EntryMode
    ) throws(VMMError) -> [H.Machine.CPU] {
        let supported: [CPUIDEntry]
        do {
            supported = try hypervisor.supportedCPUID()
        } catch {
            throw VMMError("supported CPUID", cause: error)
        }
        var policy = CPUIDPolicy(cpuCount: config.vcpus)
        if config.hidePVMUnsupportedFeatures && hypervisor.flavour == .pvm {
            policy.hiddenFeatures = CPUIDFeature.unsupportedOnPVM
            policy.adjust = { entry, _ in
                if entry.function == 0x4000_0001 { entry.eax &= ~pvmHypercallFeatures }
                if entry.function == 0x8000_0007 { entry.edx &= ~invariantTSC }
            }
        }
        let operations = BusOperations(buses: buses)
        var cpus: [H.Machine.CPU] = []
        for index in 0..<config.vcpus {
            let cpu: H.Machine.CPU
            do {
                cpu = try vm.createVirtualCPU(id: UInt32(index), operations: operations)
            } catch {
                throw VMMError("vCPU \(index)", cause: error)
            }
            try IntegrationVMM.configure(cpu, index: index, policy: policy, supported: supported)
            if index == 0 { try IntegrationVMM.setBootRegisters(cpu, entry: entry) }
            cpus.append(cpu)
        }
        return cpus
    }

    // MARK: Run

    /// Starts every vCPU and returns when the guest stops (power-off, reboot, a stop signal,
    /// Ctrl-A X, an error). A machine runs once; a second call is an error.
    public func run() throws(VMMError) -> RunResult {
        guard state == .built else { throw VMMError("this machine has already run") }
        state = .running
        // On every path out (also errors before the vCPUs start) the I/O thread stops and the
        // interrupt lines are detached, here, on this thread, whose filter allows it: otherwise the
        // last thread to drop a device (maybe a vCPU thread) would do it from the group's deinit.
        defer {
            stopDevices()
            state = .finished
        }
        if let virtio, virtio.notifyExits > 0, options.reportTimes {
            printError(
                "integration-vmm: \(virtio.notifyExits) virtio queue(s) notify through MMIO exits (no ioeventfd)")
        }

        // Stop signals arrive on a signalfd; block them before any thread starts so all inherit the mask.
        // SIGHUP too: a closed terminal ends the run through the same path, which restores its modes.
        let stopSignals = [SIGINT, SIGTERM, SIGHUP]
        let signals = try IntegrationVMM.stopSignalFd(stopSignals)
        let kick: KickSignal
        do {
            kick = try KickSignal(offset: IntegrationVMM.kickOffset)
            try kick.installEmptyHandler()
        } catch {
            throw VMMError("vCPU kick signal", cause: error)
        }
        defer { try? SignalFd.unblock(stopSignals) }

        let input = options.forwardInput ? ConsoleInput(serial: serial, control: control) : nil
        // Raw mode for the whole run; the guard's deinit restores the terminal on every path out.
        let rawMode =
            input != nil && Terminal.isTerminal(STDIN_FILENO) ? try? Terminal.RawMode(descriptor: STDIN_FILENO) : nil
        defer { _ = rawMode }

        let sandbox = options.sandbox
        if sandbox != nil { try Sandbox.installTrapReporter() }
        let finished = DispatchGroup()
        let (control, console, profiler) = (control, console, options.profiler)
        for cpu in cpus {
            finished.enter()
            let thread = Thread {
                // The kernel's name for the thread (comm): what `ps -L`, audit records and the trap reporter show.
                try? ThreadName.set("vcpu\(cpu.id)")
                IntegrationVMM.runVCPU(
                    cpu, control: control, console: console, kick: kick, filter: sandbox?.vcpu, profiler: profiler)
                finished.leave()
            }
            thread.stackSize = 1 << 20
            thread.name = "vcpu\(cpu.id)"
            thread.start()
        }
        // Threads created from here on inherit this thread's filter; the vCPU threads above have their own.
        if let sandbox {
            do {
                try virtio?.installFilter(sandbox.io)
                try Sandbox.install(sandbox.vmm, category: "vmm")
            } catch {
                control.finish(.vmmError(error.description))
            }
        }

        IntegrationVMM.waitForOutcome(control: control, signals: signals, input: input, profiler: profiler)
        control.kickAll()
        if finished.wait(timeout: .now() + 5) == .timedOut {
            printError("integration-vmm: warning: a vCPU thread did not stop within 5 s")
        }
        return RunResult(outcome: control.outcome ?? .stopped(signal: nil), console: console.state)
    }

    // MARK: Pause, snapshot, restore

    /// Stops every vCPU at a consistent point (each saves its state as it stops) while
    /// ``run()`` goes on waiting; ``resume()`` lets them go on. Call it from another thread
    /// than ``run()``'s. Pausing a paused machine does nothing.
    public func pause() throws(VMMError) {
        _ = try pausedStates()
    }

    /// Lets the vCPUs run again after ``pause()``.
    public func resume() { control.resume() }

    /// Ends ``run()`` as a stop signal would (from any thread; a paused machine stops too).
    public func stop() { control.finish(.stopped(signal: nil)) }

    /// Whether every vCPU is parked by ``pause()``.
    public var isPaused: Bool { control.allParked(cpus.count) }

    /// The vCPU states of a paused machine (pausing it first if it runs).
    private func pausedStates() throws(VMMError) -> [VCPUState] {
        try control.pause(vcpus: cpus.count)
    }

    /// Writes a full snapshot of the paused machine: its state to `statePath` (a
    /// ``MachineSnapshot``) and guest RAM to `memoryPath`. The machine stays paused.
    /// Machines with virtio devices are refused (their device state is not saved yet).
    public func snapshot(statePath: String, memoryPath: String) throws(VMMError) {
        guard config.virtioDevices.isEmpty else {
            throw VMMError("snapshot: machines with virtio devices cannot be snapshotted yet")
        }
        guard isPaused else { throw VMMError("snapshot: the machine is not paused") }
        let vcpus = try pausedStates()
        let vmState: VMState
        do {
            vmState = try vm.saveState()
        } catch {
            throw VMMError("snapshot: interrupt controllers and clock", cause: error)
        }
        let regions = try SnapshotMemory.write(memory, to: memoryPath)
        let snapshot = MachineSnapshot(
            format: MachineSnapshot.formatName, version: MachineSnapshot.currentVersion,
            machine: .init(
                vcpus: config.vcpus, memorySize: config.memorySize, commandLine: config.commandLine,
                hostFlavour: "\(hostFlavour)", virtioDevices: []),
            vm: vmState, vcpus: vcpus, serial: serial.state, memory: regions)
        try snapshot.save(to: statePath)
    }

    /// Builds the machine a snapshot describes on `hypervisor`: guest RAM mapped copy-on-write
    /// from `memoryPath`, the VM's interrupt controllers, timer and clock, COM1 and every vCPU
    /// as they were saved. With `paused`, ``run()`` starts the vCPU threads parked, for
    /// ``resume()``. A snapshot of another machine shape or host flavour is refused with one line.
    public static func restore(
        statePath: String, memoryPath: String, options: RunOptions, paused: Bool = false, on hypervisor: H
    ) throws(VMMError) -> Machine {
        let snapshot = try MachineSnapshot.load(from: statePath)
        let shape = snapshot.machine
        guard shape.virtioDevices.isEmpty else {
            throw VMMError("snapshot state \(statePath): restoring virtio devices is not supported yet")
        }
        guard shape.hostFlavour == "\(hypervisor.flavour)" else {
            throw VMMError(
                "snapshot state \(statePath): saved on a \(shape.hostFlavour) host, this host is \(hypervisor.flavour)")
        }
        guard snapshot.vcpus.count == shape.vcpus else {
            throw VMMError(
                "snapshot state \(statePath): \(snapshot.vcpus.count) vCPU state(s) for \(shape.vcpus) vCPU(s)")
        }
        var config = MachineConfig(kernel: "", commandLine: shape.commandLine)
        config.vcpus = shape.vcpus
        config.memorySize = shape.memorySize
        do {
            try config.validate()
        } catch {
            throw VMMError("snapshot state \(statePath)", cause: error)
        }
        let plan = try BootPlan(memorySize: config.memorySize, vcpus: config.vcpus)
        let expected = plan.layout.ramRegions.map { [$0.start.rawValue, $0.size] }
        guard snapshot.memory.map({ [$0.guestAddress, $0.size] }) == expected else {
            throw VMMError(
                "snapshot state \(statePath): its memory regions are not those of a \(shape.memorySize >> 20) MiB machine"
            )
        }
        let memory = try SnapshotMemory.map(snapshot.memory, from: memoryPath, shared: false)
        let vm = try makeVM(on: hypervisor, memory: memory)
        do {
            try vm.restoreState(snapshot.vm)
        } catch {
            throw VMMError("restore: interrupt controllers, timer and clock", cause: error)
        }
        let parts = try makeLegacyDevices(vm: vm, plan: plan, options: options)
        do {
            try parts.serial.restore(snapshot.serial)
        } catch {
            throw VMMError("restore: COM1", cause: error)
        }
        let operations = BusOperations(buses: parts.buses)
        var cpus: [H.Machine.CPU] = []
        for (index, state) in snapshot.vcpus.enumerated() {
            do {
                let cpu = try vm.createVirtualCPU(id: UInt32(index), operations: operations)
                try cpu.restoreState(state)
                cpus.append(cpu)
            } catch {
                throw VMMError("restore: vCPU \(index)", cause: error)
            }
        }
        if paused { parts.control.requestPause() }
        return Machine(
            config: config, options: options, memory: memory, vm: vm, cpus: cpus, parts: parts, virtio: nil,
            hostFlavour: hypervisor.flavour)
    }

    /// Stops the virtio I/O thread and detaches the interrupt lines (once).
    private func stopDevices() {
        virtio?.shutdown()
        try? com1.disable()
    }
}

/// integration-vmm as a library: builds a KVM machine from swift-vmm packages and runs it.
///
/// ```swift
/// var config = MachineConfig(kernel: "/path/vmlinux", commandLine: "console=ttyS0 reboot=t panic=-1")
/// config.initrd = "/path/initramfs.cpio"
/// let result = try IntegrationVMM.run(config, options: RunOptions())
/// exit(result.outcome.exitStatus)
/// ```
public enum IntegrationVMM {
    /// The vCPU kick signal (SIGRTMIN+0).
    static let kickOffset: Int32 = 0

    /// Boots `config` on KVM and returns when the guest stops.
    public static func run(_ config: MachineConfig, options: RunOptions) throws(VMMError) -> RunResult {
        let hypervisor: KVMHypervisor
        do {
            hypervisor = try KVMHypervisor()
        } catch {
            throw VMMError("cannot open KVM", cause: error)
        }
        return try run(config, options: options, on: hypervisor)
    }

    /// Builds `config` on `hypervisor` (``Machine/build(_:options:on:)``) and runs it (``Machine/run()``).
    public static func run<H: Hypervisor>(
        _ config: MachineConfig, options: RunOptions, on hypervisor: H
    ) throws(VMMError) -> RunResult {
        try Machine.build(config, options: options, on: hypervisor).run()
    }

    /// Blocks `stopSignals` in this thread (threads started later inherit the mask) and reads them from a signalfd.
    static func stopSignalFd(_ stopSignals: [Int32]) throws(VMMError) -> SignalFd {
        do {
            try SignalFd.block(stopSignals)
            return try SignalFd(signals: stopSignals, flags: [.nonBlocking])
        } catch {
            throw VMMError("signals", cause: error)
        }
    }

    /// Waits for a vCPU outcome, a stop signal, or (interactive) Ctrl-A X on stdin.
    /// With a profiler it wakes every profiler interval and kicks every vCPU, which records its RIP.
    static func waitForOutcome(
        control: RunControl, signals: borrowing SignalFd, input: ConsoleInput?, profiler: GuestProfiler?
    ) {
        var fds = [
            pollfd(fd: control.wake.descriptor.rawValue, events: Int16(POLLIN), revents: 0),
            pollfd(fd: signals.descriptor.rawValue, events: Int16(POLLIN), revents: 0),
        ]
        if input != nil { fds.append(pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)) }
        while control.outcome == nil {
            // SAFETY: `fds` is a local array of exactly fds.count pollfds, valid for the call.
            let ready = unsafe poll(&fds, nfds_t(fds.count), profiler?.intervalMilliseconds ?? -1)
            if ready < 0 { if errno == EINTR { continue } else { break } }
            if ready == 0 {
                control.kickAll()  // only with a profiler: the timeout is infinite otherwise
                continue
            }
            if fds[1].revents != 0, let info = try? signals.read() {
                control.finish(.stopped(signal: info.signal))
            }
            if fds.count > 2, fds[2].revents != 0 {
                if input?.readAvailable() == false { fds.removeLast() }  // EOF: stop watching stdin
            }
        }
    }

    /// The vCPU loop: runs until an outcome is set or the vCPU stops by itself.
    static func runVCPU(
        _ cpu: some VirtualCPU, control: RunControl, console: ConsoleOutput, kick: KickSignal, filter: BPFProgram?,
        profiler: GuestProfiler? = nil
    ) {
        do {
            control.register(try cpu.kicker(signal: kick))
        } catch {
            control.finish(.internalError("vCPU \(cpu.id) kicker: \(error)"))
            return
        }
        if let filter {
            do {
                try Sandbox.install(filter, category: "vcpu")
            } catch {
                control.finish(.vmmError(VMMError("vCPU \(cpu.id)", cause: error).description))
                return
            }
        }
        if control.pausing { control.park(cpu) }  // nothing is half-done before the first run
        while control.outcome == nil {
            let exit: VMExit
            do {
                exit = try cpu.run()
            } catch {
                if case .system(let errno) = error.reason, errno.rawValue == EINTR {
                    if control.pausing { control.park(cpu) }
                    continue
                }
                control.finish(.internalError("vCPU \(cpu.id): \(error)"))
                return
            }
            switch exit {
            case .interrupted:
                if control.pausing { control.park(cpu) }
                if let profiler, control.outcome == nil, let rip = try? cpu.standardRegisters().rip {
                    profiler.record(vcpu: Int(cpu.id), rip: rip)
                }
            case .ioHandled:
                continue
            case .halt:
                continue  // only without an in-kernel irqchip; ours has one
            case .shutdown:
                control.finish(console.state.shutdownOutcome)
            case .reset:
                control.finish(.rebooted)
            case .internalError(let reason, let code):
                let rip = (try? cpu.standardRegisters().rip).map { String($0, radix: 16) } ?? "?"
                control.finish(
                    .internalError("vCPU \(cpu.id): \(reason) (data 0x\(String(code, radix: 16)), rip 0x\(rip))"))
            case .debug(let pc):
                control.finish(.internalError("vCPU \(cpu.id): unexpected debug exit at 0x\(String(pc, radix: 16))"))
            case .unhandled(let reason):
                control.finish(.internalError("vCPU \(cpu.id): unhandled exit reason \(reason)"))
            }
        }
    }

    /// CPUID, boot MSRs, FPU control words and the local APIC's LINT0/LINT1.
    static func configure(
        _ cpu: some VirtualCPU, index: Int, policy: CPUIDPolicy, supported: [CPUIDEntry]
    ) throws(VMMError) {
        do {
            try cpu.setCPUID(policy.entries(forVCPU: index, supported: supported))
            try cpu.setMSRs(BootMSRs.entries)
            try cpu.setFPU(FPUState(controlWord: BootFPU.controlWord, mxcsr: BootFPU.mxcsr))
            var apic = try cpu.localAPIC()
            LocalAPIC.configureLINTs(&apic.registers)
            try cpu.setLocalAPIC(apic)
        } catch {
            throw VMMError("vCPU \(index) setup", cause: error)
        }
    }

    /// Segment, control registers and entry registers for the chosen entry.
    static func setBootRegisters(_ cpu: some VirtualCPU, entry: EntryMode) throws(VMMError) {
        do {
            var sregs = try cpu.specialRegisters()
            switch entry {
            case .pvh(let rip):
                let gdt = BootGDT.protectedMode
                apply(gdt, to: &sregs)
                sregs.cr0 = LongModeRegisters.cr0ProtectionEnable | LongModeRegisters.cr0ExtensionType
                sregs.cr3 = 0
                sregs.cr4 = 0
                sregs.efer = 0
                try cpu.setSpecialRegisters(sregs)
                let boot = BootRegisters.pvh(entry: GuestAddress(rip), startInfo: X86MemoryLayout.pvhStartInfoAddress)
                var regs = StandardRegisters(rip: boot.rip, rsp: boot.rsp, rflags: boot.rflags)
                regs.rbx = boot.rbx
                try cpu.setStandardRegisters(regs)
            case .linux64(let rip):
                apply(BootGDT.longMode, to: &sregs)
                let control = LongModeRegisters(cr3: X86MemoryLayout.pml4Address.rawValue)
                sregs.cr0 = control.cr0
                sregs.cr3 = control.cr3
                sregs.cr4 = control.cr4
                sregs.efer = control.efer
                try cpu.setSpecialRegisters(sregs)
                let boot = BootRegisters.linux64(entry: GuestAddress(rip), zeroPage: X86MemoryLayout.zeroPageAddress)
                var regs = StandardRegisters(rip: boot.rip, rsp: boot.rsp, rflags: boot.rflags)
                regs.rsi = boot.rsi
                regs.rbp = boot.rbp
                try cpu.setStandardRegisters(regs)
            }
        } catch {
            throw VMMError("boot registers", cause: error)
        }
    }

    static func apply(_ gdt: BootGDT, to sregs: inout SpecialRegisters) {
        let code = gdt.segment(1)
        let data = gdt.segment(2)
        sregs.cs = code
        sregs.ds = data
        sregs.es = data
        sregs.fs = data
        sregs.gs = data
        sregs.ss = data
        sregs.gdt = DescriptorTable(base: X86MemoryLayout.gdtAddress.rawValue, limit: gdt.limit)
        sregs.idt = DescriptorTable(base: X86MemoryLayout.idtAddress.rawValue, limit: 0)
    }

    /// Reads the kernel and initrd and loads them into guest memory. The file bytes (megabytes)
    /// live only inside this call, so they are not part of the VMM's footprint while the guest runs.
    static func loadImages(
        _ config: MachineConfig, into memory: GuestMemoryMap<MmapRegion>, plan: BootPlan
    ) throws(VMMError) -> EntryMode {
        let kernelBytes = try readFile(config.kernel, what: "kernel")
        let initrdBytes = try config.initrd.map { path throws(VMMError) in try readFile(path, what: "initrd") }
        return try BootImage.load(
            kernel: kernelBytes, initrd: initrdBytes, commandLine: config.commandLine, into: memory, plan: plan,
            preferLinux64Entry: config.preferLinux64Entry)
    }

    /// The bytes of the file at `path`; a failure names `what` (the path is in the cause) and keeps the
    /// system error (`ENOENT`, `EACCES`, `EISDIR`...) as its cause.
    public static func readFile(_ path: String, what: String) throws(VMMError) -> [UInt8] {
        do {
            return try FileDescriptor.open(path, flags: O_RDONLY | O_CLOEXEC).readToEnd()
        } catch {
            throw VMMError(what, cause: error)  // the cause names the call and the path
        }
    }
}

/// Writes one line to stderr.
public func printError(_ line: String) {
    var text = line + "\n"
    // SAFETY: write reads bytes.count bytes of the string's UTF-8 storage, valid inside withUTF8.
    text.withUTF8 { bytes in _ = unsafe write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}

/// Host keyboard to the UART; Ctrl-A X stops the VM, Ctrl-A Ctrl-A sends one Ctrl-A (as QEMU).
final class ConsoleInput: @unchecked Sendable {
    // @unchecked: used only by the thread waiting in run().
    let serial: SerialPortDevice
    let control: RunControl
    private var escape = false

    init(serial: SerialPortDevice, control: RunControl) {
        self.serial = serial
        self.control = control
    }

    /// Reads what stdin has; false at end of input.
    func readAvailable() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 256)
        // SAFETY: read(2) stores at most buffer.count bytes into the array's own storage.
        let count = unsafe buffer.withUnsafeMutableBytes { unsafe read(STDIN_FILENO, $0.baseAddress, $0.count) }
        if count < 0 { return errno == EINTR || errno == EAGAIN }
        if count == 0 { return false }
        var forward: [UInt8] = []
        for byte in buffer[0..<count] {
            if escape {
                escape = false
                if byte == 0x78 || byte == 0x58 {  // x
                    control.finish(.stopped(signal: nil))
                    return true
                }
                forward.append(byte)
            } else if byte == 0x01 {
                escape = true
            } else {
                forward.append(byte)
            }
        }
        if !forward.isEmpty { _ = serial.enqueueInput(forward) }
        return true
    }
}
