-- Feedback counts wider than UInt32. Contract v1.1's counts form carries up to 2^32 - 1
-- responses per rating in one event, so one event's total, and a window's sum over its events,
-- can pass UInt32: the window's insert was refused and retried for ever (the store stalled on
-- valid events) and such an event's row was dead-lettered. Per-rating counts of one event stay
-- UInt32 (the contract's bound); incidents and themes are counted one per event or response.
ALTER TABLE {db}.unit_windows
    MODIFY COLUMN fft_counts Array(UInt64),
    MODIFY COLUMN fft_responses UInt64,
    MODIFY COLUMN fft_positive UInt64,
    MODIFY COLUMN fft_negative UInt64;

ALTER TABLE {db}.patient_feedback MODIFY COLUMN responses UInt64 DEFAULT 1;
