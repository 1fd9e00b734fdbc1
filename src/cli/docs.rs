//! `medsettle generate-docs DIR` (hidden): man pages and shell completions generated from the
//! clap definitions. The package installs the copy committed in `systemd/docs/` (the same files
//! for amd64 and arm64, nothing to run at package time), and a test holds that copy to what
//! this writes, so they can never drift from the real options:
//!
//! - `DIR/man/medsettle.1` and one page per subcommand (`medsettle-queue.1`,
//!   `medsettle-queue-ls.1`, …; hidden commands are left out). Every build has the same
//!   commands (`demo` exists everywhere and says so where it is not built in), so the docs
//!   are the same whatever the features.
//! - `DIR/completions/medsettle.bash`, `DIR/completions/_medsettle` (zsh),
//!   `DIR/completions/medsettle.fish`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_complete::Shell;

pub(super) fn execute(dir: &Path) -> ExitCode {
    match write_all(dir) {
        Ok(count) => {
            eprintln!(
                "medsettle: wrote {count} man pages and 3 completion scripts under {}",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("medsettle: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn write_all(dir: &Path) -> anyhow::Result<usize> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut cmd = super::Cli::command();
    cmd.build();
    let count = man_pages(&cmd, &man)?;
    for (shell, file) in [
        (Shell::Bash, "medsettle.bash"),
        (Shell::Zsh, "_medsettle"),
        (Shell::Fish, "medsettle.fish"),
    ] {
        let path = completions.join(file);
        let mut out = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        clap_complete::generate(shell, &mut cmd.clone(), "medsettle", &mut out);
    }
    Ok(count)
}

/// Writes `cmd`'s page and, recursively, one per visible subcommand; returns how many.
fn man_pages(cmd: &clap::Command, dir: &Path) -> anyhow::Result<usize> {
    let name = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned();
    let path = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .render(&mut buf)
        .with_context(|| format!("rendering {name}.1"))?;
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    let mut count = 1;
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        count += man_pages(sub, dir)?;
    }
    Ok(count)
}
