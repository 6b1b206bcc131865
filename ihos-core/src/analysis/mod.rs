//! Canary analysis from the load balancer's own access log: which backend served each
//! request, its status and its time, exactly attributed, judged with exact tests.
//!
//! - [`LogFormat`]: the LB's `log_format`, compiled ([`LogFormat::missing`]: what the
//!   analysis needs and it lacks); [`LineReader`] reads a line back with it.
//! - [`Analyzer`]: bytes in chunks cut anywhere → a [`Tally`] per [`Side`] (canary or
//!   fleet, by [`Backends`]), per try, within a [`Window`]; unparsed lines counted.
//! - [`Analysis::of`]: the tally judged against [`Thresholds`]: Fisher's exact test on the
//!   error rates, Mann-Whitney U on the times ([`Histogram`]s, exact at nginx's millisecond
//!   resolution) with the Hodges-Lehmann shift as its effect size; a [`Verdict`].
//! - [`LogCursor`] and [`read_new`]: the log on its host read incrementally, by byte
//!   offset, following a rotation to `access.log.1`.

mod clock;
mod cursor;
mod format;
mod histogram;
mod line;
mod stats;
mod tally;
mod verdict;

pub use cursor::{Fingerprint, LogCursor, LogRead, end_of, read_head, read_new};
pub use format::{COMBINED, Escape, Field, FormatError, LogFormat};
pub use histogram::Histogram;
pub use line::{LineReader, Mismatch};
pub use stats::{MannWhitney, fisher_greater, hodges_lehmann, mann_whitney_greater};
pub use tally::{Analyzer, BackendCount, Backends, Side, SideTally, Tally, Unparsed, Window};
pub use verdict::{Analysis, Metric, MetricResult, SideSummary, Thresholds, Verdict};
