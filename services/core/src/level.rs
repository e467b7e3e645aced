//! Log levels.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Severity level of a log record. Ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Diagnostic detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unusual that did not fail.
    Warn,
    /// A failure.
    Error,
}

/// The accepted spellings, for error messages.
pub const ACCEPTED_LEVELS: &str = "DEBUG, INFO, WARN (or WARNING), ERROR";

impl Level {
    /// All levels, least severe first.
    pub const ALL: [Level; 4] = [Level::Debug, Level::Info, Level::Warn, Level::Error];

    /// Canonical upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// Parses a level case-insensitively; `WARNING` is `WARN`. `field` names the
    /// parameter in the error.
    pub fn parse(s: &str, field: &str) -> Result<Level> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("debug") {
            Ok(Level::Debug)
        } else if t.eq_ignore_ascii_case("info") {
            Ok(Level::Info)
        } else if t.eq_ignore_ascii_case("warn") || t.eq_ignore_ascii_case("warning") {
            Ok(Level::Warn)
        } else if t.eq_ignore_ascii_case("error") {
            Ok(Level::Error)
        } else {
            Err(Error::invalid(
                field,
                format!("{field} must be one of {ACCEPTED_LEVELS} (case-insensitive), got {s:?}"),
            ))
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_and_warning_alias() {
        assert_eq!(Level::parse("info", "level").unwrap(), Level::Info);
        assert_eq!(Level::parse("Warning", "level").unwrap(), Level::Warn);
        assert_eq!(Level::parse(" ERROR ", "level").unwrap(), Level::Error);
        assert_eq!(Level::parse("dEbUg", "level").unwrap(), Level::Debug);
    }

    #[test]
    fn rejects_unknown_naming_field_and_accepted_values() {
        let e = Level::parse("fatal", "level").unwrap_err();
        assert_eq!(e.field(), Some("level"));
        assert!(e.to_string().contains("DEBUG, INFO, WARN"), "{e}");
        assert!(e.to_string().contains("\"fatal\""), "{e}");
    }
}
