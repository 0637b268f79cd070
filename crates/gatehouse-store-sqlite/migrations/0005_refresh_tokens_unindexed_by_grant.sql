-- Gatehouse schema for SQLite, version 5 (as the PostgreSQL backend's version 5): refresh
-- tokens are no longer indexed by grant.
--
-- Revoking a family now marks only its grant; every read of a refresh token joins its grant
-- and takes the grant's revocation as the token's (`COALESCE(t.revoked_at, g.revoked_at)`),
-- so nothing looks tokens up by grant any more. The index cost every rotation an entry at a
-- random place (grant ids are random), about a third of the pages a rotation wrote to the
-- WAL. Tokens revoked by earlier versions keep their own `revoked_at`.
DROP INDEX refresh_tokens_by_grant;
