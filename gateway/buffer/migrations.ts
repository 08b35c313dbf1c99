/**
 * Schema migrations, applied in order inside one transaction each; `PRAGMA user_version` records the last one.
 * Never edit a released migration: append a new one. Only ciphertexts and bookkeeping live here (invariant 1).
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the buffer of the spine.
  `
  -- One Paillier ciphertext per meter and interval, awaiting its neighbourhood aggregation.
  CREATE TABLE readings (
    meter_id       TEXT    NOT NULL,
    neighbourhood  TEXT    NOT NULL,
    interval_start INTEGER NOT NULL,
    ciphertext     BLOB    NOT NULL,
    PRIMARY KEY (meter_id, interval_start)
  ) WITHOUT ROWID;
  CREATE INDEX readings_by_group ON readings (neighbourhood, interval_start);

  -- The last interval accepted per meter: readings must move forward (duplicates are refused).
  CREATE TABLE meter_cursors (
    meter_id            TEXT    PRIMARY KEY,
    last_interval_start INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- Every (neighbourhood, interval) ever decided, so none is released twice (invariant 2).
  CREATE TABLE decided_groups (
    neighbourhood  TEXT    NOT NULL,
    interval_start INTEGER NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('released', 'suppressed')),
    decided_at     INTEGER NOT NULL,
    PRIMARY KEY (neighbourhood, interval_start)
  ) WITHOUT ROWID;

  -- Running encrypted totals per billing account and period.
  CREATE TABLE billing_periods (
    account      TEXT    NOT NULL,
    period_start INTEGER NOT NULL,
    period_end   INTEGER NOT NULL,
    ciphertext   BLOB    NOT NULL,
    intervals    INTEGER NOT NULL,
    closed       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, period_start)
  ) WITHOUT ROWID;

  -- Released records waiting for a batch and its acknowledgement.
  CREATE TABLE outbox (
    record_id    TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('aggregate', 'suppressed', 'bill')),
    body         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    batch_id     TEXT,
    group_nb     TEXT,
    group_start  INTEGER,
    account      TEXT,
    period_start INTEGER
  );
  CREATE INDEX outbox_by_batch ON outbox (batch_id, created_at);

  -- Signed batch messages, kept byte for byte until acknowledged.
  CREATE TABLE batches (
    batch_id        TEXT    PRIMARY KEY,
    seq             INTEGER NOT NULL UNIQUE,
    message         TEXT    NOT NULL,
    body_digest     TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL
  );

  CREATE TABLE state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 2: fewer pages written per reading (SD-card wear, docs/performance.md "SQLite writes").
  `
  -- Readings in arrival order (a rowid table): a new reading is appended to the last page instead of rewriting
  -- the page of its meter's earlier rows. The cursor, checked in the same transaction, refuses duplicates.
  CREATE TABLE readings_v2 (
    meter_id       TEXT    NOT NULL,
    neighbourhood  TEXT    NOT NULL,
    interval_start INTEGER NOT NULL,
    ciphertext     BLOB    NOT NULL
  );
  INSERT INTO readings_v2 (meter_id, neighbourhood, interval_start, ciphertext)
    SELECT meter_id, neighbourhood, interval_start, ciphertext FROM readings ORDER BY interval_start, meter_id;
  DROP TABLE readings;
  ALTER TABLE readings_v2 RENAME TO readings;
  CREATE INDEX readings_by_group ON readings (neighbourhood, interval_start);

  -- Ciphertexts accepted but not yet folded into their account's running total (billing_periods): appended at
  -- intake, folded in one transaction per interval, so a total is rewritten once per interval, not per reading.
  CREATE TABLE pending_bills (
    account      TEXT    NOT NULL,
    period_start INTEGER NOT NULL,
    period_end   INTEGER NOT NULL,
    ciphertext   BLOB    NOT NULL
  );
  `,
  // 3: readings from ahead of the gateway's clock, held until it catches up (docs/buffer.md "Clock").
  `
  -- Ciphertexts of readings that end after the gateway's "now": a Raspberry Pi has no real-time clock and may
  -- run hours or days behind the meters until NTP has set it. Released into readings/pending_bills when the
  -- gateway's clock reaches them; a reading delivered twice while held is kept once.
  CREATE TABLE held_readings (
    meter_id       TEXT    NOT NULL,
    interval_start INTEGER NOT NULL,
    interval_end   INTEGER NOT NULL,
    ciphertext     BLOB    NOT NULL,
    held_at        INTEGER NOT NULL,
    PRIMARY KEY (meter_id, interval_start)
  );
  CREATE INDEX held_readings_by_end ON held_readings (interval_end);
  `,
  // 4: households' enrolled keys (docs/customers.md).
  `
  -- The public keys a household enrolled for its meter: readings are sealed to "sealing" (X25519) and its
  -- requests verified with "signing" (Ed25519). code_key: the enrolment code (its public key) the household
  -- enrolled with, or inherited by re-keying: a code enrols once, and a new code for the meter revokes this row.
  -- last_seq: the highest request sequence number seen for the meter, so no request is ever accepted twice.
  CREATE TABLE customers (
    meter_id    TEXT    PRIMARY KEY,
    sealing     TEXT    NOT NULL,
    signing     TEXT    NOT NULL,
    pseudonym   TEXT    NOT NULL UNIQUE,
    code_key    TEXT    NOT NULL,
    enrolled_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE customer_seq (
    meter_id TEXT    PRIMARY KEY,
    last_seq INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 5: households' history (docs/customers.md).
  `
  -- Each reading of an enrolled meter, sealed to its household's key (the gateway cannot open it), kept for
  -- customers.historyDays and served on the household's signed request. "pseudonym" is the stream it was sealed
  -- for: a household is served what was sealed to its current key only.
  CREATE TABLE customer_history (
    meter_id       TEXT    NOT NULL,
    interval_start INTEGER NOT NULL,
    interval_end   INTEGER NOT NULL,
    pseudonym      TEXT    NOT NULL,
    sealed         TEXT    NOT NULL,
    PRIMARY KEY (meter_id, interval_start)
  );
  CREATE INDEX customer_history_by_end ON customer_history (interval_end);
  `,
  // 6: households' consents to third parties (docs/customers.md "Consent").
  `
  -- Every grant and revoke of a household's consent, and every end the gateway records (expiry is in the grant;
  -- an end is written when the household is revoked), as an append-only hash chain per tenancy (meter and the
  -- enrolment code its household enrolled with): "entry" is the exact JSON text that was hashed, and it names
  -- the previous entry's hash. The household reads the chain back and checks it. Rows are never changed or
  -- deleted (the triggers refuse it); a household's erase request erases its readings, not this record.
  CREATE TABLE consent_log (
    meter_id TEXT    NOT NULL,
    code_key TEXT    NOT NULL,
    idx      INTEGER NOT NULL,
    entry    TEXT    NOT NULL,
    hash     TEXT    NOT NULL,
    PRIMARY KEY (meter_id, code_key, idx)
  ) WITHOUT ROWID;
  CREATE TRIGGER consent_log_no_update BEFORE UPDATE ON consent_log
    BEGIN SELECT RAISE(ABORT, 'consent_log is append-only'); END;
  CREATE TRIGGER consent_log_no_delete BEFORE DELETE ON consent_log
    BEGIN SELECT RAISE(ABORT, 'consent_log is append-only'); END;
  -- Which intervals of an open hour or day have been sent to a third party (no values: the values went out
  -- masked and sealed), so that the masks of the missing ones can be sent when the span closes.
  CREATE TABLE shared_sent (
    consent_id TEXT    NOT NULL,
    span_start INTEGER NOT NULL,
    span_end   INTEGER NOT NULL,
    slot       INTEGER NOT NULL,
    PRIMARY KEY (consent_id, span_start, slot)
  ) WITHOUT ROWID;
  -- Messages for third parties, sealed to their keys, until the broker has acknowledged them.
  CREATE TABLE shared_outbox (
    topic   TEXT NOT NULL,
    message TEXT NOT NULL
  );
  `,
  // 7: cost-only bills (billing.reveal, docs/buffer.md "Billing").
  `
  -- The tariff band of each queued reading (NULL for readings queued before this version), so that a
  -- cost-only period can keep one total per band.
  ALTER TABLE pending_bills ADD COLUMN band INTEGER;

  -- Each period records the reveal mode it was opened with and keeps it to the end: "bands" keeps the running
  -- packed total in ciphertext; "cost-only" keeps its totals per band in billing_bands and no ciphertext here.
  CREATE TABLE billing_periods_v7 (
    account      TEXT    NOT NULL,
    period_start INTEGER NOT NULL,
    period_end   INTEGER NOT NULL,
    ciphertext   BLOB,
    intervals    INTEGER NOT NULL,
    closed       INTEGER NOT NULL DEFAULT 0,
    reveal       TEXT    NOT NULL DEFAULT 'bands' CHECK (reveal IN ('bands', 'cost-only')),
    CHECK ((reveal = 'bands') = (ciphertext IS NOT NULL)),
    PRIMARY KEY (account, period_start)
  ) WITHOUT ROWID;
  INSERT INTO billing_periods_v7 (account, period_start, period_end, ciphertext, intervals, closed)
    SELECT account, period_start, period_end, ciphertext, intervals, closed FROM billing_periods;
  DROP TABLE billing_periods;
  ALTER TABLE billing_periods_v7 RENAME TO billing_periods;

  -- The running encrypted total of each band of a cost-only period (the product of its band's readings).
  CREATE TABLE billing_bands (
    account      TEXT    NOT NULL,
    period_start INTEGER NOT NULL,
    band         INTEGER NOT NULL,
    ciphertext   BLOB    NOT NULL,
    PRIMARY KEY (account, period_start, band)
  ) WITHOUT ROWID;
  `,
  // 8: third parties' spans (docs/customers.md "Consent"), after a security review.
  `
  -- One row per span of a consent that has had a slot sent: a random mask seed while the span is open (so a
  -- stolen card reveals the masks of open spans only), NULL once it is closed. The closed mark stays (until the
  -- span is older than any reading the gateway accepts), so that no slot of a closed span ever goes out again,
  -- whatever the clock does: a slot sent after its mask went out as "missing" would reveal its reading.
  CREATE TABLE shared_spans (
    consent_id TEXT    NOT NULL,
    span_start INTEGER NOT NULL,
    span_end   INTEGER NOT NULL,
    seed       BLOB,
    PRIMARY KEY (consent_id, span_start)
  ) WITHOUT ROWID;
  CREATE INDEX shared_spans_open ON shared_spans (span_end) WHERE seed IS NOT NULL;
  -- Queued messages name their consent, so that a revoke withdraws those not yet sent.
  ALTER TABLE shared_outbox ADD COLUMN consent_id TEXT;
  `,
  // 9: meters are devices, bound for life (issue #14 A, docs/fleet.md "Membership is bound to devices").
  `
  -- Each identity a meter was known by (its own: DSMR equipment id, SML server id, …, kind 'device'; or where
  -- it is read: a port's paths, a Modbus endpoint and unit, a topic, kind 'source'), bound to one meter id and
  -- one neighbourhood forever. Only a re-home on site (scripts/gateway rehome) deletes a meter's rows.
  CREATE TABLE device_bindings (
    identity      TEXT    PRIMARY KEY,
    kind          TEXT    NOT NULL CHECK (kind IN ('device', 'source')),
    meter_id      TEXT    NOT NULL,
    neighbourhood TEXT    NOT NULL,
    bound_at      INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX device_bindings_by_meter ON device_bindings (meter_id);

  -- Every meter id that has carried data: bound (to its neighbourhood) or retired (removed remotely, or
  -- re-homed). A retired id is never used again, locally or remotely.
  CREATE TABLE meter_ids (
    meter_id      TEXT    PRIMARY KEY,
    neighbourhood TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('bound', 'retired')),
    since         INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- Every neighbourhood id that has carried data; a retired one is never used again.
  CREATE TABLE neighbourhood_ids (
    neighbourhood TEXT    PRIMARY KEY,
    state         TEXT    NOT NULL CHECK (state IN ('live', 'retired')),
    since         INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- The on-site re-homes, for the log and the health message.
  CREATE TABLE rehomes (
    meter_id TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    reason   TEXT    NOT NULL
  );

  -- Enrolment codes used, by their public key: a used code never enrols again, whatever happens to the
  -- household's enrolment or the meter afterwards.
  CREATE TABLE used_enrolment_codes (
    code_key  TEXT    PRIMARY KEY,
    meter_id  TEXT    NOT NULL,
    identity  TEXT,
    used_at   INTEGER NOT NULL
  ) WITHOUT ROWID;
  -- The codes of the households enrolled now were used too.
  INSERT OR IGNORE INTO used_enrolment_codes (code_key, meter_id, identity, used_at)
    SELECT code_key, meter_id, NULL, enrolled_at FROM customers;
  `,
  // 10: bills withheld after a removal (issue #14, docs/privacy.md "Bills of accounts touched by a removal").
  `
  -- The open billing periods of accounts that lost a meter to a removal: their totals were deleted, and no
  -- later reading is billed into them (a bill cut short at the removal would reveal a household's readings).
  CREATE TABLE withheld_bills (
    account      TEXT    NOT NULL,
    period_start INTEGER NOT NULL,
    withheld_at  INTEGER NOT NULL,
    reason       TEXT    NOT NULL,
    PRIMARY KEY (account, period_start)
  ) WITHOUT ROWID;
  `,
  // 11: meters added by a command, so the hold on a Modbus one until it reports its serial survives a restart.
  `
  -- Every meter id a remote command added (issue #14 A): a Modbus one is read only once it has reported the serial
  -- its map names (an endpoint alone has many spellings), after a restart as before.
  CREATE TABLE commanded_meters (
    meter_id TEXT    PRIMARY KEY,
    added_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 12: integrity of stored batches (issue #20, docs/buffer.md "Integrity of stored batches").
  `
  -- SHA-256 (hex) of each record's body as written, so a batch can be rebuilt from records known intact.
  -- NULL for records written before this version: trusted as they are.
  ALTER TABLE outbox ADD COLUMN checksum TEXT;
  -- How often the batch was rebuilt from its records (once at most: then it is quarantined).
  ALTER TABLE batches ADD COLUMN rebuilds INTEGER NOT NULL DEFAULT 0;
  -- A quarantined batch is never sent again; it and its records stay until an operator decides (never deleted
  -- silently): when, under which code and why.
  ALTER TABLE batches ADD COLUMN quarantined_at INTEGER;
  ALTER TABLE batches ADD COLUMN quarantine_code TEXT;
  ALTER TABLE batches ADD COLUMN quarantine_reason TEXT;
  `,
];
