-- Fleet ledger schema v1 (PostgreSQL). Applied by src/fleet/schema.rs in one transaction under
-- an advisory lock; recorded in medsettle_schema_version. Steps are additive only (new tables,
-- new nullable columns): a terminal still running older code keeps writing what it knows.
-- No personal data: no names, no ID numbers, no clear psn_no (psn_hash is an HMAC-SHA256 under
-- the fleet's psn_key).

-- Every terminal's settlement facts (src/settle/facts.rs): one row per settlement
-- (refund = false) and one per cancellation (refund = true) of a sale or visit. Written by
-- idempotent upserts keyed by (institution, terminal, sale, refund); `version` is the sale's
-- history seq at the time it was read, and an older version never overwrites a newer one.
-- `state` is the sale's state, or 'void' for a line the sale no longer has.
CREATE TABLE settlement_facts (
    fixmedins_code   text        NOT NULL,
    terminal_id      text        NOT NULL,
    sale_id          text        NOT NULL,
    refund           boolean     NOT NULL,
    version          bigint      NOT NULL,
    kind             text        NOT NULL,
    state            text        NOT NULL,
    msgid            text        NOT NULL,
    setl_id          text        NOT NULL,
    original_setl_id text,
    mdtrt_id         text        NOT NULL,
    psn_hash         text        NOT NULL,
    insutype         text        NOT NULL,
    clr_type         text        NOT NULL,
    clr_optins       text        NOT NULL,
    setl_time        text,
    day              date,
    medfee_fen       bigint      NOT NULL,
    fund_fen         bigint      NOT NULL,
    account_fen      bigint      NOT NULL,
    cash_fen         bigint      NOT NULL,
    from_answer      boolean     NOT NULL,
    sale_created_at  timestamptz NOT NULL,
    sale_updated_at  timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fixmedins_code, terminal_id, sale_id, refund)
);
-- 3201/3202 over a day of the whole institution.
CREATE INDEX settlement_facts_day ON settlement_facts (fixmedins_code, day);
CREATE INDEX settlement_facts_setl_id ON settlement_facts (setl_id);

-- One row per terminal, refreshed by its heartbeat.
CREATE TABLE terminals (
    fixmedins_code   text        NOT NULL,
    terminal_id      text        NOT NULL,
    last_seen        timestamptz NOT NULL,
    queue_depth      bigint      NOT NULL,
    in_doubt         bigint      NOT NULL,
    outbox_rows      bigint      NOT NULL,
    outbox_lag_ms    bigint      NOT NULL,
    software_version text        NOT NULL,
    PRIMARY KEY (fixmedins_code, terminal_id)
);

-- Institution-wide reconciliation results (3201, 3202 on a mismatch), written by whichever
-- terminal ran the day. A run writes one row per group (group_key 'insutype/clr_type/
-- setl_optins') and one with group_key '' holding the whole day's verdict.
CREATE TABLE reconciliations (
    id               bigserial   PRIMARY KEY,
    fixmedins_code   text        NOT NULL,
    day              date        NOT NULL,
    group_key        text        NOT NULL,
    result           text        NOT NULL CHECK (result IN ('balanced', 'unbalanced', 'failed')),
    report           jsonb       NOT NULL,
    runner_terminal  text        NOT NULL,
    ran_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reconciliations_day ON reconciliations (fixmedins_code, day, ran_at DESC);
