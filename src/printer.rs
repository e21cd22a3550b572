//! All output goes through the [`Printer`]: results on stdout, messages on stderr, colour,
//! JSON mode, and where progress bars and spinners draw.
//!
//! Core modules never print: they return data (and warnings as data) or take a progress
//! callback; commands hand those to the printer.

use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize;

/// `--format`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// `--color`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How loud to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Debug, Clone)]
pub struct Printer {
    format: Format,
    verbosity: Verbosity,
    color_out: bool,
    color_err: bool,
    stderr_tty: bool,
}

impl Printer {
    pub fn new(format: Format, color: ColorChoice, verbosity: Verbosity) -> Printer {
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Printer {
            format,
            verbosity,
            color_out: decide(stdout_tty) && format == Format::Text,
            color_err: decide(stderr_tty),
            stderr_tty,
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    pub fn color_stdout(&self) -> bool {
        self.color_out
    }

    /// A line of the command's result, on stdout.
    pub fn out(&self, line: impl Display) {
        write_or_exit(&mut io::stdout().lock(), format_args!("{line}\n"));
    }

    /// Text on stdout, as is (for a rendered file or a diff).
    pub fn out_raw(&self, text: &str) {
        write_or_exit(&mut io::stdout().lock(), format_args!("{text}"));
    }

    /// One JSON document on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).expect("JSON values serialise");
        self.out(text);
    }

    /// A progress message on stderr; hidden with `--quiet`. In JSON mode it still goes to
    /// stderr, so stdout stays one JSON document.
    pub fn info(&self, line: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            write_or_exit(&mut io::stderr().lock(), format_args!("{line}\n"));
        }
    }

    /// Detail shown only with `--verbose`.
    pub fn debug(&self, line: impl Display) {
        if self.verbosity >= Verbosity::Verbose {
            write_or_exit(&mut io::stderr().lock(), format_args!("{line}\n"));
        }
    }

    /// `warning: …` on stderr (shown even with `--quiet`).
    pub fn warn(&self, line: impl Display) {
        let label = self.paint_err("warning:", Style::Warn);
        write_or_exit(&mut io::stderr().lock(), format_args!("{label} {line}\n"));
    }

    /// `error: …` and, when there is one, `hint: …` on stderr.
    pub fn error(&self, message: impl Display, hint: Option<&str>) {
        let label = self.paint_err("error:", Style::Error);
        let mut err = io::stderr().lock();
        write_or_exit(&mut err, format_args!("{label} {message}\n"));
        if let Some(hint) = hint {
            let label = self.paint_err("hint:", Style::Hint);
            write_or_exit(&mut err, format_args!("{label} {hint}\n"));
        }
    }

    /// Colours `text` for stdout when colour is on.
    pub fn paint(&self, text: &str, style: Style) -> String {
        paint(text, style, self.color_out)
    }

    /// Colours `text` for stderr when colour is on.
    pub fn paint_err(&self, text: &str, style: Style) -> String {
        paint(text, style, self.color_err)
    }

    /// A byte progress bar: a drawn bar with rate and ETA on a terminal, a plain line every
    /// few seconds otherwise, nothing with `--quiet` (or in JSON mode on a terminal).
    pub fn progress_bytes(&self, label: &str, total: u64) -> Progress {
        if self.verbosity == Verbosity::Quiet {
            return Progress::hidden();
        }
        if self.stderr_tty {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message(label.to_string());
            Progress {
                kind: ProgressKind::Bar(bar),
            }
        } else {
            Progress {
                kind: ProgressKind::Lines {
                    label: label.to_string(),
                    total,
                    done: 0,
                    started: Instant::now(),
                    last: Instant::now(),
                },
            }
        }
    }

    /// A spinner while waiting (terminal only; a single line otherwise).
    pub fn spinner(&self, message: &str) -> Spinner {
        if self.verbosity == Verbosity::Quiet {
            return Spinner { bar: None };
        }
        if self.stderr_tty {
            let bar = ProgressBar::new_spinner();
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_message(message.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            Spinner { bar: Some(bar) }
        } else {
            self.info(format_args!("{message} ..."));
            Spinner { bar: None }
        }
    }
}

/// Text styles the printer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Error,
    Warn,
    Hint,
    Added,
    Removed,
    Header,
    Bold,
    Dim,
    Good,
}

fn paint(text: &str, style: Style, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    match style {
        Style::Error => text.red().bold().to_string(),
        Style::Warn => text.yellow().bold().to_string(),
        Style::Hint => text.cyan().bold().to_string(),
        Style::Added => text.green().to_string(),
        Style::Removed => text.red().to_string(),
        Style::Header => text.cyan().to_string(),
        Style::Bold => text.bold().to_string(),
        Style::Dim => text.dimmed().to_string(),
        Style::Good => text.green().bold().to_string(),
    }
}

/// Writes, and treats a closed pipe (`xzup plan | head`) as a clean end.
fn write_or_exit(w: &mut impl Write, args: std::fmt::Arguments<'_>) {
    if let Err(e) = w.write_fmt(args).and_then(|()| w.flush())
        && e.kind() == io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// A byte counter shown as a bar, as periodic lines, or not at all.
pub struct Progress {
    kind: ProgressKind,
}

enum ProgressKind {
    Hidden,
    Bar(ProgressBar),
    Lines {
        label: String,
        total: u64,
        done: u64,
        started: Instant,
        last: Instant,
    },
}

/// How often the plain (non-terminal) progress prints a line.
const LINE_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    pub fn hidden() -> Progress {
        Progress {
            kind: ProgressKind::Hidden,
        }
    }

    /// Records `delta` more bytes done.
    pub fn inc(&mut self, delta: u64) {
        match &mut self.kind {
            ProgressKind::Hidden => {}
            ProgressKind::Bar(bar) => bar.inc(delta),
            ProgressKind::Lines {
                label,
                total,
                done,
                started,
                last,
            } => {
                *done += delta;
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    let line = progress_line(label, *done, *total, started.elapsed());
                    write_or_exit(&mut io::stderr().lock(), format_args!("{line}\n"));
                }
            }
        }
    }

    pub fn finish(self) {
        match self.kind {
            ProgressKind::Hidden => {}
            ProgressKind::Bar(bar) => bar.finish_and_clear(),
            ProgressKind::Lines {
                label,
                total,
                done,
                started,
                ..
            } => {
                let line = progress_line(&label, done, total, started.elapsed());
                write_or_exit(&mut io::stderr().lock(), format_args!("{line}\n"));
            }
        }
    }
}

/// `backup: 312.4M / 613.0M (51%), 98.1M/s, eta 3s`
pub fn progress_line(label: &str, done: u64, total: u64, elapsed: Duration) -> String {
    let pct = (done as f64 * 100.0 / total.max(1) as f64).min(100.0);
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let eta = if rate > 0.0 {
        ((total.saturating_sub(done)) as f64 / rate).ceil() as u64
    } else {
        0
    };
    format!(
        "{label}: {} / {} ({pct:.0}%), {}/s, eta {eta}s",
        crate::units::human_bytes(done),
        crate::units::human_bytes(total),
        crate::units::human_bytes(rate as u64),
    )
}

/// A spinner; cleared when dropped or finished.
pub struct Spinner {
    bar: Option<ProgressBar>,
}

impl Spinner {
    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_reads_well() {
        let line = progress_line("backup", 512 << 20, 1 << 30, Duration::from_secs(4));
        assert_eq!(line, "backup: 512M / 1G (50%), 128M/s, eta 4s");
    }
}
