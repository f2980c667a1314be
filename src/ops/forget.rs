//! `forget`: decides which snapshots a retention policy keeps and deletes the snapshot files of
//! the rest. The decision is a pure function ([`apply_policy`]) of times, tags and a time zone, so
//! it is tested without a repository; deleting snapshot files is the first step of the reverse
//! ordering (snapshots, then index, then packs), and forget never touches index or packs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};
use serde::Serialize;

use super::select::SnapshotFilter;
use crate::error::{Error, Result};
use crate::format::snapshot::Snapshot;
use crate::repo::lock::LockGuard;
use crate::repo::SnapshotScan;
use crate::format::SnapshotId;
use crate::repo::Repository;

/// A `--keep-within` duration: calendar years, months, weeks and days (applied in local civil
/// time, as restic's `AddDate`) plus hours (absolute).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepWithin {
    pub years: i64,
    pub months: i64,
    pub weeks: i64,
    pub days: i64,
    pub hours: i64,
}

impl KeepWithin {
    /// Parses `NyNmNwNdNh` combinations such as `30d`, `1y6m`, `2w`, `12h`: each unit at most
    /// once, in any order; at least one unit; not zero in total.
    ///
    /// # Errors
    /// [`Error::Usage`] naming the input and what is wrong with it.
    pub fn parse(s: &str) -> Result<Self> {
        let err = |why: &str| Error::Usage(format!("--keep-within {s:?}: {why}; use e.g. 30d, 2w, 1y6m or 12h (units y, m, w, d, h)"));
        let mut out = Self::default();
        let mut seen = String::new();
        let mut num = String::new();
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            if num.is_empty() {
                return Err(err(&format!("{c:?} is not preceded by a number")));
            }
            let n: i64 = num.parse().map_err(|_| err("number too large"))?;
            num.clear();
            let slot = match c {
                'y' => &mut out.years,
                'm' => &mut out.months,
                'w' => &mut out.weeks,
                'd' => &mut out.days,
                'h' => &mut out.hours,
                _ => return Err(err(&format!("unknown unit {c:?}"))),
            };
            if seen.contains(c) {
                return Err(err(&format!("unit {c:?} given twice")));
            }
            seen.push(c);
            *slot = n;
        }
        if !num.is_empty() {
            return Err(err(&format!("{num} has no unit")));
        }
        if seen.is_empty() {
            return Err(err("empty duration"));
        }
        if out == Self::default() {
            return Err(err("the duration must be longer than zero"));
        }
        out.span().map_err(|e| err(&e.to_string()))?;
        Ok(out)
    }

    /// The duration as a jiff span.
    ///
    /// # Errors
    /// A component is out of jiff's range.
    pub fn span(&self) -> std::result::Result<Span, jiff::Error> {
        Span::new().try_years(self.years)?.try_months(self.months)?.try_weeks(self.weeks)?.try_days(self.days)?.try_hours(self.hours)
    }

    /// The oldest instant still within this duration of `newest`, computed in `tz`. `None` when
    /// it lies before the representable range (then every snapshot is within).
    #[must_use]
    pub fn cutoff(&self, newest: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let span = self.span().ok()?;
        newest.to_zoned(tz.clone()).checked_sub(span).ok().map(|z| z.timestamp())
    }
}

impl FromStr for KeepWithin {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for KeepWithin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, unit) in [(self.years, 'y'), (self.months, 'm'), (self.weeks, 'w'), (self.days, 'd'), (self.hours, 'h')] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

/// A retention policy. A snapshot is kept if any rule keeps it. Counts of 0 mean "rule not used".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepPolicy {
    pub last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
    /// Keep everything this close to the newest snapshot of the group.
    pub within: Option<KeepWithin>,
    /// Keep snapshots with these tags; `a,b` needs both, several entries mean any of them.
    pub tags: Vec<String>,
}

impl KeepPolicy {
    /// True when no rule is set: such a policy would keep nothing, so [`forget`] refuses it.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.last == 0
            && self.hourly == 0
            && self.daily == 0
            && self.weekly == 0
            && self.monthly == 0
            && self.yearly == 0
            && self.within.is_none()
            && self.tags.is_empty()
    }
}

/// What [`apply_policy`] needs to know about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapInfo {
    pub id: SnapshotId,
    pub time: Timestamp,
    pub tags: Vec<String>,
}

/// The verdict on one snapshot, with every rule that keeps it (empty when removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: SnapshotId,
    pub keep: bool,
    pub reasons: Vec<String>,
}

/// The counted rules, in the order their reasons are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Rule::Last => "last",
            Rule::Hourly => "hourly",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
        }
    }

    /// The bucket of a snapshot in local civil time (weekly: ISO year and week). `nr` makes
    /// every snapshot its own bucket for `last`.
    fn bucket(self, t: &Zoned, nr: usize) -> (i64, i64, i64, i64) {
        let (y, m, d, h) = (i64::from(t.year()), i64::from(t.month()), i64::from(t.day()), i64::from(t.hour()));
        match self {
            Rule::Last => (i64::try_from(nr).unwrap_or(i64::MAX), 0, 0, 0),
            Rule::Hourly => (y, m, d, h),
            Rule::Daily => (y, m, d, 0),
            Rule::Weekly => {
                let w = t.date().iso_week_date();
                (i64::from(w.year()), i64::from(w.week()), 0, 0)
            }
            Rule::Monthly => (y, m, 0, 0),
            Rule::Yearly => (y, 0, 0, 0),
        }
    }
}

/// Whether `tags` holds every tag of the comma-separated list `want`.
fn has_tags(tags: &[String], want: &str) -> bool {
    want.split(',').filter(|t| !t.is_empty()).all(|t| tags.iter().any(|have| have == t))
}

/// Applies `policy` to one group of snapshots, with restic's semantics: snapshots are visited
/// newest first; each counted rule keeps the newest snapshot of each bucket (hour, day, ISO week,
/// month, year in `tz`; every snapshot for `last`) until its count is used up, and, while it still
/// has counts left, also the oldest snapshot of the group ("oldest daily snapshot"); `within` keeps
/// what is at or after the newest snapshot's time minus the duration; tags keep what has them.
///
/// Returns one decision per input snapshot, in input order. An empty policy keeps everything
/// (reason "policy is empty"); [`forget`] refuses such a policy before getting here.
#[must_use]
pub fn apply_policy(snaps: &[SnapInfo], policy: &KeepPolicy, tz: &TimeZone) -> Vec<Decision> {
    if policy.is_empty() {
        return snaps.iter().map(|s| Decision { id: s.id, keep: true, reasons: vec!["policy is empty".to_string()] }).collect();
    }
    // Newest first; among equal times the later input (the newer in a time-sorted list) first.
    let mut order: Vec<usize> = (0..snaps.len()).collect();
    order.sort_by(|&a, &b| snaps[b].time.cmp(&snaps[a].time).then(b.cmp(&a)));
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); snaps.len()];
    let Some(&newest) = order.first() else { return Vec::new() };
    let within = policy.within.map(|w| (w, w.cutoff(snaps[newest].time, tz)));
    let mut rules: Vec<(Rule, u32, Option<(i64, i64, i64, i64)>)> = [
        (Rule::Last, policy.last),
        (Rule::Hourly, policy.hourly),
        (Rule::Daily, policy.daily),
        (Rule::Weekly, policy.weekly),
        (Rule::Monthly, policy.monthly),
        (Rule::Yearly, policy.yearly),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(r, n)| (r, n, None))
    .collect();

    let oldest = order.len() - 1;
    for (nr, &i) in order.iter().enumerate() {
        let s = &snaps[i];
        let why = &mut reasons[i];
        for t in &policy.tags {
            if has_tags(&s.tags, t) {
                why.push(format!("tag {t}"));
            }
        }
        if let Some((w, cutoff)) = &within {
            if cutoff.is_none_or(|c| s.time >= c) {
                why.push(format!("within {w}"));
            }
        }
        let local = s.time.to_zoned(tz.clone());
        for (rule, left, last) in &mut rules {
            if *left == 0 {
                continue;
            }
            let key = rule.bucket(&local, nr);
            let new_bucket = *last != Some(key);
            if new_bucket || nr == oldest {
                why.push(if new_bucket { format!("{} snapshot", rule.name()) } else { format!("oldest {} snapshot", rule.name()) });
                *last = Some(key);
                *left -= 1;
            }
        }
    }
    snaps.iter().zip(reasons).map(|(s, r)| Decision { id: s.id, keep: !r.is_empty(), reasons: r }).collect()
}

/// Which snapshot fields define the groups a policy is applied to separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupBy {
    pub host: bool,
    pub paths: bool,
    pub tags: bool,
}

impl Default for GroupBy {
    /// `host,paths`, as restic.
    fn default() -> Self {
        Self { host: true, paths: true, tags: false }
    }
}

impl GroupBy {
    /// Parses a comma-separated subset of `host`, `paths`, `tags`; the empty string means one
    /// group for everything.
    ///
    /// # Errors
    /// [`Error::Usage`] for any other word.
    pub fn parse(s: &str) -> Result<Self> {
        let mut g = Self { host: false, paths: false, tags: false };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "host" => g.host = true,
                "paths" => g.paths = true,
                "tags" => g.tags = true,
                _ => return Err(Error::Usage(format!("--group-by {s:?}: {part:?} is not one of host, paths, tags"))),
            }
        }
        Ok(g)
    }

    /// The group `s` belongs to; fields not grouped by are `None`.
    #[must_use]
    pub fn key(&self, s: &Snapshot) -> GroupKey {
        GroupKey {
            hostname: self.host.then(|| s.hostname.clone()),
            paths: self.paths.then(|| s.sorted_paths()),
            tags: self.tags.then(|| {
                let mut t = s.tags.clone();
                t.sort();
                t.dedup();
                t
            }),
        }
    }
}

impl FromStr for GroupBy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// A group's shared values (JSON `null` for fields not grouped by).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GroupKey {
    pub hostname: Option<String>,
    pub paths: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
}

/// What to forget.
#[derive(Debug, Clone)]
pub struct ForgetOptions {
    /// Snapshots to remove outright (ids, unique prefixes of ≥ 4 hex digits, or `latest`); no
    /// policy applies to them.
    pub ids: Vec<String>,
    /// Which snapshots the policy is applied to.
    pub filter: SnapshotFilter,
    pub policy: KeepPolicy,
    pub group_by: GroupBy,
    /// Decide and report, delete nothing.
    pub dry_run: bool,
    /// The zone the hour/day/week/month/year buckets and `within` are computed in.
    pub tz: TimeZone,
}

impl ForgetOptions {
    /// Refuses what could never be meant: no policy and no ids (that would remove everything),
    /// ids together with a policy or filters, and empty `--keep-tag` values.
    ///
    /// # Errors
    /// [`Error::Usage`] saying which.
    pub fn validate(&self) -> Result<()> {
        let has_filter = !(self.filter.hosts.is_empty() && self.filter.tags.is_empty() && self.filter.paths.is_empty());
        if !self.ids.is_empty() {
            if !self.policy.is_empty() {
                return Err(Error::Usage("give snapshot ids or a --keep-* policy, not both".into()));
            }
            if has_filter {
                return Err(Error::Usage("snapshot ids cannot be combined with --host, --tag or --path".into()));
            }
            return Ok(());
        }
        if self.policy.is_empty() {
            return Err(Error::Usage(
                "no policy given: use --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, \
                 --keep-within or --keep-tag, or name snapshot ids; refusing to remove every snapshot"
                    .into(),
            ));
        }
        if self.policy.tags.iter().any(|t| t.split(',').all(str::is_empty)) {
            return Err(Error::Usage("--keep-tag needs a tag".into()));
        }
        Ok(())
    }
}

/// A snapshot that stays, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub id: SnapshotId,
    /// As stored: RFC 3339 with the offset at backup time.
    pub time: String,
    pub reasons: Vec<String>,
}

/// A snapshot that is (or, in a dry run, would be) removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub id: SnapshotId,
    pub time: String,
}

/// The decisions for one group, each list oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForgetGroup {
    pub group: GroupKey,
    pub keep: Vec<Kept>,
    pub remove: Vec<Removed>,
}

/// What [`forget`] decided and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgetReport {
    pub groups: Vec<ForgetGroup>,
    /// Snapshot files that could not be read, removed because their ids were given.
    pub unreadable_removed: Vec<SnapshotId>,
    /// Nothing was deleted.
    pub dry_run: bool,
}

impl ForgetReport {
    /// Snapshots removed (or, in a dry run, to be removed).
    #[must_use]
    pub fn removed(&self) -> usize {
        self.groups.iter().map(|g| g.remove.len()).sum::<usize>() + self.unreadable_removed.len()
    }

    /// Snapshots kept.
    #[must_use]
    pub fn kept(&self) -> usize {
        self.groups.iter().map(|g| g.keep.len()).sum()
    }
}

/// Decides, without touching storage, what forget does to `all` (oldest first, as
/// [`Repository::snapshots`] returns them). Groups come sorted by their key.
///
/// # Errors
/// As [`ForgetOptions::validate`]; an id that matches no snapshot or several.
pub fn plan(all: &[(SnapshotId, Snapshot)], opts: &ForgetOptions) -> Result<Vec<ForgetGroup>> {
    opts.validate()?;
    let mut groups: BTreeMap<GroupKey, Vec<&(SnapshotId, Snapshot)>> = BTreeMap::new();
    if !opts.ids.is_empty() {
        let mut chosen: Vec<&(SnapshotId, Snapshot)> = Vec::new();
        for spec in &opts.ids {
            let found = Repository::resolve_snapshot(spec, all)?;
            if !chosen.iter().any(|c| c.0 == found.0) {
                chosen.push(found);
            }
        }
        // Keep the oldest-first order of `all` inside each group.
        for entry in all.iter().filter(|e| chosen.iter().any(|c| c.0 == e.0)) {
            groups.entry(opts.group_by.key(&entry.1)).or_default().push(entry);
        }
        return Ok(groups
            .into_iter()
            .map(|(group, members)| ForgetGroup {
                group,
                keep: Vec::new(),
                remove: members.into_iter().map(|(id, s)| Removed { id: *id, time: s.time.clone() }).collect(),
            })
            .collect());
    }
    for entry in all.iter().filter(|(_, s)| opts.filter.matches(s)) {
        groups.entry(opts.group_by.key(&entry.1)).or_default().push(entry);
    }
    Ok(groups.into_iter().map(|(group, members)| decide_group(group, &members, opts)).collect())
}

/// Applies the policy to one group. A snapshot whose time cannot be read is always kept: forget
/// never removes what it cannot reason about.
fn decide_group(group: GroupKey, members: &[&(SnapshotId, Snapshot)], opts: &ForgetOptions) -> ForgetGroup {
    let infos: Vec<SnapInfo> = members
        .iter()
        .filter_map(|(id, s)| s.timestamp().ok().map(|time| SnapInfo { id: *id, time, tags: s.tags.clone() }))
        .collect();
    let decisions = apply_policy(&infos, &opts.policy, &opts.tz);
    let mut out = ForgetGroup { group, keep: Vec::new(), remove: Vec::new() };
    for (id, s) in members {
        match decisions.iter().find(|d| d.id == *id) {
            Some(d) if !d.keep => out.remove.push(Removed { id: *id, time: s.time.clone() }),
            Some(d) => out.keep.push(Kept { id: *id, time: s.time.clone(), reasons: d.reasons.clone() }),
            None => out.keep.push(Kept { id: *id, time: s.time.clone(), reasons: vec!["time unreadable".to_string()] }),
        }
    }
    out
}

/// Decides with [`plan`] and, unless `dry_run`, deletes the snapshot files of every removed
/// snapshot. Index and packs are left alone: `prune` frees the data. The caller must hold an
/// exclusive lock (unless `dry_run`), checked before anything is deleted.
///
/// # Errors
/// As [`plan`]; storage errors listing snapshots or deleting one (snapshots deleted before the
/// failure stay deleted).
pub fn forget(repo: &Repository, opts: &ForgetOptions, lock: &LockGuard) -> Result<ForgetReport> {
    opts.validate()?;
    let scan = repo.scan_snapshots()?;
    // An id that names a snapshot file that cannot be read removes that file: it is the one way
    // to get rid of a damaged snapshot. A policy never removes what it cannot read.
    let (mut readable_ids, mut unreadable) = (Vec::new(), Vec::new());
    for spec in &opts.ids {
        match unreadable_match(spec, &scan)? {
            Some(id) => {
                if !unreadable.contains(&id) {
                    unreadable.push(id);
                }
            }
            None => readable_ids.push(spec.clone()),
        }
    }
    let groups = if opts.ids.is_empty() || !readable_ids.is_empty() {
        plan(&scan.readable, &ForgetOptions { ids: readable_ids, ..opts.clone() })?
    } else {
        Vec::new()
    };
    if !opts.dry_run {
        lock.ensure_held()?;
        for id in groups.iter().flat_map(|g| &g.remove).map(|r| r.id).chain(unreadable.iter().copied()) {
            repo.delete_snapshot(&id)?;
        }
    }
    Ok(ForgetReport { groups, unreadable_removed: unreadable, dry_run: opts.dry_run })
}

/// The unreadable snapshot `spec` names, if it names one and no readable snapshot.
fn unreadable_match(spec: &str, scan: &SnapshotScan) -> Result<Option<SnapshotId>> {
    if spec == "latest" || spec.len() < 4 {
        return Ok(None);
    }
    let lower = spec.to_ascii_lowercase();
    let hits: Vec<SnapshotId> = scan.unreadable.iter().map(|(id, _)| *id).filter(|id| id.to_hex().starts_with(&lower)).collect();
    let readable_hit = scan.readable.iter().any(|(id, _)| id.to_hex().starts_with(&lower));
    match (hits.as_slice(), readable_hit) {
        ([], _) => Ok(None),
        ([one], false) => Ok(Some(*one)),
        _ => Err(Error::AmbiguousSnapshot(spec.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, Date};

    fn id(n: usize) -> SnapshotId {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&(n as u64).to_be_bytes());
        SnapshotId(b)
    }

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").expect("Europe/Berlin in the tz database (enable a jiff tzdb feature if missing)")
    }

    /// A civil time in `tz` (for a repeated hour, the earlier instant).
    fn at(tz: &TimeZone, d: Date, h: i8, m: i8) -> Timestamp {
        d.at(h, m, 0, 0).to_zoned(tz.clone()).unwrap().timestamp()
    }

    fn infos(times: &[Timestamp]) -> Vec<SnapInfo> {
        times.iter().enumerate().map(|(i, t)| SnapInfo { id: id(i), time: *t, tags: vec![] }).collect()
    }

    fn kept_indices(d: &[Decision]) -> Vec<usize> {
        d.iter().enumerate().filter(|(_, d)| d.keep).map(|(i, _)| i).collect()
    }

    fn policy(f: impl FnOnce(&mut KeepPolicy)) -> KeepPolicy {
        let mut p = KeepPolicy::default();
        f(&mut p);
        p
    }

    /// Several snapshots per day over 90 days: each bucketed rule keeps the newest of each bucket.
    #[test]
    fn daily_keeps_the_newest_of_each_of_the_last_days() {
        let tz = utc();
        let start = date(2024, 1, 1);
        let mut times = Vec::new();
        for day in 0..90 {
            for h in [1, 9, 17] {
                times.push(at(&tz, start.checked_add(Span::new().days(day)).unwrap(), h, 0));
            }
        }
        let snaps = infos(&times);
        let d = apply_policy(&snaps, &policy(|p| p.daily = 30), &tz);
        assert_eq!(d.len(), 270);
        // Days 60..90 (the last 30), the 17:00 snapshot (index 3*day + 2).
        let want: Vec<usize> = (60..90).map(|day| 3 * day + 2).collect();
        assert_eq!(kept_indices(&d), want);
        for i in want {
            assert_eq!(d[i].reasons, vec!["daily snapshot"]);
            assert_eq!(d[i].id, snaps[i].id);
        }
        assert!(d.iter().filter(|d| !d.keep).all(|d| d.reasons.is_empty()));
    }

    /// Table: (policy, times as (y, m, d, h, min) in UTC, indices kept).
    #[test]
    fn counted_rules_table() {
        type Case = (&'static str, KeepPolicy, Vec<(i16, i8, i8, i8, i8)>, Vec<usize>);
        let cases: Vec<Case> = vec![
            ("last 3 of 6", policy(|p| p.last = 3), (1..=6).map(|d| (2024, 5, d, 12, 0)).collect(), vec![3, 4, 5]),
            ("last 20 of 4 keeps all", policy(|p| p.last = 20), (1..=4).map(|d| (2024, 5, d, 12, 0)).collect(), vec![0, 1, 2, 3]),
            (
                "hourly 4: newest of each of the last 4 hours",
                policy(|p| p.hourly = 4),
                (0..10).flat_map(|h| [(2024, 5, 1, h, 0), (2024, 5, 1, h, 20), (2024, 5, 1, h, 40)]).collect(),
                vec![20, 23, 26, 29],
            ),
            (
                "weekly 3 across a year boundary: 2020-12-31 and 2021-01-01 are 2020-W53 like 2021-01-03",
                policy(|p| p.weekly = 3),
                vec![(2020, 12, 24, 12, 0), (2020, 12, 31, 12, 0), (2021, 1, 1, 12, 0), (2021, 1, 3, 12, 0), (2021, 1, 4, 12, 0)],
                vec![0, 3, 4],
            ),
            (
                "monthly 3: leap day is the newest of Feb 2024",
                policy(|p| p.monthly = 3),
                vec![(2024, 1, 31, 12, 0), (2024, 2, 1, 12, 0), (2024, 2, 28, 12, 0), (2024, 2, 29, 12, 0), (2024, 3, 1, 12, 0), (2024, 3, 31, 23, 59), (2024, 4, 15, 0, 0)],
                vec![3, 5, 6],
            ),
            (
                "yearly 2",
                policy(|p| p.yearly = 2),
                vec![(2021, 6, 1, 0, 0), (2021, 12, 31, 0, 0), (2022, 3, 1, 0, 0), (2023, 1, 1, 0, 0), (2023, 12, 31, 23, 0)],
                vec![2, 4],
            ),
            (
                "daily 3: 2024-02-29 is its own day",
                policy(|p| p.daily = 3),
                vec![(2024, 2, 28, 23, 0), (2024, 2, 29, 0, 0), (2024, 2, 29, 23, 59), (2024, 3, 1, 0, 0)],
                vec![0, 2, 3],
            ),
            (
                "daily 5 with counts left also keeps the oldest snapshot",
                policy(|p| p.daily = 5),
                vec![(2024, 5, 1, 1, 0), (2024, 5, 1, 9, 0), (2024, 5, 1, 17, 0), (2024, 5, 2, 9, 0)],
                vec![0, 2, 3],
            ),
        ];
        let tz = utc();
        for (name, p, times, want) in cases {
            let ts: Vec<Timestamp> = times.iter().map(|&(y, m, d, h, mi)| at(&tz, date(y, m, d), h, mi)).collect();
            let got = apply_policy(&infos(&ts), &p, &tz);
            assert_eq!(kept_indices(&got), want, "{name}");
        }
    }

    #[test]
    fn iso_weeks_span_the_year_boundary() {
        let tz = utc();
        let key = |d: Date| Rule::Weekly.bucket(&at(&tz, d, 12, 0).to_zoned(tz.clone()), 0);
        assert_eq!(key(date(2020, 12, 31)), (2020, 53, 0, 0));
        assert_eq!(key(date(2021, 1, 1)), key(date(2020, 12, 31)));
        assert_eq!(key(date(2021, 1, 3)), key(date(2020, 12, 31)));
        assert_eq!(key(date(2021, 1, 4)), (2021, 1, 0, 0));
        assert_eq!(key(date(2020, 12, 27)), (2020, 52, 0, 0));
    }

    #[test]
    fn oldest_reason_is_named() {
        let tz = utc();
        let ts = [at(&tz, date(2024, 5, 1), 1, 0), at(&tz, date(2024, 5, 1), 17, 0)];
        let d = apply_policy(&infos(&ts), &policy(|p| p.daily = 7), &tz);
        assert_eq!(d[0].reasons, vec!["oldest daily snapshot"]);
        assert_eq!(d[1].reasons, vec!["daily snapshot"]);
    }

    #[test]
    fn keep_within_parses() {
        let ok = [
            ("30d", KeepWithin { days: 30, ..KeepWithin::default() }),
            ("1y6m", KeepWithin { years: 1, months: 6, ..KeepWithin::default() }),
            ("12h", KeepWithin { hours: 12, ..KeepWithin::default() }),
            ("2w", KeepWithin { weeks: 2, ..KeepWithin::default() }),
            ("1y2m3w4d5h", KeepWithin { years: 1, months: 2, weeks: 3, days: 4, hours: 5 }),
            ("5h1y", KeepWithin { years: 1, hours: 5, ..KeepWithin::default() }),
            ("0y7d", KeepWithin { days: 7, ..KeepWithin::default() }),
        ];
        for (s, want) in ok {
            assert_eq!(KeepWithin::parse(s).unwrap(), want, "{s}");
        }
        assert_eq!(KeepWithin::parse("1y6m").unwrap().to_string(), "1y6m");
        assert_eq!(KeepWithin::parse("5h1y").unwrap().to_string(), "1y5h");
        for bad in ["", " ", "d", "30", "30x", "3d3d", "-1d", "0d", "0y0m", "1.5d", "30D", "1 d", "99999999999999999999d", "20000y", "y1"] {
            let e = KeepWithin::parse(bad).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad:?}: {e}");
            assert!(e.to_string().contains("--keep-within"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn keep_within_is_relative_to_the_newest_and_inclusive() {
        let tz = utc();
        let newest = at(&tz, date(2024, 3, 31), 12, 0);
        let cutoff = at(&tz, date(2024, 3, 1), 12, 0);
        let ts = [cutoff - Span::new().seconds(1), cutoff, cutoff + Span::new().hours(1), newest];
        let d = apply_policy(&infos(&ts), &policy(|p| p.within = Some(KeepWithin::parse("30d").unwrap())), &tz);
        assert_eq!(kept_indices(&d), vec![1, 2, 3]);
        assert_eq!(d[1].reasons, vec!["within 30d"]);

        // Months clamp: 2024-03-31 minus 1 month is 2024-02-29.
        let w = KeepWithin::parse("1m").unwrap();
        assert_eq!(w.cutoff(newest, &tz), Some(at(&tz, date(2024, 2, 29), 12, 0)));
        let w = KeepWithin::parse("1y6m").unwrap();
        assert_eq!(w.cutoff(newest, &tz), Some(at(&tz, date(2022, 9, 30), 12, 0)));
        let w = KeepWithin::parse("12h").unwrap();
        assert_eq!(w.cutoff(newest, &tz), Some(at(&tz, date(2024, 3, 31), 0, 0)));
        let w = KeepWithin::parse("2w").unwrap();
        assert_eq!(w.cutoff(newest, &tz), Some(at(&tz, date(2024, 3, 17), 12, 0)));
        // Too far back for the calendar: everything is within.
        let w = KeepWithin::parse("19000y").unwrap();
        assert_eq!(w.cutoff(newest, &tz), None);
        let d = apply_policy(&infos(&ts), &policy(|p| p.within = Some(w)), &tz);
        assert!(d.iter().all(|d| d.keep));
    }

    #[test]
    fn keep_within_days_are_calendar_days_across_dst() {
        let tz = berlin();
        // 2024-03-31 12:00 CEST; one calendar day earlier is 2024-03-30 12:00 CET, 23 hours before.
        let newest = at(&tz, date(2024, 3, 31), 12, 0);
        let ts = [at(&tz, date(2024, 3, 30), 11, 30), at(&tz, date(2024, 3, 30), 12, 0), newest];
        let d = apply_policy(&infos(&ts), &policy(|p| p.within = Some(KeepWithin::parse("1d").unwrap())), &tz);
        assert_eq!(kept_indices(&d), vec![1, 2]);
        let d = apply_policy(&infos(&ts), &policy(|p| p.within = Some(KeepWithin::parse("24h").unwrap())), &tz);
        assert_eq!(kept_indices(&d), vec![0, 1, 2]);
    }

    #[test]
    fn keep_tag() {
        let tz = utc();
        let mk = |i: usize, tags: &[&str]| SnapInfo { id: id(i), time: at(&tz, date(2024, 1, 1 + i as i8), 0, 0), tags: tags.iter().map(|t| (*t).to_string()).collect() };
        let snaps = vec![mk(0, &["nightly"]), mk(1, &[]), mk(2, &["nightly", "db"]), mk(3, &["db"]), mk(4, &[])];
        let d = apply_policy(&snaps, &policy(|p| p.tags = vec!["nightly".into()]), &tz);
        assert_eq!(kept_indices(&d), vec![0, 2]);
        assert_eq!(d[0].reasons, vec!["tag nightly"]);
        let d = apply_policy(&snaps, &policy(|p| p.tags = vec!["nightly,db".into()]), &tz);
        assert_eq!(kept_indices(&d), vec![2]);
        let d = apply_policy(&snaps, &policy(|p| p.tags = vec!["db".into(), "nightly".into()]), &tz);
        assert_eq!(kept_indices(&d), vec![0, 2, 3]);
        assert_eq!(d[2].reasons, vec!["tag db", "tag nightly"]);
    }

    #[test]
    fn reasons_accumulate() {
        let tz = utc();
        let mut snaps = infos(&[
            at(&tz, date(2024, 1, 30), 9, 0),
            at(&tz, date(2024, 1, 31), 9, 0),
            at(&tz, date(2024, 2, 1), 9, 0),
            at(&tz, date(2024, 2, 1), 18, 0),
        ]);
        snaps[1].tags = vec!["nightly".into()];
        let p = KeepPolicy {
            last: 2,
            daily: 2,
            monthly: 1,
            within: Some(KeepWithin::parse("12h").unwrap()),
            tags: vec!["nightly".into()],
            ..KeepPolicy::default()
        };
        let d = apply_policy(&snaps, &p, &tz);
        assert_eq!(d[3].reasons, vec!["within 12h", "last snapshot", "daily snapshot", "monthly snapshot"]);
        assert_eq!(d[2].reasons, vec!["within 12h", "last snapshot"]);
        assert_eq!(d[1].reasons, vec!["tag nightly", "daily snapshot"]);
        assert!(!d[0].keep);
        assert!(d[0].reasons.is_empty());
    }

    /// Snapshots at 00:30 local around both 2024 DST changes in Berlin, plus the hour after the
    /// spring gap and both 02:30s of the repeated autumn hour: each lands in its local day.
    #[test]
    fn dst_changes_use_local_days() {
        let tz = berlin();
        let mut ts: Vec<Timestamp> = Vec::new();
        for d in 29..=31 {
            ts.push(at(&tz, date(2024, 3, d), 0, 30));
        }
        ts.push(at(&tz, date(2024, 3, 31), 3, 30)); // 3: just after the gap (CEST)
        for d in 1..=2 {
            ts.push(at(&tz, date(2024, 4, d), 0, 30));
        }
        for d in 25..=27 {
            ts.push(at(&tz, date(2024, 10, d), 0, 30));
        }
        let cest: Timestamp = "2024-10-27T02:30:00+02:00".parse().unwrap();
        let cet: Timestamp = "2024-10-27T02:30:00+01:00".parse().unwrap();
        assert_eq!(cet.duration_since(cest), jiff::SignedDuration::from_hours(1));
        ts.push(cest); // 9
        ts.push(cet); // 10
        for d in 28..=29 {
            ts.push(at(&tz, date(2024, 10, d), 0, 30));
        }
        // 00:30 local is the previous evening in UTC; the buckets must follow local time.
        assert_eq!(ts[0].to_zoned(TimeZone::UTC).day(), 28);

        let d = apply_policy(&infos(&ts), &policy(|p| p.daily = 100), &tz);
        // One per local day, the newest: 03-31 is the 03:30 one, 10-27 the CET 02:30.
        assert_eq!(kept_indices(&d), vec![0, 1, 3, 4, 5, 6, 7, 10, 11, 12]);
        assert!(kept_indices(&d).iter().all(|&i| d[i].reasons == vec!["daily snapshot"]));

        // Bucketed in UTC the same instants fall in other days (00:30 CET is 23:30Z the day
        // before), so other snapshots would be kept.
        let in_utc = apply_policy(&infos(&ts), &policy(|p| p.daily = 100), &TimeZone::UTC);
        assert_eq!(kept_indices(&in_utc), vec![0, 1, 2, 4, 5, 6, 7, 8, 11, 12]);

        // Hourly buckets are civil hours too: both 02:30s on 10-27 share the 02:00 bucket.
        let d = apply_policy(&infos(&ts[6..]), &policy(|p| p.hourly = 100), &tz);
        assert_eq!(kept_indices(&d), vec![0, 1, 2, 4, 5, 6]);
    }

    #[test]
    fn decisions_follow_input_order_and_ties_are_stable() {
        let tz = utc();
        let t = at(&tz, date(2024, 1, 1), 0, 0);
        let later = at(&tz, date(2024, 1, 2), 0, 0);
        let snaps = infos(&[later, t, t]);
        let d = apply_policy(&snaps, &policy(|p| p.last = 2), &tz);
        assert_eq!(d.iter().map(|d| d.id).collect::<Vec<_>>(), vec![id(0), id(1), id(2)]);
        // Equal times: the later one in the input counts as newer.
        assert_eq!(kept_indices(&d), vec![0, 2]);
        assert!(apply_policy(&[], &policy(|p| p.last = 2), &tz).is_empty());
    }

    #[test]
    fn empty_policy_keeps_everything() {
        let tz = utc();
        let d = apply_policy(&infos(&[at(&tz, date(2024, 1, 1), 0, 0)]), &KeepPolicy::default(), &tz);
        assert!(d[0].keep);
        assert!(KeepPolicy::default().is_empty());
        assert!(!policy(|p| p.tags = vec!["x".into()]).is_empty());
    }

    #[test]
    fn group_by_parses() {
        assert_eq!(GroupBy::parse("host,paths").unwrap(), GroupBy::default());
        assert_eq!(GroupBy::parse("").unwrap(), GroupBy { host: false, paths: false, tags: false });
        assert_eq!(GroupBy::parse("tags, host").unwrap(), GroupBy { host: true, paths: false, tags: true });
        assert_eq!(GroupBy::parse("paths").unwrap(), GroupBy { host: false, paths: true, tags: false });
        assert!(GroupBy::parse("hosts").is_err());
        assert!(GroupBy::parse("host,time").is_err());
    }

    fn snap(host: &str, time: &str, paths: &[&str], tags: &[&str]) -> Snapshot {
        crate::format::snapshot::sample(host, time, paths, tags)
    }

    fn opts(f: impl FnOnce(&mut ForgetOptions)) -> ForgetOptions {
        let mut o = ForgetOptions {
            ids: vec![],
            filter: SnapshotFilter::default(),
            policy: KeepPolicy::default(),
            group_by: GroupBy::default(),
            dry_run: false,
            tz: TimeZone::UTC,
        };
        f(&mut o);
        o
    }

    fn ids_of<T>(v: &[T], f: impl Fn(&T) -> SnapshotId) -> Vec<SnapshotId> {
        v.iter().map(f).collect()
    }

    #[test]
    fn plan_groups_and_refuses() {
        let all = vec![
            (id(1), snap("a", "2024-01-01T00:00:00Z", &["/x"], &[])),
            (id(2), snap("b", "2024-01-02T00:00:00Z", &["/x"], &[])),
            (id(3), snap("a", "2024-01-03T00:00:00+01:00", &["/y"], &["t"])),
            (id(4), snap("a", "2024-01-04T00:00:00Z", &["/x"], &[])),
            (id(5), snap("b", "not a time", &["/x"], &[])),
        ];
        let e = plan(&all, &opts(|_| {})).unwrap_err();
        assert!(e.to_string().contains("no policy given"), "{e}");
        let e = plan(&all, &opts(|o| {
            o.ids = vec![id(1).to_hex()];
            o.policy.last = 1;
        }))
        .unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
        let e = plan(&all, &opts(|o| {
            o.ids = vec![id(1).to_hex()];
            o.filter.hosts = vec!["a".into()];
        }))
        .unwrap_err();
        assert!(e.to_string().contains("cannot be combined"), "{e}");
        assert!(plan(&all, &opts(|o| o.policy.tags = vec![",".into()])).is_err());

        // Default grouping (host, paths): a/x, a/y, b/x; keep-last 1 per group; unreadable time kept.
        let g = plan(&all, &opts(|o| o.policy.last = 1)).unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].group, GroupKey { hostname: Some("a".into()), paths: Some(vec!["/x".into()]), tags: None });
        assert_eq!(ids_of(&g[0].keep, |k| k.id), vec![id(4)]);
        assert_eq!(ids_of(&g[0].remove, |r| r.id), vec![id(1)]);
        assert_eq!(ids_of(&g[1].keep, |k| k.id), vec![id(3)]);
        assert_eq!(g[2].group.hostname.as_deref(), Some("b"));
        assert_eq!(ids_of(&g[2].keep, |k| k.id), vec![id(2), id(5)]);
        assert_eq!(g[2].keep[1].reasons, vec!["time unreadable"]);
        assert_eq!(g[0].keep[0].time, "2024-01-04T00:00:00Z");

        // One group; a filter.
        let g = plan(&all, &opts(|o| {
            o.policy.last = 1;
            o.group_by = GroupBy::parse("").unwrap();
            o.filter.hosts = vec!["a".into()];
        }))
        .unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].group, GroupKey::default());
        assert_eq!(ids_of(&g[0].keep, |k| k.id), vec![id(4)]);
        assert_eq!(ids_of(&g[0].remove, |r| r.id), vec![id(1), id(3)]);

        // Explicit ids: removed outright, duplicates once, grouped, oldest first.
        let prefix = id(4).to_hex()[..16].to_string();
        let g = plan(&all, &opts(|o| o.ids = vec![prefix.clone(), id(1).to_hex(), id(4).to_hex(), id(2).to_hex()])).unwrap();
        assert_eq!(g.len(), 2);
        assert!(g.iter().all(|g| g.keep.is_empty()));
        assert_eq!(ids_of(&g[0].remove, |r| r.id), vec![id(1), id(4)]);
        assert_eq!(ids_of(&g[1].remove, |r| r.id), vec![id(2)]);
        let e = plan(&all, &opts(|o| o.ids = vec!["ffff".into()])).unwrap_err();
        assert!(matches!(e, Error::SnapshotNotFound(_)), "{e}");
        let e = plan(&all, &opts(|o| o.ids = vec!["0000".into()])).unwrap_err();
        assert!(matches!(e, Error::AmbiguousSnapshot(_)), "{e}");
    }

    #[test]
    fn group_key_serializes_as_documented() {
        let k = GroupBy::parse("host,tags").unwrap().key(&snap("h", "2024-01-01T00:00:00Z", &["/b", "/a"], &["z", "y", "z"]));
        let v = serde_json::to_value(&k).unwrap();
        assert_eq!(v, serde_json::json!({"hostname": "h", "paths": null, "tags": ["y", "z"]}));
    }
}
