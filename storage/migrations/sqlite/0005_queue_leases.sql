-- Claim-based leasing for `/queue`, as on PostgreSQL (where several nodes
-- share the table): a claimer (owner = its node id) holds messages until
-- `lease_until`, renews the lease while it holds them, and gives them back by
-- clearing `owner`; a message whose lease ran out may be claimed again.
ALTER TABLE queue_messages ADD COLUMN owner INTEGER;
-- Unix time in milliseconds.
ALTER TABLE queue_messages ADD COLUMN lease_until INTEGER;
CREATE INDEX queue_messages_queue ON queue_messages (queue, id);
CREATE INDEX queue_messages_owner ON queue_messages (owner) WHERE owner IS NOT NULL;
