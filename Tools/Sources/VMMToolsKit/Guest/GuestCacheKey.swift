// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// The content hash naming a cache entry: equal inputs give the same key on every
/// clone, and changing any input (a fragment line, the patch, the source package
/// version, the flavor) gives a new one.
///
/// ```swift
/// var key = GuestCacheKey(kind: "pvm")
/// key.add("source-version", "6.12.117-1~deb12u1")
/// key.add("pvm.config", fragmentBytes)
/// print(key.digest)   // 16 hex digits
/// ```
public struct GuestCacheKey: Sendable {
    private var parts: [(label: String, bytes: [UInt8])] = []
    /// What is being cached (`pvm`, `standard`, `initramfs`).
    public let kind: String

    /// Bumped when the build recipe in this code changes in a way the inputs do not show.
    public static let recipeVersion = "1"

    /// A key for `kind` with no inputs yet.
    public init(kind: String) { self.kind = kind }

    /// Adds one labelled input (labels keep `a`+`bc` distinct from `ab`+`c`).
    public mutating func add(_ label: String, _ bytes: [UInt8]) { parts.append((label, bytes)) }

    /// Adds one labelled text input.
    public mutating func add(_ label: String, _ text: String) { add(label, Array(text.utf8)) }

    /// The first 16 hex digits of SHA-256 over the kind, the recipe version and every
    /// input with its label and length, in the order added.
    public var digest: String {
        var hash = SHA256()
        hash.update("swift-vmm-guest \(kind) recipe \(Self.recipeVersion)\n")
        for part in parts {
            hash.update("\(part.label) \(part.bytes.count)\n")
            hash.update(part.bytes)
        }
        return String(hash.finalizeHex().prefix(16))
    }
}
