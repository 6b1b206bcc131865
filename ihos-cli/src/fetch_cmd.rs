//! `ihos fetch`: the runbook's step 1 through the library's `TeamCityClient`, with a
//! progress bar on stderr (plain lines when stderr is not a terminal).

use std::io::IsTerminal;
use std::path::Path;

use ihos_core::{FetchOptions, FetchProgress, TeamCityClient};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::exit::CliError;
use crate::output;

/// `ihos fetch [--build ID] [--output FILE] [--json]`.
pub fn fetch(config: &Path, build: Option<u64>, out: &Path, json: bool) -> Result<(), CliError> {
    let topology = crate::connect::topology(config)?;
    let Some(tc) = &topology.teamcity else {
        return Err(CliError::Usage(format!(
            "{}: no [teamcity] section: add one with url and build_type (see examples/ihos.toml)",
            config.display()
        )));
    };
    let client = TeamCityClient::new(tc)?;
    let mut options = FetchOptions::new(out);
    options.build = build;
    let mut shown = Shown::new();
    let result = client.fetch(&options, &mut |p| shown.progress(p));
    shown.clear();
    let fetched = result?;
    let s = &fetched.sidecar;
    output::message(&format!(
        "fetched {}: build #{} (id {}) of {}, server-release: {}, sha256 {}, {} bytes in {:.1}s{}",
        fetched.war.path.display(),
        s.build_number,
        s.build_id,
        s.build_type,
        s.commit.as_deref().unwrap_or("unknown"),
        s.sha256,
        s.bytes,
        fetched.seconds,
        if fetched.resumed_from > 0 {
            format!(" (resumed after {} bytes)", fetched.resumed_from)
        } else {
            String::new()
        }
    ));
    if json {
        crate::drive::json_line(s)?;
    }
    Ok(())
}

/// How the download is shown: a bar on a terminal, a line per quarter otherwise.
struct Shown {
    bar: Option<ProgressBar>,
    terminal: bool,
    quarters: u64,
}

impl Shown {
    fn new() -> Self {
        Shown {
            bar: None,
            terminal: std::io::stderr().is_terminal(),
            quarters: 0,
        }
    }

    fn progress(&mut self, p: &FetchProgress) {
        match p {
            FetchProgress::BuildChosen { build, artifact } => {
                output::message(&format!(
                    "build #{} (id {}) of {}{}, server-release: {}: {} ({} bytes)",
                    build.number,
                    build.id,
                    build.build_type,
                    build
                        .branch
                        .as_ref()
                        .map(|b| format!(" on {b}"))
                        .unwrap_or_default(),
                    build.commit.as_deref().unwrap_or("unknown"),
                    artifact.path,
                    artifact.size
                ));
                if self.terminal {
                    let bar = ProgressBar::with_draw_target(
                        Some(artifact.size),
                        ProgressDrawTarget::stderr(),
                    );
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    self.bar = Some(bar);
                }
            }
            FetchProgress::Resuming { from, total } => self.line(&format!(
                "resuming the partial download at byte {from} of {total}"
            )),
            FetchProgress::StartingOver { reason } => self.line(&format!(
                "cannot resume the partial download: {reason}; downloading the whole artifact again"
            )),
            FetchProgress::Downloading { done, total } => match &self.bar {
                Some(bar) => bar.set_position(*done),
                None => {
                    let quarter = if *total == 0 { 4 } else { done * 4 / total };
                    if quarter > self.quarters {
                        self.quarters = quarter;
                        output::message(&format!(
                            "downloaded {}% ({done} of {total} bytes)",
                            quarter * 25
                        ));
                    }
                }
            },
            FetchProgress::Verifying => {
                self.clear();
                output::message("checking the WAR");
            }
            _ => {}
        }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => output::message(text),
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
