// swift-tools-version: 6.2
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VMFDT",
    products: [
        .library(name: "VMFDT", targets: ["VMFDT"])
    ],
    dependencies: [
        .package(path: "../PortableTesting")
    ],
    targets: [
        .target(name: "VMFDT"),
        .target(
            name: "VMFDTPortableTests",
            dependencies: ["VMFDT", .product(name: "PortableTesting", package: "PortableTesting")],
            path: "Tests/VMFDTPortableTests"),
        .testTarget(
            name: "VMFDTTests",
            dependencies: [
                "VMFDT", "VMFDTPortableTests",
                .product(name: "PortableTesting", package: "PortableTesting"),
            ]),
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
