//! Issue 12, what snap prints around its results: shell completions and man pages generated from
//! the argument definitions (and the copies in tools/ kept current), progress bars only on a
//! terminal, `NO_COLOR`, errors as one line (one JSON object with `--json`), and `--json` taken
//! by every command that prints results.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{expect_code, pseudo_random, s, write, Env, Run};

/// Set to write the generated files into tools/ instead of comparing them.
const REGENERATE: &str = "SNAP_REGENERATE";

/// `snap ARGS` with an empty environment: generated text must not depend on the caller's.
fn bare(args: &[&str]) -> Run {
    Command::new(env!("CARGO_BIN_EXE_snap")).env_clear().args(args).stdin(Stdio::null()).output().expect("run snap").into()
}

/// The `*.1` files of a directory, by name.
fn man_pages(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let e = e.expect("entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".1") {
            out.insert(name, std::fs::read(e.path()).expect("read man page"));
        }
    }
    out
}

#[test]
fn completions_and_man_pages_in_tools_are_current() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os(REGENERATE).is_some_and(|v| !v.is_empty());
    let mut stale = Vec::new();
    for (shell, file) in [("bash", "snap.bash"), ("zsh", "_snap"), ("fish", "snap.fish")] {
        let script = bare(&["completions", shell]).ok().raw_stdout;
        let path = root.join("tools/completions").join(file);
        if regenerate {
            std::fs::write(&path, &script).expect("write completions");
        } else if std::fs::read(&path).ok().as_ref() != Some(&script) {
            stale.push(format!("tools/completions/{file}"));
        }
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    bare(&["man", "--dir", &s(scratch.path())]).ok();
    let fresh = man_pages(scratch.path());
    let man_dir = root.join("tools/man");
    if regenerate {
        std::fs::create_dir_all(&man_dir).expect("mkdir tools/man");
        for name in man_pages(&man_dir).keys() {
            std::fs::remove_file(man_dir.join(name)).expect("remove old man page");
        }
        for (name, text) in &fresh {
            std::fs::write(man_dir.join(name), text).expect("write man page");
        }
    }
    let kept = man_pages(&man_dir);
    for name in fresh.keys().chain(kept.keys()) {
        if fresh.get(name) != kept.get(name) && !stale.contains(&format!("tools/man/{name}")) {
            stale.push(format!("tools/man/{name}"));
        }
    }
    assert!(
        stale.is_empty(),
        "generated files differ from what snap generates now (missing, extra or stale): {stale:?}. Regenerate them with \
         `{REGENERATE}=1 cargo test --locked --test suite output::completions_and_man_pages_in_tools_are_current` (or: snap completions \
         bash > tools/completions/snap.bash; snap completions zsh > tools/completions/_snap; snap completions fish > \
         tools/completions/snap.fish; rm tools/man/*.1; snap man --dir tools/man) and commit them"
    );
    // Without --dir, snap.1 alone on stdout.
    assert_eq!(bare(&["man"]).ok().raw_stdout, fresh["snap.1"], "snap man prints snap.1");
    assert!(fresh.len() > 20, "one page per subcommand: {:?}", fresh.keys());
}

/// The names an ENVIRONMENT section of a man page lists (each `.TP` entry's bold line, split at
/// commas), or `None` when the page has no such section.
fn environment_names(page: &str) -> Option<BTreeSet<String>> {
    let start = page.find("\n.SH ENVIRONMENT\n")?;
    let section = &page[start + 1..];
    let section = &section[..section[4..].find("\n.SH ").map_or(section.len(), |e| e + 5)];
    let lines: Vec<&str> = section.lines().collect();
    let mut names = BTreeSet::new();
    for w in lines.windows(2).filter(|w| w[0] == ".TP") {
        let bold = w[1].strip_prefix("\\fB").and_then(|b| b.strip_suffix("\\fR")).unwrap_or_else(|| panic!("not a bold name line: {:?}", w[1]));
        names.extend(bold.split(", ").map(|n| n.replace("\\-", "-")));
    }
    Some(names)
}

#[test]
fn every_man_page_lists_the_environment_variables() {
    let scratch = tempfile::tempdir().expect("tempdir");
    bare(&["man", "--dir", &s(scratch.path())]).ok();
    let pages = man_pages(scratch.path());
    let want = [
        "SNAP_REPOSITORY", "SNAP_PASSWORD", "SNAP_PASSWORD_FILE", "SNAP_PASSWORD_COMMAND", "SNAP_CACHE_DIR", "SNAP_OPTIONS", "SNAP_CONFIG",
        "SNAP_STATE_DIR", "XDG_CACHE_HOME", "HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "PATH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "TERM",
        "NO_COLOR", "COLUMNS", "NOTIFY_SOCKET", "SNAP_FAIL_AT", "SNAP_PAUSE_AT",
    ];
    // snap.1 lists the top-level commands as `snap\-NAME(1)`; any other page is of a command's
    // subcommand (snap-key-list.1: key list).
    let root = String::from_utf8_lossy(&pages["snap.1"]).into_owned();
    let top: BTreeSet<String> =
        root.lines().filter_map(|l| l.strip_prefix("snap\\-").and_then(|l| l.strip_suffix("(1)"))).map(|n| n.replace("\\-", "-")).collect();
    assert!(top.contains("restore-db") && top.contains("key") && !top.contains("key-list"), "{top:?}");
    let mut from_help = BTreeSet::new();
    for (name, text) in &pages {
        let text = String::from_utf8_lossy(text);
        assert_eq!(text.matches("\n.SH ENVIRONMENT\n").count(), 1, "{name}: one ENVIRONMENT section");
        let names = environment_names(&text).unwrap_or_else(|| panic!("{name} has no ENVIRONMENT section"));
        for v in want {
            assert!(names.contains(v), "{name}: ENVIRONMENT lacks {v}: {names:?}");
        }
        // Every variable the command's --help names as an option's source is listed too.
        let command = name.trim_end_matches(".1").strip_prefix("snap").unwrap_or_default().trim_start_matches('-');
        let path: Vec<&str> = match command.split_once('-') {
            _ if command.is_empty() => vec![],
            _ if top.contains(command) => vec![command],
            Some((parent, sub)) => vec![parent, sub],
            None => panic!("{name}: not a command snap.1 lists"),
        };
        let help = bare(&path.iter().copied().chain(["--help"]).collect::<Vec<_>>()).ok().stdout;
        for (i, _) in help.match_indices("[env: ") {
            let var: String = help[i + 6..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
            assert!(names.contains(&var), "{name}: --help names {var}, ENVIRONMENT does not");
            from_help.insert(var);
        }
        if name == "snap.1" {
            let (env, version) = (text.find("\n.SH ENVIRONMENT\n"), text.find("\n.SH VERSION\n"));
            assert!(env < version && text.find("\n.SH SUBCOMMANDS\n") < env, "snap.1: ENVIRONMENT not between SUBCOMMANDS and VERSION");
        }
    }
    // So that the --help cross-check above can fail: --help does name variables.
    assert!(from_help.is_superset(&BTreeSet::from(["SNAP_REPOSITORY".to_string(), "SNAP_CONFIG".to_string()])), "{from_help:?}");
    // Hooks get variables from snap, which the section says too.
    assert!(root.contains("snap sets SNAP_JOB, SNAP_SNAPSHOT, SNAP_REPOSITORY_NAME and SNAP_ERROR"), "{root}");
}

/// Beside snapd, whose `/usr/bin/snap` is another program, snap may be installed as
/// `snap-backup` (README, "Living alongside snapd"): then its help and completion scripts name
/// `snap-backup`, and no completion script claims the command `snap`.
#[test]
fn under_another_name_help_and_completions_use_that_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let renamed = dir.path().join("snap-backup");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_snap"), &renamed).expect("symlink");
    let run = |args: &[&str]| -> Run { Command::new(&renamed).env_clear().args(args).stdin(Stdio::null()).output().expect("run snap-backup").into() };
    let help = run(&["--help"]).ok();
    assert!(help.stdout.contains("Usage: snap-backup [OPTIONS] <COMMAND>"), "{}", help.stdout);
    let help = run(&["backup", "--help"]).ok();
    assert!(help.stdout.contains("Usage: snap-backup backup [OPTIONS]"), "{}", help.stdout);
    let bash = run(&["completions", "bash"]).ok().stdout;
    let registered: Vec<&str> = bash.lines().map(str::trim).filter(|l| l.starts_with("complete ")).collect();
    assert_eq!(registered.len(), 2, "{registered:?}");
    assert!(registered.iter().all(|l| l.ends_with(" snap-backup")), "bash: {registered:?}");
    let zsh = run(&["completions", "zsh"]).ok().stdout;
    assert!(zsh.starts_with("#compdef snap-backup\n"), "zsh: {}", &zsh[..zsh.len().min(200)]);
    let fish = run(&["completions", "fish"]).ok().stdout;
    assert!(fish.contains("complete -c snap-backup ") && !fish.contains("complete -c snap "), "fish completes snap");
    // Run as snap, the scripts are those in tools/completions (the test above): for `snap`.
    assert!(bare(&["completions", "bash"]).ok().stdout.trim_end().ends_with("-o bashdefault -o default snap\nfi"));
}

#[test]
fn completions_for_every_shell_know_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = bare(&["completions", shell]).ok();
        assert!(run.stderr.is_empty(), "{shell}: {}", run.stderr);
        // Options without their dashes: fish spells them `-l password-file`.
        for word in ["backup", "restore-db", "completions", "password-file", "keep-daily", "read-data-subset"] {
            assert!(run.stdout.contains(word), "{shell} completions lack {word}");
        }
    }
    let run = bare(&["completions", "bash"]);
    assert!(run.stdout.contains("complete -F _snap"), "bash completions register no function:\n{}", run.stdout);
    let run = bare(&["completions", "tcsh"]);
    expect_code(&run, 2, "an unknown shell");
    assert!(run.stderr.contains("invalid value 'tcsh'"), "{}", run.stderr);
}

#[test]
fn man_dir_writes_one_page_per_subcommand() {
    let env = Env::new();
    let dir = env.path().join("man/man1");
    let run = bare(&["man", "--dir", &s(&dir), "--json"]).ok();
    let v = run.json();
    assert_eq!(v["dir"], s(&dir));
    let pages: Vec<&str> = v["pages"].as_array().expect("pages").iter().map(|p| p.as_str().expect("name")).collect();
    assert_eq!(pages.first(), Some(&"snap.1"));
    for name in ["snap-backup.1", "snap-restore.1", "snap-key-list.1", "snap-repair-index.1", "snap-completions.1", "snap-man.1"] {
        assert!(pages.contains(&name), "{name} not in {pages:?}");
    }
    assert!(!pages.contains(&"snap-help.1"), "a page for the help subcommand");
    let written: Vec<String> = man_pages(&dir).into_keys().collect();
    let mut listed: Vec<String> = pages.iter().map(|p| p.to_string()).collect();
    listed.sort();
    assert_eq!(written, listed, "the files written are the pages listed");
    let backup = std::fs::read_to_string(dir.join("snap-backup.1")).expect("read");
    assert!(backup.contains(".TH snap-backup 1"), "{backup}");
    assert!(backup.contains("one\\-file\\-system"), "snap-backup.1 lacks --one-file-system:\n{backup}");
    let run = bare(&["man", "--dir", &s(&dir)]).ok();
    assert_eq!(run.stdout, format!("wrote {} man pages to {}\n", pages.len(), s(&dir)));
}

/// Runs `snap ARGS` with `env`'s environment, `TERM=xterm-256color` and `vars` under a
/// pseudo-terminal of 80 columns (util-linux `script`), so that stdout and stderr are a terminal;
/// its exit code and everything it drew.
fn on_terminal(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> (i32, String) {
    let quote = |a: &str| format!("'{}'", a.replace('\'', "'\\''"));
    let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_snap")).chain(args.iter().copied()).map(quote).collect();
    let snap = env.cmd();
    let mut c = Command::new("script");
    c.env_clear();
    for (k, v) in snap.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.env("TERM", "xterm-256color").envs(vars.iter().copied());
    c.args(["-qfec", &format!("stty cols 80 rows 24; exec {}", line.join(" ")), "/dev/null"]).stdin(Stdio::null());
    let out = c.output().expect("run script (util-linux)");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `text` holds an ANSI colour or style sequence (SGR: ESC [ digits ; ... m).
fn has_sgr(text: &str) -> bool {
    text.match_indices("\x1b[").any(|(i, _)| {
        let rest = &text[i + 2..];
        let params = rest.find(|c: char| !(c.is_ascii_digit() || c == ';')).unwrap_or(rest.len());
        rest[params..].starts_with('m')
    })
}

/// `text` without its ANSI control sequences (ESC [ parameters, then one final byte).
fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find(|c: char| !(c.is_ascii_digit() || c == ';' || c == '?')).map_or(after.len(), |e| e + 1);
        rest = &after[end.min(after.len())..];
    }
    out.push_str(rest);
    out
}

/// Four files of 1 MiB, none alike.
fn four_mib(env: &Env) -> PathBuf {
    let data = env.path().join("data");
    for i in 0..4u64 {
        write(&data.join(format!("f{i}")), &pseudo_random(1 << 20, 100 + i));
    }
    data
}

#[test]
fn backup_and_restore_draw_a_progress_bar_only_on_a_terminal() {
    let env = Env::with_repo();
    let data = four_mib(&env);
    let (code, drawn) = on_terminal(&env, &["backup", &s(&data)], &[]);
    assert_eq!(code, 0, "{drawn}");
    // The last state stays: bytes and files of the whole (4 MiB, 4 files), the rate, the ETA.
    for piece in ["4.0 MiB/4.0 MiB", "4/4 files", "/s, ETA ", "snapshot ", " saved"] {
        assert!(drawn.contains(piece), "{piece:?} not drawn:\n{drawn:?}");
    }
    let plain = strip_escapes(&drawn);
    let bar_line = plain.split(['\r', '\n']).filter(|l| l.contains("4/4 files")).last().expect("a bar line");
    assert!(bar_line.trim_end().chars().count() <= 80, "the bar overflows 80 columns: {bar_line:?}");
    assert!(bar_line.trim_end().ends_with(", ETA 0s"), "the last bar is not a line of its own: {bar_line:?}");
    assert!(plain.contains("\nfiles: 4 new, 0 changed, 0 unchanged; 4 dirs\r\n"), "the summary shares the bar's line: {plain:?}");

    // restore draws the same meter: bytes and files written of those to write, rate, bar, ETA.
    let target = env.path().join("restored");
    let (code, drawn) = on_terminal(&env, &["restore", "latest", "--target", &s(&target)], &[]);
    assert_eq!(code, 0, "{drawn}");
    let plain = strip_escapes(&drawn);
    let bar_line = plain.split(['\r', '\n']).filter(|l| l.contains("4/4 files")).last().unwrap_or_else(|| panic!("no restore bar line: {plain:?}"));
    assert!(bar_line.contains("] 4.0 MiB/4.0 MiB, 4/4 files, "), "{bar_line:?}");
    assert!(bar_line.trim_end().ends_with("/s, ETA 0s"), "the last restore bar is not a line of its own: {bar_line:?}");
    assert!(bar_line.trim_end().chars().count() <= 80, "the restore bar overflows 80 columns: {bar_line:?}");
    assert!(plain.contains("\nrestored snapshot "), "the restore summary shares the bar's line: {plain:?}");
    assert_eq!(std::fs::read(target.join(data.strip_prefix("/").expect("absolute")).join("f3")).expect("restored f3"), pseudo_random(1 << 20, 103));

    // stderr not a terminal: no bar, no carriage return, no escape.
    write(&data.join("f4"), &pseudo_random(1 << 20, 104));
    let run: Run = env.cmd().env("TERM", "xterm-256color").args(["backup", &s(&data)]).output().expect("run snap").into();
    expect_code(&run, 0, "backup without a terminal");
    assert!(run.stderr.is_empty(), "stderr without a terminal: {:?}", run.stderr);
    assert!(!run.stdout.contains('\r') && !run.stdout.contains('\x1b'), "{:?}", run.stdout);

    // A terminal, but --quiet, --json, or a terminal that cannot redraw (TERM=dumb): no bar,
    // from backup or restore.
    for (flag, term) in [("--quiet", "xterm-256color"), ("--json", "xterm-256color"), ("--verbose", "dumb")] {
        write(&data.join(flag), flag.as_bytes());
        let (code, drawn) = on_terminal(&env, &["backup", flag, &s(&data)], &[("TERM", term)]);
        assert_eq!(code, 0, "{flag}: {drawn}");
        assert!(!drawn.contains('\x1b') && !drawn.contains("/s") && !drawn.contains("ETA"), "{flag}, TERM={term} drew: {drawn:?}");
        let target = env.path().join(format!("restored{flag}"));
        let (code, drawn) = on_terminal(&env, &["restore", flag, "latest", "--target", &s(&target)], &[("TERM", term)]);
        assert_eq!(code, 0, "restore {flag}: {drawn}");
        assert!(!drawn.contains('\x1b') && !drawn.contains("/s") && !drawn.contains("ETA"), "restore {flag}, TERM={term} drew: {drawn:?}");
        assert!(target.join(data.strip_prefix("/").expect("absolute")).join(flag).is_file(), "restore {flag} wrote nothing");
    }
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let env = Env::with_repo();
    let data = four_mib(&env);
    let term = ("TERM", "xterm-256color"); // on_terminal's own, said again for clarity
    // Colour without NO_COLOR (so this test can fail): the bar and --help.
    let (code, drawn) = on_terminal(&env, &["backup", &s(&data)], &[term]);
    assert_eq!(code, 0, "{drawn}");
    assert!(has_sgr(&drawn), "no colour drawn without NO_COLOR: {drawn:?}");
    let (_, help) = on_terminal(&env, &["--help"], &[term]);
    assert!(has_sgr(&help), "no colour in --help without NO_COLOR: {help:?}");

    write(&data.join("f9"), b"changed");
    let (code, drawn) = on_terminal(&env, &["backup", &s(&data)], &[term, ("NO_COLOR", "1")]);
    assert_eq!(code, 0, "{drawn}");
    assert!(drawn.contains("files, "), "no bar drawn: {drawn:?}");
    assert!(!has_sgr(&drawn), "colour despite NO_COLOR: {drawn:?}");
    let (_, help) = on_terminal(&env, &["--help"], &[term, ("NO_COLOR", "1")]);
    assert!(help.contains("Usage: snap"), "{help}");
    assert!(!has_sgr(&help), "colour in --help despite NO_COLOR: {help:?}");
}

/// Asserts that `run` failed with `code` and exactly one stderr line, the JSON error object.
#[track_caller]
fn assert_json_error(run: &Run, code: i32, message: &str) {
    expect_code(run, code, message);
    assert!(run.stdout.is_empty(), "stdout: {:?}", run.stdout);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one stderr line: {:?}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", lines[0]));
    assert_eq!(v, serde_json::json!({ "error": message, "exit_code": code }));
}

#[test]
fn wrong_password_with_json_is_one_json_line_and_exit_12() {
    let env = Env::with_repo();
    let wrong = env.path().join("wrong");
    std::fs::write(&wrong, "not the password\n").expect("write");
    let message = format!("wrong password: no key in {} opens with it", env.location());
    for args in [vec!["snapshots", "--json"], vec!["--json", "check"], vec!["backup", &s(env.path()), "--json"]] {
        let run: Run = env.cmd().env("SNAP_PASSWORD_FILE", &wrong).args(&args).output().expect("run").into();
        assert_json_error(&run, 12, &message);
    }
    let run: Run = env.cmd().env("SNAP_PASSWORD_FILE", &wrong).arg("snapshots").output().expect("run").into();
    expect_code(&run, 12, "wrong password");
    assert_eq!(run.stderr, format!("snap: {message}\n"));
}

#[test]
fn missing_repository_with_json_is_one_json_line_and_exit_10() {
    let env = Env::new();
    let nowhere = env.path().join("nowhere");
    let message = format!("no snap repository at {}", s(&nowhere));
    let run: Run = env.cmd().env("SNAP_REPOSITORY", &nowhere).args(["snapshots", "--json"]).output().expect("run").into();
    assert_json_error(&run, 10, &message);
    let run: Run = env.cmd().env("SNAP_REPOSITORY", &nowhere).arg("snapshots").output().expect("run").into();
    expect_code(&run, 10, "missing repository");
    assert_eq!(run.stderr, format!("snap: {message}\n"));
}

#[test]
fn usage_errors_with_json_are_one_json_line_and_exit_2() {
    let env = Env::with_repo();
    let run = env.snap(["backup", "--json", "--no-such-flag"]);
    assert_json_error(&run, 2, "unexpected argument '--no-such-flag' found");
    // Without --json (or with it only after --, where it belongs to the command): clap's usage.
    for args in [vec!["backup", "--no-such-flag"], vec!["backup", "--no-such-flag", "--", "--json"]] {
        let run = env.snap(&args);
        expect_code(&run, 2, "usage error");
        assert!(run.stderr.starts_with("error: unexpected argument '--no-such-flag' found\n"), "{}", run.stderr);
        assert!(run.stderr.contains("Usage: snap backup"), "{}", run.stderr);
    }
}

#[test]
fn every_command_that_prints_results_prints_one_json_document() {
    let env = Env::new();
    let run = env.snap(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1", "--json"]).ok();
    assert!(run.json()["id"].is_string(), "init: {}", run.stdout);
    let data = four_mib(&env);
    let first = env.backup(&[&data]);
    write(&data.join("f0"), b"changed");
    let second = env.backup(&[&data]);
    let target = env.path().join("restored");
    let man = env.path().join("man");
    let commands: Vec<Vec<String>> = [
        vec!["snapshots"],
        vec!["ls", "latest"],
        vec!["stats"],
        vec!["diff", &first, &second],
        vec!["find", "f0"],
        vec!["check"],
        vec!["check", "--read-data"],
        vec!["forget", "--keep-last", "1", "--dry-run"],
        vec!["prune", "--dry-run"],
        vec!["unlock"],
        vec!["repair", "index"],
        vec!["key", "list"],
        vec!["tag", "--add", "t", "latest"],
        vec!["restore", "latest", "--target", &s(&target)],
        vec!["version"],
        vec!["man", "--dir", &s(&man)],
    ]
    .iter()
    .map(|c| c.iter().map(|a| a.to_string()).collect())
    .collect();
    for mut args in commands {
        args.push("--json".into());
        let run = env.snap(&args);
        expect_code(&run, 0, &args.join(" "));
        let v: Result<serde_json::Value, _> = serde_json::from_str(&run.stdout);
        assert!(v.is_ok(), "snap {} printed no single JSON document: {:?}", args.join(" "), run.stdout);
    }
}
