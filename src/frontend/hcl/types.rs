//! Type constraint expressions: `string`, `list(number)`, `object({a=bool})`.

use crate::diag::{Diag, SourceFile};
use crate::value::{convert, Type, Value};
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::Span;

/// `eval` gives the value of an `optional(T, default)` default.
pub fn parse_type(
    src: &SourceFile,
    e: &Expression,
    eval: &dyn Fn(&Expression) -> Result<Value, Diag>,
) -> Result<Type, Diag> {
    parse_at(src, e, eval, false)
}

/// `attribute`: `e` is an object attribute's type, which may be `optional(…)`.
fn parse_at(
    src: &SourceFile,
    e: &Expression,
    eval: &dyn Fn(&Expression) -> Result<Value, Diag>,
    attribute: bool,
) -> Result<Type, Diag> {
    let parse_type = |src: &SourceFile, e: &Expression| parse_at(src, e, eval, false);
    let bad = |msg: &str| {
        Diag::error("Invalid type specification").detail(msg.to_string()).at(src, e.span()).hint("use string, number, bool, any, list(T), set(T), map(T), object({...}) or tuple([...])")
    };
    match e {
        Expression::Variable(v) => match v.value().as_str() {
            "string" => Ok(Type::String),
            "number" => Ok(Type::Number),
            "bool" => Ok(Type::Bool),
            "any" => Ok(Type::Dynamic),
            "list" => Ok(Type::List(Box::new(Type::Dynamic))),
            "map" => Ok(Type::Map(Box::new(Type::Dynamic))),
            "set" => Ok(Type::Set(Box::new(Type::Dynamic))),
            other => Err(bad(&format!("The keyword {other:?} is not a valid type specification."))),
        },
        Expression::FuncCall(f) => {
            let name = f.name.name.value().as_str();
            let args: Vec<&Expression> = f.args.iter().collect();
            let one = || -> Result<Type, Diag> {
                if args.len() != 1 {
                    return Err(bad(&format!("The {name} type constructor requires one argument specifying the element type.")));
                }
                parse_type(src, args[0])
            };
            match name {
                "list" => Ok(Type::List(Box::new(one()?))),
                "set" => Ok(Type::Set(Box::new(one()?))),
                "map" => Ok(Type::Map(Box::new(one()?))),
                "optional" if !attribute => Err(bad("Keyword \"optional\" is valid only as a modifier for object type attributes.")),
                "optional" => match args.as_slice() {
                    [t] => Ok(Type::Optional(Box::new(parse_type(src, t)?), None)),
                    [t, d] => {
                        let t = parse_type(src, t)?;
                        let v = eval(d)?;
                        let v = convert(&v, &t).map_err(|why| {
                            Diag::error("Invalid default value for optional attribute")
                                .detail(format!("This default value is not compatible with the attribute's type constraint: {why}."))
                                .at(src, d.span())
                        })?;
                        Ok(Type::Optional(Box::new(t), Some(Box::new(v))))
                    }
                    _ => Err(bad("The optional modifier takes the attribute's type and, optionally, its default value.")),
                },
                "object" => match args.as_slice() {
                    [Expression::Object(o)] => {
                        let mut attrs = std::collections::BTreeMap::new();
                        for (k, v) in o.iter() {
                            let key = match k {
                                ObjectKey::Ident(i) => i.value().to_string(),
                                ObjectKey::Expression(Expression::String(s)) => s.value().to_string(),
                                _ => return Err(bad("Object constructor map keys must be attribute names.")),
                            };
                            attrs.insert(key, parse_at(src, v.expr(), eval, true)?);
                        }
                        Ok(Type::Object(attrs))
                    }
                    _ => Err(bad("The object type constructor requires one argument specifying the attribute types as a map.")),
                },
                "tuple" => match args.as_slice() {
                    [Expression::Array(a)] => Ok(Type::Tuple(a.iter().map(|x| parse_type(src, x)).collect::<Result<_, _>>()?)),
                    _ => Err(bad("The tuple type constructor requires one argument specifying the element types as a list.")),
                },
                other => Err(bad(&format!("Keyword {other:?} is not a valid type constructor."))),
            }
        }
        _ => Err(bad("A type specification is either a primitive type keyword (bool, number, string) or a complex type constructor call, like list(string).")),
    }
}
