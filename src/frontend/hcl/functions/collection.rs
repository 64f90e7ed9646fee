//! Collection functions.

use super::{attrs_arg, int_arg, num_arg, seq_arg, str_arg, strings_arg, FnEnv, FnError, FR};
use crate::frontend::hcl::eval::values_equal;
use crate::value::{convert, Attrs, Number, Type, Value};
use unicode_segmentation::UnicodeSegmentation;

/// Rebuild a sequence with the same kind as `like` (list stays list, …).
fn same_kind(like: &Value, items: Vec<Value>) -> Value {
    match like {
        Value::Set(_) => Value::set_from(items),
        Value::Tuple(_) => Value::Tuple(items),
        _ => Value::List(items),
    }
}

pub fn length(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::int(match &a[0] {
        Value::String(s) => s.graphemes(true).count() as i64,
        Value::List(v) | Value::Set(v) | Value::Tuple(v) => v.len() as i64,
        Value::Map(m) | Value::Object(m) => m.len() as i64,
        other => {
            return Err(FnError::Failed(format!(
                "argument must be a string, a collection type, or a structural type, not {}",
                other.friendly_kind()
            )))
        }
    }))
}

pub fn chunklist(_: &FnEnv, a: Vec<Value>) -> FR {
    let items = super::list_arg(&a, 0)?;
    let size = int_arg(&a, 1)?;
    if size < 0 {
        return Err(FnError::Arg(
            1,
            "the size argument must be positive.".into(),
        ));
    }
    if size == 0 {
        return Ok(Value::List(vec![Value::List(items)]));
    }
    Ok(Value::List(
        items
            .chunks(size as usize)
            .map(|c| Value::List(c.to_vec()))
            .collect(),
    ))
}

/// cty's coalesce: the arguments' types unified (`coalesce(1, "a")` is
/// the string "1"), then the first that is neither null nor "".
pub fn coalesce(_: &FnEnv, a: Vec<Value>) -> FR {
    let types: Vec<Type> = a.iter().map(Value::type_of).collect();
    let Some(t) = crate::value::unify(&types) else {
        return Err(FnError::Failed(
            "all arguments must have the same type".into(),
        ));
    };
    for (i, v) in a.iter().enumerate() {
        match v {
            Value::Null => continue,
            Value::String(s) if s.is_empty() => continue,
            other => {
                return convert(other, &t).map_err(|e| FnError::Arg(i, e.message));
            }
        }
    }
    Err(FnError::Failed(
        "no non-null, non-empty-string arguments".into(),
    ))
}

pub fn coalescelist(_: &FnEnv, a: Vec<Value>) -> FR {
    for (i, v) in a.iter().enumerate() {
        match v {
            Value::Null => continue,
            Value::List(x) | Value::Tuple(x) | Value::Set(x) => {
                if !x.is_empty() {
                    return Ok(v.clone());
                }
            }
            _ => return Err(FnError::Arg(i, "a list or tuple is required.".into())),
        }
    }
    Err(FnError::Failed("no non-null arguments".into()))
}

pub fn compact(_: &FnEnv, a: Vec<Value>) -> FR {
    let items = strings_or_null(&a, 0)?;
    Ok(Value::List(
        items
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .map(Value::String)
            .collect(),
    ))
}

fn strings_or_null(a: &[Value], i: usize) -> Result<Vec<Option<String>>, FnError> {
    seq_arg(a, i)?
        .iter()
        .map(|v| match v {
            Value::Null => Ok(None),
            other => match convert(other, &Type::String) {
                Ok(Value::String(s)) => Ok(Some(s)),
                _ => Err(FnError::Arg(i, "list of string required.".into())),
            },
        })
        .collect()
}

/// cty's concat: lists of one element type unify to a list of it
/// (`concat(tolist([1]), tolist(["a"]))` is a list of strings); any
/// tuple makes a tuple of every element as it is.
pub fn concat(_: &FnEnv, a: Vec<Value>) -> FR {
    for (i, v) in a.iter().enumerate() {
        if !matches!(
            v,
            Value::List(_) | Value::Tuple(_) | Value::Null | Value::Unknown
        ) {
            return Err(FnError::Arg(
                i,
                format!(
                    "all arguments must be lists or tuples; got {}.",
                    v.friendly_kind()
                ),
            ));
        }
    }
    if a.iter().all(|v| matches!(v, Value::List(_))) {
        let types: Vec<Type> = a.iter().map(Value::type_of).collect();
        if let Some(t @ Type::List(_)) = crate::value::unify(&types) {
            let mut out = Vec::new();
            for (i, v) in a.iter().enumerate() {
                match convert(v, &t) {
                    Ok(Value::List(items)) => out.extend(items),
                    Ok(_) => {}
                    Err(e) => return Err(FnError::Arg(i, e.message)),
                }
            }
            return Ok(Value::List(out));
        }
    }
    let mut out = Vec::new();
    for i in 0..a.len() {
        out.extend(seq_arg(&a, i)?);
    }
    Ok(Value::Tuple(out))
}

pub fn contains(_: &FnEnv, a: Vec<Value>) -> FR {
    let items = seq_arg(&a, 0)?;
    Ok(Value::Bool(items.iter().any(|v| values_equal(v, &a[1]))))
}

pub fn distinct(_: &FnEnv, a: Vec<Value>) -> FR {
    let items = super::list_arg(&a, 0)?;
    let mut seen = std::collections::HashSet::new();
    let out: Vec<Value> = items
        .into_iter()
        .filter(|v| seen.insert(crate::value::equality_key(v)))
        .collect();
    Ok(Value::List(out))
}

pub fn element(_: &FnEnv, a: Vec<Value>) -> FR {
    let items = seq_arg(&a, 0)?;
    let i = int_arg(&a, 1)?;
    if items.is_empty() {
        return Err(FnError::Failed(
            "cannot use element function with an empty list".into(),
        ));
    }
    if i < 0 {
        return Err(FnError::Failed(
            "cannot use element function with a negative index".into(),
        ));
    }
    Ok(items[(i as usize) % items.len()].clone())
}

pub fn flatten(_: &FnEnv, a: Vec<Value>) -> FR {
    fn go(v: &[Value], out: &mut Vec<Value>) {
        for x in v {
            match x {
                Value::List(y) | Value::Tuple(y) | Value::Set(y) => go(y, out),
                other => out.push(other.clone()),
            }
        }
    }
    let mut out = Vec::new();
    go(&seq_arg(&a, 0)?, &mut out);
    Ok(Value::Tuple(out))
}

pub fn index(_: &FnEnv, a: Vec<Value>) -> FR {
    let items = seq_arg(&a, 0)?;
    match items.iter().position(|v| values_equal(v, &a[1])) {
        Some(i) => Ok(Value::int(i as i64)),
        None => Err(FnError::Failed("item not found".into())),
    }
}

pub fn keys(_: &FnEnv, a: Vec<Value>) -> FR {
    let m = attrs_arg(&a, 0)?;
    let ks = m.keys().map(|k| Value::String(k.clone())).collect();
    Ok(match &a[0] {
        Value::Object(_) => Value::Tuple(ks),
        _ => Value::List(ks),
    })
}

pub fn values(_: &FnEnv, a: Vec<Value>) -> FR {
    let m = attrs_arg(&a, 0)?;
    let vs = m.values().cloned().collect();
    Ok(match &a[0] {
        Value::Object(_) => Value::Tuple(vs),
        _ => Value::List(vs),
    })
}

pub fn lookup(_: &FnEnv, a: Vec<Value>) -> FR {
    let m = attrs_arg(&a, 0)?;
    let k = str_arg(&a, 1)?;
    match m.get(&k) {
        Some(v) => Ok(v.clone()),
        None => match a.get(2) {
            Some(d) => Ok(d.clone()),
            None => Err(FnError::Failed(format!("lookup failed to find key {k:?}"))),
        },
    }
}

pub fn merge(_: &FnEnv, a: Vec<Value>) -> FR {
    let mut out = Attrs::new();
    let mut all_maps = true;
    for (i, v) in a.iter().enumerate() {
        match v {
            Value::Null => continue,
            Value::Map(m) => out.extend(m.clone()),
            Value::Object(m) => {
                all_maps = false;
                out.extend(m.clone())
            }
            _ => return Err(FnError::Arg(i, "arguments must be maps or objects.".into())),
        }
    }
    Ok(if all_maps && !a.is_empty() {
        Value::Map(out)
    } else {
        Value::Object(out)
    })
}

pub fn range(_: &FnEnv, a: Vec<Value>) -> FR {
    let (start, limit, step) = match a.len() {
        1 => (Number::from(0), num_arg(&a, 0)?, None),
        2 => (num_arg(&a, 0)?, num_arg(&a, 1)?, None),
        _ => (num_arg(&a, 0)?, num_arg(&a, 2 - 1)?, Some(num_arg(&a, 2)?)),
    };
    let step = step.unwrap_or_else(|| {
        if limit < start {
            Number::from(-1)
        } else {
            Number::from(1)
        }
    });
    if step.is_zero() {
        return Err(FnError::Failed("step must not be zero".into()));
    }
    let down = step.is_negative();
    if down && start < limit {
        return Err(FnError::Failed(
            "when step is negative, start must be greater than limit".into(),
        ));
    }
    if !down && start > limit {
        return Err(FnError::Failed(
            "when step is positive, start must be less than limit".into(),
        ));
    }
    let mut out = Vec::new();
    let mut cur = start;
    while if down { cur > limit } else { cur < limit } {
        if out.len() >= 1024 {
            return Err(FnError::Failed("more than 1024 values were generated; either decrease the difference between start and end or use a smaller step".into()));
        }
        out.push(Value::Number(cur.clone()));
        cur = cur.add(&step).map_err(|e| FnError::Failed(e.into()))?;
    }
    Ok(Value::List(out))
}

pub fn reverse(_: &FnEnv, a: Vec<Value>) -> FR {
    // A set is taken as the list of its elements in cty's set order
    // (cty v1.13's reverse does so), reversed.
    if let Value::Set(_) = &a[0] {
        let mut items = set_items(&a, 0)?;
        items.reverse();
        return Ok(Value::List(items));
    }
    let mut items = seq_arg(&a, 0)?;
    items.reverse();
    Ok(same_kind(&a[0], items))
}

fn set_items(a: &[Value], i: usize) -> Result<Vec<Value>, FnError> {
    let mut v = seq_arg(a, i)?;
    crate::value::sort_set(&mut v);
    v.dedup_by(|x, y| values_equal(x, y));
    Ok(v)
}

/// The set functions' arguments as sets of one element type: each
/// argument's elements unified (as its conversion to a set does), then
/// the arguments' element types (`setunion(toset([1]), toset(["a"]))` is a
/// set of strings).
fn unified_sets(a: &[Value]) -> Result<Vec<Vec<Value>>, FnError> {
    let mut items = Vec::with_capacity(a.len());
    let mut types = Vec::with_capacity(a.len());
    for i in 0..a.len() {
        let v = seq_arg(a, i)?;
        let elem_types: Vec<Type> = v.iter().map(Value::type_of).collect();
        let t = if elem_types.is_empty() {
            Type::Dynamic
        } else {
            crate::value::unify(&elem_types)
                .ok_or_else(|| FnError::Arg(i, "all set elements must have the same type".into()))?
        };
        types.push(t);
        items.push(v);
    }
    let t = crate::value::unify(&types).ok_or_else(|| {
        FnError::Failed("given sets must all have compatible element types".into())
    })?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let mut v = v
                .iter()
                .map(|x| convert(x, &t).map_err(|e| FnError::Arg(i, e.message)))
                .collect::<Result<Vec<Value>, FnError>>()?;
            crate::value::sort_set(&mut v);
            v.dedup_by(|x, y| values_equal(x, y));
            Ok(v)
        })
        .collect()
}

pub fn setintersection(_: &FnEnv, a: Vec<Value>) -> FR {
    let mut sets = unified_sets(&a)?.into_iter();
    let mut acc = sets.next().unwrap_or_default();
    for other in sets {
        let other: std::collections::HashSet<String> =
            other.iter().map(crate::value::equality_key).collect();
        acc.retain(|v| other.contains(&crate::value::equality_key(v)));
    }
    Ok(Value::set_from(acc))
}

pub fn setunion(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::set_from(unified_sets(&a)?.concat()))
}

pub fn setproduct(_: &FnEnv, a: Vec<Value>) -> FR {
    if a.len() < 2 {
        return Err(FnError::Failed(
            "at least two arguments are required".into(),
        ));
    }
    let total = a.iter().try_fold(1usize, |n, v| {
        let len = v.as_seq().map_or(1, <[Value]>::len);
        n.checked_mul(len)
            .filter(|n| *n <= super::limits::MAX_ELEMENTS)
    });
    if total.is_none() {
        return Err(FnError::Failed(format!(
            "the product would have more than {} elements, kiln's limit for one value",
            super::limits::MAX_ELEMENTS
        )));
    }
    let mut rows: Vec<Vec<Value>> = vec![vec![]];
    let all_lists = a
        .iter()
        .all(|v| matches!(v, Value::List(_) | Value::Tuple(_)));
    for i in 0..a.len() {
        let items = if matches!(a[i], Value::Set(_)) {
            set_items(&a, i)?
        } else {
            seq_arg(&a, i)?
        };
        let mut next = Vec::new();
        for r in &rows {
            for it in &items {
                let mut nr = r.clone();
                nr.push(it.clone());
                next.push(nr);
            }
        }
        rows = next;
    }
    let out: Vec<Value> = rows.into_iter().map(Value::Tuple).collect();
    Ok(if all_lists {
        Value::List(out)
    } else {
        Value::set_from(out)
    })
}

pub fn slice(_: &FnEnv, a: Vec<Value>) -> FR {
    let items = seq_arg(&a, 0)?;
    let s = int_arg(&a, 1)?;
    let e = int_arg(&a, 2)?;
    if s < 0 {
        return Err(FnError::Arg(
            1,
            "start index must not be less than zero.".into(),
        ));
    }
    if e as usize > items.len() || e < 0 {
        return Err(FnError::Arg(
            2,
            "end index must not be greater than the length of the list.".into(),
        ));
    }
    if s > e {
        return Err(FnError::Arg(
            1,
            "start index must not be greater than end index.".into(),
        ));
    }
    Ok(same_kind(&a[0], items[s as usize..e as usize].to_vec()))
}

pub fn sort(_: &FnEnv, a: Vec<Value>) -> FR {
    let mut s = strings_arg(&a, 0)?;
    s.sort();
    Ok(Value::List(s.into_iter().map(Value::String).collect()))
}

pub fn zipmap(_: &FnEnv, a: Vec<Value>) -> FR {
    let ks = strings_arg(&a, 0)?;
    let vs = seq_arg(&a, 1)?;
    if ks.len() != vs.len() {
        return Err(FnError::Failed(format!(
            "number of keys ({}) does not match number of values ({})",
            ks.len(),
            vs.len()
        )));
    }
    let m: Attrs = ks.into_iter().zip(vs).collect();
    Ok(if matches!(a[1], Value::Tuple(_)) {
        Value::Object(m)
    } else {
        Value::Map(m)
    })
}

/// The elements of `alltrue`/`anytrue`'s `list(bool)` argument, each
/// converted to a bool (`None` for null, `Err(())` inside for unknown).
fn bool_elements(a: &[Value]) -> Result<Vec<Option<Result<bool, ()>>>, FnError> {
    let items = seq_arg(a, 0)?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Null => Ok(None),
            Value::Unknown => Ok(Some(Err(()))),
            v => match convert(v, &Type::Bool) {
                Ok(Value::Bool(b)) => Ok(Some(Ok(b))),
                _ => Err(FnError::Arg(0, format!("element {i}: bool required."))),
            },
        })
        .collect()
}

/// `alltrue(list)`: true when every element is true (an empty list too); a
/// null element is false.
pub fn alltrue(_: &FnEnv, a: Vec<Value>) -> FR {
    for e in bool_elements(&a)? {
        match e {
            Some(Err(())) => return Ok(Value::Unknown),
            None | Some(Ok(false)) => return Ok(Value::Bool(false)),
            Some(Ok(true)) => {}
        }
    }
    Ok(Value::Bool(true))
}

/// `anytrue(list)`: true when any element is true; nulls are skipped, and
/// an unknown element makes a result without a true one unknown.
pub fn anytrue(_: &FnEnv, a: Vec<Value>) -> FR {
    let mut unknown = false;
    for e in bool_elements(&a)? {
        match e {
            Some(Ok(true)) => return Ok(Value::Bool(true)),
            Some(Err(())) => unknown = true,
            _ => {}
        }
    }
    Ok(if unknown {
        Value::Unknown
    } else {
        Value::Bool(false)
    })
}

/// `sum(list)`: the exact sum of a list, set or tuple of numbers (strings
/// that are numbers convert, as cty converts them).
pub fn sum(_: &FnEnv, a: Vec<Value>) -> FR {
    let items = match &a[0] {
        Value::List(v) | Value::Set(v) | Value::Tuple(v) => v,
        Value::Map(m) | Value::Object(m) => {
            return Err(FnError::Arg(
                0,
                if m.is_empty() {
                    "cannot sum an empty list".into()
                } else {
                    format!(
                        "argument must be list, set, or tuple. Received {}",
                        a[0].friendly_kind()
                    )
                },
            ))
        }
        _ => return Err(FnError::Arg(0, "cannot sum noniterable".into())),
    };
    if items.is_empty() {
        return Err(FnError::Arg(0, "cannot sum an empty list".into()));
    }
    if items.iter().any(|v| matches!(v, Value::Unknown)) {
        return Ok(Value::Unknown);
    }
    let mut total = Number::from(0);
    for v in items {
        match convert(v, &Type::Number) {
            Ok(Value::Number(n)) if !matches!(v, Value::Null) => {
                total = total.add(&n).map_err(|e| FnError::Failed(e.into()))?
            }
            _ => {
                return Err(FnError::Arg(
                    0,
                    "argument must be list, set, or tuple of number values".into(),
                ))
            }
        }
    }
    Ok(Value::Number(total))
}
