// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import Synchronization

/// One bit per page of a region, set when the VMM writes to that page.
///
/// KVM's dirty log covers writes the guest makes; writes the VMM makes itself
/// (device emulation, DMA into guest RAM) are recorded here, so a snapshot or
/// a live migration can combine both. Bits are set with atomic OR, so any
/// number of threads may write guest memory while another thread collects
/// and clears the bitmap.
///
/// ```swift
/// let bitmap = DirtyBitmap(size: 1 << 20)        // 256 pages of 4 KiB
/// bitmap.mark(offset: 0x1ffe, length: 4)          // pages 1 and 2
/// print(bitmap.takeDirtyPages())                  // [1, 2], and the bits are cleared
/// ```
public final class DirtyBitmap: @unchecked Sendable {
    // @unchecked: the only mutable state is the word array, and every access to
    // it goes through Atomic operations.

    /// The granule tracked by one bit, in bytes (a power of two).
    public let pageSize: UInt64
    /// The number of bytes covered.
    public let size: UInt64
    /// The number of pages (bits) covered.
    public var pageCount: Int { view.pageCount }

    @usableFromInline let view: DirtyBitmapView

    /// A bitmap for `size` bytes in pages of `pageSize` bytes.
    ///
    /// - Precondition: `pageSize` is a power of two of at least 64 bytes and
    ///   the page count fits in memory (the VMM chooses these, not the guest).
    public init(size: UInt64, pageSize: UInt64 = 4096) {
        precondition(pageSize >= 64 && pageSize & (pageSize - 1) == 0, "DirtyBitmap page size must be a power of two")
        self.pageSize = pageSize
        self.size = size
        let shift = UInt64(pageSize.trailingZeroBitCount)
        let pages = (size >> shift) + (size & (pageSize - 1) == 0 ? 0 : 1)
        let wordCount = Int((pages + 63) / 64)
        let words = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: Swift.max(wordCount, 1))
        // SAFETY: `words` was just allocated with capacity max(wordCount, 1); each index below it is initialized
        // once, and the view records pageCount = pages, which needs only wordCount = ceil(pages / 64) words.
        for index in 0..<Swift.max(wordCount, 1) { unsafe (words + index).initialize(to: Atomic(0)) }
        view = unsafe DirtyBitmapView(words: words, pageShift: shift, pageCount: Int(pages))
    }

    deinit {
        let wordCount = Swift.max((view.pageCount + 63) / 64, 1)
        // SAFETY: wordCount recomputes max(ceil(pageCount / 64), 1), the count init allocated and initialized;
        // the bitmap owns `words` and this is the only release.
        unsafe view.words.deinitialize(count: wordCount)
        unsafe view.words.deallocate()
    }

    /// Marks every page that `[offset, offset + length)` touches; bytes past ``size`` are ignored.
    @inlinable
    public func mark(offset: UInt64, length: UInt64) { view.mark(offset: offset, length: length) }

    /// Whether `page` has been written since the last clear (false past the end).
    public func isDirty(page: Int) -> Bool {
        guard page >= 0, page < view.pageCount else { return false }
        // SAFETY: 0 <= page < pageCount (guard above), so page >> 6 < ceil(pageCount / 64), an allocated word.
        return unsafe view.words[page >> 6].load(ordering: .relaxed) & (1 << UInt64(page & 63)) != 0
    }

    /// Whether any page that `[offset, offset + length)` touches is dirty.
    public func isDirty(offset: UInt64, length: UInt64) -> Bool {
        guard length > 0, offset < size else { return false }
        let (rangeEnd, overflow) = offset.addingReportingOverflow(length - 1)
        let lastByte = overflow ? size - 1 : Swift.min(rangeEnd, size - 1)
        let firstPage = Int(offset >> view.pageShift)
        let lastPage = Int(lastByte >> view.pageShift)
        for page in firstPage...lastPage where isDirty(page: page) { return true }
        return false
    }

    /// The dirty page numbers, in order; the bits stay set.
    public func dirtyPages() -> [Int] { collect(clearing: false) }

    /// The dirty page numbers, in order, clearing each word atomically as it is read,
    /// so a write racing with the collection is either reported now or stays set.
    public func takeDirtyPages() -> [Int] { collect(clearing: true) }

    /// Clears every bit.
    public func clear() { _ = collect(clearing: true) }

    private func collect(clearing: Bool) -> [Int] {
        var pages: [Int] = []
        let wordCount = (view.pageCount + 63) / 64
        for index in 0..<wordCount {
            // SAFETY: index < ceil(pageCount / 64), the number of words init allocated and initialized.
            var word =
                unsafe clearing
                ? view.words[index].exchange(0, ordering: .acquiringAndReleasing)
                : view.words[index].load(ordering: .acquiring)
            while word != 0 {
                let bit = word.trailingZeroBitCount
                pages.append(index * 64 + bit)
                word &= word - 1
            }
        }
        return pages
    }
}

/// The storage of a ``DirtyBitmap`` without reference counting, kept next to a
/// region's host address in the lookup table so writes need no retain/release.
/// Valid while the ``DirtyBitmap`` that made it is alive (its region keeps it).
@safe  // SAFETY: the word pointer is dereferenced only for bit indexes below the page count it was made for.
@frozen
public struct DirtyBitmapView: @unchecked Sendable {
    // @unchecked: the pointer refers to Atomic words owned by a DirtyBitmap.
    @usableFromInline let words: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline let pageShift: UInt64
    @usableFromInline let pageCount: Int

    @inlinable
    init(words: UnsafeMutablePointer<Atomic<UInt64>>, pageShift: UInt64, pageCount: Int) {
        // SAFETY: only stores the pointer; the one caller, DirtyBitmap.init, passes words covering pageCount bits
        // that the DirtyBitmap owns and frees only in its deinit.
        unsafe self.words = unsafe words
        self.pageShift = pageShift
        self.pageCount = pageCount
    }

    /// Marks every page that `[offset, offset + length)` touches; pages past the end are ignored.
    @inlinable
    public func mark(offset: UInt64, length: UInt64) {
        guard length > 0 else { return }
        let firstPage = offset >> pageShift
        guard firstPage < UInt64(pageCount) else { return }
        let (lastByte, overflow) = offset.addingReportingOverflow(length - 1)
        let lastPage = Swift.min(overflow ? UInt64.max >> pageShift : lastByte >> pageShift, UInt64(pageCount - 1))
        var page = firstPage
        while page <= lastPage {
            let word = Int(page >> 6)
            let bit = page & 63
            let bitsInWord = Swift.min(64 - bit, lastPage - page + 1)
            let mask: UInt64 = bitsInWord == 64 ? ~0 : ((1 << bitsInWord) - 1) << bit
            // Skip the atomic read-modify-write when the bits are already set: the
            // common case for repeated writes to the same page.
            // SAFETY: page <= lastPage <= pageCount - 1, so word = page >> 6 < ceil(pageCount / 64), an allocated word;
            // valid while the DirtyBitmap lives (its region keeps it alive).
            if unsafe words[word].load(ordering: .relaxed) & mask != mask {
                unsafe words[word].bitwiseOr(mask, ordering: .releasing)
            }
            page += bitsInWord
        }
    }
}
