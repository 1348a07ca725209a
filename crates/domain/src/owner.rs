//! Objects owned by another object, as Nautobot's `config_context_owners` (a Git repository)
//! own config contexts, config context schemas, export templates and the local config context
//! data of devices and virtual machines: which fields name the owner, what is owned, and the
//! rule that only the owner's own work (its sync) writes what it owns.
//!
//! Spec: nautobot/extras/models/models.py (`ConfigContext.owner`,
//! `ConfigContextModel.local_config_context_data_owner`), nautobot/extras/datasources/git.py
//! (the sync writes and deletes what a repository owns; deleting the repository deletes it).

use uuid::Uuid;

use crate::row::Row;
use crate::ValidationError;

/// How a model's rows are owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    /// The field holding the owner's content type (its model's label).
    pub type_field: &'static str,
    /// The field holding the owner's id.
    pub id_field: &'static str,
    /// The fields the owner writes; empty when it owns the whole row.
    pub fields: &'static [&'static str],
}

impl Ownership {
    /// Whether the owner owns the whole row (and deleting the owner deletes it).
    pub fn whole(&self) -> bool {
        self.fields.is_empty()
    }
}

const WHOLE: Ownership =
    Ownership { type_field: "owner_content_type", id_field: "owner_object_id", fields: &[] };

const LOCAL_DATA: Ownership = Ownership {
    type_field: "local_config_context_data_owner_content_type",
    id_field: "local_config_context_data_owner_object_id",
    fields: &["local_config_context_data", "local_config_context_schema"],
};

/// Models whose rows may be owned, and how.
pub const OWNED: &[(&str, Ownership)] = &[
    ("extras.configcontext", WHOLE),
    ("extras.configcontextschema", WHOLE),
    ("extras.exporttemplate", WHOLE),
    ("extras.graphqlquery", WHOLE),
    ("dcim.device", LOCAL_DATA),
    ("virtualization.virtualmachine", LOCAL_DATA),
];

/// The label of the Git repository model, the one owner there is.
pub const GIT_REPOSITORY: &str = "extras.gitrepository";

/// Models that own rows (Nautobot's `config_context_owners`).
pub const OWNERS: &[&str] = &[GIT_REPOSITORY];

/// How rows of the model of this label are owned, if they can be.
pub fn ownership(label: &str) -> Option<&'static Ownership> {
    OWNED.iter().find(|(l, _)| *l == label).map(|(_, o)| o)
}

/// The object a write acts for: its owned rows are the ones it may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub label: String,
    pub id: Uuid,
}

impl Owner {
    fn of(own: &Ownership, row: &Row) -> Option<Owner> {
        Some(Owner { label: row.text(own.type_field)?.to_owned(), id: row.uuid(own.id_field)? })
    }
}

/// Checks a write of one row: `before` is the stored row (none for a create), `after` the row
/// written (none for a delete), `acting` the owner the write acts for (none for a user's own
/// write). A user may not set or change an owner, nor change what an owner owns; an owner's
/// work may write only rows it owns or that nobody owns.
pub fn check(
    own: &Ownership,
    verbose_name: &str,
    acting: Option<&Owner>,
    before: Option<&Row>,
    after: Option<&Row>,
) -> Vec<ValidationError> {
    let was = before.and_then(|r| Owner::of(own, r));
    let will = after.and_then(|r| Owner::of(own, r));
    let what = if own.whole() { verbose_name.to_owned() } else { format!("{verbose_name}'s data") };
    let owned_message = |owner: &Owner| {
        format!(
            "This {what} is owned by {} {} and can only be changed by syncing its owner.",
            owner.label, owner.id
        )
    };
    if let Some(acting) = acting {
        for owner in [&was, &will].into_iter().flatten() {
            if owner != acting {
                return vec![ValidationError::new("__all__", owned_message(owner))];
            }
        }
        return Vec::new();
    }
    let touched = match (before, after) {
        (Some(b), Some(a)) if own.whole() => !a.same_as(b),
        (Some(b), Some(a)) => own.fields.iter().any(|f| a.get(f) != b.get(f)),
        // A delete: the row goes with what it owns only when the whole row is owned.
        (Some(_), None) => own.whole(),
        _ => false,
    };
    if let (Some(owner), true) = (&was, touched) {
        return vec![ValidationError::new("__all__", owned_message(owner))];
    }
    let moved = match (before, after) {
        (_, None) => false,
        (Some(b), Some(a)) => {
            a.get(own.type_field) != b.get(own.type_field)
                || a.get(own.id_field) != b.get(own.id_field)
        }
        (None, Some(a)) => a.has(own.type_field) || a.has(own.id_field),
    };
    if moved {
        return vec![ValidationError::new(
            own.type_field,
            "The owner is set by the owner's sync and cannot be written by hand.",
        )];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Datum;

    fn row(fields: &[(&str, Datum)]) -> Row {
        let mut r = Row::new();
        for (k, v) in fields {
            r.set(*k, v.clone());
        }
        r
    }

    fn owned(own: &Ownership, by: Uuid, extra: &[(&str, Datum)]) -> Row {
        let mut r = row(extra);
        r.set(own.type_field, Datum::text("extras.gitrepository"));
        r.set(own.id_field, Datum::Uuid(by));
        r
    }

    /// Spec: nautobot/extras/datasources/git.py — owned objects are written by the sync only.
    #[test]
    fn only_the_owner_writes_what_it_owns() {
        let repo = Uuid::from_u128(1);
        let other = Uuid::from_u128(2);
        let acting = Owner { label: "extras.gitrepository".into(), id: repo };
        let name = |n: &str| ("name", Datum::text(n));
        let mine = owned(&WHOLE, repo, &[name("ntp")]);
        let renamed = owned(&WHOLE, repo, &[name("dns")]);
        let theirs = owned(&WHOLE, other, &[name("ntp")]);
        let free = row(&[name("ntp")]);
        let free_renamed = row(&[name("dns")]);
        // (acting, before, after, refused)
        type Case<'a> = (Option<&'a Owner>, Option<&'a Row>, Option<&'a Row>, bool);
        let cases: &[Case] = &[
            (None, None, Some(&free), false),
            (None, Some(&free), Some(&free_renamed), false),
            (None, Some(&free), None, false),
            (None, None, Some(&mine), true),
            (None, Some(&mine), Some(&renamed), true),
            (None, Some(&mine), None, true),
            (None, Some(&mine), Some(&free), true),
            (None, Some(&free), Some(&mine), true),
            (None, Some(&mine), Some(&mine), false),
            (Some(&acting), None, Some(&mine), false),
            (Some(&acting), Some(&mine), Some(&renamed), false),
            (Some(&acting), Some(&mine), None, false),
            (Some(&acting), Some(&theirs), Some(&mine), true),
            (Some(&acting), Some(&theirs), None, true),
            (Some(&acting), None, Some(&theirs), true),
        ];
        for (i, (acting, before, after, refused)) in cases.iter().enumerate() {
            let errors = check(&WHOLE, "config context", *acting, *before, *after);
            assert_eq!(!errors.is_empty(), *refused, "case {i}: {errors:?}");
        }
    }

    #[test]
    fn owned_models_have_their_owner_fields() {
        let catalogue = crate::Catalogue::core().expect("core catalogue");
        for (label, own) in OWNED {
            let model = catalogue.by_label(label).expect(label);
            for field in [own.type_field, own.id_field].iter().chain(own.fields) {
                assert!(model.field(field).is_some(), "{label}.{field}");
            }
        }
        for label in OWNERS {
            assert!(catalogue.by_label(label).is_some(), "{label}");
        }
    }

    #[test]
    fn a_device_is_written_by_hand_but_not_its_owned_data() {
        let repo = Uuid::from_u128(1);
        let data = |v: i64| ("local_config_context_data", Datum::Json(Box::new(v.into())));
        let before = owned(&LOCAL_DATA, repo, &[("name", Datum::text("r1")), data(1)]);
        let renamed = owned(&LOCAL_DATA, repo, &[("name", Datum::text("r2")), data(1)]);
        let changed = owned(&LOCAL_DATA, repo, &[("name", Datum::text("r1")), data(2)]);
        assert!(check(&LOCAL_DATA, "device", None, Some(&before), Some(&renamed)).is_empty());
        let refused = check(&LOCAL_DATA, "device", None, Some(&before), Some(&changed));
        assert!(refused[0].message.contains("device's data is owned by extras.gitrepository"));
        assert!(check(&LOCAL_DATA, "device", None, Some(&before), None).is_empty());
    }
}
