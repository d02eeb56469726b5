//! ClickHouse DDL (`schemas/clickhouse/NNN_name.sql`) and the plan to apply it.
//!
//! Applying is split between this crate and a store: here is what to run and in
//! which order (pure, testable, no I/O); the store (`pipeline::store`) runs it
//! against chDB or a server. The plan:
//!
//! 1. create the ledger table [`LEDGER_TABLE`] if missing;
//! 2. read the applied `(id, checksum)` pairs ([`ledger_query`]);
//! 3. [`pending`] refuses a ledger whose checksums differ from the files (an
//!    applied migration was edited: write a new one instead) and returns the
//!    rest in id order;
//! 4. run each pending migration's statements, then [`ledger_insert`] it.
//!
//! Every migration is idempotent on its own (`IF NOT EXISTS`), so a crash
//! between steps 4a and 4b is repaired by simply running again.
//!
//! [`Dialect::Legacy`] derives twins for pre-2019 servers (Debian's 18.16):
//! same table and column names, wire-identical types (`DateTime64(3)` is an
//! `Int64` of milliseconds in RowBinary, `LowCardinality(String)` a `String`),
//! no TTL. It exists so the HTTP transport can be tested against a real server
//! where no modern one can be installed.

use std::borrow::Cow;

/// One DDL file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The `NNN` of the file name; applied in increasing order.
    pub id: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($( $id:literal => $name:literal ),* $(,)?) => {
        /// Every migration, in id order.
        pub static MIGRATIONS: &[Migration] = &[
            $( Migration {
                id: $id,
                name: $name,
                sql: include_str!(concat!("../clickhouse/", stringify!($id), "_", $name, ".sql")),
            }, )*
        ];
    };
}

migrations! {
    001 => "proctor_events",
    002 => "candidate_windows",
    003 => "anomalies",
    004 => "sessions",
    005 => "reviews",
    006 => "recordings",
    007 => "delivered_captures",
    008 => "face_checks",
    009 => "identity_checks",
    010 => "staff_actions",
    011 => "webhook_deliveries",
    012 => "environment_signals",
    013 => "environment_windows",
    014 => "concurrent_sessions",
    015 => "client_network",
}

/// Which server generation the SQL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// ClickHouse ≥ 23.8 and chDB: the files as written.
    Modern,
    /// ClickHouse 18.16: wire-compatible twins.
    Legacy,
}

/// The table recording what was applied.
pub const LEDGER_TABLE: &str = "invigil_schema_migrations";

/// Creates the ledger; valid in both dialects.
pub fn ledger_ddl() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} \
         (id UInt32, name String, checksum UInt64, applied_at DateTime) \
         ENGINE = MergeTree ORDER BY id"
    )
}

/// Reads the ledger; run it with output format `TabSeparated` (`id<TAB>checksum` lines).
pub fn ledger_query() -> String {
    format!("SELECT id, checksum FROM {LEDGER_TABLE} ORDER BY id")
}

/// Records `migration` as applied.
pub fn ledger_insert(migration: &Migration) -> String {
    format!(
        "INSERT INTO {LEDGER_TABLE} (id, name, checksum, applied_at) VALUES ({}, '{}', {}, now())",
        migration.id,
        migration.name,
        migration.checksum()
    )
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("ledger line {0:?} is not `id<TAB>checksum`")]
    BadLedgerLine(String),
    #[error("migration {id:03} was edited after it was applied (checksum {applied} in the ledger, {current} now); add a new migration instead")]
    Edited { id: u32, applied: u64, current: u64 },
    #[error(
        "the ledger lists migration {0:03}, which this build does not know: the database is newer than this binary"
    )]
    Unknown(u32),
}

/// Parses [`ledger_query`] output.
pub fn parse_ledger(tsv: &str) -> Result<Vec<(u32, u64)>, PlanError> {
    tsv.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let bad = || PlanError::BadLedgerLine(line.to_owned());
            let (id, checksum) = line.split_once('\t').ok_or_else(bad)?;
            Ok((id.trim().parse().map_err(|_| bad())?, checksum.trim().parse().map_err(|_| bad())?))
        })
        .collect()
}

/// The migrations still to apply, in order, given the ledger.
pub fn pending(applied: &[(u32, u64)]) -> Result<Vec<&'static Migration>, PlanError> {
    for &(id, checksum) in applied {
        let known = MIGRATIONS.iter().find(|m| m.id == id).ok_or(PlanError::Unknown(id))?;
        if known.checksum() != checksum {
            return Err(PlanError::Edited { id, applied: checksum, current: known.checksum() });
        }
    }
    Ok(MIGRATIONS.iter().filter(|m| !applied.iter().any(|(id, _)| *id == m.id)).collect())
}

impl Migration {
    /// FNV-1a of the file: detects an applied migration edited afterwards.
    pub fn checksum(&self) -> u64 {
        self.sql
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
    }

    /// The statements to run, in order, for `dialect`. Comments are removed
    /// (old servers reject some placements) and statements split on `;`.
    pub fn statements(&self, dialect: Dialect) -> Vec<String> {
        let without_comments: String = self
            .sql
            .lines()
            .map(|line| line.split_once("--").map_or(line, |(code, _)| code).trim_end())
            .filter(|line| !line.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        without_comments
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|statement| match dialect {
                Dialect::Modern => statement.to_owned(),
                Dialect::Legacy => legacy_twin(statement).into_owned(),
            })
            .collect()
    }
}

/// A ClickHouse cluster and the database the schema lives in there.
///
/// Each table becomes a replicated `{name}_local` on every node and a
/// `Distributed` table `{name}` over them, sharded by candidate. Readers and
/// writers keep using the plain names, and all rows of one candidate live on
/// one shard, where `ReplacingMergeTree` can fold their re-deliveries
/// (`FINAL` deduplicates within a shard only). Every name is qualified with
/// the database: a statement `ON CLUSTER` runs on each node with that node's
/// default database, not the sender's.
///
/// The ledger is replicated too, on one ZooKeeper path for the whole cluster
/// (every node a replica of it), so a migration recorded through any node is
/// seen through every other and runs once per cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterTarget<'a> {
    pub cluster: &'a str,
    pub database: &'a str,
}

impl ClusterTarget<'_> {
    /// Creates the database on every node.
    pub fn database_ddl(&self) -> String {
        format!("CREATE DATABASE IF NOT EXISTS {} ON CLUSTER {}", self.database, self.cluster)
    }

    /// Creates the replicated ledger on every node.
    pub fn ledger_ddl(&self) -> String {
        let Self { cluster, database } = self;
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.{LEDGER_TABLE} ON CLUSTER {cluster} \
             (id UInt32, name String, checksum UInt64, applied_at DateTime) \
             ENGINE = ReplicatedReplacingMergeTree('/clickhouse/invigil/{database}/{LEDGER_TABLE}', '{{shard}}-{{replica}}') \
             ORDER BY id"
        )
    }

    /// Reads the ledger (as [`ledger_query`]).
    pub fn ledger_query(&self) -> String {
        format!("SELECT DISTINCT id, checksum FROM {}.{LEDGER_TABLE} ORDER BY id", self.database)
    }

    /// Records `migration` as applied, once for the cluster.
    pub fn ledger_insert(&self, migration: &Migration) -> String {
        ledger_insert(migration).replacen(LEDGER_TABLE, &format!("{}.{LEDGER_TABLE}", self.database), 1)
    }

    /// The engine of the ledger table as the server reports it, to tell a
    /// cluster's ledger from a single node's.
    pub fn ledger_engine_query(&self) -> String {
        format!("SELECT engine FROM system.tables WHERE database = '{}' AND name = '{LEDGER_TABLE}'", self.database)
    }
}

impl Migration {
    /// The statements to run `ON CLUSTER`, in order, for `dialect`.
    ///
    /// ClickHouse 18.16 refuses `ALTER … ON CLUSTER` on a table that is not
    /// replicated when the cluster's shards are (`internal_replication`), so
    /// in [`Dialect::Legacy`] a changed Distributed table is dropped and
    /// created again over the altered local table once the migration's
    /// changes are made (it holds no rows; inserts waiting in an
    /// asynchronous Distributed queue would be lost, so stop writers first —
    /// the pipeline inserts synchronously). Modern servers alter it in place.
    ///
    /// A run of `ALTER`s of one table becomes one `ALTER` with all their
    /// changes: each distributed DDL waits for every replica to apply it, and
    /// 18.16 polls for that with a growing pause (0.2 s to over a second per
    /// statement), so 60 one-column `ALTER`s took ~25 s on an idle machine
    /// and over two minutes on a busy one. One `ALTER` is applied whole or not
    /// at all on each node, which keeps [`Dialect::Legacy`]'s "already
    /// exists" tolerance sound.
    pub fn cluster_statements(&self, dialect: Dialect, target: ClusterTarget<'_>) -> Vec<String> {
        let ClusterTarget { cluster, database } = target;
        let distributed = |name: &str| {
            format!(
                "CREATE TABLE IF NOT EXISTS {database}.{name} ON CLUSTER {cluster} AS {database}.{name}_local\n\
                 ENGINE = Distributed({cluster}, {database}, {name}_local, cityHash64(test_id, candidate_id))"
            )
        };
        let mut out = Vec::new();
        let mut recreate: Vec<String> = Vec::new();
        for statement in merge_alters(self.statements(dialect)) {
            if let Some(rest) = statement.strip_prefix("ALTER TABLE ") {
                // Local tables first: a Distributed table's columns must exist below it.
                let name = rest.split_whitespace().next().unwrap_or_default();
                let change = &rest[name.len()..];
                out.push(format!("ALTER TABLE {database}.{name}_local ON CLUSTER {cluster}{change}"));
                match dialect {
                    Dialect::Modern => out.push(format!("ALTER TABLE {database}.{name} ON CLUSTER {cluster}{change}")),
                    Dialect::Legacy if !recreate.iter().any(|r| r == name) => recreate.push(name.to_owned()),
                    Dialect::Legacy => {}
                }
                continue;
            }
            let Some(rest) = statement.strip_prefix("CREATE TABLE IF NOT EXISTS ") else {
                out.push(statement);
                continue;
            };
            let name = rest.split_whitespace().next().unwrap_or_default();
            let local = format!("{name}_local");
            let body = rest[name.len()..].replace(
                "ENGINE = ReplacingMergeTree(version)",
                &format!(
                    "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{database}/{local}', '{{replica}}', version)"
                ),
            );
            out.push(format!("CREATE TABLE IF NOT EXISTS {database}.{local} ON CLUSTER {cluster}{body}"));
            out.push(distributed(name));
        }
        for name in recreate {
            out.push(format!("DROP TABLE IF EXISTS {database}.{name} ON CLUSTER {cluster}"));
            out.push(distributed(&name));
        }
        out
    }
}

/// Joins each run of consecutive `ALTER TABLE t …` statements of the same
/// table into one `ALTER TABLE t change, change, …`, keeping their order.
fn merge_alters(statements: Vec<String>) -> Vec<String> {
    let table = |statement: &str| statement.strip_prefix("ALTER TABLE ")?.split_whitespace().next().map(str::to_owned);
    let mut out: Vec<String> = Vec::with_capacity(statements.len());
    let mut last_table: Option<String> = None;
    for statement in statements {
        let this = table(&statement);
        match (&this, &last_table, out.last_mut()) {
            (Some(this_table), Some(previous), Some(merged)) if this_table == previous => {
                let change = &statement["ALTER TABLE ".len() + this_table.len()..];
                merged.push(',');
                merged.push_str(change);
            }
            _ => out.push(statement),
        }
        last_table = this;
    }
    out
}

/// The whole schema for `target` as one SQL file, for reading or for
/// applying by hand (`invigil migrate --cluster` applies the same statements
/// and keeps the ledger; prefer it).
pub fn cluster_ddl(target: ClusterTarget<'_>) -> String {
    let ClusterTarget { cluster, database } = target;
    let mut out = format!(
        "-- The invigil schema for the ClickHouse cluster `{cluster}`, database `{database}`:\n\
         -- replicated local tables and Distributed tables over them, sharded by candidate.\n\
         -- Generated from schemas/clickhouse by\n\
         --   invigil migrate --cluster-ddl {cluster} --database {database}\n\
         -- do not edit (a test compares this file with the generator's output).\n\
         -- `invigil migrate --cluster {cluster}` applies the same statements and records\n\
         -- them in a replicated ledger, which the pipeline checks before it starts.\n\n\
         {};\n\n{};\n",
        target.database_ddl(),
        target.ledger_ddl()
    );
    for migration in MIGRATIONS {
        out.push_str(&format!("\n-- {:03}_{}\n", migration.id, migration.name));
        for statement in migration.cluster_statements(Dialect::Modern, target) {
            out.push_str(&format!("{statement};\n"));
        }
        out.push_str(&format!("{};\n", target.ledger_insert(migration)));
    }
    out
}

/// Rewrites one modern statement for ClickHouse 18.16, keeping the wire format.
fn legacy_twin(statement: &str) -> Cow<'_, str> {
    let mut out = Vec::new();
    for line in statement.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("TTL ") {
            continue;
        }
        let mut line = line.replace("DateTime64(3, 'UTC')", "Int64").replace("LowCardinality(String)", "String");
        // 18.16 has no IF NOT EXISTS on columns; the ledger runs a migration once.
        line = line.replace("ADD COLUMN IF NOT EXISTS", "ADD COLUMN");
        if let Some(column) = trimmed.strip_prefix("PARTITION BY toYYYYMM(").and_then(|rest| rest.strip_suffix(')')) {
            line = format!("PARTITION BY toYYYYMM(toDateTime(intDiv({column}, 1000)))");
        }
        out.push(line);
    }
    Cow::Owned(out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/clickhouse");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| format!("{:03}_{}.sql", m.id, m.name)).collect();
        assert_eq!(files, listed);
        assert!(MIGRATIONS.windows(2).all(|w| w[0].id < w[1].id));
    }

    #[test]
    fn plan_skips_applied_and_refuses_edits_and_unknowns() {
        let first = &MIGRATIONS[0];
        let rest = pending(&[(first.id, first.checksum())]).unwrap();
        assert_eq!(rest.len(), MIGRATIONS.len() - 1);
        assert!(!rest.iter().any(|m| m.id == first.id));
        assert!(matches!(pending(&[(first.id, 1)]), Err(PlanError::Edited { .. })));
        assert_eq!(pending(&[(999, 0)]), Err(PlanError::Unknown(999)));
        assert_eq!(parse_ledger("1\t42\n\n2\t7\n").unwrap(), vec![(1, 42), (2, 7)]);
        assert!(parse_ledger("x").is_err());
    }

    #[test]
    fn the_cluster_schema_replicates_every_table_and_distributes_it_by_candidate() {
        let target = ClusterTarget { cluster: "invigil", database: "exams" };
        let ddl = cluster_ddl(target);
        assert!(ddl.contains("CREATE DATABASE IF NOT EXISTS exams ON CLUSTER invigil;"));
        assert!(ddl.contains("CREATE TABLE IF NOT EXISTS exams.invigil_schema_migrations ON CLUSTER invigil"));
        for table in ["proctor_events", "candidate_windows", "anomalies", "sessions", "reviews"] {
            assert!(
                ddl.contains(&format!("CREATE TABLE IF NOT EXISTS exams.{table}_local ON CLUSTER invigil")),
                "{table}"
            );
            assert!(ddl.contains(&format!(
                "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/exams/{table}_local', '{{replica}}', version)"
            )));
            assert!(ddl.contains(&format!(
                "ENGINE = Distributed(invigil, exams, {table}_local, cityHash64(test_id, candidate_id))"
            )));
        }
        assert!(ddl.contains(
            "ALTER TABLE exams.sessions_local ON CLUSTER invigil ADD COLUMN IF NOT EXISTS delivered_captures"
        ));
        assert!(!ddl.contains("ENGINE = ReplacingMergeTree"), "every engine replicated");
        assert_eq!(ddl.matches("INSERT INTO exams.invigil_schema_migrations").count(), MIGRATIONS.len());
        // Legacy twins go through the same rewrite.
        let legacy = MIGRATIONS[0].cluster_statements(Dialect::Legacy, target).join("\n");
        assert!(legacy.contains("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/exams/proctor_events_local'"));
        assert!(!legacy.contains("DateTime64"));
        let legacy: Vec<String> = MIGRATIONS[6].cluster_statements(Dialect::Legacy, target);
        assert!(legacy[0].starts_with("ALTER TABLE exams.sessions_local ON CLUSTER invigil ADD COLUMN"), "{legacy:?}");
        assert_eq!(legacy[1], "DROP TABLE IF EXISTS exams.sessions ON CLUSTER invigil");
        assert!(legacy[2]
            .starts_with("CREATE TABLE IF NOT EXISTS exams.sessions ON CLUSTER invigil AS exams.sessions_local"));
    }

    #[test]
    fn a_run_of_alters_of_one_table_becomes_one_alter_per_table() {
        let target = ClusterTarget { cluster: "invigil", database: "exams" };
        let face = MIGRATIONS.iter().find(|m| m.name == "face_checks").unwrap();
        let legacy = face.cluster_statements(Dialect::Legacy, target);
        let alters: Vec<&String> = legacy.iter().filter(|s| s.starts_with("ALTER TABLE")).collect();
        let tables: Vec<&str> = alters.iter().map(|s| s.split_whitespace().nth(2).unwrap()).collect();
        assert_eq!(tables, ["exams.proctor_events_local", "exams.candidate_windows_local", "exams.sessions_local"]);
        // Every change is kept, in the file's order, the enum first.
        let events = alters[0];
        assert!(events.contains(" MODIFY COLUMN type Enum8("), "{events}");
        let order = ["MODIFY COLUMN type", "ADD COLUMN faces", "ADD COLUMN face_confidence", "ADD COLUMN light"];
        let at: Vec<usize> = order.iter().map(|change| events.find(change).expect(change)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{events}");
        let changes = face.statements(Dialect::Legacy).iter().filter(|s| s.starts_with("ALTER TABLE")).count();
        let merged: usize =
            alters.iter().map(|s| s.matches(" ADD COLUMN ").count() + s.matches(" MODIFY COLUMN ").count()).sum();
        assert_eq!(merged, changes);
        // ALTERs of other tables in between are not merged across.
        let statements = vec![
            "ALTER TABLE a ADD COLUMN x UInt8".to_owned(),
            "ALTER TABLE b ADD COLUMN y UInt8".to_owned(),
            "ALTER TABLE a ADD COLUMN z UInt8".to_owned(),
            "ALTER TABLE a ADD COLUMN w UInt8 AFTER z".to_owned(),
        ];
        assert_eq!(
            merge_alters(statements),
            [
                "ALTER TABLE a ADD COLUMN x UInt8",
                "ALTER TABLE b ADD COLUMN y UInt8",
                "ALTER TABLE a ADD COLUMN z UInt8, ADD COLUMN w UInt8 AFTER z"
            ]
        );
    }

    #[test]
    fn legacy_twins_keep_names_and_drop_modern_syntax() {
        for migration in MIGRATIONS {
            let modern = migration.statements(Dialect::Modern).join("\n");
            let legacy = migration.statements(Dialect::Legacy).join("\n");
            for banned in ["DateTime64", "LowCardinality", "TTL ", "--"] {
                assert!(!legacy.contains(banned), "{} still has {banned}:\n{legacy}", migration.name);
            }
            let columns = |sql: &str| {
                sql.lines().filter_map(|l| l.split_whitespace().next().map(str::to_owned)).collect::<Vec<_>>()
            };
            if !modern.contains("CREATE TABLE") {
                // A change to existing tables: the same statements, columns named alike.
                assert!(modern.starts_with("ALTER TABLE"), "{}", migration.name);
                assert_eq!(columns(&modern), columns(&legacy));
                assert!(!legacy.contains("IF NOT EXISTS"), "18.16 has no IF NOT EXISTS on columns");
                continue;
            }
            assert!(modern.contains("TTL "), "{} has a retention TTL", migration.name);
            assert_eq!(columns(&modern).len(), columns(&legacy).len() + 1, "only the TTL line goes");
        }
    }
}
