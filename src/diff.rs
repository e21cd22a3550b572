//! The unified diff `plan` shows: the source against the rendered file, secrets masked.
//!
//! Two things make it cheap on a large file (issue 10: a 20 MB file took a minute):
//! - a render changes a few places, so the lines both texts start and end with are
//!   skipped before the line diff runs (keeping the context lines the hunks need); the
//!   diff itself (patience, see below) only sees the part between the first and the last
//!   change;
//! - secrets are masked line by line as the hunks are written, from the byte ranges the
//!   compose structure gives ([`crate::secrets::mask_spans`] does the same for a whole
//!   file), so no masked copy of either text is made.

use std::fmt::Write as _;
use std::ops::Range;

use similar::{Algorithm, DiffOp, DiffTag, udiff::UnifiedHunkHeader};

use crate::secrets::MASK;

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// One side of the diff: the text, its secrets, its name in the header.
pub(crate) struct Side<'a> {
    pub text: &'a str,
    /// Byte ranges of secret values in `text`, sorted by start.
    pub secrets: &'a [Range<usize>],
    pub name: &'a str,
}

/// Lines of `text` with their byte offsets (each line with its line break).
fn lines(text: &str) -> (Vec<&str>, Vec<usize>) {
    let mut out = Vec::new();
    let mut starts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        out.push(line);
        starts.push(at);
        at += line.len();
    }
    (out, starts)
}

/// The unified diff of `old` → `new` (empty when they are equal), `a/…` and `b/…` named.
pub(crate) fn unified(old: &Side<'_>, new: &Side<'_>) -> String {
    let (a, a_starts) = lines(old.text);
    let (b, b_starts) = lines(new.text);
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if prefix == a.len() && prefix == b.len() {
        return String::new();
    }
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    // The differing middle, with the context lines on either side.
    let from = prefix.saturating_sub(CONTEXT);
    let a_to = (a.len() - suffix + CONTEXT).min(a.len());
    let b_to = (b.len() - suffix + CONTEXT).min(b.len());
    // Patience keeps a changed block together instead of pairing equal-looking lines
    // (`cpus: '4'` of the old limits with `cpus: '4'` of the new reservations).
    let ops = similar::capture_diff_slices(Algorithm::Patience, &a[from..a_to], &b[from..b_to]);
    let ops: Vec<DiffOp> = ops.into_iter().map(|op| shift(op, from)).collect();

    let mut out = String::new();
    let _ = writeln!(out, "--- a/{}\n+++ b/{}", old.name, new.name);
    for group in similar::group_diff_ops(ops, CONTEXT) {
        let _ = writeln!(out, "{}", UnifiedHunkHeader::new(&group));
        for op in &group {
            let (tag, old_range, new_range) = op.as_tag_tuple();
            let mut emit =
                |mark: char, side: &Side<'_>, lines: &[&str], starts: &[usize], r: Range<usize>| {
                    for i in r {
                        write_line(&mut out, mark, lines[i], starts[i], side.secrets);
                    }
                };
            match tag {
                DiffTag::Equal => emit(' ', old, &a, &a_starts, old_range),
                DiffTag::Delete => emit('-', old, &a, &a_starts, old_range),
                DiffTag::Insert => emit('+', new, &b, &b_starts, new_range),
                DiffTag::Replace => {
                    emit('-', old, &a, &a_starts, old_range);
                    emit('+', new, &b, &b_starts, new_range);
                }
            }
        }
    }
    out
}

/// `op` with its line numbers moved on by `by`.
fn shift(op: DiffOp, by: usize) -> DiffOp {
    match op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => DiffOp::Equal {
            old_index: old_index + by,
            new_index: new_index + by,
            len,
        },
        DiffOp::Delete {
            old_index,
            old_len,
            new_index,
        } => DiffOp::Delete {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
        },
        DiffOp::Insert {
            old_index,
            new_index,
            new_len,
        } => DiffOp::Insert {
            old_index: old_index + by,
            new_index: new_index + by,
            new_len,
        },
        DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } => DiffOp::Replace {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
            new_len,
        },
    }
}

/// Writes `mark` and `line` (which starts at byte `start` of its text) with the parts of
/// `secrets` inside it masked, and git's note when the line has no line break.
fn write_line(out: &mut String, mark: char, line: &str, start: usize, secrets: &[Range<usize>]) {
    out.push(mark);
    let end = start + line.len();
    let first = secrets.partition_point(|s| s.end <= start);
    let mut last = start;
    for span in secrets[first..].iter().take_while(|s| s.start < end) {
        let from = span.start.max(last);
        let to = span.end.min(end);
        if from >= to {
            continue;
        }
        out.push_str(&line[last - start..from - start]);
        out.push_str(MASK);
        last = to;
    }
    out.push_str(&line[last - start..]);
    if !line.ends_with('\n') {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side<'a>(text: &'a str, secrets: &'a [Range<usize>], name: &'a str) -> Side<'a> {
        Side {
            text,
            secrets,
            name,
        }
    }

    #[test]
    fn same_output_as_a_plain_unified_diff() {
        let old: String = (0..40).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 5\n", "line 5\nadded\n")
            .replace("line 30\n", "changed\n");
        let want = similar::TextDiff::configure()
            .algorithm(Algorithm::Patience)
            .diff_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header("a/x", "b/y")
            .to_string();
        assert_eq!(unified(&side(&old, &[], "x"), &side(&new, &[], "y")), want);
        assert_eq!(unified(&side(&old, &[], "x"), &side(&old, &[], "y")), "");
    }

    #[test]
    fn secrets_are_masked_in_the_lines_shown() {
        let old = "a: 1\npw: hunter2\nb: 2\n";
        let new = "a: 2\npw: hunter2\nb: 2";
        let at = old.find("hunter2").unwrap();
        let secret = [Range {
            start: at,
            end: at + 7,
        }];
        let got = unified(&side(old, &secret, "x"), &side(new, &secret, "y"));
        assert_eq!(
            got,
            "--- a/x\n+++ b/y\n@@ -1,3 +1,3 @@\n-a: 1\n+a: 2\n pw: ********\n-b: 2\n+b: 2\n\\ No newline at end of file\n"
        );
    }
}
