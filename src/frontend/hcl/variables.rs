//! Input variables: declarations, values from every source with Packer's
//! precedence, type conversion, validation and sensitivity.
//!
//! Precedence, lowest first: `default`, `PKR_VAR_name`, `*.auto.pkrvars.*`
//! (lexical order), `-var-file` (in order), `-var` (in order).

use super::decode::BlockView;
use super::eval::Evaluator;
use super::functions::FnEnv;
use super::parse::File;
use super::types::parse_type;
use super::LoadOptions;
use crate::diag::{did_you_mean, Diag, Diags, SourceFile};
use crate::graph::{Graph, VariableInfo};
use crate::value::{console_format, convert, Attrs, Type, Value};
use hcl_edit::expr::Expression;
use hcl_edit::Span;
use std::ops::Range;

struct Decl<'a> {
    name: String,
    file: &'a File,
    span: Option<Range<usize>>,
    ty: Type,
    default: Option<Value>,
    sensitive: bool,
    nullable: bool,
    description: Option<String>,
    validations: Vec<(&'a Expression, Option<&'a Expression>)>,
}

const VAR_ATTRS: &[&str] = &["type", "default", "description", "sensitive", "nullable"];

fn declarations<'a>(files: &'a [File], env: &FnEnv, diags: &mut Diags) -> Vec<Decl<'a>> {
    let empty = Attrs::new();
    let mut env_ok = env.clone();
    env_ok.allow_env = true;
    let mut decls: Vec<Decl> = Vec::new();
    for f in files {
        let ev = Evaluator::new(&f.src, &empty, &env_ok);
        for b in f.body.get_blocks("variable") {
            let view = BlockView::of(b, f);
            let Some(name) = view.labels.first().cloned() else {
                continue;
            };
            if decls.iter().any(|d| d.name == name) {
                diags.push(view.err(
                    "Duplicate variable",
                    format!("A variable named {name:?} was already declared."),
                ));
                continue;
            }
            let mut d = Decl {
                name,
                file: f,
                span: view.span.clone(),
                ty: Type::Dynamic,
                default: None,
                sensitive: false,
                nullable: true,
                description: None,
                validations: Vec::new(),
            };
            for a in b.body.attributes() {
                let key = a.key.value().as_str();
                match key {
                    "type" => match parse_type(&f.src, &a.value, &|d| ev.eval(d)) {
                        Ok(t) => d.ty = t,
                        Err(e) => diags.push(e),
                    },
                    "default" => match ev.eval(&a.value) {
                        Ok(v) => d.default = Some(v),
                        Err(e) => diags.push(e),
                    },
                    "description" => {
                        d.description = ev
                            .eval(&a.value)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                    }
                    "sensitive" => d.sensitive = matches!(ev.eval(&a.value), Ok(Value::Bool(true))),
                    "nullable" => d.nullable = !matches!(ev.eval(&a.value), Ok(Value::Bool(false))),
                    other => diags.push(
                        Diag::error("Unsupported argument")
                            .detail(format!("An argument named {other:?} is not expected here."))
                            .at(&f.src, a.key.span())
                            .maybe_hint(did_you_mean(other, VAR_ATTRS.iter().copied())),
                    ),
                }
            }
            for vb in b.body.blocks() {
                if vb.ident.value().as_str() != "validation" {
                    diags.push(
                        Diag::error("Unsupported block type")
                            .detail(format!(
                                "Blocks of type {:?} are not expected here.",
                                vb.ident.value().as_str()
                            ))
                            .at(&f.src, vb.ident.span())
                            .hint("a variable block may contain validation blocks"),
                    );
                    continue;
                }
                match vb.body.get_attribute("condition") {
                    Some(c) => d.validations.push((
                        &c.value,
                        vb.body.get_attribute("error_message").map(|m| &m.value),
                    )),
                    None => diags.push(
                        Diag::error("Missing required argument")
                            .detail("The argument \"condition\" is required.")
                            .at(&f.src, vb.ident.span()),
                    ),
                }
            }
            // The default must fit the type.
            if let Some(def) = &d.default {
                match convert(def, &d.ty) {
                    Ok(v) => d.default = Some(v),
                    Err(e) => diags.push(
                        Diag::error("Invalid default value for variable")
                            .detail(format!("This default value is not compatible with the variable's type constraint: {e}."))
                            .at(&f.src, b.body.get_attribute("default").and_then(|a| a.value.span())),
                    ),
                }
            }
            decls.push(d);
        }
        // `variables { name = default }`
        for b in f.body.get_blocks("variables") {
            for a in b.body.attributes() {
                let name = a.key.value().to_string();
                if decls.iter().any(|d| d.name == name) {
                    diags.push(
                        Diag::error("Duplicate variable")
                            .detail(format!("A variable named {name:?} was already declared."))
                            .at(&f.src, a.key.span()),
                    );
                    continue;
                }
                let default = match ev.eval(&a.value) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        diags.push(e);
                        None
                    }
                };
                decls.push(Decl {
                    name,
                    file: f,
                    span: a.key.span(),
                    ty: Type::Dynamic,
                    default,
                    sensitive: false,
                    nullable: true,
                    description: None,
                    validations: Vec::new(),
                });
            }
        }
    }
    decls
}

/// A value given as a string (env var, `-var`): literal for string, number
/// and untyped variables, an HCL expression otherwise (Packer's rule).
fn from_string(raw: &str, ty: &Type, origin: &str, env: &FnEnv) -> Result<Value, Diag> {
    match ty {
        Type::String | Type::Number | Type::Dynamic => Ok(Value::String(raw.to_string())),
        _ => {
            let src = SourceFile::new(origin, raw);
            super::eval::eval_str(&src, &Attrs::new(), env)
        }
    }
}

/// A variable's value and where it was set (none for a default).
type Set = Option<(Value, Option<(SourceFile, Option<Range<usize>>)>)>;

pub fn resolve(
    files: &[File],
    var_files: &[File],
    opts: &LoadOptions,
    env: &FnEnv,
    graph: &mut Graph,
    diags: &mut Diags,
) -> Attrs {
    let decls = declarations(files, env, diags);
    // What comes from outside the template is data, not code (Packer
    // evaluates it with no functions at all).
    let data = FnEnv {
        no_calls: true,
        ..env.clone()
    };
    let mut values: Vec<Set> = decls
        .iter()
        .map(|d| d.default.clone().map(|v| (v, None)))
        .collect();
    let names: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();

    // PKR_VAR_name
    for (i, d) in decls.iter().enumerate() {
        if let Ok(raw) = std::env::var(format!("PKR_VAR_{}", d.name)) {
            match from_string(&raw, &d.ty, &format!("PKR_VAR_{}", d.name), &data) {
                Ok(v) => values[i] = Some((v, None)),
                Err(e) => diags.push(e),
            }
        }
    }
    // var files: undeclared names are warnings
    let empty = Attrs::new();
    for vf in var_files {
        let ev = Evaluator::new(&vf.src, &empty, &data);
        for b in vf.body.blocks() {
            diags.push(
                Diag::error("Unexpected block in variable file")
                    .detail(format!(
                        "Blocks of type {:?} are not expected in a variable definitions file.",
                        b.ident.value().as_str()
                    ))
                    .at(&vf.src, b.ident.span()),
            );
        }
        for a in vf.body.attributes() {
            let name = a.key.value().as_str();
            let Some(i) = names.iter().position(|n| *n == name) else {
                if !opts.warn_undeclared_var {
                    continue;
                }
                diags.push(
                    Diag::warning("Undefined variable")
                        .detail(format!("A {name:?} variable was set but was not declared; it will be ignored. To use it, declare it with a variable block."))
                        .at(&vf.src, a.key.span())
                        .maybe_hint(did_you_mean(name, names.iter().copied())),
                );
                continue;
            };
            match ev.eval(&a.value) {
                Ok(v) => values[i] = Some((v, Some((vf.src.clone(), a.value.span())))),
                Err(e) => diags.push(e),
            }
        }
    }
    // -var: undeclared names are errors
    for (name, raw) in &opts.vars {
        let Some(i) = names.iter().position(|n| n == name) else {
            diags.push(
                Diag::error("Undefined -var variable")
                    .detail(format!("A {name:?} variable was passed in with -var but was not found in known variables. To declare variable {name:?}, place this block in one of your .pkr.hcl files, such as variables.pkr.hcl\n\nvariable {name:?} {{\n  type    = string\n  default = null\n}}"))
                    .maybe_hint(did_you_mean(name, names.iter().copied())),
            );
            continue;
        };
        match from_string(raw, &decls[i].ty, &format!("-var {name}"), &data) {
            Ok(v) => values[i] = Some((v, None)),
            Err(e) => diags.push(e),
        }
    }

    let mut out = Attrs::new();
    for (i, d) in decls.iter().enumerate() {
        let Some((raw, origin)) = values[i].take() else {
            if opts.inspect {
                graph.variables.push(VariableInfo {
                    name: d.name.clone(),
                    display: inspect_display(&Value::Unknown),
                    sensitive: d.sensitive,
                    description: d.description.clone(),
                });
                out.insert(d.name.clone(), Value::Unknown);
                continue;
            }
            diags.push(
                Diag::error(format!("Unset variable {:?}", d.name))
                    .detail("A used variable must be set or have a default value; see https://packer.io/docs/templates/hcl_templates/syntax for details.")
                    .at(&d.file.src, d.span.clone())
                    .hint(format!("set it with -var '{}=…', a -var-file, or PKR_VAR_{}", d.name, d.name)),
            );
            continue;
        };
        if d.sensitive {
            // Known as soon as it is set: an error about the raw value
            // (its type, say) is masked too.
            let mut found = Vec::new();
            super::strings_in(&raw, &mut found);
            crate::ui::register_secrets(found);
        }
        let v = match convert(&raw, &d.ty) {
            Ok(v) => v,
            Err(e) => {
                let mut diag = Diag::error("Invalid value for variable").detail(format!("The value for var.{} is not compatible with the variable's type constraint ({}): {e}.", d.name, d.ty));
                diag = match origin {
                    Some((src, span)) => diag.at(&src, span),
                    None => diag.at(&d.file.src, d.span.clone()),
                };
                diags.push(diag);
                continue;
            }
        };
        let v = if v.is_null() && !d.nullable {
            match &d.default {
                Some(def) if !def.is_null() => def.clone(),
                _ => {
                    diags.push(
                        Diag::error("Required variable not set")
                            .detail(format!(
                                "The variable {:?} is not nullable and has no non-null value.",
                                d.name
                            ))
                            .at(&d.file.src, d.span.clone()),
                    );
                    continue;
                }
            }
        } else {
            v
        };
        // validation blocks
        let scope = Attrs::from([(
            "var".to_string(),
            Value::Object(Attrs::from([(d.name.clone(), v.clone())])),
        )]);
        let ev = Evaluator::new(&d.file.src, &scope, env);
        for (cond, msg) in &d.validations {
            match ev.eval(cond) {
                Ok(Value::Bool(true)) | Ok(Value::Unknown) => {}
                Ok(Value::Bool(false)) => {
                    let text = msg.and_then(|m| ev.eval(m).ok()).and_then(|m| m.as_str().map(str::to_string)).unwrap_or_else(|| "The value failed validation.".into());
                    diags.push(Diag::error("Invalid value for variable").detail(format!("{text}\n\nThis was checked by the validation rule at {}.", d.file.src.name)).at(&d.file.src, cond.span()));
                }
                Ok(other) => diags.push(
                    Diag::error("Invalid variable validation result")
                        .detail(format!("Validation condition expression must return either true or false, not {}.", other.friendly_kind()))
                        .at(&d.file.src, cond.span()),
                ),
                Err(e) => diags.push(e),
            }
        }
        if d.sensitive {
            let mut found = Vec::new();
            super::strings_in(&v, &mut found);
            crate::ui::register_secrets(found.iter().cloned());
            graph.sensitive.extend(found);
        }
        graph.variables.push(VariableInfo {
            name: d.name.clone(),
            display: inspect_display(&v),
            sensitive: d.sensitive,
            description: d.description.clone(),
        });
        out.insert(d.name.clone(), v);
    }
    out
}

/// How `packer inspect` shows a value: the console's text (`<unknown>` for
/// a value not known yet) with every sensitive string masked, quoted as
/// Go's `%q`; a sensitive list shows each element as `<sensitive>`, as
/// Packer's does.
pub fn inspect_display(v: &Value) -> String {
    crate::value::display::go_quote(&crate::ui::mask(&console_format(v)))
}
