//! Progress of the long-running calls (evaluation, cases, embedding training images), as
//! events for a front-end to show: the CLI draws progress bars, a notebook may log.

/// A stretch of work with a known number of items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `eval`: every image of the dataset (or of the rest of it, when resuming).
    Evaluate,
    /// `cases`, first pass: the prediction of every image.
    Predict,
    /// `cases --train`: training images embedded (not served from the cache).
    Embed,
    /// `cases`, second pass: the maps of the kept images.
    Explain,
}

/// One progress event.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress<'a> {
    /// A phase begins with `total` items.
    Begin(Phase, usize),
    /// Work on the item called so begins.
    Item(&'a str),
    /// One item is done.
    Step,
    /// The phase is over.
    End(Phase),
    /// Something the user should know; the work goes on.
    Warning(&'a str),
    /// A line of information between phases (what was resumed, what the cache served).
    Note(&'a str),
}
