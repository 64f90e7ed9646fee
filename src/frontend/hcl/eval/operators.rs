//! Unary and binary operators: operand checks in hclsyntax's words, and
//! long chains evaluated in a loop.

use super::*;

impl Evaluator<'_> {
    pub(super) fn operand_number(
        &self,
        v: &Value,
        span: Option<Range<usize>>,
        which: &str,
    ) -> Result<Option<Number>, Diag> {
        match v {
            Value::Unknown => Ok(None),
            Value::Null => Err(self.err(
                span,
                "Operation failed",
                "Error during operation: argument must not be null.",
            )),
            other => match convert(other, &Type::Number) {
                Ok(Value::Number(n)) => Ok(Some(n)),
                _ => Err(self.err(
                    span,
                    "Invalid operand",
                    format!("Unsuitable value for {which}: a number is required."),
                )),
            },
        }
    }

    pub(super) fn operand_bool(
        &self,
        v: &Value,
        span: Option<Range<usize>>,
        which: &str,
    ) -> Result<Option<bool>, Diag> {
        match v {
            Value::Unknown => Ok(None),
            other => match convert(other, &Type::Bool) {
                Ok(Value::Bool(b)) => Ok(Some(b)),
                _ => Err(self.err(
                    span,
                    "Invalid operand",
                    format!("Unsuitable value for {which}: a bool is required."),
                )),
            },
        }
    }

    /// `a + b + c …`, a tree as deep as the chain is long on its left:
    /// walked down that side and evaluated back up in a loop, so that a
    /// chain of thousands of operators (which hclsyntax accepts) costs no
    /// stack.
    pub(super) fn binary_chain(
        &self,
        top: &hcl_edit::expr::BinaryOp,
        span: Option<Range<usize>>,
    ) -> R {
        let mut spine = vec![(top, span)];
        let mut left = &top.lhs_expr;
        while let Expression::BinaryOp(b) = left {
            spine.push((b, left.span()));
            left = &b.lhs_expr;
        }
        let mut lv = self.eval(left)?;
        let mut l_span = left.span();
        for (b, span) in spine.into_iter().rev() {
            let rv = self.eval(&b.rhs_expr)?;
            lv = self.binary(
                b.operator.value(),
                (lv, l_span),
                (rv, b.rhs_expr.span()),
                span.clone(),
            )?;
            l_span = span;
        }
        Ok(lv)
    }

    /// One operator applied to its operands' values (and spans).
    pub(super) fn binary(
        &self,
        op: &BinaryOperator,
        (lv, l_span): (Value, Option<Range<usize>>),
        (rv, r_span): (Value, Option<Range<usize>>),
        span: Option<Range<usize>>,
    ) -> R {
        use BinaryOperator::*;
        match op {
            Eq | NotEq => {
                if lv.contains_unknown() || rv.contains_unknown() {
                    return Ok(Value::Unknown);
                }
                let eq = values_equal(&lv, &rv);
                Ok(Value::Bool(if matches!(op, Eq) { eq } else { !eq }))
            }
            And | Or => {
                let a = self.operand_bool(&lv, l_span, "left operand")?;
                let b = self.operand_bool(&rv, r_span, "right operand")?;
                match (a, b) {
                    (Some(a), Some(b)) => {
                        Ok(Value::Bool(if matches!(op, And) { a && b } else { a || b }))
                    }
                    _ => Ok(Value::Unknown),
                }
            }
            _ => {
                let a = self.operand_number(&lv, l_span, "left operand")?;
                let b = self.operand_number(&rv, r_span, "right operand")?;
                let (a, b) = match (a, b) {
                    (Some(a), Some(b)) => (a, b),
                    _ => return Ok(Value::Unknown),
                };
                // cty's arithmetic errors (opposing infinities, 0/0) in
                // hclsyntax's words for a failed operator.
                let arith = |r: Result<crate::value::Number, crate::value::number::NaN>| {
                    r.map(Value::Number).map_err(|e| {
                        self.err(
                            span.clone(),
                            "Operation failed",
                            format!("Error during operation: {e}."),
                        )
                    })
                };
                Ok(match op {
                    Plus => arith(a.add(&b))?,
                    Minus => arith(a.sub(&b))?,
                    Mul => arith(a.mul(&b))?,
                    Div => arith(a.div(&b))?,
                    Mod => arith(a.rem(&b))?,
                    Less => Value::Bool(a < b),
                    LessEq => Value::Bool(a <= b),
                    Greater => Value::Bool(a > b),
                    GreaterEq => Value::Bool(a >= b),
                    Eq | NotEq | And | Or => unreachable!("handled above"),
                })
            }
        }
    }
}
