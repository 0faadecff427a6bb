-- The W3C traceparent of the request that published an event, sent with
-- every attempt so that the receiver's trace continues the publisher's
-- ('' when there was none). A constant default: no table rewrite.
ALTER TABLE events ADD COLUMN IF NOT EXISTS traceparent text NOT NULL DEFAULT '';
