// swift-tools-version: 6.1
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
