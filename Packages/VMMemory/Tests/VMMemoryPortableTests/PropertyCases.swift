// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import PortableTesting
import VMMemory

/// The reference: each region's bytes as a plain array, and the expected outcome of
/// every access computed independently of the library (a linear scan of regions).
struct ReferenceModel {
    var regions: [(start: UInt64, bytes: [UInt8])]

    func regionIndex(_ address: UInt64) -> Int? {
        regions.firstIndex { address >= $0.start && address - $0.start < UInt64($0.bytes.count) }
    }

    /// The error the library must report for `[address, address + length)`, or nil.
    func expectedError(_ address: UInt64, _ length: UInt64) -> GuestMemoryError? {
        guard length > 0 else { return nil }
        if address > UInt64.max - (length - 1) { return .addressOverflow(GuestAddress(address), length: length) }
        var done: UInt64 = 0
        while done < length {
            guard let index = regionIndex(address + done) else {
                return done == 0
                    ? .unmappedAddress(GuestAddress(address))
                    : .partialAccess(GuestAddress(address), length: length, completed: done)
            }
            let region = regions[index]
            done += min(UInt64(region.bytes.count) - (address + done - region.start), length - done)
        }
        return nil
    }

    func read(_ address: UInt64, _ length: Int) -> [UInt8] {
        var out: [UInt8] = []
        var current = address
        while out.count < length {
            let region = regions[regionIndex(current)!]
            let offset = Int(current - region.start)
            let chunk = min(region.bytes.count - offset, length - out.count)
            out += region.bytes[offset..<offset + chunk]
            current &+= UInt64(chunk)
        }
        return out
    }

    mutating func write(_ address: UInt64, _ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let index = regionIndex(address + UInt64(done))!
            let offset = Int(address + UInt64(done) - regions[index].start)
            let chunk = min(regions[index].bytes.count - offset, bytes.count - done)
            regions[index].bytes.replaceSubrange(offset..<offset + chunk, with: bytes[done..<done + chunk])
            done += chunk
        }
    }
}

/// Addresses a fuzzer would pick: near region edges, near 2^64, or anywhere.
private func randomAddress(_ model: ReferenceModel, _ random: inout SplitMix64) -> UInt64 {
    switch random.next() % 4 {
    case 0:
        let region = model.regions[Int(random.next() % UInt64(model.regions.count))]
        return region.start &+ UInt64(region.bytes.count) &+ (random.next() % 16) &- 8
    case 1:
        let region = model.regions[Int(random.next() % UInt64(model.regions.count))]
        return region.start &+ (random.next() % 16) &- 8
    case 2: return UInt64.max &- (random.next() % 32)
    default:
        let region = model.regions[Int(random.next() % UInt64(model.regions.count))]
        return region.start &+ random.next() % UInt64(region.bytes.count)
    }
}

private func randomLength(_ random: inout SplitMix64) -> UInt64 {
    switch random.next() % 8 {
    case 0: return 0
    case 1: return random.next()  // hostile
    case 2: return random.next() % 0x3000
    default: return random.next() % 24
    }
}

/// Fails at `step` of the random sequence; the step is reported as the "actual" value
/// so a failure can be replayed from its seed.
private func check(
    _ condition: Bool, step: Int, _ message: StaticString, file: StaticString = #filePath, line: UInt = #line
) throws(TestFailure) {
    if !condition { throw TestFailure(message, file: file, line: line, values: (Int64(step), -1)) }
}

/// Runs `operations` random accesses against a `GuestMemoryMap` and the plain-array
/// model side by side; every outcome (bytes or typed error) must agree.
private func randomOperationsMatchThePlainArrayModel(seed: UInt64, operations: Int = 4000) throws(TestFailure) {
    var random = SplitMix64(seed: seed)
    let memory = try sampleMemory(trackDirtyPages: true)
    var model = ReferenceModel(
        regions: memory.regions.map { ($0.startAddress.rawValue, [UInt8](repeating: 0, count: Int($0.size))) })
    var succeeded = 0
    var refused = 0
    for step in 0..<operations {
        let start = randomAddress(model, &random)
        let address = GuestAddress(start)
        switch random.next() % 7 {
        case 0:  // byte write
            let count = Int(min(randomLength(&random), 0x3000))
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let expected = model.expectedError(start, UInt64(count))
            switch Result(catching: { () throws(GuestMemoryError) in try memory.write(bytes, to: address) }) {
            case .success:
                try check(expected == nil, step: step, "write should have been refused (actual = step)")
                model.write(start, bytes)
                succeeded += 1
            case .failure(let error):
                try check(error == expected, step: step, "write refused with the wrong error (actual = step)")
            }
        case 1:  // byte read
            let count = Int(min(randomLength(&random), 0x3000))
            let expected = model.expectedError(start, UInt64(count))
            switch Result(catching: { () throws(GuestMemoryError) in try memory.read(count: count, from: address) }) {
            case .success(let bytes):
                try check(
                    expected == nil && bytes == model.read(start, count), step: step,
                    "read disagrees with the model (actual = step)")
                succeeded += 1
            case .failure(let error):
                try check(error == expected, step: step, "read refused with the wrong error (actual = step)")
                refused += 1
            }
        case 2:  // little-endian integer write of a random width
            let value = random.next()
            let width = 1 << (random.next() % 4)
            let expected = model.expectedError(start, UInt64(width))
            let result = Result { () throws(GuestMemoryError) in
                switch width {
                case 1: try memory.writeLittleEndian(UInt8(truncatingIfNeeded: value), to: address)
                case 2: try memory.writeLittleEndian(UInt16(truncatingIfNeeded: value), to: address)
                case 4: try memory.writeLittleEndian(UInt32(truncatingIfNeeded: value), to: address)
                default: try memory.writeLittleEndian(value, to: address)
                }
            }
            switch result {
            case .success:
                try check(expected == nil, step: step, "integer write should have been refused (actual = step)")
                model.write(start, (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
            case .failure(let error):
                try check(error == expected, step: step, "integer write: wrong error (actual = step)")
            }
        case 3:  // little-endian integer read
            let expected = model.expectedError(start, 8)
            let result = Result { () throws(GuestMemoryError) in
                try memory.readLittleEndian(UInt64.self, from: address)
            }
            switch result {
            case .success(let value):
                let bytes = model.read(start, 8)
                let reference = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
                try check(
                    expected == nil && value == reference, step: step,
                    "integer read disagrees with the model (actual = step)")
            case .failure(let error):
                try check(error == expected, step: step, "integer read: wrong error (actual = step)")
            }
        case 4:  // fill
            let count = randomLength(&random)
            let byte = UInt8(truncatingIfNeeded: random.next())
            let expected = model.expectedError(start, count)
            switch Result(catching: { () throws(GuestMemoryError) in try memory.fill(byte, count: count, at: address) })
            {
            case .success:
                try check(expected == nil, step: step, "fill should have been refused (actual = step)")
                model.write(start, [UInt8](repeating: byte, count: Int(count)))
            case .failure(let error):
                try check(error == expected, step: step, "fill refused with the wrong error (actual = step)")
            }
        case 5:  // single-region slice write
            let count = min(randomLength(&random), 64)
            switch Result(catching: { () throws(GuestMemoryError) in try memory.slice(at: address, length: count) }) {
            case .success(let slice):
                let inOne = model.regionIndex(start).map { model.regionIndex(start &+ count &- 1) == $0 } ?? false
                try check(count == 0 || inOne, step: step, "slice must stay in one region (actual = step)")
                let bytes = (0..<Int(count)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                let written = Result { () throws(GuestMemoryError) in try slice.write(bytes) }
                try check(written.isSuccess, step: step, "write within a slice refused (actual = step)")
                model.write(start, bytes)
            case .failure:
                let sameRegion =
                    model.regionIndex(start) != nil && model.expectedError(start, count) == nil
                    && model.regionIndex(start) == model.regionIndex(start &+ count &- 1)
                try check(!sameRegion, step: step, "slice inside one region refused (actual = step)")
            }
        default:  // aligned atomic store
            let aligned = start & ~3
            let stored = Result { () throws(GuestMemoryError) in
                try memory.atomicStore(UInt32(truncatingIfNeeded: random.next()), at: GuestAddress(aligned))
                return try memory.atomicLoad(UInt32.self, at: GuestAddress(aligned))
            }
            switch stored {
            case .success(let value):
                model.write(aligned, (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
            case .failure:
                try check(
                    model.expectedError(aligned, 4) != nil
                        || model.regionIndex(aligned) != model.regionIndex(aligned + 3), step: step,
                    "atomic store refused inside one region (actual = step)")
            }
        }
    }
    // The generator must exercise both outcomes, or the comparison proves little.
    try expect(succeeded > 400, "too few accesses succeeded")
    try expect(refused > 100, "too few accesses were refused")
    for (region, reference) in zip(memory.regions, model.regions) {
        let bytes = try expectNoError { () throws(GuestMemoryError) in
            try memory.read(count: Int(region.size), from: region.startAddress)
        }
        try expectEqual(bytes, reference.bytes, "final memory differs from the model")
    }
}

extension Result {
    fileprivate var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}

let propertyCases: [PortableTestCase] = [
    PortableTestCase("Property", "random operations match the plain-array model (seed 1)") {
        () throws(TestFailure) in try randomOperationsMatchThePlainArrayModel(seed: 1)
    },
    PortableTestCase("Property", "random operations match the plain-array model (seed 0x5eed)") {
        () throws(TestFailure) in try randomOperationsMatchThePlainArrayModel(seed: 0x5eed)
    },
    PortableTestCase("Property", "random operations match the plain-array model (seed 0xdeadbeef)") {
        () throws(TestFailure) in try randomOperationsMatchThePlainArrayModel(seed: 0xdead_beef)
    },
]
