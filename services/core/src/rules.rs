//! Anomaly rules and the severity score.
//!
//! Four rules, each can be turned off or re-tuned from a TOML rules file
//! (see `RuleSet::from_toml`) or command-line flags:
//!
//! | id              | fires when (default)                 | points             |
//! |-----------------|--------------------------------------|--------------------|
//! | `error_level`   | level is ERROR                       | 35                 |
//! | `http_status`   | status_code >= 400                   | 5xx: 25-30, 4xx: 15-20, lower: 10 |
//! | `slow_response` | response_time_ms > 3000              | 5-20               |
//! | `error_code`    | error_code is present                | 15                 |
//!
//! `severity_score` is the sum of the points of the rules that fired, at most
//! 100 (the maxima add up to exactly 100). Within a status class points rise
//! linearly with the code (500 -> 25, 599 -> 30); slow responses score
//! `5 + 15 * min(1, log10(t / threshold))`, so ten times the threshold or
//! more scores 20. Every part is non-decreasing in how bad the signal is, so
//! more and worse signals never score lower.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::level::Level;
use crate::record::LogRecord;

/// Rule id: level is ERROR.
pub const ERROR_LEVEL: &str = "error_level";
/// Rule id: HTTP status at or above the threshold.
pub const HTTP_STATUS: &str = "http_status";
/// Rule id: response time above the threshold.
pub const SLOW_RESPONSE: &str = "slow_response";
/// Rule id: an application error code is present.
pub const ERROR_CODE: &str = "error_code";

/// A rule that only needs switching on or off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Toggle {
    /// Whether the rule is evaluated.
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle { enabled: true }
    }
}

/// The `http_status` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusRule {
    /// Whether the rule is evaluated.
    pub enabled: bool,
    /// Lowest status that fires, 100-599.
    pub min_status: u16,
}

impl Default for StatusRule {
    fn default() -> Self {
        StatusRule { enabled: true, min_status: 400 }
    }
}

/// The `slow_response` rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlowRule {
    /// Whether the rule is evaluated.
    pub enabled: bool,
    /// Fires when response_time_ms is strictly above this (> 0).
    pub threshold_ms: f64,
}

impl Default for SlowRule {
    fn default() -> Self {
        SlowRule { enabled: true, threshold_ms: 3000.0 }
    }
}

/// Every anomaly rule with its settings. `Default` is the documented defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSet {
    /// `error_level`.
    pub error_level: Toggle,
    /// `http_status`.
    pub http_status: StatusRule,
    /// `slow_response`.
    pub slow_response: SlowRule,
    /// `error_code`.
    pub error_code: Toggle,
}

impl RuleSet {
    /// Reads a rules file, e.g.
    /// ```toml
    /// [http_status]
    /// min_status = 500
    /// [slow_response]
    /// threshold_ms = 1500
    /// [error_code]
    /// enabled = false
    /// ```
    /// Omitted rules and settings keep their defaults; unknown keys are errors.
    pub fn from_toml(text: &str) -> Result<RuleSet> {
        let rules: RuleSet = toml::from_str(text).map_err(|e| {
            Error::invalid("rules", format!("rules file is invalid: {}", e.message()))
        })?;
        rules.validate()?;
        Ok(rules)
    }

    /// Checks thresholds are in range.
    pub fn validate(&self) -> Result<()> {
        if !(100..=599).contains(&self.http_status.min_status) {
            return Err(Error::invalid(
                "http_status.min_status",
                format!(
                    "http_status.min_status must be between 100 and 599, got {}",
                    self.http_status.min_status
                ),
            ));
        }
        let t = self.slow_response.threshold_ms;
        if !(t.is_finite() && t > 0.0) {
            return Err(Error::invalid(
                "slow_response.threshold_ms",
                format!("slow_response.threshold_ms must be a number > 0, got {t}"),
            ));
        }
        Ok(())
    }

    /// Evaluates every enabled rule on `r` and sets `anomaly`,
    /// `severity_score` and `anomaly_reasons`.
    pub fn apply(&self, r: &mut LogRecord) {
        let mut score = 0.0;
        let mut reasons = Vec::new();
        if self.error_level.enabled && r.level == Level::Error {
            score += 35.0;
            reasons.push(ERROR_LEVEL.to_owned());
        }
        if let Some(s) = r.status_code
            && self.http_status.enabled
            && s.get() >= self.http_status.min_status
        {
            score += status_points(s.get());
            reasons.push(HTTP_STATUS.to_owned());
        }
        if let Some(t) = r.response_time_ms
            && self.slow_response.enabled
            && t > self.slow_response.threshold_ms
        {
            score += slow_points(t, self.slow_response.threshold_ms);
            reasons.push(SLOW_RESPONSE.to_owned());
        }
        if self.error_code.enabled && r.error_code.is_some() {
            score += 15.0;
            reasons.push(ERROR_CODE.to_owned());
        }
        r.anomaly = !reasons.is_empty();
        r.severity_score = if r.anomaly { (score.round() as u8).clamp(1, 100) } else { 0 };
        r.anomaly_reasons = reasons;
    }
}

fn status_points(s: u16) -> f64 {
    let within = |base: u16| f64::from(s - base) / 99.0 * 5.0;
    match s {
        500.. => 25.0 + within(500),
        400..=499 => 15.0 + within(400),
        _ => 10.0,
    }
}

fn slow_points(t: f64, threshold: f64) -> f64 {
    5.0 + 15.0 * (t / threshold).log10().clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RawLog, normalize};

    fn rec(level: &str, status: Option<i64>, rt: Option<f64>, code: Option<&str>) -> LogRecord {
        rec_with(&RuleSet::default(), level, status, rt, code)
    }

    fn rec_with(
        rules: &RuleSet,
        level: &str,
        status: Option<i64>,
        rt: Option<f64>,
        code: Option<&str>,
    ) -> LogRecord {
        let raw = RawLog {
            service_name: Some("s".into()),
            message: Some("m".into()),
            level: Some(level.into()),
            status_code: status,
            response_time_ms: rt,
            error_code: code.map(Into::into),
            ..RawLog::default()
        };
        normalize(raw, 0, rules).unwrap()
    }

    #[test]
    fn each_default_rule_fires_alone() {
        let r = rec("ERROR", None, None, None);
        assert_eq!(
            (r.anomaly, r.severity_score, r.anomaly_reasons.clone()),
            (true, 35, vec![ERROR_LEVEL.to_owned()])
        );
        let r = rec("INFO", Some(400), None, None);
        assert_eq!(
            (r.severity_score, r.anomaly_reasons.clone()),
            (15, vec![HTTP_STATUS.to_owned()])
        );
        let r = rec("INFO", Some(399), None, None);
        assert!(!r.anomaly);
        let r = rec("INFO", None, Some(3000.0), None);
        assert!(!r.anomaly, "the threshold itself is not slow");
        let r = rec("INFO", None, Some(3000.5), None);
        assert_eq!(
            (r.severity_score, r.anomaly_reasons.clone()),
            (5, vec![SLOW_RESPONSE.to_owned()])
        );
        let r = rec("INFO", None, None, Some("E1"));
        assert_eq!(
            (r.severity_score, r.anomaly_reasons.clone()),
            (15, vec![ERROR_CODE.to_owned()])
        );
        let r = rec("WARN", Some(200), Some(10.0), None);
        assert_eq!((r.anomaly, r.severity_score, r.anomaly_reasons.len()), (false, 0, 0));
    }

    #[test]
    fn worse_signals_score_higher() {
        let s = |status| rec("INFO", Some(status), None, None).severity_score;
        assert!(s(500) > s(499));
        assert!(s(503) > s(404));
        assert!(s(599) >= s(500));
        let t = |ms| rec("INFO", None, Some(ms), None).severity_score;
        assert!(t(10_000.0) > t(3_500.0));
        assert!(t(60_000.0) >= t(30_000.0));
        assert_eq!(t(1e9), 20, "capped at ten times the threshold");
    }

    #[test]
    fn more_signals_never_score_lower_and_max_is_100() {
        let one = rec("ERROR", None, None, None).severity_score;
        let two = rec("ERROR", Some(500), None, None).severity_score;
        let three = rec("ERROR", Some(500), Some(5000.0), None).severity_score;
        let four = rec("ERROR", Some(599), Some(1e6), Some("X")).severity_score;
        assert!(one < two && two < three && three < four, "{one} {two} {three} {four}");
        assert_eq!(four, 100);
        // Exhaustively: adding any signal or worsening one never lowers the score.
        let statuses = [None, Some(200), Some(400), Some(450), Some(500), Some(599)];
        let times = [None, Some(100.0), Some(3001.0), Some(9000.0), Some(40_000.0)];
        for (li, level) in ["INFO", "ERROR"].iter().enumerate() {
            for (si, st) in statuses.iter().enumerate() {
                for (ti, rt) in times.iter().enumerate() {
                    for code in [None, Some("E")] {
                        let base = rec(level, *st, *rt, code).severity_score;
                        if li == 0 {
                            assert!(rec("ERROR", *st, *rt, code).severity_score >= base);
                        }
                        if let Some(next) = statuses.get(si + 1) {
                            assert!(rec(level, *next, *rt, code).severity_score >= base);
                        }
                        if let Some(next) = times.get(ti + 1) {
                            assert!(rec(level, *st, *next, code).severity_score >= base);
                        }
                        if code.is_none() {
                            assert!(rec(level, *st, *rt, Some("E")).severity_score >= base);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rules_file_retunes_and_disables() {
        let rules = RuleSet::from_toml(
            "[http_status]\nmin_status = 500\n[slow_response]\nthreshold_ms = 100\n[error_level]\nenabled = false\n",
        )
        .unwrap();
        assert!(!rec_with(&rules, "INFO", Some(404), None, None).anomaly);
        assert!(rec_with(&rules, "INFO", Some(500), None, None).anomaly);
        assert!(rec_with(&rules, "INFO", None, Some(150.0), None).anomaly);
        assert!(!rec_with(&rules, "ERROR", None, None, None).anomaly);
        assert!(
            rec_with(&rules, "INFO", None, None, Some("E")).anomaly,
            "untouched rules keep defaults"
        );
    }

    #[test]
    fn rules_file_errors_are_clear() {
        let e = RuleSet::from_toml("[http_status]\nmin_status = 700\n").unwrap_err();
        assert_eq!(e.to_string(), "http_status.min_status must be between 100 and 599, got 700");
        let e = RuleSet::from_toml("[slow_response]\nthreshold_ms = 0\n").unwrap_err();
        assert!(e.to_string().contains("threshold_ms must be a number > 0"), "{e}");
        let e = RuleSet::from_toml("[nope]\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
