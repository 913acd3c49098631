//! `/dev/kvm` passthrough (reference §1.1, `kvm`/`dev_kvm` and `PUT /api/v1/containers/{id}/kvm`)
//! on a booted Debian 13 container: root inside opens the device and KVM answers its API
//! version; a neighbour without `kvm` has no such device; the setting changes only while the
//! container is stopped; the host keeps no node behind. On a host without `/dev/kvm` the
//! documented refusal is checked instead.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::FileTypeExt;

use hoody_testkit::daemon::Daemon;
use serde_json::json;

/// KVM_GET_API_VERSION through perl (in every Debian: perl-base is essential); prints
/// `api=12` when the device answers.
const KVM_VERSION: &str = r#"perl -e 'open(my $f, "+<", "/dev/kvm") or die "open /dev/kvm: $!\n"; my $v = ioctl($f, 0xAE00, 0); print "api=", ($v // "failed: $!"), "\n"'"#;

#[test]
fn kvm_passthrough() {
    let d = Daemon::new();
    let p = d.project("hoodytest-kvm");
    let host_kvm = std::fs::metadata("/dev/kvm").is_ok_and(|m| m.file_type().is_char_device());
    if !host_kvm {
        let sid = d.server_id();
        let (st, v) = d.try_api(
            "POST",
            &format!("/api/v1/projects/{p}/containers"),
            Some(&json!({"server_id": sid, "name": "with-kvm", "kvm": true}).to_string()),
        );
        assert_eq!(
            (st, v["error"].as_str()),
            (403, Some("KVM_UNAVAILABLE")),
            "{v}"
        );
        eprintln!("this host has no /dev/kvm: checked the refusal only");
        return;
    }
    let vm = d.create_with(&p, "with-kvm", json!({"dev_kvm": true, "hoody_kit": false}));
    let plain = d.create_with(&p, "without-kvm", json!({"hoody_kit": false}));
    let c = d.settle(&vm);
    assert_eq!(
        (&c["status"], &c["kvm"]),
        (&json!("running"), &json!(true)),
        "{c}"
    );
    assert_eq!(d.settle(&plain)["status"], "running");

    let out = d.exec(&vm, KVM_VERSION);
    assert_eq!(out.trim(), "api=12", "KVM inside: {out}");
    let owner = d.exec(&vm, "stat -c '%U %a %t:%T' /dev/kvm");
    assert_eq!(owner.trim(), "root 666 a:e8", "the node inside: {owner}");
    let none = d.exec(&plain, "test -e /dev/kvm && echo present || echo absent");
    assert_eq!(none.trim(), "absent");
    // The host keeps no node of its own for the machine: the device tmpfs is detached.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts
            .lines()
            .any(|l| l.contains(&vm) && l.contains("hoody-dev")),
        "a device tmpfs of {vm} is still on the host"
    );

    // Only while stopped.
    let (st, v) = d.try_api(
        "PUT",
        &format!("/api/v1/containers/{vm}/kvm"),
        Some(r#"{"kvm":false}"#),
    );
    assert_eq!(
        (st, v["error"].as_str()),
        (409, Some("CONTAINER_NOT_STOPPED")),
        "{v}"
    );
    d.op(&vm, "stop");
    let c = d.api(
        "PUT",
        &format!("/api/v1/containers/{vm}/kvm"),
        Some(json!({"kvm": false})),
        200,
    );
    assert_eq!(c["kvm"], false);
    d.op(&vm, "start");
    let gone = d.exec(&vm, "test -e /dev/kvm && echo present || echo absent");
    assert_eq!(gone.trim(), "absent", "kvm off after the restart");
    // And back on through the CLI, in Hoody's spelling; it survives a restart.
    d.op(&vm, "stop");
    d.hoody(&["containers", "kvm", &vm, "--kvm"]);
    d.op(&vm, "start");
    let out = d.exec(&vm, KVM_VERSION);
    assert_eq!(out.trim(), "api=12", "KVM after turning it back on: {out}");
    d.op(&vm, "restart");
    let out = d.exec(&vm, KVM_VERSION);
    assert_eq!(out.trim(), "api=12", "KVM after a restart: {out}");
}
