//! `u64` division for the arch without a divide instruction.
//!
//! Elsewhere this is the `/` and `%` operators: one instruction on 64-bit
//! arches, a 160-byte `__udivdi3` on 32-bit x86. Baseline ARMv7-A has no divide
//! instruction at all, and the operators would link about 1.2 KB of
//! division routines; a shift-and-subtract loop is a few dozen bytes, and
//! fast enough (64 steps per call, one call per operand digit).

/// `(dividend / divisor, dividend % divisor)`; `divisor` must not be 0.
#[cfg(not(target_arch = "arm"))]
pub fn div_rem(dividend: u64, divisor: u64) -> (u64, u64) {
    (dividend / divisor, dividend % divisor)
}

/// `(dividend / divisor, dividend % divisor)`; `divisor` must not be 0.
#[cfg(target_arch = "arm")]
pub fn div_rem(dividend: u64, divisor: u64) -> (u64, u64) {
    shift_subtract(dividend, divisor)
}

/// Restoring binary long division, one quotient bit per step.
/// Requires `divisor < 2^63` so the running remainder never overflows.
#[cfg_attr(not(target_arch = "arm"), allow(dead_code))]
fn shift_subtract(dividend: u64, divisor: u64) -> (u64, u64) {
    let mut quotient = 0;
    let mut remainder = 0;
    for bit in (0..64).rev() {
        remainder = remainder << 1 | (dividend >> bit & 1);
        if remainder >= divisor {
            remainder -= divisor;
            quotient |= 1 << bit;
        }
    }
    (quotient, remainder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_subtract_matches_the_operators() {
        let dividends = [0, 1, 9, 10, 15, 16, 999_999_999, 1_000_000_000, u64::MAX, u64::MAX - 1, 1 << 63];
        let divisors = [1, 2, 10, 16, 1_000_000_000, 86_400_000_000_000 << 3, (1 << 63) - 1];
        for dividend in dividends {
            for divisor in divisors {
                assert_eq!(
                    shift_subtract(dividend, divisor),
                    (dividend / divisor, dividend % divisor),
                    "{dividend} / {divisor}"
                );
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let divisor = (x >> (x % 60)) | 1;
            assert_eq!(shift_subtract(x, divisor), (x / divisor, x % divisor));
        }
    }

    #[test]
    fn div_rem_matches_the_operators() {
        assert_eq!(div_rem(123_456_789_012, 1_000_000_000), (123, 456_789_012));
        assert_eq!(div_rem(255, 16), (15, 15));
    }
}
