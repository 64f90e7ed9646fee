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
    /// An address as Go's `net.IP.String` writes it: an IPv4-mapped IPv6
    /// address (`::ffff:10.0.0.1`) in dotted form.
    fn show(&self, a: u128) -> String {
        if self.v4 {
            return Ipv4Addr::from(a as u32).to_string();
        }
        let v6 = Ipv6Addr::from(a);
        match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        }
    }
    /// A network as Go's `net.IPNet.String` writes it: an IPv4-mapped one
    /// as IPv4 with the mask's last 32 bits.
    fn show_net(&self, a: u128, prefix: u32) -> String {
        if !self.v4 && Ipv6Addr::from(a).to_ipv4_mapped().is_some() {
            return format!("{}/{}", self.show(a), prefix.saturating_sub(96));
        }
        format!("{}/{prefix}", self.show(a))
    }
}

/// Go's `net.ParseCIDR` error, as go-cty-funcs words it.
fn bad_cidr(s: &str) -> String {
    format!("invalid CIDR expression: invalid CIDR address: {s}")
}

/// Parse a CIDR; a bad one is `Err(message)`.
fn parse_net(s: &str) -> Result<Net, String> {
    let (ip, pfx) = s.split_once('/').ok_or_else(|| bad_cidr(s))?;
    let ip: IpAddr = ip.parse().map_err(|_| bad_cidr(s))?;
    let prefix: u32 = pfx.parse().map_err(|_| bad_cidr(s))?;
    let (v4, addr, bits) = match ip {
        IpAddr::V4(a) => (true, u32::from(a) as u128, 32),
        IpAddr::V6(a) => (false, u128::from(a), 128),
    };
    if prefix > bits {
        return Err(bad_cidr(s));
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

/// A CIDR argument of cidrhost, cidrnetmask, cidrsubnet: a bad one fails
/// the call (go-cty-funcs does not name the argument).
fn parse(s: &str) -> Result<Net, FnError> {
    parse_net(s).map_err(FnError::Failed)
}

pub fn cidrhost(_: &FnEnv, a: Vec<Value>) -> FR {
    let n = parse(&str_arg(&a, 0)?)?;
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
    let n = parse(&str_arg(&a, 0)?)?;
    if n.v4 {
        let mask: u32 = if n.prefix == 0 {
            0
        } else {
            !0u32 << (32 - n.prefix)
        };
        return Ok(Value::String(Ipv4Addr::from(mask).to_string()));
    }
    // An IPv6 network's mask, written as an address (go-cty-funcs).
    let mask: u128 = if n.prefix == 0 {
        0
    } else {
        !0u128 << (128 - n.prefix)
    };
    Ok(Value::String(n.show(mask)))
}

fn subnet(n: &Net, newbits: i64, num: i64) -> Result<String, FnError> {
    if newbits < 0 {
        return Err(FnError::Failed("newbits must not be negative".into()));
    }
    // go-cty-funcs keeps the subnet number in 32 bits, on every machine.
    if newbits > 32 {
        return Err(FnError::Failed(
            "may not extend prefix by more than 32 bits".into(),
        ));
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
    Ok(n.show_net(addr, np as u32))
}

pub fn cidrsubnet(_: &FnEnv, a: Vec<Value>) -> FR {
    let n = parse(&str_arg(&a, 0)?)?;
    Ok(Value::String(subnet(&n, int_arg(&a, 1)?, int_arg(&a, 2)?)?))
}

pub fn cidrsubnets(_: &FnEnv, a: Vec<Value>) -> FR {
    let n = parse_net(&str_arg(&a, 0)?).map_err(|e| FnError::Arg(0, e))?;
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
        if nb > 32 {
            return Err(FnError::Arg(
                i,
                "may not extend prefix by more than 32 bits".into(),
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
        out.push(Value::String(n.show_net(aligned, np as u32)));
        cursor = aligned + size;
    }
    Ok(Value::List(out))
}
