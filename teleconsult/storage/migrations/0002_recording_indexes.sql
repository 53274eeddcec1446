-- Shared by both engines (no dialect suffix): the lists by organisation, and the
-- "recordings of this node" update every node runs when it starts.
CREATE INDEX IF NOT EXISTS recordings_org ON recordings(org_id, status);
CREATE INDEX IF NOT EXISTS recordings_node ON recordings(node);
