// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "LinuxLoader",
    products: [
        .library(name: "LinuxLoader", targets: ["LinuxLoader"])
    ],
    dependencies: [
        .package(path: "../PortableTesting"),
        .package(path: "../VMMemory"),
    ],
    targets: [
        .target(name: "LinuxLoader", dependencies: [.product(name: "VMMemory", package: "VMMemory")]),
        .target(
            name: "LinuxLoaderPortableTests",
            dependencies: [
                "LinuxLoader", .product(name: "PortableTesting", package: "PortableTesting"),
                .product(name: "VMMemory", package: "VMMemory"),
            ],
            path: "Tests/LinuxLoaderPortableTests"),
        .testTarget(
            name: "LinuxLoaderTests",
            dependencies: [
                "LinuxLoader", "LinuxLoaderPortableTests",
                .product(name: "PortableTesting", package: "PortableTesting"),
                .product(name: "VMMemory", package: "VMMemory"),
            ]),
    ]
)
