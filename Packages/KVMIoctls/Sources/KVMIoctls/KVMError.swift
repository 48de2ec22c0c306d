// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
@_exported import KVMBindings
import VMMSysUtil

/// A failed KVM call: the ioctl (or other call) by name, and why it failed.
///
/// ```swift
/// do {
///     try vm.setUserMemoryRegion(region)
/// } catch {
///     print(error)  // "KVM_SET_USER_MEMORY_REGION: File exists (errno 17)"
///     if error.errno == .exists { /* overlapping slot */ }
/// }
/// ```
public struct KVMError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why the call failed.
    public enum Reason: Hashable, Sendable {
        /// The kernel (or the C library) returned this error number.
        case system(Errno)
        /// The host's KVM lacks a capability the call needs; checked before calling.
        case missingCapability(Capability)
        /// `KVM_GET_API_VERSION` returned something other than the stable API (12).
        case apiVersionMismatch(Int32)
        /// An argument was rejected before reaching the kernel.
        case invalidArgument(String)
    }

    /// The call's name, for example `"KVM_RUN"` or `"mmap(kvm_run)"`.
    public let call: String
    /// Why it failed.
    public let reason: Reason

    /// Creates an error for `call`.
    public init(_ call: String, _ reason: Reason) {
        self.call = call
        self.reason = reason
    }

    /// An error for `call` from the thread's current `errno`.
    public static func current(_ call: String) -> KVMError { KVMError(call, .system(.current)) }

    /// The error number when the kernel reported one.
    public var errno: Errno? {
        if case .system(let errno) = reason { return errno }
        return nil
    }

    /// The same failure as a VMMSysUtil ``SystemError`` (errno-less reasons map to `EINVAL`/`ENOSYS`).
    public var systemError: SystemError {
        switch reason {
        case .system(let errno): SystemError(call, errno: errno)
        case .missingCapability: SystemError(call, errno: .notImplemented)
        case .apiVersionMismatch, .invalidArgument: SystemError(call, errno: .invalidArgument)
        }
    }

    /// `"<call>: <reason>"`.
    public var description: String {
        switch reason {
        case .system(let errno): "\(call): \(errno) (errno \(errno.rawValue))"
        case .missingCapability(let capability): "\(call): host KVM lacks \(capability)"
        case .apiVersionMismatch(let version): "\(call): KVM API version \(version), expected \(KVM_API_VERSION)"
        case .invalidArgument(let why): "\(call): invalid argument: \(why)"
        }
    }
}

/// Small helpers every handle uses to issue ioctls with uniform error naming.
enum IOCtl {
    /// `ioctl(fd, request)`, retried on `EINTR`, returning the non-negative result.
    static func call(_ fd: Int32, _ request: UInt, _ name: String) throws(KVMError) -> Int32 {
        while true {
            let result = ioctl(fd, request)
            if result >= 0 { return result }
            let errno = Errno.current
            if errno != .interrupted { throw KVMError(name, .system(errno)) }
        }
    }

    /// `ioctl(fd, request, value)` with an integer argument.
    static func call(_ fd: Int32, _ request: UInt, value: UInt, _ name: String) throws(KVMError) -> Int32 {
        while true {
            // Integer arguments wider than Int32 travel in the pointer-sized slot.
            // SAFETY: never dereferenced; the kernel reads it as an integer.
            let argument = unsafe UnsafeMutableRawPointer(bitPattern: value)
            let result = unsafe argument.map { unsafe ioctl(fd, request, $0) } ?? ioctl(fd, request, Int32(0))
            if result >= 0 { return result }
            let errno = Errno.current
            if errno != .interrupted { throw KVMError(name, .system(errno)) }
        }
    }

    /// `ioctl(fd, request, &value)`: the kernel reads and/or writes `value`.
    @discardableResult
    static func call<T>(_ fd: Int32, _ request: UInt, _ value: inout T, _ name: String) throws(KVMError) -> Int32 {
        while true {
            // SAFETY: `value` is a whole T, the struct the request encodes.
            let result = unsafe withUnsafeMutablePointer(to: &value) {
                unsafe ioctl(fd, request, UnsafeMutableRawPointer($0))
            }
            if result >= 0 { return result }
            let errno = Errno.current
            if errno != .interrupted { throw KVMError(name, .system(errno)) }
        }
    }

    /// `ioctl(fd, request, pointer)` on caller-managed memory.
    @discardableResult
    static func call(
        _ fd: Int32, _ request: UInt, pointer: UnsafeMutableRawPointer, _ name: String
    ) throws(KVMError)
        -> Int32
    {
        while true {
            // SAFETY: the callers (CPUID, MSR and GSI-routing helpers) pass a block sized by the matching kvmb_*_size
            // helper for the encoded header plus the entry count it declares, allocated until they return.
            let result = unsafe ioctl(fd, request, pointer)
            if result >= 0 { return result }
            let errno = Errno.current
            if errno != .interrupted { throw KVMError(name, .system(errno)) }
        }
    }
}
