//! An exact, deliberately naive reference for `sleep::duration::nanoseconds`.
//!
//! A crate of its own, which the property test (`tests/parser_prop.rs`), the
//! exactness test of the binaries (`tests/exact.rs`) and the fuzz target
//! (`fuzz/fuzz_targets/nanoseconds.rs`) depend on. It shares no code and no
//! structure with the implementation:
//!
//! 1. [`strtod`] models C `strtod` in the C locale as GNU `sleep` calls it: it
//!    reads the *longest* prefix that is a number and reports where it ended,
//!    backing off from an incomplete exponent (`1e+` reads as `1`) or an empty
//!    hex mantissa (`0x.` reads as `0`), exactly as the C standard says.
//! 2. [`nanoseconds`] then applies GNU `sleep`'s rules to what is left: it must
//!    be empty or one unit letter (`s`, `m`, `h`, `d`); NaN and negative values
//!    are errors, except a negative *exact* zero (`-0`, `-0x0p9`), which the
//!    grammar in `src/duration.rs` accepts.
//! 3. [`evaluate`] computes the value as an exact big rational
//!    `N × 10^k` or `N × 2^k` (`N` the mantissa digits as a big integer),
//!    multiplies it by the unit in nanoseconds, takes the ceiling and saturates
//!    at `u64::MAX` (`FOREVER`, also the value of `inf`).
//!
//! # Absurd exponents
//!
//! The exponent is read saturating at ±10^30 (no operand can have 10^30 bytes),
//! so it never overflows. Two shortcuts keep the big integers small; each is
//! exact for operands of *any* length, not only the kernel's 128 KiB
//! (`MAX_ARG_STRLEN`), because the bound grows with the operand. With `len`
//! mantissa digits (leading zeros included) and `N ≠ 0` we have
//! `1 ≤ N < radix^len`, so for the value `v = N × base^k` in seconds:
//!
//! - decimal (`base = 10`): `k ≥ 20` gives `v ≥ 10^20 s > u64::MAX ns`, so the
//!   answer is `FOREVER`; `k < -(len + 14)` gives `v < 10^(len + k) ≤ 10^-15 s`,
//!   and `v × 86,400 × 10^9 < 1`, so the ceiling of a positive value below one
//!   nanosecond is 1.
//! - hex (`base = 2`, `len` hex digits `< 2^(4 len)`): `k ≥ 64` gives
//!   `v ≥ 2^64 s`, `FOREVER`; `k < -(4 len + 47)` gives `v < 2^-47 s`, and
//!   `86,400 × 10^9 < 2^47`, so again exactly 1 ns.
//!
//! Between those bounds everything is computed exactly; the largest power
//! built is about `10^(len + 14)` or `2^(4 len + 47)`: about half a megabit for
//! a 128 KiB operand. Setting `shortcuts` to `false` in [`evaluate`] skips
//! them, which the property test uses to check them on moderate exponents.
use num_bigint::BigUint;

/// `u64::MAX` nanoseconds: longer than any deadline; what `inf` means.
pub const FOREVER: u64 = u64::MAX;

/// Exponents are read saturating at this magnitude (see the module docs).
const EXPONENT_CAP: i128 = 1_000_000_000_000_000_000_000_000_000_000;

/// What `strtod` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Number {
    Infinity,
    NaN,
    /// `digits × radix^(-fraction_digits) × exponent_base^exponent`, where
    /// the exponent base is 10 for decimal and 2 for hex.
    Finite {
        radix: u32,
        /// Digit values (0..radix), most significant first, point removed.
        digits: Vec<u8>,
        /// How many of `digits` came after the point.
        fraction_digits: usize,
        /// The written exponent (0 if none), saturated at ±10^30.
        exponent: i128,
    },
}

/// The result of `strtod`: the sign, the number, and where it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    pub negative: bool,
    pub number: Number,
    pub end: usize,
}

/// A cursor over the operand, for a recursive-descent reader.
struct Reader<'a> {
    text: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text.get(self.at + ahead).copied()
    }

    /// Consumes one byte if `accept` likes it.
    fn eat(&mut self, accept: impl Fn(u8) -> bool) -> Option<u8> {
        let byte = self.peek().filter(|&byte| accept(byte))?;
        self.at += 1;
        Some(byte)
    }

    /// Consumes `word` (lowercase ASCII) in any letter case, all or nothing.
    fn eat_word_ignore_case(&mut self, word: &[u8]) -> bool {
        let end = self.at + word.len();
        let matches = self.text.get(self.at..end).is_some_and(|found| found.eq_ignore_ascii_case(word));
        if matches {
            self.at = end;
        }
        matches
    }
}

/// C `isspace` in the C locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The value of `byte` as a digit in `radix` (10 or 16).
fn digit(byte: u8, radix: u32) -> Option<u8> {
    (byte as char).to_digit(radix).map(|value| value as u8)
}

/// C `strtod` in the C locale: the longest number at the front of `text`
/// (after white space and a sign), or `None` when there is none (strtod
/// would set `endptr` to `text`).
pub fn strtod(text: &[u8]) -> Option<Conversion> {
    let mut reader = Reader { text, at: 0 };
    while reader.eat(is_c_space).is_some() {}
    let negative = match reader.eat(|byte| byte == b'+' || byte == b'-') {
        Some(sign) => sign == b'-',
        None => false,
    };
    let number = if reader.eat_word_ignore_case(b"inf") {
        reader.eat_word_ignore_case(b"inity");
        Number::Infinity
    } else if reader.eat_word_ignore_case(b"nan") {
        // "nan(n-char-sequence)": taken only if the parenthesis closes.
        let before = reader.at;
        if reader.eat(|byte| byte == b'(').is_some() {
            while reader.eat(|byte| byte.is_ascii_alphanumeric() || byte == b'_').is_some() {}
            if reader.eat(|byte| byte == b')').is_none() {
                reader.at = before;
            }
        }
        Number::NaN
    } else {
        finite(&mut reader)?
    };
    Some(Conversion { negative, number, end: reader.at })
}

/// A hex number if `0x` is followed by a hex mantissa, else a decimal one
/// (so `0x` alone, or `0x.`, reads as the decimal `0`).
fn finite(reader: &mut Reader) -> Option<Number> {
    let start = reader.at;
    if reader.peek() == Some(b'0') && matches!(reader.peek_at(1), Some(b'x' | b'X')) {
        reader.at += 2;
        if let Some((digits, fraction_digits)) = mantissa(reader, 16) {
            let exponent = exponent(reader, b'p');
            return Some(Number::Finite { radix: 16, digits, fraction_digits, exponent });
        }
        reader.at = start;
    }
    let (digits, fraction_digits) = mantissa(reader, 10)?;
    let exponent = exponent(reader, b'e');
    Some(Number::Finite { radix: 10, digits, fraction_digits, exponent })
}

/// `digits* ('.' digits*)?` with at least one digit; consumes nothing if none.
fn mantissa(reader: &mut Reader, radix: u32) -> Option<(Vec<u8>, usize)> {
    let start = reader.at;
    let mut digits = Vec::new();
    while let Some(byte) = reader.eat(|byte| digit(byte, radix).is_some()) {
        digits.push(digit(byte, radix).unwrap());
    }
    let mut fraction_digits = 0;
    if reader.eat(|byte| byte == b'.').is_some() {
        while let Some(byte) = reader.eat(|byte| digit(byte, radix).is_some()) {
            digits.push(digit(byte, radix).unwrap());
            fraction_digits += 1;
        }
    }
    if digits.is_empty() {
        reader.at = start;
        return None;
    }
    Some((digits, fraction_digits))
}

/// `letter sign? decimal-digit+`, either case of `letter`; if incomplete,
/// consumes nothing and the exponent is 0 (strtod stops before the letter).
fn exponent(reader: &mut Reader, letter: u8) -> i128 {
    let start = reader.at;
    if reader.eat(|byte| byte.eq_ignore_ascii_case(&letter)).is_none() {
        return 0;
    }
    let negative = reader.eat(|byte| byte == b'+' || byte == b'-') == Some(b'-');
    let mut value: i128 = 0;
    let mut any = false;
    while let Some(byte) = reader.eat(|byte| byte.is_ascii_digit()) {
        value = (value * 10 + i128::from(byte - b'0')).min(EXPONENT_CAP);
        any = true;
    }
    if !any {
        reader.at = start;
        return 0;
    }
    if negative { -value } else { value }
}

/// The unit letter's length in seconds, if `rest` is empty or one unit.
fn unit_seconds(rest: &[u8]) -> Option<u64> {
    match rest {
        b"" | b"s" => Some(1),
        b"m" => Some(60),
        b"h" => Some(60 * 60),
        b"d" => Some(24 * 60 * 60),
        _ => None,
    }
}

/// The reference answer: `operand` in whole nanoseconds, rounded up,
/// saturating at [`FOREVER`]; `None` for an invalid operand.
pub fn nanoseconds(operand: &[u8]) -> Option<u64> {
    nanoseconds_with(operand, true)
}

/// [`nanoseconds`], with or without the exponent shortcuts of [`evaluate`].
pub fn nanoseconds_with(operand: &[u8], shortcuts: bool) -> Option<u64> {
    let conversion = strtod(operand)?;
    let unit = unit_seconds(&operand[conversion.end..])?;
    match conversion.number {
        // GNU sleep: `! (0 <= seconds)` is an invalid time interval.
        Number::NaN => None,
        Number::Infinity if conversion.negative => None,
        Number::Infinity => Some(FOREVER),
        Number::Finite { radix, digits, fraction_digits, exponent } => {
            let is_zero = digits.iter().all(|&value| value == 0);
            if is_zero {
                return Some(0); // "-0" included: strtod gives -0.0, and 0 <= -0.0.
            }
            if conversion.negative {
                return None;
            }
            Some(evaluate(radix, &digits, fraction_digits, exponent, unit, shortcuts))
        }
    }
}

/// `ceil(digits × radix^-fraction_digits × base^exponent × unit × 10^9)`,
/// saturated to `u64`. `digits` must not be all zeros.
pub fn evaluate(
    radix: u32,
    digits: &[u8],
    fraction_digits: usize,
    exponent: i128,
    unit_seconds: u64,
    shortcuts: bool,
) -> u64 {
    let mantissa = BigUint::from_radix_be(digits, radix).expect("digits below the radix");
    assert!(mantissa != BigUint::ZERO, "evaluate wants a non-zero mantissa");
    let len = digits.len() as i128;
    let fraction_digits = fraction_digits as i128;
    // The value is mantissa × base^power seconds.
    let (base, power, saturating_power, underflowing_power) = match radix {
        10 => (10u32, exponent - fraction_digits, 20, -(len + 14)),
        16 => (2u32, exponent - 4 * fraction_digits, 64, -(4 * len + 47)),
        _ => unreachable!("radix is 10 or 16"),
    };
    if shortcuts {
        if power >= saturating_power {
            return FOREVER;
        }
        if power < underflowing_power {
            return 1;
        }
    }
    let magnitude = u32::try_from(power.unsigned_abs()).expect("exponent small enough to evaluate");
    let scaled = mantissa * BigUint::from(unit_seconds) * BigUint::from(1_000_000_000u64);
    let scale = BigUint::from(base).pow(magnitude);
    let nanos = if power >= 0 {
        scaled * scale
    } else {
        let quotient = &scaled / &scale;
        if &quotient * &scale == scaled { quotient } else { quotient + 1u32 }
    };
    u64::try_from(&nanos).unwrap_or(FOREVER)
}
