# kiln's quick start: a provisioned machine image built on this machine, with
# no cloud account and no downloads beyond Debian's own archive.
#
#   sudo kiln build templates/quickstart.pkr.hcl
#
# The base system comes from `kiln-debian-base`, a kiln extension that builds
# a minimal SSH-ready Debian disk from the host's apt sources (once; cached).
# The qemu builder boots it (KVM when it really works, else TCG), a file and a
# shell provisioner install nginx serving index.html, and the result is a
# compressed qcow2 with a manifest and a sha256 checksum.

variable "output_directory" {
  type    = string
  default = "output/quickstart"
}

variable "cpus" {
  type    = number
  default = 2
}

data "kiln-debian-base" "base" {
  # Downloaded into the image's apt cache, so the guest installs it offline.
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
  cpus             = var.cpus
  headless         = true
  # Direct kernel boot: the base image has no boot loader.
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

  provisioner "file" {
    source      = "${path.root}/index.html"
    destination = "/tmp/index.html"
  }

  provisioner "shell" {
    inline = [
      "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-download nginx",
      "sudo install -m 0644 /tmp/index.html /var/www/html/index.html",
      "sudo systemctl enable nginx",
      # Every machine started from this image makes its own SSH host keys.
      "sudo rm -f /etc/ssh/ssh_host_*",
    ]
  }

  post-processor "manifest" {
    output     = "${var.output_directory}-manifest.json"
    strip_path = true
  }

  post-processor "checksum" {
    checksum_types = ["sha256"]
    output         = "${var.output_directory}/quickstart.{{.ChecksumType}}"
  }

  # The kernel and initrd to boot the image with, beside it.
  post-processor "shell-local" {
    inline = [
      "cp ${data.kiln-debian-base.base.kernel} ${var.output_directory}/vmlinuz",
      "cp ${data.kiln-debian-base.base.initrd} ${var.output_directory}/initrd.img",
    ]
  }
}
