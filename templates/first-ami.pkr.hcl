# The classic first build: an Amazon Linux 2 AMI serving a page with nginx.
# The upgraded twin of first-ami.json (`kiln hcl2_upgrade first-ami.json`).

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "source_ami" {
  type    = string
  default = "ami-04681a1dbd79675a5"
}

# Leave empty for AWS itself; set to reach another EC2 API (a test double).
variable "ec2_endpoint" {
  type    = string
  default = ""
}

variable "ssh_host" {
  type    = string
  default = ""
}

variable "ssh_port" {
  type    = string
  default = "22"
}

locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "first" {
  region              = var.region
  source_ami          = var.source_ami
  instance_type       = "t2.micro"
  ami_name            = "first-ami-${local.timestamp}"
  ssh_username        = "ec2-user"
  custom_endpoint_ec2 = var.ec2_endpoint
  ssh_host            = var.ssh_host
  ssh_port            = var.ssh_port
  tags = {
    Name = "first-ami"
    Base = "{{ .SourceAMIName }}"
  }
}

build {
  description = "The classic first build: an Amazon Linux 2 AMI serving a page with nginx."

  sources = ["source.amazon-ebs.first"]

  provisioner "file" {
    source      = "index.html"
    destination = "/tmp/index.html"
  }

  provisioner "shell" {
    inline = [
      "sudo amazon-linux-extras install -y nginx1",
      "sudo mv /tmp/index.html /usr/share/nginx/html/index.html",
      "sudo systemctl enable --now nginx",
    ]
  }
}
