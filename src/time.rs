//! Absolute deadlines on `CLOCK_MONOTONIC`.

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The kernel's `struct timespec` on 64-bit arches, and `struct __kernel_timespec`
/// (the `*_time64` syscalls) on 32-bit ones: the same 16 bytes everywhere.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timespec {
    pub seconds: i64,
    pub nanoseconds: i64,
}

impl Timespec {
    /// `self + nanos`. Any deadline past `KTIME_MAX` (about 292 years of
    /// uptime) the kernel reads as "never", which is what
    /// [`crate::duration::FOREVER`] means.
    ///
    /// `self` is a `CLOCK_MONOTONIC` time, which the kernel keeps as signed
    /// 64-bit nanoseconds, so its seconds are below `KTIME_SEC_MAX` (9.2e9)
    /// and adding at most 1.9e10 more cannot overflow: no saturation needed,
    /// which is smaller (docs/size.md, "Ideas tried outside the parser").
    pub fn after(self, nanos: u64) -> Timespec {
        // Divide first, then add the clock's nanoseconds with a carry. (Adding
        // them before one division was smaller on most arches, but near
        // FOREVER the sum saturated and the deadline lost up to a second:
        // docs/size.md, "Ideas tried outside the parser", "a correction".)
        let (whole_seconds, part) = crate::divide::div_rem(nanos, NANOS_PER_SECOND);
        let sum = part + self.nanoseconds as u64;
        let (carry, nanoseconds) = if cfg!(target_pointer_width = "64") {
            // One more divide instruction: the smallest carry on 64-bit arches.
            crate::divide::div_rem(sum, NANOS_PER_SECOND)
        } else {
            // A second call of the division loop costs 32-bit arches more
            // than a compare (docs/size.md, "Ideas tried outside the parser",
            // "a correction").
            // In 32 bits: `sum` is below 2 × 10^9.
            let sum = sum as u32;
            let carry = (sum >= NANOS_PER_SECOND as u32) as u32;
            (carry as u64, (sum - carry * NANOS_PER_SECOND as u32) as u64)
        };
        Timespec { seconds: self.seconds + (whole_seconds + carry) as i64, nanoseconds: nanoseconds as i64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn at(seconds: i64, nanoseconds: i64) -> Timespec {
        Timespec { seconds, nanoseconds }
    }

    #[test]
    fn adds_without_carry() {
        assert_eq!(at(10, 100).after(2_000_000_500), at(12, 600));
    }

    #[test]
    fn carries_into_seconds() {
        assert_eq!(at(10, 999_999_999).after(1), at(11, 0));
        assert_eq!(at(0, 500_000_000).after(1_700_000_000), at(2, 200_000_000));
    }

    #[test]
    fn forever_is_exact() {
        // 2^64 - 1 ns = 18,446,744,073 s + 709,551,615 ns, carried, not saturated.
        assert_eq!(at(5, 999_999_999).after(u64::MAX), at(5 + 18_446_744_073 + 1, 709_551_614));
    }

    #[test]
    fn forever_is_far_past_ktime_max() {
        let deadline = at(1_000_000, 0).after(crate::duration::FOREVER);
        assert!(deadline.seconds > i64::MAX / 1_000_000_000);
        assert!((0..1_000_000_000).contains(&deadline.nanoseconds));
    }

    #[test]
    fn forever_from_the_latest_monotonic_time_is_still_valid() {
        // The largest time CLOCK_MONOTONIC can report (KTIME_MAX nanoseconds).
        let latest = at(i64::MAX / 1_000_000_000, 854_775_807);
        let deadline = latest.after(crate::duration::FOREVER);
        assert!(deadline.seconds > latest.seconds + 18_000_000_000);
        assert!((0..1_000_000_000).contains(&deadline.nanoseconds));
    }
}
