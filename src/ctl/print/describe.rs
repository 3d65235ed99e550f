//! The pieces every `describe` shares: Go's `text/tabwriter` as kubectl's
//! `tabbedString` sets it up (min width 0, padding 2, spaces), RFC 1123
//! timestamps, and the `Events:` table of an object's events.

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;

/// Lines `text` up as Go's tabwriter does: a tab ends a cell; a column is
/// sized per block of consecutive lines that have a cell in it; the last
/// cell of a line is not aligned.
pub fn tabbed(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text
        .split_inclusive('\n')
        .map(|l| l.strip_suffix('\n').unwrap_or(l).split('\t').collect())
        .collect();
    let newline_at_end = text.ends_with('\n');
    let mut out = String::new();
    let mut widths = Vec::new();
    format(&lines, 0, lines.len(), &mut widths, &mut out);
    if !newline_at_end && out.ends_with('\n') {
        out.pop();
    }
    out
}

const PADDING: usize = 2;

fn format(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = 0;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + PADDING);
            this += 1;
        }
        widths.push(width);
        format(lines, line0, this, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                let pad = widths[j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

/// Go's `time.RFC1123Z` in UTC: `Mon, 02 Jan 2006 15:04:05 +0000`.
pub fn rfc1123(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// A description: `body` lined up, then the events. `Events:\t<none>` is
/// part of the body's alignment; a table is lined up on its own, as
/// kubectl flushes its tabwriter before writing one.
pub fn finish(body: &str, evs: &[Event], now: Timestamp) -> String {
    let mut body = body.to_owned();
    if evs.is_empty() {
        body.push_str("Events:\t<none>\n");
        return tabbed(&body);
    }
    let mut table = String::new();
    events(&mut table, evs, now);
    let mut text = tabbed(&body);
    text.push_str(&tabbed(&table));
    text
}

/// `DescribeEvents`: `Events:\t<none>`, or the table of TYPE, REASON, AGE
/// (`5s (x3 over 2m)` for repeats), FROM (the source component) and
/// MESSAGE, oldest first.
pub fn events(out: &mut String, events: &[Event], now: Timestamp) {
    if events.is_empty() {
        out.push_str("Events:\t<none>\n");
        return;
    }
    let mut events = events.to_vec();
    super::event::sort_events(&mut events);
    out.push_str("Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    out.push_str("  ----\t------\t----\t----\t-------\n");
    for e in &events {
        let first = e.first_timestamp.as_ref().map(|t| t.0);
        let last = e.last_timestamp.as_ref().map(|t| t.0);
        let count = e.count.unwrap_or(1);
        let age = if count > 1 {
            format!(
                "{} (x{count} over {})",
                super::since(last, now),
                super::since(first, now)
            )
        } else {
            super::since(first.or(last), now)
        };
        let from = e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .filter(|c| !c.is_empty())
            .or_else(|| e.reporting_component.clone())
            .unwrap_or_default();
        out.push_str(&format!(
            "  {}\t{}\t{age}\t{from}\t{}\n",
            e.type_.as_deref().unwrap_or(""),
            e.reason.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("").trim()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_blocks_like_go() {
        let text = "Name:\tweb\nNamespace:\tdemo\nPod Template:\n  Labels:\tapp=nginx\n";
        assert_eq!(
            tabbed(text),
            "Name:       web\nNamespace:  demo\nPod Template:\n  Labels:  app=nginx\n"
        );
        let table = "  Type\tReason\tAge\n  ----\t------\t---\n  Normal\tScheduled\t5s\n";
        assert_eq!(
            tabbed(table),
            "  Type    Reason     Age\n  ----    ------     ---\n  Normal  Scheduled  5s\n"
        );
    }
}
