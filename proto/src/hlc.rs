//! Hybrid logical clock.
//!
//! Orders events for display and for reconciliation ranges. It follows wall time when the
//! wall clock moves forward and a counter when it does not, so timestamps a node issues
//! strictly increase even if the wall clock steps back. Correctness never depends on wall
//! clocks agreeing: a remote timestamp too far ahead is refused rather than adopted, so one
//! node with a wrong clock cannot drag every other clock into the future.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A hybrid logical timestamp: milliseconds since the Unix epoch, then a counter.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, Serialize, Deserialize,
)]
pub struct Hlc {
    /// Wall-clock part, milliseconds since 1970-01-01 UTC.
    pub wall_ms: u64,
    /// Counter that orders timestamps within the same millisecond.
    pub logical: u32,
}

/// Bytes of [`Hlc::to_key_bytes`].
pub const HLC_KEY_BYTES: usize = 12;

impl Hlc {
    /// Big-endian bytes whose byte order is the timestamp order (for store keys).
    pub fn to_key_bytes(self) -> [u8; HLC_KEY_BYTES] {
        let mut out = [0u8; HLC_KEY_BYTES];
        out[..8].copy_from_slice(&self.wall_ms.to_be_bytes());
        out[8..].copy_from_slice(&self.logical.to_be_bytes());
        out
    }

    /// Inverse of [`Hlc::to_key_bytes`].
    pub fn from_key_bytes(bytes: [u8; HLC_KEY_BYTES]) -> Self {
        let (wall, logical) = bytes.split_at(8);
        Hlc {
            wall_ms: u64::from_be_bytes(wall.try_into().expect("8 bytes")),
            logical: u32::from_be_bytes(logical.try_into().expect("4 bytes")),
        }
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.wall_ms, self.logical)
    }
}

/// A remote timestamp that the clock refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ClockError {
    /// The remote clock is further ahead of ours than the configured bound.
    #[error("remote timestamp is {ahead_ms} ms ahead of the local clock (bound {max_ms} ms)")]
    TooFarAhead {
        /// How far ahead it was.
        ahead_ms: u64,
        /// The bound.
        max_ms: u64,
    },
}

/// The clock state of one node. Physical time is always passed in.
#[derive(Debug, Clone)]
pub struct HlcClock {
    last: Hlc,
    max_ahead_ms: u64,
}

impl HlcClock {
    /// A clock that refuses remote timestamps more than `max_ahead_ms` ahead of physical time.
    pub fn new(max_ahead_ms: u64) -> Self {
        HlcClock {
            last: Hlc::default(),
            max_ahead_ms,
        }
    }

    /// The latest timestamp issued or observed.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// Moves the clock to at least `floor` (the newest timestamp in the store at start-up),
    /// so a restarted node never issues a timestamp below one it issued before.
    pub fn restore(&mut self, floor: Hlc) {
        self.last = self.last.max(floor);
    }

    /// A new timestamp for a local event, strictly greater than every earlier one.
    pub fn tick(&mut self, physical_ms: u64) -> Hlc {
        let next = if physical_ms > self.last.wall_ms {
            Hlc {
                wall_ms: physical_ms,
                logical: 0,
            }
        } else {
            self.successor(self.last)
        };
        debug_assert!(next > self.last);
        self.last = next;
        next
    }

    /// Merges a timestamp seen on a remote event or frame; refuses one too far ahead.
    pub fn observe(&mut self, remote: Hlc, physical_ms: u64) -> Result<Hlc, ClockError> {
        let bound = physical_ms.saturating_add(self.max_ahead_ms);
        if remote.wall_ms > bound {
            return Err(ClockError::TooFarAhead {
                ahead_ms: remote.wall_ms - physical_ms,
                max_ms: self.max_ahead_ms,
            });
        }
        let top = self.last.max(remote);
        let next = if physical_ms > top.wall_ms {
            Hlc {
                wall_ms: physical_ms,
                logical: 0,
            }
        } else {
            self.successor(top)
        };
        debug_assert!(next > self.last && next > remote);
        self.last = next;
        Ok(next)
    }

    fn successor(&self, t: Hlc) -> Hlc {
        match t.logical.checked_add(1) {
            Some(logical) => Hlc {
                wall_ms: t.wall_ms,
                logical,
            },
            // Four billion events in one millisecond cannot happen; stay monotonic anyway.
            None => Hlc {
                wall_ms: t.wall_ms.saturating_add(1),
                logical: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wall_clock_stepping_back_keeps_order() {
        let mut c = HlcClock::new(60_000);
        let a = c.tick(1_000);
        let b = c.tick(900);
        let d = c.tick(900);
        assert!(a < b && b < d);
        assert_eq!(
            b,
            Hlc {
                wall_ms: 1_000,
                logical: 1
            }
        );
    }

    #[test]
    fn remote_far_ahead_is_refused_and_changes_nothing() {
        let mut c = HlcClock::new(1_000);
        let before = c.tick(5_000);
        let err = c.observe(
            Hlc {
                wall_ms: 10_000,
                logical: 0,
            },
            5_000,
        );
        assert_eq!(
            err,
            Err(ClockError::TooFarAhead {
                ahead_ms: 5_000,
                max_ms: 1_000
            })
        );
        assert_eq!(c.last(), before);
    }

    proptest! {
        #[test]
        fn issued_timestamps_strictly_increase(steps in proptest::collection::vec((0u64..10_000, any::<bool>(), 0u64..10_000, 0u32..5), 1..200)) {
            let mut c = HlcClock::new(5_000);
            let mut prev = c.last();
            for (phys, remote, rwall, rlog) in steps {
                let t = if remote {
                    match c.observe(Hlc { wall_ms: rwall, logical: rlog }, phys) {
                        Ok(t) => t,
                        Err(_) => continue,
                    }
                } else {
                    c.tick(phys)
                };
                prop_assert!(t > prev);
                prop_assert_eq!(Hlc::from_key_bytes(t.to_key_bytes()), t);
                prop_assert_eq!(t.to_key_bytes() > prev.to_key_bytes(), true);
                prev = t;
            }
        }
    }
}
