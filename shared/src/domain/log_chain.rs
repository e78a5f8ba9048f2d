//! The tamper-evident format of session logs: JSON lines where each event carries, in
//! `prev_hash`, the SHA-256 (hex) of the previous line's exact bytes. The first event's
//! `prev_hash` is the SHA-256 of the log's key, so a log copied under another key does not
//! verify either. Editing, removing or reordering any line breaks every hash after it; the
//! hash of the last line (the head) is also kept in the session's record, which catches a
//! truncated tail.

use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash the first event of the log at `key` chains from.
pub fn genesis(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

/// Serializes `event` chained after `prev_hash`; returns the line and its hash.
pub fn chain(mut event: Value, prev_hash: &str) -> (String, String) {
    event["prev_hash"] = Value::String(prev_hash.to_string());
    let line = event.to_string();
    let hash = sha256_hex(line.as_bytes());
    (line, hash)
}

/// Checks every link of the log at `key`; returns its events and the head hash.
pub fn verify(key: &str, content: &str) -> Result<(Vec<Value>, String), String> {
    let mut head = genesis(key);
    let mut events = Vec::new();
    walk(key, content, |event, hash| {
        events.push(event);
        head = hash.to_string();
    })?;
    Ok((events, head))
}

/// Checks every link of the log at `key`; returns the head after each line, in order (an
/// earlier state of the log is a prefix of its lines, so its head is among these).
pub fn heads(key: &str, content: &str) -> Result<Vec<String>, String> {
    let mut heads = Vec::new();
    walk(key, content, |_, hash| heads.push(hash.to_string()))?;
    Ok(heads)
}

fn walk(key: &str, content: &str, mut each: impl FnMut(Value, &str)) -> Result<(), String> {
    let mut expected = genesis(key);
    for (i, line) in content.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let event: Value = serde_json::from_str(line).map_err(|_| format!("line {} is not JSON", i + 1))?;
        if event["prev_hash"].as_str() != Some(expected.as_str()) {
            return Err(format!("line {} does not chain from the line before it", i + 1));
        }
        expected = sha256_hex(line.as_bytes());
        each(event, &expected);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_edits_removals_and_moves() {
        let key = "sessions/account=A/date=2026-11-22/S.jsonl";
        let (l1, h1) = chain(json!({ "type": "requested" }), &genesis(key));
        let (l2, h2) = chain(json!({ "type": "started" }), &h1);
        let (l3, h3) = chain(json!({ "type": "ended" }), &h2);
        let log = format!("{l1}\n{l2}\n{l3}\n");
        let (events, head) = verify(key, &log).unwrap();
        assert_eq!((events.len(), head), (3, h3.clone()));
        assert!(verify(key, &log.replace("started", "startee")).is_err(), "edit");
        assert!(verify(key, &format!("{l1}\n{l3}\n")).is_err(), "removal");
        assert!(verify(key, &format!("{l2}\n{l1}\n{l3}\n")).is_err(), "reorder");
        assert!(verify("another/key.jsonl", &log).is_err(), "moved");
        assert_ne!(
            verify(key, &format!("{l1}\n{l2}\n")).unwrap().1,
            h3,
            "truncation changes the head"
        );
        assert_eq!(heads(key, &log).unwrap(), vec![h1, h2, h3]);
    }
}
