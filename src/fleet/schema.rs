//! The fleet ledger's schema: versioned migrations (`migrations/*.sql`, embedded) recorded in
//! `medsettle_schema_version`, applied when a terminal connects.
//!
//! A thousand terminals may start at once against an empty database, so the steps run in one
//! transaction that first takes a transaction-scoped advisory lock ([`LOCK`]): one terminal
//! migrates, the others wait on the lock, then find the schema current and apply nothing. A
//! terminal that finds the schema already current never takes the lock at all. A database
//! newer than this code is used as it is (steps are additive only) with a warning.

use tokio_postgres::{Client, GenericClient};

use super::FleetError;

/// One step: the version it reaches, a name, its SQL.
struct Step {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every step, in order: `STEPS[i].version == i + 1`.
const STEPS: &[Step] = &[
    Step {
        version: 1,
        name: "ledger",
        sql: include_str!("migrations/0001_ledger.sql"),
    },
    Step {
        version: 2,
        name: "psn_sealed",
        sql: include_str!("migrations/0002_psn_sealed.sql"),
    },
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: i32 = 2;

const _: () = assert!(STEPS.len() == SCHEMA_VERSION as usize);

/// The advisory lock key of schema changes ("medsetl1" in ASCII): shared by every medsettle
/// terminal, used by nothing else.
const LOCK: i64 = i64::from_be_bytes(*b"medsetl1");

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS medsettle_schema_version (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// The ledger's schema version (0 for a database medsettle never migrated).
pub async fn schema_version(client: &impl GenericClient) -> Result<i32, FleetError> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('medsettle_schema_version') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let v: Option<i32> = client
        .query_one("SELECT max(version) FROM medsettle_schema_version", &[])
        .await?
        .get(0);
    Ok(v.unwrap_or(0))
}

/// Brings the ledger to [`SCHEMA_VERSION`]; answers the steps this call applied (none when
/// another terminal did it first).
pub(super) async fn migrate(client: &mut Client) -> Result<Vec<i32>, FleetError> {
    let found = schema_version(&*client).await?;
    if found >= SCHEMA_VERSION {
        if found > SCHEMA_VERSION {
            tracing::warn!(
                found,
                supported = SCHEMA_VERSION,
                "the fleet ledger's schema is newer than this terminal's code; writing what it knows"
            );
        }
        return Ok(Vec::new());
    }
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await?;
    tx.batch_execute(VERSION_TABLE).await?;
    // Read again under the lock: another terminal may have migrated while we waited.
    let at = schema_version(&tx).await?;
    let mut applied = Vec::new();
    for step in STEPS.iter().filter(|s| s.version > at) {
        tx.batch_execute(step.sql).await?;
        tx.execute(
            "INSERT INTO medsettle_schema_version (version, name) VALUES ($1, $2)",
            &[&step.version, &step.name],
        )
        .await?;
        applied.push(step.version);
    }
    tx.commit().await?;
    if !applied.is_empty() {
        tracing::info!(
            from = at,
            to = SCHEMA_VERSION,
            "fleet ledger schema migrated"
        );
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_numbered_in_order() {
        for (i, s) in STEPS.iter().enumerate() {
            assert_eq!(s.version as usize, i + 1, "{}", s.name);
        }
    }

    #[test]
    fn the_lock_key_spells_its_name() {
        assert_eq!(&LOCK.to_be_bytes(), b"medsetl1");
    }

    #[test]
    fn no_step_stores_clear_personal_data() {
        // Column names that would mean personal data in clear.
        for s in STEPS {
            let sql: String = s
                .sql
                .lines()
                .map(|l| l.split("--").next().unwrap_or("").to_lowercase() + "\n")
                .collect();
            for banned in [
                "psn_no ",
                "psn_name",
                "certno",
                "id_number",
                " name ",
                "card_no",
            ] {
                assert!(!sql.contains(banned), "step {} has `{banned}`", s.name);
            }
        }
    }
}
