//! Real components: the system CJK font, poppler's tools on the PDFs, and
//! the image pipeline on synthetic scans.

mod forms;
mod scans;
