//! Cassettes: recorded Bedrock sessions at the Converse level, as versioned JSON Lines.
//!
//! A cassette is what one run exchanged with Bedrock — each request as the Converse JSON the
//! SDK sent, and the answer: the whole response, every stream event with its timing, or the
//! error with its category — so that it can be replayed later without a model, without
//! credentials and deterministically (`gamecode run --replay`, or `Emulator::load_cassette`).
//!
//! # Format (version 1)
//!
//! UTF-8 JSON Lines. The first line is the header, every other line one exchange (one HTTP
//! attempt: a retried call is several exchanges), in the order they were sent:
//!
//! ```text
//! {"format":"gamecode-cassette","version":1,"recorded_at":"2026-11-30T04:20:00Z"}
//! {"exchange":1,"operation":"ConverseStream","model":"us.anthropic.claude-sonnet-4-6",
//!  "at_ms":0,"elapsed_ms":412,"status":200,"request":{"messages":[…],"system":[…],…},
//!  "events":[{"at_ms":180,"type":"messageStart","body":{"role":"assistant"}},…]}
//! {"exchange":2,"operation":"Converse",…,"status":429,
//!  "error":{"code":"ThrottlingException","category":"rate-limited","message":"Too many requests"}}
//! ```
//!
//! - `operation`: `Converse` (then `response` holds the response body) or `ConverseStream`
//!   (then `events` holds each event: its offset from the request, its `:event-type` and its
//!   JSON body). A failed call has `error` instead, with the category the host gives it
//!   (`rate-limited`, `validation`, `authentication`, `network`, `provider`). A stream that
//!   failed after it started has both `events` and `error`.
//! - `at_ms`: when the request was sent, from the start of the recording; `elapsed_ms`: until
//!   the answer was complete.
//! - Scrubbed: a cassette never holds credentials, signatures, session tokens or headers, and
//!   AWS account ids in ARNs become `000000000000` ([`scrub`]).
//!
//! Reading one takes a few lines in any language; in Python:
//!
//! ```python
//! import json
//! header, *exchanges = [json.loads(l) for l in open("run.cassette.jsonl")]
//! for x in exchanges:
//!     print(x["exchange"], x["operation"], x.get("error") or x["status"])
//! ```

use std::fmt;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod drift;
mod show;

pub use drift::{Drift, first_difference, normalize_request};
pub use show::{diff, show};

/// The `format` of a cassette's header line.
pub const FORMAT: &str = "gamecode-cassette";
/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;

/// The first line of a cassette.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// RFC 3339, UTC.
    pub recorded_at: String,
}

impl Header {
    pub fn new(recorded_at: impl Into<String>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            recorded_at: recorded_at.into(),
        }
    }
}

/// The Converse operations a cassette records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    Converse,
    ConverseStream,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Converse => "Converse",
            Self::ConverseStream => "ConverseStream",
        })
    }
}

/// One stream event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds from the request to the event's arrival.
    pub at_ms: u64,
    /// The `:event-type` (`messageStart`, `contentBlockDelta`, …, or an exception's type).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The event's JSON body.
    pub body: Value,
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedError {
    /// The service's error code (`ThrottlingException`), or a description of a failure with
    /// no answer (`dispatch failure`).
    pub code: String,
    /// The host's category: `rate-limited`, `validation`, `authentication`, `network`,
    /// `provider`.
    pub category: String,
    pub message: String,
}

/// One HTTP attempt and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// 1-based position in the cassette.
    pub exchange: u32,
    pub operation: Operation,
    /// The model id, inference profile or ARN the request addressed.
    pub model: String,
    /// Milliseconds from the start of the recording to the request.
    pub at_ms: u64,
    /// Milliseconds from the request to the end of its answer.
    pub elapsed_ms: u64,
    /// The HTTP status (0 when no answer arrived).
    pub status: u16,
    /// The request body, as the SDK sent it (Converse JSON).
    pub request: Value,
    /// `Converse`: the response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// `ConverseStream`: the events, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Event>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordedError>,
}

/// A whole cassette.
#[derive(Debug, Clone, PartialEq)]
pub struct Cassette {
    pub header: Header,
    pub exchanges: Vec<Exchange>,
}

/// Why a cassette cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    #[error("cannot read the cassette: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line} of the cassette is not valid: {message}")]
    Invalid { line: usize, message: String },
    #[error("not a cassette: the first line must be a {FORMAT} header")]
    NotACassette,
    #[error("cassette format version {0} is newer than this gamecode reads ({VERSION})")]
    Version(u32),
}

impl Cassette {
    /// Reads a cassette from JSON Lines.
    pub fn read(reader: impl BufRead) -> Result<Self, CassetteError> {
        let mut lines = reader.lines().enumerate();
        let header: Header = loop {
            match lines.next() {
                None => return Err(CassetteError::NotACassette),
                Some((_, line)) => {
                    let line = line?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    break serde_json::from_str(&line).map_err(|_| CassetteError::NotACassette)?;
                }
            }
        };
        if header.format != FORMAT {
            return Err(CassetteError::NotACassette);
        }
        if header.version > VERSION {
            return Err(CassetteError::Version(header.version));
        }
        let mut exchanges = Vec::new();
        for (i, line) in lines {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let exchange: Exchange =
                serde_json::from_str(&line).map_err(|e| CassetteError::Invalid {
                    line: i + 1,
                    message: e.to_string(),
                })?;
            exchanges.push(exchange);
        }
        Ok(Self { header, exchanges })
    }

    /// Reads a cassette file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, CassetteError> {
        let file = std::fs::File::open(path)?;
        Self::read(std::io::BufReader::new(file))
    }

    /// Writes it as JSON Lines.
    pub fn write(&self, mut out: impl Write) -> std::io::Result<()> {
        writeln!(out, "{}", json_line(&self.header))?;
        for x in &self.exchanges {
            writeln!(out, "{}", json_line(x))?;
        }
        Ok(())
    }
}

/// The current time in RFC 3339, UTC, to the second (a header's `recorded_at`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// One value as a JSON line (serializing these types cannot fail; an empty object if it did).
pub fn json_line(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".into())
}

/// Removes what must never be stored: AWS account ids inside ARNs (`arn:aws:…:123456789012:…`
/// → `000000000000`), anywhere in a JSON value. Credentials, signatures and session tokens
/// travel in headers, which a cassette does not keep.
pub fn scrub(value: &mut Value) {
    match value {
        Value::String(s) => scrub_text(s),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => {
            // Keys too: a guardrail trace is keyed by the guardrail's id.
            if map.keys().any(|k| k.contains("arn:aws")) {
                let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                for (mut key, value) in entries {
                    scrub_text(&mut key);
                    map.insert(key, value);
                }
            }
            map.values_mut().for_each(scrub)
        }
        _ => {}
    }
}

/// [`scrub_text`] for an error message, which names more than bodies do: a bare account id
/// ("account 123456789012") and the session of an assumed role
/// (`assumed-role/ROLE/alice@example.com`, often a person's name or address).
pub fn scrub_message(s: &mut String) {
    scrub_text(s);
    let mut out = String::with_capacity(s.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() == 12 {
            out.push_str("000000000000");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut out);
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    // assumed-role/ROLE/SESSION: the session name goes.
    let mut rest = out.as_str();
    let mut scrubbed = String::with_capacity(out.len());
    while let Some(at) = rest.find("assumed-role/") {
        let (head, tail) = rest.split_at(at + "assumed-role/".len());
        scrubbed.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == ',')
            .unwrap_or(tail.len());
        match tail[..end].split_once('/') {
            Some((role, _session)) => {
                scrubbed.push_str(role);
                scrubbed.push_str("/session");
            }
            None => scrubbed.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    scrubbed.push_str(rest);
    *s = scrubbed;
}

/// [`scrub`] for a string (model ids in paths are ARNs too).
pub fn scrub_text(s: &mut String) {
    if !s.contains("arn:aws") {
        return;
    }
    // arn:partition:service:region:account:resource — the fifth field.
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(at) = rest.find("arn:aws") {
        out.push_str(&rest[..at]);
        let arn = &rest[at..];
        let end = arn
            .find(|c: char| c.is_whitespace() || c == '"' || c == ',')
            .unwrap_or(arn.len());
        let mut fields: Vec<&str> = arn[..end].splitn(6, ':').collect();
        if fields.len() == 6
            && fields[4].len() == 12
            && fields[4].bytes().all(|b| b.is_ascii_digit())
        {
            fields[4] = "000000000000";
        }
        out.push_str(&fields.join(":"));
        rest = &arn[end..];
    }
    out.push_str(rest);
    *s = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_messages_lose_account_ids_and_session_names() {
        let mut m = "User: arn:aws:sts::123456789012:assumed-role/BedrockRole/alice@example.com \
                     is not authorized (account 123456789012, request 1234)"
            .to_string();
        scrub_message(&mut m);
        assert_eq!(
            m,
            "User: arn:aws:sts::000000000000:assumed-role/BedrockRole/session is not authorized \
             (account 000000000000, request 1234)"
        );
    }

    #[test]
    fn timestamps_are_rfc_3339() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
    }

    #[test]
    fn account_ids_in_arns_are_scrubbed() {
        let mut v = json!({"guardrailIdentifier":
            "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc",
            "text": "call 123456789012 maybe",
            "trace": {"arn:aws:bedrock:us-east-1:123456789012:guardrail/abc": 1},
            "n": [ "arn:aws-us-gov:bedrock:us-gov-west-1:210987654321:inference-profile/x" ]});
        scrub(&mut v);
        assert_eq!(
            v["guardrailIdentifier"],
            "arn:aws:bedrock:us-east-1:000000000000:guardrail/abc"
        );
        assert_eq!(v["text"], "call 123456789012 maybe", "not an ARN");
        assert_eq!(
            v["trace"]["arn:aws:bedrock:us-east-1:000000000000:guardrail/abc"],
            1
        );
        assert_eq!(
            v["n"][0],
            "arn:aws-us-gov:bedrock:us-gov-west-1:000000000000:inference-profile/x"
        );
    }

    #[test]
    fn round_trips_and_refuses_what_is_not_a_cassette() {
        let c = Cassette {
            header: Header::new("2026-11-30T00:00:00Z"),
            exchanges: vec![Exchange {
                exchange: 1,
                operation: Operation::Converse,
                model: "m".into(),
                at_ms: 0,
                elapsed_ms: 5,
                status: 429,
                request: json!({"messages": []}),
                response: None,
                events: None,
                error: Some(RecordedError {
                    code: "ThrottlingException".into(),
                    category: "rate-limited".into(),
                    message: "slow down".into(),
                }),
            }],
        };
        let mut out = Vec::new();
        c.write(&mut out).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(!text.contains("\"response\""), "absent fields are left out");
        assert_eq!(Cassette::read(&out[..]).unwrap(), c);
        assert!(matches!(
            Cassette::read(&b"{\"hello\":1}\n"[..]),
            Err(CassetteError::NotACassette)
        ));
        let newer = b"{\"format\":\"gamecode-cassette\",\"version\":9,\"recorded_at\":\"x\"}\n";
        assert!(matches!(
            Cassette::read(&newer[..]),
            Err(CassetteError::Version(9))
        ));
        let broken = format!(
            "{}{{\"exchange\":\"x\"}}\n",
            text.lines().next().unwrap().to_owned() + "\n"
        );
        assert!(matches!(
            Cassette::read(broken.as_bytes()),
            Err(CassetteError::Invalid { line: 2, .. })
        ));
    }
}
