//! Custom field definitions, read from the database at run time, and the checks of a value
//! against one (`CustomField.validate`).

/// A custom field definition, loaded from the database at run time.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomField {
    pub key: String,
    pub label: String,
    pub kind: CustomFieldKind,
    pub description: String,
    /// Labels of the models that carry the field.
    pub content_types: Vec<String>,
    pub choices: Vec<String>,
    /// An object of a model that carries the field must have a value (or the default).
    pub required: bool,
    /// What an object created without a value gets.
    pub default: Option<serde_json::Value>,
    /// Text: the shortest and longest length; integers: the least and greatest value; JSON:
    /// the length of its JSON text.
    pub validation_minimum: Option<i64>,
    pub validation_maximum: Option<i64>,
    /// Text and JSON: a pattern the value must contain a match of (Python's `re.search`).
    pub validation_regex: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomFieldKind {
    Text,
    Integer,
    Boolean,
    Date,
    Url,
    Select,
    MultiSelect,
    Json,
    Markdown,
}

impl CustomField {
    /// Checks one value of this field, as stored in `_custom_field_data` (null clears it).
    pub fn check(&self, value: &serde_json::Value) -> Result<(), String> {
        use serde_json::Value as J;
        let ok = match (self.kind, value) {
            (_, J::Null) => true,
            (CustomFieldKind::Integer, v) => v.as_i64().is_some(),
            (CustomFieldKind::Boolean, v) => v.is_boolean(),
            (CustomFieldKind::Date, J::String(s)) => {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
            }
            (CustomFieldKind::Date, _) => false,
            (CustomFieldKind::MultiSelect, J::Array(items)) => items.iter().all(J::is_string),
            (CustomFieldKind::MultiSelect, _) => false,
            (CustomFieldKind::Json, _) => true,
            (_, v) => v.is_string(),
        };
        if !ok {
            return Err(format!(
                "{value} is not a valid value for the {:?} custom field {}",
                self.kind, self.key
            ));
        }
        self.rules(value).map_err(|m| format!("Invalid value for custom field '{}': {m}", self.key))
    }

    /// Spec: `CustomField.validate`: the field's own rules on a value of the right type (an
    /// empty value — null, "" or [] — only has to be there when the field is required).
    fn rules(&self, value: &serde_json::Value) -> Result<(), String> {
        use serde_json::Value as J;
        let empty = matches!(value, J::Null)
            || value.as_str() == Some("")
            || value.as_array().is_some_and(Vec::is_empty);
        if empty {
            return match self.required {
                true => Err("Required field cannot be empty.".into()),
                false => Ok(()),
            };
        }
        let (min, max) = (self.validation_minimum, self.validation_maximum);
        let text = match (self.kind, value) {
            (
                CustomFieldKind::Text | CustomFieldKind::Url | CustomFieldKind::Markdown,
                J::String(s),
            ) => Some(s.clone()),
            (CustomFieldKind::Json, v)
                if self.validation_regex.is_some() || min.is_some() || max.is_some() =>
            {
                Some(crate::webhook::python_json(v))
            }
            _ => None,
        };
        if let Some(text) = text {
            let length = text.chars().count() as i64;
            if let Some(min) = min.filter(|m| length < *m) {
                return Err(format!("Value must be at least {min} characters in length"));
            }
            if let Some(max) = max.filter(|m| length > *m) {
                return Err(format!("Value must not exceed {max} characters in length"));
            }
            if let Some(pattern) = &self.validation_regex {
                let found = regex::Regex::new(pattern).map(|re| re.is_match(&text));
                if !found.unwrap_or(false) {
                    return Err(format!("Value must match regex '{pattern}'"));
                }
            }
        }
        if let (CustomFieldKind::Integer, Some(n)) = (self.kind, value.as_i64()) {
            if let Some(min) = min.filter(|m| n < *m) {
                return Err(format!("Value must be at least {min}"));
            }
            if let Some(max) = max.filter(|m| n > *m) {
                return Err(format!("Value must not exceed {max}"));
            }
        }
        // The choices are the field's `extras.customfieldchoice` rows: a select field without
        // any takes no value, as in Nautobot.
        let known = |c: &str| self.choices.iter().any(|x| x == c);
        match (self.kind, value) {
            (CustomFieldKind::Select, J::String(choice)) if !known(choice) => Err(format!(
                "Invalid choice ({choice}). Available choices are: {}",
                self.choices.join(", ")
            )),
            (CustomFieldKind::MultiSelect, J::Array(items))
                if !items.iter().all(|i| i.as_str().is_some_and(known)) =>
            {
                Err(format!(
                    "Invalid choice(s) ({}). Available choices are: {}",
                    crate::value::python_repr(value),
                    self.choices.join(", ")
                ))
            }
            _ => Ok(()),
        }
    }
}

impl CustomFieldKind {
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "text" => Self::Text,
            "integer" => Self::Integer,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "url" => Self::Url,
            "select" => Self::Select,
            "multi-select" => Self::MultiSelect,
            "json" => Self::Json,
            "markdown" => Self::Markdown,
            _ => return None,
        })
    }
}
