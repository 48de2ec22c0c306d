// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

// The request and response bodies of the control API, field for field as Firecracker's swagger
// (src/firecracker/swagger/firecracker.yaml) names them. Only what integration-vmm implements is
// here; IntegrationVMM/API/integration-vmm.yaml publishes the same subset.

/// `BootSource`.
struct BootSource: Codable, Equatable, Sendable {
    var kernel_image_path: String
    var boot_args: String?
    var initrd_path: String?
    static let fields: Set<String> = ["kernel_image_path", "boot_args", "initrd_path"]
}

/// `MachineConfiguration`.
struct MachineConfiguration: Codable, Equatable, Sendable {
    var vcpu_count: Int
    var mem_size_mib: Int
    var smt: Bool?
    var track_dirty_pages: Bool?
    var cpu_template: String?
    var huge_pages: String?
    static let fields: Set<String> = [
        "vcpu_count", "mem_size_mib", "smt", "track_dirty_pages", "cpu_template", "huge_pages",
    ]
}

/// `Drive`: a virtio-blk disk (`path_on_host`) or a vhost-user-blk one (`socket`).
struct Drive: Codable, Equatable, Sendable {
    var drive_id: String
    var is_root_device: Bool
    var partuuid: String?
    var cache_type: String?
    var is_read_only: Bool?
    var path_on_host: String?
    var io_engine: String?
    var socket: String?
    static let fields: Set<String> = [
        "drive_id", "is_root_device", "partuuid", "cache_type", "is_read_only", "path_on_host", "io_engine", "socket",
    ]
}

/// `NetworkInterface`.
struct NetworkInterface: Codable, Equatable, Sendable {
    var iface_id: String
    var host_dev_name: String
    var guest_mac: String?
    static let fields: Set<String> = ["iface_id", "host_dev_name", "guest_mac"]
}

/// `Vsock`.
struct Vsock: Codable, Equatable, Sendable {
    var guest_cid: Int
    var uds_path: String
    var vsock_id: String?
    static let fields: Set<String> = ["guest_cid", "uds_path", "vsock_id"]
}

/// `InstanceActionInfo`.
struct InstanceActionInfo: Codable {
    var action_type: String
    static let fields: Set<String> = ["action_type"]
}

/// `Vm`.
struct VMStateRequest: Codable {
    var state: String
    static let fields: Set<String> = ["state"]
}

/// `SnapshotCreateParams`.
struct SnapshotCreateParams: Codable {
    var mem_file_path: String
    var snapshot_path: String
    var snapshot_type: String?
    static let fields: Set<String> = ["mem_file_path", "snapshot_path", "snapshot_type"]
}

/// `MemoryBackend`.
struct MemoryBackend: Codable {
    var backend_type: String
    var backend_path: String
    static let fields: Set<String> = ["backend_type", "backend_path"]
}

/// `SnapshotLoadParams`.
struct SnapshotLoadParams: Codable {
    var snapshot_path: String
    var mem_file_path: String?
    var mem_backend: MemoryBackend?
    var enable_diff_snapshots: Bool?
    var track_dirty_pages: Bool?
    var resume_vm: Bool?
    static let fields: Set<String> = [
        "snapshot_path", "mem_file_path", "mem_backend", "enable_diff_snapshots", "track_dirty_pages", "resume_vm",
    ]
}

/// `InstanceInfo`.
struct InstanceInfo: Codable {
    var app_name: String
    var id: String
    var state: String
    var vmm_version: String
}

/// `FullVmConfiguration` (the parts integration-vmm has).
struct FullVMConfiguration: Codable {
    var bootSource: BootSource?
    var machineConfig: MachineConfiguration
    var drives: [Drive]
    var networkInterfaces: [NetworkInterface]
    var vsock: Vsock?

    enum CodingKeys: String, CodingKey {
        case bootSource = "boot-source"
        case machineConfig = "machine-config"
        case drives
        case networkInterfaces = "network-interfaces"
        case vsock
    }
}

/// `Error`.
struct FaultMessage: Codable {
    var fault_message: String
}

/// Decodes a request body strictly, as Firecracker does: a JSON object whose keys are all
/// known (`fields`, and for nested objects their own sets), with the declared types.
enum StrictJSON {
    static func decode<T: Decodable>(
        _ type: T.Type, from body: [UInt8], fields: Set<String>, nested: [String: Set<String>] = [:]
    ) throws(APIError) -> T {
        guard !body.isEmpty else { throw APIError("the request needs a JSON body") }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(body))
        } catch {
            throw APIError("malformed JSON: \(Self.reason(error))")
        }
        guard let dictionary = object as? [String: Any] else { throw APIError("the body must be a JSON object") }
        try check(dictionary, fields: fields, where: nil)
        for (key, keys) in nested {
            if let inner = dictionary[key], !(inner is NSNull) {
                guard let innerObject = inner as? [String: Any] else { throw APIError("`\(key)` must be an object") }
                try check(innerObject, fields: keys, where: key)
            }
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch let error as DecodingError {
            throw APIError(Self.describe(error))
        } catch {
            throw APIError("malformed body: \(error)")
        }
    }

    private static func check(_ object: [String: Any], fields: Set<String>, where parent: String?) throws(APIError) {
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            let place = parent.map { " in `\($0)`" } ?? ""
            throw APIError(
                "unknown field `\(unknown)`\(place), expected one of \(fields.sorted().map { "`\($0)`" }.joined(separator: ", "))"
            )
        }
    }

    private static func reason(_ error: any Error) -> String {
        (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
    }

    private static func path(_ context: DecodingError.Context) -> String {
        context.codingPath.map(\.stringValue).joined(separator: ".")
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "missing field `\(key.stringValue)`"
        case .typeMismatch(let type, let context): "`\(path(context))` must be \(typeName(type))"
        case .valueNotFound(let type, let context): "`\(path(context))` must be \(typeName(type)), not null"
        case .dataCorrupted(let context): "malformed body: \(context.debugDescription)"
        @unknown default: "malformed body"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type: "an integer"
        default: "\(type)"
        }
    }
}

/// A request the API refuses: 400 with `{"fault_message": ...}`.
public struct APIError: Error, Equatable, CustomStringConvertible {
    /// The fault message.
    public var description: String
    /// The HTTP status (400 unless the path or method is unknown).
    public var status: Int
    init(_ description: String, status: Int = 400) {
        self.description = description
        self.status = status
    }
}
