//! A small WebDriver client for the browser tests: Debian's chromedriver
//! on a free loopback port, driving a headless Chromium with a fresh
//! profile, over plain HTTP/1.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// Flags of every Chromium that the tests start.
pub const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,2200",
];

/// Finds a program by its environment variable, or by name on `PATH`.
fn program(variable: &str, names: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for directory in std::env::split_paths(&path) {
        for name in names {
            let candidate = directory.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "{} not found: run scripts/test, which installs Debian's chromium and \
         chromium-driver, or set {variable}",
        names[0]
    );
}

/// Path of the Chromium binary: `KEYWARD_TEST_CHROMIUM` or `chromium`.
pub fn chromium() -> PathBuf {
    program("KEYWARD_TEST_CHROMIUM", &["chromium", "chromium-browser"])
}

/// A chromedriver process, stopped when dropped.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits until it is
    /// ready.
    pub fn start() -> Self {
        let binary = program("KEYWARD_TEST_CHROMEDRIVER", &["chromedriver"]);
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to start chromedriver");
        let driver = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok((200, body)) = request(port, "GET", "/status", None)
                && body["value"]["ready"] == true
            {
                return driver;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("chromedriver did not become ready on port {port}");
    }

    /// Opens a headless Chromium with a fresh profile in `profile`, and
    /// the extra flags.
    pub fn session(&self, profile: &Path, extra_flags: &[&str]) -> Session {
        let mut flags: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        flags.push(format!("--user-data-dir={}", profile.display()));
        flags.extend(extra_flags.iter().map(|f| (*f).to_owned()));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium(),
                        "args": flags,
                    },
                    "goog:loggingPrefs": { "browser": "ALL" },
                }
            }
        });
        let (status, body) = request(self.port, "POST", "/session", Some(&capabilities))
            .expect("chromedriver did not respond to a new session");
        assert_eq!(status, 200, "failed to start Chromium: {body}");
        let id = body["value"]["sessionId"].as_str().unwrap().to_owned();
        Session {
            port: self.port,
            id,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser session, closed when dropped.
pub struct Session {
    port: u16,
    id: String,
}

impl Session {
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let full = format!("/session/{}{path}", self.id);
        let (status, response) = request(self.port, method, &full, body)
            .unwrap_or_else(|error| panic!("{method} {path} failed: {error}"));
        assert_eq!(status, 200, "{method} {path}: {response}");
        response["value"].clone()
    }

    /// Navigates to a URL and waits for the load event.
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Turns the browser's network off: every request fails.
    pub fn set_offline(&self) {
        let conditions = json!({
            "network_conditions": {
                "offline": true,
                "latency": 0,
                "download_throughput": 0,
                "upload_throughput": 0,
            }
        });
        self.command("POST", "/chromium/network_conditions", Some(&conditions));
    }

    /// Runs a script in the page and returns its result.
    pub fn execute(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Waits until the page script marks the page as loaded, and returns
    /// its mark: `true`, or `error` with the message shown.
    pub fn wait_until_ready(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self.execute("return document.body && document.body.dataset.ready || null");
            if let Some(state) = state.as_str() {
                return state.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "page {} did not finish loading",
                self.execute("return location.href")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Returns the entries of the browser console since the last call.
    pub fn console(&self) -> Vec<Value> {
        let value = self.command("POST", "/se/log", Some(&json!({ "type": "browser" })));
        value.as_array().cloned().unwrap_or_default()
    }

    /// Saves a PNG screenshot of the window.
    pub fn screenshot(&self, path: &Path) {
        let value = self.command("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap())
            .unwrap();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Clicks the first element that matches a CSS selector.
    pub fn click(&self, selector: &str) {
        let found = self.command(
            "POST",
            "/element",
            Some(&json!({ "using": "css selector", "value": selector })),
        );
        let element = found
            .as_object()
            .and_then(|object| object.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element matches {selector}"))
            .to_owned();
        self.command(
            "POST",
            &format!("/element/{element}/click"),
            Some(&json!({})),
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.id);
        let _ = request(self.port, "DELETE", &path, None);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Sends one HTTP/1.1 request to chromedriver and returns the status and
/// JSON body. chromedriver keeps connections open, so the body is read by
/// its `Content-Length`.
fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    )?;

    let mut received = Vec::new();
    let mut buffer = [0u8; 65_536];
    let header_end = loop {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Err(std::io::Error::other(
                "connection closed before the headers",
            ));
        }
        received.extend_from_slice(&buffer[..read]);
        if let Some(end) = find(&received, b"\r\n\r\n") {
            break end + 4;
        }
    };

    let head = String::from_utf8_lossy(&received[..header_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == "content-length").then(|| value.trim().parse::<usize>().ok())?
    });
    let Some(length) = length else {
        return Err(std::io::Error::other("response without Content-Length"));
    };

    while received.len() < header_end + length {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..read]);
    }
    let body = &received[header_end..(header_end + length).min(received.len())];
    Ok((status, serde_json::from_slice(body).unwrap_or(Value::Null)))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
