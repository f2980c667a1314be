//! Where a repository lives, as the user writes it (`/srv/snap`, `s3:https://host/bucket/prefix`,
//! `sftp:user@host:/srv/snap`), and the `-o KEY=VALUE` options that tune the storage behind it.
//! One parser for the command line, the config file and `copy --to`; format-spec §1 documents it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// A parsed repository location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory on this machine (`/path`, `local:/path`, or a relative path).
    Local(PathBuf),
    /// An in-process store that lives as long as the [`super::Backend`] (tests).
    Memory,
    /// An S3 bucket: on AWS when `endpoint` is `None`, else at a custom endpoint such as Garage
    /// or MinIO (`http[s]://host[:port]`).
    S3 { endpoint: Option<String>, bucket: String, prefix: String },
    /// A directory on an SSH server, through its SFTP subsystem. `path` is absolute.
    Sftp { user: Option<String>, host: String, port: Option<u16>, path: String },
}

impl Location {
    /// Parses `s`. A bare path (absolute or relative) is a local directory; `local:`, `s3:`,
    /// `sftp:` and `memory:` name the others.
    ///
    /// # Errors
    /// [`Error::Usage`] naming the location and what is wrong with it.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::Usage(format!("repository location {s:?}: {why}"));
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s == "memory:" {
            return Ok(Self::Memory);
        }
        let Some((scheme, rest)) = scheme_of(s) else {
            return Ok(Self::Local(PathBuf::from(s)));
        };
        match scheme {
            "local" if !rest.is_empty() => Ok(Self::Local(PathBuf::from(rest))),
            "local" => Err(bad("no path after local:")),
            "s3" => parse_s3(rest).map_err(|w| bad(&w)),
            "sftp" => parse_sftp(rest).map_err(|w| bad(&w)),
            other => Err(bad(&format!("unknown scheme {other:?}: use a path, local:PATH, s3:..., or sftp:..."))),
        }
    }

    /// `local`, `memory`, `s3` or `sftp`: the prefix of the `-o` options that apply to it.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Local(_) => "local",
            Self::Memory => "memory",
            Self::S3 { .. } => "s3",
            Self::Sftp { .. } => "sftp",
        }
    }

    /// Whether the storage is reached over a network (and so gets retries, timeouts and a bound
    /// on concurrent requests).
    #[must_use]
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::S3 { .. } | Self::Sftp { .. })
    }
}

/// The scheme of `s` and what follows its colon, when `s` starts with one: letters, digits and
/// `+.-`, at least two characters, before any `/`. `./a:b` and `/a:b` are paths.
fn scheme_of(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once(':')?;
    let ok = scheme.len() >= 2
        && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    ok.then_some((scheme, rest))
}

/// `http[s]://HOST[:PORT]/BUCKET[/PREFIX]` or `BUCKET[/PREFIX]`.
fn parse_s3(rest: &str) -> std::result::Result<Location, String> {
    let (endpoint, path) = if let Some(after) = rest.strip_prefix("http://").or_else(|| rest.strip_prefix("https://")) {
        let scheme_len = rest.len() - after.len();
        let (host, path) = after.split_once('/').unwrap_or((after, ""));
        if host.is_empty() {
            return Err("no host in the S3 endpoint".into());
        }
        (Some(format!("{}{host}", &rest[..scheme_len])), path)
    } else if rest.contains("://") {
        return Err("an S3 endpoint must start with http:// or https://".into());
    } else {
        (None, rest)
    };
    let path = path.trim_matches('/');
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        return Err("no bucket: write s3:https://HOST/BUCKET[/PREFIX] or s3:BUCKET[/PREFIX]".into());
    }
    if !bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_')) || bucket.len() > 63 {
        return Err(format!("{bucket:?} is not a valid bucket name"));
    }
    if prefix.split('/').any(|c| c.is_empty() || c == "." || c == "..") && !prefix.is_empty() {
        return Err(format!("prefix {prefix:?} has an empty, . or .. component"));
    }
    Ok(Location::S3 { endpoint, bucket: bucket.to_string(), prefix: prefix.to_string() })
}

/// `//[USER@]HOST[:PORT]/PATH` or `[USER@]HOST[:PORT]:/PATH`. The path must be absolute.
fn parse_sftp(rest: &str) -> std::result::Result<Location, String> {
    let (authority, path) = if let Some(after) = rest.strip_prefix("//") {
        let i = after.find('/').ok_or("no path: write sftp://[USER@]HOST[:PORT]/PATH")?;
        (&after[..i], &after[i..])
    } else {
        // The path starts at the first ":/" after the host (an IPv6 host is in brackets).
        let host_end = if let Some(b) = rest.find('[') { rest[b..].find(']').map(|e| b + e).ok_or("unclosed [ in the host")? } else { 0 };
        let i = rest[host_end..].find(":/").map(|i| i + host_end).ok_or("no absolute path: write sftp:[USER@]HOST[:PORT]:/PATH")?;
        (&rest[..i], &rest[i + 1..])
    };
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
        Some(_) => return Err("empty user name before @".into()),
        None => (None, authority),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("port {p:?} is not a number from 1 to 65535"))?),
        None => None,
    };
    if !path.starts_with('/') {
        return Err("the path must be absolute".into());
    }
    let path = path.trim_end_matches('/');
    let path = if path.is_empty() { "/" } else { path };
    Ok(Location::Sftp { user, host: host.to_string(), port, path: path.to_string() })
}

/// Backend options: `-o KEY=VALUE` on the command line (repeatable), `SNAP_OPTIONS`
/// (whitespace-separated), and `options` of a repository in the config file. A key is either
/// general (`connections`, `timeout`, `retries`) or belongs to one kind of location
/// (`s3.region`); a key for another kind is ignored, so one list can serve both repositories of
/// a `copy`. Unknown keys are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options(BTreeMap<String, String>);

/// Every key snap knows, with what it does (for the error that lists them).
const KNOWN: &[(&str, &str)] = &[
    ("connections", "requests in flight at once on remote storage (default 8)"),
    ("timeout", "seconds one request may take before it is retried (default 60)"),
    ("retries", "how often a failed request is retried, with backoff (default 8: about a minute of waiting)"),
    ("s3.region", "the bucket's region (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)"),
    ("s3.path-style", "true (default for custom endpoints) or false for virtual-host style"),
    ("s3.storage-class", "storage class of new objects, e.g. STANDARD_IA"),
    ("s3.profile", "a profile of ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE)"),
    ("s3.instance-metadata", "true to allow credentials from the EC2 instance metadata service (default false)"),
    ("sftp.key", "the private key file to log in with (default: the ssh config and agent)"),
    ("sftp.host-keys", "strict (default), accept-new, or off"),
];

impl Options {
    /// Parses `KEY=VALUE` items.
    ///
    /// # Errors
    /// [`Error::Usage`] for an item without `=` or an unknown key.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let mut map = BTreeMap::new();
        for item in items {
            let (k, v) = item.split_once('=').ok_or_else(|| Error::Usage(format!("option {item:?}: expected KEY=VALUE")))?;
            map.insert(k.trim().to_string(), v.trim().to_string());
        }
        let opts = Self(map);
        opts.check()?;
        Ok(opts)
    }

    /// Options from `(key, value)` pairs (the config file's `options` table).
    ///
    /// # Errors
    /// [`Error::Usage`] for an unknown key.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let opts = Self(pairs.into_iter().collect());
        opts.check()?;
        Ok(opts)
    }

    /// These options with `other`'s added (`other` wins on a key both have).
    #[must_use]
    pub fn merged(&self, other: &Self) -> Self {
        let mut m = self.0.clone();
        m.extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self(m)
    }

    fn check(&self) -> Result<()> {
        for k in self.0.keys() {
            if !KNOWN.iter().any(|(n, _)| n == k) {
                let list: Vec<String> = KNOWN.iter().map(|(n, what)| format!("{n} ({what})")).collect();
                return Err(Error::Usage(format!("unknown option {k:?}; known: {}", list.join("; "))));
            }
        }
        Ok(())
    }

    /// The value of `key`, if given.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn number(&self, key: &str, default: u64, max: u64) -> Result<u64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| Error::Usage(format!("option {key}={v}: expected a whole number up to {max}"))),
        }
    }

    /// A `true`/`false` option.
    ///
    /// # Errors
    /// [`Error::Usage`] for anything else.
    pub fn flag(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some("true" | "yes" | "1") => Ok(true),
            Some("false" | "no" | "0") => Ok(false),
            Some(v) => Err(Error::Usage(format!("option {key}={v}: expected true or false"))),
        }
    }

    /// Requests in flight at once on remote storage.
    ///
    /// # Errors
    /// [`Error::Usage`] for a value that is not a number from 1 to 256.
    pub fn connections(&self) -> Result<usize> {
        let n = self.number("connections", 8, 256)?;
        if n == 0 {
            return Err(Error::Usage("option connections=0: at least one connection is needed".into()));
        }
        Ok(n as usize)
    }

    /// How long one request may take.
    ///
    /// # Errors
    /// [`Error::Usage`] for a value that is not a number of seconds from 1 to 3600.
    pub fn timeout(&self) -> Result<Duration> {
        let s = self.number("timeout", 60, 3600)?;
        if s == 0 {
            return Err(Error::Usage("option timeout=0: give at least one second".into()));
        }
        Ok(Duration::from_secs(s))
    }

    /// How often a temporary failure is retried.
    ///
    /// # Errors
    /// [`Error::Usage`] for a value that is not a number up to 100.
    pub fn retries(&self) -> Result<usize> {
        Ok(self.number("retries", 8, 100)? as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(endpoint: Option<&str>, bucket: &str, prefix: &str) -> Location {
        Location::S3 { endpoint: endpoint.map(str::to_string), bucket: bucket.into(), prefix: prefix.into() }
    }

    fn sftp(user: Option<&str>, host: &str, port: Option<u16>, path: &str) -> Location {
        Location::Sftp { user: user.map(str::to_string), host: host.into(), port, path: path.into() }
    }

    #[test]
    fn every_documented_form_parses() {
        let cases: Vec<(&str, Location)> = vec![
            ("/srv/snap", Location::Local("/srv/snap".into())),
            ("repo", Location::Local("repo".into())),
            ("./a:b", Location::Local("./a:b".into())),
            ("local:/srv/snap", Location::Local("/srv/snap".into())),
            ("memory:", Location::Memory),
            ("s3:http://127.0.0.1:3900/backups", s3(Some("http://127.0.0.1:3900"), "backups", "")),
            ("s3:https://s3.example.org/backups/chat/", s3(Some("https://s3.example.org"), "backups", "chat")),
            ("s3:backups/hosts/chat", s3(None, "backups", "hosts/chat")),
            ("s3:backups", s3(None, "backups", "")),
            ("sftp:backup@vault:/srv/snap", sftp(Some("backup"), "vault", None, "/srv/snap")),
            ("sftp:vault:2222:/srv/snap/", sftp(None, "vault", Some(2222), "/srv/snap")),
            ("sftp:[::1]:2222:/srv", sftp(None, "::1", Some(2222), "/srv")),
            ("sftp://backup@vault:2222/srv/snap", sftp(Some("backup"), "vault", Some(2222), "/srv/snap")),
            ("sftp://vault/", sftp(None, "vault", None, "/")),
        ];
        for (s, want) in cases {
            assert_eq!(Location::parse(s).unwrap(), want, "{s}");
        }
    }

    #[test]
    fn bad_locations_say_what_is_wrong() {
        let cases = [
            ("", "repository location \"\": empty"),
            ("gs:bucket", "repository location \"gs:bucket\": unknown scheme \"gs\": use a path, local:PATH, s3:..., or sftp:..."),
            ("s3:", "repository location \"s3:\": no bucket: write s3:https://HOST/BUCKET[/PREFIX] or s3:BUCKET[/PREFIX]"),
            ("s3:http:///b", "repository location \"s3:http:///b\": no host in the S3 endpoint"),
            ("s3:ftp://h/b", "repository location \"s3:ftp://h/b\": an S3 endpoint must start with http:// or https://"),
            ("s3:Bad_Bucket", "repository location \"s3:Bad_Bucket\": \"Bad_Bucket\" is not a valid bucket name"),
            ("s3:b/x/../y", "repository location \"s3:b/x/../y\": prefix \"x/../y\" has an empty, . or .. component"),
            ("sftp:host:relative", "repository location \"sftp:host:relative\": no absolute path: write sftp:[USER@]HOST[:PORT]:/PATH"),
            ("sftp:h:99999:/x", "repository location \"sftp:h:99999:/x\": port \"99999\" is not a number from 1 to 65535"),
            ("sftp://host", "repository location \"sftp://host\": no path: write sftp://[USER@]HOST[:PORT]/PATH"),
            ("local:", "repository location \"local:\": no path after local:"),
        ];
        for (s, want) in cases {
            assert_eq!(Location::parse(s).unwrap_err().to_string(), want, "{s}");
        }
    }

    #[test]
    fn options_are_checked_and_merged() {
        let o = Options::parse(["connections=4", "s3.region = garage"]).unwrap();
        assert_eq!(o.connections().unwrap(), 4);
        assert_eq!(o.get("s3.region"), Some("garage"));
        assert_eq!(o.timeout().unwrap(), Duration::from_secs(60));
        let e = Options::parse(["s3.regoin=x"]).unwrap_err().to_string();
        assert!(e.starts_with("unknown option \"s3.regoin\"; known: connections ("), "{e}");
        assert_eq!(Options::parse(["connections"]).unwrap_err().to_string(), "option \"connections\": expected KEY=VALUE");
        assert_eq!(Options::parse(["connections=0"]).unwrap().connections().unwrap_err().to_string(), "option connections=0: at least one connection is needed");
        assert_eq!(Options::parse(["retries=x"]).unwrap().retries().unwrap_err().to_string(), "option retries=x: expected a whole number up to 100");
        let m = o.merged(&Options::parse(["connections=2"]).unwrap());
        assert_eq!(m.connections().unwrap(), 2);
        assert_eq!(m.get("s3.region"), Some("garage"));
    }
}
