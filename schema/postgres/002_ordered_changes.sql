-- Stowage index schema for PostgreSQL, version 2: one ordered change log for the whole cluster.
--
-- Version 1 numbered a change when it was logged (BIGSERIAL). Transactions commit in another
-- order than the numbers they took, so a client following /changes?since=N could skip a change
-- numbered below N that became visible after N had been listed. From version 2:
--
-- * log_change inserts the row unpublished: `seq` NULL, a provisional number `pendingId` (from
--   the sequence ChangesPending, taken without any lock). Readers of the log only see rows
--   with a `seq`.
-- * in the round trip of COMMIT, StowagePublishChanges() locks the single row of
--   ChangesCounter, numbers the transaction's unpublished rows above every published `seq`,
--   and moves the counter. The row lock is held until COMMIT has made the rows visible, so
--   publishers commit one at a time, in `seq` order: once a change with seq N is visible,
--   every change with a smaller seq already is (no hole can fill later). Only that final
--   statement and the COMMIT are serialized, and nothing else is locked after the counter
--   (no deadlock).
-- * ChangesCounter.value is the last published seq: the last change index, which survives
--   deletions and clearing of the log.
--
-- Existing changes keep their seq; the counter starts from the old sequence.

ALTER TABLE Changes ALTER COLUMN seq DROP DEFAULT;
ALTER TABLE Changes DROP CONSTRAINT changes_pkey;
ALTER TABLE Changes ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE Changes ADD CONSTRAINT ChangesSeq UNIQUE (seq);

-- The old sequence goes on as the source of provisional numbers (all above the existing seqs).
ALTER SEQUENCE changes_seq_seq OWNED BY NONE;
ALTER SEQUENCE changes_seq_seq RENAME TO ChangesPending;
ALTER TABLE Changes ADD COLUMN pendingId BIGINT;
UPDATE Changes SET pendingId = seq;
ALTER TABLE Changes ALTER COLUMN pendingId SET NOT NULL;
ALTER TABLE Changes ALTER COLUMN pendingId SET DEFAULT nextval('ChangesPending');
ALTER TABLE Changes ADD PRIMARY KEY (pendingId);
ALTER SEQUENCE ChangesPending OWNED BY Changes.pendingId;
-- Finds a transaction's unpublished rows at commit without scanning the log.
CREATE INDEX ChangesUnpublished ON Changes(pendingId) WHERE seq IS NULL;

CREATE TABLE ChangesCounter(
    onlyRow BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (onlyRow),
    value BIGINT NOT NULL
);
INSERT INTO ChangesCounter(value)
    SELECT GREATEST(
        COALESCE((SELECT MAX(seq) FROM Changes), 0),
        (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ChangesPending));

-- Publishes the changes the current transaction logged; called (by the backend) right before
-- COMMIT, in the same round trip, and only by transactions that logged changes. Runs at
-- READ COMMITTED, as every write transaction.
CREATE FUNCTION StowagePublishChanges() RETURNS VOID AS $$
DECLARE
    pending BIGINT;
    firstPending BIGINT;
    lastPending BIGINT;
    published BIGINT;
BEGIN
    -- Unpublished rows are this transaction's: other writers' rows are invisible until they
    -- commit, and they publish them before. Rows deleted since they were logged (deletion of
    -- their resource, clear_changes) are simply not numbered.
    SELECT count(*), min(pendingId), max(pendingId) INTO pending, firstPending, lastPending
        FROM Changes WHERE seq IS NULL;
    IF pending = 0 THEN
        RETURN;
    END IF;
    -- Waits for the previous publisher's COMMIT, then reads the counter it left.
    SELECT value INTO published FROM ChangesCounter FOR UPDATE;
    IF firstPending > published THEN
        -- No other transaction published a higher number meanwhile (always so with one
        -- writer at a time): the provisional numbers become the seqs, so that log_change
        -- returned the real seq.
        UPDATE Changes SET seq = pendingId WHERE seq IS NULL;
        published := lastPending;
    ELSE
        -- Number this transaction's changes after the published ones, in the order they were
        -- logged, and bring the provisional sequence past the counter so that later writers
        -- are back in the first case.
        UPDATE Changes c SET seq = published + r.n
            FROM (SELECT u.pendingId, row_number() OVER (ORDER BY u.pendingId) AS n
                  FROM Changes u WHERE u.seq IS NULL) r
            WHERE c.pendingId = r.pendingId;
        published := published + pending;
        PERFORM nextval('ChangesPending')
            FROM generate_series(1, published - (SELECT last_value FROM ChangesPending));
    END IF;
    UPDATE ChangesCounter SET value = published;
END;
$$ LANGUAGE plpgsql;
