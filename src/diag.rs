//! Diagnostics: every user-facing error or warning carries the file, the byte
//! span (miette turns it into line, column and a snippet), and a hint.

use miette::{LabeledSpan, NamedSource, Severity, SourceSpan};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A loaded source file, shared by every diagnostic that points into it.
#[derive(Clone)]
pub struct SourceFile {
    pub name: Arc<str>,
    pub text: Arc<str>,
    named: Arc<NamedSource<Arc<str>>>,
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
            .or_else(|| self.segments.iter().filter(|(t, _)| t.start <= off).max_by_key(|(t, _)| t.start));
        match best {
            Some((t, o)) => o.start + (off.saturating_sub(t.start)).min(o.len().saturating_sub(1)),
            None => 0,
        }
    }

    fn span(&self, r: Range<usize>) -> Range<usize> {
        let s = self.point(r.start);
        let e = if r.end > r.start { self.point(r.end - 1) + 1 } else { s };
        s..e.max(s)
    }
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let name: Arc<str> = Arc::from(name.into());
        let text: Arc<str> = Arc::from(text.into());
        let named = Arc::new(NamedSource::new(&name, text.clone()).with_language("hcl"));
        SourceFile { name, text, named, remap: None }
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
        let col = before.rsplit('\n').next().map(|l| l.graphemes(true).count()).unwrap_or(0) + 1;
        (line, col)
    }

    /// Byte offset of a 1-based line and column.
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        let mut off = 0;
        for (i, l) in self.text.split_inclusive('\n').enumerate() {
            if i + 1 == line {
                let byte_col: usize = l.chars().take(col.saturating_sub(1)).map(char::len_utf8).sum();
                return off + byte_col;
            }
            off += l.len();
        }
        self.text.len()
    }
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
}

impl Diag {
    pub fn error(summary: impl Into<String>) -> Diag {
        Diag { level: Level::Error, summary: summary.into(), detail: None, hint: None, source: None, span: None, label: None }
    }

    pub fn warning(summary: impl Into<String>) -> Diag {
        Diag { level: Level::Warning, ..Diag::error(summary) }
    }

    pub fn detail(mut self, d: impl Into<String>) -> Diag {
        self.detail = Some(d.into());
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
        self.hint.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| &*s.named as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span.clone()?;
        self.source.as_ref()?;
        let len = span.end.saturating_sub(span.start);
        let label = self.label.clone().or_else(|| Some("here".into()));
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(label, SourceSpan::new(span.start.into(), len)))))
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
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
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
    let theme = if color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for d in diags {
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
    out
}
