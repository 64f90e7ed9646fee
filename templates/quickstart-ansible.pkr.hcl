# The quick start provisioned with Ansible instead of shell: the same
# Debian image with nginx, configured by ansible/site.yml (a role with a
# template, a handler and a fact) run by `ansible-playbook` on this
# machine through kiln's SSH relay (use_proxy, Packer's default).
#
#   sudo kiln build templates/quickstart-ansible.pkr.hcl
#
# Needs ansible-core on this machine; the base image gets python3 for
# Ansible's modules.

variable "output_directory" {
  type    = string
  default = "output/quickstart-ansible"
}

variable "use_proxy" {
  type    = bool
  default = true
}

data "kiln-debian-base" "base" {
  packages        = ["python3"]
  cached_packages = ["nginx"]
}

source "qemu" "quickstart" {
  disk_image       = true
  iso_url          = data.kiln-debian-base.base.disk
  iso_checksum     = data.kiln-debian-base.base.checksum
  output_directory = var.output_directory
  vm_name          = "quickstart.qcow2"
  format           = "qcow2"
  disk_compression = true
  memory           = 1024
  cpus             = 2
  headless         = true
  qemuargs = [
    ["-kernel", data.kiln-debian-base.base.kernel],
    ["-initrd", data.kiln-debian-base.base.initrd],
    ["-append", data.kiln-debian-base.base.kernel_args],
  ]

  ssh_username         = data.kiln-debian-base.base.ssh_username
  ssh_private_key_file = data.kiln-debian-base.base.ssh_private_key_file
  ssh_timeout          = "5m"
  shutdown_command     = "sudo systemctl poweroff"
}

build {
  sources = ["source.qemu.quickstart"]

  provisioner "ansible" {
    playbook_file    = "${path.root}/ansible/site.yml"
    use_proxy        = var.use_proxy
    extra_arguments  = ["-e", "page_source=${path.root}/index.html"]
    ansible_env_vars = ["ANSIBLE_NOCOLOR=1", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3"]
  }

  post-processor "manifest" {
    output     = "${var.output_directory}-manifest.json"
    strip_path = true
  }
}
