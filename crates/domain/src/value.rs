//! Typed values: the one value type every layer shares ([`Datum`]), natural ordering keys, IP
//! addresses as bytes, GraphQL enum item names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// One value of a field, in its stored type: what validation produces, what a read decodes,
/// what uniqueness compares. It converts to a database value only at the database edge and to
/// JSON only at the edges (GraphQL, import files, the change-log column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    Null,
    Bool(bool),
    Int(i64),
    Text(Box<str>),
    Uuid(Uuid),
    Bytes(Box<[u8]>),
    Json(Box<serde_json::Value>),
    DateTime(DateTime<Utc>),
    Date(NaiveDate),
}

impl Datum {
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Datum::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Datum::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Datum::Text(t) => Some(t),
            _ => None,
        }
    }

    pub fn text(s: impl Into<Box<str>>) -> Datum {
        Datum::Text(s.into())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }
}

/// JSON values hash by their text, so a datum can key a map (uniqueness, caches).
impl std::hash::Hash for Datum {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Datum::Null => {}
            Datum::Bool(b) => b.hash(state),
            Datum::Int(i) => i.hash(state),
            Datum::Text(t) => t.hash(state),
            Datum::Uuid(u) => u.hash(state),
            Datum::Bytes(b) => b.hash(state),
            Datum::Json(j) => j.to_string().hash(state),
            Datum::DateTime(d) => d.hash(state),
            Datum::Date(d) => d.hash(state),
        }
    }
}

/// The key Nautobot's natural ordering sorts by: every run of digits is zero-padded to eight
/// places, so `eth2` sorts before `eth10` with a plain string comparison.
///
/// Spec: nautobot/core/utils/data.py `naturalize` (pads integers to eight digits).
pub fn naturalize(value: &str) -> String {
    const WIDTH: usize = 8;
    let mut out = String::with_capacity(value.len() + 8);
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if !digits.is_empty() {
            for _ in digits.len()..WIDTH {
                out.push('0');
            }
            out.push_str(digits);
            digits.clear();
        }
    };
    for ch in value.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
        } else {
            flush(&mut digits, &mut out);
            out.push(ch);
        }
    }
    flush(&mut digits, &mut out);
    out
}

/// An IP address as stored: 4 bytes for IPv4, 16 for IPv6.
pub fn ip_to_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// The inverse of [`ip_to_bytes`]; `None` for a value of another length.
pub fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))),
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(bytes);
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

/// A MAC address in the form Nautobot stores and answers (`AA:BB:CC:DD:EE:FF`), from any of
/// the forms it accepts: six groups of 1–2 hex digits (`:` or `-`), three of 1–4 (`:`, `-` or
/// `.`, Cisco's `aabb.ccdd.eeff`), two of 5–6 (`-` or `:`), or 11–12 bare digits; `None` for
/// anything else. Spec: nautobot/core/models/fields.py (`MACAddressCharField`: netaddr's `EUI`,
/// version 48, `mac_unix_expanded_uppercase`); netaddr/strategy/eui48.py (the accepted forms).
pub fn mac_address(text: &str) -> Option<String> {
    let text = text.trim();
    let separator = text.chars().find(|c| matches!(c, ':' | '-' | '.'));
    let groups: Vec<&str> = match separator {
        Some(sep) => text.split(sep).collect(),
        None => vec![text],
    };
    let hex = |g: &&str| g.bytes().all(|b| b.is_ascii_hexdigit());
    let width = match (groups.len(), separator) {
        (6, Some(':' | '-')) => 2,
        (3, Some(_)) => 4,
        (2, Some(':' | '-')) => 6,
        (1, None) => 12,
        _ => return None,
    };
    let low = match width {
        6 => 5,
        12 => 11,
        _ => 1,
    };
    if !groups.iter().all(|g| hex(g) && (low..=width).contains(&g.len())) {
        return None;
    }
    let digits: String =
        groups.iter().map(|g| format!("{:0>width$}", g.to_ascii_uppercase())).collect();
    let pairs: Vec<&str> = (0..6).map(|i| &digits[2 * i..2 * i + 2]).collect();
    Some(pairs.join(":"))
}

/// The GraphQL enum item for a choice value, as graphene names it: upper case, every other
/// character an underscore, and `A_` before a leading digit (`1000base-t` → `A_1000BASE_T`).
pub fn enum_item_name(value: &str) -> String {
    let mut out: String = value
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "A_");
    }
    out
}

/// `ip_version` → `IpVersion`, `dcim` → `Dcim`: the pieces of a graphene enum type name.
pub fn camel_case(value: &str) -> String {
    value
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A JSON value as Python's `repr` writes the value it loads as: `['a', 'b']`, `{'k': 1}`,
/// `None`, `True` (a string in single quotes unless it holds one and no double quote).
pub fn python_repr(value: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match value {
        J::Null => "None".into(),
        J::Bool(b) => if *b { "True" } else { "False" }.into(),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => python_float(f),
            _ => n.to_string(),
        },
        J::String(s) => {
            let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
            let mut out = String::with_capacity(s.len() + 2);
            out.push(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        J::Array(items) => {
            format!("[{}]", items.iter().map(python_repr).collect::<Vec<_>>().join(", "))
        }
        J::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", python_repr(&J::String(k.clone())), python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A float as Python's `repr` writes it: the shortest digits that read back the same, in fixed
/// notation from 1e-4 up to 1e16 (`10.0`, `0.0001`), else scientific with a signed exponent of at
/// least two digits (`1e+16`, `1.5e-05`).
pub fn python_float(n: f64) -> String {
    if n == 0.0 {
        return if n.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.25e3`.
    let sci = format!("{n:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{rest}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{text}")
}

/// Whether a user-given key can name a GraphQL field and a Python attribute:
/// `[_A-Za-z][_0-9A-Za-z]*` (Nautobot's `check_if_key_is_graphql_safe`, for custom fields,
/// computed fields and relationships).
pub fn graphql_safe(key: &str) -> bool {
    key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Django's `slugify` with dashes turned into underscores (Nautobot's
/// `slugify_dashes_to_underscores`, an AutoSlugField's default): ASCII letters, digits and
/// underscores, lower case, runs of spaces and dashes as one underscore.
pub fn slugify_underscores(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else if c == '-' || c.is_whitespace() {
            gap = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {

    /// Spec: django.utils.text.slugify, nautobot/core/models/fields.py
    /// (`slugify_dashes_to_underscores`).
    #[test]
    fn slugs_as_nautobot_makes_them() {
        for (text, slug) in [
            ("Config Repo", "config_repo"),
            ("over  http", "over_http"),
            ("a - b", "a_b"),
            ("Site.A/B", "siteab"),
            ("  edge-1 ", "edge_1"),
        ] {
            assert_eq!(slugify_underscores(text), slug, "{text}");
        }
    }

    use super::*;

    fn check_naturalize(input: &str, expect: &str) {
        assert_eq!(naturalize(input), expect);
    }

    #[test]
    fn naturalize_pads_digit_runs() {
        check_naturalize("eth2", "eth00000002");
        check_naturalize("dev-00010", "dev-00000010");
        check_naturalize("site", "site");
        check_naturalize("1/0/10", "00000001/00000000/00000010");
        assert!(naturalize("eth2") < naturalize("eth10"));
    }

    #[test]
    fn enum_items_follow_graphene() {
        assert_eq!(enum_item_name("1000base-t"), "A_1000BASE_T");
        assert_eq!(enum_item_name("front"), "FRONT");
        assert_eq!(enum_item_name("tagged-all"), "TAGGED_ALL");
    }

    #[test]
    fn mac_addresses_read_as_nautobot_reads_them() {
        let cases: [(&str, Option<&str>); 12] = [
            ("aa:bb:cc:dd:ee:ff", Some("AA:BB:CC:DD:EE:FF")),
            ("AA-BB-CC-DD-EE-FF", Some("AA:BB:CC:DD:EE:FF")),
            ("a:b:c:d:e:f", Some("0A:0B:0C:0D:0E:0F")),
            ("aabb.ccdd.eeff", Some("AA:BB:CC:DD:EE:FF")),
            ("aabb:ccdd:eeff", Some("AA:BB:CC:DD:EE:FF")),
            ("aabbcc-ddeeff", Some("AA:BB:CC:DD:EE:FF")),
            ("aabbccddeeff", Some("AA:BB:CC:DD:EE:FF")),
            (" 00:11:22:33:44:55 ", Some("00:11:22:33:44:55")),
            ("aa:bb:cc:dd:ee", None),
            ("aa:bb-cc:dd:ee:ff", None),
            ("gg:bb:cc:dd:ee:ff", None),
            ("aabb.ccdd.eeff.0011", None),
        ];
        for (text, want) in cases {
            assert_eq!(mac_address(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn ip_bytes_round_trip() {
        for text in ["10.1.2.3", "2001:db8::1"] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(ip_from_bytes(&ip_to_bytes(ip)), Some(ip));
        }
        assert_eq!(ip_from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn values_are_written_as_python_reprs_them() {
        use serde_json::json;
        assert_eq!(python_repr(&json!(["a", "b"])), "['a', 'b']");
        assert_eq!(python_repr(&json!(["it's", "x\\y", "q\"'"])), r#"["it's", 'x\\y', 'q"\'']"#);
        assert_eq!(python_repr(&json!({"k": [1, 2.5, null, true]})), "{'k': [1, 2.5, None, True]}");
    }

    #[test]
    fn floats_are_written_as_python_writes_them() {
        // Spec: Python's float repr (`repr(x)`).
        let table: &[(f64, &str)] = &[
            (10.0, "10.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.25e20, "1.25e+20"),
            (123456.789, "123456.789"),
            (0.0, "0.0"),
        ];
        for (n, want) in table {
            assert_eq!(python_float(*n), *want, "{n}");
        }
    }
}
