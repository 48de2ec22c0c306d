// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// `fallocate(2)`: allocating, deallocating and zeroing file ranges without writing them,
/// plus the `O_DIRECT` open flag; both need `_GNU_SOURCE`, which Swift's Glibc module lacks.
///
/// ```swift
/// // Free the blocks of the first MiB; the file keeps its size and reads zeros there.
/// let supported = try FileSpace.allocate(fd, mode: [.punchHole, .keepSize], offset: 0, length: 1 << 20)
/// ```
public enum FileSpace {
    /// `fallocate` modes.
    public struct Mode: OptionSet, Sendable, Hashable {
        /// The raw `FALLOC_FL_*` bits.
        public let rawValue: Int32
        /// Creates a mode from raw bits.
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// `FALLOC_FL_KEEP_SIZE`: never change the file's size.
        public static let keepSize = Mode(rawValue: cvmm_falloc_keep_size())
        /// `FALLOC_FL_PUNCH_HOLE`: deallocate (requires ``keepSize``).
        public static let punchHole = Mode(rawValue: cvmm_falloc_punch_hole())
        /// `FALLOC_FL_ZERO_RANGE`: read back zeros, keeping the space allocated.
        public static let zeroRange = Mode(rawValue: cvmm_falloc_zero_range())
    }

    /// `O_DIRECT` for `open(2)` on this architecture.
    public static var directIOFlag: Int32 { cvmm_o_direct() }

    /// Applies `mode` to `[offset, offset + length)` of `descriptor`, retrying `EINTR`. Returns false
    /// when the file system does not support the mode (`EOPNOTSUPP`, `ENOSYS`), so callers can fall
    /// back to writing; other failures throw.
    public static func allocate(
        _ descriptor: Int32, mode: Mode, offset: UInt64, length: UInt64
    ) throws(SystemError) -> Bool {
        guard offset <= UInt64(Int64.max), length <= UInt64(Int64.max) - offset else {
            throw SystemError("fallocate", errno: Errno(rawValue: EINVAL))
        }
        while true {
            if cvmm_fallocate(descriptor, mode.rawValue, Int64(offset), Int64(length)) == 0 { return true }
            let error = Errno(rawValue: cvmm_errno())
            switch error.rawValue {
            case EINTR: continue
            case EOPNOTSUPP, ENOSYS: return false
            default: throw SystemError("fallocate", errno: error)
            }
        }
    }
}
