//! Export templates (Nautobot's `extras.exporttemplate`): a Jinja2 template rendered over a
//! list of one model's objects, `queryset`, into a file (its MIME type and extension).
//!
//! The template is walked like a computed field's (`computed_field::needs`, root `queryset`):
//! what it reads of the objects is one request tree, read for the whole list at once, and each
//! object reaches the template as a Django instance does.
//!
//! Spec: nautobot/extras/models/models.py (`ExportTemplate.render`, `render_to_response`,
//! `clean`).

use crate::catalogue::{Features, Model};
use crate::computed_field::{manager, needs, python_formatter, Value};
use crate::request::Select;
use crate::row::Row;
use crate::{Catalogue, ValidationError};

/// The label of the export template model.
pub use crate::hooks::EXPORT_TEMPLATE as MODEL;

/// Its fields the store and the rules read.
pub mod fields {
    pub const CONTENT_TYPE: &str = "content_type";
    pub const NAME: &str = "name";
    pub const TEMPLATE_CODE: &str = "template_code";
    pub const MIME_TYPE: &str = "mime_type";
    pub const FILE_EXTENSION: &str = "file_extension";
    pub const OWNER_CONTENT_TYPE: &str = "owner_content_type";
}

/// The fields read to render, in the order [`Export::compile`] takes them.
pub const RENDER_FIELDS: [&str; 3] =
    [fields::TEMPLATE_CODE, fields::MIME_TYPE, fields::FILE_EXTENSION];

/// The feature a content type needs to be exported (Nautobot's `FeatureQuery("export_templates")`).
pub const FEATURE: &str = "export_templates";

/// The model that may own export templates (Nautobot's `export_template_owners`).
pub use crate::owner::GIT_REPOSITORY as OWNER;

/// The variable the template sees the list as.
pub const ROOT: &str = "queryset";

/// The most an export may weigh; a larger one is refused.
pub const MAX_OUTPUT: usize = 64 << 20;

/// An export's budget of work (minijinja's fuel): enough for tens of thousands of objects with
/// their ports; a runaway loop stops within seconds (2.7 s in a debug build).
const FUEL: u64 = 20_000_000;

const NAME: &str = "export";

/// Nautobot's `BRANDING_PREPENDED_FILENAME`, before the model's plural in a file's name.
const FILE_PREFIX: &str = "nautobot_";

/// A compiled export template: its template and what it reads of each object.
pub struct Export {
    env: minijinja::Environment<'static>,
    needs: Select,
    pub mime_type: String,
    pub file_name: String,
}

impl Export {
    /// Compiles an export template of `model`; the error is the template's syntax error.
    pub fn compile(
        catalogue: &Catalogue,
        model: &Model,
        code: &str,
        mime_type: &str,
        extension: &str,
    ) -> Result<Export, String> {
        let mut env = crate::template::environment_with_fuel(FUEL);
        env.set_formatter(python_formatter);
        env.add_template_owned(NAME, code.to_owned())
            .map_err(|e| crate::template::error_text(&e))?;
        let extension = extension.trim_start_matches('.');
        let file_name = match extension.is_empty() {
            true => format!("{FILE_PREFIX}{}", model.verbose_name_plural),
            false => format!("{FILE_PREFIX}{}.{extension}", model.verbose_name_plural),
        };
        let mime_type = if mime_type.is_empty() { "text/plain" } else { mime_type };
        Ok(Export {
            env,
            needs: needs(catalogue, model, ROOT, code),
            mime_type: mime_type.to_owned(),
            file_name,
        })
    }

    /// What the template reads of each object, as a request tree of the model.
    pub fn needs(&self) -> &Select {
        &self.needs
    }

    /// The template rendered over the objects (built from what [`Export::needs`] read), CRLF
    /// line ends written as LF, as Nautobot does.
    pub fn render(&self, objects: Vec<Value>) -> Result<String, String> {
        let template = self.env.get_template(NAME).map_err(|e| crate::template::error_text(&e))?;
        let out = template
            .render(minijinja::context! { queryset => manager(objects) })
            .map_err(|e| crate::template::error_text(&e))?;
        if out.len() > MAX_OUTPUT {
            return Err(format!("The export writes more than {MAX_OUTPUT} bytes."));
        }
        Ok(out.replace("\r\n", "\n"))
    }
}

/// Spec: `ExportTemplate`'s `limit_choices_to`: the content type must have the
/// `export_templates` feature, the owner must be a model that owns export templates. The
/// template itself is checked when it renders, as in Nautobot.
pub fn clean(catalogue: &Catalogue, _: &str, row: &Row) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let choice = "Select a valid choice. That choice is not one of the available choices.";
    let has = Features::by_name(FEATURE).unwrap_or(|_| false);
    let label = row.text(fields::CONTENT_TYPE).unwrap_or_default();
    if !catalogue.by_label(label).is_some_and(|m| has(&m.features)) {
        errors.push(ValidationError::new(fields::CONTENT_TYPE, choice));
    }
    if row.text(fields::OWNER_CONTENT_TYPE).is_some_and(|owner| owner != OWNER) {
        errors.push(ValidationError::new(fields::OWNER_CONTENT_TYPE, choice));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::computed_field::{object, DISPLAY};
    use crate::request::SelectedKind;

    fn device(name: &str, ports: &[&str]) -> Value {
        let port = |n: &str| {
            object(
                [(DISPLAY.to_owned(), Value::from(n)), ("name".to_owned(), Value::from(n))].into(),
            )
        };
        object(
            [
                (DISPLAY.to_owned(), Value::from(name)),
                ("name".to_owned(), Value::from(name)),
                ("interfaces".to_owned(), manager(ports.iter().map(|p| port(p)).collect())),
            ]
            .into(),
        )
    }

    #[test]
    fn exports_render_over_the_queryset() {
        let c = Catalogue::core().unwrap();
        let model = c.by_label("dcim.device").unwrap();
        let code = "{% for d in queryset %}{{ d.name }}:{% for i in d.interfaces.all() %}{{ i.name }} {% endfor %}\r\n{% endfor %}{{ queryset.count() }}";
        let export = Export::compile(&c, model, code, "", ".csv").unwrap();
        assert_eq!(export.file_name, "nautobot_devices.csv");
        assert_eq!(export.mime_type, "text/plain");
        let out = export.render(vec![device("a", &["e0", "e1"]), device("b", &[])]).unwrap();
        assert_eq!(out, "a:e0 e1 \nb:\n2");
        // It reads the names of the devices and of their interfaces, nothing else.
        let keys: Vec<&str> = export.needs().fields.iter().map(|f| f.key.as_str()).collect();
        assert!(
            keys.contains(&"name") && keys.contains(&"interfaces") && !keys.contains(&"serial"),
            "{keys:?}"
        );
        let interfaces = export.needs().fields.iter().find(|f| f.key == "interfaces");
        let Some(SelectedKind::Relation { child, .. }) = interfaces.map(|f| &f.kind) else {
            panic!("interfaces are not a relation")
        };
        assert!(child.fields.iter().any(|f| f.key == "name"));
        assert!(!child.fields.iter().any(|f| f.key == "mtu"));
        // A template that does not parse, one that fails, one that runs away.
        assert!(Export::compile(&c, model, "{% for %}", "", "").is_err());
        let fails = Export::compile(&c, model, "{{ queryset.nope() }}", "", "").unwrap();
        assert!(fails.render(vec![]).is_err());
        let spins = Export::compile(
            &c,
            model,
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        assert!(spins.render(vec![]).is_err());
    }

    #[test]
    fn clean_says_what_nautobot_says() {
        let c = Catalogue::core().unwrap();
        let row = |content_type: &str, owner: Option<&str>| {
            let mut r = Row::new();
            r.set(fields::CONTENT_TYPE, crate::value::Datum::Text(content_type.into()));
            if let Some(owner) = owner {
                r.set(fields::OWNER_CONTENT_TYPE, crate::value::Datum::Text(owner.into()));
            }
            r
        };
        assert!(clean(&c, MODEL, &row("dcim.device", None)).is_empty());
        assert!(clean(&c, MODEL, &row("dcim.device", Some(OWNER))).is_empty());
        assert_eq!(clean(&c, MODEL, &row("extras.objectchange", None))[0].field, "content_type");
        assert_eq!(
            clean(&c, MODEL, &row("dcim.device", Some("dcim.rack")))[0].field,
            "owner_content_type"
        );
    }
}
