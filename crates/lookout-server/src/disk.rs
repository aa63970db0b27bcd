//! Free disk space of the filesystem holding a path.

use std::path::Path;

/// Bytes available to unprivileged users on the filesystem of `path`.
#[allow(unsafe_code)]
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable
    // memory of the right type; statvfs only writes into it.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reports_space_for_tmp() {
        assert!(super::free_bytes(std::path::Path::new("/tmp")).unwrap() > 0);
        assert!(super::free_bytes(std::path::Path::new("/no/such/dir")).is_none());
    }
}
