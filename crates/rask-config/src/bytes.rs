//! [`ByteSize`], a number of bytes read and written the way people write
//! them (`"128 MiB"`, `"1.5 GB"`, `"4096"`).
//!
//! Decimal units (`kB`, `MB`, `GB`, ... and the bare letters `k`, `M`, `G`)
//! are powers of 1000, binary units (`KiB`, `MiB`, `GiB`, ...) powers of
//! 1024; units are case-insensitive. Fractions are computed exactly in
//! integer arithmetic and rounded to the nearest byte, and a size that does
//! not fit in a `u64` is an error rather than a wrapped value.

use std::fmt;
use std::str::FromStr;

use crate::ConfigError;

const KIB: u64 = 1 << 10;

/// Binary units, largest first, as [`ByteSize`]'s `Display` writes them.
const BINARY: [(&str, u64); 6] = [
    ("EiB", KIB.pow(6)),
    ("PiB", KIB.pow(5)),
    ("TiB", KIB.pow(4)),
    ("GiB", KIB.pow(3)),
    ("MiB", KIB.pow(2)),
    ("KiB", KIB),
];

/// Decimal units, largest first, as [`ByteSize`]'s `Display` writes them.
const DECIMAL: [(&str, u64); 6] = [
    ("EB", 1_000_000_000_000_000_000),
    ("PB", 1_000_000_000_000_000),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("kB", 1_000),
];

/// What a byte size must look like, for error messages.
const EXPECTED: &str = "a byte size such as \"128 MiB\", \"1.5 GB\" or \"4096\"";

/// A number of bytes.
///
/// Parses `"4 GiB"`, `"4GiB"`, `"1.5 GB"`, `"500MB"`, `"4096"`, `"4096 B"`,
/// `"2 kB"` and `"2 KiB"`; displays as the largest unit that shows the value
/// exactly (`"128 MiB"`, `"1.5 GB"`), or rounded to one decimal place in a
/// binary unit when none does. In `rask.toml` it can be written as a string
/// or as an integer number of bytes.
///
/// ```
/// use rask_config::ByteSize;
///
/// let size: ByteSize = "128 MiB".parse()?;
/// assert_eq!(size, ByteSize(128 * 1024 * 1024));
/// assert_eq!(size.to_string(), "128 MiB");
/// assert_eq!("1.5 GB".parse::<ByteSize>()?.as_u64(), 1_500_000_000);
/// assert!("12 parsecs".parse::<ByteSize>().is_err());
/// # Ok::<(), rask_config::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The number of bytes.
    ///
    /// ```
    /// assert_eq!(rask_config::ByteSize(4096).as_u64(), 4096);
    /// ```
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        parse_bytes(s)
            .map(ByteSize)
            .map_err(|expected| ConfigError::parse(s, expected))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n < KIB {
            return f.pad(&format!("{n} B"));
        }
        // Exact with at most three decimals in a binary, then a decimal unit.
        for units in [&BINARY, &DECIMAL] {
            let Some(&(name, unit)) = units.iter().find(|(_, unit)| *unit <= n) else {
                continue;
            };
            let thousandths = u128::from(n) * 1000;
            if thousandths % u128::from(unit) == 0 {
                let value = thousandths / u128::from(unit);
                let (whole, frac) = (value / 1000, value % 1000);
                let text = if frac == 0 {
                    format!("{whole} {name}")
                } else {
                    let frac = format!("{frac:03}");
                    format!("{whole}.{} {name}", frac.trim_end_matches('0'))
                };
                return f.pad(&text);
            }
        }
        // `n >= KIB`, so some binary unit fits.
        let (name, unit) = BINARY
            .iter()
            .find(|(_, unit)| *unit <= n)
            .unwrap_or(&BINARY[5]);
        f.pad(&format!("{:.1} {name}", n as f64 / *unit as f64))
    }
}

impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

/// Parses a byte size; the error is the `expected` text for messages.
pub(crate) fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = (&s[..split], s[split..].trim());
    let unit = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "p" | "pb" => 1_000_000_000_000_000,
        "e" | "eb" => 1_000_000_000_000_000_000,
        "ki" | "kib" => KIB,
        "mi" | "mib" => KIB.pow(2),
        "gi" | "gib" => KIB.pow(3),
        "ti" | "tib" => KIB.pow(4),
        "pi" | "pib" => KIB.pow(5),
        "ei" | "eib" => KIB.pow(6),
        _ => {
            return Err(format!(
                "{EXPECTED} (units: B, kB, MB, GB, TB, PB, EB, KiB, MiB, GiB, TiB, PiB, EiB)"
            ));
        }
    };
    scale_decimal(number, u128::from(unit))
        .ok_or_else(|| EXPECTED.to_owned())?
        .and_then(|bytes| u64::try_from(bytes).ok())
        .ok_or_else(|| format!("{EXPECTED}, of at most {} bytes", u64::MAX))
}

/// Computes `number * unit`, rounded to the nearest integer, for a decimal
/// `number` such as `"1.5"` or `".25"`.
///
/// Returns `None` when `number` is not a decimal number and `Some(None)` when
/// the result does not fit in a `u128`.
pub(crate) fn scale_decimal(number: &str, unit: u128) -> Option<Option<u128>> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + frac.len() == 0 || !digits_ok(whole) || !digits_ok(frac) {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let scaled = || -> Option<u128> {
        let mut mantissa: u128 = 0;
        for b in whole.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(u128::from(b - b'0'))?;
        }
        let divisor = 10u128.checked_pow(u32::try_from(frac.len()).ok()?)?;
        let product = mantissa.checked_mul(unit)?;
        // Round half up without overflowing `product + divisor / 2`.
        Some(product / divisor + u128::from(product % divisor >= divisor - divisor / 2))
    };
    Some(scaled())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> u64 {
        s.parse::<ByteSize>()
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .0
    }

    #[test]
    fn parses_plain_and_unit_sizes() {
        assert_eq!(bytes("4096"), 4096);
        assert_eq!(bytes("4096 B"), 4096);
        assert_eq!(bytes("  4096b "), 4096);
        assert_eq!(bytes("2 kB"), 2000);
        assert_eq!(bytes("2 KiB"), 2048);
        assert_eq!(bytes("2kib"), 2048);
        assert_eq!(bytes("500MB"), 500_000_000);
        assert_eq!(bytes("128 MiB"), 128 << 20);
        assert_eq!(bytes("4 GiB"), 4 << 30);
        assert_eq!(bytes("4GiB"), 4 << 30);
        assert_eq!(bytes("4 gib"), 4 << 30);
        assert_eq!(bytes("3 TB"), 3_000_000_000_000);
        assert_eq!(bytes("1 EiB"), 1 << 60);
        assert_eq!(bytes("10M"), 10_000_000);
        assert_eq!(bytes("0"), 0);
    }

    #[test]
    fn parses_decimal_fractions_exactly() {
        assert_eq!(bytes("1.5 GB"), 1_500_000_000);
        assert_eq!(bytes("1.5 GiB"), 3 << 29);
        assert_eq!(bytes("0.5 KiB"), 512);
        assert_eq!(bytes(".25 kB"), 250);
        assert_eq!(bytes("2. MB"), 2_000_000);
        assert_eq!(bytes("1.000000000000000000000000000000000000000000 B"), 1);
        // 0.1 KiB is 102.4 bytes: rounded to the nearest byte.
        assert_eq!(bytes("0.1 KiB"), 102);
        assert_eq!(bytes("1.5 B"), 2);
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "MiB",
            "12 parsecs",
            "1.2.3 MB",
            "-1 MB",
            "1e9",
            "1,5 GB",
            ". MB",
            "4 GiBs",
        ] {
            let err = bad.parse::<ByteSize>().expect_err(bad);
            assert!(
                err.to_string().contains("expected a byte size"),
                "{bad}: {err}"
            );
        }
        let err = "12 parsecs".parse::<ByteSize>().unwrap_err();
        assert!(err.to_string().contains("units: B, kB"), "{err}");
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(bytes("18446744073709551615"), u64::MAX);
        assert_eq!(bytes("15 EiB"), 15 << 60);
        for big in [
            "18446744073709551616",
            "16 EiB",
            "20 EB",
            "99999999999999999999999999999999999999999 B",
        ] {
            let err = big.parse::<ByteSize>().expect_err(big);
            assert!(err.to_string().contains("of at most"), "{big}: {err}");
        }
    }

    #[test]
    fn displays_human_and_exact() {
        let shown = |n: u64| ByteSize(n).to_string();
        assert_eq!(shown(0), "0 B");
        assert_eq!(shown(1000), "1000 B");
        assert_eq!(shown(1024), "1 KiB");
        assert_eq!(shown(1536), "1.5 KiB");
        assert_eq!(shown(3000), "3 kB");
        assert_eq!(shown(128 << 20), "128 MiB");
        assert_eq!(shown(1_500_000_000), "1.5 GB");
        assert_eq!(shown(123_456_789), "117.7 MiB");
        assert_eq!(shown(u64::MAX), "16.0 EiB");
        assert_eq!(format!("{:>8}", ByteSize(2048)), "   2 KiB");
        assert_eq!(shown(4097), "4.097 kB");
        for n in [0, 1, 1023, 1024, 1536, 3000, 4097, 128 << 20, 1_500_000_000] {
            assert_eq!(bytes(&shown(n)), n, "{}", shown(n));
        }
    }

    #[test]
    fn deserializes_from_string_or_integer() {
        #[derive(serde::Deserialize)]
        struct T {
            a: ByteSize,
            b: ByteSize,
        }
        let t: T = toml::from_str("a = \"2 KiB\"\nb = 4096").unwrap();
        assert_eq!((t.a, t.b), (ByteSize(2048), ByteSize(4096)));
        assert!(toml::from_str::<T>("a = -1\nb = 1").is_err());
        assert!(toml::from_str::<T>("a = \"lots\"\nb = 1").is_err());
    }
}
