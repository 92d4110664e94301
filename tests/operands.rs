//! Generators of operands, the grammar's pieces as proptest strategies:
//! valid numbers in every form, near misses, and random edits of both.
//!
//! For the property test of the library (`tests/parser_prop.rs`) and the
//! exactness test of every arch's binary (`tests/exact.rs`).

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// C white space.
pub const SPACES: &[u8] = b" \t\n\x0b\x0c\r";

/// Bytes that mean something in the grammar, and a few near misses.
pub const GRAMMAR_BYTES: &[u8] = b"0123456789.eEpPxX+-smhdSMHDinftyINFTYaAbBcCfFn(_) \t\n\x0b\x0c\r,";

pub fn white_space() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(String::new()),
        1 => vec(select(SPACES), 1..4).prop_map(|bytes| String::from_utf8(bytes).unwrap()),
    ]
}

pub fn sign() -> impl Strategy<Value = &'static str> {
    prop_oneof![6 => Just(""), 2 => Just("+"), 2 => Just("-")]
}

/// Decimal digit strings, short and long, biased to zeros and nines.
pub fn decimal_digits() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{0,4}",
        3 => "[0-9]{5,12}",
        1 => "0{1,30}[0-9]{0,3}",
        1 => "[1-9]0{8,30}",
        1 => "9{1,25}",
        1 => "[0-9]{13,45}",
    ]
}

/// Hex digit strings in both cases (`d` among them: a digit, not a unit).
pub fn hex_digits() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9a-fA-F]{0,4}",
        2 => "[0-9a-fA-F]{5,18}",
        1 => "0{1,20}[0-9a-fA-F]{0,3}",
        1 => "[fF]{1,20}",
        1 => "[dD]{1,3}",
    ]
}

/// An exponent: none, short, long, padded with zeros, or incomplete.
pub fn exponent(letter: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        4 => (letter, "[+-]?", "[0-9]{1,2}").prop_map(|(l, s, d)| l + &s + &d),
        1 => (letter, "[+-]?", "0{0,25}[0-9]{1,3}").prop_map(|(l, s, d)| l + &s + &d),
        1 => (letter, "[+-]?", "[0-9]{3,25}").prop_map(|(l, s, d)| l + &s + &d),
        1 => (letter, "[+-]{0,2}").prop_map(|(l, s)| l + &s),
    ]
}

pub fn decimal() -> impl Strategy<Value = String> {
    (decimal_digits(), proptest::option::of(decimal_digits()), exponent("[eE]")).prop_map(
        |(whole, fraction, exponent)| match fraction {
            Some(fraction) => format!("{whole}.{fraction}{exponent}"),
            None => format!("{whole}{exponent}"),
        },
    )
}

pub fn hex() -> impl Strategy<Value = String> {
    ("0[xX]", hex_digits(), proptest::option::of(hex_digits()), exponent("[pP]")).prop_map(
        |(prefix, whole, fraction, exponent)| match fraction {
            Some(fraction) => format!("{prefix}{whole}.{fraction}{exponent}"),
            None => format!("{prefix}{whole}{exponent}"),
        },
    )
}

/// Numbers near interesting nanosecond counts (0, small, `u64::MAX`) written
/// with the point anywhere, sometimes with more digits or a small exponent.
pub fn near_boundaries() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        any::<u64>(),
        (u64::MAX - 2000)..=u64::MAX,
        0u64..2000,
        any::<u32>().prop_map(u64::from),
    ];
    let exponent = prop_oneof![3 => Just(String::new()), 1 => "e[+-]?[0-9]"];
    (value, 0usize..=30, "[0-9]{0,3}", exponent).prop_map(|(value, point, tail, exponent)| {
        let digits = format!("{value:0>width$}", width = point + 1);
        let (whole, fraction) = digits.split_at(digits.len() - point);
        format!("{whole}.{fraction}{tail}{exponent}")
    })
}

/// Infinity in random letter case, or a near miss.
pub fn infinity() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        3 => select(&["inf", "infinity"][..]),
        1 => select(&["i", "in", "infi", "infin", "infinit", "infinityy", "nan", "nan()", "nan(1)", "infnan"][..]),
    ];
    // Mostly alone; sometimes behind a prefix that must not combine with it.
    let prefix = prop_oneof![
        6 => Just(""),
        1 => select(&["0x", "0X", ".", "0", "0.", "0x.", "0x1", "1e", "i"][..]),
    ];
    (prefix, word, vec(any::<bool>(), 12))
        .prop_map(|(prefix, word, upper)| prefix.to_owned() + &random_case(word, &upper))
}

pub fn random_case(word: &str, upper: &[bool]) -> String {
    word.chars()
        .zip(upper.iter().cycle())
        .map(|(letter, &upper)| if upper { letter.to_ascii_uppercase() } else { letter })
        .collect()
}

/// A number without white space, sign or unit: valid or nearly so.
pub fn body() -> impl Strategy<Value = String> {
    prop_oneof![5 => decimal(), 3 => hex(), 2 => near_boundaries(), 1 => infinity()]
}

pub fn unit() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        5 => Just(""),
        2 => Just("s"),
        2 => Just("m"),
        2 => Just("h"),
        2 => Just("d"),
        1 => select(&["S", "M", "H", "D", "ms", "x", " ", "ss", "sec", "\n", "e", "p", "."][..]),
    ]
}

/// One random edit of an operand.
#[derive(Debug, Clone)]
pub enum Edit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
}

pub fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![4 => select(GRAMMAR_BYTES), 1 => any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, byte)| Edit::Insert(at, byte)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte).prop_map(|(at, byte)| Edit::Replace(at, byte)),
    ]
}

pub fn apply(edits: &[Edit], mut operand: Vec<u8>) -> Vec<u8> {
    for edit in edits {
        match *edit {
            Edit::Insert(at, byte) => operand.insert(at % (operand.len() + 1), byte),
            Edit::Delete(_) | Edit::Replace(..) if operand.is_empty() => {}
            Edit::Delete(at) => {
                operand.remove(at % operand.len());
            }
            Edit::Replace(at, byte) => {
                let len = operand.len();
                operand[at % len] = byte;
            }
        }
    }
    operand
}

/// `space* sign? body unit?`, then with some probability a few random edits.
pub fn structured_operand() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop_oneof![3 => Just(Vec::new()), 2 => vec(edit(), 1..4)];
    (white_space(), sign(), body(), unit(), edits).prop_map(|(space, sign, body, unit, edits)| {
        apply(&edits, format!("{space}{sign}{body}{unit}").into_bytes())
    })
}
