//! A token bucket: how often a peer may make this node do something costly (start a
//! reconciliation session, which takes a snapshot of the whole key space). Time is a
//! parameter (milliseconds from any fixed origin), so it is tested without a clock.

/// At most `capacity` at once, then one more every `refill_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    capacity: u32,
    refill_ms: u64,
    tokens: u32,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket at `now_ms`.
    pub fn new(capacity: u32, refill_ms: u64, now_ms: u64) -> Self {
        TokenBucket {
            capacity,
            refill_ms: refill_ms.max(1),
            tokens: capacity,
            last_ms: now_ms,
        }
    }

    /// Takes one token if there is one at `now_ms`. A clock that goes back refills nothing.
    pub fn take(&mut self, now_ms: u64) -> bool {
        let earned = now_ms.saturating_sub(self.last_ms) / self.refill_ms;
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(self.capacity);
            self.last_ms = if self.tokens == self.capacity {
                now_ms
            } else {
                self.last_ms + u64::from(earned) * self.refill_ms
            };
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval() {
        let mut b = TokenBucket::new(3, 1_000, 10_000);
        assert!((0..3).all(|_| b.take(10_000)));
        assert!(!b.take(10_000));
        assert!(!b.take(10_999));
        assert!(b.take(11_000));
        assert!(!b.take(11_500));
        // A long pause refills up to the capacity, never beyond.
        assert!((0..3).all(|_| b.take(1_000_000)));
        assert!(!b.take(1_000_000));
        // A clock that goes back earns nothing.
        assert!(!b.take(5));
    }

    #[test]
    fn takes_over_any_span_are_bounded_by_capacity_plus_refills() {
        let mut b = TokenBucket::new(4, 250, 0);
        let mut taken = 0u64;
        for now in (0..60_000).step_by(7) {
            if b.take(now) {
                taken += 1;
            }
        }
        assert!(taken <= 4 + 60_000 / 250, "{taken}");
        assert!(taken >= 60_000 / 250, "{taken}");
    }
}
