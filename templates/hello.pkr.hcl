# The smallest useful kiln template: no cloud, no VM.
# Run it with:  kiln build templates/hello.pkr.hcl

variable "who" {
  type        = string
  default     = "world"
  description = "Who to greet"
}

locals {
  greeting = "Hello, ${var.who}!"
}

source "null" "hello" {
  communicator = "none"
}

build {
  sources = ["source.null.hello"]

  provisioner "shell-local" {
    inline = [
      "echo '${local.greeting}'",
      "echo building $PACKER_BUILD_NAME with the $PACKER_BUILDER_TYPE builder",
    ]
  }

  post-processor "manifest" {
    output     = "hello-manifest.json"
    strip_time = true
  }
}
