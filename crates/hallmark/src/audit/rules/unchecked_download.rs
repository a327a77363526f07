//! `unchecked-download`: a download run without a checksum or signature check: piped to an
//! interpreter, substituted into one, or saved and run before anything checks it.

use crate::audit::check::commands::{DOWNLOADERS, SHELLS, Step, command_name};
use crate::audit::check::state::ShellState;
use crate::audit::check::{Check, Cx};
use crate::audit::shell::Joiner;
use crate::audit::{Rule, Severity};

pub(super) const RULE: Rule = Rule {
    id: "unchecked-download",
    severity: Severity::High,
    title: "A download is executed without a checksum or signature check",
    help: "`curl … | bash` runs whatever the server (or anyone who changed it) sends today: the Codecov uploader compromise. Download to a file, check it (`sha256sum -c`, `hallmark verify-blob FILE --key KEY --bundle B`), then run it.",
    help_url: super::help_url!("unchecked-download"),
};

pub(super) const CHECK: &dyn Check = &UncheckedDownload;

struct UncheckedDownload;

impl Check for UncheckedDownload {
    fn command(&self, cx: &mut Cx<'_>, step: &Step<'_>, st: &ShellState) {
        let name = step.name.as_str();
        let at = step.at(step.name_word());
        // `curl … | bash`.
        if DOWNLOADERS.contains(&name)
            && step.cmd().then == Joiner::Pipe
            && let Some(next) = step.next()
            && let Some(n) = next.name()
        {
            let mut interp = command_name(n);
            if interp == "sudo" || interp == "env" {
                interp = next
                    .args()
                    .first()
                    .map(|w| w.text.to_ascii_lowercase())
                    .unwrap_or_default();
            }
            if SHELLS.contains(&interp.as_str()) {
                cx.report(
                    &RULE,
                    None,
                    at,
                    &format!("{name}|{interp}"),
                    format!("the output of {name} is run by {interp} unchecked"),
                );
            }
        }
        // `bash <(curl …)`, `sh -c "$(curl …)"`, `iex (iwr …)`.
        if SHELLS.contains(&name) {
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
                if powershell
                    || ((t.contains("$(curl") || t.contains("$(wget") || t.contains("<(curl"))
                        && !t.contains("sha256sum"))
                {
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
        // A file downloaded, then run with nothing checking it in between.
        if let Some(f) = st.runs_download(step) {
            cx.report(
                &RULE,
                None,
                at,
                &format!("run:{f}"),
                format!("{f} is downloaded and run without a checksum or signature check"),
            );
        }
    }
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
            [("unchecked-download".to_string(), 3)]
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
}
