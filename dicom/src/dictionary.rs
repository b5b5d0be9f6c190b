//! Standard data dictionary look-ups (keywords and VRs), backed by
//! `dicom-dictionary-std`.

use crate::tag::Tag;
use crate::vr::Vr;
use dicom_core::dictionary::{DataDictionary, VirtualVr};
use dicom_dictionary_std::StandardDataDictionary;

fn to_core(tag: Tag) -> dicom_core::Tag {
    dicom_core::Tag(tag.group, tag.element)
}

/// The DICOM keyword of a standard tag (e.g. `"PatientName"`), or
/// `"PrivateCreator"` for private creator elements.
pub fn tag_name(tag: Tag) -> Option<&'static str> {
    if tag.is_private() {
        return if tag.is_private_creator() {
            Some("PrivateCreator")
        } else {
            None
        };
    }
    StandardDataDictionary.by_tag(to_core(tag)).map(|e| e.alias)
}

/// The standard tag whose keyword is `name`.
pub fn tag_by_name(name: &str) -> Option<Tag> {
    StandardDataDictionary
        .by_name(name)
        .map(|e| e.tag.inner())
        .map(|t| Tag::new(t.0, t.1))
}

/// The VR to use for `tag` when the transfer syntax is implicit.
pub fn implicit_vr(tag: Tag) -> Vr {
    if tag.element == 0 {
        return Vr::UL;
    }
    if tag.is_private() {
        return if tag.is_private_creator() {
            Vr::LO
        } else {
            Vr::UN
        };
    }
    match StandardDataDictionary.by_tag(to_core(tag)).map(|e| e.vr) {
        Some(VirtualVr::Exact(vr)) => {
            let b = vr.to_bytes();
            Vr([b[0], b[1]])
        }
        Some(VirtualVr::Xs) => Vr::US,
        Some(_) => Vr::OW,
        None => Vr::UN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(tag_name(Tag::new(0x0010, 0x0010)), Some("PatientName"));
        assert_eq!(tag_name(Tag::new(0x0009, 0x0010)), Some("PrivateCreator"));
        assert_eq!(tag_name(Tag::new(0x0009, 0x1001)), None);
        assert_eq!(
            tag_by_name("SOPInstanceUID"),
            Some(Tag::new(0x0008, 0x0018))
        );
        assert_eq!(implicit_vr(Tag::new(0x0008, 0x1110)), Vr::SQ);
        assert_eq!(implicit_vr(Tag::PIXEL_DATA), Vr::OW);
        assert_eq!(implicit_vr(Tag::new(0x0028, 0x0010)), Vr::US);
    }
}
