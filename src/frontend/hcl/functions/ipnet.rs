//! IP network functions, on u128 arithmetic so v4 and v6 share one path.

use super::{int_arg, str_arg, FnEnv, FnError, FR};
use crate::value::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

struct Net {
    v4: bool,
    addr: u128,
    prefix: u32,
}

impl Net {
    fn bits(&self) -> u32 {
        if self.v4 {
            32
        } else {
            128
        }
    }
    fn show(&self, a: u128) -> String {
        if self.v4 {
            Ipv4Addr::from(a as u32).to_string()
        } else {
            Ipv6Addr::from(a).to_string()
        }
    }
}

fn parse(s: &str, i: usize) -> Result<Net, FnError> {
    let (ip, pfx) = s
        .split_once('/')
        .ok_or_else(|| FnError::Arg(i, format!("invalid CIDR address: {s}.")))?;
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| FnError::Arg(i, format!("invalid CIDR address: {s}.")))?;
    let prefix: u32 = pfx
        .parse()
        .map_err(|_| FnError::Arg(i, format!("invalid CIDR address: {s}.")))?;
    let (v4, addr, bits) = match ip {
        IpAddr::V4(a) => (true, u32::from(a) as u128, 32),
        IpAddr::V6(a) => (false, u128::from(a), 128),
    };
    if prefix > bits {
        return Err(FnError::Arg(i, format!("invalid CIDR address: {s}.")));
    }
    let host_bits = bits - prefix;
    let mask = if host_bits >= 128 {
        0
    } else {
        !((1u128 << host_bits) - 1)
    };
    let full = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    Ok(Net {
        v4,
        addr: addr & mask & full,
        prefix,
    })
}

pub fn cidrhost(_: &FnEnv, a: Vec<Value>) -> FR {
    let n = parse(&str_arg(&a, 0)?, 0)?;
    let host = int_arg(&a, 1)?;
    let host_bits = n.bits() - n.prefix;
    let size: i128 = if host_bits >= 127 {
        i128::MAX
    } else {
        1i128 << host_bits
    };
    let idx = if host < 0 {
        size + host as i128
    } else {
        host as i128
    };
    if idx < 0 || idx >= size {
        return Err(FnError::Failed(format!(
            "prefix of {} does not accommodate a host numbered {host}",
            n.prefix
        )));
    }
    Ok(Value::String(n.show(n.addr + idx as u128)))
}

pub fn cidrnetmask(_: &FnEnv, a: Vec<Value>) -> FR {
    let n = parse(&str_arg(&a, 0)?, 0)?;
    if !n.v4 {
        return Err(FnError::Failed("only IPv4 networks have a netmask".into()));
    }
    let mask: u32 = if n.prefix == 0 {
        0
    } else {
        !0u32 << (32 - n.prefix)
    };
    Ok(Value::String(Ipv4Addr::from(mask).to_string()))
}

fn subnet(n: &Net, newbits: i64, num: i64) -> Result<String, FnError> {
    if newbits < 0 {
        return Err(FnError::Failed("newbits must not be negative".into()));
    }
    let np = n.prefix as i64 + newbits;
    if np > n.bits() as i64 {
        return Err(FnError::Failed(format!(
            "insufficient address space to extend prefix of {} by {newbits}",
            n.prefix
        )));
    }
    if num < 0 || (newbits < 64 && num >= (1i64 << newbits)) {
        return Err(FnError::Failed(format!(
            "prefix extension of {newbits} does not accommodate a subnet numbered {num}"
        )));
    }
    let shift = n.bits() - np as u32;
    let addr = n.addr | ((num as u128) << shift);
    Ok(format!("{}/{np}", n.show(addr)))
}

pub fn cidrsubnet(_: &FnEnv, a: Vec<Value>) -> FR {
    let n = parse(&str_arg(&a, 0)?, 0)?;
    Ok(Value::String(subnet(&n, int_arg(&a, 1)?, int_arg(&a, 2)?)?))
}

pub fn cidrsubnets(_: &FnEnv, a: Vec<Value>) -> FR {
    let n = parse(&str_arg(&a, 0)?, 0)?;
    let mut out = Vec::new();
    let mut cursor: u128 = n.addr;
    let end: u128 = n.addr
        + if n.bits() - n.prefix >= 128 {
            u128::MAX
        } else {
            (1u128 << (n.bits() - n.prefix)) - 1
        };
    for i in 1..a.len() {
        let nb = int_arg(&a, i)?;
        if nb < 1 {
            return Err(FnError::Arg(
                i,
                "must extend prefix by at least one bit.".into(),
            ));
        }
        let np = n.prefix as i64 + nb;
        if np > n.bits() as i64 {
            return Err(FnError::Arg(
                i,
                format!(
                    "would extend prefix to {np} bits, which is too long for an IPv{} address.",
                    if n.v4 { 4 } else { 6 }
                ),
            ));
        }
        let size: u128 = 1u128 << (n.bits() - np as u32);
        // align cursor up to this subnet size
        let aligned = cursor.div_ceil(size) * size;
        if aligned + size - 1 > end {
            return Err(FnError::Arg(
                i,
                "not enough remaining address space for a subnet with a prefix of this length."
                    .into(),
            ));
        }
        out.push(Value::String(format!("{}/{np}", n.show(aligned))));
        cursor = aligned + size;
    }
    Ok(Value::List(out))
}
