-- The dedupe keys' age index is only read by the 35-day prune (a range delete), and the keys arrive in time
-- order: a BRIN index (one summary per 128 pages) answers that range as well as the B-tree did, at a fraction
-- of the B-tree's write cost per stored event and of its size (at 17k events/s, 35 days of keys is billions of
-- rows). The primary key (gateway_id, msg_id) is the dedupe check itself and stays a B-tree.
DROP INDEX IF EXISTS event_keys_received_idx;
CREATE INDEX event_keys_received_brin ON event_keys USING brin (received_at);
