//! Processes, mounts and cgroups, as the kernel shows them in /proc and
//! /sys: for finding what a runtime started and proving it is gone.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use nix::{errno::Errno, sys::signal::Signal, unistd::Pid};
use procfs::process::{ProcState, Process};

/// Every PID in /proc.
pub fn processes() -> Vec<u32> {
    let Ok(all) = procfs::process::all_processes() else { return Vec::new() };
    all.filter_map(|process| Some(process.ok()?.pid as u32)).collect()
}

/// The children (zombies included) of every thread of `pid`.
pub fn children(pid: u32) -> BTreeSet<u32> {
    let Ok(tasks) = Process::new(pid as i32).and_then(|process| process.tasks()) else {
        return BTreeSet::new();
    };
    tasks.filter_map(Result::ok).filter_map(|task| task.children().ok()).flatten().collect()
}

/// Whether `pid` exists and is not a zombie (which a non-reaping init, such
/// as a CI job container's `tail -f /dev/null`, may keep around).
pub fn is_running(pid: u32) -> bool {
    let state = Process::new(pid as i32).and_then(|process| process.stat()).and_then(|stat| stat.state());
    state.is_ok_and(|state| !matches!(state, ProcState::Zombie | ProcState::Dead))
}

/// `pid`'s command line (empty when it is gone, a zombie, or a kernel thread).
pub fn cmdline(pid: u32) -> Vec<String> {
    Process::new(pid as i32).and_then(|process| process.cmdline()).unwrap_or_default()
}

/// A process's command line, for reports.
pub fn describe(pid: u32) -> String {
    cmdline(pid).join(" ")
}

/// `/proc/PID/status`, parsed.
pub fn status(pid: u32) -> procfs::process::Status {
    Process::new(pid as i32)
        .and_then(|process| process.status())
        .unwrap_or_else(|error| panic!("/proc/{pid}/status: {error}"))
}

/// The PID namespace `pid` is in (the link's target, `pid:[inode]`).
pub fn pid_namespace(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/pid"))
        .unwrap_or_else(|error| panic!("/proc/{pid}/ns/pid: {error}"))
        .to_string_lossy()
        .into_owned()
}

/// Sends `signal` to `pid`; a process that is already gone (ESRCH) is fine:
/// it may exit on its own at any moment.
pub fn signal(pid: u32, signal: Signal) -> Result<(), String> {
    match nix::sys::signal::kill(Pid::from_raw(pid as i32), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(error) => Err(format!("kill({pid}, {signal}): {error}")),
    }
}

/// Mount points (as this process sees them) under any of `roots`, deepest first.
pub fn mount_points_under(roots: &[&Path]) -> Vec<PathBuf> {
    let Ok(mounts) = Process::myself().and_then(|myself| myself.mountinfo()) else { return Vec::new() };
    let mut found: Vec<PathBuf> = mounts
        .into_iter()
        .map(|mount| mount.mount_point)
        .filter(|point| roots.iter().any(|root| point.starts_with(root)))
        .collect();
    found.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    found.dedup();
    found
}

/// Unmounts `point`, detached: a mount still in use goes as soon as it is not.
pub fn unmount(point: &Path) -> Result<(), String> {
    nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH)
        .map_err(|error| format!("umount {}: {error}", point.display()))
}

/// Whether `/sys/fs/cgroup` is the cgroup v2 (unified) hierarchy.
pub fn is_cgroup2() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|stat| stat.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// Every cgroup hierarchy's root: `/sys/fs/cgroup` itself, and on a cgroup
/// v1 or hybrid host each controller's folder under it.
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let root = PathBuf::from("/sys/fs/cgroup");
    let mut hierarchies = vec![root.clone()];
    if let Ok(entries) = std::fs::read_dir(&root) {
        hierarchies.extend(entries.filter_map(|entry| Some(entry.ok()?.path())).filter(|path| path.is_dir()));
    }
    hierarchies
}

/// This process's own cgroup folder in each hierarchy (from /proc/self/cgroup).
pub fn own_cgroup_folders() -> BTreeSet<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    // `N:controllers:/path` lines.
    let paths: BTreeSet<&str> = own.lines().filter_map(|line| line.splitn(3, ':').nth(2)).collect();
    let mut folders = BTreeSet::new();
    for hierarchy in cgroup_hierarchies() {
        for path in &paths {
            let folder = hierarchy.join(path.trim_start_matches('/'));
            if folder.is_dir() {
                folders.insert(folder);
            }
        }
    }
    folders
}

/// `folder` and every folder below it, deepest first.
pub fn folders_below(folder: &Path) -> Vec<PathBuf> {
    fn walk(folder: &Path, found: &mut Vec<PathBuf>) {
        found.push(folder.to_path_buf());
        if let Ok(entries) = std::fs::read_dir(folder) {
            for entry in entries.filter_map(Result::ok) {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    walk(&entry.path(), found);
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(folder, &mut found);
    found.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
    found
}
