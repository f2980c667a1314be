//! A job's hooks: shell commands run around its backup (`before`, `after`, `on_error`,
//! `on_success`), with the job's facts substituted into the command shell-escaped and exported
//! as `SNAP_*` variables, so a hook can never be tricked into running an error message.

use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// What a hook may refer to: `{job}`, `{snapshot}`, `{repository}`, `{error}`.
#[derive(Debug, Clone, Default)]
pub struct HookVars {
    pub job: String,
    pub snapshot: String,
    pub repository: String,
    pub error: String,
    /// Variables no hook may see (the config's `password_env` sources).
    pub hide: Vec<String>,
}

impl HookVars {
    fn pairs(&self) -> [(&'static str, &'static str, &str); 4] {
        [
            ("{job}", "SNAP_JOB", &self.job),
            ("{snapshot}", "SNAP_SNAPSHOT", &self.snapshot),
            ("{repository}", "SNAP_REPOSITORY_NAME", &self.repository),
            ("{error}", "SNAP_ERROR", &self.error),
        ]
    }
}

/// `s` as one word for `sh`: single-quoted, with each `'` written as `'\''`.
#[must_use]
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `cmd` with every placeholder replaced by its shell-quoted value.
#[must_use]
pub fn substitute(cmd: &str, vars: &HookVars) -> String {
    let mut out = cmd.to_string();
    for (placeholder, _, value) in vars.pairs() {
        out = out.replace(placeholder, &shell_quote(value));
    }
    out
}

/// Runs the hooks of one phase in order with `sh -c`; the first that fails stops the phase.
/// Their output goes where snap's goes.
///
/// # Errors
/// [`Error::CommandFailed`] naming the phase, the hook and how it failed.
pub fn run_hooks(phase: &str, cmds: &[String], vars: &HookVars) -> Result<()> {
    for cmd in cmds {
        let line = substitute(cmd, vars);
        let mut c = Command::new("sh");
        c.arg("-c").arg(&line).stdin(Stdio::null());
        for var in &vars.hide {
            c.env_remove(var);
        }
        for (_, var, value) in vars.pairs() {
            c.env(var, value);
        }
        let status = c.status().map_err(|e| Error::CommandFailed(format!("{phase} hook {cmd:?}: cannot run sh: {e}")))?;
        if !status.success() {
            let how = match status.code() {
                Some(127) => "was not found (exit 127)".to_string(),
                Some(c) => format!("exited with status {c}"),
                None => "was killed by a signal".to_string(),
            };
            return Err(Error::CommandFailed(format!("{phase} hook {cmd:?} {how}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_so_they_stay_one_word() {
        let vars = HookVars { job: "db".into(), error: "it's `rm -rf /` $(x); \"y\"".into(), ..HookVars::default() };
        let cmd = substitute("printf %s {error} > out; echo {job}", &vars);
        assert_eq!(cmd, r#"printf %s 'it'\''s `rm -rf /` $(x); "y"' > out; echo 'db'"#);
        let out = Command::new("sh").arg("-c").arg(substitute("printf %s {error}", &vars)).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), vars.error);
    }

    #[test]
    fn the_first_failing_hook_stops_the_phase_and_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let l = log.display();
        let cmds = vec![format!("echo one >> {l}"), "exit 4".to_string(), format!("echo three >> {l}")];
        let err = run_hooks("before", &cmds, &HookVars::default()).unwrap_err().to_string();
        assert_eq!(err, "before hook \"exit 4\" exited with status 4");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\n");
        let err = run_hooks("after", &["no-such-hook-command-xyz".to_string()], &HookVars::default()).unwrap_err().to_string();
        assert_eq!(err, "after hook \"no-such-hook-command-xyz\" was not found (exit 127)");
    }

    #[test]
    fn hooks_see_the_values_as_variables() {
        let vars = HookVars { job: "j".into(), snapshot: "abc".into(), repository: "local".into(), error: String::new(), hide: vec!["HOME".into()] };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        run_hooks("after", &[format!("echo \"$SNAP_JOB $SNAP_SNAPSHOT $SNAP_REPOSITORY_NAME ${{HOME:-no home}}\" > {}", out.display())], &vars).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "j abc local no home\n");
    }
}
