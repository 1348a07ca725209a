//! Cursors of cursor pages: the list's model and the page-ordering values of a row, as JSON, in
//! URL-safe base64. Opaque to clients; a cursor that does not decode, or is another list's, is
//! refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ferrobot_domain::request::CursorValue;
use ferrobot_persistence::Cell;

/// The longest cursor taken, in characters: a row's ordering values are a few names and an id.
const MAX_CURSOR: usize = 4_096;

/// The cursor of a row of a model's list, from its page-ordering cells.
pub(crate) fn encode(label: &str, cells: &[&Cell]) -> String {
    let values: Vec<CursorValue> = cells.iter().map(|c| value(c)).collect();
    let json = serde_json::to_vec(&(label, values)).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn value(cell: &Cell) -> CursorValue {
    match cell {
        Cell::Null | Cell::Json(_) => CursorValue::Null,
        Cell::Bool(b) => CursorValue::Bool(*b),
        Cell::Int(i) => CursorValue::Int(*i),
        Cell::Text(t) => CursorValue::Text(t.to_string()),
        Cell::Uuid(u) => CursorValue::Text(u.hyphenated().to_string()),
        Cell::Bytes(b) => CursorValue::Text(b.iter().map(|x| format!("{x:02x}")).collect()),
        Cell::DateTime(d) => {
            CursorValue::Text(d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }
        Cell::Date(d) => CursorValue::Text(d.to_string()),
    }
}

/// The values a cursor of `label`'s list names; `None` when it is not one.
pub(crate) fn decode(label: &str, text: &str) -> Option<Vec<CursorValue>> {
    if text.len() > MAX_CURSOR {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    let (of, values): (String, Vec<CursorValue>) = serde_json::from_slice(&bytes).ok()?;
    (of == label).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = uuid::Uuid::new_v4();
        let cells = [Cell::Text("dev-00042".into()), Cell::Null, Cell::Int(7), Cell::Uuid(id)];
        let text = encode("app.one", &cells.iter().collect::<Vec<_>>());
        assert_eq!(decode("app.other", &text), None);
        assert_eq!(
            decode("app.one", &text),
            Some(vec![
                CursorValue::Text("dev-00042".into()),
                CursorValue::Null,
                CursorValue::Int(7),
                CursorValue::Text(id.to_string()),
            ])
        );
        for garbage in ["", "!!", "bm90IGpzb24", &"A".repeat(5_000)] {
            assert_eq!(decode("app.one", garbage), None, "{garbage:.20}");
        }
    }
}
