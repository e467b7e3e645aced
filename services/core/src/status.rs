//! [`StatusCode`]: an HTTP status that has been checked once, where it
//! entered loglens, so nothing downstream checks it again.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An HTTP response status, always within 100-599.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u16")]
pub struct StatusCode(u16);

impl StatusCode {
    /// Lowest accepted status.
    pub const MIN: u16 = 100;
    /// Highest accepted status.
    pub const MAX: u16 = 599;

    /// Checks `code` is within 100-599; the error names `status_code`.
    pub fn new(code: i64) -> Result<StatusCode> {
        match u16::try_from(code) {
            Ok(c) if (Self::MIN..=Self::MAX).contains(&c) => Ok(StatusCode(c)),
            _ => Err(Self::out_of_range(code)),
        }
    }

    /// The error for a status outside 100-599, naming `status_code`.
    pub fn out_of_range(code: impl fmt::Display) -> Error {
        Error::invalid(
            "status_code",
            format!("status_code must be between 100 and 599, got {code}"),
        )
    }

    /// The status as a number.
    pub fn get(self) -> u16 {
        self.0
    }

    /// Whether the status is a client or server error (>= `min`).
    pub fn at_least(self, min: u16) -> bool {
        self.0 >= min
    }
}

impl TryFrom<i64> for StatusCode {
    type Error = Error;
    fn try_from(code: i64) -> Result<StatusCode> {
        StatusCode::new(code)
    }
}

impl TryFrom<i32> for StatusCode {
    type Error = Error;
    fn try_from(code: i32) -> Result<StatusCode> {
        StatusCode::new(i64::from(code))
    }
}

impl TryFrom<u64> for StatusCode {
    type Error = Error;
    fn try_from(code: u64) -> Result<StatusCode> {
        i64::try_from(code).map_err(|_| Self::out_of_range(code)).and_then(StatusCode::new)
    }
}

impl From<StatusCode> for u16 {
    fn from(s: StatusCode) -> u16 {
        s.0
    }
}

impl From<StatusCode> for i32 {
    fn from(s: StatusCode) -> i32 {
        i32::from(s.0)
    }
}

impl From<StatusCode> for u64 {
    fn from(s: StatusCode) -> u64 {
        u64::from(s.0)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_http_range_only() {
        assert_eq!(StatusCode::new(100).unwrap().get(), 100);
        assert_eq!(StatusCode::new(599).unwrap().get(), 599);
        for bad in [0, 99, 600, -1, 70_000, 9_999_999_999] {
            let e = StatusCode::new(bad).unwrap_err();
            assert_eq!(e.field(), Some("status_code"));
            assert_eq!(
                e.to_string(),
                format!("status_code must be between 100 and 599, got {bad}")
            );
        }
        assert!(StatusCode::try_from(u64::MAX).is_err());
    }

    #[test]
    fn serde_checks_on_the_way_in() {
        let s: StatusCode = serde_json::from_str("503").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "503");
        assert!(serde_json::from_str::<StatusCode>("700").is_err());
    }
}
