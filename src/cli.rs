//! The command line, `sleep NUMBER[SUFFIX]...`, to what the process must do.
//!
//! Like GNU `sleep` (getopt): options are read first wherever they stand, up
//! to the first `--`; `--help`/`--version` (or any unambiguous prefix, such as
//! `--h`) win over everything, and any other argument of two or more bytes
//! that starts with `-` is an error. Then every operand is checked, each bad
//! one reported, and only if all are valid is their sum slept.

use crate::duration;

/// What the process does once the command line is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Exit now with this status (help, version, an error already reported,
    /// or a zero total: nothing to wait for).
    Exit(u8),
    /// Sleep this many nanoseconds, never 0 ([`duration::FOREVER`] never
    /// ends), then exit 0.
    Sleep(u64),
}

/// Where text goes: standard output and standard error.
pub trait Console {
    /// Writes to standard output; `false` if it could not all be written.
    fn out(&mut self, bytes: &[u8]) -> bool;
    /// Writes to standard error. There is nowhere to report a failure.
    fn err(&mut self, bytes: &[u8]);
}

/// Short on purpose (each byte is in the binary): the grammar, the units, infinity.
pub const HELP: &[u8] = b"Usage: sleep NUMBER[SUFFIX]...
Sleep for the sum. NUMBER: decimal or 0x hex, with fraction
and exponent, or inf[inity]. SUFFIX: s, m, h, d.
";

pub const VERSION: &[u8] = concat!("sleep ", env!("CARGO_PKG_VERSION"), "\n").as_bytes();

pub const TRY_HELP: &[u8] = b"Try 'sleep --help' for more information.\n";

/// What the binary says when the kernel refuses its sleep, for a pointer
/// width of `bits`: on 64-bit arches it cannot; on 32-bit ones a kernel older
/// than 5.1 has no 64-bit-time sleep (ENOSYS). (Here, not in the binary, so
/// that a host test, in `tests/cli.rs`, checks it against the text the
/// black-box tests expect.)
pub const fn sleep_failed(bits: u32) -> &'static [u8] {
    if bits == 64 {
        b"sleep: clock_nanosleep failed\n"
    } else {
        b"sleep: clock_nanosleep_time64 failed (Linux 5.1+ needed)\n"
    }
}

/// [`sleep_failed`] for the arch built for.
pub const SLEEP_FAILED: &[u8] = sleep_failed(usize::BITS);

/// Reads the arguments (without `argv[0]`) and decides; writes help,
/// version or diagnostics to `console` on the way.
pub fn plan<'a, Args>(args: Args, console: &mut impl Console) -> Action
where
    Args: Iterator<Item = &'a [u8]> + Clone,
{
    for arg in args.clone() {
        // Operands (and `-` alone) are read in the second pass. Splitting
        // off the first two bytes once is smaller than matching
        // `[b'-', b'-', name @ ..]` in every arm (docs/size.md, "Ideas tried outside the parser").
        let [b'-', second, rest @ ..] = arg else { continue };
        let text = match (second, rest) {
            (b'-', []) => break,
            (b'-', name) if is_prefix(name, b"help") => HELP,
            (b'-', name) if is_prefix(name, b"version") => VERSION,
            _ => {
                report(console, b"sleep: unrecognized option '", arg);
                console.err(TRY_HELP);
                return Action::Exit(1);
            }
        };
        // Help and version go to standard output; failing to write them (a
        // closed pipe, a full disk) is an error, as in GNU.
        if console.out(text) {
            return Action::Exit(0);
        }
        console.err(b"sleep: write error\n");
        return Action::Exit(1);
    }

    let mut total = 0u64;
    let mut has_operand = false;
    let mut all_valid = true;
    let mut options_ended = false;
    for arg in args {
        if matches!(arg, [b'-', b'-']) && !options_ended {
            options_ended = true;
            continue;
        }
        has_operand = true;
        match duration::nanoseconds(arg) {
            Some(nanos) => total = total.saturating_add(nanos),
            None => {
                all_valid = false;
                report(console, b"sleep: invalid time interval '", arg);
            }
        }
    }
    if !has_operand {
        all_valid = false;
        console.err(b"sleep: missing operand\n");
    }
    if !all_valid {
        console.err(TRY_HELP);
        return Action::Exit(1);
    }
    // Nothing to wait for: exit at once, with no clock read and no sleep call.
    if total == 0 {
        return Action::Exit(0);
    }
    Action::Sleep(total)
}

/// Writes `prefix`, then `arg` escaped, then `'` and a newline.
///
/// Printable ASCII is written as is, except `\` and `'` (written `\\` and
/// `\'`, so the quoted text is unambiguous); every other byte (control
/// bytes, and each byte of non-ASCII text) is `\xHH`. So no terminal
/// control sequence ever passes through.
///
/// One write per byte: the smallest code, and error paths need no speed
/// (a 128 KiB operand is echoed in about 0.1 s).
fn report(console: &mut impl Console, prefix: &[u8], arg: &[u8]) {
    console.err(prefix);
    for byte in arg {
        // `\xHH`, or `\` and the byte for `\\` and `\'`; one write call for the
        // three forms, smaller on amd64, arm64 and arm-v7, a little larger on
        // riscv64 and 386 (docs/size.md, "Ideas tried outside the parser").
        let mut escape = [b'\\', b'x', hex_digit(byte >> 4), hex_digit(*byte)];
        console.err(match byte {
            b'\\' | b'\'' => {
                escape[1] = *byte;
                &escape[..2]
            }
            b' '..=b'~' => core::slice::from_ref(byte),
            // `\xHH` for every other byte, not C's `\t`, `\n`, ...: smaller
            // (docs/size.md, "Ideas tried outside the parser").
            _ => &escape,
        });
    }
    console.err(b"'\n");
}

/// Whether `short` is the start of `long` (`--h` abbreviates `--help`).
/// A loop rather than `starts_with`, which calls `memcmp` or `bcmp`: no
/// arch's build links them, so the link fails or the symbol test does
/// (docs/size.md, "Compiler routines and library calls").
fn is_prefix(short: &[u8], long: &[u8]) -> bool {
    let mut long = long.iter();
    short.iter().all(|byte| long.next() == Some(byte))
}

fn hex_digit(nibble: u8) -> u8 {
    // A table is smaller than the arithmetic and its two branches.
    b"0123456789abcdef"[(nibble & 15) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Captured {
        out: Vec<u8>,
        err: Vec<u8>,
        out_fails: bool,
    }

    impl Console for Captured {
        fn out(&mut self, bytes: &[u8]) -> bool {
            self.out.extend_from_slice(bytes);
            !self.out_fails
        }
        fn err(&mut self, bytes: &[u8]) {
            self.err.extend_from_slice(bytes);
        }
    }

    fn run(args: &[&[u8]]) -> (Action, String, String) {
        let mut console = Captured::default();
        let action = plan(args.iter().copied(), &mut console);
        (action, String::from_utf8(console.out).unwrap(), String::from_utf8(console.err).unwrap())
    }

    const TRY: &str = "Try 'sleep --help' for more information.\n";

    mod operands {
        use super::*;

        #[test]
        fn operands_are_summed() {
            assert_eq!(run(&[b"1", b"2m", b".5"]).0, Action::Sleep(121_500_000_000));
        }

        #[test]
        fn a_zero_total_exits_at_once() {
            // Exit, not a sleep of 0: no clock read and no sleep call.
            assert_eq!(run(&[b"0"]), (Action::Exit(0), String::new(), String::new()));
            assert_eq!(run(&[b"0s", b"0x0p9", b"0e-400"]).0, Action::Exit(0));
            assert_eq!(run(&[b"1e-400"]).0, Action::Sleep(1));
        }

        #[test]
        fn sums_saturate() {
            assert_eq!(run(&[b"inf", b"1"]).0, Action::Sleep(duration::FOREVER));
            assert_eq!(run(&[b"10000000000", b"10000000000"]).0, Action::Sleep(duration::FOREVER));
        }

        #[test]
        fn missing_operand() {
            assert_eq!(run(&[]), (Action::Exit(1), String::new(), format!("sleep: missing operand\n{TRY}")));
            assert_eq!(run(&[b"--"]).0, Action::Exit(1));
        }

        #[test]
        fn every_bad_operand_is_reported_and_nothing_slept() {
            let (action, out, err) = run(&[b"x", b"1", b"2y"]);
            assert_eq!(action, Action::Exit(1));
            assert_eq!(out, "");
            assert_eq!(
                err,
                format!("sleep: invalid time interval 'x'\nsleep: invalid time interval '2y'\n{TRY}")
            );
        }
    }

    mod options {
        use super::*;

        #[test]
        fn help_and_version_anywhere_before_double_dash() {
            assert_eq!(
                run(&[b"--help"]),
                (Action::Exit(0), String::from_utf8(HELP.to_vec()).unwrap(), String::new())
            );
            assert_eq!(run(&[b"x", b"--version"]).1, format!("sleep {}\n", env!("CARGO_PKG_VERSION")));
            assert_eq!(run(&[b"1", b"--h"]).0, Action::Exit(0));
            assert_eq!(run(&[b"--vers"]).1, String::from_utf8(VERSION.to_vec()).unwrap());
        }

        #[test]
        fn double_dash_ends_options() {
            let (action, _, err) = run(&[b"--", b"--help"]);
            assert_eq!(action, Action::Exit(1));
            assert_eq!(err, format!("sleep: invalid time interval '--help'\n{TRY}"));
            assert_eq!(run(&[b"--", b"-0"]).0, Action::Exit(0));
            assert_eq!(run(&[b"--", b"1", b"--"]).0, Action::Exit(1));
        }

        #[test]
        fn other_dash_arguments_are_option_errors() {
            // Every argument checked, then one failure naming each wrong one.
            let wrong: Vec<_> = ["-1", "-x", "--helpx", "--foo", "---", "-0"]
                .into_iter()
                .map(|arg| {
                    let expected = format!("sleep: unrecognized option '{arg}'\n{TRY}");
                    (arg, run(&[b"1", arg.as_bytes()]), (Action::Exit(1), String::new(), expected))
                })
                .filter(|(_, got, expected)| got != expected)
                .collect();
            assert!(wrong.is_empty(), "(argument, got, expected): {wrong:#?}");
        }

        #[test]
        fn lone_dash_is_an_operand() {
            assert_eq!(run(&[b"-"]).2, format!("sleep: invalid time interval '-'\n{TRY}"));
        }

        #[test]
        fn failed_help_write_is_an_error() {
            let mut console = Captured { out_fails: true, ..Default::default() };
            assert_eq!(plan([&b"--help"[..]].into_iter(), &mut console), Action::Exit(1));
            assert_eq!(console.err, b"sleep: write error\n");
        }
    }

    mod escaping {
        use super::*;

        #[test]
        fn control_and_non_ascii_bytes_are_escaped() {
            let (_, _, err) = run(&[b"a\tb\x1b[31m\xff\\\x7f'"]);
            assert_eq!(
                err,
                format!("sleep: invalid time interval 'a\\x09b\\x1b[31m\\xff\\\\\\x7f\\''\n{TRY}")
            );
        }

        #[test]
        fn every_other_byte_is_hex() {
            let (_, _, err) = run(&[b"\x07\x08\t\n\x0b\x0c\r\x00\x06\x0e\x1f\x7f\x80 ~"]);
            let first_line = err.lines().next().unwrap();
            assert_eq!(
                first_line,
                "sleep: invalid time interval '\\x07\\x08\\x09\\x0a\\x0b\\x0c\\x0d\\x00\\x06\\x0e\\x1f\\x7f\\x80 ~'"
            );
        }

        #[test]
        fn utf8_is_escaped_bytewise() {
            let (_, _, err) = run(&["é".as_bytes()]);
            assert!(err.starts_with("sleep: invalid time interval '\\xc3\\xa9'\n"));
        }
    }
}
