//! The system clock and calendar dates: the one place that reads wall time.

use reservnod_proto::patient::CivilDate;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Milliseconds on a monotonic clock since this process first asked: for rates, which must
/// not jump when the wall clock is set.
pub fn monotonic_ms() -> u64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    u64::try_from(
        ORIGIN
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// The civil (proleptic Gregorian) date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days_from_civil inverse: exact for every day in range.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The date (UTC) at `now_ms`: the reference for reading 10-digit personnummer.
pub fn today(now_ms: u64) -> CivilDate {
    let (y, m, d) = civil_from_days((now_ms / 86_400_000) as i64);
    CivilDate {
        year: i32::try_from(y).unwrap_or(i32::MAX),
        month: m,
        day: d,
    }
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` or `YYYY-MM-DDTHH:MM[:SS]` (UTC) as ms since the epoch.
pub fn parse_utc(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let bad = || format!("'{s}' is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM, UTC)");
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || d == 0
        || civil_from_days(days_from_civil(y, m, d)) != (y, m, d)
    {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(t) = time {
        let hms: Vec<&str> = t.split(':').collect();
        if hms.len() < 2 || hms.len() > 3 {
            return Err(bad());
        }
        let mut mult = 3600;
        for (i, part) in hms.iter().enumerate() {
            let v: i64 = part.parse().map_err(|_| bad())?;
            let max = if i == 0 { 23 } else { 59 };
            if !(0..=max).contains(&v) {
                return Err(bad());
            }
            secs += v * mult;
            mult /= 60;
        }
    }
    u64::try_from(secs * 1000).map_err(|_| bad())
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a millisecond timestamp.
pub fn format_ms_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (RFC 3339 in UTC, as FHIR's `instant` and `dateTime` take it)
/// for a millisecond timestamp.
pub fn format_ms_rfc3339(ms: u64) -> String {
    let ms = ms.min(reservnod_proto::care::documents::TIME_MS_MAX);
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// A node's hybrid logical clock that never goes below `newest` (the newest timestamp it
/// stores), but is not dragged further than
/// [`CLOCK_AHEAD_MAX_MS`](crate::limits::CLOCK_AHEAD_MAX_MS) ahead of `now_ms` by an event
/// from a peer whose clock was far ahead.
pub fn hlc_after(newest: Option<reservnod_proto::Hlc>, now_ms: u64) -> reservnod_proto::HlcClock {
    let mut clock = reservnod_proto::HlcClock::new(crate::limits::CLOCK_AHEAD_MAX_MS);
    if let Some(newest) = newest {
        let ceiling = now_ms.saturating_add(crate::limits::CLOCK_AHEAD_MAX_MS);
        clock.restore(newest.min(reservnod_proto::Hlc {
            wall_ms: ceiling,
            logical: 0,
        }));
    }
    clock
}

/// Swedish local time's offset from UTC in minutes at `ms`: CET (+60), or CEST (+120)
/// from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October.
pub fn swedish_offset_min(ms: u64) -> i32 {
    // Times from peers are not trusted to be sane: beyond year 9999 the arithmetic overflows.
    let ms = ms.min(reservnod_proto::care::documents::TIME_MS_MAX);
    let days = (ms / 86_400_000) as i64;
    let (year, _, _) = civil_from_days(days);
    let last_sunday = |month: u32| {
        let d31 = days_from_civil(year, month, 31);
        // 1970-01-01 was a Thursday; weekday 0 is Sunday.
        d31 - (d31 + 4).rem_euclid(7)
    };
    let hour = 3_600_000i64;
    let start = last_sunday(3) * 86_400_000 + hour;
    let end = last_sunday(10) * 86_400_000 + hour;
    let t = ms as i64;
    if t >= start && t < end {
        120
    } else {
        60
    }
}

/// The instant a Swedish wall clock showed `wall_ms` (a local reading written as if it were
/// UTC). In the hour that occurs twice when summer time ends, the second (CET) one; `None`
/// for a reading that never occurs (the hour skipped when summer time starts) or one before
/// the epoch.
pub fn from_swedish_local(wall_ms: u64) -> Option<u64> {
    // CET first: in the repeated hour both fit, and the later instant is the one chosen.
    [60u64, 120].into_iter().find_map(|offset_min| {
        let utc = wall_ms.checked_sub(offset_min * 60_000)?;
        (i64::from(swedish_offset_min(utc)) == offset_min as i64).then_some(utc)
    })
}

/// `YYYY-MM-DD HH:MM` in Swedish local time, for staff.
pub fn format_ms_local(ms: u64) -> String {
    let ms = ms.min(reservnod_proto::care::documents::TIME_MS_MAX);
    let local = ms as i64 + i64::from(swedish_offset_min(ms)) * 60_000;
    let mins = local.div_euclid(60_000);
    let (y, m, d) = civil_from_days(mins.div_euclid(1440));
    let rem = mins.rem_euclid(1440);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swedish_summer_time_follows_the_eu_rule() {
        // 2026: CEST from 29 March 01:00 UTC to 25 October 01:00 UTC.
        let at = |y, m, d, h: u64| days_from_civil(y, m, d) as u64 * 86_400_000 + h * 3_600_000;
        assert_eq!(swedish_offset_min(at(2026, 3, 29, 0)), 60);
        assert_eq!(swedish_offset_min(at(2026, 3, 29, 1)), 120);
        assert_eq!(swedish_offset_min(at(2026, 10, 25, 0)), 120);
        assert_eq!(swedish_offset_min(at(2026, 10, 25, 1)), 60);
        assert_eq!(format_ms_local(at(2026, 11, 23, 23)), "2026-11-24 00:00");
        assert_eq!(format_ms_local(at(2026, 7, 1, 12)), "2026-07-01 14:00");
        // A hostile time is shown clamped, not a panic.
        assert!(format_ms_local(u64::MAX).starts_with("10000-01-01"));
    }

    #[test]
    fn swedish_wall_clock_readings_map_to_instants() {
        let at = |y, m, d, h: u64, min: u64| {
            days_from_civil(y, m, d) as u64 * 86_400_000 + h * 3_600_000 + min * 60_000
        };
        // Winter: local = UTC + 1; summer: local = UTC + 2.
        assert_eq!(
            from_swedish_local(at(2026, 11, 23, 10, 0)),
            Some(at(2026, 11, 23, 9, 0))
        );
        assert_eq!(
            from_swedish_local(at(2026, 7, 1, 10, 0)),
            Some(at(2026, 7, 1, 8, 0))
        );
        // 02:30 on 29 March 2026 never happens (the clock jumps from 02:00 to 03:00).
        assert_eq!(from_swedish_local(at(2026, 3, 29, 2, 30)), None);
        assert_eq!(
            from_swedish_local(at(2026, 3, 29, 3, 0)),
            Some(at(2026, 3, 29, 1, 0))
        );
        // 02:30 on 25 October 2026 happens twice: the second, in CET, is taken.
        assert_eq!(
            from_swedish_local(at(2026, 10, 25, 2, 30)),
            Some(at(2026, 10, 25, 1, 30))
        );
        assert_eq!(from_swedish_local(0), None);
        // A hostile reading is an answer, not a panic.
        let _ = from_swedish_local(u64::MAX);
    }

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(format_ms_utc(1_795_435_200_000), "2026-11-23 12:00:00 UTC");
        for days in [-1000, 0, 11_016, 20_415, 40_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(parse_utc("2026-11-23 12:00"), Ok(1_795_435_200_000));
        assert_eq!(parse_utc("2026-11-23T12:00:00"), Ok(1_795_435_200_000));
        assert_eq!(parse_utc("2026-11-23"), Ok(1_795_392_000_000));
        for bad in ["2026-02-30", "2026-13-01", "igår", "2026-11-23 25:00", ""] {
            assert!(parse_utc(bad).is_err(), "{bad}");
        }
    }
}
