// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import Vhost
import VirtioDevices

@testable import VhostUserBackend

// A hostile front-end, as the daemon sees it. Input layout:
//   byte 0        the device: even = virtio-rng, odd = virtio-blk on a 64 KiB image;
//   bytes 1–2     L (little endian, at most 64 KiB): the next L bytes are the shared memory's
//                 contents (the rings and buffers the fuzzer builds), the rest of it is zero;
//   then records: one control byte, then one message (12-byte header, the payload its size
//                 field gives). Control bits 0–2: how many descriptors come with the message;
//                 bits 3–4: what they are (0 the 64 KiB memfd, 1 a non-blocking eventfd, 2 a
//                 4 KiB memfd, 3 /dev/null); bit 7: kick every ring after the message.
// The daemon's rule is followed: the first message that does not decode, or that the session
// refuses, ends the connection (the session is stopped and dropped).

/// Shared memory size: what the front-end's memfd holds.
let sharedSize = 0x1_0000

/// The front-end's memory, reused across executions (rewritten at the start of each).
let shared: MemFd = {
    // A failure here is a harness bug, not a finding: stop loudly.
    guard let memfd = try? MemFd(name: "fuzz-guest", size: sharedSize) else { fatalError("memfd") }
    return memfd
}()

/// A memfd smaller than any region the seeds name: mapping it must be refused.
let small: MemFd = {
    guard let memfd = try? MemFd(name: "fuzz-small", size: 0x1000) else { fatalError("memfd") }
    return memfd
}()

/// The virtio-blk image (64 KiB, in /dev/shm so no disk is touched).
let imagePath: String = {
    let path = "/dev/shm/vhost-user-backend-fuzz-\(getpid()).img"
    let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0, ftruncate(fd, 0x1_0000) == 0 else { fatalError("image \(path)") }
    close(fd)
    atexit { unlink("/dev/shm/vhost-user-backend-fuzz-\(getpid()).img") }
    return path
}()

/// The activations' event loop (the block device registers nothing without a rate limiter).
let loop: EventLoopThread = {
    guard let loop = try? EventLoopThread.start() else { fatalError("event loop") }
    return loop
}()

/// How many open descriptors are of the kinds this harness hands the session (memfds,
/// eventfds, /dev/null, the image): after the first execution, a later count above it means
/// an execution left one open (a mapping, a ring's kick or call kept alive), which is the
/// finding. Others (libFuzzer's and the sanitizer's own pipes) are not counted.
nonisolated(unsafe) var baselineDescriptors = -1
nonisolated(unsafe) var executions = 0

func harnessDescriptors() -> Int {
    guard let directory = opendir("/proc/self/fd") else { fatalError("/proc/self/fd: errno \(errno)") }
    defer { closedir(directory) }
    var count = 0
    var link = [CChar](repeating: 0, count: 256)
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) {
            String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
        }
        guard name.first?.isNumber == true else { continue }
        let length = readlink("/proc/self/fd/\(name)", &link, link.count - 1)
        guard length > 0 else { continue }
        link[length] = 0
        let target = String(cString: link)
        if target.hasPrefix("/memfd:fuzz-") || target == "anon_inode:[eventfd]" || target == "/dev/null"
            || target.hasPrefix("/dev/shm/vhost-user-backend-fuzz")
        {
            count += 1
        }
    }
    return count
}

/// A descriptor of `kind` for the session to own.
func descriptor(kind: UInt8) -> ReceivedDescriptor? {
    let raw: Int32
    switch kind {
    case 0: raw = dup(shared.descriptor.rawValue)
    case 1:
        guard let event = try? EventFd(flags: .nonBlocking) else { fatalError("eventfd: errno \(errno)") }
        raw = dup(event.descriptor.rawValue)
    case 2: raw = dup(small.descriptor.rawValue)
    default: raw = open("/dev/null", O_RDWR | O_CLOEXEC)
    }
    guard raw >= 0 else { fatalError("descriptor: errno \(errno)") }
    return ReceivedDescriptor(FileDescriptor(owning: raw))
}

/// Runs one connection's messages against a fresh device; returns when the stream ends or
/// the session refuses a message.
func serve<Device: VhostUserBackend>(_ device: Device, _ stream: ArraySlice<UInt8>) {
    let session = VhostUserBackendSession(device: device, eventLoop: loop.remote)
    defer { session.stop() }
    var rest = stream
    while rest.count >= 1 + VhostUserMessage.headerSize {
        let control = rest.removeFirst()
        let header = Array(rest.prefix(VhostUserMessage.headerSize))
        let size = Int(header[8]) | Int(header[9]) << 8 | Int(header[10]) << 16 | Int(header[11]) << 24
        let length = min(rest.count, VhostUserMessage.headerSize + size)
        let bytes = Array(rest.prefix(length))
        rest = rest.dropFirst(length)
        guard let message = try? VhostUserMessage.decode(bytes) else { return }
        var descriptors = (0..<Int(control & 7)).compactMap { _ in descriptor(kind: (control >> 3) & 3) }
        let reply: VhostUserMessage?
        do throws(VhostUserBackendError) {
            reply = try session.handle(message, descriptors: &descriptors)
        } catch {
            _ = error.description  // every refusal has its one line
            return
        }
        precondition(descriptors.isEmpty, "a handled request took exactly the descriptors it came with")
        if let reply {
            precondition(reply.request == message.request, "a reply answers its request")
            precondition(reply.flags.contains(.reply), "a reply is flagged as one")
            // What the daemon sends must decode as that request's reply.
            let encoded = reply.encoded()
            guard let request = VhostUserRequest(rawValue: reply.request),
                (try? VhostUserMessage.decodeReply(to: request, encoded, acknowledged: false)) != nil
            else { fatalError("the session's reply to \(reply.request) does not decode") }
            if case .vringState(let asked) = message.payload, request == .getVringBase,
                case .vringState(let answered) = reply.payload
            {
                precondition(asked.index == answered.index, "GET_VRING_BASE answers for the ring asked")
            }
        }
        if control & 0x80 != 0 {
            for index in 0..<session.rings.count { session.kicked(index) }
        }
    }
}

/// libFuzzer entry.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSession(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    // The harness's own descriptors are opened before the leak check's first probe.
    _ = (shared.descriptor.rawValue, small.descriptor.rawValue, imagePath, loop.remote)
    guard let data, size >= 3 else { return 0 }
    // SAFETY: libFuzzer guarantees `data` points at `size` readable bytes for the call.
    let input = UnsafeBufferPointer(start: data, count: size)
    let imageLength = min(Int(input[1]) | Int(input[2]) << 8, sharedSize, size - 3)
    var memory = [UInt8](repeating: 0, count: sharedSize)
    memory.replaceSubrange(0..<imageLength, with: input[3..<(3 + imageLength)])
    let written = memory.withUnsafeBytes { pwrite(shared.descriptor.rawValue, $0.baseAddress, sharedSize, 0) }
    precondition(written == sharedSize, "rewriting the shared memory")
    let stream = Array(input[(3 + imageLength)...])[...]
    if input[0] & 1 == 0 {
        serve(EntropyDevice<GuestMemoryMap<MmapRegion>>(), stream)
    } else {
        guard let disk = try? BlockDevice<GuestMemoryMap<MmapRegion>>(path: imagePath) else { fatalError("image") }
        serve(disk, stream)
    }
    // Every 64th execution (reading /proc costs more than most executions).
    if executions % 64 == 0 {
        let count = harnessDescriptors()
        if baselineDescriptors < 0 { baselineDescriptors = count }
        precondition(count == baselineDescriptors, "\(count - baselineDescriptors) descriptor(s) left open")
    }
    executions += 1
    return 0
}
