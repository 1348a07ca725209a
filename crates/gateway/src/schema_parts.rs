//! Small pieces both schema builders ([`crate::schema`], [`crate::mutation_schema`]) use: the
//! names graphene gives enum types, and fields whose answers the plan executor writes.

use async_graphql::dynamic::{Field, FieldFuture, TypeRef};
use ferrobot_domain::catalogue::Model;
use ferrobot_domain::value::camel_case;

/// The enum type of a choice field, named as graphene names it (`DcimDeviceFaceChoices`).
pub fn enum_name(model: &Model, field: &str) -> String {
    format!("{}{}{}Choices", camel_case(&model.app_label), model.class, camel_case(field))
}

pub(crate) fn unresolved(name: String, ty: TypeRef) -> Field {
    Field::new(name, ty, |_| {
        FieldFuture::new(async {
            Err::<Option<async_graphql::Value>, _>(
                "this field is answered by the plan executor".into(),
            )
        })
    })
}
