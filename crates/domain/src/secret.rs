//! Secrets as Nautobot models them: a secret names a provider and its parameters, a secrets
//! group hands out secrets by access type and secret type. The value itself is fetched where
//! it is needed (a Git repository's credentials), never stored.
//!
//! Spec: nautobot/extras/secrets/providers.py (`EnvironmentVariableSecretsProvider`,
//! `TextFileSecretsProvider`), nautobot/extras/models/secrets.py (`SecretsGroup.get_secret_value`).

use serde_json::Value as Json;

/// The label of the secret model.
pub const SECRET: &str = "extras.secret";

/// The label of a secrets group's association with a secret.
pub const GROUP_ASSOCIATION: &str = "extras.secretsgroupassociation";

/// The fields of an association that pick a secret.
pub mod fields {
    pub const SECRETS_GROUP: &str = "secrets_group";
    pub const ACCESS_TYPE: &str = "access_type";
    pub const SECRET_TYPE: &str = "secret_type";
    pub const SECRET: &str = "secret";
    pub const PROVIDER: &str = "provider";
    pub const PARAMETERS: &str = "parameters";
    pub const NAME: &str = "name";
}

/// The access type of HTTP(S) credentials.
pub const HTTP: &str = "HTTP(S)";

/// The secret types of HTTP(S) credentials.
pub const TOKEN: &str = "token";
pub const USERNAME: &str = "username";

/// Where a secret's value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An environment variable of the server's process.
    Environment(String),
    /// A text file on the server; its value without the trailing newline.
    File(String),
}

/// Where the secret of this provider and these parameters is read from, or why it cannot be.
pub fn source(provider: &str, parameters: &Json) -> Result<Source, String> {
    let parameter = |key: &str| {
        parameters
            .get(key)
            .and_then(Json::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("the {provider} provider needs the `{key}` parameter"))
    };
    match provider {
        "environment-variable" => Ok(Source::Environment(parameter("variable")?)),
        "text-file" => Ok(Source::File(parameter("path")?)),
        other => Err(format!("the secrets provider `{other}` is not supported")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Spec: nautobot/extras/secrets/providers.py (the parameters each provider takes).
    #[test]
    fn providers_and_their_parameters() {
        let cases = [
            (
                "environment-variable",
                json!({"variable": "GIT_TOKEN"}),
                Ok(Source::Environment("GIT_TOKEN".into())),
            ),
            (
                "text-file",
                json!({"path": "/run/secrets/git"}),
                Ok(Source::File("/run/secrets/git".into())),
            ),
            ("environment-variable", json!({}), Err("needs the `variable` parameter")),
            ("text-file", json!({"path": ""}), Err("needs the `path` parameter")),
            ("vault", json!({}), Err("`vault` is not supported")),
        ];
        for (provider, parameters, want) in cases {
            match (source(provider, &parameters), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{provider}: {got:?} against {want:?}"),
            }
        }
    }
}
