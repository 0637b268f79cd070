-- Gatehouse schema for PostgreSQL, version 4 (as the SQLite backend's version 4): the index
-- that finds a consent's grants no longer starts with env_id.
--
-- `get_grant`, the family lock of a refresh rotation and the refresh token's join all look a
-- grant up by `env_id = $1 AND id = $2`. On a new database (tables empty, never analysed)
-- the planner costs `grants_pkey` (id) and `grants_by_consent` (env_id, ...) the same for
-- those statements, and the generic plan a connection caches could take the latter: an
-- index range over every grant of the environment, filtered on id. Measured on a fresh
-- database under the authorization-code benchmark: 780 us per grant lookup and growing
-- with the table, until an ANALYZE invalidated the plan. Without env_id in front, the
-- primary key is the only index those lookups can use; revoking a consent still finds its
-- grants by (user_id, client_id, resource_id) (user ids are unique across environments)
-- and checks env_id on the rows.
DROP INDEX grants_by_consent;
CREATE INDEX grants_by_consent ON grants (user_id, client_id, resource_id);
