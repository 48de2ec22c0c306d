// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One HTTP/1.1 request as the server hands it to a handler.
public struct HTTPRequest: Sendable {
    /// `GET`, `PUT`, `HEAD`, ...
    public var method: String
    /// The path part of the request target, not percent-decoded (`/scope/name/1.0.0.zip`).
    public var path: String
    /// Query parameters, percent-decoded; a repeated name keeps its last value.
    public var query: [String: String]
    /// Header fields by lowercased name; repeated fields are joined with `, `.
    public var headers: [String: String]
    /// The body (empty when there is none).
    public var body: [UInt8]

    /// Creates a request (handlers are unit-tested with hand-made requests).
    public init(
        method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:],
        body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = Dictionary(uniqueKeysWithValues: headers.map { ($0.key.lowercased(), $0.value) })
        self.body = body
    }

    /// The value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// One HTTP response.
public struct HTTPResponse: Sendable {
    /// Status code.
    public var status: Int
    /// Header fields in order (Content-Length is added when written).
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A small threaded HTTP/1.1 server on plain POSIX sockets, listening on 127.0.0.1 only.
///
/// Every connection gets a thread (at most `maxConnections` at once); requests are read with
/// bounded headers (64 KiB) and bodies (`maxBodyBytes`), `Expect: 100-continue` is honoured, and malformed input closes
/// the connection after a 4xx answer. Idle connections time out after 30 seconds.
///
/// ```swift
/// let server = try HTTPServer(port: 0) { request in HTTPResponse(status: 200, body: Array("hi".utf8)) }
/// server.start()
/// defer { server.stop() }
/// print(server.port)
/// ```
public final class HTTPServer: Sendable {
    /// A function from request to response, called on connection threads.
    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

    /// The TCP port the server listens on (chosen by the kernel when 0 was asked for).
    public let port: UInt16
    /// The largest request body accepted.
    public let maxBodyBytes: Int
    /// The largest request header section accepted.
    public static let maxHeaderBytes = 64 << 10
    /// The most connections served at once; more are closed on arrival.
    public static let maxConnections = 128

    private let listener: Int32
    private let handler: Handler
    private let state = Mutex(ServerState())
    private let acceptDone = DispatchSemaphore(value: 0)

    private struct ServerState {
        var started = false
        var stopping = false
        var connections: Set<Int32> = []
    }

    /// Binds 127.0.0.1:`port` (0 picks a free port) and listens; call `start()` to serve.
    public init(port: UInt16 = 0, maxBodyBytes: Int = 256 << 20, handler: @escaping Handler) throws(ReleaseError) {
        self.handler = handler
        self.maxBodyBytes = maxBodyBytes
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        // SAFETY: errno is thread-local, read right after socket() failed; strerror returns a NUL-terminated string
        // that String(cString:) copies at once, before anything else on this thread can change it.
        guard descriptor >= 0 else { throw ReleaseError(.io, unsafe "socket: \(String(cString: strerror(errno)))") }
        var reuse: Int32 = 1
        // SAFETY: `reuse` is a local Int32, alive for the call, and the length passed is exactly its size.
        _ = unsafe setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = unsafe withUnsafePointer(to: &address) { pointer in
            // SAFETY: sockaddr_in is the IPv4 form of sockaddr; bind reads exactly its size.
            unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                unsafe bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            // SAFETY: errno is thread-local, set by the bind or listen that just failed; the NUL-terminated strerror
            // text is copied by String(cString:) at once, before anything else on this thread can change it.
            let message = unsafe String(cString: strerror(errno))
            close(descriptor)
            throw ReleaseError(.io, "cannot listen on 127.0.0.1:\(port): \(message)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = unsafe withUnsafeMutablePointer(to: &actual) { pointer in
            // SAFETY: getsockname writes at most `length` bytes, the size of sockaddr_in.
            unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                unsafe getsockname(descriptor, $0, &length)
            }
        }
        self.port = UInt16(bigEndian: actual.sin_port)
        self.listener = descriptor
    }

    deinit { stop() }

    /// Starts accepting connections on a background thread (once).
    public func start() {
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Stops listening and closes open connections; returns once the accept thread is gone.
    /// Later calls do nothing.
    public func stop() {
        // Shut connections down under the lock: their threads close (and so free for reuse)
        // each descriptor under the same lock, so no unrelated descriptor is ever touched.
        let (first, wasStarted) = state.withLock { state -> (Bool, Bool) in
            if state.stopping { return (false, false) }
            state.stopping = true
            for connection in state.connections { shutdown(connection, Int32(SHUT_RDWR)) }
            return (true, state.started)
        }
        guard first else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        if wasStarted { acceptDone.wait() }
        close(listener)
    }

    private func acceptLoop() {
        defer { acceptDone.signal() }
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            let accepted = state.withLock { state -> Bool? in
                if state.stopping { return nil }
                guard state.connections.count < Self.maxConnections else { return false }
                state.connections.insert(connection)
                return true
            }
            guard let accepted else {
                close(connection)
                return
            }
            guard accepted else {
                close(connection)
                continue
            }
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            // SAFETY: `timeout` is a local timeval, alive for both calls; the length passed is exactly its size.
            _ = unsafe setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            _ = unsafe setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let thread = Thread { [self] in
                serve(connection)
                state.withLock { state in
                    state.connections.remove(connection)
                    close(connection)
                }
            }
            thread.start()
        }
    }

    private func serve(_ connection: Int32) {
        var reader = RequestReader(connection: connection, maxBodyBytes: maxBodyBytes)
        while true {
            switch reader.next() {
            case .closed:
                return
            case .failed(let status, let detail):
                let body = Array("{\"detail\":\"\(detail)\"}".utf8)
                let response = HTTPResponse(
                    status: status,
                    headers: [
                        ("Content-Type", "application/problem+json"), ("Content-Version", "1"), ("Connection", "close"),
                    ],
                    body: body)
                _ = Self.write(response, to: connection, includeBody: true)
                Self.drain(connection)
                return
            case .request(let request, let keepAlive):
                var response = handler(request)
                if !keepAlive { response.headers.append(("Connection", "close")) }
                guard Self.write(response, to: connection, includeBody: request.method != "HEAD"), keepAlive else {
                    return
                }
            }
        }
    }

    /// Lingering close after an error answer: stop sending, then read and drop what the client
    /// still sends (bounded), so closing does not reset the connection before it reads the answer.
    static func drain(_ connection: Int32) {
        shutdown(connection, Int32(SHUT_WR))
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        // SAFETY: `timeout` is a local timeval, alive for the call, and the length passed is exactly its size.
        _ = unsafe setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        var total = 0
        while total < 1 << 20 {
            let count = unsafe chunk.withUnsafeMutableBytes { buffer in
                // SAFETY: recv writes at most buffer.count bytes into the chunk it was given.
                unsafe recv(connection, buffer.baseAddress!, buffer.count, 0)
            }
            guard count > 0 else { return }
            total += count
        }
    }

    static func write(_ response: HTTPResponse, to connection: Int32, includeBody: Bool) -> Bool {
        var head = "HTTP/1.1 \(response.status) \(reason(response.status))\r\n"
        for (name, value) in response.headers where name.lowercased() != "content-length" {
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(response.body.count)\r\n\r\n"
        var bytes = Array(head.utf8)
        if includeBody { bytes += response.body }
        return sendAll(bytes, to: connection)
    }

    static func sendAll(_ bytes: [UInt8], to connection: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = unsafe bytes.withUnsafeBytes { buffer in
                // SAFETY: the slice from `offset` lies inside `bytes`; send reads only that many bytes.
                unsafe send(connection, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 303: return "See Other"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}

/// Reads requests off one connection, keeping bytes that belong to the next request.
private struct RequestReader {
    enum Outcome {
        case request(HTTPRequest, keepAlive: Bool)
        case failed(status: Int, detail: String)
        case closed
    }

    let connection: Int32
    let maxBodyBytes: Int
    var buffer: [UInt8] = []

    init(connection: Int32, maxBodyBytes: Int) {
        self.connection = connection
        self.maxBodyBytes = maxBodyBytes
    }

    /// Reads more bytes; false on end of stream, error or timeout.
    mutating func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = unsafe chunk.withUnsafeMutableBytes { buffer in
                // SAFETY: recv writes at most buffer.count bytes into the chunk it was given.
                unsafe recv(connection, buffer.baseAddress!, buffer.count, 0)
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            buffer += chunk[0..<count]
            return true
        }
    }

    mutating func next() -> Outcome {
        var headerEnd: Int?
        var searched = 0
        while headerEnd == nil {
            if let end = Self.find([13, 10, 13, 10], in: buffer, from: max(0, searched - 3)) {
                headerEnd = end
                break
            }
            searched = buffer.count
            guard buffer.count <= HTTPServer.maxHeaderBytes else {
                return .failed(status: 431, detail: "header section too large")
            }
            guard fill() else { return .closed }
        }
        guard let end = headerEnd, let head = String(validating: buffer[0..<end], as: UTF8.self) else {
            return .failed(status: 400, detail: "header section is not UTF-8")
        }
        guard end <= HTTPServer.maxHeaderBytes else { return .failed(status: 431, detail: "header section too large") }
        buffer.removeFirst(end + 4)
        let lines = head.components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ", omittingEmptySubsequences: false)
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1."), !requestLine[0].isEmpty,
            requestLine[0].allSatisfy({ $0.isASCII && $0.isUppercase }), requestLine[1].hasPrefix("/")
        else { return .failed(status: 400, detail: "malformed request line") }
        guard lines.count <= 101 else { return .failed(status: 431, detail: "too many header fields") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                return .failed(status: 400, detail: "malformed header field")
            }
            let name = line[..<colon].lowercased()
            guard name.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                return .failed(status: 400, detail: "malformed header name")
            }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
        if headers["transfer-encoding"] != nil {
            return .failed(status: 411, detail: "chunked bodies are not supported; send Content-Length")
        }
        var length = 0
        if let text = headers["content-length"] {
            guard !text.isEmpty, text.count <= 12, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text)
            else { return .failed(status: 400, detail: "malformed Content-Length") }
            length = value
        }
        guard length <= maxBodyBytes else {
            return .failed(status: 413, detail: "body larger than \(maxBodyBytes) bytes")
        }
        if length > buffer.count, headers["expect"]?.lowercased() == "100-continue" {
            guard HTTPServer.sendAll(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), to: connection) else {
                return .closed
            }
        }
        while buffer.count < length {
            guard fill() else { return .closed }
        }
        let body = Array(buffer[0..<length])
        buffer.removeFirst(length)
        let target = String(requestLine[1])
        let (path, query) = Self.split(target)
        let version = requestLine[2]
        let connectionHeader = headers["connection"]?.lowercased() ?? ""
        let keepAlive =
            version == "HTTP/1.1" ? !connectionHeader.contains("close") : connectionHeader.contains("keep-alive")
        var request = HTTPRequest(method: String(requestLine[0]), path: path, query: query, body: body)
        request.headers = headers
        return .request(request, keepAlive: keepAlive)
    }

    static func split(_ target: String) -> (String, [String: String]) {
        guard let mark = target.firstIndex(of: "?") else { return (target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            query[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return (String(target[..<mark]), query)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0] && Array(haystack[index..<(index + needle.count)]) == needle {
                return index
            }
            index += 1
        }
        return nil
    }
}
