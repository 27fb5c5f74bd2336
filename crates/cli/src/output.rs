//! How the CLI talks to people: coloured status lines and tables on a terminal, plain text when
//! piped, JSON with `--output json`. `--no-color` and `NO_COLOR` turn colour off.
use comfy_table::{presets, ContentArrangement, Table};
use serde_json::Value;
use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
    pub color: bool,
    pub terminal: bool,
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

impl Output {
    pub fn new(format: Format, no_color: bool) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            format,
            color: terminal && !no_color && !no_color_env,
            terminal,
        }
    }

    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    pub fn success(&self, msg: &str) {
        if !self.json() {
            println!("{} {msg}", self.paint(GREEN, "✓"));
        }
    }

    pub fn warn(&self, msg: &str) {
        eprintln!("{} {msg}", self.paint(YELLOW, "!"));
    }

    pub fn heading(&self, msg: &str) {
        if !self.json() {
            println!("{}", self.paint(BOLD, msg));
        }
    }

    /// Colour a status word the way operators read it.
    pub fn status(&self, status: &str) -> String {
        let code = match status {
            "active" | "healthy" | "ok" | "complete" | "success" => GREEN,
            "expiring" | "sealed" | "denied" => YELLOW,
            "revoked" | "expired" | "unhealthy" | "broken" | "failure" => RED,
            _ => return status.to_string(),
        };
        self.paint(code, status)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(DIM, text)
    }

    /// Print a JSON document as-is (the `--output json` contract).
    pub fn print_json(&self, value: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }

    pub fn table(&self, headers: &[&str], rows: Vec<Vec<String>>) {
        if rows.is_empty() {
            println!("{}", self.dim("(none)"));
            return;
        }
        let mut table = Table::new();
        if self.terminal {
            table
                .load_preset(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic);
        } else {
            table.load_preset(presets::ASCII_MARKDOWN);
        }
        if !self.color {
            table.force_no_tty();
        }
        table.set_header(headers.iter().map(|h| h.to_string()));
        for row in rows {
            table.add_row(row);
        }
        println!("{table}");
    }

    /// Two-column "field: value" listing.
    pub fn fields(&self, pairs: &[(&str, String)]) {
        let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in pairs {
            println!("  {}  {v}", self.paint(BOLD, &format!("{k:<width$}")));
        }
    }
}

/// A JSON field as display text ("" for null).
pub fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}
