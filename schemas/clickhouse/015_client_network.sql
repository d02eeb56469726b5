-- Where a session came from, without the address: the keyed hashes of the
-- client's address and of its network (IPv4 /24, IPv6 /48), so a review
-- tells a candidate's second session from the same home or school from
-- one elsewhere. Old rows read 0 ("not known").
ALTER TABLE proctor_events ADD COLUMN IF NOT EXISTS client_net_hash UInt64 AFTER client_ip_hash;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS client_ip_hash UInt64 AFTER user_agent;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS client_net_hash UInt64 AFTER client_ip_hash
