//! Steps 13-20: stop the instance, create the AMI, copy it to other
//! regions, deprecate, share and tag it, then keep it.

use super::launch::describe_instance;
use super::options::block_device;
use super::{failed, render, render_tags, say_tags, short_uuid, State};
use crate::builder::amazon::client::{is_not_found, sdk_error};
use crate::builder::amazon::config::EbsConfig;
use crate::builder::amazon::consistency::{eventually, eventually_unless, eventually_within, GONE};
use crate::builder::amazon::resources::{self, Resource};
use crate::builder::amazon::wait::{self, Policy, Poll};
use crate::runner::steps::Step;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, BlockDeviceMapping, CreateVolumePermission,
    CreateVolumePermissionModifications, ImageState, InstanceStateName, LaunchPermission,
    LaunchPermissionModifications, PermissionGroup, ResourceType, SnapshotAttributeName, Tag,
    TagSpecification,
};
use aws_sdk_ec2::Client;

// ---- 13. StopEBSBackedInstance ----------------------------------------------

pub struct StopInstance<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for StopInstance<'_> {
    fn name(&self) -> &'static str {
        "StepStopEBSBackedInstance"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        // Provisioning is over: the temporary key pair has done its job.
        if let Some(r) = s.key_pair.clone() {
            s.delete_early(ctx, vec![r]);
        }
        if self.cfg.disable_stop_instance {
            ctx.ui
                .say("Automatic instance stop disabled. Please stop instance manually.");
        } else {
            let id = s
                .instance
                .as_ref()
                .map(|i| i.id.clone())
                .unwrap_or_default();
            ctx.ui.say("Stopping the source instance...");
            let ec2 = &s.ec2;
            eventually("StopInstances", || {
                ec2.stop_instances().instance_ids(&id).send()
            })
            .await
            .map_err(|e| failed(sdk_error("StopInstances", &e)))?;
        }
        let id = s
            .instance
            .as_ref()
            .map(|i| i.id.clone())
            .unwrap_or_default();
        ctx.ui.say("Waiting for the instance to stop...");
        let ec2 = s.ec2.clone();
        wait::until(&format!("instance {id} to stop"), &s.policy, || async {
            let Some(i) = describe_instance(&ec2, &id).await? else {
                return Err(format!("instance {id} disappeared"));
            };
            match i.state().and_then(|x| x.name()) {
                Some(InstanceStateName::Stopped) => Ok(Poll::Ready(())),
                Some(InstanceStateName::Terminated) => Err(format!(
                    "Error waiting for instance to stop: instance {id} was terminated ({})",
                    i.state_reason()
                        .and_then(|r| r.message())
                        .unwrap_or("EC2 gave no reason")
                )),
                Some(other) => Ok(Poll::Pending(other.as_str().to_string())),
                None => Ok(Poll::Pending("unknown".into())),
            }
        })
        .await
        .map_err(failed)
    }
}

// ---- 14. ModifyEBSBackedInstance --------------------------------------------

pub struct ModifyInstance<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for ModifyInstance<'_> {
    fn name(&self) -> &'static str {
        "StepModifyEBSBackedInstance"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let id = s
            .instance
            .as_ref()
            .map(|i| i.id.clone())
            .unwrap_or_default();
        if self.cfg.sriov_support {
            ctx.ui.say("Enabling Enhanced Networking (SR-IOV)...");
            let q = s
                .ec2
                .modify_instance_attribute()
                .instance_id(&id)
                .sriov_net_support(AttributeValue::builder().value("simple").build());
            eventually("ModifyInstanceAttribute", || q.clone().send())
                .await
                .map_err(|e| failed(sdk_error("ModifyInstanceAttribute", &e)))?;
        }
        if let Some(ena) = self.cfg.ena_support {
            ctx.ui.say(&format!(
                "{} Enhanced Networking (ENA)...",
                if ena { "Enabling" } else { "Disabling" }
            ));
            let q = s
                .ec2
                .modify_instance_attribute()
                .instance_id(&id)
                .ena_support(AttributeBooleanValue::builder().value(ena).build());
            eventually("ModifyInstanceAttribute", || q.clone().send())
                .await
                .map_err(|e| failed(sdk_error("ModifyInstanceAttribute", &e)))?;
        }
        Ok(())
    }
}

// ---- 15. DeregisterAMI --------------------------------------------------------

pub struct Deregister<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for Deregister<'_> {
    fn name(&self) -> &'static str {
        "StepDeregisterAMI"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if !(self.cfg.force_deregister || ctx.force) {
            return Ok(());
        }
        let mut regions = vec![s.region().to_string()];
        for r in &self.cfg.ami_regions {
            if !regions.contains(r) {
                regions.push(r.clone());
            }
        }
        for r in regions {
            let ec2 = s.aws.ec2_in(&r);
            for (id, snaps) in resources::images_named(&ec2, &self.cfg.ami_name)
                .await
                .map_err(failed)?
            {
                ctx.ui.say(&format!("Deregistered AMI id: {id}"));
                let snaps = if self.cfg.force_delete_snapshot {
                    snaps
                } else {
                    Vec::new()
                };
                for sn in &snaps {
                    ctx.ui.say(&format!("Deleted snapshot: {sn}"));
                }
                resources::delete_image(&ec2, &id, &snaps)
                    .await
                    .map_err(failed)?;
            }
        }
        Ok(())
    }
}

// ---- 16. CreateAMI ------------------------------------------------------------

async fn wait_image(
    ec2: &Client,
    policy: &Policy,
    id: &str,
) -> Result<aws_sdk_ec2::types::Image, String> {
    wait::until(&format!("AMI {id} to become available"), policy, || async {
        let out = eventually("DescribeImages", || {
            ec2.describe_images().image_ids(id).send()
        })
        .await
        .map_err(|e| sdk_error("DescribeImages", &e))?;
        let Some(img) = out.images().first().cloned() else {
            return Ok(Poll::Pending("not visible yet".into()));
        };
        match img.state() {
            Some(ImageState::Available) => Ok(Poll::Ready(img)),
            Some(ImageState::Failed)
            | Some(ImageState::Error)
            | Some(ImageState::Invalid)
            | Some(ImageState::Deregistered) => {
                let why = img
                    .state_reason()
                    .and_then(|r| r.message().or(r.code()))
                    .unwrap_or("EC2 gave no reason");
                Err(format!(
                    "Error waiting for AMI {id}: it is {}: {why}",
                    img.state().map(|x| x.as_str()).unwrap_or("?")
                ))
            }
            other => Ok(Poll::Pending(
                other
                    .map(|x| x.as_str().to_string())
                    .unwrap_or_else(|| "unknown".into()),
            )),
        }
    })
    .await
}

/// The China and GovCloud partitions, whose CreateImage takes no tags.
fn restricted_partition(region: &str) -> bool {
    region.starts_with("cn-") || region.starts_with("us-gov-")
}

/// Whether the build region's AMI is made with the run tags (and its
/// snapshots get them too): unless `skip_ami_run_tags`, or in a partition
/// that takes no tags at CreateImage.
fn run_tags_reach_ami(cfg: &EbsConfig, region: &str) -> bool {
    !cfg.skip_ami_run_tags && !restricted_partition(region)
}

pub struct CreateAmi<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for CreateAmi<'_> {
    fn name(&self) -> &'static str {
        "StepCreateAMI"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let id = s
            .instance
            .as_ref()
            .map(|i| i.id.clone())
            .unwrap_or_default();
        // skip_save_build_region, encrypt_boot: the build region's AMI is an
        // intermediary (the copies are the product), named so that it
        // never meets the real name there.
        let name = if intermediary(self.cfg) {
            format!("kiln-intermediary-{}", short_uuid())
        } else {
            self.cfg.ami_name.clone()
        };
        ctx.ui
            .say(&format!("Creating AMI {name} from instance {id}"));
        let r = Resource::Image {
            region: s.region().to_string(),
            name: name.clone(),
            id: None,
        };
        s.track(&r)?;
        s.images.push(r);
        let mappings: Vec<BlockDeviceMapping> = self
            .cfg
            .ami_block_device_mappings
            .iter()
            .map(|b| block_device(b, true))
            .collect();
        // The description may use build values ({{ .SourceAMIName }}…), as in Packer.
        s.ami_description = self
            .cfg
            .ami_description
            .as_deref()
            .map(|d| render(ctx, d))
            .transpose()?;
        let mut q = s
            .ec2
            .create_image()
            .instance_id(&id)
            .name(&name)
            .set_description(s.ami_description.clone());
        if !mappings.is_empty() {
            q = q.set_block_device_mappings(Some(mappings));
        }
        // As Packer: the AMI is made with the instance's run tags (`tags`
        // then win); its snapshots get them in the tags step.
        if run_tags_reach_ami(self.cfg, s.region()) {
            ctx.ui.say("Attaching run tags to AMI...");
            q = q.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Image)
                    .set_tags(Some(s.run_tags.clone()))
                    .build(),
            );
        } else if self.cfg.skip_ami_run_tags && !restricted_partition(s.region()) {
            ctx.ui.say("Skipping attaching run tags to AMI...");
        }
        let stop = s.cancel.clone();
        let out = s
            .shielded(async move {
                eventually_unless("CreateImage", &stop, move || q.clone().send()).await
            })
            .await?
            .map_err(|e| failed(sdk_error("CreateImage", &e)))?;
        let ami = out
            .image_id()
            .ok_or_else(|| failed("CreateImage returned no image id".into()))?
            .to_string();
        let r = Resource::Image {
            region: s.region().to_string(),
            name,
            id: Some(ami.clone()),
        };
        s.track(&r)?;
        s.images = vec![r];
        ctx.ui.message(&format!("AMI: {ami}"));
        ctx.ui.say("Waiting for AMI to become ready...");
        let img = wait_image(&s.ec2, &s.policy, &ami).await.map_err(failed)?;
        let region = s.region().to_string();
        s.snapshots.extend(
            resources::snapshots_of(&img)
                .into_iter()
                .map(|sn| (region.clone(), sn)),
        );
        s.amis.push((region, ami));
        // The AMI is made: the instance, and what only it used, can go
        // while the AMI is copied, shared and tagged.
        let done_with: Vec<Resource> = s
            .instance_res
            .iter()
            .chain(&s.launch_template)
            .chain(&s.volumes)
            .chain(&s.temp_profile)
            .chain(&s.temp_group)
            .cloned()
            .collect();
        s.delete_early(ctx, done_with);
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if s.keep {
            return;
        }
        let mine: Vec<Resource> = s
            .images
            .iter()
            .filter(|r| r.region() == s.region())
            .cloned()
            .collect();
        if mine.is_empty() {
            return;
        }
        ctx.ui.say("Deregistering the AMI and deleting associated snapshots because of cancellation, or error...");
        for r in mine {
            s.delete(ctx, &r).await;
            s.images.retain(|x| !x.same(&r));
        }
        s.amis.clear();
    }
}

// ---- 17. AMIRegionCopy --------------------------------------------------------

/// Whether the AMI CreateImage makes is only a step to the ones the build
/// keeps: with `skip_save_build_region` (only the copies are kept), and
/// with `encrypt_boot = true`, where, as in Packer, it is copied within
/// its own region, encrypted, and the unencrypted one removed.
fn intermediary(cfg: &EbsConfig) -> bool {
    cfg.skip_save_build_region || cfg.encrypt_boot == Some(true)
}

pub struct RegionCopy<'a> {
    pub cfg: &'a EbsConfig,
    /// `-reuse` completing an AMI found made from the same inputs: copy it
    /// to just these regions (it is no intermediary, whatever the options).
    pub only_to: Option<&'a [String]>,
}

#[async_trait]
impl Step<State> for RegionCopy<'_> {
    fn name(&self) -> &'static str {
        "StepAMIRegionCopy"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let Some((src_region, src_ami)) = s.amis.first().cloned() else {
            return Ok(());
        };
        let intermediary_snaps: Vec<(String, String)> = s
            .snapshots
            .iter()
            .filter(|(r, _)| *r == src_region)
            .cloned()
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut targets: Vec<&String> = self
            .only_to
            .unwrap_or(&self.cfg.ami_regions)
            .iter()
            .filter(|r| **r != src_region && seen.insert(*r))
            .collect();
        // encrypt_boot: the build region gets its encrypted copy first.
        if self.cfg.encrypt_boot == Some(true)
            && !self.cfg.skip_save_build_region
            && self.only_to.is_none()
        {
            targets.insert(0, &src_region);
        }
        // Every copy goes out at once (a copy takes minutes on EC2; one
        // after another, ten regions take ten times as long).
        let description = s.ami_description.clone();
        let mut calls = Vec::new();
        for region in &targets {
            if **region == src_region {
                ctx.ui.say(&format!(
                    "Copying AMI ({src_ami}) within {region}, encrypted (encrypt_boot)"
                ));
            } else {
                ctx.ui.say(&format!(
                    "Copying AMI ({src_ami}) to other region: {region}"
                ));
            }
            let r = Resource::Image {
                region: region.to_string(),
                name: self.cfg.ami_name.clone(),
                id: None,
            };
            s.track(&r)?;
            s.images.push(r);
            let kms = self
                .cfg
                .region_kms_key_ids
                .iter()
                .find(|(k, _)| k == *region)
                .map(|(_, v)| v.clone())
                .or_else(|| self.cfg.kms_key_id.clone());
            let q = s
                .aws
                .ec2_in(region)
                .copy_image()
                .source_region(&src_region)
                .source_image_id(&src_ami)
                .name(&self.cfg.ami_name)
                .set_description(description.clone())
                .set_encrypted(self.cfg.encrypt_boot)
                .set_kms_key_id(kms)
                .set_snapshot_copy_completion_duration_minutes(self.cfg.snapshot_copy_minutes);
            // The source AMI was just made in another region: the copy may
            // not see it yet.
            let stop = s.cancel.clone();
            let call =
                async move { eventually_unless("CopyImage", &stop, || q.clone().send()).await };
            calls.push(s.begin(call));
        }
        // Each answer is journaled before any error stops the step, so the
        // cleanup knows every copy that was made.
        let mut first_error = None;
        let mut copies = Vec::new();
        for (region, answer) in targets
            .iter()
            .zip(futures_util::future::join_all(calls).await)
        {
            let answer = answer.map_err(|_| failed("an EC2 call was lost".into()));
            match answer.and_then(|r| r.map_err(|e| failed(sdk_error("CopyImage", &e)))) {
                Ok(out) => {
                    let ami = out.image_id().unwrap_or_default().to_string();
                    let r = Resource::Image {
                        region: region.to_string(),
                        name: self.cfg.ami_name.clone(),
                        id: Some(ami.clone()),
                    };
                    s.track(&r)?;
                    s.images.retain(|x| !x.same(&r));
                    s.images.push(r);
                    copies.push((region.to_string(), ami));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if !copies.is_empty() {
            ctx.ui.say("Waiting for all copies to complete...");
        }
        let waits = copies.iter().map(|(region, ami)| {
            ctx.ui.message(&format!(
                "Waiting for AMI ({ami}) in region ({region}) to become ready..."
            ));
            let (ec2, policy) = (s.aws.ec2_in(region), &s.policy);
            async move { wait_image(&ec2, policy, ami).await }
        });
        let done = futures_util::future::join_all(waits).await;
        for ((region, ami), img) in copies.into_iter().zip(done) {
            let img = img.map_err(failed)?;
            s.snapshots.extend(
                resources::snapshots_of(&img)
                    .into_iter()
                    .map(|sn| (region.clone(), sn)),
            );
            s.amis.push((region, ami));
        }
        if intermediary(self.cfg) && self.only_to.is_none() {
            // The copies exist: the intermediary has done its job.
            let why = if self.cfg.skip_save_build_region {
                "skip_save_build_region"
            } else {
                "encrypt_boot: the encrypted copy replaces it"
            };
            ctx.ui.say(&format!("Deregistering the intermediary AMI ({src_ami}) in {src_region} and deleting its snapshots ({why})..."));
            let theirs = |r: &Resource| matches!(r, Resource::Image { region, id: Some(id), .. } if *region == src_region && *id == src_ami);
            let it: Vec<Resource> = s.images.iter().filter(|r| theirs(r)).cloned().collect();
            for r in it {
                resources::delete(&s.aws, &r, &s.policy)
                    .await
                    .map_err(failed)?;
                s.release(&r);
                s.images.retain(|x| !x.same(&r));
            }
            s.snapshots.retain(|sn| !intermediary_snaps.contains(sn));
            s.amis
                .retain(|a| *a != (src_region.clone(), src_ami.clone()));
        }
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if s.keep {
            return;
        }
        let copies: Vec<Resource> = s
            .images
            .iter()
            .filter(|r| r.region() != s.region())
            .cloned()
            .collect();
        for r in copies {
            ctx.ui.say(&format!(
                "Deregistering the AMI copy in {} because of cancellation, or error...",
                r.region()
            ));
            s.delete(ctx, &r).await;
            s.images.retain(|x| !x.same(&r));
        }
        let region = s.region().to_string();
        s.amis.retain(|(r, _)| *r == region);
    }
}

// ---- 18. EnableDeprecation ----------------------------------------------------

pub struct Deprecate<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for Deprecate<'_> {
    fn name(&self) -> &'static str {
        "StepEnableDeprecation"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let Some(when) = self.cfg.deprecate_at else {
            return Ok(());
        };
        for (region, ami) in s.amis.clone() {
            ctx.ui.say(&format!(
                "Enabling deprecation on AMI ({ami}) in region {region:?} ..."
            ));
            let q = s
                .aws
                .ec2_in(&region)
                .enable_image_deprecation()
                .image_id(&ami)
                .deprecate_at(when);
            eventually("EnableImageDeprecation", || q.clone().send())
                .await
                .map_err(|e| failed(sdk_error("EnableImageDeprecation", &e)))?;
        }
        Ok(())
    }
}

// ---- 19. ModifyAMIAttributes --------------------------------------------------

pub struct AmiAttributes<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for AmiAttributes<'_> {
    fn name(&self) -> &'static str {
        "StepModifyAMIAttributes"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let cfg = self.cfg;
        let mut perms: Vec<LaunchPermission> = cfg
            .ami_users
            .iter()
            .map(|u| LaunchPermission::builder().user_id(u).build())
            .collect();
        perms.extend(cfg.ami_groups.iter().map(|g| {
            LaunchPermission::builder()
                .group(PermissionGroup::from(g.as_str()))
                .build()
        }));
        perms.extend(
            cfg.ami_org_arns
                .iter()
                .map(|a| LaunchPermission::builder().organization_arn(a).build()),
        );
        perms.extend(cfg.ami_ou_arns.iter().map(|a| {
            LaunchPermission::builder()
                .organizational_unit_arn(a)
                .build()
        }));
        if !cfg.ami_product_codes.is_empty() || cfg.imds_support.is_some() {
            for (region, ami) in s.amis.clone() {
                let ec2 = s.aws.ec2_in(&region);
                if !cfg.ami_product_codes.is_empty() {
                    ctx.ui
                        .say(&format!("Adding product codes to AMI ({ami})..."));
                    let q = ec2
                        .modify_image_attribute()
                        .image_id(&ami)
                        .set_product_codes(Some(cfg.ami_product_codes.clone()));
                    eventually("ModifyImageAttribute", || q.clone().send())
                        .await
                        .map_err(|e| failed(sdk_error("ModifyImageAttribute", &e)))?;
                }
                if let Some(v) = &cfg.imds_support {
                    ctx.ui.say(&format!("Requiring IMDS {v} on AMI ({ami})..."));
                    let value = aws_sdk_ec2::types::AttributeValue::builder()
                        .value(v)
                        .build();
                    let q = ec2
                        .modify_image_attribute()
                        .image_id(&ami)
                        .imds_support(value);
                    eventually("ModifyImageAttribute", || q.clone().send())
                        .await
                        .map_err(|e| failed(sdk_error("ModifyImageAttribute", &e)))?;
                }
            }
        }
        if !perms.is_empty() {
            for (region, ami) in s.amis.clone() {
                ctx.ui
                    .say(&format!("Modifying attributes on AMI ({ami})..."));
                let m = LaunchPermissionModifications::builder()
                    .set_add(Some(perms.clone()))
                    .build();
                let q = s
                    .aws
                    .ec2_in(&region)
                    .modify_image_attribute()
                    .image_id(&ami)
                    .launch_permission(m);
                eventually("ModifyImageAttribute", || q.clone().send())
                    .await
                    .map_err(|e| failed(sdk_error("ModifyImageAttribute", &e)))?;
            }
        }
        let mut sperms: Vec<CreateVolumePermission> = cfg
            .snapshot_users
            .iter()
            .map(|u| CreateVolumePermission::builder().user_id(u).build())
            .collect();
        sperms.extend(cfg.snapshot_groups.iter().map(|g| {
            CreateVolumePermission::builder()
                .group(PermissionGroup::from(g.as_str()))
                .build()
        }));
        if !sperms.is_empty() {
            for (region, snap) in s.snapshots.clone() {
                ctx.ui
                    .say(&format!("Modifying attributes on snapshot ({snap})..."));
                let m = CreateVolumePermissionModifications::builder()
                    .set_add(Some(sperms.clone()))
                    .build();
                let q = s
                    .aws
                    .ec2_in(&region)
                    .modify_snapshot_attribute()
                    .snapshot_id(&snap)
                    .attribute(SnapshotAttributeName::CreateVolumePermission)
                    .create_volume_permission(m);
                eventually("ModifySnapshotAttribute", || q.clone().send())
                    .await
                    .map_err(|e| failed(sdk_error("ModifySnapshotAttribute", &e)))?;
            }
        }
        Ok(())
    }
}

// ---- 20. CreateTags -----------------------------------------------------------

pub struct Tags<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for Tags<'_> {
    fn name(&self) -> &'static str {
        "StepCreateTags"
    }
    /// As Packer: `tags` go on each AMI *and* its snapshots, over the run
    /// tags the build region's AMI was made with, then `snapshot_tags` on
    /// the snapshots (each winning where a key is in both). The snapshots'
    /// tags are merged here, so the two calls are independent and go out
    /// together.
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let build_region = s.region().to_string();
        for (region, ami) in s.amis.clone() {
            ctx.set_generated("BuildRegion", region.clone());
            let tags = render_tags(ctx, &self.cfg.tags)?;
            let snap_tags = render_tags(ctx, &self.cfg.snapshot_tags)?;
            // The run tags the AMI was made with are its snapshots' too (a copy has none).
            let made_by_create_image = region == build_region && !intermediary(self.cfg);
            let run_tags = if made_by_create_image && run_tags_reach_ami(self.cfg, &region) {
                s.run_tags.clone()
            } else {
                Vec::new()
            };
            if tags.is_empty() && snap_tags.is_empty() && run_tags.is_empty() {
                continue;
            }
            let ec2 = s.aws.ec2_in(&region);
            ctx.ui.say(&format!("Adding tags to AMI ({ami})..."));
            let snaps: Vec<String> = s
                .snapshots
                .iter()
                .filter(|(r, _)| *r == region)
                .map(|(_, sn)| sn.clone())
                .collect();
            for sn in &snaps {
                ctx.ui.say(&format!("Tagging snapshot: {sn}"));
            }
            let snapshot_set = merge_tags(&merge_tags(&run_tags, &tags), &snap_tags);
            // When the snapshots end up with just the AMI's tags (the run
            // tags all overridden, no snapshot_tags): one call for both.
            let together = !tags.is_empty()
                && snapshot_set.len() == tags.len()
                && snapshot_set.iter().all(|t| tags.contains(t));
            let mut calls = Vec::new();
            if !tags.is_empty() {
                ctx.ui.say("Creating AMI tags");
                say_tags(ctx, &tags);
                let mut resources = vec![ami.clone()];
                if together {
                    resources.extend(snaps.iter().cloned());
                }
                calls.push(create_tags(&ec2, &s.policy, resources, tags.clone()));
            }
            if !together && !snaps.is_empty() {
                ctx.ui.say("Creating snapshot tags");
                say_tags(ctx, &snapshot_set);
                calls.push(create_tags(&ec2, &s.policy, snaps.clone(), snapshot_set));
            }
            for r in futures_util::future::join_all(calls).await {
                r.map_err(|e| {
                    failed(format!(
                        "Error adding tags to AMI ({ami}) and its snapshots: {e}"
                    ))
                })?;
            }
        }
        ctx.set_generated("BuildRegion", build_region);
        Ok(())
    }
}

/// kiln's incremental builds: each AMI made and its snapshots get the
/// build's input fingerprint (`kiln:inputs`, its parts, the build's name),
/// so a later `-reuse` finds them by it (docs/incremental.md). A template
/// whose inputs cannot be known gets no such tags.
pub struct InputsTag {
    /// The whole fingerprint, when known already (copies of a reused AMI);
    /// else the build's, with the source AMI it started from.
    pub whole: Option<crate::incremental::Fingerprint>,
}

#[async_trait]
impl Step<State> for InputsTag {
    fn name(&self) -> &'static str {
        "StepKilnInputsTag"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let fp = match (&self.whole, &ctx.inputs, &s.source) {
            (Some(fp), _, _) => fp.clone(),
            (None, Ok(inputs), Some(source)) => {
                inputs.with(vec![crate::builder::amazon::reuse::source_part(&source.id)])
            }
            _ => return Ok(()),
        };
        let tags = crate::builder::amazon::reuse::inputs_tags(&fp, &ctx.full_name);
        let mut calls = Vec::new();
        for (region, ami) in s.amis.clone() {
            let mut resources = vec![ami.clone()];
            resources.extend(
                s.snapshots
                    .iter()
                    .filter(|(r, _)| *r == region)
                    .map(|(_, sn)| sn.clone()),
            );
            ctx.ui.say(&format!(
                "Tagging AMI ({ami}) and its snapshots with the build's inputs ({} = {})",
                crate::incremental::TAG,
                fp.digest()
            ));
            let ec2 = s.aws.ec2_in(&region);
            let (policy, tags) = (s.policy.clone(), tags.clone());
            calls.push(async move { create_tags(&ec2, &policy, resources, tags).await });
        }
        for r in futures_util::future::join_all(calls).await {
            r.map_err(|e| failed(format!("Error adding kiln's inputs tags: {e}")))?;
        }
        Ok(())
    }
}

/// `-reuse` completing an AMI found in other regions: the found AMI is
/// left as it is (its tags too); the steps after this see only the copies.
pub struct OnlyCopies {
    pub source: (String, String),
}

#[async_trait]
impl Step<State> for OnlyCopies {
    fn name(&self) -> &'static str {
        "StepKilnOnlyCopies"
    }
    async fn run(&self, s: &mut State, _ctx: &BuildContext) -> Result<(), BuildError> {
        s.amis.retain(|a| *a != self.source);
        let region = self.source.0.clone();
        s.snapshots.retain(|(r, _)| *r != region);
        Ok(())
    }
}

/// `base` with `over` on top (a key of both takes `over`'s value), in order.
fn merge_tags(base: &[Tag], over: &[Tag]) -> Vec<Tag> {
    let mut out: Vec<Tag> = base
        .iter()
        .filter(|t| !over.iter().any(|o| o.key() == t.key()))
        .cloned()
        .collect();
    out.extend(over.iter().cloned());
    out
}

/// CreateTags, retried while EC2 does not know the AMI or a snapshot yet
/// (it is eventually consistent; Packer retries for ~2.5 min likewise).
pub(crate) async fn create_tags(
    ec2: &Client,
    policy: &Policy,
    resources: Vec<String>,
    tags: Vec<Tag>,
) -> Result<(), String> {
    let q = ec2
        .create_tags()
        .set_resources(Some(resources))
        .set_tags(Some(tags));
    let bound = Policy {
        timeout: std::time::Duration::from_secs(150),
        ..policy.clone()
    };
    wait::until(
        "the AMI and its snapshots to be taggable",
        &bound,
        || async {
            match q.clone().send().await {
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) if is_not_found(&e) => Ok(Poll::Pending(sdk_error("CreateTags", &e))),
                Err(e) => Err(sdk_error("CreateTags", &e)),
            }
        },
    )
    .await
}

// ---- 21. EnableDeregistrationProtection ---------------------------------------

/// `deregistration_protection`: the AMIs can no longer be deregistered
/// until the protection is turned off. Last before the build keeps its
/// AMIs (Packer turns it on before sharing and tagging, so a failure there
/// leaves an AMI its own cleanup cannot deregister); if the build is
/// interrupted here, the cleanup turns it off again first.
pub struct DeregistrationProtection<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for DeregistrationProtection<'_> {
    fn name(&self) -> &'static str {
        "StepEnableDeregistrationProtection"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let Some(with_cooldown) = self.cfg.deregistration_protection else {
            return Ok(());
        };
        for (region, ami) in s.amis.clone() {
            ctx.ui.say(&format!(
                "Enabling deregistration protection on AMI ({ami}) in region {region:?}{} ...",
                if with_cooldown {
                    ", with a 24-hour cooldown"
                } else {
                    ""
                }
            ));
            // Noted first: an answer lost to an interrupt still gets undone.
            s.protected.push((region.clone(), ami.clone()));
            let q = s
                .aws
                .ec2_in(&region)
                .enable_image_deregistration_protection()
                .image_id(&ami)
                .with_cooldown(with_cooldown);
            let stop = s.cancel.clone();
            s.shielded(async move {
                eventually_unless("EnableImageDeregistrationProtection", &stop, || {
                    q.clone().send()
                })
                .await
            })
            .await?
            .map_err(|e| failed(sdk_error("EnableImageDeregistrationProtection", &e)))?;
        }
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if s.keep {
            return;
        }
        for (region, ami) in std::mem::take(&mut s.protected) {
            ctx.ui.say(&format!("Disabling deregistration protection on AMI ({ami}) so that it can be deregistered..."));
            let q = s
                .aws
                .ec2_in(&region)
                .disable_image_deregistration_protection()
                .image_id(&ami);
            match eventually_within("DisableImageDeregistrationProtection", GONE, || {
                q.clone().send()
            })
            .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => ctx.ui.error(&format!(
                    "Error disabling deregistration protection on AMI ({ami}): {}",
                    sdk_error("DisableImageDeregistrationProtection", &e)
                )),
            }
        }
    }
}

/// The last step: the AMIs are the build's product now, not temporary.
pub struct Keep;

#[async_trait]
impl Step<State> for Keep {
    fn name(&self) -> &'static str {
        "StepKeepAMI"
    }
    async fn run(&self, s: &mut State, _ctx: &BuildContext) -> Result<(), BuildError> {
        s.keep = true;
        for r in std::mem::take(&mut s.images) {
            s.release(&r);
        }
        Ok(())
    }
}
