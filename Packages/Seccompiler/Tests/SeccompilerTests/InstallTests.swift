// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Seccompiler
import Synchronization
import Testing
import VMMSysUtil

/// What a filtered thread saw, read by the test after `pthread_join`.
private final class Report: @unchecked Sendable {
    var installError: SeccompInstallError?
    var results: [String: Int] = [:]
    var errors: [String: Int32] = [:]
    var mode: SeccompMode?
    var noNewPrivileges: Bool?
    let installed = Atomic<Bool>(false)
    let released = Atomic<Bool>(false)
}

/// Installs on real threads of the test process: the filter must reach the installing
/// thread and no other. Serialized, so at most one thread of the process is filtered at a time.
@Suite(.serialized) struct InstallTests {
    @Test func perThreadFilterRefusesForbiddenCallsOnThatThreadOnly() throws {
        let program = try SeccompFilter(default: .errno(EPERM)) {
            for name in threadHousekeeping { Rule(name) }
            Rule("getppid")
            Rule("prctl", comment: "SeccompStatus asks the kernel")
        }.compile()
        let mainModeBefore = try SeccompStatus.currentMode()
        let mainNoNewPrivilegesBefore = try SeccompStatus.noNewPrivileges()
        let report = Report()

        // The filtered thread waits (spinning, no system calls) while this thread makes the
        // same calls, so both run at the same time.
        let probe = Thread {
            do throws(SeccompInstallError) {
                try program.install()
            } catch {
                report.installError = error
                report.installed.store(true, ordering: .sequentiallyConsistent)
                return
            }
            var names = utsname()
            errno = 0
            report.results["uname"] = Int(uname(&names))
            report.errors["uname"] = errno
            report.results["getppid"] = Int(getppid())
            report.mode = try? SeccompStatus.currentMode()
            report.noNewPrivileges = try? SeccompStatus.noNewPrivileges()
            report.installed.store(true, ordering: .sequentiallyConsistent)
            while !report.released.load(ordering: .sequentiallyConsistent) {}
        }
        while !report.installed.load(ordering: .sequentiallyConsistent) { sched_yield() }

        // This thread, concurrently: unfiltered.
        var names = utsname()
        #expect(uname(&names) == 0)
        #expect(try SeccompStatus.currentMode() == mainModeBefore)
        #expect(try SeccompStatus.noNewPrivileges() == mainNoNewPrivilegesBefore)
        // A thread started now by the unfiltered thread is unfiltered too.
        let bystanderMode = Mutex<SeccompMode?>(nil)
        runOnNewThread { bystanderMode.withLock { $0 = try? SeccompStatus.currentMode() } }
        #expect(bystanderMode.withLock { $0 } == .disabled)
        report.released.store(true, ordering: .sequentiallyConsistent)
        probe.join()

        #expect(report.installError == nil)
        #expect(report.results["uname"] == -1)
        #expect(report.errors["uname"] == EPERM)
        #expect(report.results["getppid"] == Int(getppid()))
        #expect(report.mode == .filter)
        #expect(report.noNewPrivileges == true)
        #expect(try SeccompStatus.currentMode() == mainModeBefore)
    }

    @Test func ioctlIsAllowedForOneRequestNumberOnly() throws {
        let program = try SeccompFilter(default: .errno(EPERM)) {
            for name in threadHousekeeping { Rule(name) }
            Rule("ioctl", .arg(1, .equal, FIONREAD, width: .dword), comment: "FIONREAD")
        }.compile()
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer {
            close(ends[0])
            close(ends[1])
        }
        #expect(write(ends[1], "four", 4) == 4)
        let readEnd = ends[0]
        let report = Report()
        runOnNewThread {
            do throws(SeccompInstallError) {
                try program.install()
            } catch {
                report.installError = error
                return
            }
            var available: Int32 = 0
            errno = 0
            report.results["FIONREAD"] = Int(ioctl(readEnd, UInt(FIONREAD), &available))
            report.errors["FIONREAD"] = errno
            report.results["available"] = Int(available)
            var on: Int32 = 1
            errno = 0
            report.results["FIONBIO"] = Int(ioctl(readEnd, UInt(FIONBIO), &on))
            report.errors["FIONBIO"] = errno
        }
        #expect(report.installError == nil)
        #expect(report.results["FIONREAD"] == 0)
        #expect(report.results["available"] == 4)
        #expect(report.results["FIONBIO"] == -1)
        #expect(report.errors["FIONBIO"] == EPERM)
        // Unfiltered here: the refused request works.
        var on: Int32 = 1
        #expect(ioctl(readEnd, UInt(FIONBIO), &on) == 0)
    }

    @Test func filtersStackAndTheStricterAnswerWins() throws {
        let allowUname = try SeccompFilter(default: .errno(EPERM)) {
            for name in threadHousekeeping { Rule(name) }
            Rule("uname")
            Rule("getppid")
            // Installing another filter takes prctl (no_new_privs) and seccomp themselves.
            Rule("prctl")
            Rule("seccomp")
        }.compile()
        let matchEqualsDefault = try SeccompFilter(default: .allow, match: .allow) {
            Rule("uname")
        }.compile()
        let refuseWithAccess = try SeccompFilter(default: .allow, match: .errno(EACCES)) {
            Rule("uname")
        }.compile()
        let report = Report()
        runOnNewThread {
            var names = utsname()
            do throws(SeccompInstallError) {
                try allowUname.install()
                report.results["one filter"] = Int(uname(&names))
                // match == default: the rules are dropped, the program allows everything.
                try matchEqualsDefault.install()
                report.results["second filter allows all"] = Int(uname(&names))
                try refuseWithAccess.install()
                errno = 0
                report.results["third filter"] = Int(uname(&names))
                report.errors["third filter"] = errno
                report.results["getppid"] = Int(getppid())
            } catch {
                report.installError = error
            }
        }
        #expect(report.installError == nil)
        #expect(report.results["one filter"] == 0)
        #expect(report.results["second filter allows all"] == 0)
        #expect(report.results["third filter"] == -1)
        #expect(report.errors["third filter"] == EACCES)
        #expect(report.results["getppid"] == Int(getppid()))
    }

    @Test func storedBytesInstallLikeTheCompiledProgram() throws {
        let compiled = try SeccompFilter(default: .allow, match: .errno(ENOTTY)) { Rule("uname") }.compile()
        let loaded = try BPFProgram(bytes: compiled.bytes)
        #expect(loaded == compiled)
        let report = Report()
        runOnNewThread {
            do throws(SeccompInstallError) {
                try loaded.install(options: InstallOptions(noNewPrivileges: false))
            } catch {
                report.installError = error
                return
            }
            var names = utsname()
            errno = 0
            report.results["uname"] = Int(uname(&names))
            report.errors["uname"] = errno
            report.noNewPrivileges = try? SeccompStatus.noNewPrivileges()
        }
        // Without no_new_privs the install needs CAP_SYS_ADMIN; the test runs as root here,
        // and an unprivileged run must see the kernel's EACCES instead.
        if getuid() == 0 {
            #expect(report.installError == nil)
            #expect(report.results["uname"] == -1)
            #expect(report.errors["uname"] == ENOTTY)
            #expect(report.noNewPrivileges == false)
        } else {
            #expect(
                report.installError == .seccomp(SystemError("seccomp(SECCOMP_SET_MODE_FILTER)", errno: .accessDenied)))
        }
    }

    @Test func threadSyncFailsWhenAThreadHasItsOwnFilter() throws {
        // Harmless even if it landed everywhere: only acct(2) is refused.
        let ownFilter = try SeccompFilter(default: .allow, match: .errno(EPERM)) { Rule("acct") }.compile()
        let holder = Report()
        let holderThread = Thread {
            holder.results["tid"] = currentThreadID()
            do throws(SeccompInstallError) {
                try ownFilter.install()
            } catch {
                holder.installError = error
            }
            holder.installed.store(true, ordering: .sequentiallyConsistent)
            while !holder.released.load(ordering: .sequentiallyConsistent) {}
        }
        while !holder.installed.load(ordering: .sequentiallyConsistent) { sched_yield() }
        let syncer = Report()
        runOnNewThread {
            do throws(SeccompInstallError) {
                try ownFilter.install(for: .allThreads)
            } catch {
                syncer.installError = error
            }
            syncer.mode = try? SeccompStatus.currentMode()
        }
        holder.released.store(true, ordering: .sequentiallyConsistent)
        holderThread.join()
        #expect(holder.installError == nil)
        let holderID = try #require(holder.results["tid"])
        // All or nothing: the kernel names the thread it could not synchronise and installs nowhere.
        #expect(syncer.installError == .threadNotSynchronized(threadID: Int32(holderID)))
        #expect(syncer.mode == .disabled)
        #expect(try SeccompStatus.currentMode() == .disabled)
    }

    @Test func theKernelRejectsAProgramThatDoesNotReturn() throws {
        // A lone load instruction: valid length, but the kernel's checker refuses a program
        // that can fall off its end.
        let broken = try BPFProgram(instructions: [BPFInstruction(code: 0x20, jumpIfTrue: 0, jumpIfFalse: 0, k: 0)])
        let report = Report()
        runOnNewThread {
            do throws(SeccompInstallError) {
                try broken.install()
            } catch {
                report.installError = error
            }
            report.mode = try? SeccompStatus.currentMode()
        }
        #expect(
            report.installError == .seccomp(SystemError("seccomp(SECCOMP_SET_MODE_FILTER)", errno: .invalidArgument)))
        #expect(report.mode == .disabled)
    }
}

/// A joinable pthread running a closure.
private struct Thread {
    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let created = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, box)
        precondition(created == 0, "pthread_create failed: \(created)")
    }

    func join() { pthread_join(thread, nil) }
}

/// The calling thread's kernel id, from /proc/thread-self (a link to "<pid>/task/<tid>").
private func currentThreadID() -> Int? {
    var buffer = [CChar](repeating: 0, count: 64)
    let count = readlink("/proc/thread-self", &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return target.split(separator: "/").last.flatMap { Int($0) }
}
