//! A spot source instance: a temporary launch template and an instant fleet.

use super::options::Launch;
use super::{failed, render_tags, short_uuid, State};
use crate::builder::amazon::client::sdk_error;
use crate::builder::amazon::config::EbsConfig;
use crate::builder::amazon::consistency::eventually_unless;
use crate::builder::amazon::resources::Resource;
use crate::runner::{BuildContext, BuildError};
use aws_sdk_ec2::types::{
    DefaultTargetCapacityType, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest, FleetType,
    InstanceType, ResourceType, SpotAllocationStrategy, SpotOptionsRequest, TagSpecification,
    TargetCapacitySpecificationRequest,
};

/// Launch the source instance as a spot instance, as current Packer does:
/// a temporary launch template and an instant fleet over the allowed
/// instance types. The template is journaled like every other resource.
pub(super) async fn launch_spot(
    s: &mut State,
    cfg: &EbsConfig,
    ctx: &BuildContext,
    launch: &Launch<'_>,
    token: &str,
    price: &str,
) -> Result<String, BuildError> {
    let name = format!("packer-fleet-launch-template-{}", &short_uuid()[..7]);
    let r = Resource::LaunchTemplate {
        region: s.region().to_string(),
        name: name.clone(),
    };
    s.track(&r)?;
    s.launch_template = Some(r);
    let data = launch.template_data(render_tags(ctx, &cfg.spot_tags)?);
    ctx.ui.message(&format!(
        "Creating a temporary launch template for the spot request: {name}"
    ));
    let call = s
        .ec2
        .create_launch_template()
        .launch_template_name(&name)
        .launch_template_data(data)
        .send();
    s.shielded(call)
        .await?
        .map_err(|e| failed(sdk_error("CreateLaunchTemplate", &e)))?;
    let types = if cfg.spot_instance_types.is_empty() {
        vec![cfg.instance_type.clone()]
    } else {
        cfg.spot_instance_types.clone()
    };
    let max_price = (price != "auto").then(|| price.to_string());
    let overrides: Vec<FleetLaunchTemplateOverridesRequest> = types
        .iter()
        .map(|t| {
            FleetLaunchTemplateOverridesRequest::builder()
                .instance_type(InstanceType::from(t.as_str()))
                .set_subnet_id(s.subnet_id.clone())
                .set_availability_zone(s.availability_zone.clone())
                .set_max_price(max_price.clone())
                .build()
        })
        .collect();
    let config = FleetLaunchTemplateConfigRequest::builder()
        .launch_template_specification(
            FleetLaunchTemplateSpecificationRequest::builder()
                .launch_template_name(&name)
                .version("$Latest")
                .build(),
        )
        .set_overrides(Some(overrides))
        .build();
    let capacity = TargetCapacitySpecificationRequest::builder()
        .total_target_capacity(1)
        .default_target_capacity_type(DefaultTargetCapacityType::Spot)
        .build();
    let strategy = cfg
        .spot_allocation_strategy
        .clone()
        .unwrap_or_else(|| "price-capacity-optimized".into());
    let fleet_tags = render_tags(ctx, &cfg.fleet_tags)?;
    let fleet_tags = (!fleet_tags.is_empty()).then(|| {
        vec![TagSpecification::builder()
            .resource_type(ResourceType::Fleet)
            .set_tags(Some(fleet_tags))
            .build()]
    });
    ctx.ui.message(&format!(
        "Requesting a spot instance of {} (max price {price})",
        types.join(", ")
    ));
    let q = s
        .ec2
        .create_fleet()
        .set_tag_specifications(fleet_tags)
        .r#type(FleetType::Instant)
        .launch_template_configs(config)
        .target_capacity_specification(capacity)
        .spot_options(
            SpotOptionsRequest::builder()
                .allocation_strategy(SpotAllocationStrategy::from(strategy.as_str()))
                .build(),
        )
        .client_token(token);
    // The launch template was made a moment ago; the client token keeps a
    // retry from launching twice.
    let stop = s.cancel.clone();
    let out = s
        .shielded(async move { eventually_unless("CreateFleet", &stop, || q.clone().send()).await })
        .await?
        .map_err(|e| failed(sdk_error("CreateFleet", &e)))?;
    if let Some(id) = out.instances().iter().flat_map(|i| i.instance_ids()).next() {
        return Ok(id.clone());
    }
    let why: Vec<String> = out
        .errors()
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.error_code().unwrap_or("?"),
                e.error_message().unwrap_or("")
            )
        })
        .collect();
    Err(failed(format!(
        "Error launching the spot instance: {}",
        if why.is_empty() {
            "EC2 launched nothing and gave no reason".to_string()
        } else {
            why.join("; ")
        }
    )))
}
