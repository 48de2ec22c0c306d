// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets
import IntegrationVMMAPI
import IntegrationVMMCore
import Testing

/// The parsed JSON of a response body (an object), or nil.
private func object(_ body: [UInt8]) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
}

/// The `fault_message` of a response, or "".
private func fault(_ response: APIResponse) -> String {
    object(response.body)?["fault_message"] as? String ?? ""
}

@Suite("Control API: Firecracker's requests, answers and errors")
struct ControlAPIRulesTests {
    let controller = VMMController(options: RunOptions(), instanceID: "test")

    func send(_ method: String, _ path: String, _ body: String = "") -> APIResponse {
        controller.handle(method: method, path: path, body: Array(body.utf8))
    }

    @Test func anUnstartedInstanceDescribesItselfAndItsDefaults() throws {
        let info = try #require(object(send("GET", "/").body))
        #expect(info["state"] as? String == "Not started")
        #expect(info["id"] as? String == "test")
        #expect(info["app_name"] as? String == "integration-vmm")
        let config = try #require(object(send("GET", "/machine-config").body))
        #expect(config["vcpu_count"] as? Int == 1)
        #expect(config["mem_size_mib"] as? Int == 128)
        #expect(send("PUT", "/machine-config", #"{"vcpu_count": 2, "mem_size_mib": 512}"#).status == 204)
        #expect(
            send("PUT", "/boot-source", #"{"kernel_image_path": "/k", "boot_args": "console=ttyS0"}"#).status == 204)
        #expect(
            send(
                "PUT", "/drives/rootfs",
                #"{"drive_id": "rootfs", "path_on_host": "/r", "is_root_device": true, "is_read_only": false}"#
            )
            .status == 204)
        #expect(
            send("PUT", "/network-interfaces/eth0", #"{"iface_id": "eth0", "host_dev_name": "tap0"}"#).status == 204)
        #expect(send("PUT", "/vsock", #"{"guest_cid": 3, "uds_path": "/tmp/v.sock"}"#).status == 204)
        let full = try #require(object(send("GET", "/vm/config").body))
        #expect((full["machine-config"] as? [String: Any])?["mem_size_mib"] as? Int == 512)
        #expect((full["boot-source"] as? [String: Any])?["kernel_image_path"] as? String == "/k")
        #expect((full["drives"] as? [[String: Any]])?.first?["drive_id"] as? String == "rootfs")
        #expect((full["network-interfaces"] as? [[String: Any]])?.first?["host_dev_name"] as? String == "tap0")
        #expect((full["vsock"] as? [String: Any])?["guest_cid"] as? Int == 3)
    }

    @Test func malformedUnknownAndMistypedBodiesGet400WithAFaultMessage() {
        let cases: [(String, String, String, String)] = [
            ("PUT", "/machine-config", #"{"vcpu_count": 2"#, "malformed JSON"),
            ("PUT", "/machine-config", #"[1, 2]"#, "must be a JSON object"),
            ("PUT", "/machine-config", "", "needs a JSON body"),
            (
                "PUT", "/machine-config", #"{"vcpu_count": 2, "mem_size_mib": 256, "color": "red"}"#,
                "unknown field `color`"
            ),
            ("PUT", "/machine-config", #"{"vcpu_count": "2", "mem_size_mib": 256}"#, "`vcpu_count` must be an integer"),
            ("PUT", "/machine-config", #"{"mem_size_mib": 256}"#, "missing field `vcpu_count`"),
            ("PUT", "/machine-config", #"{"vcpu_count": 33, "mem_size_mib": 256}"#, "between 1 and 32"),
            ("PUT", "/machine-config", #"{"vcpu_count": 1, "mem_size_mib": 1}"#, "mem_size_mib must be between"),
            ("PUT", "/machine-config", #"{"vcpu_count": 2, "mem_size_mib": 256, "smt": true}"#, "smt is not supported"),
            (
                "PUT", "/drives/a",
                #"{"drive_id": "b", "is_root_device": false, "path_on_host": "/x", "is_read_only": true}"#,
                "does not match"
            ),
            (
                "PUT", "/drives/a", #"{"drive_id": "a", "is_root_device": false}"#,
                "exactly one of path_on_host and socket"
            ),
            (
                "PUT", "/network-interfaces/n",
                #"{"iface_id": "n", "host_dev_name": "tap0", "guest_mac": "01:00:00:00:00:01"}"#,
                "multicast"
            ),
            ("PUT", "/vsock", #"{"guest_cid": 2, "uds_path": "/tmp/v"}"#, "cid must be"),
            ("PUT", "/actions", #"{"action_type": "InstanceStart"}"#, "without kernel configuration"),
            ("PUT", "/actions", #"{"action_type": "Reboot"}"#, "unknown action_type"),
            ("PATCH", "/vm", #"{"state": "Paused"}"#, "has not been started"),
            ("PUT", "/snapshot/create", #"{"snapshot_path": "/s", "mem_file_path": "/m"}"#, "has not been started"),
            (
                "PUT", "/snapshot/create", #"{"snapshot_path": "/s", "mem_file_path": "/m", "snapshot_type": "Diff"}"#,
                "Diff snapshots are not supported"
            ),
            ("PUT", "/snapshot/load", #"{"snapshot_path": "/s"}"#, "exactly one of mem_file_path and mem_backend"),
            (
                "PUT", "/snapshot/load",
                #"{"snapshot_path": "/s", "mem_backend": {"backend_type": "Uffd", "backend_path": "/u"}}"#,
                "only File"
            ),
            (
                "PUT", "/snapshot/load",
                #"{"snapshot_path": "/s", "mem_backend": {"backend_type": "File", "path": "/u"}}"#,
                "unknown field `path` in `mem_backend`"
            ),
            (
                "PUT", "/snapshot/load", #"{"snapshot_path": "/nonexistent", "mem_file_path": "/m"}"#,
                "Load snapshot error"
            ),
        ]
        for (method, path, body, expected) in cases {
            let response = send(method, path, body)
            #expect(response.status == 400, "\(method) \(path) \(body)")
            #expect(fault(response).contains(expected), "\(method) \(path) \(body): \(fault(response))")
        }
        #expect(send("GET", "/nothing").status == 404)
        #expect(send("DELETE", "/vm").status == 405)
        #expect(object(send("GET", "/").body)?["state"] as? String == "Not started")  // nothing took effect
    }

    @Test func aSnapshotLoadIsRefusedOnceBootResourcesAreConfigured() {
        #expect(send("PUT", "/boot-source", #"{"kernel_image_path": "/k"}"#).status == 204)
        let response = send("PUT", "/snapshot/load", #"{"snapshot_path": "/s", "mem_file_path": "/m"}"#)
        #expect(response.status == 400)
        #expect(fault(response).contains("after configuring boot-specific resources"))
    }
}

/// curl on the API socket: (status, body).
private func request(_ socket: String, _ method: String, _ path: String, _ body: String? = nil) throws -> (Int, String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    var arguments = ["-s", "--max-time", "60", "--unix-socket", socket, "-X", method, "http://localhost\(path)"]
    if let body { arguments += ["-H", "Content-Type: application/json", "-d", body] }
    process.arguments = arguments + ["-w", "\n%{http_code}"]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    let status = Int(text.split(separator: "\n").last ?? "") ?? 0
    return (status, String(text.split(separator: "\n").dropLast().joined(separator: "\n")))
}

/// An integration-vmm process serving the API on `socket`; its console lines collect in `console`.
private final class APIProcess {
    let process = Process()
    let socket: String
    let console: ConsoleCapture

    init(binary: URL, socket: String) throws {
        self.socket = socket
        console = try ConsoleCapture()
        process.executableURL = binary
        process.arguments = ["--api-sock", socket]
        process.standardOutput = FileHandle(fileDescriptor: console.writeEnd, closeOnDealloc: false)
        process.standardError = FileHandle.standardError
        process.standardInput = FileHandle.nullDevice
        try process.run()
        console.finish()  // the child has its copy; end of input comes when it exits
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: socket), Date() < deadline { usleep(20_000) }
    }

    var ticks: [Int] { console.all.compactMap { $0.hasPrefix("TICK ") ? Int($0.dropFirst(5)) : nil } }

    /// Waits up to `timeout` seconds for a tick of at least `count`.
    func waitForTick(_ count: Int, timeout: Double) -> Bool {
        console.wait(timeout: timeout) {
            ($0.hasPrefix("TICK ") ? Int($0.dropFirst(5)) : nil).map { $0 >= count } ?? false
        }
            != nil
    }

    /// Stops the process and waits until everything it printed has been read.
    func stop() {
        if process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        if process.isRunning {
            Issue.record("integration-vmm did not stop within 20 s of SIGTERM")
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        _ = console.wait(timeout: 10) { _ in false }  // returns at end of input
    }
}

@Suite("Control API: a guest configured, paused, snapshotted and loaded over HTTP", .serialized)
struct ControlAPIGuestTests {
    @Test(.timeLimit(.minutes(6))) func aGuestStartedThroughTheAPIIsSnapshottedAndLoadedIntoANewProcess() throws {
        guard let (assets, binary) = try GuestRequirement.guest() else { return }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ivmm-api-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try APIProcess(binary: binary, socket: folder.appendingPathComponent("a.sock").path)
        defer { first.stop() }
        let socket = first.socket
        let bootArgs = DefaultGuestParameters.complete(
            try GuestCommandLine.running(SnapshotTests.counter, after: assets.commandLine))
        let bootSource: [String: Any] = [
            "kernel_image_path": assets.kernel.path, "initrd_path": assets.initramfs?.path ?? "", "boot_args": bootArgs,
        ]
        let bootJSON = String(decoding: try JSONSerialization.data(withJSONObject: bootSource), as: UTF8.self)
        #expect(try request(socket, "PUT", "/machine-config", #"{"vcpu_count": 2, "mem_size_mib": 256}"#).0 == 204)
        #expect(try request(socket, "PUT", "/boot-source", bootJSON).0 == 204)
        #expect(try request(socket, "PUT", "/actions", #"{"action_type": "InstanceStart"}"#).0 == 204)
        let again = try request(socket, "PUT", "/actions", #"{"action_type": "InstanceStart"}"#)
        #expect(again.0 == 400 && again.1.contains("fault_message"))
        let late = try request(socket, "PUT", "/machine-config", #"{"vcpu_count": 1, "mem_size_mib": 128}"#)
        #expect(late.0 == 400 && late.1.contains("after starting"))
        #expect(try request(socket, "GET", "/").1.contains(#""state":"Running""#))
        try #require(first.waitForTick(2, timeout: 180), "the guest did not count to 2")

        let statePath = folder.appendingPathComponent("vm.state").path
        let memoryPath = folder.appendingPathComponent("vm.mem").path
        let create = #"{"snapshot_path": "\#(statePath)", "mem_file_path": "\#(memoryPath)", "snapshot_type": "Full"}"#
        let running = try request(socket, "PUT", "/snapshot/create", create)
        #expect(running.0 == 400 && running.1.contains("must be paused"))
        // Pause and resume: the guest counts on.
        #expect(try request(socket, "PATCH", "/vm", #"{"state": "Paused"}"#).0 == 204)
        #expect(try request(socket, "GET", "/").1.contains(#""state":"Paused""#))
        #expect(try request(socket, "PATCH", "/vm", #"{"state": "Resumed"}"#).0 == 204)
        #expect(try request(socket, "GET", "/").1.contains(#""state":"Running""#))
        let beforeResume = first.ticks.max() ?? -1
        #expect(first.waitForTick(beforeResume + 2, timeout: 60), "the resumed guest did not count on")
        // Pause, snapshot, and end the process: its last tick is the one the snapshot holds.
        #expect(try request(socket, "PATCH", "/vm", #"{"state": "Paused"}"#).0 == 204)
        #expect(try request(socket, "PUT", "/snapshot/create", create).0 == 204)
        first.stop()
        let atPause = first.ticks.max() ?? -1

        let second = try APIProcess(binary: binary, socket: folder.appendingPathComponent("b.sock").path)
        defer { second.stop() }
        let load = #"""
            {"snapshot_path": "\#(statePath)", "mem_backend": {"backend_type": "File", "backend_path": "\#(memoryPath)"},
             "resume_vm": true}
            """#
        #expect(try request(second.socket, "PUT", "/snapshot/load", load).0 == 204)
        #expect(try request(second.socket, "GET", "/").1.contains(#""state":"Running""#))
        #expect(second.waitForTick(atPause + 2, timeout: 90), "the loaded guest did not count on: \(second.ticks)")
        #expect(second.ticks.first == atPause + 1)
        let reload = try request(second.socket, "PUT", "/snapshot/load", load)
        #expect(reload.0 == 400 && reload.1.contains("fault_message"))
    }
}
