// swift-tools-version: 6.2
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VirtioQueue",
    products: [
        .library(name: "VirtioQueue", targets: ["VirtioQueue"])
    ],
    dependencies: [
        .package(path: "../PortableTesting"),
        .package(path: "../VMMemory"),
    ],
    targets: [
        .target(name: "VirtioQueue", dependencies: [.product(name: "VMMemory", package: "VMMemory")]),
        .target(
            name: "VirtioQueuePortableTests",
            dependencies: [
                "VirtioQueue", .product(name: "PortableTesting", package: "PortableTesting"),
                .product(name: "VMMemory", package: "VMMemory"),
            ],
            path: "Tests/VirtioQueuePortableTests"),
        .testTarget(
            name: "VirtioQueueTests",
            dependencies: [
                "VirtioQueue", "VirtioQueuePortableTests",
                .product(name: "PortableTesting", package: "PortableTesting"),
                .product(name: "VMMemory", package: "VMMemory"),
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
