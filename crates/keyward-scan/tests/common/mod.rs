//! The AWS emulator moto, started once per test, and a recording proxy in
//! front of it that responds to the calls moto lacks and injects faults.

#![allow(dead_code, reason = "each test file uses a part")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A moto server on a free loopback port, stopped when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
}

/// Path of `moto_server`: `KEYWARD_TEST_MOTO_SERVER`, which `scripts/test`
/// sets, or the project's `.venv`.
fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("KEYWARD_TEST_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = workspace.join(".venv/bin/moto_server");
    assert!(
        path.exists(),
        "moto_server not found: run scripts/test, which installs it into .venv"
    );
    path
}

impl Moto {
    pub fn start() -> Self {
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(moto_server())
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("failed to start moto_server");
            let mut moto = Self {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            if moto.wait_until_ready(port) {
                return moto;
            }
        }
        panic!("moto_server did not start on three ports");
    }

    fn wait_until_ready(&mut self, port: u16) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One request that reached the proxy.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Service of the SigV4 credential scope, such as `kms`.
    pub service: String,
    /// Region of the SigV4 credential scope.
    pub region: String,
    /// Access key id of the signature.
    pub access_key: String,
    /// Operation: the `X-Amz-Target` suffix, the `Action` form field, or
    /// the path for REST calls.
    pub operation: String,
    pub body: String,
}

/// What the proxy does with a request.
pub enum Action {
    /// Pass it to moto.
    Forward,
    /// Close the connection without a response, as a failing network does.
    Drop,
    /// Respond with this status and JSON or XML body.
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
    },
}

impl Action {
    /// Builds an AWS JSON error response.
    pub fn json_error(status: u16, code: &str, message: &str) -> Self {
        Self::Respond {
            status,
            content_type: "application/x-amz-json-1.1",
            body: format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        }
    }

    /// Builds an AWS query-protocol (STS) error response.
    pub fn xml_error(status: u16, code: &str, message: &str) -> Self {
        Self::Respond {
            status,
            content_type: "text/xml",
            body: format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
                 <Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
            ),
        }
    }
}

type Rule = dyn Fn(&Request) -> Action + Send + Sync;

/// A recording HTTP proxy in front of moto. Each connection carries one
/// request, as moto's own server answers with `Connection: close`.
pub struct Proxy {
    pub endpoint: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Proxy {
    /// Starts a proxy to `upstream` that applies `rule` to every request.
    pub fn start(
        upstream: &str,
        rule: impl Fn(&Request) -> Action + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let rule: Arc<Rule> = Arc::new(rule);
        {
            let requests = requests.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let rule = rule.clone();
                    let requests = requests.clone();
                    let upstream = upstream.clone();
                    std::thread::spawn(move || {
                        let _ = serve(stream, &upstream, &*rule, &requests);
                    });
                }
            });
        }
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            requests,
            stop,
            port,
        }
    }

    /// Returns the requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it reads the stop flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    stream: TcpStream,
    upstream: &str,
    rule: &Rule,
    requests: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head_lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        head_lines.push(line);
    }
    let header = |name: &str| -> Option<String> {
        head_lines.iter().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body_text = String::from_utf8_lossy(&body).into_owned();
    let mut parts = head_lines[0].split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();

    let authorization = header("authorization").unwrap_or_default();
    let scope: Vec<&str> = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .map(|credential| credential.split('/').collect())
        .unwrap_or_default();
    let operation = header("x-amz-target")
        .and_then(|target| target.rsplit('.').next().map(str::to_owned))
        .or_else(|| form_field(&body_text, "Action"))
        .unwrap_or_else(|| path.clone());
    let request = Request {
        method,
        path,
        access_key: scope.first().copied().unwrap_or_default().to_owned(),
        region: scope.get(2).copied().unwrap_or_default().to_owned(),
        service: scope.get(3).copied().unwrap_or_default().to_owned(),
        operation,
        body: body_text,
    };
    requests.lock().unwrap().push(request.clone());

    let mut client = stream;
    match rule(&request) {
        Action::Drop => {}
        Action::Respond {
            status,
            content_type,
            body,
        } => {
            write!(
                client,
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 x-amzn-RequestId: proxy\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
        }
        Action::Forward => {
            let mut upstream = TcpStream::connect(upstream)?;
            for (index, line) in head_lines.iter().enumerate() {
                if index > 0 && line.to_ascii_lowercase().starts_with("connection:") {
                    continue;
                }
                write!(upstream, "{line}\r\n")?;
            }
            write!(upstream, "Connection: close\r\n\r\n")?;
            upstream.write_all(&body)?;
            let mut answer = Vec::new();
            upstream.read_to_end(&mut answer)?;
            client.write_all(&answer)?;
        }
    }
    client.flush()?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// Returns a field of a URL-encoded form body.
pub fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        index += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A counter for rules that fault a share of calls.
#[derive(Default)]
pub struct Every {
    count: AtomicU64,
}

impl Every {
    /// True for one call in `n`.
    pub fn nth(&self, n: u64) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed) % n == n - 1
    }
}

/// Makes a self-signed certificate and its key with the `cryptography`
/// package that moto's environment carries: `key` is `rsa-BITS` or
/// `ec-CURVE`, and the certificate ends `seconds` seconds from now.
pub fn make_certificate(key: &str, seconds: i64, name: &str) -> (String, String) {
    let python = moto_server().with_file_name("python");
    let script = r#"
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
kind, size = sys.argv[1].split("-")
key = rsa.generate_private_key(65537, int(size)) if kind == "rsa" else ec.generate_private_key(getattr(ec, size.upper())())
now = datetime.datetime.now(datetime.timezone.utc)
end = now + datetime.timedelta(seconds=int(sys.argv[2]))
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sys.argv[3])])
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(min(now, end) - datetime.timedelta(days=30)).not_valid_after(end)
        .sign(key, hashes.SHA256()))
sys.stdout.write(cert.public_bytes(serialization.Encoding.PEM).decode())
sys.stdout.write("\n--\n")
sys.stdout.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())
"#;
    let output = Command::new(python)
        .args(["-c", script, key, &seconds.to_string(), name])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let (certificate, private_key) = text.split_once("\n--\n").unwrap();
    (certificate.to_owned(), private_key.to_owned())
}
