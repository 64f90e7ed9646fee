//! Steps 1-3: the AMI name is free, the source AMI, the network.

use super::{failed, filter, filters, SourceImage, State};
use crate::builder::amazon::client::sdk_error;
use crate::builder::amazon::config::EbsConfig;
use crate::builder::amazon::resources;
use crate::runner::steps::Step;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;

// ---- 1. PreValidate ---------------------------------------------------------

pub struct PreValidate<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for PreValidate<'_> {
    fn name(&self) -> &'static str {
        "StepPreValidate"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if !self.cfg.access.skip_credential_validation {
            s.aws.check_credentials().await.map_err(failed)?;
        }
        // The key pair and group go out now, unless -debug steps through the
        // build (each is made in its own step then) or the key pair's name
        // has build variables in it.
        if !ctx.debug {
            if !self
                .cfg
                .temporary_key_pair_name
                .as_deref()
                .is_some_and(|n| n.contains("{{"))
            {
                s.begin_key_pair(self.cfg, ctx)?;
            }
            if super::access::early_group(self.cfg) && s.temp_group.is_none() {
                s.begin_security_group(
                    self.cfg,
                    self.cfg.temporary_security_group_source_cidrs.clone(),
                )?;
            }
        }
        // The source AMI's lookup needs nothing from this step: it goes out
        // now and its answer waits for the next step.
        let (q, _) = source_query(&s.ec2, self.cfg);
        s.prefetched_source = Some(
            s.begin(async move { q.send().await.map_err(|e| sdk_error("DescribeImages", &e)) }),
        );
        ctx.ui.say("Prevalidating any provided VPC information");
        if self.cfg.subnet_id.is_some() && self.cfg.vpc_id.is_some() {
            let out = s
                .ec2
                .describe_subnets()
                .subnet_ids(self.cfg.subnet_id.clone().unwrap_or_default())
                .send()
                .await
                .map_err(|e| failed(sdk_error("DescribeSubnets", &e)))?;
            let vpc = out
                .subnets()
                .first()
                .and_then(|n| n.vpc_id())
                .map(str::to_string);
            if vpc.as_deref() != self.cfg.vpc_id.as_deref() {
                return Err(failed(format!(
                    "Error: subnet {} is not in vpc {}",
                    self.cfg.subnet_id.as_deref().unwrap_or_default(),
                    self.cfg.vpc_id.as_deref().unwrap_or_default()
                )));
            }
        }
        // A vpc_id without a subnet: EC2 would launch in the default VPC's
        // subnet and refuse the group made in this one; as Packer, say so now.
        if let (Some(vpc), None, None) = (
            &self.cfg.vpc_id,
            &self.cfg.subnet_id,
            &self.cfg.subnet_filter,
        ) {
            let out = s
                .ec2
                .describe_vpcs()
                .vpc_ids(vpc)
                .send()
                .await
                .map_err(|e| {
                    failed(format!(
                        "Error retrieving VPC information for vpc_id {vpc}: {}",
                        sdk_error("DescribeVpcs", &e)
                    ))
                })?;
            if out
                .vpcs()
                .first()
                .is_some_and(|v| v.is_default() != Some(true))
            {
                return Err(failed(format!("Error: subnet_id or subnet_filter must be provided for non-default VPCs ({vpc})")));
            }
        }
        if self.cfg.skip_create_ami {
            return Ok(());
        }
        let name = &self.cfg.ami_name;
        if self.cfg.force_deregister || ctx.force {
            ctx.ui
                .say("Force Deregister flag found, skipping prevalidating AMI Name");
            return Ok(());
        }
        ctx.ui.say(&format!("Prevalidating AMI Name: {name}"));
        // With skip_save_build_region no AMI of that name is made in the build region.
        let mut regions = if self.cfg.skip_save_build_region {
            Vec::new()
        } else {
            vec![s.region().to_string()]
        };
        for r in &self.cfg.ami_regions {
            if !(regions.contains(r) || self.cfg.skip_save_build_region && r == s.region()) {
                regions.push(r.clone());
            }
        }
        for r in regions {
            let found = resources::images_named(&s.aws.ec2_in(&r), name)
                .await
                .map_err(failed)?;
            if let Some((id, _)) = found.first() {
                return Err(failed(format!("Error: AMI Name: '{name}' is used by an existing AMI: {id} (in {r}); use -force or force_deregister = true to replace it")));
            }
        }
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        // A group or key pair begun here, when the build stopped before its step.
        s.delete_temp_group(ctx).await;
        s.delete_key_pair(ctx).await;
    }
}

// ---- 2. SourceAMIInfo -------------------------------------------------------

pub struct SourceAmi<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for SourceAmi<'_> {
    fn name(&self) -> &'static str {
        "StepSourceAMIInfo"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let (q, what) = source_query(&s.ec2, self.cfg);
        let prefetched = match s.prefetched_source.take() {
            Some(rx) => rx.await.ok(),
            None => None,
        };
        let out = match prefetched {
            Some(answer) => answer,
            None => q.send().await.map_err(|e| sdk_error("DescribeImages", &e)),
        }
        .map_err(failed)?;
        let img = pick_source(out.images().to_vec(), self.cfg, &what).map_err(failed)?;
        let id = img.image_id().unwrap_or_default().to_string();
        ctx.ui.message(&format!("Found Image ID: {id}"));
        // Enhanced networking needs an HVM AMI (Packer's check, before anything is made).
        if self.cfg.ena_support == Some(true) || self.cfg.sriov_support {
            match self.cfg.ami_virtualization_type.as_deref() {
                Some("hvm") => {}
                Some(other) => {
                    return Err(failed(format!(
                        "Cannot enable enhanced networking, AMIVirtType '{other}' is not HVM"
                    )))
                }
                None if img.virtualization_type().map(|v| v.as_str()) != Some("hvm") => {
                    return Err(failed(format!(
                        "Cannot enable enhanced networking, source AMI '{id}' is not HVM"
                    )));
                }
                None => {}
            }
        }
        ctx.set_generated("SourceAMI", id.clone());
        ctx.set_generated("SourceAMIName", img.name().unwrap_or_default());
        ctx.set_generated("SourceAMIOwner", img.owner_id().unwrap_or_default());
        ctx.set_generated(
            "SourceAMIOwnerName",
            img.image_owner_alias().unwrap_or_default(),
        );
        ctx.set_generated(
            "SourceAMICreationDate",
            img.creation_date().unwrap_or_default(),
        );
        ctx.set_generated("BuildRegion", s.region().to_string());
        s.source = Some(SourceImage {
            id,
            root_device_name: img.root_device_name().map(str::to_string),
        });
        Ok(())
    }
}

/// The DescribeImages that finds the source AMI, and how to name it in errors.
/// The image a source query's answer names: the only one, or the newest
/// with `most_recent`.
fn pick_source(
    mut images: Vec<aws_sdk_ec2::types::Image>,
    cfg: &EbsConfig,
    what: &str,
) -> Result<aws_sdk_ec2::types::Image, String> {
    if images.is_empty() {
        return Err(format!("No AMI was found matching {what}"));
    }
    if images.len() > 1 {
        if !cfg
            .source_ami_filter
            .as_ref()
            .is_some_and(|f| f.most_recent)
        {
            return Err("Your query returned more than one result. Please try a more specific search, or set most_recent to true.".into());
        }
        images.sort_by(|a, b| {
            a.creation_date()
                .unwrap_or_default()
                .cmp(b.creation_date().unwrap_or_default())
        });
    }
    images
        .pop()
        .ok_or_else(|| format!("No AMI was found matching {what}"))
}

/// The source AMI's id, as the build would find it (what `-reuse` looks
/// for an AMI made from).
pub async fn resolve_source(ec2: &aws_sdk_ec2::Client, cfg: &EbsConfig) -> Result<String, String> {
    let (q, what) = source_query(ec2, cfg);
    let out = q
        .send()
        .await
        .map_err(|e| sdk_error("DescribeImages", &e))?;
    let img = pick_source(out.images().to_vec(), cfg, &what)?;
    Ok(img.image_id().unwrap_or_default().to_string())
}

fn source_query(
    ec2: &aws_sdk_ec2::Client,
    cfg: &EbsConfig,
) -> (
    aws_sdk_ec2::operation::describe_images::builders::DescribeImagesFluentBuilder,
    String,
) {
    let q = ec2.describe_images();
    if let Some(id) = &cfg.source_ami {
        return (q.image_ids(id), format!("source_ami {id}"));
    }
    let f = cfg.source_ami_filter.clone().unwrap_or_default();
    let q = q
        .set_filters(Some(filters(&f.filters)))
        .set_owners(Some(f.owners.clone()));
    let q = if f.include_deprecated {
        q.include_deprecated(true)
    } else {
        q
    };
    (
        q,
        format!("source_ami_filter {:?} owned by {:?}", f.filters, f.owners),
    )
}

// ---- 3. NetworkInfo ---------------------------------------------------------

pub struct Network<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for Network<'_> {
    fn name(&self) -> &'static str {
        "StepNetworkInfo"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if let (None, Some(f)) = (&s.vpc_id, &self.cfg.vpc_filter) {
            let out = s
                .ec2
                .describe_vpcs()
                .set_filters(Some(filters(f)))
                .send()
                .await
                .map_err(|e| failed(sdk_error("DescribeVpcs", &e)))?;
            let ids: Vec<String> = out
                .vpcs()
                .iter()
                .filter_map(|v| v.vpc_id().map(str::to_string))
                .collect();
            if ids.len() != 1 {
                return Err(failed(format!(
                    "Exactly one VPC should match the vpc_filter {f:?}; found {}: {ids:?}",
                    ids.len()
                )));
            }
            ctx.ui.message(&format!("Found VPC ID: {}", ids[0]));
            s.vpc_id = Some(ids[0].clone());
        }
        if let (None, Some(f)) = (&s.subnet_id, &self.cfg.subnet_filter) {
            let mut q = s
                .ec2
                .describe_subnets()
                .set_filters(Some(filters(&f.filters)));
            if let Some(v) = &s.vpc_id {
                q = q.filters(filter("vpc-id", v));
            }
            let out = q
                .send()
                .await
                .map_err(|e| failed(sdk_error("DescribeSubnets", &e)))?;
            let mut subnets = out.subnets().to_vec();
            if let Some(az) = &s.availability_zone {
                subnets.retain(|n| n.availability_zone() == Some(az.as_str()));
            }
            let n = match subnets.len() {
                0 => {
                    return Err(failed(format!(
                        "No subnet matches subnet_filter {:?}",
                        f.filters
                    )))
                }
                1 => &subnets[0],
                _ if f.most_free => subnets
                    .iter()
                    .max_by_key(|n| n.available_ip_address_count().unwrap_or(0))
                    .unwrap_or(&subnets[0]),
                k if f.random => {
                    &subnets[usize::try_from(getrandom::u32().unwrap_or(0)).unwrap_or(0) % k]
                }
                k => {
                    let ids: Vec<&str> = subnets.iter().filter_map(|n| n.subnet_id()).collect();
                    return Err(failed(format!("Your subnet_filter matched {k} subnets ({}): make it more specific, or set most_free or random to true", ids.join(", "))));
                }
            };
            ctx.ui.message(&format!(
                "Found Subnet ID: {}",
                n.subnet_id().unwrap_or_default()
            ));
            s.subnet_id = n.subnet_id().map(str::to_string);
        }
        if let Some(sub) = s.subnet_id.clone() {
            if s.vpc_id.is_none() || s.availability_zone.is_none() {
                let out = s
                    .ec2
                    .describe_subnets()
                    .subnet_ids(&sub)
                    .send()
                    .await
                    .map_err(|e| failed(sdk_error("DescribeSubnets", &e)))?;
                let n = out
                    .subnets()
                    .first()
                    .ok_or_else(|| failed(format!("subnet {sub} does not exist")))?;
                s.vpc_id = s.vpc_id.clone().or_else(|| n.vpc_id().map(str::to_string));
                s.availability_zone = s
                    .availability_zone
                    .clone()
                    .or_else(|| n.availability_zone().map(str::to_string));
            }
        }
        Ok(())
    }
}
