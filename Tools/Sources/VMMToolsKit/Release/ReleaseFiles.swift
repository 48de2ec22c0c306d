// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// `release/config.json`: where releases go.
///
/// ```json
/// { "scope": "swift-vmm", "registryURL": "http://127.0.0.1:8080",
///   "repositoryURL": "https://github.com/swift-vmm/swift-vmm" }
/// ```
public struct ReleaseConfiguration: Sendable, Equatable, Codable {
    /// The registry scope every package is published under (`<scope>.<Name>`).
    public var scope: String
    /// The registry's base URL.
    public var registryURL: String
    /// The source repository, sent as release metadata (`repositoryURLs`) when set.
    public var repositoryURL: String?

    /// The path of the file, relative to the workspace root.
    public static let relativePath = "release/config.json"

    /// Creates a configuration.
    public init(scope: String, registryURL: String, repositoryURL: String? = nil) {
        self.scope = scope
        self.registryURL = registryURL
        self.repositoryURL = repositoryURL
    }

    /// Reads and checks `release/config.json`.
    public static func load(_ workspace: Workspace) throws(ReleaseError) -> ReleaseConfiguration {
        let url = workspace.root.appendingPathComponent(relativePath)
        guard let data = FileManager.default.contents(atPath: url.path), data.count <= 1 << 16 else {
            throw ReleaseError(.configuration, "\(relativePath) is missing or too large")
        }
        let configuration: ReleaseConfiguration
        do {
            configuration = try JSONDecoder().decode(ReleaseConfiguration.self, from: data)
        } catch {
            throw ReleaseError(.configuration, "\(relativePath): \(error)")
        }
        try configuration.validate()
        return configuration
    }

    /// Checks the scope and the URL.
    public func validate() throws(ReleaseError) {
        guard RegistryIdentity.isValidScope(scope) else {
            throw ReleaseError(.configuration, "'\(scope)' is not a valid registry scope")
        }
        guard let url = URL(string: registryURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ReleaseError(.configuration, "'\(registryURL)' is not an http(s) URL")
        }
    }

    /// The registry URL without a trailing slash.
    public var baseURL: String { registryURL.hasSuffix("/") ? String(registryURL.dropLast()) : registryURL }
}

/// `release/versions.json`: the one place each package's version lives, with the exact
/// versions of its sibling dependencies (path dependencies carry none).
///
/// ```json
/// { "packages": {
///     "VMMSysUtil": { "version": "0.1.1", "requires": {} },
///     "VMMemory":   { "version": "0.1.1", "requires": { "PortableTesting": "0.1.0", "VMMSysUtil": "0.1.1" } } } }
/// ```
public struct ReleaseVersions: Sendable, Equatable, Codable {
    /// One package's entry.
    public struct Entry: Sendable, Equatable, Codable {
        /// The version last prepared (and, once published, released).
        public var version: SemanticVersion
        /// The exact version required of each sibling dependency.
        public var requires: [String: SemanticVersion]

        /// Creates an entry.
        public init(version: SemanticVersion, requires: [String: SemanticVersion] = [:]) {
            self.version = version
            self.requires = requires
        }
    }

    /// Entries by package name; packages never prepared are absent.
    public var packages: [String: Entry]

    /// The path of the file, relative to the workspace root.
    public static let relativePath = "release/versions.json"

    /// Creates a set of entries.
    public init(packages: [String: Entry] = [:]) { self.packages = packages }

    /// Reads `release/versions.json` (an absent file means nothing was ever prepared).
    public static func load(_ workspace: Workspace) throws(ReleaseError) -> ReleaseVersions {
        let url = workspace.root.appendingPathComponent(relativePath)
        guard let data = FileManager.default.contents(atPath: url.path) else { return ReleaseVersions() }
        guard data.count <= 1 << 20 else { throw ReleaseError(.configuration, "\(relativePath) is too large") }
        do {
            return try JSONDecoder().decode(ReleaseVersions.self, from: data)
        } catch {
            throw ReleaseError(.configuration, "\(relativePath): \(error)")
        }
    }

    /// The file's text: pretty, keys sorted, ending in a newline.
    public func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Writes `release/versions.json`.
    public func save(_ workspace: Workspace) throws(ReleaseError) {
        let url = workspace.root.appendingPathComponent(Self.relativePath)
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try encoded().write(to: url, atomically: true, encoding: .utf8)
        } catch {
            throw ReleaseError(.io, "cannot write \(Self.relativePath): \(error)")
        }
    }
}

/// `release/record.jsonl`: the append-only history of releases, one JSON object per line.
///
/// ```json
/// {"event":"prepared","package":"VMMSysUtil","version":"0.1.1","time":"2026-05-01T10:00:00Z","detail":"patch: 1 Fixed"}
/// {"event":"tagged","package":"VMMSysUtil","version":"0.1.1","time":"...","detail":"VMMSysUtil-v0.1.1 at 3f2a…"}
/// {"event":"published","package":"VMMSysUtil","version":"0.1.1","time":"...","registry":"https://…","checksum":"…"}
/// {"event":"verified","package":"VMMSysUtil","version":"0.1.1","time":"...","registry":"https://…"}
/// ```
public struct ReleaseRecord: Sendable, Equatable {
    /// One line of the record.
    public struct Event: Sendable, Equatable, Codable {
        /// What happened.
        public enum Kind: String, Sendable, Codable {
            /// `release prepare` chose this version.
            case prepared
            /// The annotated tag was created.
            case tagged
            /// The registry accepted the source archive (or already had exactly it).
            case published
            /// A scratch consumer resolved and built it from the registry.
            case verified
        }

        /// What happened.
        public var event: Kind
        /// The package.
        public var package: String
        /// Its version.
        public var version: SemanticVersion
        /// When (ISO 8601, UTC, seconds).
        public var time: String
        /// The registry, for `published` and `verified`.
        public var registry: String?
        /// The archive's SHA-256, for `published`.
        public var checksum: String?
        /// Free text: the bump and reason, the tag and commit.
        public var detail: String?

        /// Creates an event stamped now.
        public init(
            _ event: Kind, package: String, version: SemanticVersion, registry: String? = nil,
            checksum: String? = nil, detail: String? = nil, time: Date = Date()
        ) {
            self.event = event
            self.package = package
            self.version = version
            self.time = ISO8601DateFormatter().string(from: time)
            self.registry = registry
            self.checksum = checksum
            self.detail = detail
        }
    }

    /// Every event, oldest first.
    public private(set) var events: [Event]

    /// The path of the file, relative to the workspace root.
    public static let relativePath = "release/record.jsonl"

    /// Creates a record from events.
    public init(events: [Event] = []) { self.events = events }

    /// Reads the record (absent means empty); a malformed line is an error naming it.
    public static func load(_ workspace: Workspace) throws(ReleaseError) -> ReleaseRecord {
        let url = workspace.root.appendingPathComponent(relativePath)
        guard let data = FileManager.default.contents(atPath: url.path) else { return ReleaseRecord() }
        guard data.count <= 64 << 20 else { throw ReleaseError(.state, "\(relativePath) is too large") }
        var events: [Event] = []
        let decoder = JSONDecoder()
        for (index, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            do {
                events.append(try decoder.decode(Event.self, from: Data(line.utf8)))
            } catch {
                throw ReleaseError(.state, "\(relativePath) line \(index + 1) is not a release event: \(error)")
            }
        }
        return ReleaseRecord(events: events)
    }

    /// True when `package` at `version` has an event of `kind` (for `registry`, when given).
    public func has(_ kind: Event.Kind, _ package: String, _ version: SemanticVersion, registry: String? = nil) -> Bool
    {
        events.contains {
            $0.event == kind && $0.package == package && $0.version == version
                && (registry == nil || $0.registry == registry)
        }
    }

    /// Appends `event` to the file (and to `events`); earlier lines are never rewritten.
    public mutating func append(_ event: Event, in workspace: Workspace) throws(ReleaseError) {
        let url = workspace.root.appendingPathComponent(Self.relativePath)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(event) else { throw ReleaseError(.state, "cannot encode \(event)") }
        let line = data + Data("\n".utf8)
        do {
            if !FileManager.default.fileExists(atPath: url.path) {
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                    throw ReleaseError(.io, "cannot create \(Self.relativePath)")
                }
            }
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
            try handle.synchronize()
        } catch {
            throw ReleaseError(.io, "cannot append to \(Self.relativePath): \(error)")
        }
        events.append(event)
    }
}
