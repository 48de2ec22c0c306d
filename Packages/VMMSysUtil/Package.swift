// swift-tools-version: 6.1
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
