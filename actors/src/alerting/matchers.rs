//! Label matchers as Alertmanager has them: `=`, `!=`, `=~`, `!~`, regular expressions anchored to
//! the whole value, a missing label read as the empty string. Silences, inhibition rules and routes
//! all select alerts with them.
//!
//! In configuration a matcher is written as Alertmanager writes it, `severity="critical"` or
//! `service=~"foo|bar"` (the value may be left unquoted); [`Matcher::parse`] reads that form and
//! [`Matcher`]'s `Display` writes it back.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a matcher compares.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::{MatchOp, Matcher};
///
/// let m = Matcher::new("team", MatchOp::NotRegex, "search|index")?;
/// assert_eq!(m.to_string(), r#"team!~"search|index""#);
/// assert!(m.matches_value("storage"));
/// assert_eq!(MatchOp::from_flags(true, true), MatchOp::Regex);
/// # Ok::<(), watchkeeper_actors::alerting::MatcherError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchOp {
    /// The label equals the value.
    Equal,
    /// The label does not equal the value.
    NotEqual,
    /// The label matches the regular expression, anchored to the whole value.
    Regex,
    /// The label does not match the regular expression.
    NotRegex,
}

impl MatchOp {
    /// `=`, `!=`, `=~` or `!~`.
    pub fn symbol(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    /// The operator of Alertmanager's `isEqual` and `isRegex` flags.
    pub fn from_flags(is_equal: bool, is_regex: bool) -> MatchOp {
        match (is_equal, is_regex) {
            (true, false) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (false, true) => MatchOp::NotRegex,
        }
    }

    /// Whether the operator is a positive one (`=` or `=~`).
    pub fn is_equal(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }

    /// Whether the value is a regular expression.
    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }
}

/// One label matcher.
///
/// # Examples
///
/// ```
/// use std::collections::BTreeMap;
/// use watchkeeper_actors::alerting::Matcher;
///
/// let m = Matcher::parse(r#"alertname=~"Search.*""#)?;
/// let labels = BTreeMap::from([("alertname".to_owned(), "SearchSlow".to_owned())]);
/// assert!(m.matches(&labels));
/// assert!(!m.matches(&BTreeMap::new()));
/// let list = Matcher::parse_list(r#"{severity="critical", team!="index"}"#)?;
/// assert!(Matcher::all_match(&list, &BTreeMap::from([("severity".into(), "critical".into())])));
/// # Ok::<(), watchkeeper_actors::alerting::MatcherError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Matcher {
    /// The label's name.
    pub name: String,
    /// How to compare.
    pub op: MatchOp,
    /// The value, or the regular expression (as written, not anchored).
    pub value: String,
    /// The anchored expression, for regex operators.
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        (self.op, &self.name, &self.value) == (other.op, &other.name, &other.value)
    }
}

impl Eq for Matcher {}

/// Why a matcher could not be made.
///
/// # Examples
///
/// ```
/// use watchkeeper_actors::alerting::Matcher;
///
/// let e = Matcher::parse("9lives=x").unwrap_err();
/// assert!(e.to_string().starts_with("invalid label name"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatcherError(pub String);

impl fmt::Display for MatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MatcherError {}

/// Whether `name` is a label name Prometheus and Alertmanager accept: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `pattern` with the classes `\d`, `\w`, `\s` and their negations written out as the ASCII sets
/// they are in Go's RE2, which Alertmanager compiles matchers with (in Rust's `regex` they are
/// Unicode classes). A bracketed set nests in a class too, so the same text serves inside one.
fn ascii_perl_classes(pattern: &str) -> std::borrow::Cow<'_, str> {
    if !pattern.contains('\\') {
        return pattern.into();
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('W') => out.push_str("[^0-9A-Za-z_]"),
            Some('s') => out.push_str("[\\t\\n\\f\\r ]"),
            Some('S') => out.push_str("[^\\t\\n\\f\\r ]"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out.into()
}

/// The most memory one matcher's compiled expression may take: an expression is compiled on the
/// thread that asked (the admin server's, for an API filter), so one that would take more, and
/// as long to compile (`\pL{200}` took 10 MiB), is refused.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The same for a matcher read back (a saved silence, the configuration): the regex crate's own
/// limit, under which an earlier version took it, so nothing it saved fails to load.
const LOADED_REGEX_SIZE_LIMIT: usize = 10 << 20;

impl Matcher {
    /// A matcher; an invalid label name or regular expression is an error that says which.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, MatcherError> {
        Matcher::limited(name, op, value, REGEX_SIZE_LIMIT)
    }

    fn limited(
        name: &str,
        op: MatchOp,
        value: &str,
        size_limit: usize,
    ) -> Result<Matcher, MatcherError> {
        if !valid_label_name(name) {
            return Err(MatcherError(format!(
                "invalid label name {name:?}: names are letters, digits and underscores, not starting with a digit"
            )));
        }
        let regex = if op.is_regex() {
            let anchored = format!("^(?:{})$", ascii_perl_classes(value));
            Some(
                regex::RegexBuilder::new(&anchored)
                    .size_limit(size_limit)
                    .build()
                    .map_err(|e| {
                        MatcherError(format!("invalid regular expression {value:?}: {e}"))
                    })?,
            )
        } else {
            None
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// `label="value"`.
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.to_owned(),
            op: MatchOp::Equal,
            value: value.to_owned(),
            regex: None,
        }
    }

    /// Parses `name="value"`, `name!=value`, `name=~"re"`, `name!~"re"`: the value may be quoted
    /// (with `\"`, `\\` and `\n` escapes) or bare; spaces around each part are ignored.
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        Matcher::parse_limited(text, REGEX_SIZE_LIMIT)
    }

    fn parse_limited(text: &str, size_limit: usize) -> Result<Matcher, MatcherError> {
        let bad = || MatcherError(format!("bad matcher format: {text:?}"));
        let text = text.trim();
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(bad)?;
        let name = &text[..name_end];
        let rest = text[name_end..].trim_start();
        let (op, rest) = [
            ("=~", MatchOp::Regex),
            ("!~", MatchOp::NotRegex),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ]
        .iter()
        .find_map(|(s, op)| rest.strip_prefix(s).map(|r| (*op, r)))
        .ok_or_else(bad)?;
        let raw = rest.trim();
        let value = if let Some(inner) = raw.strip_prefix('"') {
            let inner = inner.strip_suffix('"').ok_or_else(|| {
                MatcherError(format!("matcher value is missing its closing quote: {raw}"))
            })?;
            unescape(inner).ok_or_else(|| {
                MatcherError(format!(
                    "matcher value contains an unescaped double quote: {raw}"
                ))
            })?
        } else if raw.contains('"') {
            return Err(MatcherError(format!(
                "matcher value contains an unescaped double quote: {raw}"
            )));
        } else {
            raw.to_owned()
        };
        Matcher::limited(name, op, &value, size_limit)
    }

    /// Parses a list: `{a="1", b=~"x"}` or `a="1",b=~"x"` (commas inside quotes are kept).
    pub fn parse_list(text: &str) -> Result<Vec<Matcher>, MatcherError> {
        let text = text.trim();
        let text = text.strip_prefix('{').unwrap_or(text);
        let text = text.strip_suffix('}').unwrap_or(text);
        let mut out = Vec::new();
        let (mut start, mut quoted, mut escaped) = (0, false, false);
        for (i, c) in text.char_indices() {
            match c {
                '\\' if quoted => escaped = !escaped,
                '"' if !escaped => quoted = !quoted,
                ',' if !quoted => {
                    out.push(&text[start..i]);
                    start = i + 1;
                }
                _ => escaped = false,
            }
            if c != '\\' {
                escaped = false;
            }
        }
        out.push(&text[start..]);
        out.into_iter()
            .filter(|piece| !piece.trim().is_empty())
            .map(Matcher::parse)
            .collect()
    }

    /// Whether `value` (of this matcher's label, or `""` when it is absent) matches.
    pub fn matches_value(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether the label set matches; a missing label counts as the empty string.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Whether every matcher matches (an empty list matches everything).
    pub fn all_match(matchers: &[Matcher], labels: &BTreeMap<String, String>) -> bool {
        matchers.iter().all(|m| m.matches(labels))
    }
}

fn unescape(inner: &str) -> Option<String> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

impl fmt::Display for Matcher {
    /// `name="value"`, escaped as Alertmanager writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped = self
            .value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        write!(f, "{}{}\"{escaped}\"", self.name, self.op.symbol())
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Matcher::parse_limited(&text, LOADED_REGEX_SIZE_LIMIT).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii_as_in_alertmanagers_go_regexes() {
        let m = |text: &str| Matcher::parse(text).unwrap();
        let digits = m(r#"instance=~"node-\d+""#);
        assert!(digits.matches_value("node-12"));
        assert!(
            !digits.matches_value("node-\u{0663}"),
            "an Arabic-Indic digit"
        );
        let word = m(r#"team=~"\w+""#);
        assert!(word.matches_value("search_2"));
        assert!(!word.matches_value("\u{e9}quipe"));
        assert!(m(r#"team=~"\W+""#).matches_value("\u{e9}"));
        assert!(
            !m(r#"x=~"a\sb""#).matches_value("a\u{a0}b"),
            "a no-break space"
        );
        assert!(m(r#"x=~"a\Sb""#).matches_value("a\u{a0}b"));
        // Inside a set, escaped backslashes, and other escapes as written.
        assert!(m(r#"x=~"[\d.]+""#).matches_value("1.5"));
        assert!(!m(r#"x=~"[^\D]""#).matches_value("\u{0663}"));
        assert!(m(r#"x=~"[^\D]""#).matches_value("7"));
        assert!(m(r#"x=~"a\\\\d""#).matches_value("a\\d"));
        assert!(m(r#"x=~"\p{Greek}\.""#).matches_value("\u{3b1}."));
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_every_operator_quoted_or_bare_and_writes_it_back() {
        for (text, op, value) in [
            (r#"alertname="X""#, MatchOp::Equal, "X"),
            (r#"alertname = X"#, MatchOp::Equal, "X"),
            (r#"severity!="warning""#, MatchOp::NotEqual, "warning"),
            (r#"alertname=~"Search.*""#, MatchOp::Regex, "Search.*"),
            (r#"alertname=~Search.*"#, MatchOp::Regex, "Search.*"),
            (r#"job!~"a|b""#, MatchOp::NotRegex, "a|b"),
            (r#"note="say \"hi\"""#, MatchOp::Equal, "say \"hi\""),
            (r#"empty="""#, MatchOp::Equal, ""),
            (r#"empty="#, MatchOp::Equal, ""),
        ] {
            let m = Matcher::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((m.op, m.value.as_str()), (op, value), "{text}");
            assert_eq!(Matcher::parse(&m.to_string()).unwrap(), m, "{text}");
        }
        assert!(Matcher::parse("no operator").is_err());
        assert!(Matcher::parse(r#"a="unterminated"#).is_err());
        assert!(Matcher::parse(r#"a=in"side"#).is_err());
        assert!(Matcher::parse("9lives=x").is_err());
        let e = Matcher::parse(r#"a=~"(""#).unwrap_err();
        assert!(e.0.contains("invalid regular expression"), "{e}");
    }

    #[test]
    fn regexes_are_anchored_and_a_missing_label_is_empty() {
        let re = Matcher::parse(r#"service=~"foo1|foo2|baz""#).unwrap();
        assert!(re.matches(&labels(&[("service", "baz")])));
        assert!(!re.matches(&labels(&[("service", "foo1baz")])));
        let team = Matcher::parse(r#"owner=~"team-(B|C)""#).unwrap();
        assert!(!team.matches(&labels(&[("owner", "xteam-B")])));
        let absent = Matcher::parse(r#"level!="critical""#).unwrap();
        assert!(absent.matches(&labels(&[])));
        assert!(Matcher::parse(r#"job=~".*""#)
            .unwrap()
            .matches(&labels(&[])));
        assert!(Matcher::parse(r#"foo="""#).unwrap().matches(&labels(&[])));
        assert!(!Matcher::parse(r#"foo!="""#).unwrap().matches(&labels(&[])));
    }

    #[test]
    fn lists_split_on_commas_outside_quotes() {
        let list = Matcher::parse_list(r#"{a="1", b=~"x,y", c!="q\"uote,"}"#).unwrap();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, [r#"a="1""#, r#"b=~"x,y""#, r#"c!="q\"uote,""#]);
        assert!(Matcher::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn an_expression_sent_is_bounded_and_one_read_back_loads_as_before() {
        let big = r#"instance=~"\pL{60}""#;
        let sent = Matcher::parse(big).unwrap_err();
        assert!(sent.0.contains("size limit"), "{sent}");
        // A silence an earlier version saved with it still loads.
        let saved = serde_json::to_string(big).unwrap();
        let loaded: Matcher = serde_json::from_str(&saved).unwrap();
        assert_eq!(loaded.value, r"\pL{60}");
    }
}
