// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets
import Testing

@testable import VMMToolsKit

@Suite struct GuestInitramfsTests {
    private func list(_ archive: [UInt8], verbose: Bool = false) throws -> [String] {
        let folder = try guestTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("a.cpio")
        try Data(archive).write(to: file)
        let result = try ProcessRunner.run(["sh", "-c", "cpio -t\(verbose ? "v" : "") --quiet < '\(file.path)'"])
        #expect(result.succeeded, "cpio -t: \(result.output)")
        return result.output.split(separator: "\n").map(String.init)
    }

    @Test func cpioListsEveryEntryInOrder() throws {
        var archive = CpioArchive()
        archive.directory("dev")
        archive.characterDevice("dev/console", major: 5, minor: 1)
        archive.file("hello.txt", contents: Array("hi\n".utf8))
        archive.symlink("link", target: "hello.txt")
        let bytes = archive.finish()
        #expect(bytes.count % 4 == 0)
        #expect(try list(bytes) == ["dev", "dev/console", "hello.txt", "link"])
        let long = try list(bytes, verbose: true)
        #expect(long[1].hasPrefix("crw-------") && long[1].contains("5,   1"))
        #expect(long[3].hasPrefix("lrwxrwxrwx") && long[3].hasSuffix("link -> hello.txt"))
    }

    /// A symlink to an applet busybox was built without only prints "applet not found" in the guest.
    @Test func everyDefaultAppletIsInTheHostsBusybox() throws {
        let busybox = "/bin/busybox"
        guard FileManager.default.isExecutableFile(atPath: busybox) else {
            reportMissing("\(busybox) (busybox-static, ci/bootstrap)", test: "everyDefaultAppletIsInTheHostsBusybox")
            return
        }
        let result = try ProcessRunner.run([busybox, "--list"], in: FileManager.default.temporaryDirectory)
        #expect(result.succeeded, "\(result.output)")
        let available = Set(result.output.split(separator: "\n").map(String.init))
        #expect(available.count > 100, "busybox --list printed \(available.count) applets")
        for applet in InitramfsBuilder.defaultApplets {
            #expect(available.contains(applet), "busybox has no applet \(applet)")
        }
    }

    @Test func initramfsUnpacksWithInitBusyboxAndConsole() throws {
        let fakeBusybox = Array("not really busybox".utf8)
        let builder = InitramfsBuilder(
            initScript: "#!/bin/sh\necho init\n", busybox: fakeBusybox, applets: ["sh", "cat", "sh"])
        let names = try list(builder.archive())
        for expected in ["init", "bin/busybox", "bin/sh", "bin/cat", "dev/console", "proc", "sys", "tmp"] {
            #expect(names.contains(expected), "missing \(expected)")
        }
        #expect(names.filter { $0 == "bin/sh" }.count == 1)

        // Unpack for real and check contents and modes.
        let folder = try guestTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("initramfs.cpio")
        try Data(builder.archive()).write(to: file)
        let out = folder.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        // --no-absolute-filenames and no device nodes: extract only regular files and links.
        let result = try ProcessRunner.run(
            [
                "sh", "-c",
                "cpio -id --quiet --no-absolute-filenames init etc/fstab bin/busybox bin/sh < '\(file.path)'",
            ],
            in: out)
        #expect(result.succeeded, "\(result.output)")
        #expect(
            FileManager.default.contents(atPath: out.appendingPathComponent("init").path)
                == Data("#!/bin/sh\necho init\n".utf8))
        #expect(FileManager.default.isExecutableFile(atPath: out.appendingPathComponent("init").path))
        #expect(
            FileManager.default.contents(atPath: out.appendingPathComponent("etc/fstab").path)
                == Data(InitramfsBuilder.fstab.utf8))
        #expect(
            FileManager.default.contents(atPath: out.appendingPathComponent("bin/busybox").path) == Data(fakeBusybox))
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: out.appendingPathComponent("bin/sh").path)
                == "busybox")
    }

    @Test func sameInputsSameBytesAndKey() {
        let a = InitramfsBuilder(initScript: "x", busybox: [1, 2, 3])
        let b = InitramfsBuilder(initScript: "x", busybox: [1, 2, 3])
        #expect(a.archive() == b.archive())
        #expect(a.cacheKey == b.cacheKey)
        #expect(a.cacheKey != InitramfsBuilder(initScript: "y", busybox: [1, 2, 3]).cacheKey)
        #expect(a.cacheKey != InitramfsBuilder(initScript: "x", busybox: [1, 2, 4]).cacheKey)
    }

    @Test func buildWritesACompleteCacheEntryOnce() throws {
        let folder = try guestTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let cache = GuestCache(root: folder)
        let builder = InitramfsBuilder(initScript: "#!/bin/sh\n", busybox: [0x7f, 0x45, 0x4c, 0x46])
        var lines: [String] = []
        let first = try builder.build(into: cache) { lines.append($0) }
        let second = try builder.build(into: cache) { lines.append($0) }
        #expect(first == second)
        #expect(lines.count == 2 && lines[0].contains("built") && lines[1].contains("cached"))
        #expect(cache.newestEntry(prefix: "initramfs")?.path == first.deletingLastPathComponent().path)
    }

    @Test func theProjectInitScriptIsValidShellAndPrintsTheMarkers() throws {
        let script = guestTestsRepositoryRoot.appendingPathComponent("ci/guest/init.sh")
        let check = try ProcessRunner.run(["sh", "-n", script.path])
        #expect(check.succeeded, "sh -n: \(check.output)")
        let text = try String(contentsOf: script, encoding: .utf8)
        #expect(text.contains("echo \"\(GuestCommandLine.readyMarker) uptime="))
        #expect(text.contains("echo \"\(GuestCommandLine.exitMarker) status=$status\""))
    }
}
