//! `u64` division for the 32-bit arches, which have no 64-bit divide.
//!
//! On 64-bit arches this is the `/` and `%` operators: one instruction.
//! On 32-bit ones the operators link compiler routines, large on baseline
//! ARMv7-A (no divide instruction at all) and on 32-bit x86 (`__udivdi3`). A
//! shift-and-subtract loop is smaller (docs/size.md, "Compiler routines and
//! library calls"), and fast enough: 64 steps per call, one call per operand
//! digit and one per digit of the carry left after the last (at most 14).

/// `(dividend / divisor, dividend % divisor)`; `divisor` must not be 0.
#[cfg(target_pointer_width = "64")]
pub fn div_rem(dividend: u64, divisor: u64) -> (u64, u64) {
    (dividend / divisor, dividend % divisor)
}

/// `(dividend / divisor, dividend % divisor)`; `divisor` must not be 0.
#[cfg(target_pointer_width = "32")]
pub fn div_rem(dividend: u64, divisor: u64) -> (u64, u64) {
    shift_subtract(dividend, divisor)
}

/// Restoring binary long division, one quotient bit per step.
/// Requires `divisor < 2^63` so the running remainder never overflows.
#[cfg_attr(target_pointer_width = "64", allow(dead_code))]
fn shift_subtract(dividend: u64, divisor: u64) -> (u64, u64) {
    // The dividend's bits leave `quotient` at the top as the quotient's
    // enter at the bottom: shifts by constants only, so no shift routines
    // (__aeabi_llsl/llsr on arm/v7) and one register pair less.
    let mut quotient = dividend;
    let mut remainder = 0;
    for _ in 0..64 {
        remainder = remainder << 1 | quotient >> 63;
        quotient <<= 1;
        if remainder >= divisor {
            remainder -= divisor;
            quotient |= 1;
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
        let mut pairs: Vec<(u64, u64)> = dividends
            .iter()
            .flat_map(|&dividend| divisors.iter().map(move |&divisor| (dividend, divisor)))
            .collect();
        // And pseudo-random ones (xorshift), divisors of every length.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pairs.push((x, (x >> (x % 60)) | 1));
        }
        // Every pair checked, then one failure naming each wrong one.
        let wrong: Vec<String> = pairs
            .into_iter()
            .filter(|&(dividend, divisor)| {
                shift_subtract(dividend, divisor) != (dividend / divisor, dividend % divisor)
            })
            .map(|(dividend, divisor)| {
                format!("{dividend} / {divisor}: {:?}", shift_subtract(dividend, divisor))
            })
            .collect();
        assert!(wrong.is_empty(), "{} pairs wrong:\n{}", wrong.len(), wrong.join("\n"));
    }

    #[test]
    fn div_rem_matches_the_operators() {
        assert_eq!(div_rem(123_456_789_012, 1_000_000_000), (123, 456_789_012));
        assert_eq!(div_rem(255, 16), (15, 15));
    }
}
