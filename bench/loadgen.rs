//! Constant-rate (open-loop) HTTP/1.1 POST load generator for the ingest latency benchmark.
//!
//! Standard library only, so it builds with a bare `rustc -O bench/loadgen.rs` in a second
//! (bench/ingest.sh does that into bench/.work/). wrk2 is not packaged for Debian, and plain wrk
//! measures latency closed-loop (it under-reports latency once the server falls behind).
//!
//! Model (as wrk2): C connections, each on its own thread; the n-th request of the run is due at
//! `start + n / rate` and connection `n % C` sends it. Latency is measured from the time the
//! request was *due*, not from when it was actually sent, so a server that falls behind is charged
//! for the queueing it causes (no coordinated omission). A connection that the server closes
//! (`Connection: close`, e.g. gunicorn's sync workers) is reopened for the next request, and the
//! reconnect time counts in that request's latency.
//!
//! The body is read from a template file; every occurrence of the 32-character marker
//! `EVENTID_EVENTID_EVENTID_EVENTID_` is replaced by a fresh 32-hex event id per request (same
//! length, so the envelope's item `length` stays right).
//!
//! Bounded: stops sending at `--duration` seconds (wall clock) and after `rate * duration`
//! requests, whichever first; every socket has a read/write timeout.
//!
//! Output: one JSON object on stdout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MARKER: &str = "EVENTID_EVENTID_EVENTID_EVENTID_";

#[derive(Clone)]
struct Args {
    addr: String,
    path: String,
    headers: Vec<String>,
    template: String,
    rate: f64,
    duration: f64,
    connections: usize,
    warmup: f64,
    timeout: f64,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --addr HOST:PORT --path /api/1/envelope/ --template FILE --rate N --duration SECS \
         [--connections 16] [--warmup SECS] [--timeout SECS] [--header 'Name: value']..."
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: String::new(),
        path: String::new(),
        headers: Vec::new(),
        template: String::new(),
        rate: 0.0,
        duration: 0.0,
        connections: 16,
        warmup: 0.0,
        timeout: 10.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => a.addr = val(),
            "--path" => a.path = val(),
            "--header" => a.headers.push(val()),
            "--template" => a.template = val(),
            "--rate" => a.rate = val().parse().unwrap_or_else(|_| usage()),
            "--duration" => a.duration = val().parse().unwrap_or_else(|_| usage()),
            "--connections" => a.connections = val().parse().unwrap_or_else(|_| usage()),
            "--warmup" => a.warmup = val().parse().unwrap_or_else(|_| usage()),
            "--timeout" => a.timeout = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if a.addr.is_empty() || a.path.is_empty() || a.template.is_empty() || a.rate <= 0.0 || a.duration <= 0.0
        || a.connections == 0 || a.duration > 3600.0
    {
        usage();
    }
    a
}

/// xorshift64*: plenty for unique-enough ids.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[derive(Default)]
struct Outcome {
    latencies_us: Vec<u64>, // 2xx answers to requests sent after the warm-up, measured from their due time
    ok: u64,
    non2xx: u64,
    errors: u64,
    sent: u64,
    reconnects: u64,
    statuses: Vec<(u16, u64)>,
    last_done: Option<Instant>,
    per_second_max_us: Vec<u64>, // by the second the request was sent in: worst latency (2xx)
}

impl Outcome {
    fn count_status(&mut self, s: u16) {
        match self.statuses.iter_mut().find(|(k, _)| *k == s) {
            Some((_, n)) => *n += 1,
            None => self.statuses.push((s, 1)),
        }
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

fn connect(addr: &str, timeout: Duration) -> std::io::Result<Conn> {
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let w = s.try_clone()?;
    Ok(Conn { reader: BufReader::with_capacity(16 * 1024, s), writer: w })
}

/// Reads one response; returns (status, keep_alive).
fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<(u16, bool)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(bad("connection closed before the status line"));
    }
    let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("status line"))?;
    let http10 = line.starts_with("HTTP/1.0");
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut close = http10;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(bad("connection closed in the headers"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim().to_ascii_lowercase();
            match k.as_str() {
                "content-length" => content_length = v.parse().ok(),
                "transfer-encoding" => chunked = v.contains("chunked"),
                "connection" => {
                    if v.contains("close") {
                        close = true
                    } else if v.contains("keep-alive") {
                        close = false
                    }
                }
                _ => {}
            }
        }
    }
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16).map_err(|_| bad("chunk size"))?;
            let mut buf = vec![0u8; size + 2];
            r.read_exact(&mut buf)?;
            if size == 0 {
                break; // (trailers are not expected)
            }
        }
    } else if let Some(n) = content_length {
        let mut buf = vec![0u8; n];
        r.read_exact(&mut buf)?;
    } else if close {
        let mut sink = Vec::new();
        r.read_to_end(&mut sink)?;
    }
    Ok((status, !close))
}

fn run_connection(idx: usize, args: Args, parts: Vec<Vec<u8>>, start: Instant, nonce: u32) -> Outcome {
    let timeout = Duration::from_secs_f64(args.timeout);
    let total = (args.rate * args.duration).ceil() as u64;
    let c = args.connections as u64;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((nonce as u64) << 20) ^ (idx as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut out = Outcome::default();
    let mut conn: Option<Conn> = None;
    let body_len = parts.iter().map(|p| p.len()).sum::<usize>() + 32 * (parts.len() - 1);
    let mut head = format!("POST {} HTTP/1.1\r\nHost: {}\r\n", args.path, args.addr);
    for h in &args.headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {body_len}\r\n\r\n"));
    let mut req: Vec<u8> = Vec::with_capacity(head.len() + body_len);
    let mut counter: u32 = 0;

    let mut n = idx as u64;
    while n < total {
        let due = Duration::from_secs_f64(n as f64 / args.rate);
        // Stop at the end of the schedule, and also at the wall-clock end of the run: a server that
        // fell behind does not get the rest of the schedule sent late (wrk2 does the same); the
        // shortfall shows as `sent` < `scheduled` and a lower achieved rate.
        if due.as_secs_f64() >= args.duration || start.elapsed().as_secs_f64() >= args.duration {
            break;
        }
        let now = start.elapsed();
        if due > now {
            std::thread::sleep(due - now);
        }
        counter = counter.wrapping_add(1);
        let id = format!("{:08x}{:04x}{:08x}{:012x}", nonce, idx as u16, counter, rng.next() & 0xffff_ffff_ffff);
        req.clear();
        req.extend_from_slice(head.as_bytes());
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                req.extend_from_slice(id.as_bytes());
            }
            req.extend_from_slice(p);
        }

        out.sent += 1;
        let sent_at = start.elapsed();
        let result = (|| -> std::io::Result<(u16, bool)> {
            if conn.is_none() {
                conn = Some(connect(&args.addr, timeout)?);
                out.reconnects += 1;
            }
            let cn = conn.as_mut().expect("connected");
            cn.writer.write_all(&req)?;
            read_response(&mut cn.reader)
        })();
        let done = start.elapsed();
        match result {
            Ok((status, keep_alive)) => {
                out.count_status(status);
                if (200..300).contains(&status) {
                    out.ok += 1;
                    // Warm-up: leave out requests *sent* in the first `warmup` seconds (for a server
                    // that keeps up this is the same as "due in the first seconds"; for one that
                    // fell behind, the late requests still count, with their queueing time).
                    let lat = done.saturating_sub(due).as_micros() as u64;
                    if sent_at.as_secs_f64() >= args.warmup {
                        out.latencies_us.push(lat);
                    }
                    let sec = sent_at.as_secs() as usize;
                    if out.per_second_max_us.len() <= sec {
                        out.per_second_max_us.resize(sec + 1, 0);
                    }
                    out.per_second_max_us[sec] = out.per_second_max_us[sec].max(lat);
                } else {
                    out.non2xx += 1;
                }
                if !keep_alive {
                    conn = None;
                }
            }
            Err(_) => {
                out.errors += 1;
                conn = None;
            }
        }
        out.last_done = Some(Instant::now());
        n += c;
    }
    out
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // nearest rank
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1] as f64 / 1000.0
}

fn main() {
    let args = parse_args();
    let tmpl = std::fs::read(&args.template).unwrap_or_else(|e| {
        eprintln!("loadgen: cannot read {}: {e}", args.template);
        std::process::exit(2)
    });
    let text = String::from_utf8(tmpl).expect("template is UTF-8");
    let parts: Vec<Vec<u8>> = text.split(MARKER).map(|s| s.as_bytes().to_vec()).collect();
    if parts.len() < 2 {
        eprintln!("loadgen: the template has no {MARKER} marker");
        std::process::exit(2);
    }
    let nonce = (SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0) & 0xffff_ffff) as u32;
    let start = Instant::now() + Duration::from_millis(50);
    let handles: Vec<_> = (0..args.connections)
        .map(|i| {
            let a = args.clone();
            let p = parts.clone();
            std::thread::spawn(move || {
                let now = Instant::now();
                if start > now {
                    std::thread::sleep(start - now);
                }
                run_connection(i, a, p, start, nonce)
            })
        })
        .collect();
    let mut all = Outcome::default();
    for h in handles {
        let o = h.join().expect("worker thread");
        all.latencies_us.extend(o.latencies_us);
        all.ok += o.ok;
        all.non2xx += o.non2xx;
        all.errors += o.errors;
        all.sent += o.sent;
        all.reconnects += o.reconnects;
        for (s, n) in o.statuses {
            match all.statuses.iter_mut().find(|(k, _)| *k == s) {
                Some((_, m)) => *m += n,
                None => all.statuses.push((s, n)),
            }
        }
        if all.per_second_max_us.len() < o.per_second_max_us.len() {
            all.per_second_max_us.resize(o.per_second_max_us.len(), 0);
        }
        for (i, v) in o.per_second_max_us.iter().enumerate() {
            all.per_second_max_us[i] = all.per_second_max_us[i].max(*v);
        }
        all.last_done = match (all.last_done, o.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let elapsed = all.last_done.map(|t| t.duration_since(start).as_secs_f64()).unwrap_or(args.duration);
    let mut lat = all.latencies_us;
    lat.sort_unstable();
    let mean = if lat.is_empty() { f64::NAN } else { lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1000.0 };
    let statuses: Vec<String> = all.statuses.iter().map(|(s, n)| format!("\"{s}\": {n}")).collect();
    let num = |x: f64| if x.is_finite() { format!("{x:.3}") } else { "null".to_string() };
    println!(
        "{{\"target_rate\": {}, \"duration_s\": {}, \"scheduled\": {}, \"connections\": {}, \"warmup_s\": {}, \"sent\": {}, \"ok\": {}, \
         \"non2xx\": {}, \"errors\": {}, \"connects\": {}, \"elapsed_s\": {:.3}, \"achieved_ok_rate\": {:.1}, \
         \"latency_samples\": {}, \"latency_ms\": {{\"mean\": {}, \"p50\": {}, \"p90\": {}, \"p99\": {}, \"p999\": {}, \"max\": {}}}, \
         \"statuses\": {{{}}}, \"per_second_max_ms\": [{}]}}",
        args.rate,
        args.duration,
        (args.rate * args.duration).ceil() as u64,
        args.connections,
        args.warmup,
        all.sent,
        all.ok,
        all.non2xx,
        all.errors,
        all.reconnects,
        elapsed,
        all.ok as f64 / elapsed.max(1e-9),
        lat.len(),
        num(mean),
        num(pct(&lat, 50.0)),
        num(pct(&lat, 90.0)),
        num(pct(&lat, 99.0)),
        num(pct(&lat, 99.9)),
        num(lat.last().map(|&x| x as f64 / 1000.0).unwrap_or(f64::NAN)),
        statuses.join(", "),
        all.per_second_max_us.iter().map(|v| format!("{:.1}", *v as f64 / 1000.0)).collect::<Vec<_>>().join(", ")
    );
}
