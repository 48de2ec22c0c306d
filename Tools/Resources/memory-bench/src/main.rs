// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The vm-memory side of `vmm-tools bench memory`: the same workloads, sizes,
//! address sequences and repetition counts as the Swift side (MemoryBench.swift).
//! Prints one `name nanoseconds-per-operation` line per measurement.

use std::time::Instant;
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryMmap};

const REPETITIONS: usize = 15;

/// Hides a value from the optimizer (std::hint::black_box needs Rust 1.66; Debian
/// bookworm ships 1.63).
fn black_box<T>(value: T) -> T {
    // SAFETY: reads a valid, initialized local once and forgets the original, so
    // the value is moved, not duplicated.
    unsafe {
        let copy = std::ptr::read_volatile(&value);
        std::mem::forget(value);
        copy
    }
}

/// Best (lowest) time per operation over REPETITIONS runs of `operations` operations.
fn measure<F: FnMut()>(operations: u64, mut run: F) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..REPETITIONS {
        let start = Instant::now();
        run();
        let nanoseconds = start.elapsed().as_nanos() as f64 / operations as f64;
        if nanoseconds < best {
            best = nanoseconds;
        }
    }
    best
}

/// xorshift64: the same address sequence as the Swift side.
fn addresses(count: usize, span: u64, align: u64, mut state: u64) -> Vec<u64> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push((state % span) & !(align - 1));
    }
    out
}

fn main() {
    let base = GuestAddress(0x10_0000);
    let memory: GuestMemoryMmap<()> = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 64 << 20)]).unwrap();

    for &(label, size, rounds) in &[("4KiB", 4096usize, 20_000u64), ("64KiB", 65536, 2_000), ("1MiB", 1 << 20, 200)] {
        let mut buffer = vec![0x5au8; size];
        let ns = measure(rounds, || {
            for _ in 0..rounds {
                memory.write_slice(black_box(&buffer), base).unwrap();
            }
        });
        println!("copy-in-{} {}", label, ns);
        let ns = measure(rounds, || {
            for _ in 0..rounds {
                memory.read_slice(black_box(&mut buffer), base).unwrap();
            }
        });
        println!("copy-out-{} {}", label, ns);
    }

    macro_rules! objects {
        ($type:ty, $bits:expr) => {{
            let offsets = addresses(4096, 1 << 20, std::mem::size_of::<$type>() as u64, 0x9e37_79b9_7f4a_7c15);
            let rounds = 256u64;
            let operations = rounds * offsets.len() as u64;
            let ns = measure(operations, || {
                let mut sum: u64 = 0;
                for _ in 0..rounds {
                    for &offset in &offsets {
                        let value: $type = memory.read_obj(GuestAddress(base.0 + offset)).unwrap();
                        sum = sum.wrapping_add(value as u64);
                    }
                }
                black_box(sum);
            });
            println!("read-u{} {}", $bits, ns);
            let ns = measure(operations, || {
                for round in 0..rounds {
                    for &offset in &offsets {
                        memory.write_obj(black_box((round as u64 ^ offset) as $type), GuestAddress(base.0 + offset)).unwrap();
                    }
                }
            });
            println!("write-u{} {}", $bits, ns);
        }};
    }
    objects!(u8, 8);
    objects!(u16, 16);
    objects!(u32, 32);
    objects!(u64, 64);

    for &count in &[1u64, 2, 4, 8, 16, 32, 64] {
        // `count` adjacent 1 MiB regions; lookups at addresses spread over all of them.
        let ranges: Vec<(GuestAddress, usize)> = (0..count).map(|i| (GuestAddress(i << 20), 1 << 20)).collect();
        let regions: GuestMemoryMmap<()> = GuestMemoryMmap::from_ranges(&ranges).unwrap();
        let targets = addresses(4096, count << 20, 1, 0x2545_f491_4f6c_dd1d);
        let rounds = 256u64;
        let ns = measure(rounds * targets.len() as u64, || {
            let mut found = 0usize;
            for _ in 0..rounds {
                for &target in &targets {
                    if regions.find_region(GuestAddress(black_box(target))).is_some() {
                        found += 1;
                    }
                }
            }
            black_box(found);
        });
        println!("lookup-{} {}", count, ns);
    }
}
