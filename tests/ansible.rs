//! The ansible provisioner with real `ansible-playbook` (ansible-core,
//! which the test command installs) against a real OpenSSH server: a
//! playbook with a role, a template, a handler and a fact, Packer's extra
//! variables and groups; a failing task fails the build with Ansible's
//! message and exit status, and the error-cleanup provisioner runs.

mod common;

use common::sshd::Sshd;
use common::{kiln, text, write_files};
use std::process::Command;

fn have_ansible() -> bool {
    Command::new("ansible-playbook")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn template(sshd: &Sshd, playbook: &str, extra: &str) -> String {
    format!(
        r#"source "null" "box" {{
{args}}}
build {{
  sources = ["source.null.box"]
  provisioner "ansible" {{
    playbook_file    = "{playbook}"
    groups           = ["web", "all_linux"]
    empty_groups     = ["db"]
    ansible_env_vars = ["ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=False", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3"]
{extra}  }}
  error-cleanup-provisioner "shell-local" {{
    inline = ["touch cleanup-ran"]
  }}
}}
"#,
        args = sshd.source_args()
    )
}

#[test]
fn a_playbook_with_a_role_runs_against_the_machine_and_a_failure_fails_the_build() {
    if !have_ansible() {
        eprintln!(
            "SKIP: ansible-playbook is not installed (scripts/test.sh installs ansible-core)"
        );
        return;
    }
    // The machine as a real one has it: an SFTP subsystem for Ansible's
    // transfers.
    let Some(sshd) = Sshd::start_with("Subsystem sftp /usr/lib/openssh/sftp-server\n") else {
        return;
    };
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let out_dir = w.join("made");
    write_files(w,
        &[
            (
                "site.yml",
                "- hosts: web\n  gather_facts: true\n  roles:\n    - page\n",
            ),
            (
                "roles/page/tasks/main.yml",
                "- name: render the page\n  template:\n    src: page.j2\n    dest: \"{{ out_dir }}/page.txt\"\n  notify: mark\n",
            ),
            (
                "roles/page/handlers/main.yml",
                "- name: mark\n  copy:\n    content: \"handled\\n\"\n    dest: \"{{ out_dir }}/handler.txt\"\n",
            ),
            (
                "roles/page/templates/page.j2",
                "build={{ packer_build_name }} type={{ packer_builder_type }} os={{ ansible_facts['system'] }} groups={{ group_names | sort | join(',') }}\n",
            ),
            (
                "fail.yml",
                "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: deliberate\n      fail:\n        msg: \"this task fails on purpose\"\n",
            ),
        ],
    );
    // Through kiln's relay (Packer's default), with SCP (the default) and
    // with SFTP; and straight to the machine (use_proxy = false).
    std::fs::create_dir_all(w.join("inv")).expect("mkdir");
    for (mode, options, relayed) in [
        (
            "relay, scp",
            "    keep_inventory_file = true\n    inventory_directory = \"inv\"\n    inventory_file_template = \"{{ .HostAlias }} ansible_host={{ .Host }} ansible_port={{ .Port }} ansible_user={{ .User }} note=templated\\n\"\n",
            Some("relay: exec scp -t"),
        ),
        (
            "relay, sftp",
            "    use_sftp = true\n    ansible_proxy_key_type = \"ECDSA\"\n",
            Some("relay: subsystem sftp"),
        ),
        ("direct", "    use_proxy = false\n", None),
    ] {
        let _ = std::fs::remove_dir_all(&out_dir);
        std::fs::create_dir_all(&out_dir).expect("mkdir");
        let extra = format!(
            "    extra_arguments  = [\"-e\", \"out_dir={}\"]\n{options}",
            out_dir.display()
        );
        std::fs::write(w.join("t.pkr.hcl"), template(&sshd, "site.yml", &extra)).expect("write");
        let out = kiln()
            .current_dir(w)
            .env("KILN_LOG", "kiln::communicator::relay=debug")
            .args(["build", "-color=false", "t.pkr.hcl"])
            .output()
            .expect("kiln");
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{mode}: {o}{e}");
        assert!(o.contains("Executing Ansible: ansible-playbook"), "{o}");
        assert!(o.contains("PLAY RECAP"), "{o}");
        assert!(
            o.contains("null.box: "),
            "Ansible's lines carry the build's prefix: {o}"
        );
        match relayed {
            Some(says) => {
                assert!(e.contains(says), "{mode}: not relayed as {says:?}:\n{e}");
                assert!(o.contains("Relaying Ansible's SSH sessions"), "{o}");
                assert!(
                    !o.contains(&format!("ansible_port={}", sshd.port))
                        && !o.contains(&format!("--private-key {}", sshd.key.display())),
                    "{mode}: Ansible was given the machine itself:\n{o}"
                );
            }
            None => assert!(!e.contains("relay: "), "{mode}: relayed:\n{e}"),
        }
        if mode == "relay, scp" {
            // The kept inventory, from the template: the relay, not the machine.
            let inv = std::fs::read_dir(w.join("inv"))
                .expect("inventory directory")
                .flatten()
                .map(|e| std::fs::read_to_string(e.path()).expect("inventory"))
                .collect::<Vec<_>>()
                .join("");
            assert!(inv.starts_with("default ansible_host=127.0.0.1 ansible_port="), "{inv}");
            assert!(inv.contains(" note=templated\n[web]\n"), "{inv}");
            assert!(!inv.contains(&format!("ansible_port={} ", sshd.port)), "{inv}");
        }
        let page =
            std::fs::read_to_string(out_dir.join("page.txt")).expect("the page was rendered");
        assert_eq!(
            page, "build=box type=null os=Linux groups=all_linux,web\n",
            "{mode}"
        );
        assert_eq!(
            std::fs::read_to_string(out_dir.join("handler.txt")).expect("the handler ran"),
            "handled\n"
        );
    }
    // Nothing of the run is left: no inventory in the temp directory
    // naming this server's port.
    let port = format!("ansible_port={}", sshd.port);
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("packer-provisioner-ansible")
        })
        .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(&port)))
        .collect();
    assert!(left.is_empty(), "inventory left behind: {left:?}");

    // A failing task: the build fails with Ansible's message and status,
    // and the error-cleanup provisioner runs.
    std::fs::write(w.join("t.pkr.hcl"), template(&sshd, "fail.yml", "")).expect("write");
    let out = kiln()
        .current_dir(w)
        .args(["build", "-color=false", "t.pkr.hcl"])
        .output()
        .expect("kiln");
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}{e}");
    assert!(
        format!("{o}{e}").contains("this task fails on purpose"),
        "{o}{e}"
    );
    assert!(
        format!("{o}{e}").contains("Error executing Ansible: Non-zero exit status: exit status 2"),
        "{o}{e}"
    );
    assert!(w.join("cleanup-ran").exists(), "{o}{e}");

    // A playbook that is not there is refused before the build.
    std::fs::write(w.join("t.pkr.hcl"), template(&sshd, "missing.yml", "")).expect("write");
    let out = kiln()
        .current_dir(w)
        .args(["validate", "t.pkr.hcl"])
        .output()
        .expect("kiln");
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}{e}");
    assert!(e.contains("playbook_file: missing.yml is invalid"), "{e}");
}

/// ansible-local: the playbook, a role directory and group_vars uploaded
/// to a staging directory on the machine, `ansible-playbook -c local` run
/// there in the inventory groups, the staging directory removed after.
#[test]
fn ansible_local_runs_the_uploaded_playbook_on_the_machine() {
    if !have_ansible() {
        eprintln!(
            "SKIP: ansible-playbook is not installed (scripts/test.sh installs ansible-core)"
        );
        return;
    }
    let Some(sshd) = Sshd::start_with("Subsystem sftp /usr/lib/openssh/sftp-server\n") else {
        return;
    };
    // The machine's ansible-playbook (here, this host's; an SSH session's
    // PATH may not have pip's scripts on it).
    let which = Command::new("sh")
        .args(["-c", "command -v ansible-playbook"])
        .output()
        .expect("sh");
    let playbook_cmd = String::from_utf8_lossy(&which.stdout).trim().to_string();
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let out_dir = w.join("made");
    let staging = w.join("staging");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    write_files(w,
        &[
            ("local.yml", "- hosts: web\n  connection: local\n  gather_facts: false\n  roles:\n    - page\n"),
            (
                "roles/page/tasks/main.yml",
                "- name: write the page\n  copy:\n    content: \"{{ greeting }} from {{ packer_build_name }}\\n\"\n    dest: \"{{ out_dir }}/local.txt\"\n",
            ),
            ("vars/web.yml", "greeting: hello\n"),
        ],
    );
    let t = format!(
        r#"source "null" "box" {{
{args}}}
build {{
  sources = ["source.null.box"]
  provisioner "ansible-local" {{
    command                 = "ANSIBLE_NOCOLOR=1 ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 {playbook_cmd}"
    playbook_file           = "local.yml"
    role_paths              = ["roles/page"]
    group_vars              = "vars-dir"
    inventory_groups        = ["web"]
    staging_directory       = "{staging}"
    clean_staging_directory = true
    extra_arguments         = ["-e", "out_dir={out}"]
  }}
}}
"#,
        args = sshd.source_args(),
        staging = staging.display(),
        out = out_dir.display()
    );
    std::fs::create_dir_all(w.join("vars-dir")).expect("mkdir");
    std::fs::rename(w.join("vars/web.yml"), w.join("vars-dir/web.yml")).expect("mv");
    std::fs::write(w.join("t.pkr.hcl"), t).expect("write");
    let out = kiln()
        .current_dir(w)
        .args(["build", "-color=false", "t.pkr.hcl"])
        .output()
        .expect("kiln");
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(o.contains("Uploading main Playbook file..."), "{o}");
    assert!(o.contains("Uploading group_vars directory..."), "{o}");
    assert!(o.contains(" -c local -i "), "{o}");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("local.txt")).expect("the playbook ran"),
        "hello from box\n"
    );
    assert!(
        !staging.exists(),
        "clean_staging_directory left {staging:?}"
    );
}

/// Through a bastion: kiln reaches the machine over the bastion hop, and
/// Ansible, given only kiln's relay, reaches it too (Packer's use_proxy
/// reason to be).
#[test]
fn through_a_bastion_ansible_reaches_the_machine_by_the_relay() {
    if !have_ansible() {
        eprintln!("SKIP: ansible-playbook is not installed");
        return;
    }
    let (Some(target), Some(bastion)) = (
        Sshd::start_with("Subsystem sftp /usr/lib/openssh/sftp-server\n"),
        Sshd::start(),
    ) else {
        return;
    };
    let work = tempfile::tempdir().expect("tmp");
    let w = work.path();
    let made = w.join("made.txt");
    write_files(
        w,
        &[(
            "site.yml",
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy:\n        content: \"{{ inventory_hostname }} via the relay\\n\"\n        dest: \"{{ dest }}\"\n",
        )],
    );
    let tpl = format!(
        r#"source "null" "box" {{
{}  ssh_bastion_host             = "127.0.0.1"
  ssh_bastion_port             = {}
  ssh_bastion_username         = "{}"
  ssh_bastion_private_key_file = "{}"
}}
build {{
  sources = ["source.null.box"]
  provisioner "ansible" {{
    playbook_file    = "site.yml"
    ansible_proxy_key_type = "RSA"
    extra_arguments  = ["-e", "dest={}"]
    ansible_env_vars = ["ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3"]
  }}
}}
"#,
        target.source_args(),
        bastion.port,
        bastion.user,
        bastion.key.display(),
        made.display()
    );
    std::fs::write(w.join("t.pkr.hcl"), tpl).expect("write");
    let out = kiln()
        .current_dir(w)
        .args(["build", "-color=false", "t.pkr.hcl"])
        .output()
        .expect("kiln");
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(o.contains("Relaying Ansible's SSH sessions"), "{o}");
    assert_eq!(
        std::fs::read_to_string(&made).expect("the playbook ran"),
        "default via the relay\n"
    );
}
