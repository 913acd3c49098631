//! Attach time of a container network: with a warm namespace pool, cold (namespace and veth
//! made on demand), and the same setup done with `ip` commands in the same run, for the
//! ratio. Only the attach is timed; each network is destroyed untimed.
//!
//! Run as root: `cargo bench -p hoody-net --bench attach`. It uses its own nftables table,
//! pool (10.79.0.0/24) and state directory, and uninstalls them at the end. No traffic is
//! sent.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hoody_net::{NetConfig, Network};

fn config(state: &std::path::Path, warm: usize) -> NetConfig {
    NetConfig::named(format!("hoodybench-{}", std::process::id()))
        .pool("10.79.0.0/24".parse().unwrap())
        .state_dir(state)
        .warm_pool(warm)
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}");
}

fn attach(c: &mut Criterion) {
    hoody_testkit::require_root();
    let state = tempfile::Builder::new()
        .prefix("hoodytest-netbench-")
        .tempdir()
        .unwrap();
    let mut g = c.benchmark_group("net_attach");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    let mut n = 0u64;
    let mut next_id = || {
        n += 1;
        format!("hoodybench-{}-{n}", std::process::id())
    };

    {
        let warm = Network::new(config(state.path(), 4)).unwrap();
        warm.ensure_firewall().unwrap();
        g.bench_function("warm_pool", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Timed only with a full pool and an idle refill thread.
                    assert!(warm.wait_warm(4, Duration::from_secs(10)));
                    let id = next_id();
                    let t = Instant::now();
                    warm.create(&id, None).unwrap();
                    total += t.elapsed();
                    warm.destroy(&id).unwrap();
                }
                total
            })
        });
    }

    let mut cold = Network::new(config(state.path(), 0)).unwrap();
    cold.ensure_firewall().unwrap();
    g.bench_function("cold", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let id = next_id();
                let t = Instant::now();
                cold.create(&id, None).unwrap();
                total += t.elapsed();
                cold.destroy(&id).unwrap();
            }
            total
        })
    });

    // With the front door (issue 22): the same cold and warm attaches plus the table hoody-net
    // installs in each container's namespace (`nft -f`, the Kit's 21 ports guarded, loopback to
    // the proxy) and the route_localnet switch: what a machine with the Kit pays.
    let ingress = hoody_net::Ingress {
        proxy_ports: vec![8088, 8443],
        resolver_port: Some(10053),
        loopback_ports: vec![8088, 8443],
        guarded_ports: [5, 76, 3998, 3999].into_iter().chain(7701..=7717).collect(),
    };
    let fd_state = state.path().join("front-door");
    let fd_config = |warm: usize| {
        NetConfig::named(format!("hoodybench-fd-{}", std::process::id()))
            .pool("10.79.1.0/24".parse().unwrap())
            .state_dir(&fd_state)
            .warm_pool(warm)
            .ingress(ingress.clone())
    };
    {
        let warm = Network::new(fd_config(4)).unwrap();
        warm.ensure_firewall().unwrap();
        g.bench_function("warm_pool_front_door", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    assert!(warm.wait_warm(4, Duration::from_secs(10)));
                    let id = next_id();
                    let t = Instant::now();
                    warm.create(&id, None).unwrap();
                    total += t.elapsed();
                    warm.destroy(&id).unwrap();
                }
                total
            })
        });
    }
    let mut fd_cold = Network::new(fd_config(0)).unwrap();
    fd_cold.ensure_firewall().unwrap();
    g.bench_function("cold_front_door", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let id = next_id();
                let t = Instant::now();
                fd_cold.create(&id, None).unwrap();
                total += t.elapsed();
                fd_cold.destroy(&id).unwrap();
            }
            total
        })
    });
    fd_cold.uninstall().unwrap();

    // The same network with iproute2, one `ip` process per step, as a shell script would.
    g.bench_function("ip_commands", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let ns = format!("hoodytest-benchip-{}", std::process::id());
                let hv = format!("hvbench{}", i % 1000);
                let ip = "10.79.0.250";
                let t = Instant::now();
                sh(&format!(
                    "ip netns add {ns} && \
                     ip link add {hv} type veth peer name eth0 netns {ns} && \
                     ip link set {hv} up && ip addr add 169.254.1.1/32 dev {hv} && \
                     ip route add {ip}/32 dev {hv} scope link && \
                     ip -n {ns} link set lo up && ip -n {ns} link set eth0 up && \
                     ip -n {ns} addr add {ip}/32 dev eth0 && \
                     ip -n {ns} route add default via 169.254.1.1 dev eth0 onlink"
                ));
                total += t.elapsed();
                sh(&format!("ip link del {hv} && ip netns del {ns}"));
            }
            total
        })
    });
    g.finish();
    cold.uninstall().unwrap();
}

criterion_group!(benches, attach);
criterion_main!(benches);
