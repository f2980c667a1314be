# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_snap_global_optspecs
    string join \n r/repo= o/option= password-file= password-command= cache-dir= json q/quiet v/verbose h/help V/version
end

function __fish_snap_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_snap_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_snap_using_subcommand
    set -l cmd (__fish_snap_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c snap -n "__fish_snap_needs_command" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_needs_command" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_needs_command" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_needs_command" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_needs_command" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_needs_command" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_needs_command" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_needs_command" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_needs_command" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_needs_command" -s V -l version -d 'Print version'
complete -c snap -n "__fish_snap_needs_command" -f -a "init" -d 'Create a new repository'
complete -c snap -n "__fish_snap_needs_command" -f -a "backup" -d 'Back up paths and/or a stream (stdin or a command\'s output) into one snapshot'
complete -c snap -n "__fish_snap_needs_command" -f -a "snapshots" -d 'List snapshots'
complete -c snap -n "__fish_snap_needs_command" -f -a "ls" -d 'List the files of a snapshot'
complete -c snap -n "__fish_snap_needs_command" -f -a "restore" -d 'Restore a snapshot into a directory'
complete -c snap -n "__fish_snap_needs_command" -f -a "dump" -d 'Write a file (or a directory as tar) from a snapshot to stdout'
complete -c snap -n "__fish_snap_needs_command" -f -a "diff" -d 'Show what differs between two snapshots: added, removed, changed paths'
complete -c snap -n "__fish_snap_needs_command" -f -a "find" -d 'Find which snapshots hold a path or glob, newest first'
complete -c snap -n "__fish_snap_needs_command" -f -a "mount" -d 'Mount the repository as a read-only filesystem (FUSE) until Ctrl-C or umount'
complete -c snap -n "__fish_snap_needs_command" -f -a "stats" -d 'Show files, restore size, unique and stored data of snapshots, and what each alone holds'
complete -c snap -n "__fish_snap_needs_command" -f -a "forget" -d 'Remove snapshots by a retention policy'
complete -c snap -n "__fish_snap_needs_command" -f -a "check" -d 'Verify the repository\'s structure, and with --read-data every byte'
complete -c snap -n "__fish_snap_needs_command" -f -a "prune" -d 'Delete data no snapshot references'
complete -c snap -n "__fish_snap_needs_command" -f -a "unlock" -d 'Remove stale locks'
complete -c snap -n "__fish_snap_needs_command" -f -a "copy" -d 'Copy snapshots to another repository (made with `snap init --from` this one)'
complete -c snap -n "__fish_snap_needs_command" -f -a "repair" -d 'Rebuild damaged or lost repository metadata'
complete -c snap -n "__fish_snap_needs_command" -f -a "config" -d 'Work with the server-jobs config file (`config check`)'
complete -c snap -n "__fish_snap_needs_command" -f -a "drill" -d 'Prove a job\'s backups restore: scratch restore, database loads, checks, RTO and RPO'
complete -c snap -n "__fish_snap_needs_command" -f -a "restore-db" -d 'Stream a database dump of a snapshot into its database (psql, pg_restore, mariadb, sqlite3)'
complete -c snap -n "__fish_snap_needs_command" -f -a "run" -d 'Run jobs of the config file: dumps, hooks, one snapshot, retention, check'
complete -c snap -n "__fish_snap_needs_command" -f -a "status" -d 'Show what each job did last'
complete -c snap -n "__fish_snap_needs_command" -f -a "schedule" -d 'Show when each job of the config file runs next'
complete -c snap -n "__fish_snap_needs_command" -f -a "daemon" -d 'Run the jobs of the config file at their scheduled times, until stopped'
complete -c snap -n "__fish_snap_needs_command" -f -a "key" -d 'Manage the repository\'s passwords (key files): list, add, remove, passwd'
complete -c snap -n "__fish_snap_needs_command" -f -a "tag" -d 'Add, remove or set tags of snapshots (rewrites their snapshot files, never data)'
complete -c snap -n "__fish_snap_needs_command" -f -a "version" -d 'Show snap\'s version, the repository format it reads, and its build features'
complete -c snap -n "__fish_snap_needs_command" -f -a "completions" -d 'Print the shell completion script for bash, zsh, fish, elvish or powershell'
complete -c snap -n "__fish_snap_needs_command" -f -a "man" -d 'Print snap\'s man page, or write every page (one per subcommand) into a directory'
complete -c snap -n "__fish_snap_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c snap -n "__fish_snap_using_subcommand init" -l kdf-memory-kib -d 'Argon2id memory in KiB (default 65536)' -r
complete -c snap -n "__fish_snap_using_subcommand init" -l kdf-iterations -d 'Argon2id iterations (default 3)' -r
complete -c snap -n "__fish_snap_using_subcommand init" -l stream-chunk-size -d 'Average chunk size for streams (database dumps), in bytes, 256 to 4194304; minimum and maximum follow as a quarter and eight times it (default 8192)' -r
complete -c snap -n "__fish_snap_using_subcommand init" -l from -d 'Share this repository\'s blob ids and chunker settings (with its own key and password), so that `snap copy` can copy its snapshots here' -r
complete -c snap -n "__fish_snap_using_subcommand init" -l from-password-file -d 'Read the password of the --from repository from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand init" -l from-password-command -d 'Run this shell command and use its first output line as the --from repository\'s password' -r
complete -c snap -n "__fish_snap_using_subcommand init" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand init" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand init" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand init" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand init" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand init" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand init" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand init" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand init" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand backup" -l stdin-filename -d 'Name of the stream inside the snapshot' -r
complete -c snap -n "__fish_snap_using_subcommand backup" -l tag -d 'Tag the snapshot (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand backup" -l host -d 'Hostname to record (default: this machine\'s)' -r
complete -c snap -n "__fish_snap_using_subcommand backup" -l time -d 'Snapshot time, "YYYY-MM-DD HH:MM:SS" in local time (default: now)' -r
complete -c snap -n "__fish_snap_using_subcommand backup" -l exclude -d 'Exclude paths matching this glob; with a `/` it matches the absolute path, else the name' -r
complete -c snap -n "__fish_snap_using_subcommand backup" -l exclude-file -d 'Read exclude globs from a file, one per line (# comments)' -r -F
complete -c snap -n "__fish_snap_using_subcommand backup" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand backup" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand backup" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand backup" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand backup" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand backup" -l stdin -d 'Also back up standard input as /<stdin-filename>'
complete -c snap -n "__fish_snap_using_subcommand backup" -l stdin-from-command -d 'Back up the output of the command after `--` as /<stdin-filename>; fails if it fails'
complete -c snap -n "__fish_snap_using_subcommand backup" -s x -l one-file-system -d 'Do not cross into other filesystems'
complete -c snap -n "__fish_snap_using_subcommand backup" -s n -l dry-run -d 'Read and chunk everything, but write nothing'
complete -c snap -n "__fish_snap_using_subcommand backup" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand backup" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand backup" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand backup" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand snapshots" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand snapshots" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand snapshots" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand snapshots" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand snapshots" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand snapshots" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand snapshots" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand snapshots" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand snapshots" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand snapshots" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand snapshots" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand snapshots" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand snapshots" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand ls" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand ls" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand ls" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand ls" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand ls" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand ls" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand ls" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand ls" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand ls" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand ls" -s l -l long -d 'Show mode, owner, size and modification time'
complete -c snap -n "__fish_snap_using_subcommand ls" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand ls" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand ls" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand ls" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand restore" -s t -l target -d 'Directory to restore into (`/` puts files back where they were)' -r -F
complete -c snap -n "__fish_snap_using_subcommand restore" -l include -d 'Restore only paths matching this glob (and what lies below them)' -r
complete -c snap -n "__fish_snap_using_subcommand restore" -l exclude -d 'Skip paths matching this glob (they are neither written nor deleted)' -r
complete -c snap -n "__fish_snap_using_subcommand restore" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand restore" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand restore" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand restore" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand restore" -l overwrite -d 'What to do with entries TARGET already has [default: if-changed; `--overwrite` alone: always]. Give the mode with `=`: `--overwrite=never`' -r -f -a "always\t'Replace every entry that exists'
if-changed\t'Leave an entry alone when it already is what the snapshot has (same size and content, every chunk read back and checked; only differing metadata is set)'
if-newer\t'Replace an entry only when the snapshot\'s modification time is newer'
never\t'Leave every existing entry alone'"
complete -c snap -n "__fish_snap_using_subcommand restore" -l config -d 'The server-jobs config file [default: /etc/snap/snap.toml, then $XDG_CONFIG_HOME/snap/snap.toml]' -r -F
complete -c snap -n "__fish_snap_using_subcommand restore" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand restore" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand restore" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand restore" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand restore" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand restore" -l delete -d 'Remove what TARGET has and the snapshot does not, inside the directories restored whole (the snapshot\'s paths and below, as selected by --include); never what --exclude matches, never through a link, never on another mounted filesystem'
complete -c snap -n "__fish_snap_using_subcommand restore" -l verify -d 'Read every file written back and compare it with the snapshot\'s chunk ids; a mismatch is an error'
complete -c snap -n "__fish_snap_using_subcommand restore" -s n -l dry-run -d 'Print what would be written, updated, deleted and left alone; change nothing'
complete -c snap -n "__fish_snap_using_subcommand restore" -l no-owner -d 'Do not restore owners (as root they are restored by default)'
complete -c snap -n "__fish_snap_using_subcommand restore" -l no-special -d 'Do not restore setuid/setgid/sticky bits, FIFOs, device nodes, or security.* and trusted.* extended attributes (file capabilities, security labels)'
complete -c snap -n "__fish_snap_using_subcommand restore" -l once -d 'Restore only if TARGET carries no marker of an earlier --once restore; write the marker last; a no-op afterwards (safe to leave in a container\'s entrypoint). A non-empty TARGET without a marker is refused unless --overwrite is given'
complete -c snap -n "__fish_snap_using_subcommand restore" -l with-databases -d 'After the files, stream every database dump of the snapshot back into the server (or SQLite file) its job dumps it from; needs --job and the config file'
complete -c snap -n "__fish_snap_using_subcommand restore" -l clean -d 'With --with-databases: drop and recreate databases that already hold tables'
complete -c snap -n "__fish_snap_using_subcommand restore" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand restore" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand restore" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snap -n "__fish_snap_using_subcommand dump" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand dump" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand dump" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand dump" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand dump" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand dump" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand dump" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand dump" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand dump" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand dump" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand dump" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand dump" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand dump" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand diff" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand diff" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand diff" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand diff" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand diff" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand diff" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand diff" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand diff" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand diff" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand diff" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand diff" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand diff" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand diff" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand find" -s s -l snapshot -d 'Look only in this snapshot (id, prefix or `latest`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand find" -l newest -d 'Stop after the N newest snapshots that hold a match' -r
complete -c snap -n "__fish_snap_using_subcommand find" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand find" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand find" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand find" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand find" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand find" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand find" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand find" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand find" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand find" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand find" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand find" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand find" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand mount" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand mount" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand mount" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand mount" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand mount" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand mount" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand mount" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand mount" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand mount" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand mount" -l allow-other -d 'Let other users in (the snapshot\'s own modes and owners still apply)'
complete -c snap -n "__fish_snap_using_subcommand mount" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand mount" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand mount" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand mount" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand stats" -l mode -d 'Show only one kind of figures (default: both)' -r -f -a "restore-size\t'Files and restore size only (fast: reads only the selected snapshots\' trees)'
raw-data\t'Blob figures only: unique, stored, ratios, held alone, repository'"
complete -c snap -n "__fish_snap_using_subcommand stats" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand stats" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand stats" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand stats" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand stats" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand stats" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand stats" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand stats" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand stats" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand stats" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand stats" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand stats" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand stats" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c snap -n "__fish_snap_using_subcommand forget" -l keep-last -d 'Keep the N newest snapshots' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l keep-hourly -d 'Keep the newest snapshot of each of the N newest hours that have one' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l keep-daily -d 'Keep the newest snapshot of each of the N newest days that have one' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l keep-weekly -d 'Keep the newest snapshot of each of the N newest ISO weeks that have one' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l keep-monthly -d 'Keep the newest snapshot of each of the N newest months that have one' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l keep-yearly -d 'Keep the newest snapshot of each of the N newest years that have one' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l keep-within -d 'Keep snapshots this close to the group\'s newest one, e.g. 30d, 2w, 1y6m, 12h' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l keep-tag -d 'Keep snapshots with this tag; `a,b` needs both (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l group-by -d 'Apply the policy separately per group of these fields: a comma list of host, paths, tags ("" = one group)' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand forget" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand forget" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand forget" -s n -l dry-run -d 'Only list what would be kept and removed'
complete -c snap -n "__fish_snap_using_subcommand forget" -l prune -d 'Run prune afterwards if snapshots were removed'
complete -c snap -n "__fish_snap_using_subcommand forget" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand forget" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand forget" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand forget" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand check" -l read-data-subset -d 'Read only a subset of packs: `n/m` (slice n of m), `p%` (random share) or a size (`500M`)' -r
complete -c snap -n "__fish_snap_using_subcommand check" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand check" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand check" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand check" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand check" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand check" -l read-data -d 'Read every pack and verify every blob (authentication, decompression, id)'
complete -c snap -n "__fish_snap_using_subcommand check" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand check" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand check" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand check" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand prune" -l max-unused -d 'Repack partly used packs while unused data exceeds this share of the repository' -r
complete -c snap -n "__fish_snap_using_subcommand prune" -l orphan-grace -d 'Delete packs no index names only once storage wrote them this long ago (e.g. 24h, 90m, 0)' -r
complete -c snap -n "__fish_snap_using_subcommand prune" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand prune" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand prune" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand prune" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand prune" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand prune" -l repack-all -d 'Repack every partly used pack'
complete -c snap -n "__fish_snap_using_subcommand prune" -s n -l dry-run -d 'Only report what would be done'
complete -c snap -n "__fish_snap_using_subcommand prune" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand prune" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand prune" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand prune" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand unlock" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand unlock" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand unlock" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand unlock" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand unlock" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand unlock" -l remove-all -d 'Remove every lock, even live ones (only when you know no snap is running)'
complete -c snap -n "__fish_snap_using_subcommand unlock" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand unlock" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand unlock" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand unlock" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand copy" -l to -d 'The repository to copy into (made with `snap init --from` this one)' -r
complete -c snap -n "__fish_snap_using_subcommand copy" -l to-password-file -d 'Read the destination\'s password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand copy" -l to-password-command -d 'Run this shell command and use its first output line as the destination\'s password' -r
complete -c snap -n "__fish_snap_using_subcommand copy" -l to-cache-dir -d 'Root of the destination\'s local cache (default: the same as this repository\'s)' -r -F
complete -c snap -n "__fish_snap_using_subcommand copy" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand copy" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand copy" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand copy" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand copy" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand copy" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand copy" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand copy" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand copy" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand copy" -s n -l dry-run -d 'Read and verify what would be sent, but write nothing'
complete -c snap -n "__fish_snap_using_subcommand copy" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand copy" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand copy" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand copy" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -f -a "index" -d 'Rebuild index/ from the headers of every pack'
complete -c snap -n "__fish_snap_using_subcommand repair; and not __fish_seen_subcommand_from index help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from index" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from index" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from index" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from index" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from index" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from index" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from index" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from index" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from index" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from help" -f -a "index" -d 'Rebuild index/ from the headers of every pack'
complete -c snap -n "__fish_snap_using_subcommand repair; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Check the config file, try every password source, and show what each job would do'
complete -c snap -n "__fish_snap_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'The server-jobs config file [default: /etc/snap/snap.toml, then $XDG_CONFIG_HOME/snap/snap.toml]' -r -F
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -l probe -d 'Also open every repository with its password and ask every database server for its version (read-only: nothing is written to any repository or server)'
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check the config file, try every password source, and show what each job would do'
complete -c snap -n "__fish_snap_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c snap -n "__fish_snap_using_subcommand drill" -l config -d 'The server-jobs config file [default: /etc/snap/snap.toml, then $XDG_CONFIG_HOME/snap/snap.toml]' -r -F
complete -c snap -n "__fish_snap_using_subcommand drill" -l state-dir -d 'The state directory (status records, metrics, job locks) [default: the config\'s state_dir]' -r -F
complete -c snap -n "__fish_snap_using_subcommand drill" -l from -d 'Restore from this repository of the config (default: the drill\'s `from`, else the job\'s)' -r
complete -c snap -n "__fish_snap_using_subcommand drill" -l snapshot -d 'Drill this snapshot (id or prefix) instead of the job\'s latest' -r
complete -c snap -n "__fish_snap_using_subcommand drill" -l scratch -d 'Put the scratch directory under DIR (default: drill.scratch, else <state_dir>/drill)' -r -F
complete -c snap -n "__fish_snap_using_subcommand drill" -l time -d 'Measure the recovery point against this time instead of now ("YYYY-MM-DD HH:MM:SS")' -r
complete -c snap -n "__fish_snap_using_subcommand drill" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand drill" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand drill" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand drill" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand drill" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand drill" -l keep -d 'Leave the scratch directory in place'
complete -c snap -n "__fish_snap_using_subcommand drill" -l history -d 'List the drills of the job stored in the repository instead of running one'
complete -c snap -n "__fish_snap_using_subcommand drill" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand drill" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand drill" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand drill" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l database -d 'The dump to restore, by the database name the snapshot records (`snap snapshots --json`)' -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l to-database -d 'Restore into this database instead of one of the dump\'s name' -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l to-file -d 'SQLite: the database file to create' -r -F
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l to-host -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l to-port -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l to-user -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l to-socket -r -F
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l to-password-file -d 'The target server\'s password, from this file\'s first line' -r -F
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l clean -d 'Drop and recreate a target that already holds tables (explicit, and logged)'
complete -c snap -n "__fish_snap_using_subcommand restore-db" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand restore-db" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand restore-db" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand restore-db" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand run" -l config -d 'The server-jobs config file [default: /etc/snap/snap.toml, then $XDG_CONFIG_HOME/snap/snap.toml]' -r -F
complete -c snap -n "__fish_snap_using_subcommand run" -l state-dir -d 'The state directory (status records, metrics, job locks) [default: the config\'s state_dir]' -r -F
complete -c snap -n "__fish_snap_using_subcommand run" -l time -d 'Record the snapshot at this time instead of now ("YYYY-MM-DD HH:MM:SS", local time)' -r
complete -c snap -n "__fish_snap_using_subcommand run" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand run" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand run" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand run" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand run" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand run" -l all -d 'Run every job of the config file'
complete -c snap -n "__fish_snap_using_subcommand run" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand run" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand run" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand run" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand status" -l config -d 'The server-jobs config file [default: /etc/snap/snap.toml, then $XDG_CONFIG_HOME/snap/snap.toml]' -r -F
complete -c snap -n "__fish_snap_using_subcommand status" -l state-dir -d 'The state directory (status records, metrics, job locks) [default: the config\'s state_dir]' -r -F
complete -c snap -n "__fish_snap_using_subcommand status" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand status" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand status" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand status" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand status" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand status" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand status" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand status" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand status" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand schedule" -l config -d 'The server-jobs config file [default: /etc/snap/snap.toml, then $XDG_CONFIG_HOME/snap/snap.toml]' -r -F
complete -c snap -n "__fish_snap_using_subcommand schedule" -l count -d 'How many runs to show per job' -r
complete -c snap -n "__fish_snap_using_subcommand schedule" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand schedule" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand schedule" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand schedule" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand schedule" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand schedule" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand schedule" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand schedule" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand schedule" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand daemon" -l config -d 'The server-jobs config file [default: /etc/snap/snap.toml, then $XDG_CONFIG_HOME/snap/snap.toml]' -r -F
complete -c snap -n "__fish_snap_using_subcommand daemon" -l state-dir -d 'The state directory (status records, metrics, job locks) [default: the config\'s state_dir]' -r -F
complete -c snap -n "__fish_snap_using_subcommand daemon" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand daemon" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand daemon" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand daemon" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand daemon" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand daemon" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand daemon" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand daemon" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand daemon" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -f -a "list" -d 'List the key files (one per password), marking the one in use'
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -f -a "add" -d 'Add a password: a new key file for the same repository'
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -f -a "remove" -d 'Remove a password\'s key file, by id or unique prefix (never the last one or the one in use)'
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -f -a "passwd" -d 'Change the password in use: add a key file for the new one, check it opens the repository, then remove the old one'
complete -c snap -n "__fish_snap_using_subcommand key; and not __fish_seen_subcommand_from list add remove passwd help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from list" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from list" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from list" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from list" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from list" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from list" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -l new-password-file -d 'Read the new password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -l new-password-command -d 'Run this shell command and use its first output line as the new password' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -l kdf-memory-kib -d 'Argon2id memory in KiB (default 65536)' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -l kdf-iterations -d 'Argon2id iterations (default 3)' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from remove" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from remove" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from remove" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from remove" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from remove" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from remove" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -l new-password-file -d 'Read the new password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -l new-password-command -d 'Run this shell command and use its first output line as the new password' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -l kdf-memory-kib -d 'Argon2id memory in KiB (default 65536)' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -l kdf-iterations -d 'Argon2id iterations (default 3)' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the key files (one per password), marking the one in use'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a password: a new key file for the same repository'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a password\'s key file, by id or unique prefix (never the last one or the one in use)'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Change the password in use: add a key file for the new one, check it opens the repository, then remove the old one'
complete -c snap -n "__fish_snap_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c snap -n "__fish_snap_using_subcommand tag" -l add -d 'Add this tag where missing (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand tag" -l remove -d 'Remove this tag (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand tag" -l set -d 'Replace every tag with these (repeatable; `--set ""` removes every tag)' -r
complete -c snap -n "__fish_snap_using_subcommand tag" -l host -d 'Only snapshots of this host (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand tag" -l tag -d 'Only snapshots with these tags: `a,b` needs both; repeated means either' -r
complete -c snap -n "__fish_snap_using_subcommand tag" -l path -d 'Only snapshots that include this path (repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand tag" -l job -d 'Only snapshots made by this job (`snap run`; repeatable)' -r
complete -c snap -n "__fish_snap_using_subcommand tag" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand tag" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand tag" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand tag" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand tag" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand tag" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand tag" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand tag" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand tag" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand version" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand version" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand version" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand version" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand version" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand version" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand version" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand version" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand version" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand completions" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand completions" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand completions" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand completions" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand completions" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand completions" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand completions" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand completions" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand completions" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand man" -l dir -d 'Write every page (snap.1 and one per subcommand) into this directory, made if missing' -r -F
complete -c snap -n "__fish_snap_using_subcommand man" -s r -l repo -d 'Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or sftp:[USER@]HOST[:PORT]:/PATH' -r
complete -c snap -n "__fish_snap_using_subcommand man" -s o -l option -d 'Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections, timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile, s3.instance-metadata, sftp.key, sftp.host-keys' -r
complete -c snap -n "__fish_snap_using_subcommand man" -l password-file -d 'Read the password from this file (first line)' -r -F
complete -c snap -n "__fish_snap_using_subcommand man" -l password-command -d 'Run this shell command and use its first output line as the password' -r
complete -c snap -n "__fish_snap_using_subcommand man" -l cache-dir -d 'Root of the local cache (the index lives in <cache-dir>/<repository id>)' -r -F
complete -c snap -n "__fish_snap_using_subcommand man" -l json -d 'Print machine-readable JSON'
complete -c snap -n "__fish_snap_using_subcommand man" -s q -l quiet -d 'Print only errors'
complete -c snap -n "__fish_snap_using_subcommand man" -s v -l verbose -d 'Print more detail'
complete -c snap -n "__fish_snap_using_subcommand man" -s h -l help -d 'Print help'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "init" -d 'Create a new repository'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "backup" -d 'Back up paths and/or a stream (stdin or a command\'s output) into one snapshot'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "snapshots" -d 'List snapshots'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "ls" -d 'List the files of a snapshot'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "restore" -d 'Restore a snapshot into a directory'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "dump" -d 'Write a file (or a directory as tar) from a snapshot to stdout'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "diff" -d 'Show what differs between two snapshots: added, removed, changed paths'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "find" -d 'Find which snapshots hold a path or glob, newest first'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "mount" -d 'Mount the repository as a read-only filesystem (FUSE) until Ctrl-C or umount'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "stats" -d 'Show files, restore size, unique and stored data of snapshots, and what each alone holds'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "forget" -d 'Remove snapshots by a retention policy'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "check" -d 'Verify the repository\'s structure, and with --read-data every byte'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "prune" -d 'Delete data no snapshot references'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "unlock" -d 'Remove stale locks'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "copy" -d 'Copy snapshots to another repository (made with `snap init --from` this one)'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "repair" -d 'Rebuild damaged or lost repository metadata'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "config" -d 'Work with the server-jobs config file (`config check`)'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "drill" -d 'Prove a job\'s backups restore: scratch restore, database loads, checks, RTO and RPO'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "restore-db" -d 'Stream a database dump of a snapshot into its database (psql, pg_restore, mariadb, sqlite3)'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "run" -d 'Run jobs of the config file: dumps, hooks, one snapshot, retention, check'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "status" -d 'Show what each job did last'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "schedule" -d 'Show when each job of the config file runs next'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "daemon" -d 'Run the jobs of the config file at their scheduled times, until stopped'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "key" -d 'Manage the repository\'s passwords (key files): list, add, remove, passwd'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "tag" -d 'Add, remove or set tags of snapshots (rewrites their snapshot files, never data)'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "version" -d 'Show snap\'s version, the repository format it reads, and its build features'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "completions" -d 'Print the shell completion script for bash, zsh, fish, elvish or powershell'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "man" -d 'Print snap\'s man page, or write every page (one per subcommand) into a directory'
complete -c snap -n "__fish_snap_using_subcommand help; and not __fish_seen_subcommand_from init backup snapshots ls restore dump diff find mount stats forget check prune unlock copy repair config drill restore-db run status schedule daemon key tag version completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c snap -n "__fish_snap_using_subcommand help; and __fish_seen_subcommand_from repair" -f -a "index" -d 'Rebuild index/ from the headers of every pack'
complete -c snap -n "__fish_snap_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Check the config file, try every password source, and show what each job would do'
complete -c snap -n "__fish_snap_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "list" -d 'List the key files (one per password), marking the one in use'
complete -c snap -n "__fish_snap_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "add" -d 'Add a password: a new key file for the same repository'
complete -c snap -n "__fish_snap_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "remove" -d 'Remove a password\'s key file, by id or unique prefix (never the last one or the one in use)'
complete -c snap -n "__fish_snap_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "passwd" -d 'Change the password in use: add a key file for the new one, check it opens the repository, then remove the old one'
