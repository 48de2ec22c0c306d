// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "VMSuperIO",
    products: [
        .library(name: "VMSuperIO", targets: ["VMSuperIO"])
    ],
    dependencies: [
        .package(path: "../PortableTesting")
    ],
    targets: [
        .target(name: "VMSuperIO"),
        .target(
            name: "VMSuperIOPortableTests",
            dependencies: ["VMSuperIO", .product(name: "PortableTesting", package: "PortableTesting")],
            path: "Tests/VMSuperIOPortableTests"),
        .testTarget(
            name: "VMSuperIOTests",
            dependencies: [
                "VMSuperIO", "VMSuperIOPortableTests", .product(name: "PortableTesting", package: "PortableTesting"),
            ]),
    ]
)
