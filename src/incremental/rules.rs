//! Per plugin: which options only label an image or say how kiln reaches
//! the machine (left out of the fingerprint), and which name local files
//! (in by their bytes, not their path, so a checkout elsewhere matches).
//! Every other option is in by its value: an option kiln does not know
//! the meaning of makes a rebuild, never a wrong reuse.
//! `docs/incremental.md` gives the reasons; keep the two together.

/// One plugin's rules.
pub struct Rules {
    /// Left out: names, tags, sharing, credentials, timeouts, connection.
    pub out: &'static [&'static str],
    /// Local files or directories, in by content.
    pub files: &'static [&'static str],
    /// `(urls, checksum)`: the URLs are out when the checksum says what
    /// they hold; with `iso_checksum = "none"` a local file is read.
    pub by_checksum: &'static [(&'static str, &'static str)],
    /// The builder keeps the fingerprint on every artifact (an AMI tag),
    /// `-reuse` or not; the others write their record under `-reuse` only.
    pub kept_always: bool,
}

/// How kiln reaches a machine: the same image whichever way it connects.
pub const CONNECTION: &[&str] = &[
    "communicator",
    "pause_before_connecting",
    "ssh_agent_auth",
    "ssh_bastion_agent_auth",
    "ssh_bastion_certificate_file",
    "ssh_bastion_host",
    "ssh_bastion_interactive",
    "ssh_bastion_password",
    "ssh_bastion_port",
    "ssh_bastion_private_key_file",
    "ssh_bastion_username",
    "ssh_certificate_file",
    "ssh_ciphers",
    "ssh_disable_agent_forwarding",
    "ssh_file_transfer_method",
    "ssh_handshake_attempts",
    "ssh_host",
    "ssh_keep_alive_interval",
    "ssh_key_exchange_algorithms",
    "ssh_local_tunnels",
    "ssh_password",
    "ssh_port",
    "ssh_private_key_file",
    "ssh_proxy_host",
    "ssh_proxy_password",
    "ssh_proxy_port",
    "ssh_proxy_username",
    "ssh_pty",
    "ssh_read_write_timeout",
    "ssh_remote_tunnels",
    "ssh_timeout",
    "ssh_wait_timeout",
    "temporary_key_pair_bits",
    "temporary_key_pair_name",
    "temporary_key_pair_type",
    "winrm_host",
    "winrm_insecure",
    "winrm_password",
    "winrm_port",
    "winrm_timeout",
    "winrm_use_ntlm",
    "winrm_use_ssl",
    "winrm_username",
];

const AMAZON_EBS: Rules = Rules {
    out: &[
        // Labels and sharing.
        "ami_name",
        "ami_description",
        "tags",
        "tag",
        "snapshot_tags",
        "snapshot_tag",
        "run_tags",
        "run_tag",
        "run_volume_tags",
        "run_volume_tag",
        "spot_tags",
        "spot_tag",
        "fleet_tags",
        "fleet_tag",
        "ami_regions",
        "region_kms_key_ids",
        "ami_users",
        "ami_groups",
        "ami_org_arns",
        "ami_ou_arns",
        "snapshot_users",
        "snapshot_groups",
        "deprecate_at",
        "deregistration_protection",
        "force_deregister",
        "force_delete_snapshot",
        "snapshot_copy_duration_minutes",
        "skip_save_build_region",
        // What it starts from: the builder adds the resolved AMI id.
        "source_ami",
        "source_ami_filter",
        // Credentials and the API's endpoint.
        "access_key",
        "secret_key",
        "token",
        "profile",
        "shared_credentials_file",
        "assume_role",
        "vault_aws_engine",
        "mfa_code",
        "custom_endpoint_ec2",
        "insecure_skip_tls_verify",
        "decode_authorization_messages",
        "skip_credential_validation",
        "skip_metadata_api_check",
        "skip_region_validation",
        "aws_polling",
        "max_retries",
        // Where the build machine runs and how it is reached.
        "ssh_interface",
        "security_group_id",
        "security_group_ids",
        "security_group_filter",
        "temporary_security_group_source_cidrs",
        "temporary_security_group_source_public_ip",
        "subnet_id",
        "subnet_filter",
        "vpc_id",
        "vpc_filter",
        "availability_zone",
        "associate_public_ip_address",
        "session_manager_port",
        "pause_before_ssm",
        "windows_password_timeout",
        "spot_price",
        "spot_instance_types",
        "spot_allocation_strategy",
        "block_duration_minutes",
        "shutdown_behavior",
        "disable_stop_instance",
        "temporary_iam_instance_profile_policy_document",
        "iam_instance_profile",
        "capacity_reservation_preference",
        "capacity_reservation_id",
        "capacity_reservation_group_arn",
        "placement",
        "tenancy",
        "host_id",
        "host_resource_group_arn",
    ],
    files: &["user_data_file"],
    by_checksum: &[],
    kept_always: true,
};

const QEMU: Rules = Rules {
    out: &[
        // Where the artifact goes is where kiln looks for it.
        "output_directory",
        "vm_name",
        // How the build VM is watched and reached.
        "accelerator",
        "headless",
        "display",
        "use_default_display",
        "vnc_bind_address",
        "vnc_port_min",
        "vnc_port_max",
        "vnc_use_password",
        "http_bind_address",
        "http_port_min",
        "http_port_max",
        "host_port_min",
        "host_port_max",
        "ssh_host_port_min",
        "ssh_host_port_max",
        "skip_nat_mapping",
        "qmp_enable",
        "qmp_socket_path",
        "shutdown_timeout",
        "boot_key_interval",
        "boot_keygroup_interval",
        "iso_target_path",
        "iso_target_extension",
    ],
    files: &[
        "http_directory",
        "floppy_files",
        "floppy_dirs",
        "cd_files",
        "efi_firmware_code",
        "efi_firmware_vars",
    ],
    by_checksum: &[("iso_url", "iso_checksum"), ("iso_urls", "iso_checksum")],
    kept_always: false,
};

const FILE_BUILDER: Rules = Rules {
    out: &["target"],
    files: &["source"],
    by_checksum: &[],
    kept_always: false,
};

/// A builder's rules; `None`: kiln cannot say what its builds make.
pub fn builder(kind: &str) -> Option<&'static Rules> {
    match kind {
        "amazon-ebs" => Some(&AMAZON_EBS),
        "qemu" => Some(&QEMU),
        "file" => Some(&FILE_BUILDER),
        _ => None,
    }
}

/// A provisioner's rules; `None`: kiln cannot say what it does to an image.
pub fn provisioner(kind: &str) -> Option<&'static Rules> {
    const SHELL: Rules = Rules {
        out: &["start_retry_timeout", "pause_after"],
        files: &["script", "scripts"],
        by_checksum: &[],
        kept_always: false,
    };
    const FILE: Rules = Rules {
        out: &[],
        files: &["source", "sources"],
        by_checksum: &[],
        kept_always: false,
    };
    const ANSIBLE: Rules = Rules {
        out: &[
            "keep_inventory_file",
            "local_port",
            "ssh_host_key_file",
            "ssh_authorized_key_file",
            "sftp_command",
            "use_sftp",
            "use_proxy",
            "skip_version_check",
            "user",
            "ansible_ssh_extra_args",
        ],
        files: &[
            "playbook_file",
            "galaxy_file",
            "inventory_file",
            "inventory_directory",
            "roles_path",
            "collections_path",
        ],
        by_checksum: &[],
        kept_always: false,
    };
    const ANSIBLE_LOCAL: Rules = Rules {
        out: &[],
        files: &[
            "playbook_file",
            "playbook_files",
            "playbook_dir",
            "playbook_paths",
            "role_paths",
            "collection_paths",
            "group_vars",
            "host_vars",
            "galaxy_file",
            "inventory_file",
        ],
        by_checksum: &[],
        kept_always: false,
    };
    // Waits and pauses change nothing on the machine.
    const NOTHING: Rules = Rules {
        out: &["duration", "note", "disable"],
        files: &[],
        by_checksum: &[],
        kept_always: false,
    };
    match kind {
        "shell" | "shell-local" => Some(&SHELL),
        "file" => Some(&FILE),
        "ansible" => Some(&ANSIBLE),
        "ansible-local" => Some(&ANSIBLE_LOCAL),
        "sleep" | "breakpoint" => Some(&NOTHING),
        _ => None,
    }
}
