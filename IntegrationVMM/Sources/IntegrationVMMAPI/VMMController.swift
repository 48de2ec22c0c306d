// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Hypervisor
import IntegrationVMMCore

/// One API response: a status and, for 200 and the errors, a JSON body.
public struct APIResponse: Equatable, Sendable {
    /// HTTP status (200, 204, 400, 404 or 405).
    public var status: Int
    /// The JSON body, empty for 204.
    public var body: [UInt8]
    /// For 405: the methods the path takes (the `Allow` header).
    public var allow: [String] = []

    static let noContent = APIResponse(status: 204, body: [])

    static func json(_ value: some Encodable, status: Int = 200) -> APIResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return APIResponse(status: status, body: Array((try? encoder.encode(value)) ?? Data("{}".utf8)))
    }

    static func fault(_ error: APIError) -> APIResponse {
        json(FaultMessage(fault_message: error.description), status: error.status)
    }
}

/// integration-vmm's control plane, shaped like Firecracker's API: before the start it collects
/// the boot source, machine configuration and devices (or loads a snapshot); `InstanceStart`
/// builds the machine and hands it to the thread waiting in ``waitForMachine()``, which runs
/// it; afterwards it pauses, resumes and snapshots that machine. The HTTP server
/// (``APIServer``) only carries requests to ``handle(method:path:body:)``, so every rule is here
/// and testable without a socket.
///
/// ```swift
/// let controller = VMMController(options: RunOptions())
/// let reply = controller.handle(method: "PUT", path: "/machine-config",
///                               body: Array(#"{"vcpu_count": 2, "mem_size_mib": 256}"#.utf8))
/// print(reply.status)   // 204
/// ```
public final class VMMController: @unchecked Sendable {
    // @unchecked: every field is behind `condition`.
    private let condition = NSCondition()
    private let options: RunOptions
    private let makeHypervisor: @Sendable () throws -> KVMHypervisor
    private var bootSource: BootSource?
    private var machineConfig = MachineConfiguration(vcpu_count: 1, mem_size_mib: 128)
    private var drives: [Drive] = []
    private var interfaces: [NetworkInterface] = []
    private var vsock: Vsock?
    private var machine: Machine<KVMHypervisor>?
    private var paused = false
    /// Serializes the requests that change the machine (a pause must not meet a snapshot half-way).
    private let operations = NSLock()

    /// The instance id `GET /` reports.
    public let instanceID: String
    /// The version `GET /` reports.
    public static let version = "0.1.0"

    /// A controller whose machine will run with `options`.
    public init(
        options: RunOptions, instanceID: String = "integration-vmm",
        makeHypervisor: @escaping @Sendable () throws -> KVMHypervisor = { try KVMHypervisor() }
    ) {
        self.options = options
        self.instanceID = instanceID
        self.makeHypervisor = makeHypervisor
    }

    /// Starts `config` at once (integration-vmm's boot flags together with `--api-sock`).
    public func start(_ config: MachineConfig) throws(VMMError) {
        let hypervisor: KVMHypervisor
        do {
            hypervisor = try makeHypervisor()
        } catch {
            throw VMMError("cannot open KVM", cause: error)
        }
        let built = try Machine.build(config, options: options, on: hypervisor)
        condition.withLock {
            bootSource = BootSource(
                kernel_image_path: config.kernel, boot_args: config.commandLine, initrd_path: config.initrd)
            machineConfig = MachineConfiguration(vcpu_count: config.vcpus, mem_size_mib: Int(config.memorySize >> 20))
            machine = built
            condition.broadcast()
        }
    }

    /// Blocks until `InstanceStart` or a snapshot load made a machine; the caller runs it.
    public func waitForMachine() -> Machine<KVMHypervisor> {
        condition.withLock {
            while machine == nil { condition.wait() }
            return machine!
        }
    }

    // MARK: Requests

    /// Answers one request (the path without query; the body as sent).
    public func handle(method: String, path: String, body: [UInt8]) -> APIResponse {
        do {
            return try route(method: method, path: path, body: body)
        } catch {
            return .fault(error)
        }
    }

    private func route(method: String, path: String, body: [UInt8]) throws(APIError) -> APIResponse {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch (method, parts.first, parts.count) {
        case ("GET", nil, 0): return .json(instanceInfo())
        case ("PUT", "actions", 1): return try action(body)
        case ("PUT", "boot-source", 1): return try preBoot { () throws(APIError) in try putBootSource(body) }
        case ("GET", "machine-config", 1): return .json(condition.withLock { machineConfig })
        case ("PUT", "machine-config", 1): return try preBoot { () throws(APIError) in try putMachineConfig(body) }
        case ("PUT", "drives", 2): return try preBoot { () throws(APIError) in try putDrive(parts[1], body) }
        case ("PUT", "network-interfaces", 2):
            return try preBoot { () throws(APIError) in try putInterface(parts[1], body) }
        case ("PUT", "vsock", 1): return try preBoot { () throws(APIError) in try putVsock(body) }
        case ("PATCH", "vm", 1): return try patchVM(body)
        case ("GET", "vm", 2) where parts[1] == "config": return .json(fullConfiguration())
        case ("PUT", "snapshot", 2) where parts[1] == "create": return try createSnapshot(body)
        case ("PUT", "snapshot", 2) where parts[1] == "load": return try loadSnapshot(body)
        default:
            guard let allowed = Self.allowedMethods(parts) else { throw APIError("invalid path \(path)", status: 404) }
            var response = APIResponse.fault(APIError("\(method) \(path) is not supported", status: 405))
            response.allow = allowed
            return response
        }
    }

    /// The methods a known path takes, or nil for an unknown path.
    static func allowedMethods(_ parts: [String]) -> [String]? {
        switch (parts.first, parts.count) {
        case (nil, 0),
            ("vm", 2) where parts[1] == "config":
            ["GET"]
        case ("machine-config", 1): ["GET", "PUT"]
        case ("actions", 1), ("boot-source", 1), ("vsock", 1), ("drives", 2), ("network-interfaces", 2): ["PUT"]
        case ("snapshot", 2) where ["create", "load"].contains(parts[1]): ["PUT"]
        case ("vm", 1): ["PATCH"]
        default: nil
        }
    }

    private var started: Bool { condition.withLock { machine != nil } }

    /// `condition.withLock` for a body with a typed error (NSLocking's is untyped).
    private func locked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    /// Runs a configuration change, refused once the machine exists (as Firecracker does).
    private func preBoot(_ body: () throws(APIError) -> Void) throws(APIError) -> APIResponse {
        guard !started else { throw APIError("The requested operation is not supported after starting the microVM.") }
        try body()
        return .noContent
    }

    private func instanceInfo() -> InstanceInfo {
        let state = condition.withLock { machine == nil ? "Not started" : paused ? "Paused" : "Running" }
        return InstanceInfo(app_name: "integration-vmm", id: instanceID, state: state, vmm_version: Self.version)
    }

    private func fullConfiguration() -> FullVMConfiguration {
        condition.withLock {
            FullVMConfiguration(
                bootSource: bootSource, machineConfig: machineConfig, drives: drives, networkInterfaces: interfaces,
                vsock: vsock)
        }
    }

    private func putBootSource(_ body: [UInt8]) throws(APIError) {
        let source = try StrictJSON.decode(BootSource.self, from: body, fields: BootSource.fields)
        guard !source.kernel_image_path.isEmpty else { throw APIError("kernel_image_path must not be empty") }
        condition.withLock { bootSource = source }
    }

    private func putMachineConfig(_ body: [UInt8]) throws(APIError) {
        let config = try StrictJSON.decode(MachineConfiguration.self, from: body, fields: MachineConfiguration.fields)
        guard (1...32).contains(config.vcpu_count) else {
            throw APIError("vcpu_count must be between 1 and 32, got \(config.vcpu_count)")
        }
        let minimum = Int(MemoryOption.minimumMiB)
        let maximum = Int(MemoryOption.maximumMiB)
        guard (minimum...maximum).contains(config.mem_size_mib) else {
            throw APIError("mem_size_mib must be between \(minimum) and \(maximum), got \(config.mem_size_mib)")
        }
        guard config.smt != true else { throw APIError("smt is not supported by integration-vmm") }
        guard config.cpu_template == nil || config.cpu_template == "None" else {
            throw APIError("cpu_template \(config.cpu_template!) is not supported (only None)")
        }
        guard config.huge_pages == nil || config.huge_pages == "None" else {
            throw APIError("huge_pages \(config.huge_pages!) is not supported (only None)")
        }
        condition.withLock { machineConfig = config }
    }

    private func putDrive(_ id: String, _ body: [UInt8]) throws(APIError) {
        let drive = try StrictJSON.decode(Drive.self, from: body, fields: Drive.fields)
        guard drive.drive_id == id else { throw APIError("The id from the path does not match the id from the body!") }
        switch (drive.path_on_host, drive.socket) {
        case (let path?, nil):
            guard !path.isEmpty, drive.is_read_only != nil else {
                throw APIError("a virtio-blk drive needs path_on_host and is_read_only")
            }
        case (nil, let socket?):
            guard !socket.isEmpty, drive.is_read_only == nil, !drive.is_root_device else {
                throw APIError("a vhost-user-blk drive takes socket only (no is_read_only, not the root device)")
            }
        default: throw APIError("a drive needs exactly one of path_on_host and socket")
        }
        guard drive.cache_type == nil || ["Unsafe", "Writeback"].contains(drive.cache_type!) else {
            throw APIError("cache_type must be Unsafe or Writeback")
        }
        guard drive.io_engine == nil || drive.io_engine == "Sync" else {
            throw APIError("io_engine \(drive.io_engine!) is not supported (only Sync)")
        }
        try locked { () throws(APIError) in
            if drive.is_root_device, drives.contains(where: { $0.is_root_device && $0.drive_id != id }) {
                throw APIError("A root block device already exists!")
            }
            if let index = drives.firstIndex(where: { $0.drive_id == id }) {
                drives[index] = drive
            } else {
                drives.append(drive)
            }
        }
    }

    private func putInterface(_ id: String, _ body: [UInt8]) throws(APIError) {
        let interface = try StrictJSON.decode(NetworkInterface.self, from: body, fields: NetworkInterface.fields)
        guard interface.iface_id == id else {
            throw APIError("The id from the path does not match the id from the body!")
        }
        do {
            _ = try VirtioDeviceOption.net(
                tap: interface.host_dev_name, mac: interface.guest_mac, option: "network interface")
        } catch {
            throw APIError(error.description)
        }
        condition.withLock {
            if let index = interfaces.firstIndex(where: { $0.iface_id == id }) {
                interfaces[index] = interface
            } else {
                interfaces.append(interface)
            }
        }
    }

    private func putVsock(_ body: [UInt8]) throws(APIError) {
        let device = try StrictJSON.decode(Vsock.self, from: body, fields: Vsock.fields)
        do {
            _ = try VirtioDeviceOption.vsock(
                cid: UInt64(clamping: max(device.guest_cid, 0)), path: device.uds_path, option: "vsock")
        } catch {
            throw APIError(error.description)
        }
        condition.withLock { vsock = device }
    }

    // MARK: Actions, pause, snapshots

    private func action(_ body: [UInt8]) throws(APIError) -> APIResponse {
        let info = try StrictJSON.decode(InstanceActionInfo.self, from: body, fields: InstanceActionInfo.fields)
        switch info.action_type {
        case "InstanceStart": try startConfigured()
        case "SendCtrlAltDel": throw APIError("SendCtrlAltDel is not supported by integration-vmm yet")
        case "FlushMetrics": throw APIError("metrics are not configured")
        default: throw APIError("unknown action_type \(info.action_type)")
        }
        return .noContent
    }

    /// The machine configuration the collected parts describe.
    private func configuration() throws(APIError) -> MachineConfig {
        try locked { () throws(APIError) in
            guard let bootSource else { throw APIError("Cannot start microvm without kernel configuration.") }
            var commandLine = bootSource.boot_args ?? DefaultGuestParameters.complete("console=ttyS0 reboot=k panic=1")
            var config = MachineConfig(
                kernel: bootSource.kernel_image_path, commandLine: commandLine, initrd: bootSource.initrd_path)
            config.vcpus = machineConfig.vcpu_count
            config.memorySize = UInt64(machineConfig.mem_size_mib) << 20
            var letter = UInt8(ascii: "a")
            for drive in drives {
                if let socket = drive.socket {
                    config.virtioDevices.append(.vhostUser(socket: socket, model: .block(queueSize: 256)))
                } else {
                    let readOnly = drive.is_read_only ?? false
                    config.virtioDevices.append(
                        .block(path: drive.path_on_host ?? "", readOnly: readOnly, direct: false, id: drive.drive_id))
                    if drive.is_root_device {
                        commandLine += " root=/dev/vd\(String(UnicodeScalar(letter))) \(readOnly ? "ro" : "rw")"
                    }
                }
                letter += 1
            }
            config.commandLine = commandLine
            do throws(ConfigError) {
                for interface in interfaces {
                    config.virtioDevices.append(
                        try VirtioDeviceOption.net(
                            tap: interface.host_dev_name, mac: interface.guest_mac, option: "network interface"))
                }
                if let vsock {
                    config.virtioDevices.append(
                        try VirtioDeviceOption.vsock(
                            cid: UInt64(vsock.guest_cid), path: vsock.uds_path, option: "vsock"))
                }
            } catch {
                throw APIError(error.description)
            }
            return config
        }
    }

    private func startConfigured() throws(APIError) {
        operations.lock()
        defer { operations.unlock() }
        guard !started else { throw APIError("The microVM is already running.") }
        let config = try configuration()
        do {
            try start(config)
        } catch {
            throw APIError("Start microvm error: \(error)")
        }
    }

    private func running() throws(APIError) -> Machine<KVMHypervisor> {
        guard let machine = condition.withLock({ machine }) else {
            throw APIError("The microVM has not been started.")
        }
        return machine
    }

    private func patchVM(_ body: [UInt8]) throws(APIError) -> APIResponse {
        let request = try StrictJSON.decode(VMStateRequest.self, from: body, fields: VMStateRequest.fields)
        operations.lock()
        defer { operations.unlock() }
        let machine = try running()
        switch request.state {
        case "Paused":
            do {
                try machine.pause()
            } catch {
                throw APIError("Failed to pause the microVM: \(error)")
            }
            condition.withLock { paused = true }
        case "Resumed":
            machine.resume()
            condition.withLock { paused = false }
        default: throw APIError("state must be Paused or Resumed, got \(request.state)")
        }
        return .noContent
    }

    private func createSnapshot(_ body: [UInt8]) throws(APIError) -> APIResponse {
        let request = try StrictJSON.decode(SnapshotCreateParams.self, from: body, fields: SnapshotCreateParams.fields)
        guard request.snapshot_type == nil || request.snapshot_type == "Full" else {
            throw APIError(
                request.snapshot_type == "Diff"
                    ? "Diff snapshots are not supported by integration-vmm yet"
                    : "snapshot_type must be Full or Diff")
        }
        operations.lock()
        defer { operations.unlock() }
        let machine = try running()
        guard condition.withLock({ paused }) else {
            throw APIError(
                "Create snapshot error: the microVM must be paused first (PATCH /vm {\"state\": \"Paused\"})")
        }
        do {
            try machine.snapshot(statePath: request.snapshot_path, memoryPath: request.mem_file_path)
        } catch {
            throw APIError("Create snapshot error: \(error)")
        }
        return .noContent
    }

    private func loadSnapshot(_ body: [UInt8]) throws(APIError) -> APIResponse {
        let request = try StrictJSON.decode(
            SnapshotLoadParams.self, from: body, fields: SnapshotLoadParams.fields,
            nested: ["mem_backend": MemoryBackend.fields])
        let memoryPath: String
        switch (request.mem_file_path, request.mem_backend) {
        case (let path?, nil): memoryPath = path
        case (nil, let backend?):
            guard backend.backend_type == "File" else {
                throw APIError("mem_backend type \(backend.backend_type) is not supported (only File)")
            }
            memoryPath = backend.backend_path
        default: throw APIError("exactly one of mem_file_path and mem_backend is required")
        }
        guard request.enable_diff_snapshots != true, request.track_dirty_pages != true else {
            throw APIError("dirty page tracking is not supported by integration-vmm yet")
        }
        operations.lock()
        defer { operations.unlock() }
        let configured = condition.withLock {
            machine != nil || bootSource != nil || !drives.isEmpty || !interfaces.isEmpty || vsock != nil
        }
        guard !configured else {
            throw APIError("Loading a microVM snapshot not allowed after configuring boot-specific resources.")
        }
        let resume = request.resume_vm ?? false
        do {
            let restored = try Machine.restore(
                statePath: request.snapshot_path, memoryPath: memoryPath, options: options, paused: !resume,
                on: try makeHypervisor())
            condition.withLock {
                machineConfig = MachineConfiguration(
                    vcpu_count: restored.config.vcpus, mem_size_mib: Int(restored.config.memorySize >> 20))
                machine = restored
                paused = !resume
                condition.broadcast()
            }
        } catch {
            throw APIError("Load snapshot error: \(error)")
        }
        return .noContent
    }
}
