//! `hallmark demo`: narrates the library's demo scenario.

use hallmark::layout::Layout;
use hallmark::reference::ImageRef;
use hallmark::store::Store;

use crate::cli::DemoArgs;
use crate::commands::client;
use crate::{Outcome, Ui};

pub async fn run(args: &DemoArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir().map_err(|e| hallmark::Error::Usage {
        message: format!("cannot create a temporary directory: {e}"),
        hint: Some("set TMPDIR to a writable directory".into()),
    })?;
    let (naive, guarded, place) = match &args.registry {
        None => {
            let naive = Layout::create(&dir.path().join("naive")).map_err(hallmark::Error::from)?;
            let guarded = Layout::create(&dir.path().join("app")).map_err(hallmark::Error::from)?;
            (
                Store::Layout(naive),
                Store::Layout(guarded),
                format!(
                    "temporary OCI layouts in {} (no server)",
                    dir.path().display()
                ),
            )
        }
        Some(host) => {
            let client = client(&args.registry_args)?;
            let run_id =
                hallmark::digest::Digest::sha256(dir.path().as_os_str().as_encoded_bytes());
            let base = format!("{host}/hallmark-demo/{}", &run_id.hex()[..8]);
            let repo = |name: &str| -> anyhow::Result<Store> {
                Ok(Store::Registry {
                    client: client.clone(),
                    repo: ImageRef::parse(&format!("{base}/{name}"))
                        .map_err(hallmark::Error::from)?,
                })
            };
            (
                repo("naive")?,
                repo("app")?,
                format!("registry {host}, repositories {base}/…"),
            )
        }
    };
    ui.say("hallmark demo: artifact poisoning, and how signing by digest stops it");
    ui.say(format!("using {place}"));
    let mut act = 0;
    let steps = hallmark::demo::run(naive, guarded, |s| {
        if s.act != act {
            act = s.act;
            ui.say(match act {
                1 => "\nAct 1: the naive pipeline pushes app:v1.1, then signs it by tag",
                _ => "\nAct 2: the same race, with hallmark",
            });
        }
        let mark = if s.as_expected { "ok " } else { "!! " };
        ui.say(format!(
            "  {mark}[{:<8}] {}\n               → {}",
            s.actor, s.action, s.outcome
        ));
    })
    .await?;
    let all_ok = steps.iter().all(|s| s.as_expected);
    if ui.json {
        println!("{}", serde_json::json!({"passed": all_ok, "steps": steps}));
    }
    if all_ok {
        ui.say("\nResult: signing by tag signed the poisoned image; hallmark refused the tag, signed the");
        ui.say("digest that was built, and only the pinned digest verifies. Every step behaved as expected.");
        Ok(Outcome::Ok)
    } else {
        eprintln!("error: some demo steps did not behave as expected (marked !!)");
        Ok(Outcome::Denied)
    }
}
