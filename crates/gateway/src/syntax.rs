//! GraphQL text read as graphql-core 3.2's lexer and parser read it, for their words: the first
//! syntax error of a document (`Syntax Error: Expected Name, found <EOF>.`, with its line and
//! column) and argument values with the place of every literal in them.
//!
//! async-graphql parses every request; this reader runs only when that parse failed, or when a
//! validation message needs the place of a literal inside a list or an object, so it costs
//! nothing on the way of a valid document. It follows graphql-core's `lexer.py` and `parser.py`
//! for executable documents (operations and fragments); type-system definitions, which no
//! client sends to the endpoint, are not followed (`None`: the caller keeps async-graphql's
//! words). Nesting deeper than [`MAX_NESTING`] is not followed either, so no document can
//! recurse it without bound.

/// How deep lists, objects, selection sets and types may nest before the reader gives up
/// (async-graphql's parser refuses selection sets nested past 64 anyway).
const MAX_NESTING: usize = 200;

/// A syntax error as graphql-core reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// `Syntax Error: …`.
    pub(crate) message: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// The first syntax error of `source` in graphql-core's words, or `None` when it has none that
/// this reader follows.
pub(crate) fn first_error(source: &str) -> Option<SyntaxError> {
    let text = Text::new(source);
    match Parser::new(&text).document() {
        Ok(()) | Err(Stop::Unfollowed) => None,
        Err(Stop::Error(at, description)) => {
            let (line, column) = text.locate(at);
            Some(SyntaxError { message: format!("Syntax Error: {description}"), line, column })
        }
    }
}

/// A value literal and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Literal {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) value: LiteralValue,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LiteralValue {
    Int(String),
    Float(String),
    String(String),
    Boolean(bool),
    Null,
    Enum(String),
    Variable(String),
    List(Vec<Literal>),
    /// Fields with the place of their names.
    Object(Vec<(String, usize, usize, Literal)>),
}

impl Literal {
    /// The literal as graphql-core's `print_ast` writes it (`"x"`, `[1, 2]`, `{a: 1}`).
    pub(crate) fn printed(&self) -> String {
        match &self.value {
            LiteralValue::Int(s) | LiteralValue::Float(s) | LiteralValue::Enum(s) => s.clone(),
            LiteralValue::String(s) => print_string(s),
            LiteralValue::Boolean(b) => b.to_string(),
            LiteralValue::Null => "null".into(),
            LiteralValue::Variable(name) => format!("${name}"),
            LiteralValue::List(items) => {
                format!("[{}]", items.iter().map(Literal::printed).collect::<Vec<_>>().join(", "))
            }
            LiteralValue::Object(fields) => {
                let fields: Vec<String> =
                    fields.iter().map(|(k, _, _, v)| format!("{k}: {}", v.printed())).collect();
                format!("{{{}}}", fields.join(", "))
            }
        }
    }
}

/// A string as graphql-core's printer quotes it (JSON-like escapes, `\uXXXX` for controls).
fn print_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The argument written at `line`:`column` of `source` (where its name starts, as
/// async-graphql locates it): its name and its value with the place of every literal.
pub(crate) fn argument_at(source: &str, line: usize, column: usize) -> Option<(String, Literal)> {
    let text = Text::new(source);
    let at = text.offset(line, column)?;
    let mut parser = Parser::at(&text, at).ok()?;
    let name = parser.name().ok()?;
    parser.expect(Kind::Colon).ok()?;
    let value = parser.value(false).ok()?;
    Some((name, value))
}

/// What graphql-core locates where async-graphql locates the start of a construct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Within {
    /// The fragment name of a spread (`...F`: the `F`).
    SpreadName,
    /// The selection set of a field (`name { x }`: the `{`).
    SelectionSet,
    /// The named type of a variable definition (`$x: [Foo]`: the `Foo`).
    VariableType,
}

/// The place graphql-core reports for the construct starting at `line`:`column`.
pub(crate) fn place_within(
    source: &str,
    line: usize,
    column: usize,
    within: Within,
) -> Option<(usize, usize)> {
    let text = Text::new(source);
    let mut parser = Parser::at(&text, text.offset(line, column)?).ok()?;
    let found: Parsed<()> = (|| match within {
        Within::SpreadName => parser.expect(Kind::Spread).map(drop),
        Within::SelectionSet => {
            parser.name()?;
            if parser.optional(Kind::Colon)? {
                parser.name()?;
            }
            parser.arguments(false)?;
            parser.directives(false)
        }
        Within::VariableType => {
            parser.expect(Kind::Dollar)?;
            parser.name()?;
            parser.expect(Kind::Colon)?;
            while parser.optional(Kind::BracketL)? {}
            Ok(())
        }
    })();
    found.ok()?;
    Some(text.locate(parser.token.start))
}

/// The source as graphql-core sees it: code points, with the start of every line.
struct Text {
    chars: Vec<char>,
    /// Offsets where lines start (after `\r\n`, `\n` or `\r`).
    line_starts: Vec<usize>,
}

impl Text {
    fn new(source: &str) -> Text {
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
    fn locate(&self, at: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= at).max(1);
        (line, at - self.line_starts[line - 1] + 1)
    }

    fn offset(&self, line: usize, column: usize) -> Option<usize> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let at = start + column.checked_sub(1)?;
        (at <= self.chars.len()).then_some(at)
    }

    fn char(&self, at: usize) -> Option<char> {
        self.chars.get(at).copied()
    }

    fn slice(&self, from: usize, to: usize) -> String {
        self.chars[from.min(self.chars.len())..to.min(self.chars.len())].iter().collect()
    }

    /// A code point as graphql-core names it in a message: `'x'`, `'"'`, `U+00E9`, `<EOF>`.
    fn code_point_at(&self, at: usize) -> String {
        match self.char(at) {
            None => "<EOF>".into(),
            Some('"') => "'\"'".into(),
            Some(c) if (' '..='~').contains(&c) => format!("'{c}'"),
            Some(c) => format!("U+{:04X}", c as u32),
        }
    }

    fn lex_error_at(&self, at: usize) -> Stop {
        Stop::Error(at, format!("Unexpected character: {}.", self.code_point_at(at)))
    }
}

/// Why reading stopped: a syntax error (its offset and description) or a document this reader
/// does not follow.
enum Stop {
    Error(usize, String),
    Unfollowed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
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
    fn describe(self) -> String {
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
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    value: Option<String>,
}

impl Token {
    /// graphql-core's `get_token_desc`: `Name 'x'`, `'{'`, `<EOF>`.
    fn describe(&self) -> String {
        match &self.value {
            Some(value) => format!("{} '{value}'", self.kind.describe()),
            None => self.kind.describe(),
        }
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// graphql-core's `Lexer.read_next_token` and its helpers, comments skipped.
fn read_token(text: &Text, from: usize) -> Result<Token, Stop> {
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

fn read_digits(text: &Text, at: usize) -> Result<usize, Stop> {
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

fn read_number(text: &Text, start: usize) -> Result<Token, Stop> {
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

fn hex(c: Option<char>) -> Option<u32> {
    c.and_then(|c| c.to_digit(16))
}

fn read_string(text: &Text, start: usize) -> Result<Token, Stop> {
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
fn read_escape(text: &Text, at: usize) -> Result<(String, usize), Stop> {
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

fn read_block_string(text: &Text, start: usize) -> Result<Token, Stop> {
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
fn dedent_block_lines(lines: Vec<String>) -> Vec<String> {
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

/// graphql-core's `Parser` for executable documents.
struct Parser<'t> {
    text: &'t Text,
    /// The current token (graphql-core's `lexer.token`).
    token: Token,
    /// How deep lists, objects, selection sets and types nest here.
    nesting: usize,
}

type Parsed<T> = Result<T, Stop>;

/// The keywords of type-system definitions, which this reader does not follow.
const TYPE_SYSTEM: [&str; 8] =
    ["schema", "scalar", "type", "interface", "union", "enum", "input", "directive"];

impl<'t> Parser<'t> {
    fn new(text: &'t Text) -> Parser<'t> {
        let token = Token { kind: Kind::Sof, start: 0, end: 0, value: None };
        Parser { text, token, nesting: 0 }
    }

    /// A parser whose current token is the one read from `at`.
    fn at(text: &'t Text, at: usize) -> Parsed<Parser<'t>> {
        let token = read_token(text, at)?;
        Ok(Parser { text, token, nesting: 0 })
    }

    fn advance(&mut self) -> Parsed<()> {
        if self.token.kind != Kind::Eof {
            self.token = read_token(self.text, self.token.end)?;
        }
        Ok(())
    }

    fn lookahead(&self) -> Parsed<Token> {
        match self.token.kind {
            Kind::Eof => Ok(self.token.clone()),
            _ => read_token(self.text, self.token.end),
        }
    }

    fn peek(&self, kind: Kind) -> bool {
        self.token.kind == kind
    }

    fn expect(&mut self, kind: Kind) -> Parsed<Token> {
        if self.token.kind == kind {
            let token = self.token.clone();
            self.advance()?;
            return Ok(token);
        }
        Err(Stop::Error(
            self.token.start,
            format!("Expected {}, found {}.", kind.describe(), self.token.describe()),
        ))
    }

    fn optional(&mut self, kind: Kind) -> Parsed<bool> {
        if self.token.kind == kind {
            self.advance()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn is_keyword(&self, word: &str) -> bool {
        self.token.kind == Kind::Name && self.token.value.as_deref() == Some(word)
    }

    fn expect_keyword(&mut self, word: &str) -> Parsed<()> {
        if self.is_keyword(word) {
            return self.advance();
        }
        Err(Stop::Error(
            self.token.start,
            format!("Expected '{word}', found {}.", self.token.describe()),
        ))
    }

    fn optional_keyword(&mut self, word: &str) -> Parsed<bool> {
        if self.is_keyword(word) {
            self.advance()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn unexpected(token: &Token) -> Stop {
        Stop::Error(token.start, format!("Unexpected {}.", token.describe()))
    }

    fn deeper(&mut self) -> Parsed<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Stop::Unfollowed);
        }
        Ok(())
    }

    fn name(&mut self) -> Parsed<String> {
        Ok(self.expect(Kind::Name)?.value.unwrap_or_default())
    }

    fn document(&mut self) -> Parsed<()> {
        self.expect(Kind::Sof)?;
        loop {
            self.definition()?;
            if self.optional(Kind::Eof)? {
                return Ok(());
            }
        }
    }

    fn definition(&mut self) -> Parsed<()> {
        if self.peek(Kind::BraceL) {
            return self.operation();
        }
        let described = self.peek_description();
        let keyword = if described { self.lookahead()? } else { self.token.clone() };
        if described && keyword.kind == Kind::BraceL {
            return Err(Stop::Error(
                self.token.start,
                "Unexpected description, descriptions are not supported on shorthand queries."
                    .into(),
            ));
        }
        if keyword.kind == Kind::Name {
            let word = keyword.value.as_deref().unwrap_or_default();
            if TYPE_SYSTEM.contains(&word) {
                return Err(Stop::Unfollowed);
            }
            match word {
                "query" | "mutation" | "subscription" => return self.operation(),
                "fragment" => return self.fragment_definition(),
                _ => {}
            }
            if described {
                return Err(Stop::Error(
                    self.token.start,
                    "Unexpected description, only GraphQL definitions support descriptions.".into(),
                ));
            }
            if word == "extend" {
                return Err(Stop::Unfollowed);
            }
        }
        Err(Self::unexpected(&keyword))
    }

    fn peek_description(&self) -> bool {
        self.peek(Kind::String) || self.peek(Kind::BlockString)
    }

    /// An optional description (a string before a definition).
    fn description(&mut self) -> Parsed<()> {
        if self.peek_description() {
            self.advance()?;
        }
        Ok(())
    }

    fn operation(&mut self) -> Parsed<()> {
        if self.peek(Kind::BraceL) {
            return self.selection_set();
        }
        self.description()?;
        let operation = self.expect(Kind::Name)?;
        if !matches!(operation.value.as_deref(), Some("query" | "mutation" | "subscription")) {
            return Err(Self::unexpected(&operation));
        }
        if self.peek(Kind::Name) {
            self.name()?;
        }
        if self.optional(Kind::ParenL)? {
            loop {
                self.variable_definition()?;
                if self.optional(Kind::ParenR)? {
                    break;
                }
            }
        }
        self.directives(false)?;
        self.selection_set()
    }

    fn variable_definition(&mut self) -> Parsed<()> {
        self.description()?;
        self.expect(Kind::Dollar)?;
        self.name()?;
        self.expect(Kind::Colon)?;
        self.type_reference()?;
        if self.optional(Kind::Equals)? {
            self.value(true)?;
        }
        self.directives(true)
    }

    fn type_reference(&mut self) -> Parsed<()> {
        self.deeper()?;
        if self.optional(Kind::BracketL)? {
            self.type_reference()?;
            self.expect(Kind::BracketR)?;
        } else {
            self.name()?;
        }
        self.optional(Kind::Bang)?;
        self.nesting -= 1;
        Ok(())
    }

    fn selection_set(&mut self) -> Parsed<()> {
        self.deeper()?;
        self.expect(Kind::BraceL)?;
        loop {
            self.selection()?;
            if self.optional(Kind::BraceR)? {
                break;
            }
        }
        self.nesting -= 1;
        Ok(())
    }

    fn selection(&mut self) -> Parsed<()> {
        if self.peek(Kind::Spread) {
            return self.fragment();
        }
        self.name()?;
        if self.optional(Kind::Colon)? {
            self.name()?;
        }
        self.arguments(false)?;
        self.directives(false)?;
        if self.peek(Kind::BraceL) {
            self.selection_set()?;
        }
        Ok(())
    }

    fn arguments(&mut self, constant: bool) -> Parsed<()> {
        if self.optional(Kind::ParenL)? {
            loop {
                self.name()?;
                self.expect(Kind::Colon)?;
                self.value(constant)?;
                if self.optional(Kind::ParenR)? {
                    break;
                }
            }
        }
        Ok(())
    }

    fn fragment(&mut self) -> Parsed<()> {
        self.expect(Kind::Spread)?;
        let typed = self.optional_keyword("on")?;
        if !typed && self.peek(Kind::Name) {
            self.fragment_name()?;
            return self.directives(false);
        }
        if typed {
            self.name()?;
        }
        self.directives(false)?;
        self.selection_set()
    }

    fn fragment_name(&mut self) -> Parsed<()> {
        if self.token.value.as_deref() == Some("on") {
            return Err(Self::unexpected(&self.token));
        }
        self.name().map(drop)
    }

    fn fragment_definition(&mut self) -> Parsed<()> {
        self.description()?;
        self.expect_keyword("fragment")?;
        self.fragment_name()?;
        self.expect_keyword("on")?;
        self.name()?;
        self.directives(false)?;
        self.selection_set()
    }

    fn directives(&mut self, constant: bool) -> Parsed<()> {
        while self.peek(Kind::At) {
            self.expect(Kind::At)?;
            self.name()?;
            self.arguments(constant)?;
        }
        Ok(())
    }

    fn value(&mut self, constant: bool) -> Parsed<Literal> {
        let token = self.token.clone();
        let (line, column) = self.text.locate(token.start);
        let literal = |value| Literal { line, column, value };
        let text = || token.value.clone().unwrap_or_default();
        let value = match token.kind {
            Kind::BracketL => {
                self.deeper()?;
                self.advance()?;
                let mut items = Vec::new();
                while !self.optional(Kind::BracketR)? {
                    items.push(self.value(constant)?);
                }
                self.nesting -= 1;
                LiteralValue::List(items)
            }
            Kind::BraceL => {
                self.deeper()?;
                self.advance()?;
                let mut fields = Vec::new();
                while !self.optional(Kind::BraceR)? {
                    let (l, c) = self.text.locate(self.token.start);
                    let name = self.name()?;
                    self.expect(Kind::Colon)?;
                    fields.push((name, l, c, self.value(constant)?));
                }
                self.nesting -= 1;
                LiteralValue::Object(fields)
            }
            Kind::Int => {
                self.advance()?;
                LiteralValue::Int(text())
            }
            Kind::Float => {
                self.advance()?;
                LiteralValue::Float(text())
            }
            Kind::String | Kind::BlockString => {
                self.advance()?;
                LiteralValue::String(text())
            }
            Kind::Name => {
                self.advance()?;
                match text().as_str() {
                    "true" => LiteralValue::Boolean(true),
                    "false" => LiteralValue::Boolean(false),
                    "null" => LiteralValue::Null,
                    other => LiteralValue::Enum(other.to_owned()),
                }
            }
            Kind::Dollar if constant => {
                self.advance()?;
                return Err(match (&self.token.kind, &self.token.value) {
                    (Kind::Name, Some(name)) => Stop::Error(
                        token.start,
                        format!("Unexpected variable '${name}' in constant value."),
                    ),
                    _ => Self::unexpected(&token),
                });
            }
            Kind::Dollar => {
                self.advance()?;
                LiteralValue::Variable(self.name()?)
            }
            _ => return Err(Self::unexpected(&token)),
        };
        Ok(literal(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(source: &str) -> (String, usize, usize) {
        let e = first_error(source).expect("a syntax error");
        (e.message, e.line, e.column)
    }

    /// Expected words and places are graphql-core 3.2.11's (its parser and lexer tests, and
    /// the same documents run through `graphql.parse`).
    #[test]
    fn syntax_errors_read_as_graphql_core_words_them() {
        let cases: &[(&str, &str, usize, usize)] = &[
            ("query($location_name) { devices { name } }", "Syntax Error: Expected ':', found ')'.", 1, 21),
            ("query(location_name: String) { x }", "Syntax Error: Expected '$', found Name 'location_name'.", 1, 7),
            ("{ devices { name }", "Syntax Error: Expected Name, found <EOF>.", 1, 19),
            ("{", "Syntax Error: Expected Name, found <EOF>.", 1, 2),
            ("{ devices(name: \"abc) { name } }", "Syntax Error: Unterminated string.", 1, 33),
            ("{ devices(name: 1.) { name } }", "Syntax Error: Invalid number, expected digit but got: ')'.", 1, 19),
            ("{ devices(name: 01) { name } }", "Syntax Error: Invalid number, unexpected digit after 0: '1'.", 1, 18),
            ("{ devices(name: 'x') { name } }", "Syntax Error: Unexpected single quote character ('), did you mean to use a double quote (\")?", 1, 17),
            ("{ devices(name: ) { name } }", "Syntax Error: Unexpected ')'.", 1, 17),
            ("{ devices { name } } }", "Syntax Error: Unexpected '}'.", 1, 22),
            ("devices { name }", "Syntax Error: Unexpected Name 'devices'.", 1, 1),
            ("{ devices(name \"x\") { name } }", "Syntax Error: Expected ':', found String 'x'.", 1, 16),
            ("{ devices(limit 1) { name } }", "Syntax Error: Expected ':', found Int '1'.", 1, 17),
            ("{ ...on }", "Syntax Error: Expected Name, found '}'.", 1, 9),
            ("fragment on on X { a }", "Syntax Error: Unexpected Name 'on'.", 1, 10),
            ("fragment F X { a }", "Syntax Error: Expected 'on', found Name 'X'.", 1, 12),
            ("query($a: Int = $b) { a }", "Syntax Error: Unexpected variable '$b' in constant value.", 1, 17),
            ("{ a(b: \"\\x\") }", "Syntax Error: Invalid character escape sequence: '\\x'.", 1, 9),
            ("{ a(b: \"\\u12\") }", "Syntax Error: Invalid Unicode escape sequence: '\\u12\")'.", 1, 9),
            ("{ a ? }", "Syntax Error: Unexpected character: '?'.", 1, 5),
            ("{ a é }", "Syntax Error: Unexpected character: U+00E9.", 1, 5),
            ("{ a .. }", "Syntax Error: Unexpected character: '.'.", 1, 5),
            ("\"desc\" { a }", "Syntax Error: Unexpected description, descriptions are not supported on shorthand queries.", 1, 1),
            ("\"desc\" x { a }", "Syntax Error: Unexpected description, only GraphQL definitions support descriptions.", 1, 1),
            ("{ a }\n\n  { b", "Syntax Error: Expected Name, found <EOF>.", 3, 6),
            ("{ a }\r\n{ b(c: \"\"\"\n  x\n  y\"\"\" d) }  ]", "Syntax Error: Expected ':', found ')'.", 4, 9),
            ("{ a(c: \"\"\"\n  x\n  y\"\"\") ]", "Syntax Error: Expected Name, found ']'.", 3, 9),
            ("{ a(b: [1 2 }", "Syntax Error: Unexpected '}'.", 1, 13),
            ("{ a(b: {c 1}) }", "Syntax Error: Expected ':', found Int '1'.", 1, 11),
            ("mutation", "Syntax Error: Expected '{', found <EOF>.", 1, 9),
            ("subscriptions { a }", "Syntax Error: Unexpected Name 'subscriptions'.", 1, 1),
            ("{ a(b: \"\"\"x) }", "Syntax Error: Unterminated string.", 1, 15),
            ("query Q($a: [Int) { a }", "Syntax Error: Expected ']', found ')'.", 1, 17),
            ("{ a @ }", "Syntax Error: Expected Name, found '}'.", 1, 7),
            ("{ a(b: -x) }", "Syntax Error: Invalid number, expected digit but got: 'x'.", 1, 9),
            ("{ a(b: 1e) }", "Syntax Error: Invalid number, expected digit but got: ')'.", 1, 10),
            ("{ a(b: 1x) }", "Syntax Error: Invalid number, expected digit but got: 'x'.", 1, 9),
        ];
        for (source, message, line, column) in cases {
            assert_eq!(error(source), (message.to_string(), *line, *column), "{source}");
        }
    }

    #[test]
    fn valid_documents_and_type_definitions_have_no_error_here() {
        for source in [
            "{ a }",
            "\"described\" query Q($a: Int) { a }",
            "query Q($a: [Int!]! = [1, 2], $b: X = {c: \"d\"}) @x { a(b: $a) { ...F ... on T { c } ... @skip(if: true) { d } } }\nfragment F on T { e }",
            "# comment\n{ a(b: \"\"\"\n block \"\"\", c: \"\\u00e9\\uD83D\\uDE00\\u{1F600}\") }",
            "type T { a: Int }",
            "\"described\" type T { a: Int }",
            "extend type T { b: Int }",
        ] {
            assert_eq!(first_error(source), None, "{source}");
        }
    }

    #[test]
    fn deep_or_huge_documents_do_not_stall() {
        let deep = format!("{}{}", "{ a ".repeat(100_000), "}".repeat(100_000));
        assert_eq!(first_error(&deep), None);
        let list = format!("{{ a(b: {}) }}", "[".repeat(500_000));
        assert_eq!(first_error(&list), None);
        let long = format!("{{ a(b: \"{}) }}", "x".repeat(1_000_000));
        assert_eq!(error(&long).0, "Syntax Error: Unterminated string.");
    }

    #[test]
    fn arguments_are_read_with_their_places() {
        let source = "{ devices(\n  name: [\"a\", 1, {b: [true]}]) { name } }";
        let (name, value) = argument_at(source, 2, 3).expect("argument");
        assert_eq!(name, "name");
        assert_eq!(value.printed(), "[\"a\", 1, {b: [true]}]");
        let LiteralValue::List(items) = &value.value else { panic!("list") };
        assert_eq!((items[1].line, items[1].column), (2, 15));
        assert_eq!((items[2].line, items[2].column), (2, 18));
    }
}
