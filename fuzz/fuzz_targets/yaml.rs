#![no_main]
//! Pipeline and deployment YAML comes from pull requests: the reader must end on any input
//! with a tree or an error, however deep the nesting (a file of 40 000 nested `- ` once
//! overflowed the stack), and walking, auditing and dropping what it built must not
//! recurse or panic. Aliases are followed within the node limit (nested aliases are an
//! error, not a tree that fills memory). `pin` reads the same files through
//! `image_spans`.
//!
//! Seeds, the deep cases among them, are in fuzz/seeds/yaml; scripts/fuzz copies them into
//! the corpus before it runs.

use hallmark::audit::{self, Kind, images, yaml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match yaml::parse(&text) {
        Ok(docs) => {
            for doc in &docs {
                let mut depth_first = 0usize;
                doc.walk(&mut |_, _| depth_first += 1);
                assert!(depth_first <= yaml::MAX_NODES + 1);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // One kind per input, picked by its length (mutations change it): a file at the node
    // budget costs a full load for each kind, and all of them in one run would take longer
    // than the time an input is allowed.
    let kind = KINDS[data.len() % KINDS.len()];
    let _ = images::image_spans(&text, kind);
    let _ = audit::audit_text("fuzz.yml", &text, kind);
});

const KINDS: [Kind; 13] = [
    Kind::Workflow,
    Kind::Action,
    Kind::GitLab,
    Kind::CircleCi,
    Kind::Compose,
    Kind::Kubernetes,
    Kind::Taskfile,
    Kind::Travis,
    Kind::Azure,
    Kind::Bitbucket,
    Kind::Buildkite,
    Kind::Drone,
    Kind::CloudBuild,
];
