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

/// The schema for a ClickHouse cluster named `cluster`, from the same files:
/// each table becomes a replicated `{name}_local` on every node and a
/// `Distributed` table `{name}` over them, sharded by candidate. Readers and
/// writers keep using the plain names, and all rows of one candidate live on
/// one shard, where `ReplacingMergeTree` can fold their re-deliveries
/// (`FINAL` deduplicates within a shard only).
pub fn cluster_ddl(cluster: &str) -> String {
    let mut out = format!(
        "-- The invigil schema for the ClickHouse cluster `{cluster}`: replicated local\n\
         -- tables and Distributed tables over them, sharded by candidate.\n\
         -- Generated from schemas/clickhouse by `invigil migrate --cluster-ddl {cluster}`;\n\
         -- do not edit (a test compares this file with the generator's output).\n"
    );
    for migration in MIGRATIONS {
        for statement in migration.statements(Dialect::Modern) {
            if let Some(rest) = statement.strip_prefix("ALTER TABLE ") {
                // Local tables first: a Distributed table's columns must exist below it.
                let name = rest.split_whitespace().next().unwrap_or_default();
                let change = &rest[name.len()..];
                out.push_str(&format!(
                    "\n-- {:03}_{}\nALTER TABLE {name}_local ON CLUSTER {cluster}{change};\n\
                     ALTER TABLE {name} ON CLUSTER {cluster}{change};\n",
                    migration.id, migration.name
                ));
                continue;
            }
            let Some(rest) = statement.strip_prefix("CREATE TABLE IF NOT EXISTS ") else {
                out.push_str(&format!(
                    "\n-- {:03}_{}: not a table; apply by hand\n{statement};\n",
                    migration.id, migration.name
                ));
                continue;
            };
            let name = rest.split_whitespace().next().unwrap_or_default();
            let local = format!("{name}_local");
            let body = rest[name.len()..].replace(
                "ENGINE = ReplacingMergeTree(version)",
                &format!(
                    "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{{database}}/{local}', '{{replica}}', version)"
                ),
            );
            out.push_str(&format!(
                "\n-- {:03}_{}\nCREATE TABLE IF NOT EXISTS {local} ON CLUSTER {cluster}{body};\n\n\
                 CREATE TABLE IF NOT EXISTS {name} ON CLUSTER {cluster} AS {local}\n\
                 ENGINE = Distributed({cluster}, currentDatabase(), {local}, cityHash64(test_id, candidate_id));\n",
                migration.id, migration.name
            ));
        }
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
        let ddl = cluster_ddl("invigil");
        for table in ["proctor_events", "candidate_windows", "anomalies", "sessions", "reviews"] {
            assert!(ddl.contains(&format!("CREATE TABLE IF NOT EXISTS {table}_local ON CLUSTER invigil")), "{table}");
            assert!(ddl.contains(&format!(
                "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/{{database}}/{table}_local', '{{replica}}', version)"
            )));
            assert!(ddl.contains(&format!(
                "ENGINE = Distributed(invigil, currentDatabase(), {table}_local, cityHash64(test_id, candidate_id))"
            )));
        }
        assert!(!ddl.contains("ENGINE = ReplacingMergeTree"), "every engine replicated");
        assert!(!ddl.contains("not a table"));
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
