//! `hallmark demo`: narrates the library's demo scenario.

use hallmark::digest::Digest;
use hallmark::layout::Layout;
use hallmark::reference::ImageRef;
use hallmark::store::Store;

use crate::Outcome;
use crate::cli::DemoArgs;
use crate::commands::{Clients, client};
use crate::exit::CliError;
use crate::output::demo::DemoResult;
use crate::output::{self, Ui};

/// Deletes what the demo pushed; says so either way. True when everything went.
async fn remove(stores: &[Store], ui: Ui) -> bool {
    let mut deleted = 0;
    for s in stores {
        match s.delete_all().await {
            Ok(n) => deleted += n,
            Err(e) => {
                ui.say_outside(
                    &format!("warning: could not remove {}: ", s.name()),
                    &e.to_string(),
                );
                ui.say("  (the registry may not allow deletes; remove the repositories by hand, or pass --keep to keep them on purpose)");
                return false;
            }
        }
    }
    ui.say(format!(
        "Removed them ({deleted} manifests deleted); pass --keep to keep them."
    ));
    true
}

/// `hallmark demo`.
pub async fn run(args: &DemoArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    let k = &args.keyless_args;
    let keyless_flag_given = k.identity_token.is_some()
        || k.signing_config.is_some()
        || k.fulcio_url.is_some()
        || k.rekor_url.is_some()
        || k.timestamp_server_url.is_some()
        || args.sigstore.sigstore_allow_http
        || args.sigstore.sigstore_ca_file.is_some();
    if keyless_flag_given && !args.keyless {
        return Err(CliError::usage(
            "the Sigstore flags are used only by the keyless demo",
            Some("add --keyless, or leave them out for the demo with a generated key"),
        ));
    }
    // Made before anything is created: a token or service flag that cannot be used is a
    // usage error with nothing to clean up.
    let keyless = match args.keyless {
        true => {
            let client = crate::signers::service_client(&args.sigstore, clients)?;
            let signer = crate::keyless::signer(k, client)?;
            let token = signer.token().await?;
            Some((token, signer.sigstore()))
        }
        false => None,
    };
    let dir = tempfile::tempdir().map_err(|e| {
        CliError::usage(
            format!("cannot create a temporary directory: {e}"),
            Some("set TMPDIR to a writable directory"),
        )
    })?;
    let (naive, guarded, place, created) = match &args.registry {
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
                false,
            )
        }
        Some(host) => {
            let client = client(&args.registry_args, ui, clients)?;
            let run_id = Digest::sha256(dir.path().as_os_str().as_encoded_bytes());
            let base = format!("{host}/hallmark-demo/{}", &run_id.hex()[..8]);
            let repo = |name: &str| -> anyhow::Result<Store> {
                let r =
                    ImageRef::parse(&format!("{base}/{name}")).map_err(hallmark::Error::from)?;
                Ok(Store::registry(&client, &r)?)
            };
            (
                repo("naive")?,
                repo("app")?,
                format!("registry {host}, repositories {base}/…"),
                true,
            )
        }
    };
    ui.say("hallmark demo: artifact poisoning, and how signing by digest stops it");
    ui.say(format!("using {place}"));
    let mut act = 0;
    let stores = [naive.clone(), guarded.clone()];
    let on_step = |s: &hallmark::demo::Step| {
        // Only stderr is written: nothing here can fail.
        let _ = ui.text(|t| {
            output::demo::step(t, s, act);
            Ok(())
        });
        act = s.act;
    };
    let steps = match &keyless {
        None => hallmark::demo::run(naive, guarded, on_step).await?,
        Some((token, sigstore)) => {
            ui.say(format!(
                "signing keyless as {} ({})",
                crate::sanitize::line(&token.claims.subject),
                crate::sanitize::line(&token.claims.issuer)
            ));
            hallmark::demo::run_keyless(naive, guarded, token, sigstore, on_step).await?
        }
    };
    let repositories: Vec<String> = if created {
        stores.iter().map(Store::name).collect()
    } else {
        Vec::new()
    };
    let mut removed = false;
    if created {
        ui.say(format!(
            "\nThe demo created {}.",
            repositories.join(" and ")
        ));
        if args.keep {
            ui.say("They are kept (--keep).");
        } else {
            removed = remove(&stores, ui).await;
        }
    }
    let result = DemoResult::new(&steps, repositories, removed);
    ui.emit(&result)?;
    if result.passed() {
        Ok(Outcome::Ok)
    } else {
        ui.say("error: some demo steps did not behave as expected (marked !!)");
        Ok(Outcome::Denied)
    }
}
