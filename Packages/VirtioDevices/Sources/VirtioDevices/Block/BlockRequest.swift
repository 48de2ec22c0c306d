// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMemory
import VirtioQueue

/// virtio-blk request types (virtio 1.2, section 5.2.6), the `type` field of a request header.
///
/// ```swift
/// #expect(BlockRequestType(rawValue: 0) == .read)
/// ```
public enum BlockRequestType: UInt32, Sendable, CaseIterable {
    /// `VIRTIO_BLK_T_IN`: read sectors into the data buffers.
    case read = 0
    /// `VIRTIO_BLK_T_OUT`: write the data buffers to sectors.
    case write = 1
    /// `VIRTIO_BLK_T_FLUSH`: make completed writes durable.
    case flush = 4
    /// `VIRTIO_BLK_T_GET_ID`: the 20-byte device ID string.
    case getID = 8
    /// `VIRTIO_BLK_T_GET_LIFETIME` (not supported: answered `UNSUPP`).
    case getLifetime = 10
    /// `VIRTIO_BLK_T_DISCARD`: deallocate ranges.
    case discard = 11
    /// `VIRTIO_BLK_T_WRITE_ZEROES`: make ranges read as zeros.
    case writeZeroes = 13
    /// `VIRTIO_BLK_T_SECURE_ERASE` (not supported: answered `UNSUPP`).
    case secureErase = 14
}

/// The status byte a virtio-blk device writes at the end of each request.
///
/// ```swift
/// let status = try memory.read(count: 1, from: statusAddress)[0]
/// #expect(BlockStatus(rawValue: status) == .ok)
/// ```
public enum BlockStatus: UInt8, Sendable {
    /// `VIRTIO_BLK_S_OK`.
    case ok = 0
    /// `VIRTIO_BLK_S_IOERR`: a device or driver error (bad layout, out of range, host I/O failure).
    case ioError = 1
    /// `VIRTIO_BLK_S_UNSUPP`: a request type or flag the device does not support.
    case unsupported = 2
}

/// A guest buffer (or part of one) holding request data.
struct BlockDataSegment: Equatable {
    var address: GuestAddress
    var length: UInt64
}

/// One range of a discard or write-zeroes request, in bytes.
struct BlockSectorRange: Equatable {
    var offset: UInt64
    var length: UInt64
    var unmap: Bool
}

/// What the parser needs to know about the device.
struct BlockLimits {
    var capacityBytes: UInt64
    var readOnly: Bool
    var segmentMaximum: Int
    var discardNegotiated: Bool
    var writeZeroesNegotiated: Bool
    var maximumDiscardSectors: UInt32
    var maximumWriteZeroesSectors: UInt32
    var maximumRangeSegments: Int
}

/// A request taken apart and checked against the device's limits; nothing has been done yet.
struct BlockRequest {
    enum Operation: Equatable {
        case read(offset: UInt64, data: [BlockDataSegment])
        case write(offset: UInt64, data: [BlockDataSegment])
        case flush
        case getID(data: [BlockDataSegment])
        case discard([BlockSectorRange])
        case writeZeroes([BlockSectorRange])
        /// Answer with this status and do nothing else.
        case reject(BlockStatus)
    }

    /// The bytes of the request header (`type`, `reserved`, `sector`).
    static var headerSize: UInt64 { 16 }
    /// The bytes of one discard or write-zeroes range.
    static var rangeSize: UInt64 { 16 }

    var operation: Operation
    /// Where the status byte goes; nil when the chain has no writable byte for it.
    var statusAddress: GuestAddress?
    /// The data bytes a read or write moves (what the byte bucket is charged).
    var dataLength: UInt64 = 0

    /// Parses `chain`: header in the readable part, data, then the status byte as the last
    /// writable byte. Everything malformed becomes `.reject` with the status the
    /// specification asks for; nothing here traps on guest input.
    static func parse(_ chain: DescriptorChain, memory: some GuestMemory, limits: BlockLimits) -> BlockRequest {
        let readable = chain.readableLength
        let writable = chain.writableLength
        guard writable > 0, let status = lastByte(of: chain.writable) else {
            return BlockRequest(operation: .reject(.ioError), statusAddress: nil)
        }
        func reject(_ code: BlockStatus) -> BlockRequest {
            BlockRequest(operation: .reject(code), statusAddress: status)
        }
        guard readable >= headerSize else { return reject(.ioError) }
        var reader = DescriptorChainReader(chain)
        let rawType: UInt32
        let sector: UInt64
        do throws(VirtioQueueError) {
            rawType = try reader.readLittleEndian(UInt32.self, from: memory)
            _ = try reader.readLittleEndian(UInt32.self, from: memory)
            sector = try reader.readLittleEndian(UInt64.self, from: memory)
        } catch {
            return reject(.ioError)
        }
        guard let type = BlockRequestType(rawValue: rawType) else { return reject(.unsupported) }
        let payload = readable - headerSize  // device-readable bytes after the header
        let response = writable - 1  // device-writable bytes before the status byte

        switch type {
        case .read, .write:
            // Data must flow the right way: a read has no readable data, a write no writable data.
            let isRead = type == .read
            if !isRead && limits.readOnly { return reject(.ioError) }
            guard isRead ? payload == 0 : response == 0 else { return reject(.ioError) }
            let length = isRead ? response : payload
            guard length % DiskImage.sectorSize == 0 else { return reject(.ioError) }
            let (offset, overflow) = sector.multipliedReportingOverflow(by: DiskImage.sectorSize)
            guard !overflow else { return reject(.ioError) }
            let (end, endOverflow) = offset.addingReportingOverflow(length)
            guard !endOverflow, end <= limits.capacityBytes else { return reject(.ioError) }
            let data =
                isRead
                ? segments(of: chain.writable, from: 0, length: length)
                : segments(of: chain.readable, from: headerSize, length: length)
            guard data.count <= limits.segmentMaximum else { return reject(.ioError) }
            var request = BlockRequest(
                operation: isRead ? .read(offset: offset, data: data) : .write(offset: offset, data: data),
                statusAddress: status)
            request.dataLength = length
            return request

        case .flush:
            guard payload == 0, response == 0 else { return reject(.ioError) }
            return BlockRequest(operation: .flush, statusAddress: status)

        case .getID:
            guard payload == 0, response > 0 else { return reject(.ioError) }
            let length = min(response, UInt64(DiskImage.identifierLength))
            return BlockRequest(
                operation: .getID(data: segments(of: chain.writable, from: 0, length: length)), statusAddress: status)

        case .discard, .writeZeroes:
            let isDiscard = type == .discard
            // Read-only first: refused with IOERR even from a driver that ignored VIRTIO_BLK_F_RO.
            if limits.readOnly { return reject(.ioError) }
            guard isDiscard ? limits.discardNegotiated : limits.writeZeroesNegotiated else {
                return reject(.unsupported)
            }
            guard response == 0, payload > 0, payload % rangeSize == 0 else { return reject(.ioError) }
            guard payload / rangeSize <= UInt64(limits.maximumRangeSegments) else { return reject(.unsupported) }
            let maximum = isDiscard ? limits.maximumDiscardSectors : limits.maximumWriteZeroesSectors
            var ranges: [BlockSectorRange] = []
            for _ in 0..<(payload / rangeSize) {
                let start: UInt64
                let count: UInt32
                let flags: UInt32
                do throws(VirtioQueueError) {
                    start = try reader.readLittleEndian(UInt64.self, from: memory)
                    count = try reader.readLittleEndian(UInt32.self, from: memory)
                    flags = try reader.readLittleEndian(UInt32.self, from: memory)
                } catch {
                    return reject(.ioError)
                }
                // Unknown flags, and unmap on a discard, are UNSUPP (virtio 1.2, 5.2.6.2).
                guard flags & ~1 == 0, !(isDiscard && flags & 1 != 0) else { return reject(.unsupported) }
                guard count <= maximum else { return reject(.ioError) }
                let (offset, overflow) = start.multipliedReportingOverflow(by: DiskImage.sectorSize)
                guard !overflow else { return reject(.ioError) }
                let length = UInt64(count) * DiskImage.sectorSize
                let (end, endOverflow) = offset.addingReportingOverflow(length)
                guard !endOverflow, end <= limits.capacityBytes else { return reject(.ioError) }
                ranges.append(BlockSectorRange(offset: offset, length: length, unmap: flags & 1 != 0))
            }
            return BlockRequest(operation: isDiscard ? .discard(ranges) : .writeZeroes(ranges), statusAddress: status)

        case .getLifetime, .secureErase:
            return reject(.unsupported)
        }
    }

    /// The address of the last byte of the last non-empty buffer.
    static func lastByte(of buffers: ArraySlice<ChainDescriptor>) -> GuestAddress? {
        guard let last = buffers.last(where: { $0.length > 0 }) else { return nil }
        return last.address.wrappingAdd(UInt64(last.length) - 1)
    }

    /// The pieces of `buffers` covering bytes `start ..< start + length` of their concatenation.
    static func segments(
        of buffers: ArraySlice<ChainDescriptor>, from start: UInt64, length: UInt64
    ) -> [BlockDataSegment] {
        var result: [BlockDataSegment] = []
        var skip = start
        var wanted = length
        for buffer in buffers where wanted > 0 {
            let size = UInt64(buffer.length)
            if skip >= size {
                skip -= size
                continue
            }
            let take = min(size - skip, wanted)
            result.append(BlockDataSegment(address: buffer.address.wrappingAdd(skip), length: take))
            wanted -= take
            skip = 0
        }
        return result
    }
}
