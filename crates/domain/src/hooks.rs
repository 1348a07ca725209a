//! Behaviour attached to models that a catalogue entry cannot say, looked up by model label.
//!
//! The generic write path (today the import, tomorrow mutations) asks [`inputs`] which extra
//! input keys a model takes and how they turn into stored columns, and [`parent`] whether its
//! rows get a computed parent. Adding such behaviour to a model is a line here and a function
//! in the domain module that owns it, never a special case in the generic code.

use crate::ipam;

/// A stored value an input produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derived {
    Bytes(Vec<u8>),
    Int(i64),
}

/// What an input derives: (field, value) pairs of the stored form.
pub type Derivation = Result<Vec<(&'static str, Derived)>, String>;

/// An input key that is not a field: `prefix: 10.0.0.0/16` on prefixes, which fills `network`,
/// `broadcast`, `prefix_length` and `ip_version`.
pub struct Input {
    pub key: &'static str,
    /// The stored form, as (field, value) pairs.
    pub derive: fn(&str) -> Derivation,
}

/// How a row's parent is found: the most specific prefix of the namespace that contains it.
pub struct ParentRule {
    /// The field that holds the parent.
    pub field: &'static str,
    /// The field holding the address bytes to contain.
    pub address: &'static str,
    /// The field holding its length (prefix length or mask length).
    pub length: &'static str,
    /// Whether the parent must be strictly shorter (prefixes) or may be as long (addresses).
    pub strict: bool,
    /// Where the namespace comes from: a field of the row, or an input key naming one.
    pub namespace: NamespaceSource,
    /// Whether a row without any containing prefix is refused.
    pub required: bool,
}

pub enum NamespaceSource {
    Field(&'static str),
    /// An input key (a reference to an `ipam.namespace`), with the name used when it is absent.
    Input {
        key: &'static str,
        default: &'static str,
    },
}

fn prefix_columns(text: &str) -> Derivation {
    let p = ipam::parse_prefix(text)?;
    Ok(vec![
        ("network", Derived::Bytes(p.network)),
        ("broadcast", Derived::Bytes(p.broadcast)),
        ("prefix_length", Derived::Int(i64::from(p.prefix_length))),
        ("ip_version", Derived::Int(i64::from(p.ip_version))),
    ])
}

fn address_columns(text: &str) -> Derivation {
    let a = ipam::parse_address(text)?;
    Ok(vec![
        ("host", Derived::Bytes(a.host)),
        ("mask_length", Derived::Int(i64::from(a.mask_length))),
        ("ip_version", Derived::Int(i64::from(a.ip_version))),
    ])
}

/// The extra inputs of a model.
pub fn inputs(label: &str) -> &'static [Input] {
    match label {
        "ipam.prefix" => &[Input { key: "prefix", derive: prefix_columns }],
        "ipam.ipaddress" => &[Input { key: "address", derive: address_columns }],
        _ => &[],
    }
}

/// The parent rule of a model, if its rows have a computed parent.
pub fn parent(label: &str) -> Option<&'static ParentRule> {
    // Spec: nautobot/ipam/models.py (Prefix.get_parent, IPAddress._get_closest_parent).
    static PREFIX: ParentRule = ParentRule {
        field: "parent",
        address: "network",
        length: "prefix_length",
        strict: true,
        namespace: NamespaceSource::Field("namespace"),
        required: false,
    };
    static ADDRESS: ParentRule = ParentRule {
        field: "parent",
        address: "host",
        length: "mask_length",
        strict: false,
        namespace: NamespaceSource::Input { key: "namespace", default: "Global" },
        required: true,
    };
    match label {
        "ipam.prefix" => Some(&PREFIX),
        "ipam.ipaddress" => Some(&ADDRESS),
        _ => None,
    }
}

/// Whether `key` is an input of the model that is not one of its fields.
pub fn is_input(label: &str, key: &str) -> bool {
    inputs(label).iter().any(|i| i.key == key)
        || parent(label).is_some_and(
            |p| matches!(p.namespace, NamespaceSource::Input { key: k, .. } if k == key),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_input_fills_the_stored_columns() {
        let cols = (inputs("ipam.prefix")[0].derive)("10.1.2.3/16").expect("valid");
        assert_eq!(cols[0], ("network", Derived::Bytes(vec![10, 1, 0, 0])));
        assert_eq!(cols[2], ("prefix_length", Derived::Int(16)));
        assert!((inputs("ipam.prefix")[0].derive)("nope").is_err());
        assert!(inputs("dcim.device").is_empty());
        assert!(is_input("ipam.ipaddress", "namespace") && !is_input("ipam.prefix", "namespace"));
    }
}
