// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A DEFLATE (RFC 1951) decoder for zip entries that other tools compressed, e.g. archives
/// made by `swift package archive-source`. The input is untrusted: every read is bounds
/// checked, the output never grows past `limit`, and any malformed stream is a typed error.
///
/// ```swift
/// let text = try Inflate.decompress(deflated, limit: 1 << 20)
/// ```
public enum Inflate {
    /// Decompresses a raw DEFLATE stream (no zlib or gzip wrapper) of at most `limit` bytes.
    public static func decompress(_ input: [UInt8], limit: Int) throws(ReleaseError) -> [UInt8] {
        var state = InflateState(input: input, limit: limit)
        try state.run()
        return state.output
    }
}

private let lengthBase: [Int] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
]
private let lengthExtra: [Int] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
]
private let distanceBase: [Int] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
    6145, 8193, 12289, 16385, 24577,
]
private let distanceExtra: [Int] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
]
/// The order in which a dynamic block lists the code lengths of the code-length alphabet.
private let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

/// A canonical Huffman code: how many codes each bit length has, and the symbols in code order.
private struct HuffmanCode {
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int] = []

    /// Builds the code from per-symbol bit lengths (0 = unused). Over-subscribed sets are
    /// refused; incomplete ones are allowed (RFC 1951 permits a lone distance code).
    init(lengths: [Int]) throws(ReleaseError) {
        for length in lengths { counts[length] += 1 }
        var left = 1
        for length in 1..<16 {
            left = left * 2 - counts[length]
            if left < 0 { throw ReleaseError(.archive, "deflate: over-subscribed Huffman code") }
        }
        var offsets = [Int](repeating: 0, count: 16)
        for length in 1..<15 { offsets[length + 1] = offsets[length] + counts[length] }
        symbols = [Int](repeating: 0, count: lengths.count)
        for (symbol, length) in lengths.enumerated() where length != 0 {
            symbols[offsets[length]] = symbol
            offsets[length] += 1
        }
        counts[0] = 0
    }
}

private struct InflateState {
    let input: [UInt8]
    let limit: Int
    var position = 0
    var bitBuffer: UInt32 = 0
    var bitCount = 0
    var output: [UInt8] = []

    init(input: [UInt8], limit: Int) {
        self.input = input
        self.limit = limit
    }

    mutating func run() throws(ReleaseError) {
        var last = false
        while !last {
            last = try bits(1) == 1
            switch try bits(2) {
            case 0: try storedBlock()
            case 1: try fixedBlock()
            case 2: try dynamicBlock()
            default: throw ReleaseError(.archive, "deflate: invalid block type 3")
            }
        }
    }

    /// Takes `count` (at most 16) bits, least significant first.
    mutating func bits(_ count: Int) throws(ReleaseError) -> Int {
        while bitCount < count {
            guard position < input.count else { throw ReleaseError(.archive, "deflate: stream ends early") }
            bitBuffer |= UInt32(input[position]) << UInt32(bitCount)
            position += 1
            bitCount += 8
        }
        let value = Int(bitBuffer & ((UInt32(1) << UInt32(count)) - 1))
        bitBuffer >>= UInt32(count)
        bitCount -= count
        return value
    }

    mutating func append(_ byte: UInt8) throws(ReleaseError) {
        guard output.count < limit else { throw ReleaseError(.archive, "deflate: output exceeds \(limit) bytes") }
        output.append(byte)
    }

    mutating func storedBlock() throws(ReleaseError) {
        bitBuffer = 0
        bitCount = 0
        guard position + 4 <= input.count else { throw ReleaseError(.archive, "deflate: stored block header cut") }
        let length = Int(input[position]) | Int(input[position + 1]) << 8
        let complement = Int(input[position + 2]) | Int(input[position + 3]) << 8
        position += 4
        guard length == (~complement & 0xFFFF) else {
            throw ReleaseError(.archive, "deflate: stored block length check fails")
        }
        guard position + length <= input.count else { throw ReleaseError(.archive, "deflate: stored block cut") }
        guard output.count + length <= limit else {
            throw ReleaseError(.archive, "deflate: output exceeds \(limit) bytes")
        }
        output.append(contentsOf: input[position..<(position + length)])
        position += length
    }

    mutating func decode(_ code: HuffmanCode) throws(ReleaseError) -> Int {
        // Canonical codes of one length are consecutive, so walking lengths upward finds the symbol.
        var value = 0
        var first = 0
        var index = 0
        for length in 1..<16 {
            value |= try bits(1)
            let count = code.counts[length]
            if value - first < count { return code.symbols[index + value - first] }
            index += count
            first = (first + count) << 1
            value <<= 1
        }
        throw ReleaseError(.archive, "deflate: invalid Huffman code")
    }

    mutating func codes(literals: HuffmanCode, distances: HuffmanCode) throws(ReleaseError) {
        while true {
            let symbol = try decode(literals)
            if symbol < 256 {
                try append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let lengthIndex = symbol - 257
                guard lengthIndex < lengthBase.count else { throw ReleaseError(.archive, "deflate: bad length code") }
                let length = lengthBase[lengthIndex] + (try bits(lengthExtra[lengthIndex]))
                let distanceIndex = try decode(distances)
                guard distanceIndex < distanceBase.count else {
                    throw ReleaseError(.archive, "deflate: bad distance code")
                }
                let distance = distanceBase[distanceIndex] + (try bits(distanceExtra[distanceIndex]))
                guard distance <= output.count else {
                    throw ReleaseError(.archive, "deflate: distance \(distance) reaches before the output")
                }
                guard output.count + length <= limit else {
                    throw ReleaseError(.archive, "deflate: output exceeds \(limit) bytes")
                }
                // Byte by byte: a copy may overlap the bytes it produces (run-length style).
                let start = output.count - distance
                for offset in 0..<length { output.append(output[start + offset]) }
            }
        }
    }

    mutating func fixedBlock() throws(ReleaseError) {
        var lengths = [Int](repeating: 8, count: 288)
        for symbol in 144..<256 { lengths[symbol] = 9 }
        for symbol in 256..<280 { lengths[symbol] = 7 }
        let literals = try HuffmanCode(lengths: lengths)
        let distances = try HuffmanCode(lengths: [Int](repeating: 5, count: 30))
        try codes(literals: literals, distances: distances)
    }

    mutating func dynamicBlock() throws(ReleaseError) {
        let literalCount = try bits(5) + 257
        let distanceCount = try bits(5) + 1
        let lengthCodeCount = try bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else {
            throw ReleaseError(.archive, "deflate: too many literal or distance codes")
        }
        var codeLengths = [Int](repeating: 0, count: 19)
        for index in 0..<lengthCodeCount { codeLengths[codeLengthOrder[index]] = try bits(3) }
        let lengthCode = try HuffmanCode(lengths: codeLengths)
        var lengths: [Int] = []
        while lengths.count < literalCount + distanceCount {
            let symbol = try decode(lengthCode)
            var repeated = 0
            var count = 0
            switch symbol {
            case 0..<16:
                lengths.append(symbol)
                continue
            case 16:
                guard let previous = lengths.last else {
                    throw ReleaseError(.archive, "deflate: repeat with no previous length")
                }
                repeated = previous
                count = 3 + (try bits(2))
            case 17: count = 3 + (try bits(3))
            default: count = 11 + (try bits(7))
            }
            guard lengths.count + count <= literalCount + distanceCount else {
                throw ReleaseError(.archive, "deflate: code lengths overrun")
            }
            lengths += [Int](repeating: repeated, count: count)
        }
        guard lengths[256] != 0 else { throw ReleaseError(.archive, "deflate: no end-of-block code") }
        let literals = try HuffmanCode(lengths: Array(lengths[0..<literalCount]))
        let distances = try HuffmanCode(lengths: Array(lengths[literalCount...]))
        try codes(literals: literals, distances: distances)
    }
}
