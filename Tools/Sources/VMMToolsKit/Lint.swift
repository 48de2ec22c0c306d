// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation

/// One problem found by `vmm-tools lint`, printed as `file:line: rule: message`.
public struct Finding: Sendable, Equatable, CustomStringConvertible {
    /// Path relative to the workspace root.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// The rule that produced it.
    public var rule: LintRule
    /// What is wrong and, where it helps, what to do.
    public var message: String

    /// Creates a finding.
    public init(file: String, line: Int, rule: LintRule, message: String) {
        self.file = file
        self.line = line
        self.rule = rule
        self.message = message
    }

    /// `file:line: rule: message`.
    public var description: String { "\(file):\(line): \(rule.rawValue): \(message)" }
}

/// The checks `vmm-tools lint` runs.
public enum LintRule: String, CaseIterable, Sendable {
    /// `swift format lint --strict` with the repository's `.swift-format`.
    case swiftFormat = "swift-format"
    /// Every Swift and C file carries the copyright line and the SPDX identifier.
    case licenseHeader = "license-header"
    /// The root manifest mirrors every package manifest exactly.
    case manifest
    /// Every package has README.md (with a Swift example) and CHANGELOG.md.
    case packageFiles = "package-files"
    /// CHANGELOG.md has `## Upcoming` first, then `## vX.Y.Z` sections with known subsections.
    case changelog
    /// docs/architecture.md embeds the current `vmm-tools graph --format dot`.
    case docsGraph = "docs-graph"
    /// Unsafe pointer work in library sources is explained by a `// SAFETY:` comment.
    case safetyComment = "safety-comment"
    /// Portable packages compile in Embedded Swift mode (riscv64 objects).
    case embedded
}

/// The license header every Swift and C file starts with (after a `swift-tools-version` line).
public enum LicenseHeader {
    /// The SPDX line that must appear in the first lines of a file.
    public static let spdx = "SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause"
    /// The copyright line that must precede it.
    public static let copyrightPrefix = "Copyright "
    /// The header for new files.
    public static let text = "// Copyright 2026 The swift-vmm Authors.\n// \(spdx)\n"
}

/// Runs the lint rules over a workspace.
public struct Linter {
    /// The workspace being checked.
    public let workspace: Workspace
    /// Targets under a path prefix that must reach the hypervisor only through a door: the
    /// modules named may not be their direct dependencies (rule `manifest`).
    public var doors: [(pathPrefix: String, forbidden: Set<String>)]

    /// The VMM (integration-vmm) speaks to KVM only through Hypervisor's protocols.
    public static var hypervisorDoor: (pathPrefix: String, forbidden: Set<String>) {
        ("IntegrationVMM/Sources/", ["KVMIoctls", "KVMBindings"])
    }

    /// Creates a linter for `workspace`.
    public init(workspace: Workspace, doors: [(pathPrefix: String, forbidden: Set<String>)] = [Linter.hypervisorDoor]) {
        self.workspace = workspace
        self.doors = doors
    }

    /// Runs `rules` and returns their findings, sorted by file and line.
    public func run(_ rules: Set<LintRule> = Set(LintRule.allCases)) throws -> [Finding] {
        var findings: [Finding] = []
        if rules.contains(.swiftFormat) { findings += try swiftFormat() }
        if rules.contains(.licenseHeader) { findings += licenseHeaders() }
        if rules.contains(.manifest) { findings += try manifestConsistency() }
        if rules.contains(.packageFiles) || rules.contains(.changelog) {
            findings += packageFiles().filter { rules.contains($0.rule) }
        }
        if rules.contains(.docsGraph) { findings += try docsGraph() }
        if rules.contains(.safetyComment) { findings += safetyComments() }
        if rules.contains(.embedded) { findings += try embeddedCompiles() }
        return findings.sorted { ($0.file, $0.line, $0.rule.rawValue) < ($1.file, $1.line, $1.rule.rawValue) }
    }

    // MARK: swift-format

    func swiftFormat() throws -> [Finding] {
        let files = workspace.files(withExtensions: ["swift"])
        if files.isEmpty { return [] }
        var arguments = ["swift", "format", "lint", "--strict"]
        let configuration = workspace.root.appendingPathComponent(".swift-format")
        if FileManager.default.fileExists(atPath: configuration.path) {
            arguments += ["--configuration", configuration.path]
        }
        let result = try ProcessRunner.run(arguments + files.map(\.path), in: workspace.root)
        var findings: [Finding] = []
        // swift-format prints `path:line:column: error: [Rule] message` per violation.
        for line in result.output.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
            guard parts.count == 5, let lineNumber = Int(parts[1]), Int(parts[2]) != nil else { continue }
            let message = parts[4].trimmingCharacters(in: .whitespaces)
            findings.append(
                Finding(
                    file: workspace.relativePath(URL(fileURLWithPath: String(parts[0]))), line: lineNumber,
                    rule: .swiftFormat, message: message))
        }
        if !result.succeeded && findings.isEmpty {
            findings.append(
                Finding(
                    file: ".swift-format", line: 1, rule: .swiftFormat,
                    message: "swift format failed: \(result.output.prefix(300))"))
        }
        return findings
    }

    // MARK: license headers

    func licenseHeaders() -> [Finding] {
        workspace.files(withExtensions: ["swift", "c", "h"]).compactMap { url in
            let head =
                (try? String(contentsOf: url, encoding: .utf8))?.split(
                    separator: "\n", maxSplits: 6, omittingEmptySubsequences: false
                ).prefix(6) ?? []
            let copyright = head.firstIndex { $0.contains(LicenseHeader.copyrightPrefix) && $0.contains("Authors") }
            let spdx = head.firstIndex { $0.contains(LicenseHeader.spdx) }
            if let copyright, let spdx, copyright < spdx { return nil }
            return Finding(
                file: workspace.relativePath(url), line: 1, rule: .licenseHeader,
                message: "missing license header; start the file with:\n\(LicenseHeader.text)")
        }
    }

    // MARK: manifest consistency

    func manifestConsistency() throws -> [Finding] {
        let rootFile = "Package.swift"
        let rootText = (try? String(contentsOf: workspace.root.appendingPathComponent(rootFile), encoding: .utf8)) ?? ""
        let root = try PackageManifest.load(from: workspace.root)
        var findings: [Finding] = []
        var manifests: [String: PackageManifest] = [:]
        func manifest(_ name: String) throws -> PackageManifest {
            if let cached = manifests[name] { return cached }
            let loaded = try PackageManifest.load(from: workspace.packageDirectory(name))
            manifests[name] = loaded
            return loaded
        }
        let packages = workspace.packageNames()

        for package in packages {
            let packageFile = "Packages/\(package)/Package.swift"
            let packageText =
                (try? String(contentsOf: workspace.root.appendingPathComponent(packageFile), encoding: .utf8)) ?? ""
            let own = try manifest(package)
            if own.name != package {
                findings.append(
                    Finding(
                        file: packageFile, line: Self.line(of: ["name: \"\(own.name)\""], in: packageText),
                        rule: .manifest, message: "package is named '\(own.name)' but lives in Packages/\(package)"))
            }
            // Path dependencies must point at sibling packages.
            var siblingProducts: [String: [String]] = [:]
            for path in own.pathDependencies {
                let url = URL(fileURLWithPath: path).standardizedFileURL
                let sibling = url.lastPathComponent
                guard url.deletingLastPathComponent().path == workspace.packagesDirectory.path,
                    packages.contains(sibling)
                else {
                    findings.append(
                        Finding(
                            file: packageFile, line: Self.line(of: ["path:"], in: packageText), rule: .manifest,
                            message: "path dependency \(path) is not a package under Packages/"))
                    continue
                }
                for product in try manifest(sibling).products { siblingProducts[product.name] = product.targets }
            }
            let siblingIdentities = Set(own.pathDependencies.map { URL(fileURLWithPath: $0).lastPathComponent })

            func normalized(_ dependencies: [String]) -> Set<String> {
                var names: Set<String> = []
                for dependency in dependencies {
                    if dependency.hasPrefix("product:") {
                        let body = dependency.dropFirst("product:".count)
                        let name = String(body.split(separator: "@").first ?? "")
                        let packageName = String(body.split(separator: "@").dropFirst().first ?? "")
                        if siblingIdentities.contains(packageName), let targets = siblingProducts[name] {
                            names.formUnion(targets)
                            continue
                        }
                    }
                    names.insert(dependency)
                }
                return names
            }

            let prefix = "Packages/\(package)/"
            for target in own.targets {
                let defaultFolder = target.type == "test" ? "Tests" : "Sources"
                let expectedPath = prefix + (target.path ?? "\(defaultFolder)/\(target.name)")
                let packageLine = Self.line(of: ["name: \"\(target.name)\"", "\"\(target.name)\""], in: packageText)
                guard let mirror = root.targets.first(where: { $0.name == target.name }) else {
                    findings.append(
                        Finding(
                            file: packageFile, line: packageLine, rule: .manifest,
                            message: "target '\(target.name)' is missing from the root Package.swift"))
                    continue
                }
                let rootLine = Self.line(
                    of: ["mirror(\"\(package)\", \"\(target.name)\"", "\"\(target.name)\""], in: rootText)
                if mirror.path != expectedPath {
                    findings.append(
                        Finding(
                            file: rootFile, line: rootLine, rule: .manifest,
                            message: "target '\(target.name)' has path \(mirror.path ?? "(default)"); "
                                + "expected \(expectedPath)"))
                }
                if mirror.type != target.type {
                    findings.append(
                        Finding(
                            file: rootFile, line: rootLine, rule: .manifest,
                            message:
                                "target '\(target.name)' is \(mirror.type) here but \(target.type) in \(packageFile)"
                        ))
                }
                let expected = normalized(target.dependencies)
                let actual = normalized(mirror.dependencies)
                if expected != actual {
                    findings.append(
                        Finding(
                            file: rootFile, line: rootLine, rule: .manifest,
                            message: "target '\(target.name)' depends on [\(actual.sorted().joined(separator: ", "))] "
                                + "here but on [\(expected.sorted().joined(separator: ", "))] in \(packageFile)"))
                }
                if mirror.settingsFingerprint != target.settingsFingerprint {
                    findings.append(
                        Finding(
                            file: rootFile, line: rootLine, rule: .manifest,
                            message: "target '\(target.name)' settings/exclusions differ from \(packageFile): "
                                + "\(mirror.settingsFingerprint) vs \(target.settingsFingerprint)"))
                }
            }
            let declared = Set(own.targets.map(\.name))
            for extra in root.targets where (extra.path ?? "").hasPrefix(prefix) && !declared.contains(extra.name) {
                findings.append(
                    Finding(
                        file: rootFile, line: Self.line(of: ["\"\(extra.name)\""], in: rootText), rule: .manifest,
                        message: "target '\(extra.name)' is not declared in \(packageFile)"))
            }
        }
        for target in root.targets {
            for door in doors where (target.path ?? "").hasPrefix(door.pathPrefix) {
                let through = target.dependencies.filter { door.forbidden.contains($0) }.sorted()
                if !through.isEmpty {
                    findings.append(
                        Finding(
                            file: rootFile, line: Self.line(of: ["\"\(target.name)\""], in: rootText), rule: .manifest,
                            message:
                                "target '\(target.name)' depends on \(through.joined(separator: ", ")): "
                                + "code under \(door.pathPrefix) goes through the layer above it"))
                }
            }
            guard let path = target.path, path.hasPrefix("Packages/") else { continue }
            let package = String(path.split(separator: "/")[1])
            if !packages.contains(package) {
                findings.append(
                    Finding(
                        file: rootFile, line: Self.line(of: ["\"\(target.name)\""], in: rootText), rule: .manifest,
                        message: "target '\(target.name)' points into Packages/\(package), which has no Package.swift"))
            }
        }
        return findings
    }

    /// The 1-based line of the first of `needles` found in `text` (first needle wins), or 1.
    static func line(of needles: [String], in text: String) -> Int {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for needle in needles {
            if let index = lines.firstIndex(where: { $0.contains(needle) }) { return index + 1 }
        }
        return 1
    }

    // MARK: package files and changelogs

    static let changelogSubsections: Set<String> = ["Added", "Changed", "Fixed", "Removed", "Deprecated", "Security"]

    func packageFiles() -> [Finding] {
        var findings: [Finding] = []
        for package in workspace.packageNames() {
            let directory = "Packages/\(package)"
            let readme = workspace.root.appendingPathComponent("\(directory)/README.md")
            if let text = try? String(contentsOf: readme, encoding: .utf8) {
                if !text.contains("```swift") {
                    findings.append(
                        Finding(
                            file: "\(directory)/README.md", line: 1, rule: .packageFiles,
                            message: "README.md has no ```swift example"))
                }
            } else {
                findings.append(
                    Finding(
                        file: "\(directory)/README.md", line: 1, rule: .packageFiles,
                        message: "package \(package) has no README.md"))
            }
            let changelogPath = "\(directory)/CHANGELOG.md"
            guard
                let changelog = try? String(
                    contentsOf: workspace.root.appendingPathComponent(changelogPath), encoding: .utf8)
            else {
                findings.append(
                    Finding(
                        file: changelogPath, line: 1, rule: .packageFiles,
                        message: "package \(package) has no CHANGELOG.md"))
                continue
            }
            findings += Self.changelogFindings(changelog, file: changelogPath)
        }
        return findings
    }

    /// Checks a changelog's shape: `## Upcoming` first, then `## vX.Y.Z[ ...]`
    /// sections, each with only the known `### ` subsections.
    static func changelogFindings(_ text: String, file: String) -> [Finding] {
        var findings: [Finding] = []
        var sawSection = false
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            if line.hasPrefix("## ") {
                let title = line.dropFirst(3).trimmingCharacters(in: .whitespaces)
                if !sawSection {
                    sawSection = true
                    if title != "Upcoming" {
                        findings.append(
                            Finding(
                                file: file, line: number, rule: .changelog,
                                message: "the first section must be '## Upcoming', found '## \(title)'"))
                    }
                } else if !Self.isReleaseHeading(title) {
                    findings.append(
                        Finding(
                            file: file, line: number, rule: .changelog,
                            message: "section '## \(title)' is neither '## Upcoming' (first) nor '## vX.Y.Z'"))
                }
            } else if line.hasPrefix("### ") {
                let title = line.dropFirst(4).trimmingCharacters(in: .whitespaces)
                if !changelogSubsections.contains(title) {
                    findings.append(
                        Finding(
                            file: file, line: number, rule: .changelog,
                            message: "unknown subsection '### \(title)' (use "
                                + changelogSubsections.sorted().joined(separator: ", ") + ")"))
                }
            }
        }
        if !sawSection {
            findings.append(
                Finding(file: file, line: 1, rule: .packageFiles, message: "CHANGELOG.md has no '## Upcoming' section"))
        }
        return findings
    }

    static func isReleaseHeading(_ title: String) -> Bool {
        guard title.hasPrefix("v") else { return false }
        let version = title.dropFirst().prefix { !$0.isWhitespace }
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }

    // MARK: docs graph

    func docsGraph() throws -> [Finding] {
        let file = ArchitectureDocs.relativePath
        let url = workspace.root.appendingPathComponent(file)
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            return [
                Finding(file: file, line: 1, rule: .docsGraph, message: "missing; run `vmm-tools graph --write-docs`")
            ]
        }
        let graph: String
        do {
            graph = try DependencyGraph.load(workspace).render(.dot)
        } catch let cycle as DependencyCycleError {
            return [Finding(file: "Packages", line: 1, rule: .docsGraph, message: cycle.description)]
        }
        guard let (embedded, line) = ArchitectureDocs.embeddedGraph(in: text) else {
            return [
                Finding(
                    file: file, line: 1, rule: .docsGraph,
                    message: "no graph block (\(ArchitectureDocs.beginMarker)); run `vmm-tools graph --write-docs`")
            ]
        }
        if embedded != graph {
            return [
                Finding(
                    file: file, line: line, rule: .docsGraph,
                    message: "the dependency graph is stale; run `vmm-tools graph --write-docs`")
            ]
        }
        return []
    }

    // MARK: Embedded mode

    func embeddedCompiles() throws -> [Finding] {
        try RiscV64Run(workspace: workspace).checkEmbeddedCompiles().map { failure in
            // "<Module> (Embedded riscv64): /path/file.swift:12:3: error: ..." → point at the file and line.
            let parts = failure.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            if parts.count > 3, let line = Int(parts[2]) {
                let path = parts[1].trimmingCharacters(in: .whitespaces)
                let file = workspace.relativePath(URL(fileURLWithPath: path))
                return Finding(
                    file: file, line: line, rule: .embedded,
                    message: "does not compile in Embedded Swift: "
                        + parts.dropFirst(4).joined(separator: ":").trimmingCharacters(in: .whitespaces))
            }
            return Finding(file: "Packages", line: 1, rule: .embedded, message: failure)
        }
    }

    // MARK: SAFETY comments

    /// Each `unsafe` expression (which the compiler requires under strict memory safety,
    /// SE-0458, wherever code uses an unsafe construct) and each `@safe` declaration (a type
    /// that holds unsafe storage and vouches for it) needs a `// SAFETY:` comment saying why
    /// it is sound: on the line, in the three lines above it, or on the line below.
    func safetyComments() -> [Finding] {
        var findings: [Finding] = []
        for url in workspace.files(withExtensions: ["swift"]) {
            let relative = workspace.relativePath(url)
            // Library and tool sources only: tests may poke at memory to check it.
            guard relative.contains("/Sources/"), let text = try? String(contentsOf: url, encoding: .utf8) else {
                continue
            }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for index in Self.unsafeSites(in: lines) {
                let window = lines[max(0, index - 3)...min(lines.count - 1, index + 1)]
                if !window.contains(where: { $0.contains("// SAFETY:") }) {
                    findings.append(
                        Finding(
                            file: relative, line: index + 1, rule: .safetyComment,
                            message: "`unsafe` code without a `// SAFETY:` comment saying why it is sound"))
                }
            }
        }
        return findings
    }

    /// The indexes of the lines holding an `unsafe` expression or a `@safe` attribute, outside
    /// comments and string literals (`nonisolated(unsafe)`, `@unsafe` and names such as
    /// `unsafeBitCast` are not expressions).
    static func unsafeSites(in lines: [String]) -> [Int] {
        var sites: [Int] = []
        var inMultilineString = false
        for (index, line) in lines.enumerated() {
            let code = codeOnly(line, inMultilineString: &inMultilineString)
            let characters = Array(code)
            var found = false
            var position = 0
            while !found, position < characters.count {
                guard characters[position].isLetter || characters[position] == "@" else {
                    position += 1
                    continue
                }
                // One word (with a leading `@` for attributes).
                var end = position + 1
                while end < characters.count,
                    characters[end].isLetter || characters[end].isNumber || characters[end] == "_"
                {
                    end += 1
                }
                let word = String(characters[position..<end])
                let before = position > 0 ? characters[position - 1] : " "
                let after = end < characters.count ? characters[end] : " "
                if word == "@safe" {
                    found = true
                } else if word == "unsafe", before != "(", before != ".", before != "_", after == " " {
                    found = true
                }
                position = end
            }
            if found { sites.append(index) }
        }
        return sites
    }

    /// `line` without its `//` comment and with string literal contents blanked;
    /// `inMultilineString` carries a `\"\"\"` literal from line to line.
    static func codeOnly(_ line: String, inMultilineString: inout Bool) -> String {
        var result = ""
        var characters = Array(line)[...]
        var inString = false
        while let character = characters.first {
            if inMultilineString {
                if characters.starts(with: "\"\"\"") {
                    inMultilineString = false
                    characters = characters.dropFirst(3)
                } else {
                    characters = characters.dropFirst()
                }
                continue
            }
            if inString {
                if character == "\\" {
                    characters = characters.dropFirst(2)
                    continue
                }
                if character == "\"" { inString = false }
                characters = characters.dropFirst()
                continue
            }
            if characters.starts(with: "\"\"\"") {
                inMultilineString = true
                characters = characters.dropFirst(3)
                result += "\"\""
                continue
            }
            if character == "\"" {
                inString = true
                result += "\"\""
                characters = characters.dropFirst()
                continue
            }
            if characters.starts(with: "//") { break }
            result.append(character)
            characters = characters.dropFirst()
        }
        return result
    }
}
