//! Rates with honest uncertainty: the Wilson score interval, which stays
//! inside 0..1 and behaves at 0 and n (a group with no misses still gets an
//! upper bound, which is the point with small groups).

/// A proportion `k / n` with its 95 % Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub k: u64,
    pub n: u64,
    pub low: f64,
    pub high: f64,
}

impl Rate {
    pub fn of(k: u64, n: u64) -> Rate {
        if n == 0 {
            return Rate { k, n, low: 0.0, high: 1.0 };
        }
        const Z: f64 = 1.959_963_984_540_054;
        let (kf, nf) = (k as f64, n as f64);
        let p = kf / nf;
        let centre = (p + Z * Z / (2.0 * nf)) / (1.0 + Z * Z / nf);
        let half = Z / (1.0 + Z * Z / nf) * (p * (1.0 - p) / nf + Z * Z / (4.0 * nf * nf)).sqrt();
        Rate { k, n, low: (centre - half).max(0.0), high: (centre + half).min(1.0) }
    }

    pub fn value(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.k as f64 / self.n as f64
        }
    }

    /// `3.2 % [1.1, 8.9]` (k/n).
    pub fn text(&self) -> String {
        format!(
            "{:.1} % [{:.1}, {:.1}] ({}/{})",
            100.0 * self.value(),
            100.0 * self.low,
            100.0 * self.high,
            self.k,
            self.n
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_match_published_values() {
        // Newcombe (1998), table I: 81/263 → 0.2553–0.3662; 15/148 → 0.0624–0.1605; 0/20 → 0–0.1611.
        let cases = [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611)];
        for (k, n, low, high) in cases {
            let r = Rate::of(k, n);
            assert!((r.low - low).abs() < 5e-4 && (r.high - high).abs() < 5e-4, "{k}/{n}: {r:?}");
        }
        assert_eq!(Rate::of(0, 0).high, 1.0, "no data, no claim");
        assert_eq!(Rate::of(3, 3).high, 1.0);
    }
}
