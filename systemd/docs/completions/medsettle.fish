# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_medsettle_global_optspecs
    string join \n h/help V/version
end

function __fish_medsettle_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_medsettle_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_medsettle_using_subcommand
    set -l cmd (__fish_medsettle_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c medsettle -n "__fish_medsettle_needs_command" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_needs_command" -s V -l version -d 'Print version'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "run" -d 'Run the daemon with a configuration file (what systemd starts)'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "demo" -d 'Run the daemon on built-in defaults: database under ./var, API on loopback, simulated devices and sandbox insurer. No hardware, no configuration needed. Source builds only (`make demo`): the Debian package has no sandbox insurer and refuses it'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "config" -d 'Work with configuration files'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "doctor" -d 'Check the terminal: config, secrets, readers, camera, scan boxes, platform link and clock, disk, database, API port. Exit 0 ok/warnings, 1 a check failed, 78 bad config'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "version" -d 'Print the version and the database schema version this build uses'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "readers" -d 'List card readers and slots (contact, contactless, SAM) with card presence. Needs no configuration file (like `pcsc_scan`); uses one when given or installed'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "scan" -d 'Decode QR credentials from images; classify and verify them (masked unless --reveal)'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "read-card" -d 'Read and validate a social security card; personal data masked unless --reveal. Needs no configuration file; uses one when given or installed'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "upstream" -d 'Talk to the insurance platform: sign-in round trip, person lookup (1101)'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "queue" -d 'Stored (offline) sales in the running daemon: list, show, retry, cancel, export, flush'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "visit" -d 'Outpatient visits in the running daemon: list, show, cancel, refund'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "trace" -d 'Drug trace reports (3505 sold, 3506 returned) in the running daemon: list, show, retry'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "store" -d 'The database: `backup` (a consistent copy), `pending` (sales a deletion would lose); its key set: `keygen` (a fresh key line), `rekey` (re-seal under the first key)'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "status-link" -d 'Print a one-time link (valid 2 minutes, single use) that opens the running daemon\'s status page in a browser without typing the token'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "fleet" -d 'The fleet ledger on PostgreSQL (`[fleet]`): `status` lists the institution\'s terminals and its reconciliations'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "reconcile" -d 'Daily totals reconciliation (3201) through the running daemon; exit 1 when unbalanced'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "generate-docs" -d 'Write the man pages (medsettle.1, one per subcommand) and the bash, zsh and fish completions into DIR (for packaging)'
complete -c medsettle -n "__fish_medsettle_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand run" -s c -l config -d 'The TOML configuration file' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand run" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand demo" -l var -d 'Directory for the demo\'s database and token' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand demo" -l listen -d 'Address of the demo API' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand demo" -l no-tour -d 'Do not run the scripted tour of sales; just serve'
complete -c medsettle -n "__fish_medsettle_using_subcommand demo" -l exit-after-tour -d 'Stop the daemon once the tour is done (exit 0 if every step succeeded)'
complete -c medsettle -n "__fish_medsettle_using_subcommand demo" -l verbose -d 'Show the daemon\'s log on this terminal instead of writing it to VAR/medsettle.log'
complete -c medsettle -n "__fish_medsettle_using_subcommand demo" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand config; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Validate a configuration file and print the effective configuration (secrets masked). Every problem is listed with its key and line'
complete -c medsettle -n "__fish_medsettle_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand config; and __fish_seen_subcommand_from check" -s c -l config -d 'The TOML configuration file' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate a configuration file and print the effective configuration (secrets masked). Every problem is listed with its key and line'
complete -c medsettle -n "__fish_medsettle_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand doctor" -s c -l config -d 'The TOML configuration file' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand doctor" -l json -d 'Print `{checks: [{name, result, detail, fix}], ok}` instead of the table'
complete -c medsettle -n "__fish_medsettle_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand version" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand readers" -s c -l config -d 'The TOML configuration file (`[readers]`, `[card]`, `[terminal]`); default: the installed one when it exists, else built-in defaults (every reader through pcscd)' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand readers" -l no-config -d 'Use the built-in defaults even when a configuration is installed'
complete -c medsettle -n "__fish_medsettle_using_subcommand readers" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand scan" -s c -l config -d 'Configuration file for the e-SSC issuer keys (`[qr]`); default: the installed one when it exists, else none (no key is known)' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand scan" -l image -d 'Image files (PNG, JPEG) to decode' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand scan" -l dir -d 'A directory of images, decoded in name order' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand scan" -l serial -d 'A counter scan box on this serial port: print each code it sends until `--count` codes or Ctrl-C' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand scan" -l camera -d 'A V4L2 camera by index (0 = /dev/video0) or by device path (`/dev/v4l/by-id/usb-…-video-index0`): print each code it sees until `--count` codes or Ctrl-C. Needs a build with `--features v4l` (the Debian package has it)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand scan" -l count -d 'With `--serial` or `--camera`: stop after this many codes' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand scan" -l baud -d 'With `--serial`: the port\'s baud rate' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand scan" -l json -d 'One JSON object per input instead of text'
complete -c medsettle -n "__fish_medsettle_using_subcommand scan" -l reveal -d 'Print codes and identities in clear'
complete -c medsettle -n "__fish_medsettle_using_subcommand scan" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -s c -l config -d 'The TOML configuration file (`[readers]`, `[card]`, `[terminal]`); default: the installed one when it exists, else built-in defaults (every reader through pcscd)' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -l reader -d 'Only this reader (see `medsettle readers`)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -l interface -d 'Slot preference, like the 通用接口 iType 1-4' -r -f -a "contact\t''
contactless\t''
auto-contact\t''
auto-contactless\t''"
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -l format -d 'Output format' -r -f -a "text\t'A short human-readable summary'
json\t'The record as JSON'
line\t'The `iReadCardBas` line'"
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -l wait-ms -d 'How long to wait for the card, in milliseconds (default: `readers.wait_ms`)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -l no-config -d 'Use the built-in defaults even when a configuration is installed'
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -l json -d 'Shortcut for `--format json`'
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -l line -d 'Shortcut for `--format line`'
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -l reveal -d 'Print ID number, name and card number in clear'
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -l pin-stdin -d 'Read the cardholder\'s PIN from standard input and verify it during the read'
complete -c medsettle -n "__fish_medsettle_using_subcommand read-card" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and not __fish_seen_subcommand_from ping person help" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and not __fish_seen_subcommand_from ping person help" -f -a "ping" -d 'Sign in to the platform (9001) and print the round trip, then sign out (9002)'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and not __fish_seen_subcommand_from ping person help" -f -a "person" -d 'Look up a patient (1101) and print who they are and what insurance they hold'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and not __fish_seen_subcommand_from ping person help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from ping" -s c -l config -d 'The TOML configuration file (`[upstream]`, `[terminal]`, `[store]`)' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from ping" -l count -d 'How many sign-ins' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from ping" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from person" -s c -l config -d 'The TOML configuration file' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from person" -l qr -d 'The text of a QR code (e-SSC `ESSC1.…` or an e-voucher)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from person" -l id -d 'Deprecated and hidden: the ID number on the command line, where `ps` and the shell history keep it. Still accepted with a warning until the last scripts move to `--id-stdin`' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from person" -l card -d 'Read the card in the configured reader'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from person" -l id-stdin -d 'A citizen ID number (社会保障号码), read from standard input (one line), or typed at a prompt when standard input is a terminal. Never given on the command line'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from person" -l json -d 'Print the answer as JSON'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from person" -l reveal -d 'Print ID number and name in clear'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from person" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from help" -f -a "ping" -d 'Sign in to the platform (9001) and print the round trip, then sign out (9002)'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from help" -f -a "person" -d 'Look up a patient (1101) and print who they are and what insurance they hold'
complete -c medsettle -n "__fish_medsettle_using_subcommand upstream; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and not __fish_seen_subcommand_from ls show retry resolve ack cancel export flush help" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and not __fish_seen_subcommand_from ls show retry resolve ack cancel export flush help" -f -a "ls" -d 'List stored sales not yet closed, oldest first'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and not __fish_seen_subcommand_from ls show retry resolve ack cancel export flush help" -f -a "show" -d 'Show one sale and its history'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and not __fish_seen_subcommand_from ls show retry resolve ack cancel export flush help" -f -a "retry" -d 'Put a rejected or expired stored sale back in the queue'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and not __fish_seen_subcommand_from ls show retry resolve ack cancel export flush help" -f -a "resolve" -d 'Resolve a sale in doubt after checking with the platform: --settled SETL_ID (the platform holds the settlement; for a cancellation in doubt: it was not cancelled) or --not-settled (it does not; for a cancellation in doubt: it was cancelled). Audited in the sale\'s history with the evidence the terminal holds'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and not __fish_seen_subcommand_from ls show retry resolve ack cancel export flush help" -f -a "ack" -d 'Acknowledge a sale that settled with a platform answer that failed a check (the `sale.answer_mismatch` alarm), after verifying it. Audited in the sale\'s history (who, the note, the mismatches); the alarm clears when no such sale is left'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and not __fish_seen_subcommand_from ls show retry resolve ack cancel export flush help" -f -a "cancel" -d 'Cancel a sale (abandon it, or 2103 when settled)'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and not __fish_seen_subcommand_from ls show retry resolve ack cancel export flush help" -f -a "export" -d 'Export every stored sale, settled ones included. ID numbers and names are masked (the API\'s view); the clear values never leave the daemon'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and not __fish_seen_subcommand_from ls show retry resolve ack cancel export flush help" -f -a "flush" -d 'Wake the forwarder; with --wait, show progress until nothing is left to forward'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and not __fish_seen_subcommand_from ls show retry resolve ack cancel export flush help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from ls" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from ls" -l json -d 'Print the API\'s answer (all pages) as JSON'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from show" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from retry" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from retry" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from resolve" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from resolve" -l settled -d 'The platform\'s settlement id (setl_id)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from resolve" -l note -d 'Why: who confirmed it, a ticket number (kept in the history)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from resolve" -l not-settled
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from resolve" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from ack" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from ack" -l note -d 'What was verified, a ticket number (kept in the history)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from ack" -l by -d 'Who acknowledges (default: the login name, $SUDO_USER or $USER)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from ack" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from cancel" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from cancel" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from export" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from export" -l csv -d 'CSV on standard output (the only format)'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from flush" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from flush" -l timeout -d 'Give up waiting after this many seconds (exit 1)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from flush" -l wait
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from flush" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List stored sales not yet closed, oldest first'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one sale and its history'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "retry" -d 'Put a rejected or expired stored sale back in the queue'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "resolve" -d 'Resolve a sale in doubt after checking with the platform: --settled SETL_ID (the platform holds the settlement; for a cancellation in doubt: it was not cancelled) or --not-settled (it does not; for a cancellation in doubt: it was cancelled). Audited in the sale\'s history with the evidence the terminal holds'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "ack" -d 'Acknowledge a sale that settled with a platform answer that failed a check (the `sale.answer_mismatch` alarm), after verifying it. Audited in the sale\'s history (who, the note, the mismatches); the alarm clears when no such sale is left'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "cancel" -d 'Cancel a sale (abandon it, or 2103 when settled)'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "export" -d 'Export every stored sale, settled ones included. ID numbers and names are masked (the API\'s view); the clear values never leave the daemon'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "flush" -d 'Wake the forwarder; with --wait, show progress until nothing is left to forward'
complete -c medsettle -n "__fish_medsettle_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and not __fish_seen_subcommand_from ls show cancel refund help" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and not __fish_seen_subcommand_from ls show cancel refund help" -f -a "ls" -d 'List visits, newest first'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and not __fish_seen_subcommand_from ls show cancel refund help" -f -a "show" -d 'Show one visit: where it stands on the platform, and its history'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and not __fish_seen_subcommand_from ls show cancel refund help" -f -a "cancel" -d 'Cancel a visit before settlement: its fee lines (2205) and registration (2202) are undone on the platform. A settled visit is refunded instead'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and not __fish_seen_subcommand_from ls show cancel refund help" -f -a "refund" -d 'Refund a settled visit (2208), then undo its fee lines and registration'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and not __fish_seen_subcommand_from ls show cancel refund help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from ls" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from ls" -l state -d 'Only visits in these states (comma-separated, e.g. registered,uploaded)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from ls" -l limit -d 'At most this many (1-500)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from ls" -l json -d 'Print the API\'s answer as JSON'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from show" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from show" -l json -d 'Print the API\'s answer as JSON'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from cancel" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from cancel" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from refund" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from refund" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List visits, newest first'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one visit: where it stands on the platform, and its history'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from help" -f -a "cancel" -d 'Cancel a visit before settlement: its fee lines (2205) and registration (2202) are undone on the platform. A settled visit is refunded instead'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from help" -f -a "refund" -d 'Refund a settled visit (2208), then undo its fee lines and registration'
complete -c medsettle -n "__fish_medsettle_using_subcommand visit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and not __fish_seen_subcommand_from ls show retry help" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and not __fish_seen_subcommand_from ls show retry help" -f -a "ls" -d 'List the reports, newest first, with the counts by state'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and not __fish_seen_subcommand_from ls show retry help" -f -a "show" -d 'Show one report: its line, state, msgid and the platform\'s answer'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and not __fish_seen_subcommand_from ls show retry help" -f -a "retry" -d 'Send a report the platform refused again (after fixing its cause, e.g. `[trace]`)'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and not __fish_seen_subcommand_from ls show retry help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from ls" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from ls" -l state -d 'Only reports in these states (comma-separated: pending, sent, failed, cancelled)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from ls" -l sale -d 'Only the reports of this sale or visit' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from ls" -l limit -d 'At most this many (1-500)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from ls" -l json -d 'Print the API\'s answer as JSON'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from show" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from show" -l json -d 'Print the API\'s answer as JSON'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from retry" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from retry" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List the reports, newest first, with the counts by state'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one report: its line, state, msgid and the platform\'s answer'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from help" -f -a "retry" -d 'Send a report the platform refused again (after fixing its cause, e.g. `[trace]`)'
complete -c medsettle -n "__fish_medsettle_using_subcommand trace; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and not __fish_seen_subcommand_from keygen rekey salvage backup pending help" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and not __fish_seen_subcommand_from keygen rekey salvage backup pending help" -f -a "keygen" -d 'Print a fresh database key as a key-file line (`ID:BASE64`)'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and not __fish_seen_subcommand_from keygen rekey salvage backup pending help" -f -a "rekey" -d 'Re-seal every personal-data value under the first key of store.key'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and not __fish_seen_subcommand_from keygen rekey salvage backup pending help" -f -a "salvage" -d 'Bring back what a quarantined (corrupt) database still holds, then resume business'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and not __fish_seen_subcommand_from keygen rekey salvage backup pending help" -f -a "backup" -d 'Copy the database to a new file, consistent even while the daemon runs'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and not __fish_seen_subcommand_from keygen rekey salvage backup pending help" -f -a "pending" -d 'Count the sales a deletion of the database would lose: not settled, stored offline, or in doubt at the platform. Reads only; works beside a running daemon'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and not __fish_seen_subcommand_from keygen rekey salvage backup pending help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from keygen" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from rekey" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from rekey" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from salvage" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from salvage" -l from -d 'The quarantined file to read. Default: the one the database\'s pending quarantine names' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from salvage" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from backup" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from backup" -l db -d 'The database file itself, instead of the config\'s store.path (its key set is then the `db-key` file beside it): for a machine whose config is gone. Wins over `-c` and MEDSETTLE_CONFIG' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from backup" -l keys -d 'Also copy the key set to this new file (mode 0600)' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from backup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from pending" -s c -l config -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from pending" -l db -d 'The database file itself, instead of the config\'s store.path; wins over `-c` and MEDSETTLE_CONFIG' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from pending" -l porcelain -d 'One machine-readable line'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from pending" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "keygen" -d 'Print a fresh database key as a key-file line (`ID:BASE64`)'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "rekey" -d 'Re-seal every personal-data value under the first key of store.key'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "salvage" -d 'Bring back what a quarantined (corrupt) database still holds, then resume business'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "backup" -d 'Copy the database to a new file, consistent even while the daemon runs'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "pending" -d 'Count the sales a deletion of the database would lose: not settled, stored offline, or in doubt at the platform. Reads only; works beside a running daemon'
complete -c medsettle -n "__fish_medsettle_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand status-link" -s c -l config -d 'The TOML configuration file (`api.listen`, `api.token`)' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand status-link" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and not __fish_seen_subcommand_from status reconcile help" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and not __fish_seen_subcommand_from status reconcile help" -f -a "status" -d 'Print the fleet: terminals (last seen, queue depth, sales in doubt, outbox lag) and the last institution-wide reconciliation per day. Exit 1 when the ledger cannot be read'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and not __fish_seen_subcommand_from status reconcile help" -f -a "reconcile" -d 'Reconcile a CST day for the whole institution (3201 over every terminal\'s settlements in the ledger; 3202 for the unbalanced groups) through the running daemon, and store the result in the ledger. Exit 1 when it does not balance, 3 when another terminal is running it right now'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and not __fish_seen_subcommand_from status reconcile help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from status" -s c -l config -d 'The TOML configuration file (its `[fleet]` and `[terminal]`)' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from status" -l days -d 'How many days of reconciliation results to show' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from status" -l json -d 'Print the view as JSON instead of the table'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from reconcile" -s c -l config -d 'The TOML configuration file (`api.listen`, `api.token` of the running daemon)' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from reconcile" -l date -d 'The CST day, YYYY-MM-DD (default today)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from reconcile" -l detail -d 'Also run 3202 detail reconciliation for every group (balanced or not) and list each settlement, with what to do about each that differs'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from reconcile" -l json -d 'Print the outcome as JSON'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from reconcile" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from help" -f -a "status" -d 'Print the fleet: terminals (last seen, queue depth, sales in doubt, outbox lag) and the last institution-wide reconciliation per day. Exit 1 when the ledger cannot be read'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from help" -f -a "reconcile" -d 'Reconcile a CST day for the whole institution (3201 over every terminal\'s settlements in the ledger; 3202 for the unbalanced groups) through the running daemon, and store the result in the ledger. Exit 1 when it does not balance, 3 when another terminal is running it right now'
complete -c medsettle -n "__fish_medsettle_using_subcommand fleet; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand reconcile" -s c -l config -d 'The TOML configuration file (`api.listen`, `api.token` of the running daemon)' -r -F
complete -c medsettle -n "__fish_medsettle_using_subcommand reconcile" -l date -d 'The CST day, YYYY-MM-DD (default today)' -r
complete -c medsettle -n "__fish_medsettle_using_subcommand reconcile" -l detail -d 'Also run 3202 detail reconciliation for every group (balanced or not) and list each settlement, with what to do about each that differs'
complete -c medsettle -n "__fish_medsettle_using_subcommand reconcile" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand generate-docs" -s h -l help -d 'Print help'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "run" -d 'Run the daemon with a configuration file (what systemd starts)'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "demo" -d 'Run the daemon on built-in defaults: database under ./var, API on loopback, simulated devices and sandbox insurer. No hardware, no configuration needed. Source builds only (`make demo`): the Debian package has no sandbox insurer and refuses it'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "config" -d 'Work with configuration files'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "doctor" -d 'Check the terminal: config, secrets, readers, camera, scan boxes, platform link and clock, disk, database, API port. Exit 0 ok/warnings, 1 a check failed, 78 bad config'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "version" -d 'Print the version and the database schema version this build uses'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "readers" -d 'List card readers and slots (contact, contactless, SAM) with card presence. Needs no configuration file (like `pcsc_scan`); uses one when given or installed'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "scan" -d 'Decode QR credentials from images; classify and verify them (masked unless --reveal)'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "read-card" -d 'Read and validate a social security card; personal data masked unless --reveal. Needs no configuration file; uses one when given or installed'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "upstream" -d 'Talk to the insurance platform: sign-in round trip, person lookup (1101)'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "queue" -d 'Stored (offline) sales in the running daemon: list, show, retry, cancel, export, flush'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "visit" -d 'Outpatient visits in the running daemon: list, show, cancel, refund'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "trace" -d 'Drug trace reports (3505 sold, 3506 returned) in the running daemon: list, show, retry'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "store" -d 'The database: `backup` (a consistent copy), `pending` (sales a deletion would lose); its key set: `keygen` (a fresh key line), `rekey` (re-seal under the first key)'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "status-link" -d 'Print a one-time link (valid 2 minutes, single use) that opens the running daemon\'s status page in a browser without typing the token'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "fleet" -d 'The fleet ledger on PostgreSQL (`[fleet]`): `status` lists the institution\'s terminals and its reconciliations'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "reconcile" -d 'Daily totals reconciliation (3201) through the running daemon; exit 1 when unbalanced'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "generate-docs" -d 'Write the man pages (medsettle.1, one per subcommand) and the bash, zsh and fish completions into DIR (for packaging)'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and not __fish_seen_subcommand_from run demo config doctor version readers scan read-card upstream queue visit trace store status-link fleet reconcile generate-docs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Validate a configuration file and print the effective configuration (secrets masked). Every problem is listed with its key and line'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from upstream" -f -a "ping" -d 'Sign in to the platform (9001) and print the round trip, then sign out (9002)'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from upstream" -f -a "person" -d 'Look up a patient (1101) and print who they are and what insurance they hold'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "ls" -d 'List stored sales not yet closed, oldest first'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "show" -d 'Show one sale and its history'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "retry" -d 'Put a rejected or expired stored sale back in the queue'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "resolve" -d 'Resolve a sale in doubt after checking with the platform: --settled SETL_ID (the platform holds the settlement; for a cancellation in doubt: it was not cancelled) or --not-settled (it does not; for a cancellation in doubt: it was cancelled). Audited in the sale\'s history with the evidence the terminal holds'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "ack" -d 'Acknowledge a sale that settled with a platform answer that failed a check (the `sale.answer_mismatch` alarm), after verifying it. Audited in the sale\'s history (who, the note, the mismatches); the alarm clears when no such sale is left'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "cancel" -d 'Cancel a sale (abandon it, or 2103 when settled)'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "export" -d 'Export every stored sale, settled ones included. ID numbers and names are masked (the API\'s view); the clear values never leave the daemon'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "flush" -d 'Wake the forwarder; with --wait, show progress until nothing is left to forward'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from visit" -f -a "ls" -d 'List visits, newest first'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from visit" -f -a "show" -d 'Show one visit: where it stands on the platform, and its history'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from visit" -f -a "cancel" -d 'Cancel a visit before settlement: its fee lines (2205) and registration (2202) are undone on the platform. A settled visit is refunded instead'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from visit" -f -a "refund" -d 'Refund a settled visit (2208), then undo its fee lines and registration'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from trace" -f -a "ls" -d 'List the reports, newest first, with the counts by state'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from trace" -f -a "show" -d 'Show one report: its line, state, msgid and the platform\'s answer'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from trace" -f -a "retry" -d 'Send a report the platform refused again (after fixing its cause, e.g. `[trace]`)'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "keygen" -d 'Print a fresh database key as a key-file line (`ID:BASE64`)'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "rekey" -d 'Re-seal every personal-data value under the first key of store.key'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "salvage" -d 'Bring back what a quarantined (corrupt) database still holds, then resume business'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "backup" -d 'Copy the database to a new file, consistent even while the daemon runs'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "pending" -d 'Count the sales a deletion of the database would lose: not settled, stored offline, or in doubt at the platform. Reads only; works beside a running daemon'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from fleet" -f -a "status" -d 'Print the fleet: terminals (last seen, queue depth, sales in doubt, outbox lag) and the last institution-wide reconciliation per day. Exit 1 when the ledger cannot be read'
complete -c medsettle -n "__fish_medsettle_using_subcommand help; and __fish_seen_subcommand_from fleet" -f -a "reconcile" -d 'Reconcile a CST day for the whole institution (3201 over every terminal\'s settlements in the ledger; 3202 for the unbalanced groups) through the running daemon, and store the result in the ledger. Exit 1 when it does not balance, 3 when another terminal is running it right now'
