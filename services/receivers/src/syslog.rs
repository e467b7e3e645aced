//! Syslog: one message (a UDP datagram or a TCP frame) into a [`RawLog`],
//! and the TCP framing of RFC 6587.
//!
//! Both wire formats are read, told apart by the version after `<PRI>`:
//! - RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`,
//!   `-` for an absent field, structured data `[id k="v"...]` with the
//!   escapes `\"`, `\\`, `\]`, an optional UTF-8 BOM before MSG;
//! - RFC 3164 / BSD: `<PRI>Mmm dd hh:mm:ss [HOSTNAME] TAG[PID]: MSG`, with or
//!   without the hostname (`logger` to a local socket leaves it out). The
//!   timestamp has no year and no zone: it is taken as UTC in the latest
//!   year that puts it at most 31 days after the receive time (a December
//!   message received on 1 January belongs to the year before, a 1 January
//!   message received on 31 December to the next). An RFC 3339 timestamp in its
//!   place (rsyslog's forwarding format) is read too.
//!
//! Mapping: APP-NAME / TAG to `service_name` ([`UNKNOWN_SERVICE`] when
//! absent), severity (PRI % 8) to `level` (0-3 ERROR, 4 WARN, 5-6 INFO,
//! 7 DEBUG), HOSTNAME to `host`, the timestamp (absent: the receive time),
//! MSG to `message` (absent or empty: [`EMPTY_MESSAGE`]); attributes
//! `syslog.facility` and `syslog.severity` (names), `syslog.procid`,
//! `syslog.msgid`, and `<SD-ID>.<PARAM-NAME>` per structured-data parameter
//! (a parameter given twice keeps every value, as a JSON array). Invalid
//! UTF-8 is replaced by U+FFFD rather than refused.
//!
//! No clock here: the receive time is an argument.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use loglens_core::timestamp::TimestampInput;
use loglens_core::{Error, RawLog};
use serde_json::{Map, Value};

/// Longest message (datagram or TCP frame) read, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// `service_name` of a message without APP-NAME or TAG (OpenTelemetry's
/// name for it).
pub const UNKNOWN_SERVICE: &str = "unknown_service";
/// `message` of a message without MSG (syslog's NILVALUE).
pub const EMPTY_MESSAGE: &str = "-";

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] =
    ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];
const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The `level` of a syslog severity (0-7).
pub fn level(severity: u8) -> &'static str {
    match severity {
        0..=3 => "ERROR",
        4 => "WARN",
        5 | 6 => "INFO",
        _ => "DEBUG",
    }
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("syslog", message)
}

/// Decodes one syslog message received at `now_ms` (UTC ms). Trailing
/// newlines, carriage returns and NULs are ignored.
pub fn decode(bytes: &[u8], now_ms: i64) -> loglens_core::Result<RawLog> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(bad(format!(
            "syslog message must be at most {MAX_MESSAGE_BYTES} bytes, got {}",
            bytes.len()
        )));
    }
    let end = bytes.iter().rposition(|b| !matches!(b, b'\n' | b'\r' | 0)).map_or(0, |i| i + 1);
    let line = String::from_utf8_lossy(&bytes[..end]);
    let (pri, rest) = pri(&line)?;
    let (facility, severity) = (pri / 8, pri % 8);
    let mut attrs = Map::new();
    attrs.insert("syslog.facility".into(), FACILITIES[usize::from(facility)].into());
    attrs.insert("syslog.severity".into(), SEVERITIES[usize::from(severity)].into());
    let mut raw = RawLog { level: Some(level(severity).into()), ..RawLog::default() };
    match rest.strip_prefix("1 ") {
        Some(rest) => rfc5424(rest, &mut raw, &mut attrs)?,
        None => rfc3164(rest, now_ms, &mut raw, &mut attrs),
    }
    if raw.service_name.is_none() {
        raw.service_name = Some(UNKNOWN_SERVICE.into());
    }
    if raw.message.as_deref().is_none_or(|m| m.trim().is_empty()) {
        raw.message = Some(EMPTY_MESSAGE.into());
    }
    raw.attributes = Some(attrs);
    Ok(raw)
}

/// `<PRI>` and what follows it.
fn pri(line: &str) -> loglens_core::Result<(u8, &str)> {
    let shown = || line.chars().take(40).collect::<String>();
    let inner = line.strip_prefix('<').and_then(|r| r.split_once('>'));
    let Some((digits, rest)) = inner else {
        return Err(bad(format!(
            "a syslog message must start with <PRI> (e.g. <134>), got {:?}",
            shown()
        )));
    };
    match digits.parse::<u8>() {
        Ok(p)
            if (1..=3).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && p <= 191 =>
        {
            Ok((p, rest))
        }
        _ => Err(bad(format!(
            "syslog PRI must be 0-191, got <{}>",
            digits.chars().take(8).collect::<String>()
        ))),
    }
}

/// Splits off the next space-separated field.
fn field(s: &str) -> (&str, &str) {
    s.split_once(' ').unwrap_or((s, ""))
}

fn nil(s: &str) -> Option<String> {
    (s != "-" && !s.is_empty()).then(|| s.to_owned())
}

fn rfc5424(
    rest: &str,
    raw: &mut RawLog,
    attrs: &mut Map<String, Value>,
) -> loglens_core::Result<()> {
    let (timestamp, rest) = field(rest);
    let (hostname, rest) = field(rest);
    let (app, rest) = field(rest);
    let (procid, rest) = field(rest);
    let (msgid, rest) = field(rest);
    if timestamp.is_empty()
        || hostname.is_empty()
        || app.is_empty()
        || procid.is_empty()
        || msgid.is_empty()
    {
        return Err(bad(
            "an RFC 5424 message needs TIMESTAMP HOSTNAME APP-NAME PROCID MSGID (\"-\" when absent)",
        ));
    }
    raw.timestamp = nil(timestamp).map(TimestampInput::Text);
    raw.host = nil(hostname);
    raw.service_name = nil(app);
    if let Some(p) = nil(procid) {
        attrs.insert("syslog.procid".into(), p.into());
    }
    if let Some(m) = nil(msgid) {
        attrs.insert("syslog.msgid".into(), m.into());
    }
    let msg = match rest.strip_prefix('-') {
        Some(msg) if msg.is_empty() || msg.starts_with(' ') => msg,
        _ if rest.starts_with('[') => structured_data(rest, attrs)?,
        _ => {
            return Err(bad(format!(
                "RFC 5424 structured data must be \"-\" or [ID NAME=\"VALUE\"...], got {:?}",
                rest.chars().take(40).collect::<String>()
            )));
        }
    };
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    raw.message = Some(msg.to_owned());
    Ok(())
}

/// Reads `[ID NAME="VALUE"...]...` into attributes; returns what follows.
fn structured_data<'a>(
    mut s: &'a str,
    attrs: &mut Map<String, Value>,
) -> loglens_core::Result<&'a str> {
    let malformed = |why: &str| bad(format!("malformed RFC 5424 structured data: {why}"));
    let name_end = |s: &str| s.find([' ', '=', ']', '"']).unwrap_or(s.len());
    while let Some(body) = s.strip_prefix('[') {
        let n = name_end(body);
        let id = &body[..n];
        if id.is_empty() {
            return Err(malformed("an element has no SD-ID"));
        }
        let mut r = &body[n..];
        loop {
            if let Some(after) = r.strip_prefix(']') {
                r = after;
                break;
            }
            let Some(p) = r.strip_prefix(' ') else {
                return Err(malformed(&format!("element {id:?} is not closed by ]")));
            };
            let n = name_end(p);
            let name = &p[..n];
            let Some(v) = p[n..].strip_prefix("=\"").filter(|_| !name.is_empty()) else {
                return Err(malformed(&format!("element {id:?} needs NAME=\"VALUE\" parameters")));
            };
            let unclosed = || malformed(&format!("value of {id}.{name} is not closed by \""));
            // Copied a run at a time up to the next quote or backslash.
            let mut value = String::new();
            let mut v = v;
            let rest = loop {
                let Some(i) = v.find(['"', '\\']) else { return Err(unclosed()) };
                value.push_str(&v[..i]);
                if v.as_bytes()[i] == b'"' {
                    break &v[i + 1..];
                }
                let mut escaped = v[i + 1..].chars();
                match escaped.next() {
                    Some(c @ ('"' | '\\' | ']')) => value.push(c),
                    Some(c) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(unclosed()),
                }
                v = escaped.as_str();
            };
            let key = format!("{id}.{name}");
            match attrs.get_mut(&key) {
                Some(Value::Array(values)) => values.push(value.into()),
                Some(first) => *first = Value::Array(vec![first.take(), value.into()]),
                None => {
                    attrs.insert(key, value.into());
                }
            }
            r = rest;
        }
        s = r;
    }
    if !s.is_empty() && !s.starts_with(' ') {
        return Err(malformed("structured data must be followed by a space and MSG"));
    }
    Ok(s)
}

fn rfc3164(rest: &str, now_ms: i64, raw: &mut RawLog, attrs: &mut Map<String, Value>) {
    let rest = match bsd_timestamp(rest, now_ms) {
        Some((ms, rest)) => {
            raw.timestamp = Some(TimestampInput::Int(ms));
            rest
        }
        None => match rest.split_once(' ') {
            // rsyslog's forwarding format: an RFC 3339 timestamp instead.
            Some((ts, r)) if DateTime::parse_from_rfc3339(ts).is_ok() => {
                raw.timestamp = Some(TimestampInput::Text(ts.to_owned()));
                r
            }
            // No header at all: the whole rest is the message (RFC 3164 4.3.3).
            _ => {
                raw.message = Some(rest.to_owned());
                return;
            }
        },
    };
    let rest = rest.trim_start_matches(' ');
    // HOSTNAME is left out when the first word is already the tag.
    let rest = match tag(rest) {
        Some(_) => rest,
        None => {
            let (host, after) = field(rest);
            raw.host = nil(host);
            after
        }
    };
    let msg = match tag(rest) {
        Some((name, pid, msg)) => {
            raw.service_name = Some(name.to_owned());
            if let Some(pid) = pid {
                attrs.insert("syslog.procid".into(), pid.into());
            }
            msg
        }
        None => rest,
    };
    raw.message = Some(msg.to_owned());
}

/// `TAG[PID]: MSG` or `TAG: MSG` at the start of `s`: (tag, pid, msg).
fn tag(s: &str) -> Option<(&str, Option<&str>, &str)> {
    let end = s.find(['[', ':', ' '])?;
    let name = &s[..end];
    if name.is_empty() || name.len() > 128 {
        return None;
    }
    let (pid, after) = match s[end..].strip_prefix('[') {
        Some(r) => {
            let (pid, after) = r.split_once(']')?;
            (Some(pid).filter(|p| !p.is_empty()), after)
        }
        None => (None, &s[end..]),
    };
    let msg = after.strip_prefix(':')?;
    Some((name, pid, msg.strip_prefix(' ').unwrap_or(msg)))
}

/// How far past the receive time an RFC 3164 timestamp may lie (clock skew,
/// a sender already in the new year): 31 days.
const FUTURE_SLACK_MS: i64 = 31 * 24 * 3600 * 1000;

/// `Mmm dd hh:mm:ss ` at the start of `s`, as UTC ms in the latest year that
/// does not put it more than [`FUTURE_SLACK_MS`] after `now_ms`, and what
/// follows.
fn bsd_timestamp(s: &str, now_ms: i64) -> Option<(i64, &str)> {
    let head = s.get(..15)?;
    let month = MONTHS.iter().position(|m| head.starts_with(m))? as u32 + 1;
    let day: u32 = head.get(4..6)?.trim_start().parse().ok()?;
    let b = head.as_bytes();
    if b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| head.get(r)?.parse::<u32>().ok();
    let (h, m, sec) = (num(7..9)?, num(10..12)?, num(13..15)?);
    let rest = &s[15..];
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let now = Utc.timestamp_millis_opt(now_ms).single()?;
    let best = [now.year() - 1, now.year(), now.year() + 1]
        .into_iter()
        .filter_map(|y| NaiveDate::from_ymd_opt(y, month, day)?.and_hms_opt(h, m, sec))
        .map(|t| t.and_utc().timestamp_millis())
        .filter(|t| *t <= now_ms + FUTURE_SLACK_MS)
        .max()?;
    Some((best, rest))
}

/// What [`Framer::next_frame`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One message, without its framing.
    Message(Vec<u8>),
    /// A message longer than [`MAX_MESSAGE_BYTES`], skipped.
    TooLong,
    /// The connection ended inside an octet-counted frame.
    Truncated,
}

/// TCP framing of RFC 6587, detected per message: octet counting
/// (`LEN SP MSG`) when the frame starts with a digit, otherwise one message
/// per line (LF, or NUL as some senders use). Pure: feed bytes with
/// [`Framer::push`], take frames with [`Framer::next_frame`].
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// The rest of an over-long frame still to drop, if any.
    skipping: Option<Skip>,
}

#[derive(Debug, Clone, Copy)]
enum Skip {
    Bytes(usize),
    Line,
}

impl Framer {
    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held waiting for the rest of a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Frame> {
        match self.skipping {
            Some(Skip::Bytes(n)) => {
                let k = n.min(self.buf.len());
                self.buf.drain(..k);
                self.skipping = (n > k).then_some(Skip::Bytes(n - k));
                if n > k {
                    return None;
                }
            }
            Some(Skip::Line) => match self.buf.iter().position(|&b| b == b'\n' || b == 0) {
                Some(i) => {
                    self.buf.drain(..=i);
                    self.skipping = None;
                }
                None => {
                    self.buf.clear();
                    return None;
                }
            },
            None => {}
        }
        // Blank lines between frames are no frames.
        let start = self.buf.iter().position(|b| !matches!(b, b'\n' | b'\r' | 0));
        match start {
            Some(i) => {
                self.buf.drain(..i);
            }
            None => {
                self.buf.clear();
                return None;
            }
        }
        // Octet counting: up to 10 digits and a space; anything else
        // starting with a digit is read as a line.
        let digits = self.buf.iter().take(11).take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && digits <= 10 {
            match self.buf.get(digits) {
                None => return None,
                Some(b' ') => {
                    let len: usize = std::str::from_utf8(&self.buf[..digits]).ok()?.parse().ok()?;
                    let sp = digits;
                    if len > MAX_MESSAGE_BYTES {
                        self.buf.drain(..=sp);
                        self.skipping = Some(Skip::Bytes(len));
                        return Some(Frame::TooLong);
                    }
                    if self.buf.len() < sp + 1 + len {
                        return None;
                    }
                    let msg = self.buf[sp + 1..sp + 1 + len].to_vec();
                    self.buf.drain(..sp + 1 + len);
                    return Some(Frame::Message(msg));
                }
                Some(_) => {}
            }
        }
        match self.buf.iter().position(|&b| b == b'\n' || b == 0) {
            Some(i) if i <= MAX_MESSAGE_BYTES => {
                let mut msg: Vec<u8> = self.buf.drain(..=i).collect();
                msg.pop();
                if msg.last() == Some(&b'\r') {
                    msg.pop();
                }
                Some(Frame::Message(msg))
            }
            Some(i) => {
                self.buf.drain(..=i);
                Some(Frame::TooLong)
            }
            None if self.buf.len() > MAX_MESSAGE_BYTES => {
                self.buf.clear();
                self.skipping = Some(Skip::Line);
                Some(Frame::TooLong)
            }
            None => None,
        }
    }

    /// What is left when the connection ends: a last line without a
    /// newline is still a message.
    pub fn finish(&mut self) -> Option<Frame> {
        let rest = std::mem::take(&mut self.buf);
        match self.skipping.take() {
            Some(_) => None,
            None if rest.iter().all(|b| matches!(b, b'\n' | b'\r' | 0)) => None,
            None if rest[0].is_ascii_digit() && rest.contains(&b' ') => {
                // An octet-counted frame cut short.
                Some(Frame::Truncated)
            }
            None => Some(Frame::Message(rest)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-05-01T12:00:00Z
    const NOW: i64 = 1_714_564_800_000;

    fn attr<'a>(raw: &'a RawLog, key: &str) -> Option<&'a str> {
        raw.attributes.as_ref()?.get(key)?.as_str()
    }

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn rfc5424_full() {
        let line = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 \
            [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]\
            [examplePriority@32473 class=\"high\"] \u{feff}An application event log entry...\n";
        let raw = decode(line.as_bytes(), NOW).unwrap();
        assert_eq!(raw.timestamp, Some(TimestampInput::Text("2003-10-11T22:14:15.003Z".into())));
        assert_eq!(raw.host.as_deref(), Some("mymachine.example.com"));
        assert_eq!(raw.service_name.as_deref(), Some("evntslog"));
        assert_eq!(raw.level.as_deref(), Some("INFO"));
        assert_eq!(raw.message.as_deref(), Some("An application event log entry..."));
        assert_eq!(attr(&raw, "syslog.facility"), Some("local4"));
        assert_eq!(attr(&raw, "syslog.severity"), Some("notice"));
        assert_eq!(attr(&raw, "syslog.procid"), Some("1234"));
        assert_eq!(attr(&raw, "syslog.msgid"), Some("ID47"));
        assert_eq!(attr(&raw, "exampleSDID@32473.iut"), Some("3"));
        assert_eq!(attr(&raw, "exampleSDID@32473.eventSource"), Some("Application"));
        assert_eq!(attr(&raw, "examplePriority@32473.class"), Some("high"));
        let rec = loglens_core::record::normalize(raw, NOW, &Default::default()).unwrap();
        assert_eq!(rec.timestamp, ms("2003-10-11T22:14:15.003Z"));
        assert_eq!(rec.attributes["exampleSDID@32473.eventID"].to_string(), "1011");
    }

    #[test]
    fn rfc5424_nil_values_and_escapes() {
        let raw = decode(b"<14>1 - - - - - -", NOW).unwrap();
        assert_eq!(raw.timestamp, None);
        assert_eq!(raw.host, None);
        assert_eq!(raw.service_name.as_deref(), Some(UNKNOWN_SERVICE));
        assert_eq!(raw.message.as_deref(), Some(EMPTY_MESSAGE));
        assert_eq!(attr(&raw, "syslog.procid"), None);
        assert_eq!(attr(&raw, "syslog.msgid"), None);
        let rec = loglens_core::record::normalize(raw, NOW, &Default::default()).unwrap();
        assert_eq!(rec.timestamp, NOW);

        let line = r#"<11>1 2024-05-01T14:00:00+02:00 h app - - [x@1 q="a \"b\" \\ \] \n" q="2"][y z=""] m ] "#;
        let raw = decode(line.as_bytes(), NOW).unwrap();
        assert_eq!(raw.level.as_deref(), Some("ERROR"));
        let a = raw.attributes.as_ref().unwrap();
        assert_eq!(a["x@1.q"], serde_json::json!([r#"a "b" \ ] \n"#, "2"]));
        assert_eq!(attr(&raw, "y.z"), Some(""));
        assert_eq!(raw.message.as_deref(), Some("m ] "));
        let rec = loglens_core::record::normalize(raw, NOW, &Default::default()).unwrap();
        assert_eq!(rec.timestamp, NOW);

        for bad in [
            "<14>1 - - - - [x a=\"1\"",
            "<14>1 - - - - [x a=1] m",
            "<14>1 - - - - [ a=\"1\"] m",
            "<14>1 - - - - x m",
            "<14>1 - - -",
            "<14>1 - - - - [x a=\"1\"]m",
        ] {
            assert!(decode(bad.as_bytes(), NOW).is_err(), "{bad}");
        }
    }

    #[test]
    fn structured_data_values_are_read_in_runs_between_escapes() {
        let line = r#"<14>1 - - - - - [x a="été \ü\\" b="\"\"" c="\é" d="ab\]cd"] m"#;
        let raw = decode(line.as_bytes(), NOW).unwrap();
        assert_eq!(attr(&raw, "x.a"), Some(r#"été \ü\"#));
        assert_eq!(attr(&raw, "x.b"), Some(r#""""#));
        assert_eq!(attr(&raw, "x.c"), Some(r#"\é"#));
        assert_eq!(attr(&raw, "x.d"), Some("ab]cd"));
        assert_eq!(raw.message.as_deref(), Some("m"));
        for bad in [
            r#"<14>1 - - - - - [x a="ab\"#,
            r#"<14>1 - - - - - [x a="ab\""#,
            "<14>1 - - - - - [x a=\"ab",
        ] {
            let err = decode(bad.as_bytes(), NOW).unwrap_err();
            assert!(err.to_string().contains("value of x.a is not closed"), "{bad}: {err}");
        }
    }

    #[test]
    fn rfc3164_with_and_without_hostname() {
        let raw = decode(b"<132>May  1 11:59:58 vm app[22759]: hello 3164", NOW).unwrap();
        assert_eq!(raw.timestamp, Some(TimestampInput::Int(ms("2024-05-01T11:59:58Z"))));
        assert_eq!(raw.host.as_deref(), Some("vm"));
        assert_eq!(raw.service_name.as_deref(), Some("app"));
        assert_eq!(raw.level.as_deref(), Some("WARN"));
        assert_eq!(raw.message.as_deref(), Some("hello 3164"));
        assert_eq!(attr(&raw, "syslog.procid"), Some("22759"));
        assert_eq!(attr(&raw, "syslog.facility"), Some("local0"));
        assert_eq!(attr(&raw, "syslog.severity"), Some("warning"));

        // logger to /dev/log: no hostname.
        let raw = decode(b"<13>Apr 30 08:00:00 root: backup: done", NOW).unwrap();
        assert_eq!(raw.host, None);
        assert_eq!(raw.service_name.as_deref(), Some("root"));
        assert_eq!(raw.message.as_deref(), Some("backup: done"));
        assert_eq!(attr(&raw, "syslog.facility"), Some("user"));

        let raw = decode(b"<30>Apr 30 08:00:00 host1 systemd[1]:", NOW).unwrap();
        assert_eq!(raw.service_name.as_deref(), Some("systemd"));
        assert_eq!(raw.message.as_deref(), Some(EMPTY_MESSAGE));

        // No tag: the message starts after the hostname.
        let raw = decode(b"<13>Apr 30 08:00:00 host1 just text here", NOW).unwrap();
        assert_eq!(raw.host.as_deref(), Some("host1"));
        assert_eq!(raw.service_name.as_deref(), Some(UNKNOWN_SERVICE));
        assert_eq!(raw.message.as_deref(), Some("just text here"));

        // rsyslog forwarding format.
        let raw = decode(b"<13>2024-05-01T10:00:00.5+02:00 h t: m", NOW).unwrap();
        assert_eq!(raw.timestamp, Some(TimestampInput::Text("2024-05-01T10:00:00.5+02:00".into())));
        assert_eq!((raw.host.as_deref(), raw.service_name.as_deref()), (Some("h"), Some("t")));

        // No header: all of it is the message.
        let raw = decode(b"<13>hello there", NOW).unwrap();
        assert_eq!(raw.message.as_deref(), Some("hello there"));
        assert_eq!(raw.timestamp, None);
    }

    #[test]
    fn rfc3164_year_comes_from_the_receive_time() {
        let new_year = ms("2025-01-01T00:00:05Z");
        let raw = decode(b"<13>Dec 31 23:59:58 h a: m", new_year).unwrap();
        assert_eq!(raw.timestamp, Some(TimestampInput::Int(ms("2024-12-31T23:59:58Z"))));
        let raw = decode(b"<13>Jan  1 00:00:01 h a: m", ms("2024-12-31T23:59:59Z")).unwrap();
        assert_eq!(raw.timestamp, Some(TimestampInput::Int(ms("2025-01-01T00:00:01Z"))));
        // Months ahead: last year's.
        let raw = decode(b"<13>Jun 15 12:00:00 h a: m", new_year).unwrap();
        assert_eq!(raw.timestamp, Some(TimestampInput::Int(ms("2024-06-15T12:00:00Z"))));
        let raw = decode(b"<13>Jan 20 12:00:00 h a: m", new_year).unwrap();
        assert_eq!(raw.timestamp, Some(TimestampInput::Int(ms("2025-01-20T12:00:00Z"))));
        // Feb 29 in a year that has one.
        let raw = decode(b"<13>Feb 29 12:00:00 h a: m", ms("2025-01-10T00:00:00Z")).unwrap();
        assert_eq!(raw.timestamp, Some(TimestampInput::Int(ms("2024-02-29T12:00:00Z"))));
    }

    #[test]
    fn every_severity() {
        let want = ["ERROR", "ERROR", "ERROR", "ERROR", "WARN", "INFO", "INFO", "DEBUG"];
        for (sev, level) in want.iter().enumerate() {
            let line = format!("<{}>1 - - a - - - m", 8 + sev);
            let raw = decode(line.as_bytes(), NOW).unwrap();
            assert_eq!(raw.level.as_deref(), Some(*level));
            assert_eq!(attr(&raw, "syslog.severity"), Some(SEVERITIES[sev]));
            assert_eq!(attr(&raw, "syslog.facility"), Some("user"));
        }
        let raw = decode(b"<191>1 - - a - - - m", NOW).unwrap();
        assert_eq!(attr(&raw, "syslog.facility"), Some("local7"));
    }

    #[test]
    fn garbage_is_an_error_naming_what_is_accepted() {
        for bad in ["", "hello", "<>x", "<192>x", "<1234>x", "<-1>x", "<13", "<1a>x", "\n\n"] {
            let e = decode(bad.as_bytes(), NOW).unwrap_err();
            assert_eq!(e.field(), Some("syslog"), "{bad}");
        }
        let e = decode(b"nope", NOW).unwrap_err();
        assert!(e.to_string().contains("<PRI>"), "{e}");
    }

    #[test]
    fn invalid_utf8_is_replaced_and_huge_lines_refused() {
        let raw = decode(b"<13>1 - h a - - - caf\xe9 \xff", NOW).unwrap();
        assert_eq!(raw.message.as_deref(), Some("caf\u{fffd} \u{fffd}"));
        let mut huge = b"<13>1 - h a - - - ".to_vec();
        huge.resize(1024 * 1024, b'x');
        let e = decode(&huge, NOW).unwrap_err();
        assert!(e.to_string().contains("at most 65536 bytes"), "{e}");
    }

    fn frames(f: &mut Framer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(s.as_bytes().to_vec())
    }

    #[test]
    fn framing_newlines_split_anywhere() {
        let input = b"<13>a b\r\n\n<14>c\n<15>d";
        for cut in 0..input.len() {
            let mut f = Framer::default();
            f.push(&input[..cut]);
            let mut got = frames(&mut f);
            f.push(&input[cut..]);
            got.extend(frames(&mut f));
            got.extend(f.finish());
            assert_eq!(got, vec![msg("<13>a b"), msg("<14>c"), msg("<15>d")], "cut at {cut}");
        }
    }

    #[test]
    fn framing_octet_counting_and_mixed() {
        let input = b"7 <13>a\nb10 <14>c d ef<15>plain\n3 <1>\0<16>nul\n";
        for cut in 0..input.len() {
            let mut f = Framer::default();
            f.push(&input[..cut]);
            let mut got = frames(&mut f);
            f.push(&input[cut..]);
            got.extend(frames(&mut f));
            got.extend(f.finish());
            assert_eq!(
                got,
                vec![
                    msg("<13>a\nb"),
                    msg("<14>c d ef"),
                    msg("<15>plain"),
                    msg("<1>"),
                    msg("<16>nul")
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn framing_bounds_long_frames_and_continues() {
        let mut f = Framer::default();
        let big = MAX_MESSAGE_BYTES + 10;
        f.push(format!("{big} ").as_bytes());
        assert_eq!(frames(&mut f), vec![Frame::TooLong]);
        f.push(&vec![b'x'; big]);
        f.push(b"4 <1>a");
        assert_eq!(frames(&mut f), vec![msg("<1>a")]);

        let mut f = Framer::default();
        f.push(&vec![b'<'; 1024 * 1024]);
        assert_eq!(frames(&mut f), vec![Frame::TooLong]);
        assert!(f.pending() <= MAX_MESSAGE_BYTES);
        f.push(b"still the long line\n<13>next\n");
        assert_eq!(frames(&mut f), vec![msg("<13>next")]);

        // Digits without a count's space are a line.
        let mut f = Framer::default();
        f.push(b"12345678901234 x\n12x <13>x\n5 <1>");
        assert_eq!(frames(&mut f), vec![msg("12345678901234 x"), msg("12x <13>x")]);
        assert_eq!(f.finish(), Some(Frame::Truncated));
    }
}
