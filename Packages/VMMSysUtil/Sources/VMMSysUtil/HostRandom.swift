// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import CVMMSysUtil
import Glibc

/// The host kernel's random number generator (`getrandom(2)`, the urandom pool; it
/// blocks only before the pool is first initialised at boot).
///
/// ```swift
/// let key = try HostRandom.bytes(32)
/// ```
public enum HostRandom {
    /// Fills `buffer` completely, retrying short reads and interruptions.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(SystemError) {
        guard let base = buffer.baseAddress else { return }
        var filled = 0
        while filled < buffer.count {
            // SAFETY: base is non-nil and filled < buffer.count, so [base + filled, base + count) lies inside
            // the caller's buffer (vouched for by the unsafe parameter); getrandom writes at most that length.
            let result = unsafe cvmm_getrandom(base + filled, buffer.count - filled, 0)
            if result < 0 {
                if cvmm_errno() == EINTR { continue }
                throw SystemError.current("getrandom")
            }
            filled += result
        }
    }

    /// `count` random bytes.
    public static func bytes(_ count: Int) throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        // SAFETY: fill writes exactly the array's own `count` bytes.
        let failure: SystemError? = unsafe bytes.withUnsafeMutableBytes { raw in
            do throws(SystemError) { try unsafe fill(raw) } catch { return error }
            return nil
        }
        if let failure { throw failure }
        return bytes
    }
}
