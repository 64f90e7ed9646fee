//! Packer's HCL2 function library (`docs/templates/hcl_templates/functions/`),
//! with cty's rules: unknown arguments give an unknown result, null
//! arguments are refused unless a function accepts them.
//!
//! `can`, `try`, `templatefile` and `convert` need the evaluator itself and
//! live in `eval.rs`.

mod collection;
mod crypto;
mod datetime;
mod encoding;
mod file;
mod ipnet;
pub mod limits;
mod numeric;
mod string;
mod yaml;

use crate::value::{convert, Attrs, Number, Type, Value};
use std::path::{Path, PathBuf};

/// What functions may depend on besides their arguments.
#[derive(Debug, Clone)]
pub struct FnEnv {
    /// Relative paths in `file()` & co. resolve against this (Packer: the
    /// working directory).
    pub cwd: PathBuf,
    /// `env()` is only allowed in variable defaults.
    pub allow_env: bool,
    /// Values given from outside the template (`-var`, var files,
    /// `PKR_VAR_*`) are data: no function may be called in them.
    pub no_calls: bool,
}

impl FnEnv {
    pub fn new(cwd: PathBuf) -> FnEnv {
        FnEnv {
            cwd,
            allow_env: false,
            no_calls: false,
        }
    }

    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FnError {
    UnknownFunction,
    Arity(String),
    /// (argument index, message)
    Arg(usize, String),
    Failed(String),
    Unsupported(String),
}

pub type FR = Result<Value, FnError>;
type Impl = fn(&FnEnv, Vec<Value>) -> FR;

/// (name, min args, max args (None = variadic), accepts null, accepts unknown, impl)
struct Spec(&'static str, usize, Option<usize>, bool, bool, Impl);

macro_rules! specs {
    ($( $name:literal => ($min:expr, $max:expr, $null:expr, $unk:expr, $f:path) ),* $(,)?) => {
        const SPECS: &[Spec] = &[ $( Spec($name, $min, $max, $null, $unk, $f) ),* ];
    };
}

specs! {
    // numeric
    "abs" => (1, Some(1), false, false, numeric::abs),
    "ceil" => (1, Some(1), false, false, numeric::ceil),
    "floor" => (1, Some(1), false, false, numeric::floor),
    "log" => (2, Some(2), false, false, numeric::log),
    "max" => (1, None, false, false, numeric::max),
    "min" => (1, None, false, false, numeric::min),
    "parseint" => (2, Some(2), false, false, numeric::parseint),
    "pow" => (2, Some(2), false, false, numeric::pow),
    "signum" => (1, Some(1), false, false, numeric::signum),
    // string
    "chomp" => (1, Some(1), false, false, string::chomp),
    "format" => (1, None, true, false, string::format),
    "formatlist" => (1, None, true, false, string::formatlist),
    "indent" => (2, Some(2), false, false, string::indent),
    "join" => (2, None, false, false, string::join),
    "lower" => (1, Some(1), false, false, string::lower),
    "regex" => (2, Some(2), false, false, string::regex),
    "regexall" => (2, Some(2), false, false, string::regexall),
    "regex_replace" => (3, Some(3), false, false, string::regex_replace),
    "replace" => (3, Some(3), false, false, string::replace),
    "split" => (2, Some(2), false, false, string::split),
    "strrev" => (1, Some(1), false, false, string::strrev),
    "substr" => (3, Some(3), false, false, string::substr),
    "title" => (1, Some(1), false, false, string::title),
    "trim" => (2, Some(2), false, false, string::trim),
    "trimprefix" => (2, Some(2), false, false, string::trimprefix),
    "trimsuffix" => (2, Some(2), false, false, string::trimsuffix),
    "trimspace" => (1, Some(1), false, false, string::trimspace),
    "upper" => (1, Some(1), false, false, string::upper),
    "startswith" => (2, Some(2), false, false, string::startswith),
    "endswith" => (2, Some(2), false, false, string::endswith),
    "strcontains" => (2, Some(2), false, false, string::strcontains),
    // collection
    "alltrue" => (1, Some(1), false, false, collection::alltrue),
    "anytrue" => (1, Some(1), false, false, collection::anytrue),
    "chunklist" => (2, Some(2), false, false, collection::chunklist),
    "coalesce" => (1, None, true, false, collection::coalesce),
    "coalescelist" => (1, None, true, false, collection::coalescelist),
    "compact" => (1, Some(1), false, false, collection::compact),
    "concat" => (1, None, false, false, collection::concat),
    "contains" => (2, Some(2), false, false, collection::contains),
    "distinct" => (1, Some(1), false, false, collection::distinct),
    "element" => (2, Some(2), false, false, collection::element),
    "flatten" => (1, Some(1), false, false, collection::flatten),
    "index" => (2, Some(2), false, false, collection::index),
    "keys" => (1, Some(1), false, false, collection::keys),
    "length" => (1, Some(1), false, false, collection::length),
    // cty's lookup takes its default as a required third argument.
    "lookup" => (3, Some(3), false, false, collection::lookup),
    "merge" => (0, None, true, false, collection::merge),
    "range" => (1, Some(3), false, false, collection::range),
    "reverse" => (1, Some(1), false, false, collection::reverse),
    "setintersection" => (1, None, false, false, collection::setintersection),
    "setproduct" => (0, None, false, false, collection::setproduct),
    "setunion" => (1, None, false, false, collection::setunion),
    "slice" => (3, Some(3), false, false, collection::slice),
    "sum" => (1, Some(1), false, false, collection::sum),
    "sort" => (1, Some(1), false, false, collection::sort),
    "values" => (1, Some(1), false, false, collection::values),
    "zipmap" => (2, Some(2), false, false, collection::zipmap),
    // conversion
    "tobool" => (1, Some(1), true, false, to_bool),
    "tonumber" => (1, Some(1), true, false, to_number),
    "tostring" => (1, Some(1), true, false, to_string),
    "tolist" => (1, Some(1), true, false, to_list),
    "toset" => (1, Some(1), true, false, to_set),
    "tomap" => (1, Some(1), true, false, to_map),
    // encoding
    "base64decode" => (1, Some(1), false, false, encoding::base64decode),
    "base64encode" => (1, Some(1), false, false, encoding::base64encode),
    "base64gzip" => (1, Some(1), false, false, encoding::base64gzip),
    "textdecodebase64" => (2, Some(2), false, false, encoding::textdecodebase64),
    "textencodebase64" => (2, Some(2), false, false, encoding::textencodebase64),
    "csvdecode" => (1, Some(1), false, false, encoding::csvdecode),
    "jsondecode" => (1, Some(1), false, false, encoding::jsondecode),
    "jsonencode" => (1, Some(1), true, false, encoding::jsonencode),
    "urlencode" => (1, Some(1), false, false, encoding::urlencode),
    "yamldecode" => (1, Some(1), false, false, encoding::yamldecode),
    "yamlencode" => (1, Some(1), true, false, encoding::yamlencode),
    // file
    "abspath" => (1, Some(1), false, false, file::abspath),
    "basename" => (1, Some(1), false, false, file::basename),
    "dirname" => (1, Some(1), false, false, file::dirname),
    "file" => (1, Some(1), false, false, file::file),
    "filebase64" => (1, Some(1), false, false, file::filebase64),
    "fileexists" => (1, Some(1), false, false, file::fileexists),
    "fileset" => (2, Some(2), false, false, file::fileset),
    "pathexpand" => (1, Some(1), false, false, file::pathexpand),
    // date and time
    "formatdate" => (2, Some(2), false, false, datetime::formatdate),
    "legacy_isotime" => (0, Some(1), false, false, datetime::legacy_isotime),
    "legacy_strftime" => (1, Some(1), false, false, datetime::legacy_strftime),
    "rfc3339_parse" => (1, Some(1), false, false, datetime::rfc3339_parse),
    "unix_timestamp_parse" => (1, Some(1), false, false, datetime::unix_timestamp_parse),
    "timeadd" => (2, Some(2), false, false, datetime::timeadd),
    "timestamp" => (0, Some(0), false, false, datetime::timestamp),
    // hash and crypto
    "bcrypt" => (1, Some(2), false, false, crypto::bcrypt),
    "md5" => (1, Some(1), false, false, crypto::md5),
    "rsadecrypt" => (2, Some(2), false, false, crypto::rsadecrypt),
    "sha1" => (1, Some(1), false, false, crypto::sha1),
    "sha256" => (1, Some(1), false, false, crypto::sha256),
    "sha512" => (1, Some(1), false, false, crypto::sha512),
    // uuid
    "uuidv4" => (0, Some(0), false, false, crypto::uuidv4),
    "uuidv5" => (2, Some(2), false, false, crypto::uuidv5),
    // IP network
    "cidrhost" => (2, Some(2), false, false, ipnet::cidrhost),
    "cidrnetmask" => (1, Some(1), false, false, ipnet::cidrnetmask),
    "cidrsubnet" => (3, Some(3), false, false, ipnet::cidrsubnet),
    "cidrsubnets" => (1, None, false, false, ipnet::cidrsubnets),
    // contextual
    "env" => (1, Some(1), false, false, env),
    "vault" => (2, Some(2), false, false, unsupported),
    "consul_key" => (1, Some(1), false, false, unsupported),
    "aws_secretsmanager" => (2, Some(2), false, false, unsupported),
    "aws_secretsmanager_raw" => (1, Some(1), false, false, unsupported),
}

/// Names of every function, for "did you mean" and the docs.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = SPECS.iter().map(|s| s.0).collect();
    v.extend(["can", "try", "templatefile", "convert"]);
    v
}

pub fn call(env: &FnEnv, name: &str, args: Vec<Value>) -> FR {
    let spec = SPECS
        .iter()
        .find(|s| s.0 == name)
        .ok_or(FnError::UnknownFunction)?;
    let Spec(_, min, max, allow_null, allow_unknown, f) = *spec;
    if args.len() < min || max.is_some_and(|m| args.len() > m) {
        let want = match max {
            Some(m) if m == min => format!("{min}"),
            Some(m) => format!("{min} to {m}"),
            None => format!("at least {min}"),
        };
        return Err(FnError::Arity(format!(
            "Function {name:?} expects {want} argument(s), but {} were given.",
            args.len()
        )));
    }
    if !allow_unknown && args.iter().any(Value::contains_unknown) {
        return Ok(Value::Unknown);
    }
    if !allow_null {
        if let Some(i) = args.iter().position(Value::is_null) {
            return Err(FnError::Arg(i, "argument must not be null.".into()));
        }
    }
    // A bug in one function must not take the process down with it: the
    // call fails with a diagnostic instead.
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(env, args))).map_err(
        |_| {
            FnError::Failed(format!(
                "kiln could not evaluate {name} (an internal error, please report it)"
            ))
        },
    )??;
    limits::check(&out)?;
    Ok(out)
}

// ---- argument helpers shared by the function files ----

pub(super) fn str_arg(args: &[Value], i: usize) -> Result<String, FnError> {
    match convert(&args[i], &Type::String) {
        Ok(Value::String(s)) => Ok(s),
        _ => Err(FnError::Arg(i, "string required.".into())),
    }
}

pub(super) fn num_arg(args: &[Value], i: usize) -> Result<Number, FnError> {
    match convert(&args[i], &Type::Number) {
        Ok(Value::Number(n)) => Ok(n),
        _ => Err(FnError::Arg(i, "number required.".into())),
    }
}

pub(super) fn int_arg(args: &[Value], i: usize) -> Result<i64, FnError> {
    let n = num_arg(args, i)?;
    n.to_i64()
        .ok_or_else(|| FnError::Arg(i, "value must be a whole number.".into()))
}

pub(super) fn seq_arg(args: &[Value], i: usize) -> Result<Vec<Value>, FnError> {
    match &args[i] {
        Value::List(v) | Value::Set(v) | Value::Tuple(v) => Ok(v.clone()),
        other => Err(FnError::Arg(
            i,
            format!(
                "list of any single type required, got {}.",
                other.friendly_kind()
            ),
        )),
    }
}

/// A `list(any)` parameter's value: a tuple or set converted to a list of
/// the type its elements unify to, as cty converts arguments
/// (`distinct([1, "1"])` sees two strings).
pub(super) fn list_arg(args: &[Value], i: usize) -> Result<Vec<Value>, FnError> {
    seq_arg(args, i)?;
    match crate::value::convert(&args[i], &Type::List(Box::new(Type::Dynamic))) {
        Ok(Value::List(v)) => Ok(v),
        Ok(_) => seq_arg(args, i),
        Err(e) => Err(FnError::Arg(i, format!("{}.", e.message))),
    }
}

pub(super) fn attrs_arg(args: &[Value], i: usize) -> Result<Attrs, FnError> {
    match &args[i] {
        Value::Map(m) | Value::Object(m) => Ok(m.clone()),
        other => Err(FnError::Arg(
            i,
            format!("map or object required, got {}.", other.friendly_kind()),
        )),
    }
}

pub(super) fn strings_arg(args: &[Value], i: usize) -> Result<Vec<String>, FnError> {
    seq_arg(args, i)?
        .iter()
        .map(|v| match convert(v, &Type::String) {
            Ok(Value::String(s)) => Ok(s),
            _ => Err(FnError::Arg(i, "list of string required.".into())),
        })
        .collect()
}

pub(super) fn string_list(items: impl IntoIterator<Item = String>) -> Value {
    Value::List(items.into_iter().map(Value::String).collect())
}

// ---- conversion and contextual functions ----

fn conv(args: &[Value], t: Type) -> FR {
    convert(&args[0], &t).map_err(|e| FnError::Arg(0, format!("{e}.")))
}
fn to_bool(_: &FnEnv, a: Vec<Value>) -> FR {
    conv(&a, Type::Bool)
}
fn to_number(_: &FnEnv, a: Vec<Value>) -> FR {
    conv(&a, Type::Number)
}
fn to_string(_: &FnEnv, a: Vec<Value>) -> FR {
    conv(&a, Type::String)
}
fn to_list(_: &FnEnv, a: Vec<Value>) -> FR {
    conv(&a, Type::List(Box::new(Type::Dynamic)))
}
fn to_set(_: &FnEnv, a: Vec<Value>) -> FR {
    conv(&a, Type::Set(Box::new(Type::Dynamic)))
}
fn to_map(_: &FnEnv, a: Vec<Value>) -> FR {
    conv(&a, Type::Map(Box::new(Type::Dynamic)))
}

fn env(env: &FnEnv, a: Vec<Value>) -> FR {
    if !env.allow_env {
        return Err(FnError::Failed(
            "the env function can only be used in the default value of a variable".into(),
        ));
    }
    let name = str_arg(&a, 0)?;
    Ok(Value::String(std::env::var(name).unwrap_or_default()))
}

fn unsupported(_: &FnEnv, _: Vec<Value>) -> FR {
    Err(FnError::Unsupported(
        "reading secrets from Vault, Consul or AWS Secrets Manager is not supported yet".into(),
    ))
}
