//! What an egress network costs: a connection with one round trip, and a 64 MiB download,
//! from a container's namespace to a server outside, three ways in the same run (rounds
//! alternate between them):
//!
//! * `direct`: the container's own route and the host's NAT (no egress network);
//! * `egress`: through the egress forwarder and a SOCKS5 server on the host's loopback
//!   (the test proxy of hoody-testkit);
//! * `socks`: from the host straight to the same SOCKS5 server, the client doing the SOCKS
//!   handshake itself: the anchor for what the forwarder adds (`egress` − `socks`).
//!
//! Run as root: `cargo bench -p hoody-net --bench egress`. Its own nftables table, pool,
//! state directory and "outside" namespace (from a hoody-testkit network slot), all removed
//! at the end. Traffic stays on this machine.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use hoody_net::egress::{Egress, EgressConfig, EgressKind};
use hoody_net::{NetConfig, Network};
use hoody_testkit::in_netns as in_ns;
use hoody_testkit::proxy::{ProxyKind, TestProxy};

const BULK: usize = 64 << 20;
const ROUNDS: usize = 10;
const PINGS: usize = 50;

/// A server in `ns`: port `ping` answers one byte and closes, port `bulk` sends BULK bytes.
fn servers(ns: &Path) -> (u16, u16) {
    let (ping, bulk) = in_ns(ns, || {
        (
            TcpListener::bind("0.0.0.0:0").unwrap(),
            TcpListener::bind("0.0.0.0:0").unwrap(),
        )
    });
    let ports = (
        ping.local_addr().unwrap().port(),
        bulk.local_addr().unwrap().port(),
    );
    std::thread::spawn(move || {
        for c in ping.incoming().flatten() {
            let mut c = c;
            let _ = c.write_all(b"x");
        }
    });
    std::thread::spawn(move || {
        let chunk = std::sync::Arc::new(vec![7u8; 1 << 20]);
        for c in bulk.incoming().flatten() {
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                let mut c = c;
                for _ in 0..BULK / chunk.len() {
                    if c.write_all(&chunk).is_err() {
                        break;
                    }
                }
            });
        }
    });
    ports
}

/// A SOCKS5 CONNECT on `s` to `to` (no authentication).
fn socks_connect(mut s: TcpStream, to: SocketAddr) -> TcpStream {
    s.write_all(&[5, 1, 0]).unwrap();
    let mut two = [0u8; 2];
    s.read_exact(&mut two).unwrap();
    let SocketAddr::V4(v4) = to else { panic!() };
    let mut req = vec![5, 1, 0, 1];
    req.extend_from_slice(&v4.ip().octets());
    req.extend_from_slice(&v4.port().to_be_bytes());
    s.write_all(&req).unwrap();
    let mut answer = [0u8; 10];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(answer[1], 0);
    s
}

#[derive(Clone, Copy, Debug)]
enum Way {
    Direct,
    Egress,
    Socks,
}

fn open(way: Way, ns: &Path, to: SocketAddr, socks: SocketAddr) -> TcpStream {
    match way {
        Way::Direct | Way::Egress => in_ns(ns, || TcpStream::connect(to).unwrap()),
        Way::Socks => socks_connect(TcpStream::connect(socks).unwrap(), to),
    }
}

/// Median time of a connection with one round trip.
fn ping(way: Way, ns: &Path, to: SocketAddr, socks: SocketAddr) -> Duration {
    let mut t: Vec<Duration> = (0..PINGS)
        .map(|_| {
            let start = Instant::now();
            let mut s = open(way, ns, to, socks);
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            start.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

/// MiB/s of one BULK download.
fn bulk(way: Way, ns: &Path, to: SocketAddr, socks: SocketAddr) -> f64 {
    let start = Instant::now();
    let mut s = open(way, ns, to, socks);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    loop {
        match s.read(&mut buf).unwrap() {
            0 => break,
            k => n += k,
        }
    }
    assert_eq!(n, BULK);
    BULK as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    hoody_testkit::require_root();
    let slot = hoody_testkit::NetSlot::take();
    let state = tempfile::Builder::new()
        .prefix("hoodytest-egressbench-")
        .tempdir()
        .unwrap();
    let name = format!("hoodybench-eg{}", std::process::id());
    let mut net = Network::new(
        NetConfig::named(&name)
            .pool(slot.pool().parse().unwrap())
            .state_dir(state.path()),
    )
    .unwrap();
    let outside = hoody_testkit::Outside::new(&slot);
    let out_ns = outside.ns.clone();
    let c = net
        .create(&format!("hoodybench-c{}", std::process::id()), None)
        .unwrap();
    let (ping_port, bulk_port) = servers(&out_ns);
    let proxy = TestProxy::start(ProxyKind::Socks5, None);
    let cfg = EgressConfig::new(EgressKind::Socks5, Some(&proxy.url(None)), &[]).unwrap();
    let o = slot.outside_ip();
    let ping_to = SocketAddr::from((o, ping_port));
    let bulk_to = SocketAddr::from((o, bulk_port));

    let ways = [Way::Direct, Way::Egress, Way::Socks];
    let mut pings: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for r in 0..ROUNDS {
        let mut order = ways;
        if r % 2 == 1 {
            order.reverse();
        }
        for way in order {
            let i = way as usize;
            // The egress network is on only for its arm (direct must not go through it).
            let eg = matches!(way, Way::Egress)
                .then(|| Egress::start(&c.netns, cfg.clone(), None).unwrap());
            pings[i].push(ping(way, &c.netns, ping_to, proxy.addr).as_secs_f64() * 1e3);
            rates[i].push(bulk(way, &c.netns, bulk_to, proxy.addr));
            if let Some(e) = eg {
                e.remove().unwrap();
            }
        }
        eprintln!(
            "round {}: ping ms {:?}, MiB/s {:?}",
            r + 1,
            pings
                .iter()
                .map(|p| format!("{:.3}", p[r]))
                .collect::<Vec<_>>(),
            rates
                .iter()
                .map(|p| format!("{:.0}", p[r]))
                .collect::<Vec<_>>()
        );
    }
    println!(
        "{ROUNDS} rounds; per round the median of {PINGS} connections, and one {} MiB download",
        BULK >> 20
    );
    println!(
        "{:<8} {:>22} {:>16}",
        "way", "connect+1 RTT (ms)", "download MiB/s"
    );
    for way in ways {
        let i = way as usize;
        println!(
            "{:<8} {:>22.3} {:>16.0}",
            format!("{way:?}").to_lowercase(),
            median(pings[i].clone()),
            median(rates[i].clone())
        );
    }
    let (e, s, d) = (
        median(pings[1].clone()),
        median(pings[2].clone()),
        median(pings[0].clone()),
    );
    println!(
        "the forwarder adds {:.3} ms per connection (egress - socks); egress / direct {:.2}x",
        e - s,
        e / d
    );
    println!(
        "download: egress / socks {:.2}, egress / direct {:.2}",
        median(rates[1].clone()) / median(rates[2].clone()),
        median(rates[1].clone()) / median(rates[0].clone())
    );

    net.destroy(&c.id).unwrap();
    drop(outside);
    net.uninstall().unwrap();
    drop(slot);
}
