//! Where a field is written in a RON file, by its path (`alerting.rules[1].monitor`), so that a
//! finding of validation can name the line and column as a parse error does.
//!
//! A small scanner over RON's tokens walks the text once and records the position of every field
//! name, list element and map key it meets, under the path serde would give it (`Some(..)` and
//! other one-value wrappers are transparent). A field the file leaves out is located at the nearest
//! enclosing one that it does write.

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    Open(char),
    Close(char),
    Colon,
    Comma,
    Ident(&'a str),
    Str(&'a str),
    Other,
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
    line: usize,
    col: usize,
}

impl<'a> Scanner<'a> {
    fn bump(&mut self) -> Option<char> {
        let c = self.text[self.at..].chars().next()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    /// The next token and where it starts.
    fn next(&mut self) -> Option<(Tok<'a>, (usize, usize))> {
        loop {
            let c = self.peek()?;
            if c.is_whitespace() {
                self.bump();
            } else if self.rest().starts_with("//") {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if self.rest().starts_with("/*") {
                while !self.rest().is_empty() && !self.rest().starts_with("*/") {
                    self.bump();
                }
                self.bump();
                self.bump();
            } else {
                break;
            }
        }
        let pos = (self.line, self.col);
        let c = self.bump()?;
        let tok = match c {
            '(' | '[' | '{' => Tok::Open(c),
            ')' | ']' | '}' => Tok::Close(c),
            ':' => Tok::Colon,
            ',' => Tok::Comma,
            '"' => {
                let start = self.at;
                while let Some(c) = self.bump() {
                    match c {
                        '\\' => {
                            self.bump();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                Tok::Str(&self.text[start..self.at.saturating_sub(1).max(start)])
            }
            'r' if matches!(self.peek(), Some('#' | '"')) => {
                let mut hashes = 0;
                while self.peek() == Some('#') {
                    self.bump();
                    hashes += 1;
                }
                self.bump();
                let close = format!("\"{}", "#".repeat(hashes));
                while !self.rest().is_empty() && !self.rest().starts_with(&close) {
                    self.bump();
                }
                for _ in 0..close.len() {
                    self.bump();
                }
                Tok::Other
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = self.at - c.len_utf8();
                while self
                    .peek()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '#')
                {
                    self.bump();
                }
                Tok::Ident(&self.text[start..self.at])
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && !"()[]{}:,\"".contains(c))
                {
                    self.bump();
                }
                Tok::Other
            }
        };
        Some((tok, pos))
    }
}

struct Walker<'a> {
    toks: Vec<(Tok<'a>, (usize, usize))>,
    i: usize,
    found: HashMap<String, (usize, usize)>,
}

impl<'a> Walker<'a> {
    fn peek(&self, k: usize) -> Option<Tok<'a>> {
        self.toks.get(self.i + k).map(|t| t.0)
    }

    fn join(path: &str, field: &str) -> String {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    }

    /// One value at `path`; stops at anything it does not understand.
    fn value(&mut self, path: &str, depth: usize) {
        if depth > 128 {
            return;
        }
        if let Some(Tok::Ident(_)) = self.peek(0) {
            // A named struct, an enum variant or a bare word (`true`, `p99`, `None`).
            self.i += 1;
            if self.peek(0) != Some(Tok::Open('(')) {
                return;
            }
        }
        match self.peek(0) {
            Some(Tok::Open('(')) => {
                self.i += 1;
                let named = matches!(
                    (self.peek(0), self.peek(1)),
                    (Some(Tok::Ident(_)), Some(Tok::Colon))
                );
                if named {
                    self.fields(path, depth);
                } else {
                    // A wrapper (`Some(x)`, `Env("X")`) or a tuple: its one value sits at `path`.
                    self.elements(path, ')', depth, false);
                }
            }
            Some(Tok::Open('[')) => {
                self.i += 1;
                self.elements(path, ']', depth, true);
            }
            Some(Tok::Open('{')) => {
                self.i += 1;
                self.entries(path, depth);
            }
            Some(_) => self.i += 1,
            None => {}
        }
    }

    fn fields(&mut self, path: &str, depth: usize) {
        while let Some(tok) = self.peek(0) {
            match tok {
                Tok::Close(_) => {
                    self.i += 1;
                    return;
                }
                Tok::Comma => self.i += 1,
                Tok::Ident(name) if self.peek(1) == Some(Tok::Colon) => {
                    let field = Self::join(path, name);
                    self.found.insert(field.clone(), self.toks[self.i].1);
                    self.i += 2;
                    self.value(&field, depth + 1);
                }
                _ => return,
            }
        }
    }

    fn elements(&mut self, path: &str, close: char, depth: usize, indexed: bool) {
        let mut index = 0;
        while let Some(tok) = self.peek(0) {
            match tok {
                Tok::Close(c) if c == close => {
                    self.i += 1;
                    return;
                }
                Tok::Close(_) => return,
                Tok::Comma => self.i += 1,
                _ => {
                    let before = self.i;
                    if indexed {
                        let at = format!("{path}[{index}]");
                        self.found.insert(at.clone(), self.toks[self.i].1);
                        self.value(&at, depth + 1);
                    } else {
                        self.value(path, depth + 1);
                    }
                    index += 1;
                    if self.i == before {
                        return;
                    }
                }
            }
        }
    }

    fn entries(&mut self, path: &str, depth: usize) {
        while let Some(tok) = self.peek(0) {
            match tok {
                Tok::Close(_) => {
                    self.i += 1;
                    return;
                }
                Tok::Comma => self.i += 1,
                Tok::Str(key) if self.peek(1) == Some(Tok::Colon) => {
                    let at = Self::join(path, key);
                    self.found.insert(at.clone(), self.toks[self.i].1);
                    self.i += 2;
                    self.value(&at, depth + 1);
                }
                _ => return,
            }
        }
    }
}

/// Positions of the fields written in a RON text, by path.
pub(crate) struct Positions(HashMap<String, (usize, usize)>);

impl Positions {
    /// Scans `text`.
    pub(crate) fn of(text: &str) -> Positions {
        let mut scanner = Scanner {
            text,
            at: 0,
            line: 1,
            col: 1,
        };
        let mut toks = Vec::new();
        while let Some(t) = scanner.next() {
            toks.push(t);
            if toks.len() > 1_000_000 {
                break;
            }
        }
        let mut walker = Walker {
            toks,
            i: 0,
            found: HashMap::new(),
        };
        walker.value("", 0);
        Positions(walker.found)
    }

    /// Where `path` is written, or the nearest enclosing field that is.
    pub(crate) fn locate(&self, path: &str) -> Option<(usize, usize)> {
        let mut path = path;
        loop {
            if let Some(p) = self.0.get(path) {
                return Some(*p);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_elements_and_keys_and_falls_back_to_the_enclosing_field() {
        let text = r#"// a comment
(
    monitoring: (monitors: ["search", "index"], tick: "1s"),
    alerting: (
        rules: [
            (name: "A", monitor: Some("search")),
            (name: "B", /* note */ monitor: Some("x"), labels: {"team": "t"}),
        ],
        channels: (webhook: (enabled: true, url: Some(Env("HOOK")))),
    ),
)"#;
        let p = Positions::of(text);
        assert_eq!(p.locate("monitoring.tick"), Some((3, 49)));
        assert_eq!(p.locate("monitoring.monitors[1]"), Some((3, 39)));
        assert_eq!(p.locate("alerting.rules[1].monitor"), Some((7, 36)));
        assert_eq!(p.locate("alerting.rules[1].labels.team"), Some((7, 65)));
        assert_eq!(p.locate("alerting.channels.webhook.url"), Some((9, 45)));
        // Not written: the nearest enclosing field that is.
        assert_eq!(p.locate("alerting.rules[0].for"), Some((6, 13)));
        assert_eq!(p.locate("memory.max_memory_usage_mb"), None);
    }
}
