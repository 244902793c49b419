//! Deterministic random numbers for the generator: SplitMix64 seeding a xoshiro256**
//! stream, plus the few distributions the simulation needs (uniform, normal, lognormal,
//! Poisson, Pareto, weighted choice through an alias table).
//!
//! Everything here uses integer arithmetic and correctly rounded IEEE-754 operations
//! (`+ - * /`, `sqrt`); `ln` and `exp` are our own series, not the platform's libm, so
//! the same seed gives the same values on every platform and Rust version. Not a
//! cryptographic generator and not `rand`-compatible.

const LN2: f64 = std::f64::consts::LN_2;

/// Natural logarithm, platform-independent (exponent split + atanh series).
pub(crate) fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let (mut m, mut e) = (x, 0i32);
    // Bring subnormals into the normal range first.
    if m < f64::MIN_POSITIVE {
        m *= (1u64 << 54) as f64;
        e -= 54;
    }
    let bits = m.to_bits();
    e += ((bits >> 52) & 0x7FF) as i32 - 1023;
    m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    2.0 * sum + f64::from(e) * LN2
}

/// e^x, platform-independent (range reduction by ln 2 + Taylor series).
pub(crate) fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    let k = (x / LN2).round();
    let r = x - k * LN2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..24 {
        term *= r / f64::from(i);
        sum += term;
    }
    // Scale by 2^k in two steps so that large |k| cannot overflow the exponent field.
    let k = k as i32;
    let half = k / 2;
    sum * pow2(half) * pow2(k - half)
}

fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023).clamp(1, 2046) as u64) << 52)
}

/// a^b for a > 0, platform-independent.
pub(crate) fn powf(a: f64, b: f64) -> f64 {
    exp(b * ln(a))
}

/// SplitMix64 step: used to expand a seed (and a stream name) into generator state.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a stream name, so streams can be named instead of numbered.
fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// A xoshiro256** generator.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for the named stream of `seed`. Different names give independent
    /// streams, so adding draws to one part of the simulation never shifts another.
    pub(crate) fn stream(seed: u64, name: &str) -> Rng {
        let mut sm = seed ^ name_hash(name).rotate_left(17);
        let mut s = [0u64; 4];
        for v in &mut s {
            *v = splitmix64(&mut sm);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Rng { s }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 bits.
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Uniform integer in [0, n); 0 when n is 0. Lemire's multiply-shift (unbiased enough
    /// for simulation: the bias is below 2^-32 for the sizes used here).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a slice of length `n`.
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform integer in [lo, hi] (inclusive).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform real in [lo, hi).
    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Standard normal (Marsaglia's polar method, one value per call: no trigonometry,
    /// so it is reproducible everywhere).
    pub(crate) fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.f64() - 1.0;
            let v = 2.0 * self.f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * ln(s) / s).sqrt();
            }
        }
    }

    /// Lognormal with the given median and log-space sigma.
    pub(crate) fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * exp(sigma * self.normal())
    }

    /// Pareto with scale 1 and shape `alpha` (values ≥ 1, heavy tail).
    pub(crate) fn pareto(&mut self, alpha: f64) -> f64 {
        powf(1.0 - self.f64(), -1.0 / alpha)
    }

    /// Poisson count with mean `lambda` (Knuth for small means, a rounded normal above 40).
    pub(crate) fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 40.0 {
            let v = lambda + lambda.sqrt() * self.normal();
            return v.round().max(0.0) as u64;
        }
        let limit = exp(-lambda);
        let mut k = 0u64;
        let mut p = self.f64();
        while p > limit {
            k += 1;
            p *= self.f64();
        }
        k
    }

    /// Index chosen with probability proportional to `weights` (linear scan: for short
    /// lists; use [`Alias`] for long ones).
    pub(crate) fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// A random element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// A UUID-looking id (version 4 layout) from this stream.
    pub(crate) fn uuid_like(&mut self, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let a = self.next_u64();
        let b = self.next_u64();
        let bytes: [u64; 2] = [(a & !0xF000) | 0x4000, (b & !(0xC << 60)) | (0x8 << 60)];
        let mut n = 0;
        for word in bytes {
            for shift in (0..16).rev() {
                if matches!(n, 8 | 12 | 16 | 20) {
                    out.push(b'-');
                }
                out.push(HEX[((word >> (shift * 4)) & 0xF) as usize]);
                n += 1;
            }
        }
    }
}

/// Walker's alias table: O(1) weighted choice among many outcomes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    /// Build from non-negative weights; an all-zero list chooses uniformly.
    pub(crate) fn new(weights: &[f64]) -> Alias {
        let n = weights.len();
        if n == 0 {
            return Alias::default();
        }
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = if total > 0.0 {
            weights.iter().map(|w| w * n as f64 / total).collect()
        } else {
            vec![1.0; n]
        };
        let mut prob = vec![1.0; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let mut small: Vec<usize> = Vec::new();
        let mut large: Vec<usize> = Vec::new();
        for (i, &p) in scaled.iter().enumerate() {
            if p < 1.0 {
                small.push(i)
            } else {
                large.push(i)
            }
        }
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Alias { prob, alias }
    }

    pub(crate) fn len(&self) -> usize {
        self.prob.len()
    }

    /// One draw; `None` when the table is empty.
    pub(crate) fn sample(&self, rng: &mut Rng) -> Option<usize> {
        if self.prob.is_empty() {
            return None;
        }
        let i = rng.index(self.prob.len());
        Some(if rng.f64() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let mut a = Rng::stream(42, "demand");
        let mut b = Rng::stream(42, "demand");
        let mut c = Rng::stream(42, "counts");
        let xa: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn distributions_have_sensible_moments() {
        let mut r = Rng::stream(7, "moments");
        let n = 20_000;
        let mean_u: f64 = (0..n).map(|_| r.f64()).sum::<f64>() / n as f64;
        assert!((mean_u - 0.5).abs() < 0.02);
        let mean_p: f64 = (0..n).map(|_| r.poisson(3.0) as f64).sum::<f64>() / n as f64;
        assert!((mean_p - 3.0).abs() < 0.1);
        let mean_n: f64 = (0..n).map(|_| r.normal()).sum::<f64>() / n as f64;
        assert!(mean_n.abs() < 0.05);
        let alias = Alias::new(&[1.0, 0.0, 3.0]);
        let mut hits = [0u32; 3];
        for _ in 0..n {
            if let Some(i) = alias.sample(&mut r) {
                hits[i] += 1;
            }
        }
        assert_eq!(hits[1], 0);
        let share = f64::from(hits[2]) / n as f64;
        assert!((share - 0.75).abs() < 0.02);
    }

    #[test]
    fn own_ln_and_exp_match_the_platform_closely() {
        for &x in &[
            1e-300, 1e-9, 0.001, 0.5, 1.0, 1.5, 2.0, 10.0, 12345.678, 1e300,
        ] {
            let d = (ln(x) - x.ln()).abs();
            assert!(d <= 1e-13 * x.ln().abs().max(1.0), "ln {x}: {d}");
        }
        for &x in &[-700.0, -20.0, -1.0, -1e-9, 0.0, 0.3, 1.0, 5.5, 300.0, 700.0] {
            let rel = ((exp(x) - x.exp()) / x.exp()).abs();
            assert!(rel < 1e-13, "exp {x}: {rel}");
        }
    }

    #[test]
    fn uuid_like_has_the_usual_shape() {
        let mut r = Rng::stream(1, "ids");
        let mut s = Vec::new();
        r.uuid_like(&mut s);
        assert_eq!(s.len(), 36);
        assert_eq!(s[14], b'4');
        assert!(matches!(s[19], b'8' | b'9' | b'a' | b'b'));
    }
}
