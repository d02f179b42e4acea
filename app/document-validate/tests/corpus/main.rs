//! The validator against documents from real producers and against the reference tools
//! (`pngcheck`, `qpdf --check`), one module per format.

mod pdf;
mod png;
mod rng;
