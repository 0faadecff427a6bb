-- A webhook's custom headers, sent with every attempt (a JSON object of
-- name to value), and its payload filter (a CEL expression; '' for none).
ALTER TABLE webhooks ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';
ALTER TABLE webhooks ADD COLUMN filter TEXT NOT NULL DEFAULT '';
