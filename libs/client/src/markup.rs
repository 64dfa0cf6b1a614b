//! The little formatting a message may carry, found in its text: links, code and emphasis. It
//! only cuts the text into [`Span`]s; the web client makes each an element whose content is set
//! as text, so no message ever reaches the page as HTML.
//!
//! The subset, in the order it is looked for:
//! - ```` ``` ```` opens a code block that the next ```` ``` ```` closes, across lines; the line
//!   break right after the opening fence and right before the closing one belong to the fences.
//!   Inside, everything is kept as written. An unclosed fence is text.
//! - `` ` `` opens inline code that the next `` ` `` on the same line closes.
//! - `**bold**` and `*emphasis*`: on one line, not starting or ending with a space, with no `*`
//!   inside. Their content is plain text (a link inside is not a link).
//! - `http://` and `https://` start a link that runs to the next ASCII space; trailing punctuation
//!   (`. , ; : ! ? ' "`, and a `)` the link did not open) is left out. No other scheme is a link.

/// A piece of a message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span<'a> {
    Text(&'a str),
    Link(&'a str),
    Code(&'a str),
    Block(&'a str),
    Strong(&'a str),
    Em(&'a str),
}

/// `text` cut into spans, in order; their texts (with the fences and marks) make up `text`.
///
/// Every mark is ASCII, so the scan works on bytes and cuts only at ASCII bytes, which are
/// always character boundaries. (Byte scans also keep the web client small: string patterns,
/// `memchr` and Unicode classes cost it kilobytes.)
pub fn spans(text: &str) -> Vec<Span<'_>> {
    let mut out = Vec::new();
    let mut plain = 0;
    let mut at = 0;
    while let Some(rest) = text.get(at..).filter(|rest| !rest.is_empty()) {
        let found = block(rest)
            .or_else(|| inline(rest, "`", Span::Code, false))
            .or_else(|| inline(rest, "**", Span::Strong, true))
            .or_else(|| inline(rest, "*", Span::Em, true))
            .or_else(|| link(rest));
        match found {
            Some((span, len)) => {
                if let Some(before) = text.get(plain..at).filter(|t| !t.is_empty()) {
                    out.push(Span::Text(before));
                }
                out.push(span);
                at += len;
                plain = at;
            }
            None => {
                at += 1;
                while !text.is_char_boundary(at) {
                    at += 1;
                }
            }
        }
    }
    if let Some(after) = text.get(plain..).filter(|t| !t.is_empty()) {
        out.push(Span::Text(after));
    }
    out
}

/// Where `mark` first occurs in `text`.
fn find(text: &str, mark: &str) -> Option<usize> {
    text.as_bytes()
        .windows(mark.len())
        .position(|window| window == mark.as_bytes())
}

/// Whether `text` holds the byte `byte`.
fn has(text: &str, byte: u8) -> bool {
    text.bytes().any(|b| b == byte)
}

/// A fenced block at the start of `rest`, and how much of `rest` it takes.
fn block(rest: &str) -> Option<(Span<'_>, usize)> {
    let inner = rest.strip_prefix("```")?;
    let end = find(inner, "```")?;
    let mut code = inner.get(..end)?;
    if code.starts_with('\n') {
        code = code.get(1..)?;
    }
    if code.ends_with('\n') {
        code = code.get(..code.len() - 1)?;
    }
    Some((Span::Block(code), end + 6))
}

/// `mark`…`mark` at the start of `rest`, on one line; `tight`: not empty, no space just inside
/// the marks and no `*` within.
fn inline<'a>(
    rest: &'a str,
    mark: &str,
    span: fn(&'a str) -> Span<'a>,
    tight: bool,
) -> Option<(Span<'a>, usize)> {
    let inner = rest.strip_prefix(mark)?;
    let end = find(inner, mark)?;
    let content = inner.get(..end)?;
    let bytes = content.as_bytes();
    let loose = bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') || has(content, b'*');
    if content.is_empty() || has(content, b'\n') || (tight && loose) {
        return None;
    }
    Some((span(content), end + 2 * mark.len()))
}

/// A link at the start of `rest`.
fn link(rest: &str) -> Option<(Span<'_>, usize)> {
    let scheme = ["https://", "http://"]
        .into_iter()
        .find(|scheme| rest.starts_with(scheme))?;
    let bytes = rest.as_bytes();
    let mut end = bytes
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(bytes.len());
    let count = |byte: u8| bytes[..end].iter().filter(|b| **b == byte).count();
    let (opened, mut closed) = (count(b'('), count(b')'));
    while end > scheme.len() {
        let trailing = match bytes[end - 1] {
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\'' | b'"' => true,
            // A `)` the link did not open.
            b')' if closed > opened => {
                closed -= 1;
                true
            }
            _ => false,
        };
        if !trailing {
            break;
        }
        end -= 1;
    }
    let url = rest.get(..end).filter(|url| url.len() > scheme.len())?;
    Some((Span::Link(url), end))
}

#[cfg(test)]
mod tests {
    use super::Span::*;
    use super::*;

    #[test]
    fn plain_text_is_one_span() {
        assert_eq!(
            spans("just words, 2 * 3 = 6"),
            [Text("just words, 2 * 3 = 6")]
        );
        assert_eq!(spans(""), []);
    }

    #[test]
    fn links_run_to_a_space_without_trailing_punctuation() {
        assert_eq!(
            spans("see https://example.com/a?b=1&c=2. Thanks"),
            [
                Text("see "),
                Link("https://example.com/a?b=1&c=2"),
                Text(". Thanks")
            ]
        );
        assert_eq!(
            spans("(http://x.org/wiki/A_(b)) ok"),
            [Text("("), Link("http://x.org/wiki/A_(b)"), Text(") ok")]
        );
        assert_eq!(
            spans("(http://x.org)"),
            [Text("("), Link("http://x.org"), Text(")")]
        );
        // Many closing brackets are left out in one pass, not one rescan each.
        let closing = ")".repeat(20_000);
        assert_eq!(
            spans(&format!("https://x.org{closing}")),
            [Link("https://x.org"), Text(&closing)]
        );
        assert_eq!(spans("https:// alone"), [Text("https:// alone")]);
        // No other scheme is a link.
        for text in [
            "javascript:alert(1)",
            "data:text/html,<b>",
            "ftp://x",
            "HTTPS://X",
        ] {
            assert_eq!(spans(text), [Text(text)], "{text}");
        }
    }

    #[test]
    fn code_keeps_what_is_inside_as_written() {
        assert_eq!(
            spans("run `just test` now"),
            [Text("run "), Code("just test"), Text(" now")]
        );
        assert_eq!(
            spans("```\nfn main() {\n    *x* https://a.b\n}\n```after"),
            [Block("fn main() {\n    *x* https://a.b\n}"), Text("after")]
        );
        assert_eq!(spans("``` unclosed"), [Text("``` unclosed")]);
        assert_eq!(spans("`a\nb`"), [Text("`a\nb`")], "inline code is one line");
        assert_eq!(spans("``"), [Text("``")]);
    }

    #[test]
    fn emphasis_is_tight_and_on_one_line() {
        assert_eq!(
            spans("**bold** and *em* and **not bold **"),
            [
                Strong("bold"),
                Text(" and "),
                Em("em"),
                Text(" and **not bold **")
            ]
        );
        assert_eq!(spans("2 * 3 * 4"), [Text("2 * 3 * 4")]);
        assert_eq!(spans("*a\nb*"), [Text("*a\nb*")]);
        assert_eq!(
            spans("**https://x.y**"),
            [Strong("https://x.y")],
            "plain text inside"
        );
    }

    #[test]
    fn the_spans_make_up_the_text_whatever_it_is() {
        let texts = [
            "<script>alert(1)</script> **<b>** `<i>` https://e.com/\"><svg onload=x>",
            "é*ü*`ß` 🙂**🙂** ```🙂```",
            "***x*** `` ` * ** https://",
        ];
        for text in texts {
            let rebuilt: String = spans(text)
                .iter()
                .map(|span| match span {
                    Text(t) | Link(t) => t.to_string(),
                    Code(t) => format!("`{t}`"),
                    Block(t) => format!("```{t}```"),
                    Strong(t) => format!("**{t}**"),
                    Em(t) => format!("*{t}*"),
                })
                .collect();
            assert_eq!(rebuilt, text);
        }
    }
}
