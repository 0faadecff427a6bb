-- The W3C traceparent of the request that published an event, sent with
-- every attempt so that the receiver's trace continues the publisher's
-- ('' when there was none).
ALTER TABLE events ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
