//! Step 6: the source instance (RunInstances, or a spot fleet), waited for
//! until it runs.

use super::options::Launch;
use super::spot::launch_spot;
use super::{failed, render_tags, say_tags, State};
use crate::builder::amazon::client::sdk_error;
use crate::builder::amazon::config::EbsConfig;
use crate::builder::amazon::consistency::{eventually, eventually_unless};
use crate::builder::amazon::instance::InstanceInfo;
use crate::builder::amazon::resources::Resource;
use crate::builder::amazon::wait::{self, Poll};
use crate::runner::steps::Step;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use aws_sdk_ec2::types::{InstanceStateName, InstanceType};
use aws_sdk_ec2::Client;

// ---- 6. RunSourceInstance ---------------------------------------------------

pub struct RunInstance<'a> {
    pub cfg: &'a EbsConfig,
}

pub(super) async fn describe_instance(
    ec2: &Client,
    id: &str,
) -> Result<Option<aws_sdk_ec2::types::Instance>, String> {
    let out = eventually("DescribeInstances", || {
        ec2.describe_instances().instance_ids(id).send()
    })
    .await
    .map_err(|e| sdk_error("DescribeInstances", &e))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .cloned())
}

#[async_trait]
impl Step<State> for RunInstance<'_> {
    fn name(&self) -> &'static str {
        "StepRunSourceInstance"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let cfg = self.cfg;
        s.key_ready(ctx).await?;
        let source = s
            .source
            .clone()
            .ok_or_else(|| failed("no source AMI".into()))?;
        ctx.ui.say(if cfg.spot_price.is_some() {
            "Launching a spot AWS instance..."
        } else {
            "Launching a source AWS instance..."
        });
        let mut run_tags = cfg.run_tags.clone();
        if !run_tags.iter().any(|(k, _)| k == "Name") {
            run_tags.push(("Name".into(), "Packer Builder".into()));
        }
        let run_tags = render_tags(ctx, &run_tags)?;
        s.run_tags = run_tags.clone();
        let token = uuid::Uuid::new_v4().to_string();
        let r = Resource::Instance {
            region: s.region().to_string(),
            client_token: token.clone(),
            id: None,
        };
        s.track(&r)?;
        s.instance_res = Some(r);
        let launch = Launch::new(s, cfg, ctx, &source, &token, &run_tags)?;
        let id = if let Some(price) = &cfg.spot_price {
            launch_spot(s, cfg, ctx, &launch, &token, price).await?
        } else {
            let q = launch
                .run_instances(s.ec2.run_instances())
                .instance_type(InstanceType::from(cfg.instance_type.as_str()))
                .min_count(1)
                .max_count(1)
                .client_token(&token);
            // The key pair, security group and instance profile it names
            // may not have reached EC2 yet (a new instance profile takes
            // ~10 s from IAM): retried while EC2 does not know them. The
            // client token keeps a retry from launching twice.
            let stop = s.cancel.clone();
            let out = s
                .shielded(async move {
                    eventually_unless("RunInstances", &stop, move || q.clone().send()).await
                })
                .await?
                .map_err(|e| failed(sdk_error("RunInstances", &e)))?;
            out.instances()
                .first()
                .and_then(|i| i.instance_id())
                .ok_or_else(|| failed("RunInstances returned no instance".into()))?
                .to_string()
        };
        let r = Resource::Instance {
            region: s.region().to_string(),
            client_token: token,
            id: Some(id.clone()),
        };
        s.track(&r)?;
        s.instance_res = Some(r);
        ctx.ui.say("Adding tags to source instance");
        say_tags(ctx, &run_tags);
        ctx.ui.message(&format!("Instance ID: {id}"));
        ctx.set_generated("ID", id.clone());
        ctx.ui
            .say(&format!("Waiting for instance ({id}) to become ready..."));
        let ec2 = s.ec2.clone();
        let inst = wait::until(&format!("instance {id} to be running"), &s.policy, || async {
            let Some(i) = describe_instance(&ec2, &id).await? else { return Ok(Poll::Pending("not visible yet".into())) };
            match i.state().and_then(|x| x.name()) {
                Some(InstanceStateName::Running) => Ok(Poll::Ready(i)),
                Some(InstanceStateName::Pending) | None => Ok(Poll::Pending("pending".into())),
                Some(other) => {
                    let why = i.state_reason().and_then(|r| r.message()).unwrap_or("EC2 gave no reason");
                    Err(format!("Error waiting for instance ({id}) to become ready: it is {} instead: {why}", other.as_str()))
                }
            }
        })
        .await
        .map_err(failed)?;
        let info = InstanceInfo {
            id: id.clone(),
            ..InstanceInfo::from_sdk(&inst)
        };
        if let Some(ip) = &info.public_ip {
            ctx.ui.message(&format!("Public IP: {ip}"));
        }
        // Launch volumes that outlive the instance are the build's to delete.
        for b in &cfg.launch_block_device_mappings {
            if b.delete_on_termination == Some(false) {
                let vol = inst
                    .block_device_mappings()
                    .iter()
                    .find(|m| m.device_name() == Some(b.device_name.as_str()))
                    .and_then(|m| m.ebs())
                    .and_then(|e| e.volume_id());
                if let Some(v) = vol {
                    let r = Resource::Volume {
                        region: s.region().to_string(),
                        id: v.to_string(),
                    };
                    s.track(&r)?;
                    s.volumes.push(r);
                }
            }
        }
        s.instance = Some(info);
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if let Some(r) = s.instance_res.take() {
            ctx.ui.say("Terminating the source AWS instance...");
            s.delete(ctx, &r).await;
        }
        if let Some(r) = s.launch_template.take() {
            s.delete(ctx, &r).await;
        }
        ctx.ui.say("Cleaning up any extra volumes...");
        if s.volumes.is_empty() {
            ctx.ui.say("No volumes to clean up, skipping");
        }
        for r in std::mem::take(&mut s.volumes) {
            s.delete(ctx, &r).await;
        }
    }
}
