//! A real ClickHouse cluster: two 18.16 replicas of one shard, replicated
//! through ZooKeeper (`ops/dev/services.sh up` starts them as `chcluster`).
//! The cluster migrator applies the schema once for the cluster, through
//! either node; a single-node migration against a replica is refused; the
//! pipeline's check names the missing migrations; and an insert into the
//! Distributed table returns only once the shard has the rows.

mod common;

use std::time::{Duration, Instant};

use invigil_pipeline::rows::EventRow;
use invigil_pipeline::store::http::{HttpConfig, HttpStore};
use invigil_pipeline::store::migrate::{check_cluster, migrate, migrate_cluster, MigrateError};
use invigil_pipeline::store::SqlStore;
use invigil_schemas::migrations::{ClusterTarget, Dialect, MIGRATIONS};

fn cluster_name() -> String {
    std::env::var("INVIGIL_CLICKHOUSE_CLUSTER").unwrap_or_else(|_| "invigil_test".into())
}

fn node_urls() -> Vec<String> {
    std::env::var("INVIGIL_CLICKHOUSE_CLUSTER_URLS")
        .unwrap_or_else(|_| "http://127.0.0.1:18124,http://127.0.0.1:18125".into())
        .split(',')
        .map(str::to_owned)
        .collect()
}

fn node(url: &str, database: &str, cluster: Option<&str>) -> HttpStore {
    HttpStore::new(&HttpConfig {
        cluster: cluster.map(str::to_owned),
        ..HttpConfig::plain(url, database, Dialect::Legacy)
    })
    .unwrap()
}

async fn scalar(store: &HttpStore, sql: &str) -> String {
    store.query_text(sql, "TabSeparated").await.unwrap_or_else(|e| panic!("{sql}: {e}")).trim().to_owned()
}

#[tokio::test]
async fn the_cluster_is_migrated_once_checked_by_the_pipeline_and_written_synchronously() {
    let (cluster, urls) = (cluster_name(), node_urls());
    let database = format!("invigil_cluster_{}", std::process::id());
    let target = ClusterTarget { cluster: &cluster, database: &database };
    let nodes: Vec<HttpStore> = urls.iter().map(|url| node(url, "default", None)).collect();
    for (url, node) in urls.iter().zip(&nodes) {
        let ping = tokio::time::timeout(Duration::from_secs(10), node.query_text("SELECT 1", "TabSeparated")).await;
        assert!(matches!(ping, Ok(Ok(_))), "cluster node {url} unreachable; is `ops/dev/services.sh up` running?");
    }

    // Before any migration the pipeline's check refuses, naming all of them.
    let error = check_cluster(&nodes[0], target).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, MigrateError::ClusterBehind { .. }), "{message}");
    assert!(message.contains("001_proctor_events") && message.contains("007_delivered_captures"), "{message}");
    assert!(message.contains(&format!("invigil migrate --cluster {cluster} --database {database}")), "{message}");

    // A single-node migration of a replica would create one node's tables.
    let single = node(&urls[1], "default", None);
    let refused = migrate(&single).await.unwrap_err().to_string();
    assert!(refused.contains("is a replica") && refused.contains(&cluster), "{refused}");

    // Through node 1: everything; through node 2 afterwards: nothing left.
    let first = migrate_cluster(&nodes[0], target).await.expect("the cluster migrates");
    assert_eq!(first.applied.len(), MIGRATIONS.len());
    let second = migrate_cluster(&nodes[1], target).await.expect("again, through the other node");
    assert_eq!((second.applied.len(), second.already_applied), (0, MIGRATIONS.len()), "the ledger is replicated");
    for node in &nodes {
        let engines = scalar(
            node,
            &format!(
                "SELECT engine FROM system.tables WHERE database = '{database}' AND name IN \
                 ('sessions_local', 'sessions', 'invigil_schema_migrations') ORDER BY name"
            ),
        )
        .await;
        assert_eq!(engines, "ReplicatedReplacingMergeTree\nDistributed\nReplicatedReplacingMergeTree");
        let added = scalar(node, &format!("SELECT count() FROM system.columns WHERE database = '{database}' AND table IN ('sessions', 'sessions_local') AND name = 'delivered_captures'")).await;
        assert_eq!(added, "2", "the ALTERs reached the local and the Distributed table");
        assert_eq!(check_cluster(node, target).await.expect("the pipeline's check passes"), MIGRATIONS.len());
    }

    // An insert through the Distributed table on node 2 is in the shard when
    // it returns (read at once through node 1's local table), then on both.
    let writer = node(&urls[1], &database, Some(&cluster));
    let record = common::sample_record();
    let rows = common::rows_of(&record, 0);
    let mut insert = writer.client().insert::<EventRow>("proctor_events").await.unwrap();
    for row in &rows {
        insert.write(row).await.unwrap();
    }
    insert.end().await.expect("acknowledged");
    let count = |node: &HttpStore| {
        let sql = format!("SELECT count() FROM {database}.proctor_events_local");
        let node = node.clone();
        async move { scalar(&node, &sql).await }
    };
    let on_shard: Vec<String> = [count(&nodes[0]).await, count(&nodes[1]).await].into();
    assert!(on_shard.contains(&rows.len().to_string()), "a replica of the shard has the rows on return: {on_shard:?}");
    let started = Instant::now();
    while [count(&nodes[0]).await, count(&nodes[1]).await] != [rows.len().to_string(), rows.len().to_string()] {
        assert!(started.elapsed() < Duration::from_secs(30), "replicated to both within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    nodes[0].execute(&format!("DROP DATABASE IF EXISTS {database} ON CLUSTER {cluster}")).await.unwrap();
}
