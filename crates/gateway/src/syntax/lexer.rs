//! graphql-core 3.2's lexer (`lexer.py`): the source as code points with its line starts, and
//! the tokens read from it, each with the words graphql-core describes it by (`Name 'x'`,
//! `'{'`, `<EOF>`).

/// The source as graphql-core sees it: code points, with the start of every line.
pub(super) struct Text {
    pub(super) chars: Vec<char>,
    /// Offsets where lines start (after `\r\n`, `\n` or `\r`).
    pub(super) line_starts: Vec<usize>,
}

impl Text {
    pub(super) fn new(source: &str) -> Text {
        let chars: Vec<char> = source.chars().collect();
        let mut line_starts = vec![0];
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\r' if chars.get(i + 1) == Some(&'\n') => {
                    i += 2;
                    line_starts.push(i);
                }
                '\r' | '\n' => {
                    i += 1;
                    line_starts.push(i);
                }
                _ => i += 1,
            }
        }
        Text { chars, line_starts }
    }

    /// Line and column (from 1) of an offset, as graphql-core's `get_location`.
    pub(super) fn locate(&self, at: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= at).max(1);
        (line, at - self.line_starts[line - 1] + 1)
    }

    pub(super) fn offset(&self, line: usize, column: usize) -> Option<usize> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let at = start + column.checked_sub(1)?;
        (at <= self.chars.len()).then_some(at)
    }

    pub(super) fn char(&self, at: usize) -> Option<char> {
        self.chars.get(at).copied()
    }

    pub(super) fn slice(&self, from: usize, to: usize) -> String {
        self.chars[from.min(self.chars.len())..to.min(self.chars.len())].iter().collect()
    }

    /// A code point as graphql-core names it in a message: `'x'`, `'"'`, `U+00E9`, `<EOF>`.
    pub(super) fn code_point_at(&self, at: usize) -> String {
        match self.char(at) {
            None => "<EOF>".into(),
            Some('"') => "'\"'".into(),
            Some(c) if (' '..='~').contains(&c) => format!("'{c}'"),
            Some(c) => format!("U+{:04X}", c as u32),
        }
    }

    pub(super) fn lex_error_at(&self, at: usize) -> Stop {
        Stop::Error(at, format!("Unexpected character: {}.", self.code_point_at(at)))
    }
}

/// Why reading stopped: a syntax error (its offset and description) or a document this reader
/// does not follow.
pub(super) enum Stop {
    Error(usize, String),
    Unfollowed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Sof,
    Eof,
    Bang,
    Dollar,
    Amp,
    ParenL,
    ParenR,
    Spread,
    Colon,
    Equals,
    At,
    BracketL,
    BracketR,
    BraceL,
    Pipe,
    BraceR,
    Name,
    Int,
    Float,
    String,
    BlockString,
}

impl Kind {
    /// graphql-core's `get_token_kind_desc`: punctuators quoted.
    pub(super) fn describe(self) -> String {
        let punctuator = |p: &str| format!("'{p}'");
        match self {
            Kind::Sof => "<SOF>".into(),
            Kind::Eof => "<EOF>".into(),
            Kind::Bang => punctuator("!"),
            Kind::Dollar => punctuator("$"),
            Kind::Amp => punctuator("&"),
            Kind::ParenL => punctuator("("),
            Kind::ParenR => punctuator(")"),
            Kind::Spread => punctuator("..."),
            Kind::Colon => punctuator(":"),
            Kind::Equals => punctuator("="),
            Kind::At => punctuator("@"),
            Kind::BracketL => punctuator("["),
            Kind::BracketR => punctuator("]"),
            Kind::BraceL => punctuator("{"),
            Kind::Pipe => punctuator("|"),
            Kind::BraceR => punctuator("}"),
            Kind::Name => "Name".into(),
            Kind::Int => "Int".into(),
            Kind::Float => "Float".into(),
            Kind::String => "String".into(),
            Kind::BlockString => "BlockString".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) kind: Kind,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) value: Option<String>,
}

impl Token {
    /// graphql-core's `get_token_desc`: `Name 'x'`, `'{'`, `<EOF>`.
    pub(super) fn describe(&self) -> String {
        match &self.value {
            Some(value) => format!("{} '{value}'", self.kind.describe()),
            None => self.kind.describe(),
        }
    }
}

pub(super) fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub(super) fn is_name_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// graphql-core's `Lexer.read_next_token` and its helpers, comments skipped.
pub(super) fn read_token(text: &Text, from: usize) -> Result<Token, Stop> {
    let mut at = from;
    while let Some(c) = text.char(at) {
        match c {
            ' ' | '\t' | ',' | '\u{feff}' | '\n' | '\r' => {
                at += 1;
                continue;
            }
            '#' => {
                while text.char(at).is_some_and(|c| c != '\r' && c != '\n') {
                    at += 1;
                }
                continue;
            }
            _ => {}
        }
        let punct = |kind| Ok(Token { kind, start: at, end: at + 1, value: None });
        return match c {
            '"' if text.char(at + 1) == Some('"') && text.char(at + 2) == Some('"') => {
                read_block_string(text, at)
            }
            '"' => read_string(text, at),
            '!' => punct(Kind::Bang),
            '$' => punct(Kind::Dollar),
            '&' => punct(Kind::Amp),
            '(' => punct(Kind::ParenL),
            ')' => punct(Kind::ParenR),
            ':' => punct(Kind::Colon),
            '=' => punct(Kind::Equals),
            '@' => punct(Kind::At),
            '[' => punct(Kind::BracketL),
            ']' => punct(Kind::BracketR),
            '{' => punct(Kind::BraceL),
            '}' => punct(Kind::BraceR),
            '|' => punct(Kind::Pipe),
            c if c.is_ascii_digit() || c == '-' => read_number(text, at),
            c if is_name_start(c) => {
                let mut end = at + 1;
                while text.char(end).is_some_and(is_name_continue) {
                    end += 1;
                }
                Ok(Token { kind: Kind::Name, start: at, end, value: Some(text.slice(at, end)) })
            }
            '.' if text.char(at + 1) == Some('.') && text.char(at + 2) == Some('.') => {
                Ok(Token { kind: Kind::Spread, start: at, end: at + 3, value: None })
            }
            '\'' => Err(Stop::Error(
                at,
                "Unexpected single quote character ('), did you mean to use a double quote (\")?"
                    .into(),
            )),
            _ => Err(text.lex_error_at(at)),
        };
    }
    let end = text.chars.len();
    Ok(Token { kind: Kind::Eof, start: end, end, value: None })
}

pub(super) fn read_digits(text: &Text, at: usize) -> Result<usize, Stop> {
    if !text.char(at).is_some_and(|c| c.is_ascii_digit()) {
        return Err(Stop::Error(
            at,
            format!("Invalid number, expected digit but got: {}.", text.code_point_at(at)),
        ));
    }
    let mut end = at + 1;
    while text.char(end).is_some_and(|c| c.is_ascii_digit()) {
        end += 1;
    }
    Ok(end)
}

pub(super) fn read_number(text: &Text, start: usize) -> Result<Token, Stop> {
    let mut at = start;
    let mut float = false;
    if text.char(at) == Some('-') {
        at += 1;
    }
    if text.char(at) == Some('0') {
        at += 1;
        if text.char(at).is_some_and(|c| c.is_ascii_digit()) {
            return Err(Stop::Error(
                at,
                format!("Invalid number, unexpected digit after 0: {}.", text.code_point_at(at)),
            ));
        }
    } else {
        at = read_digits(text, at)?;
    }
    if text.char(at) == Some('.') {
        float = true;
        at = read_digits(text, at + 1)?;
    }
    if matches!(text.char(at), Some('e' | 'E')) {
        float = true;
        at += 1;
        if matches!(text.char(at), Some('+' | '-')) {
            at += 1;
        }
        at = read_digits(text, at)?;
    }
    if text.char(at).is_some_and(|c| c == '.' || is_name_start(c)) {
        return Err(Stop::Error(
            at,
            format!("Invalid number, expected digit but got: {}.", text.code_point_at(at)),
        ));
    }
    let kind = if float { Kind::Float } else { Kind::Int };
    Ok(Token { kind, start, end: at, value: Some(text.slice(start, at)) })
}

pub(super) fn hex(c: Option<char>) -> Option<u32> {
    c.and_then(|c| c.to_digit(16))
}

pub(super) fn read_string(text: &Text, start: usize) -> Result<Token, Stop> {
    let mut at = start + 1;
    let mut value = String::new();
    while let Some(c) = text.char(at) {
        match c {
            '"' => return Ok(Token { kind: Kind::String, start, end: at + 1, value: Some(value) }),
            '\\' => {
                let (decoded, size) = read_escape(text, at)?;
                value.push_str(&decoded);
                at += size;
            }
            '\r' | '\n' => break,
            c => {
                value.push(c);
                at += 1;
            }
        }
    }
    Err(Stop::Error(at, "Unterminated string.".into()))
}

/// One escape sequence of a string at `at` (the backslash): what it stands for and its length.
pub(super) fn read_escape(text: &Text, at: usize) -> Result<(String, usize), Stop> {
    let simple = match text.char(at + 1) {
        Some('"') => Some('"'),
        Some('/') => Some('/'),
        Some('\\') => Some('\\'),
        Some('b') => Some('\u{8}'),
        Some('f') => Some('\u{c}'),
        Some('n') => Some('\n'),
        Some('r') => Some('\r'),
        Some('t') => Some('\t'),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c.to_string(), 2));
    }
    if text.char(at + 1) != Some('u') {
        return Err(Stop::Error(
            at,
            format!("Invalid character escape sequence: '{}'.", text.slice(at, at + 2)),
        ));
    }
    if text.char(at + 2) == Some('{') {
        // \u{…}: at most 12 characters in all, at least 5.
        let max = 12.min(text.chars.len() - at);
        let mut size = 3;
        let mut point: u32 = 0;
        while size < max {
            let c = text.char(at + size);
            size += 1;
            if c == Some('}') {
                if size >= 5 {
                    if let Some(c) = char::from_u32(point) {
                        return Ok((c.to_string(), size));
                    }
                }
                break;
            }
            match hex(c) {
                Some(d) if point <= 0x0FFF_FFFF => point = (point << 4) | d,
                _ => break,
            }
        }
        return Err(Stop::Error(
            at,
            format!("Invalid Unicode escape sequence: '{}'.", text.slice(at, at + size)),
        ));
    }
    let fixed = |from: usize| -> Option<u32> {
        (0..4).try_fold(0u32, |acc, i| hex(text.char(from + i)).map(|d| (acc << 4) | d))
    };
    let invalid = || {
        Stop::Error(at, format!("Invalid Unicode escape sequence: '{}'.", text.slice(at, at + 6)))
    };
    let code = fixed(at + 2).ok_or_else(invalid)?;
    if let Some(c) = char::from_u32(code) {
        return Ok((c.to_string(), 6));
    }
    // A surrogate pair written as two escapes.
    if (0xD800..=0xDBFF).contains(&code)
        && text.char(at + 6) == Some('\\')
        && text.char(at + 7) == Some('u')
    {
        if let Some(low) = fixed(at + 8).filter(|l| (0xDC00..=0xDFFF).contains(l)) {
            let point = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            if let Some(c) = char::from_u32(point) {
                return Ok((c.to_string(), 12));
            }
        }
    }
    Err(invalid())
}

pub(super) fn read_block_string(text: &Text, start: usize) -> Result<Token, Stop> {
    let mut at = start + 3;
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    while let Some(c) = text.char(at) {
        match c {
            '"' if text.char(at + 1) == Some('"') && text.char(at + 2) == Some('"') => {
                lines.push(line);
                let value = dedent_block_lines(lines).join("\n");
                return Ok(Token {
                    kind: Kind::BlockString,
                    start,
                    end: at + 3,
                    value: Some(value),
                });
            }
            '\\' if text.slice(at + 1, at + 4) == "\"\"\"" => {
                line.push_str("\"\"\"");
                at += 4;
            }
            '\r' | '\n' => {
                lines.push(std::mem::take(&mut line));
                at += if c == '\r' && text.char(at + 1) == Some('\n') { 2 } else { 1 };
            }
            c => {
                line.push(c);
                at += 1;
            }
        }
    }
    Err(Stop::Error(at, "Unterminated string.".into()))
}

/// graphql-core's `dedent_block_string_lines` (the spec's BlockStringValue).
pub(super) fn dedent_block_lines(lines: Vec<String>) -> Vec<String> {
    let indent_of = |l: &str| l.chars().take_while(|c| *c == ' ' || *c == '\t').count();
    let mut common = usize::MAX;
    let mut first = None;
    let mut last = None;
    for (i, line) in lines.iter().enumerate() {
        let indent = indent_of(line);
        if indent == line.chars().count() {
            continue;
        }
        first.get_or_insert(i);
        last = Some(i);
        if i > 0 && indent < common {
            common = indent;
        }
    }
    let first = first.unwrap_or(0);
    let Some(last) = last else { return Vec::new() };
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| if i > 0 { l.chars().skip(common).collect() } else { l })
        .skip(first)
        .take(last + 1 - first)
        .collect()
}
