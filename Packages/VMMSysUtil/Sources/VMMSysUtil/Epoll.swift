// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// An `epoll(7)` instance: waits for readiness on many descriptors at once.
///
/// Each registered descriptor carries a `UInt64` of user data that comes back
/// with its events, so a caller can map an event to its owner without a lookup
/// by descriptor number (which the kernel may reuse).
///
/// ```swift
/// let epoll = try Epoll()
/// let event = try EventFd(flags: .nonBlocking)
/// try epoll.add(event.descriptor.rawValue, events: .readable, data: 42)
/// try event.signal()
/// var ready = Epoll.EventBuffer(capacity: 16)
/// let count = try epoll.wait(into: &ready, timeout: .milliseconds(100))
/// print(count, ready[0].data)  // 1 42
/// ```
public struct Epoll: ~Copyable, Sendable {
    /// Readiness and mode bits (`EPOLL*`).
    public struct Events: OptionSet, Sendable, Hashable, CustomStringConvertible {
        /// The raw `EPOLL*` bits.
        public let rawValue: UInt32
        /// Wraps raw `EPOLL*` bits.
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// `EPOLLIN`: data can be read.
        public static let readable = Events(rawValue: EPOLLIN.rawValue)
        /// `EPOLLOUT`: data can be written.
        public static let writable = Events(rawValue: EPOLLOUT.rawValue)
        /// `EPOLLPRI`: an exceptional condition (out-of-band data, a pty packet-mode change).
        public static let priority = Events(rawValue: EPOLLPRI.rawValue)
        /// `EPOLLRDHUP`: the peer closed its writing half.
        public static let readHangUp = Events(rawValue: EPOLLRDHUP.rawValue)
        /// `EPOLLERR`: an error condition; always reported, never needs to be requested.
        public static let error = Events(rawValue: EPOLLERR.rawValue)
        /// `EPOLLHUP`: hang-up; always reported, never needs to be requested.
        public static let hangUp = Events(rawValue: EPOLLHUP.rawValue)
        /// `EPOLLET`: edge-triggered instead of level-triggered notification.
        public static let edgeTriggered = Events(rawValue: EPOLLET.rawValue)
        /// `EPOLLONESHOT`: disable the descriptor after one event until it is modified again.
        public static let oneShot = Events(rawValue: EPOLLONESHOT.rawValue)
        /// `EPOLLEXCLUSIVE`: wake only one of several epoll instances waiting on the same file.
        public static let exclusive = Events(rawValue: EPOLLEXCLUSIVE.rawValue)

        /// The set bits by name, for example `readable|hangUp`.
        public var description: String {
            let names: [(Events, String)] = [
                (.readable, "readable"), (.writable, "writable"), (.priority, "priority"),
                (.readHangUp, "readHangUp"), (.error, "error"), (.hangUp, "hangUp"),
                (.edgeTriggered, "edgeTriggered"), (.oneShot, "oneShot"), (.exclusive, "exclusive"),
            ]
            var parts = names.filter { contains($0.0) }.map(\.1)
            let known = names.reduce(UInt32(0)) { $0 | $1.0.rawValue }
            if rawValue & ~known != 0 { parts.append("0x" + String(rawValue & ~known, radix: 16)) }
            return parts.isEmpty ? "[]" : parts.joined(separator: "|")
        }
    }

    /// One ready descriptor: what happened and the user data given at registration.
    public struct Event: Sendable, Hashable {
        /// The readiness bits the kernel reported.
        public var events: Events
        /// The user data registered with the descriptor.
        public var data: UInt64

        /// Creates an event value (useful in tests and when replaying events).
        public init(events: Events, data: UInt64) {
            self.events = events
            self.data = data
        }
    }

    /// Reusable storage that ``Epoll/wait(into:timeout:)`` fills, so a loop
    /// allocates once rather than on every wait.
    ///
    /// ```swift
    /// var ready = Epoll.EventBuffer(capacity: 64)
    /// let count = try epoll.wait(into: &ready)
    /// for index in 0..<count { print(ready[index]) }
    /// ```
    @safe  // SAFETY: owns its epoll_event storage and reads it only below the count it was allocated with.
    public struct EventBuffer: ~Copyable, @unchecked Sendable {
        // Sendable: the storage is owned by this non-copyable value and only
        // reachable through it, so it moves between threads with its owner.
        private let storage: UnsafeMutableRawPointer
        /// How many events one wait can return.
        public let capacity: Int
        /// How many entries the last wait filled.
        public private(set) var count: Int = 0

        /// Allocates room for `capacity` events (at least one).
        public init(capacity: Int) {
            self.capacity = max(1, capacity)
            // SAFETY: a fresh block of capacity * sizeof(struct epoll_event) bytes (the C size: 12, packed, on x86_64),
            // 8-byte aligned, which suits the struct on every ABI; owned by this value and freed once in deinit.
            unsafe storage = UnsafeMutableRawPointer.allocate(
                byteCount: self.capacity * cvmm_epoll_event_size(), alignment: MemoryLayout<UInt64>.alignment)
        }

        deinit { unsafe storage.deallocate() }  // SAFETY: allocated in init; ~Copyable, so freed once.

        /// The entry at `index` from the last wait (`index < count`).
        public subscript(index: Int) -> Event {
            precondition(index >= 0 && index < count, "Epoll.EventBuffer index \(index) out of 0..<\(count)")
            // SAFETY: the storage holds `capacity` epoll_event entries and index < count <= capacity.
            let events = unsafe storage.assumingMemoryBound(to: epoll_event.self)
            let bits = unsafe cvmm_epoll_event_bits(events, Int32(index))
            return unsafe Event(events: Events(rawValue: bits), data: cvmm_epoll_event_data(events, Int32(index)))
        }

        /// Runs `body` with the raw entry array and records how many entries it filled.
        mutating func fill(_ body: (UnsafeMutablePointer<epoll_event>, Int32) -> Int32) -> Int32 {
            // SAFETY: the storage was allocated for `capacity` entries and epoll_wait writes at most that many.
            let result = unsafe body(storage.assumingMemoryBound(to: epoll_event.self), Int32(clamping: capacity))
            count = result > 0 ? Int(result) : 0
            return result
        }
    }

    /// The epoll descriptor, owned by this value.
    public let descriptor: FileDescriptor

    /// Creates an epoll instance (close-on-exec).
    public init() throws(SystemError) {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        if fd < 0 { throw SystemError.current("epoll_create1") }
        descriptor = FileDescriptor(owning: fd)
    }

    /// Starts watching `fd` for `events`; `data` comes back with each of its events.
    ///
    /// Fails with `EEXIST` when `fd` is already registered.
    public func add(_ fd: Int32, events: Events, data: UInt64) throws(SystemError) {
        try control(EPOLL_CTL_ADD, "epoll_ctl(ADD, \(fd))", fd, events, data)
    }

    /// Changes the events and user data of a registered descriptor (re-arms a one-shot one).
    ///
    /// Fails with `ENOENT` when `fd` is not registered.
    public func modify(_ fd: Int32, events: Events, data: UInt64) throws(SystemError) {
        try control(EPOLL_CTL_MOD, "epoll_ctl(MOD, \(fd))", fd, events, data)
    }

    /// Stops watching `fd`.
    ///
    /// Closing a descriptor removes it too, but only once every duplicate is
    /// closed; call this first when other copies may exist.
    public func delete(_ fd: Int32) throws(SystemError) {
        try control(EPOLL_CTL_DEL, "epoll_ctl(DEL, \(fd))", fd, [], 0)
    }

    private func control(
        _ operation: Int32, _ call: String, _ fd: Int32, _ events: Events, _ data: UInt64
    )
        throws(SystemError)
    {
        if cvmm_epoll_ctl(descriptor.rawValue, operation, fd, events.rawValue, data) != 0 {
            throw SystemError.current(call)
        }
    }

    /// Waits until at least one descriptor is ready or `timeout` passes, and
    /// fills `buffer` with the ready ones. Returns how many there are (0 on timeout).
    ///
    /// `nil` waits without limit; `.zero` polls. A signal that interrupts the
    /// wait (`EINTR`) does not end it early: the wait resumes with the time left.
    public func wait(into buffer: inout EventBuffer, timeout: Duration? = nil) throws(SystemError) -> Int {
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now.advanced(by: $0) }
        var milliseconds = Self.milliseconds(timeout)
        while true {
            // SAFETY: fill passes the buffer's own storage and its capacity; epoll_wait writes at most
            // maxevents = capacity entries there, and the pointer does not escape the closure.
            let result = unsafe buffer.fill { events, capacity in
                unsafe epoll_wait(descriptor.rawValue, events, capacity, milliseconds)
            }
            if result >= 0 { return Int(result) }
            let error = Errno.current
            if error != .interrupted { throw SystemError("epoll_wait", errno: error) }
            if let deadline {
                milliseconds = Self.milliseconds(max(.zero, clock.now.duration(to: deadline)))
            }
        }
    }

    /// Whole milliseconds for epoll_wait, rounded up so a wait never ends before
    /// its timeout; -1 (forever) for `nil`.
    static func milliseconds(_ timeout: Duration?) -> Int32 {
        guard let timeout else { return -1 }
        if timeout <= .zero { return 0 }
        return Int32(clamping: timeout.wholeMillisecondsRoundedUp)
    }
}
