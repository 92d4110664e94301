//! `sleep::duration::nanoseconds` against an exact, independent reference.
//!
//! The reference (the `reference` crate, shared with the fuzz target in `fuzz/`)
//! models C `strtod` by recursive descent and computes with big integers; the
//! implementation under test uses neither. Every generated operand must get
//! the same answer from both: the same accept/reject decision and, when
//! accepted, the same number of nanoseconds.
//!
//! `PROPTEST_CASES` sets the number of cases of the main properties (default
//! 100,000 each); the algebraic sanity properties run a tenth of that.
//! `PROPTEST_RNG_SEED` (read by proptest) fixes the random seed. Failures
//! are not persisted to files: a failure found here becomes a named case in
//! the `regressions` module instead.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{TestRunner, contextualize_config};
use rstest::rstest;
use sleep::duration::nanoseconds;

use sleep_tests::operands::*;

const FOREVER: u64 = u64::MAX;
const SECOND: u64 = 1_000_000_000;
/// The kernel's `MAX_ARG_STRLEN`: the longest operand `sleep` can be given.
const MAX_OPERAND: usize = 128 * 1024;

/// Cases of each main property: `PROPTEST_CASES`, or 100,000.
fn main_cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(100_000)
}

/// Cases of each sanity property: a tenth of the main ones.
fn sanity_cases() -> u32 {
    main_cases() / 10
}

/// Runs `test` on `cases` values of `strategy`; on failure, shrinks and
/// panics with the minimal failing input.
///
/// This is the `proptest!` macro by hand: the macro lets `PROPTEST_CASES`
/// override every property's count alike, while here it sets the main count
/// and the others follow. The other `PROPTEST_*` variables (`RNG_SEED`,
/// `MAX_SHRINK_ITERS`, ...) apply as usual. Failures are not persisted to
/// files: one found here becomes a named case in `regressions` instead.
fn property<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let mut config =
        contextualize_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() });
    config.cases = cases.max(1);
    let mut runner = TestRunner::new(config);
    if let Err(error) = runner.run(&strategy, test) {
        panic!("{error}\n{runner}");
    }
}

fn show(operand: &[u8]) -> String {
    format!("\"{}\"", operand.escape_ascii())
}

fn ns(operand: &str) -> Option<u64> {
    nanoseconds(operand.as_bytes())
}

/// Asserts that the implementation and the reference agree on `operand`.
fn assert_agrees(operand: &[u8]) -> Result<(), TestCaseError> {
    let expected = reference::nanoseconds(operand);
    let actual = nanoseconds(operand);
    prop_assert_eq!(actual, expected, "operand {} (length {})", show(operand), operand.len());
    Ok(())
}

/// The parts of a valid finite number, for properties that rewrite them.
#[derive(Debug, Clone)]
struct Parts {
    hex: bool,
    whole: String,
    fraction: Option<String>,
    exponent: Option<i64>,
}

impl Parts {
    fn render(&self) -> String {
        let mut text = String::from(if self.hex { "0x" } else { "" });
        text += &self.whole;
        if let Some(fraction) = &self.fraction {
            text.push('.');
            text += fraction;
        }
        if let Some(exponent) = self.exponent {
            text.push(if self.hex { 'p' } else { 'e' });
            text += &exponent.to_string();
        }
        text
    }
}

fn small_exponent() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -12i64..12, 2 => -40i64..40, 1 => -400i64..400]
}

/// A valid finite number. A hex one always has a `p` exponent, so that a unit
/// letter after it cannot be read as one more hex digit (`0x1d` is 29).
fn valid_parts() -> impl Strategy<Value = Parts> {
    let decimal =
        ("[0-9]{0,12}", proptest::option::of("[0-9]{0,12}"), proptest::option::of(small_exponent()))
            .prop_filter_map("needs a digit", |(whole, fraction, exponent)| {
                let has_digit = !whole.is_empty() || fraction.as_deref().is_some_and(|f| !f.is_empty());
                has_digit.then_some(Parts { hex: false, whole, fraction, exponent })
            });
    let hex = ("[0-9a-fA-F]{0,10}", proptest::option::of("[0-9a-fA-F]{0,10}"), small_exponent())
        .prop_filter_map("needs a digit", |(whole, fraction, exponent)| {
            let has_digit = !whole.is_empty() || fraction.as_deref().is_some_and(|f| !f.is_empty());
            has_digit.then_some(Parts { hex: true, whole, fraction, exponent: Some(exponent) })
        });
    prop_oneof![3 => decimal, 1 => hex]
}

/// A valid number (finite, or infinity in any case) ready for a unit.
fn valid_number() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => valid_parts().prop_map(|parts| parts.render()),
        2 => near_boundaries(),
        1 => (select(&["inf", "infinity"][..]), vec(any::<bool>(), 8))
            .prop_map(|(word, upper)| random_case(word, &upper)),
    ]
}

// ---------------------------------------------------------------------------
// The implementation agrees with the reference.
// ---------------------------------------------------------------------------

mod agrees_with_reference {
    use super::*;

    #[test]
    fn when_the_operand_is_built_from_the_grammar_then_the_answers_agree() {
        property(main_cases(), structured_operand(), |operand| assert_agrees(&operand));
    }

    #[test]
    fn when_the_operand_is_random_grammar_bytes_then_the_answers_agree() {
        property(main_cases(), vec(select(GRAMMAR_BYTES), 0..24), |operand| assert_agrees(&operand));
    }

    #[test]
    fn when_a_long_run_of_zeros_meets_a_cancelling_exponent_then_the_answers_agree() {
        // Thousands of zeros before (0.000…0ddd) or after (ddd000…0) a few
        // digits, and an exponent that brings the value back near a second,
        // so that digit counting, exponent arithmetic and clamping all matter.
        let shape = (any::<bool>(), any::<bool>(), 0usize..4000, "[0-9a-f]{1,4}", -40i64..40);
        let inputs = (shape, select(&["", "e", "E", "p", "P"][..]), unit());
        property(main_cases() / 20, inputs, |((hex, leading, zeros, digits, offset), letter, unit)| {
            let (prefix, letter, per_digit) = match (hex, letter) {
                (true, "") => ("0x", "p", 4),
                (true, letter) => ("0x", letter, 4),
                (false, "") => ("", "e", 1),
                (false, letter) => ("", letter, 1),
            };
            let digits = if hex { digits } else { digits.replace(|c: char| !c.is_ascii_digit(), "7") };
            let run = "0".repeat(zeros);
            let scale = per_digit * (zeros + digits.len()) as i64;
            let operand = if leading {
                format!("{prefix}0.{run}{digits}{letter}{}{unit}", scale + offset)
            } else {
                format!("{prefix}{digits}{run}{letter}{}{unit}", offset - scale)
            };
            assert_agrees(operand.as_bytes())
        });
    }

    #[test]
    fn when_the_operand_is_arbitrary_bytes_then_the_answers_agree() {
        property(main_cases() / 2, vec(any::<u8>(), 0..24), |operand| assert_agrees(&operand));
    }
}

// ---------------------------------------------------------------------------
// Sanity properties of the implementation alone, no reference involved (so
// they also vouch for the reference, which must agree with it).
// ---------------------------------------------------------------------------

mod sanity {
    use super::*;

    /// A unit letter and its length in seconds.
    fn scaled_unit() -> impl Strategy<Value = (&'static str, u128)> {
        select(&[("m", 60u128), ("h", 3_600), ("d", 86_400)][..])
    }

    fn any_unit() -> impl Strategy<Value = &'static str> {
        select(&["", "s", "m", "h", "d"][..])
    }

    #[test]
    fn when_a_zero_is_appended_to_the_fraction_then_the_value_is_unchanged() {
        property(sanity_cases(), (valid_parts(), any_unit()), |(parts, unit)| {
            let mut longer = parts.clone();
            longer.fraction = Some(parts.fraction.clone().unwrap_or_default() + "0");
            let (before, after) = (parts.render() + unit, longer.render() + unit);
            prop_assert!(ns(&before).is_some(), "{before:?} is valid");
            prop_assert_eq!(ns(&before), ns(&after), "{:?} vs {:?}", before, after);
            Ok(())
        });
    }

    #[test]
    fn when_leading_zeros_are_added_then_the_value_is_unchanged() {
        property(sanity_cases(), (valid_parts(), 1usize..30, any_unit()), |(parts, zeros, unit)| {
            let mut padded = parts.clone();
            padded.whole = "0".repeat(zeros) + &parts.whole;
            let (before, after) = (parts.render() + unit, padded.render() + unit);
            prop_assert_eq!(ns(&before), ns(&after), "{:?} vs {:?}", before, after);
            Ok(())
        });
    }

    #[test]
    fn when_the_point_moves_right_and_the_exponent_compensates_then_the_value_is_unchanged() {
        let inputs = (any::<bool>(), "[0-9]{1,20}", any::<Index>(), -40i64..40, any_unit());
        property(sanity_cases(), inputs, |(hex, digits, point, exponent, unit)| {
            // Moving the point one digit right multiplies by the radix:
            // 10 = 10^1 for decimal, 16 = 2^4 for hex.
            let point = point.index(digits.len()); // 0..len: a digit to its right
            let step = if hex { 4 } else { 1 };
            let render = |point: usize, exponent: i64| {
                let prefix = if hex { "0x" } else { "" };
                let letter = if hex { 'p' } else { 'e' };
                format!("{prefix}{}.{}{letter}{exponent}{unit}", &digits[..point], &digits[point..])
            };
            let (before, after) = (render(point, exponent), render(point + 1, exponent - step));
            prop_assert!(ns(&before).is_some(), "{before:?} is valid");
            prop_assert_eq!(ns(&before), ns(&after), "{:?} vs {:?}", before, after);
            Ok(())
        });
    }

    #[test]
    fn when_a_digit_grows_then_the_value_does_not_shrink() {
        let digits = ("[0-8]{1,20}", any::<Index>(), 1u8..7);
        let inputs = (any::<bool>(), digits, any::<Index>(), -30i64..30, any_unit());
        property(sanity_cases(), inputs, |(hex, (digits, at, growth), point, exponent, unit)| {
            let at = at.index(digits.len());
            let mut larger = digits.clone().into_bytes();
            larger[at] = (larger[at] + growth).min(b'9');
            let larger = String::from_utf8(larger).unwrap();
            let point = point.index(digits.len() + 1);
            let render = |digits: &str| {
                let prefix = if hex { "0x" } else { "" };
                let letter = if hex { 'p' } else { 'e' };
                format!("{prefix}{}.{}{letter}{exponent}{unit}", &digits[..point], &digits[point..])
            };
            let (small, large) = (render(&digits), render(&larger));
            let (small_ns, large_ns) = (ns(&small), ns(&large));
            prop_assert!(small_ns.is_some() && large_ns.is_some(), "{small:?} and {large:?} are valid");
            prop_assert!(small_ns <= large_ns, "{small:?} = {small_ns:?} > {large:?} = {large_ns:?}");
            Ok(())
        });
    }

    #[test]
    fn when_white_space_or_a_plus_sign_is_added_then_the_value_is_unchanged() {
        let inputs = (vec(select(SPACES), 1..4), body(), unit());
        property(sanity_cases(), inputs, |(space, number, unit)| {
            let space = String::from_utf8(space).unwrap();
            let plain = format!("{number}{unit}");
            let signed = format!("+{plain}");
            let spaced = format!("{space}{plain}");
            let spaced_signed = format!("{space}+{plain}");
            prop_assert_eq!(ns(&plain), ns(&signed), "{:?} vs {:?}", plain, signed);
            prop_assert_eq!(ns(&plain), ns(&spaced), "{:?} vs {:?}", plain, spaced);
            prop_assert_eq!(ns(&plain), ns(&spaced_signed), "{:?} vs {:?}", plain, spaced_signed);
            Ok(())
        });
    }

    #[test]
    fn when_a_minus_sign_is_added_then_only_an_exact_zero_survives() {
        property(sanity_cases(), (white_space(), body(), unit()), |(space, number, unit)| {
            let plain = format!("{space}{number}{unit}");
            let negated = format!("{space}-{number}{unit}");
            // A valid positive value is at least 1 ns after rounding up, so
            // 0 ns means the number is exactly zero.
            let expected = match ns(&plain) {
                Some(0) => Some(0),
                _ => None,
            };
            prop_assert_eq!(ns(&negated), expected, "{:?} vs {:?}", negated, plain);
            Ok(())
        });
    }

    #[test]
    fn when_the_unit_is_s_then_it_equals_no_unit() {
        property(sanity_cases(), body(), |number| {
            // `body` never ends in a unit letter, and `s` extends no number.
            let with_s = format!("{number}s");
            prop_assert_eq!(ns(&number), ns(&with_s), "{:?} vs {:?}", number, with_s);
            Ok(())
        });
    }

    #[test]
    fn when_the_unit_is_m_h_or_d_then_the_value_scales_within_one_rounding() {
        property(sanity_cases(), (valid_number(), scaled_unit()), |(number, (unit, factor))| {
            // ceil(factor × x) != factor × ceil(x) in general. With c = ceil(x):
            // c - 1 < x <= c, so factor × c - factor < factor × x <= factor × c,
            // and ceil(factor × x) is in [factor × c - (factor - 1), factor × c]
            // (both ends saturated at FOREVER).
            let seconds = ns(&number).expect("valid number");
            let scaled = ns(&format!("{number}{unit}")).expect("valid number with unit");
            if seconds == FOREVER {
                prop_assert_eq!(scaled, FOREVER, "{:?}{}", number, unit);
            } else {
                let forever = u128::from(FOREVER);
                let high = (u128::from(seconds) * factor).min(forever);
                let low = (u128::from(seconds) * factor).saturating_sub(factor - 1).min(forever);
                let scaled = u128::from(scaled);
                prop_assert!(
                    low <= scaled && scaled <= high,
                    "{number:?}{unit}: {scaled} not in [{low}, {high}] (no unit: {seconds})"
                );
            }
            Ok(())
        });
    }

    #[test]
    fn when_the_value_is_whole_nanoseconds_then_units_multiply_exactly() {
        let inputs = ("[0-9]{1,14}", "[0-9]{0,9}", scaled_unit());
        property(sanity_cases(), inputs, |(whole, fraction, (unit, factor))| {
            // At most 9 decimals: x is whole nanoseconds, no rounding at all.
            let number = format!("{whole}.{fraction}");
            let seconds = ns(&number).expect("valid number");
            let scaled = ns(&format!("{number}{unit}")).expect("valid number with unit");
            let expected = (u128::from(seconds) * factor).min(u128::from(FOREVER));
            prop_assert_eq!(u128::from(scaled), expected, "{:?}{}", number, unit);
            Ok(())
        });
    }

    #[test]
    fn when_a_nanosecond_count_is_written_in_seconds_then_it_reads_back_exactly() {
        let nanos = prop_oneof![any::<u64>(), 0u64..1_000_000, (u64::MAX - 1_000_000)..=u64::MAX];
        property(sanity_cases(), (nanos, 0usize..5), |(nanos, trailing_zeros)| {
            let zeros = "0".repeat(trailing_zeros);
            let text = format!("{}.{:09}{zeros}", nanos / SECOND, nanos % SECOND);
            prop_assert_eq!(ns(&text), Some(nanos), "{:?}", text);
            let scientific = format!("{nanos}e-9");
            prop_assert_eq!(ns(&scientific), Some(nanos), "{:?}", scientific);
            Ok(())
        });
    }

    #[test]
    fn when_infinity_is_spelled_in_any_case_then_it_is_forever() {
        let word = (select(&["inf", "infinity"][..]), vec(any::<bool>(), 8));
        let inputs = (white_space(), any::<bool>(), word, any_unit());
        property(sanity_cases(), inputs, |(space, plus, (word, upper), unit)| {
            let word = random_case(word, &upper);
            let operand = format!("{space}{}{word}{unit}", if plus { "+" } else { "" });
            prop_assert_eq!(ns(&operand), Some(FOREVER), "{:?}", operand);
            let negative = format!("{space}-{word}{unit}");
            prop_assert_eq!(ns(&negative), None, "{:?}", negative);
            Ok(())
        });
    }

    #[test]
    fn when_the_reference_takes_a_shortcut_then_full_evaluation_agrees() {
        property(sanity_cases(), structured_operand(), |operand| {
            // The reference skips building big numbers for huge or tiny
            // exponents; check those shortcuts wherever full evaluation is cheap.
            if let Some(reference::Conversion { number: reference::Number::Finite { exponent, .. }, .. }) =
                reference::strtod(&operand)
                && exponent.abs() <= 1000
            {
                prop_assert_eq!(
                    reference::nanoseconds_with(&operand, true),
                    reference::nanoseconds_with(&operand, false),
                    "operand {}",
                    show(&operand)
                );
            }
            Ok(())
        });
    }
}

// ---------------------------------------------------------------------------
// Long operands, up to the kernel's 128 KiB, with exact expected values.
// ---------------------------------------------------------------------------

mod long_operands {
    use super::*;

    fn check(operand: &[u8], expected: Option<u64>) {
        assert_eq!(
            reference::nanoseconds(operand),
            expected,
            "reference on {}",
            show(&operand[..operand.len().min(60)])
        );
        assert_eq!(
            nanoseconds(operand),
            expected,
            "implementation on {}",
            show(&operand[..operand.len().min(60)])
        );
    }

    fn zeros(count: usize) -> String {
        "0".repeat(count)
    }

    /// `prefix`, then `fill` repeated, then `suffix`: exactly 128 KiB.
    fn operand(prefix: &str, fill: &str, suffix: &str) -> Vec<u8> {
        let room = MAX_OPERAND - prefix.len() - suffix.len();
        assert_eq!(room % fill.len(), 0, "fill must tile the room");
        let mut text = String::with_capacity(MAX_OPERAND);
        text += prefix;
        text += &fill.repeat(room / fill.len());
        text += suffix;
        assert_eq!(text.len(), MAX_OPERAND);
        text.into_bytes()
    }

    #[rstest]
    #[case(operand("", "1", ""), Some(FOREVER))]
    #[case(operand("", "9", ""), Some(FOREVER))]
    #[case(operand("", "0", "1"), Some(SECOND))]
    #[case(operand("", "0", "d"), Some(0))]
    #[case(operand("-", "0", ""), Some(0))]
    #[case(operand("", "9", "s"), Some(FOREVER))]
    #[case(operand("", "1", "x"), None)]
    #[case(operand("", " ", "1"), Some(SECOND))]
    #[case(operand("", "\t", "-0"), Some(0))]
    #[case(operand("inf", "x", ""), None)]
    fn when_the_mantissa_is_128_kib_of_digits_then_the_value_is_exact(
        #[case] operand: Vec<u8>,
        #[case] expected: Option<u64>,
    ) {
        check(&operand, expected);
    }

    #[rstest]
    #[case(operand("0.", "0", "1"), Some(1))]
    #[case(operand("0.000000001", "0", ""), Some(1))]
    #[case(operand("0.000000001", "0", "1"), Some(2))]
    #[case(operand("0.", "0", "1d"), Some(1))]
    #[case(operand("-0.", "0", "1"), None)]
    #[case(operand("0x.", "0", "1"), Some(1))]
    #[case(operand("0x", "0", "1p-30"), Some(1))] // 2^-30 s = 0.93 ns
    fn when_a_long_fraction_is_below_a_nanosecond_then_it_rounds_up(
        #[case] operand: Vec<u8>,
        #[case] expected: Option<u64>,
    ) {
        check(&operand, expected);
    }

    #[rstest]
    #[case(operand("18446744073.709551615", "0", ""), Some(u64::MAX))]
    #[case(operand("18446744073.709551615", "0", "1"), Some(FOREVER))]
    #[case(operand("18446744073.709551614", "0", "1"), Some(u64::MAX))]
    #[case(operand("18446744073.709551613", "9", ""), Some(u64::MAX - 1))]
    #[case(operand("18446744073.709551614", "0", ""), Some(u64::MAX - 1))]
    fn when_a_long_operand_is_near_u64_max_then_it_rounds_and_saturates_exactly(
        #[case] operand: Vec<u8>,
        #[case] expected: Option<u64>,
    ) {
        check(&operand, expected);
    }

    #[rstest]
    #[case(b"1e-131072".to_vec(), Some(1))]
    #[case(b"1e-131072d".to_vec(), Some(1))]
    #[case(b"1e131072".to_vec(), Some(FOREVER))]
    #[case(b"0e131072".to_vec(), Some(0))]
    #[case(b"-0e131072".to_vec(), Some(0))]
    #[case(b"0x1p-131072".to_vec(), Some(1))]
    #[case(b"0x1p131072".to_vec(), Some(FOREVER))]
    #[case(operand("1e-", "9", ""), Some(1))]
    #[case(operand("1e", "9", ""), Some(FOREVER))]
    #[case(operand("0e", "9", ""), Some(0))]
    #[case(operand("0e-", "9", ""), Some(0))]
    #[case(operand("1e+", "0", "1"), Some(10 * SECOND))]
    #[case(operand("1e", "0", "-"), None)]
    #[case(operand("1e-", "0", ""), Some(SECOND))]
    fn when_the_exponent_is_huge_then_it_saturates_or_rounds_up(
        #[case] operand: Vec<u8>,
        #[case] expected: Option<u64>,
    ) {
        check(&operand, expected);
    }

    #[rstest]
    // 1 followed by 131,060 zeros, times 10^-131060: exactly one second.
    #[case(format!("1{}e-131060", zeros(131_060)).into_bytes(), Some(SECOND))]
    #[case(format!("1{}e-131061", zeros(131_060)).into_bytes(), Some(SECOND / 10))]
    // 10^-131061 × 10^131070 = 10^9 s.
    #[case(format!("0.{}1e131070", zeros(131_060)).into_bytes(), Some(SECOND * SECOND))]
    #[case(format!("0.{}5e131061", zeros(131_060)).into_bytes(), Some(5 * SECOND))]
    #[case(format!("0.{}5e131060", zeros(131_060)).into_bytes(), Some(SECOND / 2))]
    // 16^32000 × 2^-128000 = 1 s.
    #[case(format!("0x1{}p-128000", zeros(32_000)).into_bytes(), Some(SECOND))]
    #[case(format!("0x1{}p-128000m", zeros(32_000)).into_bytes(), Some(60 * SECOND))]
    #[case(format!("0x1{}p-128001", zeros(32_000)).into_bytes(), Some(SECOND / 2))]
    // Seven-digit exponents against a 130,000-digit mantissa: still exact.
    #[case(format!("0.{}1e1000000", zeros(130_000)).into_bytes(), Some(FOREVER))]
    #[case(format!("1{}e-1000000", zeros(130_000)).into_bytes(), Some(1))]
    #[case(format!("0x.{}1p1000000", zeros(130_000)).into_bytes(), Some(FOREVER))]
    #[case(format!("0x1{}p-1000000", zeros(130_000)).into_bytes(), Some(1))]
    // 16^-130001 × 2^520010 = 2^6 s.
    #[case(format!("0x.{}1p520010", zeros(130_000)).into_bytes(), Some(64 * SECOND))]
    #[case(format!("0x1{}p-520006", zeros(130_000)).into_bytes(), Some(SECOND / 64))] // 2^-6 s
    fn when_a_long_mantissa_and_exponent_cancel_then_the_value_is_exact(
        #[case] operand: Vec<u8>,
        #[case] expected: Option<u64>,
    ) {
        check(&operand, expected);
    }
}

// ---------------------------------------------------------------------------
// The reference itself on hand-checked answers (the grammar in duration.rs
// and C strtod), so that agreement means correctness.
// ---------------------------------------------------------------------------

mod reference_known_answers {
    use super::*;

    fn reference(operand: &str) -> Option<u64> {
        reference::nanoseconds(operand.as_bytes())
    }

    #[rstest]
    #[case("0", 0)]
    #[case("5", 5 * SECOND)]
    #[case("007", 7 * SECOND)]
    #[case(".5", SECOND / 2)]
    #[case("5.", 5 * SECOND)]
    #[case("0.1", 100_000_000)]
    #[case("1.000000001", SECOND + 1)]
    #[case("1e-3", 1_000_000)]
    #[case("2.5E+1", 25 * SECOND)]
    #[case("1e0000000000000000000000001", 10 * SECOND)]
    #[case("0x1p-3", SECOND / 8)]
    #[case("0x.8", SECOND / 2)]
    #[case("0X1P0", SECOND)]
    #[case("0xA.8p1", 21 * SECOND)]
    #[case("0x0.01d", 7_080_079)] // 29/4096 s, rounded up
    #[case("0x1d", 29 * SECOND)]
    #[case("0x1p0d", 86_400 * SECOND)]
    #[case("0x1e5", 485 * SECOND)] // e is a hex digit
    #[case("1.5m", 90 * SECOND)]
    #[case("0.5h", 1_800 * SECOND)]
    #[case(".5d", 43_200 * SECOND)]
    #[case("\t\n\x0b\x0c\r 2", 2 * SECOND)]
    #[case("  +.5", SECOND / 2)]
    #[case("-0", 0)]
    #[case("-0.000", 0)]
    #[case("-0x0p9", 0)]
    #[case("-0s", 0)]
    #[case("iNfInItY", FOREVER)]
    #[case("infd", FOREVER)]
    #[case("infinitys", FOREVER)]
    #[case("1e-400", 1)]
    #[case("1e-11m", 1)] // 0.6 ns
    #[case("1e-10h", 360)]
    #[case("1e400", FOREVER)]
    #[case("213503982336d", FOREVER)]
    #[case("18446744073.709551615", u64::MAX)]
    #[case("18446744073.709551614", u64::MAX - 1)]
    #[case("18446744073.7095516139", u64::MAX - 1)]
    #[case("0e99999999999999999999999999999999999", 0)]
    #[case("1e-99999999999999999999999999999999999", 1)]
    #[case("1e99999999999999999999999999999999999", FOREVER)]
    fn when_the_operand_is_valid_then_the_reference_gives_the_hand_computed_value(
        #[case] operand: &str,
        #[case] expected: u64,
    ) {
        assert_eq!(reference(operand), Some(expected), "{operand:?}");
    }

    #[rstest]
    #[case("")]
    #[case(".")]
    #[case("..")]
    #[case("1..")]
    #[case("1.2.3")]
    #[case(" ")]
    #[case("+")]
    #[case("-")]
    #[case("+.")]
    #[case("e1")]
    #[case(".e1")]
    #[case("1e")]
    #[case("1e+")]
    #[case("1E-")]
    #[case("1e+-1")]
    #[case("1e1.5")]
    #[case("1p1")]
    #[case("0x")]
    #[case("0x.")]
    #[case("0x1p")]
    #[case("0xp1")]
    #[case("0x1e-")]
    #[case("0x1g")]
    #[case("x1")]
    #[case("0x1.8.1")]
    #[case("00x1")]
    #[case("1S")]
    #[case("1D")]
    #[case("1ms")]
    #[case("1ss")]
    #[case("42day")]
    #[case("1 s")]
    #[case("1x")]
    #[case("1s ")]
    #[case("1 ")]
    #[case("1\n")]
    #[case("+ 1")]
    #[case("1 2")]
    #[case("1,5")]
    #[case("-1")]
    #[case("-1e-400")]
    #[case("-0.0000000001")]
    #[case("-inf")]
    #[case("--1")]
    #[case("+-1")]
    #[case("in")]
    #[case("infinit")]
    #[case("infi")]
    #[case("infinityy")]
    #[case("infinity s")]
    #[case("nan")]
    #[case("NaN")]
    #[case("nan(1)")]
    #[case("infinityS")]
    #[case("0x1p0D")]
    fn when_the_operand_is_invalid_then_the_reference_rejects_it(#[case] operand: &str) {
        assert_eq!(reference(operand), None, "{operand:?}");
    }

    #[rstest]
    #[case("1e+", Some(1))]
    #[case("1e", Some(1))]
    #[case("0x", Some(1))]
    #[case("0x.p1", Some(1))]
    #[case("0x1p-", Some(3))]
    #[case(" -5.e3x", Some(6))]
    #[case("infinit", Some(3))]
    #[case("INFINITY!", Some(8))]
    #[case("nan(ab_1)x", Some(9))]
    #[case("nan(ab", Some(3))]
    #[case(".", None)]
    #[case("+", None)]
    #[case("x", None)]
    fn when_strtod_meets_an_incomplete_tail_then_it_backs_off_like_c(
        #[case] text: &str,
        #[case] end: Option<usize>,
    ) {
        assert_eq!(reference::strtod(text.as_bytes()).map(|conversion| conversion.end), end, "{text:?}");
    }
}

// ---------------------------------------------------------------------------
// Disagreements found by the properties above, kept as named cases.
// ---------------------------------------------------------------------------

mod regressions {
    use super::*;

    #[rstest]
    #[case("0x1d")]
    #[case("0x1ds")]
    #[case("0x.d")]
    #[case("0x1p+d")]
    #[case("0x1p0d")]
    #[case("0xd")]
    #[case("0x1e+1")]
    #[case("1e+1d")]
    #[case("inf inity")]
    #[case("0x1.")]
    #[case("0x1.p1")]
    #[case("0x.1p4")]
    #[case("-0x0")]
    #[case("-0x")]
    #[case("-.0e9999")]
    #[case("0.e1")]
    #[case("0e")]
    #[case("0es")]
    #[case("0xinf")]
    #[case("0Xinfinity")]
    #[case(".inf")]
    #[case("0inf")]
    #[case("0x.inf")]
    #[case("1einf")]
    #[case("+-inf")]
    #[case("\0")]
    #[case("1\0")]
    #[case("1s\0")]
    fn when_a_known_tricky_operand_is_read_then_both_agree(#[case] operand: &str) {
        assert_agrees(operand.as_bytes()).unwrap();
    }
}
