// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Glibc
import GuestAssets
import Synchronization
import Testing

/// A vhost-user back-end daemon of the test (qemu-storage-daemon, virtiofsd), killed when dropped.
final class BackendDaemon {
    static let storageDaemon = "/usr/bin/qemu-storage-daemon"
    static let virtiofsd = "/usr/lib/qemu/virtiofsd"

    let process = Process()
    let socket: String
    let log: String

    /// Starts `binary` with `arguments` and waits (up to 20 s) for it to listen on `socket`.
    init(_ binary: String, _ arguments: [String], socket: String, log: String) throws {
        self.socket = socket
        self.log = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let output = FileHandle(forWritingAtPath: log)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: socket) {
            guard process.isRunning, Date() < deadline else {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw GuestRequirement.Missing(description: "\(binary) did not listen on \(socket): \(text)")
            }
            usleep(20_000)
        }
    }

    /// Sends SIGKILL (a back-end dying under its front-end) without waiting.
    func signalKill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }

    /// Kills the daemon and reaps it.
    func kill() {
        signalKill()
        process.waitUntilExit()
    }

    deinit { kill() }

    /// qemu-storage-daemon exporting the raw `image` as a writable vhost-user-blk on `socket`.
    static func storage(image: String, socket: String, log: String) throws -> BackendDaemon {
        try BackendDaemon(
            storageDaemon,
            [
                "--blockdev", "driver=file,node-name=disk0,filename=\(image)", "--export",
                "type=vhost-user-blk,id=export0,node-name=disk0,addr.type=unix,addr.path=\(socket),writable=on",
            ], socket: socket, log: log)
    }

    /// One of this project's daemons, built beside integration-vmm (`binary`).
    static func ourDaemon(_ name: String, next binary: URL) throws -> String {
        let path = binary.deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw GuestRequirement.Missing(description: "\(name) is not built beside \(binary.path)")
        }
        return path
    }

    /// Whether `binary` can run here; reports what is missing (an issue under CI=true).
    static func available(_ binary: String, package: String) throws -> Bool {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            try GuestRequirement.missing("\(binary) (Debian \(package))")
            return false
        }
        return true
    }
}

/// QEMU's binary.
let qemuBinary = URL(fileURLWithPath: "/usr/bin/qemu-system-x86_64")

/// The guest (assets, its initramfs) and integration-vmm, when QEMU is here too; nil after
/// reporting what is missing (an issue under CI=true).
func qemuGuest() throws -> (assets: GuestAssets, initramfs: URL, binary: URL)? {
    guard let (assets, binary) = try GuestRequirement.guest(), let initramfs = assets.initramfs else { return nil }
    guard try BackendDaemon.available(qemuBinary.path, package: "qemu-system-x86") else { return nil }
    return (assets, initramfs, binary)
}

/// QEMU 7.2 microvm as a vhost-user front-end: RAM in a shared memfd, modern virtio-mmio
/// (libvhost-user back-ends refuse legacy devices), the project's guest running `command`.
func qemuVhostUserArguments(
    _ assets: GuestAssets, initramfs: URL, command: String, devices: [String]
) throws -> [String] {
    [
        "-enable-kvm", "-cpu", "host,-arch-capabilities", "-M", "microvm,acpi=off,memory-backend=mem",
        "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-global", "virtio-mmio.force-legacy=false",
        "-m", "256M", "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
        "-kernel", assets.kernel.path, "-initrd", initramfs.path,
    ] + devices + ["-append", try GuestCommandLine.running(command, after: assets.commandLine + " acpi=off")]
}

@Suite("integration-vmm as a vhost-user front-end, with real back-ends", .serialized)
struct VhostUserGuestTests {
    /// One boot, three real back-ends. qemu-storage-daemon serves an ext4 image as vhost-user-blk:
    /// the guest writes 64 MiB of the pattern to a file, syncs and unmounts, and the host
    /// checks every byte of the file in the image. virtiofsd shares a host directory as
    /// virtio-fs: the guest mounts it by tag, reads the file the host wrote, writes one the
    /// host reads, lists a directory of 1,000 files. A second qemu-storage-daemon disk comes
    /// through the generic `--vhost-user` option (device ID 2, one queue, 60 config bytes):
    /// the guest sees its size and writes its first sector. The project's own vhost-device-rng
    /// serves a second virtio-rng. Then the daemons are killed while the
    /// guest runs: the VMM prints one line per socket, the guest's virtio-rng still works,
    /// and the run still ends with status 0.
    @Test func blockAndFilesystemThroughDaemonsThatThenDie() throws {
        guard let (_, binary) = try GuestRequirement.guest() else { return }
        guard try BackendDaemon.available(BackendDaemon.storageDaemon, package: "qemu-system-common"),
            try BackendDaemon.available(BackendDaemon.virtiofsd, package: "qemu-system-common")
        else { return }
        let work = try GuestWorkspace()
        defer { work.remove() }
        let tools = try work.toolsImage()
        let disk = try work.ext4Disk("vhost-disk.img", mib: 128)
        let shared = work.path("shared")
        try FileManager.default.createDirectory(atPath: shared + "/many", withIntermediateDirectories: true)
        let token = UUID().uuidString.prefix(8)
        try "host-wrote-\(token)\n".write(toFile: shared + "/from-host.txt", atomically: true, encoding: .utf8)
        for index in 0..<1000 {
            _ = FileManager.default.createFile(
                atPath: shared + "/many/" + String(format: "f%04d", index), contents: nil)
        }

        let blockSocket = work.path("blk.sock")
        let storage = try BackendDaemon.storage(image: disk, socket: blockSocket, log: work.path("qsd.log"))
        // A second disk through the generic option: any device ID, the queue count, the config size.
        let raw = work.path("generic.raw")
        try GuestWorkspace.run("truncate", ["-s", "32M", raw])
        let genericSocket = work.path("generic.sock")
        let generic = try BackendDaemon.storage(image: raw, socket: genericSocket, log: work.path("qsd-generic.log"))
        // This project's own daemon (VhostUserBackend serving VirtioDevices' EntropyDevice).
        let rngSocket = work.path("rng.sock")
        let rngDaemon = try BackendDaemon(
            try BackendDaemon.ourDaemon("vhost-device-rng", next: binary), ["--socket-path", rngSocket],
            socket: rngSocket, log: work.path("rng.log"))
        let fsSocket = work.path("fs.sock")
        let virtiofsd = try BackendDaemon(
            BackendDaemon.virtiofsd,
            // sandbox=chroot: no namespace sandbox, whose child process (forked when the front-end
            // connects) would outlive a SIGKILL to the process the test started.
            ["--socket-path=\(fsSocket)", "-o", "source=\(shared)", "-o", "cache=none", "-o", "sandbox=chroot"],
            socket: fsSocket, log: work.path("virtiofsd.log"))

        let command = [
            "mkdir -p /t /m /s", "mount -t ext4 -o ro /dev/vda /t", "mount -t ext4 /dev/vdb /m",
            "/t/vmm-guest-tool write-pattern /m/pattern 64", "sync", "umount /m",
            "mount -t virtiofs share /s", "echo HOST-FILE=$(cat /s/from-host.txt)",
            "echo guest-wrote-\(token) > /s/from-guest.txt",
            // A glob lists with READDIR alone; ls would add a LOOKUP per file (~100 s on PVM).
            "n=0; for f in /s/many/*; do n=$((n+1)); last=${f##*/}; done; echo MANY=$n; echo MANY-LAST=$last",
            "umount /s",
            "echo GENERIC-SIZE=$(cat /sys/block/vdc/size)",
            // virtio_rng.0 is the in-process --rng, virtio_rng.1 the daemon's.
            "echo virtio_rng.1 > /sys/class/misc/hw_random/rng_current",
            "echo DAEMON-RNG=$(head -c 64 /dev/hwrng | wc -c) $(cat /sys/class/misc/hw_random/rng_current)",
            "echo virtio_rng.0 > /sys/class/misc/hw_random/rng_current",
            "printf generic-\(token) | dd of=/dev/vdc bs=512 conv=sync,fsync 2>/dev/null",
            "echo KILL-THE-DAEMONS", "sleep 4",
            "echo RNG-AFTER=$(head -c 16 /dev/hwrng | wc -c)",
        ].joined(separator: "; ")
        let run = try VMMRun.run(
            binary,
            [
                "--block", "path=\(tools),readonly=on", "--rng",
                "--vhost-user-blk", "socket=\(blockSocket)", "--vhost-user-fs", "socket=\(fsSocket),tag=share",
                "--vhost-user", "socket=\(genericSocket),device-id=2,queues=1,config-size=60",
                "--vhost-user", "socket=\(rngSocket),device-id=4,queues=1",
                "--command", command,
            ], timeout: 1500
        ) { line, _ in
            // All at once and without waiting (they are reaped when dropped): the guest goes on meanwhile.
            if line.hasPrefix("KILL-THE-DAEMONS") {
                for daemon in [storage, virtiofsd, generic, rngDaemon] { daemon.signalKill() }
            }
        }
        print("vhost-user boot: \(run.seconds) s, status \(run.status)\n\(run.stdout)\n\(run.stderr)")
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.contains("PATTERN-WRITTEN 64 MiB"), "\(run.stdout)")
        #expect(run.values("HOST-FILE=") == ["host-wrote-\(token)"])
        #expect(run.values("MANY=") == ["1000"])
        #expect(run.values("MANY-LAST=") == ["f0999"])
        #expect(run.values("RNG-AFTER=") == ["16"], "the other devices stopped with the back-ends")
        let written = try? String(contentsOfFile: shared + "/from-guest.txt", encoding: .utf8)
        #expect(written == "guest-wrote-\(token)\n")
        // One line per dead back-end, naming its socket; nothing else on stderr.
        let lines = run.stderr.split(whereSeparator: \.isNewline).map(String.init)
        #expect(lines.count == 4, "\(lines)")
        for socket in [blockSocket, fsSocket, genericSocket, rngSocket] {
            #expect(
                lines.filter { $0.contains(socket) && $0.contains("the back-end closed the connection") }.count == 1,
                "\(lines)")
        }
        #expect(run.values("GENERIC-SIZE=") == ["65536"])
        #expect(run.values("DAEMON-RNG=") == ["64 virtio_rng.1"])
        let head = FileManager.default.contents(atPath: raw)?.prefix(16)
        #expect(head.map { String(decoding: $0, as: UTF8.self) } == "generic-\(token)")
        let pattern = try work.extract("/pattern", from: disk)
        #expect(pattern.count == 64 << 20)
        #expect(GuestPattern.firstMismatch(in: pattern) == nil, "the file in the image differs from the pattern")
    }

    /// QEMU 7.2 as the front-end of the project's vhost-device-rng (microvm, shared memfd
    /// RAM, modern virtio-mmio): the guest's /dev/hwrng is the daemon's device and delivers
    /// 8 KiB through a rate limit of 4 KiB per 200 ms; with `--frontends 1` the daemon then
    /// exits 0 and removes its socket.
    @Test func qemuUsesOurRngDaemon() throws {
        guard let (assets, initramfs, binary) = try qemuGuest() else { return }
        let work = try GuestWorkspace()
        defer { work.remove() }
        let socket = work.path("rng.sock")
        let daemon = try BackendDaemon(
            try BackendDaemon.ourDaemon("vhost-device-rng", next: binary),
            // A budget of 4 KiB per 200 ms: the 8 KiB the guest reads wait for the bucket to refill.
            ["--socket-path", socket, "--frontends", "1", "--max-bytes", "4096", "--period-ms", "200"],
            socket: socket, log: work.path("rng.log"))
        let command = "echo QEMU-RNG=$(head -c 8192 /dev/hwrng | wc -c) $(cat /sys/class/misc/hw_random/rng_current)"
        let run = try VMMRun.run(
            qemuBinary,
            try qemuVhostUserArguments(
                assets, initramfs: initramfs, command: command,
                devices: ["-chardev", "socket,id=rng0,path=\(socket)", "-device", "vhost-user-rng,chardev=rng0"]),
            timeout: 600)
        print("qemu + vhost-device-rng: \(run.seconds) s\n\(run.stdout)\n\(run.stderr)")
        #expect(run.values("QEMU-RNG=") == ["8192 virtio_rng.0"], "\(run.stdout)")
        #expect(!run.stderr.contains("vhost"), "\(run.stderr)")
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: socket), "the daemon left its socket behind")
        let log = (try? String(contentsOfFile: work.path("rng.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("front-end 1 connected") && log.contains("front-end 1 disconnected"), "\(log)")
    }

    /// The project's vhost-device-blk (VirtioDevices' BlockDevice behind VhostUserDaemon) serves
    /// two front-ends in turn. QEMU 7.2 boots the guest, which writes 64 MiB of the pattern to
    /// ext4 on the daemon's disk and syncs, then keeps writing another file with O_SYNC until
    /// QEMU is SIGKILLed in the middle of it: the daemon stays up and takes the next front-end.
    /// integration-vmm then boots the guest on the same daemon; ext4 replays its journal and
    /// the guest checks the flushed file. The host checks every byte in the image, and the
    /// daemon exits 0 after its two front-ends.
    @Test func ourBlockDaemonServesQEMUThenIntegrationVMM() throws {
        guard let (assets, initramfs, binary) = try qemuGuest() else { return }
        let work = try GuestWorkspace()
        defer { work.remove() }
        let tools = try work.toolsImage()
        let disk = try work.ext4Disk("daemon-disk.img", mib: 128)
        let socket = work.path("blk.sock")
        let daemon = try BackendDaemon(
            try BackendDaemon.ourDaemon("vhost-device-blk", next: binary),
            ["--socket-path", socket, "--image", disk, "--frontends", "2"], socket: socket, log: work.path("blk.log"))
        // QEMU may enumerate the two disks either way: the 16 MiB one (32768 sectors) is the tools disk.
        let find =
            "for d in vda vdb; do if [ $(cat /sys/block/$d/size) = 32768 ]; then t=$d; else s=$d; fi; done; "
            + "mkdir -p /t /m; mount -t ext4 -o ro /dev/$t /t; mount -t ext4 /dev/$s /m; "
        // After the sync, writes that never end: QEMU dies in the middle of one.
        let write =
            find + "/t/vmm-guest-tool write-pattern /m/pattern 64; sync; echo FLUSHED; "
            + "while true; do dd if=/dev/zero of=/m/unflushed bs=64k count=256 oflag=sync 2>/dev/null; done"
        let killed = Mutex(false)
        let qemuRun = try VMMRun.run(
            qemuBinary,
            try qemuVhostUserArguments(
                assets, initramfs: initramfs, command: write,
                devices: [
                    "-chardev", "socket,id=blk0,path=\(socket)", "-device", "vhost-user-blk,chardev=blk0,num-queues=1",
                    "-drive", "id=tools,file=\(tools),format=raw,if=none,readonly=on",
                    "-device", "virtio-blk-device,drive=tools",
                ]),
            timeout: 900
        ) { line, pid in
            guard line.contains("FLUSHED") else { return }
            // Two seconds into the endless writes: requests are in flight in the daemon.
            DispatchQueue.global().asyncAfter(deadline: .now() + 2) {
                killed.withLock { $0 = true }
                Glibc.kill(pid, SIGKILL)
            }
        }
        print("qemu + vhost-device-blk: \(qemuRun.seconds) s\n\(qemuRun.stdout)\n\(qemuRun.stderr)")
        #expect(qemuRun.stdout.contains("PATTERN-WRITTEN 64 MiB"), "\(qemuRun.stdout)")
        #expect(killed.withLock { $0 } && qemuRun.status == SIGKILL, "QEMU was to be killed mid-write")
        // The daemon outlived its front-end and waits for the next one.
        usleep(200_000)
        #expect(daemon.process.isRunning)
        #expect(FileManager.default.fileExists(atPath: socket))
        // ...and serves under its seccomp filter (a call outside it would have ended it).
        let status =
            (try? String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/status", encoding: .utf8)) ?? ""
        #expect(status.contains("Seccomp:\t2"), "\(status)")

        let check = find + "/t/vmm-guest-tool check-pattern /m/pattern 64; umount /m"
        let ourRun = try VMMRun.run(
            binary,
            ["--block", "path=\(tools),readonly=on", "--vhost-user-blk", "socket=\(socket)", "--command", check],
            timeout: 900)
        print("integration-vmm + vhost-device-blk: \(ourRun.seconds) s\n\(ourRun.stdout)\n\(ourRun.stderr)")
        #expect(ourRun.status == 0, "\(ourRun.stderr)")
        #expect(ourRun.stdout.contains("PATTERN-OK 64 MiB"), "\(ourRun.stdout)")

        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationStatus == 0)
        let log = (try? String(contentsOfFile: work.path("blk.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("front-end 1 disconnected") && log.contains("front-end 2 disconnected"), "\(log)")
        let pattern = try work.extract("/pattern", from: disk)
        #expect(pattern.count == 64 << 20)
        #expect(GuestPattern.firstMismatch(in: pattern) == nil, "the file in the image differs from the pattern")
    }

    /// One guest run's vsock checks, both directions, through a daemon whose Unix sockets are
    /// at `uds`: the guest sends to host port 5000 (an echo listener at `<uds>_5000`) and
    /// listens on port 6000, which a host client reaches with `CONNECT 6000`.
    func vsockBothWays(uds: String, boot: (String, @escaping (String, Int32) -> Void) throws -> VMMRun) throws {
        let echo = HostUnixSocket.listen(uds + "_5000")
        #expect(echo >= 0)
        defer { close(echo) }
        HostUnixSocket.echoOnce(echo)
        let command =
            "mkdir -p /t; mount -t ext4 -o ro /dev/vda /t; /t/vmm-guest-tool vsock-send 2 5000 hello-from-guest; "
            + "/t/vmm-guest-tool vsock-echo 6000"
        let hostReply = LockedText()
        let run = try boot(command) { line, _ in
            guard line.hasPrefix("VSOCK-LISTENING") else { return }
            Thread.detachNewThread { hostReply.set(HostUnixSocket.connectAndEcho(uds, port: 6000, "hello-from-host")) }
        }
        print("vsock through vhost-device-vsock: \(run.seconds) s\n\(run.stdout)\n\(run.stderr)")
        #expect(run.values("VSOCK-REPLY") == ["hello-from-guest"], "\(run.stdout)")
        #expect(run.values("VSOCK-ECHOED") == ["15"])
        let reply = hostReply.value ?? "no host connection"
        #expect(reply.hasPrefix("OK ") && reply.hasSuffix("\nhello-from-host"), "\(reply)")
    }

    /// The project's vhost-device-vsock (VirtioDevices' VsockDevice) behind QEMU 7.2's
    /// vhost-user-vsock-device, then behind integration-vmm's generic `--vhost-user`: echo
    /// in both directions each time, one daemon for both front-ends. The daemon serves its
    /// three rings on three workers (`--workers 3`), each ring calling its own eventfd.
    @Test func ourVsockDaemonEchoesBothWaysForQEMUAndIntegrationVMM() throws {
        guard let (assets, initramfs, binary) = try qemuGuest() else { return }
        let work = try GuestWorkspace()
        defer { work.remove() }
        let tools = try work.toolsImage()
        let socket = work.path("vsock.sock")
        let uds = work.path("v.sock")
        let daemon = try BackendDaemon(
            try BackendDaemon.ourDaemon("vhost-device-vsock", next: binary),
            ["--vm", "guest-cid=3,socket=\(socket),uds-path=\(uds)", "--frontends", "2", "--workers", "3"],
            socket: socket,
            log: work.path("vsock.log"))
        try vsockBothWays(uds: uds) { command, onLine in
            try VMMRun.run(
                qemuBinary,
                try qemuVhostUserArguments(
                    assets, initramfs: initramfs, command: command,
                    devices: [
                        "-chardev", "socket,id=vsock0,path=\(socket)", "-device",
                        "vhost-user-vsock-device,chardev=vsock0",
                        "-drive", "id=tools,file=\(tools),format=raw,if=none,readonly=on",
                        "-device", "virtio-blk-device,drive=tools",
                    ]), timeout: 600, onLine: onLine)
        }
        try vsockBothWays(uds: uds) { command, onLine in
            try VMMRun.run(
                binary,
                [
                    "--block", "path=\(tools),readonly=on", "--vhost-user",
                    "socket=\(socket),device-id=19,queues=3,config-size=8", "--command", command,
                ], timeout: 600, onLine: onLine)
        }
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationStatus == 0)
    }
}
