-- Gatehouse schema for SQLite, version 4 (as the PostgreSQL backend's version 4): the index
-- that finds a consent's grants no longer starts with env_id. On PostgreSQL a cached generic
-- plan could take it for a lookup by (env_id, id) on a new database (see that backend's
-- migration 4); SQLite's planner always takes the primary key there, and the two schemas
-- keep the same indexes. Revoking a consent finds its grants by (user_id, client_id,
-- resource_id) and checks env_id on the rows.
DROP INDEX grants_by_consent;
CREATE INDEX grants_by_consent ON grants (user_id, client_id, resource_id);
