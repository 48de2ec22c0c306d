// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Synchronization

/// A Swift package registry (SE-0292, API version 1) kept in a folder: the endpoints SwiftPM
/// uses to resolve and download packages, and the publish endpoint.
///
/// | Method | Path | Answer |
/// | --- | --- | --- |
/// | GET | `/{scope}/{name}` | releases, `Link: latest-version` |
/// | GET | `/{scope}/{name}/{version}` | release metadata with the archive's SHA-256 |
/// | GET | `/{scope}/{name}/{version}/Package.swift{?swift-version}` | the manifest (303 when no such variant) |
/// | GET | `/{scope}/{name}/{version}.zip` | the source archive, `Digest: sha-256=...` |
/// | GET | `/identifiers?url=` | identifiers whose metadata lists that repository URL |
/// | PUT | `/{scope}/{name}/{version}` | publish (multipart `source-archive`, optional `metadata`); 409 if it exists |
///
/// Every request is logged (`requests`), every publish attempt too (`publishAttempts`), and
/// `failingPublishAttempts` makes chosen attempts answer 503, so tests can break a release midway.
///
/// ```swift
/// let registry = try RegistryService(storage: folder)
/// let server = try HTTPServer(port: 0, handler: registry.handle)
/// server.start()
/// ```
public final class RegistryService: Sendable {
    /// One `PUT` the registry received.
    public struct PublishAttempt: Sendable, Equatable {
        /// `scope.Name` as requested.
        public var identity: String
        /// The version requested.
        public var version: String
        /// The status code answered.
        public var status: Int
    }

    /// One stored release.
    public struct Release: Sendable {
        /// `scope.Name` as first published.
        public var identity: String
        /// The version.
        public var version: String
        /// Hex SHA-256 of the archive.
        public var checksum: String
        /// When it was published (ISO 8601, seconds).
        public var publishedAt: String
        /// The metadata JSON object sent with it (`{}` when none).
        public var metadata: [String: JSONValue]
        /// Manifest file names found at the archive's top level, with their contents.
        public var manifests: [String: String]
    }

    /// The folder releases are stored in (`<scope>/<name>/<version>/{source-archive.zip,release.json}`).
    public let storage: URL
    /// The largest metadata document accepted in a publish request.
    public static let maxMetadataBytes = 1 << 20

    private struct State {
        var releases: [String: [String: Release]] = [:]
        var publishAttempts: [PublishAttempt] = []
        var requests: [String] = []
        var failing: Set<Int> = []
    }

    private let state = Mutex(State())

    /// Opens (or creates) a registry in `storage`, loading the releases already there.
    public init(storage: URL) throws(ReleaseError) {
        self.storage = storage.standardizedFileURL
        do {
            try FileManager.default.createDirectory(at: self.storage, withIntermediateDirectories: true)
        } catch {
            throw ReleaseError(.io, "cannot create \(storage.path): \(error)")
        }
        var loaded: [String: [String: Release]] = [:]
        let manager = FileManager.default
        for scope in (try? manager.contentsOfDirectory(atPath: self.storage.path)) ?? [] {
            let scopeURL = self.storage.appendingPathComponent(scope)
            for name in (try? manager.contentsOfDirectory(atPath: scopeURL.path)) ?? [] {
                let nameURL = scopeURL.appendingPathComponent(name)
                for version in (try? manager.contentsOfDirectory(atPath: nameURL.path)) ?? [] {
                    let file = nameURL.appendingPathComponent(version).appendingPathComponent("release.json")
                    guard let data = manager.contents(atPath: file.path),
                        case .object(let object)? = try? JSONValue.parse(Array(data)),
                        let release = Self.release(from: object)
                    else { continue }
                    loaded["\(scope).\(name)", default: [:]][version] = release
                }
            }
        }
        let releases = loaded
        state.withLock { $0.releases = releases }
    }

    /// Every publish attempt so far, in order.
    public var publishAttempts: [PublishAttempt] { state.withLock { $0.publishAttempts } }

    /// Every request so far as `METHOD path`, in order.
    public var requests: [String] { state.withLock { $0.requests } }

    /// Makes the publish attempts with these 1-based numbers fail with 503 (fault injection).
    public func failPublishAttempts(_ numbers: Set<Int>) { state.withLock { $0.failing = numbers } }

    /// The stored release of `scope.name` at `version`, if any (case-insensitive identity).
    public func release(scope: String, name: String, version: String) -> Release? {
        state.withLock { $0.releases[Self.key(scope, name)]?[version] }
    }

    // MARK: Routing

    /// Answers one request (the `HTTPServer` handler).
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        state.withLock { $0.requests.append("\(request.method) \(request.path)") }
        if let problem = Self.checkAccept(request.header("accept")) { return problem }
        let base = "http://" + (request.header("host") ?? "127.0.0.1")
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        let reading = request.method == "GET" || request.method == "HEAD"
        if segments == ["identifiers"] {
            return reading ? identifiers(request) : Self.problem(405, "use GET")
        }
        guard segments.count >= 2, RegistryIdentity.isValidScope(segments[0]) else {
            return Self.problem(404, "no such resource")
        }
        let scope = segments[0]
        switch segments.count {
        case 2:
            let name = Self.dropSuffix(segments[1], ".json")
            guard RegistryIdentity.isValidName(name) else { return Self.problem(404, "no such package") }
            return reading ? list(scope: scope, name: name, base: base) : Self.problem(405, "use GET")
        case 3:
            let name = segments[1]
            guard RegistryIdentity.isValidName(name) else { return Self.problem(404, "no such package") }
            if segments[2].hasSuffix(".zip") {
                let version = String(segments[2].dropLast(4))
                return reading ? archive(scope: scope, name: name, version: version) : Self.problem(405, "use GET")
            }
            let version = Self.dropSuffix(segments[2], ".json")
            switch request.method {
            case "GET", "HEAD": return metadata(scope: scope, name: name, version: version, base: base)
            case "PUT": return publish(scope: scope, name: name, version: version, request: request, base: base)
            default: return Self.problem(405, "use GET or PUT")
            }
        case 4 where segments[3] == "Package.swift":
            guard RegistryIdentity.isValidName(segments[1]) else { return Self.problem(404, "no such package") }
            guard reading else { return Self.problem(405, "use GET") }
            return manifest(
                scope: scope, name: segments[1], version: segments[2], swiftVersion: request.query["swift-version"],
                base: base)
        default:
            return Self.problem(404, "no such resource")
        }
    }

    // MARK: Endpoints

    private func list(scope: String, name: String, base: String) -> HTTPResponse {
        guard let releases = state.withLock({ $0.releases[Self.key(scope, name)] }), let any = releases.values.first
        else { return Self.problem(404, "package \(scope).\(name) not found") }
        // Links use the identity's published spelling, whatever case the request used.
        let path = any.identity.replacingOccurrences(of: ".", with: "/")
        let versions = releases.keys.sorted(by: Self.precedes).reversed()
        var listing: [String: JSONValue] = [:]
        for version in versions { listing[version] = .object(["url": .string("\(base)/\(path)/\(version)")]) }
        var response = Self.json(200, .object(["releases": .object(listing)]))
        if let latest = versions.first {
            response.headers.append(("Link", "<\(base)/\(path)/\(latest)>; rel=\"latest-version\""))
        }
        return response
    }

    private func metadata(scope: String, name: String, version: String, base: String) -> HTTPResponse {
        let releases = state.withLock { $0.releases[Self.key(scope, name)] } ?? [:]
        guard let release = releases[version] else {
            return Self.problem(404, "release \(scope).\(name) \(version) not found")
        }
        let body: JSONValue = .object([
            "id": .string(release.identity),
            "version": .string(release.version),
            "resources": .array([
                .object([
                    "name": .string("source-archive"), "type": .string("application/zip"),
                    "checksum": .string(release.checksum),
                ])
            ]),
            "metadata": .object(release.metadata),
            "publishedAt": .string(release.publishedAt),
        ])
        var response = Self.json(200, body)
        let versions = releases.keys.sorted(by: Self.precedes)
        var links: [String] = []
        if let latest = versions.last { links.append("<\(base)/\(scope)/\(name)/\(latest)>; rel=\"latest-version\"") }
        if let index = versions.firstIndex(of: version) {
            if index + 1 < versions.count {
                links.append("<\(base)/\(scope)/\(name)/\(versions[index + 1])>; rel=\"successor-version\"")
            }
            if index > 0 {
                links.append("<\(base)/\(scope)/\(name)/\(versions[index - 1])>; rel=\"predecessor-version\"")
            }
        }
        response.headers.append(("Link", links.joined(separator: ", ")))
        return response
    }

    private func manifest(
        scope: String, name: String, version: String, swiftVersion: String?, base: String
    )
        -> HTTPResponse
    {
        guard let release = release(scope: scope, name: name, version: version) else {
            return Self.problem(404, "release \(scope).\(name) \(version) not found")
        }
        let location = "\(base)/\(scope)/\(name)/\(version)/Package.swift"
        var filename = "Package.swift"
        if let swiftVersion {
            let variant = "Package@swift-\(swiftVersion).swift"
            guard release.manifests[variant] != nil else {
                return HTTPResponse(status: 303, headers: [("Content-Version", "1"), ("Location", location)])
            }
            filename = variant
        }
        guard let text = release.manifests[filename] else { return Self.problem(404, "release has no \(filename)") }
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "text/x-swift"), ("Content-Version", "1"), ("Cache-Control", "public, immutable"),
            ("Content-Disposition", "attachment; filename=\"\(filename)\""),
        ]
        if swiftVersion == nil {
            let alternates = release.manifests.keys.filter { $0 != "Package.swift" }.sorted().compactMap {
                file -> String? in
                guard let variant = Self.variantVersion(file), let content = release.manifests[file] else { return nil }
                let tools = Self.toolsVersion(content) ?? variant
                return
                    "<\(location)?swift-version=\(variant)>; rel=\"alternate\"; filename=\"\(file)\"; swift-tools-version=\"\(tools)\""
            }
            if !alternates.isEmpty { headers.append(("Link", alternates.joined(separator: ", "))) }
        }
        return HTTPResponse(status: 200, headers: headers, body: Array(text.utf8))
    }

    private func archive(scope: String, name: String, version: String) -> HTTPResponse {
        guard let release = release(scope: scope, name: name, version: version) else {
            return Self.problem(404, "release \(scope).\(name) \(version) not found")
        }
        let file = storageFolder(scope: scope, name: name, version: version).appendingPathComponent(
            "source-archive.zip")
        guard let data = FileManager.default.contents(atPath: file.path) else {
            return Self.problem(500, "the stored archive is missing")
        }
        let bytes = Array(data)
        var hash = SHA256()
        hash.update(bytes)
        let digest = Data(hash.finalize()).base64EncodedString()
        let packageName = release.identity.split(separator: ".", maxSplits: 1).last.map(String.init) ?? name
        return HTTPResponse(
            status: 200,
            headers: [
                ("Content-Type", "application/zip"), ("Content-Version", "1"), ("Cache-Control", "public, immutable"),
                ("Accept-Ranges", "none"), ("Digest", "sha-256=\(digest)"),
                ("Content-Disposition", "attachment; filename=\"\(packageName)-\(version).zip\""),
            ], body: bytes)
    }

    private func identifiers(_ request: HTTPRequest) -> HTTPResponse {
        guard let url = request.query["url"], !url.isEmpty else { return Self.problem(400, "missing url parameter") }
        let wanted = Self.normalize(url)
        let found = state.withLock { state -> [String] in
            var identities: Set<String> = []
            for releases in state.releases.values {
                for release in releases.values {
                    guard case .array(let urls)? = release.metadata["repositoryURLs"] else { continue }
                    for case .string(let candidate) in urls where Self.normalize(candidate) == wanted {
                        identities.insert(release.identity)
                    }
                }
            }
            return identities.sorted()
        }
        guard !found.isEmpty else { return Self.problem(404, "no package is registered for \(url)") }
        return Self.json(200, .object(["identifiers": .array(found.map(JSONValue.string))]))
    }

    private func publish(
        scope: String, name: String, version: String, request: HTTPRequest, base: String
    )
        -> HTTPResponse
    {
        let attempt = state.withLock { state -> (number: Int, failing: Bool) in
            let number = state.publishAttempts.count + 1
            return (number, state.failing.contains(number))
        }
        let response =
            attempt.failing
            ? Self.problem(503, "publish attempt \(attempt.number) refused (injected failure)")
            : store(scope: scope, name: name, version: version, request: request, base: base)
        state.withLock {
            $0.publishAttempts.append(
                PublishAttempt(identity: "\(scope).\(name)", version: version, status: response.status))
        }
        return response
    }

    private func store(
        scope: String, name: String, version: String, request: HTTPRequest, base: String
    )
        -> HTTPResponse
    {
        guard Self.isValidVersion(version) else { return Self.problem(400, "'\(version)' is not a semantic version") }
        guard let contentType = request.header("content-type"),
            contentType.lowercased().hasPrefix("multipart/form-data"),
            let boundary = Multipart.boundary(fromContentType: contentType)
        else { return Self.problem(415, "the body must be multipart/form-data with a boundary") }
        let parts: [Multipart.Part]
        do {
            parts = try Multipart.parse(request.body, boundary: boundary)
        } catch {
            return Self.problem(422, error.description)
        }
        guard let archivePart = parts.first(where: { $0.name == "source-archive" }) else {
            return Self.problem(422, "no source-archive part")
        }
        if parts.contains(where: { $0.name == "source-archive-signature" }) {
            return Self.problem(422, "signed releases are not supported by this registry")
        }
        var metadata: [String: JSONValue] = [:]
        if let part = parts.first(where: { $0.name == "metadata" }) {
            guard part.body.count <= Self.maxMetadataBytes, case .object(let object)? = try? JSONValue.parse(part.body)
            else { return Self.problem(422, "invalid JSON provided for release metadata") }
            metadata = object
        }
        let manifests: [String: String]
        do {
            manifests = try Self.manifests(in: archivePart.body)
        } catch {
            return Self.problem(422, error.description)
        }
        let checksum = SHA256.hex(archivePart.body)
        let formatter = ISO8601DateFormatter()
        let release = Release(
            identity: "\(scope).\(name)", version: version, checksum: checksum,
            publishedAt: formatter.string(from: Date()), metadata: metadata, manifests: manifests)
        let folder = storageFolder(scope: scope, name: name, version: version)
        // Check, write and insert under the lock so two concurrent publishes cannot both win.
        let outcome = state.withLock { state -> HTTPResponse? in
            if state.releases[Self.key(scope, name)]?[version] != nil {
                return Self.problem(409, "a release with version \(version) already exists")
            }
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try Data(archivePart.body).write(
                    to: folder.appendingPathComponent("source-archive.zip"), options: .atomic)
                try Data(Self.serialize(release)).write(
                    to: folder.appendingPathComponent("release.json"), options: .atomic)
            } catch {
                return Self.problem(500, "cannot store the release: \(error)")
            }
            state.releases[Self.key(scope, name), default: [:]][version] = release
            return nil
        }
        if let outcome { return outcome }
        return HTTPResponse(
            status: 201, headers: [("Content-Version", "1"), ("Location", "\(base)/\(scope)/\(name)/\(version)")])
    }

    // MARK: Helpers

    /// `Package.swift` and `Package@swift-*.swift` at the top of the archive's single top-level folder.
    static func manifests(in archive: [UInt8]) throws(ReleaseError) -> [String: String] {
        let paths = try ZipArchive.paths(archive)
        let tops = Set(paths.map { $0.split(separator: "/", maxSplits: 1).first.map(String.init) ?? "" })
        guard tops.count == 1, let top = tops.first, paths.allSatisfy({ $0.hasPrefix(top + "/") }) else {
            throw ReleaseError(.archive, "the archive must hold one top-level folder")
        }
        let wanted = { (path: String) -> Bool in
            let rest = path.dropFirst(top.count + 1)
            return !rest.contains("/") && (rest == "Package.swift" || Self.variantVersion(String(rest)) != nil)
        }
        var manifests: [String: String] = [:]
        for entry in try ZipArchive.read(archive, where: wanted) {
            guard entry.contents.count <= 1 << 20, let text = String(validating: entry.contents, as: UTF8.self) else {
                throw ReleaseError(.archive, "\(entry.path) is not a UTF-8 manifest under 1 MiB")
            }
            manifests[String(entry.path.dropFirst(top.count + 1))] = text
        }
        guard let main = manifests["Package.swift"], toolsVersion(main) != nil else {
            throw ReleaseError(.archive, "package doesn't contain a valid manifest (Package.swift) file")
        }
        return manifests
    }

    /// The `X` of `Package@swift-X.swift` (`X` is `N`, `N.N` or `N.N.N`), or nil.
    static func variantVersion(_ file: String) -> String? {
        guard file.hasPrefix("Package@swift-"), file.hasSuffix(".swift") else { return nil }
        let version = file.dropFirst("Package@swift-".count).dropLast(".swift".count)
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count),
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 4 && $0.allSatisfy(\.isNumber) })
        else { return nil }
        return String(version)
    }

    /// The tools version a manifest's first line declares (`// swift-tools-version:5.9` → `5.9`).
    static func toolsVersion(_ manifest: String) -> String? {
        guard let first = manifest.split(separator: "\n", maxSplits: 1).first,
            let marker = first.range(of: "swift-tools-version:")
        else { return nil }
        let version = first[marker.upperBound...].trimmingCharacters(in: .whitespaces).prefix { $0 != ";" }
        guard !version.isEmpty, version.allSatisfy({ $0.isNumber || $0 == "." }) else { return nil }
        return String(version)
    }

    static func isValidVersion(_ version: String) -> Bool {
        guard version.count <= 64 else { return false }
        let core = version.prefix { $0 != "-" && $0 != "+" }
        guard (try? SemanticVersion(core)) != nil else { return false }
        return version.dropFirst(core.count).allSatisfy {
            $0.isASCII && ($0.isLetter || $0.isNumber || "-+.".contains($0))
        }
    }

    /// Semantic-version precedence for the core `X.Y.Z`; a pre-release sorts before its release.
    static func precedes(_ lhs: String, _ rhs: String) -> Bool {
        func parts(_ text: String) -> (SemanticVersion, Bool, String) {
            let core = text.prefix { $0 != "-" && $0 != "+" }
            let version = (try? SemanticVersion(core)) ?? SemanticVersion(major: 0, minor: 0, patch: 0)
            return (version, !text.dropFirst(core.count).hasPrefix("-"), text)
        }
        let (a, b) = (parts(lhs), parts(rhs))
        if a.0 != b.0 { return a.0 < b.0 }
        if a.1 != b.1 { return !a.1 }
        return a.2 < b.2
    }

    static func checkAccept(_ accept: String?) -> HTTPResponse? {
        guard let accept, accept.lowercased().hasPrefix("application/vnd.swift.registry") else { return nil }
        let rest = accept.dropFirst("application/vnd.swift.registry".count)
        guard rest.hasPrefix(".v") else { return nil }
        let version = rest.dropFirst(2).prefix { $0 != "+" && $0 != ";" && $0 != "," }
        guard !version.isEmpty, version.allSatisfy(\.isNumber) else { return problem(400, "invalid API version") }
        return version == "1" ? nil : problem(415, "unsupported API version")
    }

    static func problem(_ status: Int, _ detail: String) -> HTTPResponse {
        let body = JSONValue.object(["detail": .string(detail), "status": .number(Double(status))]).serialized()
        return HTTPResponse(
            status: status,
            headers: [
                ("Content-Type", "application/problem+json"), ("Content-Version", "1"), ("Content-Language", "en"),
            ],
            body: body)
    }

    static func json(_ status: Int, _ value: JSONValue) -> HTTPResponse {
        HTTPResponse(
            status: status, headers: [("Content-Type", "application/json"), ("Content-Version", "1")],
            body: value.serialized())
    }

    static func key(_ scope: String, _ name: String) -> String { "\(scope.lowercased()).\(name.lowercased())" }

    private func storageFolder(scope: String, name: String, version: String) -> URL {
        storage.appendingPathComponent(scope.lowercased()).appendingPathComponent(name.lowercased())
            .appendingPathComponent(version)
    }

    static func dropSuffix(_ text: String, _ suffix: String) -> String {
        text.hasSuffix(suffix) ? String(text.dropLast(suffix.count)) : text
    }

    static func normalize(_ url: String) -> String {
        var text = url.lowercased()
        for scheme in ["https://", "http://", "ssh://", "git@"] where text.hasPrefix(scheme) {
            text = String(text.dropFirst(scheme.count))
        }
        text = text.replacingOccurrences(of: ":", with: "/")
        if text.hasSuffix("/") { text.removeLast() }
        if text.hasSuffix(".git") { text.removeLast(4) }
        return text
    }

    static func serialize(_ release: Release) -> [UInt8] {
        JSONValue.object([
            "id": .string(release.identity), "version": .string(release.version),
            "checksum": .string(release.checksum), "publishedAt": .string(release.publishedAt),
            "metadata": .object(release.metadata),
            "manifests": .object(release.manifests.mapValues(JSONValue.string)),
        ]).serialized()
    }

    static func release(from object: [String: JSONValue]) -> Release? {
        guard case .string(let identity)? = object["id"], case .string(let version)? = object["version"],
            case .string(let checksum)? = object["checksum"], case .string(let published)? = object["publishedAt"],
            case .object(let metadata)? = object["metadata"], case .object(let manifestValues)? = object["manifests"]
        else { return nil }
        var manifests: [String: String] = [:]
        for (file, value) in manifestValues {
            guard case .string(let text) = value else { return nil }
            manifests[file] = text
        }
        return Release(
            identity: identity, version: version, checksum: checksum, publishedAt: published, metadata: metadata,
            manifests: manifests)
    }
}

/// `multipart/form-data` bodies (RFC 7578) as publish requests carry them.
public enum Multipart {
    /// One part.
    public struct Part: Sendable, Equatable {
        /// The `name` of its Content-Disposition.
        public var name: String
        /// Its Content-Type, if given.
        public var contentType: String?
        /// Its bytes after any Content-Transfer-Encoding is undone.
        public var body: [UInt8]
    }

    /// The boundary parameter of a `multipart/form-data; boundary=...` content type.
    public static func boundary(fromContentType contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else {
                continue
            }
            var value = pair[1].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            guard (1...70).contains(value.count) else { return nil }
            return value
        }
        return nil
    }

    /// Splits `body` into parts; at most 16 parts, each with at most 8 KiB of headers.
    public static func parse(_ body: [UInt8], boundary: String) throws(ReleaseError) -> [Part] {
        let delimiter = Array("--\(boundary)".utf8)
        guard var position = find(delimiter, in: body, from: 0) else {
            throw ReleaseError(.registry, "multipart body has no boundary")
        }
        var parts: [Part] = []
        while true {
            position += delimiter.count
            // `--` after a delimiter closes the body.
            if position + 2 <= body.count && body[position] == 45 && body[position + 1] == 45 { return parts }
            guard position + 2 <= body.count, body[position] == 13, body[position + 1] == 10 else {
                throw ReleaseError(.registry, "multipart delimiter is not followed by CRLF")
            }
            position += 2
            guard let headerEnd = find([13, 10, 13, 10], in: body, from: position), headerEnd - position <= 8192 else {
                throw ReleaseError(.registry, "multipart part headers are missing or too long")
            }
            guard let next = find([13, 10] + delimiter, in: body, from: headerEnd + 4) else {
                throw ReleaseError(.registry, "multipart part is not terminated")
            }
            let head = String(decoding: body[position..<headerEnd], as: UTF8.self)
            var name: String?
            var contentType: String?
            var encoding = "binary"
            for line in head.components(separatedBy: "\r\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let field = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                switch field {
                case "content-disposition": name = parameter("name", in: value)
                case "content-type": contentType = value
                case "content-transfer-encoding": encoding = value.lowercased()
                default: break
                }
            }
            guard let name else { throw ReleaseError(.registry, "multipart part has no name") }
            var content = Array(body[(headerEnd + 4)..<next])
            switch encoding {
            case "binary", "8bit", "7bit", "quoted-printable":
                break
            case "base64":
                let text = String(decoding: content, as: UTF8.self).filter { !$0.isWhitespace }
                guard let decoded = Data(base64Encoded: text) else {
                    throw ReleaseError(.registry, "part \(name) is not valid base64")
                }
                content = Array(decoded)
            default:
                throw ReleaseError(.registry, "part \(name) uses unsupported transfer encoding \(encoding)")
            }
            parts.append(Part(name: name, contentType: contentType, body: content))
            guard parts.count <= 16 else { throw ReleaseError(.registry, "more than 16 multipart parts") }
            position = next + 2
        }
    }

    static func parameter(_ wanted: String, in value: String) -> String? {
        for item in value.split(separator: ";").dropFirst() {
            let pair = item.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == wanted else { continue }
            var text = pair[1].trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("\"") && text.hasSuffix("\"") && text.count >= 2 {
                text = String(text.dropFirst().dropLast())
            }
            return text
        }
        return nil
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else {
            return nil
        }
        let first = needle[0]
        var index = start
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first {
                var matched = true
                for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return index }
            }
            index += 1
        }
        return nil
    }
}
