//! One terminal's connection to the fleet ledger (PostgreSQL through `tokio-postgres`): TLS
//! when configured, the schema brought up to date at connect, the idempotent version-guarded
//! upserts of settlement facts, the heartbeat, and the reads of the fleet view.
//!
//! Every write is keyed by (institution, terminal, sale, refund) and guarded by the sale's
//! version, so sending a sale twice, or an older state after a newer one, changes nothing:
//! that is what makes the outbox's "at least once" land exactly once. Nothing here waits or
//! retries: the drain does (`drain.rs`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};

use super::rows::SaleFacts;
use super::view::{FleetView, ReconciliationRow, Summary, TerminalRow};
use super::{FleetError, FleetOptions, TlsOptions, schema};
use crate::secret::Secret;

/// How long connecting may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a terminal reports of itself on each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalBeat {
    /// Stored (offline) sales not yet settled, cancelled or abandoned.
    pub queue_depth: u64,
    /// Sales whose outcome at the platform is in doubt.
    pub in_doubt: u64,
    /// Outbox rows waiting for the ledger.
    pub outbox_rows: u64,
    /// The age of the oldest of them, ms (0 when none).
    pub outbox_lag_ms: i64,
}

/// A connection to the ledger, as one terminal of one institution.
pub struct Ledger {
    client: Client,
    connection: tokio::task::JoinHandle<()>,
    terminal_id: String,
    fixmedins_code: String,
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

const UPSERT: &str = "INSERT INTO settlement_facts (fixmedins_code, terminal_id, sale_id, refund,
        version, kind, state, msgid, setl_id, original_setl_id, mdtrt_id, psn_hash, insutype,
        clr_type, clr_optins, setl_time, day, medfee_fen, fund_fen, account_fen, cash_fen,
        from_answer, sale_created_at, sale_updated_at, psn_sealed)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24, $25)
    ON CONFLICT (fixmedins_code, terminal_id, sale_id, refund) DO UPDATE SET
        version = EXCLUDED.version, kind = EXCLUDED.kind, state = EXCLUDED.state,
        msgid = EXCLUDED.msgid, setl_id = EXCLUDED.setl_id,
        original_setl_id = EXCLUDED.original_setl_id, mdtrt_id = EXCLUDED.mdtrt_id,
        psn_hash = EXCLUDED.psn_hash, insutype = EXCLUDED.insutype,
        clr_type = EXCLUDED.clr_type, clr_optins = EXCLUDED.clr_optins,
        setl_time = EXCLUDED.setl_time, day = EXCLUDED.day, medfee_fen = EXCLUDED.medfee_fen,
        fund_fen = EXCLUDED.fund_fen, account_fen = EXCLUDED.account_fen,
        cash_fen = EXCLUDED.cash_fen, from_answer = EXCLUDED.from_answer,
        sale_created_at = EXCLUDED.sale_created_at, sale_updated_at = EXCLUDED.sale_updated_at,
        psn_sealed = EXCLUDED.psn_sealed, recorded_at = now()
    WHERE settlement_facts.version < EXCLUDED.version";

/// The lines a sale no longer has (a line whose refund flag is not among `$4`) become void,
/// under the same version guard.
const VOID: &str = "UPDATE settlement_facts SET state = 'void', version = $5, recorded_at = now()
    WHERE fixmedins_code = $1 AND terminal_id = $2 AND sale_id = $3
      AND NOT (refund = ANY($4)) AND version < $5 AND state <> 'void'";

const BEAT: &str = "INSERT INTO terminals (fixmedins_code, terminal_id, last_seen, queue_depth,
        in_doubt, outbox_rows, outbox_lag_ms, software_version)
    VALUES ($1, $2, now(), $3, $4, $5, $6, $7)
    ON CONFLICT (fixmedins_code, terminal_id) DO UPDATE SET last_seen = now(),
        queue_depth = EXCLUDED.queue_depth, in_doubt = EXCLUDED.in_doubt,
        outbox_rows = EXCLUDED.outbox_rows, outbox_lag_ms = EXCLUDED.outbox_lag_ms,
        software_version = EXCLUDED.software_version";

impl Ledger {
    /// Connects (TLS as configured) and brings the schema up to date.
    pub async fn connect(
        options: &FleetOptions,
        credentials_dir: Option<&Path>,
    ) -> Result<Ledger, FleetError> {
        let mut ledger = Ledger::connect_only(options, credentials_dir).await?;
        schema::migrate(&mut ledger.client).await?;
        Ok(ledger)
    }

    /// Connects without touching the schema (a reader such as `medsettle fleet status`).
    pub async fn connect_only(
        options: &FleetOptions,
        credentials_dir: Option<&Path>,
    ) -> Result<Ledger, FleetError> {
        let url =
            Secret::load(&options.url, credentials_dir).map_err(|source| FleetError::Secret {
                key: "postgres.url",
                source,
            })?;
        let mut config: Config = url
            .expose()
            .parse()
            .map_err(|e: tokio_postgres::Error| FleetError::BadUrl(e.to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(format!("medsettle {}", options.terminal_id));
        }
        let (client, connection) = match &options.tls {
            None => {
                let (client, conn) = config.connect(NoTls).await?;
                (client, tokio::spawn(watch(conn)))
            }
            Some(tls) => {
                config.ssl_mode(if tls.require {
                    SslMode::Require
                } else {
                    SslMode::Prefer
                });
                let connector = tokio_postgres_rustls::MakeRustlsConnect::new(client_tls(tls)?);
                let (client, conn) = config.connect(connector).await?;
                (client, tokio::spawn(watch(conn)))
            }
        };
        Ok(Ledger {
            client,
            connection,
            terminal_id: options.terminal_id.clone(),
            fixmedins_code: options.fixmedins_code.clone(),
        })
    }

    /// The connection broke (PostgreSQL stopped, the network went): connect anew.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The client, for tests and the fleet reconciliation.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client, to open a transaction.
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Writes the facts of `sales` in one transaction: each line upserted under its version
    /// guard, the lines a sale no longer has made void. Answers once PostgreSQL committed.
    pub async fn upsert(&mut self, sales: &[SaleFacts]) -> Result<(), FleetError> {
        let tx = self.client.transaction().await?;
        let upsert = tx.prepare(UPSERT).await?;
        let void = tx.prepare(VOID).await?;
        for s in sales {
            let created = at(s.created_at_ms);
            let updated = at(s.updated_at_ms);
            for r in &s.rows {
                tx.execute(
                    &upsert,
                    &[
                        &self.fixmedins_code,
                        &self.terminal_id,
                        &s.sale_id,
                        &r.refund,
                        &s.version,
                        &r.kind,
                        &s.state,
                        &r.msgid,
                        &r.setl_id,
                        &r.original_setl_id,
                        &r.mdtrt_id,
                        &r.psn_hash,
                        &r.insutype,
                        &r.clr_type,
                        &r.clr_optins,
                        &r.setl_time,
                        &r.day,
                        &r.medfee_fen,
                        &r.fund_fen,
                        &r.account_fen,
                        &r.cash_fen,
                        &r.from_answer,
                        &created,
                        &updated,
                        &r.psn_sealed,
                    ],
                )
                .await?;
            }
            let present: Vec<bool> = s.rows.iter().map(|r| r.refund).collect();
            tx.execute(
                &void,
                &[
                    &self.fixmedins_code,
                    &self.terminal_id,
                    &s.sale_id,
                    &present,
                    &s.version,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Refreshes this terminal's row (`last_seen` is PostgreSQL's clock, the same for every
    /// terminal).
    pub async fn beat(&self, beat: &TerminalBeat) -> Result<(), FleetError> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.client
            .execute(
                BEAT,
                &[
                    &self.fixmedins_code,
                    &self.terminal_id,
                    &n(beat.queue_depth),
                    &n(beat.in_doubt),
                    &n(beat.outbox_rows),
                    &beat.outbox_lag_ms,
                    &env!("CARGO_PKG_VERSION"),
                ],
            )
            .await?;
        Ok(())
    }

    /// The institution's fleet: a summary, at most `limit` terminals (those needing attention
    /// first), and the last reconciliation of each of the `days` most recent days that have
    /// one. A terminal unseen for `stale_after` counts as stale.
    pub async fn view(
        &self,
        limit: u32,
        days: u32,
        stale_after: Duration,
    ) -> Result<FleetView, FleetError> {
        let stale_s = stale_after.as_secs_f64();
        let code = &self.fixmedins_code;
        let s = self
            .client
            .query_one(
                "SELECT now(), count(*),
                        count(*) FILTER (WHERE last_seen < now() - make_interval(secs => $2)),
                        coalesce(sum(queue_depth), 0)::bigint, coalesce(sum(in_doubt), 0)::bigint,
                        coalesce(sum(outbox_rows), 0)::bigint,
                        coalesce(max(outbox_lag_ms), 0)::bigint
                 FROM terminals WHERE fixmedins_code = $1",
                &[code, &stale_s],
            )
            .await?;
        let as_of: DateTime<Utc> = s.get(0);
        let summary = Summary {
            terminals: count(s.get(1)),
            stale: count(s.get(2)),
            queue_depth: count(s.get(3)),
            in_doubt: count(s.get(4)),
            outbox_rows: count(s.get(5)),
            max_outbox_lag_ms: s.get(6),
        };
        let limit = i64::from(limit);
        let terminals = self
            .client
            .query(
                "SELECT terminal_id, last_seen, queue_depth, in_doubt, outbox_rows,
                        outbox_lag_ms, software_version,
                        last_seen < now() - make_interval(secs => $2)
                 FROM terminals WHERE fixmedins_code = $1
                 ORDER BY (last_seen < now() - make_interval(secs => $2)) DESC,
                          in_doubt DESC, outbox_lag_ms DESC, terminal_id
                 LIMIT $3",
                &[code, &stale_s, &limit],
            )
            .await?
            .iter()
            .map(|r| TerminalRow {
                terminal_id: r.get(0),
                last_seen: r.get(1),
                queue_depth: count(r.get(2)),
                in_doubt: count(r.get(3)),
                outbox_rows: count(r.get(4)),
                outbox_lag_ms: r.get(5),
                software_version: r.get(6),
                stale: r.get(7),
            })
            .collect();
        let reconciliations = self
            .client
            .query(
                "SELECT DISTINCT ON (day) day, result, runner_terminal, ran_at
                 FROM reconciliations WHERE fixmedins_code = $1 AND group_key = ''
                 ORDER BY day DESC, ran_at DESC LIMIT $2",
                &[code, &i64::from(days)],
            )
            .await?
            .iter()
            .map(|r| ReconciliationRow {
                day: r.get(0),
                result: r.get(1),
                runner_terminal: r.get(2),
                ran_at: r.get(3),
            })
            .collect();
        Ok(FleetView {
            fixmedins_code: code.clone(),
            as_of,
            summary,
            terminals,
            reconciliations,
        })
    }
}

/// Runs the connection until it ends, logging why (its end is seen as `is_closed`).
async fn watch<S, T>(conn: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = conn.await {
        tracing::warn!(error = %e, "fleet ledger connection ended");
    }
}

/// A count column as `u64`.
fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Unix ms as a `timestamptz`.
fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The rustls client config: the CA file's certificates, else the system's.
fn client_tls(tls: &TlsOptions) -> Result<rustls::ClientConfig, FleetError> {
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(path) => {
            use rustls_pki_types::pem::PemObject;
            let ca = |reason: String| FleetError::Ca {
                path: path.clone(),
                reason,
            };
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| ca(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ca(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca("no certificate in the file".into()));
            }
            for c in certs {
                roots.add(c).map_err(|e| ca(e.to_string()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FleetError::Ca {
            path: tls.ca_file.clone().unwrap_or_default(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
