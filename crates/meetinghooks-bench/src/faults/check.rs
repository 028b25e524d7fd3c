//! The fault scenario's verdict: what the event log and the receiver's attempts must show
//! after the faults, and the duplicate count.

use std::collections::{BTreeMap, HashMap};

use super::receiver::Attempt;

/// One event as `GET /v1/events` lists it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub meeting_id: String,
    pub sequence: u64,
    pub webhook_type: String,
}

/// What the checks found; the run fails unless `problems` is empty.
#[derive(Debug, Default)]
pub struct Verdict {
    pub events: usize,
    pub attempts: usize,
    /// Successful attempts beyond the first per message.
    pub duplicates: usize,
    /// When the first success of each duplicated message started.
    pub duplicated_at: Vec<std::time::Instant>,
    /// Pairs of attempts of one message that were in flight at the same time.
    pub overlaps: usize,
    pub problems: Vec<String>,
}

impl Verdict {
    fn problem(&mut self, text: String) {
        if self.problems.len() < 20 {
            self.problems.push(text);
        } else if self.problems.len() == 20 {
            self.problems.push("… more problems left out".into());
        }
    }
}

/// Checks the log and the attempts: gap-free sequences and session structure per meeting,
/// every event delivered, first deliveries in order per meeting, no overlapping attempts.
pub fn verdict(events: &[Event], attempts: &[Attempt], stuck: usize) -> Verdict {
    let mut v = Verdict {
        events: events.len(),
        attempts: attempts.len(),
        ..Verdict::default()
    };
    if stuck > 0 {
        v.problem(format!("{stuck} messages not finished (stuck)"));
    }
    let mut meetings: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events {
        meetings.entry(&e.meeting_id).or_default().push(e);
    }
    let mut by_id: HashMap<&str, Vec<&Attempt>> = HashMap::new();
    for a in attempts {
        by_id.entry(&a.webhook_id).or_default().push(a);
    }
    // (meeting, sequence) → the first success of its message.
    let mut first: HashMap<(&str, u64), &Attempt> = HashMap::new();
    for tries in by_id.values_mut() {
        tries.sort_by_key(|a| a.started);
        let successes: Vec<&&Attempt> = tries.iter().filter(|a| a.succeeded()).collect();
        v.duplicates += successes.len().saturating_sub(1);
        if successes.len() > 1 {
            v.duplicated_at.push(successes[0].started);
        }
        if let Some(s) = successes.first() {
            first.insert((s.meeting_id.as_str(), s.sequence), s);
        }
        for pair in tries.windows(2) {
            if pair[1].started < pair[0].ended {
                v.overlaps += 1;
                v.problem(format!(
                    "message {} (meeting {} #{}): two attempts overlap by {} ms",
                    pair[0].webhook_id,
                    pair[0].meeting_id,
                    pair[0].sequence,
                    (pair[0].ended - pair[1].started).as_millis()
                ));
            }
        }
    }
    for (meeting, mut list) in meetings {
        list.sort_by_key(|e| e.sequence);
        for (i, e) in list.iter().enumerate() {
            if e.sequence != i as u64 + 1 {
                v.problem(format!(
                    "meeting {meeting}: sequence {} at place {}",
                    e.sequence,
                    i + 1
                ));
                break;
            }
        }
        if let Err(e) = session_structure(&list) {
            v.problem(format!("meeting {meeting}: {e}"));
        }
        let mut previous: Option<&Attempt> = None;
        for e in &list {
            let Some(delivered) = first.get(&(meeting, e.sequence)) else {
                v.problem(format!(
                    "meeting {meeting} #{}: never delivered",
                    e.sequence
                ));
                continue;
            };
            if let Some(p) = previous {
                if delivered.started < p.ended {
                    v.problem(format!(
                        "meeting {meeting}: #{} delivered before #{} was answered",
                        e.sequence, p.sequence
                    ));
                }
            }
            previous = Some(delivered);
        }
    }
    v
}

/// Sessions open and close in turn; participants join and leave only inside one, in turn.
fn session_structure(events: &[&Event]) -> Result<(), String> {
    let mut open = false;
    let mut joined = 0i64;
    for e in events {
        match e.webhook_type.as_str() {
            "session-started" if open => {
                return Err(format!("#{}: session started twice", e.sequence))
            }
            "session-started" => open = true,
            "session-ended" if !open || joined != 0 => {
                return Err(format!(
                    "#{}: session ended while not open or not empty",
                    e.sequence
                ))
            }
            "session-ended" => open = false,
            "participant-joined" | "participant-left" if !open => {
                return Err(format!(
                    "#{}: {} outside a session",
                    e.sequence, e.webhook_type
                ))
            }
            "participant-joined" => joined += 1,
            "participant-left" => joined -= 1,
            _ => {}
        }
        if joined < 0 {
            return Err(format!("#{}: more left than joined", e.sequence));
        }
    }
    Ok(())
}
