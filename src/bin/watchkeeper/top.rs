//! `watchkeeper top`: a running instance in the terminal, refreshed every second from its
//! `/api/status` (the document the status page draws): health, monitors with rates, quantiles and
//! a sparkline over the window, the actor tree, and the alerts.
//!
//! Keys: `q` (or Ctrl-C) quits, `s` cycles the monitors' order (name, rate, p99, total), `r`
//! reverses it, `/` types a filter (Enter keeps it, Esc drops it; Esc again clears it), `t` shows
//! the sparkline of p99 or of the rate. `--once` prints one plain-text frame to stdout and exits,
//! for scripts and pipes; a closed pipe ends the output quietly.
//!
//! Every string from the server is shown with its control characters replaced, so a label value
//! cannot move the cursor or recolour the terminal.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

use crate::client::Admin;

/// How often the view asks the instance again.
const REFRESH: Duration = Duration::from_secs(1);

/// How long one request may take before the view says the instance does not answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Sparkline width in `--once` output.
const PLAIN_SPARK: usize = 30;

mod snapshot;

use self::snapshot::{clean, parse, AlertRow, MonitorRow, Snapshot, TreeRow};

fn sig(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let digits = 3 - 1 - x.abs().log10().floor() as i32;
    if digits <= 0 {
        format!("{}", x.round())
    } else {
        let s = format!("{:.*}", digits as usize, x);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    }
}

fn seconds(s: Option<f64>) -> String {
    match s {
        None => "-".into(),
        Some(0.0) => "0".into(),
        Some(s) if s < 1e-6 => format!("{} ns", sig(s * 1e9)),
        Some(s) if s < 1e-3 => format!("{} µs", sig(s * 1e6)),
        Some(s) if s < 1.0 => format!("{} ms", sig(s * 1e3)),
        Some(s) => format!("{} s", sig(s)),
    }
}

fn bytes(b: Option<u64>) -> String {
    let Some(b) = b else { return "-".into() };
    let mut v = b as f64;
    let mut unit = 0;
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{} {}", sig(v), UNITS[unit])
}

fn span(s: f64) -> String {
    let s = s.max(0.0) as u64;
    let (d, h, m) = (s / 86400, s % 86400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {}s", s % 60)
    } else {
        format!("{}s", s % 60)
    }
}

/// `values` (oldest first) in `width` block characters, the newest on the right; several values
/// per character take their largest; a missing value is a space.
fn sparkline(values: &[Option<f64>], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if width == 0 || values.is_empty() {
        return String::new();
    }
    let per = values.len().div_ceil(width);
    let columns: Vec<Option<f64>> = values
        .rchunks(per)
        .rev()
        .map(|c| c.iter().flatten().copied().reduce(f64::max))
        .collect();
    let top = columns.iter().flatten().copied().fold(0.0, f64::max);
    columns
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if top <= 0.0 => BARS[0],
            Some(v) => BARS[((v / top) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

// ---- the view's state: order, filter, sparkline ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum SortBy {
    Name,
    Rate,
    P99,
    Total,
}

impl SortBy {
    fn next(self) -> SortBy {
        match self {
            SortBy::Name => SortBy::Rate,
            SortBy::Rate => SortBy::P99,
            SortBy::P99 => SortBy::Total,
            SortBy::Total => SortBy::Name,
        }
    }
    fn label(self) -> &'static str {
        match self {
            SortBy::Name => "name",
            SortBy::Rate => "rate",
            SortBy::P99 => "p99",
            SortBy::Total => "total",
        }
    }
}

struct View {
    url: String,
    snapshot: Option<Snapshot>,
    error: Option<String>,
    updated: Option<chrono::DateTime<chrono::Local>>,
    sort: SortBy,
    reverse: bool,
    filter: String,
    /// The filter being typed, while `/` is active.
    editing: Option<String>,
    spark_rate: bool,
}

impl View {
    fn new(url: &str) -> View {
        View {
            url: clean(url),
            snapshot: None,
            error: None,
            updated: None,
            sort: SortBy::Name,
            reverse: false,
            filter: String::new(),
            editing: None,
            spark_rate: false,
        }
    }

    fn refresh(&mut self, admin: &Admin) {
        match fetch(admin) {
            Ok(snap) => {
                self.snapshot = Some(snap);
                self.error = None;
                self.updated = Some(chrono::Local::now());
            }
            Err(e) => self.error = Some(clean(&e)),
        }
    }

    fn active_filter(&self) -> &str {
        self.editing.as_deref().unwrap_or(&self.filter)
    }

    fn matches(&self, fields: &[&str]) -> bool {
        let f = self.active_filter().to_lowercase();
        f.is_empty() || fields.iter().any(|s| s.to_lowercase().contains(&f))
    }

    fn monitors(&self) -> Vec<&MonitorRow> {
        let Some(snap) = &self.snapshot else {
            return Vec::new();
        };
        let mut rows: Vec<&MonitorRow> = snap
            .monitors
            .iter()
            .filter(|m| self.matches(&[&m.monitor, &m.kind]))
            .collect();
        let key = |m: &MonitorRow| match self.sort {
            SortBy::Name => 0.0,
            SortBy::Rate => -m.rate,
            SortBy::P99 => -m.p99.unwrap_or(-1.0),
            SortBy::Total => -(m.total as f64),
        };
        rows.sort_by(|a, b| {
            key(a)
                .total_cmp(&key(b))
                .then_with(|| (&a.monitor, &a.kind).cmp(&(&b.monitor, &b.kind)))
        });
        if self.reverse {
            rows.reverse();
        }
        rows
    }

    fn tree(&self) -> Vec<&TreeRow> {
        self.snapshot
            .iter()
            .flat_map(|s| &s.tree)
            .filter(|t| self.matches(&[&t.name, &t.state, &t.last_failure]))
            .collect()
    }

    fn alerts(&self) -> Vec<&AlertRow> {
        self.snapshot
            .iter()
            .flat_map(|s| &s.alerts)
            .filter(|a| self.matches(&[&a.name, &a.labels, &a.summary, &a.state]))
            .collect()
    }

    /// Handles one key; false when the view should end.
    fn key(&mut self, key: KeyEvent) -> bool {
        if key.kind != KeyEventKind::Press {
            return true;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return false;
        }
        if let Some(typed) = &mut self.editing {
            match key.code {
                KeyCode::Enter => {
                    self.filter = std::mem::take(typed);
                    self.editing = None;
                }
                KeyCode::Esc => self.editing = None,
                KeyCode::Backspace => {
                    typed.pop();
                }
                KeyCode::Char(c) if !c.is_control() && typed.chars().count() < 64 => typed.push(c),
                _ => {}
            }
            return true;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Char('Q') => return false,
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('r') => self.reverse = !self.reverse,
            KeyCode::Char('t') => self.spark_rate = !self.spark_rate,
            KeyCode::Char('/') => self.editing = Some(self.filter.clone()),
            KeyCode::Esc => self.filter.clear(),
            _ => {}
        }
        true
    }

    fn header_line(&self) -> String {
        let Some(snap) = &self.snapshot else {
            return format!("watchkeeper {}  (no answer yet)", self.url);
        };
        let h = &snap.header;
        format!(
            "watchkeeper {}  {}  score {}/100  up {}  rss {}  cpu {}  alerts {}",
            self.url,
            h.status,
            h.score,
            span(h.uptime),
            bytes(h.resident),
            h.cpu_percent.map_or("-".into(), |c| format!("{}%", sig(c))),
            alert_counts(h),
        )
    }

    fn sort_label(&self) -> String {
        format!(
            "{} {}",
            self.sort.label(),
            if self.reverse { "(reversed)" } else { "" }
        )
        .trim_end()
        .to_owned()
    }

    fn spark_title(&self, m: Option<&MonitorRow>) -> String {
        let over = m.map_or(String::new(), |m| format!(" over {}", span(m.span)));
        if self.spark_rate {
            format!("RATE{over}")
        } else {
            format!("P99{over}")
        }
    }

    fn spark_of(&self, m: &MonitorRow, width: usize) -> String {
        sparkline(if self.spark_rate { &m.rates } else { &m.p99s }, width)
    }
}

fn fetch(admin: &Admin) -> Result<Snapshot, String> {
    let r = admin.request("GET", "/api/status", None)?;
    if r.status != 200 {
        return Err(format!("the admin server answered {}", r.status));
    }
    Ok(parse(&r.json()?))
}

// ---- one plain-text frame ----

fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.chars().take(width).collect()
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

fn plain(view: &View) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(view.header_line());
    if let Some(snap) = &view.snapshot {
        for issue in &snap.header.issues {
            line(format!("issue: {issue}"));
        }
    }
    line(String::new());
    let monitors = view.monitors();
    line(format!(
        "{}{}{:>10}  {:>9}  {:>9}  {:>9}  {:>10}  {}",
        pad("MONITOR", 16),
        pad("KIND", 10),
        "RATE",
        "P50",
        "P99",
        "P99.9",
        "TOTAL",
        view.spark_title(monitors.first().copied())
    ));
    for m in &monitors {
        line(format!(
            "{}{}{:>10}  {:>9}  {:>9}  {:>9}  {:>10}  {}",
            pad(&m.monitor, 16),
            pad(&m.kind, 10),
            format!("{}/s", sig(m.rate)),
            seconds(m.p50),
            seconds(m.p99),
            seconds(m.p999),
            m.total,
            view.spark_of(m, PLAIN_SPARK)
        ));
    }
    line(String::new());
    line(format!(
        "{}{}{:>8}  {:>11}  {:>5}  LAST FAILURE",
        pad("ACTOR", 28),
        pad("STATE", 11),
        "RESTARTS",
        "MAILBOX",
        "HIGH"
    ));
    for t in view.tree() {
        let (mailbox, high) = t.mailbox.map_or((String::new(), String::new()), |m| {
            (format!("{}/{}", m.0, m.1), m.2.to_string())
        });
        line(format!(
            "{}{}{:>8}  {:>11}  {:>5}  {}",
            pad(&format!("{}{}", "  ".repeat(t.depth), t.name), 28),
            pad(&t.state, 11),
            t.restarts,
            mailbox,
            high,
            t.last_failure
        ));
    }
    line(String::new());
    let alerts = view.alerts();
    let total = view.snapshot.as_ref().map_or(0, |s| s.alerts_total);
    line(format!("ALERTS ({} shown of {total})", alerts.len()));
    for a in alerts {
        let ack = a
            .acknowledged_by
            .as_ref()
            .map_or(String::new(), |by| format!("  [acknowledged by {by}]"));
        line(format!(
            "{}{}{}{}  {}{ack}",
            pad(&a.state, 11),
            pad(&a.severity, 9),
            pad(&a.name, 28),
            a.labels,
            a.summary
        ));
    }
    out
}

/// `2 firing, 1 pending`, with the muted ones (`1 muted`) only when there are some.
fn alert_counts(h: &snapshot::Header) -> String {
    match h.muted {
        0 => format!("{} firing, {} pending", h.firing, h.pending),
        m => format!("{} firing, {m} muted, {} pending", h.firing, h.pending),
    }
}

// ---- the terminal view ----

fn state_style(state: &str) -> Style {
    match state {
        "running" | "Healthy" | "closed" => Style::new().fg(Color::Green),
        "restarting" | "pending" | "recovering" | "Warning" | "shutting_down" => {
            Style::new().fg(Color::Yellow)
        }
        "stopped" | "escalated" | "firing" | "no_data" | "Critical" => Style::new().fg(Color::Red),
        _ => Style::new(),
    }
}

fn titled(title: String) -> Block<'static> {
    Block::new().borders(Borders::TOP).title(Span::styled(
        title,
        Style::new().add_modifier(Modifier::BOLD),
    ))
}

fn draw(frame: &mut Frame, view: &View) {
    let monitors = view.monitors();
    let tree = view.tree();
    let alerts = view.alerts();
    let area = frame.area();
    let [header, mon_area, tree_area, alert_area, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length((monitors.len() as u16 + 2).clamp(3, 14)),
        Constraint::Length((tree.len() as u16 + 2).clamp(3, 24)),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);

    // Header: the instance's health, and the first issue or the error of the last request.
    let mut top = vec![Span::styled(
        " watchkeeper ",
        Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
    )];
    let second = match &view.snapshot {
        Some(snap) => {
            let h = &snap.header;
            top.push(Span::raw(format!(" {} ", view.url)));
            top.push(Span::styled(
                h.status.clone(),
                state_style(&h.status).add_modifier(Modifier::BOLD),
            ));
            top.push(Span::raw(format!(
                "  score {}/100  up {}  rss {}  cpu {}  alerts {}",
                h.score,
                span(h.uptime),
                bytes(h.resident),
                h.cpu_percent.map_or("-".into(), |c| format!("{}%", sig(c))),
                alert_counts(h),
            )));
            match (&view.error, h.issues.first()) {
                (Some(e), _) => Line::styled(format!(" {e}"), Style::new().fg(Color::Red)),
                (None, Some(issue)) => Line::styled(
                    if h.issues.len() > 1 {
                        format!(" {issue} (+{} more)", h.issues.len() - 1)
                    } else {
                        format!(" {issue}")
                    },
                    Style::new().fg(Color::Yellow),
                ),
                (None, None) => Line::raw(""),
            }
        }
        None => {
            top.push(Span::raw(format!(" {}  waiting for an answer", view.url)));
            Line::styled(
                format!(" {}", view.error.as_deref().unwrap_or("")),
                Style::new().fg(Color::Red),
            )
        }
    };
    frame.render_widget(Paragraph::new(vec![Line::from(top), second]), header);

    // Monitors, with the sparkline taking the columns left over.
    let fixed: u16 = 16 + 10 + 10 + 9 + 9 + 9 + 10 + 7;
    let spark_width = mon_area.width.saturating_sub(fixed).max(1);
    let head = Row::new(vec![
        Cell::from("MONITOR"),
        Cell::from("KIND"),
        Cell::from("RATE"),
        Cell::from("P50"),
        Cell::from("P99"),
        Cell::from("P99.9"),
        Cell::from("TOTAL"),
        Cell::from(view.spark_title(monitors.first().copied())),
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = monitors.iter().map(|m| {
        Row::new(vec![
            Cell::from(m.monitor.clone()),
            Cell::from(m.kind.clone()),
            Cell::from(format!("{}/s", sig(m.rate))),
            Cell::from(seconds(m.p50)),
            Cell::from(seconds(m.p99)),
            Cell::from(seconds(m.p999)),
            Cell::from(m.total.to_string()),
            Cell::from(Span::styled(
                view.spark_of(m, spark_width as usize),
                Style::new().fg(Color::Cyan),
            )),
        ])
    });
    frame.render_widget(
        Table::new(
            rows,
            [
                // narrow enough that 80 columns still show a sparkline
                Constraint::Length(16),
                Constraint::Length(8),
                Constraint::Length(9),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(9),
                Constraint::Min(1),
            ],
        )
        .header(head)
        .block(titled(format!(
            " Monitors ({}, by {}) ",
            monitors.len(),
            view.sort_label()
        ))),
        mon_area,
    );

    // The actor tree.
    let head = Row::new([
        "ACTOR",
        "STATE",
        "RESTARTS",
        "MAILBOX",
        "HIGH",
        "LAST FAILURE",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = tree.iter().map(|t| {
        let (mailbox, high) = t.mailbox.map_or((String::new(), String::new()), |m| {
            (format!("{}/{}", m.0, m.1), m.2.to_string())
        });
        let name = format!("{}{}", "  ".repeat(t.depth), t.name);
        Row::new(vec![
            Cell::from(if t.supervisor {
                Span::styled(name, Style::new().add_modifier(Modifier::BOLD))
            } else {
                Span::raw(name)
            }),
            Cell::from(Span::styled(t.state.clone(), state_style(&t.state))),
            Cell::from(t.restarts.to_string()),
            Cell::from(mailbox),
            Cell::from(high),
            Cell::from(Span::styled(
                t.last_failure.clone(),
                Style::new().fg(Color::Red),
            )),
        ])
    });
    frame.render_widget(
        Table::new(
            rows,
            [
                // 80 columns leave the last failure 16
                Constraint::Length(24),
                Constraint::Length(10),
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Length(5),
                Constraint::Min(10),
            ],
        )
        .header(head)
        .block(titled(format!(" Actors ({}) ", tree.len()))),
        tree_area,
    );

    // Alerts.
    let total = view.snapshot.as_ref().map_or(0, |s| s.alerts_total);
    let rows = alerts.iter().map(|a| {
        let mut summary = a.summary.clone();
        if let Some(by) = &a.acknowledged_by {
            summary = format!("[ack {by}] {summary}");
        }
        Row::new(vec![
            Cell::from(Span::styled(a.state.clone(), state_style(&a.state))),
            Cell::from(a.severity.clone()),
            Cell::from(a.name.clone()),
            Cell::from(a.labels.clone()),
            Cell::from(summary),
        ])
    });
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(11),
                Constraint::Length(9),
                Constraint::Length(26),
                Constraint::Percentage(35),
                Constraint::Fill(1),
            ],
        )
        .block(titled(format!(
            " Alerts ({} shown of {total}) ",
            alerts.len()
        ))),
        alert_area,
    );

    // Keys, and the filter being typed.
    let keys = match &view.editing {
        Some(typed) => Line::from(vec![
            Span::styled(" filter: ", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(typed.clone()),
            Span::styled("_", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            Span::raw("   Enter keep  Esc cancel"),
        ]),
        None => Line::from(vec![
            Span::styled(
                " q quit  s sort  r reverse  / filter  t sparkline ",
                Style::new().add_modifier(Modifier::REVERSED),
            ),
            Span::raw(if view.filter.is_empty() {
                String::new()
            } else {
                format!("  filter: {} (Esc clears)", view.filter)
            }),
            Span::raw(view.updated.map_or(String::new(), |t| {
                format!("  updated {}", t.format("%H:%M:%S"))
            })),
        ]),
    };
    frame.render_widget(Paragraph::new(keys), footer);
}

fn interactive(admin: &Admin, view: &mut View) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let outcome = (|| -> std::io::Result<()> {
        let mut next = Instant::now();
        let mut dirty = true;
        loop {
            if Instant::now() >= next {
                view.refresh(admin);
                next = Instant::now() + REFRESH;
                dirty = true;
            }
            if dirty {
                terminal.draw(|f| draw(f, view))?;
                dirty = false;
            }
            if event::poll(next.saturating_duration_since(Instant::now()))? {
                match event::read()? {
                    Event::Key(key) => {
                        if !view.key(key) {
                            return Ok(());
                        }
                        dirty = true;
                    }
                    Event::Resize(..) => {
                        terminal.autoresize()?;
                        terminal.clear()?;
                        dirty = true;
                    }
                    _ => {}
                }
            }
        }
    })();
    ratatui::restore();
    outcome
}

/// `watchkeeper top`: the live view, or with `once` one plain-text frame.
pub fn run(admin: Admin, url: &str, once: bool) -> ExitCode {
    let admin = admin.with_timeout(REQUEST_TIMEOUT);
    let mut view = View::new(url);
    if once {
        view.refresh(&admin);
        if let Some(e) = &view.error {
            let _ = writeln!(std::io::stderr(), "{e}");
            return ExitCode::from(1);
        }
        // One write; a reader that has gone (`| head -3`) ends it quietly.
        let _ = std::io::stdout().write_all(plain(&view).as_bytes());
        let _ = std::io::stdout().flush();
        return ExitCode::SUCCESS;
    }
    if !std::io::stdout().is_terminal() {
        let _ = writeln!(
            std::io::stderr(),
            "watchkeeper top needs a terminal; `watchkeeper top --once` prints one frame as text"
        );
        return ExitCode::from(2);
    }
    match interactive(&admin, &mut view) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "terminal: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_largest_and_keeps_gaps() {
        let v = [Some(1.0), None, Some(4.0), Some(8.0)];
        assert_eq!(sparkline(&v, 4), "▂ ▅█");
        // Eight values in four columns: each the largest of its pair, newest on the right.
        let v: Vec<Option<f64>> = (1..=8).map(|i| Some(i as f64)).collect();
        assert_eq!(sparkline(&v, 4), "▃▅▆█");
        assert_eq!(sparkline(&[], 10), "");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("a\u{1b}[2Jb\nc"), "a\u{fffd}[2Jb\u{fffd}c");
    }

    #[test]
    fn silenced_and_inhibited_alerts_are_shown_so_and_not_counted_as_firing() {
        let alert = |state: &str, silenced: bool, inhibited: bool| {
            serde_json::json!({
                "state": state, "severity": "warning", "silenced": silenced, "inhibited": inhibited,
                "labels": {"alertname": "MemoryHigh"}, "annotations": {},
            })
        };
        let doc = serde_json::json!({"alerts": {"total": 5, "items": [
            alert("firing", false, false),
            alert("firing", true, false),
            alert("firing", false, true),
            alert("pending", false, false),
            alert("pending", true, false),
        ]}});
        let snap = parse(&doc);
        let states: Vec<&str> = snap.alerts.iter().map(|a| a.state.as_str()).collect();
        assert_eq!(
            states,
            ["firing", "silenced", "inhibited", "pending", "pending"]
        );
        assert_eq!(alert_counts(&snap.header), "1 firing, 2 muted, 2 pending");
        let quiet =
            parse(&serde_json::json!({"alerts": {"items": [alert("firing", false, false)]}}));
        assert_eq!(alert_counts(&quiet.header), "1 firing, 0 pending");
    }

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(seconds(Some(0.00124)), "1.24 ms");
        assert_eq!(seconds(Some(0.0000052)), "5.2 µs");
        assert_eq!(seconds(Some(2.5)), "2.5 s");
        assert_eq!(seconds(None), "-");
        assert_eq!(sig(307.4), "307");
        assert_eq!(sig(1234.0), "1234");
        assert_eq!(bytes(Some(27_368_448)), "26.1 MiB");
        assert_eq!(span(3725.0), "1h 2m");
    }
}
