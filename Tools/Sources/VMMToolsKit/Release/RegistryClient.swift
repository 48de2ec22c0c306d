// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Dispatch
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The few registry calls publishing needs (SE-0292 API version 1), made synchronously.
///
/// ```swift
/// let client = RegistryClient(baseURL: "http://127.0.0.1:8080")
/// if try client.checksum(scope: "swift-vmm", name: "VMMSysUtil", version: "0.1.0") == nil {
///     try client.publish(scope: "swift-vmm", name: "VMMSysUtil", version: "0.1.0", archive: bytes, metadata: .object([:]))
/// }
/// ```
public struct RegistryClient: Sendable {
    /// The registry's base URL, without a trailing slash.
    public let baseURL: String
    /// Seconds before a request gives up.
    public let timeout: TimeInterval

    /// Creates a client for the registry at `baseURL`.
    public init(baseURL: String, timeout: TimeInterval = 120) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.timeout = timeout
    }

    /// A response as the client saw it.
    public struct Response: Sendable {
        /// Status code.
        public var status: Int
        /// Header fields by lowercased name.
        public var headers: [String: String]
        /// The body.
        public var body: [UInt8]

        /// The `detail` of a problem-details body, or the body's start.
        public var detail: String {
            if let value = try? JSONValue.parse(body), let detail = value["detail"]?.stringValue { return detail }
            return String(decoding: body.prefix(200), as: UTF8.self)
        }
    }

    /// The source archive checksum of a release, or nil when the registry does not have it.
    public func checksum(scope: String, name: String, version: String) throws(ReleaseError) -> String? {
        let response = try send("GET", "/\(scope)/\(name)/\(version)", accept: "json")
        switch response.status {
        case 200:
            guard response.headers["content-version"] == "1" else {
                throw ReleaseError(.registry, "release metadata without Content-Version: 1")
            }
            guard let value = try? JSONValue.parse(response.body), case .array(let resources)? = value["resources"],
                let archive = resources.first(where: { $0["name"]?.stringValue == "source-archive" }),
                let checksum = archive["checksum"]?.stringValue
            else {
                throw ReleaseError(.registry, "release metadata of \(scope).\(name) \(version) has no archive checksum")
            }
            return checksum
        case 404:
            return nil
        default:
            throw ReleaseError(
                .registry, "GET \(scope).\(name) \(version): HTTP \(response.status): \(response.detail)")
        }
    }

    /// Publishes a release (`PUT /{scope}/{name}/{version}`, multipart). Waits for a registry
    /// that answers 202 (asynchronous publication) to finish, polling its status location.
    public func publish(
        scope: String, name: String, version: String, archive: [UInt8], metadata: JSONValue
    )
        throws(ReleaseError)
    {
        let boundary = "vmm-tools-\(UUID().uuidString)"
        var body: [UInt8] = []
        body += Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"source-archive\"\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                .utf8)
        body += archive
        body += Array(
            "\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
                .utf8)
        body += metadata.serialized()
        body += Array("\r\n--\(boundary)--\r\n".utf8)
        let response = try send(
            "PUT", "/\(scope)/\(name)/\(version)", accept: "json",
            headers: ["Content-Type": "multipart/form-data; boundary=\"\(boundary)\""], body: body)
        switch response.status {
        case 201:
            return
        case 202:
            guard let location = response.headers["location"] else {
                throw ReleaseError(.registry, "202 Accepted without a Location to poll")
            }
            try waitForPublication(location, label: "\(scope).\(name) \(version)")
        default:
            throw ReleaseError(
                .registry, "PUT \(scope).\(name) \(version): HTTP \(response.status): \(response.detail)")
        }
    }

    func waitForPublication(_ location: String, label: String) throws(ReleaseError) {
        let deadline = Date().addingTimeInterval(30 * 60)
        while Date() < deadline {
            let response = try send("GET", location, accept: "json", absolute: true, followRedirects: false)
            switch response.status {
            case 202:
                let wait = response.headers["retry-after"].flatMap(Double.init) ?? 5
                Thread.sleep(forTimeInterval: min(max(wait, 1), 60))
            case 200, 301, 303:
                return
            default:
                throw ReleaseError(.registry, "publishing \(label) failed: HTTP \(response.status): \(response.detail)")
            }
        }
        throw ReleaseError(.registry, "publishing \(label) did not finish within 30 minutes")
    }

    /// Sends one request; `path` is appended to the base URL unless `absolute`.
    public func send(
        _ method: String, _ path: String, accept: String, headers: [String: String] = [:], body: [UInt8]? = nil,
        absolute: Bool = false, followRedirects: Bool = true
    ) throws(ReleaseError) -> Response {
        guard let url = URL(string: absolute ? path : baseURL + path) else {
            throw ReleaseError(.registry, "bad URL \(absolute ? path : baseURL + path)")
        }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        request.setValue("application/vnd.swift.registry.v1+\(accept)", forHTTPHeaderField: "Accept")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body { request.httpBody = Data(body) }
        let box = ResponseBox()
        let delegate = followRedirects ? nil : NoRedirects()
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request) { data, response, error in
            box.store(data: data, response: response as? HTTPURLResponse, error: error)
        }
        task.resume()
        guard let (data, http) = box.wait() else {
            throw ReleaseError(.registry, "\(method) \(url.absoluteString): \(box.failure ?? "no response")")
        }
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields[key.lowercased()] = value }
        }
        return Response(status: http.statusCode, headers: fields, body: Array(data))
    }
}

/// Hands a URLSession completion to the waiting thread.
private final class ResponseBox: @unchecked Sendable {
    // `lock` guards the three fields; `done` is signalled once they are set.
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var data: Data?
    private var response: HTTPURLResponse?
    private(set) var failure: String?

    func store(data: Data?, response: HTTPURLResponse?, error: (any Error)?) {
        lock.withLock {
            self.data = data
            self.response = response
            self.failure = error.map { "\($0.localizedDescription)" }
        }
        done.signal()
    }

    func wait() -> (Data, HTTPURLResponse)? {
        done.wait()
        return lock.withLock { response.map { (data ?? Data(), $0) } }
    }
}

/// Keeps 3xx answers as they are (publication status polling must see 301/303 itself).
private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
