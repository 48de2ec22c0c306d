// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory
import VirtioQueue

// Input layout:
//   byte 0      mode bits: 0 template (else raw image), 1 packed, 2 event index,
//               3 ready without validation, 4 restore from a state with start
//               indices, 5 notify after each add, 6 toggle notifications, 7 read/write data
//   bytes 1-2   queue size (raw mode; template mode uses 16)
//   bytes 3-8   descriptor, driver and device area addresses (raw mode)
//   bytes 9-12  next available / next used to restore (bit 4)
//   the rest    raw mode: the first 64 KiB of guest RAM; template mode:
//               (offset low, offset high, value) patches to a valid ring image

/// The header size before the memory image or patches.
let headerSize = 13

func little16(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }

/// Checks what the queue promises about every chain it hands out; a violation
/// crashes the fuzzer, which is the finding.
func checkChain(_ chain: DescriptorChain, _ queue: Virtqueue) {
    precondition(!chain.descriptors.isEmpty, "a chain has at least one buffer")
    precondition(chain.ringDescriptorCount >= 1 && chain.ringDescriptorCount <= queue.size, "ring count in range")
    if queue.format == .split { precondition(chain.id < queue.size, "split ids are table indices") }
    var total: UInt64 = 0
    for (index, descriptor) in chain.descriptors.enumerated() {
        precondition(descriptor.isWritable == (index >= chain.readableCount), "readable buffers come first")
        if descriptor.length > 0 {
            precondition(
                (try? fuzzMemory.checkRange(at: descriptor.address, length: UInt64(descriptor.length))) != nil,
                "every buffer lies in guest memory")
        }
        total += UInt64(descriptor.length)
    }
    precondition(total <= 1 << 32, "a chain holds at most 2^32 bytes")
    precondition(total == chain.readableLength + chain.writableLength)
}

/// libFuzzer entry: configure a queue from the header, load guest memory, then
/// pop, use and return chains until the queue is empty or broken.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVirtqueue(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = inputBytes(data, size)
    guard input.count >= headerSize else { return 0 }
    let mode = input[0]
    let template = mode & 1 != 0
    let packed = mode & 2 != 0
    let image =
        template
        ? patched(packed ? packedTemplate : splitTemplate, with: input[headerSize...])
        : Array(input[headerSize...].prefix(Int(fuzzRAMSize)))
    lowRegion.hostAddress.initializeMemory(as: UInt8.self, repeating: 0, count: Int(fuzzRAMSize))
    // SAFETY: `image` has at most fuzzRAMSize bytes, the size of the low region's buffer.
    image.withUnsafeBytes { bytes in
        if let base = bytes.baseAddress { lowRegion.hostAddress.copyMemory(from: base, byteCount: bytes.count) }
    }

    guard var queue = try? Virtqueue(maximumSize: 32768) else { return 0 }
    queue.format = packed ? .packed : .split
    queue.eventIndexEnabled = mode & 4 != 0
    if template {
        queue.size = 16
        queue.descriptorArea = GuestAddress(0x1000)
        queue.driverArea = GuestAddress(0x1100)
        queue.deviceArea = GuestAddress(packed ? 0x1104 : 0x1200)
    } else {
        queue.size = little16(input, 1)
        queue.descriptorArea = GuestAddress(UInt64(little16(input, 3)))
        queue.driverArea = GuestAddress(UInt64(little16(input, 5)))
        queue.deviceArea = GuestAddress(UInt64(little16(input, 7)))
    }
    if mode & 8 != 0 {
        queue.ready = true  // a transport that skipped validation: every access must still be safe
    } else if (try? queue.activate(in: fuzzMemory)) == nil {
        return 0
    }
    if mode & 16 != 0 {
        var state = queue.state
        state.nextAvailable = little16(input, 9)
        state.nextUsed = little16(input, 11)
        guard let restored = try? Virtqueue(state: state) else { return 0 }
        queue = restored
    }

    // A chain walk is bounded by the queue size (32768) or the table size, so one
    // execution is bounded too; the caps (operations, bad chains, buffers handed
    // out) keep a hostile input from costing seconds and the fuzzer fast.
    var operations = 0
    var chainErrors = 0
    var buffers = 0
    var enable = false
    while operations < 64 && chainErrors < 4 && buffers < 16384 {
        operations += 1
        do throws(VirtioQueueError) {
            guard let chain = try queue.pop(from: fuzzMemory) else { break }
            checkChain(chain, queue)
            buffers += chain.descriptors.count
            var written: UInt32 = 0
            if mode & 128 != 0 {
                var reader = DescriptorChainReader(chain)
                _ = try reader.readBytes(Int(Swift.min(reader.remaining, 64)), from: fuzzMemory)
                var writer = DescriptorChainWriter(chain)
                try writer.write([UInt8](repeating: 0xa5, count: Int(Swift.min(writer.remaining, 64))), to: fuzzMemory)
                written = writer.writtenLength
            }
            try queue.addUsed(chain, writtenLength: written, to: fuzzMemory)
            if mode & 32 != 0 { _ = try queue.needsNotification(fuzzMemory) }
            if mode & 64 != 0 {
                enable.toggle()
                if enable {
                    _ = try queue.enableNotification(in: fuzzMemory)
                } else {
                    try queue.disableNotification(in: fuzzMemory)
                }
            }
        } catch {
            guard case .invalidChain(let head, _) = error else { break }  // ring fault: the queue is broken
            chainErrors += 1
            // Hand a bad split chain back, as a lenient device would.
            if queue.format == .split && head < queue.size {
                _ = try? queue.addUsed(id: head, writtenLength: 0, to: fuzzMemory)
            }
        }
        if queue.format == .packed {
            precondition(
                queue.nextAvailable < queue.size && queue.nextUsed < queue.size, "packed slots stay in the ring")
        }
    }
    _ = try? queue.needsNotification(fuzzMemory)
    let state = queue.state
    precondition((try? QueueState(serialized: state.serialized())) == state, "state encoding round-trips")
    return 0
}
