//! Sustained memory bandwidth, STREAM-style (McCalpin): `copy` (`c = a`) and
//! `triad` (`a = b + s·c`) over arrays far larger than the last-level cache,
//! on every core at once, counting bytes as STREAM does (copy 2 words per
//! element, triad 3; the write-allocate read of the destination is not
//! counted, so the figure is what a streaming kernel sees, not the bus).
use std::sync::Barrier;
use std::time::Instant;

/// Bytes per array: four times the last-level cache (STREAM's rule), at
/// least 64 MiB so a cache we failed to detect is still outrun, and at most
/// 256 MiB so three arrays stay under 1 GiB of resident memory.
pub(crate) fn array_bytes(llc: Option<usize>) -> usize {
    const MIB: usize = 1 << 20;
    llc.map_or(128 * MIB, |c| 4 * c).clamp(64 * MIB, 256 * MIB)
}

/// Size of the largest CPU cache (`/sys/devices/system/cpu/cpu0/cache`).
pub(crate) fn last_level_cache() -> Option<usize> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("size")).ok())
        .filter_map(|s| parse_size(s.trim()))
        .max()
}

fn parse_size(s: &str) -> Option<usize> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>().ok().map(|n| n * mult)
}

/// Bytes per second of each timed pass, in pass order.
pub(crate) struct Rates {
    pub copy: Vec<f64>,
    pub triad: Vec<f64>,
}

/// Run `passes` timed passes of copy and of triad on `threads` threads, each
/// owning a contiguous slice of the three arrays (allocated and first
/// touched by its own thread, so pages land near the core that streams
/// them). `on_pass` is called after every pass, for progress.
pub(crate) fn measure(
    array_bytes: usize,
    threads: usize,
    passes: usize,
    on_pass: &(dyn Fn() + Sync),
) -> Rates {
    let threads = threads.max(1);
    let per_thread = array_bytes / 8 / threads;
    let words = (per_thread * threads) as f64;
    // Workers and the timing thread meet at the barrier before and after
    // each kernel, so a pass's time is the slowest thread's.
    let barrier = Barrier::new(threads + 1);
    let mut rates = Rates {
        copy: Vec::with_capacity(passes),
        triad: Vec::with_capacity(passes),
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut a = vec![1.0f64; per_thread];
                let b = vec![2.0f64; per_thread];
                let mut c = vec![0.0f64; per_thread];
                let scalar = std::hint::black_box(3.0f64);
                barrier.wait(); // allocated
                for _ in 0..passes {
                    barrier.wait();
                    c.copy_from_slice(&a);
                    barrier.wait();
                    barrier.wait();
                    for ((x, y), z) in a.iter_mut().zip(&b).zip(&c) {
                        *x = y + scalar * z;
                    }
                    barrier.wait();
                }
                // Keep the stores observable.
                std::hint::black_box((a[per_thread / 2], c[per_thread / 3]));
            });
        }
        barrier.wait();
        for _ in 0..passes {
            barrier.wait();
            let t = Instant::now();
            barrier.wait();
            rates
                .copy
                .push(2.0 * 8.0 * words / t.elapsed().as_secs_f64());
            barrier.wait();
            let t = Instant::now();
            barrier.wait();
            rates
                .triad
                .push(3.0 * 8.0 * words / t.elapsed().as_secs_f64());
            on_pass();
        }
    });
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_arrays_outrun_the_cache() {
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
        assert_eq!(array_bytes(Some(32 << 20)), 128 << 20);
        assert_eq!(array_bytes(Some(1 << 20)), 64 << 20);
        assert_eq!(array_bytes(Some(1 << 30)), 256 << 20);
    }

    #[test]
    fn a_small_run_gives_plausible_rates() {
        let r = measure(8 << 20, 2, 2, &|| {});
        assert_eq!(r.copy.len(), 2);
        // Anything from a slow VM to HBM.
        for v in r.copy.iter().chain(&r.triad) {
            assert!(*v > 1e8 && *v < 1e13, "{v}");
        }
    }
}
