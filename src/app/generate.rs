//! `opintel generate`: the sample operation of the `opintel-gen` crate, written as
//! nightly exports with their 3PL mapping and the planted ground truth.

use crate::error::{Error, Result};
use crate::progress::Shared;

pub use opintel_gen::{GenerateOptions, GenerateSummary};

/// Generate into `opts.out`, reporting each step to `progress`.
pub fn generate(opts: &GenerateOptions, progress: &Shared) -> Result<GenerateSummary> {
    progress.start("generate", 0);
    let result = opintel_gen::generate(opts, &|msg| progress.message(msg));
    progress.finish();
    result.map_err(|e| Error::input(&opts.out, format!("cannot generate here: {e}")))
}
