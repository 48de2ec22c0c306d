// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Glibc
import GuestAssets
import IntegrationVMMCore
import Testing

/// The guest side of the virtio tests: `IntegrationVMM/GuestTools/vmm-guest-tool.c`, built
/// statically on the host and handed to the guest on a read-only ext4 disk (mkfs.ext4 -d needs
/// no root), plus scratch disks.
struct GuestWorkspace {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("ivmm-virtio-\(getpid())-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Runs a host tool; throws with its output when it fails.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = (environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw GuestRequirement.Missing(description: "\(tool) \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }

    /// Compiles the guest tool and packs it into `tools.img` (16 MiB ext4); returns the image path.
    func toolsImage() throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("GuestTools/vmm-guest-tool.c").path
        let content = path("tools")
        try FileManager.default.createDirectory(atPath: content, withIntermediateDirectories: true)
        try Self.run("cc", ["-static", "-O2", "-o", content + "/vmm-guest-tool", source])
        let image = path("tools.img")
        try Self.run("truncate", ["-s", "16M", image])
        try Self.run("mkfs.ext4", ["-q", "-F", "-d", content, image])
        return image
    }

    /// An empty ext4 disk of `mib` MiB.
    func ext4Disk(_ name: String, mib: Int) throws -> String {
        let image = path(name)
        try Self.run("truncate", ["-s", "\(mib)M", image])
        try Self.run("mkfs.ext4", ["-q", "-F", image])
        return image
    }

    /// Copies `file` out of the ext4 image `image` with debugfs (no mount, no root).
    func extract(_ file: String, from image: String) throws -> Data {
        let target = path("extracted-\(UUID())")
        try Self.run("debugfs", ["-R", "dump \(file) \(target)", image])
        guard let data = FileManager.default.contents(atPath: target) else {
            throw GuestRequirement.Missing(description: "debugfs did not extract \(file) from \(image)")
        }
        try? FileManager.default.removeItem(atPath: target)
        return data
    }
}

/// The data `vmm-guest-tool write-pattern` writes: 64-bit little-endian word i is (8i·K) ^ SEED.
enum GuestPattern {
    static let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
    static let seed: UInt64 = 0x5357_564D_2D56_4D4D

    /// The offset of the first byte of `data` that differs from the pattern, or nil when all match.
    static func firstMismatch(in data: Data) -> Int? {
        data.withUnsafeBytes { raw -> Int? in
            let words = raw.count / 8
            for index in 0..<words {
                let offset = UInt64(index * 8)
                let expected = (offset &* multiplier) ^ seed
                // SAFETY: index * 8 + 8 <= raw.count; loadUnaligned reads within the buffer.
                let actual = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
                if actual != expected { return index * 8 }
            }
            return raw.count % 8 == 0 ? nil : words * 8
        }
    }
}

/// Stream Unix sockets by path, for the vsock tests' host side.
enum HostUnixSocket {
    static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // SAFETY: the path is copied into sun_path with room left for its NUL (at most 107 bytes).
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// A listening socket at `path`.
    static func listen(_ path: String) -> Int32 {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = address(path)
        // SAFETY: bind reads exactly sizeof(sockaddr_un) from `address`.
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard fd >= 0, bound == 0, Glibc.listen(fd, 4) == 0 else { return -1 }
        return fd
    }

    /// A connection to `path`, or -1.
    static func connect(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = address(path)
        // SAFETY: connect reads exactly sizeof(sockaddr_un) from `address`.
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected != 0 {
            close(fd)
            return -1
        }
        return fd
    }

    /// Sends `text`; MSG_NOSIGNAL: a peer that closed is an error here, not a SIGPIPE for the test process.
    static func write(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        // SAFETY: send reads at most bytes.count bytes of the array.
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until end of file (or `limit` bytes), or until a newline when `line` is set.
    static func read(_ fd: Int32, line: Bool = false, limit: Int = 1 << 16) -> String {
        var result: [UInt8] = []
        var byte: UInt8 = 0
        while result.count < limit, Glibc.read(fd, &byte, 1) == 1 {
            result.append(byte)
            if line && byte == 0x0a { break }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// A host client of a vsock device's Unix socket at `path`: `CONNECT <port>`, then sends
    /// `text`, shuts its side and reads the echo to the end. Returns the `OK` line plus the echo.
    static func connectAndEcho(_ path: String, port: Int, _ text: String) -> String {
        let fd = connect(path)
        guard fd >= 0 else { return "cannot connect to \(path)" }
        defer { close(fd) }
        write(fd, "CONNECT \(port)\n")
        let ok = read(fd, line: true)
        write(fd, text)
        shutdown(fd, Int32(SHUT_WR))
        return ok + read(fd)
    }

    /// Echoes one connection on `listener` to its end, in a thread.
    static func echoOnce(_ listener: Int32) {
        Thread.detachNewThread {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                // SAFETY: read stores at most buffer.count bytes into the array.
                let count = buffer.withUnsafeMutableBytes { Glibc.read(connection, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                let sent = buffer.withUnsafeBytes { send(connection, $0.baseAddress, count, Int32(MSG_NOSIGNAL)) }
                if sent != count { break }
            }
            close(connection)
        }
    }
}

/// A string set from another thread.
final class LockedText: @unchecked Sendable {
    // @unchecked: `text` is only touched under `lock`.
    private let lock = NSLock()
    private var text: String?
    var value: String? { lock.withLock { text } }
    func set(_ value: String) { lock.withLock { text = value } }
}

func sha256(_ path: String) throws -> String {
    try GuestWorkspace.run("sha256sum", [path]).split(separator: " ").first.map(String.init) ?? ""
}

@Suite("integration-vmm virtio devices in the real guest", .serialized)
struct VirtioGuestTests {
    /// One boot with five devices (boots cost minutes on PVM). ext4 on a writable virtio-blk
    /// disk gets 64 MiB of the pattern, written with O_DIRECT so the data goes from the guest
    /// program's pages to the device without a guest kernel copy, synced, unmounted; the host
    /// then checks every byte. A second, read-only disk carries the guest tool: the guest sees
    /// it read-only, a raw write to it fails, its image is byte-identical afterwards.
    /// /dev/hwrng yields data; hvc0 output reaches the console file; vsock echoes both ways
    /// (guest to a host Unix socket, and a host CONNECT to a guest listener).
    @Test func blockConsoleVsockAndEntropyInOneBoot() throws {
        guard let (_, binary) = try GuestRequirement.guest() else { return }
        let work = try GuestWorkspace()
        defer { work.remove() }
        let tools = try work.toolsImage()
        let disk = try work.ext4Disk("disk.img", mib: 128)
        let toolsBefore = try sha256(tools)
        let vsock = work.path("v.sock")
        let echo = HostUnixSocket.listen(vsock + "_5000")
        #expect(echo >= 0)
        defer { close(echo) }
        HostUnixSocket.echoOnce(echo)
        let command = [
            "mkdir -p /t /m", "mount -t ext4 -o ro /dev/vdb /t", "mount -t ext4 /dev/vda /m",
            "/t/vmm-guest-tool write-pattern /m/pattern 64", "/t/vmm-guest-tool check-pattern /m/pattern 64",
            "umount /m", "echo VDB-RO=$(cat /sys/block/vdb/ro)",
            "dd if=/dev/zero of=/dev/vdb bs=4096 count=1 2>/dev/null; echo RO-WRITE-STATUS=$?",
            "echo RNG=$(head -c 32 /dev/hwrng | od -An -tx1 | tr -d ' \\n')",
            "echo RNG=$(head -c 32 /dev/hwrng | od -An -tx1 | tr -d ' \\n')",
            "echo RNG-DEVICE=$(cat /sys/class/misc/hw_random/rng_current)",
            "echo hello-from-hvc0 > /dev/hvc0",
            "/t/vmm-guest-tool vsock-send 2 5000 hello-from-guest",
            "/t/vmm-guest-tool vsock-echo 6000",
        ].joined(separator: "; ")
        // The host side of the guest's listener: once it listens, CONNECT through the device's socket.
        let hostReply = LockedText()
        let watch: (String, Int32) -> Void = { line, _ in
            guard line.hasPrefix("VSOCK-LISTENING") else { return }
            Thread.detachNewThread {
                hostReply.set(HostUnixSocket.connectAndEcho(vsock, port: 6000, "hello-from-host"))
            }
        }
        let run = try VMMRun.run(
            binary,
            [
                "--block", "path=\(disk)", "--block", "path=\(tools),readonly=on", "--rng",
                "--console", "output=\(work.path("hvc0.log"))", "--vsock", "cid=3,uds=\(vsock)",
                "--command", command,
            ], timeout: 1500, onLine: watch)
        print("virtio boot: \(run.seconds) s, status \(run.status)\n\(run.stdout)")
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stderr.isEmpty, "\(run.stderr)")
        #expect(run.stdout.contains("PATTERN-WRITTEN 64 MiB"), "\(run.stdout)")
        #expect(run.stdout.contains("PATTERN-OK 64 MiB"), "\(run.stdout)")
        #expect(run.values("VDB-RO=") == ["1"])
        #expect(run.values("RO-WRITE-STATUS=").first != "0", "a write to the read-only disk succeeded")
        #expect(try sha256(tools) == toolsBefore, "the read-only image changed")
        let rng = run.values("RNG=")
        #expect(rng.count == 2 && rng.allSatisfy { $0.count == 64 } && rng[0] != rng[1], "\(rng)")
        #expect(run.values("RNG-DEVICE=") == ["virtio_rng.0"])
        // hvc0 is a terminal: its line discipline turns the newline into CR LF (ONLCR).
        let hvc0 = FileManager.default.contents(atPath: work.path("hvc0.log")).map {
            String(decoding: $0, as: UTF8.self)
        }
        #expect(hvc0 == "hello-from-hvc0\r\n", "\(hvc0 ?? "no console file")")
        #expect(run.values("VSOCK-REPLY") == ["hello-from-guest"])
        #expect(run.values("VSOCK-ECHOED") == ["15"])
        let reply = hostReply.value ?? "no host connection"
        #expect(reply.hasPrefix("OK ") && reply.hasSuffix("\nhello-from-host"), "\(reply)")
        #expect(!FileManager.default.fileExists(atPath: vsock), "the VMM left its vsock socket behind")

        let pattern = try work.extract("/pattern", from: disk)
        #expect(pattern.count == 64 << 20)
        #expect(GuestPattern.firstMismatch(in: pattern) == nil, "the file on the host differs from the pattern")
    }

    /// virtio-net on a tap inside a network namespace the test creates and removes: ping both
    /// ways, then 100 MiB over TCP from the guest (MSG_ZEROCOPY, so the guest kernel pins the
    /// program's pages instead of copying them) to a receiver on the host that checks every byte.
    ///
    /// Both ends use a 65000-byte MTU. On PVM each packet costs the guest ~80 ms of emulated
    /// kernel work, so throughput is packets per second times packet size; with a 1500-byte MTU,
    /// TSO autosizing (segments of about 1 ms of the pacing rate) keeps segments near 2 MSS at
    /// these rates: 91 KB/s measured, against 750 KB/s with the large MTU.
    @Test func netPingAndTCPTransferThroughATap() throws {
        guard let (_, binary) = try GuestRequirement.guest() else { return }
        let work = try GuestWorkspace()
        defer { work.remove() }
        let tools = try work.toolsImage()
        let namespace = "ivmm\(getpid())"
        let tap = "ivtap0"
        try? GuestWorkspace.run("ip", ["netns", "del", namespace])
        try GuestWorkspace.run("ip", ["netns", "add", namespace])
        defer { try? GuestWorkspace.run("ip", ["netns", "del", namespace]) }
        for command in [
            ["tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr"], ["addr", "add", "172.30.0.1/24", "dev", tap],
            ["link", "set", tap, "mtu", "65000"], ["link", "set", tap, "up"], ["link", "set", "lo", "up"],
        ] {
            try GuestWorkspace.run("ip", ["netns", "exec", namespace, "ip"] + command)
        }
        // The receiver runs in the namespace: the same static tool, built for x86_64 Linux.
        let receiver = Process()
        receiver.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        receiver.arguments = [
            "PATH=/usr/sbin:/sbin:/usr/bin:/bin", "ip", "netns", "exec", namespace,
            work.path("tools/vmm-guest-tool"), "tcp-receive", "172.30.0.1", "5001",
        ]
        let received = Pipe()
        receiver.standardOutput = received
        try receiver.run()
        defer { if receiver.isRunning { receiver.terminate() } }

        // The host pings the guest as soon as it answers (the guest sleeps 10 s after bringing eth0
        // up): single pings until one is answered, then three in a row (busybox's ping: the host has
        // busybox-static, from which the initramfs is built, not iputils).
        let pinger = Process()
        pinger.executableURL = URL(fileURLWithPath: "/bin/sh")
        let ping = "ip netns exec \(namespace) /bin/busybox ping"
        pinger.arguments = [
            "-c",
            "until \(ping) -c 1 -W 1 172.30.0.2 >/dev/null 2>&1; do sleep 1; done; \(ping) -c 3 -w 60 172.30.0.2",
        ]
        pinger.environment = ["PATH": "/usr/sbin:/sbin:/usr/bin:/bin"]
        let pingOutput = Pipe()
        pinger.standardOutput = pingOutput
        try pinger.run()
        defer { if pinger.isRunning { pinger.terminate() } }
        let command = [
            "mkdir -p /t", "mount -t ext4 -o ro /dev/vda /t", "ip addr add 172.30.0.2/24 dev eth0",
            "ip link set eth0 mtu 65000", "ip link set eth0 up", "echo NET-UP", "sleep 10",
            "ping -c 3 172.30.0.1 | grep -c 'bytes from' | sed s/^/GUEST-PINGS=/",
            "/t/vmm-guest-tool tcp-send 172.30.0.1 5001 100", "sleep 2",
        ].joined(separator: "; ")
        let run = try VMMRun.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "PATH=/usr/sbin:/sbin:/usr/bin:/bin", "ip", "netns", "exec", namespace, binary.path,
                "--block", "path=\(tools),readonly=on", "--net", "tap=\(tap)",
                "--command", command,
            ], timeout: 1800)
        if pinger.isRunning { pinger.terminate() }
        let hostPing = String(decoding: pingOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        receiver.waitUntilExit()
        let receiverOutput = String(decoding: received.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        print("net boot: \(run.seconds) s, status \(run.status)\n\(run.stdout)\n\(receiverOutput)")
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.values("GUEST-PINGS=") == ["3"], "\(run.stdout)")
        #expect(hostPing.contains("3 packets received"), "host to guest: \(hostPing)")
        #expect(run.stdout.contains("TCP-SENT 100 MiB"), "\(run.stdout)")
        #expect(receiverOutput.contains("TCP-RECEIVED \(100 << 20) ok"), "\(receiverOutput)")
    }
}
