//! Wall-clock stamps for provenance (`probe`, `calibrate`): UTC formatted by
//! hand (Howard Hinnant's `civil_from_days`), so no date crate is needed for
//! one stamp.

/// Now, as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    utc(now_secs())
}

/// Today, as `YYYY-MM-DD` (UTC).
pub fn utc_date() -> String {
    civil_date(days(now_secs()))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn days(secs: u64) -> i64 {
    i64::try_from(secs / 86_400).unwrap_or(0)
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn utc(secs: u64) -> String {
    let (hh, mm) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    format!("{} {hh:02}:{mm:02} UTC", civil_date(days(secs)))
}

/// Days since 1970-01-01 → `YYYY-MM-DD` (proleptic Gregorian).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_709_251_199), "2024-02-29 23:59 UTC");
        assert_eq!(utc(4_107_542_400), "2100-03-01 00:00 UTC");
        assert_eq!(civil_date(20_454), "2026-01-01");
        assert_eq!(utc_date().len(), 10);
    }
}
