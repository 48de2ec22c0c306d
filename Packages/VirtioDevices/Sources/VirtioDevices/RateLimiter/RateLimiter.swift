// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Glibc

/// Where a ``RateLimiter`` reads the time: the host's monotonic clock, or any
/// closure (tests pass one they advance by hand, so throttling is deterministic).
///
/// ```swift
/// let host = RateLimiterClock.monotonic
/// let start = ContinuousClock.now
/// let sinceStart = RateLimiterClock { ContinuousClock.now - start }
/// ```
public struct RateLimiterClock: Sendable {
    /// The current time as a duration since an arbitrary, fixed origin.
    public let now: @Sendable () -> Duration

    /// A clock that calls `now`; it must never go backwards by much (a step back earns no tokens).
    public init(_ now: @escaping @Sendable () -> Duration) { self.now = now }

    /// `CLOCK_MONOTONIC`: the clock `TimerFd` uses, so a wait it computes matches the timer.
    public static var monotonic: RateLimiterClock {
        RateLimiterClock {
            var time = timespec()
            // SAFETY: `time` is a local timespec, alive for the call: the one struct clock_gettime writes.
            unsafe clock_gettime(CLOCK_MONOTONIC, &time)
            return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
        }
    }
}

/// Limits a device's I/O with two token buckets, one for bytes and one for
/// operations, the way Firecracker's rate limiter does. Either bucket may be
/// absent (no limit of that kind).
///
/// Each request asks for its cost before it runs; a request is either allowed
/// (its tokens are taken from both buckets) or throttled (nothing is taken) with
/// the time after which asking again will succeed. A device that is throttled
/// stops taking requests and arms a ``ThrottleTimer`` for that time.
///
/// The limiter is a value: the device keeps it with the rest of its state,
/// behind its lock. It is not tied to block devices; a network device charges
/// frames to it the same way.
///
/// ```swift
/// var limiter = RateLimiter(
///     bandwidth: try TokenBucket(size: 10 << 20, refillTime: .seconds(1)),   // 10 MiB/s
///     operations: try TokenBucket(size: 1000, refillTime: .seconds(1), oneTimeBurst: 5000))
/// switch limiter.consume(operations: 1, bytes: 4096) {
/// case .allowed: performRequest()
/// case .throttled(let wait): try timer.arm(after: wait)
/// }
/// ```
public struct RateLimiter: Sendable {
    /// The answer to a request for tokens.
    public enum Decision: Sendable, Hashable {
        /// The tokens were taken; go ahead.
        case allowed
        /// Nothing was taken; enough tokens exist again after `retryAfter`.
        case throttled(retryAfter: Duration)

        /// Whether the request may go ahead.
        public var isAllowed: Bool { self == .allowed }

        /// The wait when throttled, nil when allowed.
        public var retryAfter: Duration? {
            if case .throttled(let wait) = self { return wait }
            return nil
        }
    }

    /// The byte bucket (nil: bytes are not limited).
    public private(set) var bandwidth: TokenBucket?
    /// The operation bucket (nil: operations are not limited).
    public private(set) var operations: TokenBucket?
    /// The clock the buckets refill by.
    public let clock: RateLimiterClock

    /// A limiter with the given buckets on `clock`.
    public init(bandwidth: TokenBucket? = nil, operations: TokenBucket? = nil, clock: RateLimiterClock = .monotonic) {
        self.bandwidth = bandwidth
        self.operations = operations
        self.clock = clock
        let now = clock.now()
        // Start measuring refills from now, not from the first request.
        self.bandwidth?.refill(at: now)
        self.operations?.refill(at: now)
    }

    /// A limiter that never throttles.
    public static var unlimited: RateLimiter { RateLimiter() }

    /// Whether any bucket is configured.
    public var isLimiting: Bool { bandwidth != nil || operations != nil }

    /// Takes `count` bytes if the byte bucket has them.
    public mutating func consume(bytes count: UInt64) -> Decision { consume(operations: 0, bytes: count) }

    /// Takes `count` operations if the operation bucket has them.
    public mutating func consume(operations count: UInt64) -> Decision { consume(operations: count, bytes: 0) }

    /// Takes `operations` and `bytes` together, or neither: a request is never
    /// half-charged. When throttled, the wait is the longer of the two buckets'.
    public mutating func consume(operations count: UInt64, bytes: UInt64) -> Decision {
        let now = clock.now()
        var wait: Duration?
        if count > 0, let delay = operations?.timeUntilAvailable(count, at: now) { wait = delay }
        if bytes > 0, let delay = bandwidth?.timeUntilAvailable(bytes, at: now) { wait = max(wait ?? .zero, delay) }
        if let wait { return .throttled(retryAfter: wait) }
        if count > 0 { operations?.take(count) }
        if bytes > 0 { bandwidth?.take(bytes) }
        return .allowed
    }

    /// Gives back tokens for work that was charged but not done.
    public mutating func refund(operations count: UInt64 = 0, bytes: UInt64 = 0) {
        if count > 0 { operations?.refund(count) }
        if bytes > 0 { bandwidth?.refund(bytes) }
    }
}
