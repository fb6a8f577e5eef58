//! A real SMTP server per test: Python's `aiosmtpd` with its `Mailbox` handler,
//! which stores every message in a Maildir inside a temporary directory.
//!
//! ```ignore
//! let smtp = SmtpSink::start();
//! // configure the app with smtp.host() / smtp.port(), plain SMTP, no auth
//! let mails = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
//! let link = mails[0].links().into_iter().find(|l| l.contains("/activate/")).unwrap();
//! ```
//!
//! The Python interpreter is `$ROSTER_TEST_PYTHON`, else `python3`.

use super::free_port;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, PartType};
use tempfile::TempDir;

/// Runs aiosmtpd's command line (`python3 -m aiosmtpd ARGS`), plus a thread that exits
/// the server when its parent (the test process) is gone, so a killed test run leaves
/// no SMTP server behind.
const LAUNCHER: &str = r#"
import os, runpy, sys, threading, time
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
sys.argv = ["aiosmtpd"] + sys.argv[1:]
runpy.run_module("aiosmtpd", run_name="__main__", alter_sys=True)
"#;

/// aiosmtpd's Maildir handler, refusing (550) the recipients listed in a file the test
/// writes, as a real server refuses an unknown mailbox.
const HANDLER: &str = r#"
from aiosmtpd.handlers import Mailbox

class RefusingMailbox(Mailbox):
    def __init__(self, maildir, refused_file):
        super().__init__(maildir)
        self.refused_file = refused_file

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(args[0], args[1])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        try:
            with open(self.refused_file) as listed:
                refused = {line.strip().lower() for line in listed if line.strip()}
        except FileNotFoundError:
            refused = set()
        if address.lower() in refused:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

/// A running aiosmtpd. Killed when dropped.
pub struct SmtpSink {
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

impl SmtpSink {
    /// Starts the server on a free port and waits until it accepts connections.
    pub fn start() -> SmtpSink {
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("roster-smtp-")
                .tempdir()
                .expect("create a temporary directory for the SMTP sink");
            let port = free_port();
            match spawn(dir.path(), port) {
                Ok(child) => {
                    return SmtpSink {
                        dir,
                        port,
                        child: Some(child),
                    };
                }
                Err(error) => last_error = error,
            }
        }
        panic!("could not start aiosmtpd after 5 attempts; last error:\n{last_error}");
    }

    /// Stops the server (the mail server goes down); the messages received stay.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, keeping the Maildir.
    pub fn restart(&mut self) {
        self.stop();
        let mut last_error = String::new();
        for _attempt in 0..20 {
            match spawn(self.dir.path(), self.port) {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(error) => last_error = error,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "could not restart aiosmtpd on port {}: {last_error}",
            self.port
        );
    }

    /// From now on, answers 550 to RCPT TO `address`.
    pub fn refuse(&self, address: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("refused.txt"))
            .expect("open the refusal list");
        writeln!(file, "{address}").expect("write the refusal list");
    }

    /// When each message arrived (Unix seconds, from the Maildir names), in order.
    pub fn arrival_times(&self) -> Vec<f64> {
        self.message_files()
            .iter()
            .map(|path| {
                let (secs, _, micros, _) = arrival_key(path);
                secs as f64 + micros as f64 / 1e6
            })
            .collect()
    }

    /// `127.0.0.1`
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Maildir the messages are written to.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("maildir")
    }

    /// The messages received so far, in order of arrival.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.message_files()
            .iter()
            .map(|path| {
                let raw = std::fs::read(path)
                    .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
                ReceivedMail::parse(raw)
            })
            .collect()
    }

    /// Waits until at least `n` messages have arrived and returns all of them (in order
    /// of arrival). Panics with a clear message after `timeout`.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.message_files().len() >= n {
                return self.messages();
            }
            if Instant::now() >= deadline {
                let got = self.messages();
                let summary: Vec<String> = got
                    .iter()
                    .map(|m| format!("  to {:?}: {:?}", m.to, m.subject))
                    .collect();
                panic!(
                    "expected at least {n} mail(s) within {timeout:?}, got {}:\n{}",
                    got.len(),
                    summary.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for the first message (in order of arrival) whose recipients include
    /// `address` (case-insensitive). Panics after `timeout`.
    pub async fn wait_for_mail_to(&self, address: &str, timeout: Duration) -> ReceivedMail {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mail) = self.messages().into_iter().find(|mail| mail.is_to(address)) {
                return mail;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no mail to {address} within {timeout:?}; received {} other mail(s)",
                    self.message_files().len()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Deletes the messages received so far.
    pub fn clear(&self) {
        for path in self.message_files() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Files in `new/` (where the Mailbox handler delivers), sorted by arrival.
    fn message_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.maildir().join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_file())
            .collect();
        files.sort_by_key(|path| arrival_key(path));
        files
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Python's Maildir names a message `SECS.M<MICROS>P<PID>Q<COUNTER>.HOST`; the counter
/// grows by one per message within the server process, so it orders by arrival even
/// within one microsecond. (Plain name order is wrong: MICROS is not zero-padded.)
fn arrival_key(path: &Path) -> (u64, u64, u64, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parts = name.splitn(3, '.');
    let secs = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let middle = parts.next().unwrap_or_default();
    let number_after = |tag: char| -> u64 {
        middle
            .split_once(tag)
            .map(|(_, rest)| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(u64::MAX)
    };
    (secs, number_after('Q'), number_after('M'), name)
}

fn spawn(dir: &Path, port: u16) -> Result<Child, String> {
    let python = std::env::var("ROSTER_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let maildir = dir.join("maildir");
    let log_path = dir.join("aiosmtpd.log");
    let log = std::fs::File::create(&log_path)
        .unwrap_or_else(|error| panic!("create {}: {error}", log_path.display()));
    let log_err = log.try_clone().expect("clone the aiosmtpd log handle");
    std::fs::write(dir.join("roster_sink.py"), HANDLER)
        .unwrap_or_else(|error| panic!("write the sink's handler: {error}"));
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(LAUNCHER)
        // -d logs "Server is listening" once it has bound the port (see below).
        .args(["-n", "-u", "-d", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "roster_sink.RefusingMailbox"])
        .arg(&maildir)
        .arg(dir.join("refused.txt"))
        .env("PYTHONPATH", dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "run {python} (is python3 with aiosmtpd installed? pip install aiosmtpd): {error}"
            )
        });
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!("aiosmtpd exited with {status}:\n{log}"));
        }
        // Ready means this aiosmtpd bound the port and greets on it. Another process that
        // took the port first (another test's slapd or sink) would accept connections too,
        // so a connection alone proves nothing.
        let bound = std::fs::read_to_string(&log_path)
            .is_ok_and(|log| log.contains("Server is listening on"));
        if bound && greets_with_smtp(port) {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!(
                "aiosmtpd did not accept connections on port {port}:\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the server on `port` answers with an SMTP "220" greeting.
fn greets_with_smtp(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut stream) = TcpStream::connect_timeout(
        &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut greeting = [0u8; 3];
    stream.read_exact(&mut greeting).is_ok() && &greeting == b"220"
}

/// One received message, parsed with `mail-parser`.
#[derive(Clone)]
pub struct ReceivedMail {
    /// Envelope recipients (RCPT TO), lower-cased; the To/Cc header addresses if the
    /// envelope is unknown.
    pub to: Vec<String>,
    /// Address of the From header, e.g. `roster@example.org`.
    pub from: String,
    /// Display name of the From header, e.g. `Roster`.
    pub from_name: Option<String>,
    /// Envelope sender (MAIL FROM).
    pub envelope_from: String,
    /// Addresses of the To header, as written.
    pub header_to: Vec<String>,
    pub subject: String,
    /// The text/plain body part, decoded ("" if there is none).
    pub text: String,
    /// The text/html body part, decoded ("" if there is none).
    pub html: String,
    /// The message as stored (the sink adds X-Peer, X-MailFrom and X-RcptTo headers).
    pub raw: Vec<u8>,
}

impl std::fmt::Debug for ReceivedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedMail")
            .field("to", &self.to)
            .field("from", &self.from)
            .field("from_name", &self.from_name)
            .field("envelope_from", &self.envelope_from)
            .field("header_to", &self.header_to)
            .field("subject", &self.subject)
            .field("text", &self.text)
            .field("html", &self.html)
            .field("raw", &format_args!("<{} bytes>", self.raw.len()))
            .finish()
    }
}

impl ReceivedMail {
    /// Parses a message as stored by the sink (or any RFC 5322 message).
    pub fn parse(raw: Vec<u8>) -> ReceivedMail {
        let message = MessageParser::default()
            .parse(&raw)
            .expect("mail-parser could not parse a received message");
        let header_text = |name: &str| -> Option<String> {
            message
                .header_raw(name)
                .map(|value| value.trim().to_owned())
        };
        let header_to: Vec<String> = message
            .to()
            .map(|address| {
                address
                    .iter()
                    .filter_map(|addr| addr.address().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let cc: Vec<String> = message
            .cc()
            .map(|address| {
                address
                    .iter()
                    .filter_map(|addr| addr.address().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let envelope_to: Vec<String> = header_text("X-RcptTo")
            .map(|value| {
                value
                    .split(',')
                    .map(|addr| addr.trim().to_lowercase())
                    .filter(|addr| !addr.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let to = if envelope_to.is_empty() {
            header_to
                .iter()
                .chain(cc.iter())
                .map(|a| a.to_lowercase())
                .collect()
        } else {
            envelope_to
        };
        let from_addr = message.from().and_then(|address| address.first());
        let from = from_addr
            .and_then(|addr| addr.address())
            .unwrap_or_default()
            .to_owned();
        let from_name = from_addr.and_then(|addr| addr.name()).map(str::to_owned);
        let text = match message.text_part(0).map(|part| &part.body) {
            Some(PartType::Text(text)) => text.to_string(),
            _ => String::new(),
        };
        let html = match message.html_part(0).map(|part| &part.body) {
            Some(PartType::Html(html)) => html.to_string(),
            _ => String::new(),
        };
        ReceivedMail {
            to,
            from,
            from_name,
            envelope_from: header_text("X-MailFrom").unwrap_or_default(),
            header_to,
            subject: message.subject().unwrap_or_default().to_owned(),
            text,
            html,
            raw: raw.clone(),
        }
    }

    /// Whether `address` is among the recipients (case-insensitive).
    pub fn is_to(&self, address: &str) -> bool {
        let address = address.to_lowercase();
        self.to.contains(&address)
    }

    /// The http(s) URLs in the text part, in order, without trailing punctuation.
    pub fn links(&self) -> Vec<String> {
        extract_links(&self.text)
    }

    /// The http(s) URLs in the HTML part's `href` attributes, in order.
    pub fn html_links(&self) -> Vec<String> {
        let mut links = Vec::new();
        let mut rest = self.html.as_str();
        while let Some(i) = rest.find("href=") {
            rest = &rest[i + 5..];
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
            let value = match quote {
                Some(q) => {
                    let body = &rest[1..];
                    &body[..body.find(q).unwrap_or(body.len())]
                }
                None => {
                    &rest[..rest
                        .find(|c: char| c.is_whitespace() || c == '>')
                        .unwrap_or(rest.len())]
                }
            };
            let value = value.replace("&amp;", "&");
            if value.starts_with("http://") || value.starts_with("https://") {
                links.push(value);
            }
        }
        links
    }
}

/// http(s) URLs in free text. A URL ends at whitespace, a quote or angle bracket;
/// trailing `.,;:!?` and an unbalanced `)` are not part of it.
pub fn extract_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    loop {
        let next = ["http://", "https://"]
            .iter()
            .filter_map(|scheme| rest.find(scheme))
            .min();
        let Some(start) = next else { break };
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
            .unwrap_or(candidate.len());
        let mut url = &candidate[..end];
        loop {
            let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?']);
            let trimmed = if trimmed.ends_with(')')
                && trimmed.matches(')').count() > trimmed.matches('(').count()
            {
                &trimmed[..trimmed.len() - 1]
            } else {
                trimmed
            };
            if trimmed.len() == url.len() {
                break;
            }
            url = trimmed;
        }
        if url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty())
        {
            links.push(url.to_owned());
        }
        rest = &candidate[end..];
    }
    links
}
