//! The settings a source instance is launched with, however it is launched:
//! RunInstances takes them as parameters, the spot path as launch-template
//! data. The SDK has a type for each; [`Launch`] gathers the settings once
//! and writes both, side by side, so neither path can miss one.

use super::{render_tags, SourceImage, State};
use crate::builder::amazon::config::{BlockDevice, CapacityReservation, EbsConfig};
use crate::builder::amazon::resources;
use crate::runner::{BuildContext, BuildError};
use aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, CapacityReservationPreference, CapacityReservationSpecification,
    CapacityReservationTarget, CreditSpecificationRequest, EbsBlockDevice, EnclaveOptionsRequest,
    HttpTokensState, IamInstanceProfileSpecification, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceMetadataTagsState,
    InstanceNetworkInterfaceSpecification, LaunchTemplateBlockDeviceMappingRequest,
    LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateEnclaveOptionsRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceMetadataTagsState,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest,
    LaunchTemplateLicenseConfigurationRequest, LaunchTemplatePlacementRequest,
    LaunchTemplateTagSpecificationRequest, LicenseConfigurationRequest, Placement,
    RequestLaunchTemplateData, ResourceType, ShutdownBehavior, Tag, TagSpecification, Tenancy,
    VolumeType,
};

/// One launch block device as RunInstances and CreateImage take it.
pub(super) fn block_device(b: &BlockDevice, default_delete: bool) -> BlockDeviceMapping {
    let m = BlockDeviceMapping::builder().device_name(&b.device_name);
    if b.no_device {
        return m.no_device("").build();
    }
    if let Some(v) = &b.virtual_name {
        return m.virtual_name(v).build();
    }
    let ebs = EbsBlockDevice::builder()
        .delete_on_termination(b.delete_on_termination.unwrap_or(default_delete))
        .set_volume_type(b.volume_type.as_deref().map(VolumeType::from))
        .set_volume_size(b.volume_size)
        .set_iops(b.iops)
        .set_throughput(b.throughput)
        .set_snapshot_id(b.snapshot_id.clone())
        .set_encrypted(b.encrypted)
        .set_kms_key_id(b.kms_key_id.clone());
    m.ebs(ebs.build()).build()
}

/// The same block device as launch-template data.
fn template_block_device(
    b: &BlockDevice,
    default_delete: bool,
) -> LaunchTemplateBlockDeviceMappingRequest {
    let m = LaunchTemplateBlockDeviceMappingRequest::builder().device_name(&b.device_name);
    if b.no_device {
        return m.no_device("").build();
    }
    if let Some(v) = &b.virtual_name {
        return m.virtual_name(v).build();
    }
    let ebs = LaunchTemplateEbsBlockDeviceRequest::builder()
        .delete_on_termination(b.delete_on_termination.unwrap_or(default_delete))
        .set_volume_type(b.volume_type.as_deref().map(VolumeType::from))
        .set_volume_size(b.volume_size)
        .set_iops(b.iops)
        .set_throughput(b.throughput)
        .set_snapshot_id(b.snapshot_id.clone())
        .set_encrypted(b.encrypted)
        .set_kms_key_id(b.kms_key_id.clone());
    m.ebs(ebs.build()).build()
}

/// Everything the source instance is launched with.
pub(super) struct Launch<'a> {
    cfg: &'a EbsConfig,
    image_id: String,
    key_name: Option<String>,
    group_ids: Vec<String>,
    subnet_id: Option<String>,
    availability_zone: Option<String>,
    instance_profile: Option<String>,
    /// `run_tags` plus the client-token tag `kiln cleanup` finds it by.
    instance_tags: Vec<Tag>,
    volume_tags: Vec<Tag>,
    /// `launch_block_device_mappings`, one per device, and whether each is
    /// deleted with the instance; with `no_ephemeral`, an empty mapping for
    /// each instance-store device name the user did not map.
    devices: Vec<(BlockDevice, bool)>,
}

/// Where EC2 attaches instance-store volumes by default (xvdca–xvdcz): the
/// names `no_ephemeral` maps to nothing, as Packer does, so that Windows
/// guests do not show them.
fn ephemeral_device_names() -> impl Iterator<Item = String> {
    ('a'..='z').map(|l| format!("xvdc{l}"))
}

impl<'a> Launch<'a> {
    pub fn new(
        s: &State,
        cfg: &'a EbsConfig,
        ctx: &BuildContext,
        source: &SourceImage,
        token: &str,
        run_tags: &[Tag],
    ) -> Result<Launch<'a>, BuildError> {
        let mut instance_tags = run_tags.to_vec();
        instance_tags.push(
            Tag::builder()
                .key(resources::TOKEN_TAG)
                .value(token)
                .build(),
        );
        let mut devices: Vec<(BlockDevice, bool)> = Vec::new();
        for b in &cfg.launch_block_device_mappings {
            if devices.iter().any(|(d, _)| d.device_name == b.device_name) {
                continue;
            }
            // The root volume goes with the instance unless said otherwise.
            let root = source.root_device_name.as_deref() == Some(b.device_name.as_str());
            devices.push((b.clone(), root || b.delete_on_termination.is_none()));
        }
        if cfg.no_ephemeral {
            for name in ephemeral_device_names() {
                if !devices.iter().any(|(d, _)| d.device_name == name) {
                    devices.push((
                        BlockDevice {
                            device_name: name,
                            no_device: true,
                            ..Default::default()
                        },
                        false,
                    ));
                }
            }
        }
        Ok(Launch {
            cfg,
            image_id: source.id.clone(),
            key_name: s.launch_key_name.clone(),
            group_ids: s.group_ids.clone(),
            subnet_id: s.subnet_id.clone(),
            availability_zone: s.availability_zone.clone(),
            instance_profile: s.instance_profile.clone(),
            instance_tags,
            volume_tags: render_tags(ctx, &cfg.run_volume_tags)?,
            devices,
        })
    }

    fn user_data(&self) -> Option<String> {
        use base64::Engine;
        self.cfg
            .user_data
            .as_ref()
            .map(|u| base64::engine::general_purpose::STANDARD.encode(u))
    }

    /// The settings as RunInstances parameters (instance type, counts and
    /// client token are the caller's).
    pub fn run_instances(&self, mut q: RunInstancesFluentBuilder) -> RunInstancesFluentBuilder {
        let cfg = self.cfg;
        q = q
            .image_id(&self.image_id)
            .set_key_name(self.key_name.clone())
            .set_security_group_ids(Some(self.group_ids.clone()))
            .set_subnet_id(self.subnet_id.clone())
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(self.instance_tags.clone()))
                    .build(),
            )
            .set_user_data(self.user_data())
            .set_ebs_optimized(cfg.ebs_optimized.then_some(true))
            .set_iam_instance_profile(
                self.instance_profile
                    .as_ref()
                    .map(|p| IamInstanceProfileSpecification::builder().name(p).build()),
            )
            .set_instance_initiated_shutdown_behavior(
                cfg.shutdown_behavior.as_deref().map(ShutdownBehavior::from),
            )
            .set_enclave_options(
                cfg.enable_nitro_enclave
                    .then(|| EnclaveOptionsRequest::builder().enabled(true).build()),
            )
            .set_credit_specification(self.credits())
            .set_capacity_reservation_specification(self.capacity_reservation())
            .set_license_specifications(self.licenses(|arn| {
                LicenseConfigurationRequest::builder()
                    .license_configuration_arn(arn)
                    .build()
            }));
        if !self.volume_tags.is_empty() {
            q = q.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Volume)
                    .set_tags(Some(self.volume_tags.clone()))
                    .build(),
            );
        }
        let pl = &cfg.placement;
        if self.availability_zone.is_some() || *pl != Default::default() {
            let p = Placement::builder()
                .set_availability_zone(self.availability_zone.clone())
                .set_tenancy(pl.tenancy.as_deref().map(Tenancy::from))
                .set_host_resource_group_arn(pl.host_resource_group_arn.clone())
                .set_host_id(pl.host_id.clone());
            q = q.placement(p.build());
        }
        if let Some(m) = &cfg.metadata_options {
            let o = InstanceMetadataOptionsRequest::builder()
                .set_http_endpoint(
                    m.http_endpoint
                        .as_deref()
                        .map(InstanceMetadataEndpointState::from),
                )
                .set_http_tokens(m.http_tokens.as_deref().map(HttpTokensState::from))
                .set_http_put_response_hop_limit(m.http_put_response_hop_limit)
                .set_instance_metadata_tags(
                    m.instance_metadata_tags
                        .as_deref()
                        .map(InstanceMetadataTagsState::from),
                );
            q = q.metadata_options(o.build());
        }
        if let Some(public) = cfg.associate_public_ip_address {
            // A public address is a property of the network interface, which
            // then carries the subnet and the groups.
            let nic = InstanceNetworkInterfaceSpecification::builder()
                .device_index(0)
                .associate_public_ip_address(public)
                .delete_on_termination(true)
                .set_subnet_id(self.subnet_id.clone())
                .set_groups(Some(self.group_ids.clone()))
                .build();
            q = q
                .set_subnet_id(None)
                .set_security_group_ids(None)
                .network_interfaces(nic);
        }
        if !self.devices.is_empty() {
            q = q.set_block_device_mappings(Some(
                self.devices
                    .iter()
                    .map(|(b, del)| block_device(b, *del))
                    .collect(),
            ));
        }
        q
    }

    /// The settings as launch-template data for a spot fleet (the subnet and
    /// zone go in the fleet's overrides; spot requests get `spot_tags`).
    pub fn template_data(&self, spot_tags: Vec<Tag>) -> RequestLaunchTemplateData {
        let cfg = self.cfg;
        let tags = |kind: ResourceType, tags: Vec<Tag>| {
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(kind)
                .set_tags(Some(tags))
                .build()
        };
        let mut data = RequestLaunchTemplateData::builder()
            .image_id(&self.image_id)
            .set_key_name(self.key_name.clone())
            .tag_specifications(tags(ResourceType::Instance, self.instance_tags.clone()))
            .set_user_data(self.user_data())
            .set_ebs_optimized(cfg.ebs_optimized.then_some(true))
            .set_iam_instance_profile(self.instance_profile.as_ref().map(|p| {
                LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                    .name(p)
                    .build()
            }))
            .set_enclave_options(cfg.enable_nitro_enclave.then(|| {
                LaunchTemplateEnclaveOptionsRequest::builder()
                    .enabled(true)
                    .build()
            }))
            .set_credit_specification(self.credits())
            .set_license_specifications(self.licenses(|arn| {
                LaunchTemplateLicenseConfigurationRequest::builder()
                    .license_configuration_arn(arn)
                    .build()
            }));
        if !self.volume_tags.is_empty() {
            data = data.tag_specifications(tags(ResourceType::Volume, self.volume_tags.clone()));
        }
        if !spot_tags.is_empty() {
            data = data.tag_specifications(tags(ResourceType::SpotInstancesRequest, spot_tags));
        }
        let pl = &cfg.placement;
        if *pl != Default::default() {
            let p = LaunchTemplatePlacementRequest::builder()
                .set_tenancy(pl.tenancy.as_deref().map(Tenancy::from))
                .set_host_resource_group_arn(pl.host_resource_group_arn.clone())
                .set_host_id(pl.host_id.clone());
            data = data.placement(p.build());
        }
        if let Some(m) = &cfg.metadata_options {
            let o = LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .set_http_endpoint(
                    m.http_endpoint
                        .as_deref()
                        .map(LaunchTemplateInstanceMetadataEndpointState::from),
                )
                .set_http_tokens(
                    m.http_tokens
                        .as_deref()
                        .map(LaunchTemplateHttpTokensState::from),
                )
                .set_http_put_response_hop_limit(m.http_put_response_hop_limit)
                .set_instance_metadata_tags(
                    m.instance_metadata_tags
                        .as_deref()
                        .map(LaunchTemplateInstanceMetadataTagsState::from),
                );
            data = data.metadata_options(o.build());
        }
        match cfg.associate_public_ip_address {
            Some(public) => {
                let nic = LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                    .device_index(0)
                    .associate_public_ip_address(public)
                    .delete_on_termination(true)
                    .set_groups(Some(self.group_ids.clone()));
                data = data.network_interfaces(nic.build());
            }
            None => data = data.set_security_group_ids(Some(self.group_ids.clone())),
        }
        if !self.devices.is_empty() {
            data = data.set_block_device_mappings(Some(
                self.devices
                    .iter()
                    .map(|(b, del)| template_block_device(b, *del))
                    .collect(),
            ));
        }
        data.build()
    }

    fn capacity_reservation(&self) -> Option<CapacityReservationSpecification> {
        let spec = CapacityReservationSpecification::builder();
        let target = CapacityReservationTarget::builder();
        Some(match self.cfg.capacity_reservation.as_ref()? {
            CapacityReservation::Preference(p) => spec
                .capacity_reservation_preference(CapacityReservationPreference::from(p.as_str()))
                .build(),
            CapacityReservation::Id(id) => spec
                .capacity_reservation_target(target.capacity_reservation_id(id).build())
                .build(),
            CapacityReservation::GroupArn(arn) => spec
                .capacity_reservation_target(
                    target.capacity_reservation_resource_group_arn(arn).build(),
                )
                .build(),
        })
    }

    fn licenses<T>(&self, request: impl Fn(&str) -> T) -> Option<Vec<T>> {
        let arns = &self.cfg.license_configuration_arns;
        (!arns.is_empty()).then(|| arns.iter().map(|a| request(a)).collect())
    }

    fn credits(&self) -> Option<CreditSpecificationRequest> {
        self.cfg.unlimited_credits.then(|| {
            CreditSpecificationRequest::builder()
                .cpu_credits("unlimited")
                .build()
        })
    }
}
