//! Intended configurations, as Golden Config renders them: a Jinja2 template from a
//! repository's files, rendered over each device's data (the answer of a GraphQL query for that
//! device). The templates are compiled once for the whole fleet; a template may `include` or
//! `import` the repository's other files, and its path may itself be a template over the
//! device's data (`templates/{{ platform.network_driver }}.j2`), compiled once per path.
//!
//! The device's data are the template's variables (`{{ hostname }}`, `{% for i in interfaces
//! %}`), and the whole of them is also `device`. Each render has the sandbox's budget of work
//! and output (`crate::template`).
//!
//! Spec: nautobot-app-golden-config (`config_intended`: the GraphQL query's answer for a device
//! is the template's context).

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::Value;

/// The name the whole of a device's data has in its template.
pub const DEVICE: &str = "device";

/// The name of an inline template (no repository).
pub const INLINE: &str = "template";

const PATH: &str = "__path__";

/// One device's data, as its template sees them: read straight from the query's answer into
/// template values, never through a JSON tree.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Data(BTreeMap<String, Value>);

impl Data {
    /// Takes a text value out of the data (the id and name the render added to the query).
    pub fn take_text(&mut self, key: &str) -> Option<String> {
        self.0.remove(key).and_then(|v| v.as_str().map(str::to_owned))
    }
}

/// A repository's file by its path, read when a template first needs it (`None`: no such file;
/// an error: a file that cannot be a template). Each file is read once per render.
pub type Source = Arc<dyn Fn(&str) -> Result<Option<String>, String> + Send + Sync>;

/// Compiled templates for one render of the fleet.
pub struct Templates {
    env: minijinja::Environment<'static>,
    /// The template's path, or a template that gives it per device.
    path: Path,
}

enum Path {
    Fixed(String),
    PerDevice,
}

impl Templates {
    /// Templates from a repository's files, starting at `path`: only the files the templates
    /// reach are read.
    pub fn from_source(source: Source, path: &str) -> Result<Templates, String> {
        let mut env = crate::template::environment();
        env.set_loader(move |name| {
            source(name)
                .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e))
        });
        let path = if path.contains("{{") || path.contains("{%") {
            env.add_template_owned(PATH.to_owned(), path.to_owned())
                .map_err(|e| format!("The template path: {}", crate::template::error_text(&e)))?;
            Path::PerDevice
        } else {
            // Compiled now, so that a syntax error refuses the render before any device.
            match env.get_template(path) {
                Ok(_) => {}
                Err(e) if e.kind() == minijinja::ErrorKind::TemplateNotFound => {
                    return Err(format!("The repository has no file `{path}`."));
                }
                Err(e) => return Err(crate::template::error_text(&e)),
            }
            Path::Fixed(path.to_owned())
        };
        Ok(Templates { env, path })
    }

    /// One template given as text.
    pub fn inline(code: &str) -> Result<Templates, String> {
        let mut env = crate::template::environment();
        env.add_template_owned(INLINE.to_owned(), code.to_owned())
            .map_err(|e| crate::template::error_text(&e))?;
        Ok(Templates { env, path: Path::Fixed(INLINE.to_owned()) })
    }

    /// Renders the device of these data: the template's path and the text.
    pub fn render(&self, data: Data) -> (String, Result<String, String>) {
        // The context shares the data (minijinja's values are reference-counted).
        let value = Value::from(data.0);
        let context = minijinja::context! { device => value.clone(), ..value };
        let path = match &self.path {
            Path::Fixed(path) => path.clone(),
            Path::PerDevice => match crate::template::render_value(&self.env, PATH, &context) {
                Ok(path) => path.trim().to_owned(),
                Err(e) => return (String::new(), Err(e)),
            },
        };
        let text = crate::template::render_value(&self.env, &path, &context);
        (path, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value as Json};

    fn device_data(value: Json) -> Data {
        serde_json::from_value(value).expect("an object")
    }

    /// A repository of these files (path, text), counting the reads of each.
    fn files(list: &[(&str, &str)]) -> (Source, Arc<std::sync::Mutex<Vec<String>>>) {
        let files: std::collections::HashMap<String, String> =
            list.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
        let reads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = reads.clone();
        let source: Source = Arc::new(move |path: &str| {
            seen.lock().expect("unpoisoned").push(path.to_owned());
            match path {
                "huge.j2" => Err("`huge.j2` is larger than 16777216 bytes".to_owned()),
                _ => Ok(files.get(path).cloned()),
            }
        });
        (source, reads)
    }

    /// Spec: Golden Config's intended configuration: the query's answer is the context, and
    /// templates include others of the repository.
    #[test]
    fn a_device_renders_from_its_data() {
        let repo = files(&[
            ("templates/ios.j2", "hostname {{ hostname }}\n{% include 'templates/ntp.j2' %}"),
            (
                "templates/ntp.j2",
                "{% for s in config_context.ntp %}ntp server {{ s }}\n{% endfor %}",
            ),
            ("templates/eos.j2", "! {{ device.hostname }}"),
            ("templates/junos.j2", "unread"),
        ]);
        let (repo, reads) = repo;
        let data = device_data(
            json!({"hostname": "r1", "platform": {"network_driver": "ios"}, "config_context": {"ntp": ["10.0.0.1"]}}),
        );
        let fixed = Templates::from_source(repo.clone(), "templates/ios.j2").expect("compiles");
        assert_eq!(
            fixed.render(data.clone()),
            ("templates/ios.j2".to_owned(), Ok("hostname r1\nntp server 10.0.0.1\n".to_owned()))
        );
        let per_platform =
            Templates::from_source(repo.clone(), "templates/{{ platform.network_driver }}.j2")
                .expect("compiles");
        let eos = device_data(json!({"hostname": "s1", "platform": {"network_driver": "eos"}}));
        assert_eq!(per_platform.render(eos).1, Ok("! s1".to_owned()));
        let (path, text) =
            per_platform.render(device_data(json!({"hostname": "x", "platform": null})));
        assert_eq!(path, "templates/.j2");
        assert!(text.is_err());
        // Only what the renders reached was read, each file once per render's templates.
        let mut read = reads.lock().expect("unpoisoned").clone();
        read.sort();
        assert_eq!(
            read,
            ["templates/.j2", "templates/eos.j2", "templates/ios.j2", "templates/ntp.j2"]
        );
    }

    /// Jinja2's Python methods, which Golden Config's templates call.
    #[test]
    fn python_methods_work_as_in_jinja2() {
        let t = Templates::inline(
            "{% for k, v in config_context.items() %}{{ k }}={{ v }};{% endfor %}{{ hostname.upper() }} {{ hostname.startswith('r') }} {{ 'a,b'.split(',') | length }}",
        )
        .expect("compiles");
        let data = device_data(json!({"hostname": "r1", "config_context": {"ntp": 1}}));
        assert_eq!(t.render(data).1, Ok("ntp=1;R1 True 2".to_owned()));
    }

    #[test]
    fn bad_templates_are_refused_before_any_device() {
        let (repo, _) = files(&[("t.j2", "{% for x in %}"), ("inc.j2", "{% include 'huge.j2' %}")]);
        assert!(Templates::from_source(repo.clone(), "t.j2").is_err());
        assert_eq!(
            Templates::from_source(repo.clone(), "missing.j2").err().as_deref(),
            Some("The repository has no file `missing.j2`.")
        );
        let huge = Templates::from_source(repo.clone(), "huge.j2").err().unwrap_or_default();
        assert!(huge.contains("`huge.j2` is larger than 16777216 bytes"), "{huge}");
        // An include that cannot be read fails its device only.
        let t = Templates::from_source(repo, "inc.j2").expect("compiles");
        let text = t.render(Data::default()).1.err().unwrap_or_default();
        assert!(text.contains("larger than"), "{text}");
        assert!(Templates::inline("{{ x ").is_err());
    }

    #[test]
    fn a_runaway_template_fails_its_device_only() {
        let t =
            Templates::inline("{% for i in range(100000000) %}x{% endfor %}").expect("compiles");
        assert!(t.render(Data::default()).1.is_err());
    }
}
