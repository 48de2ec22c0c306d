// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import GuestAssets
import VMMToolsKit

/// The default guest's kernel and initramfs: found where `GuestAssets` looks, and built
/// once into the cache when missing, so `swift run integration-vmm` works on a new machine.
///
/// The initramfs is always the one built from this checkout's `ci/guest/init.sh` (unless one
/// is passed): it is seconds to build, cached by content, and an older cached or shared
/// archive may not know the parameters this binary passes (`vmm.shell`).
struct DefaultGuest {
    /// The checkout holding `ci/guest/`, when this binary was built from one that still exists.
    var workspace: URL?
    var environment: [String: String] = ProcessInfo.processInfo.environment
    var flavor: GuestFlavor = .forHost()
    /// One progress line (stderr).
    var log: (String) -> Void

    func assets(kernelPath: String?, initramfsPath: String?) throws -> GuestAssets {
        let cache = GuestCache(environment: environment)
        let started = ContinuousClock.now
        var built = false
        var assets: GuestAssets
        do {
            assets = try locate(kernelPath: kernelPath, initramfsPath: initramfsPath)
        } catch {
            // Only the default kernel is ours to build: a named one that is missing is the caller's error.
            guard kernelPath == nil, nonEmpty("VMM_GUEST_KERNEL") == nil, let workspace else { throw error }
            log(
                "integration-vmm: no \(flavor.rawValue) guest kernel yet; \(Self.buildDescription(flavor)) "
                    + "into \(cache.root.path) (once; later runs start at once)")
            let builder = KernelBuilder(workspaceRoot: workspace, cache: cache) { log("integration-vmm: \($0)") }
            _ = try builder.prepare(flavor)
            assets = try locate(kernelPath: kernelPath, initramfsPath: initramfsPath)
            built = true
        }
        if initramfsPath == nil, nonEmpty("VMM_GUEST_INITRAMFS") == nil, let workspace {
            let builder = try InitramfsBuilder.fromWorkspace(workspace)
            let entry = cache.initramfsEntry(key: builder.cacheKey)
            let fresh = !FileManager.default.fileExists(
                atPath: entry.appendingPathComponent(GuestCache.completeMarker).path)
            assets.initramfs = try builder.build(into: cache) { if fresh { log("integration-vmm: \($0)") } }
            built = built || fresh
        }
        if built {
            let seconds = (ContinuousClock.now - started).components.seconds
            log("\(FirstContact.readyLine) \(seconds / 60)m\(seconds % 60)s (\(seconds) s)")
        }
        return assets
    }

    /// What a cold start does for `flavor`, and roughly how long it takes here.
    static func buildDescription(_ flavor: GuestFlavor) -> String {
        switch flavor {
        case .pvm:
            return "building it from Debian's \(KernelBuilder.sourcePackage) (about 4-6 minutes on 2 cores)"
        case .standard:
            return "unpacking Debian's \(KernelBuilder.standardMetapackage) (about a minute)"
        }
    }

    private func locate(kernelPath: String?, initramfsPath: String?) throws(GuestAssetsError) -> GuestAssets {
        try GuestAssets.locate(
            kernelPath: kernelPath, initramfsPath: initramfsPath, flavor: flavor, environment: environment,
            repositoryRoot: workspace)
    }

    private func nonEmpty(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
}
