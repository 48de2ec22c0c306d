// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// A connected Unix-domain socket that can pass open file descriptors to its
/// peer (`SCM_RIGHTS`), the way a VMM hands guest memory (a memfd) and eventfds
/// to a vhost-user backend.
///
/// ```swift
/// var pair = try UnixSocket.pair()
/// let memory = try MemFd(name: "guest-ram", size: 1 << 20)
/// _ = try pair.first.send([1], descriptors: [memory.descriptor.rawValue])
/// var message = try pair.second.receive(maxBytes: 16, maxDescriptors: 4)
/// let shared = message.takeDescriptor()  // the same file, a new number
/// ```
public struct UnixSocket: ~Copyable, Sendable {
    /// Most descriptors one message can carry (the kernel's `SCM_MAX_FD`).
    public static let maximumDescriptorsPerMessage = 253

    /// Two connected sockets from `socketpair(2)`.
    public struct Pair: ~Copyable, Sendable {
        /// One end.
        public var first: UnixSocket
        /// The other end.
        public var second: UnixSocket

        /// Keeps ``first`` and closes ``second`` (for a peer that got its own copy, say by fork).
        public consuming func takeFirst() -> UnixSocket { first }

        /// Keeps ``second`` and closes ``first``.
        public consuming func takeSecond() -> UnixSocket { second }
    }

    /// A received message: its bytes and the descriptors that came with it,
    /// which this value owns until they are taken (any left are closed with it).
    ///
    /// ```swift
    /// var message = try socket.receive(maxBytes: 64, maxDescriptors: 2)
    /// while let descriptor = message.takeDescriptor() { adopt(descriptor) }
    /// ```
    public struct Message: ~Copyable, Sendable {
        /// The data bytes.
        public let bytes: [UInt8]
        /// True when the sender passed more descriptors than the receiver made
        /// room for; the extra ones were closed, never installed in this process.
        public let descriptorsTruncated: Bool
        private var descriptors: [Int32]

        init(bytes: [UInt8], descriptors: [Int32], descriptorsTruncated: Bool) {
            self.bytes = bytes
            self.descriptors = descriptors
            self.descriptorsTruncated = descriptorsTruncated
        }

        /// How many descriptors are still to be taken.
        public var descriptorCount: Int { descriptors.count }

        /// Takes ownership of the next received descriptor, in the order they were sent.
        public mutating func takeDescriptor() -> FileDescriptor? {
            if descriptors.isEmpty { return nil }
            return FileDescriptor(owning: descriptors.removeFirst())
        }

        deinit {
            for fd in descriptors { _ = Glibc.close(fd) }
        }
    }

    /// The socket descriptor, owned by this value.
    public let descriptor: FileDescriptor

    /// Wraps a connected Unix-domain socket.
    public init(_ descriptor: consuming FileDescriptor) { self.descriptor = descriptor }

    /// Creates a connected pair (`socketpair(AF_UNIX)`, close-on-exec), stream by default.
    public static func pair(type: Int32 = Int32(SOCK_STREAM.rawValue)) throws(SystemError) -> Pair {
        var ends: [Int32] = [-1, -1]
        // SAFETY: `ends` is a local [Int32] of two elements, exactly the int[2] socketpair writes.
        if unsafe socketpair(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) != 0 {
            throw SystemError.current("socketpair")
        }
        return Pair(
            first: UnixSocket(FileDescriptor(owning: ends[0])), second: UnixSocket(FileDescriptor(owning: ends[1])))
    }

    /// Sends `bytes` with copies of `descriptors` attached; returns the bytes sent.
    ///
    /// The descriptors stay open here: the peer gets its own copies. Passing
    /// descriptors needs at least one data byte (a stream socket drops control
    /// data sent alone) and at most ``maximumDescriptorsPerMessage``; both
    /// mistakes fail with `EINVAL` before anything is sent. `SIGPIPE` is never
    /// raised: a closed peer is `EPIPE`.
    public func send(_ bytes: [UInt8], descriptors: [Int32] = []) throws(SystemError) -> Int {
        if !descriptors.isEmpty && bytes.isEmpty || descriptors.count > Self.maximumDescriptorsPerMessage {
            throw SystemError("sendmsg(SCM_RIGHTS)", errno: .invalidArgument)
        }
        var bytes = bytes
        var descriptors = descriptors
        let controlSize = descriptors.isEmpty ? 0 : cvmm_scm_rights_space(descriptors.count)
        let control = UnsafeMutableRawPointer.allocate(byteCount: max(1, controlSize), alignment: 8)
        // SAFETY: `control` is this function's own max(1, controlSize)-byte block: zeroed in full below and freed
        // once on return; only the local msghdr points at it, and that does not outlive the call.
        defer { unsafe control.deallocate() }
        unsafe control.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, controlSize))
        // withUnsafe* rethrows untyped errors, so the typed error travels out in a Result.
        let sent = unsafe bytes.withUnsafeMutableBytes { data -> Result<Int, SystemError> in
            // SAFETY: `data` is the array's storage for this call; sendmsg only reads data.count bytes of it.
            var vector = unsafe iovec(iov_base: data.baseAddress, iov_len: data.count)
            var message = unsafe msghdr()
            return unsafe withUnsafeMutablePointer(to: &vector) { vectorPointer -> Result<Int, SystemError> in
                // SAFETY: one iovec, valid for the duration of sendmsg.
                unsafe message.msg_iov = unsafe vectorPointer
                unsafe message.msg_iovlen = 1
                if !descriptors.isEmpty {
                    // SAFETY: `control` holds cvmm_scm_rights_space(count) zeroed bytes, the size the packer writes.
                    unsafe cvmm_scm_rights_pack(&message, control, &descriptors, descriptors.count)
                }
                let flags = Int32(MSG_NOSIGNAL)
                return Result { () throws(SystemError) -> Int in
                    // SAFETY: msg_iov is `vector` (alive in this closure) over data's own bytes, msg_control is nil or
                    // `control` with the length the packer set; sendmsg only reads them.
                    try retryOnInterrupt("sendmsg") { unsafe sendmsg(descriptor.rawValue, &message, flags) }
                }
            }
        }
        return try sent.get()
    }

    /// Receives one message of up to `maxBytes` bytes and up to `maxDescriptors`
    /// descriptors (installed close-on-exec). Zero bytes means the peer closed.
    public func receive(maxBytes: Int, maxDescriptors: Int = 0) throws(SystemError) -> Message {
        if maxBytes < 0 || maxDescriptors < 0 || maxDescriptors > Self.maximumDescriptorsPerMessage {
            throw SystemError("recvmsg", errno: .invalidArgument)
        }
        var bytes = [UInt8](repeating: 0, count: max(1, maxBytes))
        let controlSize = maxDescriptors == 0 ? 0 : cvmm_scm_rights_space(maxDescriptors)
        let control = UnsafeMutableRawPointer.allocate(byteCount: max(1, controlSize), alignment: 8)
        // SAFETY: `control` is this function's own max(1, controlSize)-byte block: zeroed in full below and freed
        // once on return; only the local msghdr points at it, and that does not outlive the call.
        defer { unsafe control.deallocate() }
        unsafe control.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, controlSize))
        var received = [Int32](repeating: -1, count: max(1, maxDescriptors))
        // SAFETY: a zeroed msghdr: no name, iov or control until they are set below.
        var message = unsafe msghdr()
        let outcome = unsafe bytes.withUnsafeMutableBytes { data -> Result<Int, SystemError> in
            // SAFETY: the iovec covers exactly maxBytes bytes of the array's storage, alive during recvmsg.
            var vector = unsafe iovec(iov_base: data.baseAddress, iov_len: maxBytes)
            return unsafe withUnsafeMutablePointer(to: &vector) { vectorPointer -> Result<Int, SystemError> in
                // SAFETY: one iovec, valid for the duration of recvmsg.
                unsafe message.msg_iov = unsafe vectorPointer
                unsafe message.msg_iovlen = 1
                // SAFETY: msg_controllen never exceeds the bytes allocated for `control` (0, with nil, if none wanted).
                unsafe message.msg_control = unsafe controlSize == 0 ? nil : control
                unsafe message.msg_controllen = controlSize
                let flags = Int32(MSG_CMSG_CLOEXEC)
                return Result { () throws(SystemError) -> Int in
                    // SAFETY: recvmsg writes at most iov_len = maxBytes bytes into `bytes` (count >= maxBytes)
                    // and at most msg_controllen bytes into `control`, both alive for the call.
                    try retryOnInterrupt("recvmsg") { unsafe recvmsg(descriptor.rawValue, &message, flags) }
                }
            }
        }
        let count = try outcome.get()
        // SAFETY: the unpacker walks only the msg_controllen bytes the kernel reported in `control` (freed only on
        // return; the stale msg_iov is unused) and stores at most maxDescriptors fds into `received`, sized for them.
        let found = unsafe controlSize == 0 ? 0 : cvmm_scm_rights_unpack(&message, &received, maxDescriptors)
        // SAFETY: msg_flags is a plain Int32 field of the local msghdr; no pointer in it is followed.
        let truncated = unsafe message.msg_flags & Int32(MSG_CTRUNC) != 0
        return Message(
            bytes: Array(bytes[..<count]), descriptors: Array(received[..<found]), descriptorsTruncated: truncated)
    }
}

// MARK: - Sockets by path

extension UnixSocket {
    /// The longest path `sockaddr_un` holds (its 108 bytes minus the terminating NUL).
    public static var maximumPathLength: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1 }

    /// `sockaddr_un` for `path`; nil when the path is empty, too long or holds a NUL.
    public static func address(_ path: String) -> sockaddr_un? {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumPathLength, !bytes.contains(0) else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // SAFETY: sun_path is a fixed 108-byte field of `address`; bytes.count <= 107 was
        // checked above, so the copy stays inside it and the zeroed tail keeps the NUL.
        unsafe withUnsafeMutableBytes(of: &address.sun_path) { field in
            unsafe field.copyBytes(from: bytes)
        }
        return address
    }

    /// A close-on-exec `AF_UNIX` stream socket; `nonBlocking` adds `SOCK_NONBLOCK`.
    static func streamSocket(nonBlocking: Bool) throws(SystemError) -> FileDescriptor {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let fd = socket(AF_UNIX, type, 0)
        if fd < 0 { throw SystemError.current("socket(AF_UNIX)") }
        return FileDescriptor(owning: fd)
    }

    /// Binds and listens on `path` (close-on-exec; `nonBlocking` for an event loop). An
    /// existing file there fails with `EADDRINUSE`.
    public static func listen(
        at path: String, backlog: Int32, nonBlocking: Bool = false
    ) throws(SystemError)
        -> FileDescriptor
    {
        guard var address = address(path) else { throw SystemError("bind(\(path))", errno: .invalidArgument) }
        let socket = try streamSocket(nonBlocking: nonBlocking)
        // SAFETY: sockaddr_un is a sockaddr with a longer address field; bind reads
        // exactly MemoryLayout<sockaddr_un>.size bytes of `address`, which is alive here.
        let bound = unsafe withUnsafePointer(to: &address) { pointer in
            unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                // SAFETY: $0 is `address` viewed as a sockaddr; the length is exactly sizeof(sockaddr_un).
                unsafe bind(socket.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if bound != 0 { throw SystemError.current("bind(\(path))") }
        if Glibc.listen(socket.rawValue, backlog) != 0 {
            let error = SystemError.current("listen(\(path))")
            _ = unsafe unlink(path)  // SAFETY: `path` is bridged to a NUL-terminated C string alive for the call.
            throw error
        }
        return socket
    }

    /// Reads until `bytes` holds `count` bytes (a stream delivers a message in pieces as it
    /// likes). Returns false when the peer closed first; errors (a receive timeout: `EAGAIN`)
    /// are thrown.
    ///
    /// ```swift
    /// var header: [UInt8] = []
    /// guard try socket.receive(into: &header, upTo: 12) else { return nil }  // closed
    /// ```
    public func receive(into bytes: inout [UInt8], upTo count: Int) throws(SystemError) -> Bool {
        while bytes.count < count {
            let piece = try receive(maxBytes: count - bytes.count)
            if piece.bytes.isEmpty { return false }
            bytes += piece.bytes
        }
        return true
    }

    /// Accepts one connection from `listener` (close-on-exec; non-blocking when asked). Nil
    /// when none is waiting (a non-blocking listener), a signal interrupted the wait, or the
    /// client gave up before it was accepted: call again.
    ///
    /// ```swift
    /// let listener = try UnixSocket.listen(at: "/tmp/d.sock", backlog: 1)
    /// while true { if let client = try UnixSocket.accept(listener) { serve(UnixSocket(client)) } }
    /// ```
    public static func accept(
        _ listener: borrowing FileDescriptor, nonBlocking: Bool = false
    ) throws(SystemError)
        -> FileDescriptor?
    {
        // Swift's Glibc has no accept4, so the flags are set right after accept.
        let fd = Glibc.accept(listener.rawValue, nil, nil)
        if fd < 0 {
            let errno = Errno.current
            if errno == .wouldBlock || errno == .interrupted || errno.rawValue == ECONNABORTED { return nil }
            throw SystemError("accept", errno: errno)
        }
        let client = FileDescriptor(owning: fd)
        let flags = fcntl(fd, F_GETFL)
        if flags < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 { throw SystemError.current("fcntl(accepted socket)") }
        if nonBlocking, fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 {
            throw SystemError.current("fcntl(accepted socket)")
        }
        return client
    }

    /// Connects a stream socket to the listener at `path` (close-on-exec). A Unix stream
    /// connect completes at once or fails (`ECONNREFUSED` with no listener, `EAGAIN` when
    /// a non-blocking connect meets a full backlog).
    ///
    /// ```swift
    /// let daemon = UnixSocket(try UnixSocket.connect(to: "/run/vhost-user-blk.sock"))
    /// ```
    public static func connect(to path: String, nonBlocking: Bool = false) throws(SystemError) -> FileDescriptor {
        guard var address = address(path) else { throw SystemError("connect(\(path))", errno: .invalidArgument) }
        let socket = try streamSocket(nonBlocking: nonBlocking)
        // SAFETY: as in listen(at:): connect reads sizeof(sockaddr_un) bytes of `address`.
        let connected = unsafe withUnsafePointer(to: &address) { pointer in
            unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                unsafe Glibc.connect(socket.rawValue, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected != 0 { throw SystemError.current("connect(\(path))") }
        return socket
    }
}
