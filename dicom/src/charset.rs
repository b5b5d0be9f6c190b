//! Decoding of text values according to SpecificCharacterSet (0008,0005).

use encoding_rs::Encoding;

/// The character set a dataset declares, reduced to one decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// ISO_IR 6 / default repertoire (decoded as UTF-8-lossy ASCII).
    Ascii,
    /// ISO_IR 100 (ISO 8859-1), decoded byte to char.
    Latin1,
    /// ISO_IR 192 (UTF-8).
    Utf8,
    /// Any other encoding supported by `encoding_rs`.
    Other(&'static Encoding),
}

impl Charset {
    /// Chooses the decoder for a SpecificCharacterSet value (possibly multi-valued,
    /// in which case ISO 2022 code extensions are decoded best-effort).
    pub fn from_specific_character_set(value: &str) -> Charset {
        let terms: Vec<&str> = value.split('\\').map(str::trim).collect();
        let pick = |t: &str| -> Option<Charset> {
            let t = t.trim().to_ascii_uppercase();
            let t = t.replace("ISO 2022 ", "ISO_");
            Some(match t.as_str() {
                "" | "ISO_IR 6" | "ISO_IR6" => return None,
                "ISO_IR 100" | "ISO_IR100" => Charset::Latin1,
                "ISO_IR 192" | "ISO_IR192" => Charset::Utf8,
                "ISO_IR 101" => Charset::Other(encoding_rs::ISO_8859_2),
                "ISO_IR 109" => Charset::Other(encoding_rs::ISO_8859_3),
                "ISO_IR 110" => Charset::Other(encoding_rs::ISO_8859_4),
                "ISO_IR 144" => Charset::Other(encoding_rs::ISO_8859_5),
                "ISO_IR 127" => Charset::Other(encoding_rs::ISO_8859_6),
                "ISO_IR 126" => Charset::Other(encoding_rs::ISO_8859_7),
                "ISO_IR 138" => Charset::Other(encoding_rs::ISO_8859_8),
                "ISO_IR 148" => Charset::Other(encoding_rs::WINDOWS_1254),
                "ISO_IR 203" => Charset::Other(encoding_rs::ISO_8859_15),
                "ISO_IR 13" => Charset::Other(encoding_rs::SHIFT_JIS),
                "ISO_IR 166" => Charset::Other(encoding_rs::WINDOWS_874),
                "ISO_IR 87" | "ISO_IR 159" => Charset::Other(encoding_rs::ISO_2022_JP),
                "ISO_IR 149" => Charset::Other(encoding_rs::EUC_KR),
                "ISO_IR 58" | "GB18030" | "GBK" => Charset::Other(encoding_rs::GB18030),
                _ => return None,
            })
        };
        // With ISO 2022 extensions, a Japanese G1 set wins (ISO-2022-JP decodes
        // the ASCII part as well); otherwise the first recognised term.
        if terms.len() > 1
            && terms
                .iter()
                .any(|t| t.ends_with("IR 87") || t.ends_with("IR 159"))
        {
            return Charset::Other(encoding_rs::ISO_2022_JP);
        }
        terms.iter().find_map(|t| pick(t)).unwrap_or(Charset::Ascii)
    }

    /// Decodes raw value bytes into a UTF-8 string.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Charset::Ascii | Charset::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Charset::Latin1 => bytes.iter().map(|&b| b as char).collect(),
            Charset::Other(enc) => enc.decode_without_bom_handling(bytes).0.into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        let l1 = Charset::from_specific_character_set("ISO_IR 100");
        assert_eq!(l1.decode(b"M\xfcller"), "Müller");
        let u8 = Charset::from_specific_character_set("ISO_IR 192");
        assert_eq!(u8.decode("山田".as_bytes()), "山田");
        let cyr = Charset::from_specific_character_set("ISO_IR 144");
        assert_eq!(cyr.decode(b"\xbf"), "П");
        assert_eq!(Charset::from_specific_character_set(""), Charset::Ascii);
        let jp = Charset::from_specific_character_set("\\ISO 2022 IR 87");
        assert_eq!(jp.decode(b"\x1b$B;3ED\x1b(B"), "山田");
    }
}
