//! The smoke test's verdict, the progress and last lines, docs/rollout.md
//! and the README's two blocks.

use std::{fmt::Write as _, path::Path, process::Command, time::Duration};

use sleep_testbed::repo;

use crate::{
    Results, Settings,
    client::{Outcome, Tally},
    hooks::{Answer, Comparison, Deletion},
    rollouts::{Rollout, ScenarioResult},
};

/// The README's blocks, between these markers, are written by scripts/rollout.
pub const ROLLOUT_START: &str = "<!-- rollout:start (written by scripts/rollout) -->";
pub const ROLLOUT_END: &str = "<!-- rollout:end -->";
pub const COMPARISON_START: &str = "<!-- native-vs-sleep:start (written by scripts/rollout) -->";
pub const COMPARISON_END: &str = "<!-- native-vs-sleep:end -->";
/// The smoke test's floor for requests through each scenario it judges.
const SMOKE_MIN_REQUESTS: u64 = 100;

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

fn at(value: Option<(u32, Duration)>) -> String {
    value.map_or("–".into(), |(code, after)| format!("{code} at {:.2} s", after.as_secs_f64()))
}

/// A rollout in one line, for the progress output.
pub fn one_line(rollout: &Rollout) -> String {
    let pods: Vec<String> = rollout
        .old_pods
        .iter()
        .map(|pod| {
            let deregistered =
                pod.deregistered.map_or("–".into(), |after| format!("{:.2} s", after.as_secs_f64()));
            format!("app {}, hook {}, deregistered {deregistered}", at(pod.app), at(pod.hook))
        })
        .collect();
    format!(
        "{} of {} failed{}; old pods: {}; {:.1} s",
        rollout.tally.failures(),
        rollout.tally.requests(),
        kinds_text(&rollout.tally),
        pods.join("; "),
        rollout.duration.as_secs_f64()
    )
}

fn scenario<'a>(results: &'a Results, key: &str) -> Option<&'a ScenarioResult> {
    results.scenarios.iter().find(|result| result.scenario.key == key)
}

/// A scenario's requests over all its rollouts (none when it did not run).
fn total(results: &Results, key: &str) -> Tally {
    scenario(results, key).map(ScenarioResult::total).unwrap_or_default()
}

/// `rollout: kubelet vK: without the hook X of N requests failed; native sleep Y of M; with /sleep Z of K`
pub fn last_line(results: &Results) -> String {
    let (none, native, sleep) = (total(results, "none"), total(results, "native"), total(results, "sleep"));
    format!(
        "rollout: kubelet {}: without the hook {} of {} requests failed; native sleep {} of {}; with /sleep {} of {}",
        results.kubelet,
        none.failures(),
        none.requests(),
        native.failures(),
        native.requests(),
        sleep.failures(),
        sleep.requests()
    )
}

/// Why the smoke test fails; empty when it passes.
pub fn smoke_problems(results: &Results) -> Vec<String> {
    let mut problems = Vec::new();
    for key in ["none", "native", "sleep"] {
        let Some(result) = scenario(results, key) else {
            problems.push(format!("scenario {key} did not run"));
            continue;
        };
        let total = result.total();
        if total.requests() < SMOKE_MIN_REQUESTS {
            problems.push(format!(
                "{key}: only {} requests (at least {SMOKE_MIN_REQUESTS} needed)",
                total.requests()
            ));
        }
        let failed = total.failures();
        match key {
            "none" if failed == 0 => problems.push(format!(
                "without the hook no request of {} failed: the problem did not reproduce, so the fix shows nothing",
                total.requests()
            )),
            "native" | "sleep" if failed != 0 => problems.push(format!(
                "{}: {failed} of {} requests failed{}",
                result.scenario.title,
                total.requests(),
                kinds_text(&total)
            )),
            _ => {}
        }
        if key == "sleep" {
            for pod in result.rollouts.iter().flat_map(|rollout| &rollout.old_pods) {
                if pod.hook.map(|(code, _)| code) != Some(0) {
                    problems.push(format!(
                        "{}: a hook did not end 0: {}",
                        result.scenario.title,
                        at(pod.hook)
                    ));
                }
            }
        }
    }
    problems
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The commit measured at, with "+ uncommitted changes" when the tree is not clean.
fn commit() -> String {
    let repo = repo();
    let repo = repo.to_str().unwrap_or(".");
    let head = command_line("git", &["-C", repo, "rev-parse", "--short=12", "HEAD"]);
    let dirty =
        !command_line("git", &["-C", repo, "status", "--porcelain", "--untracked-files=no"]).is_empty();
    if dirty { format!("{head} + uncommitted changes") } else { head }
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// The median of `values`, and the lowest and highest.
fn spread(mut values: Vec<Duration>) -> Option<(Duration, Duration, Duration)> {
    values.sort();
    let median = *values.get(values.len() / 2)?;
    Some((median, values[0], values[values.len() - 1]))
}

fn spread_text(values: Vec<Duration>) -> String {
    spread(values).map_or("–".into(), |(median, low, high)| {
        format!("{} ({}–{})", seconds(median), seconds(low), seconds(high))
    })
}

/// The distinct values of `value` over the old pods of a scenario, in order seen.
fn distinct(result: &ScenarioResult, value: impl Fn(&crate::rollouts::OldPod) -> String) -> String {
    let mut seen: Vec<String> = Vec::new();
    for pod in result.rollouts.iter().flat_map(|rollout| &rollout.old_pods) {
        let text = value(pod);
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    seen.join(", ")
}

/// The README's rollout block: headline figures and the link.
pub fn readme_rollout_block(results: &Results, commit: &str) -> String {
    let figure = |key: &str| {
        let total = total(results, key);
        format!("{} of {}", total.failures(), total.requests())
    };
    format!(
        "{ROLLOUT_START}\n\
         **Measured** on a one-node Kubernetes cluster (kubelet {kubelet}, {runtime}): the Deployment \
         controller rolls two replicas, haproxy stands in for the ALB, fed by a watch of the \
         EndpointSlices as the AWS Load Balancer Controller is, with the deregistration lag scaled to \
         seconds ([docs/rollout.md](docs/rollout.md), `{commit}`). Requests that failed: with no hook \
         {none}; the native sleep longer than the lag, **{native}**; `/sleep` longer than the lag, \
         **{sleep}**; `/sleep` shorter than the lag, {short}; a grace period shorter than the lag, {trap}; \
         the Go program most images copy, {go}, and with `1.5`, which it sleeps as 0, {go_fraction}.\n\
         {ROLLOUT_END}",
        kubelet = results.kubelet,
        runtime = results.runtime,
        none = figure("none"),
        native = figure("native"),
        sleep = figure("sleep"),
        short = figure("short"),
        trap = figure("trap"),
        go = figure("go"),
        go_fraction = figure("go-fraction"),
    )
}

/// An answer in a few words, for the README.
fn short_answer(answer: &Answer) -> String {
    match answer {
        Answer::Refused(_) => "refused by the API".into(),
        Answer::Accepted(deletions) => format!("accepted (SIGTERM at {}, median)", median_sigterm(deletions)),
    }
}

/// The README's comparison block, for "Native `preStop.sleep` or this binary?".
pub fn readme_comparison_block(comparison: &Comparison, commit: &str) -> String {
    let early = |pick: fn(&(Duration, Duration)) -> Duration| {
        spread(comparison.app_exit_to_gone.iter().map(pick).collect())
            .map_or("–".into(), |(m, _, _)| seconds(m))
    };
    let sigterm = |pick: fn(&(Duration, Duration)) -> Duration| {
        spread(comparison.deletion_to_sigterm.iter().map(pick).collect())
            .map_or(Duration::ZERO, |(m, _, _)| m)
    };
    let (native, exec) = (sigterm(|pair| pair.0), sigterm(|pair| pair.1));
    format!(
        "{COMPARISON_START}\n\
         **Where they differ, measured** on the test cluster ([docs/rollout.md](docs/rollout.md#where-the-native-sleep-and-sleep-differ), \
         `{commit}`): when the app exits on its own during a {hook} s hook, the pod is gone {exec_early} after \
         with `/sleep` (the exec dies with its container) but {native_early} after with the native sleep, \
         which sleeps on (kubernetes/kubernetes#134338); a native sleep as long as the grace period is \
         {at_grace}, a longer one {over_grace}, where an exec one is accepted and cut at the grace period; \
         a native sleep of 2.5 s is {fraction}; and from the deletion to SIGTERM at {n} s the exec costs {cost} \
         more than the native sleep ({exec_median} against {native_median}, medians).\n\
         {COMPARISON_END}",
        hook = comparison.early_exit_hook,
        at_grace = short_answer(&comparison.native_at_grace.1),
        over_grace = short_answer(&comparison.native_over_grace.1),
        fraction = short_answer(&comparison.native_fraction),
        exec_early = early(|pair| pair.1),
        native_early = early(|pair| pair.0),
        n = comparison.same_n,
        cost = seconds(exec.saturating_sub(native)),
        exec_median = seconds(exec),
        native_median = seconds(native),
    )
}

/// The median time from the deletion to SIGTERM's effect, over `deletions`.
fn median_sigterm(deletions: &[Deletion]) -> String {
    spread(deletions.iter().map(|deletion| deletion.app.1).collect())
        .map_or("–".into(), |(m, _, _)| seconds(m))
}

/// What `deletions` did: SIGTERM's effect, the app's and the hook's exits,
/// the pod gone; times as medians, with the lowest and highest.
fn deletions_text(deletions: &[Deletion]) -> String {
    let codes = |code: &dyn Fn(&Deletion) -> String| {
        let mut seen: Vec<String> = Vec::new();
        for deletion in deletions {
            let text = code(deletion);
            if !seen.contains(&text) {
                seen.push(text);
            }
        }
        seen.join(", ")
    };
    format!(
        "SIGTERM at {} (exit {}), the hook {}, the pod gone at {} ({} runs)",
        spread_text(deletions.iter().map(|deletion| deletion.app.1).collect()),
        codes(&|deletion| deletion.app.0.to_string()),
        codes(&|deletion| deletion.hook.map_or("–".into(), |(code, _)| format!("ending {code}"))),
        spread_text(deletions.iter().map(|deletion| deletion.gone).collect()),
        deletions.len()
    )
}

/// What the API said to a native sleep, and what its deletions did if it took it.
fn answer_text(answer: &Answer) -> String {
    match answer {
        Answer::Refused(error) => {
            format!("the API refuses it: `{}`", error.replace('|', "\\|").replace('\n', " "))
        }
        Answer::Accepted(deletions) => format!("accepted; {}", deletions_text(deletions)),
    }
}

fn comparison_text(w: &mut String, comparison: &Comparison) {
    let _ = writeln!(w, "## Where the native sleep and /sleep differ\n");
    let _ = writeln!(
        w,
        "One pod at a time (the last case, one of each at once), on the same cluster, the app run as \
         `/sleep` itself (`command: [\"/sleep\", \"infinity\"]`, or `8` where it exits on its own), G in each \
         case as given. Times are after the pod's deletion (`kubectl delete`), as containerd's exit events \
         and the API have them; medians, with the lowest and highest in brackets.\n"
    );
    let _ = writeln!(w, "| Case | native `preStop.sleep` | exec `/sleep` |");
    let _ = writeln!(w, "|---|---|---|");
    let runs = comparison.app_exit_to_gone.len();
    let _ = writeln!(
        w,
        "| The app exits on its own during a {} s hook: from its exit to the pod gone ({runs} runs each) | {} | {} |",
        comparison.early_exit_hook,
        spread_text(comparison.app_exit_to_gone.iter().map(|pair| pair.0).collect()),
        spread_text(comparison.app_exit_to_gone.iter().map(|pair| pair.1).collect()),
    );
    let (grace, over) = &comparison.exec_over_grace;
    let _ = writeln!(
        w,
        "| A sleep as long as the grace period, G = {grace} s (native: {} s) | {} | |",
        comparison.native_at_grace.0,
        answer_text(&comparison.native_at_grace.1),
    );
    let _ = writeln!(
        w,
        "| A sleep longer than the grace period, G = {grace} s (native: {} s; exec: `/sleep {}`) | {} | accepted; {} |",
        comparison.native_over_grace.0,
        2 * grace,
        answer_text(&comparison.native_over_grace.1),
        deletions_text(over),
    );
    let _ = writeln!(
        w,
        "| 2.5 s | {} | {} |",
        answer_text(&comparison.native_fraction),
        deletions_text(&comparison.exec_fraction)
    );
    let runs = comparison.deletion_to_sigterm.len();
    let _ = writeln!(
        w,
        "| From the deletion to SIGTERM, {n} s ({runs} runs each) | {} | {} |",
        spread_text(comparison.deletion_to_sigterm.iter().map(|pair| pair.0).collect()),
        spread_text(comparison.deletion_to_sigterm.iter().map(|pair| pair.1).collect()),
        n = comparison.same_n,
    );
    let _ = writeln!(
        w,
        "\nThe exec's cost is a runc exec: a process started in the container and its exit waited for; \
         the native sleep is a timer in the kubelet. The first row is kubernetes/kubernetes#134338 (open): \
         with the native sleep a pod whose app has already exited stays Terminating for the rest of the sleep.\n"
    );
}

fn docs_text(settings: &Settings, results: &Results, elapsed: Duration, commit: &str) -> String {
    let mut text = String::new();
    let w = &mut text;
    let date = command_line("date", &["-u", "+%Y-%m-%d"]);
    let kernel = command_line("uname", &["-r"]);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let _ = writeln!(w, "# The fix, measured: rolling updates on Kubernetes behind a load balancer\n");
    let _ = writeln!(
        w,
        "Written by `scripts/rollout` from one full run, at commit `{commit}`, on {date} ({cores} cores, \
         Linux {kernel}; the run took {:.0} s). Do not edit: run `scripts/rollout` again.\n",
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        w,
        "**Real here:** the kubelet {kubelet}, the API server, the Deployment and EndpointSlice controllers \
         and the scheduler of the same release, containerd ({runtime}) and runc, our image as every pod's \
         sandbox, the pods' own addresses on a bridge, haproxy. **Standing in:** haproxy's runtime API for \
         the ALB's target group, a watch of the EndpointSlices for the AWS Load Balancer Controller, and D, \
         the time from an endpoint's going to the target's deregistration (the controller's reaction and \
         the ALB's propagation: 20 s to 2 min in the trackers), scaled to seconds. A target that refuses \
         the connection fails the request with no retry, as on an ALB, where it is a 502 and here a 503.\n",
        kubelet = results.kubelet,
        runtime = results.runtime,
    );
    let _ = writeln!(w, "## Summary\n");
    let _ = writeln!(w, "| Scenario | preStop hook | G | Requests | Failed | Old apps' exit | Hooks' exit |");
    let _ = writeln!(w, "|---|---|---|--:|--:|---|---|");
    for result in &results.scenarios {
        let total = result.total();
        let _ = writeln!(
            w,
            "| {} | {} | {} s | {} | **{}** | {} | {} |",
            result.scenario.title,
            result.scenario.hook.text(),
            result.scenario.grace,
            total.requests(),
            total.failures(),
            distinct(result, |pod| pod.app.map_or("–".into(), |(code, _)| code.to_string())),
            distinct(result, |pod| pod.hook.map_or("–".into(), |(code, _)| code.to_string())),
        );
    }
    let _ = writeln!(
        w,
        "\nD was {} s in every scenario; the client sent {} requests a second; each scenario is {} \
         rollouts of a Deployment of {} replicas. Failed requests are counted from the client's side, \
         through the load balancer.\n",
        settings.lag, settings.rate, settings.rollouts, settings.replicas
    );
    for result in &results.scenarios {
        let _ = writeln!(w, "## {}\n", result.scenario.title);
        let _ = writeln!(
            w,
            "preStop hook: {}; G = {} s; D = {} s.\n",
            result.scenario.hook.text(),
            result.scenario.grace,
            settings.lag
        );
        let _ = writeln!(
            w,
            "| Rollout | Requests | Failed | 502 | 503 | 504 | refused | reset | timeout | other | Took | Old pods: app's exit (at), hook's exit (at), deregistered at |"
        );
        let _ = writeln!(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
        for (index, rollout) in result.rollouts.iter().enumerate() {
            let tally = &rollout.tally;
            let mut cells = vec![
                (index + 1).to_string(),
                tally.requests().to_string(),
                format!("**{}**", tally.failures()),
            ];
            cells.extend(KINDS.iter().map(|kind| tally.count(*kind).to_string()));
            cells.push(other_failures(tally).to_string());
            cells.push(format!("{:.1} s", rollout.duration.as_secs_f64()));
            let pods: Vec<String> = rollout
                .old_pods
                .iter()
                .map(|pod| {
                    let deregistered = pod.deregistered.map_or("–".into(), seconds);
                    format!("{}; {}; {deregistered}", at(pod.app), at(pod.hook))
                })
                .collect();
            cells.push(pods.join(" / "));
            let _ = writeln!(w, "| {} |", cells.join(" | "));
        }
        let _ = writeln!(w);
    }
    if let Some(comparison) = &results.comparison {
        comparison_text(w, comparison);
    }
    let _ = writeln!(
        w,
        "## Method\n\n\
         `scripts/rollout` (the program is `experiments/rollout/`) starts the cluster of `tests/cluster.rs` \
         (`testbed/`), then for each scenario, in a namespace of its own:\n\n\
         - **The app** (`testbed/web-app/`, Go, static) answers every request with 200 and exits at once on \
         SIGTERM, without draining, as most apps do (its exit status is then 0; 137 would mean SIGKILL). Its \
         image is `examples/Dockerfile.app`'s (`FROM scratch` here), with our `/sleep`, and `bench/go-sleep` \
         as `/go-sleep`. A Deployment of {replicas} replicas, `maxSurge: 1`, `maxUnavailable: 0`, a readiness \
         probe every second, behind a Service.\n\
         - **The load balancer** is haproxy, set up like an ALB target group (`experiments/rollout/src/lb.rs`): \
         targets are registered and deregistered through its runtime API; `retries 0` and no redispatch, so a \
         refused connection fails the request; no health checks, as an ALB's are far slower than these timings.\n\
         - **The targets** follow a watch of the Service's EndpointSlices (`kubectl get endpointslices --watch`, \
         the API's watch): an endpoint that becomes ready is registered at once; one that stops being ready \
         (its pod terminating) is deregistered D later.\n\
         - **The client** sends requests at a fixed rate through the load balancer, one connection each, from \
         before `kubectl rollout restart` until after the last old pod is gone, and counts every failure by \
         kind (status, refused, reset, timeout after 2 s).\n\
         - **Old pods' times** are after their endpoint was seen going, which is when their deletion reached \
         the endpoints; their exits are containerd's events.\n\n\
         Versions: {haproxy}; {go}.\n",
        replicas = settings.replicas,
        haproxy = crate::lb::LoadBalancer::version(),
        go = command_line("go", &["version"]),
    );
    // In a fence: its links are relative to the README, not to docs/.
    let _ = writeln!(
        w,
        "The README's blocks, as written with this file:\n\n```markdown\n{}\n```",
        readme_rollout_block(results, commit)
    );
    if let Some(comparison) = &results.comparison {
        let _ = writeln!(w, "\n```markdown\n{}\n```", readme_comparison_block(comparison, commit));
    }
    text
}

/// Writes docs/rollout.md, and the README's blocks where the README has their markers.
pub fn write_docs(settings: &Settings, results: &Results, elapsed: Duration) -> Result<(), String> {
    let commit = commit();
    let docs = repo().join("docs/rollout.md");
    std::fs::write(&docs, docs_text(settings, results, elapsed, &commit))
        .map_err(|e| format!("{}: {e}", docs.display()))?;
    println!("rollout: wrote {}", docs.display());
    let readme = repo().join("README.md");
    write_block(&readme, ROLLOUT_START, ROLLOUT_END, &readme_rollout_block(results, &commit))?;
    if let Some(comparison) = &results.comparison {
        write_block(
            &readme,
            COMPARISON_START,
            COMPARISON_END,
            &readme_comparison_block(comparison, &commit),
        )?;
    }
    Ok(())
}

fn write_block(readme: &Path, start: &str, end: &str, block: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(readme).map_err(|e| format!("{}: {e}", readme.display()))?;
    let (Some(from), Some(to)) = (text.find(start), text.find(end)) else {
        println!("rollout: README.md has no {start} block; not written");
        return Ok(());
    };
    if to < from {
        return Err(format!("{}: the end marker {end} comes before its start", readme.display()));
    }
    let updated = format!("{}{block}{}", &text[..from], &text[to + end.len()..]);
    std::fs::write(readme, updated).map_err(|e| format!("{}: {e}", readme.display()))?;
    println!("rollout: wrote the {start} block in {}", readme.display());
    Ok(())
}
