//! Relationship associations in the write path: an object's `relationships` input (Nautobot's
//! REST form, `{key: {side: {objects: [...]}}}`) turned into association rows written like any
//! row (their rules, permissions and change log), the relationships an object must have
//! (`required_on`), and what an association's rule cannot say without reading: that the
//! objects at its ends exist and match the relationship's filters.

use super::*;
use ferrobot_domain::permission::Permissions;
use ferrobot_domain::relationship::{fields, Relationship, Side, ASSOCIATION, INPUT_KEY};

/// The most objects one side of one relationship takes in one input.
const MAX_OBJECTS: usize = 1_000;

type Boxed<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = StoreResult<T>> + Send + 'a>>;

impl Writer<'_> {
    /// The relationships, read once a write (again after one is written).
    async fn relationships(&mut self) -> StoreResult<Arc<Vec<Relationship>>> {
        if let Some(known) = &self.relationships {
            return Ok(known.clone());
        }
        let tx = self.tx()?;
        let read = Arc::new(self.store.relationships_in(tx).await?);
        self.relationships = Some(read.clone());
        Ok(read)
    }

    /// Applies an object's `relationships` input and checks its required relationships: on a
    /// create every one, on an update those the input names or that it has no association for.
    /// Spec: `RelationshipModelSerializerMixin` and `RelationshipsDataField.to_internal_value`
    /// (nautobot/core/api/serializers.py, nautobot/extras/api/relationships.py).
    pub(super) async fn given_relationships(
        &mut self,
        model: &Model,
        id: Uuid,
        input: &Map<String, Json>,
        creating: bool,
    ) -> StoreResult<()> {
        if !model.features.relationships {
            return Ok(());
        }
        let given = input.get(INPUT_KEY).filter(|g| !g.is_null());
        let all = self.relationships().await?;
        let here: Vec<&Relationship> =
            all.iter().filter(|r| !r.ends(&model.label).is_empty()).collect();
        if given.is_none() && !here.iter().any(|r| required_side(r, &model.label).is_some()) {
            return Ok(());
        }
        let mut errors = Vec::new();
        let wanted = match given {
            Some(given) => self.wanted(model, &here, given, &mut errors).await?,
            None => Vec::new(),
        };
        for relationship in &here {
            let Some(side) = required_side(relationship, &model.label) else { continue };
            let other = side.opposite();
            let named = wanted.iter().find(|(r, s, _)| r.id == relationship.id && *s == other);
            let missing = match named {
                Some((_, _, ids)) => ids.is_empty(),
                None if creating => true,
                None => !self.has_association(relationship, side, id).await?,
            };
            if missing {
                self.required_errors(relationship, other, &mut errors).await?;
            }
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        for (relationship, other, ids) in wanted {
            self.set_associations(&relationship, other, id, &ids).await?;
        }
        Ok(())
    }

    /// The associations an input asks for: (relationship, the side named, its objects).
    async fn wanted(
        &mut self,
        model: &Model,
        here: &[&Relationship],
        given: &Json,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<Vec<(Relationship, Side, Vec<Uuid>)>> {
        let label = format!("{}.{}", model.app_label, model.class);
        let mut wanted = Vec::new();
        let Json::Object(map) = given else {
            errors.push(ValidationError::new(INPUT_KEY, "Expected a mapping."));
            return Ok(wanted);
        };
        let error = |errors: &mut Vec<ValidationError>, m: String| {
            errors.push(ValidationError::new(INPUT_KEY, m));
        };
        for (key, data) in map {
            let Some(relationship) = here.iter().find(|r| &r.key == key) else {
                error(errors, format!("\"{key}\" is not a relationship on {label}"));
                continue;
            };
            let Json::Object(sides) = data else {
                error(errors, format!("[\"{key}\"] must be a mapping of sides"));
                continue;
            };
            let ends = relationship.ends(&model.label);
            for (name, side_data) in sides {
                let Some(other) =
                    Side::parse(name).filter(|s| ends.iter().any(|e| e.side.opposite() == *s))
                else {
                    error(
                        errors,
                        format!(
                            "\"{name}\" is not a valid side for \"{}\" on {label}",
                            relationship.label
                        ),
                    );
                    continue;
                };
                let Some(objects) = side_data.get("objects") else {
                    error(
                        errors,
                        format!("\"objects\" must be specified under [\"{key}\"][\"{name}\"] when present"),
                    );
                    continue;
                };
                let Json::Array(objects) = objects else {
                    error(errors, "\"objects\" must be a list, not a single value".into());
                    continue;
                };
                if objects.len() > 1 && !relationship.kind.has_many(other) {
                    error(
                        errors,
                        format!(
                            "For \"{}\", \"{name}\" objects must include at most a single object",
                            relationship.label
                        ),
                    );
                    continue;
                }
                if objects.len() > MAX_OBJECTS {
                    error(errors, format!("Ensure [\"{key}\"][\"{name}\"][\"objects\"] has at most {MAX_OBJECTS} objects."));
                    continue;
                }
                let peer = match other {
                    Side::Source => &relationship.source_type,
                    Side::Destination => &relationship.destination_type,
                    Side::Peer => &model.label,
                };
                let Some(peer) = self.catalogue.by_label(peer).map(|m| m.id) else { continue };
                let mut ids = Vec::with_capacity(objects.len());
                for object in objects {
                    match self.lookup(peer, object).await? {
                        Found::One(id) => ids.push(id),
                        found => error(errors, self.not_found_message(peer, object, found)),
                    }
                }
                ids.dedup();
                wanted.push(((*relationship).clone(), other, ids));
            }
        }
        Ok(wanted)
    }

    /// The association rows of `relationship` with `id` at `side` (either end for a symmetric
    /// one): (association, the object at the other end).
    async fn associations_of(
        &mut self,
        relationship: &Relationship,
        side: Side,
        id: Uuid,
    ) -> StoreResult<Vec<(Uuid, Uuid)>> {
        let catalogue = self.catalogue.clone();
        let Some(model) = catalogue.by_label(ASSOCIATION) else { return Ok(Vec::new()) };
        self.flush_for(&model.table).await?;
        let columns: &[&str] = match side {
            Side::Peer => &[fields::SOURCE_ID, fields::DESTINATION_ID],
            Side::Source | Side::Destination => &[side.id_field()],
        };
        let mut found = Vec::new();
        for name in columns {
            let ids = self.ids_where_in(&model.table, &column_of(model, name), &[id]).await?;
            let rows = self.read_stored(model, &ids, &[]).await?;
            for (association, row) in rows {
                if row.uuid(fields::RELATIONSHIP) != Some(relationship.id) {
                    continue;
                }
                let (source, destination) =
                    (row.uuid(fields::SOURCE_ID), row.uuid(fields::DESTINATION_ID));
                let peer = if source == Some(id) { destination } else { source };
                if let Some(peer) = peer {
                    if !found.iter().any(|(a, _)| *a == association) {
                        found.push((association, peer));
                    }
                }
            }
        }
        Ok(found)
    }

    async fn has_association(
        &mut self,
        relationship: &Relationship,
        side: Side,
        id: Uuid,
    ) -> StoreResult<bool> {
        Ok(!self.associations_of(relationship, side, id).await?.is_empty())
    }

    /// Makes the objects at `other` of the object `id` exactly `ids`: associations to other
    /// objects are deleted, missing ones created (each as the association model's own write).
    fn set_associations<'a>(
        &'a mut self,
        relationship: &'a Relationship,
        other: Side,
        id: Uuid,
        ids: &'a [Uuid],
    ) -> Boxed<'a, ()> {
        Box::pin(async move {
            let catalogue = self.catalogue.clone();
            let Some(model) = catalogue.by_label(ASSOCIATION) else { return Ok(()) };
            let existing = self.associations_of(relationship, other.opposite(), id).await?;
            for (association, peer) in &existing {
                if !ids.contains(peer) {
                    self.delete(model, &Json::String(association.to_string())).await?;
                }
            }
            for peer in ids {
                if existing.iter().any(|(_, p)| p == peer) {
                    continue;
                }
                let (source, destination) = match other {
                    Side::Source => (*peer, id),
                    Side::Destination | Side::Peer => (id, *peer),
                };
                let mut input = Map::new();
                input
                    .insert(fields::RELATIONSHIP.into(), Json::String(relationship.id.to_string()));
                input.insert(
                    fields::SOURCE_TYPE.into(),
                    Json::String(relationship.source_type.clone()),
                );
                input.insert(fields::SOURCE_ID.into(), Json::String(source.to_string()));
                input.insert(
                    fields::DESTINATION_TYPE.into(),
                    Json::String(relationship.destination_type.clone()),
                );
                input.insert(fields::DESTINATION_ID.into(), Json::String(destination.to_string()));
                self.create(model, &input).await?;
            }
            Ok(())
        })
    }

    /// Spec: `RelationshipModel.required_related_objects_errors` (its API words).
    async fn required_errors(
        &mut self,
        relationship: &Relationship,
        other: Side,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<()> {
        let catalogue = self.catalogue.clone();
        let own = match other {
            Side::Source => &relationship.destination_type,
            _ => &relationship.source_type,
        };
        let peer = match other {
            Side::Source => &relationship.source_type,
            _ => &relationship.destination_type,
        };
        let (Some(own), Some(peer)) = (catalogue.by_label(own), catalogue.by_label(peer)) else {
            return Ok(());
        };
        let field = format!("{INPUT_KEY}.{}", relationship.key);
        let how_many = if relationship.kind.has_many(other) { "at least one" } else { "a" };
        self.flush_for(&peer.table).await?;
        let mut any = Query::select();
        any.column(Alias::new("id")).from(Alias::new(&peer.table)).limit(1);
        let tx = self.tx()?;
        if self.store.fetch_in(tx, &any, &[ColType::Uuid]).await?.is_empty() {
            let post = peer.graphql.as_ref().and_then(|g| g.api_path.clone()).unwrap_or_default();
            errors.push(ValidationError::new(
                &field,
                format!(
                    "{} require {how_many} {}, but no {} exist yet. Create a {} by posting to {post}",
                    title(&own.verbose_name_plural),
                    peer.verbose_name,
                    peer.verbose_name_plural,
                    peer.verbose_name
                ),
            ));
        }
        errors.push(ValidationError::new(
            &field,
            format!(
                "You need to specify [\"relationships\"][\"{}\"][\"{}\"][\"objects\"].",
                relationship.key,
                other.name()
            ),
        ));
        Ok(())
    }

    /// What an association's rule cannot say without reading: each end names an object that
    /// exists, and that matches the relationship's filter for its side. Spec:
    /// `RelationshipAssociation._validate_relationship_filter_restriction`.
    pub(super) async fn check_association(
        &mut self,
        object: &Row,
        errors: &mut Vec<ValidationError>,
    ) -> StoreResult<()> {
        let Some(relationship_id) = object.uuid(fields::RELATIONSHIP) else { return Ok(()) };
        let all = self.relationships().await?;
        let Some(relationship) = all.iter().find(|r| r.id == relationship_id) else {
            return Ok(());
        };
        let catalogue = self.catalogue.clone();
        let sides = [
            (Side::Source, fields::SOURCE_TYPE, fields::SOURCE_ID),
            (Side::Destination, fields::DESTINATION_TYPE, fields::DESTINATION_ID),
        ];
        for (side, type_field, id_field) in sides {
            let label = object.text(type_field).unwrap_or_default();
            // Another type than the relationship's is the rule's to report.
            let Some(model) = catalogue.by_label(label) else { continue };
            let Some(id) = object.uuid(id_field) else { continue };
            let shown = match self.snapshot_by_id(model.id, id).await? {
                Some(row) => model.repr(&row),
                None => {
                    errors.push(ValidationError::new(
                        id_field,
                        format!("No {} matches {id}.", model.verbose_name),
                    ));
                    continue;
                }
            };
            let filter = match (relationship.kind.symmetric(), side) {
                (true, _) => relationship.filter_of(Side::Peer),
                (false, side) => relationship.filter_of(side),
            };
            let Some(Json::Object(filter)) = filter else { continue };
            if !self.matches_filter(model, id, filter).await? {
                errors.push(ValidationError::new(
                    side.name(),
                    format!(
                        "{shown} violates {} {}_filter restriction",
                        relationship.label,
                        side.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the object `id` of `model` is among the rows a stored filter selects.
    async fn matches_filter(
        &mut self,
        model: &Model,
        id: Uuid,
        filter: &Map<String, Json>,
    ) -> StoreResult<bool> {
        let Ok(args) = ferrobot_domain::request::stored_filter_args(model, filter) else {
            return Ok(false);
        };
        let everything = Permissions::superuser(Uuid::nil());
        let condition = match self.store.compile_filters(model.id, &args, &everything).await {
            Ok(condition) => condition,
            Err(StoreError::Invalid { .. } | StoreError::Filters(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.flush_for(&model.table).await?;
        let mut select = Query::select();
        select
            .column(Alias::new("id"))
            .from(Alias::new(&model.table))
            .and_where(Expr::col(Alias::new("id")).eq(uuid_value(id)))
            .cond_where(condition);
        let tx = self.tx()?;
        Ok(!self.store.fetch_in(tx, &select, &[ColType::Uuid]).await?.is_empty())
    }
}

/// The side a model's objects are on when a relationship requires them to have an
/// association there (never for a symmetric relationship: Nautobot skips those).
fn required_side(relationship: &Relationship, label: &str) -> Option<Side> {
    let side = relationship.required_on.filter(|_| !relationship.kind.symmetric())?;
    let at = match side {
        Side::Source => &relationship.source_type,
        _ => &relationship.destination_type,
    };
    (at == label).then_some(side)
}

/// Nautobot's `bettertitle`: each word's first letter upper-cased, the rest left alone.
fn title(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
        })
        .collect::<Vec<String>>()
        .join(" ")
}
