//! Transfer progress on stderr: one bar per blob in flight and a total, with bytes/s.
//! Only on a terminal, never under CI=true or --quiet.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use hallmark::digest::Digest;
use hallmark::oci::Blob;
use hallmark::registry::BlobPush;
use hallmark::transfer::TransferProgress;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::output::Ui;

pub fn wanted(ui: Ui) -> bool {
    !ui.quiet
        && std::io::stderr().is_terminal()
        && std::env::var("CI").map_or(true, |v| v.is_empty() || v == "false")
}

pub struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    blobs: Mutex<HashMap<Digest, (ProgressBar, u64)>>,
}

impl Bars {
    pub fn new() -> Bars {
        let multi = MultiProgress::new();
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        total.set_prefix("total");
        Bars {
            multi,
            total,
            blobs: Mutex::new(HashMap::new()),
        }
    }
}

impl TransferProgress for Bars {
    fn blobs(&self, count: usize, total_bytes: u64) {
        self.total.set_length(total_bytes);
        self.total.set_message(format!("{count} blobs"));
    }

    fn blob_started(&self, blob: &Blob) {
        let bar = self
            .multi
            .insert_before(&self.total, ProgressBar::new(blob.size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(blob.digest.hex()[..8].to_string());
        self.blobs
            .lock()
            .expect("bars lock")
            .insert(blob.digest.clone(), (bar, 0));
    }

    fn blob_progress(&self, blob: &Blob, sent: u64) {
        let mut blobs = self.blobs.lock().expect("bars lock");
        if let Some((bar, last)) = blobs.get_mut(&blob.digest) {
            bar.set_position(sent);
            self.total.inc(sent.saturating_sub(*last));
            *last = sent;
        }
    }

    fn blob_finished(&self, blob: &Blob, _how: BlobPush) {
        if let Some((bar, last)) = self.blobs.lock().expect("bars lock").remove(&blob.digest) {
            self.total.inc(blob.size.saturating_sub(last));
            bar.finish_and_clear();
        }
    }

    fn step(&self, message: &str) {
        self.total.set_message(message.to_string());
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.total.finish_and_clear();
    }
}
