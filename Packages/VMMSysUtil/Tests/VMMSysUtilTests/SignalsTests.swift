// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Synchronization
import Testing
import VMMSysUtil

/// Runs `body` on a fresh pthread and returns the thread id; join with `pthread_join`.
private func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: @unchecked Sendable {  // handed to exactly one thread
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let result = pthread_create(
        &thread, nil,
        { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
    precondition(result == 0, "pthread_create failed: \(result)")
    return thread
}

@Suite(.serialized) struct KickSignalTests {
    @Test func offsetsStayInsideTheRealTimeRange() throws {
        let kick = try KickSignal(offset: 2)
        #expect(kick.number == KickSignal.realTimeMinimum + 2)
        #expect(kick.description == "SIGRTMIN+2")
        #expect(KickSignal.realTimeMaximum > KickSignal.realTimeMinimum)
        let tooFar = KickSignal.realTimeMaximum - KickSignal.realTimeMinimum + 1
        #expect(throws: SystemError("SIGRTMIN+\(tooFar)", errno: .invalidArgument)) {
            _ = try KickSignal(offset: tooFar)
        }
        #expect(throws: SystemError.self) { _ = try KickSignal(offset: -1) }
    }

    @Test func blockAndUnblockChangeTheThreadMask() throws {
        let kick = try KickSignal(offset: 3)
        try kick.installEmptyHandler()
        #expect(try kick.hasHandler())
        try kick.block()
        #expect(try kick.isBlocked())
        // A blocked signal stays pending instead of being delivered.
        try kick.send(to: KickSignal.currentThread())
        var pending = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, kick.number) == 1)
        try kick.unblock()  // delivered to the empty handler now
        #expect(try !kick.isBlocked())
        sigpending(&pending)
        #expect(sigismember(&pending, kick.number) == 0)
    }

    /// The point of the helper: a thread blocked in a system call comes back with EINTR.
    @Test func kickInterruptsABlockingReadWithEINTR() throws {
        let kick = try KickSignal(offset: 1)
        try kick.installEmptyHandler()
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer {
            close(ends[0])
            close(ends[1])
        }
        let readEnd = ends[0]
        let result = Atomic<Int32>(0)  // errno of the interrupted read, 0 while running
        let started = Atomic<Bool>(false)
        let thread = startThread {
            // Threads inherit their creator's mask, and test-runner threads may block
            // real-time signals; a blocked kick would never interrupt the read.
            try? kick.unblock()
            started.store(true, ordering: .sequentiallyConsistent)
            var byte: UInt8 = 0
            let count = read(readEnd, &byte, 1)  // blocks: nobody writes
            result.store(count < 0 ? errno : -1, ordering: .sequentiallyConsistent)
        }
        while !started.load(ordering: .sequentiallyConsistent) { sched_yield() }
        // Keep kicking until the read is interrupted: the first kick may land
        // before the thread entered read(2).
        var attempts = 0
        while result.load(ordering: .sequentiallyConsistent) == 0 && attempts < 1000 {
            try kick.send(to: thread)
            usleep(1000)
            attempts += 1
        }
        if result.load(ordering: .sequentiallyConsistent) == 0 {
            // Never interrupted: release the reader so the test fails instead of hanging.
            var byte: UInt8 = 1
            _ = write(ends[1], &byte, 1)
        }
        pthread_join(thread, nil)
        let interruptedWith = result.load(ordering: .sequentiallyConsistent)
        #expect(interruptedWith == EINTR)
    }

    @Test func handlerIsInstalledWithoutSARestart() throws {
        let kick = try KickSignal(offset: 4)
        try kick.installEmptyHandler()
        var current = sigaction()
        #expect(sigaction(kick.number, nil, &current) == 0)
        // SA_RESTART would make the kernel restart KVM_RUN instead of returning EINTR.
        #expect(current.sa_flags & Int32(SA_RESTART) == 0)
        #expect(try kick.hasHandler())
    }
}

@Suite struct ThreadNameTests {
    /// Names a fresh thread and reads the name back from the kernel; a 16-byte name is refused.
    @Test func namesTheCallingThreadAsTheKernelSeesIt() throws {
        let result = Mutex<(comm: String, tooLong: Int32?)>(("", nil))
        let thread = startThread {
            try? ThreadName.set("vcpu7")
            var buffer = [UInt8](repeating: 0, count: 32)
            let descriptor = open("/proc/thread-self/comm", O_RDONLY)
            let count = read(descriptor, &buffer, buffer.count)
            close(descriptor)
            var tooLong: Int32?
            do throws(SystemError) { try ThreadName.set("sixteen-bytes-xx") } catch { tooLong = error.errno.rawValue }
            let comm = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
            result.withLock { $0 = (comm, tooLong) }
        }
        pthread_join(thread, nil)
        let (comm, tooLong) = result.withLock { $0 }
        #expect(comm == "vcpu7\n")
        #expect(tooLong == ERANGE)
    }
}
