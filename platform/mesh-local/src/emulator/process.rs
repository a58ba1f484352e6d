//! Ending a process tree for good. MiniStack leaves the function processes it
//! spawned behind when it is stopped on its own, so the harness signals, by
//! id, every process of the emulator's process group and every descendant
//! (found through the parent ids in `/proc/*/stat`), then makes sure none is
//! left.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::HarnessError;

/// One line of `/proc/<pid>/stat`, the fields the harness needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    state: char,
    ppid: u32,
    pgrp: u32,
    /// Clock ticks since boot: tells a process from a later one with the same id.
    start_time: u64,
}

/// A process the harness may signal: its id and start time, so a recycled id
/// is never signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ProcessId {
    pub(crate) pid: u32,
    start_time: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// `pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
/// cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ...`;
/// `comm` may hold spaces and parentheses, so parse from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

fn all_processes() -> BTreeMap<u32, Stat> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(stat) = read_stat(pid) {
            out.insert(pid, stat);
        }
    }
    out
}

/// The living processes of `leader`'s tree: `leader` itself, every member of
/// its process group, and every descendant of any of them. Zombies are dead.
pub(crate) fn process_tree(leader: u32) -> BTreeSet<ProcessId> {
    let procs = all_processes();
    let mut members: BTreeSet<u32> =
        procs.iter().filter(|(pid, stat)| **pid == leader || stat.pgrp == leader).map(|(pid, _)| *pid).collect();
    loop {
        let before = members.len();
        for (pid, stat) in &procs {
            if members.contains(&stat.ppid) {
                members.insert(*pid);
            }
        }
        if members.len() == before {
            break;
        }
    }
    members
        .into_iter()
        .filter_map(|pid| {
            let stat = procs.get(&pid)?;
            (stat.state != 'Z').then_some(ProcessId { pid, start_time: stat.start_time })
        })
        .collect()
}

/// Whether this very process (same id, same start) is still running.
pub(crate) fn is_alive(process: ProcessId) -> bool {
    read_stat(process.pid).is_some_and(|s| s.start_time == process.start_time && s.state != 'Z')
}

fn signal(process: ProcessId, sig: Signal) {
    if is_alive(process) {
        let Ok(raw) = i32::try_from(process.pid) else {
            return;
        };
        // ESRCH (already gone) and EPERM (not ours) both mean: nothing to do.
        let _ = kill(Pid::from_raw(raw), sig);
    }
}

/// Ends `child` (the leader of its own process group) and every process of
/// its tree: SIGTERM to all, up to `grace` for them to go, SIGKILL to the
/// rest, then reaps `child`. Fails only if a process survives SIGKILL.
pub(crate) fn terminate_tree(child: &mut Child, grace: Duration) -> Result<(), HarnessError> {
    let leader = child.id();
    // Collected before anything dies: an orphan loses its parent link.
    let mut known = process_tree(leader);
    for process in &known {
        signal(*process, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    loop {
        let _ = child.try_wait();
        known.extend(process_tree(leader));
        known.retain(|p| is_alive(*p));
        if known.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !known.is_empty() {
        for process in &known {
            signal(*process, Signal::SIGKILL);
        }
        let _ = child.try_wait();
        std::thread::sleep(Duration::from_millis(25));
        known.extend(process_tree(leader));
        known.retain(|p| is_alive(*p));
        if Instant::now() >= deadline {
            return Err(HarnessError::ProcessesSurvived { pids: known.iter().map(|p| p.pid).collect() });
        }
    }
    // The leader is our child: reap it, so not even a zombie is left.
    child.wait().map_err(HarnessError::io(format!("reaping emulator process {leader}")))?;
    Ok(())
}

/// [`terminate_tree`] for a tree this process did not spawn (a detached
/// emulator): nothing to reap, the leader's parent is init.
pub(crate) fn terminate_orphan_tree(leader: u32, grace: Duration) -> Result<(), HarnessError> {
    let mut known = process_tree(leader);
    known.retain(|p| is_alive(*p));
    for process in &known {
        signal(*process, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while !known.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
        known.retain(|p| is_alive(*p));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !known.is_empty() {
        for process in &known {
            signal(*process, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(25));
        known.retain(|p| is_alive(*p));
        if Instant::now() >= deadline {
            return Err(HarnessError::ProcessesSurvived { pids: known.iter().map(|p| p.pid).collect() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_and_parentheses_in_the_name() {
        let line = "4242 (python3 (x) y) S 4000 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 3 0 987654 0 0";
        let stat = parse_stat(line);
        assert_eq!(stat, Some(Stat { state: 'S', ppid: 4000, pgrp: 4242, start_time: 987_654 }));
    }

    #[test]
    fn finds_this_process_alive() {
        let me = std::process::id();
        let tree = process_tree(me);
        assert!(tree.iter().any(|p| p.pid == me && is_alive(*p)));
    }
}
