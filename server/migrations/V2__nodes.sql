-- perudo's PostgreSQL schema, version 2: the nodes sharing this database.
--
-- A node inserts its row at start and, for as long as it runs, holds the session advisory
-- lock (1885696629, id) on a connection of its own. PostgreSQL releases a session's locks the
-- moment the session ends, so a node killed outright (its process gone, its sockets closed by
-- the kernel) disappears from `live_nodes` at once, long before its leases expire: the other
-- nodes take its rooms over without waiting for them to. A node that is paused or cut off
-- keeps its session (and its lock) until PostgreSQL notices; then the lease's expiry is what
-- hands its rooms over.
CREATE TABLE nodes (
    -- The second key of the node's advisory lock (the first is 1885696629, "peru").
    id SERIAL PRIMARY KEY,
    -- The name the node writes in `leases.node`.
    name TEXT NOT NULL UNIQUE,
    -- Where the other nodes reach it (`--node-url`), to pass it the sockets of its rooms;
    -- NULL: nowhere.
    url TEXT,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The nodes whose session still holds their lock: the live ones.
CREATE VIEW live_nodes AS
SELECT n.id, n.name, n.url
FROM nodes n
JOIN pg_locks l
    ON l.locktype = 'advisory'
    AND l.classid = 1885696629::oid
    AND l.objid = n.id::oid
    AND l.objsubid = 2
    AND l.granted
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database());
