// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// One classic BPF instruction (`struct sock_filter`).
public struct BPFInstruction: Hashable, Sendable, CustomStringConvertible {
    /// The operation (`BPF_LD | BPF_W | BPF_ABS`, `BPF_JMP | BPF_JEQ | BPF_K`, `BPF_RET | BPF_K`...).
    public var code: UInt16
    /// Instructions to skip when a jump's condition holds.
    public var jumpIfTrue: UInt8
    /// Instructions to skip when it does not.
    public var jumpIfFalse: UInt8
    /// The constant operand: an offset into `seccomp_data`, a value to compare, or a return action.
    public var k: UInt32

    /// Creates an instruction.
    public init(code: UInt16, jumpIfTrue: UInt8, jumpIfFalse: UInt8, k: UInt32) {
        self.code = code
        self.jumpIfTrue = jumpIfTrue
        self.jumpIfFalse = jumpIfFalse
        self.k = k
    }

    /// The size of an instruction in a program's bytes.
    public static let byteCount = 8

    /// The instruction as C would write it: `{ 0x0020, 0, 0, 0x00000004 }`.
    public var description: String {
        "{ 0x\(hex(UInt32(code), digits: 4)), \(jumpIfTrue), \(jumpIfFalse), 0x\(hex(k, digits: 8)) }"
    }
}

/// Why bytes or instructions do not form a program the kernel could load.
public enum BPFProgramError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No instructions at all.
    case empty
    /// More instructions than the kernel accepts (``BPFProgram/maximumLength``).
    case tooLong(count: Int)
    /// A byte count that is not a whole number of 8-byte instructions.
    case partialInstruction(byteCount: Int)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .empty: return "a BPF program needs at least one instruction"
        case .tooLong(let count):
            return "\(count) instructions is more than the kernel's \(BPFProgram.maximumLength)"
        case .partialInstruction(let byteCount):
            return "\(byteCount) bytes is not a whole number of \(BPFInstruction.byteCount)-byte instructions"
        }
    }
}

/// A compiled seccomp filter: the classic BPF program the kernel runs on every system call.
///
/// Programs can be stored and loaded again through ``bytes`` (the `struct sock_filter` array in
/// the host's byte order, exactly what libseccomp's `seccomp_export_bpf` writes), so a VMM can
/// compile its filters at build time and only install them at run time.
///
/// ```swift
/// let program = try SeccompFilter(default: .errno(EPERM)) { Rule("read") }.compile()
/// let stored = program.bytes                        // write to a file...
/// let loaded = try BPFProgram(bytes: stored)        // ...read back later
/// try loaded.install(for: .currentThread)
/// ```
public struct BPFProgram: Hashable, Sendable {
    /// The kernel's limit on instructions per program (`BPF_MAXINSNS`).
    public static let maximumLength = 4096

    /// The instructions, at least one and at most ``maximumLength``.
    public let instructions: [BPFInstruction]

    /// Wraps instructions, checking the kernel's length limits.
    public init(instructions: [BPFInstruction]) throws(BPFProgramError) {
        if instructions.isEmpty { throw .empty }
        if instructions.count > Self.maximumLength { throw .tooLong(count: instructions.count) }
        self.instructions = instructions
    }

    /// Reads a program from `struct sock_filter` bytes in the host's byte order.
    public init(bytes: [UInt8]) throws(BPFProgramError) {
        let size = BPFInstruction.byteCount
        if bytes.count % size != 0 { throw .partialInstruction(byteCount: bytes.count) }
        // Checked before decoding so a huge input costs no work.
        if bytes.count / size > Self.maximumLength { throw .tooLong(count: bytes.count / size) }
        var decoded: [BPFInstruction] = []
        decoded.reserveCapacity(bytes.count / size)
        for start in stride(from: 0, to: bytes.count, by: size) {
            decoded.append(
                BPFInstruction(
                    code: UInt16(hostOrder: bytes[start..<start + 2]),
                    jumpIfTrue: bytes[start + 2],
                    jumpIfFalse: bytes[start + 3],
                    k: UInt32(hostOrder: bytes[start + 4..<start + 8])))
        }
        try self.init(instructions: decoded)
    }

    /// The program as `struct sock_filter` bytes in the host's byte order.
    public var bytes: [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(instructions.count * BPFInstruction.byteCount)
        for instruction in instructions {
            // SAFETY: reads the two bytes of a local UInt16 inside the closure only.
            unsafe withUnsafeBytes(of: instruction.code) { unsafe result.append(contentsOf: $0) }
            result.append(instruction.jumpIfTrue)
            result.append(instruction.jumpIfFalse)
            // SAFETY: reads the four bytes of a local UInt32 inside the closure only.
            unsafe withUnsafeBytes(of: instruction.k) { unsafe result.append(contentsOf: $0) }
        }
        return result
    }
}

extension FixedWidthInteger {
    /// Assembles an integer from exactly `MemoryLayout<Self>.size` bytes in the host's order.
    fileprivate init(hostOrder bytes: ArraySlice<UInt8>) {
        var value = Self.zero
        unsafe withUnsafeMutableBytes(of: &value) { raw in
            // SAFETY: callers pass exactly MemoryLayout<Self>.size bytes, the size of `raw`.
            unsafe raw.copyBytes(from: bytes)
        }
        self = value
    }
}
