//! A YAML scalar as written, decoded to its value with a map back to the source bytes.
//!
//! The lossless tree keeps a scalar as the text the operator wrote (`'it''s'`,
//! `"\x53"`, a `>` block over several lines). Whoever needs to point at part of the value
//! in the file (the password after `MYSQL_ROOT_PASSWORD=` in a quoted list item, to mask
//! it) decodes it here and maps the part back: [`Decoded::source_range`].
//!
//! Decoding follows YAML 1.2 (chapter 7 and 8): quotes and escapes, line folding of plain
//! and quoted scalars (a line break is a space, an empty line a newline), block scalars
//! with their indentation taken off (`|` keeps line breaks, `>` folds them). Trailing line
//! breaks of a block scalar are left out: no caller needs them.

use std::ops::Range;

/// A scalar's value, and for each byte of it the source bytes it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub text: String,
    /// Runs of `text` and where they came from, in order: a run of characters copied as
    /// they are maps byte for byte; an escape (`''`, `\x53`) maps as a whole. Runs keep
    /// the map small for a long value (a config file inlined as a block).
    runs: Vec<Run>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// Start in `text`.
    at: usize,
    /// Start in the source (relative to the scalar's start).
    src: usize,
    len: usize,
    src_len: usize,
}

impl Run {
    fn copied(&self) -> bool {
        self.len == self.src_len
    }
}

impl Decoded {
    fn push(&mut self, c: char, src: Range<usize>) {
        let at = self.text.len();
        let len = c.len_utf8();
        self.text.push(c);
        let copied = src.len() == len;
        if let Some(last) = self.runs.last_mut()
            && copied
            && last.copied()
            && last.at + last.len == at
            && last.src + last.src_len == src.start
        {
            last.len += len;
            last.src_len += len;
            return;
        }
        self.runs.push(Run {
            at,
            src: src.start,
            len,
            src_len: src.len(),
        });
    }

    /// The run holding byte `i` of the text.
    fn run(&self, i: usize) -> &Run {
        let index = self.runs.partition_point(|r| r.at + r.len <= i);
        &self.runs[index]
    }

    /// The source bytes (relative to the scalar) holding `text[range]`; empty when the
    /// range is.
    pub fn source_range(&self, range: Range<usize>) -> Range<usize> {
        if range.is_empty() {
            return 0..0;
        }
        let first = self.run(range.start);
        let start = if first.copied() {
            first.src + (range.start - first.at)
        } else {
            first.src
        };
        let last = self.run(range.end - 1);
        let end = if last.copied() {
            last.src + (range.end - last.at)
        } else {
            last.src + last.src_len
        };
        start..end
    }
}

/// Decodes the scalar written as `src` (its whole text, quotes or block header included).
pub(crate) fn decode(src: &str) -> Decoded {
    match src.as_bytes().first() {
        Some(b'\'') => quoted(src, false),
        Some(b'"') => quoted(src, true),
        Some(b'|') => block(src, false),
        Some(b'>') => block(src, true),
        _ => plain(src),
    }
}

/// Lines of `src[range]` with their offsets: (start, end) of each line's text, without
/// the line break (`\n` or `\r\n`).
fn lines(src: &str, range: Range<usize>) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = range.start;
    let bytes = src.as_bytes();
    let mut i = range.start;
    while i < range.end {
        if bytes[i] == b'\n' {
            let end = if i > start && bytes[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            out.push((start, end));
            start = i + 1;
        }
        i += 1;
    }
    out.push((start, range.end));
    out
}

/// Folds flow-scalar lines (plain or quoted): the first line as it is up to its trailing
/// blanks, each next one without its leading blanks; one break between two lines is a
/// space, every empty line between them a newline. `line_text` decodes a line's content.
fn fold_lines(
    src: &str,
    lines: &[(usize, usize)],
    out: &mut Decoded,
    mut line_text: impl FnMut(&str, Range<usize>, bool, &mut Decoded),
) {
    let blank = |c: u8| c == b' ' || c == b'\t';
    let bytes = src.as_bytes();
    let mut pending_break: Option<usize> = None;
    let mut empty_lines = 0usize;
    let count = lines.len();
    for (index, &(mut start, mut end)) in lines.iter().enumerate() {
        if index > 0 {
            while start < end && blank(bytes[start]) {
                start += 1;
            }
        }
        let last = index + 1 == count;
        if !last {
            while end > start && blank(bytes[end - 1]) {
                end -= 1;
            }
        }
        if start == end && index > 0 && !last {
            empty_lines += 1;
            continue;
        }
        if let Some(at) = pending_break.take() {
            if empty_lines == 0 {
                out.push(' ', at..at + 1);
            }
            for _ in 0..empty_lines {
                out.push('\n', at..at + 1);
            }
        }
        empty_lines = 0;
        line_text(src, start..end, last, out);
        pending_break = Some(end);
    }
}

fn plain(src: &str) -> Decoded {
    let mut out = Decoded::default();
    let trimmed = src.trim_end().len();
    let ls = lines(src, 0..trimmed);
    fold_lines(src, &ls, &mut out, |src, range, _, out| {
        for (i, c) in src[range.clone()].char_indices() {
            let at = range.start + i;
            out.push(c, at..at + c.len_utf8());
        }
    });
    out
}

fn quoted(src: &str, double: bool) -> Decoded {
    let quote = if double { '"' } else { '\'' };
    // The closing quote: the last one (a scalar node ends at it).
    let end = src.rfind(quote).filter(|e| *e > 0).unwrap_or(src.len());
    let mut out = Decoded::default();
    let ls = lines(src, 1..end);
    fold_lines(src, &ls, &mut out, |src, range, _, out| {
        let text = &src[range.clone()];
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let at = range.start + i;
            if !double {
                if c == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                    out.push('\'', at..at + 2);
                } else {
                    out.push(c, at..at + c.len_utf8());
                }
                continue;
            }
            if c != '\\' {
                out.push(c, at..at + c.len_utf8());
                continue;
            }
            let Some((j, e)) = chars.next() else {
                continue;
            };
            let simple = match e {
                '0' => Some('\0'),
                'a' => Some('\u{7}'),
                'b' => Some('\u{8}'),
                't' | '\t' => Some('\t'),
                'n' => Some('\n'),
                'v' => Some('\u{b}'),
                'f' => Some('\u{c}'),
                'r' => Some('\r'),
                'e' => Some('\u{1b}'),
                ' ' => Some(' '),
                '"' => Some('"'),
                '/' => Some('/'),
                '\\' => Some('\\'),
                'N' => Some('\u{85}'),
                '_' => Some('\u{a0}'),
                'L' => Some('\u{2028}'),
                'P' => Some('\u{2029}'),
                _ => None,
            };
            if let Some(s) = simple {
                out.push(s, at..range.start + j + 1);
                continue;
            }
            let digits = match e {
                'x' => 2,
                'u' => 4,
                'U' => 8,
                _ => 0,
            };
            let hex_start = j + 1;
            let hex = text.get(hex_start..hex_start + digits).unwrap_or("");
            match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                Some(decoded) if digits > 0 => {
                    for _ in 0..digits {
                        chars.next();
                    }
                    out.push(decoded, at..range.start + hex_start + digits);
                }
                _ => out.push(e, at..range.start + j + e.len_utf8()),
            }
        }
    });
    out
}

fn block(src: &str, folded: bool) -> Decoded {
    let mut out = Decoded::default();
    let header_end = src.find('\n').map_or(src.len(), |n| n + 1);
    let header = &src[..header_end];
    let explicit = header
        .chars()
        .skip(1)
        .find(|c| c.is_ascii_digit())
        .and_then(|c| c.to_digit(10))
        .map(|d| d as usize);
    let ls = lines(src, header_end..src.len());
    let indent_of =
        |&(s, e): &(usize, usize)| src[s..e].len() - src[s..e].trim_start_matches(' ').len();
    let indent = explicit.unwrap_or_else(|| {
        ls.iter()
            .find(|l| !src[l.0..l.1].trim().is_empty())
            .map_or(0, indent_of)
    });
    // Drop trailing empty lines (chomping: no caller needs the final breaks).
    let mut last = ls.len();
    while last > 0 && src[ls[last - 1].0..ls[last - 1].1].trim().is_empty() {
        last -= 1;
    }
    let mut prev_text_line: Option<(usize, bool)> = None;
    for &(s, e) in &ls[..last] {
        let content_start = (s + indent).min(e);
        let more_indented = src[content_start..e].starts_with([' ', '\t']);
        let empty = src[s..e].trim().is_empty();
        if let Some((brk, prev_more)) = prev_text_line {
            let space = folded && !empty && !more_indented && !prev_more;
            out.push(if space { ' ' } else { '\n' }, brk..brk + 1);
        }
        if !empty {
            for (i, c) in src[content_start..e].char_indices() {
                let at = content_start + i;
                out.push(c, at..at + c.len_utf8());
            }
        }
        prev_text_line = Some((e, more_indented || empty));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(src: &str) -> String {
        decode(src).text
    }

    #[test]
    fn decodes_every_style() {
        assert_eq!(text("plain value"), "plain value");
        assert_eq!(text("'it''s'"), "it's");
        assert_eq!(text(r#""a\"b\x53\u00e9""#), "a\"bSé");
        assert_eq!(
            text("plain\n  continued\n\n  para"),
            "plain continued\npara"
        );
        assert_eq!(text("'one\n   two'"), "one two");
        assert_eq!(text("|\n  a\n  b\n"), "a\nb");
        assert_eq!(
            text(">\n  redis-server\n  --maxmemory 1mb\n"),
            "redis-server --maxmemory 1mb"
        );
        assert_eq!(text(">-\r\n  a\r\n  b\r\n"), "a b");
        assert_eq!(text("|2\n   x\n"), " x");
    }

    #[test]
    fn maps_value_bytes_back_to_the_source() {
        let src = "'P=it''s'";
        let d = decode(src);
        assert_eq!(d.text, "P=it's");
        assert_eq!(&src[d.source_range(2..6)], "it''s");
        let src = r#""P=a\x53b""#;
        let d = decode(src);
        assert_eq!(d.text, "P=aSb");
        assert_eq!(&src[d.source_range(2..5)], r"a\x53b");
        let src = ">\n  redis-server\n  --requirepass s3cret\n";
        let d = decode(src);
        let at = d.text.find("s3cret").unwrap();
        assert_eq!(&src[d.source_range(at..at + 6)], "s3cret");
    }
}
