// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc
import KVMIoctls
import Testing

@Suite struct ReadmeExampleTests {
    /// Reads a whole file next to this one (relative to the package root).
    private func packageFile(_ relative: String) throws -> String {
        let here = #filePath  // .../Packages/KVMIoctls/Tests/KVMIoctlsTests/ReadmeExampleTests.swift
        var parts = here.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        let path = parts.joined(separator: "/") + "/" + relative
        let file = try #require(fopen(path, "r"), "cannot open \(path)")
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func readmeExampleIsTheTestedExampleByteForByte() throws {
        let readme = try packageFile("README.md")
        let source = try packageFile("Tests/KVMIoctlsTests/ReadmeExample.swift")
        let fence = "```swift\n"
        let start = try #require(readme.firstRange(of: fence), "README has no ```swift block")
        let end = try #require(readme[start.upperBound...].firstRange(of: "```\n"), "unterminated block")
        let block = String(readme[start.upperBound..<end.lowerBound])

        let begin = try #require(source.firstRange(of: "// BEGIN README EXAMPLE\n"))
        let finish = try #require(source.firstRange(of: "// END README EXAMPLE\n"))
        let section = String(source[begin.upperBound..<finish.lowerBound])
        #expect(Array(block.utf8) == Array(section.utf8), "README.md's example differs from ReadmeExample.swift")
        let lines = section.split(separator: "\n", omittingEmptySubsequences: false).count
        #expect((45...75).contains(lines), "the example should stay around 60 lines, is \(lines)")
    }

    @Test func helloGuestRuns() throws {
        guard openKVMOrSkip() != nil else { return }
        #expect(try helloGuest() == "Hello, guest!\n")
    }
}
