//! Steps 4-5: the temporary key pair and security group through which
//! kiln reaches the instance.

use super::{failed, filter, filters, render, short_uuid, State, TempKey};
use crate::builder::amazon::client::sdk_error;
use crate::builder::amazon::config::{EbsConfig, KeyType as CfgKeyType};
use crate::builder::amazon::consistency::eventually_unless;
use crate::builder::amazon::resources::Resource;
use crate::runner::steps::Step;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, KeyType};
use std::path::PathBuf;
use std::sync::Arc;

// ---- 4. KeyPair -------------------------------------------------------------

pub struct KeyPair<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for KeyPair<'_> {
    fn name(&self) -> &'static str {
        "StepKeyPair"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if !self.cfg.temporary_key_pair {
            if let Some(n) = &self.cfg.ssh_keypair_name {
                ctx.ui.say(&format!(
                    "Using existing SSH private key for the key pair {n}"
                ));
            }
            return Ok(());
        }
        if s.key_pair.is_none() {
            s.begin_key_pair(self.cfg, ctx)?;
        }
        if let Some(Resource::KeyPair { name, .. }) = &s.key_pair {
            ctx.ui.say(&format!("Creating temporary keypair: {name}"));
        }
        if ctx.debug {
            s.key_ready(ctx).await?;
        }
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        s.key = None;
        if let Some(f) = s.debug_key_file.take() {
            let _ = std::fs::remove_file(f);
        }
        s.delete_key_pair(ctx).await;
    }
}

impl State {
    /// Send the CreateKeyPair of the temporary key pair. EC2 makes the key
    /// (RSA generation takes it a while), so the call goes out as early as
    /// it can — once the credentials are known good, while the AMI name is
    /// checked — and the steps before the launch run meanwhile; the launch
    /// waits for it ([`State::key_ready`]).
    pub(super) fn begin_key_pair(
        &mut self,
        cfg: &EbsConfig,
        ctx: &BuildContext,
    ) -> Result<(), BuildError> {
        if !cfg.temporary_key_pair || self.key_pair.is_some() {
            return Ok(());
        }
        let name = render(
            ctx,
            &cfg.temporary_key_pair_name
                .clone()
                // Packer's prefix: IAM policies written for Packer name it.
                .unwrap_or_else(|| format!("packer_{}", short_uuid())),
        )?;
        let r = Resource::KeyPair {
            region: self.region().to_string(),
            name: name.clone(),
        };
        self.track(&r)?;
        self.key_pair = Some(r);
        let kt = match cfg.temporary_key_pair_type {
            CfgKeyType::Rsa => KeyType::Rsa,
            CfgKeyType::Ed25519 => KeyType::Ed25519,
        };
        let ec2 = self.ec2.clone();
        let call = async move {
            let out = ec2
                .create_key_pair()
                .key_name(&name)
                .key_type(kt)
                .send()
                .await
                .map_err(|e| sdk_error("CreateKeyPair", &e))?;
            out.key_material()
                .map(str::to_string)
                .ok_or_else(|| "CreateKeyPair returned no key material".to_string())
        };
        self.pending_key = Some(self.begin(call));
        Ok(())
    }

    /// Delete the temporary key pair, if one was begun (by its step, or
    /// early by the first one).
    pub(super) async fn delete_key_pair(&mut self, ctx: &BuildContext) {
        self.pending_key = None;
        if let Some(r) = self.key_pair.take() {
            ctx.ui.say("Deleting temporary keypair...");
            self.delete(ctx, &r).await;
        }
    }

    /// Delete the temporary security group, if one was begun.
    pub(super) async fn delete_temp_group(&mut self, ctx: &BuildContext) {
        self.pending_group = None;
        if let Some(r) = self.temp_group.take() {
            ctx.ui.say("Deleting temporary security group...");
            self.delete(ctx, &r).await;
        }
    }

    /// Wait for the temporary key pair, if one is being made, and take its
    /// private key (and the name to launch with).
    pub(super) async fn key_ready(&mut self, ctx: &BuildContext) -> Result<(), BuildError> {
        if let Some(e) = &self.key_failed {
            // A retried step (-on-error=ask) meets the same failure.
            return Err(failed(e.clone()));
        }
        let Some(rx) = self.pending_key.take() else {
            return Ok(());
        };
        let pem = match rx.await {
            Ok(Ok(pem)) => pem,
            Ok(Err(e)) => {
                self.key_failed = Some(e.clone());
                return Err(failed(e));
            }
            Err(_) => {
                self.key_failed = Some("CreateKeyPair: the call was lost".into());
                return Err(failed("CreateKeyPair: the call was lost".into()));
            }
        };
        let key = russh::keys::decode_secret_key(&pem, None)
            .map_err(|e| failed(format!("reading the temporary key pair's private key: {e}")))?;
        if ctx.debug {
            let file = PathBuf::from(format!(
                "ec2_{}.pem",
                ctx.build_name.replace(['/', '.'], "_")
            ));
            ctx.ui.message(&format!(
                "Saving key for debug purposes: {}",
                file.display()
            ));
            crate::util::fs::write_private(&file, pem.as_bytes())
                .map_err(|e| failed(format!("Error saving debug key: {e}")))?;
            self.debug_key_file = Some(file);
        }
        self.key = Some(TempKey {
            private: Arc::new(key),
        });
        if let Some(Resource::KeyPair { name, .. }) = &self.key_pair {
            self.launch_key_name = Some(name.clone());
        }
        Ok(())
    }
}

// ---- 5. SecurityGroup -------------------------------------------------------

pub struct SecurityGroup<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for SecurityGroup<'_> {
    fn name(&self) -> &'static str {
        "StepSecurityGroup"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if !self.cfg.security_group_ids.is_empty() {
            ctx.ui.say("Using specified security groups...");
            s.group_ids = self.cfg.security_group_ids.clone();
            return Ok(());
        }
        if let Some(f) = &self.cfg.security_group_filter {
            let mut q = s
                .ec2
                .describe_security_groups()
                .set_filters(Some(filters(f)));
            if let Some(v) = &s.vpc_id {
                q = q.filters(filter("vpc-id", v));
            }
            let out = q
                .send()
                .await
                .map_err(|e| failed(sdk_error("DescribeSecurityGroups", &e)))?;
            let ids: Vec<String> = out
                .security_groups()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string))
                .collect();
            if ids.is_empty() {
                return Err(failed(format!(
                    "No security group matches security_group_filter {f:?}"
                )));
            }
            ctx.ui
                .say(&format!("Found security group(s): {}", ids.join(", ")));
            s.group_ids = ids;
            return Ok(());
        }
        if s.pending_group.is_none() {
            // A retry (-on-error=ask) of a group that failed: that one goes first.
            if let Some(old) = s.temp_group.take() {
                s.delete(ctx, &old).await;
            }
            let cidrs = if self.cfg.source_public_ip {
                vec![public_ip_cidr().await.map_err(failed)?]
            } else {
                self.cfg.temporary_security_group_source_cidrs.clone()
            };
            s.begin_security_group(self.cfg, cidrs)?;
        }
        if let Some(Resource::SecurityGroup { name, .. }) = &s.temp_group {
            ctx.ui.say(&format!(
                "Creating temporary security group for this instance: {name}"
            ));
        }
        let Some(rx) = s.pending_group.take() else {
            return Ok(());
        };
        let answer = rx.await.unwrap_or(GroupAnswer {
            id: None,
            port: 0,
            cidrs: Vec::new(),
            error: Some("CreateSecurityGroup: the call was lost".into()),
        });
        if let (
            Some(id),
            Some(Resource::SecurityGroup {
                region,
                name,
                vpc_id,
                ..
            }),
        ) = (&answer.id, s.temp_group.clone())
        {
            let r = Resource::SecurityGroup {
                region,
                name,
                vpc_id,
                id: Some(id.clone()),
            };
            s.track(&r)?;
            s.temp_group = Some(r);
            s.group_ids = vec![id.clone()];
        }
        if answer.id.is_some() && !self.cfg.communicator_none {
            ctx.ui.say(&format!(
                "Authorizing access to port {} from {:?} in the temporary security groups...",
                answer.port, answer.cidrs
            ));
        }
        if let Some(e) = answer.error {
            s.group_ids.clear();
            return Err(failed(e));
        }
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        s.delete_temp_group(ctx).await;
    }
}

/// What the temporary security group's calls answered.
pub(super) struct GroupAnswer {
    /// The group's id, once CreateSecurityGroup answered.
    id: Option<String>,
    /// The SSH port and source ranges it was opened to.
    port: i32,
    cidrs: Vec<String>,
    /// Why a call failed.
    error: Option<String>,
}

impl State {
    /// Send the temporary security group's CreateSecurityGroup and its
    /// AuthorizeSecurityGroupIngress (journaled first, under a name kiln
    /// chose). The step waits for them; when the group's VPC is known from
    /// the template alone they go out in the first step, while the AMI name
    /// and the source AMI are looked up ([`early_group`]).
    pub(super) fn begin_security_group(
        &mut self,
        cfg: &EbsConfig,
        cidrs: Vec<String>,
    ) -> Result<(), BuildError> {
        let name = format!("packer_{}", short_uuid());
        let r = Resource::SecurityGroup {
            region: self.region().to_string(),
            name: name.clone(),
            vpc_id: self.vpc_id.clone(),
            id: None,
        };
        self.track(&r)?;
        self.temp_group = Some(r);
        let (ec2, vpc, open) = (
            self.ec2.clone(),
            self.vpc_id.clone(),
            !cfg.communicator_none,
        );
        let port = i32::from(cfg.ssh_port);
        let stop = self.cancel.clone();
        let call = async move {
            let mut answer = GroupAnswer {
                id: None,
                port,
                cidrs,
                error: None,
            };
            match ec2
                .create_security_group()
                .group_name(&name)
                .description("Temporary group for kiln (a Packer-compatible image builder)")
                .set_vpc_id(vpc)
                .send()
                .await
            {
                Ok(out) => answer.id = Some(out.group_id().unwrap_or_default().to_string()),
                Err(e) => {
                    answer.error = Some(sdk_error("CreateSecurityGroup", &e));
                    return answer;
                }
            }
            if open {
                let ranges = answer
                    .cidrs
                    .iter()
                    .map(|c| IpRange::builder().cidr_ip(c).build())
                    .collect();
                let perm = IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(port)
                    .to_port(port)
                    .set_ip_ranges(Some(ranges))
                    .build();
                let group = answer.id.clone();
                if let Err(e) = eventually_unless("AuthorizeSecurityGroupIngress", &stop, || {
                    ec2.authorize_security_group_ingress()
                        .set_group_id(group.clone())
                        .ip_permissions(perm.clone())
                        .send()
                })
                .await
                {
                    answer.error = Some(sdk_error("AuthorizeSecurityGroupIngress", &e));
                }
            }
            answer
        };
        self.pending_group = Some(self.begin(call));
        Ok(())
    }
}

/// Whether the temporary security group can be made in the first step:
/// kiln makes one, its VPC is the template's (no subnet or VPC to look up
/// first) and its source range needs no lookup of this host's address.
pub(super) fn early_group(cfg: &EbsConfig) -> bool {
    cfg.security_group_ids.is_empty()
        && cfg.security_group_filter.is_none()
        && cfg.vpc_filter.is_none()
        && cfg.subnet_filter.is_none()
        && (cfg.subnet_id.is_none() || cfg.vpc_id.is_some())
        && !cfg.source_public_ip
}

/// This host's public address as a /32 (or /128), from
/// `$KILN_PUBLIC_IP_URL` (default: AWS's checkip service), for
/// `temporary_security_group_source_public_ip`.
async fn public_ip_cidr() -> Result<String, String> {
    let url = std::env::var("KILN_PUBLIC_IP_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "https://checkip.amazonaws.com".into());
    let u = url.clone();
    let body = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(std::time::Duration::from_secs(10))).build().into();
        let mut resp = agent.get(&u).call().map_err(|e| e.to_string())?;
        resp.body_mut().read_to_string().map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("temporary_security_group_source_public_ip: asking {url} for this host's public address: {e}"))?;
    let ip: std::net::IpAddr = body.trim().parse().map_err(|_| {
        format!(
            "temporary_security_group_source_public_ip: {url} answered {:?}, not an IP address",
            body.trim()
        )
    })?;
    Ok(match ip {
        std::net::IpAddr::V4(v) => format!("{v}/32"),
        std::net::IpAddr::V6(v) => format!("{v}/128"),
    })
}
