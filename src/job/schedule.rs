//! When a job runs: a cron expression read as wall-clock times in the job's zone, and the rule
//! that turns each such time into exactly one instant across daylight-saving changes.
//!
//! Parsing and field matching come from the `cron` crate (the one Hiqlite uses, so its 7-field
//! expressions mean the same here). The crate's own zone handling is not used: it skips a time
//! that falls in a spring-forward gap and fires twice in a fall-back fold, and a backup job must
//! do neither. So the crate iterates matches on a zone-less clock (chrono's `Utc` standing in for
//! civil time) and [`Schedule::next_after`] maps each match to an instant with jiff.

use std::fmt;
use std::str::FromStr;

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::Timestamp;
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};

/// A parsed cron expression.
///
/// # Forms
/// Fields are separated by blanks:
/// - 5 fields, crontab's form: `min hour day-of-month month day-of-week` (runs at second 0);
/// - 6 fields: `sec min hour day-of-month month day-of-week`;
/// - 7 fields, Hiqlite's form: `sec min hour day-of-month month day-of-week year`;
/// - `@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`.
///
/// A field is `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of these;
/// months and days of the week also take names (`JAN`, `MON-FRI`), and the two day fields take
/// `?` for "any". Years run from 1970 to 2100. When both day fields are restricted, a day must
/// match both (classic cron runs when either matches). Days of the week are numbered 1 (Sunday)
/// to 7 (Saturday), as in Quartz and Hiqlite. Crontab numbers them 0 (Sunday) to 6, so a crontab
/// line such as `0 3 * * 1-5` would silently mean Sunday to Thursday here: in the 5-field form
/// numbered days of the week are therefore refused, and names are the way to write them.
///
/// # Daylight saving
/// The expression matches wall-clock times in the job's zone. Each match becomes one instant:
/// - a wall time that exists once is that instant;
/// - a wall time that does not exist (skipped by a spring-forward gap) runs once, at the first
///   instant after the gap: in Europe/Berlin on 2026-03-29, `02:30` runs at `03:00+02:00`;
/// - a wall time that occurs twice (a fall-back fold) runs once, at its first occurrence: in
///   Europe/Berlin on 2026-10-25, `02:30` runs at `02:30+02:00` and not again at `02:30+01:00`.
///
/// Several matches that map to the same instant (every minute of a skipped hour, say) are one
/// run, so a job never gets two runs for one wall-clock match and never two runs at one instant.
#[derive(Clone)]
pub struct Schedule {
    /// The expression as written (trimmed).
    expr: String,
    cron: cron::Schedule,
}

impl Schedule {
    /// Parses a 5-, 6- or 7-field expression or an `@daily`-style shorthand.
    ///
    /// # Errors
    /// [`Error::Usage`] naming the expression and what is wrong with it.
    pub fn parse(expr: &str) -> Result<Self> {
        let bad = |why: &str| Error::Usage(format!("schedule {expr:?}: {why}"));
        let trimmed = expr.trim();
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let full = match fields.as_slice() {
            [one] if one.starts_with('@') => (*one).to_string(),
            [.., dow] if fields.len() == 5 => {
                if dow.chars().any(|c| c.is_ascii_digit()) {
                    return Err(bad(&format!(
                        "day of week {dow:?} is numbered; crontab counts 0 = Sunday but this syntax 1 = Sunday, so write names such as MON-FRI"
                    )));
                }
                format!("0 {}", fields.join(" "))
            }
            _ if fields.len() == 6 || fields.len() == 7 => fields.join(" "),
            [] => return Err(bad("empty")),
            _ => {
                return Err(bad(&format!(
                    "{} fields; expected 5 (min hour day month weekday), 6 (seconds first) or 7 (seconds first, year last)",
                    fields.len()
                )))
            }
        };
        let cron = cron::Schedule::from_str(&full).map_err(|e| bad(&why_not(&full, &e)))?;
        Ok(Self { expr: trimmed.to_string(), cron })
    }

    /// The expression as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first run strictly after `after`, with wall-clock times read in `tz` (see the type's
    /// documentation for daylight-saving changes). `None` when the expression matches nothing
    /// more (a past year list, a 31st of February, or after 2100).
    #[must_use]
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        // Every wall time up to the one `after` shows maps to an instant at or before `after`:
        // the mapping never runs backwards, and a wall time in a fold maps to its first
        // occurrence, which is no later than `after` when `after` is in that fold. So matches
        // are searched from there on, and the first whose instant is later than `after` wins;
        // matches skipped on the way are the ones already run (the second half of a fold).
        let wall = tz.to_datetime(after);
        let start = chrono::DateTime::<chrono::Utc>::from_timestamp(Offset::UTC.to_timestamp(wall).ok()?.as_second(), 0)?;
        for m in self.cron.after(&start) {
            let wall = Offset::UTC.to_datetime(Timestamp::from_second(m.timestamp()).ok()?);
            let at = instant_of(wall, tz)?;
            if at > after {
                return Some(at);
            }
        }
        None
    }

    /// The next `n` runs after `after`, each strictly later than the one before.
    #[must_use]
    pub fn upcoming(&self, after: Timestamp, tz: &TimeZone, n: usize) -> Vec<Timestamp> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            let Some(next) = self.next_after(t, tz) else { break };
            out.push(next);
            t = next;
        }
        out
    }
}

/// The one instant a wall-clock match in `tz` runs at (the rule in [`Schedule`]'s documentation).
fn instant_of(wall: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(wall).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(wall).ok(),
        // The offset in force before the clocks went back gives the first occurrence.
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(wall).ok(),
        // Read with the offset after the gap, the wall time lands before the transition; the
        // transition that follows is the first instant after the gap.
        AmbiguousOffset::Gap { after, .. } => {
            let early = after.to_timestamp(wall).ok()?;
            tz.following(early).next().map(|t| t.timestamp())
        }
    }
}

/// The fields of the full (6- or 7-field) form: name and what it takes.
const FIELDS: [(&str, &str); 7] = [
    ("second", "0-59"),
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31 or ?"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "1-7 with 1 = Sunday, SUN-SAT or ?"),
    ("year", "1970-2100"),
];

/// Why the cron parser refused `full`: the first field that fails on its own (with every
/// other field `*`), named with what it takes. The parser's own message echoes the input with
/// a caret and does not always say why, so it is the fallback only.
fn why_not(full: &str, err: &cron::error::Error) -> String {
    let fields: Vec<&str> = full.split_whitespace().collect();
    for (i, field) in fields.iter().enumerate() {
        let alone: Vec<&str> = (0..fields.len()).map(|j| if j == i { *field } else { "*" }).collect();
        if cron::Schedule::from_str(&alone.join(" ")).is_err()
            && let Some((name, takes)) = FIELDS.get(i)
        {
            return format!("{name} field {field:?} is not valid: it takes {takes}, as single values, ranges a-b, steps */n or a-b/n, or lists of these");
        }
    }
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "^" && *l != full).collect();
    if lines.is_empty() { "not a cron expression".to_string() } else { lines.join("; ") }
}

impl FromStr for Schedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schedule").field(&self.expr).finish()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

impl Eq for Schedule {}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zone database must be there (Debian's tzdata): a missing zone fails the test.
    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").expect("Europe/Berlin must be in the system zone database (install tzdata)")
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn runs(expr: &str, after: &str, tz: &TimeZone, n: usize) -> Vec<String> {
        Schedule::parse(expr).unwrap().upcoming(ts(after), tz, n).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_wall_time_in_the_spring_gap_runs_once_when_the_gap_ends() {
        // 2026-03-29 02:00 CET jumps to 03:00 CEST (01:00Z): 02:30 does not exist that day.
        assert_eq!(
            runs("0 30 2 * * *", "2026-03-28T12:00:00Z", &berlin(), 3),
            ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"]
        );
        // Every minute of the missing hour is one run at 03:00, and 03:00 itself joins it.
        assert_eq!(
            runs("0 * 2,3 * * *", "2026-03-29T00:58:00Z", &berlin(), 3),
            ["2026-03-29T01:00:00Z", "2026-03-29T01:01:00Z", "2026-03-29T01:02:00Z"]
        );
        // From inside the gap's run, the next is the next day's.
        assert_eq!(runs("0 30 2 * * *", "2026-03-29T01:00:00Z", &berlin(), 1), ["2026-03-30T00:30:00Z"]);
    }

    #[test]
    fn a_wall_time_in_the_autumn_fold_runs_once_at_its_first_occurrence() {
        // 2026-10-25 03:00 CEST (01:00Z) goes back to 02:00 CET: 02:30 happens at 00:30Z and 01:30Z.
        assert_eq!(
            runs("0 30 2 * * *", "2026-10-24T12:00:00Z", &berlin(), 2),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
        // Between the two occurrences, the second is not a new run.
        assert_eq!(runs("0 30 2 * * *", "2026-10-25T00:45:00Z", &berlin(), 1), ["2026-10-26T01:30:00Z"]);
        // Hourly across the fold: 01:30, 02:30 (once), 03:30.
        assert_eq!(
            runs("0 30 * * * * *", "2026-10-24T23:00:00Z", &berlin(), 3),
            ["2026-10-24T23:30:00Z", "2026-10-25T00:30:00Z", "2026-10-25T02:30:00Z"]
        );
    }

    #[test]
    fn fixed_zones_and_utc_are_plain() {
        assert_eq!(runs("0 30 2 * * *", "2026-03-28T12:00:00Z", &TimeZone::UTC, 2), ["2026-03-29T02:30:00Z", "2026-03-30T02:30:00Z"]);
        let plus5 = TimeZone::fixed(jiff::tz::offset(5));
        assert_eq!(runs("30 2 * * *", "2026-03-28T12:00:00Z", &plus5, 1), ["2026-03-28T21:30:00Z"]);
    }

    #[test]
    fn leap_day_waits_for_the_next_leap_year() {
        assert_eq!(runs("0 0 12 29 2 *", "2026-03-01T00:00:00Z", &TimeZone::UTC, 2), ["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"]);
        assert_eq!(runs("0 0 12 29 2 *", "2026-03-01T00:00:00Z", &berlin(), 1), ["2028-02-29T11:00:00Z"]);
    }

    #[test]
    fn year_field_lists_and_ranges_and_then_nothing() {
        assert_eq!(
            runs("0 0 0 1 1 * 2027,2029-2030", "2026-06-01T00:00:00Z", &TimeZone::UTC, 5),
            ["2027-01-01T00:00:00Z", "2029-01-01T00:00:00Z", "2030-01-01T00:00:00Z"]
        );
        let s = Schedule::parse("0 0 0 1 1 * 2027").unwrap();
        assert_eq!(s.next_after(ts("2027-01-01T00:00:00Z"), &TimeZone::UTC), None);
    }

    #[test]
    fn seconds_field_steps_by_two() {
        assert_eq!(
            runs("*/2 * * * * *", "2026-01-01T00:00:00Z", &TimeZone::UTC, 3),
            ["2026-01-01T00:00:02Z", "2026-01-01T00:00:04Z", "2026-01-01T00:00:06Z"]
        );
        // A fraction of a second after a match is still after it.
        assert_eq!(runs("*/2 * * * * *", "2026-01-01T00:00:02.5Z", &TimeZone::UTC, 1), ["2026-01-01T00:00:04Z"]);
    }

    #[test]
    fn five_field_form_runs_at_second_zero_and_takes_day_names() {
        assert_eq!(runs("30 2 * * *", "2026-01-01T00:00:00Z", &TimeZone::UTC, 2), ["2026-01-01T02:30:00Z", "2026-01-02T02:30:00Z"]);
        // 2026-01-03 is a Saturday: the next weekday run is Monday the 5th.
        assert_eq!(runs("0 9 * * MON-FRI", "2026-01-03T00:00:00Z", &TimeZone::UTC, 2), ["2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"]);
        assert_eq!(runs("@daily", "2026-01-03T10:00:00Z", &TimeZone::UTC, 1), ["2026-01-04T00:00:00Z"]);
    }

    #[test]
    fn seven_field_hiqlite_form() {
        let s = Schedule::parse("  0 30 2 * * * * ").unwrap();
        assert_eq!(s.as_str(), "0 30 2 * * * *");
        assert_eq!(s.to_string(), "0 30 2 * * * *");
        assert_eq!(format!("{s:?}"), r#"Schedule("0 30 2 * * * *")"#);
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""0 30 2 * * * *""#);
        assert_eq!(runs("0 30 2 * * * *", "2026-01-01T00:00:00Z", &TimeZone::UTC, 1), ["2026-01-01T02:30:00Z"]);
    }

    #[test]
    fn runs_are_strictly_increasing_through_a_year_of_changes() {
        let s = Schedule::parse("0 */20 * * * *").unwrap();
        let all = s.upcoming(ts("2025-12-31T22:00:00Z"), &berlin(), 3 * 24 * 366);
        assert_eq!(all.len(), 3 * 24 * 366);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        // 365 days of 72 wall-clock matches. In March 02:00, 02:20, 02:40 and 03:00 are one run
        // at 03:00 (3 fewer); in October the repeated 02:00 to 02:40 are not run again.
        let in_2026 = all.iter().filter(|t| t.to_zoned(berlin()).year() == 2026).count();
        assert_eq!(in_2026, 365 * 72 - 3);
    }

    #[test]
    fn bad_expressions_are_refused_with_the_reason() {
        let err = |e: &str| Schedule::parse(e).unwrap_err().to_string();
        assert_eq!(err(""), r#"schedule "": empty"#);
        assert_eq!(
            err("* * * *"),
            r#"schedule "* * * *": 4 fields; expected 5 (min hour day month weekday), 6 (seconds first) or 7 (seconds first, year last)"#
        );
        assert_eq!(
            err("0 3 * * 1-5"),
            r#"schedule "0 3 * * 1-5": day of week "1-5" is numbered; crontab counts 0 = Sunday but this syntax 1 = Sunday, so write names such as MON-FRI"#
        );
        let takes = "as single values, ranges a-b, steps */n or a-b/n, or lists of these";
        for (bad, field) in [
            ("61 * * * *", r#"minute field "61" is not valid: it takes 0-59"#),
            ("0 0 25 * * *", r#"hour field "25" is not valid: it takes 0-23"#),
            ("* * * * * * 1960", r#"year field "1960" is not valid: it takes 1970-2100"#),
            ("0 0 0 * * FOO", r#"day-of-week field "FOO" is not valid: it takes 1-7 with 1 = Sunday, SUN-SAT or ?"#),
            ("0 0 0 * * 0", r#"day-of-week field "0" is not valid: it takes 1-7 with 1 = Sunday, SUN-SAT or ?"#),
            ("0 0 0 32 * *", r#"day-of-month field "32" is not valid: it takes 1-31 or ?"#),
            ("0 0 0 * 13 *", r#"month field "13" is not valid: it takes 1-12 or JAN-DEC"#),
            ("x 0 0 * * *", r#"second field "x" is not valid: it takes 0-59"#),
            ("0 */0 * * * *", r#"minute field "*/0" is not valid: it takes 0-59"#),
        ] {
            assert_eq!(err(bad), format!("schedule {bad:?}: {field}, {takes}"));
        }
        assert_eq!(
            err("0 0 0 * * * * *"),
            r#"schedule "0 0 0 * * * * *": 8 fields; expected 5 (min hour day month weekday), 6 (seconds first) or 7 (seconds first, year last)"#
        );
    }
}
