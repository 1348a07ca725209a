//! Computed fields (Nautobot's `extras.computedfield`): a Jinja2 template per content type,
//! rendered over each object and served as its `cpf_<key>` field.
//!
//! A definition is compiled once per schema build ([`Template::compile`]): the template is
//! parsed, and the attributes it reads from `obj` (`obj.location.parent.name`,
//! `obj.interfaces.count()`, a loop's `i.status`: `crate::template_paths`) are resolved against the
//! catalogue into a request tree ([`Template::needs`]) that the planner reads as levels of the
//! list, so a list of objects runs no statement per object. Each object is then handed to the
//! template as Nautobot hands a model instance: fields by name, references as objects (printed
//! as their name), `<reference>_id`, lists as managers (`.all()`, `.count()`), `cf`.
//!
//! Spec: nautobot/extras/models/customfields.py (`ComputedField.render`: a failed render gives
//! `fallback_value`; `clean`: the template must parse, the key must be GraphQL-safe).

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr};
/// A value a template sees.
pub use minijinja::Value;

use crate::catalogue::{Features, FieldKind, Model};
use crate::request::{ObjectTemplate, Select, Selected, SelectedKind};
use crate::row::Row;
use crate::value::{graphql_safe, Datum};
use crate::{Catalogue, ValidationError};

/// The label of the computed-field model.
pub use crate::hooks::COMPUTED_FIELD as MODEL;

/// The fields of a definition the store reads, in the order [`ComputedField`] is made from them.
pub const FIELDS: [&str; 6] =
    ["key", "label", "description", "content_type", "template", "fallback_value"];

/// The order definitions are read in (Nautobot's `Meta.ordering`).
pub const ORDER: [&str; 2] = ["weight", "key"];

/// What the GraphQL field of a computed field is named: `cpf_<key>` (Nautobot's
/// `GRAPHQL_COMPUTED_FIELD_PREFIX`).
pub const PREFIX: &str = "cpf_";

/// The feature a content type needs to have computed fields (Nautobot's
/// `FeatureQuery("custom_fields")`).
pub const FEATURE: &str = "custom_fields";

/// The longest template taken (Nautobot's `TextField(max_length=500)`, as its API enforces).
pub const MAX_TEMPLATE: usize = 500;

/// The most one object's value may weigh; a render that writes more gives the fallback.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// One object's budget of work (minijinja's fuel): a runaway template gives the fallback in
/// milliseconds, once per object.
const FUEL: u64 = 100_000;

/// The attribute an object of a template's tree is printed as (Python's `__str__`).
pub const DISPLAY: &str = "__str__";

/// The names the custom field data of an object is read under (Nautobot's `cf` property and
/// the field itself).
const CUSTOM_DATA: [&str; 2] = ["cf", "_custom_field_data"];

/// A computed field as defined, in the stored form the schema is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputedField {
    pub key: String,
    pub label: String,
    pub description: String,
    /// The content type it applies to (`dcim.device`).
    pub content_type: String,
    pub template: String,
    pub fallback_value: String,
}

impl ComputedField {
    /// The GraphQL field name, or `None` when the key cannot be one (Nautobot leaves such a
    /// field out of its schema, with a warning).
    pub fn field_name(&self) -> Option<String> {
        graphql_safe(&self.key).then(|| format!("{PREFIX}{}", self.key))
    }
}

/// Whether a model can have computed fields.
pub fn applies_to(model: &Model) -> bool {
    Features::by_name(FEATURE).is_some_and(|has| has(&model.features))
}

/// A compiled computed field: its template, its fallback and what it reads of an object.
pub struct Template {
    pub key: String,
    env: minijinja::Environment<'static>,
    /// Whether the template parsed; one that did not always gives the fallback.
    parsed: bool,
    fallback: String,
    needs: Select,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template").field("key", &self.key).finish_non_exhaustive()
    }
}

const NAME: &str = "cpf";

/// The variable a computed field's template sees the object as.
const ROOT: &str = "obj";

impl Template {
    /// Compiles a definition for `model` (its content type).
    pub fn compile(catalogue: &Catalogue, model: &Model, field: &ComputedField) -> Template {
        let mut env = crate::template::environment_with_fuel(FUEL);
        env.set_formatter(python_formatter);
        let parsed = env.add_template_owned(NAME, field.template.clone()).is_ok();
        let needs = needs(catalogue, model, ROOT, &field.template);
        Template {
            key: field.key.clone(),
            env,
            parsed,
            fallback: field.fallback_value.clone(),
            needs,
        }
    }
}

impl ObjectTemplate for Template {
    fn needs(&self) -> &Select {
        &self.needs
    }

    /// The template rendered over `obj`, or the fallback when it fails (Nautobot logs and
    /// returns `fallback_value`), runs out of work or writes more than [`MAX_OUTPUT`].
    fn render(&self, obj: Value) -> String {
        if !self.parsed {
            return self.fallback.clone();
        }
        let rendered =
            self.env.get_template(NAME).and_then(|t| t.render(minijinja::context! { obj => obj }));
        match rendered {
            Ok(text) if text.len() <= MAX_OUTPUT => text,
            Ok(_) => self.fallback.clone(),
            Err(_) => self.fallback.clone(),
        }
    }
}

/// What `source` reads of the objects of `model` it sees as `root` (an object, or a list of
/// them), as a request tree: the attributes it names through references and lists (loops and
/// assignments followed, `crate::template_paths`), each object with its display.
pub fn needs(catalogue: &Catalogue, model: &Model, root: &str, source: &str) -> Select {
    let mut node = Node::default();
    for path in crate::template_paths::paths(source, &[root]).unwrap_or_default() {
        node.add(path.iter().skip(1).map(String::as_str));
    }
    tree(catalogue, model, &node)
}

/// Values printed as Python prints them: `None`, `True`, `False`.
pub fn python_formatter(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    let word = match value.kind() {
        minijinja::value::ValueKind::None => Some("None"),
        minijinja::value::ValueKind::Bool if value.is_true() => Some("True"),
        minijinja::value::ValueKind::Bool => Some("False"),
        _ => None,
    };
    match word {
        Some(word) => out.write_str(word).map_err(minijinja::Error::from),
        None => minijinja::escape_formatter(out, state, value),
    }
}

/// The attribute paths a template reads below `obj`.
#[derive(Debug, Default)]
struct Node {
    /// The object itself is used (printed, indexed, passed to a filter): all its own fields.
    whole: bool,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn add<'a>(&mut self, mut path: impl Iterator<Item = &'a str>) {
        match path.next() {
            None => self.whole = true,
            Some(attr) => self.children.entry(attr.to_owned()).or_default().add(path),
        }
    }
}

/// What a template reads of an object of `model`: its display, its own fields when it is used
/// whole, and each attribute it names, through references and lists (a loop's items are read
/// as far as the loop names their attributes).
fn tree(catalogue: &Catalogue, model: &Model, node: &Node) -> Select {
    let mut chosen: BTreeMap<String, SelectedKind> = BTreeMap::new();
    chosen.insert(DISPLAY.to_owned(), display(model));
    if node.whole || node.children.is_empty() {
        own(model, &mut chosen);
    }
    for (attr, child) in &node.children {
        if let Some(kind) = attribute(catalogue, model, attr, child) {
            chosen.insert(attr.clone(), kind);
        }
    }
    let mut select = Select::new(model.id);
    select.fields = chosen.into_iter().map(|(key, kind)| Selected { key, kind }).collect();
    select
}

/// What `obj.<attr>` is on a model, as a selected field; `None` for what the model does not
/// have (the template sees it undefined).
fn attribute(
    catalogue: &Catalogue,
    model: &Model,
    attr: &str,
    node: &Node,
) -> Option<SelectedKind> {
    if attr == "pk" {
        return model.field("id").map(|(i, _)| SelectedKind::Column(i));
    }
    if CUSTOM_DATA.contains(&attr) && model.features.custom_fields {
        return Some(SelectedKind::CustomFieldData);
    }
    if let Some((index, rel)) = model.relation(attr).filter(|(_, r)| r.alternatives.is_empty()) {
        let child = tree(catalogue, catalogue.model(rel.target), node);
        return Some(SelectedKind::Relation { relation: index, child: Box::new(child) });
    }
    if let Some((index, field)) = model.field(attr) {
        let readable = field.column.is_some() && field.secret.is_none();
        let reference = matches!(field.kind, FieldKind::ForeignKey { .. });
        return (readable && !reference).then_some(SelectedKind::Column(index));
    }
    if let Some(reference) = attr.strip_suffix("_id") {
        if let Some((index, field)) = model.field(reference) {
            if matches!(field.kind, FieldKind::ForeignKey { .. }) && field.column.is_some() {
                return Some(SelectedKind::Column(index));
            }
        }
    }
    let computed = model.computed.iter().position(|c| c.name == attr && c.kind.is_address())?;
    Some(SelectedKind::Computed(computed))
}

/// An object's own fields: stored values by name, references as `<name>_id`, its address or
/// network, its custom field data. Secrets are never read.
fn own(model: &Model, chosen: &mut BTreeMap<String, SelectedKind>) {
    for (index, field) in model.fields.iter().enumerate() {
        if field.column.is_none() || field.secret.is_some() {
            continue;
        }
        let name = match field.kind {
            FieldKind::ForeignKey { .. } => format!("{}_id", field.name),
            _ => field.name.clone(),
        };
        chosen.entry(name).or_insert(SelectedKind::Column(index));
    }
    if let Some((index, _)) = model.field("id") {
        chosen.entry("pk".into()).or_insert(SelectedKind::Column(index));
    }
    for (index, computed) in model.computed.iter().enumerate() {
        if computed.kind.is_address() {
            chosen.entry(computed.name.clone()).or_insert(SelectedKind::Computed(index));
        }
    }
    if model.features.custom_fields {
        for name in CUSTOM_DATA {
            chosen.entry(name.into()).or_insert(SelectedKind::CustomFieldData);
        }
    }
}

/// What an object is printed as (its `__str__`): as the change log names it (`Model::repr`):
/// its address or network, else its natural-key field, else its id. Decided once per model.
fn display(model: &Model) -> SelectedKind {
    if model.computed.first().is_some_and(|c| c.kind.is_address()) {
        return SelectedKind::Computed(0);
    }
    let readable = |i: &usize| {
        let field = &model.fields[*i];
        field.column.is_some() && field.secret.is_none()
    };
    match model.lookup_field().filter(readable).or_else(|| model.field("id").map(|(i, _)| i)) {
        Some(index) => SelectedKind::Column(index),
        None => SelectedKind::Column(0),
    }
}

/// A stored value as a template sees it: text, numbers, booleans, `None`; UUIDs, addresses,
/// dates and times as the text Python prints for them.
pub fn value(datum: &Datum) -> Value {
    match datum {
        Datum::Null => Value::from(()),
        Datum::Bool(b) => Value::from(*b),
        Datum::Int(i) => Value::from(*i),
        Datum::Text(t) => Value::from(&**t),
        Datum::Uuid(u) => Value::from(u.to_string()),
        Datum::Bytes(b) => match crate::value::ip_from_bytes(b) {
            Some(ip) => Value::from(ip.to_string()),
            None => Value::from(()),
        },
        Datum::Json(j) => Value::from_serialize(&**j),
        Datum::DateTime(d) if d.timestamp_subsec_micros() == 0 => {
            Value::from(d.format("%Y-%m-%d %H:%M:%S+00:00").to_string())
        }
        Datum::DateTime(d) => Value::from(d.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()),
        Datum::Date(d) => Value::from(d.to_string()),
    }
}

/// An object: its attributes by name, printed as its [`DISPLAY`] attribute.
pub fn object(attrs: BTreeMap<String, Value>) -> Value {
    Value::from_object(Instance { attrs })
}

/// A list relation as Django's related manager (or a queryset): `.all()`, `.count()`,
/// `.first()`, `.last()`, `.exists()`, iterable. Printed, it writes nothing (print `.all()`).
pub fn manager(items: Vec<Value>) -> Value {
    Value::from_object(Manager { items })
}

#[derive(Debug)]
struct Instance {
    attrs: BTreeMap<String, Value>,
}

impl Object for Instance {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.attrs.get(key.as_str()?).cloned()
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.attrs.get(DISPLAY) {
            Some(v) if v.is_none() => f.write_str("None"),
            Some(v) => write!(f, "{v}"),
            None => Ok(()),
        }
    }
}

#[derive(Debug)]
struct Manager {
    items: Vec<Value>,
}

/// A manager is iterable too, as a queryset is (`{% for d in queryset %}`).
impl Object for Manager {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.items.get(key.as_usize()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Seq(self.items.len())
    }

    fn call_method(
        self: &Arc<Self>,
        _: &minijinja::State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, minijinja::Error> {
        if !args.is_empty() {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::TooManyArguments,
                format!("{method}() takes no arguments here"),
            ));
        }
        Ok(match method {
            "all" => Value::from(self.items.clone()),
            "count" => Value::from(self.items.len()),
            "exists" => Value::from(!self.items.is_empty()),
            "first" => self.items.first().cloned().unwrap_or(Value::from(())),
            "last" => self.items.last().cloned().unwrap_or(Value::from(())),
            _ => return Err(minijinja::Error::from(minijinja::ErrorKind::UnknownMethod)),
        })
    }

    fn render(self: &Arc<Self>, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

/// Spec: `ComputedField.clean` and its API's field lengths: the content type must have custom
/// fields, the key must be GraphQL-safe, the template at most 500 characters and valid Jinja2.
pub fn clean(catalogue: &Catalogue, _: &str, row: &Row) -> Vec<ValidationError> {
    let [key, _, _, content_type, template, _] = FIELDS;
    let mut errors = Vec::new();
    let label = row.text(content_type).unwrap_or_default();
    if !catalogue.by_label(label).is_some_and(applies_to) {
        errors.push(ValidationError::new(
            content_type,
            "Select a valid choice. That choice is not one of the available choices.",
        ));
    }
    if !graphql_safe(row.text(key).unwrap_or_default()) {
        errors.push(ValidationError::new(
            key,
            "This key is not Python/GraphQL safe. Please do not start the key with a digit and do not use hyphens or whitespace",
        ));
    }
    let code = row.text(template).unwrap_or_default();
    if code.chars().count() > MAX_TEMPLATE {
        errors.push(ValidationError::new(
            template,
            format!("Ensure this field has no more than {MAX_TEMPLATE} characters."),
        ));
    } else if let Err(e) = crate::template::environment().add_template_owned(NAME, code.to_owned())
    {
        let detail = e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string());
        errors.push(ValidationError::new(
            template,
            format!("Template syntax error on line {}: {detail}", e.line().unwrap_or(1)),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(template: &str) -> ComputedField {
        ComputedField {
            key: "k".into(),
            label: "K".into(),
            description: String::new(),
            content_type: "dcim.device".into(),
            template: template.into(),
            fallback_value: "fallback".into(),
        }
    }

    fn compiled(template: &str) -> (Catalogue, Template) {
        let c = Catalogue::core().unwrap();
        let model = c.by_label("dcim.device").unwrap();
        let t = Template::compile(&c, model, &definition(template));
        (c, t)
    }

    /// The selected keys of a tree, nested ones as `rel.key`.
    fn keys(select: &Select, prefix: &str, out: &mut Vec<String>) {
        for f in &select.fields {
            let key = format!("{prefix}{}", f.key);
            if let SelectedKind::Relation { child, .. } = &f.kind {
                keys(child, &format!("{key}."), out);
            }
            out.push(key);
        }
    }

    fn needs(template: &str) -> Vec<String> {
        let (_, t) = compiled(template);
        let mut out = Vec::new();
        keys(t.needs(), "", &mut out);
        out
    }

    #[test]
    fn needs_follow_the_paths_a_template_names() {
        // (template, keys that must be read, keys that must not)
        let table: &[(&str, &[&str], &[&str])] = &[
            ("{{ obj.name }}", &["__str__", "name"], &["serial", "location"]),
            (
                "{{ obj.location.parent.name }}",
                &["location", "location.parent", "location.parent.name", "location.__str__"],
                &["serial", "location.description"],
            ),
            // Printed whole: the object's own fields, its references as ids.
            (
                "{{ obj.location }}",
                &["location.name", "location.description", "location.parent_id"],
                &["location.parent"],
            ),
            ("{{ obj }}", &["name", "serial", "location_id", "cf", "pk"], &["location"]),
            // A loop's items are read as far as the loop names their attributes.
            (
                "{% for i in obj.interfaces.all() %}{{ i.name }} {{ i.status.name }}{% endfor %}",
                &["interfaces", "interfaces.name", "interfaces.status.name"],
                &["interfaces.mtu", "interfaces.device"],
            ),
            // Printed whole, a list's items are read with their own fields.
            ("{{ obj.interfaces.all() | join(',') }}", &["interfaces.name", "interfaces.mtu"], &[]),
            ("{{ obj.tags.count() }}", &["tags", "tags.__str__"], &["tags.description"]),
            ("{{ obj.cf.owner }} {{ obj.location_id }}", &["cf", "location_id"], &["location"]),
            // What the model does not have is not read (the template sees it undefined).
            ("{{ obj.nothing.at_all }} {{ other.name }}", &["__str__"], &["nothing", "name"]),
        ];
        for (template, present, absent) in table {
            let got = needs(template);
            for key in *present {
                assert!(got.iter().any(|g| g == key), "{template}: {key} not read in {got:?}");
            }
            for key in *absent {
                assert!(!got.iter().any(|g| g == key), "{template}: {key} read in {got:?}");
            }
        }
    }

    fn obj(attrs: &[(&str, Value)]) -> Value {
        object(attrs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
    }

    #[test]
    fn renders_as_python_would_print() {
        let c = Catalogue::core().unwrap();
        let location = obj(&[(DISPLAY, Value::from("HQ")), ("name", Value::from("HQ"))]);
        let eth = |n: &str| obj(&[(DISPLAY, Value::from(n)), ("name", Value::from(n))]);
        let device = obj(&[
            (DISPLAY, Value::from("r1")),
            ("name", Value::from("r1")),
            ("serial", Value::from("")),
            ("tenant", Value::from(())),
            ("location", location),
            ("vc_position", Value::from(())),
            ("enabled", Value::from(true)),
            ("interfaces", manager(vec![eth("ge-0"), eth("ge-1")])),
        ]);
        // Spec: Jinja2 over a Django instance (str() of objects, None, True).
        let table: &[(&str, &str)] = &[
            ("{{ obj.name }}-{{ obj.location }}", "r1-HQ"),
            ("{{ obj.location.name | lower }}", "hq"),
            ("{{ obj.tenant }}|{{ obj.vc_position }}|{{ obj.enabled }}", "None|None|True"),
            ("{{ obj.interfaces.count() }}", "2"),
            ("{{ obj.interfaces.all() | join(',') }}", "ge-0,ge-1"),
            ("{% for i in obj.interfaces.all() %}[{{ i.name }}]{% endfor %}", "[ge-0][ge-1]"),
            ("{{ obj.interfaces.first().name }}", "ge-0"),
            ("{{ obj.interfaces }}", ""),
            ("{{ obj.serial or 'none' }}", "none"),
            ("{{ obj.missing }}", ""),
            // Failures give the fallback: an unknown method, a runaway loop, a huge answer.
            ("{{ obj.interfaces.filter(name='x') }}", "fallback"),
            (
                "{% for i in range(100000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}",
                "fallback",
            ),
            ("{{ 'x' * 100000 }}", "fallback"),
            ("{{ obj.name.nope() }}", "fallback"),
            ("{% if %}", "fallback"),
        ];
        for (template, want) in table {
            let t =
                Template::compile(&c, c.by_label("dcim.device").unwrap(), &definition(template));
            assert_eq!(t.render(device.clone()), *want, "{template}");
        }
    }

    #[test]
    fn values_print_as_python() {
        use chrono::TimeZone;
        let at = chrono::Utc.with_ymd_and_hms(2024, 5, 1, 10, 11, 12).unwrap();
        let table: &[(Datum, &str)] = &[
            (Datum::Null, "None"),
            (Datum::Int(7), "7"),
            (Datum::Text("a".into()), "a"),
            (Datum::DateTime(at), "2024-05-01 10:11:12+00:00"),
            (
                Datum::DateTime(at + chrono::Duration::microseconds(5)),
                "2024-05-01 10:11:12.000005+00:00",
            ),
            (Datum::Bytes(vec![10, 0, 0, 1].into()), "10.0.0.1"),
        ];
        for (datum, want) in table {
            assert_eq!(value(datum).to_string(), *want, "{datum:?}");
        }
    }

    #[test]
    fn clean_says_what_nautobot_says() {
        let c = Catalogue::core().unwrap();
        let row = |content_type: &str, key: &str, template: &str| {
            let mut r = Row::new();
            r.set("content_type", Datum::Text(content_type.into()));
            r.set("key", Datum::Text(key.into()));
            r.set("template", Datum::Text(template.into()));
            r
        };
        let long = "x".repeat(501);
        // (content type, key, template, field of the error, start of its message)
        let table: &[(&str, &str, &str, &str, &str)] = &[
            ("dcim.device", "ok_key", "{{ obj.name }}", "", ""),
            ("dcim.device", "1bad", "x", "key", "This key is not Python/GraphQL safe."),
            ("dcim.device", "bad-key", "x", "key", "This key is not Python/GraphQL safe."),
            ("dcim.device", "k", "{% if %}", "template", "Template syntax error on line 1: "),
            ("dcim.device", "k", "a\n{{ x }", "template", "Template syntax error on line 2: "),
            (
                "dcim.device",
                "k",
                &long,
                "template",
                "Ensure this field has no more than 500 characters.",
            ),
            ("extras.objectchange", "k", "x", "content_type", "Select a valid choice."),
            ("nope.nope", "k", "x", "content_type", "Select a valid choice."),
        ];
        for (ct, key, template, field, message) in table {
            let errors = clean(&c, MODEL, &row(ct, key, template));
            if field.is_empty() {
                assert!(errors.is_empty(), "{key}: {errors:?}");
                continue;
            }
            assert_eq!(errors.len(), 1, "{key} {template}: {errors:?}");
            assert_eq!(errors[0].field, *field);
            assert!(errors[0].message.starts_with(message), "{}", errors[0].message);
        }
    }
}
