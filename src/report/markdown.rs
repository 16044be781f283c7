//! report.md: the document in GitHub-flavoured Markdown, plots as PNG links.

use super::document::{Block, Document, Span};
use std::fmt::Write;

fn spans(line: &[Span]) -> String {
    line.iter()
        .map(|s| match s {
            Span::Text(t) => t.clone(),
            Span::Bold(t) => format!("**{t}**"),
            Span::Code(t) if t.contains('`') => format!("`` {t} ``"),
            Span::Code(t) => format!("`{t}`"),
            Span::Link(t, href) => format!("[{t}]({href})"),
        })
        .collect()
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

pub fn render(doc: &Document) -> String {
    let mut out = format!("# {}\n", doc.title);
    for block in &doc.blocks {
        out.push('\n');
        match block {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "{} {text}", "#".repeat(*level as usize));
            }
            Block::Paragraph(line) => {
                let _ = writeln!(out, "{}", spans(line));
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(out, "- {}", spans(item));
                }
            }
            Block::Table {
                header,
                rows,
                numeric,
            } => {
                let _ = writeln!(
                    out,
                    "| {} |",
                    header
                        .iter()
                        .map(|h| cell(h))
                        .collect::<Vec<_>>()
                        .join(" | ")
                );
                let align: Vec<&str> = numeric
                    .iter()
                    .map(|&n| if n { "---:" } else { "---" })
                    .collect();
                let _ = writeln!(out, "| {} |", align.join(" | "));
                for row in rows {
                    let _ = writeln!(
                        out,
                        "| {} |",
                        row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
                    );
                }
            }
            Block::Code { lang, text } => {
                let _ = writeln!(out, "```{lang}\n{text}\n```");
            }
            Block::Plot(plot) => {
                let _ = writeln!(out, "![{}]({}.png)", plot.title, plot.stem);
            }
        }
    }
    out
}
