//! A small JSON reader and writer, enough for the frames and the client's saved outbox.
//!
//! The web client decodes server frames and encodes its own with this instead of serde_json: the
//! serde derives and serde_json's generic code were an eighth of the client's wasm, and a chat
//! frame needs none of their generality. The Worker keeps serde. Both sides must agree byte for
//! byte on what they write, which `tests/golden.rs` checks frame by frame against serde_json.
//!
//! Numbers are integers only: the protocol has no other kind. A number with a fraction or an
//! exponent, or one outside `i64`, still parses (a newer server may send one in a field this
//! client does not know), as [`Json::OtherNumber`], which no field of a known frame accepts.

/// A parsed JSON value. Objects keep their members in order, duplicates included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not an `i64`: a fraction, an exponent, or too large.
    OtherNumber,
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Why a text is not JSON (or nests too deeply): the byte offset where reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {at}")]
pub struct JsonError {
    pub at: usize,
}

/// Arrays and objects nested deeper than this are refused, so hostile input cannot exhaust the
/// stack. A frame nests four levels at most.
pub const MAX_DEPTH: usize = 32;

impl Json {
    /// Parses a whole text: one value, with only whitespace around it.
    pub fn parse(text: &str) -> Result<Json, JsonError> {
        let mut reader = Reader {
            bytes: text.as_bytes(),
            text,
            at: 0,
        };
        let value = reader.value(0)?;
        reader.skip_whitespace();
        if reader.at == reader.bytes.len() {
            Ok(value)
        } else {
            Err(reader.error())
        }
    }

    /// The first member named `name`, if this is an object that has one.
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(key, _)| key == name).map(|m| &m.1),
            _ => None,
        }
    }

    /// The member `name` as an owned string, if it is one.
    pub fn str_member(&self, name: &str) -> Option<String> {
        self.get(name)?.as_str().map(str::to_owned)
    }

    /// The member `name` as an integer, if it is one.
    pub fn int_member(&self, name: &str) -> Option<i64> {
        self.get(name)?.as_i64()
    }

    /// The member `name` as a boolean, if it is one.
    pub fn bool_member(&self, name: &str) -> Option<bool> {
        self.get(name)?.as_bool()
    }

    /// The member `name` as an array, each item read by `item`; `None` if it is not an array
    /// or any item does not read.
    pub fn list_member<T>(&self, name: &str, item: impl Fn(&Json) -> Option<T>) -> Option<Vec<T>> {
        self.get(name)?.as_array()?.iter().map(item).collect()
    }

    /// An optional member read by `read`: absent and `null` both mean `Some(None)`, as with
    /// serde's `default`; `None` if it is present and does not read.
    pub fn optional_member<T>(
        &self,
        name: &str,
        read: impl Fn(&Json) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.get(name) {
            None | Some(Json::Null) => Some(None),
            Some(value) => read(value).map(Some),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

impl Reader<'_> {
    fn error(&self) -> JsonError {
        JsonError { at: self.at }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// Consumes `word` (after its first byte was seen) or fails.
    fn expect(&mut self, word: &str, value: Json) -> Result<Json, JsonError> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error())
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.skip_whitespace();
        match self.bytes.get(self.at) {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.expect("true", Json::Bool(true)),
            Some(b'f') => self.expect("false", Json::Bool(false)),
            Some(b'n') => self.expect("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error()),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        let mut members = Vec::new();
        self.sequence(depth, b'}', |reader| {
            reader.skip_whitespace();
            if reader.bytes.get(reader.at) != Some(&b'"') {
                return Err(reader.error());
            }
            let key = reader.string()?;
            reader.skip_whitespace();
            if reader.bytes.get(reader.at) != Some(&b':') {
                return Err(reader.error());
            }
            reader.at += 1;
            members.push((key, reader.value(depth)?));
            Ok(())
        })?;
        Ok(Json::Object(members))
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        let mut items = Vec::new();
        self.sequence(depth, b']', |reader| {
            items.push(reader.value(depth)?);
            Ok(())
        })?;
        Ok(Json::Array(items))
    }

    /// What objects and arrays share: the opening byte at `at`, then `item` read again and again
    /// with commas between, up to `close`. Refuses nesting deeper than [`MAX_DEPTH`].
    fn sequence(
        &mut self,
        depth: usize,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error());
        }
        self.at += 1;
        self.skip_whitespace();
        if self.bytes.get(self.at) == Some(&close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            self.skip_whitespace();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(&b) if b == close => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.error()),
            }
        }
    }

    /// A number as JSON spells it; an integer that fits `i64` becomes [`Json::Int`].
    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.at;
        let negative = self.bytes[self.at] == b'-';
        if negative {
            self.at += 1;
        }
        let digits_start = self.at;
        match self.bytes.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.error()),
        }
        // Accumulated negatively, so that i64::MIN fits too.
        let mut value: Option<i64> = Some(0);
        for &digit in &self.bytes[digits_start..self.at] {
            value = value
                .and_then(|v| v.checked_mul(10))
                .and_then(|v| v.checked_sub(i64::from(digit - b'0')));
        }
        let mut integer = true;
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !matches!(self.bytes.get(self.at), Some(b'0'..=b'9')) {
                return Err(self.error());
            }
            self.skip_digits();
            integer = false;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if !matches!(self.bytes.get(self.at), Some(b'0'..=b'9')) {
                return Err(self.error());
            }
            self.skip_digits();
            integer = false;
        }
        debug_assert!(self.at > start);
        let value = if negative {
            value
        } else {
            value.and_then(i64::checked_neg)
        };
        Ok(match value {
            // serde_json reads `-0` as the float -0.0, which no integer field takes: so here.
            Some(0) if negative => Json::OtherNumber,
            Some(n) if integer => Json::Int(n),
            _ => Json::OtherNumber,
        })
    }

    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// A string, the opening quote at `at`.
    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            // Copy the run up to the next quote, backslash or control character at once. Those
            // are ASCII, so the run ends on a character boundary of the (valid UTF-8) text.
            let run = self.at;
            while let Some(&b) = self.bytes.get(self.at) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            // `get`, not indexing: the cut is always on a boundary, and indexing would compile
            // the panic that reports a bad one (1.3 KB gzip of the web client) for nothing.
            out.push_str(self.text.get(run..self.at).unwrap_or_default());
            match self.bytes.get(self.at) {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escaped = match self.bytes.get(self.at) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            out.push(self.unicode_escape()?);
                            continue;
                        }
                        _ => return Err(self.error()),
                    };
                    self.at += 1;
                    out.push(escaped);
                }
                // A raw control character, or the end of the text inside a string.
                _ => return Err(self.error()),
            }
        }
    }

    /// The character of a `\u` escape whose four hex digits start at `at`, with the low half of
    /// a surrogate pair read too. A lone surrogate is an error, as in serde_json.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.bytes[self.at..].starts_with(b"\\u") {
                    return Err(self.error());
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error());
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error()),
            _ => first,
        };
        char::from_u32(code).ok_or_else(|| self.error())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = match self.bytes.get(self.at) {
                Some(&b @ b'0'..=b'9') => b - b'0',
                Some(&b @ b'a'..=b'f') => b - b'a' + 10,
                Some(&b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error()),
            };
            code = code * 16 + u32::from(digit);
            self.at += 1;
        }
        Ok(code)
    }
}

/// Builds one JSON object, members in the order written, spelled as serde_json spells them
/// (no spaces, the same escapes), so the two can be compared byte for byte.
#[derive(Debug)]
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object at the end of `out`.
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    fn key(&mut self, name: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_str(self.out, name);
        self.out.push(':');
        self.out
    }

    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        let out = self.key(name);
        write_str(out, value);
        self
    }

    pub fn int(&mut self, name: &str, value: i64) -> &mut Self {
        let out = self.key(name);
        write_int(out, value);
        self
    }

    pub fn bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.key(name)
            .push_str(if value { "true" } else { "false" });
        self
    }

    /// A member whose value the caller writes into the returned string (an object or array).
    pub fn raw(&mut self, name: &str) -> &mut String {
        self.key(name)
    }

    /// A member whose value is an array of `items`, each written by `write` at the end of the
    /// string it is given.
    pub fn array<T>(
        &mut self,
        name: &str,
        items: &[T],
        write: impl Fn(&T, &mut String),
    ) -> &mut Self {
        let out = self.key(name);
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write(item, out);
        }
        out.push(']');
        self
    }

    /// Closes the object.
    pub fn end(&mut self) {
        self.out.push('}');
    }
}

/// Appends `value` as a JSON string: quotes, backslashes and control characters escaped, the
/// rest (all of Unicode) as is.
pub fn write_str(out: &mut String, value: &str) {
    out.push('"');
    let mut run = 0;
    for (i, b) in value.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // Cut at ASCII bytes, so on boundaries; `get` spares the client the panic's code.
        out.push_str(value.get(run..i).unwrap_or_default());
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        run = i + 1;
    }
    out.push_str(value.get(run..).unwrap_or_default());
    out.push('"');
}

/// Appends an integer in decimal, without the formatting machinery.
pub fn write_int(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut n = value.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in digits[..len].iter().rev() {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Json, JsonError> {
        Json::parse(text)
    }

    #[test]
    fn reads_every_kind_of_value() {
        assert_eq!(
            parse(r#" {"a":[1,-2,true,false,null,"x"],"b":{},"c":[]} "#),
            Ok(Json::Object(vec![
                (
                    "a".into(),
                    Json::Array(vec![
                        Json::Int(1),
                        Json::Int(-2),
                        Json::Bool(true),
                        Json::Bool(false),
                        Json::Null,
                        Json::Str("x".into()),
                    ])
                ),
                ("b".into(), Json::Object(vec![])),
                ("c".into(), Json::Array(vec![])),
            ]))
        );
    }

    #[test]
    fn numbers_that_are_not_i64_are_kept_apart() {
        assert_eq!(parse("9223372036854775807"), Ok(Json::Int(i64::MAX)));
        assert_eq!(parse("-9223372036854775808"), Ok(Json::Int(i64::MIN)));
        assert_eq!(parse("9223372036854775808"), Ok(Json::OtherNumber));
        assert_eq!(parse("1.5"), Ok(Json::OtherNumber));
        assert_eq!(parse("1e3"), Ok(Json::OtherNumber));
        // As serde_json: a float, so not an integer field's value.
        assert_eq!(parse("-0"), Ok(Json::OtherNumber));
        for bad in ["01", "-", "1.", ".5", "1e", "+1", "0x10"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strings_unescape_like_serde_json() {
        let text = r#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00 é😀""#;
        assert_eq!(
            parse(text),
            Ok(Json::Str("a\"b\\c/d\u{8}\u{c}\n\r\t\u{e9}😀 é😀".into()))
        );
        for bad in [
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
            r#""\x""#,
            "\"a\u{1}\"",
            r#""abc"#,
            r#""\u12""#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_texts_are_errors() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:2}",
            "tru",
            "nul",
            "[1 2]",
            "{} {}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).is_err());
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&fine).is_ok());
        assert!(parse(&"[".repeat(100_000)).is_err());
    }

    #[test]
    fn writes_strings_and_integers_as_serde_json_does() {
        for s in [
            "",
            "plain",
            "q\"b\\s/",
            "\u{0}\u{1f}\u{7f}\u{8}\u{c}\n\r\t",
            "é😀\u{2028}",
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap_or_default(), "{s:?}");
        }
        for n in [0, 7, -7, 10, 1_700_000_000_000, i64::MAX, i64::MIN] {
            let mut out = String::new();
            write_int(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }
}
