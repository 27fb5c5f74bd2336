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
        println!("{}", self.render_table(headers, rows));
    }

    /// The table as text. A coloured cell's escape codes take no width: comfy-table measures
    /// cells without them (`custom_styling`), so the borders after a coloured status line up.
    fn render_table(&self, headers: &[&str], rows: Vec<Vec<String>>) -> String {
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
        table.to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Display columns of `line` without ANSI escape sequences.
    fn visible(line: &str) -> Vec<char> {
        let mut out = Vec::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn coloured_status_cells_keep_the_column_borders_aligned() {
        let out = Output {
            format: Format::Table,
            color: true,
            terminal: true,
        };
        let rows = vec![
            vec!["7e01".into(), out.status("active"), "billing".into()],
            vec!["7e02".into(), out.status("revoked"), "ledger".into()],
            vec!["7e03".into(), "unknown".into(), "x".into()],
        ];
        let text = out.render_table(&["Serial", "Status", "Service"], rows);
        assert!(
            text.contains(GREEN) && text.contains(RED),
            "colours kept: {text}"
        );
        let lines: Vec<Vec<char>> = text.lines().map(visible).collect();
        let borders = |l: &Vec<char>| -> Vec<usize> {
            l.iter()
                .enumerate()
                .filter(|(_, c)| "│┆|┼┬┴├┤╞╪╡┌┐└┘╭╮╰╯".contains(**c))
                .map(|(i, _)| i)
                .collect()
        };
        let first = borders(&lines[0]);
        assert_eq!(first.len(), 4, "{text}");
        for line in &lines {
            assert_eq!(line.len(), lines[0].len(), "ragged table:\n{text}");
            let b = borders(line);
            if b.len() == 4 {
                assert_eq!(b, first, "a border moved:\n{text}");
            }
        }
    }
}
