//! amazon-ebs options (Packer's names), read once into typed structs.

use crate::communicator::CommunicatorOptions;
use crate::graph::Config;
use crate::plugin::{Field, Options, StringMap};
use std::time::Duration;

mod access;
mod encryption;
mod options;
pub use access::{check_region, Access, AssumeRole};
pub use options::{AccessOptions, AmiFilterOptions};
use options::{BlockDeviceOptions, EbsOptions, KeyValue, NameValue, PolicyDocument};

/// amazon-ebs's own options (the access and communicator options are
/// listed beside them in the plugin table).
pub const FIELDS: &[Field] = EbsOptions::FIELDS;

/// Where the source instance runs (`placement`, and the deprecated
/// top-level `tenancy`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    pub tenancy: Option<String>,
    pub host_resource_group_arn: Option<String>,
    pub host_id: Option<String>,
}

/// `metadata_options`: the source instance's IMDS settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataOptions {
    pub http_endpoint: Option<String>,
    pub http_tokens: Option<String>,
    pub http_put_response_hop_limit: Option<i32>,
    pub instance_metadata_tags: Option<String>,
}

/// A list of `Name=Value` filters (`filters = { … }`).
pub type Filters = Vec<(String, String)>;

/// `subnet_filter`: exactly one match, unless `most_free` (the subnet with
/// the most free addresses) or `random` picks among several.
#[derive(Debug, Clone, Default)]
pub struct SubnetFilter {
    pub filters: Filters,
    pub most_free: bool,
    pub random: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AmiFilter {
    pub filters: Filters,
    pub owners: Vec<String>,
    pub most_recent: bool,
    pub include_deprecated: bool,
}

#[derive(Debug, Clone, Default)]
pub struct BlockDevice {
    pub device_name: String,
    pub delete_on_termination: Option<bool>,
    pub encrypted: Option<bool>,
    pub iops: Option<i32>,
    pub throughput: Option<i32>,
    pub kms_key_id: Option<String>,
    pub no_device: bool,
    pub snapshot_id: Option<String>,
    pub virtual_name: Option<String>,
    pub volume_size: Option<i32>,
    pub volume_type: Option<String>,
}

/// How the source instance uses On-Demand Capacity Reservations (one of
/// the three settings; Packer's are mutually exclusive too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapacityReservation {
    /// `capacity_reservation_preference`: "open" or "none".
    Preference(String),
    /// `capacity_reservation_id`: that reservation.
    Id(String),
    /// `capacity_reservation_group_arn`: a reservation in that group.
    GroupArn(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshInterface {
    PublicIp,
    PrivateIp,
    PublicDns,
    PrivateDns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ed25519,
}

#[derive(Debug, Clone)]
pub struct EbsConfig {
    pub access: Access,
    pub source_ami: Option<String>,
    pub source_ami_filter: Option<AmiFilter>,
    pub instance_type: String,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub subnet_filter: Option<SubnetFilter>,
    pub availability_zone: Option<String>,
    pub associate_public_ip_address: Option<bool>,
    pub security_group_ids: Vec<String>,
    pub security_group_filter: Option<Filters>,
    pub vpc_filter: Option<Filters>,
    /// `temporary_security_group_source_public_ip`: allow only this host's
    /// public address (looked up when the group is created).
    pub source_public_ip: bool,
    pub spot_price: Option<String>,
    pub spot_instance_types: Vec<String>,
    pub spot_tags: Vec<(String, String)>,
    /// Tags of the instant fleet a spot launch requests.
    pub fleet_tags: Vec<(String, String)>,
    pub spot_allocation_strategy: Option<String>,
    pub temporary_security_group_source_cidrs: Vec<String>,
    pub iam_instance_profile: Option<String>,
    pub skip_profile_validation: bool,
    /// The IAM policy (JSON) of a temporary role and instance profile the
    /// instance runs with; unused when `iam_instance_profile` is set.
    pub temporary_iam_policy: Option<String>,
    pub user_data: Option<String>,
    pub launch_block_device_mappings: Vec<BlockDevice>,
    pub ami_block_device_mappings: Vec<BlockDevice>,
    pub ebs_optimized: bool,
    pub run_tags: Vec<(String, String)>,
    pub run_volume_tags: Vec<(String, String)>,
    /// `no_ephemeral`: the instance type's instance-store volumes left out.
    pub no_ephemeral: bool,
    pub capacity_reservation: Option<CapacityReservation>,
    /// `license_specifications`: license configuration ARNs for the launch.
    pub license_configuration_arns: Vec<String>,
    pub shutdown_behavior: Option<String>,
    pub placement: Placement,
    pub metadata_options: Option<MetadataOptions>,
    pub enable_nitro_enclave: bool,
    pub unlimited_credits: bool,
    pub ssh_interface: Option<SshInterface>,
    pub ssh_keypair_name: Option<String>,
    pub temporary_key_pair_name: Option<String>,
    pub temporary_key_pair_type: KeyType,
    pub ami_name: String,
    pub ami_description: Option<String>,
    pub ami_virtualization_type: Option<String>,
    pub ena_support: Option<bool>,
    pub sriov_support: bool,
    pub ami_users: Vec<String>,
    pub ami_groups: Vec<String>,
    pub ami_org_arns: Vec<String>,
    pub ami_ou_arns: Vec<String>,
    pub ami_product_codes: Vec<String>,
    /// `imds_support = "v2.0"`: instances of the AMI require IMDSv2.
    pub imds_support: Option<String>,
    pub snapshot_users: Vec<String>,
    pub snapshot_groups: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub snapshot_tags: Vec<(String, String)>,
    pub ami_regions: Vec<String>,
    pub encrypt_boot: Option<bool>,
    pub kms_key_id: Option<String>,
    pub region_kms_key_ids: Vec<(String, String)>,
    pub deprecate_at: Option<aws_smithy_types::DateTime>,
    /// `snapshot_copy_duration_minutes`: time-based copies to `ami_regions`.
    pub snapshot_copy_minutes: Option<i64>,
    pub force_deregister: bool,
    /// `skip_save_build_region`: the AMI made in the build region, under an
    /// intermediary name, is only the source of the `ami_regions` copies
    /// and is deregistered once they exist.
    pub skip_save_build_region: bool,
    /// `skip_ami_run_tags`: the run tags stay on the instance; else (as in
    /// Packer) the AMI and its snapshots get them too, under `tags`.
    pub skip_ami_run_tags: bool,
    /// `deregistration_protection { enabled, with_cooldown }`: `Some(with_cooldown)` when enabled.
    pub deregistration_protection: Option<bool>,
    pub force_delete_snapshot: bool,
    pub disable_stop_instance: bool,
    pub skip_create_ami: bool,
    /// `communicator = "none"`: no connection, provisioners that need one fail.
    pub communicator_none: bool,
    /// Whether kiln creates (and deletes) a key pair for the build.
    pub temporary_key_pair: bool,
    pub ssh_clear_authorized_keys: bool,
    /// The SSH port the temporary security group opens.
    pub ssh_port: u16,
    /// The raw config, for the communicator's settings.
    pub raw: Config,
}

/// A tag map with its block form merged in, as Packer's `KeyValues.CopyOn`
/// does: the blocks after the map's entries, a repeated key taking the
/// later value. A block without a `key` is an error (EC2 would refuse it
/// at the end of the build).
fn tag_map(
    map: &StringMap,
    blocks: &[KeyValue],
    block_name: &str,
    errs: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = map.clone().into_iter().collect();
    for b in blocks {
        let Some(key) = non_empty(b.key.clone()) else {
            errs.push(format!(
                "{block_name}: every {block_name} block needs a non-empty key"
            ));
            continue;
        };
        let value = b.value.clone().unwrap_or_default();
        match tags.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => tags.push((key, value)),
        }
    }
    tags
}

/// `capacity_reservation_*`: at most one of the three, a known preference,
/// and not for a spot instance.
fn capacity_reservation(o: &EbsOptions, errs: &mut Vec<String>) -> Option<CapacityReservation> {
    let preference = non_empty(o.capacity_reservation_preference.clone());
    let id = non_empty(o.capacity_reservation_id.clone());
    let arn = non_empty(o.capacity_reservation_group_arn.clone());
    if let Some(p) = &preference {
        if p != "open" && p != "none" {
            errs.push(format!(
                "capacity_reservation_preference {p:?} is invalid: use \"open\" or \"none\""
            ));
        }
    }
    let set = [preference.is_some(), id.is_some(), arn.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if set > 1 {
        errs.push("capacity_reservation_preference, capacity_reservation_id and capacity_reservation_group_arn are mutually exclusive: set only one of them".into());
    }
    if set > 0 && non_empty(o.spot_price.clone()).is_some_and(|p| p != "0") {
        errs.push("capacity reservations hold On-Demand capacity: capacity_reservation_* cannot be used with spot_price".into());
    }
    preference
        .map(CapacityReservation::Preference)
        .or(id.map(CapacityReservation::Id))
        .or(arn.map(CapacityReservation::GroupArn))
}

/// `placement`, `metadata_options`, Nitro Enclaves, unlimited CPU credits
/// and `imds_support`, checked as Packer checks them.
fn run_options(
    o: &EbsOptions,
    errs: &mut Vec<String>,
) -> (
    Placement,
    Option<MetadataOptions>,
    bool,
    bool,
    Option<String>,
) {
    let one_of = |errs: &mut Vec<String>,
                  what: &str,
                  v: Option<String>,
                  allowed: &[&str]|
     -> Option<String> {
        let v = non_empty(v)?;
        if allowed.contains(&v.as_str()) {
            Some(v)
        } else {
            errs.push(format!(
                "{what} {v:?} is invalid: use one of {}",
                allowed
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            None
        }
    };
    const TENANCY: &[&str] = &["default", "dedicated", "host"];
    let p = o.placement.as_ref();
    let mut placement = Placement {
        tenancy: one_of(
            errs,
            "placement.tenancy",
            p.and_then(|p| p.tenancy.clone()),
            TENANCY,
        ),
        host_resource_group_arn: non_empty(p.and_then(|p| p.host_resource_group_arn.clone())),
        host_id: non_empty(p.and_then(|p| p.host_id.clone())),
    };
    if let Some(t) = one_of(errs, "tenancy", o.tenancy.clone(), TENANCY) {
        if placement.tenancy.is_some() {
            errs.push(
                "tenancy is deprecated in favour of placement.tenancy; set only one of them".into(),
            );
        }
        placement.tenancy = Some(t);
    }
    let metadata_options = o.metadata_options.as_ref().map(|m| {
        let hop = m.http_put_response_hop_limit;
        if let Some(h) = hop {
            if !(1..=64).contains(&h) {
                errs.push(format!(
                    "metadata_options.http_put_response_hop_limit {h} is out of range: 1 to 64"
                ));
            }
        }
        MetadataOptions {
            http_endpoint: one_of(
                errs,
                "metadata_options.http_endpoint",
                m.http_endpoint.clone(),
                &["enabled", "disabled"],
            ),
            http_tokens: one_of(
                errs,
                "metadata_options.http_tokens",
                m.http_tokens.clone(),
                &["optional", "required"],
            ),
            http_put_response_hop_limit: hop.and_then(|h| i32::try_from(h).ok()),
            instance_metadata_tags: one_of(
                errs,
                "metadata_options.instance_metadata_tags",
                m.instance_metadata_tags.clone(),
                &["enabled", "disabled"],
            ),
        }
    });
    let spot = non_empty(o.spot_price.clone()).is_some_and(|p| p != "0");
    let instance_type = o.instance_type.clone().unwrap_or_default();
    let nitro = o.enable_nitro_enclave;
    if nitro && spot {
        errs.push("enable_nitro_enclave cannot be used with spot instances (spot_price)".into());
    }
    let unlimited = o.enable_unlimited_credits || o.enable_t2_unlimited;
    if unlimited {
        let family = instance_type.split('.').next().unwrap_or_default();
        if !["t2", "t3", "t3a", "t4g"].contains(&family) {
            errs.push(format!("enable_unlimited_credits needs a burstable instance type (t2, t3, t3a, t4g), not {instance_type:?}"));
        } else if spot && family == "t2" {
            errs.push(
                "enable_unlimited_credits cannot be used with spot instances of the t2 family"
                    .into(),
            );
        }
    }
    let imds_support = one_of(errs, "imds_support", o.imds_support.clone(), &["v2.0"]);
    (placement, metadata_options, nitro, unlimited, imds_support)
}

/// The policy document as IAM's JSON: `Version` (default 2012-10-17) and
/// one object per `Statement` block, each with an Effect, Actions and
/// Resources.
fn policy_document(doc: &PolicyDocument) -> Result<String, String> {
    let statements = &doc.statement;
    if statements.is_empty() {
        return Err("at least one Statement is required".into());
    }
    let mut list = Vec::new();
    for (i, st) in statements.iter().enumerate() {
        let effect = non_empty(st.effect.clone()).unwrap_or_else(|| "Allow".into());
        if effect != "Allow" && effect != "Deny" {
            return Err(format!(
                "Statement {}: Effect must be \"Allow\" or \"Deny\", not {effect:?}",
                i + 1
            ));
        }
        let (action, resource) = (&st.action, &st.resource);
        if action.is_empty() || resource.is_empty() {
            return Err(format!(
                "Statement {}: Action and Resource must each name at least one item",
                i + 1
            ));
        }
        list.push(serde_json::json!({ "Effect": effect, "Action": action, "Resource": resource }));
    }
    let version = non_empty(doc.version.clone()).unwrap_or_else(|| "2012-10-17".into());
    Ok(serde_json::json!({ "Version": version, "Statement": list }).to_string())
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    match (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) {
        (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32,
        (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128,
        _ => false,
    }
}

/// A filter map as the steps take it.
pub fn filters(map: &StringMap) -> Filters {
    map.clone().into_iter().collect()
}

fn block_devices(list: &[BlockDeviceOptions], k: &str) -> Result<Vec<BlockDevice>, String> {
    let mut out = Vec::new();
    for b in list {
        let device_name = non_empty(b.device_name.clone())
            .ok_or_else(|| format!("{k}: device_name is required"))?;
        out.push(BlockDevice {
            device_name,
            delete_on_termination: b.delete_on_termination,
            encrypted: b.encrypted,
            iops: b.iops,
            throughput: b.throughput,
            kms_key_id: non_empty(b.kms_key_id.clone()),
            no_device: b.no_device,
            snapshot_id: non_empty(b.snapshot_id.clone()),
            virtual_name: non_empty(b.virtual_name.clone()),
            volume_size: b.volume_size,
            volume_type: non_empty(b.volume_type.clone()),
        });
    }
    Ok(out)
}

/// Options of Packer's amazon-ebs that kiln accepts so that a Packer
/// template still validates, but that do nothing here: checked as Packer
/// checks them, then a warning says why they do nothing; or, where the
/// build could not be what the template asks, refused.
fn packer_only_options(o: &EbsOptions, c: &Config, errs: &mut Vec<String>) {
    if let Some(n) = o.block_duration_minutes.filter(|n| *n != 0) {
        if n % 60 != 0 || !(60..=360).contains(&n) {
            errs.push(format!(
                "block_duration_minutes must be a multiple of 60 from 60 to 360, not {n}"
            ));
        } else if non_empty(o.spot_price.clone()).is_none() {
            errs.push("block_duration_minutes needs spot_price".into());
        } else {
            crate::ui::warn("amazon-ebs: block_duration_minutes has no effect: EC2 no longer offers Spot blocks (fixed-duration Spot Instances); the instance is an ordinary Spot Instance");
        }
    }
    crate::plugin::warn_no_effect(EbsOptions::FIELDS, c, "amazon-ebs");
    if o.fast_launch.as_ref().is_some_and(|f| f.enable_fast_launch) {
        errs.push(
            "fast_launch.enable_fast_launch is not supported by kiln: Windows fast launch pre-provisions Windows snapshots, and kiln builds no Windows AMIs (its winrm communicator is not built)"
                .into(),
        );
    }
}

impl EbsConfig {
    pub fn from_config(c: &Config) -> Result<EbsConfig, Vec<String>> {
        let mut errs = Vec::new();
        let access = Access::from_config(c).map_err(|e| errs.push(e)).ok();
        let o = EbsOptions::from_config(c).map_err(|e| vec![e])?;
        let comm = CommunicatorOptions::from_config(c).map_err(|e| vec![e])?;
        let source_ami = non_empty(o.source_ami.clone());
        let source_ami_filter = o.source_ami_filter.as_ref().map(|f| AmiFilter {
            filters: filters(&f.filters),
            owners: f.owners.clone(),
            most_recent: f.most_recent,
            include_deprecated: f.include_deprecated,
        });
        if source_ami.is_none() && source_ami_filter.is_none() {
            errs.push("A source_ami or source_ami_filter must be specified".into());
        }
        if let Some(f) = &source_ami_filter {
            if f.owners.is_empty() {
                errs.push("For security reasons, you must declare an owner using source_ami_filter.owners.".into());
            }
        }
        // A spot build may name its candidate types instead (the plugin
        // requires one or the other, not both).
        let instance_type = non_empty(o.instance_type.clone()).unwrap_or_default();
        if instance_type.is_empty() && o.spot_instance_types.is_empty() {
            errs.push("An instance_type must be specified".into());
        }
        if !instance_type.is_empty() && !o.spot_instance_types.is_empty() {
            errs.push(
                "You may only set either spot_instance_types or instance_type, not both".into(),
            );
        }
        let ami_name = non_empty(o.ami_name.clone()).unwrap_or_default();
        let skip_create_ami = o.skip_create_ami;
        if ami_name.is_empty() && !skip_create_ami {
            errs.push("ami_name must be specified".into());
        } else if !skip_create_ami && !(3..=128).contains(&ami_name.len()) {
            errs.push(format!(
                "ami_name must be between 3 and 128 characters long, not {}",
                ami_name.len()
            ));
        } else if let Some(bad) = ami_name
            .chars()
            .find(|ch| !(ch.is_ascii_alphanumeric() || "()[] ./-'@_{}".contains(*ch)))
        {
            errs.push(format!("AMIName should only contain alphanumeric characters, parentheses (()), square brackets ([]), spaces ( ), periods (.), slashes (/), dashes (-), single quotes ('), at-signs (@), or underscores(_); found {bad:?}. You can use the `clean_resource_name` function to strip these."));
        }
        let ssh_interface = match o.ssh_interface.as_deref() {
            None | Some("") => None,
            Some("public_ip") => Some(SshInterface::PublicIp),
            Some("private_ip") => Some(SshInterface::PrivateIp),
            Some("public_dns") => Some(SshInterface::PublicDns),
            Some("private_dns") => Some(SshInterface::PrivateDns),
            Some("session_manager") => {
                errs.push("ssh_interface \"session_manager\" is not supported by kiln yet (it needs AWS's session-manager-plugin and an SSM agent on the instance): use public_ip, private_ip, public_dns or private_dns".into());
                None
            }
            Some(o) => {
                errs.push(format!("Unknown interface type: {o}; one of public_ip, private_ip, public_dns, private_dns"));
                None
            }
        };
        packer_only_options(&o, c, &mut errs);
        let temporary_key_pair_type = match comm.temporary_key_pair_type.as_deref() {
            None | Some("") | Some("rsa") => KeyType::Rsa,
            Some("ed25519") => KeyType::Ed25519,
            Some(o) => {
                errs.push(format!(
                    "temporary_key_pair_type {o:?}: valid values are \"rsa\" and \"ed25519\""
                ));
                KeyType::Rsa
            }
        };
        let communicator_none = comm.communicator.as_deref() == Some("none");
        let ssh_keypair_name = non_empty(comm.ssh_keypair_name.clone());
        let has_key_file = comm.ssh_private_key_file.is_some();
        if ssh_keypair_name.is_some() && !has_key_file && !comm.ssh_agent_auth {
            errs.push("ssh_private_key_file must be provided (or ssh_agent_auth) when ssh_keypair_name is specified".into());
        }
        let temporary_key_pair = !communicator_none
            && ssh_keypair_name.is_none()
            && !has_key_file
            && comm.ssh_password.is_none()
            && !comm.ssh_agent_auth;
        if !communicator_none && comm.ssh_username.is_none() {
            errs.push("An ssh_username must be specified\n  Note: some builders used to default ssh_username to \"root\".".into());
        }
        if let Some(s) = &o.shutdown_behavior {
            if s != "stop" && s != "terminate" {
                errs.push(format!(
                    "shutdown_behavior only accepts 'stop' or 'terminate' values, not {s:?}"
                ));
            }
        }
        if let Some(v) = &o.ami_virtualization_type {
            if v != "hvm" && v != "paravirtual" {
                errs.push(format!(
                    "ami_virtualization_type {v:?}: valid values are \"hvm\" and \"paravirtual\""
                ));
            }
        }
        let user_data = match (
            non_empty(o.user_data.clone()),
            non_empty(o.user_data_file.clone()),
        ) {
            (Some(_), Some(_)) => {
                errs.push("Only one of user_data or user_data_file can be specified.".into());
                None
            }
            (Some(d), None) => Some(d),
            (None, Some(f)) => match std::fs::read_to_string(&f) {
                Ok(d) => Some(d),
                Err(e) => {
                    errs.push(format!("user_data_file {f:?}: {e}"));
                    None
                }
            },
            (None, None) => None,
        };
        let mut security_group_ids = o.security_group_ids.clone();
        if let Some(id) = non_empty(o.security_group_id.clone()) {
            security_group_ids.insert(0, id);
        }
        let launch = block_devices(
            &o.launch_block_device_mappings,
            "launch_block_device_mappings",
        )
        .map_err(|e| errs.push(e))
        .unwrap_or_default();
        let ami_bdm = block_devices(&o.ami_block_device_mappings, "ami_block_device_mappings")
            .map_err(|e| errs.push(e))
            .unwrap_or_default();
        let mut cidrs = o.temporary_security_group_source_cidrs.clone();
        for cidr in &cidrs {
            if !is_cidr(cidr) {
                errs.push(format!(
                    "temporary_security_group_source_cidrs: {cidr:?} is not a CIDR block"
                ));
            }
        }
        if cidrs.is_empty() {
            cidrs.push("0.0.0.0/0".into());
        }
        let spot_price = non_empty(o.spot_price.clone());
        if let Some(p) = &spot_price {
            if p != "auto" && p.parse::<f64>().map_or(true, |v| v <= 0.0) {
                errs.push(format!(
                    "spot_price {p:?}: a price in dollars per hour, or \"auto\""
                ));
            }
        }
        let spot_instance_types = o.spot_instance_types.clone();
        if !spot_instance_types.is_empty() && spot_price.is_none() {
            errs.push("spot_instance_types needs spot_price (a price, or \"auto\")".into());
        }
        let Some(access) = access else {
            return Err(errs);
        };
        let skip_save_build_region = o.skip_save_build_region;
        if skip_save_build_region && !o.ami_regions.iter().any(|r| *r != access.region) {
            // Packer would build, copy nowhere, delete the AMI and succeed with nothing.
            errs.push(format!("skip_save_build_region needs ami_regions with a region other than the build region ({}): else no AMI would be kept", access.region));
        }
        encryption::check_encryption(&o, &mut errs);
        let (placement, metadata_options, enable_nitro_enclave, unlimited_credits, imds_support) =
            run_options(&o, &mut errs);
        let capacity_reservation = capacity_reservation(&o, &mut errs);
        let run_volume_tag: Vec<KeyValue> =
            o.run_volume_tag.iter().map(NameValue::key_value).collect();
        let [tags, snapshot_tags, run_tags, run_volume_tags, spot_tags, fleet_tags] = [
            (&o.tags, &o.tag, "tag"),
            (&o.snapshot_tags, &o.snapshot_tag, "snapshot_tag"),
            (&o.run_tags, &o.run_tag, "run_tag"),
            (&o.run_volume_tags, &run_volume_tag, "run_volume_tag"),
            (&o.spot_tags, &o.spot_tag, "spot_tag"),
            (&o.fleet_tags, &o.fleet_tag, "fleet_tag"),
        ]
        .map(|(map, blocks, name)| tag_map(map, blocks, name, &mut errs));
        let temporary_iam_policy = match &o.temporary_iam_instance_profile_policy_document {
            None => None,
            Some(doc) => match policy_document(doc) {
                Ok(p) => Some(p),
                Err(e) => {
                    errs.push(format!(
                        "temporary_iam_instance_profile_policy_document: {e}"
                    ));
                    None
                }
            },
        };
        // Checked here, not after the AMI exists: a typo must not cost a build.
        let snapshot_copy_minutes = o.snapshot_copy_duration_minutes.filter(|m| *m != 0);
        if let Some(m) = snapshot_copy_minutes {
            // EC2's bounds for a time-based copy: 15 minutes to 48 hours, in steps of 15.
            if !(15..=2880).contains(&m) || m % 15 != 0 {
                errs.push(format!("snapshot_copy_duration_minutes {m} is invalid: use a multiple of 15 from 15 to 2880"));
            }
        }
        let deprecate_at = non_empty(o.deprecate_at.clone()).and_then(|at| match aws_smithy_types::DateTime::from_str(&at, aws_smithy_types::date_time::Format::DateTimeWithOffset) {
            Ok(t) => Some(t),
            Err(e) => {
                errs.push(format!("deprecate_at {at:?} is not an RFC 3339 time such as \"2030-01-31T00:00:00Z\": {e}"));
                None
            }
        });
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(EbsConfig {
            access,
            source_ami,
            source_ami_filter,
            instance_type,
            vpc_id: non_empty(o.vpc_id),
            subnet_id: non_empty(o.subnet_id),
            subnet_filter: o.subnet_filter.map(|f| SubnetFilter {
                filters: filters(&f.filters),
                most_free: f.most_free,
                random: f.random,
            }),
            availability_zone: non_empty(o.availability_zone),
            associate_public_ip_address: o.associate_public_ip_address,
            security_group_ids,
            security_group_filter: o.security_group_filter.map(|f| filters(&f.filters)),
            vpc_filter: o.vpc_filter.map(|f| filters(&f.filters)),
            source_public_ip: o.temporary_security_group_source_public_ip,
            spot_price,
            spot_instance_types,
            spot_tags,
            fleet_tags,
            spot_allocation_strategy: non_empty(o.spot_allocation_strategy),
            temporary_security_group_source_cidrs: cidrs,
            iam_instance_profile: non_empty(o.iam_instance_profile),
            skip_profile_validation: o.skip_profile_validation,
            temporary_iam_policy,
            user_data,
            launch_block_device_mappings: launch,
            ami_block_device_mappings: ami_bdm,
            ebs_optimized: o.ebs_optimized,
            run_tags,
            run_volume_tags,
            no_ephemeral: o.no_ephemeral,
            capacity_reservation,
            license_configuration_arns: o
                .license_specifications
                .into_iter()
                .filter_map(|l| l.license_configuration_request)
                .filter_map(|r| non_empty(r.license_configuration_arn))
                .collect(),
            shutdown_behavior: non_empty(o.shutdown_behavior),
            placement,
            metadata_options,
            enable_nitro_enclave,
            unlimited_credits,
            ssh_interface,
            ssh_keypair_name,
            temporary_key_pair_name: non_empty(comm.temporary_key_pair_name),
            temporary_key_pair_type,
            ami_name,
            ami_description: non_empty(o.ami_description),
            ami_virtualization_type: non_empty(o.ami_virtualization_type),
            ena_support: o.ena_support,
            sriov_support: o.sriov_support,
            ami_users: o.ami_users,
            ami_groups: o.ami_groups,
            ami_org_arns: o.ami_org_arns,
            ami_ou_arns: o.ami_ou_arns,
            ami_product_codes: o.ami_product_codes,
            imds_support,
            snapshot_users: o.snapshot_users,
            snapshot_groups: o.snapshot_groups,
            tags,
            snapshot_tags,
            ami_regions: o.ami_regions,
            encrypt_boot: o.encrypt_boot,
            kms_key_id: non_empty(o.kms_key_id),
            region_kms_key_ids: o.region_kms_key_ids.into_iter().collect(),
            deprecate_at,
            snapshot_copy_minutes,
            force_deregister: o.force_deregister,
            skip_save_build_region,
            skip_ami_run_tags: o.skip_ami_run_tags,
            deregistration_protection: o
                .deregistration_protection
                .filter(|b| b.enabled)
                .map(|b| b.with_cooldown),
            force_delete_snapshot: o.force_delete_snapshot,
            disable_stop_instance: o.disable_stop_instance,
            skip_create_ami,
            communicator_none,
            temporary_key_pair,
            ssh_clear_authorized_keys: comm.ssh_clear_authorized_keys,
            ssh_port: u16::try_from(comm.ssh_port).unwrap_or(22),
            raw: c.clone(),
        })
    }
}

/// Packer's `Prepare` checks, for `validate`.
pub fn validate(c: &Config) -> Vec<String> {
    let mut errs = crate::communicator::validate(c);
    if let Err(e) = EbsConfig::from_config(c) {
        for m in e {
            if !errs.contains(&m) {
                errs.push(m);
            }
        }
    }
    errs
}
