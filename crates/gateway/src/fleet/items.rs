//! The objects of an answer's list, one at a time, as its JSON is written: the render reads
//! the answer's bytes as they come (`render::write_response`) and hands on each object of
//! `data.fleet`, so a fleet's data are never held whole.

use std::fmt;
use std::io::Read;

use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value as Json;

use crate::render::Chunk;

/// The answer's bytes, read from the channel the writer fills.
/// serde_json reads a reader a byte at a time: each read is a copy from the current chunk.
pub(crate) struct ChunkReader {
    rx: tokio::sync::mpsc::Receiver<Chunk>,
    current: bytes::Bytes,
    at: usize,
}

impl ChunkReader {
    pub(crate) fn new(rx: tokio::sync::mpsc::Receiver<Chunk>) -> ChunkReader {
        ChunkReader { rx, current: bytes::Bytes::new(), at: 0 }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.current.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => (self.current, self.at) = (chunk?, 0),
                None => return Ok(0),
            }
        }
        let rest = &self.current[self.at..];
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

/// Why a reading stopped early: `each` asked it to.
const STOPPED: &str = "the reader stopped";

/// Reads an answer from `reader`, calling `each` with every object of `data.<key>` in order,
/// read as a `T`; the answer's `errors`. `each` returning false stops the reading there (and
/// with it the answer's writer, whose channel closes): `Ok(None)`.
pub(crate) fn read<T: DeserializeOwned>(
    reader: impl Read,
    key: &str,
    each: &mut dyn FnMut(T) -> bool,
) -> serde_json::Result<Option<Vec<Json>>> {
    let mut errors = Vec::new();
    // serde_json takes a reader a byte at a time: a buffer makes that a copy from memory.
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, reader));
    match (Top { key, each, errors: &mut errors }).deserialize(&mut de) {
        Ok(()) => Ok(Some(errors)),
        Err(e) if e.to_string().starts_with(STOPPED) => Ok(None),
        Err(e) => Err(e),
    }
}

struct Top<'a, T> {
    key: &'a str,
    each: &'a mut dyn FnMut(T) -> bool,
    errors: &'a mut Vec<Json>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Top<'_, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Top<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a GraphQL answer")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            match name.as_str() {
                "data" => map.next_value_seed(Data { key: self.key, each: &mut *self.each })?,
                "errors" => *self.errors = map.next_value::<Vec<Json>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct Data<'a, T> {
    key: &'a str,
    each: &'a mut dyn FnMut(T) -> bool,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Data<'_, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Data<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the answer's data")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            if name == self.key {
                map.next_value_seed(List { each: &mut *self.each })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct List<'a, T> {
    each: &'a mut dyn FnMut(T) -> bool,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for List<'_, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for List<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<T>()? {
            if !(self.each)(item) {
                return Err(serde::de::Error::custom(STOPPED));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_come_one_at_a_time() {
        let answer = br#"{"data":{"other":[1],"fleet":[{"name":"a"},{"name":"b"}]},"errors":[{"message":"x"}]}"#;
        let mut seen = Vec::new();
        let errors = read(&answer[..], "fleet", &mut |item: Json| {
            seen.push(item["name"].as_str().unwrap_or_default().to_owned());
            true
        })
        .expect("reads");
        assert_eq!(seen, ["a", "b"]);
        assert_eq!(errors, Some(vec![serde_json::json!({"message": "x"})]));
        let errors =
            read(&br#"{"data":{"fleet":null}}"#[..], "fleet", &mut |_: Json| true).expect("reads");
        assert_eq!(errors, Some(Vec::new()));
        // The reader stops at the first object it refuses.
        let mut taken = 0;
        let stopped = read(&answer[..], "fleet", &mut |_: Json| {
            taken += 1;
            false
        });
        assert_eq!((stopped.ok(), taken), (Some(None), 1));
    }
}
