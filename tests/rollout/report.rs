//! The smoke test's verdict, the summary line, docs/rollout.md and the
//! README's rollout block.

use std::{fmt::Write as _, path::Path, process::Command, time::Duration};

use crate::{
    Rollout, ScenarioResult, Settings,
    client::{Outcome, Tally},
};

/// The README's block, between these markers, is written by scripts/rollout.
pub const README_START: &str = "<!-- rollout:start (written by scripts/rollout) -->";
pub const README_END: &str = "<!-- rollout:end -->";
/// The smoke test's floor for requests through the fix's rollouts.
const SMOKE_MIN_REQUESTS: u64 = 100;
/// What an exec killed by SIGKILL ends with (128 + 9).
const KILLED: i32 = 137;

/// The failure kinds every table has a column for, in order.
const KINDS: [Outcome; 6] = [
    Outcome::Status(502),
    Outcome::Status(503),
    Outcome::Status(504),
    Outcome::Refused,
    Outcome::Reset,
    Outcome::Timeout,
];

fn other_failures(tally: &Tally) -> u64 {
    tally.failures() - KINDS.iter().map(|kind| tally.count(*kind)).sum::<u64>()
}

fn kinds_text(tally: &Tally) -> String {
    let parts: Vec<String> = tally
        .outcomes
        .iter()
        .filter(|(outcome, _)| **outcome != Outcome::Ok)
        .map(|(outcome, count)| format!("{}: {count}", outcome.label()))
        .collect();
    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
}

fn hook_text(rollout: &Rollout) -> String {
    match rollout.hook {
        Some((code, ended)) => format!("{code} at {:.2} s", ended.as_secs_f64()),
        None => "none".into(),
    }
}

/// A rollout in one line, for the progress output.
pub fn one_line(rollout: &Rollout) -> String {
    format!(
        "{} of {} failed{}; deregistered at {:.2} s, app stopped at {:.2} s (exit {}), hook {}; {:.1} s",
        rollout.tally.failures(),
        rollout.tally.requests(),
        kinds_text(&rollout.tally),
        rollout.deregistered_after.as_secs_f64(),
        rollout.stopped_after.as_secs_f64(),
        rollout.app_exit,
        hook_text(rollout),
        rollout.duration.as_secs_f64()
    )
}

fn scenario(results: &[ScenarioResult], number: u32) -> Option<&ScenarioResult> {
    results.iter().find(|result| result.scenario.number == number)
}

/// Scenario `number`'s requests over all its rollouts (none when it did not run).
fn total(results: &[ScenarioResult], number: u32) -> Tally {
    scenario(results, number).map(|result| result.total()).unwrap_or_default()
}

/// `rollout: without the hook X of N requests failed; with /sleep Y of M`
/// (scenarios 1 and 3).
pub fn last_line(results: &[ScenarioResult]) -> String {
    let (without, with) = (total(results, 1), total(results, 3));
    format!(
        "rollout: without the hook {} of {} requests failed; with /sleep {} of {}",
        without.failures(),
        without.requests(),
        with.failures(),
        with.requests()
    )
}

/// Why the smoke test fails; empty when it passes.
pub fn smoke_problems(results: &[ScenarioResult]) -> Vec<String> {
    let mut problems = Vec::new();
    let (Some(no_hook), Some(fix), Some(trap)) =
        (scenario(results, 1), scenario(results, 3), scenario(results, 4))
    else {
        return vec!["scenarios 1, 3 and 4 did not all run".into()];
    };
    let (no_hook_total, fix_total, trap_total) = (no_hook.total(), fix.total(), trap.total());
    if no_hook_total.failures() == 0 {
        problems.push(format!(
            "without the hook no request of {} failed: the problem did not reproduce, so the fix shows nothing",
            no_hook_total.requests()
        ));
    }
    if fix_total.failures() != 0 {
        problems.push(format!(
            "with /sleep longer than the lag {} of {} requests failed{}",
            fix_total.failures(),
            fix_total.requests(),
            kinds_text(&fix_total)
        ));
    }
    if fix_total.requests() < SMOKE_MIN_REQUESTS {
        problems.push(format!(
            "with /sleep longer than the lag only {} requests were sent (at least {SMOKE_MIN_REQUESTS} needed)",
            fix_total.requests()
        ));
    }
    for rollout in &fix.rollouts {
        if rollout.hook.map(|(code, _)| code) != Some(0) {
            problems.push(format!(
                "with /sleep longer than the lag the hook did not end 0: {}",
                hook_text(rollout)
            ));
        }
    }
    if trap_total.failures() == 0 {
        problems.push(format!(
            "in the grace-period trap no request of {} failed: the app outlived the lag",
            trap_total.requests()
        ));
    }
    for rollout in &trap.rollouts {
        if rollout.hook.map(|(code, _)| code) != Some(KILLED) {
            problems.push(format!(
                "in the grace-period trap the hook did not end {KILLED}: {}",
                hook_text(rollout)
            ));
        }
    }
    problems
}

fn command_line(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The commit measured at, with "+ changes" when the tree is not clean.
fn commit() -> String {
    let repo = sleep_tests::repo();
    let repo = repo.to_str().unwrap_or(".");
    let head = command_line("git", &["-C", repo, "rev-parse", "--short=12", "HEAD"]);
    let dirty =
        !command_line("git", &["-C", repo, "status", "--porcelain", "--untracked-files=no"]).is_empty();
    if dirty { format!("{head} + uncommitted changes") } else { head }
}

fn seconds(value: f64) -> String {
    format!("{value} s")
}

fn codes(rollouts: &[Rollout], code: impl Fn(&Rollout) -> String) -> String {
    let mut all: Vec<String> = rollouts.iter().map(code).collect();
    all.dedup();
    all.join(", ")
}

fn window_text(rollout: &Rollout) -> String {
    match rollout.failing {
        Some((first, last)) => format!("{first:.2}–{last:.2} s"),
        None => "–".into(),
    }
}

/// The README's block: headline figures and the link.
pub fn readme_block(results: &[ScenarioResult], commit: &str) -> String {
    let (without, short, with, trap) =
        (total(results, 1), total(results, 2), total(results, 3), total(results, 4));
    let trap_hook = scenario(results, 4).map_or(String::new(), |result| {
        codes(&result.rollouts, |r| r.hook.map_or("none".into(), |(code, _)| code.to_string()))
    });
    format!(
        // Two lines (the README's 450-line limit): the start marker, then the
        // paragraph with the end marker inline, as an HTML comment may be.
        "{README_START}\n\
         **Measured** in rolling updates with pods run by containerd's CRI plugin, haproxy standing in for \
         the ALB (same mechanism, timings scaled to seconds; [docs/rollout.md](docs/rollout.md), `{commit}`): \
         without the hook {} of {} requests failed; a sleep shorter than the lag, {} of {}; `/sleep` longer \
         than the lag and a longer grace period, **{} of {}**; a grace period shorter than the lag, {} of {} \
         (the hook's exit: {trap_hook}). {README_END}",
        without.failures(),
        without.requests(),
        short.failures(),
        short.requests(),
        with.failures(),
        with.requests(),
        trap.failures(),
        trap.requests()
    )
}

fn docs_text(settings: &Settings, results: &[ScenarioResult], elapsed: Duration, commit: &str) -> String {
    let mut text = String::new();
    let w = &mut text;
    let date = command_line("date", &["-u", "+%Y-%m-%d"]);
    let kernel = command_line("uname", &["-r"]);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let _ = writeln!(w, "# The fix, measured: rolling updates behind a load balancer\n");
    let _ = writeln!(
        w,
        "Written by `scripts/rollout` from one full run, at commit `{commit}`, on {date} ({cores} cores, \
         Linux {kernel}; the run took {:.0} s). Do not edit: run `scripts/rollout` again.\n",
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        w,
        "haproxy stands in for the ALB here. The mechanism is the same (a target keeps getting new \
         requests until its deregistration takes effect, and a target that refuses the connection fails \
         the request, with no retry on another one); the timings are scaled down from tens of seconds to \
         seconds. Where an ALB answers such a request with **502**, haproxy answers **503**.\n"
    );

    let _ = writeln!(w, "## Summary\n");
    let _ = writeln!(w, "| Scenario | preStop hook | G | Requests | Failed | Hook's exit | Old app's exit |");
    let _ = writeln!(w, "|---|---|---|--:|--:|---|---|");
    for result in results {
        let total = result.total();
        let hook = result.scenario.sleep.map_or("none".into(), |s| format!("`/sleep {s}`"));
        let hook_codes =
            codes(&result.rollouts, |r| r.hook.map_or("–".into(), |(code, _)| code.to_string()));
        let app_codes = codes(&result.rollouts, |r| r.app_exit.to_string());
        let _ = writeln!(
            w,
            "| {}. {} | {hook} | {} | {} | **{}** | {hook_codes} | {app_codes} |",
            result.scenario.number,
            result.scenario.title,
            seconds(result.scenario.grace),
            total.requests(),
            total.failures()
        );
    }
    let _ = writeln!(
        w,
        "\nD, the deregistration lag, was {} in every scenario; the client sent {} requests a second. \
         Failed requests are counted from the client's side, through the load balancer.\n",
        seconds(settings.lag),
        settings.rate
    );

    for result in results {
        let _ = writeln!(w, "## {}. {}\n", result.scenario.number, result.scenario.title);
        let hook = result
            .scenario
            .sleep
            .map_or("no preStop hook".into(), |s| format!("preStop `[\"/sleep\", \"{s}\"]`"));
        let _ =
            writeln!(w, "{hook}, G = {}, D = {}.\n", seconds(result.scenario.grace), seconds(settings.lag));
        let _ = writeln!(
            w,
            "| Rollout | Requests | Failed | 502 | 503 | 504 | refused | reset | timeout | other | Failing (after deletion) | Deregistered | App stopped | Hook's exit (at) | Old app's exit | Rollout took |"
        );
        let _ = writeln!(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|---|--:|--:|");
        let row = |w: &mut String, label: String, rollout: Option<&Rollout>, tally: &Tally| {
            let mut cells = vec![label, tally.requests().to_string(), format!("**{}**", tally.failures())];
            cells.extend(KINDS.iter().map(|kind| tally.count(*kind).to_string()));
            cells.push(other_failures(tally).to_string());
            match rollout {
                Some(r) => cells.extend([
                    window_text(r),
                    format!("{:.2} s", r.deregistered_after.as_secs_f64()),
                    format!("{:.2} s", r.stopped_after.as_secs_f64()),
                    r.hook.map_or("–".into(), |(code, at)| format!("{code} ({:.2} s)", at.as_secs_f64())),
                    r.app_exit.to_string(),
                    format!("{:.1} s", r.duration.as_secs_f64()),
                ]),
                None => cells.extend(["".to_string(), "".into(), "".into(), "".into(), "".into(), "".into()]),
            }
            let _ = writeln!(w, "| {} |", cells.join(" | "));
        };
        for (index, rollout) in result.rollouts.iter().enumerate() {
            row(w, (index + 1).to_string(), Some(rollout), &rollout.tally);
        }
        row(w, "**all**".into(), None, &result.total());
        let _ = writeln!(w);
    }

    let _ = writeln!(
        w,
        "\
## Method

`scripts/rollout` (the program is `tests/rollout/`) replays rolling updates as the pieces of an EKS \
cluster do them, on loopback only:

- **Pods** run through containerd's CRI plugin, driven over CRI v1 as the kubelet drives it \
(`testbed/`): host network, our image as the pod sandbox. Each pod's app listens on its own \
loopback port.
- **The app** (`testbed/web-app/`, Go, static) answers every request with 200 and exits at once on \
SIGTERM, without draining, as most apps do (its exit code is then 0; 137 would mean SIGKILL). Its image is `FROM scratch` with our `/sleep` copied in by \
`COPY --from=`, as `examples/Dockerfile.app` does.
- **The load balancer** is haproxy, set up like an ALB target group (`tests/rollout/lb.rs`): targets are \
registered and deregistered through its runtime API (`add server`, `enable server`, `set server … state \
maint`, `del server`); `retries 0` and no redispatch, so a refused connection fails the request; no health \
checks, as an ALB's are far slower than these timings.
- **The client** sends requests at a fixed rate through the load balancer, one connection each, from \
before the new pod starts until after the old one is gone, and counts every failure by kind (status, \
refused, reset, timeout after 2 s).
- **Each rollout:** start the new pod and register it once it answers (a readiness gate); 0.5 s later \
delete the old pod. Two clocks start at that moment:
  - after D the old target's deregistration takes effect on the load balancer (the endpoints controller, \
the AWS Load Balancer Controller and the ALB's propagation);
  - the kubelet runs the preStop hook by `ExecSync` with timeout 0 and waits for it up to G, then calls \
`StopContainer` with what is left of G, at least 2 s: SIGTERM, SIGKILL when that runs out. A hook still \
running is killed with the container: its exec ends with 137.
- \"Failing\" is when the first and the last failed request were due, in seconds after the deletion; \
\"Deregistered\" and \"App stopped\" are when the deregistration took effect and `StopContainer` returned.
- **Reading the figures.** Requests fail from the moment the old app stops to the moment its \
deregistration takes effect, whichever way round: none when the sleep outlasts D. In that window the \
load balancer still sends every other request (round robin over the two targets) to the old one, so \
about rate × (D − app stopped) / 2 fail per rollout: {example:.0} at {rate} requests a second with no hook and D = {lag}. \
They are haproxy's 503 (connection refused, no retry); a rare 502 is a request the app took and then \
died with (closed without an answer), which an ALB answers with 502 too.

## Parameters, and the settings they stand for

| Here | Value | In a cluster (README, \"The fix\") |
|---|---|---|
| D, deletion to deregistration (`--lag`) | {lag} | endpoint removal, the controller's deregistration and the ALB's propagation: 20 s to 2 min in the trackers |
| the short sleep (`--short-sleep`) | {short} | a preStop sleep shorter than that lag |
| the long sleep (`--long-sleep`) | {long} | `preStop: exec: command: [\"/sleep\", \"60\"]` |
| G (`--grace`) | {grace} | `terminationGracePeriodSeconds` longer than the sleep plus the app's shutdown (90 s) |
| G in the trap (`--trap-grace`) | {trap} | a grace period shorter than the lag, such as the default 30 s under a slow deregistration |
| rate (`--rate`) | {rate} requests/s | the traffic |
| rollouts per scenario (`--rollouts`) | {rollouts} | |

The ALB's deregistration delay (`deregistration_delay.timeout_seconds`, draining) has no figure of its \
own here: a deregistered target in maintenance keeps its in-flight requests, and every request here is \
short, so the delay only has to be shorter than the sleep, as the README says. What the sleep must \
outlast is D.

Run it again with `scripts/rollout` (about 2 minutes; `--help` for the flags); `scripts/rollout \
--smoke`, part of `scripts/test`, checks the first, third and fourth scenarios in two rollouts each.

Versions: {haproxy}; {containerd}; {go}.
",
        lag = seconds(settings.lag),
        short = seconds(settings.short_sleep),
        long = seconds(settings.long_sleep),
        grace = seconds(settings.grace),
        trap = seconds(settings.trap_grace),
        rate = settings.rate,
        rollouts = settings.rollouts,
        example = settings.rate * settings.lag / 2.0,
        haproxy = crate::lb::LoadBalancer::version(),
        containerd = command_line(sleep_testbed::stack_bin("containerd"), &["--version"]),
        go = command_line("go", &["version"]),
    );
    // In a fence: its link is relative to the README, not to docs/.
    let _ = writeln!(
        w,
        "The README's block, as written with this file:\n\n```markdown\n{}\n```",
        readme_block(results, commit)
    );
    text
}

/// Writes docs/rollout.md, and the README's block when the README has the markers.
pub fn write_docs(settings: &Settings, results: &[ScenarioResult], elapsed: Duration) -> Result<(), String> {
    let repo = sleep_tests::repo();
    let commit = commit();
    let docs = repo.join("docs/rollout.md");
    std::fs::write(&docs, docs_text(settings, results, elapsed, &commit))
        .map_err(|e| format!("{}: {e}", docs.display()))?;
    println!("rollout: wrote {}", docs.display());
    write_readme_block(&repo.join("README.md"), &readme_block(results, &commit))
}

fn write_readme_block(readme: &Path, block: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(readme).map_err(|e| format!("{}: {e}", readme.display()))?;
    let (Some(start), Some(end)) = (text.find(README_START), text.find(README_END)) else {
        println!("rollout: README.md has no rollout block; not written");
        return Ok(());
    };
    if end < start {
        return Err(format!("{}: the rollout block's end marker comes before its start", readme.display()));
    }
    let updated = format!("{}{block}{}", &text[..start], &text[end + README_END.len()..]);
    std::fs::write(readme, updated).map_err(|e| format!("{}: {e}", readme.display()))?;
    println!("rollout: wrote the rollout block in {}", readme.display());
    Ok(())
}
