//! Validation of one object's input against its model, as Nautobot's model forms do it.
//!
//! [`scalar`] checks one field's value (required, null, max length, choices, minimums, dates,
//! content types) and turns it into a typed [`Datum`]; [`unique_message`] words a uniqueness
//! conflict as Django does. The write path calls these for every field of an object and reports
//! every failure at once. Spec: django/db/models/fields/__init__.py (`Field.validate`,
//! `CharField` max length), django/db/models/base.py (`Model.unique_error_message`).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::catalogue::{Field, FieldKind, Model};
use crate::value::{enum_item_name, Datum};
use crate::Catalogue;

pub const REQUIRED: &str = "This field is required.";
pub const NOT_NULL: &str = "This field cannot be null.";
pub const NULL_CHARACTERS: &str = "Null characters are not allowed.";

/// Whether a value holds a NUL character in any string or key, however deep.
pub fn has_nul(value: &Json) -> bool {
    match value {
        Json::String(s) => s.contains('\0'),
        Json::Array(items) => items.iter().any(has_nul),
        Json::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Checks one value of a field that is not a reference. Choice fields take the stored value
/// (`1000base-t`) or the GraphQL enum item name (`A_1000BASE_T`).
pub fn scalar(catalogue: &Catalogue, field: &Field, v: &Json) -> Result<Datum, String> {
    if v.is_null() {
        return if field.null { Ok(Datum::Null) } else { Err(NOT_NULL.into()) };
    }
    // Spec: django/core/validators.py ProhibitNullCharactersValidator (every form CharField).
    // PostgreSQL stores no NUL in text or jsonb.
    if has_nul(v) {
        return Err(NULL_CHARACTERS.into());
    }
    let text =
        || v.as_str().map(str::to_owned).ok_or_else(|| format!("Expected a string, got {v}."));
    Ok(match &field.kind {
        FieldKind::Uuid => {
            Datum::Uuid(Uuid::parse_str(&text()?).map_err(|_| format!("{v} is not a valid UUID."))?)
        }
        FieldKind::String { max_length } => {
            let s = match v {
                Json::Number(n) => n.to_string(),
                _ => text()?,
            };
            let n = s.chars().count();
            if n > *max_length as usize {
                return Err(format!(
                    "Ensure this value has at most {max_length} characters (it has {n})."
                ));
            }
            if s.is_empty() && !field.blank {
                return Err("This field cannot be blank.".into());
            }
            Datum::text(s)
        }
        FieldKind::Text => Datum::text(match v {
            Json::Number(n) => n.to_string(),
            _ => text()?,
        }),
        FieldKind::Decimal { max_digits, decimal_places } => {
            let s = match v {
                Json::Number(n) => n.to_string(),
                _ => text()?,
            };
            Datum::text(decimal(s.trim(), *max_digits, *decimal_places)?)
        }
        // Spec: django/db/models/fields FloatField.to_python (`float(value)`): a number, or
        // text that reads as one; infinities and NaN are no value a column or JSON can hold.
        FieldKind::Float => {
            let n = match v {
                Json::Number(n) => n.as_f64(),
                Json::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match n.filter(|n| n.is_finite()) {
                Some(n) => Datum::text(crate::value::python_float(n)),
                None => {
                    return Err(format!(
                        "“{}” value must be a float.",
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    ))
                }
            }
        }
        FieldKind::Choice { choices, .. } => {
            let s = text()?;
            if s.is_empty() && field.blank {
                return Ok(Datum::text(s));
            }
            match choices.iter().find(|(value, _)| *value == s || enum_item_name(value) == s) {
                Some((value, _)) => Datum::text(value.clone()),
                None => return Err(format!("Value '{s}' is not a valid choice.")),
            }
        }
        FieldKind::Integer { size, min, max, choices } => {
            let i = v.as_i64().ok_or_else(|| format!("Expected an integer, got {v}."))?;
            if !choices.is_empty() && !choices.iter().any(|(value, _)| *value == i) {
                return Err(format!("Value {i} is not a valid choice."));
            }
            // The model's validators first, then the column's range, as Django runs them.
            let (lowest, highest) = size.range();
            if let Some(m) = min.filter(|m| i < *m).or((i < lowest).then_some(lowest)) {
                return Err(format!("Ensure this value is greater than or equal to {m}."));
            }
            if let Some(m) = max.filter(|m| i > *m).or((i > highest).then_some(highest)) {
                return Err(format!("Ensure this value is less than or equal to {m}."));
            }
            Datum::Int(i)
        }
        FieldKind::Boolean => {
            Datum::Bool(v.as_bool().ok_or_else(|| format!("Expected true or false, got {v}."))?)
        }
        FieldKind::DateTime => {
            let s = text()?;
            let d = DateTime::parse_from_rfc3339(&s)
                .map_err(|_| format!("'{s}' is not an RFC 3339 date-time."))?;
            Datum::DateTime(d.with_timezone(&Utc))
        }
        FieldKind::Date => {
            let s = text()?;
            Datum::Date(
                NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .map_err(|_| format!("'{s}' is not a date (YYYY-MM-DD)."))?,
            )
        }
        FieldKind::Json => Datum::Json(Box::new(v.clone())),
        FieldKind::ContentTypes => {
            let list = v.as_array().ok_or("Expected a list of model labels.")?;
            for item in list {
                let label = item.as_str().unwrap_or_default();
                if catalogue.by_label(label).is_none() {
                    return Err(format!("Unknown content type {item}."));
                }
            }
            Datum::Json(Box::new(v.clone()))
        }
        FieldKind::ContentType => {
            let s = text()?;
            if catalogue.by_label(&s).is_none() {
                return Err(format!("Unknown content type {s}."));
            }
            Datum::text(s)
        }
        FieldKind::MacAddress => {
            let s = text()?;
            match s.trim() {
                "" => Datum::text(""),
                given => Datum::text(
                    crate::value::mac_address(given)
                        .ok_or_else(|| format!("Invalid MAC address format: {given}"))?,
                ),
            }
        }
        FieldKind::IpBytes => {
            let s = text()?;
            let ip: std::net::IpAddr =
                s.parse().map_err(|_| format!("'{s}' is not an IP address."))?;
            Datum::Bytes(crate::value::ip_to_bytes(ip).into())
        }
        FieldKind::ForeignKey { .. } | FieldKind::ManyToMany { .. } => {
            return Err("A reference is not a scalar.".into())
        }
    })
}

/// Checks a decimal's digits as Django's `DecimalValidator` counts them (leading zeros do not
/// count; `0.001` has three decimal places and three digits), and gives it as stored: with the
/// field's decimal places, as the database's `DECIMAL` column hands it to Nautobot
/// (`45.5` is `45.500000` for a latitude).
fn decimal(text: &str, max_digits: u32, decimal_places: u32) -> Result<String, String> {
    let not_a_number = || format!("'{text}' value must be a decimal number.");
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().map_err(|_| not_a_number())?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(not_a_number());
    }
    // Decimal's (digits, exponent): the digits without leading zeros, the exponent of the last.
    let digits_all = format!("{whole}{fraction}");
    let significant = digits_all.trim_start_matches('0').len().max(1) as i64;
    let exponent = exponent.saturating_sub(fraction.len() as i64);
    let (digits, decimals) = if exponent >= 0 {
        let digits = if digits_all.trim_start_matches('0').is_empty() {
            1
        } else {
            significant.saturating_add(exponent)
        };
        (digits, 0)
    } else if -exponent > significant {
        (-exponent, -exponent)
    } else {
        (significant, -exponent)
    };
    let (max_digits, decimal_places) = (i64::from(max_digits), i64::from(decimal_places));
    if digits > max_digits {
        return Err(format!("Ensure that there are no more than {max_digits} digits in total."));
    }
    if decimals > decimal_places {
        return Err(format!("Ensure that there are no more than {decimal_places} decimal places."));
    }
    if digits - decimals > max_digits - decimal_places {
        return Err(format!(
            "Ensure that there are no more than {} digits before the decimal point.",
            max_digits - decimal_places
        ));
    }
    // The value is digits_all × 10^exponent, with no more decimal places than the field's: as
    // an integer count of 10^-decimal_places, it is digits_all followed by zeros.
    let mut scaled = digits_all.trim_start_matches('0').to_owned();
    if !scaled.is_empty() {
        scaled.extend(std::iter::repeat_n('0', (exponent + decimal_places) as usize));
    }
    let places = decimal_places as usize;
    if scaled.len() <= places {
        scaled = format!("{}{scaled}", "0".repeat(places + 1 - scaled.len()));
    }
    let negative = text.starts_with('-') && scaled.bytes().any(|b| b != b'0');
    let (whole, fraction) = scaled.split_at(scaled.len() - places);
    let sign = if negative { "-" } else { "" };
    Ok(match places {
        0 => format!("{sign}{whole}"),
        _ => format!("{sign}{whole}.{fraction}"),
    })
}

/// The value a field takes when the input leaves it out, if it can be left out: its default,
/// null, an empty list or an empty string. `Err` is the required-field message.
pub fn absent(field: &Field) -> Result<Option<&Json>, &'static str> {
    if let Some(d) = &field.default {
        return Ok(Some(d));
    }
    if field.null {
        return Ok(None);
    }
    match &field.kind {
        FieldKind::ContentTypes => Ok(None),
        FieldKind::String { .. } | FieldKind::Text | FieldKind::Choice { .. } if field.blank => {
            Ok(None)
        }
        _ => Err(REQUIRED),
    }
}

/// Fields the write path fills itself: the key, the timestamps.
pub fn is_automatic(field: &Field) -> bool {
    field.primary_key || matches!(field.name.as_str(), "created" | "last_updated")
}

/// Django's words for a unique violation: `Device with this Location, Tenant and Name already
/// exists.`
pub fn unique_message(model: &Model, fields: &[usize]) -> String {
    let labels: Vec<String> = fields.iter().map(|&i| capitalise(&model.fields[i].name)).collect();
    let joined = match labels.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    format!("{} with this {joined} already exists.", capitalise(&model.verbose_name))
}

fn capitalise(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(label: &str, field: &str, value: Json, expect: Result<Datum, &str>) {
        let catalogue = Catalogue::core().expect("catalogue");
        let model = catalogue.by_label(label).expect("model");
        let (_, f) = model.field(field).expect("field");
        assert_eq!(scalar(&catalogue, f, &value), expect.map_err(str::to_owned), "{label}.{field}");
    }

    #[test]
    fn scalars_are_checked_as_django_does() {
        check("dcim.interface", "type", "1000base-t".into(), Ok(Datum::text("1000base-t")));
        check("dcim.interface", "type", "A_1000BASE_T".into(), Ok(Datum::text("1000base-t")));
        check(
            "dcim.interface",
            "type",
            "bogus".into(),
            Err("Value 'bogus' is not a valid choice."),
        );
        check(
            "dcim.device",
            "serial",
            Json::String("x".repeat(300)),
            Err("Ensure this value has at most 255 characters (it has 300)."),
        );
        // Spec: the model's validators (BaseInterface.mtu: 1–65536, VLAN.vid: 1–4094), then the
        // column's range (connection.ops.integer_field_range; PositiveSmallIntegerField ≤ 32767).
        let ranges: [(&str, &str, i64, Result<Datum, &str>); 7] = [
            ("dcim.interface", "mtu", 0, Err("Ensure this value is greater than or equal to 1.")),
            ("dcim.interface", "mtu", 65_536, Ok(Datum::Int(65_536))),
            (
                "dcim.interface",
                "mtu",
                65_537,
                Err("Ensure this value is less than or equal to 65536."),
            ),
            ("ipam.vlan", "vid", 4_095, Err("Ensure this value is less than or equal to 4094.")),
            ("dcim.device", "position", 32_767, Ok(Datum::Int(32_767))),
            (
                "dcim.device",
                "position",
                65_536,
                Err("Ensure this value is less than or equal to 32767."),
            ),
            (
                "dcim.device",
                "vc_priority",
                256,
                Err("Ensure this value is less than or equal to 255."),
            ),
        ];
        for (label, field, value, expect) in ranges {
            check(label, field, Json::from(value), expect);
        }
        check("dcim.interface", "mtu", Json::Null, Ok(Datum::Null));
        check("dcim.device", "serial", "a\0b".into(), Err(NULL_CHARACTERS));
        check("dcim.device", "comments", "a\0b".into(), Err(NULL_CHARACTERS));
        check(
            "dcim.device",
            "local_config_context_data",
            serde_json::json!({"k": ["\0"]}),
            Err(NULL_CHARACTERS),
        );
        check("dcim.interface", "name", Json::Null, Err(NOT_NULL));
    }

    #[test]
    fn decimals_are_counted_as_django_does() {
        // Spec: django/core/validators.py DecimalValidator; Location.latitude is (8, 6).
        let cases: [(&str, Result<&str, &str>); 14] = [
            ("45.123456", Ok("45.123456")),
            ("-45.5", Ok("-45.500000")),
            ("0.000001", Ok("0.000001")),
            ("007.5", Ok("7.500000")),
            ("1e1", Ok("10.000000")),
            ("+2.5E-3", Ok("0.002500")),
            ("-0.0", Ok("0.000000")),
            ("0", Ok("0.000000")),
            (".5", Ok("0.500000")),
            ("0.1234567", Err("Ensure that there are no more than 6 decimal places.")),
            ("123.5", Err("Ensure that there are no more than 2 digits before the decimal point.")),
            ("123456789", Err("Ensure that there are no more than 8 digits in total.")),
            ("12,5", Err("'12,5' value must be a decimal number.")),
            ("", Err("'' value must be a decimal number.")),
        ];
        for (text, expect) in cases {
            assert_eq!(
                decimal(text, 8, 6),
                expect.map(str::to_owned).map_err(str::to_owned),
                "{text}"
            );
        }
        assert_eq!(decimal("0.95", 4, 2), Ok("0.95".to_owned()));
        assert_eq!(decimal("12", 4, 0), Ok("12".to_owned()));
        check("dcim.location", "latitude", Json::from(45.5), Ok(Datum::text("45.500000")));
        check(
            "dcim.location",
            "latitude",
            Json::String("9".repeat(40)),
            Err("Ensure that there are no more than 8 digits in total."),
        );
    }

    #[test]
    fn unique_messages_read_like_django() {
        let catalogue = Catalogue::core().expect("catalogue");
        let device = catalogue.by_label("dcim.device").expect("device");
        let group = &device.unique_together[0];
        let message = unique_message(device, group);
        assert!(message.starts_with("Device with this "), "{message}");
        assert!(message.ends_with(" already exists."), "{message}");
    }
}
