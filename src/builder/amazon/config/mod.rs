//! amazon-ebs options (Packer's names), read once into typed structs.

use crate::graph::Config;
use crate::plugin::{
    get_bool, get_duration, get_i64, get_str, get_string_map, get_strings, is_set, Field, Kind,
};
use crate::value::Value;
use std::time::Duration;

mod access;
mod encryption;
pub use access::{check_region, Access, AssumeRole, ACCESS_FIELDS};

const FILTER: &[Field] = &[
    Field::new("filters", Kind::StringMap),
    Field::new("owners", Kind::Strings),
    Field::new("most_recent", Kind::Bool),
    Field::new("include_deprecated", Kind::Bool),
    Field::new("random", Kind::Bool),
];
const BLOCK_DEVICE: &[Field] = &[
    Field::new("device_name", Kind::String),
    Field::new("delete_on_termination", Kind::Bool),
    Field::new("encrypted", Kind::Bool),
    Field::new("iops", Kind::Number),
    Field::new("throughput", Kind::Number),
    Field::new("kms_key_id", Kind::String),
    Field::new("no_device", Kind::Bool),
    Field::new("snapshot_id", Kind::String),
    Field::new("virtual_name", Kind::String),
    Field::new("volume_size", Kind::Number),
    Field::new("volume_type", Kind::String),
];

pub const AMI_FILTER_FIELDS: &[Field] = FILTER;

pub const FIELDS: &[Field] = &[
    Field::new("source_ami", Kind::String),
    Field::new("source_ami_filter", Kind::Block(FILTER)),
    Field::new("instance_type", Kind::String),
    Field::new("vpc_id", Kind::String),
    Field::new(
        "vpc_filter",
        Kind::Block(&[Field::new("filters", Kind::StringMap)]),
    ),
    Field::new("subnet_id", Kind::String),
    Field::new(
        "subnet_filter",
        Kind::Block(&[
            Field::new("filters", Kind::StringMap),
            Field::new("most_free", Kind::Bool),
            Field::new("random", Kind::Bool),
        ]),
    ),
    Field::new("availability_zone", Kind::String),
    Field::new("associate_public_ip_address", Kind::Bool),
    Field::new("security_group_id", Kind::String),
    Field::new("security_group_ids", Kind::Strings),
    Field::new(
        "security_group_filter",
        Kind::Block(&[Field::new("filters", Kind::StringMap)]),
    ),
    Field::new("temporary_security_group_source_cidrs", Kind::Strings),
    Field::new("temporary_security_group_source_public_ip", Kind::Bool),
    Field::new("iam_instance_profile", Kind::String),
    Field::new("user_data", Kind::String),
    Field::new("user_data_file", Kind::String),
    Field::new("launch_block_device_mappings", Kind::Blocks(BLOCK_DEVICE)),
    Field::new("ami_block_device_mappings", Kind::Blocks(BLOCK_DEVICE)),
    Field::new("ebs_optimized", Kind::Bool),
    Field::new("run_tags", Kind::StringMap),
    Field::new("run_tag", Kind::Blocks(KEY_VALUE)),
    Field::new("run_volume_tags", Kind::StringMap),
    Field::new("run_volume_tag", Kind::Blocks(KEY_VALUE)),
    Field::new("no_ephemeral", Kind::Bool),
    Field::new("capacity_reservation_preference", Kind::String),
    Field::new("capacity_reservation_id", Kind::String),
    Field::new("capacity_reservation_group_arn", Kind::String),
    Field::new(
        "license_specifications",
        Kind::Blocks(&[Field::new(
            "license_configuration_request",
            Kind::Block(&[Field::new("license_configuration_arn", Kind::String)]),
        )]),
    ),
    Field::new("shutdown_behavior", Kind::String),
    Field::new("spot_price", Kind::String),
    Field::new("spot_instance_types", Kind::Strings),
    Field::new("spot_tags", Kind::StringMap),
    Field::new("spot_tag", Kind::Blocks(KEY_VALUE)),
    Field::new("fleet_tags", Kind::StringMap),
    Field::new("fleet_tag", Kind::Blocks(KEY_VALUE)),
    Field::new("spot_allocation_strategy", Kind::String),
    Field::new("ssh_interface", Kind::String),
    Field::new("ami_name", Kind::String),
    Field::new("ami_description", Kind::String),
    Field::new("ami_virtualization_type", Kind::String),
    Field::new("ena_support", Kind::Bool),
    Field::new("sriov_support", Kind::Bool),
    Field::new("ami_users", Kind::Strings),
    Field::new("ami_groups", Kind::Strings),
    Field::new("ami_org_arns", Kind::Strings),
    Field::new("ami_ou_arns", Kind::Strings),
    Field::new("ami_product_codes", Kind::Strings),
    Field::new("snapshot_users", Kind::Strings),
    Field::new("snapshot_groups", Kind::Strings),
    Field::new("tags", Kind::StringMap),
    Field::new("tag", Kind::Blocks(KEY_VALUE)),
    Field::new("snapshot_tags", Kind::StringMap),
    Field::new("snapshot_tag", Kind::Blocks(KEY_VALUE)),
    Field::new("ami_regions", Kind::Strings),
    Field::new("encrypt_boot", Kind::Bool),
    Field::new("kms_key_id", Kind::String),
    Field::new("region_kms_key_ids", Kind::StringMap),
    Field::new("deprecate_at", Kind::String),
    Field::new("snapshot_copy_duration_minutes", Kind::Number),
    Field::new("force_deregister", Kind::Bool),
    Field::new("force_delete_snapshot", Kind::Bool),
    Field::new("disable_stop_instance", Kind::Bool),
    Field::new("skip_create_ami", Kind::Bool),
    Field::new("skip_save_build_region", Kind::Bool),
    Field::new("skip_ami_run_tags", Kind::Bool),
    Field::new(
        "deregistration_protection",
        Kind::Block(&[
            Field::new("enabled", Kind::Bool),
            Field::new("with_cooldown", Kind::Bool),
        ]),
    ),
    Field::new("block_duration_minutes", Kind::Number),
    Field::new("pause_before_ssm", Kind::String),
    Field::new("session_manager_port", Kind::Number),
    Field::new(
        "fast_launch",
        Kind::Block(&[
            Field::new("enable_fast_launch", Kind::Bool),
            Field::new("template_id", Kind::String),
            Field::new("template_name", Kind::String),
            Field::new("template_version", Kind::Number),
            Field::new(
                "region_launch_templates",
                Kind::Blocks(&[
                    Field::new("region", Kind::String),
                    Field::new("template_id", Kind::String),
                    Field::new("template_name", Kind::String),
                    Field::new("template_version", Kind::Number),
                ]),
            ),
            Field::new("max_parallel_launches", Kind::Number),
            Field::new("target_resource_count", Kind::Number),
        ]),
    ),
    Field::new("tenancy", Kind::String),
    Field::new(
        "placement",
        Kind::Block(&[
            Field::new("host_resource_group_arn", Kind::String),
            Field::new("host_id", Kind::String),
            Field::new("tenancy", Kind::String),
        ]),
    ),
    Field::new(
        "metadata_options",
        Kind::Block(&[
            Field::new("http_endpoint", Kind::String),
            Field::new("http_tokens", Kind::String),
            Field::new("http_put_response_hop_limit", Kind::Number),
            Field::new("instance_metadata_tags", Kind::String),
        ]),
    ),
    Field::new("imds_support", Kind::String),
    Field::new("enable_t2_unlimited", Kind::Bool),
    Field::new("enable_unlimited_credits", Kind::Bool),
    Field::new("enable_nitro_enclave", Kind::Bool),
    Field::new("windows_password_timeout", Kind::Duration),
    Field::new("skip_profile_validation", Kind::Bool),
    Field::new(
        "temporary_iam_instance_profile_policy_document",
        Kind::Block(POLICY_DOCUMENT),
    ),
];

/// The block form of a tag map (`tag { key = "…" value = "…" }`, repeatable).
const KEY_VALUE: &[Field] = &[
    Field::new("key", Kind::String),
    Field::new("value", Kind::String),
];

const POLICY_DOCUMENT: &[Field] = &[
    Field::new("Version", Kind::String),
    Field::new(
        "Statement",
        Kind::Blocks(&[
            Field::new("Effect", Kind::String),
            Field::new("Action", Kind::Strings),
            Field::new("Resource", Kind::Strings),
        ]),
    ),
];

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
    /// The raw config, for the communicator's settings.
    pub raw: Config,
}

fn block(c: &Config, k: &str) -> Option<Config> {
    c.get(k)
        .and_then(Value::as_attrs)
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// A tag map with its block form merged in, as Packer's `KeyValues.CopyOn`
/// does: the blocks after the map's entries, a repeated key taking the
/// later value. A block without a `key` is an error (EC2 would refuse it
/// at the end of the build).
fn tag_map(
    c: &Config,
    map: &str,
    block_name: &str,
    errs: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut tags = get_string_map(c, map);
    for b in blocks(c, block_name) {
        let Some(key) = non_empty(get_str(&b, "key")) else {
            errs.push(format!(
                "{block_name}: every {block_name} block needs a non-empty key"
            ));
            continue;
        };
        let value = get_str(&b, "value").unwrap_or_default();
        match tags.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => tags.push((key, value)),
        }
    }
    tags
}

fn blocks(c: &Config, k: &str) -> Vec<Config> {
    match c.get(k) {
        Some(v) => match v.as_seq() {
            Some(items) => items
                .iter()
                .filter_map(Value::as_attrs)
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .collect(),
            None => v
                .as_attrs()
                .map(|a| vec![a.iter().map(|(k, v)| (k.clone(), v.clone())).collect()])
                .unwrap_or_default(),
        },
        None => Vec::new(),
    }
}

/// `capacity_reservation_*`: at most one of the three, a known preference,
/// and not for a spot instance.
fn capacity_reservation(c: &Config, errs: &mut Vec<String>) -> Option<CapacityReservation> {
    let preference = non_empty(get_str(c, "capacity_reservation_preference"));
    let id = non_empty(get_str(c, "capacity_reservation_id"));
    let arn = non_empty(get_str(c, "capacity_reservation_group_arn"));
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
    if set > 0 && non_empty(get_str(c, "spot_price")).is_some_and(|p| p != "0") {
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
    c: &Config,
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
    let p = block(c, "placement").unwrap_or_default();
    let mut placement = Placement {
        tenancy: one_of(errs, "placement.tenancy", get_str(&p, "tenancy"), TENANCY),
        host_resource_group_arn: non_empty(get_str(&p, "host_resource_group_arn")),
        host_id: non_empty(get_str(&p, "host_id")),
    };
    if let Some(t) = one_of(errs, "tenancy", get_str(c, "tenancy"), TENANCY) {
        if placement.tenancy.is_some() {
            errs.push(
                "tenancy is deprecated in favour of placement.tenancy; set only one of them".into(),
            );
        }
        placement.tenancy = Some(t);
    }
    let metadata_options = block(c, "metadata_options").map(|m| {
        let hop = get_i64(&m, "http_put_response_hop_limit");
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
                get_str(&m, "http_endpoint"),
                &["enabled", "disabled"],
            ),
            http_tokens: one_of(
                errs,
                "metadata_options.http_tokens",
                get_str(&m, "http_tokens"),
                &["optional", "required"],
            ),
            http_put_response_hop_limit: hop.and_then(|h| i32::try_from(h).ok()),
            instance_metadata_tags: one_of(
                errs,
                "metadata_options.instance_metadata_tags",
                get_str(&m, "instance_metadata_tags"),
                &["enabled", "disabled"],
            ),
        }
    });
    let spot = non_empty(get_str(c, "spot_price")).is_some_and(|p| p != "0");
    let instance_type = get_str(c, "instance_type").unwrap_or_default();
    let nitro = get_bool(c, "enable_nitro_enclave").unwrap_or(false);
    if nitro && spot {
        errs.push("enable_nitro_enclave cannot be used with spot instances (spot_price)".into());
    }
    let unlimited = get_bool(c, "enable_unlimited_credits")
        .or_else(|| get_bool(c, "enable_t2_unlimited"))
        .unwrap_or(false);
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
    let imds_support = one_of(errs, "imds_support", get_str(c, "imds_support"), &["v2.0"]);
    (placement, metadata_options, nitro, unlimited, imds_support)
}

/// The policy document as IAM's JSON: `Version` (default 2012-10-17) and
/// one object per `Statement` block, each with an Effect, Actions and
/// Resources.
fn policy_document(doc: &Config) -> Result<String, String> {
    let statements = blocks(doc, "Statement");
    if statements.is_empty() {
        return Err("at least one Statement is required".into());
    }
    let mut list = Vec::new();
    for (i, st) in statements.iter().enumerate() {
        let effect = non_empty(get_str(st, "Effect")).unwrap_or_else(|| "Allow".into());
        if effect != "Allow" && effect != "Deny" {
            return Err(format!(
                "Statement {}: Effect must be \"Allow\" or \"Deny\", not {effect:?}",
                i + 1
            ));
        }
        let (action, resource) = (get_strings(st, "Action"), get_strings(st, "Resource"));
        if action.is_empty() || resource.is_empty() {
            return Err(format!(
                "Statement {}: Action and Resource must each name at least one item",
                i + 1
            ));
        }
        list.push(serde_json::json!({ "Effect": effect, "Action": action, "Resource": resource }));
    }
    let version = non_empty(get_str(doc, "Version")).unwrap_or_else(|| "2012-10-17".into());
    Ok(serde_json::json!({ "Version": version, "Statement": list }).to_string())
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn i32_of(c: &Config, k: &str) -> Result<Option<i32>, String> {
    match get_i64(c, k) {
        None => Ok(None),
        Some(n) => i32::try_from(n)
            .map(Some)
            .map_err(|_| format!("{k}: {n} is out of range")),
    }
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

pub fn filter_of(c: &Config) -> Filters {
    get_string_map(c, "filters")
}

fn block_devices(c: &Config, k: &str) -> Result<Vec<BlockDevice>, String> {
    let mut out = Vec::new();
    for b in blocks(c, k) {
        let device_name = non_empty(get_str(&b, "device_name"))
            .ok_or_else(|| format!("{k}: device_name is required"))?;
        out.push(BlockDevice {
            device_name,
            delete_on_termination: get_bool(&b, "delete_on_termination"),
            encrypted: get_bool(&b, "encrypted"),
            iops: i32_of(&b, "iops")?,
            throughput: i32_of(&b, "throughput")?,
            kms_key_id: non_empty(get_str(&b, "kms_key_id")),
            no_device: get_bool(&b, "no_device").unwrap_or(false),
            snapshot_id: non_empty(get_str(&b, "snapshot_id")),
            virtual_name: non_empty(get_str(&b, "virtual_name")),
            volume_size: i32_of(&b, "volume_size")?,
            volume_type: non_empty(get_str(&b, "volume_type")),
        });
    }
    Ok(out)
}

/// Options of Packer's amazon-ebs that kiln accepts so that a Packer
/// template still validates, but that do nothing here: checked as Packer
/// checks them, then a warning says why they do nothing; or, where the
/// build could not be what the template asks, refused.
fn packer_only_options(c: &Config, errs: &mut Vec<String>) {
    if let Some(n) = get_i64(c, "block_duration_minutes").filter(|n| *n != 0) {
        if n % 60 != 0 || !(60..=360).contains(&n) {
            errs.push(format!(
                "block_duration_minutes must be a multiple of 60 from 60 to 360, not {n}"
            ));
        } else if non_empty(get_str(c, "spot_price")).is_none() {
            errs.push("block_duration_minutes needs spot_price".into());
        } else {
            crate::ui::warn("amazon-ebs: block_duration_minutes has no effect: EC2 no longer offers Spot blocks (fixed-duration Spot Instances); the instance is an ordinary Spot Instance");
        }
    }
    let session_manager = get_str(c, "ssh_interface").as_deref() == Some("session_manager");
    for k in ["pause_before_ssm", "session_manager_port"] {
        if is_set(c, k) && !session_manager {
            crate::ui::warn(&format!("amazon-ebs: {k} has no effect: it is used only with ssh_interface = \"session_manager\""));
        }
    }
    if block(c, "fast_launch").is_some_and(|f| get_bool(&f, "enable_fast_launch").unwrap_or(false))
    {
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
        let source_ami = non_empty(get_str(c, "source_ami"));
        let source_ami_filter = block(c, "source_ami_filter").map(|f| AmiFilter {
            filters: filter_of(&f),
            owners: get_strings(&f, "owners"),
            most_recent: get_bool(&f, "most_recent").unwrap_or(false),
            include_deprecated: get_bool(&f, "include_deprecated").unwrap_or(false),
        });
        if source_ami.is_none() && source_ami_filter.is_none() {
            errs.push("A source_ami or source_ami_filter must be specified".into());
        }
        if let Some(f) = &source_ami_filter {
            if f.owners.is_empty() {
                errs.push("For security reasons, you must declare an owner using source_ami_filter.owners.".into());
            }
        }
        let instance_type = non_empty(get_str(c, "instance_type")).unwrap_or_else(|| {
            errs.push("An instance_type must be specified".into());
            String::new()
        });
        let ami_name = non_empty(get_str(c, "ami_name")).unwrap_or_default();
        let skip_create_ami = get_bool(c, "skip_create_ami").unwrap_or(false);
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
        let ssh_interface = match get_str(c, "ssh_interface").as_deref() {
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
        packer_only_options(c, &mut errs);
        let temporary_key_pair_type = match get_str(c, "temporary_key_pair_type").as_deref() {
            None | Some("") | Some("rsa") => KeyType::Rsa,
            Some("ed25519") => KeyType::Ed25519,
            Some(o) => {
                errs.push(format!(
                    "temporary_key_pair_type {o:?}: valid values are \"rsa\" and \"ed25519\""
                ));
                KeyType::Rsa
            }
        };
        let communicator_none = get_str(c, "communicator").as_deref() == Some("none");
        let ssh_keypair_name = non_empty(get_str(c, "ssh_keypair_name"));
        let has_key_file = is_set(c, "ssh_private_key_file");
        if ssh_keypair_name.is_some()
            && !has_key_file
            && !get_bool(c, "ssh_agent_auth").unwrap_or(false)
        {
            errs.push("ssh_private_key_file must be provided (or ssh_agent_auth) when ssh_keypair_name is specified".into());
        }
        let temporary_key_pair = !communicator_none
            && ssh_keypair_name.is_none()
            && !has_key_file
            && !is_set(c, "ssh_password")
            && !get_bool(c, "ssh_agent_auth").unwrap_or(false);
        if !communicator_none && !is_set(c, "ssh_username") {
            errs.push("An ssh_username must be specified\n  Note: some builders used to default ssh_username to \"root\".".into());
        }
        if let Some(s) = get_str(c, "shutdown_behavior") {
            if s != "stop" && s != "terminate" {
                errs.push(format!(
                    "shutdown_behavior only accepts 'stop' or 'terminate' values, not {s:?}"
                ));
            }
        }
        if let Some(v) = get_str(c, "ami_virtualization_type") {
            if v != "hvm" && v != "paravirtual" {
                errs.push(format!(
                    "ami_virtualization_type {v:?}: valid values are \"hvm\" and \"paravirtual\""
                ));
            }
        }
        let user_data = match (
            non_empty(get_str(c, "user_data")),
            non_empty(get_str(c, "user_data_file")),
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
        if let Err(e) = get_duration(c, "windows_password_timeout") {
            errs.push(e);
        }
        let mut security_group_ids = get_strings(c, "security_group_ids");
        if let Some(id) = non_empty(get_str(c, "security_group_id")) {
            security_group_ids.insert(0, id);
        }
        let launch = block_devices(c, "launch_block_device_mappings")
            .map_err(|e| errs.push(e))
            .unwrap_or_default();
        let ami_bdm = block_devices(c, "ami_block_device_mappings")
            .map_err(|e| errs.push(e))
            .unwrap_or_default();
        let mut cidrs = get_strings(c, "temporary_security_group_source_cidrs");
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
        let spot_price = non_empty(get_str(c, "spot_price"));
        if let Some(p) = &spot_price {
            if p != "auto" && p.parse::<f64>().map_or(true, |v| v <= 0.0) {
                errs.push(format!(
                    "spot_price {p:?}: a price in dollars per hour, or \"auto\""
                ));
            }
        }
        let spot_instance_types = get_strings(c, "spot_instance_types");
        if !spot_instance_types.is_empty() && spot_price.is_none() {
            errs.push("spot_instance_types needs spot_price (a price, or \"auto\")".into());
        }
        let Some(access) = access else {
            return Err(errs);
        };
        let skip_save_build_region = get_bool(c, "skip_save_build_region").unwrap_or(false);
        if skip_save_build_region
            && !get_strings(c, "ami_regions")
                .iter()
                .any(|r| *r != access.region)
        {
            // Packer would build, copy nowhere, delete the AMI and succeed with nothing.
            errs.push(format!("skip_save_build_region needs ami_regions with a region other than the build region ({}): else no AMI would be kept", access.region));
        }
        encryption::check_encryption(c, &mut errs);
        let (placement, metadata_options, enable_nitro_enclave, unlimited_credits, imds_support) =
            run_options(c, &mut errs);
        let capacity_reservation = capacity_reservation(c, &mut errs);
        let [tags, snapshot_tags, run_tags, run_volume_tags, spot_tags, fleet_tags] = [
            ("tags", "tag"),
            ("snapshot_tags", "snapshot_tag"),
            ("run_tags", "run_tag"),
            ("run_volume_tags", "run_volume_tag"),
            ("spot_tags", "spot_tag"),
            ("fleet_tags", "fleet_tag"),
        ]
        .map(|(map, block)| tag_map(c, map, block, &mut errs));
        let temporary_iam_policy = match block(c, "temporary_iam_instance_profile_policy_document")
        {
            None => None,
            Some(doc) => match policy_document(&doc) {
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
        let snapshot_copy_minutes =
            get_i64(c, "snapshot_copy_duration_minutes").filter(|m| *m != 0);
        if let Some(m) = snapshot_copy_minutes {
            // EC2's bounds for a time-based copy: 15 minutes to 48 hours, in steps of 15.
            if !(15..=2880).contains(&m) || m % 15 != 0 {
                errs.push(format!("snapshot_copy_duration_minutes {m} is invalid: use a multiple of 15 from 15 to 2880"));
            }
        }
        let deprecate_at = non_empty(get_str(c, "deprecate_at")).and_then(|at| match aws_smithy_types::DateTime::from_str(&at, aws_smithy_types::date_time::Format::DateTimeWithOffset) {
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
            vpc_id: non_empty(get_str(c, "vpc_id")),
            subnet_id: non_empty(get_str(c, "subnet_id")),
            subnet_filter: block(c, "subnet_filter").map(|f| SubnetFilter {
                filters: filter_of(&f),
                most_free: get_bool(&f, "most_free").unwrap_or(false),
                random: get_bool(&f, "random").unwrap_or(false),
            }),
            availability_zone: non_empty(get_str(c, "availability_zone")),
            associate_public_ip_address: get_bool(c, "associate_public_ip_address"),
            security_group_ids,
            security_group_filter: block(c, "security_group_filter").map(|f| filter_of(&f)),
            vpc_filter: block(c, "vpc_filter").map(|f| filter_of(&f)),
            source_public_ip: get_bool(c, "temporary_security_group_source_public_ip")
                .unwrap_or(false),
            spot_price,
            spot_instance_types,
            spot_tags,
            fleet_tags,
            spot_allocation_strategy: non_empty(get_str(c, "spot_allocation_strategy")),
            temporary_security_group_source_cidrs: cidrs,
            iam_instance_profile: non_empty(get_str(c, "iam_instance_profile")),
            skip_profile_validation: get_bool(c, "skip_profile_validation").unwrap_or(false),
            temporary_iam_policy,
            user_data,
            launch_block_device_mappings: launch,
            ami_block_device_mappings: ami_bdm,
            ebs_optimized: get_bool(c, "ebs_optimized").unwrap_or(false),
            run_tags,
            run_volume_tags,
            no_ephemeral: get_bool(c, "no_ephemeral").unwrap_or(false),
            capacity_reservation,
            license_configuration_arns: blocks(c, "license_specifications")
                .iter()
                .filter_map(|l| block(l, "license_configuration_request"))
                .filter_map(|r| non_empty(get_str(&r, "license_configuration_arn")))
                .collect(),
            shutdown_behavior: non_empty(get_str(c, "shutdown_behavior")),
            placement,
            metadata_options,
            enable_nitro_enclave,
            unlimited_credits,
            ssh_interface,
            ssh_keypair_name,
            temporary_key_pair_name: non_empty(get_str(c, "temporary_key_pair_name")),
            temporary_key_pair_type,
            ami_name,
            ami_description: non_empty(get_str(c, "ami_description")),
            ami_virtualization_type: non_empty(get_str(c, "ami_virtualization_type")),
            ena_support: get_bool(c, "ena_support"),
            sriov_support: get_bool(c, "sriov_support").unwrap_or(false),
            ami_users: get_strings(c, "ami_users"),
            ami_groups: get_strings(c, "ami_groups"),
            ami_org_arns: get_strings(c, "ami_org_arns"),
            ami_ou_arns: get_strings(c, "ami_ou_arns"),
            ami_product_codes: get_strings(c, "ami_product_codes"),
            imds_support,
            snapshot_users: get_strings(c, "snapshot_users"),
            snapshot_groups: get_strings(c, "snapshot_groups"),
            tags,
            snapshot_tags,
            ami_regions: get_strings(c, "ami_regions"),
            encrypt_boot: get_bool(c, "encrypt_boot"),
            kms_key_id: non_empty(get_str(c, "kms_key_id")),
            region_kms_key_ids: get_string_map(c, "region_kms_key_ids"),
            deprecate_at,
            snapshot_copy_minutes,
            force_deregister: get_bool(c, "force_deregister").unwrap_or(false),
            skip_save_build_region,
            skip_ami_run_tags: get_bool(c, "skip_ami_run_tags").unwrap_or(false),
            deregistration_protection: block(c, "deregistration_protection")
                .filter(|b| get_bool(b, "enabled").unwrap_or(false))
                .map(|b| get_bool(&b, "with_cooldown").unwrap_or(false)),
            force_delete_snapshot: get_bool(c, "force_delete_snapshot").unwrap_or(false),
            disable_stop_instance: get_bool(c, "disable_stop_instance").unwrap_or(false),
            skip_create_ami,
            communicator_none,
            temporary_key_pair,
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
