-- A person may start a call outside the resident's calling hours only when marking it urgent: keep that mark.
ALTER TABLE call_log ADD COLUMN urgent boolean NOT NULL DEFAULT false;
