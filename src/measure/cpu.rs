//! CPU time a stop costs: user and system time, as `getrusage` and `wait4`
//! count them (hyperfine's "User" and "System"), of init's own stopping
//! work and of the programs the strategy ran, with what they waited for.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// User and system CPU time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTime {
    pub user_us: u64,
    pub sys_us: u64,
}

impl CpuTime {
    /// From a `rusage` filled by the kernel.
    pub fn from_rusage(usage: &libc::rusage) -> Self {
        let us = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
        Self {
            user_us: us(usage.ru_utime),
            sys_us: us(usage.ru_stime),
        }
    }

    /// What the calling thread has used so far.
    pub fn this_thread() -> Self {
        // SAFETY: a zeroed rusage is valid, and getrusage fills it.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
            Self::from_rusage(&usage)
        }
    }

    /// The time used since `earlier` (a reading of the same clock).
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user_us: self.user_us.saturating_sub(earlier.user_us),
            sys_us: self.sys_us.saturating_sub(earlier.sys_us),
        }
    }

    pub fn total(self) -> Duration {
        Duration::from_micros(self.user_us + self.sys_us)
    }
}

impl std::ops::Add for CpuTime {
    type Output = CpuTime;
    fn add(self, other: CpuTime) -> CpuTime {
        CpuTime {
            user_us: self.user_us + other.user_us,
            sys_us: self.sys_us + other.sys_us,
        }
    }
}

/// Mean and standard deviation of the CPU time per stop, as sums.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSums {
    pub stops: u64,
    user: f64,
    user_sq: f64,
    sys: f64,
    sys_sq: f64,
}

impl CpuSums {
    pub fn add(&mut self, cpu: CpuTime) {
        let (u, s) = (cpu.user_us as f64, cpu.sys_us as f64);
        self.stops += 1;
        self.user += u;
        self.user_sq += u * u;
        self.sys += s;
        self.sys_sq += s * s;
    }

    /// Mean user and system time per stop, in µs; `None` with no stop measured.
    pub fn mean_us(&self) -> Option<(f64, f64)> {
        let n = self.stops as f64;
        (self.stops > 0).then(|| (self.user / n, self.sys / n))
    }

    /// Sample standard deviation of user and system time, in µs.
    pub fn sd_us(&self) -> Option<(f64, f64)> {
        let n = self.stops as f64;
        let sd = |sum: f64, sq: f64| ((sq - sum * sum / n) / (n - 1.0)).max(0.0).sqrt();
        (self.stops > 1).then(|| (sd(self.user, self.user_sq), sd(self.sys, self.sys_sq)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_give_mean_and_spread() {
        let mut sums = CpuSums::default();
        assert_eq!(sums.mean_us(), None);
        for (u, s) in [(100, 10), (300, 30)] {
            sums.add(CpuTime {
                user_us: u,
                sys_us: s,
            });
        }
        assert_eq!(sums.mean_us(), Some((200.0, 20.0)));
        let (su, ss) = sums.sd_us().unwrap();
        assert!((su - 141.421).abs() < 0.01, "{su}");
        assert!((ss - 14.142).abs() < 0.01, "{ss}");
    }

    #[test]
    fn this_threads_time_grows_with_work() {
        let before = CpuTime::this_thread();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        // Busy until 5 ms of CPU are counted, however busy the machine; a
        // clock that never moved would end at the bound, and fail.
        while CpuTime::this_thread().since(before).total() < Duration::from_millis(5)
            && start.elapsed() < Duration::from_secs(20)
        {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let used = CpuTime::this_thread().since(before);
        assert!(used.total() >= Duration::from_millis(5), "{used:?}");
        assert!(used.total() <= start.elapsed() + Duration::from_millis(20));
    }
}
