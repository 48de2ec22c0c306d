// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets

/// Builds the busybox initramfs: `/init` from `ci/guest/init.sh`, a static busybox
/// with symlinks for the applets tests use, and `/dev/console`, as an uncompressed
/// newc cpio (decompressing a gzip initramfs costs ~50 s in PVM's emulated kernel mode).
///
/// ```swift
/// let builder = InitramfsBuilder(initScript: script, busybox: busyboxBytes)
/// let archive = builder.archive()
/// ```
public struct InitramfsBuilder: Sendable {
    /// The `/init` shell script.
    public var initScript: String
    /// The static busybox binary.
    public var busybox: [UInt8]
    /// Applets linked in `/bin` (each is a symlink to busybox; unpacking each costs emulated time).
    public var applets: [String]

    /// Applets the init script, typical test commands and the interactive shell use.
    public static let defaultApplets = [
        "sh", "mount", "umount", "cat", "echo", "printf", "test", "[", "true", "false", "sleep", "ls", "mkdir",
        "rm", "cp", "mv", "ln", "chmod", "mknod", "uname", "nproc", "dmesg", "grep", "sed", "head", "tail", "wc",
        "tr", "cut", "sort", "uniq", "seq", "tee", "env", "ps", "kill", "date", "stat", "dd", "sync", "od",
        "hexdump", "md5sum", "sha256sum", "find", "xargs", "free", "ip", "ifconfig", "route", "ping", "nc", "wget",
        "udhcpc", "hostname", "poweroff", "reboot", "halt", "readlink", "basename",
        "dirname", "yes", "timeout", "watchdog", "setsid", "stty", "vi", "less", "clear",
    ]

    /// `/etc/fstab`: what `/init` mounts with a single `mount -a` (each process it starts costs
    /// emulated kernel time on PVM hosts, so three mounts are one process).
    public static let fstab = """
        proc /proc proc defaults 0 0
        sysfs /sys sysfs defaults 0 0
        devtmpfs /dev devtmpfs defaults 0 0

        """

    /// `/etc/profile`, read by the interactive login shell `/init` starts for `vmm.shell`.
    /// busybox `poweroff`, `reboot` and `halt` signal PID 1, but `/init` is a shell script
    /// waiting for that login shell and would act only after it exits: in the shell they
    /// sync and stop the guest themselves.
    public static let profile = """
        export HOME=/root TERM=vt100 PS1='\(GuestCommandLine.shellPrompt)\\w# '
        poweroff() { sync; command poweroff -f "$@"; }
        reboot() { sync; command reboot -f "$@"; }
        halt() { sync; command halt -f "$@"; }

        """

    /// A builder with the default applet list.
    public init(initScript: String, busybox: [UInt8], applets: [String] = InitramfsBuilder.defaultApplets) {
        self.initScript = initScript
        self.busybox = busybox
        self.applets = applets
    }

    /// The content hash naming the cache entry (script, busybox, applets).
    public var cacheKey: String {
        var key = GuestCacheKey(kind: "initramfs")
        key.add("init", initScript)
        key.add("busybox", busybox)
        key.add("applets", applets.joined(separator: " "))
        key.add("fstab", Self.fstab)
        key.add("profile", Self.profile)
        return key.digest
    }

    /// The archive bytes.
    public func archive() -> [UInt8] {
        var cpio = CpioArchive()
        for folder in ["bin", "sbin", "dev", "proc", "sys", "tmp", "mnt", "etc", "root", "run"] {
            cpio.directory(folder, mode: folder == "tmp" ? 0o1777 : 0o755)
        }
        cpio.characterDevice("dev/console", major: 5, minor: 1)
        cpio.characterDevice("dev/null", major: 1, minor: 3, mode: 0o666)
        cpio.file("bin/busybox", contents: busybox, mode: 0o755)
        for applet in applets where !cpio.contains("bin/\(applet)") {
            cpio.symlink("bin/\(applet)", target: "busybox")
        }
        cpio.file("etc/fstab", contents: Array(Self.fstab.utf8), mode: 0o644)
        cpio.file("etc/profile", contents: Array(Self.profile.utf8), mode: 0o644)
        cpio.file("init", contents: Array(initScript.utf8), mode: 0o755)
        return cpio.finish()
    }

    /// Builds into the cache (or returns the existing entry): `<cache>/initramfs-<key>/initramfs.cpio`.
    public func build(into cache: GuestCache, log: (String) -> Void) throws(GuestBuildError) -> URL {
        let entry = cache.initramfsEntry(key: cacheKey)
        let output = entry.appendingPathComponent(GuestAssets.initramfsFileName)
        let marker = entry.appendingPathComponent(GuestCache.completeMarker)
        if FileManager.default.fileExists(atPath: marker.path) {
            log("initramfs: cached \(output.path)")
            return output
        }
        let bytes = archive()
        do {
            try FileManager.default.createDirectory(at: entry, withIntermediateDirectories: true)
            try Data(bytes).write(to: output, options: .atomic)
            try Data("initramfs \(cacheKey)\n".utf8).write(to: marker, options: .atomic)
        } catch {
            throw GuestBuildError("initramfs: cannot write \(entry.path): \(error)")
        }
        log("initramfs: built \(output.path) (\(bytes.count) bytes, \(applets.count) applets)")
        return output
    }

    /// Reads `ci/guest/init.sh` from the workspace and `/bin/busybox` (busybox-static).
    public static func fromWorkspace(
        _ root: URL, busyboxPath: String = "/bin/busybox"
    ) throws(GuestBuildError)
        -> InitramfsBuilder
    {
        let scriptURL = root.appendingPathComponent("ci/guest/init.sh")
        guard let script = try? String(contentsOf: scriptURL, encoding: .utf8) else {
            throw GuestBuildError("initramfs: cannot read \(scriptURL.path)")
        }
        guard let busybox = FileManager.default.contents(atPath: busyboxPath) else {
            throw GuestBuildError("initramfs: no \(busyboxPath); install busybox-static (ci/bootstrap)")
        }
        // A dynamically linked busybox would need a libc in the initramfs.
        if busybox.range(of: Data("/lib64/ld-linux".utf8)) != nil {
            throw GuestBuildError("initramfs: \(busyboxPath) is dynamically linked; install busybox-static")
        }
        return InitramfsBuilder(initScript: script, busybox: Array(busybox))
    }
}
