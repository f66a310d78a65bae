//! How cutoffs and changes are printed: readable lines, or one JSON object per line.

use jwt_cutoff_store::{Cutoff, CutoffChange, Scope, SubjectCutoffs};
use serde_json::{Value, json};

/// Text for people, JSON for programs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Format {
    Text,
    Json,
}

impl Format {
    /// One line for what is stored for everyone.
    pub(crate) fn everyone(self, cutoff: Cutoff) -> String {
        match self {
            Self::Text => format!("everyone: {cutoff}"),
            Self::Json => {
                let mut line = serde_json::Map::new();
                line.insert("everyone".to_owned(), json!(true));
                line.extend(cutoff_fields(cutoff));
                Value::Object(line).to_string()
            }
        }
    }

    /// What is stored for `subject`: its own cutoff and its live sessions' own, one line of JSON,
    /// or a line each as text.
    pub(crate) fn subject(self, subject: &str, own: Cutoff, sessions: &SubjectCutoffs) -> String {
        match self {
            Self::Text => {
                let mut text = format!("{subject}: {own}");
                for (session, cutoff) in sessions.sessions() {
                    text.push_str(&format!("\n{subject} session {session}: {cutoff}"));
                }
                text
            }
            Self::Json => {
                let mut line = serde_json::Map::new();
                line.insert("subject".to_owned(), json!(subject));
                line.extend(cutoff_fields(own));
                let sessions: Vec<Value> = sessions
                    .sessions()
                    .map(|(session, cutoff)| {
                        let mut fields = cutoff_fields(cutoff);
                        fields.insert("session".to_owned(), json!(session));
                        Value::Object(fields)
                    })
                    .collect();
                line.insert("sessions".to_owned(), Value::Array(sessions));
                Value::Object(line).to_string()
            }
        }
    }

    /// One line for a pushed change.
    pub(crate) fn change(self, change: &CutoffChange) -> String {
        let cutoff = change.cutoff();
        match self {
            Self::Text => match change.scope() {
                Scope::Everyone => format!("everyone: {cutoff}"),
                Scope::Subject(subject) => format!("{subject}: {cutoff}"),
                Scope::Session { subject, session } => {
                    format!("{subject} session {session}: {cutoff}")
                }
            },
            Self::Json => {
                let (subject, session) = match change.scope() {
                    Scope::Everyone => (None, None),
                    Scope::Subject(subject) => (Some(subject), None),
                    Scope::Session { subject, session } => (Some(subject), Some(session)),
                };
                let mut line = json!({
                    "everyone": subject.is_none(),
                    "subject": subject,
                    "session": session,
                });
                if let Value::Object(fields) = &mut line {
                    fields.extend(cutoff_fields(cutoff));
                }
                line.to_string()
            }
        }
    }
}

/// `valid_from` (seconds since the epoch, with microseconds, or null) and `refused`.
fn cutoff_fields(cutoff: Cutoff) -> serde_json::Map<String, Value> {
    let valid_from = cutoff
        .valid_from()
        .map(|at| at.as_unix_micros() as f64 / 1e6);
    let mut fields = serde_json::Map::new();
    fields.insert("valid_from".to_owned(), json!(valid_from));
    fields.insert("refused".to_owned(), json!(cutoff == Cutoff::Refused));
    fields
}
