//! Function calls: arguments, `...` expansion, the special forms (`try`,
//! `can`, `convert`) and `templatefile`.

use super::*;

impl Evaluator<'_> {
    pub(super) fn call(&self, e: &Expression, f: &hcl_edit::expr::FuncCall) -> R {
        let name = f.name.name.value().as_str();
        let span = e.span();
        let args: Vec<&Expression> = f.args.iter().collect();
        if self.env.no_calls {
            return Err(self.err(
                span,
                "Function calls not allowed",
                "Functions may not be called here.",
            ));
        }
        match name {
            "try" => {
                if args.is_empty() {
                    return Err(self.err(
                        span,
                        "Missing function argument",
                        "Function \"try\" requires at least one argument.",
                    ));
                }
                let mut last = None;
                for a in &args {
                    match self.eval(a) {
                        Ok(v) if v.contains_unknown() => return Ok(Value::Unknown),
                        Ok(v) => return Ok(v),
                        Err(d) => last = Some(d),
                    }
                }
                return Err(self.err(
                    span,
                    "Error in function call",
                    format!(
                        "Call to function \"try\" failed: no expression succeeded:\n- {}\n\nAt least one expression must produce a successful result.",
                        last.map(|d| d.to_string()).unwrap_or_default()
                    ),
                ));
            }
            // `convert(value, type)`: its second argument is a type
            // constraint (`list(string)`, `map`), not a value.
            "convert" => {
                if args.len() != 2 {
                    return Err(self.err(
                        span,
                        "Incorrect number of function arguments",
                        "Function \"convert\" expects 2 arguments.",
                    ));
                }
                let v = self.eval(args[0])?;
                let t =
                    crate::frontend::hcl::types::parse_type(self.src, args[1], &|e| self.eval(e))?;
                return convert(&v, &t).map_err(|e| {
                    self.err(
                        args[0].span(),
                        "Invalid function argument",
                        format!("Invalid value for \"value\" parameter: {e}."),
                    )
                });
            }
            "can" => {
                if args.len() != 1 {
                    return Err(self.err(
                        span,
                        "Incorrect number of function arguments",
                        "Function \"can\" expects 1 argument.",
                    ));
                }
                return Ok(match self.eval(args[0]) {
                    Ok(v) if v.contains_unknown() => Value::Unknown,
                    Ok(_) => Value::Bool(true),
                    Err(_) => Value::Bool(false),
                });
            }
            _ => {}
        }
        let mut vals = Vec::with_capacity(args.len());
        for a in &args {
            vals.push(self.eval(a)?);
        }
        if f.args.expand_final() {
            match vals.pop() {
                Some(Value::List(x)) | Some(Value::Tuple(x)) | Some(Value::Set(x)) => vals.extend(x),
                Some(Value::Unknown) => return Ok(Value::Unknown),
                _ => return Err(self.err(span, "Invalid expanding argument value", "The expanding argument (indicated by ...) must be of a tuple, list, or set type.")),
            }
        }
        if name == "templatefile" {
            return self.templatefile(vals, span);
        }
        functions::call(self.env, name, vals).map_err(|fe| match fe {
            FnError::UnknownFunction => {
                self.err(f.name.name.span(), "Call to unknown function", format!("There is no function named {name:?}.")).maybe_hint(did_you_mean(name, functions::names().iter().copied()))
            }
            FnError::Arity(msg) => self.err(span, "Incorrect number of function arguments", msg),
            FnError::Arg(i, msg) => {
                let sp = args.get(i).and_then(|a| a.span()).or(span.clone());
                self.err(sp, "Invalid function argument", format!("Invalid value for argument {} of {name}: {msg}", i + 1))
            }
            FnError::Failed(msg) => self.err(span, "Error in function call", format!("Call to function {name:?} failed: {msg}.")),
            FnError::Unsupported(msg) => {
                self.err(span, "Function not supported yet", format!("{name}: {msg}")).hint("kiln does not talk to this service yet; pass the value in with a variable for now")
            }
        })
    }

    pub(super) fn templatefile(&self, vals: Vec<Value>, span: Option<Range<usize>>) -> R {
        if self.in_templatefile {
            return Err(self.err(
                span,
                "Error in function call",
                "Call to function \"templatefile\" failed: cannot recursively call templatefile from inside templatefile call.",
            ));
        }
        if vals.len() != 2 {
            return Err(self.err(
                span,
                "Incorrect number of function arguments",
                "Function \"templatefile\" expects 2 arguments.",
            ));
        }
        let path = match &vals[0] {
            Value::String(s) => s.clone(),
            Value::Unknown => return Ok(Value::Unknown),
            _ => {
                return Err(self.err(
                    span,
                    "Invalid function argument",
                    "templatefile: path must be a string",
                ))
            }
        };
        let vars = match &vals[1] {
            Value::Object(m) | Value::Map(m) => m.clone(),
            Value::Unknown => return Ok(Value::Unknown),
            _ => {
                return Err(self.err(
                    span,
                    "Invalid function argument",
                    "templatefile: vars must be an object",
                ))
            }
        };
        let full = self.env.resolve(&path);
        let text = crate::util::fs::read_regular_string(&full).map_err(|e| {
            self.err(
                span.clone(),
                "Error in function call",
                format!("Call to function \"templatefile\" failed: failed to read {path}: {e}."),
            )
        })?;
        let tpl = crate::frontend::hcl::parse::parse_template(&text).map_err(|e| {
            self.err(
                span.clone(),
                "Error in function call",
                format!(
                    "Call to function \"templatefile\" failed: {path}:{}:{}: {}.",
                    e.location().line(),
                    e.location().column(),
                    e.message()
                ),
            )
        })?;
        let tsrc = SourceFile::new(full.display().to_string(), text.clone());
        let root = vars;
        let mut child = Evaluator::new(&tsrc, &root, self.env);
        child.in_templatefile = true;
        let mut out = String::new();
        let mut unknown = false;
        let tpl = template::normalize(&text, &tpl, template::Kind::File);
        let elems: Vec<&Element> = tpl.iter().collect();
        child
            .render_elems(&elems, &mut out, &mut unknown)
            .map_err(|d| {
                self.err(
                    span.clone(),
                    "Error in function call",
                    format!("Call to function \"templatefile\" failed: {d}."),
                )
            })?;
        Ok(if unknown {
            Value::Unknown
        } else {
            Value::String(out)
        })
    }
}
