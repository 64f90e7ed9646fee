//! Templates: strings with interpolations and directives rendered as
//! hclsyntax renders them.

use super::*;

impl Evaluator<'_> {
    /// Evaluate a template to a string (or the single value of a lone `${x}`).
    pub fn template(&self, t: &Template) -> R {
        let elems: Vec<&Element> = t.iter().collect();
        // A template that is exactly one interpolation yields its value unchanged.
        if elems.len() == 1 {
            if let Element::Interpolation(i) = elems[0] {
                return self.eval(&i.expr);
            }
        }
        let mut out = String::new();
        let mut unknown = false;
        self.render_elems(&elems, &mut out, &mut unknown)?;
        Ok(if unknown {
            Value::Unknown
        } else {
            Value::String(out)
        })
    }

    /// Render a template whose strip markers have been applied
    /// ([`template::normalize`]).
    pub(super) fn render_elems(
        &self,
        elems: &[&Element],
        out: &mut String,
        unknown: &mut bool,
    ) -> Result<(), Diag> {
        for el in elems {
            match el {
                Element::Literal(l) => out.push_str(l.value()),
                Element::Interpolation(i) => {
                    let v = self.eval(&i.expr)?;
                    self.append(out, unknown, v, i.expr.span())?;
                }
                Element::Directive(d) => match &**d {
                    Directive::If(ifd) => {
                        let c = self.eval(&ifd.if_expr.cond_expr)?;
                        match c {
                            Value::Unknown => *unknown = true,
                            other => match convert(&other, &Type::Bool) {
                                Ok(Value::Bool(true)) => {
                                    self.render_template(&ifd.if_expr.template, out, unknown)?
                                }
                                Ok(_) => {
                                    if let Some(e) = &ifd.else_expr {
                                        self.render_template(&e.template, out, unknown)?
                                    }
                                }
                                Err(_) => {
                                    return Err(self.err(
                                        ifd.if_expr.cond_expr.span(),
                                        "Invalid template if condition",
                                        "The condition must be of type bool.",
                                    ))
                                }
                            },
                        }
                    }
                    Directive::For(fd) => {
                        let fe = &fd.for_expr;
                        let coll = self.eval(&fe.collection_expr)?;
                        let pairs: Vec<(Value, Value)> = match coll {
                            Value::Unknown => {
                                *unknown = true;
                                continue;
                            }
                            Value::List(items) | Value::Tuple(items) => items
                                .into_iter()
                                .enumerate()
                                .map(|(i, v)| (Value::int(i as i64), v))
                                .collect(),
                            Value::Set(items) => {
                                items.into_iter().map(|v| (v.clone(), v)).collect()
                            }
                            Value::Map(m) | Value::Object(m) => {
                                m.into_iter().map(|(k, v)| (Value::String(k), v)).collect()
                            }
                            other => {
                                return Err(self.err(
                                    fe.collection_expr.span(),
                                    "Invalid template for collection",
                                    format!(
                                        "A value of type {} cannot be iterated.",
                                        other.friendly_kind()
                                    ),
                                ))
                            }
                        };
                        for (k, v) in pairs {
                            let mut child = self.clone();
                            if let Some(kn) = &fe.key_var {
                                child.scope.push((kn.value().to_string(), k));
                            }
                            child.scope.push((fe.value_var.value().to_string(), v));
                            child.render_template(&fe.template, out, unknown)?;
                        }
                    }
                },
            }
        }
        Ok(())
    }

    pub(super) fn render_template(
        &self,
        t: &Template,
        out: &mut String,
        unknown: &mut bool,
    ) -> Result<(), Diag> {
        let elems: Vec<&Element> = t.iter().collect();
        self.render_elems(&elems, out, unknown)
    }

    pub(super) fn append(
        &self,
        out: &mut String,
        unknown: &mut bool,
        v: Value,
        span: Option<Range<usize>>,
    ) -> Result<(), Diag> {
        match v {
            Value::Unknown => {
                *unknown = true;
                Ok(())
            }
            Value::Null => Err(self.err(span, "Invalid template interpolation value", "The expression result is null. Cannot include a null value in a string template.")),
            other => match to_display_string(&other) {
                Some(s) => {
                    // A template in a loop could otherwise grow without
                    // bound (see functions::limits).
                    if let Err(crate::frontend::hcl::functions::FnError::Failed(m)) =
                        crate::frontend::hcl::functions::limits::string_len(out.len() + s.len())
                    {
                        return Err(self.err(span, "Template too large", m));
                    }
                    out.push_str(&s);
                    Ok(())
                }
                None => Err(self.err(span, "Invalid template interpolation value", format!("Cannot include the given value in a string template: string required, got {}.", other.friendly_kind()))),
            },
        }
    }
}
