//! FITS headers: 80-character cards in 2880-byte records, up to `END`;
//! the few keywords an image's layout needs, and what kind of HDU a
//! header describes.

use std::fs::File;
use std::io::Read;

/// The size of a FITS record.
pub(super) const RECORD: u64 = 2880;
/// The size of a header card.
const CARD: usize = 80;

/// One header card's value.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum CardValue {
    Int(i128),
    Float(f64),
    Logical(bool),
    Text(String),
    /// A value this reader does not parse (complex numbers), or none.
    Other,
}

impl CardValue {
    pub(super) fn as_f64(&self) -> Option<f64> {
        match *self {
            CardValue::Int(i) => Some(i as f64),
            CardValue::Float(f) => Some(f),
            _ => None,
        }
    }
}

/// Parses the value field of a card (after `= `).
pub(super) fn parse_value(field: &str) -> CardValue {
    let field = field.trim_start();
    if let Some(rest) = field.strip_prefix('\'') {
        // A string: '' is an escaped quote; trailing blanks are not
        // significant.
        let mut text = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    text.push('\'');
                } else {
                    break;
                }
            } else {
                text.push(c);
            }
        }
        return CardValue::Text(text.trim_end().to_string());
    }
    let value = field.split('/').next().unwrap_or("").trim();
    match value {
        "T" => CardValue::Logical(true),
        "F" => CardValue::Logical(false),
        _ => {
            if let Ok(i) = value.parse::<i128>() {
                CardValue::Int(i)
            } else if let Ok(f) = value.replace(['D', 'd'], "E").parse::<f64>() {
                CardValue::Float(f)
            } else {
                CardValue::Other
            }
        }
    }
}

/// One HDU's header, as keyword-value pairs in order, and where its data
/// start.
pub(super) struct Header {
    pub(super) cards: Vec<(String, CardValue)>,
    pub(super) data_offset: u64,
}

impl Header {
    pub(super) fn get(&self, key: &str) -> Option<&CardValue> {
        self.cards.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(super) fn int(&self, key: &str) -> std::result::Result<Option<i128>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(CardValue::Int(i)) => Ok(Some(*i)),
            Some(v) => Err(format!("{key} is {v:?}, not an integer")),
        }
    }

    pub(super) fn required_int(&self, key: &str) -> std::result::Result<i128, String> {
        self.int(key)?
            .ok_or_else(|| format!("the mandatory keyword {key} is missing"))
    }

    pub(super) fn float(&self, key: &str, default: f64) -> std::result::Result<f64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| format!("{key} is {v:?}, not a number")),
        }
    }

    /// `NAXIS1..NAXISn`, in the file's order (fastest first).
    pub(super) fn axes(&self) -> std::result::Result<Vec<u64>, String> {
        let naxis = self.required_int("NAXIS")?;
        if !(0..=999).contains(&naxis) {
            return Err(format!("NAXIS is {naxis}; FITS allows 0 to 999"));
        }
        (1..=naxis)
            .map(|i| {
                let n = self.required_int(&format!("NAXIS{i}"))?;
                u64::try_from(n).map_err(|_| format!("NAXIS{i} is {n}, which is negative"))
            })
            .collect()
    }

    /// The bytes of the data unit, without padding.
    pub(super) fn data_bytes(&self) -> std::result::Result<u64, String> {
        let bitpix = self.required_int("BITPIX")?;
        if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
            return Err(format!(
                "BITPIX is {bitpix}; FITS allows 8, 16, 32, 64, -32 and -64"
            ));
        }
        let axes = self.axes()?;
        if axes.is_empty() {
            return Ok(0);
        }
        // Random groups have NAXIS1 = 0 and count NAXIS2.. only.
        let groups = self.get("GROUPS") == Some(&CardValue::Logical(true)) && axes[0] == 0;
        let axes = if groups { &axes[1..] } else { &axes[..] };
        let pcount = self.int("PCOUNT")?.unwrap_or(0);
        let gcount = self.int("GCOUNT")?.unwrap_or(1);
        let (Ok(pcount), Ok(gcount)) = (u64::try_from(pcount), u64::try_from(gcount)) else {
            return Err(format!(
                "PCOUNT {pcount} and GCOUNT {gcount} must not be negative"
            ));
        };
        axes.iter()
            .try_fold(1u64, |acc, &n| acc.checked_mul(n))
            .and_then(|n| n.checked_add(pcount))
            .and_then(|n| n.checked_mul(gcount))
            .and_then(|n| n.checked_mul(bitpix.unsigned_abs() as u64 / 8))
            .ok_or_else(|| "the data size overflows".to_string())
    }
}

/// Reads the header that starts at `offset` of `file`: its cards up to
/// `END`, record by record.
pub(super) fn read_header(
    file: &mut File,
    offset: u64,
    hdu: usize,
) -> std::result::Result<Header, String> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| e.to_string())?;
    let mut cards = Vec::new();
    let mut record = vec![0u8; RECORD as usize];
    let mut at = offset;
    loop {
        let mut got = 0;
        while got < record.len() {
            match file.read(&mut record[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        if got < record.len() {
            return Err(format!(
                "the file is truncated: the header of HDU {hdu} (from byte {offset}) ends at byte \
                 {} without an END card",
                at + got as u64
            ));
        }
        at += RECORD;
        for card in record.chunks_exact(CARD) {
            if !card.iter().all(|&b| (0x20..=0x7e).contains(&b)) {
                return Err(format!(
                    "not a FITS file, or a corrupt one: the header of HDU {hdu} holds bytes that are \
                     not printable ASCII before byte {at}"
                ));
            }
            let text = std::str::from_utf8(card).expect("printable ASCII is UTF-8");
            let key = text[..8].trim_end();
            if key == "END" {
                return Ok(Header {
                    cards,
                    data_offset: at,
                });
            }
            let value = if &text[8..10] == "= " {
                parse_value(&text[10..])
            } else {
                CardValue::Other
            };
            cards.push((key.to_string(), value));
        }
    }
}

/// Whether an extension's header starts at `offset` of `file`.
pub(super) fn starts_extension(file: &File, offset: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut lead = [0u8; 8];
    file.read_exact_at(&mut lead, offset).is_ok() && &lead == b"XTENSION"
}

/// What kind of HDU a header describes.
pub(super) enum Kind {
    Image,
    /// Something else, described for errors ("a binary table").
    Other(String),
}

pub(super) fn kind_of(header: &Header, hdu: usize) -> Kind {
    let first = header.cards.first().map(|(k, v)| (k.as_str(), v));
    match first {
        Some(("SIMPLE", _)) if hdu == 0 => {
            if header.get("GROUPS") == Some(&CardValue::Logical(true)) {
                Kind::Other("random groups (not an image)".into())
            } else {
                Kind::Image
            }
        }
        Some(("XTENSION", CardValue::Text(t))) if t == "IMAGE" => Kind::Image,
        Some(("XTENSION", CardValue::Text(t))) if t == "BINTABLE" => {
            if header.get("ZIMAGE") == Some(&CardValue::Logical(true)) {
                Kind::Other(
                    "a tile-compressed image (ZIMAGE), which rask does not decompress; write it \
                     uncompressed (astropy: fits.ImageHDU) to read it"
                        .into(),
                )
            } else {
                Kind::Other("a binary table".into())
            }
        }
        Some(("XTENSION", CardValue::Text(t))) => Kind::Other(format!("a {t} extension")),
        _ => Kind::Other("not a FITS HDU".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_values_parse_as_fits_writes_them() {
        assert_eq!(
            parse_value("                   16 / bits"),
            CardValue::Int(16)
        );
        assert_eq!(parse_value(" 1.5D2"), CardValue::Float(150.0));
        assert_eq!(parse_value(" -1.0E-3 / x"), CardValue::Float(-1e-3));
        assert_eq!(
            parse_value("                    T"),
            CardValue::Logical(true)
        );
        assert_eq!(
            parse_value(" 'it''s   ' / quote"),
            CardValue::Text("it's".into())
        );
        assert_eq!(
            parse_value(" 9223372036854775808"),
            CardValue::Int(9223372036854775808)
        );
    }
}
