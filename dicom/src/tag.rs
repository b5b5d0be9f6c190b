//! DICOM attribute tags.

use std::fmt;

/// A DICOM attribute tag `(group, element)`.
#[derive(Copy, Clone, Eq, PartialEq, Hash, Ord, PartialOrd, Debug)]
pub struct Tag {
    /// Group number.
    pub group: u16,
    /// Element number.
    pub element: u16,
}

impl Tag {
    /// The Pixel Data tag (7FE0,0010).
    pub const PIXEL_DATA: Tag = Tag::new(0x7fe0, 0x0010);
    /// The Specific Character Set tag (0008,0005).
    pub const SPECIFIC_CHARACTER_SET: Tag = Tag::new(0x0008, 0x0005);
    /// Item tag (FFFE,E000).
    pub const ITEM: Tag = Tag::new(0xfffe, 0xe000);
    /// Item delimitation tag (FFFE,E00D).
    pub const ITEM_DELIMITATION: Tag = Tag::new(0xfffe, 0xe00d);
    /// Sequence delimitation tag (FFFE,E0DD).
    pub const SEQUENCE_DELIMITATION: Tag = Tag::new(0xfffe, 0xe0dd);

    /// Builds a tag from its group and element numbers.
    pub const fn new(group: u16, element: u16) -> Tag {
        Tag { group, element }
    }

    /// Parses `"0010,0010"`, `"0010-0010"`, `"00100010"` (hex, any case) or a
    /// dictionary keyword such as `"PatientName"`.
    pub fn parse(s: &str) -> Option<Tag> {
        let s = s.trim();
        let hex = |x: &str| {
            if x.len() == 4 && x.bytes().all(|b| b.is_ascii_hexdigit()) {
                u16::from_str_radix(x, 16).ok()
            } else {
                None
            }
        };
        if s.len() == 9 && (s.as_bytes()[4] == b',' || s.as_bytes()[4] == b'-') {
            if let (Some(g), Some(e)) = (hex(&s[..4]), hex(&s[5..])) {
                return Some(Tag::new(g, e));
            }
        }
        if s.len() == 8 && s.is_char_boundary(4) {
            if let (Some(g), Some(e)) = (hex(&s[..4]), hex(&s[4..])) {
                return Some(Tag::new(g, e));
            }
        }
        crate::dictionary::tag_by_name(s)
    }

    /// True for private tags (odd group number).
    pub fn is_private(self) -> bool {
        self.group % 2 == 1
    }

    /// True for private creator elements `(gggg,0010-00FF)` with an odd group.
    pub fn is_private_creator(self) -> bool {
        self.is_private() && (0x0010..=0x00ff).contains(&self.element)
    }

    /// Formats as `"gggg-eeee"`, the form used by `/content` paths.
    pub fn dashed(self) -> String {
        format!("{:04x}-{:04x}", self.group, self.element)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x},{:04x}", self.group, self.element)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!(Tag::parse("0010,0010"), Some(Tag::new(0x10, 0x10)));
        assert_eq!(Tag::parse("7FE0-0010"), Some(Tag::PIXEL_DATA));
        assert_eq!(Tag::parse("0020000d"), Some(Tag::new(0x20, 0x0d)));
        assert_eq!(Tag::parse("PatientName"), Some(Tag::new(0x10, 0x10)));
        assert_eq!(Tag::parse("zz"), None);
        assert_eq!(Tag::parse("00é0,0010"), None);
        assert_eq!(Tag::new(0x0020, 0x000d).to_string(), "0020,000d");
        assert_eq!(Tag::new(0x0020, 0x000d).dashed(), "0020-000d");
    }
}
