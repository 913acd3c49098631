//! hoody-net against the real kernel (root): addresses, NAT, isolation, exposed ports,
//! teardown, the sweep, bad input, concurrency and the warm pool.
//!
//! Traffic goes only to namespaces these tests create (the "outside" namespace, the
//! containers) and to the host's own addresses.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use common::*;
use hoody_net::{GATEWAY, NetError, Network, Owner};

fn link_exists(name: &str) -> bool {
    sh_ok(&format!("ip link show dev {name}"))
}

/// Asserts nothing of `att` is left on the host.
fn assert_gone(t: &TestNet, att: &hoody_net::Attachment) {
    assert!(!link_exists(&att.ifname), "{} left behind", att.ifname);
    let routes = sh("ip route show table all");
    assert!(
        !routes.contains(&format!("{} ", att.ip)),
        "route to {} left: {routes}",
        att.ip
    );
    assert!(!att.netns.exists(), "{} left behind", att.netns.display());
    assert!(t.net.get(&att.id).unwrap().is_none());
}

#[test]
fn containers_reach_outside_through_nat_but_not_each_other_or_the_host() {
    let probe = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let exposed_port = probe.local_addr().unwrap().port();
    drop(probe);
    let t = TestNet::new(|c| c.exposed_ports(vec![exposed_port]));
    let outside = Outside::new(&t.slot);
    let a = t
        .net
        .create(&hoody_testkit::unique_name("a"), None)
        .unwrap();
    let b = t
        .net
        .create(&hoody_testkit::unique_name("b"), None)
        .unwrap();
    assert_ne!(a.ip, b.ip);
    assert_eq!(t.net.ip(&a.id).unwrap(), Some(a.ip));
    assert_eq!(a.ifname.len(), 14);
    assert!(a.ifname.starts_with("hv"));

    // Outside: reachable, and the server sees the host's address (masquerade).
    let server = EchoPeer::start(Some(&outside.ns), Ipv4Addr::UNSPECIFIED);
    for c in [&a, &b] {
        let seen = connect_from(Some(&c.netns), t.slot.outside_ip(), server.port).unwrap();
        assert_eq!(
            seen,
            t.slot.outside_host_ip().to_string(),
            "NAT for {}",
            c.ip
        );
    }

    // Container to container: dropped both ways.
    let on_a = EchoPeer::start(Some(&a.netns), Ipv4Addr::UNSPECIFIED);
    let on_b = EchoPeer::start(Some(&b.netns), Ipv4Addr::UNSPECIFIED);
    assert!(connect_from(Some(&b.netns), a.ip, on_a.port).is_err());
    assert!(connect_from(Some(&a.netns), b.ip, on_b.port).is_err());

    // The host reaches a server inside each container on its address.
    assert_eq!(
        connect_from(None, a.ip, on_a.port).unwrap(),
        GATEWAY.to_string()
    );
    assert!(connect_from(None, b.ip, on_b.port).is_ok());

    // Host servers: loopback-only, and on all host addresses (one closed, one exposed).
    let lo_server = EchoPeer::start(None, Ipv4Addr::LOCALHOST);
    let closed = EchoPeer::start(None, Ipv4Addr::UNSPECIFIED);
    let exposed = bind_host_port(exposed_port);
    assert!(connect_from(Some(&a.netns), Ipv4Addr::LOCALHOST, lo_server.port).is_err());
    for host_ip in [GATEWAY, t.slot.outside_host_ip()] {
        assert!(
            connect_from(Some(&a.netns), host_ip, closed.port).is_err(),
            "closed port on {host_ip} reachable"
        );
        assert_eq!(
            connect_from(Some(&a.netns), host_ip, exposed.port).unwrap(),
            a.ip.to_string(),
            "exposed port on {host_ip}"
        );
    }
    // Sanity: the closed server does answer the host itself.
    assert!(connect_from(None, Ipv4Addr::LOCALHOST, closed.port).is_ok());

    let table = sh(&format!("nft list table inet {}", t.name));
    assert!(
        table.contains(&format!("dport {exposed_port} accept")),
        "{table}"
    );
    drop((on_a, on_b));
    t.net.destroy(&a.id).unwrap();
    t.net.destroy(&b.id).unwrap();
    assert_gone(&t, &a);
    assert_gone(&t, &b);
}

fn bind_host_port(port: u16) -> EchoPeer {
    // EchoPeer picks its own port; retry binding the exposed one through a raw listener.
    for _ in 0..50 {
        let e = EchoPeer::start(None, Ipv4Addr::UNSPECIFIED);
        if e.port == port {
            return e;
        }
        drop(e);
        if let Ok(l) = std::net::TcpListener::bind(("0.0.0.0", port)) {
            return EchoPeer::from_listener(l);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("cannot bind host port {port}");
}

#[test]
fn teardown_and_uninstall_leave_nothing() {
    let mut t = TestNet::new(|c| c);
    let a = t
        .net
        .create(&hoody_testkit::unique_name("td"), None)
        .unwrap();
    assert!(link_exists(&a.ifname));
    assert!(sh("ip route").contains(&format!("{} dev {}", a.ip, a.ifname)));
    assert!(sh("ip netns list").contains(a.netns.file_name().unwrap().to_str().unwrap()));
    assert_eq!(t.net.list().unwrap().len(), 1);
    let resolv = t.net.write_resolv_conf(&a.id).unwrap();
    t.net.destroy(&a.id).unwrap();
    assert_gone(&t, &a);
    assert!(!resolv.exists());
    assert!(matches!(
        t.net.destroy(&a.id),
        Err(NetError::NotAttached(_))
    ));
    // The table stays until uninstall, which removes it and everything else.
    assert!(sh_ok(&format!("nft list table inet {}", t.name)));
    let b = t
        .net
        .create(&hoody_testkit::unique_name("td"), None)
        .unwrap();
    let r = t.net.uninstall().unwrap();
    assert_eq!(r.attachments, vec![b.id.clone()]);
    assert_gone(&t, &b);
    assert!(!sh_ok(&format!("nft list table inet {}", t.name)));
    assert!(!sh("nft list ruleset").contains(&t.name));
}

#[test]
fn gc_sweeps_dead_owners_and_unrecorded_leftovers() {
    let t = TestNet::new(|c| c);
    // A network whose owner has exited (a pid with a start time that never matches).
    let dead = Owner {
        pid: std::process::id(),
        start_time: u64::MAX,
    };
    let orphan = t
        .net
        .create(&hoody_testkit::unique_name("gc-dead"), Some(dead))
        .unwrap();
    let alive = t
        .net
        .create(&hoody_testkit::unique_name("gc-live"), Owner::current())
        .unwrap();
    let unowned = t
        .net
        .create(&hoody_testkit::unique_name("gc-none"), None)
        .unwrap();
    let r = t.net.gc_dead_owners().unwrap();
    assert_eq!(r.attachments, vec![orphan.id.clone()]);
    assert_gone(&t, &orphan);
    assert!(link_exists(&alive.ifname) && link_exists(&unowned.ifname));

    // A crash that lost the records: the interfaces and namespaces are swept by ownership
    // tag, and only this configuration's.
    std::fs::remove_file(t.state.path().join("ipam.json")).unwrap();
    let other = TestNet::new(|c| c);
    let foreign = other
        .net
        .create(&hoody_testkit::unique_name("gc-other"), None)
        .unwrap();
    let r = t.net.gc_dead_owners().unwrap();
    let mut links = r.links.clone();
    links.sort();
    let mut want = vec![alive.ifname.clone(), unowned.ifname.clone()];
    want.sort();
    assert_eq!(links, want);
    assert_eq!(r.namespaces.len(), 2);
    assert!(!link_exists(&alive.ifname) && !alive.netns.exists());
    assert!(
        link_exists(&foreign.ifname),
        "gc touched another configuration"
    );
    assert!(t.net.gc_dead_owners().unwrap().is_empty());
}

#[test]
fn bad_input_gives_clear_errors_and_creates_nothing() {
    assert!(matches!(
        "10.78.0.1/24".parse::<hoody_net::Ipv4Cidr>(),
        Err(NetError::InvalidCidr(_))
    ));
    let t = TestNet::new(|c| {
        let n = c.pool.network();
        // A /30: two addresses.
        c.pool(hoody_net::Ipv4Cidr::new(n, 30).unwrap())
    });
    let a = t
        .net
        .create(&hoody_testkit::unique_name("bad"), None)
        .unwrap();
    let dup = t.net.create(&a.id, None).unwrap_err();
    assert!(matches!(dup, NetError::AlreadyAttached { .. }), "{dup}");
    assert!(dup.to_string().contains(&a.id));
    assert!(link_exists(&a.ifname), "a duplicate create broke the first");
    let _b = t
        .net
        .create(&hoody_testkit::unique_name("bad"), None)
        .unwrap();
    let third = hoody_testkit::unique_name("bad");
    let e = t.net.create(&third, None).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("{} is exhausted", t.net.config().pool)),
        "{e}"
    );
    assert!(!link_exists(&hoody_net::ids::host_ifname("hv", &third)));
    assert!(t.net.get(&third).unwrap().is_none());
    assert!(matches!(
        t.net.create("bad/id", None),
        Err(NetError::InvalidId(_))
    ));
    let missing = t.net.attach(
        &hoody_testkit::unique_name("bad"),
        Path::new("/run/netns/hoodytest-does-not-exist"),
        None,
    );
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("hoodytest-does-not-exist")
    );
    assert_eq!(t.net.list().unwrap().len(), 2);
}

#[test]
fn concurrent_creates_get_distinct_addresses() {
    let t = TestNet::new(|c| c);
    // A second manager on the same state (another process would be the same).
    let second = Network::new(t.net.config().clone()).unwrap();
    let ids: Vec<String> = (0..12).map(|_| hoody_testkit::unique_name("cc")).collect();
    let atts: Vec<hoody_net::Attachment> = std::thread::scope(|s| {
        let hs: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let net = if i % 2 == 0 { &t.net } else { &second };
                s.spawn(move || net.create(id, None).unwrap())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ips: Vec<_> = atts.iter().map(|a| a.ip).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 12);
    for a in &atts {
        assert!(sh("ip route").contains(&format!("{} dev {}", a.ip, a.ifname)));
    }
    for id in &ids {
        second.destroy(id).unwrap();
    }
    for a in &atts {
        assert_gone(&t, a);
    }
}

#[test]
fn warm_pool_networks_work_and_refill() {
    let t = TestNet::new(|c| c.warm_pool(2));
    assert!(
        t.net.wait_warm(2, Duration::from_secs(10)),
        "warm pool did not fill: {:?}",
        t.net.warm_error()
    );
    let outside = Outside::new(&t.slot);
    let server = EchoPeer::start(Some(&outside.ns), Ipv4Addr::UNSPECIFIED);
    let a = t
        .net
        .create(&hoody_testkit::unique_name("warm"), None)
        .unwrap();
    let b = t
        .net
        .create(&hoody_testkit::unique_name("warm"), None)
        .unwrap();
    // Taken from the pool: the namespace carries the warm name, the interface the final one.
    assert!(a.netns.to_string_lossy().contains("-warm-"));
    assert_eq!(a.ifname, hoody_net::ids::host_ifname("hv", &a.id));
    let mac = sh(&format!("cat /sys/class/net/{}/address", a.ifname));
    let want: Vec<String> = hoody_net::ids::mac(&a.id, 1)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(mac.trim(), want.join(":"));
    let seen = connect_from(Some(&a.netns), t.slot.outside_ip(), server.port).unwrap();
    assert_eq!(seen, t.slot.outside_host_ip().to_string());
    let on_b = EchoPeer::start(Some(&b.netns), Ipv4Addr::UNSPECIFIED);
    assert!(connect_from(Some(&a.netns), b.ip, on_b.port).is_err());
    assert!(connect_from(None, b.ip, on_b.port).is_ok());
    drop(on_b);
    assert!(t.net.wait_warm(2, Duration::from_secs(10)), "no refill");
    t.net.destroy(&a.id).unwrap();
    t.net.destroy(&b.id).unwrap();
    assert_gone(&t, &a);
    assert_gone(&t, &b);
    // Dropping the manager (TestNet uninstalls) removes the warm entries too.
    let prefix = format!("{}-warm-", t.name);
    drop(t);
    let left = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .count();
    assert_eq!(left, 0);
}
