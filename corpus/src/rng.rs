//! The seeded PRNG every random choice of the corpus comes from.

/// SplitMix64: tiny, seedable, identical output on every platform.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    pub(crate) state: u64,
}

pub(crate) fn fmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for one independent stream, derived from `seed` and a key path.
    pub fn keyed(seed: u64, parts: &[u64]) -> Self {
        let mut h = fmix64(seed ^ 0x5353_5441_5445_2d21);
        for &p in parts {
            h = fmix64(h ^ fmix64(p.wrapping_add(0x9E37_79B9_7F4A_7C15)));
        }
        Self::new(h)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        fmix64(self.state)
    }

    /// Uniform in `0..n` (0 when n == 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `per_mille`/1000.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `len` lowercase hex digits.
    pub fn hex(&mut self, len: usize) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(len + 16);
        while s.len() < len {
            let mut v = self.next_u64();
            for _ in 0..16 {
                s.push(HEX[(v & 15) as usize] as char);
                v >>= 4;
            }
        }
        s.truncate(len);
        s
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// Integer log-uniform size in `lo..=hi` (power-of-two buckets).
    pub(crate) fn log_size(&mut self, lo: u64, hi: u64) -> u64 {
        let blo = 63 - lo.max(1).leading_zeros();
        let bhi = 63 - hi.max(2).leading_zeros();
        let b = self.range(u64::from(blo), u64::from(bhi.max(blo)));
        let v = (1u64 << b) + self.below(1u64 << b);
        v.clamp(lo, hi)
    }
}
