// swift-tools-version: 6.2
// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

// The workspace manifest: every package under Packages/, the vmm-tools CLI and
// integration-vmm in ONE build graph, so `swift build` / `swift test` here
// compile each module once.
//
// Each Packages/<Name>/Package.swift is the source of truth for its own targets
// (that manifest is what gets released). The `mirror` entries below repeat those
// targets with workspace paths; `vmm-tools lint` (rule `manifest`) fails when a
// target, a dependency or a setting here differs from the package's manifest.

import PackageDescription

/// Target kinds a package manifest can declare. `portableTests` is a library of
/// portable test cases at `Tests/<Name>` (run by swift test and on riscv64).
enum Kind { case library, test, executable, portableTests }

/// One target of `Packages/<package>/Package.swift`, placed at its workspace path.
/// `dependencies` are target names (cross-package products are named by target).
func mirror(
    _ package: String, _ name: String, _ kind: Kind = .library, dependencies: [String] = [],
    exclude: [String] = [], cSettings: [CSetting]? = nil, swiftSettings: [SwiftSetting]? = nil,
    linkerSettings: [LinkerSetting]? = nil
) -> Target {
    let deps = dependencies.map { Target.Dependency.target(name: $0) }
    switch kind {
    case .library:
        return .target(
            name: name, dependencies: deps, path: "Packages/\(package)/Sources/\(name)", exclude: exclude,
            cSettings: cSettings, swiftSettings: swiftSettings, linkerSettings: linkerSettings)
    case .executable:
        return .executableTarget(
            name: name, dependencies: deps, path: "Packages/\(package)/Sources/\(name)", exclude: exclude,
            cSettings: cSettings, swiftSettings: swiftSettings, linkerSettings: linkerSettings)
    case .portableTests:
        return .target(
            name: name, dependencies: deps, path: "Packages/\(package)/Tests/\(name)", exclude: exclude,
            cSettings: cSettings, swiftSettings: swiftSettings, linkerSettings: linkerSettings)
    case .test:
        return .testTarget(
            name: name, dependencies: deps, path: "Packages/\(package)/Tests/\(name)", exclude: exclude,
            cSettings: cSettings, swiftSettings: swiftSettings, linkerSettings: linkerSettings)
    }
}

// MARK: - Packages (mirrors of Packages/<Name>/Package.swift, bottom layer first)

let packageTargets: [Target] = [
    // Packages/VMMSysUtil
    mirror("VMMSysUtil", "CVMMSysUtil"),
    mirror("VMMSysUtil", "VMMSysUtil", dependencies: ["CVMMSysUtil"]),
    mirror("VMMSysUtil", "VMMSysUtilTests", .test, dependencies: ["VMMSysUtil"]),
    // Packages/PortableTesting
    mirror("PortableTesting", "PortableTesting"),
    mirror("PortableTesting", "PortableTestingPortableTests", .portableTests, dependencies: ["PortableTesting"]),
    mirror(
        "PortableTesting", "PortableTestingTests", .test,
        dependencies: ["PortableTesting", "PortableTestingPortableTests"]),
    // @section system-and-kvm (KVMBindings, KVMIoctls, Hypervisor)
    mirror("KVMBindings", "KVMBindings"),
    mirror("KVMBindings", "KVMBindingsTests", .test, dependencies: ["KVMBindings"]),
    mirror("KVMIoctls", "KVMIoctls", dependencies: ["KVMBindings", "VMMSysUtil"]),
    mirror("KVMIoctls", "KVMIoctlsTests", .test, dependencies: ["KVMIoctls", "VMMSysUtil"]),
    mirror("Hypervisor", "Hypervisor", dependencies: ["KVMIoctls", "VMDevice", "VMMSysUtil", "X86Machine"]),
    mirror(
        "Hypervisor", "HypervisorTests", .test,
        dependencies: ["Hypervisor", "KVMIoctls", "VMDevice", "VMMSysUtil", "X86Machine"]),
    // @section memory (VMMemory)
    mirror("VMMemory", "VMMemory"),
    mirror("VMMemory", "VMMemoryLinux", dependencies: ["VMMemory", "VMMSysUtil"]),
    mirror("VMMemory", "VMMemoryPortableTests", .portableTests, dependencies: ["VMMemory", "PortableTesting"]),
    mirror(
        "VMMemory", "VMMemoryTests", .test,
        dependencies: ["VMMemory", "VMMemoryPortableTests", "PortableTesting"]),
    mirror("VMMemory", "VMMemoryLinuxTests", .test, dependencies: ["VMMemory", "VMMemoryLinux"]),
    // @section legacy-devices (VMSuperIO, VMDevice)
    mirror("VMSuperIO", "VMSuperIO"),
    mirror("VMSuperIO", "VMSuperIOPortableTests", .portableTests, dependencies: ["VMSuperIO", "PortableTesting"]),
    mirror(
        "VMSuperIO", "VMSuperIOTests", .test,
        dependencies: ["VMSuperIO", "VMSuperIOPortableTests", "PortableTesting"]),
    mirror("VMDevice", "VMDevice"),
    mirror("VMDevice", "VMDevicePortableTests", .portableTests, dependencies: ["VMDevice", "PortableTesting"]),
    mirror(
        "VMDevice", "VMDeviceTests", .test, dependencies: ["VMDevice", "VMDevicePortableTests", "PortableTesting"]),
    // @section event-manager (EventManager)
    mirror("EventManager", "EventManager", dependencies: ["VMMSysUtil"]),
    mirror("EventManager", "EventManagerTests", .test, dependencies: ["EventManager", "VMMSysUtil"]),
    // @section boot (VMAllocator, VMFDT, LinuxLoader, ACPITables)
    mirror("VMAllocator", "VMAllocator"),
    mirror(
        "VMAllocator", "VMAllocatorPortableTests", .portableTests, dependencies: ["VMAllocator", "PortableTesting"]),
    mirror(
        "VMAllocator", "VMAllocatorTests", .test,
        dependencies: ["VMAllocator", "VMAllocatorPortableTests", "PortableTesting"]),
    mirror("VMFDT", "VMFDT"),
    mirror("VMFDT", "VMFDTPortableTests", .portableTests, dependencies: ["VMFDT", "PortableTesting"]),
    mirror("VMFDT", "VMFDTTests", .test, dependencies: ["VMFDT", "VMFDTPortableTests", "PortableTesting"]),
    mirror("ACPITables", "ACPITables"),
    mirror("ACPITables", "ACPITablesPortableTests", .portableTests, dependencies: ["ACPITables", "PortableTesting"]),
    mirror(
        "ACPITables", "ACPITablesTests", .test,
        dependencies: ["ACPITables", "ACPITablesPortableTests", "PortableTesting"]),
    mirror("LinuxLoader", "LinuxLoader", dependencies: ["VMMemory"]),
    mirror(
        "LinuxLoader", "LinuxLoaderPortableTests", .portableTests,
        dependencies: ["LinuxLoader", "PortableTesting", "VMMemory"]),
    mirror(
        "LinuxLoader", "LinuxLoaderTests", .test,
        dependencies: ["LinuxLoader", "LinuxLoaderPortableTests", "PortableTesting", "VMMemory"]),
    mirror("X86Machine", "X86Machine", dependencies: ["LinuxLoader", "VMMemory"]),
    mirror(
        "X86Machine", "X86MachinePortableTests", .portableTests,
        dependencies: ["X86Machine", "LinuxLoader", "PortableTesting", "VMMemory"]),
    mirror(
        "X86Machine", "X86MachineTests", .test,
        dependencies: ["X86Machine", "X86MachinePortableTests", "PortableTesting"]),
    // @section virtio (VirtioQueue, VirtioDevices)
    mirror("VirtioQueue", "VirtioQueue", dependencies: ["VMMemory"]),
    mirror(
        "VirtioQueue", "VirtioQueuePortableTests", .portableTests,
        dependencies: ["VirtioQueue", "PortableTesting", "VMMemory"]),
    mirror(
        "VirtioQueue", "VirtioQueueTests", .test,
        dependencies: ["VirtioQueue", "VirtioQueuePortableTests", "PortableTesting", "VMMemory"]),
    mirror(
        "VirtioDevices", "VirtioDevices",
        dependencies: ["EventManager", "VMDevice", "VMMSysUtil", "VMMemory", "VMMemoryLinux", "VirtioQueue"]),
    mirror(
        "VirtioDevices", "VirtioDevicesTests", .test,
        dependencies: [
            "VirtioDevices", "EventManager", "VMDevice", "VMMSysUtil", "VMMemory", "VMMemoryLinux", "VirtioQueue",
        ]),
    // @section vhost (Vhost)
    mirror("Vhost", "Vhost"),
    mirror(
        "Vhost", "VhostUser",
        dependencies: [
            "Vhost", "EventManager", "VMDevice", "VMMSysUtil", "VMMemory", "VMMemoryLinux", "VirtioDevices",
            "VirtioQueue",
        ]),
    mirror("Vhost", "VhostPortableTests", .portableTests, dependencies: ["Vhost", "PortableTesting"]),
    mirror(
        "Vhost", "VhostTests", .test,
        dependencies: [
            "Vhost", "VhostUser", "VhostPortableTests", "PortableTesting", "VMMSysUtil", "VMMemory", "VMMemoryLinux",
            "EventManager", "VMDevice", "VirtioDevices", "VirtioQueue",
        ]),
    // @section vhost-user-backend (VhostUserBackend)
    mirror(
        "VhostUserBackend", "VhostUserBackend",
        dependencies: [
            "EventManager", "Seccompiler", "VMDevice", "VMMSysUtil", "VMMemory", "VMMemoryLinux", "Vhost",
            "VirtioDevices", "VirtioQueue",
        ]),
    mirror(
        "VhostUserBackend", "vhost-device-rng", .executable,
        dependencies: ["VhostUserBackend", "VMMemory", "VMMemoryLinux", "VirtioDevices"]),
    mirror(
        "VhostUserBackend", "vhost-device-blk", .executable,
        dependencies: ["VhostUserBackend", "VMMemory", "VMMemoryLinux", "VirtioDevices"]),
    mirror(
        "VhostUserBackend", "vhost-device-vsock", .executable,
        dependencies: ["VhostUserBackend", "VMMemory", "VMMemoryLinux", "VirtioDevices"]),
    mirror(
        "VhostUserBackend", "VhostUserBackendTests", .test,
        dependencies: [
            "VhostUserBackend", "EventManager", "Seccompiler", "VMMSysUtil", "VMMemory", "VMMemoryLinux", "Vhost",
            "VhostUser", "VirtioDevices",
        ]),
    // @section sandbox (Seccompiler)
    mirror("Seccompiler", "CSeccomp", linkerSettings: [.linkedLibrary("seccomp")]),
    mirror("Seccompiler", "Seccompiler", dependencies: ["CSeccomp", "VMMSysUtil"]),
    mirror("Seccompiler", "SeccompilerTests", .test, dependencies: ["Seccompiler", "VMMSysUtil", "PortableTesting"]),
]

// MARK: - Tools and IntegrationVMM (workspace-only, never released as packages)

let workspaceTargets: [Target] = [
    // @section tools-extra (workspace-only helper targets, e.g. GuestAssets)
    .target(name: "GuestAssets", path: "Tools/Sources/GuestAssets"),
    .target(
        name: "VMMToolsKit",
        dependencies: [
            "GuestAssets", "Hypervisor", "KVMBindings", "KVMIoctls", "VMMSysUtil", "VMSuperIO", "VMMemory",
            "VMMemoryLinux", "X86Machine",
        ],
        path: "Tools/Sources/VMMToolsKit"),
    .executableTarget(
        name: "vmm-tools",
        dependencies: [
            "VMMToolsKit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        path: "Tools/Sources/vmm-tools"),
    .testTarget(
        name: "VMMToolsKitTests",
        dependencies: ["VMMToolsKit"],
        path: "Tools/Tests/VMMToolsKitTests"),
    .target(
        name: "IntegrationVMMCore",
        dependencies: [
            "ACPITables", "EventManager", "Hypervisor", "LinuxLoader", "VMDevice",
            "Seccompiler", "VMMSysUtil", "VMMemory", "VMMemoryLinux", "VMSuperIO", "Vhost", "VhostUser",
            "VirtioDevices", "X86Machine",
        ],
        path: "IntegrationVMM/Sources/IntegrationVMMCore",
        resources: [.embedInCode("Seccomp/x86_64.json")]),
    .target(
        name: "IntegrationVMMAPI",
        dependencies: [
            "IntegrationVMMCore", "Hypervisor", "VMMSysUtil",
            .product(name: "Hummingbird", package: "hummingbird"),
        ],
        path: "IntegrationVMM/Sources/IntegrationVMMAPI"),
    .executableTarget(
        name: "integration-vmm",
        dependencies: [
            "IntegrationVMMCore", "IntegrationVMMAPI", "GuestAssets", "Seccompiler", "VMMSysUtil", "VMMToolsKit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        path: "IntegrationVMM/Sources/integration-vmm"),
    .testTarget(
        name: "IntegrationVMMTests",
        dependencies: [
            "IntegrationVMMCore", "IntegrationVMMAPI", "GuestAssets", "Hypervisor", "Seccompiler", "VMDevice",
            "VMMSysUtil", "VMSuperIO",
            "VhostUser", "VirtioDevices", "integration-vmm", "vhost-device-blk", "vhost-device-rng",
            "vhost-device-vsock",
        ],
        path: "IntegrationVMM/Tests/IntegrationVMMTests"),
]

let package = Package(
    name: "swift-vmm",
    products: [
        .executable(name: "vmm-tools", targets: ["vmm-tools"]),
        .executable(name: "integration-vmm", targets: ["integration-vmm"]),
        .executable(name: "vhost-device-rng", targets: ["vhost-device-rng"]),
        .executable(name: "vhost-device-blk", targets: ["vhost-device-blk"]),
        .executable(name: "vhost-device-vsock", targets: ["vhost-device-vsock"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: packageTargets + workspaceTargets
)

// Swift 6.2 strict memory safety (SE-0458) on every library and executable target,
// the same loop as in each package's manifest (so the `manifest` lint sees equal
// settings): each unsafe construct is an `unsafe` expression the compiler found
// (an unmarked one fails the build), and `vmm-tools lint` requires a `// SAFETY:`
// comment on each. Tests are exempt.
for target in package.targets where target.type != .test && !(target.path ?? "").contains("/Tests/") {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [.strictMemorySafety(), .treatWarning("StrictMemorySafety", as: .error)]
}
