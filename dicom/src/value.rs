//! Rendering of leaf values as strings (charset decoding, padding, numbers).

use crate::charset::Charset;
use crate::parser::{trim_padding, Element, Value};
use crate::vr::Vr;

/// What is needed to interpret the bytes of a dataset's elements.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub buf: &'a [u8],
    pub big: bool,
    pub charset: Charset,
}

impl<'a> Ctx<'a> {
    /// The raw stored bytes of a leaf element.
    pub fn bytes(&self, el: &Element) -> Option<&'a [u8]> {
        match &el.value {
            Value::Bytes(r) => self.buf.get(r.clone()),
            _ => None,
        }
    }

    /// The value of a string or numeric leaf as text; `first_only` keeps only the
    /// first binary number (as Orthanc's JSON does). `None` for binary VRs and
    /// sequences.
    pub fn text(&self, el: &Element, first_only: bool) -> Option<String> {
        let raw = self.bytes(el)?;
        if el.vr.is_string() {
            let s = if el.vr.is_text() {
                self.charset.decode(raw)
            } else {
                String::from_utf8_lossy(raw).into_owned()
            };
            return Some(trim_padding(&s).to_string());
        }
        if el.vr == Vr::AT {
            let mut parts = Vec::new();
            for c in raw.chunks_exact(4) {
                let rd = |a: u8, b: u8| {
                    if self.big {
                        u16::from_be_bytes([a, b])
                    } else {
                        u16::from_le_bytes([a, b])
                    }
                };
                parts.push(crate::tag::Tag::new(rd(c[0], c[1]), rd(c[2], c[3])).to_string());
                if first_only {
                    break;
                }
            }
            return (!parts.is_empty()).then(|| parts.join("\\"));
        }
        let size = el.vr.number_size()?;
        let mut parts = Vec::new();
        for chunk in raw.chunks_exact(size) {
            parts.push(number(chunk, el.vr, self.big)?);
            if first_only {
                break;
            }
        }
        if parts.is_empty() {
            return None;
        }
        Some(parts.join("\\"))
    }
}

fn number(b: &[u8], vr: Vr, big: bool) -> Option<String> {
    macro_rules! rd {
        ($t:ty, $n:expr) => {{
            let a: [u8; $n] = b.try_into().ok()?;
            if big {
                <$t>::from_be_bytes(a)
            } else {
                <$t>::from_le_bytes(a)
            }
        }};
    }
    Some(match vr {
        Vr::US => rd!(u16, 2).to_string(),
        Vr::SS => rd!(i16, 2).to_string(),
        Vr::UL => rd!(u32, 4).to_string(),
        Vr::SL => rd!(i32, 4).to_string(),
        Vr::UV => rd!(u64, 8).to_string(),
        Vr::SV => rd!(i64, 8).to_string(),
        Vr::FL => format_g(rd!(f32, 4) as f64, 9),
        Vr::FD => format_g(rd!(f64, 8), 17),
        _ => return None,
    })
}

/// Formats like C's `%.{prec}g` (what `boost::lexical_cast` produces).
pub(crate) fn format_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", strip(mant), sign, exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        strip(&format!("{:.*}", decimals, v))
    }
}

#[cfg(test)]
mod tests {
    use super::format_g;

    #[test]
    fn g_format() {
        assert_eq!(format_g(1000.0, 17), "1000");
        assert_eq!(format_g(0.1, 17), "0.10000000000000001");
        assert_eq!(format_g(1.5, 9), "1.5");
        assert_eq!(format_g(1e20, 17), "1e+20");
        assert_eq!(format_g(-2.5e-7, 17), "-2.4999999999999999e-07");
    }
}
