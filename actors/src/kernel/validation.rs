//! Findings of configuration checks: each names the field it is about, by its path from the top.
//!
//! Every configuration section has its own `validate()` that fills a [`Validation`] with field paths
//! relative to the section (`tick`, `rules[0].monitor`); the runtime's `Config` nests them under the
//! section's name (`monitoring.tick`) and adds the checks that span sections.

use std::time::Duration;

use serde::Serialize;

/// How serious a finding is.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::{Severity, Validation};
///
/// let mut v = Validation::default();
/// v.recommend("window", "short");
/// v.error("tick", "must be positive");
/// v.sort();
/// assert_eq!(v.findings[0].severity, Severity::Error);
/// assert_eq!(Severity::Warning.label(), "warning");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something to consider.
    Recommendation,
    /// Works, but probably not as intended.
    Warning,
    /// Unusable: the runtime refuses to start (or to reload) with it.
    Error,
}

impl Severity {
    /// `error`, `warning` or `recommendation`.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Recommendation => "recommendation",
        }
    }
}

/// One thing a check found.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::{Finding, Severity};
///
/// let finding = Finding {
///     severity: Severity::Error,
///     field: "monitoring.tick".into(),
///     message: "must be positive".into(),
///     position: Some((4, 9)),
/// };
/// assert_eq!(finding.to_string(), "error: 4:9: monitoring.tick: must be positive");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// The field, as a path from the top of the configuration (`alerting.rules[0].for`).
    pub field: String,
    /// What is wrong, and why it matters.
    pub message: String,
    /// Where the field is written in the file it came from: 1-based line and column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<(usize, usize)>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.severity.label())?;
        if let Some((line, col)) = self.position {
            write!(f, "{line}:{col}: ")?;
        }
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl Finding {
    /// The finding as compilers write theirs, in front of the file it was found in:
    /// `watchkeeper.ron:12:17: error: alerting.rules[0].warning: ...`.
    pub fn in_file(&self, file: &std::path::Path) -> String {
        let (severity, field, message) = (self.severity.label(), &self.field, &self.message);
        match self.position {
            Some((line, col)) => {
                format!(
                    "{}:{line}:{col}: {severity}: {field}: {message}",
                    file.display()
                )
            }
            None => format!("{}: {severity}: {field}: {message}", file.display()),
        }
    }
}

/// Everything the checks found.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use watchkeeper_actors::validation::A_DAY;
/// use watchkeeper_actors::Validation;
///
/// let mut section = Validation::default();
/// section.duration("tick", Duration::ZERO, A_DAY);
/// let mut all = Validation::default();
/// all.nest("monitoring", section);
/// assert!(all.has_errors());
/// assert_eq!(all.to_string(), "error: monitoring.tick: must be positive\n");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Validation {
    /// Findings, most serious first once [`Validation::sort`] ran.
    pub findings: Vec<Finding>,
}

impl Validation {
    /// Findings of one severity.
    pub fn of(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity == severity)
    }

    /// Whether there is any error.
    pub fn has_errors(&self) -> bool {
        self.of(Severity::Error).next().is_some()
    }

    /// Adds a finding.
    pub fn push(
        &mut self,
        severity: Severity,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity,
            field: field.into(),
            message: message.into(),
            position: None,
        });
    }

    /// Adds an error.
    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, field, message);
    }

    /// Adds a warning.
    pub fn warning(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, field, message);
    }

    /// Adds a recommendation.
    pub fn recommend(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Recommendation, field, message);
    }

    /// Adds the findings of a section, their paths prefixed with `section.`.
    pub fn nest(&mut self, section: &str, inner: Validation) {
        for mut finding in inner.findings {
            finding.field = if finding.field.is_empty() {
                section.to_owned()
            } else if finding.field.starts_with('[') {
                format!("{section}{}", finding.field)
            } else {
                format!("{section}.{}", finding.field)
            };
            self.findings.push(finding);
        }
    }

    /// Orders the findings most serious first, keeping the order within a severity.
    pub fn sort(&mut self) {
        self.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    }

    /// An error unless `d` is positive and at most `max` (`what` names the bound, e.g. "a day").
    pub fn duration(&mut self, field: &str, d: Duration, max: (Duration, &str)) {
        if d.is_zero() {
            self.error(field, "must be positive");
        } else if d > max.0 {
            self.error(
                field,
                format!(
                    "{} is more than {}: surely a mistake",
                    crate::kernel::duration_serde::format(d),
                    max.1
                ),
            );
        }
    }

    /// An error unless `n` is within `1..=max`.
    pub fn count(&mut self, field: &str, n: u64, max: u64) {
        if n == 0 {
            self.error(field, "must be at least 1");
        } else if n > max {
            self.error(field, format!("{n} is above the limit of {max}"));
        }
    }

    /// An error unless `x` is a finite number within `range` (both ends included).
    pub fn number(&mut self, field: &str, x: f64, range: std::ops::RangeInclusive<f64>) {
        if !(x.is_finite() && range.contains(&x)) {
            self.error(
                field,
                format!(
                    "must be a number within {} and {}, not {x}",
                    range.start(),
                    range.end()
                ),
            );
        }
    }
}

impl std::fmt::Display for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}

/// The longest duration any setting may have.
pub const A_DAY: (Duration, &str) = (Duration::from_secs(86_400), "a day");
/// The longest a window or retention may be.
pub const A_WEEK: (Duration, &str) = (Duration::from_secs(7 * 86_400), "a week");
/// The largest capacity or count any setting may have.
pub const MAX_CAPACITY: u64 = 1_000_000;
/// The longest name (of a monitor, rule, label, channel) in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// Why `name` is not a usable name of a monitor, rule or channel, if it is not.
pub fn name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        Some("must not be empty".into())
    } else if name.len() > MAX_NAME_BYTES {
        Some(format!(
            "is {} bytes long; names are at most {MAX_NAME_BYTES}",
            name.len()
        ))
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_prefixes_paths_and_sorting_puts_errors_first() {
        let mut inner = Validation::default();
        inner.recommend("window", "short");
        inner.error("rules[0].name", "empty");
        let mut v = Validation::default();
        v.nest("monitoring", inner);
        let mut list = Validation::default();
        list.error("[2]", "bad");
        v.nest("alerting.rules", list);
        v.sort();
        let fields: Vec<&str> = v.findings.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "monitoring.rules[0].name",
                "alerting.rules[2]",
                "monitoring.window"
            ]
        );
    }

    #[test]
    fn bounds_name_what_is_wrong() {
        let mut v = Validation::default();
        v.duration("a", Duration::ZERO, A_DAY);
        v.duration("b", Duration::from_secs(100_000_000 * 3600), A_DAY);
        v.duration("c", Duration::from_secs(60), A_DAY);
        v.count("d", u64::MAX, MAX_CAPACITY);
        v.number("e", f64::NAN, 0.0..=1.0);
        let fields: Vec<&str> = v.findings.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["a", "b", "d", "e"]);
        assert!(v.findings[1].message.contains("more than a day"));
        assert!(name_problem(&"x".repeat(300))
            .unwrap()
            .contains("300 bytes"));
        assert!(name_problem("search").is_none());
    }
}
