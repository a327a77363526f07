#![no_main]
//! docker-archive tarballs and manifests from anywhere: load or fail cleanly.

use hallmark::artifact;
use hallmark::reference::Source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("hallmark-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("input.tar");
    if std::fs::write(&path, data).is_ok() {
        let _ = artifact::load(&Source::DockerArchive(path));
    }
});
