//! The slices service (`GET /series/{id}/ordered-slices`): the frames of a series in spatial
//! order, for viewers.
//!
//! As Orthanc does, from the main DICOM tags only (no file is read):
//! * a **volume** when every instance has an `ImagePositionPatient` and the series has a slice
//!   normal (from `ImageOrientationPatient`, the series' or else its first instance's) that no
//!   instance contradicts: instances sorted by the projection of their position on the
//!   normal, which must all differ;
//! * else **sorted** by `InstanceNumber` (or `ImageIndex`) when every instance has one;
//! * else the series cannot be ordered.

use std::sync::Arc;

use serde_json::{json, Value};
use stowage_core::{IndexError, IndexTransaction, InternalId, MainDicomTag, ResourceType};

use super::context::Context;
use super::error::{tx_plumbing, ErrorCode, ServiceError, TxError, Verdict};
use super::resources::lookup_at_level;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlicesError {
    #[error("Unable to order the slices of series {0}")]
    CannotOrder(String),
    #[error(transparent)]
    Tx(TxError),
}

tx_plumbing!(SlicesError);

impl ServiceError for SlicesError {
    fn verdict(&self) -> Verdict {
        match self {
            SlicesError::CannotOrder(_) => {
                Verdict::detailed(ErrorCode::CannotOrderSlices, self.to_string())
            }
            SlicesError::Tx(e) => e.verdict(),
        }
    }
    fn tx_error(&self) -> Option<&TxError> {
        match self {
            SlicesError::Tx(e) => Some(e),
            SlicesError::CannotOrder(_) => None,
        }
    }
}

const IMAGE_POSITION: (u16, u16) = (0x0020, 0x0032);
const IMAGE_ORIENTATION: (u16, u16) = (0x0020, 0x0037);
const INSTANCE_NUMBER: (u16, u16) = (0x0020, 0x0013);
const IMAGE_INDEX: (u16, u16) = (0x0054, 0x1330);
const NUMBER_OF_FRAMES: (u16, u16) = (0x0028, 0x0008);

/// What ordering needs to know of one instance.
#[derive(Debug, Clone)]
struct Slice {
    public_id: String,
    frames: u64,
    position: Option<[f64; 3]>,
    normal: Option<[f64; 3]>,
    number: Option<i64>,
}

fn numbers<const N: usize>(value: &str) -> Option<[f64; N]> {
    let parts: Vec<f64> = value
        .split('\\')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .ok()?;
    parts.try_into().ok()
}

/// The slice normal of an `ImageOrientationPatient` value (row × column direction cosines).
fn normal_of(orientation: &str) -> Option<[f64; 3]> {
    let [a, b, c, d, e, f] = numbers::<6>(orientation)?;
    let n = [b * f - c * e, c * d - a * f, a * e - b * d];
    let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    (length > 1e-6).then(|| [n[0] / length, n[1] / length, n[2] / length])
}

fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn parallel(a: &[f64; 3], b: &[f64; 3]) -> bool {
    (dot(a, b).abs() - 1.0).abs() < 1e-4
}

fn tag(tags: &[MainDicomTag], wanted: (u16, u16)) -> Option<&str> {
    tags.iter()
        .find(|t| (t.group, t.element) == wanted)
        .map(|t| t.value.trim())
        .filter(|v| !v.is_empty())
}

fn slice(tx: &mut dyn IndexTransaction, id: InternalId) -> Result<Slice, IndexError> {
    let tags = tx.get_main_dicom_tags(id)?;
    Ok(Slice {
        public_id: tx.get_public_id(id)?,
        frames: tag(&tags, NUMBER_OF_FRAMES)
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(1),
        position: tag(&tags, IMAGE_POSITION).and_then(numbers::<3>),
        normal: tag(&tags, IMAGE_ORIENTATION).and_then(normal_of),
        number: tag(&tags, INSTANCE_NUMBER)
            .or_else(|| tag(&tags, IMAGE_INDEX))
            .and_then(|v| v.parse::<i64>().ok()),
    })
}

/// Orders by position along the normal; `None` if some slice has no position, contradicts the
/// normal, or shares its position with another.
fn by_position(slices: &[Slice], normal: &[f64; 3]) -> Option<Vec<Slice>> {
    let mut keyed = Vec::with_capacity(slices.len());
    for s in slices {
        if s.normal.as_ref().is_some_and(|n| !parallel(n, normal)) {
            return None;
        }
        keyed.push((dot(&s.position?, normal), s.clone()));
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let distinct = keyed.windows(2).all(|w| (w[1].0 - w[0].0).abs() > 1e-6);
    distinct.then(|| keyed.into_iter().map(|(_, s)| s).collect())
}

fn by_number(slices: &[Slice]) -> Option<Vec<Slice>> {
    let mut keyed = slices
        .iter()
        .map(|s| Some((s.number?, s.clone())))
        .collect::<Option<Vec<_>>>()?;
    keyed.sort_by_key(|(n, _)| *n);
    Some(keyed.into_iter().map(|(_, s)| s).collect())
}

fn answer(slices: &[Slice], volume: bool) -> Value {
    let mut dicom = Vec::new();
    let mut frames = Vec::new();
    let mut short = Vec::new();
    for s in slices {
        dicom.push(json!(format!("/instances/{}/file", s.public_id)));
        for f in 0..s.frames {
            frames.push(json!(format!("/instances/{}/frames/{f}", s.public_id)));
        }
        short.push(json!([s.public_id, 0, s.frames]));
    }
    json!({
        "Dicom": dicom,
        "Slices": frames,
        "SlicesShort": short,
        "Type": if volume { "Volume" } else { "Sorted" },
    })
}

/// The ordered slices of a series, as Orthanc answers them.
pub async fn ordered_slices(ctx: &Arc<Context>, public_id: String) -> Result<Value, SlicesError> {
    ctx.read(move |tx| {
        let series = lookup_at_level(tx, &public_id, ResourceType::Series)?;
        let mut slices = Vec::new();
        for id in tx.get_children_internal_ids(series)? {
            slices.push(slice(tx, id)?);
        }
        let series_tags = tx.get_main_dicom_tags(series)?;
        let normal = tag(&series_tags, IMAGE_ORIENTATION)
            .and_then(normal_of)
            .or_else(|| slices.first().and_then(|s| s.normal));
        if let Some(sorted) = normal.and_then(|n| by_position(&slices, &n)) {
            return Ok(answer(&sorted, true));
        }
        match by_number(&slices) {
            Some(sorted) => Ok(answer(&sorted, false)),
            None => Err(SlicesError::CannotOrder(public_id.clone())),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: &str, z: Option<f64>, number: Option<i64>) -> Slice {
        Slice {
            public_id: id.into(),
            frames: 1,
            position: z.map(|z| [0.0, 0.0, z]),
            normal: Some([0.0, 0.0, 1.0]),
            number,
        }
    }

    fn ids(v: &[Slice]) -> Vec<&str> {
        v.iter().map(|s| s.public_id.as_str()).collect()
    }

    #[test]
    fn normal_from_orientation() {
        let n = normal_of("1\\0\\0\\0\\1\\0").unwrap();
        assert_eq!(n, [0.0, 0.0, 1.0]);
        assert!(normal_of("1\\0\\0\\1\\0\\0").is_none(), "degenerate");
        assert!(normal_of("1\\0\\0").is_none());
    }

    #[test]
    fn volume_then_numbers() {
        let z = [0.0, 0.0, 1.0];
        let v = [
            s("c", Some(3.0), Some(1)),
            s("a", Some(-1.0), Some(3)),
            s("b", Some(2.5), Some(2)),
        ];
        assert_eq!(ids(&by_position(&v, &z).unwrap()), ["a", "b", "c"]);
        assert_eq!(ids(&by_number(&v).unwrap()), ["c", "b", "a"]);
        // A shared position or a missing one: not a volume.
        let dup = [s("a", Some(1.0), Some(1)), s("b", Some(1.0), Some(2))];
        assert!(by_position(&dup, &z).is_none());
        let missing = [s("a", Some(1.0), Some(1)), s("b", None, Some(2))];
        assert!(by_position(&missing, &z).is_none());
        assert!(by_number(&[s("a", None, None)]).is_none());
        // A slice whose own orientation contradicts the normal.
        let mut tilted = s("t", Some(5.0), Some(4));
        tilted.normal = Some([1.0, 0.0, 0.0]);
        assert!(by_position(&[s("a", Some(1.0), Some(1)), tilted], &z).is_none());
    }
}
