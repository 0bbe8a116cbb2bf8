//! Progress on stderr for work that can take a while (hashing a large change set, rebuilding a
//! replay), shown only when stderr is a terminal and `--quiet` is off: pipes, files and CI logs
//! get no control sequences.

use std::io::IsTerminal as _;
use std::time::Duration;

use super::Ctx;

/// A spinner with a message and the elapsed time; cleared when dropped.
pub struct Spinner(Option<indicatif::ProgressBar>);

impl Spinner {
    pub fn start(ctx: &Ctx, message: &str) -> Spinner {
        if ctx.quiet || !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        let style = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_message(message.to_string());
        bar.tick();
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner(Some(bar))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
