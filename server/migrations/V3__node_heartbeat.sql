-- perudo's PostgreSQL schema, version 3: when each node last renewed its leases.
--
-- A paused node (SIGSTOP, a frozen VM) keeps its session and its advisory lock, so it stays
-- in `live_nodes`, but it renews nothing. Its rooms are orphaned once their leases expire,
-- and the survivors share them out by the number of nodes that can take some: counting the
-- paused node there made each survivor take only a fraction per tick (30 rooms of a paused
-- node took 12 s to move with 5 s leases). The lease renewal writes `renewed_at` in the same
-- statement; a node whose `renewed_at` is older than a lease is not counted.
ALTER TABLE nodes ADD COLUMN renewed_at TIMESTAMPTZ NOT NULL DEFAULT now();
