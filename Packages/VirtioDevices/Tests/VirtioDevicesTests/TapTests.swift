// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Synchronization
import Testing
import VMMSysUtil
import VMMemory
import VirtioDevices

@Suite("tap")
struct TapTests {
    @Test("a named tap has the virtio-net header, no packet information, and is non-blocking")
    func named() throws {
        let namespace = try TestNetNamespace()
        defer { namespace.close() }
        let tap = try Tap(name: namespace.tapName)
        #expect(tap.name == namespace.tapName)
        #expect(if_nametoindex(tap.name) > 0, "interface missing in the test's namespace")
        #expect(try tap.interfaceFlags().isSuperset(of: [.tap, .noPacketInformation, .virtioHeader]))
        #expect(try tap.headerSizeInEffect() == Tap.headerSize)
        #expect(try tap.supportedFlags().isSuperset(of: [.tap, .virtioHeader, .multiQueue]))
        #expect(fcntl(tap.descriptor.rawValue, F_GETFL) & O_NONBLOCK != 0)
        var byte: UInt8 = 0
        #expect(read(tap.descriptor.rawValue, &byte, 1) == -1 && Errno.current == .wouldBlock)
    }

    @Test("with no name the kernel picks a free tapN")
    func kernelChosen() throws {
        let namespace = try TestNetNamespace()
        defer { namespace.close() }
        let tap = try Tap()
        #expect(tap.name.hasPrefix("tap"), "\(tap.name)")
        #expect(if_nametoindex(tap.name) > 0)
        let second = try Tap()
        #expect(second.name != tap.name)
    }

    @Test("names that cannot be interface names are refused before any system call")
    func invalidNames() {
        for name in ["", "sixteen-bytes-xx", "a\u{0}b"] {
            #expect(throws: TapError.invalidName(name)) { try Tap(name: name) }
        }
    }

    @Test("kernel refusals name the interface and the failing call")
    func failures() throws {
        let namespace = try TestNetNamespace()
        defer { namespace.close() }
        do {
            _ = try Tap(name: "bad/name")
            Issue.record("the kernel accepted an interface name with a slash")
        } catch {
            guard case .system(let interface, let systemError) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(interface == "bad/name")
            #expect(systemError.call == "ioctl(TUNSETIFF)")
            #expect(systemError.errno == .invalidArgument)
            #expect(error.description.contains("tap bad/name: ioctl(TUNSETIFF)"))
        }
        // A second file cannot attach to a single-queue tap that already has one.
        let first = try Tap(name: namespace.tapName)
        let busy = #expect(throws: TapError.self) { try Tap(name: first.name) }
        guard case .system(let interface, let systemError) = busy else {
            Issue.record("unexpected \(String(describing: busy))")
            return
        }
        #expect(interface == first.name)
        #expect(systemError.call == "ioctl(TUNSETIFF)")
        #expect(systemError.errno == Errno(rawValue: EBUSY))
    }

    @Test("offloads reach the interface's features (read back through ethtool)")
    func offloads() throws {
        let namespace = try TestNetNamespace()
        defer { namespace.close() }
        let tap = try Tap(name: namespace.tapName)
        #expect(try ethtoolFlag(tap.name, EthtoolCommand.segmentation) == false, "TSO before any TUNSETOFFLOAD")
        try tap.setOffloads([.checksum, .tcp4, .tcp6])
        #expect(try ethtoolFlag(tap.name, EthtoolCommand.segmentation) == true)
        #expect(try ethtoolFlag(tap.name, EthtoolCommand.transmitChecksum) == true)
        // Segmentation without the checksum offload is refused, naming the call; nothing changes.
        let refused = #expect(throws: TapError.self) { try tap.setOffloads([.tcp4]) }
        #expect(refused == .system(interface: tap.name, SystemError("ioctl(TUNSETOFFLOAD)", errno: .invalidArgument)))
        #expect(try ethtoolFlag(tap.name, EthtoolCommand.segmentation) == true)
        try tap.setOffloads([])
        #expect(try ethtoolFlag(tap.name, EthtoolCommand.segmentation) == false)
        #expect(try ethtoolFlag(tap.name, EthtoolCommand.transmitChecksum) == false)
    }

    @Test("MAC addresses parse, print and generate as locally administered unicast")
    func macAddresses() throws {
        let mac = MacAddress(0x52, 0x54, 0x00, 0x0a, 0xbc, 0x0f)
        #expect(mac.description == "52:54:00:0a:bc:0f")
        #expect(MacAddress("52:54:00:0a:bc:0f") == mac)
        #expect(MacAddress("52:54:0:a:BC:f") == mac)
        for bad in ["", "52:54:00:0a:bc", "52:54:00:0a:bc:0f:00", "52:54:00:0a:bc:0g", "52:54:00:0a:bc:100", "::::::"] {
            #expect(MacAddress(bad) == nil, "\(bad)")
        }
        #expect(MacAddress(bytes: [1, 2, 3]) == nil)
        #expect(MacAddress(bytes: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])?.isMulticast == true)
        for _ in 0..<32 {
            let random = try MacAddress.random()
            #expect(random.bytes[0] & 0x03 == 0x02, "\(random)")
        }
    }
}

// MARK: - Shared helpers for the tap and virtio-net tests

/// Numbers for interface and namespace names unique in this process ("vdt" + pid + n).
let netTestCounter = Atomic<Int>(0)

/// A network namespace made for one test and entered by the test's thread only (`setns`
/// moves just the calling thread), so its taps, addresses and sockets meet nobody else's,
/// and deleting it removes whatever the test left. Call ``close()`` in a `defer`.
final class TestNetNamespace {
    let name: String
    /// A free interface name for this test.
    let tapName: String
    private var original: Int32 = -1

    init() throws {
        let number = netTestCounter.add(1, ordering: .relaxed).newValue
        name = "vdt\(getpid())n\(number)"
        tapName = "vdt\(getpid())t\(number)"
        try runCommand(["ip", "netns", "add", name])
        do {
            // No IPv6 chatter (router solicitations, MLD) in the frames the tests count.
            try? runCommand([
                "ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ])
            original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
            guard original >= 0 else { throw TestDriverError("open(/proc/thread-self/ns/net): \(Errno.current)") }
            let target = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
            guard target >= 0 else { throw TestDriverError("open(/run/netns/\(name)): \(Errno.current)") }
            defer { Glibc.close(target) }
            guard setNetworkNamespace(target, cloneNewNet) == 0 else {
                throw TestDriverError("setns(\(name)): \(Errno.current)")
            }
        } catch {
            close()
            throw error
        }
    }

    /// Runs `ip -n <namespace> arguments...`.
    func ip(_ arguments: String...) throws {
        try runCommand(["ip", "-n", name] + arguments)
    }

    /// Returns the thread to its own namespace and deletes this one.
    func close() {
        if original >= 0 {
            if setNetworkNamespace(original, cloneNewNet) != 0 {
                Issue.record("could not return the test thread to its namespace: \(Errno.current)")
            }
            Glibc.close(original)
            original = -1
        }
        try? runCommand(["ip", "netns", "del", name])
    }
}

/// `CLONE_NEWNET`, which Swift's Glibc module does not export.
let cloneNewNet: Int32 = 0x4000_0000

/// `setns(2)`: in glibc, but declared only under `_GNU_SOURCE`, which Swift's Glibc module lacks.
let setNetworkNamespace: @convention(c) (Int32, Int32) -> Int32 = {
    // SAFETY: glibc exports `int setns(int fd, int nstype)`; the pointer is cast to exactly that C type.
    unsafeBitCast(dlsym(nil, "setns")!, to: (@convention(c) (Int32, Int32) -> Int32).self)
}()

/// Runs a program found on PATH and waits for it; non-zero exit throws.
func runCommand(_ arguments: [String]) throws {
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawnp(&pid, arguments[0], nil, nil, &argv, environ)
    guard spawned == 0 else { throw TestDriverError("spawn \(arguments[0]): \(Errno(rawValue: spawned))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard Errno.current == .interrupted else { throw TestDriverError("waitpid: \(Errno.current)") }
    }
    guard status == 0 else {
        throw TestDriverError("\(arguments.joined(separator: " ")) failed (wait status \(status))")
    }
}

/// `ETHTOOL_G*` commands that answer with a `struct ethtool_value`.
enum EthtoolCommand {
    static let transmitChecksum: UInt32 = 0x16  // ETHTOOL_GTXCSUM
    static let segmentation: UInt32 = 0x1e  // ETHTOOL_GTSO
}

/// Reads one on/off feature of `interface` (in the calling thread's namespace) with `SIOCETHTOOL`.
func ethtoolFlag(_ interface: String, _ command: UInt32) throws -> Bool {
    let socketDescriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard socketDescriptor >= 0 else { throw TestDriverError("socket: \(Errno.current)") }
    defer { close(socketDescriptor) }
    var value: (command: UInt32, data: UInt32) = (command, 0)
    var request = [UInt8](repeating: 0, count: 40)  // struct ifreq
    for (index, byte) in interface.utf8.prefix(15).enumerated() { request[index] = byte }
    // SAFETY: `ifr_data` (offset 16) points at `value`, a live `struct ethtool_value`
    // (two u32) for the whole call; the kernel writes only inside it and `request`.
    let result = withUnsafeMutablePointer(to: &value) { valuePointer in
        request.withUnsafeMutableBytes { raw in
            raw.storeBytes(
                of: UnsafeMutableRawPointer(valuePointer), toByteOffset: 16, as: UnsafeMutableRawPointer.self)
            return ioctl(socketDescriptor, 0x8946, raw.baseAddress!)  // SIOCETHTOOL
        }
    }
    guard result == 0 else { throw TestDriverError("SIOCETHTOOL \(command) on \(interface): \(Errno.current)") }
    return value.data != 0
}
