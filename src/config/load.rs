//! Loading and saving configuration files: RON with human durations, errors that name the file,
//! line, column and field path, and findings located in the file they came from.

use std::path::{Path, PathBuf};

use super::locate::Positions;
use super::{Config, Validation};

/// A configuration that could not be loaded.
///
/// # Examples
///
/// ```
/// use watchkeeper::Config;
///
/// let e = Config::from_ron(r#"(monitoring: (tick: "soon"))"#).unwrap_err();
/// assert_eq!(e.field.as_deref(), Some("monitoring.tick"));
/// assert_eq!(e.position.map(|(line, _)| line), Some(1));
/// assert!(e.to_string().starts_with("<config>:1:"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when it came from one.
    pub file: Option<PathBuf>,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The field, as a path from the top (`alerting.rules[0].for`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self
            .file
            .as_ref()
            .map_or_else(|| "<config>".to_owned(), |p| p.display().to_string());
        match self.position {
            Some((line, col)) => write!(f, "{file}:{line}:{col}: ")?,
            None => write!(f, "{file}: ")?,
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// RON as configuration files are written: `Some(..)` may be left out around optional values.
fn options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

impl Config {
    /// Parses RON text; any subset of fields is valid, and errors name the line, column and field
    /// path. A text of nothing but blanks and line comments is refused as empty (a file cut
    /// short is more likely than a wish for every default, which `()` says).
    pub fn from_ron(text: &str) -> Result<Config, ConfigError> {
        if text.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with("//")
        }) {
            return Err(ConfigError {
                file: None,
                position: None,
                field: None,
                message: "the configuration is empty; `()` is the default configuration".into(),
            });
        }
        let mut de =
            ron::Deserializer::from_str_with_options(text, options()).map_err(|e| ConfigError {
                file: None,
                position: Some((e.position.line, e.position.col)),
                field: None,
                message: e.code.to_string(),
            })?;
        let parsed: Result<Config, _> = serde_path_to_error::deserialize(&mut de);
        let config = parsed.map_err(|e| {
            // a segment the parser could not name (`?`, as in a syntax error) says nothing: the
            // field is the nearest named one around it
            let mut path = e.path().to_string();
            while path == "?" || path.ends_with(".?") {
                path.truncate(path.len().saturating_sub(2));
            }
            let spanned = de.span_error(e.into_inner());
            let unknown = matches!(spanned.code, ron::error::Error::NoSuchStructField { .. });
            let mut position = Some((spanned.position.line, spanned.position.col));
            if unknown {
                // RON points past the unknown name; the name itself is what to show.
                position = Positions::of(text).locate(&path).or(position);
            }
            let mut message = spanned.code.to_string().replace("`in ", "` in ");
            if let Some(hint) = hint(&spanned.code, text, spanned.position) {
                message = format!("{message}; {hint}");
            }
            ConfigError {
                file: None,
                position,
                field: (!path.is_empty() && path != ".").then_some(path),
                message,
            }
        })?;
        de.end().map_err(|e| {
            let spanned = de.span_error(e);
            ConfigError {
                file: None,
                position: Some((spanned.position.line, spanned.position.col)),
                field: None,
                message: spanned.code.to_string(),
            }
        })?;
        Ok(config)
    }

    /// Loads a RON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = read(path)?;
        Config::from_ron(&text).map_err(|e| ConfigError {
            file: Some(path.to_owned()),
            ..e
        })
    }

    /// Loads a RON file and validates it, each finding located at the line and column where its
    /// field is written (or the nearest enclosing field that is).
    pub fn check_file(path: impl AsRef<Path>) -> Result<(Config, Validation), ConfigError> {
        let path = path.as_ref();
        let text = read(path)?;
        let config = Config::from_ron(&text).map_err(|e| ConfigError {
            file: Some(path.to_owned()),
            ..e
        })?;
        let mut validation = config.validate();
        locate(&mut validation, &text);
        Ok((config, validation))
    }

    /// Pretty RON text of this configuration, every field written out.
    pub fn to_ron(&self) -> String {
        let pretty = ron::ser::PrettyConfig::default().struct_names(false);
        ron::ser::to_string_pretty(self, pretty)
            .unwrap_or_else(|e| format!("// cannot serialize: {e}"))
    }

    /// Writes this configuration as pretty RON.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_ron())
    }
}

/// Sets each finding's position from the RON text its configuration came from.
pub(crate) fn locate(validation: &mut Validation, text: &str) {
    let positions = Positions::of(text);
    for finding in &mut validation.findings {
        finding.position = positions.locate(&finding.field);
    }
}

/// What the parser's bare complaint means where it is a common slip: a quoted choice or secret, a
/// fraction or a negative number where a whole number is wanted.
fn hint(code: &ron::error::Error, text: &str, at: ron::error::Position) -> Option<&'static str> {
    use ron::error::Error as E;
    // RON counts columns in bytes.
    let found = text
        .lines()
        .nth(at.line.checked_sub(1)?)?
        .get(at.col.checked_sub(1)?..)?;
    let next: String = found.chars().take(2).collect();
    match (code, next.chars().next()?) {
        (E::ExpectedIdentifier, '"') => Some(
            "found a quoted string: a choice is written without quotes (`metric: p99`), a secret as `Value(\"...\")` or `Env(\"NAME\")`",
        ),
        (E::ExpectedComma, '.') if next[1..].starts_with(|c: char| c.is_ascii_digit()) => {
            Some("found a fraction where a whole number is wanted")
        }
        (E::ExpectedInteger, '-') => Some("found a negative number where a count (0 or more) is wanted"),
        (E::ExpectedInteger, c) if c.is_ascii_digit() || c == '.' => {
            Some("a whole number is wanted here")
        }
        _ => None,
    }
}

/// A configuration file's text, refusing files too large to be one.
fn read(path: &Path) -> Result<String, ConfigError> {
    const LIMIT: u64 = 16 << 20;
    let refuse = |message: String| ConfigError {
        file: Some(path.to_owned()),
        position: None,
        field: None,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| refuse(format!("cannot read: {e}")))?;
    if meta.len() > LIMIT {
        return Err(refuse(format!(
            "{} bytes is too large for a configuration file (at most {LIMIT})",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| refuse(format!("cannot read: {e}")))
}
