//! Real Prometheus, promtool and Alertmanager on 127.0.0.1 for the tests.
//! A missing binary fails the test with what to install (CI installs them).
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of `name`, or a panic saying what to install.
pub fn bin(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
    {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{name}` is not installed: this test needs the real Prometheus tools. Install them with \
         `apt-get update && apt-get install -y --no-install-recommends prometheus prometheus-alertmanager` \
         (binaries promtool, prometheus, prometheus-alertmanager)"
    );
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `promtool` with `args`, returning (exit code, stdout + stderr).
pub fn promtool(args: &[&str], stdin: Option<&Path>) -> (i32, String) {
    let mut cmd = Command::new(bin("promtool"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(f) = stdin {
        cmd.stdin(std::fs::File::open(f).unwrap());
    }
    let out = cmd.output().expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A server process, killed (with a bounded wait) when dropped.
pub struct Server {
    pub name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Server {
    pub fn start(name: &'static str, program: &str, args: &[String], log: PathBuf) -> Server {
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin(program))
            .args(args)
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Server {
            name,
            child: Some(child),
            log,
        }
    }

    /// The server's output so far (for failure messages).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        let n = s.len();
        s[n.saturating_sub(4000)..].to_string()
    }

    /// Stops the server: SIGTERM, at most 5 s, then SIGKILL (at most 5 s more).
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = c.try_wait() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A blocking HTTP GET on loopback (no proxy), returning (status, body).
pub fn get(url: &str) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let c = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?;
        let r = c.get(url).send().await.ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    })
}

/// Polls `f` every 200 ms until it returns Some, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if t.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
