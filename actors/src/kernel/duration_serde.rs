//! Durations as human strings in configuration: `"250ms"`, `"30s"`, `"5m"`, `"1h30m"`.
//!
//! Units: `ns`, `us`, `ms`, `s`, `m`, `h`, `d`. Used through `#[serde(with = "duration_serde")]`.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Parses a duration such as `"1h30m"` or `"250ms"`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; expected e.g. \"30s\", \"5m\", \"250ms\"".to_owned());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| format!("`{text}` lacks a unit (ns, us, ms, s, m, h, d)"))?;
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration; expected e.g. \"30s\", \"5m\""
            ));
        }
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{}` in `{text}` is not a number", &rest[..digits]))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{text}` (ns, us, ms, s, m, h, d)"
                ))
            }
        };
        let part = number * seconds;
        if !part.is_finite() || part > 1e12 {
            return Err(format!("`{text}` is out of range"));
        }
        total += Duration::from_secs_f64(part);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Formats a duration in the largest units that represent it exactly: `"5m"`, `"1h30m"`, `"250ms"`.
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    let nanos = d.as_nanos();
    if !nanos.is_multiple_of(1_000_000_000) {
        return if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!("{}us", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    out
}

/// Serializes as [`format()`].
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

/// Deserializes with [`parse`]. A number is refused with a hint: it has no unit.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let Text(text) = Text::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// The text of a duration; a number in its place is refused with a hint instead of "expected a
/// string".
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl TextVisitor {
    fn number<E: serde::de::Error>(shown: String) -> E {
        E::custom(format!(
            "a duration is a string with its unit, e.g. \"{shown}s\" or \"{shown}ms\"; found the number {shown}"
        ))
    }
}

impl serde::de::Visitor<'_> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration such as \"30s\", \"5m\" or \"250ms\"")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text, E> {
        Ok(Text(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
        Err(Self::number(v.to_string()))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
        Err(Self::number(v.to_string()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text, E> {
        Err(Self::number(v.to_string()))
    }
}

/// An optional duration, for fields that inherit when left out: `#[serde(default, with =
/// "duration_serde::option")]`.
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::Text;

    /// Serializes `Some` as [`super::format`]; `None` as nothing.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::format(*d)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes with [`super::parse`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<Text>::deserialize(d)?
            .map(|Text(text)| super::parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Durations in reports (health, status, JSON answers) as seconds, a number: the field is named with
/// a `_seconds` suffix, `#[serde(rename = "mean_seconds", serialize_with = "duration_serde::seconds")]`.
pub fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// [`seconds`] for an optional duration (`null` when absent).
pub fn seconds_opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_round_trip() {
        for (text, d) in [
            ("250ms", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h30m", Duration::from_secs(5400)),
            ("2d", Duration::from_secs(172_800)),
            ("15us", Duration::from_micros(15)),
        ] {
            assert_eq!(parse(text), Ok(d), "{text}");
            assert_eq!(format(d), text);
        }
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("30").unwrap_err().contains("unit"));
        assert!(parse("5 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse("s").is_err());
        assert!(parse("1e300h").is_err());
    }
}
