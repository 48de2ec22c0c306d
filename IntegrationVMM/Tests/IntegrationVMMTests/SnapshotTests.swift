// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets
import Hypervisor
import IntegrationVMMCore
import Testing
import VMSuperIO

/// A pipe the machine's console writes to, read line by line on a thread of its own.
final class ConsoleCapture: @unchecked Sendable {
    // @unchecked: `lines` is behind `condition`.
    let writeEnd: Int32
    private let readEnd: Int32
    private let condition = NSCondition()
    private var lines: [String] = []
    private var closed = false

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw GuestRequirement.Missing(description: "pipe: errno \(errno)") }
        (readEnd, writeEnd) = (fds[0], fds[1])
        let thread = Thread { [self] in readLoop() }
        thread.start()
    }

    private func readLoop() {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            pending += buffer[0..<count]
            while let newline = pending.firstIndex(of: 0x0a) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                pending.removeSubrange(...newline)
                condition.withLock {
                    lines.append(line)
                    condition.broadcast()
                }
            }
        }
        close(readEnd)
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    /// Every line so far.
    var all: [String] { condition.withLock { lines } }

    /// Waits until a line satisfies `match`; returns it, or nil after `timeout` seconds.
    func wait(timeout: Double, for match: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        return condition.withLock {
            var seen = 0
            while true {
                while seen < lines.count {
                    if match(lines[seen]) { return lines[seen] }
                    seen += 1
                }
                if closed || !condition.wait(until: deadline) { return nil }
            }
        }
    }

    /// Closes the write end (the machine is done with it).
    func finish() { close(writeEnd) }
}

/// The counter a `TICK n` line reports.
private func tick(_ line: String) -> Int? {
    guard line.hasPrefix("TICK ") else { return nil }
    return Int(line.dropFirst(5))
}

/// How a machine's run ended, once it has.
final class RunRecord: @unchecked Sendable {
    // @unchecked: written once by the run's thread before `group.leave()`, read after `wait`.
    var ending = "still running"
    let group = DispatchGroup()
}

/// Runs `machine` on a thread of its own; the record's group is left when ``Machine/run()`` returns.
private func start(_ machine: Machine<KVMHypervisor>) -> RunRecord {
    let record = RunRecord()
    record.group.enter()
    let thread = Thread {
        do {
            record.ending = "\(try machine.run().outcome)"
        } catch {
            record.ending = "error: \(error)"
        }
        record.group.leave()
    }
    thread.stackSize = 1 << 20
    thread.start()
    return record
}

@Suite("Snapshots: pause, save, restore into a new VM", .serialized)
struct SnapshotTests {
    static let counter = "i=0; while true; do echo TICK $i; i=$((i+1)); sleep 1; done"

    @Test(.timeLimit(.minutes(6))) func aCountingGuestContinuesInANewVMFromItsSnapshot() throws {
        guard let (assets, binary) = try GuestRequirement.guest() else { return }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ivmm-snapshot-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let statePath = folder.appendingPathComponent(MachineSnapshot.stateFileName).path
        let memoryPath = folder.appendingPathComponent(MachineSnapshot.memoryFileName).path

        var config = MachineConfig(
            kernel: assets.kernel.path,
            commandLine: DefaultGuestParameters.complete(
                try GuestCommandLine.running(Self.counter, after: assets.commandLine)))
        config.initrd = assets.initramfs?.path
        config.vcpus = 2
        let console = try ConsoleCapture()
        var options = RunOptions()
        options.forwardInput = false
        options.outputDescriptor = console.writeEnd
        let machine = try Machine.build(config, options: options, on: try KVMHypervisor())
        let running = start(machine)
        let third = console.wait(timeout: 180) { (tick($0) ?? -1) >= 3 }
        try #require(third != nil, "the guest did not count to 3: \(console.all.suffix(20))")

        try machine.pause()
        #expect(machine.isPaused)
        try machine.snapshot(statePath: statePath, memoryPath: memoryPath)
        // What the guest printed before the pause may still be in the pipe: read the count once it
        // has drained, then check that no tick comes for two more seconds (the guest counts one a second).
        Thread.sleep(forTimeInterval: 2)
        let countedBeforeSnapshot = console.all.compactMap(tick).max() ?? -1
        Thread.sleep(forTimeInterval: 2)
        let countedWhilePaused = console.all.compactMap(tick).max() ?? -1
        #expect(countedWhilePaused == countedBeforeSnapshot)
        machine.stop()
        #expect(running.group.wait(timeout: .now() + 20) == .success)
        console.finish()

        // The memory file is as long as guest RAM and sparse (an idle guest leaves most pages zero).
        var status = stat()
        try #require(stat(memoryPath, &status) == 0)
        #expect(UInt64(status.st_size) == config.memorySize)
        #expect(UInt64(status.st_blocks) * 512 < config.memorySize / 2)
        let saved = try MachineSnapshot.load(from: statePath)
        #expect(saved.vcpus.count == 2)
        #expect(saved.machine.memorySize == config.memorySize)

        // A new VM, from the files only: the count goes on from where it stopped.
        let console2 = try ConsoleCapture()
        options.outputDescriptor = console2.writeEnd
        let restored = try Machine.restore(
            statePath: statePath, memoryPath: memoryPath, options: options, on: try KVMHypervisor())
        let resumed = start(restored)
        let next = console2.wait(timeout: 60) { tick($0) != nil }
        let later = console2.wait(timeout: 60) { (tick($0) ?? -1) >= countedBeforeSnapshot + 3 }
        let endedEarly = resumed.group.wait(timeout: .now()) == .success
        restored.stop()
        #expect(!endedEarly, "the restored guest stopped by itself: \(resumed.ending)")
        #expect(resumed.group.wait(timeout: .now() + 20) == .success)
        console2.finish()
        let first = try #require(
            next.flatMap(tick), "the restored guest printed no tick (\(resumed.ending)): \(console2.all.suffix(20))")
        #expect(first == countedBeforeSnapshot + 1)
        #expect(later != nil, "the restored guest stopped counting: \(console2.all.suffix(20))")
        #expect(console.all.contains { $0.contains(GuestCommandLine.readyMarker) })
        #expect(!console2.all.contains { $0.contains(GuestCommandLine.readyMarker) })  // it did not boot again

        // The same files, restored again by a new integration-vmm process, after a pause long enough
        // that a guest keeping time with the host's TSC would see the jump.
        Thread.sleep(forTimeInterval: 20)
        var ticks: [Int] = []
        let process = try VMMRun.run(binary, ["--restore", folder.path], timeout: 120) { line, pid in
            guard let count = tick(line.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
            ticks.append(count)
            if count >= countedBeforeSnapshot + 2 { kill(pid, SIGTERM) }
        }
        #expect(ticks.first == countedBeforeSnapshot + 1, "\(process.stderr) \(process.stdout.suffix(400))")
        #expect(ticks.contains(countedBeforeSnapshot + 2))
        #expect(process.status == 128 + SIGTERM)
        // Machine options do not mix with a snapshot's machine.
        let mixed = try VMMRun.run(binary, ["--restore", folder.path, "--vcpus", "4"], timeout: 60)
        #expect(mixed.status == 1)
        #expect(mixed.stderr.contains("drop --vcpus"))
    }

    @Test func aStateFileFromAnotherVersionOrAnotherMachineIsRefusedWithOneLine() throws {
        guard access("/dev/kvm", R_OK | W_OK) == 0 else {
            try GuestRequirement.missing("/dev/kvm")
            return
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ivmm-snapshot-bad-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let statePath = folder.appendingPathComponent("vm.state").path
        let memoryPath = folder.appendingPathComponent("vm.mem").path
        let hypervisor = try KVMHypervisor()
        let state = MachineSnapshot(
            format: MachineSnapshot.formatName, version: MachineSnapshot.currentVersion,
            machine: .init(
                vcpus: 1, memorySize: 128 << 20, commandLine: "console=ttyS0", hostFlavour: "\(hypervisor.flavour)",
                virtioDevices: []),
            vm: VMState(platform: [], clockNanoseconds: 0), vcpus: [],
            serial: SerialState(
                divisorLow: 12, divisorHigh: 0, interruptEnable: 0, lineControl: 3, modemControl: 0, scratch: 0,
                lineErrors: 0, modemDeltas: 0, lastModemInputs: 0xb0, fifosEnabled: false, triggerLevel: 1,
                transmitterEmptyPending: false, receive: [], transmit: []),
            memory: [.init(guestAddress: 0, size: 128 << 20, fileOffset: 0)])

        func refusal(_ snapshot: MachineSnapshot) throws -> String {
            try snapshot.save(to: statePath)
            do {
                _ = try Machine.restore(
                    statePath: statePath, memoryPath: memoryPath, options: RunOptions(), on: hypervisor)
                return "restored"
            } catch {
                return error.description
            }
        }
        var newer = state
        newer.version = MachineSnapshot.currentVersion + 1
        #expect(try refusal(newer).contains("version \(MachineSnapshot.currentVersion + 1)"))
        var foreign = state
        foreign.format = "firecracker"
        #expect(try refusal(foreign).contains("format 'firecracker'"))
        #expect(try refusal(state).contains("0 vCPU state(s) for 1 vCPU(s)"))
        var elsewhere = state
        elsewhere.machine.hostFlavour = hypervisor.flavour == .vmx ? "svm" : "vmx"
        #expect(try refusal(elsewhere).contains("saved on a \(elsewhere.machine.hostFlavour) host"))
        try "{\"format\": 7}".write(toFile: statePath, atomically: true, encoding: .utf8)
        do {
            _ = try Machine.restore(statePath: statePath, memoryPath: memoryPath, options: RunOptions(), on: hypervisor)
            Issue.record("a malformed state file was accepted")
        } catch {
            #expect(error.description.contains("not a state file this VMM wrote"))
        }
        #expect(
            !error(of: {
                try Machine.restore(
                    statePath: folder.appendingPathComponent("missing").path, memoryPath: memoryPath,
                    options: RunOptions(),
                    on: hypervisor)
            }).isEmpty)
    }
}

/// The description of what `body` throws ("" when it does not).
private func error(of body: () throws -> Any) -> String {
    do {
        _ = try body()
        return ""
    } catch {
        return "\(error)"
    }
}
