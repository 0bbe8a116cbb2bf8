//! RFC 3339 UTC timestamps, and the clock that the library is handed.
//!
//! The library never reads the system clock itself: the CLI passes a `Clock`, which is the system
//! clock or, for tests and reproducible output, a fixed instant from `CODEX_ATTEST_TIMESTAMP`.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant, serialized as RFC 3339 in UTC with a `Z` suffix.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

#[derive(Debug, thiserror::Error)]
#[error("not an RFC 3339 timestamp ({0})")]
pub struct TimestampError(String);

/// Where the library gets the time from.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The real clock.
pub struct SystemClock;

/// A clock that starts at a fixed instant and advances one second on every reading, so that
/// durations and ordering stay meaningful in tests while output stays byte-stable.
pub struct FixedClock {
    start: Timestamp,
    ticks: AtomicU64,
}

impl Timestamp {
    pub fn from_unix_seconds(seconds: i64) -> Option<Timestamp> {
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()
            .map(Timestamp)
    }

    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }

    pub fn unix_millis(&self) -> i64 {
        (self.0.unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// Whole seconds; sub-second precision is dropped so that output is stable and compact.
    pub fn truncate_to_seconds(self) -> Timestamp {
        Timestamp(self.0.replace_nanosecond(0).unwrap_or(self.0))
    }

    pub fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0 + time::Duration::seconds(seconds))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn millis_since(&self, earlier: Timestamp) -> u64 {
        let nanos = (self.0 - earlier.0).whole_milliseconds();
        nanos.max(0) as u64
    }

    /// `YYYYMMDDTHHMMSSZ`, for identifiers that sort by time.
    pub fn compact(&self) -> String {
        let t = self.0.to_offset(time::UtcOffset::UTC);
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    /// The date part, `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        let d = self.0.date();
        format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Formatting a UTC date-time within RFC 3339's year range cannot fail.
        let text = self
            .0
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .unwrap_or_default();
        f.write_str(&text)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Timestamp, TimestampError> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(|t| Timestamp(t.to_offset(time::UtcOffset::UTC)))
            .map_err(|err| TimestampError(err.to_string()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(OffsetDateTime::now_utc())
    }
}

impl FixedClock {
    pub fn new(start: Timestamp) -> FixedClock {
        FixedClock {
            start,
            ticks: AtomicU64::new(0),
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
        self.start.plus_seconds(tick as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_z() {
        let t: Timestamp = "2001-02-03T05:05:06+01:00".parse().unwrap();
        assert_eq!(t.to_string(), "2001-02-03T04:05:06Z");
        assert_eq!(t.date(), "2001-02-03");
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn fixed_clock_ticks() {
        let clock = FixedClock::new("2001-02-03T04:05:06Z".parse().unwrap());
        let a = clock.now();
        let b = clock.now();
        assert_eq!(b.millis_since(a), 1000);
    }
}
