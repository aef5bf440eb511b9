-- Claim-based leasing for `/queue` in a cluster: a node claims messages for
-- its consumers (owner = its node id) until `lease_until`, renews the lease
-- while it holds them, and gives them back by clearing `owner`. A message
-- whose lease ran out (its node died) may be claimed by any node.
ALTER TABLE queue_messages ADD COLUMN owner INTEGER;
-- Unix time in milliseconds, by the database's clock (no skew between nodes).
ALTER TABLE queue_messages ADD COLUMN lease_until BIGINT;
-- A claim scans one queue's messages in id order.
CREATE INDEX queue_messages_queue ON queue_messages (queue, id);
-- A renewal and a restarted node's release find a node's messages.
CREATE INDEX queue_messages_owner ON queue_messages (owner) WHERE owner IS NOT NULL;
