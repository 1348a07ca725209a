//! An input object's values as columns: given values checked and converted, defaults, values the
//! model derives, custom field data.

use super::*;

impl<'s> Writer<'s> {
    /// Applies the model's input hooks (`prefix`, `address`): the stored fields they fill.
    /// On a create, an input that is missing (and whose fields are not given one by one, as an
    /// export has them) is required, and reported once, on the input.
    pub(super) fn derive_inputs(
        &self,
        model: &Model,
        input: &Map<String, Json>,
        values: &mut Values,
        errors: &mut Vec<ValidationError>,
        creating: bool,
    ) -> HashSet<&'static str> {
        let mut derived = HashSet::new();
        for hook in model.behaviour.inputs {
            let Some(given) = input.get(hook.key) else {
                if creating && !hook.fills.iter().any(|f| input.contains_key(*f)) {
                    errors.push(ValidationError::new(hook.key, validate::REQUIRED));
                    derived.extend(hook.fills.iter().copied());
                }
                continue;
            };
            derived.extend(hook.fills.iter().copied());
            let Some(text) = given.as_str() else {
                errors.push(ValidationError::new(hook.key, "Expected a string."));
                continue;
            };
            match (hook.derive)(text) {
                Ok(pairs) => {
                    for (name, value) in pairs {
                        values.insert(column_of(model, name), derived_datum(value));
                    }
                }
                Err(m) => errors.push(ValidationError::new(hook.key, m)),
            }
        }
        derived
    }

    /// The stored value of a field the input gives: a reference looked up, a scalar checked,
    /// `null` clearing it (an empty string for blank text). `Ok(None)`: a nullable reference
    /// that names nothing yet, which the import looks up again at the end.
    pub(super) async fn given_value(
        &mut self,
        field: &Field,
        v: &Json,
    ) -> StoreResult<Result<Option<Datum>, String>> {
        Ok(match (&field.kind, v) {
            (_, Json::Null) if !field.null && !field.blank => Err(validate::NOT_NULL.to_owned()),
            (FieldKind::ForeignKey { .. }, Json::Null) => Ok(Some(Datum::Null)),
            (_, Json::Null) => Ok(Some(absent_value(field))),
            (FieldKind::ForeignKey { to, .. }, v) => match self.lookup(*to, v).await? {
                Found::One(target) => Ok(Some(Datum::Uuid(target))),
                Found::None if field.null && self.options.defer_references => Ok(None),
                found => Err(self.not_found_message(*to, v, found)),
            },
            (_, v) => self.scalar(field, v).map(Some),
        })
    }

    /// A list field (many-to-many or tags) the input gives: its ids go to `lists`; `true` when
    /// the import deferred them.
    pub(super) async fn given_list(
        &mut self,
        owner: Uuid,
        link: LinkField,
        list: &Json,
        lists: &mut BTreeMap<String, Vec<Uuid>>,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<bool> {
        let name = link.name.clone();
        Ok(match self.link_targets(owner, link, list).await? {
            Ok(Some(ids)) => {
                lists.insert(name, ids);
                false
            }
            Ok(None) => true,
            Err(m) => {
                errors.push(ValidationError::new(name, m));
                false
            }
        })
    }

    pub(super) fn scalar(&self, field: &Field, v: &Json) -> Result<Datum, String> {
        validate::scalar(&self.catalogue, field, v)
    }

    pub(super) async fn default_value(
        &mut self,
        field: &Field,
        default: &Json,
        input: &Map<String, Json>,
    ) -> Result<Datum, String> {
        match default {
            Json::String(s) if s == "now()" => Ok(Datum::DateTime(self.now)),
            // Nautobot's AutoSlugField: the slug of another field's value, dashes as underscores.
            Json::String(s) if s.starts_with("slug(") => {
                let source = s.trim_start_matches("slug(").trim_end_matches(')');
                let text = input.get(source).and_then(Json::as_str).unwrap_or_default();
                Ok(Datum::text(ferrobot_domain::value::slugify_underscores(text)))
            }
            Json::String(s) if s.starts_with("natural_key(") => {
                let name = s.trim_start_matches("natural_key(").trim_end_matches(')');
                match &field.kind {
                    FieldKind::ForeignKey { to, .. } => {
                        let v = Json::String(name.into());
                        match self.lookup_trusted(*to, &v).await.map_err(|e| e.to_string())? {
                            Found::One(id) => Ok(Datum::Uuid(id)),
                            found => Err(self.not_found_message(*to, &v, found)),
                        }
                    }
                    _ => Err("a natural-key default on a field that is no reference".into()),
                }
            }
            other => self.scalar(field, other),
        }
    }

    /// The checked `_custom_field_data` of an object: `before` merged with the input's
    /// `custom_fields` (or `_custom_field_data`); `None` when the model has no custom fields.
    pub(super) async fn custom_field_data(
        &mut self,
        model: &Model,
        input: &Map<String, Json>,
        before: Option<&Json>,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<Option<Json>> {
        if !model.features.custom_fields {
            return Ok(None);
        }
        let mut data = before.and_then(Json::as_object).cloned().unwrap_or_default();
        let given = input.get("custom_fields").or_else(|| input.get("_custom_field_data"));
        // The definitions, read once a write: a new object needs them for its defaults and
        // required fields even when it gives no value.
        if self.custom_fields.is_none() {
            let catalogue = self.catalogue.clone();
            let tables: Vec<&str> = [CUSTOM_FIELD, CUSTOM_FIELD_CHOICE]
                .iter()
                .filter_map(|l| catalogue.by_label(l).map(|m| m.table.as_str()))
                .collect();
            self.flush_for_tables(&tables).await?;
            let tx = self.tx()?;
            self.custom_fields = Some(self.store.custom_fields_in(tx).await?);
        }
        let defs = self.custom_fields.as_deref().unwrap_or_default();
        match given {
            None | Some(Json::Null) => {}
            Some(Json::Object(given)) => {
                for (key, value) in given {
                    let field = format!("custom_fields.{key}");
                    match defs
                        .iter()
                        .find(|d| d.key == *key && d.content_types.contains(&model.label))
                    {
                        None => errors.push(ValidationError::new(
                            field,
                            format!("{} has no custom field {key}", model.label),
                        )),
                        Some(_) if ferrobot_domain::validate::has_nul(value) => errors.push(
                            ValidationError::new(field, ferrobot_domain::validate::NULL_CHARACTERS),
                        ),
                        Some(def) => match def.check(value) {
                            Ok(()) => {
                                data.insert(key.clone(), value.clone());
                            }
                            Err(m) => errors.push(ValidationError::new(field, m)),
                        },
                    }
                }
            }
            Some(_) => errors.push(ValidationError::new("custom_fields", "Expected a mapping.")),
        }
        // Spec: `CustomFieldModel.clean`, on every save: the stored values the input leaves
        // are checked again (a field's rules may have changed since; keys of no field are left
        // as they are), a field without a value gets its default, and a required field without
        // one is refused.
        let given = given.and_then(Json::as_object);
        for def in defs.iter().filter(|d| d.content_types.contains(&model.label)) {
            if given.is_some_and(|g| g.contains_key(&def.key)) {
                continue; // checked above
            }
            let field = format!("custom_fields.{}", def.key);
            match data.get(&def.key) {
                Some(stored) => {
                    if let Err(m) = def.check(stored) {
                        errors.push(ValidationError::new(field, m));
                    }
                }
                None => match &def.default {
                    Some(default) => {
                        data.insert(def.key.clone(), default.clone());
                    }
                    None if def.required => errors.push(ValidationError::new(
                        field,
                        format!("Missing required custom field '{}'.", def.key),
                    )),
                    None => {}
                },
            }
        }
        Ok(Some(Json::Object(data)))
    }
}

impl Writer<'_> {
    /// Forgets the definitions read once a write (custom fields and their choices, data
    /// validation rules) when a row of theirs is written, so the next object sees the new ones.
    pub(super) fn definitions_written(&mut self, model: &Model) {
        if model.label == CUSTOM_FIELD || model.label == CUSTOM_FIELD_CHOICE {
            self.custom_fields = None;
        }
        if model.behaviour.validation_rule {
            self.data_rules = None;
        }
        if model.label == ferrobot_domain::relationship::MODEL {
            self.relationships = None;
        }
    }
}

/// Keys of the input that are neither fields nor inputs of the model.
pub(super) fn unknown_keys(
    model: &Model,
    input: &Map<String, Json>,
    errors: &mut Vec<ValidationError>,
) {
    for key in input.keys() {
        let known = model.field(key).is_some()
            || model.relation(key).is_some_and(|(_, r)| r.is_generic_through())
            || (matches!(key.as_str(), "custom_fields" | "_custom_field_data")
                && model.features.custom_fields)
            || (key == ferrobot_domain::relationship::INPUT_KEY && model.features.relationships)
            || model.behaviour.is_input(key);
        if !known {
            errors.push(ValidationError::new(key, format!("{} has no field {key}.", model.label)));
        }
    }
}

/// Stores a field's value and, for naturally ordered fields, the companion ordering column.
pub(super) fn put(values: &mut Values, field: &Field, column: String, value: Datum) {
    if field.natural_order {
        let natural = match &value {
            Datum::Text(s) => Datum::text(naturalize(s)),
            _ => Datum::Null,
        };
        values.insert(format!("_{}", field.name), natural);
    }
    values.insert(column, value);
}

pub(super) fn derived_datum(value: hooks::Derived) -> Datum {
    match value {
        hooks::Derived::Bytes(b) => Datum::Bytes(b.into()),
        hooks::Derived::Int(i) => Datum::Int(i),
    }
}

/// The stored value of a field the input left out and that has no default.
pub(super) fn absent_value(field: &Field) -> Datum {
    match &field.kind {
        FieldKind::ContentTypes => Datum::Json(Box::new(Json::Array(Vec::new()))),
        FieldKind::String { .. } | FieldKind::Text | FieldKind::Choice { .. }
            if field.blank && !field.null =>
        {
            Datum::text("")
        }
        _ => Datum::Null,
    }
}
