//! A report as a small document tree, so the Markdown and HTML renderers
//! show the same content and differ only in syntax.

use super::plot::Plot;

#[derive(Debug, Clone, PartialEq)]
pub enum Span {
    Text(String),
    Bold(String),
    Code(String),
    /// Text and a relative link target.
    Link(String, String),
}

pub fn text(s: impl Into<String>) -> Span {
    Span::Text(s.into())
}
pub fn bold(s: impl Into<String>) -> Span {
    Span::Bold(s.into())
}
pub fn code(s: impl Into<String>) -> Span {
    Span::Code(s.into())
}

pub enum Block {
    Heading(u8, String),
    Paragraph(Vec<Span>),
    /// A bulleted list, one line of spans per item.
    List(Vec<Vec<Span>>),
    /// Header cells, then rows; numeric columns are right-aligned.
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
        numeric: Vec<bool>,
    },
    Code {
        lang: &'static str,
        text: String,
    },
    Plot(Plot),
}

pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}
