// swift-tools-version: 6.2
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "Hypervisor",
    products: [
        .library(name: "Hypervisor", targets: ["Hypervisor"])
    ],
    dependencies: [
        .package(path: "../KVMIoctls"),
        .package(path: "../VMDevice"),
        .package(path: "../VMMSysUtil"),
        .package(path: "../X86Machine"),
    ],
    targets: [
        .target(
            name: "Hypervisor",
            dependencies: [
                .product(name: "KVMIoctls", package: "KVMIoctls"),
                .product(name: "VMDevice", package: "VMDevice"),
                .product(name: "VMMSysUtil", package: "VMMSysUtil"),
                .product(name: "X86Machine", package: "X86Machine"),
            ]),
        .testTarget(
            name: "HypervisorTests",
            dependencies: [
                "Hypervisor",
                .product(name: "KVMIoctls", package: "KVMIoctls"),
                .product(name: "VMDevice", package: "VMDevice"),
                .product(name: "VMMSysUtil", package: "VMMSysUtil"),
                .product(name: "X86Machine", package: "X86Machine"),
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
