//! `ops/deploy/` holds what a production deployment applies; these tests keep
//! it valid and consistent with the code: Kubernetes manifests against the
//! API schemas (`kubernetes-validate --strict`, offline), IAM permission
//! policies through `parliament`, the settings in the ConfigMap through
//! ingest's own parser, and the prefix scoping of upload credentials.
//! `ops/dev/services.sh install` installs both validators.

use std::path::{Path, PathBuf};
use std::process::Command;

use invigil_ingest::credentials::session_policy;
use invigil_ingest::settings::IngestSettings;
use invigil_schemas::ids::{CandidateId, TestId};
use invigil_schemas::media_key::candidate_prefix;
use serde::Deserialize;
use serde_json::Value;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every document of a multi-document YAML file.
fn documents(path: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(&read(path))
        .map(|document| Value::deserialize(document).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn resource<'a>(documents: &'a [Value], kind: &str, name: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn tool(name: &str) -> Command {
    let found = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().expect("sh runs");
    assert!(found.status.success(), "{name} is not installed; run `ops/dev/services.sh install`");
    Command::new(name)
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy("k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn manifests_match_the_kubernetes_schemas_and_a_broken_one_does_not() {
    let files = manifests();
    assert!(files.len() >= 4, "{files:?}");
    let output = tool("kubernetes-validate").args(["--strict", "--no-warn"]).args(&files).output().unwrap();
    let report = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(
        report.contains("statefulset/invigil-pipeline") && report.contains("horizontalpodautoscaler/invigil-ingest"),
        "{report}"
    );

    // The check bites: a misspelt field is refused.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, read("k8s/ingest.yaml").replace("averageUtilization", "averageUtilisation")).unwrap();
    let output = tool("kubernetes-validate").args(["--strict", "--no-warn"]).arg(&broken).output().unwrap();
    assert!(!output.status.success(), "a misspelt HPA field passed validation");
}

#[test]
fn ingest_scales_on_cpu_and_keeps_replicas_through_disruptions() {
    let ingest = documents("k8s/ingest.yaml");
    let hpa = resource(&ingest, "HorizontalPodAutoscaler", "invigil-ingest");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "StatefulSet");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "invigil-ingest");
    let metric = &hpa["spec"]["metrics"][0]["resource"];
    assert_eq!((metric["name"].as_str(), metric["target"]["averageUtilization"].as_u64()), (Some("cpu"), Some(70)));
    let deployment = resource(&ingest, "StatefulSet", "invigil-ingest");
    // The spool outlives the pod: a claim per replica, kept when scaled down,
    // mounted where the settings put the spool.
    let claim = &deployment["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "spool");
    assert_eq!(deployment["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"], "Retain");
    let config = documents("k8s/config.yaml");
    let text = resource(&config, "ConfigMap", "invigil-config")["data"]["ingest.toml"].as_str().unwrap().to_owned();
    let (settings, _) = served_settings(&text, "ingest.toml");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mounts = container["volumeMounts"].as_array().unwrap();
    let spool_mount = mounts.iter().find(|m| m["name"] == "spool").expect("the spool claim is mounted");
    assert_eq!(spool_mount["mountPath"].as_str().map(std::path::PathBuf::from), Some(settings.spool.dir.clone()));
    // Not ready first, then the drain, all inside the grace period.
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(settings.stop_linger_ms > 0);
    assert!(settings.stop_linger_ms / 1000 + settings.spool.drain_on_exit_secs + 10 < grace, "grace {grace} s");
    // HPA utilisation is measured against the request: there must be one.
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let pdb = resource(&ingest, "PodDisruptionBudget", "invigil-ingest");
    assert!(pdb["spec"]["minAvailable"].as_u64().unwrap() < hpa["spec"]["minReplicas"].as_u64().unwrap());
    assert_eq!(pdb["spec"]["selector"], deployment["spec"]["selector"]);
}

#[test]
fn the_pipeline_forms_one_timely_cluster_of_its_replicas() {
    let pipeline = documents("k8s/pipeline.yaml");
    let set = resource(&pipeline, "StatefulSet", "invigil-pipeline");
    let replicas = set["spec"]["replicas"].as_u64().unwrap().to_string();
    assert_eq!(set["spec"]["podManagementPolicy"], "Parallel", "timely needs every process up at start");
    let pod = &set["spec"]["template"]["spec"];
    for container in pod["initContainers"].as_array().unwrap().iter().chain(pod["containers"].as_array().unwrap()) {
        let processes =
            container["env"].as_array().unwrap().iter().find(|e| e["name"] == "PIPELINE_PROCESSES").unwrap();
        assert_eq!(processes["value"].as_str(), Some(replicas.as_str()), "PIPELINE_PROCESSES must equal replicas");
    }
    // The image has no shell: Kubernetes expands $(VAR) in the arguments,
    // and the process index is the pod's ordinal label.
    let args: Vec<&str> =
        pod["containers"][0]["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let command = args.join(" ");
    for flag in ["-n $(PIPELINE_PROCESSES)", "-p $(POD_INDEX)", "-h /work/hostfile"] {
        assert!(command.contains(flag), "{command}");
    }
    let index = pod["containers"][0]["env"].as_array().unwrap().iter().find(|e| e["name"] == "POD_INDEX").unwrap();
    assert_eq!(index["valueFrom"]["fieldRef"]["fieldPath"], "metadata.labels['apps.kubernetes.io/pod-index']");
    // The hostfile names each pod through the headless service, in ordinal order.
    let script = pod["initContainers"][0]["command"][2].as_str().unwrap();
    assert!(script.contains("invigil-pipeline-$i.invigil-pipeline.invigil.svc.cluster.local:2101"), "{script}");
    let service = resource(&pipeline, "Service", "invigil-pipeline");
    assert_eq!(service["spec"]["clusterIP"], "None");
    assert_eq!(set["spec"]["serviceName"], "invigil-pipeline");
    resource(&pipeline, "PodDisruptionBudget", "invigil-pipeline");
    // Kafka partitions bound the workers: enough for every worker of the cluster.
    let topics: Value = serde_yaml::from_str(&read("kafka/topics.yaml")).unwrap();
    let events = topics["topics"].as_array().unwrap().iter().find(|t| t["name"] == "proctor_events").unwrap();
    let workers: u64 = command.split("-w ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(events["partitions"].as_u64().unwrap() >= replicas.parse::<u64>().unwrap() * workers);
}

/// A settings file as the binary reads it: ingest's part and `[dashboard]`,
/// each checked.
fn served_settings(text: &str, name: &str) -> (IngestSettings, invigil_dashboards::DashboardSettings) {
    let (settings, mut sections) = IngestSettings::from_toml_beside(text, &["dashboard"])
        .unwrap_or_else(|e| panic!("{name} in the ConfigMap: {e}"));
    settings.check().unwrap();
    let dashboard = invigil_dashboards::DashboardSettings::from_section(sections.remove("dashboard"))
        .unwrap_or_else(|e| panic!("[dashboard] of {name} in the ConfigMap: {e}"));
    (settings, dashboard)
}

#[test]
fn the_configmap_settings_are_what_ingest_accepts() {
    let config = documents("k8s/config.yaml");
    let text = resource(&config, "ConfigMap", "invigil-config")["data"]["ingest.toml"].as_str().unwrap().to_owned();
    let (settings, dashboard) = served_settings(&text, "ingest.toml");
    assert_eq!(settings.kafka.topic, "proctor_events");
    assert_eq!(dashboard.live_topic, "proctor_live");
    let topics: Value = serde_yaml::from_str(&read("kafka/topics.yaml")).unwrap();
    let names: Vec<&str> = topics["topics"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&settings.kafka.topic.as_str()) && names.contains(&dashboard.live_topic.as_str()));
    // Both IAM policies name the bucket ingest hands out.
    for policy in ["iam/ingest-permissions.json", "iam/uploader-permissions.json"] {
        assert!(read(policy).contains(&format!("arn:aws:s3:::{}/*", settings.credentials.bucket)), "{policy}");
    }
    assert!(read("iam/ingest-permissions.json").contains(&settings.credentials.role_arn));
}

/// Live video runs in its own StatefulSet, one SFU host per pod: the
/// stateless replicas have it off; each pod is named among
/// `[live_video.shards]` by its pod name and announces its node's address
/// on the UDP port it takes there; the Ingress sends each pod's sharded
/// paths to that pod (the signal to its lean listener) and the unsharded
/// ones to any; a disruption takes one pod at a time.
#[test]
fn live_video_runs_on_named_sfu_hosts_that_the_ingress_routes_to() {
    let config = documents("k8s/config.yaml");
    let text = |key: &str| resource(&config, "ConfigMap", "invigil-config")["data"][key].as_str().unwrap().to_owned();
    let (stateless, _) = served_settings(&text("ingest.toml"), "ingest.toml");
    assert!(!stateless.live_video.enabled);
    // What the pod's environment adds (INVIGIL_LIVE_SHARD, INVIGIL_LIVE_PUBLIC_ADDR).
    let (mut live, mut sections) = IngestSettings::from_toml_beside(&text("live.toml"), &["dashboard"]).unwrap();
    assert!(live.check().is_err(), "without its pod's name and address a live pod does not start");
    live.live_video.shard = Some("invigil-live-1".into());
    live.live_video.public_addr = Some("192.0.2.10:40000".parse().unwrap());
    live.check().unwrap();
    let live_dashboard = invigil_dashboards::DashboardSettings::from_section(sections.remove("dashboard")).unwrap();
    assert!(live.live_video.enabled);
    assert_eq!((live.kafka.topic.as_str(), live_dashboard.live_topic.as_str()), ("proctor_events", "proctor_live"));
    let udp = live.live_video.udp_listen.port();
    assert!(live.live_video.udp_listen.ip().is_unspecified());

    let manifests = documents("k8s/live.yaml");
    let statefulset = resource(&manifests, "StatefulSet", "invigil-live");
    let replicas = statefulset["spec"]["replicas"].as_u64().unwrap();
    assert!(replicas >= 2, "live video on one pod is one point of failure");
    // Every pod is a shard, at its DNS name under the governing Service.
    let governing = statefulset["spec"]["serviceName"].as_str().unwrap();
    assert_eq!(resource(&manifests, "Service", governing)["spec"]["clusterIP"], "None");
    let pods: Vec<String> = (0..replicas).map(|i| format!("invigil-live-{i}")).collect();
    assert_eq!(live.live_video.shards.keys().cloned().collect::<Vec<_>>(), pods);
    for (pod, url) in &live.live_video.shards {
        let port = live.listen.port();
        assert_eq!(url, &format!("http://{pod}.{governing}.invigil.svc.cluster.local:{port}"));
    }
    let container = &statefulset["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"][2], "/etc/invigil/live.toml");
    let env = |name: &str| container["env"].as_array().unwrap().iter().find(|e| e["name"] == name).cloned();
    assert_eq!(env("INVIGIL_LIVE_SHARD").unwrap()["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    assert_eq!(env("HOST_IP").unwrap()["valueFrom"]["fieldRef"]["fieldPath"], "status.hostIP");
    assert_eq!(env("INVIGIL_LIVE_PUBLIC_ADDR").unwrap()["value"], format!("$(HOST_IP):{udp}"));
    let media = container["ports"].as_array().unwrap().iter().find(|p| p["name"] == "media").expect("a media port");
    assert_eq!((media["containerPort"].as_u64(), media["protocol"].as_str()), (Some(u64::from(udp)), Some("UDP")));
    assert_eq!(media["hostPort"].as_u64(), Some(u64::from(udp)), "the port announced is the node's");
    let signal = live.live_video.signal_listen.expect("the live pods have the lean signal listener");
    let named = container["ports"].as_array().unwrap().iter().find(|p| p["name"] == "signal").expect("a signal port");
    assert_eq!(named["containerPort"].as_u64(), Some(u64::from(signal.port())));

    // The Ingress: each pod's paths to that pod's Service, which selects it alone.
    let ingress = resource(&manifests, "Ingress", "invigil");
    let paths = ingress["spec"]["rules"][0]["http"]["paths"].as_array().unwrap();
    let backend = |path: &str| {
        let rule = paths.iter().find(|p| p["path"] == path).unwrap_or_else(|| panic!("no Ingress path {path}"));
        (
            rule["backend"]["service"]["name"].as_str().unwrap().to_owned(),
            rule["backend"]["service"]["port"]["name"].clone(),
        )
    };
    for pod in &pods {
        assert_eq!(backend(&format!("/api/v1/live/shards/{pod}/signal")), (pod.clone(), Value::from("signal")));
        assert_eq!(backend(&format!("/api/v1/live/shards/{pod}")), (pod.clone(), Value::from("http")));
        let service = resource(&manifests, "Service", pod);
        assert_eq!(service["spec"]["selector"]["statefulset.kubernetes.io/pod-name"], pod.as_str());
    }
    let (any, port) = backend("/api/v1/live/signal");
    assert_eq!(port, "signal");
    assert_eq!(resource(&manifests, "Service", &any)["spec"]["selector"]["app.kubernetes.io/name"], "invigil-live");
    assert_eq!(backend("/").0, "invigil-ingest");
    let budget = resource(&manifests, "PodDisruptionBudget", "invigil-live");
    assert_eq!(budget["spec"]["maxUnavailable"], 1);
}

#[test]
fn topics_keep_events_for_replay_and_compact_live_counters() {
    let topics: Value = serde_yaml::from_str(&read("kafka/topics.yaml")).unwrap();
    let topic = |name: &str| topics["topics"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
    let (events, live) = (topic("proctor_events"), topic("proctor_live"));
    assert_eq!(events["config"]["cleanup.policy"], "delete");
    assert!(events["config"]["retention.ms"].as_u64().unwrap() >= 24 * 3600 * 1000);
    assert_eq!(live["config"]["cleanup.policy"], "compact");
    for topic in [&events, &live] {
        assert!(topic["replication_factor"].as_u64().unwrap() >= 3);
        assert!(topic["config"]["min.insync.replicas"].as_u64().unwrap() >= 2);
    }
}

/// Whether an IAM resource pattern (`*` any run, `?` one character) matches `arn`.
fn iam_match(pattern: &str, arn: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), arn.as_bytes())
}

#[test]
fn upload_credentials_reach_only_the_candidates_own_prefix() {
    let test = TestId::new("exam-1").unwrap();
    let (a, b) = (CandidateId::new("cand-a").unwrap(), CandidateId::new("cand-b").unwrap());
    let prefix = candidate_prefix("2026-11-30", &test, &a);
    let policy: Value = serde_json::from_str(&session_policy("invigil-media-prod", &prefix)).unwrap();
    let statement = &policy["Statement"][0];
    assert_eq!((statement["Effect"].as_str(), statement["Action"].as_str()), (Some("Allow"), Some("s3:PutObject")));
    let resource = statement["Resource"].as_str().unwrap();
    let object = |key: &str| format!("arn:aws:s3:::invigil-media-prod/{key}");
    assert!(iam_match(resource, &object(&format!("{prefix}camera/1_x.jpg"))));
    assert!(!iam_match(resource, &object(&format!("{}camera/1_x.jpg", candidate_prefix("2026-11-30", &test, &b)))));
    assert!(!iam_match(resource, &object("2026-11-30/exam-1/cand-a-evil/camera/1_x.jpg")), "a sibling prefix");
    assert!(!iam_match(resource, &object("2026-11-30/exam-2/cand-a/camera/1_x.jpg")));
    // The uploader role itself can only put objects in the bucket; the
    // session policy narrows that to the prefix (AWS intersects the two).
    let uploader = json("iam/uploader-permissions.json");
    let statements = uploader["Statement"].as_array().unwrap();
    assert!(statements.iter().all(|s| s["Effect"] == "Allow" && s["Action"] == "s3:PutObject"), "{uploader}");
    assert!(iam_match(statements[0]["Resource"].as_str().unwrap(), &object(&format!("{prefix}x"))));
    // Only ingest's role may assume it, and only ingest's service account that role.
    let trust = json("iam/uploader-trust.json");
    assert_eq!(trust["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::123456789012:role/invigil-ingest");
    let ingest_trust = read("iam/ingest-trust.json");
    assert!(ingest_trust.contains("system:serviceaccount:invigil:invigil-ingest"));
    assert_eq!(
        documents("k8s/ingest.yaml")[0]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/invigil-ingest"
    );
}

#[test]
fn permission_policies_pass_parliament_and_a_typo_does_not() {
    let session = session_policy("invigil-media-prod", "2026-11-30/exam-1/cand-a/");
    let policies = [read("iam/ingest-permissions.json"), read("iam/uploader-permissions.json"), session];
    for policy in &policies {
        let output = tool("parliament")
            .args(["--json", "--string", policy])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let findings = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success() && findings.trim().is_empty(), "{policy}\n{findings}");
    }
    let typo = policies[1].replace("s3:PutObject", "s3:PutObjekt");
    let output =
        tool("parliament").args(["--json", "--string", &typo]).stdin(std::process::Stdio::null()).output().unwrap();
    assert!(!output.status.success(), "parliament accepted an unknown action");
}

#[test]
fn the_bucket_expires_evidence_and_lets_the_sdk_put_and_post() {
    let lifecycle = json("s3/lifecycle.json");
    let rule = &lifecycle["Rules"][0];
    assert_eq!(rule["Status"], "Enabled");
    assert_eq!(rule["Transitions"], serde_json::json!([{"Days": 10, "StorageClass": "GLACIER_IR"}]));
    assert_eq!(rule["Expiration"]["Days"], 30);
    let cors = json("s3/cors.json");
    let uploads = cors["CORSRules"].as_array().unwrap().iter().find(|r| r["ID"] == "sdk-uploads").unwrap();
    let allowed: Vec<&str> =
        uploads["AllowedHeaders"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    // Every header the SDK's glue sends on a signed PUT.
    for name in invigil_sdk::s3::PUT_HEADERS {
        assert!(allowed.contains(&name), "CORS does not allow the SDK's {name} header");
    }
    assert!(allowed.contains(&"content-type"));
    // Both upload grants: signed PUTs and presigned POST forms.
    assert_eq!(uploads["AllowedMethods"], serde_json::json!(["PUT", "POST"]));
}

#[test]
fn the_cluster_schema_is_generated_and_every_statement_parses() {
    use invigil_schemas::migrations::{cluster_ddl, ClusterTarget, MIGRATIONS};
    let generated = cluster_ddl(ClusterTarget { cluster: "invigil", database: "invigil" });
    assert_eq!(
        read("clickhouse/cluster.sql"),
        generated,
        "regenerate: invigil migrate --cluster-ddl invigil --database invigil"
    );
    // ClickHouse's own parser, in chDB: formatQuery fails on a syntax error.
    let dir = tempfile::tempdir().unwrap();
    let chdb = invigil_pipeline::store::chdb::ChdbStore::open(dir.path()).expect("chDB (ops/dev/services.sh install)");
    let statements: Vec<String> = generated
        .split(';')
        .map(|s| s.lines().filter(|l| !l.starts_with("--")).collect::<Vec<_>>().join("\n"))
        .filter(|s| !s.trim().is_empty())
        .collect();
    let modern =
        |m: &invigil_schemas::migrations::Migration| m.statements(invigil_schemas::migrations::Dialect::Modern);
    let creates = MIGRATIONS.iter().flat_map(modern).filter(|s| s.starts_with("CREATE TABLE")).count();
    // Each run of ALTERs of one table is one ALTER, on both of its tables.
    let runs: usize = MIGRATIONS
        .iter()
        .map(|m| {
            let tables: Vec<String> = modern(m)
                .iter()
                .map(|s| {
                    s.strip_prefix("ALTER TABLE ")
                        .map(|r| r.split_whitespace().next().unwrap().to_owned())
                        .unwrap_or_default()
                })
                .collect();
            tables.iter().enumerate().filter(|(i, t)| !t.is_empty() && (*i == 0 || tables[i - 1] != **t)).count()
        })
        .sum();
    assert_eq!(
        statements.len(),
        2 + 2 * creates + 2 * runs + MIGRATIONS.len(),
        "the database and the ledger, a local and a distributed table for each of the {creates} tables, each run of \
         changes to one table on both, and a ledger line per migration"
    );
    for statement in &statements {
        let quoted = statement.replace('\\', "\\\\").replace('\'', "\\'");
        let formatted = chdb
            .query_text_sync(&format!("SELECT formatQuery('{quoted}')"), "TabSeparatedRaw")
            .unwrap_or_else(|e| panic!("{statement}\n{e}"));
        assert!(
            ["CREATE TABLE IF NOT EXISTS", "ALTER TABLE", "CREATE DATABASE IF NOT EXISTS", "INSERT INTO"]
                .iter()
                .any(|start| formatted.starts_with(start)),
            "{formatted}"
        );
    }
    let broken = chdb
        .query_text_sync("SELECT formatQuery('CREATE TABLE x ON CLUSTER ENGINE = Distributed(')", "TabSeparatedRaw");
    assert!(broken.is_err(), "formatQuery accepted broken DDL");
}

/// A Secret in the manifests would be public: anyone could mint admin tokens
/// with a token secret that `kubectl apply -f ops/deploy/k8s/` installed.
/// The workloads name `invigil-secrets`, which the operator creates with
/// generated values (the command is in config.yaml and the README).
#[test]
fn the_manifests_ship_no_secret_values() {
    let mut referenced = Vec::new();
    for file in manifests() {
        let path = format!("k8s/{}", file.file_name().unwrap().to_str().unwrap());
        for document in documents(&path) {
            assert_ne!(document["kind"], "Secret", "{path} ships a Secret");
            let text = document.to_string();
            if text.contains("\"secretRef\"") {
                referenced.push(path.clone());
            }
        }
        assert!(!read(&path).contains("replace-me"), "{path} holds a placeholder value");
    }
    assert!(referenced.len() >= 3, "the workloads read invigil-secrets: {referenced:?}");
    let how = read("k8s/config.yaml");
    assert!(
        how.contains("create secret generic invigil-secrets") && how.contains("openssl rand"),
        "config.yaml says how"
    );
}

/// The manifests run the image `ops/image/build.sh` makes (`invigil:` the
/// workspace version, retargeted to a registry by kustomization.yaml), with
/// its entrypoint and no shell (the image has none), as its non-root user.
#[test]
fn workloads_run_the_image_the_build_script_makes() {
    let workspace = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml")).unwrap();
    let version = workspace.lines().find_map(|l| l.strip_prefix("version = \"")).unwrap().trim_end_matches('"');
    let image = format!("invigil:{version}");
    let mut ours = 0;
    for file in manifests() {
        let path = format!("k8s/{}", file.file_name().unwrap().to_str().unwrap());
        for document in documents(&path) {
            let pod = document.pointer("/spec/template/spec");
            let Some(pod) = pod.or_else(|| document.pointer("/spec/jobTemplate/spec/template/spec")) else { continue };
            for container in pod["containers"].as_array().unwrap() {
                let name = container["name"].as_str().unwrap();
                if container["image"].as_str().unwrap().starts_with("invigil") {
                    ours += 1;
                    assert_eq!(container["image"], image.as_str(), "{path} {name}");
                    assert!(container.get("command").is_none(), "{path} {name}: the image's entrypoint, no shell");
                    assert_eq!(pod["securityContext"]["runAsUser"], 10001, "{path}");
                }
            }
        }
    }
    assert!(ours >= 4, "ingest, live, pipeline and the retention sweep run the image");
    let retention = documents("k8s/retention.yaml");
    let sweep = resource(&retention, "CronJob", "invigil-retention");
    let container = &sweep["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["args"].as_array().unwrap()[..2],
        [serde_json::json!("retention"), serde_json::json!("--sweep")]
    );
    assert_eq!(container["envFrom"][0]["secretRef"]["name"], "invigil-secrets", "it signs its token with the secret");
    let kustomization: Value = serde_yaml::from_str(&read("k8s/kustomization.yaml")).unwrap();
    assert_eq!(kustomization["images"][0]["name"], "invigil");
    assert_eq!(kustomization["images"][0]["newTag"], version);
    let listed: Vec<&str> =
        kustomization["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for file in manifests() {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(listed.contains(&name.as_str()), "kustomization.yaml lacks {name}");
    }
    let build = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("image/build.sh")).unwrap();
    assert!(build.contains("--config.user 10001:10001") && build.contains("--config.entrypoint /usr/bin/invigil"));
}
