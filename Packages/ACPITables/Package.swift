// swift-tools-version: 6.1
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PackageDescription

let package = Package(
    name: "ACPITables",
    products: [
        .library(name: "ACPITables", targets: ["ACPITables"])
    ],
    dependencies: [
        .package(path: "../PortableTesting")
    ],
    targets: [
        .target(name: "ACPITables"),
        .target(
            name: "ACPITablesPortableTests",
            dependencies: ["ACPITables", .product(name: "PortableTesting", package: "PortableTesting")],
            path: "Tests/ACPITablesPortableTests"),
        .testTarget(
            name: "ACPITablesTests",
            dependencies: [
                "ACPITables", "ACPITablesPortableTests",
                .product(name: "PortableTesting", package: "PortableTesting"),
            ]),
    ]
)
