// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Foundation
import Glibc
import Hypervisor
import VMMSysUtil
import VMMemory
import VMMemoryLinux
import VMSuperIO

/// A snapshot's state file (Firecracker's `snapshot_path`): a versioned JSON document that
/// names every part of a paused machine except its RAM, which is in the memory file
/// (`mem_file_path`) the ``memory`` regions point into. ``Machine/snapshot(statePath:memoryPath:)``
/// writes both; ``Machine/restore(statePath:memoryPath:options:on:)`` builds the same machine
/// from them in a new VM (or a new process).
///
/// ```swift
/// let snapshot = try MachineSnapshot.load(from: "/snapshots/vm.state")
/// print(snapshot.machine.vcpus, snapshot.memory.map(\.size))
/// ```
public struct MachineSnapshot: Codable, Sendable, Equatable {
    /// The `format` field of every state file this VMM writes.
    public static let formatName = "swift-vmm integration-vmm snapshot"
    /// The layout version this VMM writes and reads; a change of layout gets a new number.
    public static let currentVersion = 1
    /// The state file's name in a snapshot directory (`integration-vmm --restore DIR`).
    public static let stateFileName = "vm.state"
    /// The memory file's name in a snapshot directory.
    public static let memoryFileName = "vm.mem"

    /// ``formatName``.
    public var format: String
    /// ``currentVersion`` when written.
    public var version: Int
    /// What machine the state belongs to; a restore builds exactly this machine.
    public var machine: Shape
    /// Interrupt controllers, timer and clock.
    public var vm: VMState
    /// Every vCPU, in id order.
    public var vcpus: [VCPUState]
    /// COM1 (registers and FIFO contents).
    public var serial: SerialState
    /// Where each RAM region is in the memory file.
    public var memory: [MemoryRegion]

    /// A document with every part given.
    public init(
        format: String = formatName, version: Int = currentVersion, machine: Shape, vm: VMState, vcpus: [VCPUState],
        serial: SerialState, memory: [MemoryRegion]
    ) {
        self.format = format
        self.version = version
        self.machine = machine
        self.vm = vm
        self.vcpus = vcpus
        self.serial = serial
        self.memory = memory
    }

    /// The machine a state belongs to.
    public struct Shape: Codable, Sendable, Equatable {
        /// vCPU count.
        public var vcpus: Int
        /// Guest RAM in bytes.
        public var memorySize: UInt64
        /// The kernel command line the guest booted with (with the virtio parameters added).
        public var commandLine: String
        /// The host flavour the state was saved on (`pvm`, `vmx` ...): vCPU state does not move between flavours.
        public var hostFlavour: String
        /// Virtio devices, as the command line gave them (empty: the machine has none).
        public var virtioDevices: [String]

        /// A shape with every field given.
        public init(vcpus: Int, memorySize: UInt64, commandLine: String, hostFlavour: String, virtioDevices: [String]) {
            self.vcpus = vcpus
            self.memorySize = memorySize
            self.commandLine = commandLine
            self.hostFlavour = hostFlavour
            self.virtioDevices = virtioDevices
        }
    }

    /// One RAM region's bytes in the memory file.
    public struct MemoryRegion: Codable, Sendable, Equatable {
        /// Its first guest-physical address.
        public var guestAddress: UInt64
        /// Bytes.
        public var size: UInt64
        /// Where it starts in the memory file (a page multiple).
        public var fileOffset: UInt64

        /// A region `size` bytes long at `guestAddress`, stored from `fileOffset`.
        public init(guestAddress: UInt64, size: UInt64, fileOffset: UInt64) {
            self.guestAddress = guestAddress
            self.size = size
            self.fileOffset = fileOffset
        }
    }

    /// Reads a state file and checks its format and version.
    public static func load(from path: String) throws(VMMError) -> MachineSnapshot {
        let bytes = try IntegrationVMM.readFile(path, what: "snapshot state")
        let snapshot: MachineSnapshot
        do {
            snapshot = try JSONDecoder().decode(MachineSnapshot.self, from: Data(bytes))
        } catch {
            throw VMMError("snapshot state \(path): not a state file this VMM wrote", cause: error)
        }
        guard snapshot.format == formatName else {
            throw VMMError("snapshot state \(path): format '\(snapshot.format)', expected '\(formatName)'")
        }
        guard snapshot.version == currentVersion else {
            throw VMMError(
                "snapshot state \(path): version \(snapshot.version); this integration-vmm reads version \(currentVersion)"
            )
        }
        return snapshot
    }

    /// Writes the document to `path` (replaced atomically: a reader never sees half a file).
    public func save(to path: String) throws(VMMError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw VMMError("snapshot state \(path)", cause: error)
        }
    }
}

/// Guest RAM to and from a snapshot's memory file.
enum SnapshotMemory {
    /// Bytes compared at a time when looking for pages that need not be written.
    static let pageSize = 4096
    /// Bytes read from guest memory per step.
    static let chunkSize = 1 << 20

    /// Writes every region to `path`, one after another: the file is as long as guest RAM, and pages
    /// that hold only zeros are left as holes, so an idle guest's file takes little disk space.
    static func write(
        _ memory: GuestMemoryMap<MmapRegion>, to path: String
    ) throws(VMMError) -> [MachineSnapshot.MemoryRegion] {
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o600)
        } catch {
            throw VMMError("snapshot memory", cause: error)
        }
        var layout: [MachineSnapshot.MemoryRegion] = []
        var fileOffset: UInt64 = 0
        for region in memory.regions {
            layout.append(.init(guestAddress: region.startAddress.rawValue, size: region.size, fileOffset: fileOffset))
            fileOffset += region.size
        }
        guard ftruncate(file.rawValue, off_t(fileOffset)) == 0 else {
            throw VMMError("snapshot memory", cause: SystemError.current("ftruncate(\(path))"))
        }
        do {
            for place in layout {
                var done: UInt64 = 0
                while done < place.size {
                    let length = Int(min(UInt64(chunkSize), place.size - done))
                    let address = GuestAddress(place.guestAddress + done)
                    let bytes = try memory.read(count: length, from: address)
                    // Non-zero pages go out in runs, straight from guest memory.
                    var page = 0
                    while page < length {
                        guard !isZero(bytes, page) else {
                            page += pageSize
                            continue
                        }
                        var end = page + pageSize
                        while end < length && !isZero(bytes, end) { end += pageSize }
                        try memory.writeAll(
                            to: file.rawValue, fileOffset: Int64(place.fileOffset + done) + Int64(page),
                            from: GuestAddress(address.rawValue + UInt64(page)), length: end - page)
                        page = end
                    }
                    done += UInt64(length)
                }
            }
        } catch {
            throw VMMError("snapshot memory \(path)", cause: error)
        }
        return layout
    }

    /// A page of zeros to compare with.
    static let zeroPage = [UInt8](repeating: 0, count: pageSize)

    /// Whether the page at `offset` of `bytes` (or what is left of it) holds only zeros.
    static func isZero(_ bytes: [UInt8], _ offset: Int) -> Bool {
        let length = min(pageSize, bytes.count - offset)
        guard offset >= 0, length > 0 else { return true }
        // SAFETY: offset >= 0 and offset + length <= bytes.count (length is clamped above), and
        // length <= zeroPage.count, so memcmp reads inside both arrays' storage, valid in the closures.
        return unsafe zeroPage.withUnsafeBytes { zeros in
            unsafe bytes.withUnsafeBytes { buffer in
                // SAFETY: both buffers hold at least offset + length and length bytes (see above).
                unsafe memcmp(buffer.baseAddress! + offset, zeros.baseAddress!, length) == 0
            }
        }
    }

    /// Maps each region of `layout` from the memory file at `path`: copy-on-write (pages are read
    /// on first touch; the guest's writes stay in this process), or, when `shared` (a vhost-user
    /// back-end maps guest RAM too), copied into a new memfd.
    static func map(
        _ layout: [MachineSnapshot.MemoryRegion], from path: String, shared: Bool
    ) throws(VMMError) -> GuestMemoryMap<MmapRegion> {
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(path, flags: O_RDONLY | O_CLOEXEC)
        } catch {
            throw VMMError("snapshot memory", cause: error)
        }
        var regions: [MmapRegion] = []
        let options = MmapRegion.Options(dontDump: true, noReserve: true)
        for (index, place) in layout.enumerated() {
            do {
                let start = GuestAddress(place.guestAddress)
                if shared {
                    let region = try MmapRegion.memfd(
                        at: start, size: place.size, name: "guest-ram-\(index)", options: options)
                    try GuestMemoryMap(regions: [region]).readExactly(
                        from: file.rawValue, fileOffset: Int64(place.fileOffset), into: start, length: Int(place.size))
                    regions.append(region)
                } else {
                    regions.append(
                        try MmapRegion.copyOnWrite(
                            at: start, size: place.size, descriptor: file, offset: place.fileOffset, options: options))
                }
            } catch {
                throw VMMError("snapshot memory \(path) (region \(index))", cause: error)
            }
        }
        do {
            return try GuestMemoryMap(regions: regions)
        } catch {
            throw VMMError("snapshot memory map", cause: error)
        }
    }
}

extension IntegrationVMM {
    /// The machine snapshotted in `directory` (``MachineSnapshot/stateFileName`` and
    /// ``MachineSnapshot/memoryFileName``), restored on KVM and ready to ``Machine/run()``.
    ///
    /// ```swift
    /// let machine = try IntegrationVMM.restore(directory: "/snapshots/vm1", options: RunOptions())
    /// exit(try machine.run().outcome.exitStatus)
    /// ```
    public static func restore(directory: String, options: RunOptions) throws(VMMError) -> Machine<KVMHypervisor> {
        let hypervisor: KVMHypervisor
        do {
            hypervisor = try KVMHypervisor()
        } catch {
            throw VMMError("cannot open KVM", cause: error)
        }
        let folder = URL(fileURLWithPath: directory)
        return try Machine.restore(
            statePath: folder.appendingPathComponent(MachineSnapshot.stateFileName).path,
            memoryPath: folder.appendingPathComponent(MachineSnapshot.memoryFileName).path, options: options,
            on: hypervisor)
    }
}
