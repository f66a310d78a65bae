//! What `/proc` says about the demo process (Linux): peak and current memory, threads, CPU time.

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux for decades).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the demo process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// `VmHWM`: the peak resident set size, in KiB.
    pub(crate) peak_kib: u64,
    /// `VmRSS`: the resident set size now, in KiB.
    pub(crate) rss_kib: u64,
    pub(crate) threads: u64,
    /// User plus system CPU time so far.
    pub(crate) cpu_secs: f64,
}

impl Sample {
    pub(crate) fn take(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|value| value.parse().ok())
        };
        Some(Self {
            peak_kib: field("VmHWM:")?,
            rss_kib: field("VmRSS:")?,
            threads: field("Threads:")?,
            cpu_secs: cpu_seconds(&format!("/proc/{pid}/stat"))?,
        })
    }
}

/// Resets the peak RSS (`VmHWM`) to the current RSS, so the next reading covers what follows.
/// Needs the same user as the process (Linux 4.0 and later). Whether it worked.
pub(crate) fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// User plus system CPU seconds of this process.
pub(crate) fn cpu_seconds_self() -> Option<f64> {
    cpu_seconds("/proc/self/stat")
}

fn cpu_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces, within parentheses): state is the
    // first, utime the 12th and stime the 13th.
    let after_name = stat.rsplit_once(')')?.1;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// The first three fields of `/proc/loadavg`.
pub(crate) fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// KiB as MiB, for the report.
pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
