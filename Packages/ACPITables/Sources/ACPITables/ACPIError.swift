// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// Why an ACPI table or AML term could not be built.
///
/// ```swift
/// do {
///     _ = try AML.name("bad name", AML.integer(1))
/// } catch .invalidName {
///     print("AML names are 1-4 characters of [A-Z0-9_], not starting with a digit")
/// } catch {
///     print(error)
/// }
/// ```
public enum ACPIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An AML name segment or path is malformed.
    case invalidName
    /// An EISA id is not three capital letters and four hexadecimal digits.
    case invalidEISAID
    /// A package has more than 255 elements.
    case tooManyPackageElements(Int)
    /// An AML package (scope, device, buffer...) is longer than PkgLength can encode (2^28 - 1).
    case packageTooLong(Int)
    /// A string contains a NUL byte or a non-ASCII byte.
    case invalidString
    /// A table identifier does not fit its field (signature 4, OEM id 6, OEM table id 8 bytes).
    case invalidIdentifier
    /// A table's length or address does not fit its 32-bit field.
    case tableTooLarge
    /// An interrupt descriptor lists no interrupts or more than 255.
    case invalidInterruptCount(Int)
    /// A local APIC id appears twice in a MADT.
    case duplicateAPICID(UInt32)

    /// One line naming the problem.
    public var description: String {
        switch self {
        case .invalidName: return "invalid AML name"
        case .invalidEISAID: return "invalid EISA id"
        case .tooManyPackageElements(let count): return "package of \(count) elements exceeds 255"
        case .packageTooLong(let length): return "AML package of \(length) bytes exceeds 2^28 - 1"
        case .invalidString: return "AML string contains NUL or non-ASCII bytes"
        case .invalidIdentifier: return "table identifier does not fit its field"
        case .tableTooLarge: return "table length or address does not fit 32 bits"
        case .invalidInterruptCount(let count): return "\(count) interrupts in one descriptor (1...255 allowed)"
        case .duplicateAPICID(let id): return "APIC id \(id) appears twice"
        }
    }
}
