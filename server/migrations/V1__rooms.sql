-- perudo's PostgreSQL schema, version 1: the same rooms, games and moves as the SQLite file
-- (JSON kept as text, exactly as encoded, so both stores hold the same bytes), and the room
-- leases of nodes sharing this database.
CREATE TABLE rooms (
    code TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    version BIGINT NOT NULL,
    lobby TEXT NOT NULL,
    clock TEXT,
    closed_ms BIGINT
);
CREATE INDEX rooms_closed ON rooms (closed_ms) WHERE closed_ms IS NOT NULL;

CREATE TABLE games (
    code TEXT NOT NULL,
    number BIGINT NOT NULL,
    config TEXT NOT NULL,
    names TEXT NOT NULL,
    seed TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT,
    results TEXT,
    PRIMARY KEY (code, number)
);
CREATE INDEX games_finished ON games (finished_ms) WHERE finished_ms IS NOT NULL;

CREATE TABLE moves (
    code TEXT NOT NULL,
    number BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    move TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (code, number, seq)
);

-- Which node runs which room. `epoch` is the fencing token: it grows by one at every change
-- of owner, and every write of a room's batch checks that its node still holds the epoch it
-- was given and that the lease has not expired.
CREATE TABLE leases (
    code TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX leases_node ON leases (node);
