//! What is generated from the command-line definitions: shell completions and man pages.

use std::path::Path;

use clap::CommandFactory;

use crate::Outcome;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::CliError;
use crate::output::Ui;

/// `hallmark completions SHELL`.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "hallmark", &mut out);
    crate::output::stdout_raw(&String::from_utf8_lossy(&out))?;
    Ok(Outcome::Ok)
}

fn render(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    Ok(out)
}

/// `hallmark man [--dir DIR]`.
pub fn man(args: &ManArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let cmd = Cli::command();
    let Some(dir) = &args.dir else {
        crate::output::stdout_raw(&String::from_utf8_lossy(&render(cmd)?))?;
        return Ok(Outcome::Ok);
    };
    let write = |name: &str, page: Vec<u8>| -> anyhow::Result<()> {
        let path = dir.join(name);
        hallmark::fsio::write_output(&path, &page).map_err(|e| {
            anyhow::Error::from(CliError {
                message: format!("cannot write {}: {e}", path.display()),
                hint: None,
                class: e.class(),
            })
        })
    };
    if !Path::new(dir).is_dir() {
        return Err(CliError::usage(
            format!("{} is not a directory", dir.display()),
            Some("create it first"),
        ));
    }
    let mut written = vec!["hallmark.1".to_string()];
    write("hallmark.1", render(cmd.clone())?)?;
    for sub in cmd.get_subcommands() {
        let name = format!("hallmark-{}", sub.get_name());
        let page = render(sub.clone().name(name.clone()))?;
        write(&format!("{name}.1"), page)?;
        written.push(format!("{name}.1"));
    }
    ui.say(format!(
        "wrote {} man pages to {}",
        written.len(),
        dir.display()
    ));
    Ok(Outcome::Ok)
}
