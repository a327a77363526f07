#![no_main]
//! OCI data from layouts and registries: `index.json` and the manifest-graph walker.

use bytes::Bytes;
use hallmark::oci::{Index, Manifest, Walk};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut index) = Index::parse(data) {
        let _ = index.pick(None, None);
        let tags = index.tags();
        if let Some(e) = index.entries().first().cloned() {
            index.set(&e.digest, "m", e.size, Some("fuzz"));
        }
        let back = Index::parse(&index.to_bytes()).expect("an index we write parses");
        assert!(back.entries().len() <= tags.len() + index.entries().len() + 1);
    }
    if let Ok(m) = Manifest::from_bytes(Bytes::copy_from_slice(data), None)
        && let Ok(mut walk) = Walk::new(m.clone())
    {
        // The only manifest there is: every child resolves to it (or is refused).
        while let Some(_child) = walk.next() {
            if walk.add(m.clone()).is_err() {
                return;
            }
        }
        let graph = walk.finish();
        assert_eq!(graph.manifests.last().map(|x| &x.digest), Some(&m.digest));
    }
});
