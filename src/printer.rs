//! All output goes through the [`Printer`]: results on stdout, messages on stderr, colour,
//! JSON documents, and where progress bars and spinners draw.
//!
//! Core modules never print: they return data (and warnings as data), take a progress
//! callback, or log detail with `log::debug!`, which the printer shows with `--verbose`
//! ([`Printer::show_core_log`]); commands hand the rest to the printer.
//!
//! Three rules hold for every line:
//! - Writers are injectable ([`Printer::with_writers`]): stdout and stderr by default, a
//!   buffer in tests, so a test reads exactly what a command printed.
//! - A closed pipe (`xzup plan | head -1`) is not a reason to stop a run: the printer notes
//!   it, writes nothing more to that stream, and the command goes on to its end — an `apply`
//!   finishes or rolls back. Any other write error is kept and reported when the command
//!   ends ([`Printer::stdout_error`]).
//! - Bars and spinners draw on stderr only when it is a terminal, and every line printed
//!   while one is active suspends it first, so no message is drawn over a spinner.

use std::fmt::{self, Display};
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize;
use serde::Serialize;

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

/// The printer. Clones share the same streams and bars.
#[derive(Clone)]
pub struct Printer {
    format: Format,
    verbosity: Verbosity,
    color_out: bool,
    color_err: bool,
    /// Where bars and spinners draw; `None` when stderr is not a terminal.
    bars: Option<MultiProgress>,
    streams: Arc<Streams>,
}

struct Streams {
    out: Mutex<Stream>,
    err: Mutex<Stream>,
}

/// One output stream and whether it still takes writes.
struct Stream {
    writer: Box<dyn Write + Send>,
    state: StreamState,
}

enum StreamState {
    Open,
    /// The reader went away (EPIPE): nothing more is written, and that is no error.
    Closed,
    /// A write failed otherwise (a full disk): nothing more is written; reported at the end.
    Failed(io::Error),
}

#[derive(Clone, Copy)]
enum To {
    Out,
    Err,
}

impl Printer {
    /// The printer of a command: stdout and stderr, colour and bars where they are terminals.
    pub fn new(format: Format, color: ColorChoice, verbosity: Verbosity) -> Printer {
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        let mut printer = Printer::with_writers(format, verbosity, io::stdout(), io::stderr());
        printer.color_out = decide(stdout_tty) && format == Format::Text;
        printer.color_err = decide(stderr_tty);
        if stderr_tty {
            printer.bars = Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        }
        printer
    }

    /// A printer over any two writers (a buffer in tests): no colour, no bars.
    pub fn with_writers(
        format: Format,
        verbosity: Verbosity,
        out: impl Write + Send + 'static,
        err: impl Write + Send + 'static,
    ) -> Printer {
        let stream = |writer: Box<dyn Write + Send>| {
            Mutex::new(Stream {
                writer,
                state: StreamState::Open,
            })
        };
        Printer {
            format,
            verbosity,
            color_out: false,
            color_err: false,
            bars: None,
            streams: Arc::new(Streams {
                out: stream(Box::new(out)),
                err: stream(Box::new(err)),
            }),
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// A line of the command's result, on stdout.
    pub fn out(&self, line: impl Display) {
        self.write(To::Out, format_args!("{line}\n"));
    }

    /// Text on stdout, as is (for a rendered file or a diff).
    pub fn out_raw(&self, text: &str) {
        self.write(To::Out, format_args!("{text}"));
    }

    /// One JSON document on stdout: the command's typed report.
    pub fn json<T: Serialize + ?Sized>(&self, report: &T) {
        // Reports are plain structs with string keys: serialising them cannot fail.
        let text = serde_json::to_string_pretty(report).expect("reports serialise");
        self.out(text);
    }

    /// A progress message on stderr; hidden with `--quiet`. In JSON mode it still goes to
    /// stderr, so stdout stays one JSON document.
    pub fn info(&self, line: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            self.write(To::Err, format_args!("{line}\n"));
        }
    }

    /// Detail shown only with `--verbose`.
    pub fn debug(&self, line: impl Display) {
        if self.verbosity >= Verbosity::Verbose {
            self.write(To::Err, format_args!("{line}\n"));
        }
    }

    /// `warning: …` on stderr (shown even with `--quiet`).
    pub fn warn(&self, line: impl Display) {
        let label = self.paint_err("warning:", Style::Warn);
        self.write(To::Err, format_args!("{label} {line}\n"));
    }

    /// `error: …` and, when there is one, `hint: …` on stderr.
    pub fn error(&self, message: impl Display, hint: Option<&str>) {
        let label = self.paint_err("error:", Style::Error);
        self.write(To::Err, format_args!("{label} {message}\n"));
        if let Some(hint) = hint {
            let label = self.paint_err("hint:", Style::Hint);
            self.write(To::Err, format_args!("{label} {hint}\n"));
        }
    }

    /// Whether stdout's reader went away (`| head`): a command whose whole job is output
    /// may stop early; one that changes things goes on to its end.
    #[cfg(test)]
    pub fn stdout_closed(&self) -> bool {
        !matches!(lock(&self.streams.out).state, StreamState::Open)
    }

    /// Why writing the result to stdout failed, when it failed for another reason than a
    /// closed pipe (which is no error).
    pub fn stdout_error(&self) -> Option<String> {
        match &lock(&self.streams.out).state {
            StreamState::Failed(e) => Some(e.to_string()),
            StreamState::Open | StreamState::Closed => None,
        }
    }

    /// With `--verbose`, shows what the core logs with `log::debug!` (each docker command
    /// run, the engine's stderr when one fails) as debug lines. Once per process; later
    /// calls, and calls without `--verbose`, do nothing.
    pub fn show_core_log(&self) {
        if self.verbosity >= Verbosity::Verbose
            && log::set_boxed_logger(Box::new(CoreLog(self.clone()))).is_ok()
        {
            log::set_max_level(log::LevelFilter::Debug);
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
    /// few seconds otherwise, nothing with `--quiet`.
    pub fn progress_bytes(&self, label: &str, total: u64) -> Progress {
        if self.verbosity == Verbosity::Quiet {
            return Progress::hidden();
        }
        if let Some(bars) = &self.bars {
            let bar = bars.add(ProgressBar::new(total));
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message(label.to_string());
            Progress {
                kind: ProgressKind::Bar(Drawn {
                    bars: bars.clone(),
                    bar,
                }),
            }
        } else {
            Progress {
                kind: ProgressKind::Lines {
                    printer: self.clone(),
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
            return Spinner { drawn: None };
        }
        match &self.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_message(message.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                Spinner {
                    drawn: Some(Drawn {
                        bars: bars.clone(),
                        bar,
                    }),
                }
            }
            None => {
                self.info(format_args!("{message} ..."));
                Spinner { drawn: None }
            }
        }
    }

    /// Writes to one stream, with the bars suspended; notes a closed pipe or a failure
    /// and writes nothing more to that stream after one.
    fn write(&self, to: To, args: fmt::Arguments<'_>) {
        let stream = match to {
            To::Out => &self.streams.out,
            To::Err => &self.streams.err,
        };
        let mut stream = lock(stream);
        if !matches!(stream.state, StreamState::Open) {
            return;
        }
        // One write per message: a line is never split between two writers.
        let text = fmt::format(args);
        let mut write = || {
            let w = &mut stream.writer;
            w.write_all(text.as_bytes()).and_then(|()| w.flush())
        };
        let result = match &self.bars {
            Some(bars) => bars.suspend(write),
            None => write(),
        };
        if let Err(e) = result {
            stream.state = if e.kind() == io::ErrorKind::BrokenPipe {
                StreamState::Closed
            } else {
                StreamState::Failed(e)
            };
        }
    }
}

impl fmt::Debug for Printer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Printer")
            .field("format", &self.format)
            .field("verbosity", &self.verbosity)
            .field("bars", &self.bars.is_some())
            .finish_non_exhaustive()
    }
}

/// A poisoned lock only means a thread panicked while printing; the stream is still usable.
fn lock(stream: &Mutex<Stream>) -> std::sync::MutexGuard<'_, Stream> {
    stream.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The core's `log::debug!` records, shown through the printer with `--verbose`. Only
/// xzup's own: dependencies that log (gzp) stay silent.
struct CoreLog(Printer);

impl log::Log for CoreLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Debug && metadata.target().starts_with("xzup")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.0.debug(record.args());
        }
    }

    fn flush(&self) {}
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

/// A bar or spinner drawn among the printer's bars; taken off them when done.
struct Drawn {
    bars: MultiProgress,
    bar: ProgressBar,
}

impl Drawn {
    fn finish(&self) {
        self.bar.finish_and_clear();
        self.bars.remove(&self.bar);
    }
}

/// A byte counter shown as a bar, as periodic lines, or not at all.
pub struct Progress {
    kind: ProgressKind,
}

enum ProgressKind {
    Hidden,
    Bar(Drawn),
    Lines {
        printer: Printer,
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
            ProgressKind::Bar(drawn) => drawn.bar.inc(delta),
            ProgressKind::Lines {
                printer,
                label,
                total,
                done,
                started,
                last,
            } => {
                *done += delta;
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    printer.info(progress_line(label, *done, *total, started.elapsed()));
                }
            }
        }
    }

    pub fn finish(self) {
        match self.kind {
            ProgressKind::Hidden => {}
            ProgressKind::Bar(drawn) => drawn.finish(),
            ProgressKind::Lines {
                printer,
                label,
                total,
                done,
                started,
                ..
            } => printer.info(progress_line(&label, done, total, started.elapsed())),
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

/// A spinner; cleared when dropped.
pub struct Spinner {
    drawn: Option<Drawn>,
}

impl Spinner {
    pub fn set_message(&self, message: &str) {
        if let Some(drawn) = &self.drawn {
            drawn.bar.set_message(message.to_string());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(drawn) = &self.drawn {
            drawn.finish();
        }
    }
}

/// What a test printer printed: stdout and stderr, each as one string.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Captured {
    out: SharedBuf,
    err: SharedBuf,
}

#[cfg(test)]
impl Captured {
    /// A printer writing into buffers, and the handle that reads them.
    pub(crate) fn printer(format: Format, verbosity: Verbosity) -> (Printer, Captured) {
        let captured = Captured::default();
        let printer = Printer::with_writers(
            format,
            verbosity,
            captured.out.clone(),
            captured.err.clone(),
        );
        (printer, captured)
    }

    pub(crate) fn stdout(&self) -> String {
        self.out.text()
    }

    pub(crate) fn stderr(&self) -> String {
        self.err.text()
    }
}

/// A writer into a buffer that a test can read while the printer still holds it.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct SharedBuf(Arc<Mutex<Vec<u8>>>);

#[cfg(test)]
impl SharedBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[cfg(test)]
impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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

    #[test]
    fn results_go_to_stdout_messages_to_stderr() {
        let (printer, captured) = Captured::printer(Format::Text, Verbosity::Normal);
        printer.out("result");
        printer.out_raw("raw");
        printer.info("step ok");
        printer.debug("hidden without --verbose");
        printer.warn("careful");
        printer.error("broken", Some("fix it"));
        assert_eq!(captured.stdout(), "result\nraw");
        assert_eq!(
            captured.stderr(),
            "step ok\nwarning: careful\nerror: broken\nhint: fix it\n"
        );
    }

    #[test]
    fn quiet_keeps_warnings_and_errors_verbose_adds_debug() {
        let (quiet, captured) = Captured::printer(Format::Text, Verbosity::Quiet);
        quiet.info("info");
        quiet.spinner("waiting");
        quiet.warn("w");
        assert_eq!(captured.stderr(), "warning: w\n");

        let (verbose, captured) = Captured::printer(Format::Text, Verbosity::Verbose);
        verbose.debug("detail");
        assert_eq!(captured.stderr(), "detail\n");
    }

    #[test]
    fn json_prints_one_pretty_document_of_a_typed_report() {
        #[derive(Serialize)]
        struct Report<'a> {
            name: &'a str,
            count: u32,
            missing: Option<u32>,
        }
        let (printer, captured) = Captured::printer(Format::Json, Verbosity::Normal);
        printer.json(&Report {
            name: "low",
            count: 2,
            missing: None,
        });
        assert_eq!(
            captured.stdout(),
            "{\n  \"name\": \"low\",\n  \"count\": 2,\n  \"missing\": null\n}\n"
        );
    }

    /// A writer whose reader went away after `left` writes.
    struct ClosesAfter {
        left: usize,
        writes: Arc<Mutex<Vec<String>>>,
        error: io::ErrorKind,
    }

    impl Write for ClosesAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::from(self.error));
            }
            self.left -= 1;
            self.writes
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(buf).into_owned());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn closing(left: usize, error: io::ErrorKind) -> (ClosesAfter, Arc<Mutex<Vec<String>>>) {
        let writes = Arc::new(Mutex::new(Vec::new()));
        (
            ClosesAfter {
                left,
                writes: writes.clone(),
                error,
            },
            writes,
        )
    }

    #[test]
    fn a_closed_stdout_stops_the_writes_and_nothing_else() {
        let (out, written) = closing(1, io::ErrorKind::BrokenPipe);
        let err = SharedBuf::default();
        let printer = Printer::with_writers(Format::Text, Verbosity::Normal, out, err.clone());
        printer.out("first");
        assert!(!printer.stdout_closed());
        printer.out("second"); // EPIPE: noted, not fatal
        printer.out("third"); // not even tried
        assert!(printer.stdout_closed());
        assert_eq!(printer.stdout_error(), None, "a closed pipe is no error");
        // The command goes on: its messages still reach stderr.
        printer.warn("still here");
        assert_eq!(*written.lock().unwrap(), ["first\n"]);
        assert_eq!(err.text(), "warning: still here\n");
    }

    #[test]
    fn a_closed_stderr_is_noted_too() {
        let (err, written) = closing(0, io::ErrorKind::BrokenPipe);
        let out = SharedBuf::default();
        let printer = Printer::with_writers(Format::Text, Verbosity::Normal, out.clone(), err);
        printer.warn("lost");
        printer.info("lost too");
        printer.out("result");
        assert!(written.lock().unwrap().is_empty());
        assert_eq!(out.text(), "result\n");
    }

    #[test]
    fn another_write_failure_is_kept_for_the_end() {
        let (out, _) = closing(0, io::ErrorKind::StorageFull);
        let printer = Printer::with_writers(Format::Text, Verbosity::Normal, out, io::sink());
        printer.out("result");
        assert!(printer.stdout_closed());
        assert_eq!(
            printer.stdout_error().as_deref(),
            Some("no storage space"),
            "reported when the command ends"
        );
    }

    #[test]
    fn plain_progress_prints_its_last_line_on_stderr() {
        let (printer, captured) = Captured::printer(Format::Text, Verbosity::Normal);
        let mut progress = printer.progress_bytes("backup", 2048);
        progress.inc(2048);
        progress.finish();
        let err = captured.stderr();
        assert!(err.starts_with("backup: 2K / 2K (100%), "), "{err}");
        assert_eq!(captured.stdout(), "");
    }

    #[test]
    fn core_log_shows_only_xzups_own_debug_records() {
        let (printer, captured) = Captured::printer(Format::Text, Verbosity::Verbose);
        let log = CoreLog(printer);
        let record = |target: &'static str, level, text: &'static str| {
            log::Log::log(
                &log,
                &log::Record::builder()
                    .target(target)
                    .level(level)
                    .args(format_args!("{text}"))
                    .build(),
            )
        };
        record("xzup::docker::exec", log::Level::Debug, "$ docker info");
        record("gzp", log::Level::Debug, "a dependency's chatter");
        record("xzup::docker::exec", log::Level::Trace, "too fine");
        assert_eq!(captured.stderr(), "$ docker info\n");
    }

    /// A terminal that records what is drawn on it, in one log with the printer's stderr.
    #[derive(Debug, Clone)]
    struct Screen {
        events: Arc<Mutex<Vec<String>>>,
    }

    impl Screen {
        fn push(&self, event: String) -> io::Result<()> {
            self.events.lock().unwrap().push(event);
            Ok(())
        }
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, n: usize) -> io::Result<()> {
            self.push(format!("up {n}"))
        }
        fn move_cursor_down(&self, n: usize) -> io::Result<()> {
            self.push(format!("down {n}"))
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.push(format!("draw {s}"))
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.push(format!("draw {s}"))
        }
        fn clear_line(&self) -> io::Result<()> {
            self.push("clear".into())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Write for Screen {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.push(format!("stderr {}", String::from_utf8_lossy(buf)))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_warning_suspends_the_spinner_instead_of_printing_over_it() {
        let screen = Screen {
            events: Arc::default(),
        };
        let mut printer =
            Printer::with_writers(Format::Text, Verbosity::Normal, io::sink(), screen.clone());
        printer.bars = Some(MultiProgress::with_draw_target(
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        ));
        let spinner = printer.spinner("stopping the stack");
        spinner.set_message("stopping the stack");
        printer.warn("the web container took 9s to stop");
        drop(spinner);

        let events = screen.events.lock().unwrap().clone();
        let at = events
            .iter()
            .position(|e| e == "stderr warning: the web container took 9s to stop\n")
            .unwrap_or_else(|| panic!("the warning was printed: {events:#?}"));
        let drawn_before = events[..at]
            .iter()
            .rposition(|e| e.contains("stopping the stack"))
            .unwrap_or_else(|| panic!("the spinner was drawn first: {events:#?}"));
        assert!(
            events[drawn_before..at].iter().any(|e| e == "clear"),
            "the spinner's line is cleared before the warning: {events:#?}"
        );
        assert!(
            events[at + 1..]
                .iter()
                .any(|e| e.contains("stopping the stack")),
            "and drawn again after it: {events:#?}"
        );
    }
}
