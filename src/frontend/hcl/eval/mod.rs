//! Expression evaluation with cty semantics over hcl-edit's syntax tree.
//!
//! Every error is a [`Diag`] pointing at the sub-expression that caused it.

use super::functions::{self, FnEnv, FnError};
use super::template;
use crate::diag::{did_you_mean, Diag, SourceFile};
use crate::value::{console_format, convert, to_display_string, Attrs, Number, Type, Value};
use hcl_edit::expr::{
    BinaryOperator, Expression, ForExpr, ObjectKey, TraversalOperator, UnaryOperator,
};
use hcl_edit::template::{Directive, Element, Template};
use hcl_edit::Span;
use std::ops::Range;

mod call;
mod operators;
mod render;

/// What an expression can see.
#[derive(Clone)]
pub struct Evaluator<'a> {
    pub src: &'a SourceFile,
    /// Root names: `var`, `local`, `data`, `path`, `packer`, `source`, `build`, …
    pub root: &'a Attrs,
    pub env: &'a FnEnv,
    /// Iteration variables of enclosing `for` expressions (innermost last).
    scope: Vec<(String, Value)>,
    /// Inside a `templatefile` template, where `templatefile` may not be
    /// called again (as in Packer and Terraform: it could recurse forever).
    in_templatefile: bool,
}

type R = Result<Value, Diag>;

/// A string in Unicode normal form C, as cty keeps every string
/// (`"e\u0301" == "\u00e9"` is true there).
fn nfc(s: &str) -> String {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => s.to_string(),
        _ => s.nfc().collect(),
    }
}

/// Every string in `v` in normal form C.
fn nfc_value(v: Value) -> Value {
    match v {
        Value::String(s) if !s.is_ascii() => Value::String(nfc(&s)),
        Value::List(x) => Value::List(x.into_iter().map(nfc_value).collect()),
        Value::Set(x) => Value::Set(x.into_iter().map(nfc_value).collect()),
        Value::Tuple(x) => Value::Tuple(x.into_iter().map(nfc_value).collect()),
        Value::Map(m) => Value::Map(
            m.into_iter()
                .map(|(k, v)| (nfc(&k), nfc_value(v)))
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (nfc(&k), nfc_value(v)))
                .collect(),
        ),
        other => other,
    }
}

/// An evaluator's whole scope, owned: what evaluates an expression again
/// later, once values known only while a build runs are there
/// (`upper(build.ID)`).
#[derive(Clone)]
pub struct Detached {
    src: SourceFile,
    root: Attrs,
    env: FnEnv,
    scope: Vec<(String, Value)>,
}

impl Detached {
    /// What `name` is bound to in the scope (the innermost binding).
    pub fn binding(&self, name: &str) -> Option<&Value> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// `e` with `name` bound to `v` (over any earlier binding of it).
    pub fn eval_with(&self, e: &Expression, name: &str, v: Value) -> R {
        Evaluator {
            src: &self.src,
            root: &self.root,
            env: &self.env,
            scope: self.scope.clone(),
            in_templatefile: false,
        }
        .with(name, v)
        .eval(e)
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(src: &'a SourceFile, root: &'a Attrs, env: &'a FnEnv) -> Evaluator<'a> {
        Evaluator {
            src,
            root,
            env,
            scope: Vec::new(),
            in_templatefile: false,
        }
    }

    /// This evaluator's scope, owned (see [`Detached`]).
    pub fn detach(&self) -> Detached {
        Detached {
            src: self.src.clone(),
            root: self.root.clone(),
            env: self.env.clone(),
            scope: self.scope.clone(),
        }
    }

    /// The same evaluator with one more name in scope (dynamic-block iterators).
    pub fn with(&self, name: &str, v: Value) -> Evaluator<'a> {
        let mut e = self.clone();
        e.scope.push((name.to_string(), v));
        e
    }

    /// The same scope, reading another file (for blocks of a directory's other files).
    pub fn for_file<'b>(&self, src: &'b SourceFile) -> Evaluator<'b>
    where
        'a: 'b,
    {
        Evaluator {
            src,
            root: self.root,
            env: self.env,
            scope: self.scope.clone(),
            in_templatefile: self.in_templatefile,
        }
    }

    fn err(&self, span: Option<Range<usize>>, summary: &str, detail: impl Into<String>) -> Diag {
        Diag::error(summary).detail(detail).at(self.src, span)
    }

    pub fn eval(&self, e: &Expression) -> R {
        match e {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b.value())),
            Expression::Number(n) => self.number(e, n.value()),
            Expression::String(s) => Ok(Value::String(nfc(s.value()))),
            Expression::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for item in a.iter() {
                    out.push(self.eval(item)?);
                }
                Ok(Value::Tuple(out))
            }
            Expression::Object(o) => {
                let mut out = Attrs::new();
                for (k, v) in o.iter() {
                    let key = match k {
                        ObjectKey::Ident(id) => id.value().to_string(),
                        ObjectKey::Expression(ke) => {
                            let kv = self.eval(ke)?;
                            if kv.is_unknown() {
                                return Ok(Value::Unknown);
                            }
                            match to_display_string(&kv) {
                                Some(s) => s,
                                None => {
                                    return Err(self.err(
                                        ke.span(),
                                        "Incorrect key type",
                                        format!(
                                        "Can't use this value as a key: string required, got {}.",
                                        kv.friendly_kind()
                                    ),
                                    ))
                                }
                            }
                        }
                    };
                    out.insert(key, self.eval(v.expr())?);
                }
                Ok(Value::Object(out))
            }
            Expression::StringTemplate(t) => self
                .template(&template::normalize(
                    &self.src.text,
                    t,
                    template::Kind::Quoted,
                ))
                .map(nfc_value),
            Expression::HeredocTemplate(h) => {
                let flush = h
                    .span()
                    .and_then(|r| self.src.text.get(r.start..))
                    .is_some_and(|s| s.starts_with("<<-"));
                self.template(&template::normalize(
                    &self.src.text,
                    &h.template,
                    template::Kind::Heredoc { flush },
                ))
                .map(nfc_value)
            }
            Expression::Parenthesis(p) => self.eval(p.inner()),
            Expression::Variable(v) => {
                // A number literal too large for hcl-edit, respelled.
                if let Some(n) = v
                    .span()
                    .and_then(|sp| super::parse::number_at(self.src, v.value().as_str(), sp))
                {
                    return Ok(Value::Number(n));
                }
                self.variable(v.value().as_str(), v.span())
            }
            Expression::Conditional(c) => {
                let cond = self.eval(&c.cond_expr)?;
                match cond {
                    Value::Unknown => Ok(Value::Unknown),
                    Value::Null => Err(self.err(
                        c.cond_expr.span(),
                        "Null condition",
                        "The condition value is null. Conditions must either be true or false.",
                    )),
                    other => match convert(&other, &Type::Bool) {
                        Ok(Value::Bool(b)) => self.conditional(c, b),
                        Ok(_) => self.conditional(c, false),
                        Err(_) => Err(self.err(
                            c.cond_expr.span(),
                            "Incorrect condition type",
                            format!(
                                "The condition expression must be of type bool, not {}.",
                                other.friendly_kind()
                            ),
                        )),
                    },
                }
            }
            Expression::FuncCall(f) => self.call(e, f).map(nfc_value),
            Expression::Traversal(t) => {
                // `local.x`, `var.y`: take the one attribute from the root
                // object rather than a copy of the whole object (16,000
                // locals each naming one other made that quadratic).
                if let (Expression::Variable(v), Some(first)) = (&t.expr, t.operators.first()) {
                    let name = v.value().as_str();
                    let shadowed = self.scope.iter().any(|(n, _)| n == name);
                    if let (false, TraversalOperator::GetAttr(attr), Some(Value::Object(m))) =
                        (shadowed, first.value(), self.root.get(name))
                    {
                        if let Some(found) = m.get(attr.as_str()) {
                            return self.traverse(found.clone(), &t.operators[1..], e.span());
                        }
                    }
                }
                let base = self.eval(&t.expr)?;
                self.traverse(base, &t.operators, e.span())
            }
            Expression::UnaryOp(u) => {
                let v = self.eval(&u.expr)?;
                match u.operator.value() {
                    UnaryOperator::Neg => {
                        match self.operand_number(&v, u.expr.span(), "operand")? {
                            None => Ok(Value::Unknown),
                            Some(n) => Ok(Value::Number(n.neg())),
                        }
                    }
                    UnaryOperator::Not => match self.operand_bool(&v, u.expr.span(), "operand")? {
                        None => Ok(Value::Unknown),
                        Some(b) => Ok(Value::Bool(!b)),
                    },
                }
            }
            Expression::BinaryOp(b) => self.binary_chain(b, e.span()),
            Expression::ForExpr(f) => self.for_expr(f, e.span()),
        }
    }

    fn number(&self, e: &Expression, n: &hcl_edit::Number) -> R {
        // Take the literal's own text so that no precision is lost.
        let text = e
            .span()
            .and_then(|s| self.src.text.get(s))
            .map(str::to_string);
        let parsed = text
            .as_deref()
            .and_then(Number::parse)
            .or_else(|| Number::parse(&n.to_string()));
        parsed
            .map(Value::Number)
            .ok_or_else(|| self.err(e.span(), "Invalid number literal", n.to_string()))
    }

    /// A conditional's result, as hclsyntax gives it: both results are
    /// evaluated, their types unified (`true ? 1 : "a"` is the string
    /// "1"), and the chosen one converted; only the chosen one's errors
    /// count, the other's type is then unknown.
    fn conditional(&self, c: &hcl_edit::expr::Conditional, cond: bool) -> Result<Value, Diag> {
        let (taken, other) = if cond {
            (&c.true_expr, &c.false_expr)
        } else {
            (&c.false_expr, &c.true_expr)
        };
        let value = self.eval(taken)?;
        let other = self.eval(other).unwrap_or(Value::Unknown);
        // A null (literal or not) takes the other result's type.
        if matches!(value, Value::Null | Value::Unknown) || matches!(other, Value::Null) {
            return Ok(value);
        }
        let (tt, ft) = if cond {
            (value.type_of(), other.type_of())
        } else {
            (other.type_of(), value.type_of())
        };
        match crate::value::unify(&[tt.clone(), ft.clone()]) {
            Some(t) => convert(&value, &t).map_err(|e| {
                self.err(
                    taken.span(),
                    "Inconsistent conditional result types",
                    format!(
                        "The true and false result expressions must have consistent types. {e}."
                    ),
                )
            }),
            None => Err(self.err(
                c.true_expr.span(),
                "Inconsistent conditional result types",
                format!(
                    "The true and false result expressions must have consistent types. {}.",
                    describe_mismatch(&tt, &ft)
                ),
            )),
        }
    }

    fn variable(&self, name: &str, span: Option<Range<usize>>) -> R {
        if let Some((_, v)) = self.scope.iter().rev().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        if let Some(v) = self.root.get(name) {
            return Ok(v.clone());
        }
        let names = self
            .scope
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(self.root.keys().map(String::as_str));
        Err(self
            .err(
                span,
                "Unknown variable",
                format!("There is no variable named {name:?}."),
            )
            .maybe_hint(did_you_mean(name, names)))
    }

    fn traverse(
        &self,
        mut cur: Value,
        ops: &[hcl_edit::Decorated<TraversalOperator>],
        span: Option<Range<usize>>,
    ) -> R {
        let mut i = 0;
        while i < ops.len() {
            let op = &ops[i];
            match op.value() {
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let full = matches!(op.value(), TraversalOperator::FullSplat(_));
                    // The operators the splat applies to each element.
                    let mut j = i + 1;
                    while j < ops.len() {
                        let per_elem = if full {
                            !matches!(
                                ops[j].value(),
                                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_)
                            )
                        } else {
                            matches!(ops[j].value(), TraversalOperator::GetAttr(_))
                        };
                        if !per_elem {
                            break;
                        }
                        j += 1;
                    }
                    let rest = &ops[i + 1..j];
                    cur = match cur {
                        Value::Unknown => Value::Unknown,
                        Value::Null => Value::Tuple(vec![]),
                        Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
                            let mut out = Vec::with_capacity(items.len());
                            for item in items {
                                out.push(self.traverse(item, rest, span.clone())?);
                            }
                            Value::Tuple(out)
                        }
                        other => Value::Tuple(vec![self.traverse(other, rest, span.clone())?]),
                    };
                    i = j;
                    continue;
                }
                TraversalOperator::GetAttr(name) => {
                    cur = self.get_attr(cur, name.value().as_str(), op.span().or(span.clone()))?;
                }
                TraversalOperator::Index(ix) => {
                    let key = self.eval(ix)?;
                    cur = self.index(cur, key, ix.span())?;
                }
                TraversalOperator::LegacyIndex(n) => {
                    cur = self.index(cur, Value::int(*n.value() as i64), op.span())?;
                }
            }
            i += 1;
        }
        Ok(cur)
    }

    pub fn get_attr(&self, v: Value, name: &str, span: Option<Range<usize>>) -> R {
        match v {
            Value::Unknown => Ok(Value::Unknown),
            Value::Null => Err(self.err(
                span,
                "Attempt to get attribute from null value",
                "This value is null, so it does not have any attributes.",
            )),
            Value::Object(m) | Value::Map(m) => match m.get(name) {
                Some(x) => Ok(x.clone()),
                None => Err(self
                    .err(
                        span,
                        "Unsupported attribute",
                        format!("This object does not have an attribute named {name:?}."),
                    )
                    .maybe_hint(did_you_mean(name, m.keys().map(String::as_str)))),
            },
            other => Err(self.err(
                span,
                "Unsupported attribute",
                format!(
                    "Can't access attributes on a primitive-typed value ({}).",
                    other.friendly_kind()
                ),
            )),
        }
    }

    fn index(&self, v: Value, key: Value, span: Option<Range<usize>>) -> R {
        if v.is_unknown() || key.is_unknown() {
            return Ok(Value::Unknown);
        }
        match v {
            Value::Null => Err(self.err(span, "Attempt to index null value", "This value is null, so it does not have any indices.")),
            Value::List(items) | Value::Tuple(items) => {
                let n = match convert(&key, &Type::Number) {
                    Ok(Value::Number(n)) => n,
                    _ => return Err(self.err(span, "Invalid index", "The given key does not identify an element in this collection value: a number is required.")),
                };
                match n.to_i64() {
                    Some(i) if i >= 0 && (i as usize) < items.len() => Ok(items[i as usize].clone()),
                    _ => Err(self.err(span, "Invalid index", "The given key does not identify an element in this collection value.")),
                }
            }
            Value::Map(m) | Value::Object(m) => {
                let k = match to_display_string(&key) {
                    Some(k) => k,
                    None => return Err(self.err(span, "Invalid index", "The given key does not identify an element in this collection value: string required.")),
                };
                m.get(&k).cloned().ok_or_else(|| {
                    self.err(span, "Invalid index", "The given key does not identify an element in this collection value.")
                })
            }
            Value::Set(_) => Err(self.err(span, "Invalid index", "Elements of a set are identified only by their value and don't have any separate index or key to select with, so it's only possible to perform operations across all elements of the set.")),
            other => Err(self.err(span, "Invalid index", format!("This value does not have any indices ({}).", other.friendly_kind()))),
        }
    }

    fn for_expr(&self, f: &ForExpr, span: Option<Range<usize>>) -> R {
        let coll = self.eval(&f.intro.collection_expr)?;
        let pairs: Vec<(Value, Value)> = match coll {
            Value::Unknown => return Ok(Value::Unknown),
            Value::Null => {
                return Err(self.err(
                    f.intro.collection_expr.span(),
                    "Iteration over null value",
                    "A null value cannot be used as the collection in a 'for' expression.",
                ))
            }
            Value::List(items) | Value::Tuple(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::int(i as i64), v))
                .collect(),
            Value::Set(items) => items.into_iter().map(|v| (v.clone(), v)).collect(),
            Value::Map(m) | Value::Object(m) => {
                m.into_iter().map(|(k, v)| (Value::String(k), v)).collect()
            }
            other => {
                return Err(self.err(
                    f.intro.collection_expr.span(),
                    "Iteration over non-iterable value",
                    format!(
                    "A value of type {} cannot be used as the collection in a 'for' expression.",
                    other.friendly_kind()
                ),
                ))
            }
        };
        let kname = f.intro.key_var.as_ref().map(|k| k.value().to_string());
        let vname = f.intro.value_var.value().to_string();
        let mut list = Vec::new();
        let mut obj: Attrs = Attrs::new();
        let mut groups: indexmap::IndexMap<String, Vec<Value>> = indexmap::IndexMap::new();
        for (k, v) in pairs {
            let mut child = self.clone();
            if let Some(kn) = &kname {
                child.scope.push((kn.clone(), k));
            }
            child.scope.push((vname.clone(), v));
            if let Some(cond) = &f.cond {
                let c = child.eval(&cond.expr)?;
                match c {
                    Value::Unknown => return Ok(Value::Unknown),
                    other => match convert(&other, &Type::Bool) {
                        Ok(Value::Bool(true)) => {}
                        Ok(Value::Bool(false)) => continue,
                        _ => {
                            return Err(self.err(
                                cond.expr.span(),
                                "Invalid 'for' condition",
                                "The 'if' clause value is invalid: a bool is required.",
                            ))
                        }
                    },
                }
            }
            let val = child.eval(&f.value_expr)?;
            match &f.key_expr {
                None => list.push(val),
                Some(ke) => {
                    let kv = child.eval(ke)?;
                    if kv.is_unknown() {
                        return Ok(Value::Unknown);
                    }
                    let key = to_display_string(&kv).ok_or_else(|| {
                        self.err(
                            ke.span(),
                            "Invalid object key",
                            "The key expression produced an invalid result: string required.",
                        )
                    })?;
                    if f.grouping {
                        groups.entry(key).or_default().push(val);
                    } else {
                        if obj.contains_key(&key) {
                            return Err(self.err(
                                span,
                                "Duplicate object key",
                                format!("Two different items produced the key {key:?} in this 'for' expression. If duplicates are expected, use the ellipsis (...) after the value expression to enable grouping by key."),
                            ));
                        }
                        obj.insert(key, val);
                    }
                }
            }
        }
        if f.key_expr.is_none() {
            Ok(Value::Tuple(list))
        } else if f.grouping {
            Ok(Value::Object(
                groups
                    .into_iter()
                    .map(|(k, v)| (k, Value::Tuple(v)))
                    .collect(),
            ))
        } else {
            Ok(Value::Object(obj))
        }
    }
}

/// cty equality: same type family and same value (1 == "1" is false).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::List(x) | Value::Tuple(x), Value::List(y) | Value::Tuple(y))
        | (Value::Set(x), Value::Set(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Map(x) | Value::Object(x), Value::Map(y) | Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && values_equal(v1, v2))
        }
        _ => false,
    }
}

/// Evaluate a lone expression string (console input) against a root scope.
pub fn eval_str(src: &SourceFile, root: &Attrs, env: &FnEnv) -> Result<Value, Diag> {
    let expr =
        super::parse::parse_expr(&src.text).map_err(|e| super::parse::syntax_diag(src, &e))?;
    Evaluator::new(src, root, env).eval(&expr)
}

/// For the console and debugging: a value as Packer 1.6.6's console prints it.
pub fn show(v: &Value) -> String {
    console_format(v)
}

/// Why a conditional's results have no common type, in the words of the
/// hclsyntax Packer ships (v2.14; Packer 1.6.6 says the same).
fn describe_mismatch(t: &Type, f: &Type) -> String {
    format!(
        "The given expressions are {} and {}, respectively",
        t.friendly_name(),
        f.friendly_name()
    )
}
