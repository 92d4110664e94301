//! One operand, `NUMBER[SUFFIX]`, to whole nanoseconds.
//!
//! The grammar is C `strtod` in the C locale followed by an optional unit,
//! as GNU `sleep` reads it:
//!
//! ```text
//! operand  = space* sign? (infinity | hex | decimal) unit?
//! space    = ' ' | '\t' | '\n' | '\v' | '\f' | '\r'
//! sign     = '+' | '-'              ('-' only for an exact zero: "-0")
//! infinity = "inf" | "infinity"     (any letter case)
//! decimal  = digits ('.' digits?)? | '.' digits,   then (('e'|'E') sign? dec+)?
//! hex      = '0' ('x'|'X') hex-digits as above,     then (('p'|'P') sign? dec+)?
//! unit     = 's' | 'm' | 'h' | 'd'  (lowercase only)
//! ```
//!
//! There is no floating point. The value is `digits × radix^exponent`, the
//! unit a whole number of nanoseconds, so the product is computed exactly by
//! long multiplication, least significant digit first: each product digit
//! either lands on a whole nanosecond (and is added, saturating) or below one
//! (and only records that the result must be rounded up). So `1e-400` is
//! 1 ns, `0.1` is exactly 100,000,000 ns, and anything past `u64::MAX` ns
//! (584 years) saturates to [`FOREVER`].

/// The saturated duration: longer than any deadline the kernel can represent
/// (`KTIME_MAX`, about 292 years), so a sleep this long never ends.
pub const FOREVER: u64 = u64::MAX;

use crate::divide::div_rem;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Exponents are clamped here while they are read. An operand holds at most
/// 128 KiB of digits (the kernel's `MAX_ARG_STRLEN`), so beyond this bound
/// every non-zero digit is either far below a nanosecond or far above
/// [`FOREVER`], and the clamped value gives the same answer as the real one.
const EXPONENT_LIMIT: isize = 1 << 24;

/// `operand` in nanoseconds, rounded up, saturating at [`FOREVER`];
/// `None` when it is not a valid time interval.
///
/// Written for size as much as for clarity: one forward pass with an index,
/// where reading past the end gives 0 (a byte no rule accepts), so no
/// bounds are checked twice; then one backward pass over the digits.
pub fn nanoseconds(operand: &[u8]) -> Option<u64> {
    let at = |index: usize| byte_at(operand, index);
    let mut index = 0;
    while let b' ' | b'\t'..=b'\r' = at(index) {
        index += 1;
    }
    let negative = skip_sign(operand, &mut index);

    let hex = at(index) == b'0' && at(index + 1) | 0x20 == b'x';
    let radix = if hex { 16 } else { 10 };
    index += 2 * hex as usize;
    let digits_start = index;
    let mut fraction_digits: isize = 0;
    let mut seen_point = false;
    loop {
        let byte = at(index);
        if digit_value(byte) < radix {
            fraction_digits += seen_point as isize;
        } else if byte == b'.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        index += 1;
    }
    let digits_end = index;

    let mut exponent: isize = 0;
    // Not one digit (only a point, or nothing): it must be "inf" or "infinity".
    let infinite = digits_end - digits_start == seen_point as usize;
    if infinite {
        // One loop over "infinity": cheaper than two prefix checks.
        let mut matched = 0;
        while let Some(&letter) = b"infinity".get(matched)
            && at(digits_start + matched) | 0x20 == letter
        {
            matched += 1;
        }
        if hex || matched < 3 {
            return None;
        }
        index = digits_start + if matched == 8 { 8 } else { 3 };
    } else if at(index) | 0x20 == if hex { b'p' } else { b'e' } {
        index += 1;
        let negative_exponent = skip_sign(operand, &mut index);
        let exponent_start = index;
        while let digit @ 0..=9 = at(index).wrapping_sub(b'0') {
            if exponent < EXPONENT_LIMIT {
                exponent = exponent * 10 + digit as isize;
            }
            index += 1;
        }
        if index == exponent_start {
            return None;
        }
        if negative_exponent {
            exponent = -exponent;
        }
    }

    let unit_seconds: u64 = match at(index) {
        0 => 1,
        b's' => 1,
        b'm' => 60,
        b'h' => 60 * 60,
        b'd' => 24 * 60 * 60,
        _ => return None,
    };
    index += (at(index) != 0) as usize;
    if index != operand.len() {
        return None;
    }

    let nanos = if infinite {
        FOREVER
    } else {
        // Decimal: the last digit is worth 10^(exponent - fraction digits).
        // Hex: it is worth 2^(exponent - 4 × fraction digits); split that into
        // whole hex digits (16^power) and a 0..=3 bit shift of the multiplier.
        let log2_bits_per_digit = if hex { 2 } else { 0 };
        let power_of_last = exponent - (fraction_digits << log2_bits_per_digit);
        let shift = power_of_last & ((1 << log2_bits_per_digit) - 1);
        // At most 86,400 × 10^9 × 8 < 2^50, so `digit × multiplier + carry` < 2^55.
        let multiplier = (unit_seconds * NANOS_PER_SECOND) << shift;
        times(operand, digits_start, digits_end, radix, power_of_last >> log2_bits_per_digit, multiplier)
    };
    // strtod reads "-0" as zero, and GNU accepts it; any other negative is an error.
    if negative && nanos != 0 {
        return None;
    }
    Some(nanos)
}

/// `digits × multiplier` rounded up to a whole number, saturating, where
/// `operand[start..end]` holds the digits (and maybe one `.`) and the last
/// digit is worth `radix^power`.
///
/// Long multiplication from the last digit to the first, then on through
/// the carry: each product digit is either a whole number of nanoseconds
/// (added, saturating) or below one (only noted, to round up).
fn times(operand: &[u8], start: usize, end: usize, radix: u64, mut power: isize, multiplier: u64) -> u64 {
    let mut index = end;
    let mut carry = 0;
    let mut whole = 0u64;
    let mut has_fraction = false;
    loop {
        let digit = if index > start {
            index -= 1;
            let byte = byte_at(operand, index);
            if byte == b'.' {
                continue;
            }
            // Already validated as a digit: '0'..'9' keep their low nibble;
            // 'a'..'f' and 'A'..'F' (0x61.., 0x41..) have 1..6 there, plus 9.
            ((byte & 15) + 9 * (byte >> 6)) as u64
        } else if carry != 0 {
            0
        } else {
            break;
        };
        let product = digit * multiplier + carry;
        let (next_carry, product_digit) = div_rem(product, radix);
        carry = next_carry;
        if power < 0 {
            has_fraction |= product_digit != 0;
        } else {
            let mut weight = product_digit;
            // radix^64 saturates anyway: never loop longer than that.
            for _ in 0..power.min(64) {
                weight = weight.saturating_mul(radix);
            }
            whole = whole.saturating_add(weight);
        }
        power += 1;
    }
    whole.saturating_add(has_fraction as u64)
}

/// `text[index]`, or 0 past the end: a byte no rule of the grammar accepts,
/// so the end needs no check of its own.
// Inlined at every use: a call costs more bytes than the read (20-36 per arch).
#[inline(always)]
fn byte_at(text: &[u8], index: usize) -> u8 {
    text.get(index).copied().unwrap_or(0)
}

/// Moves `index` past a `+` or `-`; whether it was `-`.
fn skip_sign(text: &[u8], index: &mut usize) -> bool {
    let sign = byte_at(text, *index);
    *index += (sign == b'+' || sign == b'-') as usize;
    sign == b'-'
}

/// The value of a decimal or hex digit (either case); 255 for anything else.
fn digit_value(byte: u8) -> u64 {
    let decimal = byte.wrapping_sub(b'0');
    let letter = (byte | 0x20).wrapping_sub(b'a');
    if decimal < 10 {
        decimal as u64
    } else if letter < 6 {
        letter as u64 + 10
    } else {
        255
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = NANOS_PER_SECOND;

    fn ns(operand: &str) -> Option<u64> {
        nanoseconds(operand.as_bytes())
    }

    mod integers_and_fractions {
        use super::*;

        #[test]
        fn whole_seconds() {
            assert_eq!(ns("0"), Some(0));
            assert_eq!(ns("5"), Some(5 * SECOND));
            assert_eq!(ns("007"), Some(7 * SECOND));
            assert_eq!(ns("60"), Some(60 * SECOND));
        }

        #[test]
        fn point_forms() {
            assert_eq!(ns(".5"), Some(SECOND / 2));
            assert_eq!(ns("5."), Some(5 * SECOND));
            assert_eq!(ns("0.1"), Some(100_000_000));
            assert_eq!(ns("1.000000001"), Some(SECOND + 1));
        }

        #[test]
        fn lone_point_and_empty_are_rejected() {
            for bad in ["", ".", "..", "1..", "1.2.3", " ", "+", "-", "+.", "e1", ".e1"] {
                assert_eq!(ns(bad), None, "{bad:?}");
            }
        }
    }

    mod exponents {
        use super::*;

        #[test]
        fn decimal_exponents() {
            assert_eq!(ns("1e-3"), Some(1_000_000));
            assert_eq!(ns("1E2"), Some(100 * SECOND));
            assert_eq!(ns("2.5E+1"), Some(25 * SECOND));
            assert_eq!(ns("25e-1"), Some(2_500_000_000));
            assert_eq!(ns("1e0000000000000000000000001"), Some(10 * SECOND));
        }

        #[test]
        fn incomplete_exponents_are_rejected() {
            for bad in ["1e", "1e+", "1E-", "1e+-1", "1e1.5", "1p1"] {
                assert_eq!(ns(bad), None, "{bad:?}");
            }
        }
    }

    mod hex_floats {
        use super::*;

        #[test]
        fn hex_values() {
            assert_eq!(ns("0x1p-3"), Some(SECOND / 8));
            assert_eq!(ns("0x.8"), Some(SECOND / 2));
            assert_eq!(ns("0X1P0"), Some(SECOND));
            assert_eq!(ns("0x10"), Some(16 * SECOND));
            assert_eq!(ns("0xA.8p1"), Some(21 * SECOND));
            assert_eq!(ns("0x1p-1"), Some(SECOND / 2));
            assert_eq!(ns("0x1P+4"), Some(16 * SECOND));
        }

        #[test]
        fn d_is_a_hex_digit_not_a_unit() {
            // 0x0.01d = 29/4096 s = 7,080,078.125 ns, rounded up.
            assert_eq!(ns("0x0.01d"), Some(7_080_079));
            assert_eq!(ns("0x1d"), Some(29 * SECOND));
            assert_eq!(ns("0x1p0d"), Some(86_400 * SECOND));
        }

        #[test]
        fn incomplete_hex_is_rejected() {
            for bad in ["0x", "0x.", "0x1p", "0xp1", "0x1e-", "0x1g", "x1", "0x1.8.1"] {
                assert_eq!(ns(bad), None, "{bad:?}");
            }
        }
    }

    mod units {
        use super::*;

        #[test]
        fn each_unit() {
            assert_eq!(ns("2s"), Some(2 * SECOND));
            assert_eq!(ns("1.5m"), Some(90 * SECOND));
            assert_eq!(ns("0.5h"), Some(1800 * SECOND));
            assert_eq!(ns("1d"), Some(86_400 * SECOND));
            assert_eq!(ns(".5d"), Some(43_200 * SECOND));
        }

        #[test]
        fn only_one_lowercase_unit() {
            for bad in ["1S", "1D", "1ms", "1ss", "42day", "1 s", "1x", "1s "] {
                assert_eq!(ns(bad), None, "{bad:?}");
            }
        }
    }

    mod white_space_and_signs {
        use super::*;

        #[test]
        fn leading_space_and_plus() {
            assert_eq!(ns(" 1"), Some(SECOND));
            assert_eq!(ns("\t\n\x0b\x0c\r 2"), Some(2 * SECOND));
            assert_eq!(ns("+3"), Some(3 * SECOND));
            assert_eq!(ns("  +.5"), Some(SECOND / 2));
        }

        #[test]
        fn trailing_space_and_inner_space_are_rejected() {
            for bad in ["1 ", "1\n", "+ 1", "1 2", "1,5", "0,5"] {
                assert_eq!(ns(bad), None, "{bad:?}");
            }
        }

        #[test]
        fn negative_zero_is_zero_other_negatives_are_errors() {
            assert_eq!(ns("-0"), Some(0));
            assert_eq!(ns("-0.000"), Some(0));
            assert_eq!(ns("-0x0p9"), Some(0));
            for bad in ["-1", "-1e-400", "-0.0000000001", "-inf", "--1", "+-1"] {
                assert_eq!(ns(bad), None, "{bad:?}");
            }
        }
    }

    mod infinity {
        use super::*;

        #[test]
        fn spellings() {
            for good in ["inf", "INF", "Inf", "infinity", "INFINITY", "iNfInItY", "+inf", " infinity"] {
                assert_eq!(ns(good), Some(FOREVER), "{good:?}");
            }
        }

        #[test]
        fn with_units() {
            assert_eq!(ns("infd"), Some(FOREVER));
            assert_eq!(ns("infinitys"), Some(FOREVER));
        }

        #[test]
        fn near_misses_are_rejected() {
            for bad in ["in", "infinit", "infi", "infinityy", "infinity s", "nan", "NaN", "infinityS"] {
                assert_eq!(ns(bad), None, "{bad:?}");
            }
        }
    }

    mod rounding_and_underflow {
        use super::*;

        #[test]
        fn below_a_nanosecond_rounds_up() {
            assert_eq!(ns("1e-400"), Some(1));
            assert_eq!(ns("0.0000000001"), Some(1));
            assert_eq!(ns("1.0000000001"), Some(SECOND + 1));
            assert_eq!(ns("0x1p-40"), Some(1));
            assert_eq!(ns("1e-99999999999999999999"), Some(1));
        }

        #[test]
        fn exact_zero_stays_zero() {
            assert_eq!(ns("0e-400"), Some(0));
            assert_eq!(ns("0.000000000000"), Some(0));
            assert_eq!(ns("0x0p-99"), Some(0));
        }

        #[test]
        fn units_apply_before_rounding() {
            // 1e-11 minutes = 0.6 ns: rounds up to 1, not 0 or 60.
            assert_eq!(ns("1e-11m"), Some(1));
            // 1e-10 hours = 360 ns exactly.
            assert_eq!(ns("1e-10h"), Some(360));
        }
    }

    mod overflow {
        use super::*;

        #[test]
        fn huge_values_saturate() {
            assert_eq!(ns("1e400"), Some(FOREVER));
            assert_eq!(ns("99999999999999999999999"), Some(FOREVER));
            assert_eq!(ns("1e99999999999999999999"), Some(FOREVER));
            assert_eq!(ns("0x1p99999"), Some(FOREVER));
            assert_eq!(ns("213503982336d"), Some(FOREVER));
        }

        #[test]
        fn largest_exact_value_does_not_saturate() {
            assert_eq!(ns("18446744073.709551615"), Some(u64::MAX));
            assert_eq!(ns("18446744073.709551614"), Some(u64::MAX - 1));
            assert_eq!(ns("18446744073.7095516139"), Some(u64::MAX - 1));
        }

        #[test]
        fn zeros_at_huge_powers_are_still_zero() {
            assert_eq!(ns("0e99999"), Some(0));
            assert_eq!(ns("0000000000000000000000000000001"), Some(SECOND));
        }
    }
}
