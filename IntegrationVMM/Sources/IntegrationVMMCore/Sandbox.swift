// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Seccompiler

/// The seccomp filters integration-vmm puts on its threads once setup is done.
///
/// The default policy is the reviewable file `Seccomp/x86_64.json` (Firecracker's format),
/// compiled into the binary. It has one filter per thread category: `"vmm"` for the thread
/// that waits for the guest's outcome, `"vcpu"` for each vCPU thread, `"io"` for the thread
/// serving the virtio devices. A call outside a filter
/// traps; the trap reporter turns that into one stderr line and the VMM-error exit status.
///
/// ```swift
/// var options = RunOptions()
/// options.sandbox = try Sandbox(policy: Sandbox.defaultPolicy())
/// // or, to learn a policy (the kernel audits what the filters would refuse):
/// options.sandbox = try Sandbox(policy: Sandbox.defaultPolicy(), learning: true)
/// ```
public struct Sandbox: Sendable {
    /// The thread categories a policy must define.
    public static let categories = ["io", "vcpu", "vmm"]

    /// The filter for the thread waiting for the outcome.
    public let vmm: BPFProgram
    /// The filter for each vCPU thread.
    public let vcpu: BPFProgram
    /// The filter for the virtio I/O thread (queue processing, device backends).
    public let io: BPFProgram
    /// Whether the filters log instead of trapping (`--seccomp-learn`).
    public let learning: Bool

    /// Compiles `policy`, which must define exactly the ``categories``. With `learning`, every
    /// filter's default action becomes `log`: nothing is refused, and the kernel writes an
    /// audit record (dmesg, type=1326) for each call the filters do not list.
    public init(policy: SeccompPolicy, learning: Bool = false) throws(VMMError) {
        let names = policy.names
        guard names == Self.categories else {
            throw VMMError(
                "seccomp policy: filters \(names) given; integration-vmm needs exactly \(Self.categories)")
        }
        var policy = policy
        // A coverage build writes its counters from this thread as the process exits.
        if ProfileWriter.isLinked {
            policy.filters["vmm"]?.rules.append(contentsOf: ProfileWriter.rules)
        }
        if learning {
            for name in names { policy.filters[name]?.defaultAction = .log }
        }
        let programs: [String: BPFProgram]
        do {
            programs = try policy.compile()
        } catch {
            throw VMMError("seccomp policy", cause: error)
        }
        // SAFETY of the force unwraps: `compile()` returns a program per filter, and the names were checked above.
        vmm = programs["vmm"]!
        vcpu = programs["vcpu"]!
        io = programs["io"]!
        self.learning = learning
    }

    /// The policy compiled into integration-vmm (`IntegrationVMM/Sources/IntegrationVMMCore/Seccomp`).
    public static func defaultPolicy() throws(VMMError) -> SeccompPolicy {
        try policy(jsonBytes: PackageResources.x86_64_json, origin: "built-in seccomp policy")
    }

    /// Parses a Firecracker-format policy; errors carry `origin:line:column`.
    public static func policy(jsonBytes: [UInt8], origin: String) throws(VMMError) -> SeccompPolicy {
        do {
            return try SeccompPolicy(jsonBytes: jsonBytes)
        } catch {
            throw VMMError(origin, cause: error, separator: ":")
        }
    }

    /// Reports trapped calls as one line and the VMM-error status. Call once, before any filter is installed.
    static func installTrapReporter() throws(VMMError) {
        do {
            try SeccompTrapReporter.install(prefix: "integration-vmm", exitStatus: GuestOutcome.vmmErrorStatus)
        } catch {
            throw VMMError("seccomp trap reporter", cause: error)
        }
    }

    /// Installs `program` on the calling thread only.
    static func install(_ program: BPFProgram, category: String) throws(VMMError) {
        do {
            try program.install(for: .currentThread)
        } catch {
            throw VMMError("seccomp filter \"\(category)\"", cause: error)
        }
    }
}
