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

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Exponents are clamped here while they are read. An operand holds at most
/// 128 KiB of digits (the kernel's `MAX_ARG_STRLEN`), so beyond this bound
/// every non-zero digit is either far below a nanosecond or far above
/// [`FOREVER`], and the clamped value gives the same answer as the real one.
const EXPONENT_LIMIT: isize = 1 << 24;

/// `operand` in nanoseconds, rounded up, saturating at [`FOREVER`];
/// `None` when it is not a valid time interval.
pub fn nanoseconds(operand: &[u8]) -> Option<u64> {
    let mut rest = operand;
    while let [b' ' | b'\t'..=b'\r', tail @ ..] = rest {
        rest = tail;
    }
    let negative = matches!(rest, [b'-', ..]);
    if let [b'+' | b'-', tail @ ..] = rest {
        rest = tail;
    }
    let (number, rest) = match strip_prefix_ignore_case(rest, b"inf") {
        Some(tail) => (None, strip_prefix_ignore_case(tail, b"inity").unwrap_or(tail)),
        None => {
            let (number, tail) = Number::parse(rest)?;
            (Some(number), tail)
        }
    };
    let unit_seconds = match rest {
        [] | [b's'] => 1,
        [b'm'] => 60,
        [b'h'] => 60 * 60,
        [b'd'] => 24 * 60 * 60,
        _ => return None,
    };
    let nanos = match number {
        Some(number) => number.times(unit_seconds * NANOS_PER_SECOND),
        None => FOREVER,
    };
    // strtod reads "-0" as zero, and GNU accepts it; any other negative is an error.
    if negative && nanos != 0 {
        return None;
    }
    Some(nanos)
}

/// A finite number as written: its digits and where they sit.
struct Number<'a> {
    /// Every mantissa digit, with at most one `.` among them.
    digits: &'a [u8],
    /// 10 or 16.
    radix: u64,
    /// The power of `radix` that the last digit is worth.
    last_digit_power: isize,
    /// Hex only: the binary exponent that is not a multiple of 4, as a
    /// left shift of the multiplier (0..=3).
    shift: u32,
}

impl<'a> Number<'a> {
    /// Reads a decimal or hex number from the front of `text`; returns it and
    /// what follows it, or `None` if `text` does not start with one.
    fn parse(text: &'a [u8]) -> Option<(Self, &'a [u8])> {
        let (radix, exponent_letter, text) = match text {
            [b'0', b'x' | b'X', tail @ ..] => (16, b'p', tail),
            _ => (10, b'e', text),
        };
        let mut count = 0;
        let mut fraction_digits: isize = 0;
        let mut seen_point = false;
        let mut has_digit = false;
        for &byte in text {
            if digit_value(byte) < radix {
                has_digit = true;
                fraction_digits += seen_point as isize;
            } else if byte == b'.' && !seen_point {
                seen_point = true;
            } else {
                break;
            }
            count += 1;
        }
        if !has_digit {
            return None;
        }
        let (digits, mut rest) = text.split_at_checked(count)?;
        let mut exponent: isize = 0;
        if let [letter, tail @ ..] = rest
            && *letter | 0x20 == exponent_letter
        {
            rest = tail;
            let negative = matches!(rest, [b'-', ..]);
            if let [b'+' | b'-', tail @ ..] = rest {
                rest = tail;
            }
            let mut has_exponent_digit = false;
            while let [digit @ b'0'..=b'9', tail @ ..] = rest {
                if exponent < EXPONENT_LIMIT {
                    exponent = exponent * 10 + (digit - b'0') as isize;
                }
                has_exponent_digit = true;
                rest = tail;
            }
            if !has_exponent_digit {
                return None;
            }
            if negative {
                exponent = -exponent;
            }
        }
        // Decimal: the last digit is worth 10^(exponent - fraction digits).
        // Hex: it is worth 2^(exponent - 4 × fraction digits); split that into
        // whole hex digits (16^power) and a 0..=3 bit shift for the multiplier.
        let log2_bits_per_digit = if radix == 16 { 2 } else { 0 };
        let binary_or_decimal_power = exponent - (fraction_digits << log2_bits_per_digit);
        let number = Number {
            digits,
            radix,
            last_digit_power: binary_or_decimal_power >> log2_bits_per_digit,
            shift: (binary_or_decimal_power & ((1 << log2_bits_per_digit) - 1)) as u32,
        };
        Some((number, rest))
    }

    /// `self × multiplier`, rounded up to a whole number, saturating.
    ///
    /// Long multiplication from the last digit to the first, then on through
    /// the carry: product digit `k` is worth `radix^(last_digit_power + k)`.
    fn times(&self, multiplier: u64) -> u64 {
        // At most 86,400 × 10^9 × 8 < 2^50, so `digit × multiplier + carry` < 2^55.
        let multiplier = multiplier << self.shift;
        let mut remaining = self.digits;
        let mut power = self.last_digit_power;
        let mut carry = 0;
        let mut whole = 0u64;
        let mut has_fraction = false;
        loop {
            let digit = match remaining {
                [front @ .., last] => {
                    remaining = front;
                    if *last == b'.' {
                        continue;
                    }
                    digit_value(*last)
                }
                [] if carry != 0 => 0,
                [] => break,
            };
            let product = digit * multiplier + carry;
            let product_digit = product % self.radix;
            carry = product / self.radix;
            if power < 0 {
                has_fraction |= product_digit != 0;
            } else {
                whole = whole.saturating_add(product_digit.saturating_mul(saturating_pow(self.radix, power)));
            }
            power += 1;
        }
        whole.saturating_add(has_fraction as u64)
    }
}

/// `radix^power`, saturating at `u64::MAX`.
fn saturating_pow(radix: u64, power: isize) -> u64 {
    let mut value = 1u64;
    // 2^64 < 10^20 < 16^17: past 64 factors the value cannot change any more.
    for _ in 0..power.min(64) {
        value = value.saturating_mul(radix);
    }
    value
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

/// `text` without `prefix`, where `prefix` is lowercase ASCII letters and
/// `text` may use either case.
fn strip_prefix_ignore_case<'a>(text: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let mut text = text;
    for &expected in prefix {
        match text {
            [byte, tail @ ..] if *byte | 0x20 == expected => text = tail,
            _ => return None,
        }
    }
    Some(text)
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
