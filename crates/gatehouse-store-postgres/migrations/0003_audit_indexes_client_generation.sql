-- Gatehouse schema for PostgreSQL, version 3 (as the SQLite backend's version 3): fewer
-- authentication-log indexes, and client changes in the configuration generation.

-- Authentication log. Every appended event used to update nine secondary indexes. These
-- are the ones `list_events` (an env_id, any of the filters, newest or oldest first by id)
-- and `purge_events` (an env_id, at_ms < cut-off) need:
--   audit_events_by_env          (env_id, id)                  kept: the order of every listing, after_id tailing,
--                                                              and the scan that serves the broad filters
--   audit_events_by_correlation  (env_id, correlation_id, id)  kept: traces
--   audit_events_by_time         (env_id, at_ms, id)           kept: time ranges, retention purge
--   audit_events_by_client       (env_id, client_id, id)       kept: a client's events (now without rows lacking a client)
--   audit_events_by_user         (env_id, user_id, id)         partial: only events with a user
--   audit_events_by_error        (env_id, error, id)           partial: only events with an error (failures)
--   audit_events_failures        (env_id, id)                  new, partial: outcome = 'failure' only
-- Dropped: by_outcome (two values; failures have their own partial index, and successes are
-- most of the log, so the by_env scan finds a page of them at once), by_event and
-- by_resource (a handful of step names and MCP servers per environment, each a large share
-- of the log: the by_env scan in id order finds a page of them quickly). A successful
-- client_credentials event now updates four indexes instead of nine.
-- The store writes `outcome = 'failure'` as a literal, so generic plans can use the
-- partial index too.
DROP INDEX audit_events_by_outcome;
DROP INDEX audit_events_by_event;
DROP INDEX audit_events_by_resource;
DROP INDEX audit_events_by_user;
DROP INDEX audit_events_by_error;
DROP INDEX audit_events_by_client;
CREATE INDEX audit_events_by_client ON audit_events (env_id, client_id, id)
    WHERE client_id IS NOT NULL;
CREATE INDEX audit_events_by_user ON audit_events (env_id, user_id, id)
    WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_by_error ON audit_events (env_id, error, id)
    WHERE error IS NOT NULL;
CREATE INDEX audit_events_failures ON audit_events (env_id, id)
    WHERE outcome = 'failure';

-- Clients and their secrets bump the generation too, so a node can cache them (and the
-- secret hashes) and still see what another node or the CLI changed. Only what
-- authentication reads: creation, deletion, and a change of kind, metadata or the disabled
-- flag; not the last use or the registration count, which change all the time (an
-- identical re-registration rewrites the same metadata, which the WHEN clause ignores).
-- Deleting a client deletes its secrets (ON DELETE CASCADE), whose triggers fire too.
CREATE TRIGGER clients_bump_generation
    AFTER INSERT OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_generation();
CREATE TRIGGER clients_update_bumps_generation
    AFTER UPDATE OF env_id, client_id, kind, metadata, disabled ON clients
    FOR EACH ROW
    WHEN (OLD.env_id IS DISTINCT FROM NEW.env_id OR OLD.client_id IS DISTINCT FROM NEW.client_id
          OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.metadata IS DISTINCT FROM NEW.metadata
          OR OLD.disabled IS DISTINCT FROM NEW.disabled)
    EXECUTE FUNCTION gatehouse_bump_generation();
CREATE TRIGGER client_secrets_bump_generation
    AFTER INSERT OR UPDATE OR DELETE ON client_secrets
    FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_generation();
