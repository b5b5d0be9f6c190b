//! The `/content/...` browser over the raw dataset.

use crate::error::DicomError;
use crate::parser::{find, DicomFile, Element, Value};
use crate::tag::Tag;

/// The answer to a `/content` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A JSON array of strings: child tags (`"gggg-eeee"`) or item indices.
    Children(Vec<String>),
    /// The raw stored value, padding included.
    Bytes(Vec<u8>),
}

fn tags_of(ds: &[Element]) -> Content {
    Content::Children(ds.iter().map(|e| e.tag.dashed()).collect())
}

fn indices(n: usize) -> Content {
    Content::Children((0..n).map(|i| i.to_string()).collect())
}

impl DicomFile {
    /// Navigates the dataset: `[]` lists the top-level tags, `[tag]` gives a leaf's
    /// bytes or the item indices of a sequence / pixel data, `[tag, index, ...]`
    /// descends into items or pixel data fragments.
    pub fn content(&self, path: &[&str]) -> Result<Content, DicomError> {
        let path: Vec<&str> = path.iter().copied().filter(|p| !p.is_empty()).collect();
        let buf = self.dataset_buf();
        let mut ds: &[Element] = &self.dataset;
        let mut i = 0;
        loop {
            let Some(component) = path.get(i) else {
                return Ok(tags_of(ds));
            };
            let tag = Tag::parse(component)
                .ok_or_else(|| DicomError::UnknownTag(component.to_string()))?;
            let el = find(ds, tag).ok_or_else(|| DicomError::UnknownTag(component.to_string()))?;
            i += 1;
            let index = match path.get(i) {
                None => {
                    return Ok(match &el.value {
                        Value::Sequence(items) => indices(items.len()),
                        Value::Fragments(f) => indices(f.len()),
                        Value::Bytes(_) if tag == Tag::PIXEL_DATA => indices(1),
                        Value::Bytes(r) => {
                            Content::Bytes(buf.get(r.clone()).unwrap_or_default().to_vec())
                        }
                    })
                }
                Some(s) => s.parse::<usize>().map_err(|_| DicomError::OutOfRange)?,
            };
            i += 1;
            match &el.value {
                Value::Sequence(items) => {
                    ds = items.get(index).ok_or(DicomError::OutOfRange)?;
                }
                Value::Fragments(f) if i == path.len() => {
                    let r = f.get(index).ok_or(DicomError::OutOfRange)?;
                    return Ok(Content::Bytes(
                        buf.get(r.clone()).unwrap_or_default().to_vec(),
                    ));
                }
                Value::Bytes(r) if tag == Tag::PIXEL_DATA && index == 0 && i == path.len() => {
                    return Ok(Content::Bytes(
                        buf.get(r.clone()).unwrap_or_default().to_vec(),
                    ));
                }
                _ => return Err(DicomError::OutOfRange),
            }
        }
    }
}
