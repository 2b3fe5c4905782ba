//! Durations written the way people write them: `"500 ms"`, `"2s"`,
//! `"1.5 s"`, `"2 min"`, `"1h 30min"`.

use std::time::Duration;

use crate::ConfigError;
use crate::bytes::scale_decimal;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Units as [`format_duration`] writes them, largest first, in nanoseconds.
const UNITS: [(&str, u128); 6] = [
    ("h", 3600 * NANOS_PER_SEC),
    ("min", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

const EXPECTED: &str = "a duration such as \"500 ms\", \"2 s\", \"1.5 min\" or \"1h 30min\" \
                        (units: ns, us, ms, s, min, h, d)";

/// Parses a human-written duration.
///
/// A duration is one or more parts, each a decimal number and a unit, with
/// or without spaces between them: `"500 ms"`, `"500ms"`, `"2s"`, `"1.5 s"`,
/// `"2 min"`, `"1h"`, `"250us"`, `"1h 30min"`. Units are `ns`, `us` (or
/// `µs`), `ms`, `s`, `m`/`min`, `h`, `d` and their long forms (`msec`,
/// `seconds`, `minutes`, `hours`, ...), case-insensitive. A bare `0` means
/// zero; any other number needs a unit.
///
/// ```
/// use rask_config::parse_duration;
/// use std::time::Duration;
///
/// assert_eq!(parse_duration("500 ms")?, Duration::from_millis(500));
/// assert_eq!(parse_duration("1.5 s")?, Duration::from_millis(1500));
/// assert_eq!(parse_duration("1h 30min")?, Duration::from_secs(5400));
/// assert!(parse_duration("500").is_err());
/// # Ok::<(), rask_config::ConfigError>(())
/// ```
///
/// # Errors
///
/// [`ConfigError::Parse`] when `s` is not a duration or is longer than
/// [`Duration::MAX`].
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    parse(s).map_err(|expected| ConfigError::parse(s, expected))
}

/// [`parse_duration`] with the `expected` text as the error.
pub(crate) fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(EXPECTED.to_owned());
    }
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let after = after.trim_start();
        let unit_end = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let unit = unit_nanos(&unit.to_lowercase()).ok_or(EXPECTED)?;
        let nanos = scale_decimal(number, unit).ok_or(EXPECTED)?;
        total = nanos
            .and_then(|n| total.checked_add(n))
            .ok_or("a duration that fits in 64 bits of seconds")?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(total / NANOS_PER_SEC)
        .map_err(|_| "a duration that fits in 64 bits of seconds".to_owned())?;
    // The remainder is below 10^9, so it fits in a u32.
    Ok(Duration::new(secs, (total % NANOS_PER_SEC) as u32))
}

fn unit_nanos(unit: &str) -> Option<u128> {
    let nanos = match unit {
        "ns" | "nsec" | "nanos" | "nanosecond" | "nanoseconds" => 1,
        "us" | "µs" | "usec" | "micros" | "microsecond" | "microseconds" => 1_000,
        "ms" | "msec" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => NANOS_PER_SEC,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * NANOS_PER_SEC,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600 * NANOS_PER_SEC,
        "d" | "day" | "days" => 86_400 * NANOS_PER_SEC,
        _ => return None,
    };
    Some(nanos)
}

/// Writes `d` exactly, in the largest unit that divides it: `"500 ms"`,
/// `"2 s"`, `"1500 ms"`, `"0 s"`. The result parses back to `d`.
pub(crate) fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0 s".to_owned();
    }
    let (name, unit) = UNITS
        .iter()
        .find(|(_, unit)| nanos.is_multiple_of(*unit))
        .unwrap_or(&UNITS[5]);
    format!("{} {name}", nanos / unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u128 {
        parse_duration(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .as_millis()
    }

    #[test]
    fn parses_single_units() {
        assert_eq!(ms("500 ms"), 500);
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms(" 500 MS "), 500);
        assert_eq!(ms("2s"), 2000);
        assert_eq!(ms("1.5 s"), 1500);
        assert_eq!(ms("2 min"), 120_000);
        assert_eq!(ms("2m"), 120_000);
        assert_eq!(ms("1h"), 3_600_000);
        assert_eq!(ms("1 day"), 86_400_000);
        assert_eq!(ms("0"), 0);
        assert_eq!(ms("0 s"), 0);
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(
            parse_duration("250 µs").unwrap(),
            Duration::from_micros(250)
        );
        assert_eq!(parse_duration("7ns").unwrap(), Duration::from_nanos(7));
    }

    #[test]
    fn parses_compound_durations() {
        assert_eq!(ms("1h 30min"), 5_400_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("1 s 500 ms"), 1500);
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in [
            "",
            "500",
            "ms",
            "fast",
            "1.2.3 s",
            "-1 s",
            "5 fortnights",
            "1s x",
            "1 s,",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(
                err.to_string().contains("expected a duration"),
                "{bad}: {err}"
            );
        }
        let err = parse_duration("99999999999999999999999 h").unwrap_err();
        assert!(err.to_string().contains("fits in 64 bits"), "{err}");
    }

    #[test]
    fn formats_exactly() {
        for (d, text) in [
            (Duration::ZERO, "0 s"),
            (Duration::from_millis(500), "500 ms"),
            (Duration::from_millis(1500), "1500 ms"),
            (Duration::from_secs(120), "2 min"),
            (Duration::from_secs(7200), "2 h"),
            (Duration::from_nanos(1_000_001), "1000001 ns"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text).unwrap(), d);
        }
    }
}
