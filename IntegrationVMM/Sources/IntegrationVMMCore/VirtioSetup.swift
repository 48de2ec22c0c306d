// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Hypervisor
import Seccompiler
import VMDevice
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import Vhost
import VhostUser
import VirtioDevices

/// One virtio device on the integration-vmm command line.
///
/// ```swift
/// let disk = try VirtioDeviceOption.parseBlock("path=/var/disk.img,readonly=on")
/// config.virtioDevices = [.entropy, disk]
/// ```
public enum VirtioDeviceOption: Equatable, Sendable {
    /// `--rng`: virtio-rng fed by the host's getrandom.
    case entropy
    /// `--block path=<file>[,readonly=on][,direct=on][,id=<serial>]`.
    case block(path: String, readOnly: Bool, direct: Bool, id: String?)
    /// `--net tap=<name>[,mac=<aa:bb:cc:dd:ee:ff>]`: virtio-net on a tap device (created, or an existing one).
    case net(tap: String, mac: [UInt8]?)
    /// `--vsock cid=<N>,uds=<path>`: virtio-vsock; host sockets at `<path>` and `<path>_<port>`.
    case vsock(cid: UInt64, path: String)
    /// `--console output=<file>`: virtio-console (the guest's hvc0); its output is appended to the file.
    case console(output: String)
    /// `--vhost-user-blk`, `--vhost-user-fs`, `--vhost-user`: a device a vhost-user back-end serves.
    case vhostUser(socket: String, model: VhostUserDeviceModel)

    /// Whether a back-end outside this process needs guest memory (it must then be shared).
    public var sharesGuestMemory: Bool {
        if case .vhostUser = self { return true }
        return false
    }

    /// Parses a `--vhost-user-blk` value: `socket=<path>[,queue-size=<N>]`.
    public static func parseVhostUserBlock(_ text: String) throws(ConfigError) -> VirtioDeviceOption {
        let option = "--vhost-user-blk"
        let values = try KeyValueOptions.parse(text, option: option, known: ["socket", "queue-size"])
        let socket = try vhostUserSocket(values, option: option)
        let size = try queueSize(values["queue-size"], default: 256, option: option)
        return .vhostUser(socket: socket, model: .block(queueSize: size))
    }

    /// Parses a `--vhost-user-fs` value: `socket=<path>,tag=<name>[,queue-size=<N>]`.
    public static func parseVhostUserFilesystem(_ text: String) throws(ConfigError) -> VirtioDeviceOption {
        let option = "--vhost-user-fs"
        let values = try KeyValueOptions.parse(text, option: option, known: ["socket", "tag", "queue-size"])
        let socket = try vhostUserSocket(values, option: option)
        guard let tag = values["tag"] else { throw ConfigError("\(option): tag=<name> is required") }
        let size = try queueSize(values["queue-size"], default: 1024, option: option)
        do {
            return .vhostUser(socket: socket, model: try .filesystem(tag: tag, queueSize: size))
        } catch {
            throw ConfigError("\(option): \(error)")
        }
    }

    /// Parses a `--vhost-user` value:
    /// `socket=<path>,device-id=<N>,queues=<N>[,queue-size=<N>][,config-size=<bytes>]`.
    public static func parseVhostUser(_ text: String) throws(ConfigError) -> VirtioDeviceOption {
        let option = "--vhost-user"
        let values = try KeyValueOptions.parse(
            text, option: option, known: ["socket", "device-id", "queues", "queue-size", "config-size"])
        let socket = try vhostUserSocket(values, option: option)
        guard let idText = values["device-id"], let id = UInt32(idText), (1...63).contains(id) else {
            throw ConfigError("\(option): device-id=<1...63> (a virtio device ID) is required")
        }
        guard let queuesText = values["queues"], let queues = Int(queuesText), (1...64).contains(queues) else {
            throw ConfigError("\(option): queues=<1...64> is required")
        }
        let size = try queueSize(values["queue-size"], default: 256, option: option)
        var config = VhostUserDeviceModel.ConfigSource.local([])
        if let configText = values["config-size"] {
            guard let bytes = Int(configText), (0...Int(VhostUserMessage.maximumConfigSize)).contains(bytes) else {
                throw ConfigError("\(option): config-size is 0...\(VhostUserMessage.maximumConfigSize) bytes")
            }
            if bytes > 0 { config = .backend(size: bytes) }
        }
        return .vhostUser(
            socket: socket,
            model: VhostUserDeviceModel(
                type: VirtioDeviceType(rawValue: id), queueSizes: Array(repeating: size, count: queues),
                config: config))
    }

    static func vhostUserSocket(_ values: [String: String], option: String) throws(ConfigError) -> String {
        guard let socket = values["socket"], !socket.isEmpty else {
            throw ConfigError("\(option): socket=<path> is required")
        }
        guard socket.utf8.count <= 107 else {
            throw ConfigError("\(option): socket path is too long for a Unix socket")
        }
        return socket
    }

    static func queueSize(_ text: String?, default value: UInt16, option: String) throws(ConfigError) -> UInt16 {
        guard let text else { return value }
        guard let size = UInt16(text), size > 0, size <= 32768, size & (size - 1) == 0 else {
            throw ConfigError("\(option): queue-size must be a power of two, 1...32768, got '\(text)'")
        }
        return size
    }

    /// Parses a `--net` value.
    public static func parseNet(_ text: String) throws(ConfigError) -> VirtioDeviceOption {
        let values = try KeyValueOptions.parse(text, option: "--net", known: ["tap", "mac"])
        return try net(tap: values["tap"], mac: values["mac"], option: "--net")
    }

    /// A checked virtio-net option: a tap name (at most 15 bytes) and an optional unicast MAC
    /// (`52:54:00:12:34:56`); errors start with `option`.
    public static func net(tap: String?, mac macText: String?, option: String) throws(ConfigError) -> VirtioDeviceOption
    {
        guard let tap, !tap.isEmpty else { throw ConfigError("\(option): tap= is required") }
        guard tap.utf8.count < 16 else {
            throw ConfigError("\(option): an interface name has at most 15 bytes: '\(tap)'")
        }
        guard let macText else { return .net(tap: tap, mac: nil) }
        let parts = macText.split(separator: ":", omittingEmptySubsequences: false)
        let bytes = parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }
        guard parts.count == 6, bytes.count == 6 else {
            throw ConfigError("\(option): mac must look like 52:54:00:12:34:56, got '\(macText)'")
        }
        guard bytes[0] & 1 == 0 else { throw ConfigError("\(option): mac \(macText) is a multicast address") }
        return .net(tap: tap, mac: bytes)
    }

    /// Parses a `--vsock` value.
    public static func parseVsock(_ text: String) throws(ConfigError) -> VirtioDeviceOption {
        let values = try KeyValueOptions.parse(text, option: "--vsock", known: ["cid", "uds"])
        guard let cidText = values["cid"], let cid = UInt64(cidText) else {
            throw ConfigError("--vsock: cid=<number> is required")
        }
        return try vsock(cid: cid, path: values["uds"], option: "--vsock")
    }

    /// A checked virtio-vsock option; errors start with `option`.
    public static func vsock(cid: UInt64, path: String?, option: String) throws(ConfigError) -> VirtioDeviceOption {
        // 0-2 are the hypervisor, local and host; the top of the 32-bit range is reserved (VMADDR_CID_ANY).
        guard cid >= 3, cid < 0xffff_ffff else {
            throw ConfigError("\(option): cid must be 3...4294967294, got \(cid)")
        }
        guard let path, !path.isEmpty else { throw ConfigError("\(option): uds=<path> is required") }
        // sun_path holds 107 bytes plus the NUL; the per-port sockets append _<port>.
        guard path.utf8.count + 11 <= 107 else {
            throw ConfigError("\(option): uds path is too long for a Unix socket")
        }
        return .vsock(cid: cid, path: path)
    }

    /// Parses a `--console` value.
    public static func parseConsole(_ text: String) throws(ConfigError) -> VirtioDeviceOption {
        let values = try KeyValueOptions.parse(text, option: "--console", known: ["output"])
        guard let output = values["output"], !output.isEmpty else {
            throw ConfigError("--console: output=<file> is required")
        }
        return .console(output: output)
    }

    /// Parses a `--block` value.
    public static func parseBlock(_ text: String) throws(ConfigError) -> VirtioDeviceOption {
        let values = try KeyValueOptions.parse(text, option: "--block", known: ["path", "readonly", "direct", "id"])
        guard let path = values["path"], !path.isEmpty else { throw ConfigError("--block: path= is required") }
        if let id = values["id"], id.utf8.count > 20 {
            throw ConfigError("--block: id is at most 20 bytes, got \(id.utf8.count)")
        }
        return .block(
            path: path, readOnly: try onOff(values["readonly"], key: "readonly", option: "--block"),
            direct: try onOff(values["direct"], key: "direct", option: "--block"), id: values["id"])
    }

    /// `on`/`off` (also `true`/`false`); nil when absent means off.
    static func onOff(_ value: String?, key: String, option: String) throws(ConfigError) -> Bool {
        switch value {
        case nil, "off", "false": return false
        case "on", "true": return true
        case let other?: throw ConfigError("\(option): \(key) must be on or off, got '\(other)'")
        }
    }
}

/// Where each virtio-mmio device sits: a 4 KiB register window in the MMIO gap and an ISA
/// interrupt of its own (edge-triggered through the IOAPIC, as irqfd delivers it).
///
/// ```swift
/// let places = try VirtioPlacement.places(count: 2, mmioGapStart: plan.layout.mmioGapStart)
/// print(places[0].kernelParameter)  // virtio_mmio.device=4K@0xc0010000:5
/// ```
public struct VirtioPlacement: Equatable, Sendable {
    /// The ISA interrupts free for virtio devices (0–2 timer/keyboard/cascade, 3–4 COM ports, 8 RTC, 13 FPU).
    public static let interrupts: [UInt32] = [5, 6, 7, 9, 10, 11, 12, 14, 15]
    /// Offset of the first window from the MMIO gap's start (the boot timer uses the first page).
    public static let firstWindowOffset: UInt64 = 0x1_0000

    /// The register window's guest-physical base.
    public var base: UInt64
    /// The interrupt (IOAPIC pin and GSI).
    public var interrupt: UInt32

    /// The kernel parameter announcing the device (`virtio_mmio.device=4K@<base>:<irq>`).
    public var kernelParameter: String { "virtio_mmio.device=4K@0x\(String(base, radix: 16)):\(interrupt)" }

    /// Places `count` devices; more than ``interrupts`` has room for is an error.
    public static func places(count: Int, mmioGapStart: UInt64) throws(ConfigError) -> [VirtioPlacement] {
        guard count <= interrupts.count else {
            throw ConfigError(
                "at most \(interrupts.count) virtio devices fit (one free ISA interrupt each), got \(count)")
        }
        return (0..<count).map { index in
            VirtioPlacement(
                base: mmioGapStart + firstWindowOffset + UInt64(index) * 0x1000, interrupt: interrupts[index])
        }
    }
}

/// The virtio devices of one run: their transports on the MMIO bus, their interrupt
/// groups, and the I/O thread (an EventManager loop) that serves every queue, so device
/// work never runs on a vCPU thread.
final class VirtioAttachments: @unchecked Sendable {
    // @unchecked: built and torn down by the thread in IntegrationVMM.run; the parts are thread-safe.
    typealias Memory = GuestMemoryMap<MmapRegion>

    let loop: EventLoopThread
    private(set) var groups: [any EventInterruptSourceGroup] = []
    private(set) var transports: [MmioTransport<Memory>] = []
    /// Devices whose queue notifications fall back to MMIO exits (no ioeventfd).
    private(set) var notifyExits = 0

    private init(loop: EventLoopThread) { self.loop = loop }

    /// Creates each device in `options` at its place, wires its interrupt and ioeventfds.
    static func attach(
        _ options: [VirtioDeviceOption], at places: [VirtioPlacement], vm: some VirtualMachine, memory: Memory,
        buses: DeviceBuses
    ) throws(VMMError) -> VirtioAttachments? {
        guard !options.isEmpty else { return nil }
        let loop: EventLoopThread
        do {
            loop = try EventLoopThread.start()
        } catch {
            throw VMMError("virtio I/O thread", cause: error)
        }
        // Named for `ps -L`, audit records and the seccomp trap reporter.
        _ = try? loop.remote.call { _ in try? ThreadName.set("virtio-io") }
        let attachments = VirtioAttachments(loop: loop)
        do throws(VMMError) {
            for (option, place) in zip(options, places) {
                try attachments.attach(option, at: place, vm: vm, memory: memory, buses: buses)
            }
        } catch {
            attachments.shutdown()
            throw error
        }
        return attachments
    }

    private func attach(
        _ option: VirtioDeviceOption, at place: VirtioPlacement, vm: some VirtualMachine, memory: Memory,
        buses: DeviceBuses
    ) throws(VMMError) {
        let what = "virtio device at 0x\(String(place.base, radix: 16))"
        let group: any EventInterruptSourceGroup
        do {
            group = try vm.createLegacyInterruptGroup(lines: [LegacyInterruptLine(pin: place.interrupt)])
            try group.enable()
        } catch {
            throw VMMError("\(what): interrupt \(place.interrupt)", cause: error)
        }
        groups.append(group)
        let device = try Self.makeDevice(option, memory: memory, eventLoop: loop.remote, place: place)
        let transport: MmioTransport<Memory>
        do {
            transport = try MmioTransport(
                device: device, interrupt: VirtioInterrupt(group: group, index: 0), eventLoop: loop.remote,
                memory: memory)
            try buses.mmio.insert(transport, at: BusRange(base: place.base, size: MmioTransport<Memory>.windowSize))
        } catch {
            throw VMMError("\(what)", cause: error)
        }
        transports.append(transport)
        // Notifications through an ioeventfd do not leave the kernel; without one they arrive as MMIO exits.
        for notifier in transport.notifiers {
            do {
                try vm.registerIOEventFd(
                    notifier.event, address: .mmio(place.base + MmioRegister.queueNotify), length: 4,
                    datamatch: UInt64(notifier.queueIndex))
            } catch {
                notifyExits += 1
            }
        }
    }

    static func makeDevice(
        _ option: VirtioDeviceOption, memory: Memory, eventLoop: RemoteEndpoint, place: VirtioPlacement
    ) throws(VMMError) -> any VirtioDevice<Memory> {
        switch option {
        case .vhostUser(let socket, let model):
            let base = "0x\(String(place.base, radix: 16))"
            do {
                return try VhostUserDevice(socketPath: socket, model: model, memory: memory, eventLoop: eventLoop) {
                    line in
                    // One line per loss; the device is marked DEVICE_NEEDS_RESET, the VM goes on.
                    printError("integration-vmm: \(line); the device at \(base) needs a reset, the VM keeps running")
                }
            } catch {
                throw VMMError("\(model.type) at \(base)", cause: error)
            }
        case .entropy:
            return EntropyDevice<Memory>()
        case .block(let path, let readOnly, let direct, let id):
            do {
                return try BlockDevice<Memory>(
                    path: path, options: DiskImage.Options(readOnly: readOnly, direct: direct, identifier: id))
            } catch {
                throw VMMError("--block \(path)", cause: error)
            }
        case .vsock(let cid, let path):
            do {
                return try VsockDevice<Memory>(configuration: VsockConfiguration(guestCID: cid, socketPath: path))
            } catch {
                throw VMMError("--vsock", cause: error)
            }
        case .console(let path):
            let file: ConsoleFile
            do {
                file = try ConsoleFile(path: path)
            } catch {
                throw VMMError("--console: \(path)", cause: error)
            }
            return ConsoleDevice<Memory>(output: { bytes in file.append(bytes) })
        case .net(let name, let macBytes):
            do {
                let mac = try macBytes.flatMap { MacAddress(bytes: $0) } ?? MacAddress.random()
                return try NetDevice<Memory>(tap: try Tap(name: name), mac: mac)
            } catch let error as TapError {
                throw VMMError("--net", cause: error)
            } catch {
                throw VMMError("--net \(name)", cause: error)
            }
        }
    }

    /// Installs `program` on the I/O thread (it was started before the VMM thread's own filter).
    func installFilter(_ program: BPFProgram) throws(VMMError) {
        let result: VMMError?
        do {
            result = try loop.remote.call { _ in
                do throws(VMMError) {
                    try Sandbox.install(program, category: "io")
                    return nil
                } catch {
                    return error
                }
            }
        } catch {
            throw VMMError("virtio I/O thread", cause: error)
        }
        if let result { throw result }
    }

    /// Stops the I/O thread and detaches the interrupts (from the thread whose filter allows KVM_IRQFD).
    func shutdown() {
        _ = loop.stopAndJoin()
        for group in groups { try? group.disable() }
    }
}

/// The file virtio-console output is appended to (written on the I/O thread).
final class ConsoleFile: Sendable {
    let descriptor: FileDescriptor

    init(path: String) throws(SystemError) {
        descriptor = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode: 0o644)
    }

    /// Appends `bytes`; a failing file drops output rather than stopping the guest.
    func append(_ bytes: [UInt8]) { try? descriptor.write(bytes) }
}
