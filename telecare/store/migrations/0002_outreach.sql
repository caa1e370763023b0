-- Proactive outreach: campaigns, planned call tasks, the call log, alert escalations.

CREATE TABLE campaigns (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('weather', 'information')),
    title           text NOT NULL,
    message         text NOT NULL,
    mode            text NOT NULL DEFAULT 'automated' CHECK (mode IN ('automated', 'human')),
    source_id       text UNIQUE,          -- CAP <identifier>: the same warning ingested twice is one campaign
    event           text,
    severity        text,
    urgency         text,
    onset           timestamptz,
    expires         timestamptz,
    area            jsonb,
    audience        jsonb NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'done', 'cancelled')),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL
);

CREATE TABLE call_tasks (
    id              bigserial PRIMARY KEY,
    resident_id     text NOT NULL REFERENCES residents(id),
    purpose         text NOT NULL CHECK (purpose IN ('follow_up', 'birthday', 'weather', 'information',
                                                     'reminder', 'escalation', 'welfare')),
    mode            text NOT NULL CHECK (mode IN ('human', 'automated')),
    campaign_id     bigint REFERENCES campaigns(id),
    alert_id        bigint REFERENCES alerts(id),
    due_date        date NOT NULL,        -- the resident's local date the call is for
    not_before      timestamptz NOT NULL, -- calling-hours window, in UTC
    not_after       timestamptz NOT NULL,
    priority        integer NOT NULL DEFAULT 100,  -- lower is more urgent (risk first)
    assigned_to     text,                  -- team or named caller
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'dialing', 'done', 'unreached', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 3,
    next_attempt_at timestamptz NOT NULL,
    reason          text NOT NULL DEFAULT '',
    dedupe_key      text NOT NULL UNIQUE,  -- e.g. follow_up:r1:2026-11-22: planning twice creates nothing new
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX call_tasks_due_idx ON call_tasks (status, next_attempt_at);
CREATE INDEX call_tasks_resident_idx ON call_tasks (resident_id, due_date);
CREATE INDEX call_tasks_campaign_idx ON call_tasks (campaign_id) WHERE campaign_id IS NOT NULL;

-- One row per call attempt. Failed attempts carry a FHIR communication-not-done-reason code.
CREATE TABLE call_log (
    id              bigserial PRIMARY KEY,
    task_id         bigint REFERENCES call_tasks(id),
    resident_id     text NOT NULL REFERENCES residents(id),
    purpose         text NOT NULL,
    campaign_id     bigint REFERENCES campaigns(id),
    alert_id        bigint REFERENCES alerts(id),
    caller          text NOT NULL,         -- a person's name, or 'automated'
    mode            text NOT NULL CHECK (mode IN ('human', 'automated')),
    phone           text NOT NULL,
    attempt         integer NOT NULL DEFAULT 1,
    started_at      timestamptz NOT NULL,
    answered_at     timestamptz,
    ended_at        timestamptz,
    outcome         text,                  -- fine, concern, no_answer, busy, wrong_number, declined, failed, ...
    digits          text,
    note            text,
    provider_call_id text UNIQUE,
    not_done_reason text
);
CREATE INDEX call_log_resident_idx ON call_log (resident_id, started_at DESC);
CREATE INDEX call_log_started_idx ON call_log (started_at DESC);
CREATE INDEX call_log_campaign_idx ON call_log (campaign_id) WHERE campaign_id IS NOT NULL;

-- Escalation state of an unacknowledged alert, persisted so a restart resumes it.
CREATE TABLE escalations (
    alert_id        bigint PRIMARY KEY REFERENCES alerts(id),
    tier            integer NOT NULL DEFAULT 1,   -- 1 operators, 2 second tier, 3 key-holders
    next_at         timestamptz NOT NULL,
    contact_index   integer NOT NULL DEFAULT 0,
    state           text NOT NULL DEFAULT 'armed' CHECK (state IN ('armed', 'calling', 'accepted', 'exhausted', 'stopped')),
    updated_at      timestamptz NOT NULL
);
