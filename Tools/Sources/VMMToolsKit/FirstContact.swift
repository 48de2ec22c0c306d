// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets

/// CI's `first-contact` step: the README's first command as a new user runs it, on a machine
/// with no guest assets. `HOME` is an empty folder (so the cache is empty), the cache and asset
/// variables are unset and `../shared` is hidden (`VMM_GUEST_NO_SHARED`), so integration-vmm
/// must build the kernel and initramfs from Debian's packages and then boot them.
///
/// ```swift
/// let outcome = try FirstContact(workspaceRoot: root).run(emit: { print($0) })
/// ```
public struct FirstContact {
    /// The checkout whose README command runs.
    public var workspaceRoot: URL
    /// The command, as the README's "Two commands" section writes it, with a guest command so
    /// it ends by itself (no terminal here).
    public var command = "ci/bootstrap && swift run integration-vmm --command 'uname -r'"

    /// Prefix of the line integration-vmm prints once a cold start built the assets
    /// (`... ready in 4m2s (242 s)`).
    public static let readyLine = "integration-vmm: guest assets ready in"

    /// A step for the checkout at `workspaceRoot`.
    public init(workspaceRoot: URL) { self.workspaceRoot = workspaceRoot }

    /// What one run showed.
    public struct Report: Equatable, Sendable {
        /// Seconds integration-vmm spent building assets, from its ready line; nil when it built nothing.
        public var buildSeconds: Int?
        /// The guest's `uname -r`, when the command printed one.
        public var guestRelease: String?

        /// Reads integration-vmm's output (merged stdout and stderr).
        public init(output: String) {
            for line in output.split(whereSeparator: \.isNewline).map(String.init) {
                if line.hasPrefix(FirstContact.readyLine), let open = line.lastIndex(of: "("),
                    let seconds = Int(line[line.index(after: open)...].prefix { $0.isNumber })
                {
                    buildSeconds = seconds
                }
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if Self.isRelease(trimmed) { guestRelease = trimmed }
            }
        }

        /// `6.12.57`, `6.1.0-28-cloud-amd64`: digits, a dot, digits, then anything without spaces.
        static func isRelease(_ text: String) -> Bool {
            let parts = text.split(separator: ".", maxSplits: 2)
            return parts.count >= 2 && !text.contains(" ") && parts[0].allSatisfy(\.isNumber)
                && !parts[0].isEmpty && parts[1].first?.isNumber == true
        }
    }

    /// Runs the command with an empty `HOME`, removes that folder, and judges the run: exit 0,
    /// the assets were built (the cold path ran), and the guest printed its kernel release.
    public func run(emit: @escaping (String) -> Void) throws -> StepOutcome {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent(
            "swift-vmm-first-contact-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        emit("first-contact: HOME=\(home.path), no guest cache, \(GuestAssets.noSharedVariable)=1: \(command)")
        let started = Date()
        let arguments =
            ["-u", "VMM_GUEST_CACHE", "-u", "VMM_GUEST_KERNEL", "-u", "VMM_GUEST_INITRAMFS"]
            + ["HOME=\(home.path)", "\(GuestAssets.noSharedVariable)=1", "bash", "-c", command]
        let result = try ProcessRunner.run(arguments, in: workspaceRoot, echo: true)
        let total = Int(Date().timeIntervalSince(started))
        let report = Report(output: result.output)
        let verdict: (Bool, String)
        if !result.succeeded {
            verdict = (false, "exit \(result.status) after \(total) s")
        } else if report.buildSeconds == nil {
            verdict = (false, "the guest assets were not built: something outside the empty HOME was used")
        } else if report.guestRelease == nil {
            verdict = (false, "no kernel release from the guest's uname -r")
        } else {
            let build = report.buildSeconds ?? 0
            verdict = (
                true,
                "cold: assets \(build) s, then boot and command \(max(total - build, 0)) s; "
                    + "guest \(report.guestRelease ?? "?")"
            )
        }
        emit("first-contact: \(verdict.1)")
        return StepOutcome(name: "first-contact", passed: verdict.0, seconds: 0, detail: verdict.1)
    }
}
