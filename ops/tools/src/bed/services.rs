//! What runs on each host of the standard bed, as the commands that start
//! it (kept, so a killed host starts again with the same data):
//!
//! | host | program | port |
//! |---|---|---|
//! | `lb` | haproxy: round robin over the ingest replicas (health `/readyz`) and the ClickHouse replicas (`/ping`) | 8080, 8123 |
//! | `ingest-1`, `ingest-2` | `invigil ingest` with the dashboards, following the config log | 8080 |
//! | `broker` | tansu | 9092 |
//! | `pipeline-1`, `pipeline-2` | `invigil pipeline`, one timely cluster of 2 processes, ClickHouse through `lb` | 2101, 9465 |
//! | `zk` | ZooKeeper (Debian's) | 2181 |
//! | `ch-1`, `ch-2` | ClickHouse 18.16, the two replicas of one shard of the cluster `invigil_bed` | 8123, 9000, 9009 |
//! | `s3` | moto (S3 + STS) | 5000 |

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::net::Net;

pub const HOSTS: [&str; 10] =
    ["lb", "ingest-1", "ingest-2", "broker", "pipeline-1", "pipeline-2", "zk", "ch-1", "ch-2", "s3"];
pub const CLICKHOUSE_CLUSTER: &str = "invigil_bed";
pub const DATABASE: &str = "invigil";
pub const EVENTS_TOPIC: &str = "proctor_events";
pub const LIVE_TOPIC: &str = "proctor_live";
pub const CONFIG_TOPIC: &str = "invigil_config";
pub const PIPELINE_GROUP: &str = "bed-pipeline";
/// The HS256 secret candidates' and staff tokens are signed with, unless
/// `bed up --token-secret` says otherwise.
pub const TOKEN_SECRET: &str = "CZwRUhYjiAgfxDQLsvNGQSzpb9Z7mu+rk24wT1N4SUSD";
pub const INGEST_PORT: u16 = 8080;
pub const CLICKHOUSE_HTTP_PORT: u16 = 8123;
pub const BROKER_PORT: u16 = 9092;
pub const PIPELINE_METRICS_PORT: u16 = 9465;
pub const S3_PORT: u16 = 5000;

/// One program on one host, as started (and started again).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Service {
    pub host: String,
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Working directory; the log is `<dir>/<name>.log`.
    pub dir: PathBuf,
    /// The running process (its own process group), if any.
    pub pid: Option<i32>,
}

/// Where the programs are, and the token secret ingest checks.
pub struct Programs {
    pub invigil: PathBuf,
    pub tansu: PathBuf,
    pub token_secret: String,
}

/// Every service of the standard bed, in start order.
pub fn standard(net: &Net, root: &Path, programs: &Programs) -> anyhow::Result<Vec<Service>> {
    let address = |host: &str| net.host(host).map(|h| h.address);
    let dir = |host: &str| root.join(host);
    let service = |host: &str, name: &str, program: PathBuf, args: Vec<String>| Service {
        host: host.to_owned(),
        name: name.to_owned(),
        program,
        args,
        env: Vec::new(),
        dir: dir(host),
        pid: None,
    };
    let mut services = Vec::new();

    let zk = address("zk")?;
    std::fs::create_dir_all(dir("zk").join("data"))?;
    std::fs::write(
        dir("zk").join("zoo.cfg"),
        format!(
            "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort=2181\nclientPortAddress={zk}\n\
             admin.enableServer=false\nmaxClientCnxns=0\n4lw.commands.whitelist=srvr,ruok\n",
            dir("zk").join("data").display()
        ),
    )?;
    let mut zookeeper = service(
        "zk",
        "zookeeper",
        "/usr/share/zookeeper/bin/zkServer.sh".into(),
        vec!["start-foreground".into(), dir("zk").join("zoo.cfg").display().to_string()],
    );
    zookeeper.env =
        vec![("ZOO_LOG_DIR".into(), dir("zk").display().to_string()), ("JVMFLAGS".into(), "-Xmx200m".into())];
    services.push(zookeeper);

    let replicas = [address("ch-1")?, address("ch-2")?];
    for (index, host) in ["ch-1", "ch-2"].into_iter().enumerate() {
        write_clickhouse_config(&dir(host), replicas[index], &replicas, zk, index + 1)?;
        services.push(service(
            host,
            "clickhouse",
            "clickhouse-server".into(),
            vec![format!("--config-file={}", dir(host).join("config.xml").display())],
        ));
    }

    let broker = address("broker")?;
    std::fs::create_dir_all(dir("broker"))?;
    std::fs::write(dir("broker").join(".env"), "")?;
    let url = format!("tcp://{broker}:{BROKER_PORT}");
    services.push(service(
        "broker",
        "tansu",
        programs.tansu.clone(),
        ["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "sqlite://tansu.db"]
            .map(str::to_owned)
            .to_vec(),
    ));

    let s3 = address("s3")?;
    std::fs::create_dir_all(dir("s3"))?;
    services.push(service(
        "s3",
        "moto",
        "moto_server".into(),
        vec!["-H".into(), s3.to_string(), "-p".into(), S3_PORT.to_string()],
    ));

    for host in ["ingest-1", "ingest-2"] {
        write_ingest_settings(&dir(host), host, address(host)?, broker, s3, address("lb")?)?;
        let mut ingest = service(
            host,
            "ingest",
            programs.invigil.clone(),
            vec!["ingest".into(), "--settings".into(), dir(host).join("ingest.toml").display().to_string()],
        );
        ingest.env = vec![
            ("INVIGIL_TOKEN_SECRET".into(), programs.token_secret.clone()),
            ("INVIGIL_IP_HASH_SECRET".into(), "bed-ip-hash-secret!".into()),
            // How a stop went (the drain, what is left) is logged at info.
            ("RUST_LOG".into(), "warn,invigil_ingest::app=info".into()),
            // moto accepts any key; the SDK for STS wants one.
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ];
        services.push(ingest);
    }

    let pipelines = [address("pipeline-1")?, address("pipeline-2")?];
    for (index, host) in ["pipeline-1", "pipeline-2"].into_iter().enumerate() {
        std::fs::create_dir_all(dir(host))?;
        let hostfile = dir(host).join("hostfile");
        std::fs::write(&hostfile, pipelines.iter().map(|a| format!("{a}:2101\n")).collect::<String>())?;
        let mut pipeline = service(
            host,
            "pipeline",
            programs.invigil.clone(),
            [
                "pipeline",
                "-n",
                "2",
                "-p",
                &index.to_string(),
                "-h",
                &hostfile.display().to_string(),
                "-w",
                "1",
                "--brokers",
                &format!("{broker}:{BROKER_PORT}"),
                "--group",
                PIPELINE_GROUP,
                "--config-topic",
                CONFIG_TOPIC,
                "--clickhouse-url",
                &format!("http://{}:{CLICKHOUSE_HTTP_PORT}", address("lb")?),
                "--database",
                DATABASE,
                "--cluster",
                CLICKHOUSE_CLUSTER,
                "--legacy",
                "--metrics-listen",
                &format!("{}:{PIPELINE_METRICS_PORT}", pipelines[index]),
                "--idle-partition-ms",
                "2000",
            ]
            .map(str::to_owned)
            .to_vec(),
        );
        pipeline.env = vec![("RUST_LOG".into(), "info,librdkafka=warn,rdkafka=warn".into())];
        services.push(pipeline);
    }

    write_haproxy_config(&dir("lb"), net)?;
    services.push(service(
        "lb",
        "haproxy",
        "haproxy".into(),
        vec!["-db".into(), "-f".into(), dir("lb").join("haproxy.cfg").display().to_string()],
    ));
    Ok(services)
}

fn write_clickhouse_config(
    dir: &Path,
    own: Ipv4Addr,
    replicas: &[Ipv4Addr],
    zk: Ipv4Addr,
    replica: usize,
) -> anyhow::Result<()> {
    let shard: String =
        replicas.iter().map(|a| format!("<replica><host>{a}</host><port>9000</port></replica>")).collect();
    let cluster = format!(
        "<interserver_http_port>9009</interserver_http_port>\n<interserver_http_host>{own}</interserver_http_host>\n\
         <zookeeper><node><host>{zk}</host><port>2181</port></node><session_timeout_ms>6000</session_timeout_ms></zookeeper>\n\
         <remote_servers><{CLICKHOUSE_CLUSTER}><shard><internal_replication>true</internal_replication>{shard}</shard></{CLICKHOUSE_CLUSTER}></remote_servers>\n\
         <macros><shard>01</shard><replica>replica-{replica}</replica></macros>\n\
         <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>\n"
    );
    crate::clickhouse_server::ServerFiles {
        listen: &own.to_string(),
        http_port: CLICKHOUSE_HTTP_PORT,
        tcp_port: 9000,
        extra: &cluster,
        // Any address: only the bed's own hosts and its controller reach it.
        network: "::/0",
        max_memory_usage: 2_000_000_000,
    }
    .write(dir)
}

fn write_ingest_settings(
    dir: &Path,
    node: &str,
    own: Ipv4Addr,
    broker: Ipv4Addr,
    s3: Ipv4Addr,
    lb: Ipv4Addr,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let d = dir.display();
    std::fs::write(
        dir.join("ingest.toml"),
        format!(
            "listen = \"{own}:{INGEST_PORT}\"\nnode = \"{node}\"\nconfig_file = \"{d}/config.json\"\n\
             config_topic = \"{CONFIG_TOPIC}\"\ntrust_forwarded_for = true\n\
             [kafka]\nbrokers = \"{broker}:{BROKER_PORT}\"\ntopic = \"{EVENTS_TOPIC}\"\nidempotence = false\n\
             [spool]\ndir = \"{d}/spool\"\n\
             [rate_limit]\nper_second = 0.0\n\
             [credentials]\nbucket = \"invigil-bed\"\ns3_endpoint = \"http://{s3}:{S3_PORT}\"\n\
             sts_endpoint = \"http://{s3}:{S3_PORT}\"\n\
             [dashboard]\nlive_topic = \"{LIVE_TOPIC}\"\nclickhouse_url = \"http://{lb}:{CLICKHOUSE_HTTP_PORT}\"\n\
             clickhouse_database = \"{DATABASE}\"\n"
        ),
    )?;
    Ok(())
}

fn write_haproxy_config(dir: &Path, net: &Net) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let lb = net.host("lb")?.address;
    let servers = |hosts: &[&str], port: u16| -> anyhow::Result<String> {
        hosts.iter().map(|h| Ok(format!("    server {h} {}:{port} check\n", net.host(h)?.address))).collect()
    };
    std::fs::write(
        dir.join("haproxy.cfg"),
        format!(
            "global\n    maxconn 4000\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n    timeout server 60s\n\
             \x20   retries 2\n    option redispatch\n    default-server inter 500ms fall 2 rise 2\n\
             frontend ingest\n    bind {lb}:{INGEST_PORT}\n    option forwardfor\n    default_backend ingest\n\
             backend ingest\n    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect status 200\n{}\
             frontend clickhouse\n    bind {lb}:{CLICKHOUSE_HTTP_PORT}\n    default_backend clickhouse\n\
             backend clickhouse\n    balance roundrobin\n    option httpchk GET /ping\n{}",
            servers(&["ingest-1", "ingest-2"], INGEST_PORT)?,
            servers(&["ch-1", "ch-2"], CLICKHOUSE_HTTP_PORT)?,
        ),
    )?;
    Ok(())
}
