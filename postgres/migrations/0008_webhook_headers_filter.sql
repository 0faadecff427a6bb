-- A webhook's custom headers, sent with every attempt (name to value), and
-- its payload filter (a CEL expression; '' for none).
ALTER TABLE webhooks ADD COLUMN headers jsonb NOT NULL DEFAULT '{}';
ALTER TABLE webhooks ADD COLUMN filter text NOT NULL DEFAULT '';
