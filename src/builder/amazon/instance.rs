//! The source instance as the build sees it, and the address to reach it at.

use super::config::SshInterface;

/// The source instance's addresses, read once it is running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceInfo {
    pub id: String,
    pub vpc_id: Option<String>,
    pub public_ip: Option<String>,
    pub private_ip: Option<String>,
    pub public_dns: Option<String>,
    pub private_dns: Option<String>,
}

impl InstanceInfo {
    /// From what DescribeInstances returned; empty strings count as absent.
    pub fn from_sdk(i: &aws_sdk_ec2::types::Instance) -> InstanceInfo {
        let s = |v: Option<&str>| v.filter(|x| !x.is_empty()).map(str::to_string);
        InstanceInfo {
            id: i.instance_id().unwrap_or_default().to_string(),
            vpc_id: s(i.vpc_id()),
            public_ip: s(i.public_ip_address()),
            private_ip: s(i.private_ip_address()),
            public_dns: s(i.public_dns_name()),
            private_dns: s(i.private_dns_name()),
        }
    }

    /// The host to connect to. With `ssh_interface` set, exactly that
    /// address (none if the instance lacks it). Otherwise Packer's rule: in
    /// a VPC the public IP, else the private IP; outside a VPC (EC2-Classic)
    /// the public DNS name.
    pub fn ssh_host(&self, iface: Option<SshInterface>) -> Option<String> {
        match iface {
            Some(SshInterface::PublicIp) => self.public_ip.clone(),
            Some(SshInterface::PrivateIp) => self.private_ip.clone(),
            Some(SshInterface::PublicDns) => self.public_dns.clone(),
            Some(SshInterface::PrivateDns) => self.private_dns.clone(),
            None if self.vpc_id.is_some() => {
                self.public_ip.clone().or_else(|| self.private_ip.clone())
            }
            None => self.public_dns.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(vpc: bool) -> InstanceInfo {
        InstanceInfo {
            id: "i-1".into(),
            vpc_id: vpc.then(|| "vpc-1".into()),
            public_ip: Some("203.0.113.7".into()),
            private_ip: Some("10.0.0.7".into()),
            public_dns: Some("ec2-203-0-113-7.compute-1.amazonaws.com".into()),
            private_dns: Some("ip-10-0-0-7.ec2.internal".into()),
        }
    }

    #[test]
    fn outside_a_vpc_the_default_is_the_public_dns_name() {
        assert_eq!(
            full(false).ssh_host(None).as_deref(),
            Some("ec2-203-0-113-7.compute-1.amazonaws.com")
        );
        let no_dns = InstanceInfo {
            public_dns: None,
            ..full(false)
        };
        assert_eq!(
            no_dns.ssh_host(None),
            None,
            "EC2-Classic without a public name has nothing to offer"
        );
    }

    #[test]
    fn in_a_vpc_the_default_is_the_public_ip_then_the_private_ip() {
        assert_eq!(full(true).ssh_host(None).as_deref(), Some("203.0.113.7"));
        let private = InstanceInfo {
            public_ip: None,
            ..full(true)
        };
        assert_eq!(private.ssh_host(None).as_deref(), Some("10.0.0.7"));
    }

    #[test]
    fn a_chosen_interface_never_falls_back() {
        let i = InstanceInfo {
            public_ip: None,
            ..full(true)
        };
        assert_eq!(i.ssh_host(Some(SshInterface::PublicIp)), None);
        assert_eq!(
            i.ssh_host(Some(SshInterface::PrivateDns)).as_deref(),
            Some("ip-10-0-0-7.ec2.internal")
        );
    }
}
