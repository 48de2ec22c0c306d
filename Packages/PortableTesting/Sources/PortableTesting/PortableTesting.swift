// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A failed expectation in a portable test case: where it failed and why.
///
/// Portable cases run in two places — inside `swift test` on the host and in a
/// statically linked Embedded Swift binary on riscv64 under qemu — so they use
/// only what Embedded Swift supports: typed throws, static strings, integers.
public struct TestFailure: Error, Sendable, CustomStringConvertible {
    /// What was expected.
    public var message: StaticString
    /// Source file of the failed expectation.
    public var file: StaticString
    /// Source line of the failed expectation.
    public var line: UInt
    /// For integer comparisons: the two values compared.
    public var values: (actual: Int64, expected: Int64)?

    /// Creates a failure.
    public init(_ message: StaticString, file: StaticString, line: UInt, values: (Int64, Int64)? = nil) {
        self.message = message
        self.file = file
        self.line = line
        self.values = values.map { (actual: $0.0, expected: $0.1) }
    }

    /// `file:line: message (actual X, expected Y)`.
    public var description: String {
        var text = "\(file):\(line): \(message)"
        if let values { text += " (actual \(values.actual), expected \(values.expected))" }
        return text
    }
}

/// One portable test case: a name and a body that throws ``TestFailure``.
///
/// ```swift
/// let cases = [
///     PortableTestCase("addition") { () throws(TestFailure) in
///         try expectEqual(1 + 1, 2)
///     }
/// ]
/// ```
public struct PortableTestCase: Sendable {
    /// The suite the case belongs to (usually the type or feature under test).
    public let suite: StaticString
    /// The case's name.
    public let name: StaticString
    /// The test body.
    public let body: @Sendable () throws(TestFailure) -> Void

    /// Creates a case in `suite`.
    public init(
        _ suite: StaticString, _ name: StaticString, _ body: @escaping @Sendable () throws(TestFailure) -> Void
    ) {
        self.suite = suite
        self.name = name
        self.body = body
    }

    /// Runs the case.
    public func run() throws(TestFailure) { try body() }
}

/// Fails with `message` unless `condition` holds.
///
/// ```swift
/// try expect(queue.isEmpty, "a new queue is empty")
/// ```
public func expect(
    _ condition: Bool, _ message: StaticString = "expectation failed", file: StaticString = #filePath,
    line: UInt = #line
) throws(TestFailure) {
    if !condition { throw TestFailure(message, file: file, line: line) }
}

/// Fails unless two integers are equal, recording both values.
public func expectEqual<T: BinaryInteger>(
    _ actual: T, _ expected: T, _ message: StaticString = "values differ", file: StaticString = #filePath,
    line: UInt = #line
) throws(TestFailure) {
    if actual != expected {
        throw TestFailure(
            message, file: file, line: line,
            values: (Int64(truncatingIfNeeded: actual), Int64(truncatingIfNeeded: expected)))
    }
}

/// Fails unless two equatable values are equal.
public func expectEqual<T: Equatable>(
    _ actual: T, _ expected: T, _ message: StaticString = "values differ", file: StaticString = #filePath,
    line: UInt = #line
) throws(TestFailure) {
    if actual != expected { throw TestFailure(message, file: file, line: line) }
}

/// Fails unless `body` throws an error of type `E` that satisfies `matches`.
///
/// ```swift
/// try expectThrows(MemoryError.self) { () throws(MemoryError) in try memory.read(at: .max) }
/// ```
public func expectThrows<E: Error>(
    _ type: E.Type, _ message: StaticString = "expected an error", file: StaticString = #filePath,
    line: UInt = #line, matching matches: (E) -> Bool = { _ in true }, _ body: () throws(E) -> Void
) throws(TestFailure) {
    do {
        try body()
    } catch {
        if matches(error) { return }
        throw TestFailure("an error was thrown but did not match", file: file, line: line)
    }
    throw TestFailure(message, file: file, line: line)
}

/// Runs portable cases and prints one line per failure plus per-suite totals,
/// ending with `N passed, M failed`. Used by the riscv64 test binary.
public enum PortableTestRunner {
    /// Runs every case; returns the number of failures.
    public static func run(_ cases: [PortableTestCase]) -> Int {
        var passed = 0
        var failed = 0
        var suitePassed = 0
        var suiteFailed = 0
        var currentSuite: StaticString?
        func finishSuite() {
            if let currentSuite { print("suite \(currentSuite): \(suitePassed) passed, \(suiteFailed) failed") }
        }
        for testCase in cases {
            if currentSuite.map({ !sameText($0, testCase.suite) }) ?? true {
                finishSuite()
                currentSuite = testCase.suite
                suitePassed = 0
                suiteFailed = 0
            }
            do throws(TestFailure) {
                try testCase.run()
                passed += 1
                suitePassed += 1
            } catch {
                failed += 1
                suiteFailed += 1
                print("FAIL \(testCase.suite).\(testCase.name): \(error.description)")
            }
        }
        finishSuite()
        print("\(passed) passed, \(failed) failed")
        return failed
    }

    /// Byte comparison of two static strings (String comparison pulls Unicode tables into Embedded builds).
    static func sameText(_ lhs: StaticString, _ rhs: StaticString) -> Bool {
        guard lhs.utf8CodeUnitCount == rhs.utf8CodeUnitCount else { return false }
        // SAFETY: both are literals (immortal storage); index < lhs count, which the guard made equal to rhs's.
        for index in 0..<lhs.utf8CodeUnitCount where unsafe lhs.utf8Start[index] != rhs.utf8Start[index] {
            return false
        }
        return true
    }
}

/// Runs `body`, which the case expects to succeed, and returns its result; an error
/// of the body's own type fails the case at the caller's line.
///
/// ```swift
/// let region = try expectNoError { () throws(GuestMemoryError) in try BufferRegion(start: 0, size: 4096) }
/// ```
public func expectNoError<T, E: Error>(
    _ message: StaticString = "unexpected error", file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws(E) -> T
) throws(TestFailure) -> T {
    do throws(E) {
        return try body()
    } catch {
        throw TestFailure(message, file: file, line: line)
    }
}

/// Fails unless `body` throws exactly `expected`.
///
/// ```swift
/// try expectError(AllocatorError.exhausted) { () throws(AllocatorError) in _ = try ids.allocate() }
/// ```
public func expectError<E: Error & Equatable>(
    _ expected: E, file: StaticString = #filePath, line: UInt = #line, _ body: () throws(E) -> Void
) throws(TestFailure) {
    try expectThrows(E.self, "expected a specific error", file: file, line: line, matching: { $0 == expected }, body)
}

/// SplitMix64: a small seeded generator, so a randomized case replays exactly on
/// every platform (the system generator is neither seeded nor available everywhere).
///
/// ```swift
/// var random = SplitMix64(seed: 42)
/// let size = UInt64.random(in: 1...4096, using: &random)
/// ```
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's state; advances by the golden-ratio increment per draw.
    public var state: UInt64

    /// Starts a sequence from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
        return mixed ^ (mixed >> 31)
    }
}
