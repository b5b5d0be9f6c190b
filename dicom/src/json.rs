//! Orthanc-style JSON rendering of datasets (`/tags`, `?simplify`, `?short`, `/header`).

use crate::dictionary::tag_name;
use crate::parser::{find, Element, Value};
use crate::tag::Tag;
use crate::value::Ctx;
use serde_json::{json, Map, Value as Json};

/// Longest string value (in stored bytes) rendered in JSON; longer ones are
/// `TooLong` (Orthanc's default `MaximumStringLength` for the REST API).
pub const MAX_STRING_LENGTH: usize = 256;

/// Name Orthanc gives to tags it cannot name.
pub const UNKNOWN_TAG_NAME: &str = "Unknown Tag & Data";

/// The three JSON layouts of `/tags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagsFormat {
    /// `{"gggg,eeee": {"Name", "Type", "Value"}}`
    Full,
    /// `{"Name": value}` (`?simplify`, `/simplified-tags`)
    Simplify,
    /// `{"gggg,eeee": value}` (`?short`)
    Short,
}

enum Leaf {
    Str(String),
    Null,
    TooLong,
}

fn leaf(ctx: &Ctx, el: &Element) -> Leaf {
    if el.tag == Tag::PIXEL_DATA {
        return Leaf::Null;
    }
    if el.vr.is_string() {
        if let Some(raw) = ctx.bytes(el) {
            let trimmed = raw
                .iter()
                .rposition(|&b| b != b' ' && b != 0)
                .map_or(0, |p| p + 1);
            if trimmed > MAX_STRING_LENGTH {
                return Leaf::TooLong;
            }
        }
    }
    match ctx.text(el, true) {
        Some(s) => Leaf::Str(s),
        None => Leaf::Null,
    }
}

/// Display name of an element.
pub(crate) fn name_of(tag: Tag) -> &'static str {
    tag_name(tag).unwrap_or(UNKNOWN_TAG_NAME)
}

fn private_creator(ctx: &Ctx, ds: &[Element], el: &Element) -> Option<String> {
    let tag = el.tag;
    if !tag.is_private() || tag.element < 0x1000 || matches!(el.value, Value::Sequence(_)) {
        return None;
    }
    let creator = find(ds, Tag::new(tag.group, tag.element >> 8))?;
    ctx.text(creator, false)
}

/// Renders a dataset; with `filter`, only the listed top-level tags.
pub(crate) fn dataset_json(
    ctx: &Ctx,
    ds: &[Element],
    format: TagsFormat,
    filter: Option<&[Tag]>,
) -> Json {
    render(ctx, ds, format, &|el: &Element| match filter {
        None => true,
        Some(f) => f.contains(&el.tag),
    })
}

/// Renders the meta group: binary and private elements are left out, as Orthanc does.
pub(crate) fn header_json(ctx: &Ctx, ds: &[Element], format: TagsFormat) -> Json {
    render(ctx, ds, format, &|el: &Element| {
        !el.tag.is_private() && (el.vr.is_string() || el.vr.number_size().is_some())
    })
}

fn render(ctx: &Ctx, ds: &[Element], format: TagsFormat, keep: &dyn Fn(&Element) -> bool) -> Json {
    let mut map = Map::new();
    for el in ds {
        if !keep(el) {
            continue;
        }
        let value = match &el.value {
            Value::Sequence(items) => {
                let arr = items
                    .iter()
                    .map(|it| render(ctx, it, format, &|_| true))
                    .collect();
                (Json::Array(arr), "Sequence")
            }
            _ => match leaf(ctx, el) {
                Leaf::Str(s) => (Json::String(s), "String"),
                Leaf::Null => (Json::Null, "Null"),
                Leaf::TooLong => (Json::Null, "TooLong"),
            },
        };
        match format {
            TagsFormat::Full => {
                let mut o = json!({"Name": name_of(el.tag), "Type": value.1, "Value": value.0});
                if let Some(pc) = private_creator(ctx, ds, el) {
                    o["PrivateCreator"] = Json::String(pc);
                }
                map.insert(el.tag.to_string(), o);
            }
            TagsFormat::Short => {
                map.insert(el.tag.to_string(), value.0);
            }
            TagsFormat::Simplify => {
                map.insert(name_of(el.tag).to_string(), value.0);
            }
        }
    }
    Json::Object(map)
}
