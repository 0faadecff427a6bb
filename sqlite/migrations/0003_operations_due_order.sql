-- Claims take due operations in (next_step_time, id) order; with id in the
-- index that order comes from the index instead of a sort of every due row.
DROP INDEX operations_due;
CREATE INDEX operations_due ON operations (next_step_time, id) WHERE next_step_time IS NOT NULL;
