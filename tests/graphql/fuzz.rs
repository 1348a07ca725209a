//! Seeded fuzzing of documents, variables and bodies. The served schema is learnt once by
//! introspection; from it come queries (nested, filtered, aliased, with fragments and
//! variables), mutations of any model, and garbage. Whatever arrives, the answer is JSON with
//! HTTP 200, 400, 403, 413 or 503 (BUSY), in bounded time, and never an internal error;
//! afterwards the server still answers, and the change log matches the objects there are.
//!
//! The seed is printed; `FERROBOT_FUZZ_SEED=<n>` generates a backend's documents again (the
//! order in which its concurrent requests meet the data may differ). `FERROBOT_FUZZ_CASES=<n>`
//! changes the number of cases per backend. Failing cases are printed and written in full to
//! `target/tmp/fuzz-failures-<backend>.jsonl`.
//!
//! A fault found here is fixed in the server, not spared by the generator.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const DEFAULT_SEED: u64 = 0x5eed_f022;
const CASES: usize = 1_500;
/// Requests in flight at once.
const PARALLEL: usize = 8;
/// A request that takes longer has hung.
const REQUEST_BOUND: Duration = Duration::from_secs(30);
/// Selections nest at most this deep below a root field (the server allows 48).
const MAX_DEPTH: usize = 4;

// ------------------------------------------------------------------------------------------
// The schema, as introspection tells it.

#[derive(Debug, Clone)]
enum Ty {
    Named(String),
    List(Box<Ty>),
    NonNull(Box<Ty>),
}

impl Ty {
    fn parse(v: &Value) -> Option<Ty> {
        match v["kind"].as_str()? {
            "NON_NULL" => Some(Ty::NonNull(Box::new(Ty::parse(&v["ofType"])?))),
            "LIST" => Some(Ty::List(Box::new(Ty::parse(&v["ofType"])?))),
            _ => Some(Ty::Named(v["name"].as_str()?.to_owned())),
        }
    }

    fn name(&self) -> &str {
        match self {
            Ty::Named(n) => n,
            Ty::List(t) | Ty::NonNull(t) => t.name(),
        }
    }

    fn is_list(&self) -> bool {
        match self {
            Ty::List(_) => true,
            Ty::NonNull(t) => t.is_list(),
            Ty::Named(_) => false,
        }
    }

    fn is_non_null(&self) -> bool {
        matches!(self, Ty::NonNull(_))
    }

    fn sdl(&self) -> String {
        match self {
            Ty::Named(n) => n.clone(),
            Ty::List(t) => format!("[{}]", t.sdl()),
            Ty::NonNull(t) => format!("{}!", t.sdl()),
        }
    }
}

#[derive(Clone)]
struct Field {
    name: String,
    args: Vec<(String, Ty)>,
    ty: Ty,
}

#[derive(Default, Clone)]
struct TypeDef {
    kind: String,
    fields: Vec<Field>,
    inputs: Vec<(String, Ty)>,
    values: Vec<String>,
    members: Vec<String>,
}

#[derive(Clone)]
struct Schema {
    types: HashMap<String, TypeDef>,
    query: String,
    mutation: String,
}

impl Schema {
    fn kind(&self, name: &str) -> &str {
        self.types.get(name).map(|t| t.kind.as_str()).unwrap_or("SCALAR")
    }

    /// Whether a field of this type needs a selection set.
    fn composite(&self, name: &str) -> bool {
        matches!(self.kind(name), "OBJECT" | "UNION" | "INTERFACE")
    }

    fn fields(&self, name: &str) -> &[Field] {
        self.types.get(name).map(|t| t.fields.as_slice()).unwrap_or(&[])
    }
}

const INTROSPECTION: &str = "query { __schema { queryType { name } mutationType { name } \
    types { kind name fields { name args { name type { ...T } } type { ...T } } \
    inputFields { name type { ...T } } enumValues { name } possibleTypes { name } } } } \
    fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// The schema, learnt once per test process (it is the same on every backend).
static SCHEMA: tokio::sync::OnceCell<Schema> = tokio::sync::OnceCell::const_new();

async fn learn_schema(app: &TestApp) -> anyhow::Result<Schema> {
    let (status, body, _) = app.graphql(INTROSPECTION, Value::Null).await?;
    anyhow::ensure!(status == 200, "introspection answered {status}: {}", error_of(&body));
    let schema = &body["data"]["__schema"];
    let name_of = |v: &Value| v["name"].as_str().unwrap_or_default().to_owned();
    let typed = |v: &Value| -> anyhow::Result<(String, Ty)> {
        let ty =
            Ty::parse(&v["type"]).ok_or_else(|| anyhow::anyhow!("a type without a name: {v}"))?;
        Ok((name_of(v), ty))
    };
    let mut types = HashMap::new();
    for t in schema["types"].as_array().into_iter().flatten() {
        let mut def =
            TypeDef { kind: t["kind"].as_str().unwrap_or_default().into(), ..TypeDef::default() };
        for f in t["fields"].as_array().into_iter().flatten() {
            let (name, ty) = typed(f)?;
            let args = f["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(typed)
                .collect::<anyhow::Result<_>>()?;
            def.fields.push(Field { name, args, ty });
        }
        for f in t["inputFields"].as_array().into_iter().flatten() {
            def.inputs.push(typed(f)?);
        }
        def.values = t["enumValues"].as_array().into_iter().flatten().map(name_of).collect();
        def.members = t["possibleTypes"].as_array().into_iter().flatten().map(name_of).collect();
        types.insert(name_of(t), def);
    }
    let query = name_of(&schema["queryType"]);
    let mutation = name_of(&schema["mutationType"]);
    anyhow::ensure!(types.contains_key(&query) && types.contains_key(&mutation), "no root types");
    Ok(Schema { types, query, mutation })
}

// ------------------------------------------------------------------------------------------
// Values.

/// A GraphQL input value, rendered into a document or as JSON for a variable.
#[derive(Debug, Clone)]
enum Lit {
    Null,
    /// An integer token (possibly far out of any range).
    Int(String),
    Float(String),
    Str(String),
    Bool(bool),
    Enum(String),
    List(Vec<Lit>),
    Obj(Vec<(String, Lit)>),
}

impl Lit {
    fn obj(fields: &[(&str, Lit)]) -> Lit {
        Lit::Obj(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
    }

    fn name(name: &str) -> Lit {
        Lit::obj(&[("name", Lit::Str(name.into()))])
    }

    fn render(&self, out: &mut String) {
        match self {
            Lit::Null => out.push_str("null"),
            Lit::Int(s) | Lit::Float(s) | Lit::Enum(s) => out.push_str(s),
            // JSON's escapes are GraphQL's.
            Lit::Str(s) => out.push_str(&Value::String(s.clone()).to_string()),
            Lit::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Lit::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.render(out);
                }
                out.push(']');
            }
            Lit::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push_str(": ");
                    v.render(out);
                }
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        out
    }

    fn json(&self) -> Value {
        match self {
            Lit::Null => Value::Null,
            Lit::Int(s) => match s.parse::<i64>() {
                Ok(i) => json!(i),
                Err(_) => s.parse::<f64>().map(|f| json!(f)).unwrap_or_else(|_| json!(s)),
            },
            Lit::Float(s) => match s.parse::<f64>() {
                Ok(f) if f.is_finite() => json!(f),
                _ => json!(s),
            },
            Lit::Str(s) | Lit::Enum(s) => json!(s),
            Lit::Bool(b) => json!(b),
            Lit::List(items) => Value::Array(items.iter().map(Lit::json).collect()),
            Lit::Obj(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.clone(), v.json())).collect())
            }
        }
    }
}

/// Names the seed has, so that filters and references sometimes find something.
const KNOWN: &[&str] = &[
    "dev-00001",
    "dev-00002",
    "dev-00005",
    "site-001",
    "region-1",
    "Active",
    "leaf",
    "spine",
    "tag-1",
    "tag-2",
    "Acme",
    "acme-s48",
    "acme-os",
    "Global",
    "Site",
    "Region",
    "eth0",
    "eth2",
    "10.1.0.1/16",
    "10.1.0.0/16",
    "10.1.0.1",
    "team-1",
    "owner_team",
    "dcim.device",
    "create",
    "import",
    "admin",
];

/// Text a careless or malicious client may send.
const HOSTILE: &[&str] = &[
    "",
    " ",
    "'",
    "\"",
    "''",
    ";",
    "--",
    "/*",
    "*/",
    "%",
    "_",
    "\\",
    "\\\\",
    "%%",
    "%_%",
    "\\%",
    "' OR '1'='1",
    "\" OR \"1\"=\"1",
    "1; DROP TABLE dcim_device; --",
    "'; DELETE FROM extras_tag; --",
    "dev-%",
    "dev-0000_",
    "NULL",
    "null",
    "undefined",
    "true",
    "0",
    "-1",
    "1e309",
    "NaN",
    "Infinity",
    "0x7fffffff",
    "Ωμέγα",
    "漢字テスト",
    "🚀🔥💥",
    "\u{202e}evil\u{202c}",
    "a\u{200b}b",
    "\u{feff}bom",
    "e\u{301}\u{301}\u{301}",
    "\t\n\r",
    "line\nbreak",
    "a\u{7f}b",
    "{}",
    "[]",
    "$var",
    "{ devices { name } }",
    "(",
    ")",
    "[",
    "*",
    "+",
    "?",
    "(a+)+$",
    "(?i)dev",
    "[[:alpha:]]",
    "\\d+",
    "^$",
    // Patterns Rust's regex takes and a database's dialect refuses: VALIDATION_FAILED.
    "a{1,99999}",
    "(a|b){1,200}{1,200}",
    "a???",
    "\\pL",
    "a\u{0}b",
    "::/0",
    "0.0.0.0/0",
    "255.255.255.255/32",
    "10.1.0.1/33",
    "fe80::1%eth0",
    "2001:db8::/129",
    "999.1.1.1",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "not-a-uuid",
    "2024-02-30",
    "9999-12-31T23:59:59Z",
    "0000-00-00",
    "-infinity",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%00",
    "\u{1}\u{2}\u{3}",
];

/// Unicode scalar ranges random text is drawn from.
const RANGES: &[(u32, u32)] = &[
    (0x20, 0x7e),
    (0x20, 0x7e),
    (0x20, 0x7e),
    (0x01, 0x1f),
    (0xa0, 0xff),
    (0x370, 0x3ff),
    (0x300, 0x36f),
    (0x4e00, 0x9fff),
    (0x200b, 0x202e),
    (0x1f300, 0x1f6ff),
    (0xfff0, 0xfffd),
    (0x10000, 0x10ffff),
];

// ------------------------------------------------------------------------------------------
// Cases.

#[derive(Debug, Clone, Copy)]
enum Auth {
    Token,
    ReadOnly,
    None,
    Header(&'static str),
}

#[derive(Debug)]
enum Body {
    /// A JSON body built from the parts of a GraphQL request.
    Json(Value),
    /// Bytes sent as they are.
    Raw(Vec<u8>),
}

#[derive(Debug)]
struct Case {
    kind: &'static str,
    body: Body,
    auth: Auth,
}

impl Case {
    fn query(kind: &'static str, query: String, variables: Option<Value>) -> Case {
        let mut body = json!({ "query": query });
        if let Some(v) = variables {
            body["variables"] = v;
        }
        Case { kind, body: Body::Json(body), auth: Auth::Token }
    }

    fn bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
            Body::Raw(b) => b.clone(),
        }
    }

    /// The case as a failure report shows it: long strings cut short.
    fn describe(&self) -> String {
        let text = match &self.body {
            Body::Json(v) => serde_json::to_string(&shorten(v)).unwrap_or_default(),
            Body::Raw(b) => format!(
                "raw {} bytes: {:?}",
                b.len(),
                String::from_utf8_lossy(&b[..b.len().min(300)])
            ),
        };
        format!("[{}] auth {:?} body {}", self.kind, self.auth, text)
    }
}

/// A copy of a JSON value with long strings and lists cut short, for messages.
fn shorten(v: &Value) -> Value {
    match v {
        Value::String(s) if s.chars().count() > 600 => {
            let head: String = s.chars().take(600).collect();
            json!(format!("{head}…({} chars)", s.chars().count()))
        }
        Value::Array(items) if items.len() > 20 => {
            let mut head: Vec<Value> = items.iter().take(20).map(shorten).collect();
            head.push(json!(format!("…({} items)", items.len())));
            Value::Array(head)
        }
        Value::Array(items) => Value::Array(items.iter().map(shorten).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shorten(v))).collect())
        }
        other => other.clone(),
    }
}

/// Whether an argument is a regex lookup (`name__re`, `__nre`, `__ire`, `__nire`).
fn is_regex(argument: &str) -> bool {
    matches!(argument.rsplit_once("__"), Some((_, "re" | "nre" | "ire" | "nire")))
}

/// Root fields of the core models, which hold the seeded data.
const CORE_ROOTS: &[&str] = &[
    "devices",
    "interfaces",
    "locations",
    "ip_addresses",
    "prefixes",
    "tags",
    "statuses",
    "roles",
    "device_types",
    "manufacturers",
    "platforms",
    "object_changes",
    "racks",
    "vlans",
    "namespaces",
    "location_types",
    "cables",
    "custom_fields",
];

struct Gen<'a> {
    rng: StdRng,
    schema: &'a Schema,
    /// Root list fields (those answering a list of objects).
    roots: Vec<&'a Field>,
    core: Vec<&'a Field>,
    mutations: Vec<&'a Field>,
    unique: u64,
    /// Whether list items are being made: keep them short.
    in_big_list: bool,
    /// Bytes of long text the current case may still have (bodies stay under the 2 MiB limit).
    long_budget: usize,
    /// The longest text made.
    max_text: usize,
}

impl<'a> Gen<'a> {
    fn new(seed: u64, schema: &'a Schema) -> Gen<'a> {
        // Past MySQL's TEXT (64 KiB): long text columns are LONGTEXT there.
        let max_text = 100_000;
        let roots: Vec<&Field> = schema
            .fields(&schema.query)
            .iter()
            .filter(|f| f.ty.is_list() && schema.composite(f.ty.name()))
            .collect();
        let core =
            roots.iter().copied().filter(|f| CORE_ROOTS.contains(&f.name.as_str())).collect();
        let mutations = schema.fields(&schema.mutation).iter().collect();
        Gen {
            rng: StdRng::seed_from_u64(seed),
            schema,
            roots,
            core,
            mutations,
            unique: 0,
            in_big_list: false,
            long_budget: 0,
            max_text,
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn pick<'s, T>(&mut self, items: &'s [T]) -> &'s T {
        // Every slice passed here is a non-empty constant or a list the schema filled.
        &items[self.rng.gen_range(0..items.len())]
    }

    fn unique(&mut self, prefix: &str) -> String {
        self.unique += 1;
        format!("{prefix}-{}", self.unique)
    }

    fn random_text(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| {
                let (lo, hi) = *self.pick(RANGES);
                char::from_u32(self.rng.gen_range(lo..=hi)).unwrap_or('?')
            })
            .collect()
    }

    /// A string value: a known name, hostile text, random unicode or (rarely) very long text.
    fn text(&mut self) -> String {
        let roll = self.rng.gen_range(0..100);
        match roll {
            0..=29 => (*self.pick(KNOWN)).to_owned(),
            30..=54 => (*self.pick(HOSTILE)).to_owned(),
            55..=69 => {
                let len = self.rng.gen_range(1..40);
                self.random_text(len)
            }
            70..=79 => self.unique("fz"),
            80..=89 => {
                let a = *self.pick(HOSTILE);
                let b = *self.pick(KNOWN);
                let c = *self.pick(HOSTILE);
                format!("{a}{b}{c}")
            }
            _ if self.in_big_list || self.long_budget < 100_000 => self.unique("fz"),
            90..=95 => {
                let piece = *self.pick(&["x", "é", "%", "'", "漢", "🚀", "\\", "a_"]);
                let text = piece.repeat(self.rng.gen_range(1_000..10_000));
                self.long_budget = self.long_budget.saturating_sub(text.len());
                text
            }
            _ => {
                let piece = *self.pick(&["x", "é", "%_", "' OR 1=1 --", "漢字", "\u{0}"]);
                let len = self.rng.gen_range(10_000..self.max_text) / piece.len();
                let text = piece.repeat(len);
                self.long_budget = self.long_budget.saturating_sub(text.len());
                text
            }
        }
    }

    fn int(&mut self) -> String {
        match self.rng.gen_range(0..12) {
            0..=3 => self.rng.gen_range(0..12).to_string(),
            4 => self.rng.gen_range(-10..0).to_string(),
            5 => self.rng.gen_range(0..5_000).to_string(),
            6 => self.rng.gen::<i32>().to_string(),
            7 => self.rng.gen::<i64>().to_string(),
            8 => (*self.pick(&[
                "2147483647",
                "-2147483648",
                "2147483648",
                "-2147483649",
                "4294967296",
                "9007199254740993",
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775808",
                "18446744073709551616",
                "32767",
                "32768",
                "65535",
                "65536",
                "4094",
                "4095",
            ]))
            .to_owned(),
            9 => "9".repeat(self.rng.gen_range(20..400)),
            10 => format!("-{}", "9".repeat(self.rng.gen_range(20..60))),
            _ => "0".to_owned(),
        }
    }

    fn float(&mut self) -> String {
        (*self.pick(&[
            "0.0",
            "1.5",
            "-0.0",
            "-91.5",
            "45.123456",
            "1e308",
            "-1e308",
            "1e-320",
            "123456789.123456789",
            "99999999.99",
            "3.14159265358979323846264338327950288",
            "1E3",
        ]))
        .to_owned()
    }

    fn uuid(&mut self) -> String {
        if self.chance(0.7) {
            uuid::Uuid::from_u128(self.rng.gen()).to_string()
        } else {
            self.text()
        }
    }

    /// A value of another kind than wanted, or null.
    fn wrong(&mut self, depth: usize) -> Lit {
        match self.rng.gen_range(0..9) {
            0 => Lit::Null,
            1 => Lit::Int(self.int()),
            2 => Lit::Float(self.float()),
            3 => Lit::Str(self.text()),
            4 => Lit::Bool(self.rng.gen()),
            5 => Lit::Enum(
                self.pick(&["FOO", "ACTIVE", "A_1000BASE_T", "true", "null_"]).to_string(),
            ),
            6 if depth < 4 => Lit::List(vec![self.wrong(depth + 1), self.wrong(depth + 1)]),
            7 if depth < 4 => {
                Lit::obj(&[("name", self.wrong(depth + 1)), ("zz", Lit::Int("1".into()))])
            }
            _ => Lit::List(vec![]),
        }
    }

    fn list_len(&mut self) -> usize {
        match self.rng.gen_range(0..100) {
            0..=79 => self.rng.gen_range(0..4),
            80..=96 => self.rng.gen_range(4..60),
            _ => self.rng.gen_range(100..3_000),
        }
    }

    fn generic(&mut self, depth: usize) -> Lit {
        match self.rng.gen_range(0..6) {
            0 => Lit::Str(self.text()),
            1 => Lit::Int(self.int()),
            2 if depth < 3 => Lit::List(vec![self.generic(depth + 1), self.generic(depth + 1)]),
            _ if depth < 3 => {
                let keys = ["owner_team", "a", "", "é", "'", "rack_unit", "nested"];
                let n = self.rng.gen_range(0..4);
                Lit::Obj(
                    (0..n)
                        .map(|i| (format!("{}{i}", self.pick(&keys)), self.generic(depth + 1)))
                        .collect(),
                )
            }
            _ => Lit::Null,
        }
    }

    /// A value for an input of this type: right most of the time, wrong sometimes.
    fn value(&mut self, ty: &Ty, depth: usize) -> Lit {
        if self.chance(0.05) {
            return self.wrong(depth);
        }
        match ty {
            Ty::NonNull(inner) => self.value(inner, depth),
            Ty::List(inner) => {
                if self.chance(0.04) {
                    return Lit::Null;
                }
                // A single value where a list is wanted (GraphQL coerces it).
                if self.chance(0.1) {
                    return self.value(inner, depth + 1);
                }
                let n = self.list_len();
                let big = n > 60;
                let was = self.in_big_list;
                self.in_big_list |= big;
                let items = (0..n).map(|_| self.value(inner, depth + 1)).collect();
                self.in_big_list = was;
                Lit::List(items)
            }
            Ty::Named(name) => self.named_value(name, depth),
        }
    }

    fn named_value(&mut self, name: &str, depth: usize) -> Lit {
        if self.chance(0.03) {
            return Lit::Null;
        }
        match name {
            "String" | "ID" => Lit::Str(self.text()),
            "Int" => Lit::Int(self.int()),
            "BigInt" if self.chance(0.5) => Lit::Str(self.int()),
            "BigInt" => Lit::Int(self.int()),
            "Float" => Lit::Float(self.float()),
            "Decimal" if self.chance(0.5) => Lit::Float(self.float()),
            "Decimal" => Lit::Str(self.float()),
            "Boolean" => Lit::Bool(self.rng.gen()),
            "UUID" => Lit::Str(self.uuid()),
            "Date" | "DateTime" => {
                let d = *self.pick(&[
                    "2024-01-01",
                    "2024-01-01T00:00:00Z",
                    "1970-01-01T00:00:00+14:00",
                ]);
                Lit::Str(if self.chance(0.7) { d.to_owned() } else { self.text() })
            }
            "GenericScalar" | "JSON" => self.generic(depth),
            _ => match self.schema.kind(name) {
                "ENUM" => {
                    let values =
                        self.schema.types.get(name).map(|t| t.values.clone()).unwrap_or_default();
                    if values.is_empty() || self.chance(0.05) {
                        Lit::Enum("NOT_A_VALUE".into())
                    } else {
                        Lit::Enum(self.pick(&values).clone())
                    }
                }
                "INPUT_OBJECT" => self.input_object(name, depth),
                _ => Lit::Str(self.text()),
            },
        }
    }

    fn input_object(&mut self, name: &str, depth: usize) -> Lit {
        let inputs: Vec<(String, Ty)> =
            self.schema.types.get(name).map(|t| t.inputs.clone()).unwrap_or_default();
        if depth > 4 || inputs.is_empty() {
            return Lit::Obj(Vec::new());
        }
        let p = if name.ends_with("Ref") { 0.5 } else { 0.25 };
        let mut fields = Vec::new();
        for (field, ty) in &inputs {
            if (ty.is_non_null() && self.chance(0.95)) || self.chance(p) {
                let v = if field == "name" && self.chance(0.5) {
                    Lit::Str((*self.pick(KNOWN)).to_owned())
                } else {
                    self.value(ty, depth + 1)
                };
                fields.push((field.clone(), v));
            }
        }
        if self.chance(0.03) {
            fields.push(("not_a_field".into(), Lit::Int("1".into())));
        }
        // One field of a oneOf input (batch operations), mostly.
        if name == "BatchOperation" && fields.len() > 1 && self.chance(0.8) {
            fields.truncate(1);
        }
        Lit::Obj(fields)
    }

    // --------------------------------------------------------------------------------------
    // Documents.

    /// A value for an argument: regex lookups get patterns (see [`Gen::regex`]).
    fn arg_value(&mut self, name: &str, ty: &Ty) -> Lit {
        if !is_regex(name) || self.chance(0.05) {
            return self.value(ty, 0);
        }
        if !ty.is_list() || self.chance(0.2) {
            return Lit::Str(self.regex());
        }
        Lit::List((0..self.rng.gen_range(0..4)).map(|_| Lit::Str(self.regex())).collect())
    }

    /// A pattern for a regex lookup: plain text, patterns every backend takes, patterns only
    /// some databases' dialects take (PostgreSQL's ARE, MariaDB's PCRE: `VALIDATION_FAILED`
    /// elsewhere), patterns the server's own check refuses.
    fn regex(&mut self) -> String {
        match self.rng.gen_range(0..10) {
            0..=2 => (*self.pick(KNOWN)).to_owned(),
            3..=5 => (*self.pick(&[
                "^dev-0000[1-3]$",
                "(?i)DEV",
                "a{1,255}",
                "a{1,256}",
                "x**",
                "[a--b]",
                "(?P<n>a)",
                "\u{1c}?",
                "\\d+",
                "[[:alpha:]]",
                "^$",
                "(a+)+$",
                ".*",
                "dev|site",
                "[0-9]{2}",
                "^(?:eth)[0-9]",
                "%",
                "_",
                "' OR '1'='1",
                "\\.",
            ]))
            .to_owned(),
            6 | 7 => (*self.pick(&[
                "(",
                "[",
                "*",
                "+",
                "?",
                "\\",
                "a{2,1}",
                "\\Q",
                "(?-u:\\xff)",
                ")",
                "[z-a]",
            ]))
            .to_owned(),
            _ => {
                let len = self.rng.gen_range(1..30);
                (0..len)
                    .map(|_| {
                        let (lo, hi) = *self.pick(&[
                            (0x30, 0x39),
                            (0x41, 0x5a),
                            (0x61, 0x7a),
                            (0xc0, 0xff),
                            (0x3b1, 0x3c9),
                            (0x4e00, 0x9fff),
                        ]);
                        char::from_u32(self.rng.gen_range(lo..=hi)).unwrap_or('x')
                    })
                    .collect()
            }
        }
    }

    /// Arguments for a field: the required ones, and some others.
    fn arguments(&mut self, field: &Field, out: &mut String) {
        if field.args.is_empty() {
            return;
        }
        let mut chosen: Vec<usize> =
            (0..field.args.len()).filter(|&i| field.args[i].1.is_non_null()).collect();
        if self.chance(0.45) {
            for _ in 0..self.rng.gen_range(1..4) {
                chosen.push(self.rng.gen_range(0..field.args.len()));
            }
        }
        chosen.sort_unstable();
        chosen.dedup();
        // A repeated argument, now and then.
        if !chosen.is_empty() && self.chance(0.02) {
            chosen.push(chosen[0]);
        }
        if chosen.is_empty() {
            return;
        }
        out.push('(');
        for (n, &i) in chosen.iter().enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            let (name, ty) = &field.args[i];
            out.push_str(name);
            out.push_str(": ");
            self.arg_value(name, ty).render(out);
        }
        out.push(')');
    }

    /// A selection set on a composite type.
    fn selection(&mut self, type_name: &str, depth: usize, max_depth: usize, out: &mut String) {
        let schema = self.schema;
        let Some(def) = schema.types.get(type_name) else {
            out.push_str("{ __typename }");
            return;
        };
        if def.kind == "UNION" || def.kind == "INTERFACE" {
            out.push_str("{ __typename");
            let members = def.members.clone();
            for member in members {
                if self.chance(0.3) && depth < max_depth {
                    out.push_str(" ... on ");
                    out.push_str(&member);
                    out.push(' ');
                    self.selection(&member, depth + 1, max_depth, out);
                }
            }
            out.push_str(" }");
            return;
        }
        out.push_str("{ ");
        let mut wrote = false;
        for _ in 0..self.rng.gen_range(1..6) {
            let field = self.pick(&def.fields);
            let composite = schema.composite(field.ty.name());
            if composite && (depth >= max_depth || !self.chance(0.5)) {
                continue;
            }
            if self.chance(0.08) {
                let alias = self.unique("a");
                out.push_str(&alias.replace('-', "_"));
                out.push_str(": ");
            }
            out.push_str(&field.name);
            self.arguments(field, out);
            if self.chance(0.03) {
                out.push_str(if self.chance(0.5) {
                    " @include(if: false)"
                } else {
                    " @skip(if: true)"
                });
            }
            if composite {
                out.push(' ');
                self.selection(field.ty.name(), depth + 1, max_depth, out);
            }
            out.push(' ');
            wrote = true;
        }
        if !wrote || self.chance(0.05) {
            out.push_str("__typename ");
        }
        out.push('}');
    }

    fn root(&mut self) -> &'a Field {
        if !self.core.is_empty() && self.chance(0.6) {
            self.core[self.rng.gen_range(0..self.core.len())]
        } else {
            self.roots[self.rng.gen_range(0..self.roots.len())]
        }
    }

    /// `{ root(args) { … } … }` with one to three roots.
    fn query(&mut self) -> String {
        let mut out = String::new();
        if self.chance(0.2) {
            out.push_str("query Fuzz ");
        }
        out.push('{');
        for i in 0..self.rng.gen_range(1..4) {
            let root = self.root();
            out.push(' ');
            if i > 0 {
                out.push_str(&format!("r{i}: "));
            }
            out.push_str(&root.name);
            self.arguments(root, &mut out);
            out.push(' ');
            let depth = self.rng.gen_range(1..=MAX_DEPTH);
            self.selection(root.ty.name(), 1, depth, &mut out);
        }
        out.push_str(" }");
        out
    }

    fn query_case(&mut self) -> Case {
        let q = self.query();
        Case::query("query", q, None)
    }

    /// Filters with hostile values on a core root field.
    fn filter_case(&mut self) -> Case {
        let root = self.root();
        let mut out = format!("{{ {}(", root.name);
        let n = self.rng.gen_range(1..5);
        let mut names = BTreeSet::new();
        for _ in 0..n {
            if root.args.is_empty() {
                break;
            }
            let (name, ty) = self.pick(&root.args);
            if !names.insert(name.clone()) {
                continue;
            }
            if names.len() > 1 {
                out.push_str(", ");
            }
            out.push_str(name);
            out.push_str(": ");
            let v = if ty.is_list() && self.chance(0.15) {
                // A long list of values, as a client building one may send.
                let n = self.rng.gen_range(500..3_000);
                let inner = match ty {
                    Ty::List(t) => (**t).clone(),
                    _ => Ty::Named("String".into()),
                };
                self.in_big_list = true;
                let items = (0..n)
                    .map(|_| {
                        if is_regex(name) {
                            Lit::Str(self.regex())
                        } else {
                            self.value(&inner, 1)
                        }
                    })
                    .collect();
                self.in_big_list = false;
                Lit::List(items)
            } else {
                self.arg_value(name, ty)
            };
            v.render(&mut out);
        }
        out.push_str(") ");
        self.selection(root.ty.name(), 1, 2, &mut out);
        out.push_str(" }");
        Case::query("filters", out.replace("() ", " "), None)
    }

    /// Many aliases of one field, at the root or below.
    fn alias_case(&mut self) -> Case {
        let root = self.root();
        let n = self.rng.gen_range(50..600);
        let mut out = String::from("{ ");
        if self.chance(0.5) {
            let limit = self.rng.gen_range(0..3);
            for i in 0..n.min(300) {
                out.push_str(&format!("a{i}: {}(limit: {limit}) {{ id }} ", root.name));
            }
        } else {
            let scalar = self
                .schema
                .fields(root.ty.name())
                .iter()
                .filter(|f| !self.schema.composite(f.ty.name()) && f.args.is_empty())
                .map(|f| f.name.clone())
                .collect::<Vec<_>>();
            let field = if scalar.is_empty() {
                "__typename".to_owned()
            } else {
                self.pick(&scalar).clone()
            };
            out.push_str(&format!("{}(limit: 5) {{ ", root.name));
            for i in 0..n {
                out.push_str(&format!("f{i}: {field} "));
            }
            // The same alias for two different fields is a conflict (HTTP 400).
            if self.chance(0.2) {
                out.push_str("f0: __typename ");
            }
            out.push_str("} ");
        }
        out.push('}');
        Case::query("aliases", out, None)
    }

    fn fragment_case(&mut self) -> Case {
        let root = self.root();
        let ty = root.ty.name().to_owned();
        let mut fragment = String::new();
        self.selection(&ty, 1, 3, &mut fragment);
        let mut inner = String::new();
        self.selection(&ty, 1, 2, &mut inner);
        let root = &root.name;
        let spread = format!("{{ {root} {{ ...F }} }}");
        let (query, fragments) = match self.rng.gen_range(0..9) {
            0..=2 => (spread, format!("fragment F on {ty} {fragment}")),
            3 => (
                format!("{{ {root} {{ ...F ... on {ty} {inner} }} }}"),
                format!("fragment F on {ty} {fragment} fragment G on {ty} {{ ...F }}"),
            ),
            // A spread of an unknown fragment.
            4 => (format!("{{ {root} {{ ...Nope }} }}"), String::new()),
            // A cycle.
            5 => (spread, format!("fragment F on {ty} {{ ...G }} fragment G on {ty} {{ ...F }}")),
            // On a type the field is not.
            6 => (spread, format!("fragment F on {} {{ __typename }}", self.schema.query)),
            // Inline, without a type condition, with directives.
            7 => {
                let inline = format!("... @include(if: true) {inner} ... on {ty} @skip(if: false)");
                (format!("{{ {root} {{ {inline} {fragment} }} }}"), String::new())
            }
            // Defined and never used.
            _ => (format!("{{ {root} {inner} }}"), format!("fragment Unused on {ty} {fragment}")),
        };
        Case::query("fragments", format!("{query} {fragments}"), None)
    }

    fn variable_case(&mut self) -> Case {
        let root = self.root();
        let mut defs = Vec::new();
        let mut uses = Vec::new();
        let mut vars = serde_json::Map::new();
        let n = self.rng.gen_range(1..5).min(root.args.len());
        let mut seen = BTreeSet::new();
        for i in 0..n {
            let (name, ty) = self.pick(&root.args).clone();
            if !seen.insert(name.clone()) {
                continue;
            }
            let var = format!("v{i}");
            let declared = match self.rng.gen_range(0..20) {
                0..=13 => ty.sdl(),
                14 | 15 => format!("{}!", ty.sdl().trim_end_matches('!')),
                16 => "NotAType".to_owned(),
                _ => (*self.pick(&[
                    "String",
                    "Int",
                    "[Int]",
                    "Boolean!",
                    "[String!]!",
                    "UUID",
                    "[[String]]",
                    "BigInt",
                ]))
                .to_owned(),
            };
            let default = if self.chance(0.1) {
                format!(" = {}", self.arg_value(&name, &ty).text())
            } else {
                String::new()
            };
            defs.push(format!("${var}: {declared}{default}"));
            uses.push(format!("{name}: ${var}"));
            match self.rng.gen_range(0..20) {
                0..=12 => {
                    vars.insert(var, self.arg_value(&name, &ty).json());
                }
                13 | 14 => {
                    vars.insert(var, self.wrong(0).json());
                }
                15 | 16 => {}
                17 => {
                    vars.insert(var, Value::Null);
                }
                _ => {
                    // Deeply nested JSON where a value is wanted.
                    let mut v = json!("deep");
                    for _ in 0..self.rng.gen_range(10..200) {
                        v = json!([v]);
                    }
                    vars.insert(var, v);
                }
            }
        }
        if self.chance(0.1) {
            vars.insert("extra".into(), json!({"unused": true}));
        }
        if self.chance(0.05) {
            uses.push("limit: $undeclared".into());
        }
        if self.chance(0.05) {
            defs.push("$unused: Int".into());
        }
        let defs = if defs.is_empty() { String::new() } else { format!("({})", defs.join(", ")) };
        let uses = if uses.is_empty() { String::new() } else { format!("({})", uses.join(", ")) };
        let mut query = format!("query Vars{defs} {{ {}{uses} ", root.name);
        self.selection(root.ty.name(), 1, 2, &mut query);
        query.push_str(" }");
        let vars = Value::Object(vars);
        let variables = match self.rng.gen_range(0..25) {
            0..=18 => Some(vars),
            19 | 20 => Some(json!(vars.to_string())),
            21 => Some(json!("")),
            22 => Some(json!("{ \"v0\": ")),
            23 => Some(json!([vars])),
            _ => None,
        };
        Case::query("variables", query, variables)
    }

    // --------------------------------------------------------------------------------------
    // Mutations.

    fn status(&mut self) -> Lit {
        if self.chance(0.9) {
            Lit::name("Active")
        } else {
            Lit::name(&self.text())
        }
    }

    /// A name: mostly fresh, sometimes hostile or an existing one.
    fn object_name(&mut self) -> String {
        match self.rng.gen_range(0..10) {
            0..=5 => {
                let prefix = *self.pick(&["fz", "Fz é", "fz'\"", "fz%_\\", "fz🚀"]);
                self.unique(prefix)
            }
            6 | 7 => self.text(),
            _ => (*self.pick(KNOWN)).to_owned(),
        }
    }

    fn address(&mut self) -> String {
        match self.rng.gen_range(0..6) {
            0 => format!("10.1.{}.{}/16", self.rng.gen_range(0..256), self.rng.gen_range(0..256)),
            1 => format!(
                "10.{}.{}.{}/{}",
                self.rng.gen_range(0..256),
                self.rng.gen_range(0..256),
                self.rng.gen_range(0..256),
                self.rng.gen_range(0..33)
            ),
            2 => format!("2001:db8::{:x}/{}", self.rng.gen::<u16>(), self.rng.gen_range(0..129)),
            3 => (*self.pick(&[
                "::/0",
                "0.0.0.0/0",
                "::1/128",
                "255.255.255.255/32",
                "10.1.0.0/16",
                "::ffff:10.1.0.1/128",
                "fe80::/10",
            ]))
            .to_owned(),
            _ => self.text(),
        }
    }

    /// The input of a write of a core model with plausible values (most of them writable).
    fn template(&mut self) -> (String, String, Lit) {
        let device = format!("dev-{:05}", self.rng.gen_range(1..7));
        let (field, arg, input) = match self.rng.gen_range(0..16) {
            0 | 1 => (
                "tag_create",
                "input",
                Lit::obj(&[
                    ("name", Lit::Str(self.object_name())),
                    ("description", Lit::Str(self.text())),
                    ("color", Lit::Str((*self.pick(&["ff0000", "zzzzzz", "", "FF00FF00"])).into())),
                ]),
            ),
            2 => (
                "tag_upsert",
                "input",
                Lit::obj(&[
                    ("name", Lit::Str(self.object_name())),
                    ("description", Lit::Str(self.text())),
                ]),
            ),
            3 | 4 => {
                let mut fields = vec![
                    ("name".to_owned(), Lit::Str(self.object_name())),
                    (
                        "location_type".to_owned(),
                        Lit::name(if self.chance(0.8) { "Site" } else { "Region" }),
                    ),
                    ("status".to_owned(), self.status()),
                    ("parent".to_owned(), Lit::name("region-1")),
                ];
                for (k, v) in [
                    ("latitude", Lit::Float(self.float())),
                    ("asn", Lit::Int(self.int())),
                    ("facility", Lit::Str(self.text())),
                    ("description", Lit::Str(self.text())),
                ] {
                    if self.chance(0.3) {
                        fields.push((k.to_owned(), v));
                    }
                }
                ("location_create", "input", Lit::Obj(fields))
            }
            5 | 6 => {
                let mut fields = vec![
                    ("name".to_owned(), Lit::Str(self.object_name())),
                    (
                        "device_type".to_owned(),
                        Lit::obj(&[
                            ("manufacturer", Lit::name("Acme")),
                            ("model", Lit::Str("acme-s48".into())),
                        ]),
                    ),
                    ("role".to_owned(), Lit::name("leaf")),
                    ("status".to_owned(), self.status()),
                    ("location".to_owned(), Lit::name("site-001")),
                ];
                for (k, v) in [
                    ("serial", Lit::Str(self.text())),
                    ("comments", Lit::Str(self.text())),
                    ("asset_tag", Lit::Str(self.object_name())),
                    ("position", Lit::Int(self.int())),
                    ("tags", Lit::List(vec![Lit::name("tag-1")])),
                ] {
                    if self.chance(0.3) {
                        fields.push((k.to_owned(), v));
                    }
                }
                ("device_create", "input", Lit::Obj(fields))
            }
            7 | 8 => {
                let mut fields = Vec::new();
                for (k, v) in [
                    ("serial", Lit::Str(self.text())),
                    ("comments", Lit::Str(self.text())),
                    ("asset_tag", Lit::Str(self.object_name())),
                    ("custom_fields", self.generic(0)),
                    ("tags", Lit::List(vec![Lit::name(self.pick::<&str>(&["tag-1", "nope"]))])),
                    ("vc_position", Lit::Int(self.int())),
                    ("platform", Lit::name(self.pick::<&str>(&["acme-os", "nope"]))),
                    ("name", Lit::Str(self.object_name())),
                ] {
                    if self.chance(0.3) {
                        fields.push((k.to_owned(), v));
                    }
                }
                let rf = Lit::name(&device);
                return (
                    "device_update".into(),
                    format!("ref: {}, input", rf.text()),
                    Lit::Obj(fields),
                );
            }
            9 => (
                "interface_create",
                "input",
                Lit::obj(&[
                    ("device", Lit::name(&device)),
                    ("name", Lit::Str(self.object_name())),
                    (
                        "type",
                        Lit::Enum((*self.pick(&["A_1000BASE_T", "VIRTUAL", "LAG", "NOPE"])).into()),
                    ),
                    ("status", self.status()),
                    ("mtu", Lit::Int(self.int())),
                    ("description", Lit::Str(self.text())),
                ]),
            ),
            10 => (
                "ip_address_create",
                "input",
                Lit::obj(&[
                    ("address", Lit::Str(self.address())),
                    ("status", self.status()),
                    ("namespace", Lit::name("Global")),
                ]),
            ),
            11 => (
                "prefix_create",
                "input",
                Lit::obj(&[
                    ("prefix", Lit::Str(self.address())),
                    ("status", self.status()),
                    ("namespace", Lit::name("Global")),
                ]),
            ),
            12 => (
                "vlan_create",
                "input",
                Lit::obj(&[
                    ("name", Lit::Str(self.object_name())),
                    ("vid", Lit::Int(self.int())),
                    ("status", self.status()),
                ]),
            ),
            13 => {
                let model = *self.pick(&[
                    "tag",
                    "location",
                    "device",
                    "status",
                    "role",
                    "manufacturer",
                    "platform",
                    "namespace",
                ]);
                let name =
                    if self.chance(0.5) { (*self.pick(KNOWN)).to_owned() } else { self.text() };
                return (format!("{model}_delete"), "ref".into(), Lit::name(&name));
            }
            14 => {
                let n = if self.chance(0.9) {
                    self.rng.gen_range(1..30)
                } else {
                    self.rng.gen_range(300..1_500)
                };
                self.in_big_list = n > 60;
                let items =
                    (0..n).map(|_| Lit::obj(&[("name", Lit::Str(self.object_name()))])).collect();
                self.in_big_list = false;
                ("tag_create_bulk", "inputs", Lit::List(items))
            }
            _ => {
                // A batch of template operations.
                let mut ops = Vec::new();
                for _ in 0..self.rng.gen_range(1..6) {
                    let (field, _, input) = self.template();
                    let op = match field.as_str() {
                        "device_update" => {
                            Lit::obj(&[("ref", Lit::name(&device)), ("input", input)])
                        }
                        "batch" => continue,
                        f if f.ends_with("_bulk") => continue,
                        _ => input,
                    };
                    ops.push(Lit::Obj(vec![(field, op)]));
                }
                ("batch", "operations", Lit::List(ops))
            }
        };
        (field.to_owned(), arg.to_owned(), input)
    }

    /// The selection of a mutation field's answer.
    fn answer(&mut self, field_name: &str) -> String {
        let ty = self
            .schema
            .fields(&self.schema.mutation)
            .iter()
            .find(|f| f.name == field_name)
            .map(|f| f.ty.name().to_owned())
            .unwrap_or_default();
        if !self.schema.composite(&ty) {
            return String::new();
        }
        let mut out = String::new();
        if self.chance(0.5) {
            out.push_str("{ id }");
        } else {
            self.selection(&ty, 1, 2, &mut out);
        }
        out
    }

    fn mutation_case(&mut self) -> Case {
        let auth = if self.chance(0.04) { Auth::ReadOnly } else { Auth::Token };
        let mut case = if self.chance(0.6) {
            let (field, arg, input) = self.template();
            let answer = self.answer(&field);
            if self.chance(0.25) && !arg.contains(':') {
                // As a variable, typed as the schema types the argument.
                let ty = self
                    .schema
                    .fields(&self.schema.mutation)
                    .iter()
                    .find(|f| f.name == field)
                    .and_then(|f| f.args.iter().find(|(a, _)| *a == arg))
                    .map(|(_, t)| t.sdl())
                    .unwrap_or_else(|| "String".into());
                let query = format!("mutation($x: {ty}) {{ {field}({arg}: $x) {answer} }}");
                Case::query("mutation", query, Some(json!({ "x": input.json() })))
            } else {
                let query = format!("mutation {{ {field}({arg}: {}) {answer} }}", input.text());
                Case::query("mutation", query, None)
            }
        } else {
            // Any mutation of the schema, with arguments made from its input types.
            let mut out = String::from("mutation {");
            for _ in 0..self.rng.gen_range(1..3) {
                let field = self.mutations[self.rng.gen_range(0..self.mutations.len())];
                out.push(' ');
                out.push_str(&field.name);
                let mut args = Vec::new();
                for (name, ty) in &field.args {
                    if ty.is_non_null() || self.chance(0.5) {
                        args.push(format!("{name}: {}", self.arg_value(name, ty).text()));
                    }
                }
                if !args.is_empty() {
                    out.push_str(&format!("({})", args.join(", ")));
                }
                out.push(' ');
                let answer = self.answer(&field.name);
                out.push_str(&answer);
            }
            out.push_str(" }");
            Case::query("mutation", out, None)
        };
        case.auth = auth;
        case
    }

    // --------------------------------------------------------------------------------------
    // Garbage.

    fn garbage_case(&mut self) -> Case {
        let raw = |b: Vec<u8>| Case { kind: "garbage", body: Body::Raw(b), auth: Auth::Token };
        let doc = |q: String| Case::query("garbage", q, None);
        match self.rng.gen_range(0..22) {
            0 => {
                let q = self.query();
                let cut = self.rng.gen_range(0..q.len().max(1));
                let cut = (0..=cut).rev().find(|&i| q.is_char_boundary(i)).unwrap_or(0);
                doc(q[..cut].to_owned())
            }
            1 => {
                let n = self.rng.gen_range(0..2_000);
                raw((0..n).map(|_| self.rng.gen()).collect())
            }
            2 => {
                let n = *self.pick(&[40, 100, 1_000, 20_000, 200_000]);
                doc(format!(
                    "{}{}",
                    "{".repeat(n),
                    "}".repeat(if self.chance(0.5) { n } else { 0 })
                ))
            }
            3 => {
                let n = *self.pick(&[30, 100, 1_000, 50_000]);
                doc(format!(
                    "{{ devices(name: {}\"x\"{}) {{ name }} }}",
                    "[".repeat(n),
                    "]".repeat(n)
                ))
            }
            4 => {
                // Nested selections past the depth limit (and just within it).
                let n = *self.pick(&[47, 49, 60, 500, 5_000]);
                doc(format!(
                    "{{ locations {}{{ name }}{} }}",
                    "{ parent ".repeat(n),
                    " }".repeat(n)
                ))
            }
            5 => raw(Vec::new()),
            6 => raw(self
                .pick(&[
                    &b"null"[..],
                    b"[]",
                    b"{}",
                    b"\"x\"",
                    b"42",
                    b"{\"query\": 5}",
                    b"{\"query\": null}",
                    b"{\"query\": \"\"}",
                    b"{\"query\": [\"{ devices { name } }\"]}",
                    b"{\"query\": \"{ devices { name } }\", \"operationName\": 5}",
                    b"{\"query\": \"{ devices { name } }\"",
                    b"{\"query\": \"\\ud800\"}",
                    b"\xef\xbb\xbf{\"query\": \"{ devices { name } }\"}",
                    b"{\"query\": \"{ devices { name } }\", \"query\": \"{ tags { name } }\"}",
                ])
                .to_vec()),
            7 => {
                let mut b = br#"{"query": "{ devices(name: \""#.to_vec();
                b.extend((0..self.rng.gen_range(1..50)).map(|_| self.rng.gen_range(0x80..=0xffu8)));
                b.extend_from_slice(br#"\") { name } }"}"#);
                raw(b)
            }
            8 => {
                // Deep JSON in the body.
                let n = *self.pick(&[100, 129, 1_000, 100_000]);
                let mut b = br#"{"query": "query($v: [String]) { devices(name: $v) { name } }", "variables": {"v": "#.to_vec();
                b.extend(std::iter::repeat_n(b'[', n));
                b.extend(std::iter::repeat_n(b']', n));
                b.extend_from_slice(b"}}");
                raw(b)
            }
            9 => {
                // Past axum's default limit of 2 MiB, within the server's (64 MiB).
                let n = self.rng.gen_range(1_500_000..3_000_000);
                doc(format!("{{ devices(name: \"{}\") {{ name }} }}", "x".repeat(n)))
            }
            10 => {
                let len = self.rng.gen_range(1..300);
                doc(self.random_text(len))
            }
            11 => {
                let punct = [
                    '{', '}', '(', ')', '[', ']', ':', '$', '@', '.', '"', '!', '=', '|', '&', '#',
                    ',', '\n',
                ];
                let words = [
                    "devices",
                    "name",
                    "query",
                    "mutation",
                    "fragment",
                    "on",
                    "...",
                    "subscription",
                    "true",
                    "null",
                    "1",
                    "\"s\"",
                ];
                let mut q = String::new();
                for _ in 0..self.rng.gen_range(1..200) {
                    if self.chance(0.6) {
                        q.push(*self.pick(&punct));
                    } else {
                        q.push_str(self.pick::<&str>(&words));
                    }
                    q.push(' ');
                }
                doc(q)
            }
            12 => {
                let q = "query A { devices { name } } query B { tags { name } } mutation C { tag_create(input: {name: \"fz-op\"}) { id } }";
                let name = *self.pick(&["A", "B", "Nope", "", "C"]);
                let mut body = json!({"query": q});
                if self.chance(0.8) {
                    body["operationName"] = json!(name);
                }
                Case { kind: "garbage", body: Body::Json(body), auth: Auth::Token }
            }
            13 => doc(format!(
                "{{ devices {{ {} }} }}",
                "name ".repeat(self.rng.gen_range(1_000..40_000))
            )),
            14 => doc((*self.pick(&[
                "subscription { devices { name } }",
                "{ __schema { types { name } } }",
                "{ __type(name: \"DeviceType\") { fields { name } } }",
                "{ __typename }",
                "mutation { __typename }",
                "{ devices { __typename } }",
                "query { ...F } fragment F on Query { devices { name } }",
                "{ devices(limit: 1) { id name } }",
            ]))
            .to_owned()),
            15 => doc(format!("{{ devices {{ name }} }} {}", "#".repeat(1000))),
            16 => doc(format!(
                "{{ devices(name: \"\"\"{}\"\"\") {{ name }} }}",
                self.text().replace('"', "")
            )),
            17 => {
                // Long chains of list values and objects in mutation inputs.
                let n = *self.pick(&[30, 200, 2_000]);
                let (open, close) = ("{a: ".repeat(n), "}".repeat(n));
                doc(format!(
                    "mutation {{ tag_create(input: {{name: \"x\", custom_fields: {open}1{close}}}) {{ id }} }}"
                ))
            }
            18 => doc(format!(
                "query({}) {{ devices {{ name }} }}",
                (0..self.rng.gen_range(1..3_000))
                    .map(|i| format!("$v{i}: Int"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            19 => doc(format!(
                "{{ devices {} {{ name }} }}",
                "@include(if: true) ".repeat(self.rng.gen_range(1..500))
            )),
            20 => doc(format!("{{ devices(name: \"{}) {{ name }} }}", self.text())),
            _ => doc(format!(
                "{{ devices(limit: {}, offset: {}) {{ name }} }}",
                self.int(),
                self.int()
            )),
        }
    }

    fn auth_case(&mut self) -> Case {
        let mut case = self.query_case();
        case.kind = "auth";
        case.auth = *self.pick(&[
            Auth::None,
            Auth::Header("Token 0123456789abcdef0123456789abcdef01234567"),
            Auth::Header("Token "),
            Auth::Header("Token"),
            Auth::Header("Bearer not.a.jwt"),
            Auth::Header("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."),
            Auth::Header("Basic YWRtaW46c2VjcmV0"),
            Auth::Header("Token ' OR 1=1 --"),
        ]);
        case
    }

    fn case(&mut self) -> Case {
        self.long_budget = 1_000_000;
        match self.rng.gen_range(0..100) {
            0..=24 => self.query_case(),
            25..=36 => self.filter_case(),
            37..=40 => self.alias_case(),
            41..=47 => self.fragment_case(),
            48..=59 => self.variable_case(),
            60..=83 => self.mutation_case(),
            84..=96 => self.garbage_case(),
            _ => self.auth_case(),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Sending and checking.

struct Outcome {
    status: u16,
    body: Vec<u8>,
    elapsed: Duration,
}

async fn send(app: &TestApp, case: &Case) -> Result<Outcome, String> {
    let started = Instant::now();
    let mut request = app
        .client()
        .post(format!("{}/api/graphql/", app.base))
        .header("content-type", "application/json")
        .body(case.bytes());
    let token = match case.auth {
        Auth::Token => Some(format!("Token {}", app.token)),
        Auth::ReadOnly => Some(format!("Token {}", app.read_only_token)),
        Auth::None => None,
        Auth::Header(h) => Some(h.to_owned()),
    };
    if let Some(t) = token {
        request = request.header("Authorization", t);
    }
    let exchange = async {
        let response = request.send().await.map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        let body =
            response.bytes().await.map_err(|e| format!("body not read (status {status}): {e}"))?;
        Ok::<_, String>((status, body.to_vec()))
    };
    match tokio::time::timeout(REQUEST_BOUND, exchange).await {
        Ok(Ok((status, body))) => Ok(Outcome { status, body, elapsed: started.elapsed() }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {REQUEST_BOUND:?} (hang)")),
    }
}

/// The invariants every answer keeps, whatever was asked.
fn check(outcome: &Outcome) -> Result<(), String> {
    let status = outcome.status;
    if ![200, 400, 403, 413, 503].contains(&status) {
        return Err(format!("HTTP {status}"));
    }
    let body: Value = serde_json::from_slice(&outcome.body).map_err(|e| {
        format!(
            "HTTP {status} with a body that is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&outcome.body[..outcome.body.len().min(300)])
        )
    })?;
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    for error in &errors {
        let message = error["message"].as_str().unwrap_or_default().to_lowercase();
        if message.contains("internal error") || error["extensions"]["code"] == "INTERNAL" {
            return Err(format!("HTTP {status}: internal error: {error}"));
        }
    }
    match status {
        200 if body.get("data").is_none() && errors.is_empty() => {
            Err("HTTP 200 without data or errors".into())
        }
        400 if errors.is_empty() => Err("HTTP 400 without errors".into()),
        403 if body.get("detail").is_none() => Err("HTTP 403 without detail".into()),
        503 if errors.is_empty() || errors.iter().any(|e| e["extensions"]["code"] != "BUSY") => {
            Err("HTTP 503 that is not BUSY".into())
        }
        _ => Ok(()),
    }
}

/// The status of an answer, with `!` when an HTTP 200 carries errors.
fn label(outcome: &Outcome) -> String {
    let errors = outcome.status == 200
        && serde_json::from_slice::<Value>(&outcome.body)
            .map(|b| b.get("errors").is_some())
            .unwrap_or(false);
    format!("{}{}", outcome.status, if errors { "!" } else { "" })
}

fn seed_from_env() -> anyhow::Result<u64> {
    match std::env::var("FERROBOT_FUZZ_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.map_err(|e| anyhow::anyhow!("FERROBOT_FUZZ_SEED={s}: {e}"))
        }
        Err(_) => Ok(DEFAULT_SEED),
    }
}

fn cases_from_env() -> anyhow::Result<usize> {
    match std::env::var("FERROBOT_FUZZ_CASES") {
        Ok(s) => s.trim().parse().map_err(|e| anyhow::anyhow!("FERROBOT_FUZZ_CASES={s}: {e}")),
        Err(_) => Ok(CASES),
    }
}

async fn fuzz_documents_and_variables(backend: Backend) -> anyhow::Result<()> {
    let fuzz_seed = seed_from_env()?;
    let cases = cases_from_env()?;
    let started = Instant::now();
    let app = TestApp::start(backend).await?;
    app.import(seed(5)).await?;
    let learnt_schema = SCHEMA.get_or_try_init(|| learn_schema(&app)).await?;
    let schema = learnt_schema;
    let setup = started.elapsed();
    let mut gen = Gen::new(fuzz_seed, schema);
    anyhow::ensure!(!gen.roots.is_empty() && !gen.mutations.is_empty(), "no root fields learnt");
    eprintln!("fuzz {backend:?}: seed {fuzz_seed:#x} (FERROBOT_FUZZ_SEED), {cases} cases (FERROBOT_FUZZ_CASES), set up in {setup:?}");
    let started = Instant::now();
    let mut generating = Duration::ZERO;

    // Answers per kind of case and status; "200!" is HTTP 200 with errors.
    let mut histogram: BTreeMap<(&str, String), usize> = BTreeMap::new();
    let mut failures = Vec::new();
    // Failing cases in full, one JSON object a line, written beside the test's target files.
    let mut dump = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    let mut index = 0;
    while index < cases {
        let made = Instant::now();
        let chunk: Vec<(usize, Case)> =
            (index..cases.min(index + PARALLEL)).map(|i| (i, gen.case())).collect();
        generating += made.elapsed();
        index += chunk.len();
        let outcomes = join_all(chunk.iter().map(|(_, case)| send(&app, case))).await;
        for ((i, case), outcome) in chunk.iter().zip(outcomes) {
            let verdict = outcome.and_then(|o| {
                *histogram.entry((case.kind, label(&o))).or_default() += 1;
                if o.elapsed > slowest.0 {
                    slowest = (o.elapsed, format!("case {i}, {}", case.kind));
                }
                check(&o).map_err(|e| {
                    let body =
                        String::from_utf8_lossy(&o.body[..o.body.len().min(1_500)]).into_owned();
                    format!("{e}\n    answer: {body}")
                })
            });
            if let Err(e) = verdict {
                failures.push(format!(
                    "case {i} on {backend:?} (seed {fuzz_seed:#x}): {e}\n    {}",
                    case.describe()
                ));
                let body = match &case.body {
                    Body::Json(v) => v.clone(),
                    Body::Raw(b) => json!({ "raw": String::from_utf8_lossy(b) }),
                };
                let auth = format!("{:?}", case.auth);
                let line =
                    json!({"case": i, "seed": fuzz_seed, "auth": auth, "failure": e, "body": body});
                dump.push(line.to_string());
            }
        }
    }
    let elapsed = started.elapsed();

    // The server is alive and answers correctly.
    let (status, body, _) = app.graphql("{ devices { name } }", Value::Null).await?;
    anyhow::ensure!(
        status == 200 && body["data"]["devices"].is_array(),
        "after the run: {status} {body}"
    );
    let create = format!(
        "mutation {{ tag_create(input: {{name: \"after-fuzz-{fuzz_seed}\"}}) {{ name }} }}"
    );
    let (status, body, _) = app.graphql(&create, Value::Null).await?;
    anyhow::ensure!(status == 200 && body["errors"].is_null(), "after the run: {status} {body}");
    let (_, body, _) = app
        .graphql(&format!("{{ tags(name: \"after-fuzz-{fuzz_seed}\") {{ name }} }}"), Value::Null)
        .await?;
    anyhow::ensure!(
        body["data"]["tags"] == json!([{"name": format!("after-fuzz-{fuzz_seed}")}]),
        "{body}"
    );
    change_log_matches_objects(&app, &gen).await?;

    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ((kind, status), n) in &histogram {
        *by_status.entry(status).or_default() += n;
        by_kind.entry(kind).or_default().push(format!("{status}×{n}"));
    }
    let (slowest, which) = slowest;
    eprintln!(
        "fuzz {backend:?}: {cases} cases in {elapsed:?} ({generating:?} generating); statuses \
         {by_status:?}; slowest {slowest:?} ({which})"
    );
    for (kind, counts) in by_kind {
        eprintln!("    {kind:<10} {}", counts.join(" "));
    }
    for f in failures.iter().take(10) {
        eprintln!("FAILED {f}");
    }
    let path = format!("{}/fuzz-failures-{backend:?}.jsonl", env!("CARGO_TARGET_TMPDIR"));
    if dump.is_empty() {
        // An earlier run's failures are not this one's.
        let _ = std::fs::remove_file(&path);
    } else {
        std::fs::write(&path, dump.join("\n"))?;
        eprintln!("fuzz {backend:?}: the failing cases in full: {path}");
    }
    anyhow::ensure!(
        failures.is_empty(),
        "{} of {cases} cases broke an invariant; first: {}",
        failures.len(),
        failures[0]
    );
    Ok(())
}
backend_test!(fuzz, fuzz_documents_and_variables);

/// Nothing half-written: the change log's sequence runs 1..N without gaps, and the objects of
/// every model are exactly those it created and did not delete.
async fn change_log_matches_objects(app: &TestApp, gen: &Gen<'_>) -> anyhow::Result<()> {
    let (status, body, _) = app
        .graphql(
            "{ object_changes { sequence action changed_object_id changed_object_type { app_label model } } }",
            Value::Null,
        )
        .await?;
    anyhow::ensure!(
        status == 200 && body["errors"].is_null(),
        "change log: {status} {}",
        error_of(&body)
    );
    let rows = body["data"]["object_changes"].as_array().cloned().unwrap_or_default();
    let mut sequences: Vec<i64> = rows.iter().filter_map(|r| r["sequence"].as_i64()).collect();
    sequences.sort_unstable();
    let want: Vec<i64> = (1..=rows.len() as i64).collect();
    anyhow::ensure!(
        sequences == want,
        "change log sequences are not 1..{}: {:?}",
        rows.len(),
        gaps(&sequences)
    );
    let mut live: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<&Value> = rows.iter().collect();
    order.sort_by_key(|r| r["sequence"].as_i64());
    for r in order {
        let id = r["changed_object_id"].as_str().unwrap_or_default().to_owned();
        let ty = &r["changed_object_type"];
        let ty = format!(
            "{}.{}",
            ty["app_label"].as_str().unwrap_or_default(),
            ty["model"].as_str().unwrap_or_default()
        );
        match r["action"].as_str() {
            Some("CREATE") => {
                live.insert(id, ty);
            }
            Some("DELETE") => {
                live.remove(&id);
            }
            _ => {}
        }
    }
    // Every root list field whose objects have an id, in one document.
    let mut query = String::from("{");
    let mut names = Vec::new();
    for root in &gen.roots {
        let has_id = gen.schema.fields(root.ty.name()).iter().any(|f| f.name == "id");
        // The change log itself is not logged.
        if has_id
            && root.name != "object_changes"
            && root.args.iter().all(|(_, t)| !t.is_non_null())
        {
            query.push_str(&format!(" {} {{ id }}", root.name));
            names.push(root.name.clone());
        }
    }
    query.push_str(" }");
    let (status, body, _) = app.graphql(&query, Value::Null).await?;
    anyhow::ensure!(
        status == 200 && body["errors"].is_null(),
        "all objects: {status} {}",
        error_of(&body)
    );
    let mut present: BTreeMap<String, String> = BTreeMap::new();
    for name in &names {
        for o in body["data"][name].as_array().into_iter().flatten() {
            present.insert(o["id"].as_str().unwrap_or_default().to_owned(), name.clone());
        }
    }
    let mut unlogged: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, root) in &present {
        if !live.contains_key(id) {
            unlogged.entry(root).or_default().push(id);
        }
    }
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, ty) in &live {
        if !present.contains_key(id) {
            missing.entry(ty).or_default().push(id);
        }
    }
    anyhow::ensure!(
        unlogged.is_empty() && missing.is_empty(),
        "objects without a create in the change log: {unlogged:?}; created and not deleted, yet absent: {missing:?}"
    );
    Ok(())
}

/// The first places where a sorted list of sequence numbers is not 1, 2, 3, ….
fn gaps(sequences: &[i64]) -> Vec<(usize, i64)> {
    sequences
        .iter()
        .enumerate()
        .filter(|(i, s)| **s != *i as i64 + 1)
        .take(5)
        .map(|(i, s)| (i, *s))
        .collect()
}
