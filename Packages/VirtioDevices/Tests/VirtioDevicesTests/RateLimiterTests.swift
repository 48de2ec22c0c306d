// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import EventManager
import Glibc
import Synchronization
import Testing
import VMMSysUtil
import VirtioDevices

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let nanoseconds = Atomic<Int64>(0)

    var now: Duration { .nanoseconds(nanoseconds.load(ordering: .acquiring)) }
    var clock: RateLimiterClock { RateLimiterClock { [self] in now } }

    func advance(_ duration: Duration) {
        nanoseconds.add(duration.wholeNanoseconds, ordering: .releasing)
    }

    func set(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        nanoseconds.store(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .releasing)
    }
}

@Suite("token buckets and the rate limiter")
struct RateLimiterTests {
    @Test("a full bucket allows its size, then says exactly how long to wait")
    func exactWait() throws {
        var bucket = try TokenBucket(size: 1000, refillTime: .seconds(1))
        #expect(bucket.consume(1000, at: .zero) == .allowed)
        #expect(bucket.tokens == 0)
        // 1000 tokens per second: one token per millisecond.
        #expect(bucket.consume(1, at: .zero) == .throttled(retryAfter: .milliseconds(1)))
        #expect(bucket.consume(1, at: .nanoseconds(999_999)) == .throttled(retryAfter: .nanoseconds(1)))
        #expect(bucket.consume(1, at: .milliseconds(1)) == .allowed)
        // 250 tokens need 250 ms from empty.
        #expect(bucket.consume(250, at: .milliseconds(1)) == .throttled(retryAfter: .milliseconds(250)))
        #expect(bucket.consume(250, at: .milliseconds(251)) == .allowed)
    }

    @Test("refills stop at the size; a refused request takes nothing")
    func capAndAtomicity() throws {
        var bucket = try TokenBucket(size: 100, refillTime: .milliseconds(100))
        #expect(bucket.consume(60, at: .zero) == .allowed)
        #expect(bucket.consume(50, at: .zero).retryAfter == .milliseconds(10))
        #expect(bucket.tokens == 40, "a refused request must not take tokens")
        #expect(bucket.timeUntilAvailable(100, at: .seconds(10)) == nil)
        #expect(bucket.tokens == 100)
        #expect(bucket.consume(100, at: .seconds(10)) == .allowed)
        #expect(bucket.consume(1, at: .seconds(10)).retryAfter == .milliseconds(1))
    }

    @Test("many small refills add up exactly (no rounding loss)")
    func fractionalRefill() throws {
        // Three tokens per second: each millisecond earns a third of a hundredth of a token.
        var bucket = try TokenBucket(size: 3, refillTime: .seconds(1))
        #expect(bucket.consume(3, at: .zero) == .allowed)
        var time = Duration.zero
        for _ in 0..<999 {
            time += .milliseconds(1)
            _ = bucket.timeUntilAvailable(3, at: time)
        }
        #expect(bucket.tokens == 2, "0.999 s earns 2.997 tokens")
        time += .milliseconds(1)
        #expect(bucket.consume(3, at: time) == .allowed, "1 s earns exactly 3 tokens")
    }

    @Test("the one-time burst is spent first and never refills")
    func burst() throws {
        var bucket = try TokenBucket(size: 10, refillTime: .seconds(1), oneTimeBurst: 100)
        #expect(bucket.consume(105, at: .zero) == .allowed)
        #expect(bucket.burstRemaining == 0)
        #expect(bucket.tokens == 5)
        #expect(bucket.consume(6, at: .zero).retryAfter == .milliseconds(100))
        #expect(bucket.timeUntilAvailable(10, at: .seconds(60)) == nil)
        #expect(bucket.burstRemaining == 0)
        #expect(bucket.tokens == 10)
    }

    @Test("a request larger than the bucket runs from a full bucket and leaves a debt")
    func oversized() throws {
        var bucket = try TokenBucket(size: 100, refillTime: .seconds(1))
        #expect(bucket.consume(250, at: .zero) == .allowed)
        #expect(bucket.debt == 150)
        #expect(bucket.tokens == 0)
        // One more token needs the 150 owed plus 1: 1.51 s.
        #expect(bucket.consume(1, at: .zero).retryAfter == .milliseconds(1510))
        #expect(bucket.consume(1, at: .milliseconds(1500)).retryAfter == .milliseconds(10))
        #expect(bucket.debt == 0)
        #expect(bucket.consume(1, at: .milliseconds(1510)) == .allowed)
        // Not full: an oversized request waits until the bucket is.
        #expect(bucket.consume(500, at: .milliseconds(1510)).retryAfter == .milliseconds(1000))
        #expect(bucket.consume(500, at: .milliseconds(2510)) == .allowed)
    }

    @Test("invalid buckets are typed errors; extreme values saturate instead of trapping")
    func extremes() throws {
        #expect(throws: RateLimiterError.zeroSize) { _ = try TokenBucket(size: 0, refillTime: .seconds(1)) }
        #expect(throws: RateLimiterError.nonPositiveRefillTime(.zero)) {
            _ = try TokenBucket(size: 1, refillTime: .zero)
        }
        #expect(throws: RateLimiterError.nonPositiveRefillTime(.seconds(-1))) {
            _ = try TokenBucket(size: 1, refillTime: .seconds(-1))
        }
        var huge = try TokenBucket(size: .max, refillTime: .nanoseconds(1))
        #expect(huge.consume(.max, at: .zero) == .allowed)
        #expect(huge.consume(.max, at: .seconds(1_000_000_000)) == .allowed)
        var slow = try TokenBucket(size: 1, refillTime: .seconds(Int64.max))
        #expect(slow.consume(1, at: .zero) == .allowed)
        let wait = try #require(slow.consume(1, at: .zero).retryAfter)
        #expect(wait > .seconds(1_000_000))
        // A clock that steps back earns nothing and breaks nothing.
        var bucket = try TokenBucket(size: 10, refillTime: .seconds(1))
        #expect(bucket.consume(10, at: .seconds(5)) == .allowed)
        #expect(bucket.consume(1, at: .seconds(1)).retryAfter == .milliseconds(100))
        #expect(bucket.consume(1, at: .seconds(1) + .milliseconds(100)) == .allowed)
    }

    @Test("over any run, what is allowed never exceeds size + burst + rate × time")
    func longRunBound() throws {
        let size: UInt64 = 4096
        let burst: UInt64 = 10_000
        // Saturated: time passes only by the advised waits, so no refill is wasted on a
        // full bucket and the total allowed meets the bound up to one request.
        // Idle: random pauses too, where a full bucket wastes refills; only the bound holds.
        for idle in [false, true] {
            var bucket = try TokenBucket(size: size, refillTime: .milliseconds(100), oneTimeBurst: burst)
            var random: UInt64 = 0x9E37_79B9_7F4A_7C15
            var time = Duration.zero
            var allowed: UInt64 = 0
            for _ in 0..<20_000 {
                random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let request = (random >> 33) % 3000 + 1
                if case .throttled(let wait) = bucket.consume(request, at: time) {
                    // Waiting exactly the advised time must be enough.
                    time += wait
                    #expect(bucket.consume(request, at: time) == .allowed)
                }
                allowed += request
                if idle { time += .microseconds(Int64((random >> 20) % 200)) }
            }
            let nanoseconds =
                UInt64(time.components.seconds) * 1_000_000_000 + UInt64(time.components.attoseconds / 1_000_000_000)
            let earned = nanoseconds * size / 100_000_000
            #expect(allowed <= size + burst + earned)
            if !idle { #expect(allowed + 3000 >= size + burst + earned) }
        }
    }

    @Test("the limiter charges operations and bytes together or not at all")
    func limiterBothBuckets() throws {
        let clock = ManualClock()
        var limiter = RateLimiter(
            bandwidth: try TokenBucket(size: 1000, refillTime: .seconds(1)),
            operations: try TokenBucket(size: 10, refillTime: .seconds(1)), clock: clock.clock)
        #expect(limiter.isLimiting)
        #expect(limiter.consume(operations: 1, bytes: 1000) == .allowed)
        // Bytes are short (1 ms), operations are not: nothing is taken from either.
        #expect(limiter.consume(operations: 1, bytes: 1).retryAfter == .milliseconds(1))
        #expect(limiter.operations?.tokens == 9)
        #expect(limiter.consume(operations: 9) == .allowed)
        // Both short: the longer wait wins (an operation takes 100 ms, 500 bytes 500 ms).
        #expect(limiter.consume(operations: 1, bytes: 500).retryAfter == .milliseconds(500))
        clock.advance(.milliseconds(500))
        #expect(limiter.consume(operations: 1, bytes: 500) == .allowed)
        limiter.refund(operations: 1, bytes: 500)
        #expect(limiter.operations?.tokens == 5)
        #expect(limiter.bandwidth?.tokens == 500)
        #expect(limiter.consume(bytes: 500) == .allowed)
        var unlimited = RateLimiter.unlimited
        #expect(!unlimited.isLimiting)
        #expect(unlimited.consume(operations: .max, bytes: .max) == .allowed)
    }

    @Test("the monotonic clock moves forward")
    func monotonicClock() {
        let clock = RateLimiterClock.monotonic
        let first = clock.now()
        usleep(2000)
        #expect(clock.now() - first >= .milliseconds(1))
    }

    @Test("a throttle timer fires once on its event loop's thread, and not after detach")
    func throttleTimer() throws {
        let loop = try EventLoopThread.start()
        defer { _ = loop.stopAndJoin() }
        let loopThread = try loop.remote.call { _ in pthread_self() }
        let fired = Atomic<Int>(0)
        let firedOnLoop = Atomic<Bool>(false)
        let timer = try ThrottleTimer {
            fired.add(1, ordering: .relaxed)
            firedOnLoop.store(pthread_equal(pthread_self(), loopThread) != 0, ordering: .relaxed)
        }
        try timer.attach(to: loop.remote)
        try timer.arm(after: .milliseconds(5))
        #expect(timer.isArmed)
        let deadline = ContinuousClock.now + .seconds(10)
        while fired.load(ordering: .relaxed) == 0 && ContinuousClock.now < deadline { usleep(1000) }
        #expect(fired.load(ordering: .relaxed) == 1)
        let onLoop = firedOnLoop.load(ordering: .relaxed)
        #expect(onLoop)
        #expect(!timer.isArmed)

        // Armed, then detached before it expires: it never fires.
        try timer.arm(after: .milliseconds(20))
        timer.detach()
        #expect(!timer.isArmed)
        try timer.arm(after: .milliseconds(1))  // ignored once detached
        usleep(200_000)
        #expect(fired.load(ordering: .relaxed) == 1)
        // The loop removed the timer's subscriber (only the loop's own registrations remain).
        let subscribers = try loop.remote.call { manager in manager.subscriberCount }
        #expect(subscribers == 0)
    }
}
