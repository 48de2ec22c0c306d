// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A parsed JSON value and where it starts.
struct JSONNode {
    /// One `"key": value` pair of an object, in file order.
    struct Member {
        var key: String
        var keyPosition: SourcePosition
        var value: JSONNode
    }

    enum Value {
        case object([Member])
        case array([JSONNode])
        case string(String)
        /// The number's text, checked against the JSON grammar; converted where the schema says.
        case number(String)
        case boolean(Bool)
        case null
    }

    var value: Value
    var position: SourcePosition

    /// The schema's name for this value's type.
    var type: SeccompJSONError.ValueType {
        switch value {
        case .object: return .object
        case .array: return .array
        case .string: return .string
        case .number(let text):
            return text.utf8.contains { $0 == UInt8(ascii: ".") || $0 | 0x20 == UInt8(ascii: "e") } ? .number : .integer
        case .boolean: return .boolean
        case .null: return .null
        }
    }
}

/// A JSON (RFC 8259) reader that remembers the line and column of every value and key.
///
/// Foundation's JSON decoders report no positions, and every byte here comes from a file an
/// operator (or an attacker) wrote, so the reader is written to fail with a located, typed error on
/// any input: nesting is bounded, numbers stay text until the schema converts them, and UTF-8 is
/// checked byte by byte.
struct JSONReader {
    /// Deeper than any filter file needs (a condition's `masked_eq` object sits at depth 7).
    static let maximumDepth = 64

    private let bytes: [UInt8]
    private var offset = 0
    private var line = 1
    private var column = 1

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses the whole input as one JSON value.
    static func parse(_ bytes: [UInt8]) throws(SeccompJSONError) -> JSONNode {
        var reader = JSONReader(bytes)
        // A UTF-8 byte order mark is not JSON, but editors write it; it takes no column.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { reader.offset = 3 }
        let root = try reader.parseValue(depth: 0)
        reader.skipWhitespace()
        if reader.offset < bytes.count { throw SeccompJSONError(.trailingContent, at: reader.position) }
        return root
    }

    private var position: SourcePosition { SourcePosition(line: line, column: column) }

    private var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    /// Consumes one byte. A column ends with each scalar's first byte, so multi-byte characters take one.
    private mutating func advance() {
        let byte = bytes[offset]
        offset += 1
        if byte == UInt8(ascii: "\n") {
            line += 1
            column = 1
        } else if byte & 0xC0 != 0x80 {
            column += 1
        }
    }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { advance() }
    }

    private func unexpected(expected: String) -> SeccompJSONError {
        guard offset < bytes.count else { return SeccompJSONError(.unexpectedEndOfInput, at: position) }
        return SeccompJSONError(.unexpectedCharacter(describeCharacter(), expected: expected), at: position)
    }

    /// The character at `offset`, quoted, or its code when it is invisible or not UTF-8.
    private func describeCharacter() -> String {
        let byte = bytes[offset]
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        if byte < 0x80 { return "U+\(hex(UInt32(byte), digits: 4))" }
        if let length = utf8SequenceLength(at: offset),
            let text = String(validating: bytes[offset..<offset + length], as: UTF8.self)
        {
            return "'\(text)'"
        }
        return "byte 0x\(hex(UInt32(byte), digits: 2))"
    }

    private mutating func parseValue(depth: Int) throws(SeccompJSONError) -> JSONNode {
        skipWhitespace()
        let start = position
        guard let byte = current else { throw SeccompJSONError(.unexpectedEndOfInput, at: start) }
        switch byte {
        case UInt8(ascii: "{"):
            return JSONNode(value: .object(try parseObject(depth: depth + 1)), position: start)
        case UInt8(ascii: "["):
            return JSONNode(value: .array(try parseArray(depth: depth + 1)), position: start)
        case UInt8(ascii: "\""):
            return JSONNode(value: .string(try parseString()), position: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONNode(value: .number(try parseNumber()), position: start)
        case UInt8(ascii: "a")...UInt8(ascii: "z"):
            return JSONNode(value: try parseLiteral(), position: start)
        default:
            throw unexpected(expected: "a value")
        }
    }

    private mutating func parseObject(depth: Int) throws(SeccompJSONError) -> [JSONNode.Member] {
        if depth > Self.maximumDepth { throw SeccompJSONError(.nestingTooDeep(limit: Self.maximumDepth), at: position) }
        advance()  // {
        var members: [JSONNode.Member] = []
        var seen: Set<String> = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            advance()
            return members
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw unexpected(expected: "a string key") }
            let keyPosition = position
            let key = try parseString()
            if !seen.insert(key).inserted { throw SeccompJSONError(.duplicateKey(clipped(key)), at: keyPosition) }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw unexpected(expected: "':'") }
            advance()
            let value = try parseValue(depth: depth)
            members.append(JSONNode.Member(key: key, keyPosition: keyPosition, value: value))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                advance()
            case UInt8(ascii: "}"):
                advance()
                return members
            default:
                throw unexpected(expected: "',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(SeccompJSONError) -> [JSONNode] {
        if depth > Self.maximumDepth { throw SeccompJSONError(.nestingTooDeep(limit: Self.maximumDepth), at: position) }
        advance()  // [
        var elements: [JSONNode] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            advance()
            return elements
        }
        while true {
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                advance()
            case UInt8(ascii: "]"):
                advance()
                return elements
            default:
                throw unexpected(expected: "',' or ']'")
            }
        }
    }

    /// `true`, `false` or `null`; any other run of letters is reported whole.
    private mutating func parseLiteral() throws(SeccompJSONError) -> JSONNode.Value {
        let start = position
        let first = offset
        while let byte = current, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || byte == UInt8(ascii: "_") {
            advance()
        }
        let word = String(decoding: bytes[first..<offset], as: UTF8.self)
        switch word {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        case "null": return .null
        default: throw SeccompJSONError(.invalidLiteral(clipped(word)), at: start)
        }
    }

    /// Reads the run of characters a number could be made of, then checks it against
    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` as a whole, so `01` or `1.`
    /// is one invalid number rather than a confusing error on the character after it.
    private mutating func parseNumber() throws(SeccompJSONError) -> String {
        let start = position
        let first = offset
        while let byte = current, isNumberCharacter(byte) { advance() }
        let text = bytes[first..<offset]
        guard isJSONNumber(text) else {
            throw SeccompJSONError(.invalidNumber(clipped(String(decoding: text, as: UTF8.self))), at: start)
        }
        return String(decoding: text, as: UTF8.self)
    }

    private func isNumberCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    private func isJSONNumber(_ text: ArraySlice<UInt8>) -> Bool {
        var index = text.startIndex
        func digits() -> Int {
            let begin = index
            while index < text.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[index]) { index += 1 }
            return index - begin
        }
        if index < text.endIndex, text[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits()
        if integerDigits == 0 { return false }
        if integerDigits > 1, text[integerStart] == UInt8(ascii: "0") { return false }
        if index < text.endIndex, text[index] == UInt8(ascii: ".") {
            index += 1
            if digits() == 0 { return false }
        }
        if index < text.endIndex, text[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < text.endIndex, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") {
                index += 1
            }
            if digits() == 0 { return false }
        }
        return index == text.endIndex
    }

    private mutating func parseString() throws(SeccompJSONError) -> String {
        let start = position
        advance()  // opening quote
        var scalars = String.UnicodeScalarView()
        while true {
            guard let byte = current else { throw SeccompJSONError(.unterminatedString, at: start) }
            switch byte {
            case UInt8(ascii: "\""):
                advance()
                return String(scalars)
            case UInt8(ascii: "\\"):
                scalars.append(try parseEscape())
            case 0..<0x20:
                throw SeccompJSONError(.controlCharacterInString, at: position)
            case 0..<0x80:
                scalars.append(Unicode.Scalar(byte))
                advance()
            default:
                guard let length = utf8SequenceLength(at: offset),
                    let text = String(validating: bytes[offset..<offset + length], as: UTF8.self)
                else { throw SeccompJSONError(.invalidUTF8, at: position) }
                scalars.append(contentsOf: text.unicodeScalars)
                for _ in 0..<length { advance() }
            }
        }
    }

    private mutating func parseEscape() throws(SeccompJSONError) -> Unicode.Scalar {
        let start = position
        advance()  // backslash
        guard let byte = current else { throw SeccompJSONError(.unterminatedString, at: start) }
        advance()
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try parseHexQuad(escapeStart: start)
            switch high {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed by an escaped low one.
                guard current == UInt8(ascii: "\\"), offset + 1 < bytes.count, bytes[offset + 1] == UInt8(ascii: "u")
                else { throw SeccompJSONError(.invalidEscape("\\u\(hex(high, digits: 4))"), at: start) }
                advance()
                advance()
                let low = try parseHexQuad(escapeStart: start)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw SeccompJSONError(
                        .invalidEscape("\\u\(hex(high, digits: 4))\\u\(hex(low, digits: 4))"), at: start)
                }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
            case 0xDC00...0xDFFF:
                throw SeccompJSONError(.invalidEscape("\\u\(hex(high, digits: 4))"), at: start)
            default:
                return Unicode.Scalar(high)!
            }
        default:
            let shown = byte >= 0x21 && byte < 0x7F ? String(Unicode.Scalar(byte)) : "U+\(hex(UInt32(byte), digits: 4))"
            throw SeccompJSONError(.invalidEscape("\\" + shown), at: start)
        }
    }

    private mutating func parseHexQuad(escapeStart: SourcePosition) throws(SeccompJSONError) -> UInt32 {
        var value: UInt32 = 0
        var text = "\\u"
        for _ in 0..<4 {
            guard let byte = current else { throw SeccompJSONError(.unterminatedString, at: escapeStart) }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw SeccompJSONError(.invalidEscape(text), at: escapeStart)
            }
            text.unicodeScalars.append(Unicode.Scalar(byte))
            value = value << 4 | digit
            advance()
        }
        return value
    }

    /// The length of the well-formed UTF-8 sequence at `index`, or nil (overlong forms,
    /// surrogates and values past U+10FFFF included).
    private func utf8SequenceLength(at index: Int) -> Int? {
        let lead = bytes[index]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            high = 0x9F
        case 0xF0:
            length = 4
            low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            high = 0x8F
        default: return nil
        }
        guard index + length <= bytes.count else { return nil }
        if !(low...high).contains(bytes[index + 1]) { return nil }
        for next in index + 2..<index + length where bytes[next] & 0xC0 != 0x80 { return nil }
        return length
    }
}

/// Upper-case hexadecimal, zero-padded to `digits`.
func hex(_ value: UInt32, digits: Int) -> String {
    let text = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}
