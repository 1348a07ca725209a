//! Nautobot's data validation engine as plain data: rules that name one field of a model (a
//! regular expression, a minimum and a maximum, required, unique), what each says of an object
//! being written, with Nautobot's words, and the rules a rule must pass when it is written.
//!
//! Rules are rows, read by the writer once per write (so a rule works from the write after it
//! is committed, on every replica): nothing is compiled into the catalogue. Counting the other
//! objects that hold a value (unique rules) is the store's part; [`Verdict::Count`] asks for it.

use serde_json::Value as Json;

use crate::catalogue::{Catalogue, Features, Field, FieldKind, Model};
use crate::row::Row;
use crate::validate::is_automatic;
use crate::value::{ip_from_bytes, python_float, Datum};
use crate::ValidationError;

/// The rule models, named once in `hooks` (which marks them): `RegularExpressionValidationRule`
/// (the value must match a pattern from its start), `MinMaxValidationRule` (a number within
/// bounds), `RequiredValidationRule` (a value must be given), `UniqueValidationRule` (at most
/// `max_instances` objects share a value); `MODELS` in the order Nautobot runs them.
pub use crate::hooks::validation_rules::{MIN_MAX, MODELS, REGEX, REQUIRED, UNIQUE};

/// The feature a model needs for rules to name its fields.
pub const FEATURE: &str = "custom_validators";

/// The fields of the rule models the engine reads.
pub mod fields {
    pub const NAME: &str = "name";
    pub const FIELD: &str = "field";
    pub const CONTENT_TYPE: &str = "content_type";
    pub const ENABLED: &str = "enabled";
    pub const ERROR_MESSAGE: &str = "error_message";
    pub const REGULAR_EXPRESSION: &str = "regular_expression";
    pub const CONTEXT_PROCESSING: &str = "context_processing";
    pub const MIN: &str = "min";
    pub const MAX: &str = "max";
    pub const MAX_INSTANCES: &str = "max_instances";
}

/// The most a pattern may compile to: a rule is user input.
const PATTERN_SIZE: usize = 1 << 20;

/// The budget of work of a pattern's template, rendered for every object written: a pattern
/// is a line of text, and a template that loops past this fails the object at once.
const PATTERN_FUEL: u64 = 100_000;

/// What kind of rule, with what it needs.
pub enum Check {
    /// A pattern, or a template rendering one (`context_processing`), compiled the first time
    /// an object of its model is judged: a write compiles only the rules of what it writes.
    Regex {
        pattern: String,
        context_processing: bool,
        compiled: std::sync::OnceLock<Compiled>,
    },
    MinMax {
        min: Option<f64>,
        max: Option<f64>,
    },
    Required,
    Unique {
        max_instances: i64,
    },
}

/// A rule's pattern, compiled.
pub enum Compiled {
    /// `None`: the engine cannot run it (refused when the rule was written; one stored
    /// otherwise fails every object rather than passing it).
    Pattern(Option<regex::Regex>),
    /// A template without its `regex` template did not compile: rendering it fails every object,
    /// as Nautobot's render does.
    Template(Box<minijinja::Environment<'static>>),
}

/// One enabled rule, as the writer applies it.
pub struct Rule {
    pub name: String,
    /// The label of the model it applies to.
    pub model: String,
    /// The field it names.
    pub field: String,
    /// The user's message; Nautobot's words when empty.
    pub error_message: String,
    pub check: Check,
}

/// What a rule says of an object.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    /// The field's message.
    Fail(String),
    /// A unique rule: the store counts the other objects of the model whose field holds the
    /// value, and the object fails when they are `limit` or more ([`Rule::unique_failure`]).
    Count {
        limit: i64,
    },
}

/// A pattern as Python's `re.match` runs it: anchored at the start only, on the linear-time
/// engine, with a size cap.
fn compile(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(&format!(r"\A(?:{pattern})")).size_limit(PATTERN_SIZE).build()
}

impl Rule {
    /// The enabled rule a row of the rule model `label` is; `None` when it is disabled or is
    /// not one of the rule models.
    pub fn from_row(label: &str, row: &Row) -> Option<Rule> {
        if row.get(fields::ENABLED) == &Datum::Bool(false) {
            return None;
        }
        let float = |name| row.text(name).and_then(|t| t.parse::<f64>().ok());
        let check = match label {
            REGEX => Check::Regex {
                pattern: row.text(fields::REGULAR_EXPRESSION).unwrap_or_default().to_owned(),
                context_processing: row.get(fields::CONTEXT_PROCESSING) == &Datum::Bool(true),
                compiled: std::sync::OnceLock::new(),
            },
            MIN_MAX => Check::MinMax { min: float(fields::MIN), max: float(fields::MAX) },
            REQUIRED => Check::Required,
            UNIQUE => Check::Unique {
                max_instances: match row.get(fields::MAX_INSTANCES) {
                    Datum::Int(n) => *n,
                    _ => 1,
                },
            },
            _ => return None,
        };
        Some(Rule {
            name: row.text(fields::NAME).unwrap_or_default().to_owned(),
            model: row.text(fields::CONTENT_TYPE).unwrap_or_default().to_owned(),
            field: row.text(fields::FIELD).unwrap_or_default().to_owned(),
            error_message: row.text(fields::ERROR_MESSAGE).unwrap_or_default().to_owned(),
            check,
        })
    }

    fn message(&self, default: impl FnOnce() -> String) -> String {
        match self.error_message.is_empty() {
            true => default(),
            false => self.error_message.clone(),
        }
    }

    /// Spec: `nautobot/data_validation/custom_validators.py` `BaseValidator.clean`: what the
    /// rule says of `value`, the object's value of the field; `object` is the object as a
    /// template sees it (`obj`), made only when a pattern is a template.
    pub fn check(&self, field: &Field, value: &Datum, object: impl FnOnce() -> Json) -> Verdict {
        match &self.check {
            Check::Regex { pattern, context_processing, compiled } => {
                let compiled = compiled.get_or_init(|| match context_processing {
                    true => {
                        let mut env = crate::template::environment_with_fuel(PATTERN_FUEL);
                        let _ = env.add_template_owned("regex", pattern.clone());
                        Compiled::Template(Box::new(env))
                    }
                    false => Compiled::Pattern(compile(pattern).ok()),
                });
                let rendered;
                let (pattern, re) = match compiled {
                    Compiled::Pattern(re) => (pattern.as_str(), re.clone()),
                    Compiled::Template(env) => {
                        let object = object();
                        let context = serde_json::json!({"obj": object, "object": object});
                        let made = crate::template::render(env, "regex", &context)
                            .ok()
                            .and_then(|p| compile(&p).ok().map(|re| (p, re)));
                        let Some((p, re)) = made else {
                            return Verdict::Fail(format!(
                                "There was an error rendering the regular expression in the data \
                                 validation rule '{}'. Either fix the validation rule or disable \
                                 it in order to save this data.",
                                self.name
                            ));
                        };
                        rendered = p;
                        (rendered.as_str(), Some(re))
                    }
                };
                match re.is_some_and(|re| re.is_match(&text_of(field, value))) {
                    true => Verdict::Pass,
                    false => Verdict::Fail(
                        self.message(|| format!("Value does not conform to regex: {pattern}")),
                    ),
                }
            }
            Check::MinMax { min, max } => {
                let shown = |b: &Option<f64>| b.map_or_else(|| "None".to_owned(), python_float);
                if value.is_null() {
                    return Verdict::Fail(self.message(|| {
                        format!(
                            "Value does not conform to mix/max validation: min {}, max {}",
                            shown(min),
                            shown(max)
                        )
                    }));
                }
                let Some(n) = number_of(field, value) else {
                    return Verdict::Fail(format!(
                        "Unable to validate against min/max rule {} because the field value is not numeric.",
                        self.name
                    ));
                };
                // Nautobot forgives a difference within `math.isclose` (Decimal against float).
                if let Some(m) = min.filter(|m| n < *m && !is_close(n, *m)) {
                    return Verdict::Fail(self.message(|| {
                        format!("Value is less than minimum value: {}", python_float(m))
                    }));
                }
                if let Some(m) = max.filter(|m| n > *m && !is_close(n, *m)) {
                    return Verdict::Fail(self.message(|| {
                        format!("Value is more than maximum value: {}", python_float(m))
                    }));
                }
                Verdict::Pass
            }
            Check::Required => match value.is_null() || text_of(field, value).is_empty() {
                true => Verdict::Fail(self.message(|| "This field cannot be blank.".into())),
                false => Verdict::Pass,
            },
            // Python's truth: no value, "", 0 and False are never counted.
            Check::Unique { max_instances } => match value {
                Datum::Null | Datum::Bool(false) | Datum::Int(0) => Verdict::Pass,
                Datum::Text(t) if t.is_empty() => Verdict::Pass,
                _ => Verdict::Count { limit: *max_instances },
            },
        }
    }

    /// The message of a unique rule whose value `limit` other objects hold already.
    pub fn unique_failure(&self, limit: i64) -> String {
        let plural = if limit == 1 { "" } else { "s" };
        self.message(|| format!("There can only be {limit} instance{plural} with this value."))
    }
}

/// `math.isclose` with its default relative tolerance.
fn is_close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// A value as the text a pattern sees (Python's `str` of it; no value is "").
fn text_of(field: &Field, value: &Datum) -> String {
    match value {
        Datum::Null => String::new(),
        Datum::Text(t) => t.to_string(),
        Datum::Int(i) => i.to_string(),
        Datum::Bool(b) => if *b { "True" } else { "False" }.into(),
        Datum::Uuid(u) => u.to_string(),
        Datum::Date(d) => d.to_string(),
        Datum::DateTime(d) => d.to_rfc3339(),
        Datum::Bytes(b) => match (&field.kind, ip_from_bytes(b)) {
            (FieldKind::IpBytes, Some(ip)) => ip.to_string(),
            _ => String::new(),
        },
        Datum::Json(j) => j.to_string(),
    }
}

/// A value as a number, for the field kinds Django holds as numbers.
fn number_of(field: &Field, value: &Datum) -> Option<f64> {
    match (&field.kind, value) {
        (FieldKind::Integer { .. }, Datum::Int(i)) => Some(*i as f64),
        (FieldKind::Decimal { .. } | FieldKind::Float, Datum::Text(t)) => t.parse().ok(),
        _ => None,
    }
}

/// Every enabled rule, read once a write.
#[derive(Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    pub fn new(rules: Vec<Rule>) -> Rules {
        Rules { rules }
    }

    /// The rules of a model, in the order Nautobot runs them (regex, min/max, required,
    /// unique; by name within a kind).
    pub fn of<'a>(&'a self, model: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.model == model)
    }
}

/// Which field kinds a kind of rule refuses, besides the key, the timestamps and fields whose
/// name starts with `_` (Django's `editable=False`).
fn supports(label: &str, kind: &FieldKind) -> bool {
    let related = matches!(
        kind,
        FieldKind::ForeignKey { .. }
            | FieldKind::ManyToMany { .. }
            | FieldKind::ContentType
            | FieldKind::ContentTypes
    );
    match label {
        REGEX => {
            !related && !matches!(kind, FieldKind::Boolean | FieldKind::Json | FieldKind::Uuid)
        }
        MIN_MAX => {
            matches!(kind, FieldKind::Integer { .. } | FieldKind::Decimal { .. } | FieldKind::Float)
        }
        _ => !related,
    }
}

/// Spec: the `clean()` of each rule model (`nautobot/data_validation/models.py`): the content
/// type must be a model with the feature, the field one of its fields of a kind the rule can
/// check, and the rule's own values must hold together.
pub fn rule_rules(catalogue: &Catalogue, label: &str, rule: &Row) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let has = Features::by_name(FEATURE).unwrap_or(|_| false);
    let content_type = rule.text(fields::CONTENT_TYPE).unwrap_or_default();
    let Some(model) = catalogue.by_label(content_type).filter(|m| has(&m.features)) else {
        errors.push(ValidationError::new(
            fields::CONTENT_TYPE,
            "Select a valid choice. That choice is not one of the available choices.",
        ));
        return errors;
    };
    if label == REGEX && rule.get(fields::CONTEXT_PROCESSING) != &Datum::Bool(true) {
        let pattern = rule.text(fields::REGULAR_EXPRESSION).unwrap_or_default();
        if compile(pattern).is_err() {
            errors.push(ValidationError::new(
                "__all__",
                format!("{pattern} is not a valid regular expression."),
            ));
        }
    }
    if label == REGEX && rule.get(fields::CONTEXT_PROCESSING) == &Datum::Bool(true) {
        let pattern = rule.text(fields::REGULAR_EXPRESSION).unwrap_or_default();
        if let Err(e) =
            crate::template::environment().add_template_owned("regex", pattern.to_owned())
        {
            errors.push(ValidationError::new(
                fields::REGULAR_EXPRESSION,
                crate::template::error_text(&e),
            ));
        }
    }
    errors.extend(field_rules(model, label, rule));
    if label == MIN_MAX {
        let float = |name| rule.text(name).and_then(|t| t.parse::<f64>().ok());
        match (float(fields::MIN), float(fields::MAX)) {
            (None, None) => errors.push(ValidationError::new(
                "__all__",
                "At least a minimum or maximum value must be specified.",
            )),
            (Some(min), Some(max)) if min > max => {
                errors.push(ValidationError::new(
                    fields::MIN,
                    "Minimum value cannot be more than the maximum value.",
                ));
                errors.push(ValidationError::new(
                    fields::MAX,
                    "Maximum value cannot be less than the minimum value.",
                ));
            }
            _ => {}
        }
    }
    errors
}

/// The rule's field: one of the model's, of a kind this rule can check.
fn field_rules(model: &Model, label: &str, rule: &Row) -> Vec<ValidationError> {
    let name = rule.text(fields::FIELD).unwrap_or_default();
    let error = |m: String| vec![ValidationError::new(fields::FIELD, m)];
    let Some((_, field)) = model.field(name) else {
        // Django's `get_fields()` has the reverse relations too: they are no field to check.
        if model.relation(name).is_some() {
            return error(unsupported(label));
        }
        return error(format!("Not a valid field for content type {}.", model.label));
    };
    if name.starts_with('_')
        || is_automatic(field)
        || field.secret.is_some()
        || !supports(label, &field.kind)
    {
        return error(unsupported(label));
    }
    match label {
        // Django's `null=False` fields are required already, unless `blank` lets "" through.
        REQUIRED if !field.null && !field.blank => {
            error("This field is already required by default.".into())
        }
        UNIQUE if field.unique => error("This field is already unique by default.".into()),
        _ => Vec::new(),
    }
}

fn unsupported(label: &str) -> String {
    let what = match label {
        REGEX => "regular expression",
        MIN_MAX => "min/max",
        REQUIRED => "required",
        _ => "uniqueness",
    };
    format!("This field's type does not support {what} validation.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(pairs: &[(&str, Datum)]) -> Row {
        let mut row = Row::new();
        for (k, v) in pairs {
            row.set(*k, v.clone());
        }
        row
    }

    fn text(s: &str) -> Datum {
        Datum::text(s)
    }

    fn catalogue() -> Catalogue {
        Catalogue::core().expect("core catalogue")
    }

    fn field<'c>(catalogue: &'c Catalogue, model: &str, name: &str) -> &'c Field {
        catalogue.by_label(model).and_then(|m| m.field(name)).map(|(_, f)| f).expect("field")
    }

    fn rule(label: &str, extra: &[(&str, Datum)]) -> Rule {
        let mut pairs = vec![
            (fields::NAME, text("r1")),
            (fields::CONTENT_TYPE, text("dcim.device")),
            (fields::FIELD, text("name")),
            (fields::ENABLED, Datum::Bool(true)),
            (fields::ERROR_MESSAGE, text("")),
        ];
        pairs.extend(extra.iter().cloned());
        Rule::from_row(label, &row(&pairs)).expect("a rule")
    }

    #[test]
    fn rules_judge_values_with_nautobots_words() {
        // Spec: nautobot/data_validation/custom_validators.py BaseValidator.clean.
        let c = catalogue();
        let name = field(&c, "dcim.device", "name");
        let position = field(&c, "dcim.device", "position");
        let obj = || json!({"name": "ams01-leaf1"});
        let regex = rule(REGEX, &[(fields::REGULAR_EXPRESSION, text("[a-z]{3}[0-9]{2}-"))]);
        let min_max = rule(MIN_MAX, &[(fields::MIN, text("1.0")), (fields::MAX, text("42.0"))]);
        let only_min = rule(MIN_MAX, &[(fields::MIN, text("10.0"))]);
        let required = rule(REQUIRED, &[]);
        let unique = rule(UNIQUE, &[(fields::MAX_INSTANCES, Datum::Int(2))]);
        let own = rule(
            REGEX,
            &[
                (fields::REGULAR_EXPRESSION, text("^x")),
                (fields::ERROR_MESSAGE, text("Names start with x")),
            ],
        );
        let cases: Vec<(&Rule, &Field, Datum, Verdict)> = vec![
            (&regex, name, text("ams01-leaf1"), Verdict::Pass),
            // `re.match` anchors at the start only.
            (&regex, name, text("xams01-leaf1"), Verdict::Fail("Value does not conform to regex: [a-z]{3}[0-9]{2}-".into())),
            (&regex, name, Datum::Null, Verdict::Fail("Value does not conform to regex: [a-z]{3}[0-9]{2}-".into())),
            (&own, name, text("leaf"), Verdict::Fail("Names start with x".into())),
            (&min_max, position, Datum::Int(42), Verdict::Pass),
            (&min_max, position, Datum::Int(43), Verdict::Fail("Value is more than maximum value: 42.0".into())),
            (&min_max, position, Datum::Int(0), Verdict::Fail("Value is less than minimum value: 1.0".into())),
            (&min_max, position, Datum::Null, Verdict::Fail("Value does not conform to mix/max validation: min 1.0, max 42.0".into())),
            (&only_min, position, Datum::Null, Verdict::Fail("Value does not conform to mix/max validation: min 10.0, max None".into())),
            (&min_max, name, text("x"), Verdict::Fail("Unable to validate against min/max rule r1 because the field value is not numeric.".into())),
            (&required, name, text(""), Verdict::Fail("This field cannot be blank.".into())),
            (&required, position, Datum::Null, Verdict::Fail("This field cannot be blank.".into())),
            (&required, position, Datum::Int(0), Verdict::Pass),
            (&unique, name, text("a"), Verdict::Count { limit: 2 }),
            (&unique, name, text(""), Verdict::Pass),
            (&unique, position, Datum::Int(0), Verdict::Pass),
        ];
        for (rule, field, value, want) in cases {
            assert_eq!(rule.check(field, &value, obj), want, "{} {value:?}", field.name);
        }
        assert_eq!(unique.unique_failure(2), "There can only be 2 instances with this value.");
        assert_eq!(
            rule(UNIQUE, &[]).unique_failure(1),
            "There can only be 1 instance with this value."
        );
        assert!(Rule::from_row(REQUIRED, &row(&[(fields::ENABLED, Datum::Bool(false))])).is_none());
    }

    #[test]
    fn a_pattern_can_be_a_template_over_the_object() {
        let c = catalogue();
        let name = field(&c, "dcim.device", "name");
        let rule = rule(
            REGEX,
            &[
                (fields::REGULAR_EXPRESSION, text("{{ obj.serial }}-")),
                (fields::CONTEXT_PROCESSING, Datum::Bool(true)),
            ],
        );
        assert_eq!(rule.check(name, &text("SN1-leaf"), || json!({"serial": "SN1"})), Verdict::Pass);
        assert!(matches!(
            rule.check(name, &text("SN2-leaf"), || json!({"serial": "SN1"})),
            Verdict::Fail(_)
        ));
        // A rendered pattern that does not compile fails the object with Nautobot's words.
        let bad = super::tests::rule(
            REGEX,
            &[
                (fields::REGULAR_EXPRESSION, text("{{ obj.serial }}(")),
                (fields::CONTEXT_PROCESSING, Datum::Bool(true)),
            ],
        );
        let Verdict::Fail(m) = bad.check(name, &text("x"), || json!({"serial": "a"})) else {
            panic!()
        };
        assert!(m.starts_with("There was an error rendering the regular expression in the data validation rule 'r1'."), "{m}");
    }

    #[test]
    fn rules_are_checked_when_written() {
        // Spec: the clean() of each rule model in nautobot/data_validation/models.py.
        let c = catalogue();
        let base = |ct: &str, f: &str| {
            vec![
                (fields::NAME, text("r")),
                (fields::CONTENT_TYPE, text(ct)),
                (fields::FIELD, text(f)),
            ]
        };
        let with = |mut v: Vec<(&'static str, Datum)>, extra: &[(&'static str, Datum)]| {
            v.extend(extra.iter().cloned());
            row(&v)
        };
        type Case<'a> = (&'a str, Row, Vec<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            (
                REGEX,
                with(base("dcim.device", "name"), &[(fields::REGULAR_EXPRESSION, text("^a"))]),
                vec![],
            ),
            (
                REGEX,
                with(base("dcim.device", "name"), &[(fields::REGULAR_EXPRESSION, text("(?=a)"))]),
                vec![("__all__", "(?=a) is not a valid regular expression.")],
            ),
            (
                REGEX,
                with(base("dcim.device", "nope"), &[(fields::REGULAR_EXPRESSION, text("a"))]),
                vec![("field", "Not a valid field for content type dcim.device.")],
            ),
            (
                REGEX,
                with(base("dcim.device", "location"), &[(fields::REGULAR_EXPRESSION, text("a"))]),
                vec![(
                    "field",
                    "This field's type does not support regular expression validation.",
                )],
            ),
            (
                REGEX,
                with(base("dcim.device", "interfaces"), &[(fields::REGULAR_EXPRESSION, text("a"))]),
                vec![(
                    "field",
                    "This field's type does not support regular expression validation.",
                )],
            ),
            (
                REGEX,
                with(base("dcim.device", "created"), &[(fields::REGULAR_EXPRESSION, text("a"))]),
                vec![(
                    "field",
                    "This field's type does not support regular expression validation.",
                )],
            ),
            (
                REGEX,
                with(
                    base("extras.objectchange", "request_id"),
                    &[(fields::REGULAR_EXPRESSION, text("a"))],
                ),
                vec![(
                    "content_type",
                    "Select a valid choice. That choice is not one of the available choices.",
                )],
            ),
            (MIN_MAX, with(base("dcim.device", "position"), &[(fields::MIN, text("1.0"))]), vec![]),
            (
                MIN_MAX,
                base_row(&base("dcim.device", "position")),
                vec![("__all__", "At least a minimum or maximum value must be specified.")],
            ),
            (
                MIN_MAX,
                with(
                    base("dcim.device", "position"),
                    &[(fields::MIN, text("5.0")), (fields::MAX, text("1.0"))],
                ),
                vec![
                    ("min", "Minimum value cannot be more than the maximum value."),
                    ("max", "Maximum value cannot be less than the minimum value."),
                ],
            ),
            (
                MIN_MAX,
                with(base("dcim.device", "name"), &[(fields::MIN, text("1.0"))]),
                vec![("field", "This field's type does not support min/max validation.")],
            ),
            (REQUIRED, base_row(&base("dcim.device", "serial")), vec![]),
            (REQUIRED, base_row(&base("dcim.device", "position")), vec![]),
            (
                REQUIRED,
                base_row(&base("dcim.device", "status")),
                vec![("field", "This field's type does not support required validation.")],
            ),
            (
                REQUIRED,
                base_row(&base("dcim.location", "name")),
                vec![("field", "This field is already required by default.")],
            ),
            (UNIQUE, base_row(&base("dcim.device", "serial")), vec![]),
            (UNIQUE, base_row(&base("dcim.location", "name")), vec![]),
            (
                UNIQUE,
                base_row(&base("dcim.device", "asset_tag")),
                vec![("field", "This field is already unique by default.")],
            ),
        ];
        for (label, rule, want) in cases {
            let got: Vec<(String, String)> =
                rule_rules(&c, label, &rule).into_iter().map(|e| (e.field, e.message)).collect();
            let want: Vec<(String, String)> =
                want.into_iter().map(|(f, m)| (f.to_owned(), m.to_owned())).collect();
            assert_eq!(got, want, "{label} {rule:?}");
        }
    }

    fn base_row(pairs: &[(&'static str, Datum)]) -> Row {
        row(pairs)
    }
}
