-- Signal ids are forgotten after the deduplication window, oldest first.
CREATE INDEX signals_by_age ON signals(received_at);
