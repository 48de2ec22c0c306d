// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A problem in a JSON filter file, with the line and column of the offending token.
///
/// ```swift
/// do {
///     _ = try SeccompPolicy(json: #"{"vmm": {"default_action": "trap", "filter_action": "allow","#)
/// } catch {
///     print(error)  // 1:61: unexpected end of input
///     print(error.position.line, error.position.column)  // 1 61
/// }
/// ```
public struct SeccompJSONError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kinds of JSON values, for type errors.
    public enum ValueType: String, Hashable, Sendable, CustomStringConvertible {
        /// `{...}`.
        case object
        /// `[...]`.
        case array
        /// `"..."`.
        case string
        /// A number that is not an integer (fraction or exponent).
        case number
        /// A number without fraction or exponent.
        case integer
        /// `true` or `false`.
        case boolean
        /// `null`.
        case null

        /// The type's name.
        public var description: String { rawValue }
    }

    /// What is wrong.
    public enum Kind: Hashable, Sendable {
        // Syntax.
        /// The text ends where more was needed.
        case unexpectedEndOfInput
        /// A character that cannot appear here; `expected` says what could.
        case unexpectedCharacter(String, expected: String)
        /// A word that is not `true`, `false` or `null`.
        case invalidLiteral(String)
        /// Text that starts like a number but is not a JSON number (`01`, `1.`, `-`, `1e`).
        case invalidNumber(String)
        /// A backslash escape JSON does not define, or a broken `\u` surrogate pair.
        case invalidEscape(String)
        /// A string whose closing quote never comes.
        case unterminatedString
        /// A raw control character (below U+0020) inside a string.
        case controlCharacterInString
        /// Bytes that are not UTF-8.
        case invalidUTF8
        /// More text after the top-level value.
        case trailingContent
        /// Objects and arrays nested deeper than the limit.
        case nestingTooDeep(limit: Int)
        /// The same key twice in one object (or a key and its alias, such as `index` and `arg_index`).
        case duplicateKey(String)
        // Shape.
        /// A value of the wrong type.
        case wrongType(expected: [ValueType], found: ValueType)
        /// A required key is absent; the position is the object's opening brace.
        case missingKey(String)
        /// A key the format does not define (typos such as `"arsg"` would otherwise drop conditions).
        case unknownKey(String)
        /// An action that is not `allow`, `kill_thread`, `kill_process`, `trap`, `log`,
        /// `{"errno": N}` or `{"trace": N}`.
        case unknownAction(String)
        /// An operator that is not `eq`, `ne`, `lt`, `le`, `gt`, `ge` or `{"masked_eq": mask}`.
        case unknownOperator(String)
        /// An argument type that is not `dword` or `qword`.
        case unknownArgumentType(String)
        /// A system call name the target architecture does not have.
        case unknownSyscall(String)
        /// An integer outside the range allowed here (argument index 0...5, a `dword` value, errno...).
        case valueOutOfRange(String, allowed: ClosedRange<UInt64>)
        /// Two conditions of one rule test the same argument (libseccomp refuses that).
        case duplicateArgumentIndex(Int)
    }

    /// What is wrong.
    public let kind: Kind
    /// Where: the offending token, or the opening brace of an object that misses a key.
    public let position: SourcePosition

    /// Creates an error.
    public init(_ kind: Kind, at position: SourcePosition) {
        self.kind = kind
        self.position = position
    }

    /// `"line:column: message"`.
    public var description: String { "\(position): \(message)" }

    private var message: String {
        switch kind {
        case .unexpectedEndOfInput: return "unexpected end of input"
        case .unexpectedCharacter(let found, let expected): return "unexpected \(found), expected \(expected)"
        case .invalidLiteral(let word): return "invalid literal \"\(word)\""
        case .invalidNumber(let text): return "invalid number \"\(text)\""
        case .invalidEscape(let text): return "invalid escape \"\(text)\""
        case .unterminatedString: return "unterminated string"
        case .controlCharacterInString: return "control character in string"
        case .invalidUTF8: return "invalid UTF-8"
        case .trailingContent: return "unexpected content after the top-level value"
        case .nestingTooDeep(let limit): return "nesting deeper than \(limit) levels"
        case .duplicateKey(let key): return "duplicate key \"\(key)\""
        case .wrongType(let expected, let found):
            return "expected \(expected.map(\.description).joined(separator: " or ")), found \(found)"
        case .missingKey(let key): return "missing key \"\(key)\""
        case .unknownKey(let key): return "unknown key \"\(key)\""
        case .unknownAction(let name): return "unknown action \"\(name)\""
        case .unknownOperator(let name): return "unknown operator \"\(name)\""
        case .unknownArgumentType(let name): return "unknown argument type \"\(name)\" (expected dword or qword)"
        case .unknownSyscall(let name): return "unknown system call \"\(name)\""
        case .valueOutOfRange(let text, let allowed):
            return "\(text) is out of range \(allowed.lowerBound)...\(allowed.upperBound)"
        case .duplicateArgumentIndex(let index): return "argument \(index) is tested twice in one rule"
        }
    }
}

/// Shortens untrusted text quoted in an error, so a hostile file cannot make error messages huge.
func clipped(_ text: String, limit: Int = 64) -> String {
    let scalars = text.unicodeScalars
    if scalars.count <= limit { return text }
    var result = String.UnicodeScalarView()
    result.append(contentsOf: scalars.prefix(limit))
    return String(result) + "…"
}
