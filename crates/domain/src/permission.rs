//! Object permissions as Nautobot has them: what a user may do to which rows of each model.
//!
//! A permission names object types, actions (`view`, `add`, `change`, `delete`) and
//! constraints: Django queryset lookups (`{"location__name": "Site A"}`), or a list of such
//! dicts OR'ed, with `$user` standing for the user. [`Permissions`] is one user's: for each
//! model and action a [`Grant`], the rows as filter arguments that persistence compiles into the
//! statement that reads or checks them. Deny by default: no permission, no rows.
//!
//! Spec: nautobot/users/models.py (`ObjectPermission`), nautobot/core/authentication.py
//! (`ObjectPermissionBackend`), nautobot/core/utils/permissions.py (`qs_filter_from_constraints`).

use std::collections::HashMap;

use serde_json::Value as Json;
use uuid::Uuid;

use crate::catalogue::{Filter, FilterKind, Lookup, ModelId, RelationShape};
use crate::request::{ArgTarget, ArgValue, FilterArg};
use crate::{Catalogue, FieldKind, Model};

/// The model of object permissions, and of the accounts they are given to.
pub const PERMISSION: &str = "users.objectpermission";
pub const ACCOUNT: &str = "users.user";

/// Which fields of the permission and account models hold what [`Permissions`] is made of.
pub struct PermissionFields {
    pub name: &'static str,
    pub enabled: &'static str,
    pub actions: &'static str,
    pub constraints: &'static str,
    pub object_types: &'static str,
    /// The permission's users and groups (many-to-many).
    pub users: &'static str,
    pub groups: &'static str,
    /// An account's groups (many-to-many).
    pub account_groups: &'static str,
}

pub const FIELDS: PermissionFields = PermissionFields {
    name: "name",
    enabled: "enabled",
    actions: "actions",
    constraints: "constraints",
    object_types: "object_types",
    users: "users",
    groups: "groups",
    account_groups: "groups",
};

/// The labels of the models a user's permissions and credentials are made of: permissions,
/// accounts, the groups the permissions name, and the rows accounts own (tokens). A change to
/// any of them may change what a user sees.
pub fn account_labels(catalogue: &Catalogue) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(permission), Some(account)) =
        (catalogue.by_label(PERMISSION), catalogue.by_label(ACCOUNT))
    else {
        return out;
    };
    out.push(permission.label.clone());
    out.push(account.label.clone());
    if let Some(FieldKind::ManyToMany { to, .. }) =
        permission.field(FIELDS.groups).map(|(_, f)| &f.kind)
    {
        out.push(catalogue.model(*to).label.clone());
    }
    for model in catalogue.models() {
        let owned = model.owner.map(|i| &model.fields[i].kind);
        if matches!(owned, Some(FieldKind::ForeignKey { to, .. }) if *to == account.id) {
            out.push(model.label.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What a permission allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    View,
    Add,
    Change,
    Delete,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::View, Action::Add, Action::Change, Action::Delete];

    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Add => "add",
            Action::Change => "change",
            Action::Delete => "delete",
        }
    }
}

/// The rows of one model an action may touch.
#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    /// None: the action is refused, and a read finds nothing.
    Denied,
    /// Every row.
    All,
    /// The rows matching any of the groups, each group a conjunction of lookups (never empty).
    Rows(Vec<Vec<FilterArg>>),
}

impl Grant {
    /// The union of two grants (permissions OR together).
    fn or(self, other: Grant) -> Grant {
        match (self, other) {
            (Grant::All, _) | (_, Grant::All) => Grant::All,
            (Grant::Denied, g) | (g, Grant::Denied) => g,
            (Grant::Rows(mut a), Grant::Rows(b)) => {
                a.extend(b);
                Grant::Rows(a)
            }
        }
    }
}

/// A stored object permission, as read for a user.
#[derive(Debug, Clone)]
pub struct StoredPermission {
    pub name: String,
    /// A JSON list of action names.
    pub actions: Json,
    /// Null, a dict, or a list of dicts.
    pub constraints: Json,
    /// Model labels (`dcim.device`).
    pub object_types: Vec<String>,
}

/// What one user may do: a superuser everything; anyone else what its enabled permissions (its
/// own and its groups') grant, and everything on the rows it owns ([`Model::owner`]).
#[derive(Debug, Clone)]
pub struct Permissions {
    user: Uuid,
    superuser: bool,
    grants: HashMap<(ModelId, Action), Grant>,
}

impl Permissions {
    /// The same for the same grants (in one process): readers with the same fingerprint and
    /// user see the same rows.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut grants: Vec<String> = self
            .grants
            .iter()
            .map(|((model, action), grant)| format!("{model}:{action:?}:{grant:?}"))
            .collect();
        grants.sort_unstable();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.superuser, grants).hash(&mut hasher);
        hasher.finish()
    }
}

static ALL: Grant = Grant::All;
static DENIED: Grant = Grant::Denied;

impl Permissions {
    /// Everything, for a superuser (and for the command line, which acts as one).
    pub fn superuser(user: Uuid) -> Permissions {
        Permissions { user, superuser: true, grants: HashMap::new() }
    }

    /// A user's permissions from its stored ones. A permission whose constraints do not resolve
    /// against a model grants nothing on that model (refused when written; this is the guard
    /// for rows written before a model changed), and is reported with the reason.
    pub fn from_stored(
        catalogue: &Catalogue,
        user: Uuid,
        stored: &[StoredPermission],
    ) -> (Permissions, Vec<String>) {
        let mut grants: HashMap<(ModelId, Action), Grant> = HashMap::new();
        let mut problems = Vec::new();
        for p in stored {
            let actions: Vec<Action> = match &p.actions {
                Json::Array(items) => {
                    items.iter().filter_map(|a| a.as_str().and_then(Action::parse)).collect()
                }
                _ => Vec::new(),
            };
            for label in &p.object_types {
                let Some(model) = catalogue.by_label(label) else {
                    problems.push(format!("{}: unknown object type {label}", p.name));
                    continue;
                };
                let grant = match constraint_groups(catalogue, model, &p.constraints, user) {
                    Ok(groups) => groups,
                    Err(e) => {
                        problems.push(format!("{}: {label}: {e}", p.name));
                        continue;
                    }
                };
                for &action in &actions {
                    let slot = grants.entry((model.id, action)).or_insert(Grant::Denied);
                    *slot = std::mem::replace(slot, Grant::Denied).or(grant.clone());
                }
            }
        }
        // Every user owns its own rows (a token's user): all actions on them.
        for model in catalogue.models() {
            let Some(owner) = model.owner else { continue };
            let own = owned_by(model, owner, user);
            for action in Action::ALL {
                let slot = grants.entry((model.id, action)).or_insert(Grant::Denied);
                *slot = std::mem::replace(slot, Grant::Denied).or(own.clone());
            }
        }
        (Permissions { user, superuser: false, grants }, problems)
    }

    pub fn user(&self) -> Uuid {
        self.user
    }

    pub fn is_superuser(&self) -> bool {
        self.superuser
    }

    /// The rows of `model` the user may act on.
    pub fn grant(&self, model: ModelId, action: Action) -> &Grant {
        if self.superuser {
            return &ALL;
        }
        self.grants.get(&(model, action)).unwrap_or(&DENIED)
    }
}

/// A permission as written: its actions a list of names, and its constraints resolved on every
/// object type it names, as Nautobot's form checks them (`Invalid filter for dcim.device: …`).
pub fn check(catalogue: &Catalogue, object: &crate::row::Row) -> Vec<crate::ValidationError> {
    use crate::ValidationError;
    let fields = &FIELDS;
    let mut errors = Vec::new();
    match object.json(fields.actions) {
        Some(Json::Array(items)) if !items.is_empty() && items.iter().all(Json::is_string) => {}
        _ => errors.push(ValidationError::new(
            fields.actions,
            "Enter a list of actions: view, add, change, delete.",
        )),
    }
    let constraints = object.json(fields.constraints).cloned().unwrap_or(Json::Null);
    let labels: Vec<&str> = match object.json(fields.object_types) {
        Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    };
    for label in labels {
        let Some(model) = catalogue.by_label(label) else { continue };
        if let Err(e) = constraint_groups(catalogue, model, &constraints, Uuid::nil()) {
            errors.push(ValidationError::new(
                fields.constraints,
                format!("Invalid filter for {label}: {e}"),
            ));
        }
    }
    errors
}

/// The rows a `user` field equal to the user names.
fn owned_by(model: &Model, owner: usize, user: Uuid) -> Grant {
    let field = &model.fields[owner];
    let filter = Filter {
        name: field.name.clone(),
        paths: vec![Vec::new()],
        landing: model.id,
        field: Some(owner),
        kind: FilterKind::Uuid,
        value_type: "String".into(),
        single: false,
        strict: false,
        lookups: vec![Lookup::Exact],
    };
    Grant::Rows(vec![vec![FilterArg {
        argument: field.name.clone(),
        target: ArgTarget::Filter(filter),
        lookup: Lookup::Exact,
        values: vec![ArgValue::Str(user.to_string())],
    }]])
}

/// The most lookups one permission's constraints may hold, and values one lookup may list:
/// constraints are written by administrators, and each becomes part of every statement.
pub const MAX_CONSTRAINT_TERMS: usize = 64;
pub const MAX_CONSTRAINT_VALUES: usize = 1_000;
/// The longest text a constraint compares, as a filter value's (`MAX_FILTER_TEXT`).
pub const MAX_CONSTRAINT_TEXT: usize = 4_096;

/// A permission's constraints on one model as a grant: null, `{}` or a list holding `{}` is every
/// row; a dict is one group of lookups; a list of dicts, any of them. `$user` is the user's id.
pub fn constraint_groups(
    catalogue: &Catalogue,
    model: &Model,
    constraints: &Json,
    user: Uuid,
) -> Result<Grant, String> {
    let dicts: Vec<&serde_json::Map<String, Json>> = match constraints {
        Json::Null => return Ok(Grant::All),
        Json::Object(map) => vec![map],
        Json::Array(items) => {
            let mut dicts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Json::Object(map) => dicts.push(map),
                    _ => return Err("each set of constraints must be a JSON object".into()),
                }
            }
            dicts
        }
        _ => return Err("constraints must be a JSON object or a list of objects".into()),
    };
    if dicts.is_empty() {
        return Ok(Grant::All);
    }
    let terms: usize = dicts.iter().map(|d| d.len()).sum();
    if terms > MAX_CONSTRAINT_TERMS {
        return Err(format!("at most {MAX_CONSTRAINT_TERMS} lookups are allowed, not {terms}"));
    }
    let mut groups = Vec::with_capacity(dicts.len());
    for dict in dicts {
        if dict.is_empty() {
            return Ok(Grant::All);
        }
        let mut group = Vec::with_capacity(dict.len());
        for (key, value) in dict {
            group.push(lookup_arg(catalogue, model, key, value, user)?);
        }
        groups.push(group);
    }
    Ok(Grant::Rows(groups))
}

/// One Django lookup (`location__name__in: [...]`) as a filter argument on `model`.
fn lookup_arg(
    catalogue: &Catalogue,
    model: &Model,
    key: &str,
    value: &Json,
    user: Uuid,
) -> Result<FilterArg, String> {
    let parts: Vec<&str> = key.split("__").collect();
    let mut at = model;
    let mut hops = Vec::new();
    let mut compared: Option<usize> = None;
    let mut i = 0;
    while i < parts.len() {
        let part = parts[i];
        let last = i + 1 == parts.len();
        if compared.is_some() {
            // A field was reached: what follows is its lookup, the last part.
            break;
        }
        let name = if part == "pk" { "id" } else { part };
        if let Some((idx, field)) = at.field(name) {
            match &field.kind {
                FieldKind::ForeignKey { .. } | FieldKind::ManyToMany { .. }
                    if !last && DjangoLookup::parse(parts[i + 1]).is_none() =>
                {
                    let Some(rel) = relation_of(at, name, idx) else {
                        return Err(unknown(at, part));
                    };
                    hops.push(rel);
                    at = catalogue.model(at.relations[rel].target);
                }
                FieldKind::ManyToMany { .. } => {
                    // `tags: <id>`: the related rows' ids.
                    let Some(rel) = relation_of(at, name, idx) else {
                        return Err(unknown(at, part));
                    };
                    hops.push(rel);
                    at = catalogue.model(at.relations[rel].target);
                    compared = at.field("id").map(|(i, _)| i);
                }
                _ => compared = Some(idx),
            }
        } else if let Some(fk) = part.strip_suffix("_id").and_then(|f| at.field(f)) {
            match fk.1.kind {
                FieldKind::ForeignKey { .. } => compared = Some(fk.0),
                _ => return Err(unknown(at, part)),
            }
        } else if let Some((rel, _)) = at.relation(part).filter(|(_, r)| r.alternatives.is_empty())
        {
            hops.push(rel);
            at = catalogue.model(at.relations[rel].target);
            let next_is_lookup = last || DjangoLookup::parse(parts[i + 1]).is_some();
            if next_is_lookup {
                compared = at.field("id").map(|(i, _)| i);
            }
        } else {
            return Err(unknown(at, part));
        }
        i += 1;
    }
    let Some(field_idx) = compared else {
        return Err(format!("{key}: a lookup must end on a field"));
    };
    let lookup = match &parts[i..] {
        [] => DjangoLookup::Exact,
        [one] => {
            DjangoLookup::parse(one).ok_or_else(|| format!("{key}: unsupported lookup {one}"))?
        }
        _ => return Err(format!("{key}: unsupported lookup {}", parts[i..].join("__"))),
    };
    let field = &at.fields[field_idx];
    if field.column.is_none() {
        return Err(format!("{key}: {} is not a stored field", field.name));
    }
    let kind = match &field.kind {
        FieldKind::Uuid | FieldKind::ForeignKey { .. } => FilterKind::Uuid,
        FieldKind::Integer { .. } => FilterKind::Number,
        FieldKind::Decimal { .. } | FieldKind::Float => FilterKind::Decimal,
        FieldKind::Boolean => FilterKind::Boolean,
        FieldKind::DateTime => FilterKind::DateTime,
        FieldKind::IpBytes | FieldKind::ManyToMany { .. } => {
            return Err(format!("{key}: {} cannot be compared in a constraint", field.name))
        }
        _ => FilterKind::Text,
    };
    let values = constraint_values(key, value, lookup, user)?;
    check_values(key, kind, lookup, &values)?;
    let (lookup, values) = lookup.as_filter(values);
    let kind = if lookup == Lookup::IsNull { FilterKind::IsNull } else { kind };
    if kind == FilterKind::Boolean && !matches!(values.as_slice(), [ArgValue::Bool(_)]) {
        return Err(format!("{key}: expects true or false"));
    }
    let filter = Filter {
        name: key.to_owned(),
        paths: vec![hops],
        landing: at.id,
        field: Some(field_idx),
        kind,
        value_type: "String".into(),
        single: false,
        strict: false,
        lookups: vec![lookup],
    };
    Ok(FilterArg { argument: key.to_owned(), target: ArgTarget::Filter(filter), lookup, values })
}

/// Values the column could not be compared with are refused when the permission is written,
/// in Django's words.
fn check_values(
    key: &str,
    kind: FilterKind,
    lookup: DjangoLookup,
    values: &[ArgValue],
) -> Result<(), String> {
    for v in values {
        if matches!(v, ArgValue::Str(s) if s.len() > MAX_CONSTRAINT_TEXT) {
            return Err(format!(
                "{key}: a value may hold at most {MAX_CONSTRAINT_TEXT} characters"
            ));
        }
        let fits = match (lookup, kind, v) {
            (DjangoLookup::IsNull, _, ArgValue::Bool(_)) => true,
            (DjangoLookup::IsNull, _, _) => return Err(format!("{key}: expects true or false")),
            (DjangoLookup::Regex | DjangoLookup::IRegex, _, ArgValue::Str(s)) => {
                regex::Regex::new(s).is_ok()
            }
            (_, FilterKind::Uuid, ArgValue::Str(s)) => {
                matches!(lookup, DjangoLookup::Exact | DjangoLookup::In)
                    && Uuid::parse_str(s.trim()).is_ok()
            }
            (_, FilterKind::Uuid, _) => false,
            (_, FilterKind::Number, ArgValue::Str(s)) => s.trim().parse::<i64>().is_ok(),
            (_, FilterKind::Decimal, ArgValue::Str(s)) => {
                s.trim().parse::<f64>().is_ok_and(f64::is_finite)
            }
            (_, FilterKind::Decimal, ArgValue::Float(f)) => f.is_finite(),
            (_, FilterKind::Number | FilterKind::Decimal, ArgValue::Bool(_)) => false,
            _ => true,
        };
        if !fits {
            return Err(format!("{key}: {} is not a valid value", v.text()));
        }
    }
    Ok(())
}

/// The relation that follows field `idx` of `model` (its foreign key or many-to-many list).
fn relation_of(model: &Model, name: &str, idx: usize) -> Option<usize> {
    model
        .relations
        .iter()
        .position(|r| matches!(&r.shape, RelationShape::Forward { field, .. } if *field == idx))
        .or_else(|| model.relation(name).map(|(i, _)| i))
}

/// Django's words for a name that is no field of the model.
fn unknown(model: &Model, part: &str) -> String {
    format!("Cannot resolve keyword '{part}' into field of {}.", model.label)
}

/// The values of one lookup: a list only for `in`; `$user` is the user's id.
fn constraint_values(
    key: &str,
    value: &Json,
    lookup: DjangoLookup,
    user: Uuid,
) -> Result<Vec<ArgValue>, String> {
    let one = |v: &Json| -> Result<ArgValue, String> {
        Ok(match v {
            Json::String(s) if s == "$user" => ArgValue::Str(user.to_string()),
            Json::String(s) => ArgValue::Str(s.clone()),
            Json::Bool(b) => ArgValue::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => ArgValue::Int(i),
                None => ArgValue::Float(n.as_f64().unwrap_or_default()),
            },
            _ => return Err(format!("{key}: a value must be a string, a number or a boolean")),
        })
    };
    match (lookup, value) {
        (DjangoLookup::In, Json::Array(items)) => {
            if items.len() > MAX_CONSTRAINT_VALUES {
                return Err(format!("{key}: at most {MAX_CONSTRAINT_VALUES} values"));
            }
            items.iter().map(one).collect()
        }
        (DjangoLookup::In, _) => Err(format!("{key}: `in` takes a list")),
        (_, Json::Array(_)) => Err(format!("{key}: a list is only taken by `__in`")),
        (_, v) => Ok(vec![one(v)?]),
    }
}

/// The Django lookups a constraint may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DjangoLookup {
    Exact,
    IExact,
    In,
    Contains,
    IContains,
    StartsWith,
    IStartsWith,
    EndsWith,
    IEndsWith,
    Regex,
    IRegex,
    Gt,
    Gte,
    Lt,
    Lte,
    IsNull,
}

impl DjangoLookup {
    fn parse(text: &str) -> Option<DjangoLookup> {
        Some(match text {
            "exact" => DjangoLookup::Exact,
            "iexact" => DjangoLookup::IExact,
            "in" => DjangoLookup::In,
            "contains" => DjangoLookup::Contains,
            "icontains" => DjangoLookup::IContains,
            "startswith" => DjangoLookup::StartsWith,
            "istartswith" => DjangoLookup::IStartsWith,
            "endswith" => DjangoLookup::EndsWith,
            "iendswith" => DjangoLookup::IEndsWith,
            "regex" => DjangoLookup::Regex,
            "iregex" => DjangoLookup::IRegex,
            "gt" => DjangoLookup::Gt,
            "gte" => DjangoLookup::Gte,
            "lt" => DjangoLookup::Lt,
            "lte" => DjangoLookup::Lte,
            "isnull" => DjangoLookup::IsNull,
            _ => return None,
        })
    }

    /// The filter lookup that compares as this one, and the values it compares: the
    /// case-sensitive pattern lookups become regular expressions of the escaped text.
    fn as_filter(self, values: Vec<ArgValue>) -> (Lookup, Vec<ArgValue>) {
        let pattern = |f: fn(&str) -> String| -> Vec<ArgValue> {
            values.iter().map(|v| ArgValue::Str(f(&regex_escape(&v.text())))).collect()
        };
        match self {
            DjangoLookup::Exact | DjangoLookup::In => (Lookup::Exact, values),
            DjangoLookup::IExact => (Lookup::Ie, values),
            DjangoLookup::IContains => (Lookup::Ic, values),
            DjangoLookup::IStartsWith => (Lookup::Isw, values),
            DjangoLookup::IEndsWith => (Lookup::Iew, values),
            DjangoLookup::Regex => (Lookup::Re, values),
            DjangoLookup::IRegex => (Lookup::Ire, values),
            DjangoLookup::Contains => (Lookup::Re, pattern(|t| t.to_owned())),
            DjangoLookup::StartsWith => (Lookup::Re, pattern(|t| format!("^{t}"))),
            DjangoLookup::EndsWith => (Lookup::Re, pattern(|t| format!("{t}$"))),
            DjangoLookup::Gt => (Lookup::Gt, values),
            DjangoLookup::Gte => (Lookup::Gte, values),
            DjangoLookup::Lt => (Lookup::Lt, values),
            DjangoLookup::Lte => (Lookup::Lte, values),
            DjangoLookup::IsNull => (Lookup::IsNull, values),
        }
    }
}

/// `text` as a regular expression matching itself: every character but letters, digits, `_`
/// and spaces escaped (a form POSIX, ICU and Rust's regex engines all read alike).
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if !(c.is_alphanumeric() || c == '_' || c == ' ') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalogue() -> Catalogue {
        Catalogue::core().expect("core catalogue")
    }

    #[test]
    fn account_labels_are_what_permissions_are_made_of() {
        let labels = account_labels(&catalogue());
        assert_eq!(labels, ["auth.group", "users.objectpermission", "users.token", "users.user"]);
    }

    #[test]
    fn fingerprints_follow_the_grants() {
        let catalogue = catalogue();
        let user = Uuid::new_v4();
        let stored = |constraints: Json| StoredPermission {
            name: "p".into(),
            actions: json!(["view"]),
            constraints,
            object_types: vec!["dcim.device".into(), "dcim.location".into()],
        };
        let read = |p: Vec<StoredPermission>| Permissions::from_stored(&catalogue, user, &p).0;
        let one = read(vec![stored(json!({"name": "a"}))]);
        // The same grants read again (their map in another order): the same fingerprint.
        assert_eq!(one.fingerprint(), read(vec![stored(json!({"name": "a"}))]).fingerprint());
        assert_ne!(one.fingerprint(), read(vec![stored(json!({"name": "b"}))]).fingerprint());
        assert_ne!(one.fingerprint(), read(vec![stored(Json::Null)]).fingerprint());
    }

    /// Each group as `path:field lookup values` lines, for table-driven checks.
    fn shape(catalogue: &Catalogue, grant: &Grant) -> Vec<Vec<String>> {
        let Grant::Rows(groups) = grant else { return vec![vec![format!("{grant:?}")]] };
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|arg| {
                        let ArgTarget::Filter(f) = &arg.target else { return String::new() };
                        let landing = catalogue.model(f.landing);
                        let field = f.field.map(|i| landing.fields[i].name.as_str());
                        let values: Vec<String> = arg.values.iter().map(ArgValue::text).collect();
                        format!(
                            "{}.{} {:?} {:?} {}",
                            landing.label,
                            field.unwrap_or("?"),
                            arg.lookup,
                            f.kind,
                            values.join(",")
                        )
                    })
                    .collect()
            })
            .collect()
    }

    /// Spec: nautobot/core/utils/permissions.py (`qs_filter_from_constraints`): a dict is
    /// AND'ed lookups, a list of dicts is OR'ed, `$user` is the user.
    #[test]
    fn constraints_become_filter_groups() {
        let c = catalogue();
        let device = c.by_label("dcim.device").expect("device");
        let user = Uuid::nil();
        let cases: Vec<(Json, Vec<Vec<&str>>)> = vec![
            (json!({"name": "edge-01"}), vec![vec!["dcim.device.name Exact Text edge-01"]]),
            (
                json!({"location__name__in": ["A", "B"]}),
                vec![vec!["dcim.location.name Exact Text A,B"]],
            ),
            (
                json!([{"tenant__name": "T"}, {"name__istartswith": "lab-"}]),
                vec![
                    vec!["tenancy.tenant.name Exact Text T"],
                    vec!["dcim.device.name Isw Text lab-"],
                ],
            ),
            (
                json!({"location": "00000000-0000-0000-0000-000000000001"}),
                vec![vec!["dcim.device.location Exact Uuid 00000000-0000-0000-0000-000000000001"]],
            ),
            (json!({"tenant__isnull": true}), vec![vec!["dcim.device.tenant IsNull IsNull true"]]),
            (json!({"name__startswith": "a.b"}), vec![vec!["dcim.device.name Re Text ^a\\.b"]]),
            (json!({"tags__name": "gold"}), vec![vec!["extras.tag.name Exact Text gold"]]),
            (
                json!({"interfaces__name": "eth0"}),
                vec![vec!["dcim.interface.name Exact Text eth0"]],
            ),
            (json!({"vc_position__gte": 2}), vec![vec!["dcim.device.vc_position Gte Number 2"]]),
        ];
        for (constraints, want) in cases {
            let grant = constraint_groups(&c, device, &constraints, user).expect("resolves");
            assert_eq!(shape(&c, &grant), want, "{constraints}");
        }
        for every in [json!(null), json!({}), json!([]), json!([{"name": "x"}, {}])] {
            assert_eq!(constraint_groups(&c, device, &every, user), Ok(Grant::All), "{every}");
        }
    }

    #[test]
    fn bad_constraints_are_refused_with_the_reason() {
        let c = catalogue();
        let device = c.by_label("dcim.device").expect("device");
        let cases = [
            (json!({"nmae": "x"}), "Cannot resolve keyword 'nmae'"),
            (json!({"name__like": "x"}), "unsupported lookup like"),
            (json!({"name__in": "x"}), "takes a list"),
            (json!({"name": ["x"]}), "only taken by `__in`"),
            (json!({"location": {"name": "x"}}), "must be a string"),
            (json!("name"), "JSON object"),
            (json!([1]), "JSON object"),
            (json!({"location__parent__nope": "x"}), "'nope'"),
        ];
        for (constraints, want) in cases {
            let error = constraint_groups(&c, device, &constraints, Uuid::nil())
                .expect_err(&constraints.to_string());
            assert!(error.contains(want), "{constraints}: {error}");
        }
        let many: serde_json::Map<String, Json> =
            (0..65).map(|i| (format!("name__in{i}"), json!("x"))).collect();
        let error = constraint_groups(&c, device, &Json::Object(many), Uuid::nil());
        assert!(error.is_err_and(|e| e.contains("at most 64")));
    }

    #[test]
    fn user_stands_for_the_user_and_owners_see_their_rows() {
        let c = catalogue();
        let user = Uuid::from_u128(7);
        let stored = vec![StoredPermission {
            name: "own changes".into(),
            actions: json!(["view"]),
            constraints: json!({"user": "$user"}),
            object_types: vec!["extras.objectchange".into(), "dcim.nope".into()],
        }];
        let (perms, problems) = Permissions::from_stored(&c, user, &stored);
        assert_eq!(problems, vec!["own changes: unknown object type dcim.nope".to_string()]);
        let changes = c.by_label("extras.objectchange").expect("objectchange").id;
        let shown = shape(&c, perms.grant(changes, Action::View));
        assert_eq!(shown, vec![vec![format!("extras.objectchange.user Exact Uuid {user}")]]);
        assert_eq!(perms.grant(changes, Action::Delete), &Grant::Denied);
        let device = c.by_label("dcim.device").expect("device").id;
        assert_eq!(perms.grant(device, Action::View), &Grant::Denied);
        // Tokens are owned by their user: every action, on the user's own.
        let token = c.by_label("users.token").expect("token").id;
        for action in Action::ALL {
            let shown = shape(&c, perms.grant(token, action));
            assert_eq!(shown, vec![vec![format!("users.token.user Exact Uuid {user}")]]);
        }
        assert_eq!(Permissions::superuser(user).grant(device, Action::Delete), &Grant::All);
    }

    #[test]
    fn grants_of_several_permissions_add_up() {
        let c = catalogue();
        let perm = |actions: Json, constraints: Json| StoredPermission {
            name: "p".into(),
            actions,
            constraints,
            object_types: vec!["dcim.device".into()],
        };
        let stored = vec![
            perm(json!(["view", "change"]), json!({"name": "a"})),
            perm(json!(["view"]), json!({"name": "b"})),
            perm(json!(["delete", "bogus"]), json!(null)),
            perm(json!(["add"]), json!({"nope": 1})),
        ];
        let (perms, problems) = Permissions::from_stored(&c, Uuid::nil(), &stored);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let device = c.by_label("dcim.device").expect("device").id;
        let view = shape(&c, perms.grant(device, Action::View));
        assert_eq!(
            view,
            vec![
                vec!["dcim.device.name Exact Text a".to_string()],
                vec!["dcim.device.name Exact Text b".to_string()]
            ]
        );
        assert_eq!(shape(&c, perms.grant(device, Action::Change)).len(), 1);
        assert_eq!(perms.grant(device, Action::Delete), &Grant::All);
        // The permission whose constraints do not resolve grants nothing.
        assert_eq!(perms.grant(device, Action::Add), &Grant::Denied);
    }
}
