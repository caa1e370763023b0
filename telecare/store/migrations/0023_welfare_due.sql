-- A task left unreached owes the resident a welfare_check alert. welfare_due_at is when it became owed; it goes
-- back to NULL once the alert sink took the raise. The dialer's sweep raises whatever is still owed a minute
-- later, so a raise that failed (the bus or the alert store down at that moment) is late instead of lost.
-- Tasks unreached before this migration had their raise attempted then: NULL, nothing owed.
ALTER TABLE call_tasks ADD COLUMN welfare_due_at timestamptz;
CREATE INDEX call_tasks_welfare_due ON call_tasks (welfare_due_at) WHERE welfare_due_at IS NOT NULL;
