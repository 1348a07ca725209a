//! Jinja2 templates that users write (webhook bodies, validation patterns, computed fields), run
//! on minijinja in a sandbox: a budget of work, a recursion limit and a cap on what they write,
//! so that no template can stall or exhaust the server.

use serde_json::Value as Json;

/// The most a rendered template may weigh; a template that writes more fails.
pub const MAX_RENDERED: usize = 4 << 20;

/// A template's budget of work (minijinja's fuel): loops and filters past it fail the render.
const FUEL: u64 = 5_000_000;

/// An environment with the sandbox's limits, to add templates to.
pub fn environment() -> minijinja::Environment<'static> {
    environment_with_fuel(FUEL)
}

/// An environment with a smaller budget, for templates rendered once per object written (a
/// validation rule's pattern): a template that burns it fails in milliseconds, not seconds.
pub fn environment_with_fuel(fuel: u64) -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(fuel));
    env.set_recursion_limit(64);
    // Python's methods (`dict.items()`, `str.split()` …), which Jinja2 templates call.
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env
}

/// Renders one template of `env` over `context`; the error says what went wrong and where.
pub fn render(
    env: &minijinja::Environment<'_>,
    name: &str,
    context: &Json,
) -> Result<String, String> {
    render_value(env, name, &minijinja::Value::from_serialize(context))
}

/// [`render`] over a context already made a template value.
pub fn render_value(
    env: &minijinja::Environment<'_>,
    name: &str,
    context: &minijinja::Value,
) -> Result<String, String> {
    let template = env.get_template(name).map_err(|e| error_text(&e))?;
    let out = template
        .render(context)
        .map_err(|e| format!("Error rendering {name}: {}", error_text(&e)))?;
    if out.len() > MAX_RENDERED {
        return Err(format!("{name} renders more than {MAX_RENDERED} bytes."));
    }
    Ok(out)
}

/// A template error as one line: its kind, line and detail.
pub fn error_text(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => {
            format!("{} (line {line})", e.kind()).replace("  ", " ")
                + &e.detail().map(|d| format!(": {d}")).unwrap_or_default()
        }
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runaway_templates_stop() {
        let mut env = environment();
        env.add_template_owned(
            "loop",
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
                .to_owned(),
        )
        .unwrap();
        assert!(render(&env, "loop", &Json::Null).is_err());
        env.add_template_owned("big", "{{ 'x' * 5000000 }}".to_owned()).unwrap();
        assert!(render(&env, "big", &Json::Null).is_err());
        env.add_template_owned("ok", "{{ obj.name }}".to_owned()).unwrap();
        assert_eq!(render(&env, "ok", &serde_json::json!({"obj": {"name": "a"}})).unwrap(), "a");
    }
}
