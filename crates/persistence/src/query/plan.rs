//! The physical plan of a read: a request tree ([`Select`]) as the columns each level reads and
//! where each selected field comes from in its rows.
//!
//! One [`Plan`] per level (a nested object or list); [`Store::execute`] reads each with one
//! statement, and the answer is written from the plan's [`Out`]s.

use ferrobot_domain::catalogue::{ComputedKind, FieldKind, Relation};
use ferrobot_domain::hooks::Usage;
use ferrobot_domain::request::{FilterArg, Page, Select, SelectedKind};
use ferrobot_domain::{Catalogue, Model};

use super::{col_type, ColType};

/// One level's reads and outputs.
#[derive(Debug)]
pub struct Plan {
    pub model: ferrobot_domain::ModelId,
    /// What each row gives the answer, in response order.
    pub outs: Vec<Out>,
    /// The columns read, `id` first.
    pub columns: Vec<(String, ColType)>,
    pub filters: Vec<FilterArg>,
    pub page: Page,
    pub children: Vec<(Relation, Plan)>,
    /// Whether a prefix usage field is selected: the level then reads what lies under its rows.
    pub usage: bool,
    /// Whether an elevation is selected: the level then reads its model's usage lists (the
    /// racks' devices and reservations).
    pub lists: bool,
    /// Whether `config_context` is selected: how the level's objects reach their values along
    /// the contexts' dimensions (the level then reads the contexts and those values).
    pub config_context: Option<Vec<super::contexts::DimensionPlan>>,
    /// A cursor page's ordering columns, in order: the end cursor is read from them.
    pub cursor: Vec<usize>,
    /// Where the level's field is in the document (see [`Select::at`]).
    pub at: (usize, usize),
}

/// One field of the answer, in response order. Each `key` is the field's JSON prefix, escaped
/// once at plan time (`"name":`), since the writer puts it before every row's value.
#[derive(Debug)]
pub enum Out {
    Column {
        key: String,
        col: usize,
        render: Render,
    },
    /// `address` and `prefix`: the stored bytes, a slash, the length.
    Computed {
        key: String,
        cols: [usize; 2],
    },
    Typename {
        key: String,
        name: String,
    },
    CustomFieldData {
        key: String,
        col: usize,
    },
    CustomField {
        key: String,
        col: usize,
        name: String,
    },
    /// `link`: the column holding the key the child level is indexed by (the foreign key for a
    /// forward relation, the row's id otherwise).
    Relation {
        key: String,
        child: usize,
        list: bool,
        link: usize,
    },
    /// A usage field of a prefix, from the prefix's network, length and type columns and what
    /// lies under it.
    Usage {
        key: String,
        usage: Usage,
        cols: [usize; 3],
        limit: usize,
        /// The selected subfields of an object-valued usage: (JSON key prefix, field name).
        select: Vec<(String, String)>,
    },
    /// A rack's elevation: its height and numbering columns, the face asked for, the selected
    /// fields of each unit.
    Elevation {
        key: String,
        cols: [usize; 2],
        face: ferrobot_domain::rack::Face,
        select: Vec<(String, String)>,
    },
    /// The object's config context, its local data in column `local`.
    ConfigContext {
        key: String,
        local: usize,
    },
    /// The label of the first reference set in the first row of child level `child` (its
    /// columns in the order of `labels`), found by the key in column `link`.
    TypeOf {
        key: String,
        child: usize,
        link: usize,
        labels: Vec<String>,
    },
    /// `prefix`, the row's id, a slash: the object's REST URL.
    Url {
        key: String,
        prefix: String,
    },
    /// The secret issued for the row's id, else null.
    Issued {
        key: String,
        keys: std::sync::Arc<std::collections::HashMap<uuid::Uuid, String>>,
    },
    /// A content type field as objects: `list` when the column holds a JSON list of labels.
    ContentType {
        key: String,
        col: usize,
        list: bool,
        select: Vec<(String, String)>,
    },
    /// Text a template renders over the row (a computed field): `outs` give the template's
    /// attributes, one per field of its tree (`ObjectTemplate::needs`), in that order, from the
    /// level's columns and children.
    Rendered {
        key: String,
        template: std::sync::Arc<dyn ferrobot_domain::request::ObjectTemplate>,
        outs: Vec<Out>,
    },
    /// One object of several alternatives: the first of `children` with a row for its link
    /// (the column holding the key that child level is indexed by: the row's id, or a foreign
    /// key for `primary_ip`'s alternatives).
    Union {
        key: String,
        children: Vec<(usize, usize)>,
    },
}

/// How a column's value is written.
#[derive(Debug, Clone, Copy)]
pub enum Render {
    Plain,
    /// A JSON column: its text as it is stored.
    Json,
    Enum,
    Ip,
    Decimal,
    /// A float stored as its text (`10.0`): written as a JSON number.
    Number,
    /// Text where the empty string stands for no value (a MAC address).
    EmptyIsNull,
    /// A normalized network driver, written as the libraries' names for it (a JSON object).
    DriverMappings,
}

/// `"key":` with the key escaped as JSON.
pub fn json_key(key: &str) -> String {
    let mut out = serde_json::to_string(key).unwrap_or_else(|_| String::from("\"\""));
    out.push(':');
    out
}

impl Plan {
    /// What one selected field gives each row, its columns and child levels added to the plan.
    fn out(
        &mut self,
        catalogue: &Catalogue,
        model: &Model,
        key: String,
        kind: &SelectedKind,
    ) -> Out {
        let plan = self;
        match kind {
            SelectedKind::Typename(name) => Out::Typename { key, name: name.clone() },
            SelectedKind::CustomFieldData => {
                let col = plan.column("_custom_field_data", ColType::Json);
                Out::CustomFieldData { key, col }
            }
            SelectedKind::CustomField(name) => {
                let col = plan.column("_custom_field_data", ColType::Json);
                Out::CustomField { key, col, name: name.clone() }
            }
            SelectedKind::Computed(index)
                if model.computed[*index].kind == ComputedKind::DriverMappings =>
            {
                let computed = &model.computed[*index];
                let f = &model.fields[computed.from[0]];
                let col = plan.column(f.column.as_deref().unwrap_or_default(), ColType::Text);
                Out::Column { key, col, render: Render::DriverMappings }
            }
            SelectedKind::Computed(index) => {
                let computed = &model.computed[*index];
                let a = &model.fields[computed.from[0]];
                let b = &model.fields[computed.from[1]];
                let ca = plan.column(a.column.as_deref().unwrap_or_default(), ColType::Bytes);
                let cb = plan.column(b.column.as_deref().unwrap_or_default(), col_type(&b.kind));
                Out::Computed { key, cols: [ca, cb] }
            }
            SelectedKind::Column(index) => {
                let f = &model.fields[*index];
                let render = match &f.kind {
                    FieldKind::Choice { .. } => Render::Enum,
                    FieldKind::Integer { choices, .. } if !choices.is_empty() => Render::Enum,
                    FieldKind::MacAddress => Render::EmptyIsNull,
                    FieldKind::IpBytes => Render::Ip,
                    FieldKind::Decimal { .. } => Render::Decimal,
                    FieldKind::Float => Render::Number,
                    FieldKind::Json | FieldKind::ContentTypes => Render::Json,
                    _ => Render::Plain,
                };
                let ty = match render {
                    Render::Json => ColType::JsonText,
                    _ => col_type(&f.kind),
                };
                let col = plan.column(f.column.as_deref().unwrap_or_default(), ty);
                Out::Column { key, col, render }
            }
            SelectedKind::Usage { usage, limit, select } => {
                // The network, length and type fields the computation takes.
                let cols = plan.usage_columns(model);
                plan.usage = true;
                let select = select.iter().map(|(k, n)| (json_key(k), n.clone())).collect();
                Out::Usage { key, usage: *usage, cols, limit: *limit, select }
            }
            SelectedKind::ConfigContext => {
                let local = model.column_of(ferrobot_domain::config_context::LOCAL);
                let local = plan.column(&local, ColType::JsonText);
                if plan.config_context.is_none() {
                    let subject = model.behaviour.config_context;
                    let mut columns = Vec::new();
                    let dims = subject.map(|subject| {
                        super::contexts::plan_dimensions(catalogue, model, subject, |name| {
                            columns.push(name.to_owned());
                            0
                        })
                    });
                    // The catalogue was checked at start-up (`plan_dimensions` there).
                    if let Some(Ok(mut dims)) = dims {
                        let mut cols = columns.iter().map(|c| plan.column(c, ColType::Uuid));
                        for dim in &mut dims {
                            if let super::contexts::FirstStep::Column(col) = &mut dim.first {
                                *col = cols.next().unwrap_or(0);
                            }
                        }
                        plan.config_context = Some(dims);
                    } else {
                        plan.config_context = Some(Vec::new());
                    }
                }
                Out::ConfigContext { key, local }
            }
            SelectedKind::Elevation { face, select } => {
                // The height and numbering fields.
                let cols = plan.usage_columns(model);
                plan.lists = true;
                let select = select.iter().map(|(k, n)| (json_key(k), n.clone())).collect();
                Out::Elevation { key, cols, face: *face, select }
            }
            SelectedKind::Url { prefix } => Out::Url { key, prefix: prefix.clone() },
            SelectedKind::Rendered(template) => {
                let needs = template.needs();
                let outs = needs
                    .fields
                    .iter()
                    .map(|f| plan.out(catalogue, model, json_key(&f.key), &f.kind))
                    .collect();
                Out::Rendered { key, template: template.clone(), outs }
            }
            SelectedKind::Issued(keys) => Out::Issued { key, keys: keys.clone() },
            SelectedKind::TypeOf { relation, child, labels } => {
                let rel = &model.relations[*relation];
                let link = plan.column("id", ColType::Uuid);
                plan.children.push((rel.clone(), Plan::new(catalogue, child)));
                let child = plan.children.len() - 1;
                Out::TypeOf { key, child, link, labels: labels.clone() }
            }
            SelectedKind::ContentType { field, select } => {
                let f = &model.fields[*field];
                let list = f.kind == FieldKind::ContentTypes;
                let ty = if list { ColType::JsonText } else { col_type(&f.kind) };
                let col = plan.column(f.column.as_deref().unwrap_or_default(), ty);
                let select = select.iter().map(|(k, n)| (json_key(k), n.clone())).collect();
                Out::ContentType { key, col, list, select }
            }
            SelectedKind::Union { relation, members } => {
                // One child a member; the first with a row answers.
                let rel = &model.relations[*relation];
                let mut children = Vec::with_capacity(members.len());
                for ((target, shape), member) in rel.alternatives.iter().zip(members) {
                    let link = match shape {
                        ferrobot_domain::catalogue::RelationShape::Forward {
                            column,
                            content_type,
                            ..
                        } => {
                            // A generic reference names its model in a column of its own.
                            if let Some((type_column, _)) = content_type {
                                plan.column(type_column, ColType::Text);
                            }
                            plan.column(column, ColType::Uuid)
                        }
                        _ => plan.column("id", ColType::Uuid),
                    };
                    let relation = Relation {
                        target: *target,
                        shape: shape.clone(),
                        alternatives: Vec::new(),
                        ..rel.clone()
                    };
                    plan.children.push((relation, Plan::new(catalogue, member)));
                    children.push((plan.children.len() - 1, link));
                }
                Out::Union { key, children }
            }
            SelectedKind::Association { relation, child } => {
                let link = plan.column("id", ColType::Uuid);
                let list = relation.shape.is_list();
                plan.children.push(((**relation).clone(), Plan::new(catalogue, child)));
                Out::Relation { key, child: plan.children.len() - 1, list, link }
            }
            SelectedKind::Relation { relation, child } => {
                let rel = &model.relations[*relation];
                let link = match &rel.shape {
                    ferrobot_domain::catalogue::RelationShape::Forward { column, .. } => {
                        plan.column(column, ColType::Uuid)
                    }
                    _ => plan.column("id", ColType::Uuid),
                };
                let list = rel.shape.is_list();
                plan.children.push((rel.clone(), Plan::new(catalogue, child)));
                Out::Relation { key, child: plan.children.len() - 1, list, link }
            }
        }
    }

    /// The plan of a request tree.
    pub fn new(catalogue: &Catalogue, select: &Select) -> Plan {
        let model = catalogue.model(select.model);
        let mut plan = Plan {
            model: select.model,
            outs: Vec::with_capacity(select.fields.len()),
            columns: Vec::new(),
            filters: select.filters.clone(),
            page: select.page.clone(),
            children: Vec::new(),
            usage: false,
            lists: false,
            config_context: None,
            cursor: Vec::new(),
            at: select.at,
        };
        plan.column("id", ColType::Uuid);
        if select.page.keyset.is_some() {
            for term in &model.page_ordering {
                let ty = super::execute::order_col_type(model, &term.column);
                let col = plan.column(&term.column, ty);
                plan.cursor.push(col);
            }
        }
        for selected in &select.fields {
            let out = plan.out(catalogue, model, json_key(&selected.key), &selected.kind);
            plan.outs.push(out);
        }
        plan
    }

    /// The columns of the fields a model's usage fields are computed from, in the order the
    /// computation takes them (the catalogue checked at load that the fields exist).
    fn usage_columns<const N: usize>(&mut self, model: &ferrobot_domain::Model) -> [usize; N] {
        let mut cols = [0; N];
        for (slot, name) in cols.iter_mut().zip(model.behaviour.usage_inputs) {
            if let Some((_, f)) = model.field(name) {
                *slot = self.column(f.column.as_deref().unwrap_or_default(), col_type(&f.kind));
            }
        }
        cols
    }

    /// The index of a column in the level's rows, added if not read yet.
    pub fn column(&mut self, name: &str, ty: ColType) -> usize {
        if let Some(idx) = self.columns.iter().position(|(c, _)| c == name) {
            return idx;
        }
        self.columns.push((name.to_owned(), ty));
        self.columns.len() - 1
    }
}
