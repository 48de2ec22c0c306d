// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Seccompiler
import Testing
import VhostUserBackend

@Suite("DaemonCommandLine: the daemons' shared command line")
struct DaemonCommandLineTests {
    @Test func parsesTheSocketTheFrontEndCountAndTheDevicesOptions() throws {
        let options = try DaemonCommandLine.parse(
            ["-s", "/tmp/b.sock", "--image", "d.raw", "--readonly", "--frontends", "2"],
            values: ["--image", "--serial"], switches: ["--readonly", "--direct"])
        #expect(
            options
                == DaemonCommandLine(
                    socketPath: "/tmp/b.sock", frontends: 2, values: ["--image": "d.raw"], switches: ["--readonly"]))
        #expect(try DaemonCommandLine.parse(["--help"]) == nil)
        #expect(try DaemonCommandLine.parse(["--socket-path", "/s"])?.frontends == nil)
        #expect(try DaemonCommandLine.parse(["--socket-path", "/s"])?.seccomp == true)
        #expect(try DaemonCommandLine.parse(["--no-seccomp", "--socket-path", "/s"])?.seccomp == false)
        #expect(try DaemonCommandLine.parse(["--socket-path", "/s"])?.workers == 1)
        #expect(try DaemonCommandLine.parse(["--socket-path", "/s", "--workers", "3"])?.workers == 3)
    }

    /// The filter compiles for this machine and leaves out what a device daemon has no use for.
    @Test func theSandboxAllowsServingAndNothingThatOpensOrRuns() throws {
        let allowed = Set(DaemonSandbox.rules.map(\.syscall))
        for needed in [
            "accept4", "recvmsg", "sendmsg", "mmap", "munmap", "epoll_wait", "pwritev", "fsync", "getrandom",
        ] {
            #expect(allowed.contains(needed), "\(needed)")
        }
        // Workers start before the filter goes on: it allows no new threads or processes.
        for refused in [
            "execve", "execveat", "ptrace", "ioctl", "open", "bind", "listen", "mount", "kill", "clone", "clone3",
            "fork",
        ] {
            #expect(!allowed.contains(refused), "\(refused)")
        }
        #expect(try DaemonSandbox.filter().compile().instructions.count > allowed.count)
        #expect(DaemonSandbox.filter(extra: [Rule("ioctl")]).rules.contains(Rule("ioctl")))
    }

    /// The filter at work, in a disposable child: a call a daemon makes runs, one it has no
    /// use for traps (the trap reporter would print it and exit 1). `kill` is probed with
    /// zeros, which would only test for the process group if it ran.
    @Test func theSandboxTrapsWhatItLeavesOut() throws {
        let program = try DaemonSandbox.filter().compile()
        guard case .returned(let pid) = try program.probe("getpid", scope: .allThreads) else {
            Issue.record("getpid did not run under the filter")
            return
        }
        #expect(pid > 0)
        // A coverage build lets `openat` through for its profile writer (ProfileWriter.rules).
        for refused in ["execve", "ptrace", "bind", "kill"] + (ProfileWriter.isLinked ? [] : ["openat"]) {
            let outcome = try program.probe(refused, scope: .allThreads)
            guard case .trapped = outcome else {
                Issue.record("\(refused): \(outcome)")
                continue
            }
        }
    }

    @Test func refusesWhatItDoesNotKnowOrWhatIsMissing() {
        let bad: [[String]] = [
            [], ["--image", "d.raw"], ["--socket-path"], ["--socket-path", ""], ["-s", "/s", "--frontends", "0"],
            ["-s", "/s", "--frontends", "x"], ["-s", "/s", "--unknown"], ["-s", "/s", "--image"],
            ["-s", "/" + String(repeating: "p", count: 107)], ["-s", "/s", "--workers", "0"],
            ["-s", "/s", "--workers", "65"], ["-s", "/s", "--workers", "two"], ["-s", "/s", "--workers"],
        ]
        for arguments in bad {
            #expect(throws: DaemonCommandLine.Failure.self, "\(arguments)") {
                try DaemonCommandLine.parse(arguments, values: ["--image"])
            }
        }
    }

    @Test func rustVmmsVmFormExpandsIntoOptions() throws {
        #expect(
            try DaemonCommandLine.expandingVM([
                "--vm", "guest-cid=4,socket=/tmp/v.sock,uds-path=/tmp/u", "--frontends", "1",
            ])
                == ["--guest-cid", "4", "--socket-path", "/tmp/v.sock", "--uds-path", "/tmp/u", "--frontends", "1"])
        #expect(try DaemonCommandLine.expandingVM(["-s", "/x"]) == ["-s", "/x"])
        for bad in [["--vm"], ["--vm", "guest-cid"], ["--vm", "socket="]] {
            #expect(throws: DaemonCommandLine.Failure.self, "\(bad)") { try DaemonCommandLine.expandingVM(bad) }
        }
    }
}
