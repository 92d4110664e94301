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
    /// `self + nanos`. Saturating: the kernel reads any deadline past
    /// `KTIME_MAX` (about 292 years of uptime) as "never", which is what
    /// [`crate::duration::FOREVER`] means.
    pub fn after(self, nanos: u64) -> Timespec {
        let (whole_seconds, extra_nanoseconds) = crate::divide::div_rem(nanos, NANOS_PER_SECOND);
        let mut seconds = self.seconds.saturating_add(whole_seconds as i64);
        let mut nanoseconds = self.nanoseconds + extra_nanoseconds as i64;
        if nanoseconds >= NANOS_PER_SECOND as i64 {
            nanoseconds -= NANOS_PER_SECOND as i64;
            seconds = seconds.saturating_add(1);
        }
        Timespec { seconds, nanoseconds }
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
    fn forever_is_far_past_ktime_max() {
        let deadline = at(1_000_000, 0).after(crate::duration::FOREVER);
        assert!(deadline.seconds > i64::MAX / 1_000_000_000);
        assert!((0..1_000_000_000).contains(&deadline.nanoseconds));
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        assert_eq!(at(i64::MAX, 999_999_999).after(u64::MAX).seconds, i64::MAX);
    }
}
