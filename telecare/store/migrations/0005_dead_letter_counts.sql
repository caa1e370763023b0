-- Dead letters are pruned after TELECARE_RETENTION_DEAD_LETTERS_DAYS (junk must not grow the table
-- without bound); what they were is kept as counts per UTC day and reason, folded in by the prune.
-- Written only by ingest/sink.py, like dead_letters itself.
CREATE TABLE dead_letter_counts (
    day     date NOT NULL,
    reason  text NOT NULL,
    count   bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (day, reason)
);
