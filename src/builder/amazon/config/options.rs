//! amazon-ebs's and amazon-ami's options as the template writes them
//! (Packer's names), each declared once; [`super::EbsConfig`] and
//! [`super::Access`] check them and turn them into what the steps use.

use crate::plugin::{Options, StringMap};
use std::time::Duration;

/// The AWS access options amazon-ebs and the amazon-ami data source share.
#[derive(Options)]
pub struct AccessOptions {
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    /// A session token, with temporary keys.
    pub token: Option<String>,
    /// The region (else `AWS_REGION`, `AWS_DEFAULT_REGION`).
    pub region: Option<String>,
    /// A profile of the shared configuration and credentials files.
    pub profile: Option<String>,
    pub shared_credentials_file: Option<String>,
    /// Another EC2 API endpoint (a URL).
    pub custom_endpoint_ec2: Option<String>,
    pub skip_region_validation: bool,
    pub skip_credential_validation: bool,
    /// Never ask the instance metadata service for credentials.
    pub skip_metadata_api_check: bool,
    /// Do not check HTTPS endpoints' certificates.
    pub insecure_skip_tls_verify: bool,
    /// Decode refused calls' authorization messages through STS.
    pub decode_authorization_messages: bool,
    pub max_retries: Option<i64>,
    /// The current code of the MFA device a profile's role asks for.
    pub mfa_code: Option<String>,
    pub assume_role: Option<AssumeRoleOptions>,
    pub aws_polling: Option<PollingOptions>,
    /// Credentials from Vault's AWS secrets engine.
    pub vault_aws_engine: Option<VaultAwsEngineOptions>,
}

/// `assume_role { ... }`: the role the build's calls are made as.
#[derive(Options)]
pub struct AssumeRoleOptions {
    pub role_arn: Option<String>,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration_seconds: Option<i64>,
    /// A session policy (JSON) that narrows the role.
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
    /// Session tags.
    pub tags: StringMap,
    /// Session tags that pass on to roles chained after this one.
    pub transitive_tag_keys: Vec<String>,
}

/// `aws_polling { ... }`: a fixed delay between polls, and a bound on them.
#[derive(Options)]
pub struct PollingOptions {
    pub delay_seconds: Option<i64>,
    pub max_attempts: Option<i64>,
}

/// `vault_aws_engine { ... }`.
#[derive(Options)]
pub struct VaultAwsEngineOptions {
    /// The Vault role to generate credentials for.
    pub name: Option<String>,
    /// The secrets engine's mount (`aws`).
    pub engine_name: Option<String>,
    pub role_arn: Option<String>,
    pub ttl: Option<String>,
}

/// `source_ami_filter { ... }`, and the amazon-ami data source's filters.
#[derive(Options)]
pub struct AmiFilterOptions {
    /// `Name = "values"` filters of DescribeImages.
    pub filters: StringMap,
    /// Accounts (or `self`, `amazon`...) the AMI must belong to.
    pub owners: Vec<String>,
    /// The newest of several matches (else several are an error).
    pub most_recent: bool,
    pub include_deprecated: bool,
    pub random: bool,
}

/// `vpc_filter { ... }`, `security_group_filter { ... }`.
#[derive(Options)]
pub struct FilterOptions {
    pub filters: StringMap,
}

/// `subnet_filter { ... }`.
#[derive(Options)]
pub struct SubnetFilterOptions {
    pub filters: StringMap,
    /// The subnet with the most free addresses.
    pub most_free: bool,
    /// Any one of the matches.
    pub random: bool,
}

/// One of `launch_block_device_mappings` / `ami_block_device_mappings`.
#[derive(Options)]
pub struct BlockDeviceOptions {
    pub device_name: Option<String>,
    pub delete_on_termination: Option<bool>,
    pub encrypted: Option<bool>,
    pub iops: Option<i32>,
    pub throughput: Option<i32>,
    pub kms_key_id: Option<String>,
    pub no_device: bool,
    pub snapshot_id: Option<String>,
    pub virtual_name: Option<String>,
    /// GiB.
    pub volume_size: Option<i32>,
    pub volume_type: Option<String>,
}

/// The block form of a tag map (`tag { key = "..." value = "..." }`).
#[derive(Options)]
pub struct KeyValue {
    pub key: Option<String>,
    pub value: Option<String>,
}

/// `run_volume_tag { name = "..." value = "..." }`: the plugin names this
/// block's key `name` (kiln also takes `key`, as in the other tag blocks).
#[derive(Options)]
pub struct NameValue {
    pub name: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
}

impl NameValue {
    pub fn key_value(&self) -> KeyValue {
        KeyValue {
            key: self.name.clone().or_else(|| self.key.clone()),
            value: self.value.clone(),
        }
    }
}

/// `license_specifications { license_configuration_request { ... } }`.
#[derive(Options)]
pub struct LicenseSpecification {
    pub license_configuration_request: Option<LicenseConfigurationRequest>,
}

#[derive(Options)]
pub struct LicenseConfigurationRequest {
    pub license_configuration_arn: Option<String>,
}

/// `deregistration_protection { ... }`.
#[derive(Options)]
pub struct DeregistrationProtection {
    pub enabled: bool,
    /// Protection stays 24 hours after it is turned off.
    pub with_cooldown: bool,
}

/// `fast_launch { ... }`: Windows only, refused when enabled.
#[derive(Options)]
#[allow(dead_code)] // only enable_fast_launch is read: it is refused
pub struct FastLaunch {
    pub enable_fast_launch: bool,
    pub template_id: Option<String>,
    pub template_name: Option<String>,
    pub template_version: Option<i64>,
    pub region_launch_templates: Vec<RegionLaunchTemplate>,
    pub max_parallel_launches: Option<i64>,
    pub target_resource_count: Option<i64>,
}

#[derive(Options)]
#[allow(dead_code)] // part of fast_launch, which is refused
pub struct RegionLaunchTemplate {
    pub region: Option<String>,
    pub template_id: Option<String>,
    pub template_name: Option<String>,
    pub template_version: Option<i64>,
}

/// `placement { ... }`.
#[derive(Options)]
pub struct PlacementOptions {
    pub host_resource_group_arn: Option<String>,
    pub host_id: Option<String>,
    /// `default`, `dedicated` or `host`.
    pub tenancy: Option<String>,
}

/// `metadata_options { ... }`: the source instance's IMDS settings.
#[derive(Options)]
pub struct MetadataOptionsBlock {
    pub http_endpoint: Option<String>,
    pub http_tokens: Option<String>,
    pub http_put_response_hop_limit: Option<i64>,
    pub instance_metadata_tags: Option<String>,
}

/// `temporary_iam_instance_profile_policy_document { ... }` (IAM's names).
#[derive(Options)]
pub struct PolicyDocument {
    #[option(name = "Version")]
    pub version: Option<String>,
    #[option(name = "Statement")]
    pub statement: Vec<Statement>,
}

#[derive(Options)]
pub struct Statement {
    #[option(name = "Effect")]
    pub effect: Option<String>,
    #[option(name = "Action")]
    pub action: Vec<String>,
    #[option(name = "Resource")]
    pub resource: Vec<String>,
}

/// amazon-ebs's own options; the access options are [`AccessOptions`], the
/// communicator's [`crate::communicator::CommunicatorOptions`].
#[derive(Options)]
#[allow(dead_code)] // no_effect options and windows_password_timeout: checked, not used
pub struct EbsOptions {
    /// The AMI the instance starts from.
    pub source_ami: Option<String>,
    pub source_ami_filter: Option<AmiFilterOptions>,
    pub instance_type: Option<String>,
    pub vpc_id: Option<String>,
    pub vpc_filter: Option<FilterOptions>,
    pub subnet_id: Option<String>,
    pub subnet_filter: Option<SubnetFilterOptions>,
    pub availability_zone: Option<String>,
    pub associate_public_ip_address: Option<bool>,
    pub security_group_id: Option<String>,
    pub security_group_ids: Vec<String>,
    pub security_group_filter: Option<FilterOptions>,
    /// Who may reach SSH through the temporary security group.
    pub temporary_security_group_source_cidrs: Vec<String>,
    /// Only this host's public address may (looked up at build time).
    pub temporary_security_group_source_public_ip: bool,
    pub iam_instance_profile: Option<String>,
    pub user_data: Option<String>,
    pub user_data_file: Option<String>,
    pub launch_block_device_mappings: Vec<BlockDeviceOptions>,
    pub ami_block_device_mappings: Vec<BlockDeviceOptions>,
    pub ebs_optimized: bool,
    pub run_tags: StringMap,
    pub run_tag: Vec<KeyValue>,
    pub run_volume_tags: StringMap,
    pub run_volume_tag: Vec<NameValue>,
    /// Leave out the instance type's instance-store volumes.
    pub no_ephemeral: bool,
    /// `open` or `none`.
    pub capacity_reservation_preference: Option<String>,
    pub capacity_reservation_id: Option<String>,
    pub capacity_reservation_group_arn: Option<String>,
    pub license_specifications: Vec<LicenseSpecification>,
    /// `stop` or `terminate`.
    pub shutdown_behavior: Option<String>,
    /// A price in dollars per hour, or `auto`: a spot instance.
    pub spot_price: Option<String>,
    pub spot_instance_types: Vec<String>,
    pub spot_tags: StringMap,
    pub spot_tag: Vec<KeyValue>,
    pub fleet_tags: StringMap,
    pub fleet_tag: Vec<KeyValue>,
    pub spot_allocation_strategy: Option<String>,
    /// `public_ip`, `private_ip`, `public_dns`, `private_dns`.
    pub ssh_interface: Option<String>,
    pub ami_name: Option<String>,
    pub ami_description: Option<String>,
    /// `hvm` or `paravirtual`.
    pub ami_virtualization_type: Option<String>,
    pub ena_support: Option<bool>,
    pub sriov_support: bool,
    pub ami_users: Vec<String>,
    pub ami_groups: Vec<String>,
    pub ami_org_arns: Vec<String>,
    pub ami_ou_arns: Vec<String>,
    pub ami_product_codes: Vec<String>,
    pub snapshot_users: Vec<String>,
    pub snapshot_groups: Vec<String>,
    /// The AMI's tags.
    pub tags: StringMap,
    pub tag: Vec<KeyValue>,
    pub snapshot_tags: StringMap,
    pub snapshot_tag: Vec<KeyValue>,
    /// Regions the AMI is copied to.
    pub ami_regions: Vec<String>,
    pub encrypt_boot: Option<bool>,
    pub kms_key_id: Option<String>,
    pub region_kms_key_ids: StringMap,
    /// An RFC 3339 time.
    pub deprecate_at: Option<String>,
    pub snapshot_copy_duration_minutes: Option<i64>,
    pub force_deregister: bool,
    pub force_delete_snapshot: bool,
    pub disable_stop_instance: bool,
    pub skip_create_ami: bool,
    pub skip_save_build_region: bool,
    pub skip_ami_run_tags: bool,
    pub deregistration_protection: Option<DeregistrationProtection>,
    pub block_duration_minutes: Option<i64>,
    #[option(no_effect = "it is used only with ssh_interface = \"session_manager\"")]
    pub pause_before_ssm: Option<Duration>,
    #[option(no_effect = "it is used only with ssh_interface = \"session_manager\"")]
    pub session_manager_port: Option<i64>,
    pub fast_launch: Option<FastLaunch>,
    /// Deprecated: `placement.tenancy`.
    pub tenancy: Option<String>,
    pub placement: Option<PlacementOptions>,
    pub metadata_options: Option<MetadataOptionsBlock>,
    /// `v2.0`: instances of the AMI require IMDSv2.
    pub imds_support: Option<String>,
    pub enable_t2_unlimited: bool,
    pub enable_unlimited_credits: bool,
    pub enable_nitro_enclave: bool,
    pub windows_password_timeout: Option<Duration>,
    pub skip_profile_validation: bool,
    /// A temporary role and instance profile with this policy.
    pub temporary_iam_instance_profile_policy_document: Option<PolicyDocument>,
}
