//! `sleep::duration::nanoseconds` on arbitrary bytes: it must never panic,
//! and it must give exactly the answer of the big-rational reference that
//! the property test uses (the `reference` crate, `tests/reference/`), so
//! that wrong answers are caught as well as crashes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|operand: &[u8]| {
    let actual = sleep::duration::nanoseconds(operand);
    let expected = reference::nanoseconds(operand);
    assert_eq!(actual, expected, "operand \"{}\"", operand.escape_ascii());
});
