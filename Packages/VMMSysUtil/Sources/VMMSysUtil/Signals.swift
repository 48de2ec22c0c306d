// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// A real-time signal used to kick a vCPU thread out of a blocking call such as `KVM_RUN`.
///
/// The handler is empty and installed *without* `SA_RESTART`, so a blocking system
/// call in the signalled thread returns `EINTR` instead of being restarted. Pair it
/// with KVM's `immediate_exit` flag so a kick that lands just before `KVM_RUN` is not lost.
///
/// ```swift
/// let kick = try KickSignal(offset: 0)  // SIGRTMIN + 0
/// try kick.installEmptyHandler()        // once per process, before vCPU threads start
/// let vcpuThread = KickSignal.currentThread()  // read on the vCPU thread
/// // ... later, from another thread:
/// try kick.send(to: vcpuThread)
/// ```
public struct KickSignal: Hashable, Sendable, CustomStringConvertible {
    /// The signal number (between `SIGRTMIN` and `SIGRTMAX`).
    public let number: Int32

    /// The first real-time signal the C library leaves to applications (`SIGRTMIN`).
    public static var realTimeMinimum: Int32 { cvmm_sigrtmin() }
    /// The last real-time signal (`SIGRTMAX`).
    public static var realTimeMaximum: Int32 { cvmm_sigrtmax() }

    /// `SIGRTMIN + offset`; throws `EINVAL` when that is past `SIGRTMAX`.
    public init(offset: Int32) throws(SystemError) {
        let number = Self.realTimeMinimum + offset
        guard offset >= 0, number <= Self.realTimeMaximum else {
            throw SystemError("SIGRTMIN+\(offset)", errno: .invalidArgument)
        }
        self.number = number
    }

    /// `"SIGRTMIN+<n>"`.
    public var description: String { "SIGRTMIN+\(number - Self.realTimeMinimum)" }

    /// Installs an empty handler for this signal, without `SA_RESTART`, for the whole process.
    ///
    /// An empty handler (rather than `SIG_IGN`) is what makes the kernel interrupt a
    /// blocking call: ignored signals are discarded without waking the thread.
    public func installEmptyHandler() throws(SystemError) {
        var action = sigaction()
        // No captures, so the closure converts to a C function pointer; doing
        // nothing is async-signal-safe.
        // SAFETY: sa_flags has no SA_SIGINFO, so sa_handler is the union member in use; the capture-free closure
        // is a static C function, valid for the life of the process.
        unsafe action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0  // deliberately no SA_RESTART
        // SAFETY: sigemptyset clears the sa_mask field of the local `action`; sigaction reads that one struct
        // (the old action is not requested) and the kernel keeps its own copy.
        unsafe sigemptyset(&action.sa_mask)
        if unsafe sigaction(number, &action, nil) != 0 { throw SystemError.current("sigaction(\(description))") }
    }

    /// Whether this signal currently has a handler installed (not `SIG_DFL`/`SIG_IGN`).
    public func hasHandler() throws(SystemError) -> Bool {
        let result = cvmm_signal_has_handler(number)
        if result < 0 { throw SystemError.current("sigaction(\(description))") }
        return result == 1
    }

    /// Blocks the signal in the calling thread (it stays pending until unblocked).
    public func block() throws(SystemError) { try changeMask(SIG_BLOCK, "pthread_sigmask(SIG_BLOCK)") }

    /// Unblocks the signal in the calling thread; a pending kick is delivered now.
    public func unblock() throws(SystemError) { try changeMask(SIG_UNBLOCK, "pthread_sigmask(SIG_UNBLOCK)") }

    /// Whether the signal is blocked in the calling thread.
    public func isBlocked() throws(SystemError) -> Bool {
        var mask = sigset_t()
        // SAFETY: with a nil new set, pthread_sigmask only writes the thread's mask into the local sigset_t.
        let result = unsafe pthread_sigmask(SIG_BLOCK, nil, &mask)
        if result != 0 { throw SystemError("pthread_sigmask", errno: Errno(rawValue: result)) }
        return unsafe sigismember(&mask, number) == 1  // SAFETY: reads the local set filled above.
    }

    /// Sends the signal to `thread` (`pthread_kill`).
    public func send(to thread: pthread_t) throws(SystemError) {
        let result = pthread_kill(thread, number)
        if result != 0 { throw SystemError("pthread_kill(\(description))", errno: Errno(rawValue: result)) }
    }

    /// The calling thread's id, to hand to the thread that will send kicks.
    public static func currentThread() -> pthread_t { pthread_self() }

    private func changeMask(_ how: Int32, _ call: String) throws(SystemError) {
        var mask = sigset_t()
        // SAFETY: both edit the local sigset_t `mask`; `number` was checked in init to lie in
        // SIGRTMIN...SIGRTMAX, inside the set.
        unsafe sigemptyset(&mask)
        unsafe sigaddset(&mask, number)
        let result = unsafe pthread_sigmask(how, &mask, nil)  // SAFETY: reads the local set; old mask not requested.
        if result != 0 { throw SystemError(call, errno: Errno(rawValue: result)) }
    }
}

/// The calling thread's kernel name.
public enum ThreadName {
    /// Names the calling thread, as `ps -L`, `/proc/<pid>/task/<tid>/comm` and audit records show it.
    /// At most 15 bytes of UTF-8; a longer name fails with `ERANGE`.
    ///
    /// ```swift
    /// try ThreadName.set("vcpu0")
    /// ```
    public static func set(_ name: String) throws(SystemError) {
        // SAFETY: `name` is bridged to a NUL-terminated C string for the call; pthread_setname_np copies it
        // (and refuses more than 15 bytes with ERANGE).
        let result = unsafe cvmm_set_thread_name(name)
        // pthread_setname_np returns the error number instead of setting errno.
        guard result == 0 else { throw SystemError("pthread_setname_np", errno: Errno(rawValue: result)) }
    }
}
