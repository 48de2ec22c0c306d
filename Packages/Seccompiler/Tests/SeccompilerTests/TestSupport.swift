// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import Seccompiler

/// Runs `body` on a new pthread and waits for it to finish. The filters tests install there
/// die with the thread; the test runner's own threads are never filtered.
func runOnNewThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {  // handed to exactly one thread
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let created = pthread_create(
        &thread, nil,
        { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
    precondition(created == 0, "pthread_create failed: \(created)")
    pthread_join(thread, nil)
}

/// System calls a filtered test thread needs to finish and be joined: the thread exit itself,
/// futex wake-ups and the memory calls glibc and the Swift runtime may make on the way out.
let threadHousekeeping = ["exit", "futex", "madvise", "munmap", "mmap", "brk", "rt_sigprocmask", "sched_yield"]

/// The host's number for `name` (the tests run on a supported architecture).
func number(_ name: String) -> Int32 {
    Architecture.native!.syscallNumber(name)!
}
