// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// The package README shows this file from "template: begin" to "template: end": a new
// device daemon, whole. It compiles here, and TemplateDaemonTests serves a ring with it.

// template: begin
import Glibc
import Synchronization
import VMMemory
import VMMemoryLinux
import VhostUserBackend
import VirtioDevices
import VirtioQueue

/// virtio-rng whose bytes come from a host file or device (`/dev/hwrng`, a recorded
/// stream), like QEMU's `rng-random` back-end: each buffer the driver offers is filled
/// from the file, which starts over at its end.
final class FileEntropyDevice<Memory: GuestMemory>: VirtioDevice, Sendable {
    private let source: Int32
    private let active = Mutex<VirtioActivation<Memory>?>(nil)

    /// Opens `path` for reading; a failure is one line for the daemon to print.
    init(path: String) throws(DaemonCommandLine.Failure) {
        source = open(path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw DaemonCommandLine.Failure("\(path): \(String(cString: strerror(errno)))") }
    }
    deinit { close(source) }

    // What the front-end negotiates: device ID 4, one queue, no features, no config space.
    var deviceType: VirtioDeviceType { .entropy }
    var queueMaximumSizes: [UInt16] { [256] }
    var deviceFeatures: UInt64 { 0 }
    var configSize: Int { 0 }
    func readConfig(offset: Int, size: Int) -> UInt64 { 0 }
    func writeConfig(offset: Int, size: Int, value: UInt64) {}

    // The rings the session hands over, held until a reset (GET_VRING_BASE, a new table).
    func activate(_ activation: VirtioActivation<Memory>) throws(VirtioDeviceError) {
        guard activation.queues.first?.ready == true else { throw .queueNotReady(0) }
        active.withLock { $0 = activation }
    }
    func reset() { active.withLock { $0 = nil } }
    var activeQueues: [Virtqueue]? { active.withLock { $0?.queues } }

    /// A kick: fill every buffer the driver made available, up to 4 KiB each.
    func queueNotified(_ index: Int) {
        active.withLock { activation in
            guard index == 0, activation != nil else { return }
            activation!.serveQueue(0) { chain, memory throws(VirtioDeviceError) in
                var writer = DescriptorChainWriter(chain)
                var bytes = [UInt8](repeating: 0, count: Int(min(writer.remaining, 4096)))
                var filled = 0
                var progressed = true  // since the last start-over: an empty file cannot loop
                while filled < bytes.count {
                    let count = bytes.withUnsafeMutableBytes {
                        read(source, $0.baseAddress! + filled, $0.count - filled)
                    }
                    if count > 0 {
                        filled += count
                        progressed = true
                    } else if count < 0, errno == EINTR {
                        continue
                    } else if count == 0, progressed, lseek(source, 0, SEEK_SET) == 0 {
                        progressed = false  // the end of the file: start over
                    } else {
                        throw .backend("reading the source: \(count == 0 ? "empty" : String(cString: strerror(errno)))")
                    }
                }
                do throws(VirtioQueueError) {
                    try writer.write(bytes, to: memory)
                } catch {
                    throw .queue(error)  // a buffer outside guest memory: the ring is broken
                }
                return writer.writtenLength
            }
        }
    }
}

/// The daemon's `main`: `vhost-device-rng-file --socket-path PATH --source FILE`.
func fileEntropyDaemonMain() -> Never {
    DaemonCommandLine.run(
        name: "vhost-device-rng-file",
        usage: """
            usage: vhost-device-rng-file --socket-path PATH --source FILE [--frontends N]

            Serves virtio-rng with bytes read from FILE. QEMU:
              -chardev socket,id=rng0,path=PATH -device vhost-user-rng,chardev=rng0
            """,
        values: ["--source"]
    ) { options in
        guard let path = options.values["--source"] else { throw DaemonCommandLine.Failure("--source is required") }
        return try FileEntropyDevice<GuestMemoryMap<MmapRegion>>(path: path)
    }
}
// template: end
