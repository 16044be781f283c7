//! index.html: the document as one self-contained page (inline CSS and SVG,
//! nothing fetched), readable on a phone and when printed.

use super::document::{Block, Document, Span};
use std::fmt::Write;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn spans(line: &[Span]) -> String {
    line.iter()
        .map(|s| match s {
            Span::Text(t) => escape(t),
            Span::Bold(t) => format!("<strong>{}</strong>", escape(t)),
            Span::Code(t) => format!("<code>{}</code>", escape(t)),
            Span::Link(t, href) => format!("<a href=\"{}\">{}</a>", escape(href), escape(t)),
        })
        .collect()
}

const STYLE: &str = "
:root { --fg: #1d1d1f; --muted: #5f6368; --line: #d9dce1; --head: #f3f5f8; --accent: #0072b2; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; color: var(--fg);
       max-width: 1100px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
code, pre { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: .9em; }
code { background: var(--head); padding: 0 .2em; border-radius: 3px; }
pre { background: var(--head); padding: .75rem; overflow-x: auto; border-radius: 4px; }
.table { overflow-x: auto; margin: .5rem 0 1rem; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; white-space: nowrap; }
th { background: var(--head); } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figure svg { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: .9rem; }
@media (max-width: 600px) { body { font-size: 14px; padding: .5rem; } th, td { padding: .2rem .35rem; } }
@media print { body { max-width: none; } h2 { break-after: avoid; } figure, table { break-inside: avoid; }
               .table { overflow: visible; } pre { white-space: pre-wrap; } }
";

/// plotters' SVG with a viewBox, so CSS can scale it to the page.
fn responsive_svg(svg: &str) -> String {
    let svg = svg.trim_start_matches(|c| c != '<');
    let svg = match svg.find("?>") {
        Some(end) if svg.starts_with("<?xml") => svg[end + 2..].trim_start(),
        _ => svg,
    };
    if svg.contains("viewBox") {
        return svg.to_string();
    }
    let size = super::plot::SIZE;
    svg.replacen(
        "<svg ",
        &format!("<svg viewBox=\"0 0 {} {}\" ", size.0, size.1),
        1,
    )
}

pub fn render(doc: &Document) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&doc.title),
        escape(&doc.title)
    );
    for block in &doc.blocks {
        match block {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "<h{level}>{}</h{level}>", escape(text));
            }
            Block::Paragraph(line) => {
                let _ = writeln!(out, "<p>{}</p>", spans(line));
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", spans(item));
                }
                out.push_str("</ul>\n");
            }
            Block::Table {
                header,
                rows,
                numeric,
            } => {
                let class = |i: usize| {
                    if numeric.get(i).copied().unwrap_or(false) {
                        " class=\"n\""
                    } else {
                        ""
                    }
                };
                out.push_str("<div class=\"table\"><table>\n<thead><tr>");
                for (i, h) in header.iter().enumerate() {
                    let _ = write!(out, "<th{}>{}</th>", class(i), escape(h));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for (i, c) in row.iter().enumerate() {
                        let _ = write!(out, "<td{}>{}</td>", class(i), escape(c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody></table></div>\n");
            }
            Block::Code { lang, text } => {
                let _ = writeln!(
                    out,
                    "<pre><code class=\"language-{lang}\">{}</code></pre>",
                    escape(text)
                );
            }
            Block::Plot(plot) => {
                let _ = writeln!(
                    out,
                    "<figure class=\"plot\" id=\"{}\">\n{}\n<figcaption>{} (<a href=\"{}.png\">PNG</a>, <a href=\"{}.svg\">SVG</a>)</figcaption>\n</figure>",
                    plot.stem,
                    responsive_svg(&plot.svg),
                    escape(&plot.title),
                    plot.stem,
                    plot.stem
                );
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn svg_gets_a_view_box_and_loses_its_xml_declaration() {
        let svg =
            responsive_svg("<?xml version=\"1.0\"?>\n<svg width=\"900\" height=\"480\"></svg>");
        assert!(
            svg.starts_with("<svg viewBox=\"0 0 900 480\" width="),
            "{svg}"
        );
    }
}
