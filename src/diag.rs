//! Diagnostics: every user-facing error or warning carries the file, the byte
//! span (miette turns it into line, column and a snippet), and a hint.

use miette::{LabeledSpan, NamedSource, Severity, SourceCode, SourceSpan};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A loaded source file, shared by every diagnostic that points into it.
#[derive(Clone)]
pub struct SourceFile {
    pub name: Arc<str>,
    pub text: Arc<str>,
    named: Arc<Snippets>,
    /// Set when this text was translated from another file (`*.pkr.json`
    /// is read as native syntax written from the JSON): diagnostics then
    /// point into that file instead.
    remap: Option<Arc<Remap>>,
}

/// Where the pieces of a translated text came from.
pub struct Remap {
    origin: SourceFile,
    /// (range in the translation, range in the origin), any order, nested.
    segments: Vec<(Range<usize>, Range<usize>)>,
}

impl Remap {
    pub fn new(origin: SourceFile, segments: Vec<(Range<usize>, Range<usize>)>) -> Remap {
        Remap { origin, segments }
    }

    /// The origin offset of a translation offset: through the smallest
    /// segment holding it, keeping the distance from its start (exact for
    /// strings, whose escapes have the same length in both syntaxes).
    fn point(&self, off: usize) -> usize {
        let best = self
            .segments
            .iter()
            .filter(|(t, _)| t.start <= off && off < t.end.max(t.start + 1))
            .min_by_key(|(t, _)| t.end - t.start)
            .or_else(|| {
                self.segments
                    .iter()
                    .filter(|(t, _)| t.start <= off)
                    .max_by_key(|(t, _)| t.start)
            });
        match best {
            Some((t, o)) => o.start + (off.saturating_sub(t.start)).min(o.len().saturating_sub(1)),
            None => 0,
        }
    }

    fn span(&self, r: Range<usize>) -> Range<usize> {
        let s = self.point(r.start);
        let e = if r.end > r.start {
            self.point(r.end - 1) + 1
        } else {
            s
        };
        s..e.max(s)
    }
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let name: Arc<str> = Arc::from(name.into());
        let text: Arc<str> = Arc::from(text.into());
        let named = Arc::new(Snippets(
            NamedSource::new(&name, text.clone()).with_language("hcl"),
        ));
        SourceFile {
            name,
            text,
            named,
            remap: None,
        }
    }

    /// This text, translated from `remap`'s origin.
    pub fn with_remap(mut self, remap: Remap) -> SourceFile {
        self.remap = Some(Arc::new(remap));
        self
    }

    /// The file and span a diagnostic shows for `span` of this text.
    pub fn resolve(&self, span: Range<usize>) -> (&SourceFile, Range<usize>) {
        match &self.remap {
            Some(m) => (&m.origin, m.span(span)),
            None => (self, span),
        }
    }

    /// `span` as a label can show it: cut to the window of its first line
    /// when its snippet would hold a long line.
    fn fit_label(&self, span: Range<usize>) -> Range<usize> {
        let len = span.end.saturating_sub(span.start);
        if !self
            .named
            .too_wide(&SourceSpan::new(span.start.into(), len))
        {
            return span;
        }
        let w = window(&self.text, span.start);
        span.start..span.end.min(w.end).max(span.start)
    }

    /// A span as hcl writes a range (`name:line,col-col`, or
    /// `name:line,col-line,col` across lines), in the file the user wrote.
    pub fn range_of(&self, span: Range<usize>) -> String {
        let (src, span) = self.resolve(span);
        let (l1, c1) = src.line_col(span.start);
        let (l2, c2) = src.line_col(span.end);
        if l1 == l2 {
            format!("{}:{l1},{c1}-{c2}", src.name)
        } else {
            format!("{}:{l1},{c1}-{l2},{c2}", src.name)
        }
    }

    /// `name:line` of an offset, in the file the user wrote.
    pub fn line_of(&self, offset: usize) -> String {
        let (src, span) = self.resolve(offset..offset);
        format!("{}:{}", src.name, src.line_col(span.start).0)
    }

    /// 1-based line and column of a byte offset; columns count grapheme
    /// clusters, as HCL's own diagnostics do.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        use unicode_segmentation::UnicodeSegmentation;
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rsplit('\n')
            .next()
            .map(|l| l.graphemes(true).count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }

    /// Byte offset of a 1-based line and column.
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        let mut off = 0;
        for (i, l) in self.text.split_inclusive('\n').enumerate() {
            if i + 1 == line {
                let byte_col: usize = l
                    .chars()
                    .take(col.saturating_sub(1))
                    .map(char::len_utf8)
                    .sum();
                return off + byte_col;
            }
            off += l.len();
        }
        self.text.len()
    }
}

/// A line longer than this many characters is shown in part: a minified
/// JSON template is one line of thousands, and a snippet of all of it
/// buries the place it points at.
const LONG_LINE: usize = 100;
/// How much of a long line a snippet shows, and how much of that comes
/// before the place it points at.
const WINDOW: usize = 80;
const WINDOW_BEFORE: usize = 30;

/// The text miette reads snippets from: as it is, except that where a
/// snippet would hold a long line it holds only a window of the line the
/// diagnostic points at ([`window`]); its labels are cut to fit
/// ([`SourceFile::fit_label`]). Line and column numbers stay those of the
/// file.
struct Snippets(NamedSource<Arc<str>>);

impl Snippets {
    fn text(&self) -> &str {
        self.0.inner()
    }

    /// Whether the snippet miette would show for `span` holds a long line.
    fn too_wide(&self, span: &SourceSpan) -> bool {
        match self.0.read_span(span, 1, 1) {
            Ok(c) => String::from_utf8_lossy(c.data())
                .lines()
                .any(|l| l.chars().count() > LONG_LINE),
            Err(_) => false,
        }
    }
}

impl SourceCode for Snippets {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        // Without context lines miette only takes the line and column of
        // the span's start from the answer (the snippet's header).
        if (before == 0 && after == 0) || !self.too_wide(span) {
            return self.0.read_span(span, before, after);
        }
        let text = self.text();
        let w = window(text, span.offset());
        let before_w = &text[..w.start];
        let line = before_w.matches('\n').count();
        let column = before_w
            .rsplit('\n')
            .next()
            .map_or(0, |l| l.chars().count());
        let contents = miette::MietteSpanContents::new_named(
            self.0.name().to_string(),
            &text.as_bytes()[w.clone()],
            (w.start, w.len()).into(),
            line,
            column,
            1,
        )
        .with_language("hcl");
        Ok(Box::new(contents))
    }
}

/// The part of the line holding byte `at` that a snippet shows when the
/// line is long: up to [`WINDOW`] characters, [`WINDOW_BEFORE`] of them
/// before `at` where the line has them (more when `at` is near its end).
/// It depends only on `at`, so a label cut to it reads the same window.
fn window(text: &str, at: usize) -> Range<usize> {
    let at = floor_char_boundary(text, at.min(text.len()));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    if text[line_start..line_end].ends_with('\r') {
        line_end -= 1;
    }
    let back = |from: usize, n: usize| {
        text[line_start..from]
            .char_indices()
            .rev()
            .take(n)
            .last()
            .map_or(from, |(i, _)| line_start + i)
    };
    let forward = |from: usize, n: usize| {
        text[from..line_end]
            .char_indices()
            .nth(n)
            .map_or(line_end, |(i, _)| from + i)
    };
    let mut start = back(at.min(line_end), WINDOW_BEFORE);
    let end = forward(start, WINDOW);
    if end == line_end {
        start = back(line_end, WINDOW).min(start);
    }
    start..end
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceFile({})", self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// One diagnostic.
#[derive(Debug, Clone)]
pub struct Diag {
    pub level: Level,
    pub summary: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub source: Option<SourceFile>,
    pub span: Option<Range<usize>>,
    pub label: Option<String>,
    /// A plugin the template names that kiln does not carry (its kind and
    /// name): these are gathered into one diagnostic ([`Diags::gather_unknown_plugins`]).
    pub unknown_plugin: Option<(String, String)>,
}

impl Diag {
    pub fn error(summary: impl Into<String>) -> Diag {
        Diag {
            level: Level::Error,
            summary: summary.into(),
            detail: None,
            hint: None,
            source: None,
            span: None,
            label: None,
            unknown_plugin: None,
        }
    }

    pub fn warning(summary: impl Into<String>) -> Diag {
        Diag {
            level: Level::Warning,
            ..Diag::error(summary)
        }
    }

    pub fn detail(mut self, d: impl Into<String>) -> Diag {
        self.detail = Some(d.into());
        self
    }

    /// Mark this error as one about a plugin kiln does not carry.
    pub fn unknown_plugin(mut self, kind: &str, name: &str) -> Diag {
        self.unknown_plugin = Some((kind.to_string(), name.to_string()));
        self
    }

    pub fn hint(mut self, h: impl Into<String>) -> Diag {
        self.hint = Some(h.into());
        self
    }

    pub fn maybe_hint(mut self, h: Option<String>) -> Diag {
        if h.is_some() {
            self.hint = h;
        }
        self
    }

    pub fn at(mut self, source: &SourceFile, span: Option<Range<usize>>) -> Diag {
        match (&source.remap, span) {
            (Some(m), Some(span)) => {
                self.source = Some(m.origin.clone());
                self.span = Some(m.span(span));
            }
            (Some(m), None) => {
                self.source = Some(m.origin.clone());
                self.span = None;
            }
            (None, span) => {
                self.source = Some(source.clone());
                self.span = span;
            }
        }
        self
    }

    pub fn label(mut self, l: impl Into<String>) -> Diag {
        self.label = Some(l.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }

    /// `file:line:col`, when known.
    pub fn location(&self) -> Option<String> {
        let src = self.source.as_ref()?;
        let span = self.span.as_ref()?;
        let (l, c) = src.line_col(span.start);
        Some(format!("{}:{}:{}", src.name, l, c))
    }

    /// Line number, for tests.
    pub fn line(&self) -> Option<usize> {
        let src = self.source.as_ref()?;
        Some(src.line_col(self.span.as_ref()?.start).0)
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(d) => write!(f, "{}: {}", self.summary, d),
            None => write!(f, "{}", self.summary),
        }
    }
}

impl std::error::Error for Diag {}

impl miette::Diagnostic for Diag {
    fn severity(&self) -> Option<Severity> {
        Some(match self.level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.hint
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| &*s.named as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.source.as_ref()?.fit_label(self.span.clone()?);
        let len = span.end.saturating_sub(span.start);
        let label = self.label.clone().or_else(|| Some("here".into()));
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            label,
            SourceSpan::new(span.start.into(), len),
        ))))
    }
}

/// Diagnostics gathered while loading or evaluating; errors do not stop the
/// collection so that every error in a file is reported.
#[derive(Debug, Default, Clone)]
pub struct Diags(pub Vec<Diag>);

impl Diags {
    pub fn new() -> Diags {
        Diags(Vec::new())
    }
    pub fn push(&mut self, d: Diag) {
        self.0.push(d);
    }
    pub fn extend(&mut self, other: Diags) {
        self.0.extend(other.0);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diag::is_error)
    }
    /// Errors other than plugins kiln lacks: a loader goes on past those,
    /// to name every plugin it lacks at once.
    pub fn has_blocking_errors(&self) -> bool {
        self.0
            .iter()
            .any(|d| d.is_error() && d.unknown_plugin.is_none())
    }
    /// Each diagnostic once: a mistake shared by several builds (a JSON
    /// provisioner every build runs) is reported where it is written, once.
    pub fn dedup(self) -> Diags {
        let mut seen = std::collections::HashSet::new();
        let out = self
            .0
            .into_iter()
            .filter(|d| {
                seen.insert((
                    d.is_error(),
                    d.summary.clone(),
                    d.detail.clone(),
                    d.span.clone(),
                    d.source.as_ref().map(|s| s.name.clone()),
                ))
            })
            .collect();
        Diags(out)
    }
    /// Every error about a plugin kiln does not carry, as one diagnostic
    /// that lists each (kind, name and where, once each), at the first.
    pub fn gather_unknown_plugins(self) -> Diags {
        let (mut plugins, mut rest): (Vec<Diag>, Vec<Diag>) =
            self.0.into_iter().partition(|d| d.unknown_plugin.is_some());
        plugins.sort_by_key(|d| {
            (
                d.source.as_ref().map(|s| s.name.clone()),
                d.span.as_ref().map(|r| r.start),
            )
        });
        if plugins.len() < 2 {
            rest.extend(plugins);
            return Diags(rest);
        }
        let mut lines: Vec<String> = Vec::new();
        for d in &plugins {
            let Some((kind, name)) = &d.unknown_plugin else {
                continue;
            };
            let at = match (&d.source, &d.span) {
                (Some(src), Some(span)) => {
                    let (l, c) = src.line_col(span.start);
                    format!(" at {}:{l}:{c}", src.name)
                }
                (Some(src), None) => format!(" in {}", src.name),
                _ => String::new(),
            };
            let line = format!("  - {kind} {name:?}{at}");
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        let first = &plugins[0];
        let mut gathered = Diag::error("Plugins kiln does not have")
            .detail(format!(
                "This template uses {} plugin components kiln does not carry:\n{}",
                lines.len(),
                lines.join("\n")
            ))
            .hint("kiln builds in the amazon, qemu, null and file plugins and Packer's own components; docs/compatibility.md lists them");
        gathered.source = first.source.clone();
        gathered.span = first.span.clone();
        gathered.label = Some("the first".into());
        gathered.unknown_plugin = first.unknown_plugin.clone();
        rest.insert(0, gathered);
        Diags(rest)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diag> {
        self.0.iter().filter(|d| d.is_error())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Diag> for Diags {
    fn from(d: Diag) -> Diags {
        Diags(vec![d])
    }
}

/// "Did you mean …?" for a misspelt name among `candidates`.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(name, c);
        if score > 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean {c:?}?"))
}

/// Render diagnostics to a string as the CLI prints them.
pub fn render(diags: &[Diag], color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for d in diags {
        // Masked before rendering (which wraps long lines, and could split
        // a value across two), and the whole again after (the snippet).
        let d = &Diag {
            summary: crate::ui::mask(&d.summary),
            detail: d.detail.as_deref().map(crate::ui::mask),
            hint: d.hint.as_deref().map(crate::ui::mask),
            label: d.label.as_deref().map(crate::ui::mask),
            ..d.clone()
        };
        let prefix = match d.level {
            Level::Error => "Error",
            Level::Warning => "Warning",
        };
        if let Some(loc) = d.location() {
            out.push_str(&format!("{prefix}: {} ({loc})\n", d.summary));
        } else {
            out.push_str(&format!("{prefix}: {}\n", d.summary));
        }
        let mut buf = String::new();
        if handler.render_report(&mut buf, d).is_ok() {
            out.push_str(&buf);
        }
        out.push('\n');
    }
    crate::ui::mask(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_of_a_long_line() {
        let line: String = (0..300)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let text = format!("x = 1\n{line}\r\ny = 2\n");
        let line_start = 6;
        // far into the line: WINDOW_BEFORE characters before, WINDOW in all
        let w = window(&text, line_start + 150);
        assert_eq!(
            (w.start, w.len()),
            (line_start + 150 - WINDOW_BEFORE, WINDOW)
        );
        // near its start: from the start
        assert_eq!(
            window(&text, line_start + 3),
            line_start..line_start + WINDOW
        );
        // near its end: the last WINDOW characters, without the \r
        let w = window(&text, line_start + 295);
        assert_eq!(w, line_start + 300 - WINDOW..line_start + 300);
        // a short line is a window of itself
        assert_eq!(window(&text, 2), 0..5);
    }

    #[test]
    fn window_keeps_to_character_boundaries() {
        let text: String = "é€😀a".repeat(100);
        for at in 0..=text.len() {
            let w = window(&text, at);
            assert!(
                text.is_char_boundary(w.start) && text.is_char_boundary(w.end),
                "{at}: {w:?}"
            );
            assert!(
                w.start <= at.min(text.len()) && text[w.clone()].chars().count() <= WINDOW,
                "{at}: {w:?}"
            );
        }
    }

    #[test]
    fn a_label_on_a_long_line_is_cut_to_its_window() {
        let text = format!("a = \"{}\"\nb = 2\n", "z".repeat(500));
        let src = SourceFile::new("t.pkr.hcl", text.clone());
        let label = src.fit_label(4..text.find('\n').expect("nl"));
        assert_eq!(label, 4..window(&text, 4).end);
        // on a short line, whole
        let b = text.find("b = 2").expect("b");
        assert_eq!(src.fit_label(b..b + 5), b..b + 5);
        let out = render(&[Diag::error("x").at(&src, Some(4..600))], false);
        assert!(out.lines().all(|l| l.chars().count() < 120), "{out}");
    }
}
