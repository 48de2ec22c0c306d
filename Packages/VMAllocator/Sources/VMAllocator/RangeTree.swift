// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

/// A set of disjoint inclusive ranges `[start, last]` of `UInt64`, kept in a treap.
///
/// The structure behind both allocators. A treap is a binary search tree on
/// `start` that is also a heap on a per-node random priority, so its expected
/// depth is O(log n) whatever order ranges arrive in. Each node also records
/// the largest `last - start` in its subtree (`maxSpan`), which lets a fit
/// search skip every subtree that cannot hold the requested size. Nodes live in
/// one array and refer to each other by index, so the tree is a value type that
/// copies cheaply and never touches reference counting on its hot paths.
///
/// Costs (n = number of free ranges): insert, remove, predecessor and successor
/// are expected O(log n). A fit search is O(log n) when the alignment is 1; with
/// a larger alignment it may also visit ranges that are big enough but lose the
/// fit to alignment padding, which only happens for ranges shorter than
/// `size + alignment - 1`.
struct RangeTree {
    struct Node {
        var start: UInt64
        var last: UInt64
        var priority: UInt64
        var left: Int
        var right: Int
        var maxSpan: UInt64
    }

    private(set) var nodes: [Node] = []
    private var freeSlots: [Int] = []
    private(set) var root = -1
    private(set) var count = 0
    private var seed: UInt64 = 0x2545_f491_4f6c_dd1d

    init() {}

    // MARK: Node storage

    private mutating func nextPriority() -> UInt64 {
        // SplitMix64: deterministic, so a failing sequence of operations replays exactly.
        seed &+= 0x9e37_79b9_7f4a_7c15
        var z = seed
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    private mutating func makeNode(start: UInt64, last: UInt64) -> Int {
        let node = Node(
            start: start, last: last, priority: nextPriority(), left: -1, right: -1, maxSpan: last - start)
        if let slot = freeSlots.popLast() {
            nodes[slot] = node
            return slot
        }
        nodes.append(node)
        return nodes.count - 1
    }

    private mutating func update(_ index: Int) {
        var span = nodes[index].last - nodes[index].start
        let left = nodes[index].left
        let right = nodes[index].right
        if left >= 0 { span = Swift.max(span, nodes[left].maxSpan) }
        if right >= 0 { span = Swift.max(span, nodes[right].maxSpan) }
        nodes[index].maxSpan = span
    }

    /// Splits `tree` into nodes with `start < key` and nodes with `start >= key`.
    private mutating func split(_ tree: Int, _ key: UInt64) -> (Int, Int) {
        if tree < 0 { return (-1, -1) }
        if nodes[tree].start < key {
            let (low, high) = split(nodes[tree].right, key)
            nodes[tree].right = low
            update(tree)
            return (tree, high)
        } else {
            let (low, high) = split(nodes[tree].left, key)
            nodes[tree].left = high
            update(tree)
            return (low, tree)
        }
    }

    /// Joins two treaps where every start in `low` is below every start in `high`.
    private mutating func merge(_ low: Int, _ high: Int) -> Int {
        if low < 0 { return high }
        if high < 0 { return low }
        if nodes[low].priority > nodes[high].priority {
            nodes[low].right = merge(nodes[low].right, high)
            update(low)
            return low
        } else {
            nodes[high].left = merge(low, nodes[high].left)
            update(high)
            return high
        }
    }

    // MARK: Queries

    /// The range with the largest start `<= key`.
    func predecessor(of key: UInt64) -> (start: UInt64, last: UInt64)? {
        var current = root
        var best: Int = -1
        while current >= 0 {
            if nodes[current].start <= key {
                best = current
                current = nodes[current].right
            } else {
                current = nodes[current].left
            }
        }
        return best < 0 ? nil : (nodes[best].start, nodes[best].last)
    }

    /// The range with the smallest start `> key`.
    func successor(of key: UInt64) -> (start: UInt64, last: UInt64)? {
        var current = root
        var best: Int = -1
        while current >= 0 {
            if nodes[current].start > key {
                best = current
                current = nodes[current].left
            } else {
                current = nodes[current].right
            }
        }
        return best < 0 ? nil : (nodes[best].start, nodes[best].last)
    }

    /// The range containing `value`.
    func range(containing value: UInt64) -> (start: UInt64, last: UInt64)? {
        guard let candidate = predecessor(of: value), candidate.last >= value else { return nil }
        return candidate
    }

    /// Every range, in ascending order.
    func ranges() -> [(start: UInt64, last: UInt64)] {
        var result: [(start: UInt64, last: UInt64)] = []
        result.reserveCapacity(count)
        var stack: [Int] = []
        var current = root
        while current >= 0 || !stack.isEmpty {
            while current >= 0 {
                stack.append(current)
                current = nodes[current].left
            }
            let node = stack.removeLast()
            result.append((nodes[node].start, nodes[node].last))
            current = nodes[node].right
        }
        return result
    }

    /// The lowest aligned start of a block of `span + 1` values inside `[low, high]`.
    func firstFit(span: UInt64, alignment: UInt64, low: UInt64, high: UInt64) -> UInt64? {
        firstFit(root, span: span, alignment: alignment, low: low, high: high)
    }

    private func firstFit(_ tree: Int, span: UInt64, alignment: UInt64, low: UInt64, high: UInt64) -> UInt64? {
        if tree < 0 || nodes[tree].maxSpan < span { return nil }
        let node = nodes[tree]
        // Ranges left of this node start lower; skip them when this node already ends below `low`.
        if node.last >= low, let found = firstFit(node.left, span: span, alignment: alignment, low: low, high: high) {
            return found
        }
        if node.start > high { return nil }  // this node and everything right of it start above `high`
        if let fit = Self.lowestFit(
            start: node.start, last: node.last, span: span, alignment: alignment, low: low, high: high)
        {
            return fit
        }
        return firstFit(node.right, span: span, alignment: alignment, low: low, high: high)
    }

    /// The highest aligned start of a block of `span + 1` values inside `[low, high]`.
    func lastFit(span: UInt64, alignment: UInt64, low: UInt64, high: UInt64) -> UInt64? {
        lastFit(root, span: span, alignment: alignment, low: low, high: high)
    }

    private func lastFit(_ tree: Int, span: UInt64, alignment: UInt64, low: UInt64, high: UInt64) -> UInt64? {
        if tree < 0 || nodes[tree].maxSpan < span { return nil }
        let node = nodes[tree]
        if node.start <= high, let found = lastFit(node.right, span: span, alignment: alignment, low: low, high: high) {
            return found
        }
        if node.last < low { return nil }  // this node and everything left of it end below `low`
        if let fit = Self.highestFit(
            start: node.start, last: node.last, span: span, alignment: alignment, low: low, high: high)
        {
            return fit
        }
        return lastFit(node.left, span: span, alignment: alignment, low: low, high: high)
    }

    static func lowestFit(
        start: UInt64, last: UInt64, span: UInt64, alignment: UInt64, low: UInt64, high: UInt64
    ) -> UInt64? {
        let from = Swift.max(start, low)
        let to = Swift.min(last, high)
        guard from <= to else { return nil }
        let (padded, overflow) = from.addingReportingOverflow(alignment - 1)
        if overflow { return nil }
        let aligned = padded & ~(alignment - 1)
        guard aligned <= to, to - aligned >= span else { return nil }
        return aligned
    }

    static func highestFit(
        start: UInt64, last: UInt64, span: UInt64, alignment: UInt64, low: UInt64, high: UInt64
    ) -> UInt64? {
        let from = Swift.max(start, low)
        let to = Swift.min(last, high)
        guard from <= to, to - from >= span else { return nil }
        let aligned = (to - span) & ~(alignment - 1)
        guard aligned >= from else { return nil }
        return aligned
    }

    // MARK: Updates

    /// Inserts `[start, last]`, which must not overlap any range in the tree.
    mutating func insert(start: UInt64, last: UInt64) {
        let (low, high) = split(root, start)
        let node = makeNode(start: start, last: last)
        root = merge(merge(low, node), high)
        count += 1
    }

    /// Removes the range starting exactly at `start`, if any.
    @discardableResult
    mutating func remove(start: UInt64) -> Bool {
        let (low, rest) = split(root, start)
        let middle: Int
        let high: Int
        if start == UInt64.max {
            (middle, high) = (rest, -1)
        } else {
            (middle, high) = split(rest, start + 1)
        }
        if middle >= 0 {
            freeSlots.append(middle)
            count -= 1
        }
        root = merge(low, high)
        return middle >= 0
    }

    /// Inserts `[start, last]` and joins it with adjacent ranges; returns false (and
    /// changes nothing) when it overlaps a range already present.
    mutating func insertMerging(start: UInt64, last: UInt64) -> Bool {
        var newStart = start
        var newLast = last
        let before = predecessor(of: start)
        if let before, before.last >= start { return false }
        let after = successor(of: start)
        if let after, after.start <= last { return false }
        if let before, before.last &+ 1 == start {
            remove(start: before.start)
            newStart = before.start
        }
        if let after, last &+ 1 == after.start {
            remove(start: after.start)
            newLast = after.last
        }
        insert(start: newStart, last: newLast)
        return true
    }

    /// Removes `[start, last]`, which must lie inside one range, keeping what is left of it.
    mutating func carve(start: UInt64, last: UInt64) -> Bool {
        guard let owner = range(containing: start), owner.last >= last else { return false }
        remove(start: owner.start)
        if owner.start < start { insert(start: owner.start, last: start - 1) }
        if last < owner.last { insert(start: last + 1, last: owner.last) }
        return true
    }
}
