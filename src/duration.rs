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
/// One pass from left to right reads the operand in named steps, then the
/// exact arithmetic runs backwards over the digits:
///
/// 1. `skip_space_and_sign`: leading white space, then `+` or `-`;
/// 2. `read_digits`: `0x` (hex) or not (decimal), then the digits, with at
///    most one point;
/// 3. no digit at all: `read_infinity`; else `read_exponent`;
/// 4. `read_unit`: `s`, `m`, `h`, `d` or none, which must end the operand;
/// 5. `Number::times_rounded_up`: the digits times the unit in
///    nanoseconds, exactly, rounded up, saturating.
///
/// A worked example, `0xA.8p1m`:
///
/// 1. No space, no sign: not negative.
/// 2. `0x`: radix 16. The digits are `A.8`, one of them after the point.
/// 3. Not infinity. The exponent `p1` means × 2^1. The last digit, `8`, is
///    worth 2^(1 − 4 × 1) = 2^−3 = 16^−1 × 2^1: so the number is
///    `A8` (168) × 16^−1, and the 2^1 moves into the multiplier.
/// 4. The unit `m` is 60 s: the multiplier is 60 × 10^9 ns × 2^1 = 120 × 10^9.
/// 5. Long multiplication in radix 16 from the last digit: 8 × 120 × 10^9 =
///    960 × 10^9, which leaves the product digit 0 at 16^−1 (below a
///    nanosecond) and carries 60 × 10^9. Then A, at 16^0: 10 × 120 × 10^9 +
///    the carry = 1,260 × 10^9, and from here on every product digit (and
///    the carry, once the digits run out) is worth whole nanoseconds: they
///    add up to 1,260 × 10^9 ns. No digit below a nanosecond was non-zero,
///    so nothing rounds up: 21 minutes.
///
/// ```
/// use sleep::duration::nanoseconds;
///
/// let multiplier = 60 * 1_000_000_000 << 1; // the unit, and p1's 2^1
/// assert_eq!(0xA8 * multiplier / 16, 1_260_000_000_000);
/// assert_eq!(nanoseconds(b"0xA.8p1m"), Some(0xA8 * multiplier / 16));
/// ```
pub fn nanoseconds(operand: &[u8]) -> Option<u64> {
    let mut text = Text { bytes: operand, index: 0 };
    let negative = skip_space_and_sign(&mut text);
    let digits = read_digits(&mut text);
    // Not one digit (only a point, or nothing): it must be "inf" or "infinity".
    let infinite = digits.is_empty();
    let exponent = if infinite {
        read_infinity(&mut text, digits)?;
        0
    } else {
        read_exponent(&mut text, digits.hex)?
    };
    let unit_seconds = read_unit(&mut text)?;

    let nanos = Number::new(digits, exponent).times_rounded_up(unit_seconds);
    // Infinity replaces the product (of no digits: 0) rather than skipping
    // it: with one path through the unit step, LLVM does not copy that step
    // into both (docs/size.md, "Ideas tried in the parser").
    let nanos = if infinite { FOREVER } else { nanos };
    // strtod reads "-0" as zero, and GNU accepts it; any other negative is an
    // error. One expression rather than an early return, which is larger
    // (docs/size.md, "Ideas tried in the parser").
    (!negative || nanos == 0).then_some(nanos)
}

/// The operand, and how far it has been read.
struct Text<'a> {
    bytes: &'a [u8],
    index: usize,
}

impl Text<'_> {
    /// The byte `offset` places ahead, or 0 past the end: a byte no rule of
    /// the grammar accepts, so the end needs no check of its own.
    // Inlined at every use: a call costs more than the read (docs/size.md,
    // "Inlined helpers").
    #[inline(always)]
    fn peek(&self, offset: usize) -> u8 {
        byte_at(self.bytes, self.index + offset)
    }

    /// Moves past a `+` or `-`; whether it was `-`.
    // Two uses, inlined at both: a call is larger (docs/size.md, "Inlined helpers").
    #[inline(always)]
    fn skip_sign(&mut self) -> bool {
        let sign = self.peek(0);
        self.index += (sign == b'+' || sign == b'-') as usize;
        sign == b'-'
    }
}

/// Step 1: leading white space (C's `isspace`), then an optional sign;
/// whether the sign was `-`.
fn skip_space_and_sign(text: &mut Text) -> bool {
    while let b' ' | b'\t'..=b'\r' = text.peek(0) {
        text.index += 1;
    }
    text.skip_sign()
}

/// The digits of a number as written: `operand[start..end]`, which may hold
/// one `.`.
#[derive(Clone, Copy)]
struct Digits<'a> {
    operand: &'a [u8],
    start: usize,
    end: usize,
    /// After `0x`.
    hex: bool,
    /// 10, or 16 after `0x`.
    radix: u64,
    /// How many digits follow the point.
    after_point: isize,
    has_point: bool,
}

impl Digits<'_> {
    /// No digit at all (perhaps a lone point).
    fn is_empty(&self) -> bool {
        self.end - self.start == self.has_point as usize
    }
}

/// Step 2: `0x` or `0X` (radix 16) or not (radix 10), then the digits of
/// that radix, with at most one point among them.
fn read_digits<'a>(text: &mut Text<'a>) -> Digits<'a> {
    let hex = text.peek(0) == b'0' && text.peek(1) | 0x20 == b'x';
    text.index += 2 * hex as usize;
    let mut digits = Digits {
        operand: text.bytes,
        start: text.index,
        end: 0,
        hex,
        radix: if hex { 16 } else { 10 },
        after_point: 0,
        has_point: false,
    };
    loop {
        let byte = text.peek(0);
        if (byte as char).is_digit(digits.radix as u32) {
            digits.after_point += digits.has_point as isize;
        } else if byte == b'.' && !digits.has_point {
            digits.has_point = true;
        } else {
            break;
        }
        text.index += 1;
    }
    digits.end = text.index;
    digits
}

/// Step 3, without digits: `inf` or `infinity`, in any letter case; never
/// after `0x`.
// One use; opt-level "z" would make it a call (docs/size.md, "Inlined helpers").
#[inline(always)]
fn read_infinity(text: &mut Text, digits: Digits) -> Option<()> {
    text.index = digits.start;
    // One loop over "infinity": cheaper than two prefix checks.
    let mut matched = 0;
    while let Some(&letter) = b"infinity".get(matched)
        && text.peek(matched) | 0x20 == letter
    {
        matched += 1;
    }
    // A partial "infinity" leaves an 'i' where a unit or the end must be.
    if digits.hex || matched != 3 && matched != 8 {
        return None;
    }
    text.index += matched;
    Some(())
}

/// Step 3, after digits: the optional exponent, `e` (decimal) or `p` (hex)
/// in either case, a sign, decimal digits; clamped to ±[`EXPONENT_LIMIT`].
/// 0 without one; `None` for a marker without digits.
fn read_exponent(text: &mut Text, hex: bool) -> Option<isize> {
    let mut exponent: isize = 0;
    if text.peek(0) | 0x20 == if hex { b'p' } else { b'e' } {
        text.index += 1;
        let negative = text.skip_sign();
        let start = text.index;
        while let digit @ 0..=9 = text.peek(0).wrapping_sub(b'0') {
            if exponent < EXPONENT_LIMIT {
                exponent = exponent * 10 + digit as isize;
            }
            text.index += 1;
        }
        if text.index == start {
            return None;
        }
        if negative {
            exponent = -exponent;
        }
    }
    Some(exponent)
}

/// Step 4: the optional unit, which must be the last byte; its length in
/// seconds (1 without a unit).
fn read_unit(text: &mut Text) -> Option<u32> {
    let unit = text.peek(0);
    // A walk up a table rather than a `match`, whose four 64-bit constants
    // cost more on every arch but 386 (docs/size.md, "Ideas tried in the parser").
    let mut seconds: u32 = 1;
    for &[letter, factor] in UNITS {
        seconds *= factor as u32;
        if unit == letter {
            text.index += (unit != 0) as usize;
            return (text.index == text.bytes.len()).then_some(seconds);
        }
    }
    None
}

/// The units from the smallest up, each with how many of the one before it
/// make one of it. 0 is the end of the operand: no unit, so seconds.
const UNITS: &[[u8; 2]] = &[[0, 1], [b's', 1], [b'm', 60], [b'h', 60], [b'd', 24]];

/// A number ready for exact arithmetic: the digits, as one whole number,
/// times `radix^power`, times `2^shift`.
struct Number<'a> {
    digits: Digits<'a>,
    /// The power of the radix the last digit is worth.
    power: isize,
    /// Hex only: the binary exponent's remainder, 0..=3 (`16^power × 2^shift`).
    shift: isize,
}

impl<'a> Number<'a> {
    /// `digits × radix^exponent` (`2^exponent` for hex) as `digits × radix^power × 2^shift`.
    fn new(digits: Digits<'a>, exponent: isize) -> Number<'a> {
        // Decimal: the last digit is worth 10^(exponent - digits after the point).
        // Hex: 2^(exponent - 4 × digits after the point); split that into
        // whole hex digits (16^power) and a 0..=3 bit shift.
        let log2_bits_per_digit = if digits.hex { 2 } else { 0 };
        let power_of_two = exponent - (digits.after_point << log2_bits_per_digit);
        Number {
            digits,
            power: power_of_two >> log2_bits_per_digit,
            shift: power_of_two & ((1 << log2_bits_per_digit) - 1),
        }
    }

    /// Step 5: `self × unit_seconds` in nanoseconds, rounded up to a whole
    /// number, saturating.
    ///
    /// Long multiplication from the last digit to the first, then on through
    /// the carry: each product digit is either a whole number of nanoseconds
    /// (added, saturating) or below one (only noted, to round up).
    fn times_rounded_up(self, unit_seconds: u32) -> u64 {
        let Digits { operand, start, end, radix, .. } = self.digits;
        let mut power = self.power;
        // At most 86,400 × 10^9 × 8 < 2^50, so `digit × multiplier + carry` < 2^55.
        // The hex shift applies to the seconds (at most 86,400 × 8 < 2^20), a
        // 32-bit shift: smaller on arm/v7 than shifting the u64 (docs/size.md,
        // "Ideas tried in the parser").
        let multiplier = ((unit_seconds << self.shift) as u64) * NANOS_PER_SECOND;
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
}

/// `text[index]`, or 0 past the end (see `Text::peek`).
#[inline(always)]
fn byte_at(text: &[u8], index: usize) -> u8 {
    text.get(index).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = NANOS_PER_SECOND;

    fn ns(operand: &str) -> Option<u64> {
        nanoseconds(operand.as_bytes())
    }

    /// Checks every operand's value (`None`: rejected), then fails once,
    /// naming each wrong one: one wrong case does not hide the others.
    fn assert_values(cases: &[(&str, Option<u64>)]) {
        let wrong: Vec<String> = cases
            .iter()
            .filter(|&&(operand, expected)| ns(operand) != expected)
            .map(|&(operand, expected)| format!("{operand:?}: {:?}, expected {expected:?}", ns(operand)))
            .collect();
        assert!(wrong.is_empty(), "{} of {} cases wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
    }

    /// [`assert_values`] for operands that must all be rejected.
    fn assert_rejected(operands: &[&str]) {
        let cases: Vec<(&str, Option<u64>)> = operands.iter().map(|&operand| (operand, None)).collect();
        assert_values(&cases);
    }

    mod integers_and_fractions {
        use super::*;

        #[test]
        fn whole_seconds() {
            assert_values(&[
                ("0", Some(0)),
                ("5", Some(5 * SECOND)),
                ("007", Some(7 * SECOND)),
                ("60", Some(60 * SECOND)),
            ]);
        }

        #[test]
        fn point_forms() {
            assert_values(&[
                (".5", Some(SECOND / 2)),
                ("5.", Some(5 * SECOND)),
                ("0.1", Some(100_000_000)),
                ("1.000000001", Some(SECOND + 1)),
            ]);
        }

        #[test]
        fn lone_point_and_empty_are_rejected() {
            assert_rejected(&["", ".", "..", "1..", "1.2.3", " ", "+", "-", "+.", "e1", ".e1"]);
        }
    }

    mod exponents {
        use super::*;

        #[test]
        fn decimal_exponents() {
            assert_values(&[
                ("1e-3", Some(1_000_000)),
                ("1E2", Some(100 * SECOND)),
                ("2.5E+1", Some(25 * SECOND)),
                ("25e-1", Some(2_500_000_000)),
                ("1e0000000000000000000000001", Some(10 * SECOND)),
            ]);
        }

        #[test]
        fn incomplete_exponents_are_rejected() {
            assert_rejected(&["1e", "1e+", "1E-", "1e+-1", "1e1.5", "1p1"]);
        }
    }

    mod hex_floats {
        use super::*;

        #[test]
        fn hex_values() {
            assert_values(&[
                ("0x1p-3", Some(SECOND / 8)),
                ("0x.8", Some(SECOND / 2)),
                ("0X1P0", Some(SECOND)),
                ("0x10", Some(16 * SECOND)),
                ("0xA.8p1", Some(21 * SECOND)),
                ("0x1p-1", Some(SECOND / 2)),
                ("0x1P+4", Some(16 * SECOND)),
            ]);
        }

        #[test]
        fn d_is_a_hex_digit_not_a_unit() {
            assert_values(&[
                // 0x0.01d = 29/4096 s = 7,080,078.125 ns, rounded up.
                ("0x0.01d", Some(7_080_079)),
                ("0x1d", Some(29 * SECOND)),
                ("0x1p0d", Some(86_400 * SECOND)),
            ]);
        }

        #[test]
        fn incomplete_hex_is_rejected() {
            assert_rejected(&["0x", "0x.", "0x1p", "0xp1", "0x1e-", "0x1g", "x1", "0x1.8.1"]);
        }
    }

    mod units {
        use super::*;

        #[test]
        fn each_unit() {
            assert_values(&[
                ("2s", Some(2 * SECOND)),
                ("1.5m", Some(90 * SECOND)),
                ("0.5h", Some(1800 * SECOND)),
                ("1d", Some(86_400 * SECOND)),
                (".5d", Some(43_200 * SECOND)),
            ]);
        }

        #[test]
        fn only_one_lowercase_unit() {
            assert_rejected(&["1S", "1D", "1ms", "1ss", "42day", "1 s", "1x", "1s "]);
        }
    }

    mod white_space_and_signs {
        use super::*;

        #[test]
        fn leading_space_and_plus() {
            assert_values(&[
                (" 1", Some(SECOND)),
                ("\t\n\x0b\x0c\r 2", Some(2 * SECOND)),
                ("+3", Some(3 * SECOND)),
                ("  +.5", Some(SECOND / 2)),
            ]);
        }

        #[test]
        fn trailing_space_and_inner_space_are_rejected() {
            assert_rejected(&["1 ", "1\n", "+ 1", "1 2", "1,5", "0,5"]);
        }

        #[test]
        fn negative_zero_is_zero_other_negatives_are_errors() {
            assert_values(&[
                ("-0", Some(0)),
                ("-0.000", Some(0)),
                ("-0x0p9", Some(0)),
                ("-1", None),
                ("-1e-400", None),
                ("-0.0000000001", None),
                ("-inf", None),
                ("--1", None),
                ("+-1", None),
            ]);
        }
    }

    mod infinity {
        use super::*;

        #[test]
        fn spellings() {
            assert_values(&[
                ("inf", Some(FOREVER)),
                ("INF", Some(FOREVER)),
                ("Inf", Some(FOREVER)),
                ("infinity", Some(FOREVER)),
                ("INFINITY", Some(FOREVER)),
                ("iNfInItY", Some(FOREVER)),
                ("+inf", Some(FOREVER)),
                (" infinity", Some(FOREVER)),
            ]);
        }

        #[test]
        fn with_units() {
            assert_values(&[("infd", Some(FOREVER)), ("infinitys", Some(FOREVER))]);
        }

        #[test]
        fn near_misses_are_rejected() {
            assert_rejected(&["in", "infinit", "infi", "infinityy", "infinity s", "nan", "NaN", "infinityS"]);
        }
    }

    mod rounding_and_underflow {
        use super::*;

        #[test]
        fn below_a_nanosecond_rounds_up() {
            assert_values(&[
                ("1e-400", Some(1)),
                ("0.0000000001", Some(1)),
                ("1.0000000001", Some(SECOND + 1)),
                ("0x1p-40", Some(1)),
                ("1e-99999999999999999999", Some(1)),
            ]);
        }

        #[test]
        fn exact_zero_stays_zero() {
            assert_values(&[("0e-400", Some(0)), ("0.000000000000", Some(0)), ("0x0p-99", Some(0))]);
        }

        #[test]
        fn units_apply_before_rounding() {
            assert_values(&[
                // 1e-11 minutes = 0.6 ns: rounds up to 1, not 0 or 60.
                ("1e-11m", Some(1)),
                // 1e-10 hours = 360 ns exactly.
                ("1e-10h", Some(360)),
            ]);
        }
    }

    mod overflow {
        use super::*;

        #[test]
        fn huge_values_saturate() {
            assert_values(&[
                ("1e400", Some(FOREVER)),
                ("99999999999999999999999", Some(FOREVER)),
                ("1e99999999999999999999", Some(FOREVER)),
                ("0x1p99999", Some(FOREVER)),
                ("213503982336d", Some(FOREVER)),
            ]);
        }

        #[test]
        fn largest_exact_value_does_not_saturate() {
            assert_values(&[
                ("18446744073.709551615", Some(u64::MAX)),
                ("18446744073.709551614", Some(u64::MAX - 1)),
                ("18446744073.7095516139", Some(u64::MAX - 1)),
            ]);
        }

        #[test]
        fn zeros_at_huge_powers_are_still_zero() {
            assert_values(&[("0e99999", Some(0)), ("0000000000000000000000000000001", Some(SECOND))]);
        }
    }
}
