//! `unchecked-download`: a download run without a checksum or signature check: piped to an
//! interpreter, substituted into one, or saved and run before anything checks it (high);
//! or installed as a program (unpacked, made executable, moved, saved into a `bin`
//! directory) and left for later (medium, on the download, at the script's end).
//!
//! The pipe is followed through `tee`/`cat` and wrappers (`sudo -E`), and the downloader
//! may be a `$CURL` variable or a function of the script whose body downloads. Not: a
//! download checked first (see `ShellState::after`), output piped to a non-interpreter, a
//! function that does not download. Fix: download, check (`sha256sum -c`, `hallmark
//! verify-blob`), then run or install.

use crate::audit::check::commands::{DOWNLOADERS, SHELLS, Step};
use crate::audit::check::invoke::{function_tool, tool_name};
use crate::audit::check::state::ShellState;
use crate::audit::check::{Check, Cx};
use crate::audit::shell::{self, Command, Joiner};
use crate::audit::{Rule, Severity};

pub(super) const RULE: Rule = Rule {
    id: "unchecked-download",
    severity: Severity::High,
    title: "A download is executed without a checksum or signature check",
    help: "`curl … | bash` runs whatever the server (or anyone who changed it) sends today: the Codecov uploader compromise. A program downloaded and installed (made executable, unpacked, put in a `bin` directory) runs the same unverified bytes later. Download to a file, check it (`sha256sum -c`, `hallmark verify-blob FILE --key KEY --bundle B`), then run or install it.",
    help_url: super::help_url!("unchecked-download"),
};

pub(super) const CHECK: &dyn Check = &UncheckedDownload;

struct UncheckedDownload;

/// Commands that run what they are given as a script, besides [`SHELLS`].
const SOURCERS: &[&str] = &["eval", "source", "."];

/// Commands a download may pass through on its way to an interpreter (`| tee log | bash`,
/// `| sed s/sleep\ 20/sleep\ 0/ | sudo -E sh`): an edited script is still the download.
const PASS_THROUGH: &[&str] = &[
    "tee", "cat", "gunzip", "zcat", "dos2unix", "sed", "tr", "grep", "awk",
];

/// Commands that run the command after them (`sudo -E bash`, `env A=b sh`).
const WRAPPERS: &[&str] = &[
    "sudo", "doas", "env", "nohup", "time", "exec", "command", "nice", "stdbuf", "timeout",
];

impl Check for UncheckedDownload {
    fn command(&self, cx: &mut Cx<'_>, step: &Step<'_>, st: &ShellState) {
        let name = step.name.as_str();
        let at = step.at(step.name_word());
        // `curl … | bash`, `curl … | tee log | sudo -E bash`, a wrapper function's output.
        if step.cmd().then == Joiner::Pipe
            && let Some(interp) = piped_interpreter(&step.cmds[step.index + 1..])
            && (DOWNLOADERS.contains(&name) || wraps_download(step))
        {
            cx.report(
                &RULE,
                None,
                at,
                &format!("{name}|{interp}"),
                format!("the output of {} is run by {interp} unchecked", shown(step)),
            );
        }
        // `bash <(curl …)`, `sh -c "$(curl …)"`, `eval "$(curl …)"`, `source <(curl …)`,
        // `iex (iwr …)`.
        if SHELLS.contains(&name) || SOURCERS.contains(&name) {
            for w in step.arg_words() {
                let t = w.text.to_ascii_lowercase();
                let powershell = matches!(name, "iex" | "invoke-expression")
                    && [
                        "iwr",
                        "invoke-webrequest",
                        "irm",
                        "invoke-restmethod",
                        "downloadstring",
                    ]
                    .iter()
                    .any(|d| t.contains(d));
                if powershell || (substitutes_download(&t) && !t.contains("sha256sum")) {
                    cx.report(
                        &RULE,
                        None,
                        at,
                        &format!("{name}-substitution"),
                        format!("{name} runs a download unchecked"),
                    );
                }
            }
        }
        // A file downloaded, then run with nothing checking it in between: reported on the
        // download, where the check belongs (as an install is), naming where it runs.
        if let Some(f) = st.runs_download(step) {
            let (place, message) = match st.download_at.get(&f) {
                Some(d) if d.line != at.line => (
                    *d,
                    format!(
                        "{f} is downloaded here and run on line {} without a checksum or signature check",
                        at.line
                    ),
                ),
                _ => (
                    at,
                    format!("{f} is downloaded and run without a checksum or signature check"),
                ),
            };
            cx.report(&RULE, None, place, &format!("run:{f}"), message);
        }
        // At the script's end (or the end of the scripts that continue it): programs
        // installed from a download nothing checked. They are not seen running, but
        // whatever runs them later runs unverified bytes.
        if !st.installed.is_empty() && last_command(step) && !cx.continued {
            for (f, place, how) in st.installed_unchecked() {
                let what = if f.contains('|') { "an archive" } else { f };
                cx.report(
                    &RULE,
                    Some(Severity::Medium),
                    place,
                    &format!("install:{what}"),
                    format!(
                        "{what} is downloaded and installed ({how}) without a checksum or signature check: it is not run here, but what runs it later runs what the server sent"
                    ),
                );
            }
        }
    }
}

/// The command as the reader knows it: `curl`, or `bin/scurl (curl)` for a script of
/// the tree that runs curl on its arguments.
fn shown(step: &Step<'_>) -> String {
    let written = &step.name_word().text;
    if tool_name(written) == step.name {
        step.name.clone()
    } else {
        format!("{written} ({})", step.name)
    }
}

/// A word holding a command substitution or process substitution that downloads.
fn substitutes_download(t: &str) -> bool {
    ["$(", "<(", "`"].iter().any(|open| {
        t.match_indices(open).any(|(i, _)| {
            let inner = t[i + open.len()..].trim_start();
            let first = inner.split_whitespace().next().unwrap_or_default();
            DOWNLOADERS.contains(&tool_name(first).as_str())
        })
    })
}

/// No named command other than `export` follows `step` in its script.
fn last_command(step: &Step<'_>) -> bool {
    step.cmds[step.index + 1..]
        .iter()
        .all(|c| c.name().is_none_or(|n| n.text == "export"))
}

/// The interpreter the first of `rest` leads to, when a pipe feeds one: past `tee` and
/// the like, past `sudo`/`env` and their options.
fn piped_interpreter(rest: &[Command]) -> Option<String> {
    for cmd in rest.iter().take(8) {
        let words = &cmd.words;
        let mut j = words.iter().position(|w| !shell::is_assignment(&w.text))?;
        let mut name = tool_name(&words[j].text);
        // Past wrappers, their options and their values (`sudo -u ci -E`, `env A=b`).
        let mut guard = 0;
        while WRAPPERS.contains(&name.as_str()) && guard < 4 {
            guard += 1;
            let wrapper = name.clone();
            j += 1;
            while let Some(w) = words.get(j) {
                let t = w.text.as_str();
                let value_option = wrapper == "sudo" && matches!(t, "-u" | "-g" | "-C" | "-D" | "-h" | "-p" | "-r" | "-t" | "-U");
                if value_option {
                    j += 2;
                } else if t.starts_with('-')
                    || shell::is_assignment(t)
                    || (wrapper == "timeout" && t.starts_with(|c: char| c.is_ascii_digit()))
                {
                    j += 1;
                } else {
                    break;
                }
            }
            name = tool_name(&words.get(j)?.text);
        }
        if SHELLS.contains(&name.as_str()) {
            return Some(name);
        }
        if !(PASS_THROUGH.contains(&name.as_str()) && cmd.then == Joiner::Pipe) {
            return None;
        }
    }
    None
}

/// The command calls a function of its script whose body downloads
/// (`fetch() { curl -fsSL --retry 5 "$@"; }`).
fn wraps_download(step: &Step<'_>) -> bool {
    function_tool(&step.script.body, &step.name_word().text)
        .is_some_and(|t| DOWNLOADERS.contains(&t.as_str()))
}

#[cfg(test)]
mod tests {
    use super::super::tests::findings;
    use crate::audit::Kind;

    #[test]
    fn downloads_run_unchecked_are_found_and_checked_ones_are_not() {
        let pipe = "curl -fsSL https://get.example.com | sudo bash\n";
        assert_eq!(
            findings("f.sh", Kind::Shell, pipe),
            [("unchecked-download".to_string(), 1)]
        );
        let checked =
            "curl -o up.sh https://x/up.sh\nsha256sum -c up.sh.sha256\nchmod +x up.sh\n./up.sh\n";
        assert!(findings("g.sh", Kind::Shell, checked).is_empty());
        let unchecked = "curl -o up.sh https://x/up.sh\nchmod +x up.sh\n./up.sh\n";
        assert_eq!(
            findings("h.sh", Kind::Shell, unchecked),
            [("unchecked-download".to_string(), 1)]
        );
        for body in [
            "iex (iwr https://x/install.ps1)\n",
            "wget -qO- https://x/i.sh | sh\n",
            "bash <(curl -s https://x/i.sh)\n",
        ] {
            assert_eq!(
                findings("k.sh", Kind::Shell, body),
                [("unchecked-download".to_string(), 1)],
                "{body}"
            );
        }
    }

    #[test]
    fn downloads_run_through_files_pipes_wrappers_and_sourcing_are_found() {
        for body in [
            "curl -fsSL https://x/i.sh > i.sh; sh i.sh\n",
            "wget https://x/install.sh?v=2 && sh install.sh\n",
            "curl -fsSL https://x/i.sh | tee i.log | bash\n",
            "curl -sSLf https://get.docker.com | sed s/sleep\\ 20/sleep\\ 0/g | sudo -E sh\n",
            "curl -fsSL https://x/i.sh | tr -d '\\r' | bash\n",
            "curl -fsSL https://x/i.sh | sudo -u root -E bash -\n",
            "eval \"$(curl -fsSL https://x/i.sh)\"\n",
            "source <(curl -sSL https://x/i.sh)\n",
            ". <(wget -qO- https://x/i.sh)\n",
            "sh -c \"$(curl -fsSL https://x/i.sh)\"\n",
            "CURL=\"curl -LsSf\"\n$CURL https://x/i.sh | sh\n",
            "get() { curl -fsSL --retry 3 \"$@\"; }\nget https://x/i.sh | bash\n",
            "function get {\n  wget -qO- \"$1\"\n}\nget https://x/i.sh | sh\n",
        ] {
            let got = findings("d.sh", Kind::Shell, body);
            assert_eq!(got.len(), 1, "{body}: {got:?}");
            assert_eq!(got[0].1, body.lines().count(), "{body}");
            assert_eq!(got[0].0, "unchecked-download", "{body}");
        }
        // Saved, then run by name or path on a later line: reported on the download, where
        // the check belongs.
        for body in [
            "curl -sSf -o rustup-init.exe https://x/rustup-init.exe\nrustup-init.exe -y\n",
            "curl -sSf -o rustup-init.exe https://win.rustup.rs\n./rustup-init.exe -y\n",
            "curl -Os https://x/latest/linux/codecov\nchmod +x codecov\n./codecov -t \"$T\"\n",
            "wget -O /tmp/i.sh https://x/i.sh\necho next\nbash /tmp/i.sh --yes\n",
        ] {
            let (f, _) = crate::audit::audit_text("r.sh", body, Kind::Shell);
            assert_eq!(f.len(), 1, "{body}: {f:?}");
            assert_eq!((f[0].rule, f[0].line), ("unchecked-download", 1), "{body}");
            let last = body.lines().count();
            assert!(f[0].message.contains(&format!("run on line {last}")), "{}", f[0].message);
        }
        let safe = "f() { echo 'export A=1'; }\nf | sh\ncurl -fsSL https://x/i.sh -o i.sh\ncurl -fsSL https://x/i.sh.sha256 -o i.sh.sha256\nsha256sum -c i.sh.sha256\nsh i.sh\ncurl -fsSL https://x/a.json | jq .\ncurl -fsSL https://x/a.json | sed s/a/b/ | jq .\n";
        assert!(findings("s.sh", Kind::Shell, safe).is_empty());
    }

    #[test]
    fn a_php_installer_downloaded_then_run_is_found() {
        let composer = "curl -sS https://getcomposer.org/installer -o composer-setup.php\nphp composer-setup.php --install-dir=bin\ncurl -sS https://getcomposer.org/installer | php\n";
        assert_eq!(
            findings("c.sh", Kind::Shell, composer),
            [
                ("unchecked-download".to_string(), 1),
                ("unchecked-download".to_string(), 3)
            ]
        );
        let checked = "curl -sS https://getcomposer.org/installer -o composer-setup.php\necho \"$SUM  composer-setup.php\" | sha384sum -c -\nphp composer-setup.php\n";
        assert!(findings("d.sh", Kind::Shell, checked).is_empty());
    }

    #[test]
    fn programs_installed_from_an_unchecked_download_are_medium_on_the_download() {
        let tar = "curl -fsSL https://x/t.tar.gz | tar -xz -C /usr/local/bin t\necho done\n";
        let (f, _) = crate::audit::audit_text("a.sh", tar, Kind::Shell);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].line, f[0].severity), (1, crate::audit::Severity::Medium));
        for body in [
            "curl -sL https://x/ko.tgz > ko.tgz\ntar xzf ko.tgz\nmv ko /usr/local/bin/\n",
            "curl -SsLO https://x/oras_1_linux.tar.gz && tar -zxf oras_1_*.tar.gz -C o/\n",
            "curl -o /usr/local/bin/yq https://x/yq && chmod +x /usr/local/bin/yq\nexport PATH\n",
            "wget https://x/tool && chmod +x tool && mv tool /usr/local/bin/\n",
            "curl -sSL --output ${F} https://x/${F}\ntar --extract --gzip --file=\"${F}\" --directory=\"$D\" t\n",
            "curl -sSLo t.tgz https://x/t.tgz\ntar --extract --file t.tgz -C /opt/bin\n",
        ] {
            assert_eq!(
                findings("b.sh", Kind::Shell, body),
                [("unchecked-download".to_string(), 1)],
                "{body}"
            );
        }
        // Run after the install: reported once, as run, on the download.
        let run = "curl -o /usr/local/bin/yq https://x/yq\nchmod +x /usr/local/bin/yq\nyq --version\n";
        assert_eq!(
            findings("r.sh", Kind::Shell, run),
            [("unchecked-download".to_string(), 1)]
        );
        // The same across the lines of a recipe, which share their files.
        let recipe = "tools:\n\tcurl -o /usr/local/bin/yq https://x/yq\n\tchmod +x /usr/local/bin/yq\n\tyq --version\n\ninstall:\n\tcurl -o /usr/local/bin/jq https://x/jq\n\tchmod +x /usr/local/bin/jq\n";
        assert_eq!(
            findings("Makefile", Kind::Make, recipe),
            [
                ("unchecked-download".to_string(), 2),
                ("unchecked-download".to_string(), 7)
            ]
        );
        let checked = "curl -sLO https://x/t.tgz\necho \"abc  t.tgz\" | sha256sum -c -\ntar xzf t.tgz\n";
        assert!(findings("c.sh", Kind::Shell, checked).is_empty());
        let by_variable = "if [ \"$OS\" = darwin ]; then\n  SHATOOL=\"shasum --algorithm 256\"\nelse\n  SHATOOL=sha256sum\nfi\ncurl -L https://x/t.tar.gz --output t.tar.gz\necho \"${SHA}  t.tar.gz\" | ${SHATOOL} --check -\ntar --extract --file=t.tar.gz t\n";
        assert!(findings("v.sh", Kind::Shell, by_variable).is_empty());
    }

    #[test]
    fn packages_downloaded_then_installed_are_medium_on_each_download() {
        let rpms = "wget https://copr.example.org/zlib-1.3.2-1.fc43.x86_64.rpm\nwget https://copr.example.org/zlib-devel-1.3.2-1.fc43.x86_64.rpm\ndnf -y install --nobest *.rpm\n";
        assert_eq!(
            findings("a.sh", Kind::Shell, rpms),
            [
                ("unchecked-download".to_string(), 1),
                ("unchecked-download".to_string(), 2)
            ]
        );
        for body in [
            "curl -fsSLo /tmp/tool.deb https://x/tool_1_amd64.deb\nsudo dpkg -i /tmp/tool.deb\n",
            "curl -LO https://x/tool-1.x86_64.rpm\nrpm -Uvh tool-1.x86_64.rpm\n",
            "wget -q https://x/tool_1_amd64.deb\napt-get install -y ./tool_1_amd64.deb\n",
        ] {
            assert_eq!(
                findings("b.sh", Kind::Shell, body),
                [("unchecked-download".to_string(), 1)],
                "{body}"
            );
        }
        for checked in [
            "wget https://x/z-1.rpm\nrpm --import https://x/key.asc\nrpm -K z-1.rpm\ndnf -y install ./z-1.rpm\n",
            "wget https://x/a.rpm https://x/SUMS\nsha256sum -c SUMS\nyum install -y *.rpm\n",
            "curl -fsSLo t.deb https://x/t.deb\ngpg --verify t.deb.asc t.deb\ndpkg -i t.deb\n",
            // A package queried, not installed.
            "wget https://x/z-1.rpm\nrpm -qip z-1.rpm\n",
        ] {
            assert!(findings("c.sh", Kind::Shell, checked).is_empty(), "{checked}");
        }
    }

    #[test]
    fn a_script_of_the_tree_that_downloads_its_arguments_is_a_downloader() {
        let scurl = "#!/usr/bin/env sh\nexec curl --proto '=https' --tlsv1.2 -sSfL \"$@\"\n";
        let wf = "on: push\njobs:\n  it:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: bin/scurl -v https://sh.rustup.rs | sh -s -- -y\n      - run: |\n          ./bin/scurl -vo /usr/local/bin/yq \"https://x/yq_linux_amd64\" && chmod +x /usr/local/bin/yq\n          bin/scurl -v https://x/nextest.tar.gz | tar zxf - -C ~/.cargo/bin\n      - run: bin/scurl -fsSL https://x/index.json | jq -r .version\n";
        let found = crate::audit::audit_texts(&[("bin/scurl", scurl), (".github/workflows/it.yml", wf)]);
        let got: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(
            got,
            [
                ("unchecked-download", 6),
                ("unchecked-download", 8),
                ("unchecked-download", 9)
            ]
        );
        assert!(found[0].message.contains("bin/scurl (curl)"), "{}", found[0].message);
        // Without the script in the tree, `bin/scurl` is an unknown command.
        assert!(crate::audit::audit_texts(&[(".github/workflows/it.yml", wf)]).is_empty());
    }
}
