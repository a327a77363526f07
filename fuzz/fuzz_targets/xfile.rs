#![no_main]
//! Values followed from one pipeline file into another come from pull requests too: the
//! input is split at `\0` bytes into files that call each other (a composite action and
//! workflows that use it, an Azure pipeline and its templates, GitLab files merged into
//! one configuration), and auditing them as one tree must end, bounded, whatever the calls
//! (loops of templates, values naming variables that name many more), without a panic.

use hallmark::audit;
use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &[
    ".github/actions/a/action.yml",
    ".github/workflows/a.yml",
    ".github/workflows/b.yml",
    "azure-pipelines.yml",
    ".azure-pipelines/a.yml",
    "t/b.yml",
    ".gitlab-ci.yml",
    ".gitlab/ci/b.yml",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let files: Vec<(&str, &str)> = NAMES.iter().copied().zip(text.split('\0')).collect();
    let _ = audit::audit_texts(&files);
});
