//! cty's type unification (`convert.UnifyUnsafe`, go-cty v1.13): the one
//! type a set of types can all be converted to — what a conditional's two
//! results, `concat`'s lists, the set functions' sets and `coalesce`'s
//! arguments become. Number and string unify to string; lists of
//! different element types to a list of the unified element type; objects
//! with different attributes to a map; tuples of different lengths to a
//! list; and so on, in cty's order of preference.

use super::Type;
use std::collections::BTreeMap;

/// The type all of `types` convert to, if there is one.
pub fn unify(types: &[Type]) -> Option<Type> {
    let types: Vec<Type> = types.iter().map(strip_optional).collect();
    if types.is_empty() {
        return None;
    }
    let count = |f: fn(&Type) -> bool| types.iter().filter(|t| f(t)).count();
    let maps = count(|t| matches!(t, Type::Map(_)));
    let lists = count(|t| matches!(t, Type::List(_)));
    let sets = count(|t| matches!(t, Type::Set(_)));
    let objects = count(|t| matches!(t, Type::Object(_)));
    let tuples = count(|t| matches!(t, Type::Tuple(_)));
    let dynamics = count(|t| matches!(t, Type::Dynamic));
    let n = types.len();
    if maps > 0 && maps + dynamics == n {
        return collection(&types, dynamics > 0, |t| Type::Map(Box::new(t)));
    }
    if maps > 0 && maps + objects + dynamics == n {
        if let Some(t @ Type::Map(_)) = objects_as_maps(&types) {
            return Some(t);
        }
    } else if lists > 0 && lists + dynamics == n {
        return collection(&types, dynamics > 0, |t| Type::List(Box::new(t)));
    } else if lists > 0 && lists + tuples + dynamics == n {
        if let Some(t @ Type::List(_)) = tuples_as_list(&types) {
            return Some(t);
        }
    } else if sets > 0 && sets + dynamics == n {
        return collection(&types, dynamics > 0, |t| Type::Set(Box::new(t)));
    } else if objects > 0 && objects + dynamics == n {
        return object_types(&types, dynamics > 0);
    } else if tuples > 0 && tuples + dynamics == n {
        return tuple_types(&types, dynamics > 0);
    } else if objects > 0 && tuples > 0 {
        return None;
    }
    for want in sort_types(&types) {
        let want = &types[want];
        if types.iter().all(|t| t == want || convertible(t, want)) {
            return Some(want.clone());
        }
    }
    None
}

fn strip_optional(t: &Type) -> Type {
    match t {
        Type::Optional(t, _) => strip_optional(t),
        Type::List(t) => Type::List(Box::new(strip_optional(t))),
        Type::Set(t) => Type::Set(Box::new(strip_optional(t))),
        Type::Map(t) => Type::Map(Box::new(strip_optional(t))),
        Type::Tuple(ts) => Type::Tuple(ts.iter().map(strip_optional).collect()),
        Type::Object(a) => Type::Object(
            a.iter()
                .map(|(k, t)| (k.clone(), strip_optional(t)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn element(t: &Type) -> Type {
    match t {
        Type::List(e) | Type::Set(e) | Type::Map(e) => (**e).clone(),
        _ => Type::Dynamic,
    }
}

fn collection(types: &[Type], dynamic: bool, make: fn(Type) -> Type) -> Option<Type> {
    if dynamic {
        return Some(Type::Dynamic);
    }
    let elems: Vec<Type> = types.iter().map(element).collect();
    let t = make(unify(&elems)?);
    types
        .iter()
        .all(|ty| *ty == t || convertible(ty, &t))
        .then_some(t)
}

fn objects_as_maps(types: &[Type]) -> Option<Type> {
    let objs: Vec<Type> = types
        .iter()
        .filter(|t| matches!(t, Type::Object(_)))
        .cloned()
        .collect();
    let as_map = objects_to_map(&objs)?;
    let mapped: Vec<Type> = types
        .iter()
        .map(|t| {
            if matches!(t, Type::Object(_)) {
                as_map.clone()
            } else {
                t.clone()
            }
        })
        .collect();
    unify(&mapped).filter(|t| matches!(t, Type::Map(_)))
}

fn tuples_as_list(types: &[Type]) -> Option<Type> {
    let tuples: Vec<Type> = types
        .iter()
        .filter(|t| matches!(t, Type::Tuple(_)))
        .cloned()
        .collect();
    let as_list = tuples_to_list(&tuples)?;
    let listed: Vec<Type> = types
        .iter()
        .map(|t| {
            if matches!(t, Type::Tuple(_)) {
                as_list.clone()
            } else {
                t.clone()
            }
        })
        .collect();
    unify(&listed).filter(|t| matches!(t, Type::List(_)))
}

fn attrs(t: &Type) -> BTreeMap<String, Type> {
    match t {
        Type::Object(a) => a.clone(),
        _ => BTreeMap::new(),
    }
}

fn elems(t: &Type) -> Vec<Type> {
    match t {
        Type::Tuple(e) => e.clone(),
        _ => Vec::new(),
    }
}

fn object_types(types: &[Type], dynamic: bool) -> Option<Type> {
    if dynamic {
        return Some(Type::Dynamic);
    }
    let first = attrs(&types[0]);
    for t in &types[1..] {
        let these = attrs(t);
        if these.len() != first.len() || these.keys().any(|k| !first.contains_key(k)) {
            return objects_to_map(types);
        }
    }
    let mut out = BTreeMap::new();
    for name in first.keys() {
        let across: Vec<Type> = types
            .iter()
            .map(|t| attrs(t).get(name).cloned().unwrap_or(Type::Dynamic))
            .collect();
        out.insert(name.clone(), unify(&across)?);
    }
    let t = Type::Object(out);
    if types.iter().all(|ty| *ty == t || convertible(ty, &t)) {
        Some(t)
    } else {
        objects_to_map(types)
    }
}

fn objects_to_map(types: &[Type]) -> Option<Type> {
    let all: Vec<Type> = types.iter().flat_map(|t| attrs(t).into_values()).collect();
    let t = Type::Map(Box::new(unify(&all)?));
    types
        .iter()
        .all(|ty| *ty == t || convertible(ty, &t))
        .then_some(t)
}

fn tuple_types(types: &[Type], dynamic: bool) -> Option<Type> {
    if dynamic {
        return Some(Type::Dynamic);
    }
    let first = elems(&types[0]);
    if types[1..].iter().any(|t| elems(t).len() != first.len()) {
        return tuples_to_list(types);
    }
    let mut out = Vec::new();
    for i in 0..first.len() {
        let across: Vec<Type> = types.iter().map(|t| elems(t)[i].clone()).collect();
        out.push(unify(&across)?);
    }
    let t = Type::Tuple(out);
    if types.iter().all(|ty| *ty == t || convertible(ty, &t)) {
        Some(t)
    } else {
        tuples_to_list(types)
    }
}

fn tuples_to_list(types: &[Type]) -> Option<Type> {
    let all: Vec<Type> = types.iter().flat_map(elems).collect();
    let t = Type::List(Box::new(unify(&all)?));
    types
        .iter()
        .all(|ty| *ty == t || convertible(ty, &t))
        .then_some(t)
}

/// Whether cty converts a value of `from` to `to` at all (unsafe
/// conversions included: a string may become a number, and fail only on
/// its value).
pub fn convertible(from: &Type, to: &Type) -> bool {
    use Type::*;
    if from == to || matches!(to, Dynamic) || matches!(from, Dynamic) {
        return true;
    }
    match (from, to) {
        (Optional(f, _), _) => convertible(f, to),
        (_, Optional(t, _)) => convertible(from, t),
        (Number | Bool, String) | (String, Number | Bool) => true,
        (Number, Bool) | (Bool, Number) => false,
        (List(f) | Set(f), List(t) | Set(t)) => convertible(f, t),
        (Map(f), Map(t)) => convertible(f, t),
        (Tuple(fs), List(t) | Set(t)) => fs.iter().all(|f| convertible(f, t)),
        (Tuple(fs), Tuple(ts)) => {
            fs.len() == ts.len() && fs.iter().zip(ts).all(|(f, t)| convertible(f, t))
        }
        (List(f) | Set(f), Tuple(ts)) => ts.iter().all(|t| convertible(f, t)),
        (Object(fa), Map(t)) => fa.values().all(|f| convertible(f, t)),
        (Map(f), Object(ta)) => ta.values().all(|t| convertible(f, t)),
        (Object(fa), Object(ta)) => ta.iter().all(|(k, t)| match fa.get(k) {
            Some(f) => convertible(f, t),
            None => matches!(t, Optional(..)),
        }),
        _ => false,
    }
}

/// cty's `sortTypes`: the order to try the types as the common one
/// (string before the other primitives; a list before a tuple, a map
/// before an object, a set before a list; dynamic last).
fn sort_types(types: &[Type]) -> Vec<usize> {
    let n = types.len();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n.saturating_sub(1) {
        for j in i + 1..n {
            match compare(&types[i], &types[j]) {
                c if c < 0 => edges[i].push(j),
                c if c > 0 => edges[j].push(i),
                _ => {}
            }
        }
    }
    let mut in_degree = vec![0usize; n];
    for outs in &edges {
        for &j in outs {
            in_degree[j] += 1;
        }
    }
    let mut queue: std::collections::VecDeque<usize> =
        (0..n).filter(|&i| in_degree[i] == 0).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(i) = queue.pop_front() {
        out.push(i);
        for &j in &edges[i] {
            in_degree[j] -= 1;
            if in_degree[j] == 0 {
                queue.push_back(j);
            }
        }
    }
    out
}

/// cty's `compareTypes`: negative when `a` is preferred over `b`.
fn compare(a: &Type, b: &Type) -> i32 {
    use Type::*;
    match (a, b) {
        (Dynamic, Dynamic) => return 0,
        (Dynamic, _) => return 1,
        (_, Dynamic) => return -1,
        _ => {}
    }
    if a.is_primitive() && b.is_primitive() {
        return match (a, b) {
            (String, String) => 0,
            (String, _) => -1,
            (_, String) => 1,
            _ => 0,
        };
    }
    match (a, b) {
        (List(x), List(y)) | (Set(x), Set(y)) | (Map(x), Map(y)) => return compare(x, y),
        _ => {}
    }
    let (a, b, swap) = match (a, b) {
        (Tuple(_), List(_)) | (Object(_), Map(_)) | (Set(_), Tuple(_)) | (Set(_), List(_)) => {
            (b, a, -1)
        }
        _ => (a, b, 1),
    };
    if matches!(b, Set(_)) && matches!(a, Tuple(_) | List(_)) {
        return -swap;
    }
    if matches!(a, List(_)) && matches!(b, Tuple(_)) {
        return -swap;
    }
    if matches!(a, Map(_)) && matches!(b, Object(_)) {
        return -swap;
    }
    let pairs: Option<Vec<(Type, Type)>> = match (a, b) {
        (Object(x), Object(y)) => {
            if x.len() != y.len() || x.keys().any(|k| !y.contains_key(k)) {
                return 0;
            }
            Some(
                x.iter()
                    .map(|(k, t)| (t.clone(), y.get(k).cloned().unwrap_or(Dynamic)))
                    .collect(),
            )
        }
        (Tuple(x), Tuple(y)) => {
            if x.len() != y.len() {
                return 0;
            }
            Some(x.iter().cloned().zip(y.iter().cloned()).collect())
        }
        _ => None,
    };
    let Some(pairs) = pairs else { return 0 };
    let (mut a_super, mut b_super) = (false, false);
    for (x, y) in &pairs {
        match compare(x, y) {
            c if c < 0 => a_super = true,
            c if c > 0 => b_super = true,
            _ => {}
        }
    }
    match (a_super, b_super) {
        (true, false) => -swap,
        (false, true) => swap,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Type::*;

    fn l(t: Type) -> Type {
        List(Box::new(t))
    }
    fn obj(a: &[(&str, Type)]) -> Type {
        Object(a.iter().map(|(k, t)| (k.to_string(), t.clone())).collect())
    }

    /// Cases of go-cty's convert/unify_test.go (v1.13), translated.
    #[test]
    fn unify_as_cty() {
        let cases: Vec<(Vec<Type>, Option<Type>)> = vec![
            (vec![], None),
            (vec![String], Some(String)),
            (vec![Number], Some(Number)),
            (vec![Number, Number], Some(Number)),
            (vec![Number, String], Some(String)),
            (vec![String, Number], Some(String)),
            (vec![Bool, String, Number], Some(String)),
            (vec![Bool, Number], None),
            (
                vec![obj(&[("foo", String)]), obj(&[("foo", String)])],
                Some(obj(&[("foo", String)])),
            ),
            (
                vec![obj(&[("foo", String)]), obj(&[("foo", Number)])],
                Some(obj(&[("foo", String)])),
            ),
            (
                vec![obj(&[("foo", String)]), obj(&[("bar", String)])],
                Some(Map(Box::new(String))),
            ),
            (
                vec![obj(&[("foo", String)]), obj(&[("bar", Number)])],
                Some(Map(Box::new(String))),
            ),
            (
                vec![obj(&[("foo", String)]), obj(&[])],
                Some(Map(Box::new(String))),
            ),
            (vec![obj(&[("foo", Bool)]), obj(&[("bar", Number)])], None),
            (vec![obj(&[("foo", Bool)]), obj(&[("foo", Number)])], None),
            (
                vec![Tuple(vec![String]), Tuple(vec![String])],
                Some(Tuple(vec![String])),
            ),
            (
                vec![Tuple(vec![String]), Tuple(vec![Number])],
                Some(Tuple(vec![String])),
            ),
            (
                vec![Tuple(vec![String]), Tuple(vec![Number, String])],
                Some(l(String)),
            ),
            (vec![Tuple(vec![String]), Tuple(vec![])], Some(l(String))),
            (
                vec![Tuple(vec![Bool]), Tuple(vec![Number, String])],
                Some(l(String)),
            ),
            (vec![Tuple(vec![Bool]), Tuple(vec![Number])], None),
            (vec![l(String), l(Number)], Some(l(String))),
            (vec![l(Bool), l(Number)], None),
            (
                vec![Set(Box::new(Number)), Set(Box::new(String))],
                Some(Set(Box::new(String))),
            ),
            (
                vec![Map(Box::new(String)), obj(&[("a", Number)])],
                Some(Map(Box::new(String))),
            ),
            (vec![l(String), Tuple(vec![Number, Bool])], Some(l(String))),
            (vec![Dynamic, String], Some(String)),
            (vec![Dynamic, l(String)], Some(Dynamic)),
            (vec![obj(&[("a", String)]), Tuple(vec![String])], None),
        ];
        for (types, want) in cases {
            assert_eq!(unify(&types), want, "{types:?}");
        }
    }
}
