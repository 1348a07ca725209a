//! What a Git repository provides, read from its files as Nautobot's Git data source reads
//! them: config contexts (`config_contexts/*.{yaml,json}` with their `_metadata`, and
//! `config_contexts/<list>/<name>.yaml` assigned by the directory), local config context data
//! (`config_contexts/devices/<name>.yaml`, `…/virtual_machines/…`), config context schemas
//! (`config_context_schemas/`) and export templates (`export_templates/<app>/<model>/<name>`).
//!
//! Pure: the files come from a commit's tree; the sync writes what [`read`] returns, in one
//! transaction. A file that cannot be read refuses the whole repository, naming the file and
//! the reason, so that a sync never leaves half of a repository behind.
//!
//! Spec: nautobot/extras/datasources/git.py (`update_git_config_contexts`,
//! `import_config_context`, `update_git_config_context_schemas`,
//! `update_git_export_templates`).

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// The label of the Git repository model.
pub use crate::owner::GIT_REPOSITORY as MODEL;

/// The largest file read; a larger one refuses the repository.
pub const MAX_FILE: usize = 16 << 20;

const CONTEXTS: &str = "config_contexts";
const SCHEMAS: &str = "config_context_schemas";
const TEMPLATES: &str = "export_templates";

/// A config context the repository provides.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub name: String,
    pub weight: i64,
    pub description: String,
    pub is_active: bool,
    /// The name of its config context schema.
    pub schema: Option<String>,
    /// The objects it is assigned to, by list (`locations`: `[{"name": "ams01"}]`), as lookups.
    pub assignments: BTreeMap<String, Vec<Json>>,
    pub data: Json,
    /// The file it came from.
    pub file: String,
}

/// Which objects local config context data is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalKind {
    Device,
    VirtualMachine,
}

/// Local config context data for the device or virtual machine of that name.
#[derive(Debug, Clone, PartialEq)]
pub struct Local {
    pub kind: LocalKind,
    pub name: String,
    pub data: Json,
    pub file: String,
}

/// A config context schema the repository provides.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub name: String,
    pub description: String,
    pub data_schema: Json,
    pub file: String,
}

/// An export template the repository provides: named by its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// `dcim.device`.
    pub content_type: String,
    pub name: String,
    pub code: String,
    pub mime_type: String,
    pub file: String,
}

/// Everything a repository provides.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provided {
    pub contexts: Vec<Context>,
    pub local: Vec<Local>,
    pub schemas: Vec<Schema>,
    pub templates: Vec<Template>,
}

/// The models a repository's contents are written to, which are also the values of its
/// `provided_contents` (Nautobot's names).
pub const CONTEXT: &str = "extras.configcontext";
pub const SCHEMA: &str = "extras.configcontextschema";
pub const TEMPLATE: &str = "extras.exporttemplate";

/// The models local config context data is written to, by kind.
pub const DEVICE: &str = "dcim.device";
pub const VIRTUAL_MACHINE: &str = "virtualization.virtualmachine";

/// The field every provided object is found by (within its content type, for templates).
pub const NAME: &str = "name";

/// The field a repository's current commit is kept in.
pub const CURRENT_HEAD: &str = "current_head";

/// The fields of a repository a sync reads.
pub mod fields {
    pub const NAME: &str = "name";
    pub const REMOTE_URL: &str = "remote_url";
    pub const BRANCH: &str = "branch";
    pub const SECRETS_GROUP: &str = "secrets_group";
    pub const PROVIDED_CONTENTS: &str = "provided_contents";
}

type Input = serde_json::Map<String, Json>;

impl Context {
    /// The config context's fields as the writer takes them: every assignment list is given,
    /// empty when the file names none, so that a re-sync removes what the file no longer says.
    pub fn input(&self) -> Input {
        let mut input = Input::new();
        input.insert(NAME.into(), self.name.clone().into());
        input.insert("weight".into(), self.weight.into());
        input.insert("description".into(), self.description.clone().into());
        input.insert("is_active".into(), self.is_active.into());
        let schema = self.schema.as_ref().map_or(Json::Null, |s| serde_json::json!({ NAME: s }));
        input.insert("config_context_schema".into(), schema);
        input.insert("data".into(), self.data.clone());
        for list in crate::config_context::LISTS {
            let given = self.assignments.get(list).cloned().unwrap_or_default();
            input.insert(list.into(), Json::Array(given));
        }
        input
    }
}

impl Schema {
    pub fn input(&self) -> Input {
        let mut input = Input::new();
        input.insert(NAME.into(), self.name.clone().into());
        input.insert("description".into(), self.description.clone().into());
        input.insert("data_schema".into(), self.data_schema.clone());
        input
    }
}

impl Template {
    /// Spec: `update_git_export_templates`: the file name is the name, the MIME type is
    /// guessed from it, and the file extension is what follows its last dot.
    pub fn input(&self) -> Input {
        use crate::export_template::fields;
        let mut input = Input::new();
        input.insert(fields::CONTENT_TYPE.into(), self.content_type.clone().into());
        input.insert(fields::NAME.into(), self.name.clone().into());
        input.insert(fields::TEMPLATE_CODE.into(), self.code.clone().into());
        input.insert(fields::MIME_TYPE.into(), self.mime_type.clone().into());
        let extension = self.name.rsplit_once('.').map_or(self.name.as_str(), |(_, e)| e);
        input.insert(fields::FILE_EXTENSION.into(), extension.into());
        input
    }
}

impl Local {
    /// The model the data is written to.
    pub fn model(&self) -> &'static str {
        match self.kind {
            LocalKind::Device => DEVICE,
            LocalKind::VirtualMachine => VIRTUAL_MACHINE,
        }
    }
}

/// A file that refuses the repository, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub file: String,
    pub reason: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.reason)
    }
}

/// Reads what a repository provides from its files (path in the repository, contents).
pub fn read(files: &[(String, Vec<u8>)]) -> Result<Provided, Refused> {
    let mut provided = Provided::default();
    for (path, bytes) in files {
        let refuse = |reason: String| Refused { file: path.clone(), reason };
        let parts: Vec<&str> = path.split('/').collect();
        if !wanted(path) {
            continue;
        }
        if bytes.len() > MAX_FILE {
            return Err(refuse(format!("the file is larger than {MAX_FILE} bytes")));
        }
        let text =
            std::str::from_utf8(bytes).map_err(|_| refuse("the file is not UTF-8 text".into()))?;
        match parts.as_slice() {
            [CONTEXTS, _] => {
                for value in documents(text).map_err(refuse)? {
                    provided.contexts.push(context(value, path).map_err(refuse)?);
                }
            }
            [CONTEXTS, "devices" | "virtual_machines", file] => {
                let kind = if parts[1] == "devices" {
                    LocalKind::Device
                } else {
                    LocalKind::VirtualMachine
                };
                let data = parse(text).map_err(refuse)?;
                if !data.is_object() {
                    return Err(refuse("data must be a dict".into()));
                }
                provided.local.push(Local { kind, name: stem(file), data, file: path.clone() });
            }
            [CONTEXTS, list, file] => {
                if !crate::config_context::LISTS.contains(list) {
                    continue;
                }
                let mut value = parse(text).map_err(refuse)?;
                let Json::Object(map) = &mut value else {
                    return Err(refuse("data must be a dict".into()));
                };
                // The directory assigns the context: `device_types` by model, the others by name.
                let key = if *list == "device_types" { "model" } else { "name" };
                let metadata =
                    map.entry("_metadata").or_insert_with(|| Json::Object(Default::default()));
                let Json::Object(metadata) = metadata else {
                    return Err(refuse("`_metadata` must be a dict".into()));
                };
                let assigned = metadata.entry(*list).or_insert_with(|| Json::Array(Vec::new()));
                if let Json::Array(assigned) = assigned {
                    assigned.push(serde_json::json!({ key: stem(file) }));
                }
                provided.contexts.push(context(value, path).map_err(refuse)?);
            }
            [SCHEMAS, _] => {
                for value in documents(text).map_err(refuse)? {
                    provided.schemas.push(schema(value, path).map_err(refuse)?);
                }
            }
            [TEMPLATES, app, model, file] => provided.templates.push(Template {
                content_type: format!("{app}.{model}"),
                name: (*file).to_owned(),
                code: text.to_owned(),
                mime_type: mime_type(file).to_owned(),
                file: path.clone(),
            }),
            _ => {}
        }
    }
    // One name, one object: a name given twice would be written twice, the last one winning.
    for (i, c) in provided.contexts.iter().enumerate() {
        if let Some(first) = provided.contexts[..i].iter().find(|p| p.name == c.name) {
            return Err(Refused {
                file: c.file.clone(),
                reason: format!("the config context `{}` is also in {}", c.name, first.file),
            });
        }
    }
    for (i, s) in provided.schemas.iter().enumerate() {
        if let Some(first) = provided.schemas[..i].iter().find(|p| p.name == s.name) {
            return Err(Refused {
                file: s.file.clone(),
                reason: format!("the config context schema `{}` is also in {}", s.name, first.file),
            });
        }
    }
    Ok(provided)
}

/// Whether the file at `path` is one the repository provides something from: the reader of a
/// commit's tree loads only those.
pub fn wanted(path: &str) -> bool {
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [CONTEXTS, _] | [CONTEXTS, _, _] | [SCHEMAS, _] => data_file(path),
        [TEMPLATES, _, _, _] => true,
        _ => false,
    }
}

/// A YAML or JSON data file (YAML is a superset of JSON: both are read as YAML, as Nautobot
/// reads them).
fn data_file(path: &str) -> bool {
    [".yaml", ".yml", ".json"].iter().any(|e| path.ends_with(e))
}

fn stem(file: &str) -> String {
    file.rsplit_once('.').map_or(file, |(stem, _)| stem).to_owned()
}

fn parse(text: &str) -> Result<Json, String> {
    serde_yaml::from_str::<Json>(text).map_err(|e| format!("not valid YAML or JSON: {e}"))
}

/// A file holding one dict or a list of dicts.
fn documents(text: &str) -> Result<Vec<Json>, String> {
    match parse(text)? {
        Json::Array(items) if items.iter().all(Json::is_object) => Ok(items),
        value @ Json::Object(_) => Ok(vec![value]),
        _ => Err("data must be a dict or a list of dicts".into()),
    }
}

/// Spec: `import_config_context`: `_metadata` with a `name`, weight 1000, no description and
/// active unless it says; `schema` is the older name of `config_context_schema`; every other
/// key is the context's data.
fn context(mut value: Json, file: &str) -> Result<Context, String> {
    let Json::Object(map) = &mut value else { return Err("data must be a dict".into()) };
    let Some(Json::Object(metadata)) = map.remove("_metadata") else {
        return Err("data is missing the required `_metadata` key.".into());
    };
    let Some(name) = metadata.get("name").and_then(Json::as_str).map(str::to_owned) else {
        return Err("data `_metadata` is missing the required `name` key.".into());
    };
    let weight = match metadata.get("weight") {
        None => 1000,
        Some(w) => w.as_i64().ok_or("`_metadata` `weight` must be an integer")?,
    };
    let description =
        metadata.get("description").and_then(Json::as_str).unwrap_or_default().to_owned();
    let is_active = match metadata.get("is_active") {
        None => true,
        Some(a) => a.as_bool().ok_or("`_metadata` `is_active` must be true or false")?,
    };
    let schema = metadata
        .get("config_context_schema")
        .or_else(|| metadata.get("schema"))
        .and_then(Json::as_str)
        .map(str::to_owned);
    let mut assignments = BTreeMap::new();
    for list in crate::config_context::LISTS {
        let Some(given) = metadata.get(list) else { continue };
        let Json::Array(items) = given else {
            return Err(format!("`_metadata` `{list}` must be a list of lookups"));
        };
        if !items.iter().all(Json::is_object) {
            return Err(format!("`_metadata` `{list}` must be a list of lookups"));
        }
        assignments.insert(list.to_owned(), items.clone());
    }
    Ok(Context {
        name,
        weight,
        description,
        is_active,
        schema,
        assignments,
        data: value,
        file: file.to_owned(),
    })
}

/// Spec: `import_config_context_schema`: `_metadata` with a `name`, and `data_schema`.
fn schema(value: Json, file: &str) -> Result<Schema, String> {
    let Some(metadata) = value.get("_metadata").and_then(Json::as_object) else {
        return Err("data is missing the required `_metadata` key.".into());
    };
    let Some(name) = metadata.get("name").and_then(Json::as_str) else {
        return Err("data `_metadata` is missing the required `name` key.".into());
    };
    let Some(data_schema) = value.get("data_schema").filter(|s| s.is_object()) else {
        return Err("data is missing the required `data_schema` key.".into());
    };
    Ok(Schema {
        name: name.to_owned(),
        description: metadata
            .get("description")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned(),
        data_schema: data_schema.clone(),
        file: file.to_owned(),
    })
}

/// An export template's MIME type from its file's extension, as Python's
/// `mimetypes.guess_type` gives it for the formats export templates write; `text/plain` else.
fn mime_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).as_deref() {
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("yaml" | "yml") => "application/yaml",
        Some("xml") => "application/xml",
        Some("html" | "htm") => "text/html",
        Some("md") => "text/markdown",
        _ => "text/plain",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())).collect()
    }

    #[test]
    fn a_repository_provides_what_nautobot_reads() {
        let repo = files(&[
            ("config_contexts/ntp.yaml", "_metadata:\n  name: ntp\n  weight: 100\n  locations:\n    - name: ams01\nntp_servers: [10.0.0.1]\n"),
            ("config_contexts/many.json", r#"[{"_metadata": {"name": "a", "schema": "s"}, "x": 1}, {"_metadata": {"name": "b", "is_active": false}, "y": 2}]"#),
            ("config_contexts/roles/leaf.yml", "mtu: 9000\n_metadata:\n  name: leaf mtu\n"),
            ("config_contexts/device_types/acme-s48.yaml", "_metadata: {name: s48}\nports: 48\n"),
            ("config_contexts/devices/ams01-leaf1.yaml", "snmp: {community: x}\n"),
            ("config_context_schemas/s.yaml", "_metadata: {name: s, description: d}\ndata_schema: {type: object}\n"),
            ("export_templates/dcim/device/inventory.csv", "{% for d in queryset %}{{ d.name }}\n{% endfor %}"),
            ("export_templates/dcim/device/notes.j2", "x"),
            ("README.md", "not data"),
            ("config_contexts/notes.txt", "ignored"),
            ("config_contexts/unknown_list/x.yaml", "_metadata: {name: ignored}"),
        ]);
        let p = read(&repo).unwrap();
        let names: Vec<&str> = p.contexts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ntp", "a", "b", "leaf mtu", "s48"]);
        assert_eq!(p.contexts[0].weight, 100);
        assert_eq!(p.contexts[0].assignments["locations"], vec![json!({"name": "ams01"})]);
        assert_eq!(p.contexts[0].data, json!({"ntp_servers": ["10.0.0.1"]}));
        assert_eq!((p.contexts[1].weight, p.contexts[1].schema.as_deref()), (1000, Some("s")));
        assert!(!p.contexts[2].is_active);
        assert_eq!(p.contexts[3].assignments["roles"], vec![json!({"name": "leaf"})]);
        assert_eq!(p.contexts[4].assignments["device_types"], vec![json!({"model": "acme-s48"})]);
        assert_eq!(
            p.local,
            vec![Local {
                kind: LocalKind::Device,
                name: "ams01-leaf1".into(),
                data: json!({"snmp": {"community": "x"}}),
                file: "config_contexts/devices/ams01-leaf1.yaml".into()
            }]
        );
        assert_eq!(
            (p.schemas[0].name.as_str(), &p.schemas[0].data_schema),
            ("s", &json!({"type": "object"}))
        );
        let templates: Vec<(&str, &str, &str)> = p
            .templates
            .iter()
            .map(|t| (t.content_type.as_str(), t.name.as_str(), t.mime_type.as_str()))
            .collect();
        assert_eq!(
            templates,
            [
                ("dcim.device", "inventory.csv", "text/csv"),
                ("dcim.device", "notes.j2", "text/plain")
            ]
        );
    }

    #[test]
    fn a_bad_file_refuses_the_repository_naming_it() {
        // (file, contents, start of the reason)
        let table: &[(&str, &str, &str)] = &[
            ("config_contexts/bad.yaml", "a: [1, 2", "not valid YAML or JSON"),
            (
                "config_contexts/bad.yaml",
                "just: data",
                "data is missing the required `_metadata` key.",
            ),
            (
                "config_contexts/bad.yaml",
                "_metadata: {weight: 1}",
                "data `_metadata` is missing the required `name` key.",
            ),
            ("config_contexts/bad.yaml", "- 1\n- 2", "data must be a dict or a list of dicts"),
            (
                "config_contexts/bad.yaml",
                "_metadata: {name: x, weight: heavy}",
                "`_metadata` `weight` must be an integer",
            ),
            (
                "config_contexts/bad.yaml",
                "_metadata: {name: x, locations: ams01}",
                "`_metadata` `locations` must be a list of lookups",
            ),
            ("config_contexts/devices/d.yaml", "- a", "data must be a dict"),
            (
                "config_context_schemas/s.yaml",
                "_metadata: {name: s}",
                "data is missing the required `data_schema` key.",
            ),
        ];
        for (file, contents, reason) in table {
            let refused = read(&files(&[(file, contents)])).unwrap_err();
            assert_eq!(refused.file, *file);
            assert!(refused.reason.starts_with(reason), "{file}: {}", refused.reason);
        }
        let twice = files(&[
            ("config_contexts/a.yaml", "_metadata: {name: x}"),
            ("config_contexts/b.yaml", "_metadata: {name: x}"),
        ]);
        assert_eq!(
            read(&twice).unwrap_err().to_string(),
            "config_contexts/b.yaml: the config context `x` is also in config_contexts/a.yaml"
        );
        let binary = vec![("config_contexts/a.yaml".to_owned(), vec![0xff, 0xfe])];
        assert_eq!(read(&binary).unwrap_err().reason, "the file is not UTF-8 text");
        let huge = vec![("config_contexts/a.yaml".to_owned(), vec![b'a'; MAX_FILE + 1])];
        assert!(read(&huge).unwrap_err().reason.contains("larger than"));
    }
}
