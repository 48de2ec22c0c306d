// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import VMMSysUtil

/// Why a token bucket or rate limiter could not be built.
///
/// ```swift
/// do {
///     _ = try TokenBucket(size: 0, refillTime: .milliseconds(100))
/// } catch {
///     print(error)  // a token bucket needs a size above zero
/// }
/// ```
public enum RateLimiterError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bucket size was zero: it could never allow anything.
    case zeroSize
    /// The refill time was zero or negative: the bucket would refill infinitely fast.
    case nonPositiveRefillTime(Duration)

    /// One line naming the problem.
    public var description: String {
        switch self {
        case .zeroSize: "a token bucket needs a size above zero"
        case .nonPositiveRefillTime(let time): "a token bucket needs a refill time above zero, got \(time)"
        }
    }
}

/// A token bucket: holds up to ``size`` tokens, refills at `size` tokens per
/// ``refillTime`` and, once, lends an extra ``oneTimeBurst`` that is spent
/// first and never comes back (a fast start, say for a guest's boot).
///
/// A bucket is pure arithmetic on a time value the caller passes in
/// (nanosecond-exact integers, no floating point), so the same inputs always
/// give the same answers. It starts full.
///
/// A request larger than the whole bucket could never be allowed by waiting;
/// instead it is allowed when the bucket is full, and the excess becomes a
/// debt that later refills pay back first, so the average rate still holds.
///
/// ```swift
/// var bucket = try TokenBucket(size: 1000, refillTime: .seconds(1))
/// bucket.consume(600, at: .zero)                 // .allowed
/// bucket.consume(600, at: .milliseconds(100))    // .throttled(retryAfter: 100 ms): 500 left, 100 more needed
/// bucket.consume(600, at: .milliseconds(200))    // .allowed
/// ```
public struct TokenBucket: Sendable, Hashable {
    /// The most tokens the bucket holds (excluding the one-time burst).
    public let size: UInt64
    /// How long an empty bucket takes to fill up.
    public let refillTime: Duration
    /// The extra tokens granted once, at creation.
    public let oneTimeBurst: UInt64
    /// Tokens available now (as of the last call), excluding the burst.
    public private(set) var tokens: UInt64
    /// What is left of the one-time burst.
    public private(set) var burstRemaining: UInt64
    /// Tokens owed by an oversized request; refills pay this before ``tokens`` grow.
    public private(set) var debt: UInt64 = 0
    /// Nanoseconds of `refillTime` (at least 1).
    let refillNanoseconds: UInt64
    /// The time of the last refill, in nanoseconds of the caller's clock.
    var lastRefill: UInt64?
    /// Refill progress below one token, in token-nanoseconds (`< refillNanoseconds`):
    /// kept so that many small refills add up exactly to what one large one would.
    var carry: UInt64 = 0

    /// A full bucket of `size` tokens that refills completely in `refillTime`,
    /// plus `oneTimeBurst` tokens that can be spent once.
    public init(size: UInt64, refillTime: Duration, oneTimeBurst: UInt64 = 0) throws(RateLimiterError) {
        guard size > 0 else { throw .zeroSize }
        let nanoseconds = Self.nanoseconds(refillTime)
        guard refillTime > .zero, nanoseconds > 0 else { throw .nonPositiveRefillTime(refillTime) }
        self.size = size
        self.refillTime = refillTime
        self.oneTimeBurst = oneTimeBurst
        refillNanoseconds = nanoseconds
        tokens = size
        burstRemaining = oneTimeBurst
    }

    /// Takes `count` tokens at time `now` (burst first, then the bucket) if they
    /// are there; otherwise takes nothing and says how long until they will be.
    public mutating func consume(_ count: UInt64, at now: Duration) -> RateLimiter.Decision {
        refill(at: now)
        if let wait = waitTime(for: count) { return .throttled(retryAfter: wait) }
        take(count)
        return .allowed
    }

    /// How long until `count` tokens could be taken at `now`, or nil when they can
    /// be taken now. Refills first, takes nothing.
    public mutating func timeUntilAvailable(_ count: UInt64, at now: Duration) -> Duration? {
        refill(at: now)
        return waitTime(for: count)
    }

    /// Gives back `count` tokens taken earlier (the work they paid for was not done),
    /// up to a full bucket; the burst is not refunded.
    public mutating func refund(_ count: UInt64) {
        let repaid = min(debt, count)
        debt -= repaid
        let (sum, overflow) = tokens.addingReportingOverflow(count - repaid)
        tokens = overflow ? size : min(size, sum)
    }

    /// Adds the tokens earned since the last refill.
    mutating func refill(at now: Duration) {
        let current = Self.nanoseconds(now)
        guard let last = lastRefill else {
            lastRefill = current
            return
        }
        // A clock that went backwards earns nothing; time is measured from the later point.
        guard current > last else {
            if current < last { lastRefill = current }
            return
        }
        lastRefill = current
        var earned = Self.tokensEarned(
            elapsed: current - last, size: size, refill: refillNanoseconds, carry: &carry)
        let repaid = min(debt, earned)
        debt -= repaid
        earned -= repaid
        let (sum, overflow) = tokens.addingReportingOverflow(earned)
        tokens = overflow ? size : min(size, sum)
        // A full bucket stores no partial token: waiting longer must not make it fuller.
        if tokens == size { carry = 0 }
    }

    /// Nil when `count` tokens can be taken now, else the time until they can.
    func waitTime(for count: UInt64) -> Duration? {
        let needed = count - min(burstRemaining, count)
        if needed == 0 { return nil }
        if debt == 0 {
            if needed <= tokens { return nil }
            // More than the bucket holds: allowed only from a full bucket, the rest becomes debt.
            if needed > size && tokens == size { return nil }
        }
        let target = min(needed, size)
        let (short, overflow) = (target - min(target, tokens)).addingReportingOverflow(debt)
        let nanoseconds = Self.timeToEarn(
            overflow ? .max : short, size: size, refill: refillNanoseconds, carry: carry)
        return .nanoseconds(Int64(clamping: nanoseconds))
    }

    /// Takes `count` tokens; ``waitTime(for:)`` returned nil for it.
    mutating func take(_ count: UInt64) {
        let fromBurst = min(burstRemaining, count)
        burstRemaining -= fromBurst
        let needed = count - fromBurst
        if needed <= tokens {
            tokens -= needed
        } else {
            debt = needed - tokens
            tokens = 0
        }
    }

    /// `floor((elapsed * size + carry) / refill)`, keeping the remainder in `carry`;
    /// saturates instead of overflowing.
    static func tokensEarned(elapsed: UInt64, size: UInt64, refill: UInt64, carry: inout UInt64) -> UInt64 {
        let product = elapsed.multipliedFullWidth(by: size)
        let (low, overflow) = product.low.addingReportingOverflow(carry)
        // elapsed * size < 2^128 - 2^65, so adding one to the high half cannot overflow.
        let high = product.high + (overflow ? 1 : 0)
        guard high < refill else {
            carry = 0
            return .max
        }
        let (quotient, remainder) = refill.dividingFullWidth((high: high, low: low))
        carry = remainder
        return quotient
    }

    /// Nanoseconds until `count` more tokens are earned: `ceil((count * refill - carry) / size)`.
    static func timeToEarn(_ count: UInt64, size: UInt64, refill: UInt64, carry: UInt64) -> UInt64 {
        guard count > 0 else { return 0 }
        var product = count.multipliedFullWidth(by: refill)
        // carry < refill <= count * refill, so this never goes below zero.
        let (low, borrow) = product.low.subtractingReportingOverflow(carry)
        product = (high: product.high - (borrow ? 1 : 0), low: low)
        // Round up: add size - 1 before dividing.
        let (rounded, overflow) = product.low.addingReportingOverflow(size - 1)
        let high = product.high + (overflow ? 1 : 0)
        guard high < size else { return .max }
        return size.dividingFullWidth((high: high, low: rounded)).quotient
    }

    /// Whole nanoseconds of a duration; negative durations count as zero, huge ones saturate.
    static func nanoseconds(_ duration: Duration) -> UInt64 {
        UInt64(max(0, duration.wholeNanoseconds))
    }
}
