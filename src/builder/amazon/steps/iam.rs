//! Step 5b: the instance profile the instance runs with.

use super::{failed, short_uuid, State};
use crate::builder::amazon::client::sdk_error;
use crate::builder::amazon::config::EbsConfig;
use crate::builder::amazon::resources::Resource;
use crate::runner::steps::Step;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;

// ---- 5b. IamInstanceProfile --------------------------------------------------

/// The trust policy of a temporary role: EC2 instances may assume it.
const EC2_TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

pub struct IamInstanceProfile<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for IamInstanceProfile<'_> {
    fn name(&self) -> &'static str {
        "StepIamInstanceProfile"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let cfg = self.cfg;
        if let Some(p) = &cfg.iam_instance_profile {
            if !cfg.skip_profile_validation {
                let call = s
                    .aws
                    .iam()
                    .get_instance_profile()
                    .instance_profile_name(p)
                    .send()
                    .await;
                call.map_err(|e| {
                    failed(format!(
                        "Couldn't find specified instance profile: {}\n  (set skip_profile_validation = true if the build's credentials may not read IAM)",
                        sdk_error("GetInstanceProfile", &e)
                    ))
                })?;
            }
            ctx.ui
                .say(&format!("Using specified instance profile: {p}"));
            s.instance_profile = Some(p.clone());
            return Ok(());
        }
        let Some(policy) = &cfg.temporary_iam_policy else {
            return Ok(());
        };
        let name = format!("packer-{}", short_uuid());
        let r = Resource::InstanceProfile {
            region: s.region().to_string(),
            name: name.clone(),
        };
        s.track(&r)?;
        s.temp_profile = Some(r);
        let iam = s.aws.iam();
        ctx.ui.say(&format!(
            "Creating temporary instance profile for this instance: {name}"
        ));
        let call = iam
            .create_instance_profile()
            .instance_profile_name(&name)
            .send();
        s.shielded(call)
            .await?
            .map_err(|e| failed(sdk_error("CreateInstanceProfile", &e)))?;
        ctx.ui.say(&format!(
            "Creating temporary role for this instance: {name}"
        ));
        let call = iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(EC2_TRUST_POLICY)
            .description("temporary role of a kiln build")
            .send();
        s.shielded(call)
            .await?
            .map_err(|e| failed(sdk_error("CreateRole", &e)))?;
        ctx.ui
            .say(&format!("Attaching policy to the temporary role: {name}"));
        let call = iam
            .put_role_policy()
            .role_name(&name)
            .policy_name(&name)
            .policy_document(policy)
            .send();
        s.shielded(call)
            .await?
            .map_err(|e| failed(sdk_error("PutRolePolicy", &e)))?;
        let call = iam
            .add_role_to_instance_profile()
            .instance_profile_name(&name)
            .role_name(&name)
            .send();
        s.shielded(call)
            .await?
            .map_err(|e| failed(sdk_error("AddRoleToInstanceProfile", &e)))?;
        s.instance_profile = Some(name);
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if let Some(r) = s.temp_profile.take() {
            ctx.ui
                .say("Deleting temporary instance profile and role...");
            s.delete(ctx, &r).await;
        }
    }
}
