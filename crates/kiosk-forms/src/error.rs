use thiserror::Error;

/// What can go wrong while drawing, printing or reading paper.
#[derive(Debug, Error)]
pub enum FormsError {
    /// A form template is malformed or refers to something unknown.
    #[error("form template {name}: {problem}")]
    Template { name: String, problem: String },
    /// No usable CJK font at the given place.
    #[error("font {path}: {problem}")]
    Font { path: String, problem: String },
    /// The PDF writer reported a problem.
    #[error("PDF generation failed: {0}")]
    Pdf(String),
    /// A picture could not be decoded or encoded.
    #[error("image: {0}")]
    Image(#[from] image::ImageError),
    /// The print system (CUPS) could not be reached or refused the request.
    #[error("print system: {0}")]
    Print(#[from] crate::print::PrintError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}
