//! What the operating system tells about the generator and the broker: CPU
//! time (from `/proc/PID/stat`), resident memory (`VmRSS` from
//! `/proc/PID/status`, `Rss` and `Pss` from `/proc/PID/smaps_rollup`), and
//! the open-file limit, raised to its hard limit so one generator process can
//! hold as many sockets as the machine allows.
//!
//! It only reads `/proc` and sets a resource limit; it never touches the
//! broker it measures.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// CPU time used by a process so far, in seconds (user + system).
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces: fields are counted after
    // its closing parenthesis. utime and stime are fields 14 and 15.
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second().max(1) as f64;
    Some((user + system) as f64 / ticks)
}

/// CPU time of the generator and (when given) the broker over one window.
pub struct CpuWindow {
    started: Instant,
    generator: Option<f64>,
    broker: Option<f64>,
    /// The broker's processes (several for the nodes of a cluster).
    pids: Vec<u32>,
}

/// CPU seconds of `pids` together; `None` when there are none or one is
/// gone.
fn cpu_seconds_of(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| cpu_seconds(Some(*pid))).sum()
}

/// CPU seconds used over a measured window, and the share of one core.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CpuFigures {
    /// Wall-clock seconds of the window.
    pub wall_s: f64,
    /// The generator's own user + system seconds.
    pub generator_s: f64,
    /// Cores the generator kept busy on average (1.0 = one core).
    pub generator_cores: f64,
    /// The broker's user + system seconds, when its PID was given (summed
    /// over its processes).
    pub broker_s: Option<f64>,
    pub broker_cores: Option<f64>,
}

impl CpuWindow {
    pub fn start(pids: &[u32]) -> CpuWindow {
        CpuWindow {
            started: Instant::now(),
            generator: cpu_seconds(None),
            broker: cpu_seconds_of(pids),
            pids: pids.to_vec(),
        }
    }

    pub fn finish(&self) -> CpuFigures {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let generator = match (self.generator, cpu_seconds(None)) {
            (Some(start), Some(end)) => end - start,
            _ => 0.0,
        };
        let broker = match (self.broker, cpu_seconds_of(&self.pids)) {
            (Some(start), Some(end)) => Some(end - start),
            _ => None,
        };
        CpuFigures {
            wall_s: wall,
            generator_s: generator,
            generator_cores: generator / wall,
            broker_s: broker,
            broker_cores: broker.map(|seconds| seconds / wall),
        }
    }
}

/// A process's resident memory at one moment, in bytes.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct MemorySample {
    /// `VmRSS` from `/proc/PID/status`.
    pub vm_rss: u64,
    /// `Rss` from `/proc/PID/smaps_rollup`.
    pub rss: u64,
    /// `Pss` from `/proc/PID/smaps_rollup` (shared pages divided among
    /// the processes sharing them).
    pub pss: u64,
}

/// Reads the memory of process `pid`; `None` when it is gone or unreadable.
pub fn memory(pid: u32) -> Option<MemorySample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let vm_rss = kib_field(&status, "VmRSS:")?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    Some(MemorySample {
        vm_rss,
        rss: kib_field(&rollup, "Rss:").unwrap_or(vm_rss),
        pss: kib_field(&rollup, "Pss:").unwrap_or(0),
    })
}

/// The value of a `Name:   1234 kB` line, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// Raises the soft open-file limit to the hard limit; returns the limit now
/// in force (`None` when unlimited or unknown).
pub fn raise_open_files() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
    getrlimit(Resource::Nofile).current
}

/// The machine's CPU model and memory, for reports.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = kib_field(&meminfo, "MemTotal:").unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores, {model}, {:.1} GiB RAM",
        memory as f64 / (1u64 << 30) as f64
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_figures_are_readable() {
        assert!(cpu_seconds(None).is_some());
        let sample = memory(std::process::id()).expect("own memory");
        assert!(sample.vm_rss > 0 && sample.rss > 0);
    }

    #[test]
    fn kib_fields_parse() {
        let text = "Name:\tx\nVmRSS:\t  1234 kB\n";
        assert_eq!(kib_field(text, "VmRSS:"), Some(1234 * 1024));
        assert_eq!(kib_field(text, "Pss:"), None);
    }
}
