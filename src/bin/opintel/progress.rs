//! Progress bars on a terminal (indicatif), for the library's `Progress` callbacks.

use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use opintel::progress::{Progress, Shared};

/// A bar on stderr when it is a terminal and not `--quiet`; nothing otherwise.
pub fn for_terminal(quiet: bool) -> Shared {
    if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return opintel::progress::silent();
    }
    Arc::new(Bar {
        bar: Mutex::new(None),
    })
}

struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        let b = if total > 0 {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(&format!(
                    "{{spinner}} {what} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}} {{wide_msg}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        } else {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template(&format!(
                    "{{spinner}} {what} {{elapsed}} {{wide_msg}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        };
        if let Ok(mut slot) = self.bar.lock()
            && let Some(old) = slot.replace(b)
        {
            old.finish_and_clear();
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(b) = slot.as_ref()
        {
            b.inc(n);
        }
    }

    fn message(&self, text: &str) {
        if let Ok(slot) = self.bar.lock()
            && let Some(b) = slot.as_ref()
        {
            b.set_message(text.to_string());
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(b) = slot.take()
        {
            b.finish_and_clear();
        }
    }
}
