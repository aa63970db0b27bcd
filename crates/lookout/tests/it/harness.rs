//! Starts the real `lookout` binary on port 0 with a temporary data dir,
//! and runs its CLI, for the integration tests.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lookout")
}

/// A `lookout` command with a clean environment (no stray LOOKOUT_* vars)
/// and the given data dir.
pub fn cmd(data_dir: &Path) -> Command {
    let mut c = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("LOOKOUT_") {
            c.env_remove(k);
        }
    }
    c.arg("--data-dir").arg(data_dir);
    match data_dir.parent().filter(|p| p.is_dir()) {
        Some(parent) => c.current_dir(parent),
        None => c.current_dir(std::env::temp_dir()),
    };
    c
}

/// Runs a CLI command to completion with optional stdin.
pub fn run(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = cmd(data_dir);
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn lookout");
    {
        use std::io::Write;
        let mut si = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            si.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().expect("wait lookout")
}

/// Runs a CLI command that must succeed; returns stdout.
pub fn run_ok(data_dir: &Path, args: &[&str]) -> String {
    let out = run(data_dir, args, None);
    assert!(
        out.status.success(),
        "lookout {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A running server.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts a server in a fresh temporary data dir.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let mut s = Server::start_in(&dir, &[]);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server on `dir` with extra environment variables.
    pub fn start_in(dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_with(dir, &[], env)
    }

    /// Starts a server on `dir` with extra `serve` flags and environment.
    pub fn start_with(dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> Server {
        let mut c = cmd(dir);
        c.args(["serve", "--listen", "127.0.0.1:0"])
            .args(flags)
            .env("LOOKOUT_LOG__FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn lookout serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let mut err = child.stderr.take().unwrap();
            let buf = stderr.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = err.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut b) = buf.lock() {
                        b.push_str(&String::from_utf8_lossy(&chunk[..n]));
                    }
                }
            });
        }
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(addr) = line.strip_prefix("Lookout listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                let err = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                panic!("server did not start: {err}");
            }
        };
        Server {
            child,
            base,
            dir: dir.to_path_buf(),
            _tmp: None,
            stderr,
        }
    }

    /// The server's standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// `GET path`, returning status and body (never panics on HTTP errors).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&format!("{}{}", self.base, path), &[])
    }

    /// Sends a signal to the server.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Stops the server with SIGTERM and checks that it exits cleanly.
    pub fn stop(mut self) {
        self.signal("TERM");
        assert_eq!(
            self.wait_exit(Duration::from_secs(15)),
            Some(0),
            "{}",
            self.stderr()
        );
    }

    /// Waits for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP agent that reports error statuses as values.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `GET url` with headers; returns (status, body).
pub fn http_get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().expect("http request");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (status, body)
}
