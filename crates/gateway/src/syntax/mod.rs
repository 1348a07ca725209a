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

mod lexer;

use lexer::{read_token, Kind, Stop, Text, Token};

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
