// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Testing

@testable import VMMToolsKit

#if canImport(Glibc)
import Glibc
#endif

/// A registry service on a temporary folder, and a small package archive to publish.
struct RegistryFixture {
    let scratch: ReleaseScratch
    let service: RegistryService

    init() throws {
        scratch = try ReleaseScratch("registry")
        service = try RegistryService(storage: scratch.path("storage"))
    }

    static func archive(name: String = "Pkg", extraFiles: [String: String] = [:]) throws -> [UInt8] {
        var entries = [
            ZipEntry(path: "\(name)/", mode: 0o755),
            ZipEntry(
                path: "\(name)/Package.swift", mode: 0o644,
                contents: Array("// swift-tools-version: 6.1\nimport PackageDescription\n".utf8)),
        ]
        for (file, text) in extraFiles.sorted(by: { $0.key < $1.key }) {
            entries.append(ZipEntry(path: "\(name)/\(file)", mode: 0o644, contents: Array(text.utf8)))
        }
        return try ZipArchive.write(entries)
    }

    static func multipart(
        archive: [UInt8], metadata: String? = nil, base64: Bool = false, boundary: String = "b0undary"
    )
        -> HTTPRequest
    {
        var body = Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"source-archive\"\r\nContent-Type: application/zip\r\n"
                .utf8)
        if base64 {
            body += Array("Content-Transfer-Encoding: base64\r\n\r\n\(Data(archive).base64EncodedString())".utf8)
        } else {
            body += Array("\r\n".utf8) + archive
        }
        if let metadata {
            body += Array(
                "\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n\(metadata)"
                    .utf8)
        }
        body += Array("\r\n--\(boundary)--\r\n".utf8)
        return HTTPRequest(
            method: "PUT", path: "/",
            headers: ["Content-Type": "multipart/form-data;boundary=\"\(boundary)\"", "Host": "registry.test"],
            body: body)
    }

    func put(_ path: String, _ request: HTTPRequest) -> HTTPResponse {
        var request = request
        request.path = path
        return service.handle(request)
    }

    func get(
        _ path: String, query: [String: String] = [:], accept: String = "application/vnd.swift.registry.v1+json"
    )
        -> HTTPResponse
    {
        service.handle(
            HTTPRequest(method: "GET", path: path, query: query, headers: ["Accept": accept, "Host": "registry.test"]))
    }
}

@Suite struct ReleaseRegistryServiceTests {
    @Test func publishesAndServesEveryEndpoint() throws {
        let fixture = try RegistryFixture()
        let archive = try RegistryFixture.archive(extraFiles: [
            "Package@swift-5.9.swift": "// swift-tools-version:5.9\n"
        ])
        let created = fixture.put(
            "/acme/Pkg/1.0.0",
            RegistryFixture.multipart(
                archive: archive, metadata: #"{"repositoryURLs": ["https://github.com/acme/pkg.git"]}"#))
        #expect(created.status == 201)
        #expect(created.header("Location") == "http://registry.test/acme/Pkg/1.0.0")
        #expect(created.header("Content-Version") == "1")
        #expect(fixture.put("/acme/Pkg/1.1.0", RegistryFixture.multipart(archive: archive, base64: true)).status == 201)

        let list = fixture.get("/acme/pkg")
        #expect(list.status == 200 && list.header("Content-Type") == "application/json")
        let releases = try JSONValue.parse(list.body)["releases"]
        #expect(releases?["1.0.0"]?["url"]?.stringValue == "http://registry.test/acme/Pkg/1.0.0")
        #expect(releases?["1.1.0"] != nil)
        #expect(list.header("Link") == "<http://registry.test/acme/Pkg/1.1.0>; rel=\"latest-version\"")

        let metadata = fixture.get("/ACME/Pkg/1.0.0")
        #expect(metadata.status == 200 && metadata.header("Content-Version") == "1")
        let document = try JSONValue.parse(metadata.body)
        #expect(document["id"]?.stringValue == "acme.Pkg")
        #expect(document["version"]?.stringValue == "1.0.0")
        guard case .array(let resources)? = document["resources"] else {
            Issue.record("no resources")
            return
        }
        #expect(resources.first?["checksum"]?.stringValue == SHA256.hex(archive))
        #expect(resources.first?["type"]?.stringValue == "application/zip")
        #expect(document["publishedAt"]?.stringValue?.hasSuffix("Z") == true)
        #expect(metadata.header("Link")?.contains("rel=\"successor-version\"") == true)

        let manifest = fixture.get("/acme/Pkg/1.0.0/Package.swift", accept: "application/vnd.swift.registry.v1+swift")
        #expect(manifest.status == 200 && manifest.header("Content-Type") == "text/x-swift")
        #expect(String(decoding: manifest.body, as: UTF8.self).hasPrefix("// swift-tools-version: 6.1"))
        #expect(
            manifest.header("Link")
                == "<http://registry.test/acme/Pkg/1.0.0/Package.swift?swift-version=5.9>; rel=\"alternate\"; filename=\"Package@swift-5.9.swift\"; swift-tools-version=\"5.9\""
        )
        let variant = fixture.get("/acme/Pkg/1.0.0/Package.swift", query: ["swift-version": "5.9"])
        #expect(String(decoding: variant.body, as: UTF8.self) == "// swift-tools-version:5.9\n")
        let missing = fixture.get("/acme/Pkg/1.0.0/Package.swift", query: ["swift-version": "4.2"])
        #expect(
            missing.status == 303 && missing.header("Location") == "http://registry.test/acme/Pkg/1.0.0/Package.swift")

        let zip = fixture.get("/acme/Pkg/1.0.0.zip", accept: "application/vnd.swift.registry.v1+zip")
        #expect(zip.status == 200 && zip.body == archive && zip.header("Content-Type") == "application/zip")
        var hash = SHA256()
        hash.update(archive)
        #expect(zip.header("Digest") == "sha-256=" + Data(hash.finalize()).base64EncodedString())

        let identifiers = fixture.get("/identifiers", query: ["url": "https://github.com/ACME/pkg"])
        #expect(try JSONValue.parse(identifiers.body)["identifiers"] == .array([.string("acme.Pkg")]))
        #expect(fixture.get("/identifiers", query: ["url": "https://github.com/other/x"]).status == 404)
        #expect(fixture.get("/identifiers").status == 400)

        // Releases are immutable, and they survive a restart.
        #expect(fixture.put("/acme/Pkg/1.0.0", RegistryFixture.multipart(archive: archive)).status == 409)
        let reopened = try RegistryService(storage: fixture.service.storage)
        #expect(reopened.release(scope: "acme", name: "pkg", version: "1.0.0")?.checksum == SHA256.hex(archive))
        #expect(fixture.service.publishAttempts.map(\.status) == [201, 201, 409])
    }

    @Test func answersProblemsForBadRequests() throws {
        let fixture = try RegistryFixture()
        let archive = try RegistryFixture.archive()
        func problem(_ response: HTTPResponse, _ status: Int) {
            #expect(response.status == status)
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(response.header("Content-Version") == "1")
            #expect((try? JSONValue.parse(response.body))?["detail"]?.stringValue != nil)
        }
        problem(fixture.get("/acme/Pkg"), 404)
        problem(fixture.get("/acme/Pkg/1.0.0"), 404)
        problem(fixture.get("/acme/Pkg/1.0.0.zip"), 404)
        problem(fixture.get("/-bad/Pkg"), 404)
        problem(fixture.get("/acme/Pkg", accept: "application/vnd.swift.registry.v2+json"), 415)
        problem(fixture.get("/acme/Pkg", accept: "application/vnd.swift.registry.vX+json"), 400)
        problem(fixture.put("/acme/Pkg/not-a-version", RegistryFixture.multipart(archive: archive)), 400)
        problem(fixture.put("/acme/Pkg/1.0.0", HTTPRequest(method: "PUT", path: "/", body: archive)), 415)
        problem(fixture.put("/acme/Pkg/1.0.0", RegistryFixture.multipart(archive: Array("not a zip".utf8))), 422)
        problem(fixture.put("/acme/Pkg/1.0.0", RegistryFixture.multipart(archive: archive, metadata: "{nope")), 422)
        let noManifest = try ZipArchive.write([ZipEntry(path: "P/README.md", mode: 0o644, contents: [65])])
        problem(fixture.put("/acme/Pkg/1.0.0", RegistryFixture.multipart(archive: noManifest)), 422)
        let twoFolders = try ZipArchive.write([
            ZipEntry(path: "A/Package.swift", mode: 0o644, contents: Array("// swift-tools-version: 6.1\n".utf8)),
            ZipEntry(path: "B/x", mode: 0o644),
        ])
        problem(fixture.put("/acme/Pkg/1.0.0", RegistryFixture.multipart(archive: twoFolders)), 422)
        var request = RegistryFixture.multipart(archive: archive)
        request.method = "DELETE"
        problem(fixture.put("/acme/Pkg/1.0.0", request), 405)
        #expect(fixture.service.release(scope: "acme", name: "Pkg", version: "1.0.0") == nil)
    }

    @Test func injectedFailuresRefuseChosenAttempts() throws {
        let fixture = try RegistryFixture()
        fixture.service.failPublishAttempts([2])
        let archive = try RegistryFixture.archive()
        #expect(fixture.put("/acme/A/1.0.0", RegistryFixture.multipart(archive: archive)).status == 201)
        #expect(fixture.put("/acme/B/1.0.0", RegistryFixture.multipart(archive: archive)).status == 503)
        #expect(fixture.put("/acme/B/1.0.0", RegistryFixture.multipart(archive: archive)).status == 201)
        #expect(fixture.service.publishAttempts.map(\.identity) == ["acme.A", "acme.B", "acme.B"])
    }

    @Test func hostileMultipartBodiesNeverCrash() throws {
        let fixture = try RegistryFixture()
        let good = RegistryFixture.multipart(archive: try RegistryFixture.archive(), metadata: "{}").body
        var random = SplitMixBytes(seed: 11)
        for round in 0..<400 {
            var body = good
            if round % 2 == 0 {
                body = Array(
                    body.prefix(
                        Int(random.next(count: 2).withUnsafeBytes { $0.load(as: UInt16.self) }) % (body.count + 1)))
            } else {
                let index = Int(random.next(count: 2).withUnsafeBytes { $0.load(as: UInt16.self) }) % body.count
                body[index] = random.next(count: 1)[0]
            }
            _ = try? Multipart.parse(body, boundary: "b0undary")
            let response = fixture.put(
                "/acme/P\(round)/1.0.0",
                HTTPRequest(
                    method: "PUT", path: "/", headers: ["Content-Type": "multipart/form-data; boundary=b0undary"],
                    body: body))
            #expect([201, 422].contains(response.status))
        }
        #expect(Multipart.boundary(fromContentType: "multipart/form-data") == nil)
        #expect(Multipart.boundary(fromContentType: "multipart/form-data; boundary=\"\"") == nil)
        #expect(Multipart.boundary(fromContentType: "multipart/form-data; charset=x; boundary=abc") == "abc")
    }
}

@Suite struct ReleaseHTTPServerTests {
    /// Sends raw bytes (and, a moment later, `more`) to the server, ends the sending side, and reads until the server closes.
    static func exchange(port: UInt16, _ request: [UInt8], then more: [UInt8] = []) throws -> String {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socketDescriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(connected == 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socketDescriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = request.withUnsafeBytes { send(socketDescriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if !more.isEmpty {
            // Let the server see the first part alone (e.g. headers that expect 100-continue).
            Thread.sleep(forTimeInterval: 0.3)
            _ = more.withUnsafeBytes { send(socketDescriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        // Half-close: the server sees the end of the request stream, answers, and closes.
        shutdown(socketDescriptor, Int32(SHUT_WR))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(socketDescriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    @Test func servesKeepAliveHeadAndContinue() throws {
        let server = try HTTPServer(port: 0) { request in
            HTTPResponse(
                status: 200, headers: [("Content-Type", "text/plain")],
                body: Array("\(request.method) \(request.body.count)".utf8))
        }
        server.start()
        defer { server.stop() }
        let two = try Self.exchange(
            port: server.port,
            Array("GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        #expect(two.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
        #expect(two.contains("GET 0"))
        #expect(!two.contains("HEAD 0"))  // HEAD answers have no body
        let continued = try Self.exchange(
            port: server.port,
            Array("PUT /c HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n".utf8),
            then: Array("hello".utf8))
        #expect(continued.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"))
        #expect(continued.hasSuffix("PUT 5"))
    }

    @Test func refusesMalformedAndOversizedRequests() throws {
        let server = try HTTPServer(port: 0, maxBodyBytes: 1000) { _ in HTTPResponse(status: 200) }
        server.start()
        defer { server.stop() }
        let cases: [(String, String)] = [
            ("garbage\r\n\r\n", "400"),
            ("GET nopath HTTP/1.1\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\nno colon here\r\n\r\n", "400"),
            ("PUT / HTTP/1.1\r\nContent-Length: -3\r\n\r\n", "400"),
            ("PUT / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", "413"),
            ("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "411"),
            ("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 70_000) + "\r\n\r\n", "431"),
        ]
        for (request, status) in cases {
            let answer = try Self.exchange(port: server.port, Array(request.utf8))
            #expect(answer.hasPrefix("HTTP/1.1 \(status) "), "\(request.prefix(40)): \(answer.prefix(60))")
        }
        // A client that sends half a request and hangs up does not stop the server.
        _ = try Self.exchange(port: server.port, Array("PUT / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab".utf8))
        #expect(try Self.exchange(port: server.port, Array("GET / HTTP/1.0\r\n\r\n".utf8)).hasPrefix("HTTP/1.1 200 OK"))
    }

    @Test func clientPublishesAndReadsChecksums() throws {
        let fixture = try RegistryFixture()
        let server = try HTTPServer(port: 0, handler: fixture.service.handle)
        server.start()
        defer { server.stop() }
        let client = RegistryClient(baseURL: "http://127.0.0.1:\(server.port)/")
        let archive = try RegistryFixture.archive()
        #expect(try client.checksum(scope: "acme", name: "Pkg", version: "0.1.0") == nil)
        try client.publish(
            scope: "acme", name: "Pkg", version: "0.1.0", archive: archive,
            metadata: .object(["description": .string("d")]))
        #expect(try client.checksum(scope: "acme", name: "Pkg", version: "0.1.0") == SHA256.hex(archive))
        let again = #expect(throws: ReleaseError.self) {
            try client.publish(scope: "acme", name: "Pkg", version: "0.1.0", archive: archive, metadata: .object([:]))
        }
        #expect(again?.description.contains("409") == true)
        #expect(
            fixture.service.release(scope: "acme", name: "Pkg", version: "0.1.0")?.metadata["description"]
                == .string("d"))
        // A registry that is not there is a registry error, not a crash.
        let nowhere = RegistryClient(baseURL: "http://127.0.0.1:1", timeout: 5)
        #expect(throws: ReleaseError.self) { try nowhere.checksum(scope: "acme", name: "Pkg", version: "0.1.0") }
    }
}
