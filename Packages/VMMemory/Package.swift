// swift-tools-version: 6.2
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VMMemory",
    products: [
        .library(name: "VMMemory", targets: ["VMMemory"]),
        .library(name: "VMMemoryLinux", targets: ["VMMemoryLinux"]),
    ],
    dependencies: [
        .package(path: "../PortableTesting"),
        .package(path: "../VMMSysUtil"),
    ],
    targets: [
        .target(name: "VMMemory"),
        .target(
            name: "VMMemoryLinux",
            dependencies: ["VMMemory", .product(name: "VMMSysUtil", package: "VMMSysUtil")]),
        .target(
            name: "VMMemoryPortableTests",
            dependencies: ["VMMemory", .product(name: "PortableTesting", package: "PortableTesting")],
            path: "Tests/VMMemoryPortableTests"),
        .testTarget(
            name: "VMMemoryTests",
            dependencies: [
                "VMMemory", "VMMemoryPortableTests", .product(name: "PortableTesting", package: "PortableTesting"),
            ]),
        .testTarget(name: "VMMemoryLinuxTests", dependencies: ["VMMemory", "VMMemoryLinux"]),
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
