-- An alert's reason in the operator's language (docs/i18n.md): the catalogue msgid the reason was formatted
-- from ({placeholders}) and the values, as the first trigger gave them. `reason` stays the English line (logs,
-- history, older clients). NULL: an alert raised before this, or by a writer without a template.
ALTER TABLE alerts ADD COLUMN reason_template text,
                   ADD COLUMN reason_params jsonb;
