//! Files into an import feed, parsed as they are read: JSON object by object (memory holds one
//! object, whatever the file's size), YAML one document (`---`) at a time (a YAML document is
//! parsed whole, so a big YAML import is best split into a document per section).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use super::{feed, Feed, FeedSender, ImportError, Item};

/// The message a reader stops with when the import no longer listens (it failed).
const STOPPED: &str = "the import stopped reading";

/// Reads one JSON document of the import format into `sender`. Blocking: run it on a thread of
/// its own. Returns `false` once the import stopped listening.
pub fn read_json(reader: impl Read, document: &str, sender: &FeedSender) -> bool {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let result = Sections { document: Arc::from(document), sender }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    report(result, document, sender)
}

/// Reads the YAML documents of a stream of the import format into `sender`, one after the other.
/// Blocking, as [`read_json`].
pub fn read_yaml(reader: impl Read, document: &str, sender: &FeedSender) -> bool {
    let name: Arc<str> = Arc::from(document);
    for doc in serde_yaml::Deserializer::from_reader(reader) {
        let result = Sections { document: name.clone(), sender }.deserialize(doc);
        if !report(result, document, sender) {
            return false;
        }
    }
    true
}

/// Reads `paths` one after the other on a thread of its own (JSON for `.json`, YAML otherwise),
/// adding the bytes read to `read` as it goes.
pub fn spawn_files(paths: Vec<PathBuf>, read: Arc<AtomicU64>) -> Feed {
    let (sender, feed) = feed();
    std::thread::spawn(move || {
        for path in paths {
            let name = path.display().to_string();
            let file = match std::fs::File::open(&path) {
                Ok(f) => Counting { inner: f, read: read.clone() },
                Err(e) => {
                    let _ = sender
                        .blocking_send(Err(ImportError::document(&name, format!("read: {e}"))));
                    return;
                }
            };
            let going = if is_json(&path) {
                read_json(file, &name, &sender)
            } else {
                read_yaml(file, &name, &sender)
            };
            if !going {
                return;
            }
        }
    });
    feed
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Sends a parse error into the feed; `false` when reading should stop.
fn report<E: std::fmt::Display>(
    result: Result<(), E>,
    document: &str,
    sender: &FeedSender,
) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            let message = e.to_string();
            if !message.contains(STOPPED) {
                let _ = sender.blocking_send(Err(ImportError::document(
                    document,
                    format!("parse: {message}"),
                )));
            }
            false
        }
    }
}

fn send<E: de::Error>(sender: &FeedSender, item: Item) -> Result<(), E> {
    sender.blocking_send(Ok(item)).map_err(|_| E::custom(STOPPED))
}

/// A document: a mapping from model label to a list of objects.
struct Sections<'a> {
    document: Arc<str>,
    sender: &'a FeedSender,
}

impl<'de> DeserializeSeed<'de> for Sections<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Sections<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a mapping from model label to a list of objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(label) = map.next_key::<String>()? {
            send(self.sender, Item::Section { document: self.document.clone(), label })?;
            map.next_value_seed(Objects { sender: self.sender })?;
        }
        Ok(())
    }

    /// An empty YAML document.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A section: a list of objects, each sent as it is parsed.
struct Objects<'a> {
    sender: &'a FeedSender,
}

impl<'de> DeserializeSeed<'de> for Objects<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Objects<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(object) = seq.next_element::<Json>()? {
            send(self.sender, Item::Object(object))?;
        }
        Ok(())
    }

    /// `label:` with nothing after it, in YAML: no objects.
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A reader that counts what it reads, for progress.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(read: impl FnOnce(&FeedSender) -> bool + Send + 'static) -> Vec<String> {
        let (sender, mut feed) = feed();
        let reader = std::thread::spawn(move || read(&sender));
        let mut out = Vec::new();
        while let Some(item) = feed.blocking_recv() {
            out.push(match item {
                Ok(Item::Section { document, label }) => format!("{document}:{label}"),
                Ok(Item::Object(o)) => o.to_string(),
                Err(e) => format!("error {e}"),
            });
        }
        let _ = reader.join();
        out
    }

    #[test]
    fn json_sections_and_objects_arrive_in_order() {
        let text = r#"{"dcim.location": [{"name": "a"}, 7], "extras.tag": [], "dcim.device": [{"name": "d"}]}"#;
        let got = items(|s| read_json(text.as_bytes(), "f.json", s));
        assert_eq!(
            got,
            [
                "f.json:dcim.location",
                r#"{"name":"a"}"#,
                "7",
                "f.json:extras.tag",
                "f.json:dcim.device",
                r#"{"name":"d"}"#
            ]
        );
    }

    #[test]
    fn json_errors_say_where() {
        let got =
            items(|s| read_json(r#"{"dcim.location": [{"name": }]}"#.as_bytes(), "f.json", s));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[1].starts_with("error f.json: "), "{got:?}");
        assert!(got[1].contains("line 1 column 29"), "{got:?}");
        let got =
            items(|s| read_json(r#"{"dcim.location": {"name": "a"}}"#.as_bytes(), "f.json", s));
        assert!(got[1].contains("expected a list of objects"), "{got:?}");
        let got = items(|s| read_json(r#"[1]"#.as_bytes(), "f.json", s));
        assert!(got[0].contains("expected a mapping from model label"), "{got:?}");
        let got = items(|s| read_json(r#"{} {}"#.as_bytes(), "f.json", s));
        assert!(got[0].contains("trailing characters"), "{got:?}");
    }

    #[test]
    fn yaml_documents_follow_each_other() {
        let text = "dcim.location:\n- name: a\n---\nextras.tag:\n---\ndcim.device: [{name: d}]\n";
        let got = items(|s| read_yaml(text.as_bytes(), "f.yaml", s));
        assert_eq!(
            got,
            [
                "f.yaml:dcim.location",
                r#"{"name":"a"}"#,
                "f.yaml:extras.tag",
                "f.yaml:dcim.device",
                r#"{"name":"d"}"#
            ]
        );
    }

    /// A reader stops as soon as the import stops listening, without reporting an error.
    #[test]
    fn a_reader_stops_when_the_import_stops() {
        let (sender, feed) = feed();
        drop(feed);
        assert!(!read_json(r#"{"extras.tag": [{"name": "a"}]}"#.as_bytes(), "f.json", &sender));
    }
}
