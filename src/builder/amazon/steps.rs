//! The amazon-ebs steps (Packer's order; `AMAZON-EBS-STEPS.md` in the
//! shared anchors lists them), each with its cleanup beside its run.

use super::client::{sdk_error, Aws};
use super::config::{BlockDevice, EbsConfig, KeyType as CfgKeyType};
use super::journal::{Header, Journal};
use super::resources::{self, Resource};
use super::instance::InstanceInfo;
use super::wait::{self, Poll, Policy};
use crate::builder::common::Connected;
use crate::communicator::ssh::Ssh;
use crate::runner::interpolate::render_fields;
use crate::runner::steps::Step;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, BlockDeviceMapping, CreateVolumePermission, CreateVolumePermissionModifications, EbsBlockDevice, Filter, ImageState, InstanceStateName, InstanceType, IpPermission, IpRange, KeyType,
    LaunchPermission, LaunchPermissionModifications, PermissionGroup, ResourceType, ShutdownBehavior, SnapshotAttributeName, Tag, TagSpecification, VolumeType,
};
use aws_sdk_ec2::Client;
use russh::keys::PrivateKey;
use std::path::PathBuf;
use std::sync::Arc;

/// The AMI a build starts from (its fields feed `{{ .SourceAMI… }}`).
#[derive(Debug, Clone)]
pub struct SourceImage {
    pub id: String,
    pub root_device_name: Option<String>,
}

pub struct TempKey {
    pub private: Arc<PrivateKey>,
}

/// What the steps found and created, typed.
pub struct State {
    pub aws: Aws,
    pub ec2: Client,
    pub policy: Policy,
    journal: Option<Journal>,
    pub source: Option<SourceImage>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    /// The key pair the instance is launched with (temporary or named).
    pub launch_key_name: Option<String>,
    pub key: Option<TempKey>,
    key_pair: Option<Resource>,
    debug_key_file: Option<PathBuf>,
    pub group_ids: Vec<String>,
    temp_group: Option<Resource>,
    /// The instance profile the instance runs with (named or temporary).
    pub instance_profile: Option<String>,
    temp_profile: Option<Resource>,
    pub instance: Option<InstanceInfo>,
    instance_res: Option<Resource>,
    launch_template: Option<Resource>,
    volumes: Vec<Resource>,
    pub ssh: Option<Ssh>,
    /// AMIs being made (journaled until the build keeps them).
    images: Vec<Resource>,
    /// `(region, ami)` of every AMI made.
    pub amis: Vec<(String, String)>,
    /// `(region, snapshot)` of every AMI made.
    pub snapshots: Vec<(String, String)>,
    keep: bool,
    /// Create calls still in flight: an interrupt drops the step, not the
    /// call, and cleanups wait for these first (else a delete could reach
    /// EC2 before the create it should undo).
    inflight: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Connected for State {
    fn ssh_slot(&mut self) -> &mut Option<Ssh> {
        &mut self.ssh
    }
}

fn failed(e: String) -> BuildError {
    BuildError::Failed(e)
}

fn short_uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl State {
    pub fn new(aws: Aws, cfg: &EbsConfig, ctx: &BuildContext) -> Result<State, BuildError> {
        let header = Header {
            kiln_journal: 1,
            pid: std::process::id(),
            build: ctx.full_name.clone(),
            region: cfg.access.region.clone(),
            endpoint: cfg.access.endpoint.clone(),
            profile: cfg.access.profile.clone(),
            role_arn: cfg.access.assume_role.as_ref().map(|r| r.role_arn.clone()),
            started: chrono::Utc::now().to_rfc3339(),
        };
        let journal = Journal::create(&header, &ctx.run_uuid).map_err(failed)?;
        tracing::debug!("cleanup journal: {}", journal.path().display());
        ctx.ui.event("journal", &[&journal.path().display().to_string()]);
        Ok(State {
            ec2: aws.ec2(),
            aws,
            policy: Policy::new(cfg.access.poll_delay, cfg.access.poll_max_attempts),
            journal: Some(journal),
            source: None,
            vpc_id: cfg.vpc_id.clone(),
            subnet_id: cfg.subnet_id.clone(),
            availability_zone: cfg.availability_zone.clone(),
            launch_key_name: cfg.ssh_keypair_name.clone(),
            key: None,
            key_pair: None,
            debug_key_file: None,
            group_ids: Vec::new(),
            temp_group: None,
            instance_profile: None,
            temp_profile: None,
            instance: None,
            instance_res: None,
            launch_template: None,
            volumes: Vec::new(),
            ssh: None,
            images: Vec::new(),
            amis: Vec::new(),
            snapshots: Vec::new(),
            keep: false,
            inflight: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Run a create call to its end even if the step is dropped.
    async fn shielded<T: Send + 'static>(&self, call: impl std::future::Future<Output = T> + Send + 'static) -> Result<T, BuildError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let h = tokio::spawn(async move {
            let _ = tx.send(call.await);
        });
        if let Ok(mut v) = self.inflight.lock() {
            v.push(h);
        }
        rx.await.map_err(|_| failed("an EC2 call was lost".into()))
    }

    /// Wait for every create call still in flight.
    async fn settle(&self) {
        let pending: Vec<_> = self.inflight.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
        for h in pending {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(120), h).await;
        }
    }

    /// Journal a resource before the call that creates it.
    fn track(&self, r: &Resource) -> Result<(), BuildError> {
        match &self.journal {
            Some(j) => j.add(r).map_err(failed),
            None => Ok(()),
        }
    }

    fn release(&self, r: &Resource) {
        if let Some(j) = &self.journal {
            j.done(r);
        }
    }

    /// Delete a tracked resource; say so, and what to do when it fails. A
    /// failed call is retried a few times whatever the error (a cleanup that
    /// gives up on the first glitch leaks).
    async fn delete(&self, ctx: &BuildContext, r: &Resource) {
        self.settle().await;
        let mut last = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
            }
            match resources::delete(&self.aws, r, &self.policy).await {
                Ok(()) => {
                    self.release(r);
                    return;
                }
                Err(e) => last = e,
            }
        }
        ctx.ui.error(&format!("Error cleaning up {}: {last}\n  It is still in the cleanup journal: run `kiln cleanup` to retry, or delete it manually.", r.describe()));
    }

    pub fn finish_journal(&mut self) {
        if let Some(j) = self.journal.take() {
            j.finish();
        }
    }

    fn region(&self) -> &str {
        &self.aws.region
    }
}

/// `{{ .SourceAMI }}`-style fields of tag values and names, then `{{ build … }}`.
fn render(ctx: &BuildContext, s: &str) -> Result<String, BuildError> {
    let generated = ctx.generated();
    let fields: Vec<(&str, &str)> = generated.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    render_fields(s, &fields, &generated).map_err(|e| failed(format!("{s:?}: {e}")))
}

fn render_tags(ctx: &BuildContext, tags: &[(String, String)]) -> Result<Vec<Tag>, BuildError> {
    tags.iter().map(|(k, v)| Ok(Tag::builder().key(render(ctx, k)?).value(render(ctx, v)?).build())).collect()
}

fn say_tags(ctx: &BuildContext, tags: &[Tag]) {
    for t in tags {
        ctx.ui.message(&format!("Adding tag: {:?}: {:?}", t.key().unwrap_or_default(), t.value().unwrap_or_default()));
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn filters(f: &[(String, String)]) -> Vec<Filter> {
    f.iter().map(|(k, v)| Filter::builder().name(k).set_values(Some(v.split(',').map(|s| s.trim().to_string()).collect())).build()).collect()
}

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
        ctx.ui.say("Prevalidating any provided VPC information");
        if self.cfg.subnet_id.is_some() && self.cfg.vpc_id.is_some() {
            let out = s.ec2.describe_subnets().subnet_ids(self.cfg.subnet_id.clone().unwrap_or_default()).send().await.map_err(|e| failed(sdk_error("DescribeSubnets", &e)))?;
            let vpc = out.subnets().first().and_then(|n| n.vpc_id()).map(str::to_string);
            if vpc.as_deref() != self.cfg.vpc_id.as_deref() {
                return Err(failed(format!("Error: subnet {} is not in vpc {}", self.cfg.subnet_id.as_deref().unwrap_or_default(), self.cfg.vpc_id.as_deref().unwrap_or_default())));
            }
        }
        if self.cfg.skip_create_ami {
            return Ok(());
        }
        let name = &self.cfg.ami_name;
        if self.cfg.force_deregister || ctx.force {
            ctx.ui.say("Force Deregister flag found, skipping prevalidating AMI Name");
            return Ok(());
        }
        ctx.ui.say(&format!("Prevalidating AMI Name: {name}"));
        let mut regions = vec![s.region().to_string()];
        regions.extend(self.cfg.ami_regions.iter().filter(|r| !regions.contains(r)).cloned().collect::<Vec<_>>());
        for r in regions {
            let found = resources::images_named(&s.aws.ec2_in(&r), name).await.map_err(failed)?;
            if let Some((id, _)) = found.first() {
                return Err(failed(format!("Error: AMI Name: '{name}' is used by an existing AMI: {id} (in {r}); use -force or force_deregister = true to replace it")));
            }
        }
        Ok(())
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
        let mut q = s.ec2.describe_images();
        let what;
        if let Some(id) = &self.cfg.source_ami {
            q = q.image_ids(id);
            what = format!("source_ami {id}");
        } else {
            let f = self.cfg.source_ami_filter.clone().unwrap_or_default();
            q = q.set_filters(Some(filters(&f.filters))).set_owners(Some(f.owners.clone()));
            if f.include_deprecated {
                q = q.include_deprecated(true);
            }
            what = format!("source_ami_filter {:?} owned by {:?}", f.filters, f.owners);
        }
        let out = q.send().await.map_err(|e| failed(sdk_error("DescribeImages", &e)))?;
        let mut images = out.images().to_vec();
        if images.is_empty() {
            return Err(failed(format!("No AMI was found matching {what}")));
        }
        if images.len() > 1 {
            if !self.cfg.source_ami_filter.as_ref().is_some_and(|f| f.most_recent) {
                return Err(failed("Your query returned more than one result. Please try a more specific search, or set most_recent to true.".into()));
            }
            images.sort_by(|a, b| a.creation_date().unwrap_or_default().cmp(b.creation_date().unwrap_or_default()));
        }
        let Some(img) = images.pop() else { return Err(failed(format!("No AMI was found matching {what}"))) };
        let id = img.image_id().unwrap_or_default().to_string();
        ctx.ui.message(&format!("Found Image ID: {id}"));
        ctx.set_generated("SourceAMI", id.clone());
        ctx.set_generated("SourceAMIName", img.name().unwrap_or_default());
        ctx.set_generated("SourceAMIOwner", img.owner_id().unwrap_or_default());
        ctx.set_generated("SourceAMIOwnerName", img.image_owner_alias().unwrap_or_default());
        ctx.set_generated("SourceAMICreationDate", img.creation_date().unwrap_or_default());
        ctx.set_generated("BuildRegion", s.region().to_string());
        s.source = Some(SourceImage { id, root_device_name: img.root_device_name().map(str::to_string) });
        Ok(())
    }
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
            let out = s.ec2.describe_vpcs().set_filters(Some(filters(f))).send().await.map_err(|e| failed(sdk_error("DescribeVpcs", &e)))?;
            let ids: Vec<String> = out.vpcs().iter().filter_map(|v| v.vpc_id().map(str::to_string)).collect();
            if ids.len() != 1 {
                return Err(failed(format!("Exactly one VPC should match the vpc_filter {f:?}; found {}: {ids:?}", ids.len())));
            }
            ctx.ui.message(&format!("Found VPC ID: {}", ids[0]));
            s.vpc_id = Some(ids[0].clone());
        }
        if let (None, Some(f)) = (&s.subnet_id, &self.cfg.subnet_filter) {
            let mut q = s.ec2.describe_subnets().set_filters(Some(filters(&f.filters)));
            if let Some(v) = &s.vpc_id {
                q = q.filters(filter("vpc-id", v));
            }
            let out = q.send().await.map_err(|e| failed(sdk_error("DescribeSubnets", &e)))?;
            let mut subnets = out.subnets().to_vec();
            if let Some(az) = &s.availability_zone {
                subnets.retain(|n| n.availability_zone() == Some(az.as_str()));
            }
            let n = match subnets.len() {
                0 => return Err(failed(format!("No subnet matches subnet_filter {:?}", f.filters))),
                1 => &subnets[0],
                _ if f.most_free => subnets.iter().max_by_key(|n| n.available_ip_address_count().unwrap_or(0)).unwrap_or(&subnets[0]),
                k if f.random => &subnets[usize::try_from(rand_core::RngCore::next_u32(&mut rand_core::OsRng)).unwrap_or(0) % k],
                k => {
                    let ids: Vec<&str> = subnets.iter().filter_map(|n| n.subnet_id()).collect();
                    return Err(failed(format!("Your subnet_filter matched {k} subnets ({}): make it more specific, or set most_free or random to true", ids.join(", "))));
                }
            };
            ctx.ui.message(&format!("Found Subnet ID: {}", n.subnet_id().unwrap_or_default()));
            s.subnet_id = n.subnet_id().map(str::to_string);
        }
        if let Some(sub) = s.subnet_id.clone() {
            if s.vpc_id.is_none() || s.availability_zone.is_none() {
                let out = s.ec2.describe_subnets().subnet_ids(&sub).send().await.map_err(|e| failed(sdk_error("DescribeSubnets", &e)))?;
                let n = out.subnets().first().ok_or_else(|| failed(format!("subnet {sub} does not exist")))?;
                s.vpc_id = s.vpc_id.clone().or_else(|| n.vpc_id().map(str::to_string));
                s.availability_zone = s.availability_zone.clone().or_else(|| n.availability_zone().map(str::to_string));
            }
        }
        Ok(())
    }
}

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
                ctx.ui.say(&format!("Using existing SSH private key for the key pair {n}"));
            }
            return Ok(());
        }
        let name = render(ctx, &self.cfg.temporary_key_pair_name.clone().unwrap_or_else(|| format!("kiln_{}", short_uuid())))?;
        let r = Resource::KeyPair { region: s.region().to_string(), name: name.clone() };
        s.track(&r)?;
        s.key_pair = Some(r);
        ctx.ui.say(&format!("Creating temporary keypair: {name}"));
        let kt = match self.cfg.temporary_key_pair_type {
            CfgKeyType::Rsa => KeyType::Rsa,
            CfgKeyType::Ed25519 => KeyType::Ed25519,
        };
        let call = s.ec2.create_key_pair().key_name(&name).key_type(kt).send();
        let out = s.shielded(call).await?.map_err(|e| failed(sdk_error("CreateKeyPair", &e)))?;
        let pem = out.key_material().ok_or_else(|| failed("CreateKeyPair returned no key material".into()))?;
        let key = russh::keys::decode_secret_key(pem, None).map_err(|e| failed(format!("reading the temporary key pair's private key: {e}")))?;
        if ctx.debug {
            let file = PathBuf::from(format!("ec2_{}.pem", ctx.build_name.replace(['/', '.'], "_")));
            ctx.ui.message(&format!("Saving key for debug purposes: {}", file.display()));
            crate::util::fs::write_private(&file, pem.as_bytes()).map_err(|e| failed(format!("Error saving debug key: {e}")))?;
            s.debug_key_file = Some(file);
        }
        s.key = Some(TempKey { private: Arc::new(key) });
        s.launch_key_name = Some(name);
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        s.key = None;
        if let Some(f) = s.debug_key_file.take() {
            let _ = std::fs::remove_file(f);
        }
        if let Some(r) = s.key_pair.take() {
            ctx.ui.say("Deleting temporary keypair...");
            s.delete(ctx, &r).await;
        }
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
            let mut q = s.ec2.describe_security_groups().set_filters(Some(filters(f)));
            if let Some(v) = &s.vpc_id {
                q = q.filters(filter("vpc-id", v));
            }
            let out = q.send().await.map_err(|e| failed(sdk_error("DescribeSecurityGroups", &e)))?;
            let ids: Vec<String> = out.security_groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect();
            if ids.is_empty() {
                return Err(failed(format!("No security group matches security_group_filter {f:?}")));
            }
            ctx.ui.say(&format!("Found security group(s): {}", ids.join(", ")));
            s.group_ids = ids;
            return Ok(());
        }
        let name = format!("kiln_{}", short_uuid());
        let r = Resource::SecurityGroup { region: s.region().to_string(), name: name.clone(), vpc_id: s.vpc_id.clone(), id: None };
        s.track(&r)?;
        s.temp_group = Some(r);
        ctx.ui.say(&format!("Creating temporary security group for this instance: {name}"));
        let call = s.ec2.create_security_group().group_name(&name).description("Temporary group for kiln (a Packer-compatible image builder)").set_vpc_id(s.vpc_id.clone()).send();
        let out = s
            .shielded(call)
            .await?
            .map_err(|e| failed(sdk_error("CreateSecurityGroup", &e)))?;
        let id = out.group_id().unwrap_or_default().to_string();
        let r = Resource::SecurityGroup { region: s.region().to_string(), name, vpc_id: s.vpc_id.clone(), id: Some(id.clone()) };
        s.track(&r)?;
        s.temp_group = Some(r);
        s.group_ids = vec![id.clone()];
        if !self.cfg.communicator_none {
            let port = crate::plugin::get_i64(&self.cfg.raw, "ssh_port").unwrap_or(22) as i32;
            let public;
            let cidrs = if self.cfg.source_public_ip {
                public = vec![public_ip_cidr().await.map_err(failed)?];
                &public
            } else {
                &self.cfg.temporary_security_group_source_cidrs
            };
            ctx.ui.say(&format!("Authorizing access to port {port} from {cidrs:?} in the temporary security groups..."));
            let perm = IpPermission::builder().ip_protocol("tcp").from_port(port).to_port(port).set_ip_ranges(Some(cidrs.iter().map(|c| IpRange::builder().cidr_ip(c).build()).collect())).build();
            s.ec2.authorize_security_group_ingress().group_id(&id).ip_permissions(perm).send().await.map_err(|e| failed(sdk_error("AuthorizeSecurityGroupIngress", &e)))?;
        }
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if let Some(r) = s.temp_group.take() {
            ctx.ui.say("Deleting temporary security group...");
            s.delete(ctx, &r).await;
        }
    }
}

/// This host's public address as a /32 (or /128), from
/// `$KILN_PUBLIC_IP_URL` (default: AWS's checkip service), for
/// `temporary_security_group_source_public_ip`.
async fn public_ip_cidr() -> Result<String, String> {
    let url = std::env::var("KILN_PUBLIC_IP_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "https://checkip.amazonaws.com".into());
    let u = url.clone();
    let body = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(std::time::Duration::from_secs(10))).build().into();
        let mut resp = agent.get(&u).call().map_err(|e| e.to_string())?;
        resp.body_mut().read_to_string().map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("temporary_security_group_source_public_ip: asking {url} for this host's public address: {e}"))?;
    let ip: std::net::IpAddr = body.trim().parse().map_err(|_| format!("temporary_security_group_source_public_ip: {url} answered {:?}, not an IP address", body.trim()))?;
    Ok(match ip {
        std::net::IpAddr::V4(v) => format!("{v}/32"),
        std::net::IpAddr::V6(v) => format!("{v}/128"),
    })
}

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
                let call = s.aws.iam().get_instance_profile().instance_profile_name(p).send().await;
                call.map_err(|e| failed(format!("Couldn't find specified instance profile: {}\n  (set skip_profile_validation = true if the build's credentials may not read IAM)", sdk_error("GetInstanceProfile", &e))))?;
            }
            ctx.ui.say(&format!("Using specified instance profile: {p}"));
            s.instance_profile = Some(p.clone());
            return Ok(());
        }
        let Some(policy) = &cfg.temporary_iam_policy else { return Ok(()) };
        let name = format!("kiln-{}", short_uuid());
        let r = Resource::InstanceProfile { region: s.region().to_string(), name: name.clone() };
        s.track(&r)?;
        s.temp_profile = Some(r);
        let iam = s.aws.iam();
        ctx.ui.say(&format!("Creating temporary instance profile for this instance: {name}"));
        let call = iam.create_instance_profile().instance_profile_name(&name).send();
        s.shielded(call).await?.map_err(|e| failed(sdk_error("CreateInstanceProfile", &e)))?;
        ctx.ui.say(&format!("Creating temporary role for this instance: {name}"));
        let call = iam.create_role().role_name(&name).assume_role_policy_document(EC2_TRUST_POLICY).description("temporary role of a kiln build").send();
        s.shielded(call).await?.map_err(|e| failed(sdk_error("CreateRole", &e)))?;
        ctx.ui.say(&format!("Attaching policy to the temporary role: {name}"));
        let call = iam.put_role_policy().role_name(&name).policy_name(&name).policy_document(policy).send();
        s.shielded(call).await?.map_err(|e| failed(sdk_error("PutRolePolicy", &e)))?;
        let call = iam.add_role_to_instance_profile().instance_profile_name(&name).role_name(&name).send();
        s.shielded(call).await?.map_err(|e| failed(sdk_error("AddRoleToInstanceProfile", &e)))?;
        s.instance_profile = Some(name);
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if let Some(r) = s.temp_profile.take() {
            ctx.ui.say("Deleting temporary instance profile and role...");
            s.delete(ctx, &r).await;
        }
    }
}

// ---- 6. RunSourceInstance ---------------------------------------------------

fn block_device(b: &BlockDevice, default_delete: bool) -> BlockDeviceMapping {
    let mut m = BlockDeviceMapping::builder().device_name(&b.device_name);
    if b.no_device {
        return m.no_device("").build();
    }
    if let Some(v) = &b.virtual_name {
        return m.virtual_name(v).build();
    }
    let mut ebs = EbsBlockDevice::builder().delete_on_termination(b.delete_on_termination.unwrap_or(default_delete));
    if let Some(t) = &b.volume_type {
        ebs = ebs.volume_type(VolumeType::from(t.as_str()));
    }
    ebs = ebs.set_volume_size(b.volume_size).set_iops(b.iops).set_throughput(b.throughput).set_snapshot_id(b.snapshot_id.clone()).set_encrypted(b.encrypted).set_kms_key_id(b.kms_key_id.clone());
    m = m.ebs(ebs.build());
    m.build()
}

fn tag_spec(kind: ResourceType, tags: Vec<Tag>) -> TagSpecification {
    TagSpecification::builder().resource_type(kind).set_tags(Some(tags)).build()
}

/// Launch the source instance as a spot instance, as current Packer does:
/// a temporary launch template and an instant fleet over the allowed
/// instance types. The template is journaled like every other resource.
async fn launch_spot(s: &mut State, cfg: &EbsConfig, ctx: &BuildContext, source: &SourceImage, token: &str, run_tags: &[Tag], price: &str) -> Result<String, BuildError> {
    use aws_sdk_ec2::types::{
        DefaultTargetCapacityType, FleetLaunchTemplateConfigRequest, FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest, FleetType, LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData,
        SpotAllocationStrategy, SpotOptionsRequest, TargetCapacitySpecificationRequest,
    };
    let name = format!("kiln_{}", short_uuid());
    let r = Resource::LaunchTemplate { region: s.region().to_string(), name: name.clone() };
    s.track(&r)?;
    s.launch_template = Some(r);
    let mut instance_tags: Vec<Tag> = run_tags.to_vec();
    instance_tags.push(Tag::builder().key(resources::TOKEN_TAG).value(token).build());
    let mut data = RequestLaunchTemplateData::builder()
        .image_id(&source.id)
        .set_key_name(s.launch_key_name.clone())
        .set_security_group_ids(Some(s.group_ids.clone()))
        .tag_specifications(LaunchTemplateTagSpecificationRequest::builder().resource_type(ResourceType::Instance).set_tags(Some(instance_tags)).build());
    let spot_tags = render_tags(ctx, &cfg.spot_tags)?;
    if !spot_tags.is_empty() {
        data = data.tag_specifications(LaunchTemplateTagSpecificationRequest::builder().resource_type(ResourceType::SpotInstancesRequest).set_tags(Some(spot_tags)).build());
    }
    if let Some(u) = &cfg.user_data {
        use base64::Engine;
        data = data.user_data(base64::engine::general_purpose::STANDARD.encode(u));
    }
    if let Some(p) = &s.instance_profile {
        data = data.iam_instance_profile(aws_sdk_ec2::types::LaunchTemplateIamInstanceProfileSpecificationRequest::builder().name(p).build());
    }
    if cfg.ebs_optimized {
        data = data.ebs_optimized(true);
    }
    let pl = &cfg.placement;
    if *pl != Default::default() {
        use aws_sdk_ec2::types::{LaunchTemplatePlacementRequest, Tenancy};
        data = data.placement(LaunchTemplatePlacementRequest::builder().set_tenancy(pl.tenancy.as_deref().map(Tenancy::from)).set_host_resource_group_arn(pl.host_resource_group_arn.clone()).set_host_id(pl.host_id.clone()).build());
    }
    if cfg.unlimited_credits {
        data = data.credit_specification(aws_sdk_ec2::types::CreditSpecificationRequest::builder().cpu_credits("unlimited").build());
    }
    if let Some(m) = &cfg.metadata_options {
        use aws_sdk_ec2::types::{LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest, LaunchTemplateInstanceMetadataTagsState};
        let o = LaunchTemplateInstanceMetadataOptionsRequest::builder()
            .set_http_endpoint(m.http_endpoint.as_deref().map(LaunchTemplateInstanceMetadataEndpointState::from))
            .set_http_tokens(m.http_tokens.as_deref().map(LaunchTemplateHttpTokensState::from))
            .set_http_put_response_hop_limit(m.http_put_response_hop_limit)
            .set_instance_metadata_tags(m.instance_metadata_tags.as_deref().map(LaunchTemplateInstanceMetadataTagsState::from));
        data = data.metadata_options(o.build());
    }
    ctx.ui.message(&format!("Creating a temporary launch template for the spot request: {name}"));
    let call = s.ec2.create_launch_template().launch_template_name(&name).launch_template_data(data.build()).send();
    s.shielded(call).await?.map_err(|e| failed(sdk_error("CreateLaunchTemplate", &e)))?;
    let types = if cfg.spot_instance_types.is_empty() { vec![cfg.instance_type.clone()] } else { cfg.spot_instance_types.clone() };
    let max_price = (price != "auto").then(|| price.to_string());
    let overrides: Vec<FleetLaunchTemplateOverridesRequest> = types
        .iter()
        .map(|t| FleetLaunchTemplateOverridesRequest::builder().instance_type(InstanceType::from(t.as_str())).set_subnet_id(s.subnet_id.clone()).set_availability_zone(s.availability_zone.clone()).set_max_price(max_price.clone()).build())
        .collect();
    let config = FleetLaunchTemplateConfigRequest::builder().launch_template_specification(FleetLaunchTemplateSpecificationRequest::builder().launch_template_name(&name).version("$Latest").build()).set_overrides(Some(overrides)).build();
    let capacity = TargetCapacitySpecificationRequest::builder().total_target_capacity(1).default_target_capacity_type(DefaultTargetCapacityType::Spot).build();
    let strategy = cfg.spot_allocation_strategy.clone().unwrap_or_else(|| "price-capacity-optimized".into());
    ctx.ui.message(&format!("Requesting a spot instance of {} (max price {price})", types.join(", ")));
    let call = s
        .ec2
        .create_fleet()
        .r#type(FleetType::Instant)
        .launch_template_configs(config)
        .target_capacity_specification(capacity)
        .spot_options(SpotOptionsRequest::builder().allocation_strategy(SpotAllocationStrategy::from(strategy.as_str())).build())
        .client_token(token)
        .send();
    let out = s.shielded(call).await?.map_err(|e| failed(sdk_error("CreateFleet", &e)))?;
    if let Some(id) = out.instances().iter().flat_map(|i| i.instance_ids()).next() {
        return Ok(id.clone());
    }
    let why: Vec<String> = out.errors().iter().map(|e| format!("{}: {}", e.error_code().unwrap_or("?"), e.error_message().unwrap_or(""))).collect();
    Err(failed(format!("Error launching the spot instance: {}", if why.is_empty() { "EC2 launched nothing and gave no reason".to_string() } else { why.join("; ") })))
}

pub struct RunInstance<'a> {
    pub cfg: &'a EbsConfig,
}

async fn describe_instance(ec2: &Client, id: &str) -> Result<Option<aws_sdk_ec2::types::Instance>, String> {
    let out = ec2.describe_instances().instance_ids(id).send().await.map_err(|e| sdk_error("DescribeInstances", &e))?;
    Ok(out.reservations().iter().flat_map(|r| r.instances()).next().cloned())
}

#[async_trait]
impl Step<State> for RunInstance<'_> {
    fn name(&self) -> &'static str {
        "StepRunSourceInstance"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let cfg = self.cfg;
        let source = s.source.clone().ok_or_else(|| failed("no source AMI".into()))?;
        ctx.ui.say(if cfg.spot_price.is_some() { "Launching a spot AWS instance..." } else { "Launching a source AWS instance..." });
        let mut run_tags = cfg.run_tags.clone();
        if !run_tags.iter().any(|(k, _)| k == "Name") {
            run_tags.push(("Name".into(), "Packer Builder".into()));
        }
        let run_tags = render_tags(ctx, &run_tags)?;
        let token = uuid::Uuid::new_v4().to_string();
        let r = Resource::Instance { region: s.region().to_string(), client_token: token.clone(), id: None };
        s.track(&r)?;
        s.instance_res = Some(r);
        let id = if let Some(price) = &cfg.spot_price {
            launch_spot(s, cfg, ctx, &source, &token, &run_tags, price).await?
        } else {
            let mut q = s
                .ec2
                .run_instances()
                .image_id(&source.id)
                .instance_type(InstanceType::from(cfg.instance_type.as_str()))
                .min_count(1)
                .max_count(1)
                .client_token(&token)
                .set_key_name(s.launch_key_name.clone())
                .set_security_group_ids(Some(s.group_ids.clone()))
                .set_subnet_id(s.subnet_id.clone())
                .tag_specifications(tag_spec(ResourceType::Instance, run_tags.iter().cloned().chain([Tag::builder().key(resources::TOKEN_TAG).value(&token).build()]).collect()));
            let volume_tags = render_tags(ctx, &cfg.run_volume_tags)?;
            if !volume_tags.is_empty() {
                q = q.tag_specifications(tag_spec(ResourceType::Volume, volume_tags));
            }
            if let Some(u) = &cfg.user_data {
                use base64::Engine;
                q = q.user_data(base64::engine::general_purpose::STANDARD.encode(u));
            }
            if cfg.ebs_optimized {
                q = q.ebs_optimized(true);
            }
            if let Some(p) = &s.instance_profile {
                q = q.iam_instance_profile(aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().name(p).build());
            }
            if let Some(b) = &cfg.shutdown_behavior {
                q = q.instance_initiated_shutdown_behavior(ShutdownBehavior::from(b.as_str()));
            }
            let pl = &cfg.placement;
            if s.availability_zone.is_some() || *pl != Default::default() {
                let p = aws_sdk_ec2::types::Placement::builder()
                    .set_availability_zone(s.availability_zone.clone())
                    .set_tenancy(pl.tenancy.as_deref().map(aws_sdk_ec2::types::Tenancy::from))
                    .set_host_resource_group_arn(pl.host_resource_group_arn.clone())
                    .set_host_id(pl.host_id.clone());
                q = q.placement(p.build());
            }
            if cfg.enable_nitro_enclave {
                q = q.enclave_options(aws_sdk_ec2::types::EnclaveOptionsRequest::builder().enabled(true).build());
            }
            if cfg.unlimited_credits {
                q = q.credit_specification(aws_sdk_ec2::types::CreditSpecificationRequest::builder().cpu_credits("unlimited").build());
            }
            if let Some(m) = &cfg.metadata_options {
                use aws_sdk_ec2::types::{HttpTokensState, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceMetadataTagsState};
                let o = InstanceMetadataOptionsRequest::builder()
                    .set_http_endpoint(m.http_endpoint.as_deref().map(InstanceMetadataEndpointState::from))
                    .set_http_tokens(m.http_tokens.as_deref().map(HttpTokensState::from))
                    .set_http_put_response_hop_limit(m.http_put_response_hop_limit)
                    .set_instance_metadata_tags(m.instance_metadata_tags.as_deref().map(InstanceMetadataTagsState::from));
                q = q.metadata_options(o.build());
            }
            if let Some(public) = cfg.associate_public_ip_address {
                // A public address is a property of the network interface, which
                // then carries the subnet and the groups.
                let nic = aws_sdk_ec2::types::InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .associate_public_ip_address(public)
                    .delete_on_termination(true)
                    .set_subnet_id(s.subnet_id.clone())
                    .set_groups(Some(s.group_ids.clone()))
                    .build();
                q = q.set_subnet_id(None).set_security_group_ids(None).network_interfaces(nic);
            }
            let mut mappings: Vec<BlockDeviceMapping> = cfg.launch_block_device_mappings.iter().map(|b| block_device(b, source.root_device_name.as_deref() == Some(b.device_name.as_str()) || b.delete_on_termination.is_none())).collect();
            mappings.dedup_by(|a, b| a.device_name() == b.device_name());
            if !mappings.is_empty() {
                q = q.set_block_device_mappings(Some(mappings));
            }
            // A new instance profile takes a while to reach EC2 (IAM is
            // eventually consistent): retry while EC2 says it does not know
            // it. The client token keeps a retry from launching twice.
            let mut tries = 0u32;
            let out = loop {
                match s.shielded(q.clone().send()).await? {
                    Ok(out) => break out,
                    Err(e) if tries < 30 && s.temp_profile.is_some() && sdk_error("", &e).contains("iamInstanceProfile") => {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(500 + 250 * u64::from(tries.min(14)))).await;
                    }
                    Err(e) => return Err(failed(sdk_error("RunInstances", &e))),
                }
            };
            out.instances().first().and_then(|i| i.instance_id()).ok_or_else(|| failed("RunInstances returned no instance".into()))?.to_string()
        };
        let r = Resource::Instance { region: s.region().to_string(), client_token: token, id: Some(id.clone()) };
        s.track(&r)?;
        s.instance_res = Some(r);
        ctx.ui.say("Adding tags to source instance");
        say_tags(ctx, &run_tags);
        ctx.ui.message(&format!("Instance ID: {id}"));
        ctx.set_generated("ID", id.clone());
        ctx.ui.say(&format!("Waiting for instance ({id}) to become ready..."));
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
        let info = InstanceInfo { id: id.clone(), ..InstanceInfo::from_sdk(&inst) };
        if let Some(ip) = &info.public_ip {
            ctx.ui.message(&format!("Public IP: {ip}"));
        }
        // Launch volumes that outlive the instance are the build's to delete.
        for b in &cfg.launch_block_device_mappings {
            if b.delete_on_termination == Some(false) {
                let vol = inst.block_device_mappings().iter().find(|m| m.device_name() == Some(b.device_name.as_str())).and_then(|m| m.ebs()).and_then(|e| e.volume_id());
                if let Some(v) = vol {
                    let r = Resource::Volume { region: s.region().to_string(), id: v.to_string() };
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
        if self.cfg.disable_stop_instance {
            ctx.ui.say("Automatic instance stop disabled. Please stop instance manually.");
        } else {
            let id = s.instance.as_ref().map(|i| i.id.clone()).unwrap_or_default();
            ctx.ui.say("Stopping the source instance...");
            s.ec2.stop_instances().instance_ids(&id).send().await.map_err(|e| failed(sdk_error("StopInstances", &e)))?;
        }
        let id = s.instance.as_ref().map(|i| i.id.clone()).unwrap_or_default();
        ctx.ui.say("Waiting for the instance to stop...");
        let ec2 = s.ec2.clone();
        wait::until(&format!("instance {id} to stop"), &s.policy, || async {
            let Some(i) = describe_instance(&ec2, &id).await? else { return Err(format!("instance {id} disappeared")) };
            match i.state().and_then(|x| x.name()) {
                Some(InstanceStateName::Stopped) => Ok(Poll::Ready(())),
                Some(InstanceStateName::Terminated) => Err(format!("Error waiting for instance to stop: instance {id} was terminated ({})", i.state_reason().and_then(|r| r.message()).unwrap_or("EC2 gave no reason"))),
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
        let id = s.instance.as_ref().map(|i| i.id.clone()).unwrap_or_default();
        if self.cfg.sriov_support {
            ctx.ui.say("Enabling Enhanced Networking (SR-IOV)...");
            s.ec2.modify_instance_attribute().instance_id(&id).sriov_net_support(AttributeValue::builder().value("simple").build()).send().await.map_err(|e| failed(sdk_error("ModifyInstanceAttribute", &e)))?;
        }
        if let Some(ena) = self.cfg.ena_support {
            ctx.ui.say(&format!("{} Enhanced Networking (ENA)...", if ena { "Enabling" } else { "Disabling" }));
            s.ec2.modify_instance_attribute().instance_id(&id).ena_support(AttributeBooleanValue::builder().value(ena).build()).send().await.map_err(|e| failed(sdk_error("ModifyInstanceAttribute", &e)))?;
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
            for (id, snaps) in resources::images_named(&ec2, &self.cfg.ami_name).await.map_err(failed)? {
                ctx.ui.say(&format!("Deregistered AMI id: {id}"));
                let snaps = if self.cfg.force_delete_snapshot { snaps } else { Vec::new() };
                for sn in &snaps {
                    ctx.ui.say(&format!("Deleted snapshot: {sn}"));
                }
                resources::delete_image(&ec2, &id, &snaps).await.map_err(failed)?;
            }
        }
        Ok(())
    }
}

// ---- 16. CreateAMI ------------------------------------------------------------

async fn wait_image(ec2: &Client, policy: &Policy, id: &str) -> Result<aws_sdk_ec2::types::Image, String> {
    wait::until(&format!("AMI {id} to become available"), policy, || async {
        let out = ec2.describe_images().image_ids(id).send().await.map_err(|e| sdk_error("DescribeImages", &e))?;
        let Some(img) = out.images().first().cloned() else { return Ok(Poll::Pending("not visible yet".into())) };
        match img.state() {
            Some(ImageState::Available) => Ok(Poll::Ready(img)),
            Some(ImageState::Failed) | Some(ImageState::Error) | Some(ImageState::Invalid) | Some(ImageState::Deregistered) => {
                let why = img.state_reason().and_then(|r| r.message().or(r.code())).unwrap_or("EC2 gave no reason");
                Err(format!("Error waiting for AMI {id}: it is {}: {why}", img.state().map(|x| x.as_str()).unwrap_or("?")))
            }
            other => Ok(Poll::Pending(other.map(|x| x.as_str().to_string()).unwrap_or_else(|| "unknown".into()))),
        }
    })
    .await
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
        let id = s.instance.as_ref().map(|i| i.id.clone()).unwrap_or_default();
        let name = self.cfg.ami_name.clone();
        ctx.ui.say(&format!("Creating AMI {name} from instance {id}"));
        let r = Resource::Image { region: s.region().to_string(), name: name.clone(), id: None };
        s.track(&r)?;
        s.images.push(r);
        let mappings: Vec<BlockDeviceMapping> = self.cfg.ami_block_device_mappings.iter().map(|b| block_device(b, true)).collect();
        let mut q = s.ec2.create_image().instance_id(&id).name(&name).set_description(self.cfg.ami_description.clone());
        if !mappings.is_empty() {
            q = q.set_block_device_mappings(Some(mappings));
        }
        let out = s.shielded(q.send()).await?.map_err(|e| failed(sdk_error("CreateImage", &e)))?;
        let ami = out.image_id().ok_or_else(|| failed("CreateImage returned no image id".into()))?.to_string();
        let r = Resource::Image { region: s.region().to_string(), name, id: Some(ami.clone()) };
        s.track(&r)?;
        s.images = vec![r];
        ctx.ui.message(&format!("AMI: {ami}"));
        ctx.ui.say("Waiting for AMI to become ready...");
        let img = wait_image(&s.ec2, &s.policy, &ami).await.map_err(failed)?;
        let region = s.region().to_string();
        s.snapshots.extend(resources::snapshots_of(&img).into_iter().map(|sn| (region.clone(), sn)));
        s.amis.push((region, ami));
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if s.keep {
            return;
        }
        let mine: Vec<Resource> = s.images.iter().filter(|r| r.region() == s.region()).cloned().collect();
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

pub struct RegionCopy<'a> {
    pub cfg: &'a EbsConfig,
}

#[async_trait]
impl Step<State> for RegionCopy<'_> {
    fn name(&self) -> &'static str {
        "StepAMIRegionCopy"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let Some((src_region, src_ami)) = s.amis.first().cloned() else { return Ok(()) };
        for region in &self.cfg.ami_regions {
            if *region == src_region {
                continue;
            }
            ctx.ui.say(&format!("Copying AMI ({src_ami}) to other region: {region}"));
            let ec2 = s.aws.ec2_in(region);
            let name = self.cfg.ami_name.clone();
            let r = Resource::Image { region: region.clone(), name: name.clone(), id: None };
            s.track(&r)?;
            s.images.push(r);
            let kms = self.cfg.region_kms_key_ids.iter().find(|(k, _)| k == region).map(|(_, v)| v.clone()).or_else(|| self.cfg.kms_key_id.clone());
            let call = ec2.copy_image().source_region(&src_region).source_image_id(&src_ami).name(&name).set_description(self.cfg.ami_description.clone()).set_encrypted(self.cfg.encrypt_boot).set_kms_key_id(kms).send();
            let out = s
                .shielded(call)
                .await?
                .map_err(|e| failed(sdk_error("CopyImage", &e)))?;
            let ami = out.image_id().unwrap_or_default().to_string();
            let r = Resource::Image { region: region.clone(), name, id: Some(ami.clone()) };
            s.track(&r)?;
            s.images.retain(|x| !x.same(&r));
            s.images.push(r);
            ctx.ui.message(&format!("Waiting for AMI ({ami}) in region ({region}) to become ready..."));
            let img = wait_image(&ec2, &s.policy, &ami).await.map_err(failed)?;
            s.snapshots.extend(resources::snapshots_of(&img).into_iter().map(|sn| (region.clone(), sn)));
            s.amis.push((region.clone(), ami));
        }
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if s.keep {
            return;
        }
        let copies: Vec<Resource> = s.images.iter().filter(|r| r.region() != s.region()).cloned().collect();
        for r in copies {
            ctx.ui.say(&format!("Deregistering the AMI copy in {} because of cancellation, or error...", r.region()));
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
        let Some(when) = self.cfg.deprecate_at else { return Ok(()) };
        for (region, ami) in s.amis.clone() {
            ctx.ui.say(&format!("Enabling deprecation on AMI ({ami}) in region {region:?} ..."));
            s.aws.ec2_in(&region).enable_image_deprecation().image_id(&ami).deprecate_at(when).send().await.map_err(|e| failed(sdk_error("EnableImageDeprecation", &e)))?;
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
        let mut perms: Vec<LaunchPermission> = cfg.ami_users.iter().map(|u| LaunchPermission::builder().user_id(u).build()).collect();
        perms.extend(cfg.ami_groups.iter().map(|g| LaunchPermission::builder().group(PermissionGroup::from(g.as_str())).build()));
        perms.extend(cfg.ami_org_arns.iter().map(|a| LaunchPermission::builder().organization_arn(a).build()));
        perms.extend(cfg.ami_ou_arns.iter().map(|a| LaunchPermission::builder().organizational_unit_arn(a).build()));
        if !cfg.ami_product_codes.is_empty() || cfg.imds_support.is_some() {
            for (region, ami) in s.amis.clone() {
                let ec2 = s.aws.ec2_in(&region);
                if !cfg.ami_product_codes.is_empty() {
                    ctx.ui.say(&format!("Adding product codes to AMI ({ami})..."));
                    ec2.modify_image_attribute().image_id(&ami).set_product_codes(Some(cfg.ami_product_codes.clone())).send().await.map_err(|e| failed(sdk_error("ModifyImageAttribute", &e)))?;
                }
                if let Some(v) = &cfg.imds_support {
                    ctx.ui.say(&format!("Requiring IMDS {v} on AMI ({ami})..."));
                    let value = aws_sdk_ec2::types::AttributeValue::builder().value(v).build();
                    ec2.modify_image_attribute().image_id(&ami).imds_support(value).send().await.map_err(|e| failed(sdk_error("ModifyImageAttribute", &e)))?;
                }
            }
        }
        if !perms.is_empty() {
            for (region, ami) in s.amis.clone() {
                ctx.ui.say(&format!("Modifying attributes on AMI ({ami})..."));
                let m = LaunchPermissionModifications::builder().set_add(Some(perms.clone())).build();
                s.aws.ec2_in(&region).modify_image_attribute().image_id(&ami).launch_permission(m).send().await.map_err(|e| failed(sdk_error("ModifyImageAttribute", &e)))?;
            }
        }
        let mut sperms: Vec<CreateVolumePermission> = cfg.snapshot_users.iter().map(|u| CreateVolumePermission::builder().user_id(u).build()).collect();
        sperms.extend(cfg.snapshot_groups.iter().map(|g| CreateVolumePermission::builder().group(PermissionGroup::from(g.as_str())).build()));
        if !sperms.is_empty() {
            for (region, snap) in s.snapshots.clone() {
                ctx.ui.say(&format!("Modifying attributes on snapshot ({snap})..."));
                let m = CreateVolumePermissionModifications::builder().set_add(Some(sperms.clone())).build();
                s.aws
                    .ec2_in(&region)
                    .modify_snapshot_attribute()
                    .snapshot_id(&snap)
                    .attribute(SnapshotAttributeName::CreateVolumePermission)
                    .create_volume_permission(m)
                    .send()
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
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if self.cfg.tags.is_empty() && self.cfg.snapshot_tags.is_empty() {
            return Ok(());
        }
        for (region, ami) in s.amis.clone() {
            ctx.set_generated("BuildRegion", region.clone());
            let tags = render_tags(ctx, &self.cfg.tags)?;
            let snap_tags = render_tags(ctx, &self.cfg.snapshot_tags)?;
            let ec2 = s.aws.ec2_in(&region);
            ctx.ui.say(&format!("Adding tags to AMI ({ami})..."));
            let snaps: Vec<String> = s.snapshots.iter().filter(|(r, _)| *r == region).map(|(_, sn)| sn.clone()).collect();
            if !tags.is_empty() {
                for sn in &snaps {
                    ctx.ui.say(&format!("Tagging snapshot: {sn}"));
                }
                ctx.ui.say("Creating AMI tags");
                say_tags(ctx, &tags);
                ec2.create_tags().resources(&ami).set_tags(Some(tags)).send().await.map_err(|e| failed(sdk_error("CreateTags", &e)))?;
            }
            if !snap_tags.is_empty() && !snaps.is_empty() {
                ctx.ui.say("Creating snapshot tags");
                say_tags(ctx, &snap_tags);
                ec2.create_tags().set_resources(Some(snaps)).set_tags(Some(snap_tags)).send().await.map_err(|e| failed(sdk_error("CreateTags", &e)))?;
            }
        }
        ctx.set_generated("BuildRegion", s.region().to_string());
        Ok(())
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
