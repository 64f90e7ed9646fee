//! Type constraint expressions: `string`, `list(number)`, `object({a=bool})`.

use crate::diag::{Diag, SourceFile};
use crate::value::Type;
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::Span;

pub fn parse_type(src: &SourceFile, e: &Expression) -> Result<Type, Diag> {
    let bad =
        |msg: &str| Diag::error("Invalid type specification").detail(msg.to_string()).at(src, e.span()).hint("use string, number, bool, any, list(T), set(T), map(T), object({...}) or tuple([...])");
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
                "optional" => one(),
                "object" => match args.as_slice() {
                    [Expression::Object(o)] => {
                        let mut attrs = std::collections::BTreeMap::new();
                        for (k, v) in o.iter() {
                            let key = match k {
                                ObjectKey::Ident(i) => i.value().to_string(),
                                ObjectKey::Expression(Expression::String(s)) => s.value().to_string(),
                                _ => return Err(bad("Object constructor map keys must be attribute names.")),
                            };
                            attrs.insert(key, parse_type(src, v.expr())?);
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
