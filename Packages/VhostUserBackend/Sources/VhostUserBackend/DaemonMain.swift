// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Seccompiler

/// A daemon's command line, rust-vmm vhost-device style: `--socket-path PATH` (or `-s`),
/// `--frontends N` (serve N front-ends, then exit; default: forever), `--workers N` (threads
/// serving the rings' kicks, ring `i` on worker `i % N`; default 1), `--no-seccomp` (run
/// without ``DaemonSandbox``'s filter), `--help`, and the device's own options, each
/// `--name VALUE` or a bare `--switch`.
///
/// ```swift
/// let options = try DaemonCommandLine.parse(["--socket-path", "/tmp/b.sock", "--image", "d.raw"],
///                                           values: ["--image"], switches: ["--readonly"])
/// print(options.values["--image"]!)  // d.raw
/// ```
public struct DaemonCommandLine: Sendable, Equatable {
    /// The socket to listen on.
    public var socketPath: String
    /// Front-ends to serve before exiting (nil: forever).
    public var frontends: Int?
    /// Threads serving the rings' kicks (see ``VhostUserDaemon/workers``).
    public var workers: Int
    /// The device's options that take a value.
    public var values: [String: String]
    /// The device's switches that were given.
    public var switches: Set<String>
    /// Whether the daemon serves under ``DaemonSandbox``'s seccomp filter (`--no-seccomp`: not).
    public var seccomp: Bool

    /// A command line from its parts.
    public init(
        socketPath: String, frontends: Int? = nil, workers: Int = 1, values: [String: String] = [:],
        switches: Set<String> = [], seccomp: Bool = true
    ) {
        self.socketPath = socketPath
        self.frontends = frontends
        self.workers = workers
        self.values = values
        self.switches = switches
        self.seccomp = seccomp
    }

    /// Why a command line was refused (one line; the daemon prints it with its usage).
    public struct Failure: Error, Equatable, CustomStringConvertible {
        /// The line.
        public var description: String
        /// A failure saying `description`.
        public init(_ description: String) { self.description = description }
    }

    /// Parses `arguments` (without the program name); nil for `--help`.
    public static func parse(
        _ arguments: [String], values: Set<String> = [], switches: Set<String> = []
    ) throws(Failure) -> DaemonCommandLine? {
        var rest = arguments[...]
        var socketPath: String?
        var frontends: Int?
        var workers = 1
        var found: [String: String] = [:]
        var given: Set<String> = []
        var seccomp = true
        while let flag = rest.popFirst() {
            switch flag {
            case "-h", "--help": return nil
            case "--no-seccomp": seccomp = false
            case "-s", "--socket-path", "--frontends", "--workers":
                guard let value = rest.popFirst(), !value.isEmpty else { throw Failure("\(flag) needs a value") }
                switch flag {
                case "--frontends":
                    guard let count = Int(value), count > 0 else { throw Failure("--frontends needs a count above 0") }
                    frontends = count
                case "--workers":
                    guard let count = Int(value), (1...64).contains(count) else {
                        throw Failure("--workers needs a count from 1 to 64")
                    }
                    workers = count
                default:
                    socketPath = value
                }
            case _ where values.contains(flag):
                guard let value = rest.popFirst(), !value.isEmpty else { throw Failure("\(flag) needs a value") }
                found[flag] = value
            case _ where switches.contains(flag):
                given.insert(flag)
            default:
                throw Failure("unknown argument '\(flag)'")
            }
        }
        guard let socketPath else { throw Failure("--socket-path is required") }
        guard socketPath.utf8.count <= 107 else { throw Failure("the socket path is too long for a Unix socket") }
        return DaemonCommandLine(
            socketPath: socketPath, frontends: frontends, workers: workers, values: found, switches: given,
            seccomp: seccomp)
    }

    /// A daemon's `main`: parses the command line, makes the device, listens, installs
    /// ``DaemonSandbox``'s filter with the device's `seccompRules` (unless `--no-seccomp`),
    /// serves. Prints `usage` for `--help` (exit 0) and with a refused command line (exit 2,
    /// also for more `--workers` than the device has rings); a device, socket or filter
    /// failure is one line and exit 1.
    public static func run<Device: VhostUserBackend>(
        name: String, usage: String, arguments: [String] = Array(CommandLine.arguments.dropFirst()),
        values: Set<String> = [], switches: Set<String> = [], seccompRules: [Rule] = [],
        device makeDevice: (DaemonCommandLine) throws -> Device
    ) -> Never {
        let options: DaemonCommandLine
        do {
            guard let parsed = try parse(arguments, values: values, switches: switches) else {
                print(usage)
                exit(0)
            }
            options = parsed
        } catch {
            report("\(name): \(error)\n\(usage)\n")
            exit(2)
        }
        let device: Device
        do {
            device = try makeDevice(options)
        } catch {
            report("\(name): \(error)\n")
            exit(1)
        }
        guard options.workers <= device.queueMaximumSizes.count else {
            report(
                "\(name): --workers \(options.workers): the device has \(device.queueMaximumSizes.count) ring(s)\n\(usage)\n"
            )
            exit(2)
        }
        do {
            let daemon = VhostUserDaemon(device: device, socketPath: options.socketPath, workers: options.workers)
            try daemon.serve(frontends: options.frontends) {
                // Everything that opens files or binds sockets is done: the filter goes on now.
                if options.seccomp {
                    do throws(DaemonSandboxError) {
                        try DaemonSandbox.install(name: name, extra: seccompRules)
                    } catch {
                        report("\(name): \(error)\n")
                        // SAFETY: the String is bridged to a NUL-terminated C string that lives for the call;
                        // unlink only reads it.
                        unsafe unlink(options.socketPath)
                        exit(1)
                    }
                }
                report("\(name): listening on \(options.socketPath)\n")
            }
        } catch {
            report("\(name): \(error)\n")
            exit(1)
        }
        exit(0)
    }

    /// Expands rust-vmm's `--vm key=value,...` form (vhost-device-vsock) into separate
    /// options: `--vm guest-cid=4,socket=/tmp/v.sock` becomes `--guest-cid 4 --socket-path
    /// /tmp/v.sock` (`socket` is `--socket-path`, every other key `--key`).
    public static func expandingVM(_ arguments: [String]) throws(Failure) -> [String] {
        var result: [String] = []
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            guard argument == "--vm" else {
                result.append(argument)
                continue
            }
            guard let list = rest.popFirst() else { throw Failure("--vm needs key=value,...") }
            for pair in list.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[1].isEmpty else {
                    throw Failure("--vm: expected key=value, got '\(pair)'")
                }
                result += [parts[0] == "socket" ? "--socket-path" : "--" + parts[0], parts[1]]
            }
        }
        return result
    }

    /// Writes `text` to standard error.
    static func report(_ text: String) {
        let bytes = Array(text.utf8)
        // SAFETY: write reads exactly the array's bytes, alive for the call.
        _ = unsafe bytes.withUnsafeBytes { unsafe write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
