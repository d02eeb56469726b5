//! The bed's network: one Linux network namespace per host, each joined to
//! a bridge in the root namespace by a veth pair, with its own address on a
//! private /24. The controller (this process, in the root namespace) holds
//! the bridge's `.1` and reaches every host; nothing is routed beyond the
//! subnet.
//!
//! Faults are the kernel's own:
//! - `cut`: the host's link goes down (its peers see silence, not resets);
//! - `block`: a blackhole route inside the host to one peer (the host is cut
//!   off from that peer only: "ingest-1 cannot reach the broker");
//! - `slow`: a token-bucket shaper on both ends of the host's link (its
//!   queue adds the delay) and random loss from nftables. (`tc netem` would
//!   be the usual tool; this machine's kernel is built without it, so the
//!   shaper's queueing delay stands in for a fixed one.)

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// One host's place on the network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostNet {
    pub name: String,
    /// The network namespace (`ip netns`).
    pub namespace: String,
    pub address: Ipv4Addr,
    /// The veth end in the root namespace, on the bridge.
    pub root_link: String,
}

/// The whole network of one bed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Net {
    /// Tells this bed's names from another's (several may run at once).
    pub tag: String,
    pub bridge: String,
    pub gateway: Ipv4Addr,
    pub hosts: Vec<HostNet>,
}

/// Runs `ip`/`tc`/`nft` with `args`; fails with what it printed.
fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    // `ip` and `tc` answer at once; one that does not is a stuck kernel
    // call or namespace, and the bed says so instead of waiting forever.
    let output = invigil_ops::process::output_within(Command::new(program).args(args), Duration::from_secs(30))
        .with_context(|| format!("{program} {}", args.join(" ")))?;
    if !output.status.success() {
        bail!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

/// Runs `args` inside `namespace`.
fn run_in(namespace: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut full = vec!["netns", "exec", namespace];
    full.extend_from_slice(args);
    run("ip", &full)
}

impl Net {
    /// Creates the bridge and one namespace per name. `tag` (a few
    /// characters) keeps link names under the kernel's 15 and apart from
    /// other beds'; `subnet` is the third octet of `10.77.x.0/24`.
    pub fn create(tag: &str, subnet: u8, names: &[&str]) -> anyhow::Result<Self> {
        let gateway = Ipv4Addr::new(10, 77, subnet, 1);
        let mut net = Self { tag: tag.to_owned(), bridge: format!("ivb{tag}"), gateway, hosts: Vec::new() };
        run("ip", &["link", "add", &net.bridge, "type", "bridge"])
            .context("creating the bed's bridge (needs root and iproute2)")?;
        run("ip", &["addr", "add", &format!("{gateway}/24"), "dev", &net.bridge])?;
        run("ip", &["link", "set", &net.bridge, "up"])?;
        for (index, name) in names.iter().enumerate() {
            let host = HostNet {
                name: (*name).to_owned(),
                namespace: format!("iv{tag}-{name}"),
                address: Ipv4Addr::new(10, 77, subnet, 10 + u8::try_from(index).context("too many hosts")?),
                root_link: format!("iv{tag}h{index}"),
            };
            net.add_host(&host).with_context(|| format!("creating host {name}"))?;
            net.hosts.push(host);
        }
        Ok(net)
    }

    fn add_host(&self, host: &HostNet) -> anyhow::Result<()> {
        run("ip", &["netns", "add", &host.namespace])?;
        run("ip", &["link", "add", &host.root_link, "type", "veth", "peer", "name", "eth0", "netns", &host.namespace])?;
        run("ip", &["link", "set", &host.root_link, "master", &self.bridge, "up"])?;
        run_in(&host.namespace, &["ip", "addr", "add", &format!("{}/24", host.address), "dev", "eth0"])?;
        run_in(&host.namespace, &["ip", "link", "set", "eth0", "up"])?;
        run_in(&host.namespace, &["ip", "link", "set", "lo", "up"])?;
        Ok(())
    }

    pub fn host(&self, name: &str) -> anyhow::Result<&HostNet> {
        self.hosts.iter().find(|h| h.name == name).with_context(|| {
            let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
            format!("no host {name:?} in this bed (hosts: {})", names.join(", "))
        })
    }

    /// Takes `name`'s link down: nothing in or out.
    pub fn cut(&self, name: &str) -> anyhow::Result<()> {
        run("ip", &["link", "set", &self.host(name)?.root_link, "down"])
    }

    /// Undoes [`Self::cut`], [`Self::block`] and [`Self::slow`] on `name`.
    pub fn heal(&self, name: &str) -> anyhow::Result<()> {
        let host = self.host(name)?;
        run("ip", &["link", "set", &host.root_link, "up"])?;
        // Each undo may find nothing to undo.
        for peer in &self.hosts {
            let _ = run_in(&host.namespace, &["ip", "route", "del", "blackhole", &format!("{}/32", peer.address)]);
        }
        let _ = run("tc", &["qdisc", "del", "dev", &host.root_link, "root"]);
        let _ = run_in(&host.namespace, &["tc", "qdisc", "del", "dev", "eth0", "root"]);
        let _ = run_in(&host.namespace, &["nft", "delete", "table", "inet", "invigil_bed"]);
        Ok(())
    }

    /// Cuts `name` off from `peer` only (both directions: replies cannot
    /// leave either).
    pub fn block(&self, name: &str, peer: &str) -> anyhow::Result<()> {
        let (host, peer) = (self.host(name)?, self.host(peer)?);
        run_in(&host.namespace, &["ip", "route", "add", "blackhole", &format!("{}/32", peer.address)])?;
        run_in(&peer.namespace, &["ip", "route", "add", "blackhole", &format!("{}/32", host.address)])
    }

    /// Undoes [`Self::block`].
    pub fn unblock(&self, name: &str, peer: &str) -> anyhow::Result<()> {
        let (host, peer) = (self.host(name)?, self.host(peer)?);
        let _ = run_in(&peer.namespace, &["ip", "route", "del", "blackhole", &format!("{}/32", host.address)]);
        run_in(&host.namespace, &["ip", "route", "del", "blackhole", &format!("{}/32", peer.address)])
    }

    /// Shapes `name`'s link to `rate_kbit` each way with a queue of up to
    /// `queue_ms` (the delay under load; beyond it packets drop), and drops
    /// `loss_pct` % of its incoming packets at random.
    pub fn slow(&self, name: &str, rate_kbit: u32, queue_ms: u32, loss_pct: u32) -> anyhow::Result<()> {
        let host = self.host(name)?;
        let shape = |dev: &str, namespace: Option<&str>| {
            let args = [
                "qdisc",
                "replace",
                "dev",
                dev,
                "root",
                "tbf",
                "rate",
                &format!("{rate_kbit}kbit"),
                "burst",
                "16kb",
                "latency",
                &format!("{queue_ms}ms"),
            ];
            match namespace {
                Some(namespace) => {
                    let mut full = vec!["tc"];
                    full.extend_from_slice(&args);
                    run_in(namespace, &full)
                }
                None => run("tc", &args),
            }
        };
        shape(&host.root_link, None)?;
        shape("eth0", Some(&host.namespace))?;
        if loss_pct > 0 {
            let rule = format!("add rule inet invigil_bed input numgen random mod 100 < {loss_pct} drop");
            for command in [
                "add table inet invigil_bed",
                "add chain inet invigil_bed input { type filter hook input priority 0 ; }",
                rule.as_str(),
            ] {
                run_in(&host.namespace, &["nft", command]).context("adding random loss (nftables)")?;
            }
        }
        Ok(())
    }

    /// Removes every namespace and the bridge (their veths go with them).
    pub fn destroy(&self) {
        for host in &self.hosts {
            let _ = run("ip", &["netns", "del", &host.namespace]);
        }
        let _ = run("ip", &["link", "del", &self.bridge]);
    }

    /// `command` prefixed to run inside `name`'s namespace.
    pub fn command_in(&self, name: &str, program: &str) -> anyhow::Result<Command> {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.host(name)?.namespace, program]);
        Ok(command)
    }
}
