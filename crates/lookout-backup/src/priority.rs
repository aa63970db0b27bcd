//! Running a backup as background work: the thread that makes it gives
//! way to ingest for the CPU (nice 19) and the disk (the lowest
//! best-effort I/O priority), so a backup of a large store costs ingest
//! as little latency as the machine allows. Linux only; elsewhere a no-op.

/// Lowers the calling thread's CPU and I/O priority. Irreversible for an
/// unprivileged thread: call it on a thread made for the work (the server
/// does), or in a process that ends with it (the CLI). Returns whether
/// both took effect.
#[allow(unsafe_code)]
pub fn lower_current_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscalls on the calling thread's own id; no
        // memory is passed.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            let cpu = libc::setpriority(libc::PRIO_PROCESS, tid, 19) == 0;
            // IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE = 2, level 7 = lowest).
            // Not the idle class: under steady ingest it could starve the
            // backup past its 30 s budget.
            const IOPRIO_WHO_PROCESS: libc::c_long = 1;
            const BEST_EFFORT_LOWEST: libc::c_long = (2 << 13) | 7;
            let io = libc::syscall(
                libc::SYS_ioprio_set,
                IOPRIO_WHO_PROCESS,
                tid as libc::c_long,
                BEST_EFFORT_LOWEST,
            ) == 0;
            cpu && io
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    #[test]
    fn a_thread_can_lower_its_own_priority_and_others_keep_theirs() {
        let lowered = std::thread::spawn(|| {
            let ok = super::lower_current_thread();
            // SAFETY: reads the calling thread's nice value.
            let nice = unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::getpriority(libc::PRIO_PROCESS, tid)
            };
            (ok, nice)
        })
        .join()
        .unwrap();
        assert!(lowered.0, "setpriority/ioprio_set failed");
        assert_eq!(lowered.1, 19);
        // SAFETY: as above, on this (another) thread.
        let here = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        };
        assert!(here < 19, "only the backup's own thread gives way");
    }
}
