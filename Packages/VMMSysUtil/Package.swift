// swift-tools-version: 6.2
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VMMSysUtil",
    products: [
        .library(name: "VMMSysUtil", targets: ["VMMSysUtil"])
    ],
    targets: [
        .target(name: "CVMMSysUtil"),
        .target(name: "VMMSysUtil", dependencies: ["CVMMSysUtil"]),
        .testTarget(name: "VMMSysUtilTests", dependencies: ["VMMSysUtil"]),
    ]
)

// Swift 6.2 strict memory safety (SE-0458) on every library and executable target:
// each unsafe construct is an `unsafe` expression the compiler found (an unmarked
// one fails the build), and `vmm-tools lint` requires a `// SAFETY:` comment on
// each. Tests are exempt.
for target in package.targets where target.type != .test && !(target.path ?? "").hasPrefix("Tests/") {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [.strictMemorySafety(), .treatWarning("StrictMemorySafety", as: .error)]
}
