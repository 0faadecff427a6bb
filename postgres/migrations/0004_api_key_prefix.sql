-- An API key's visible prefix was its first 8 characters, which is the whole
-- key when the key is that short (a WEBHOOKD_API_KEY such as demo-key). Cut
-- every stored prefix by the rule of webhookd.APIKeyVisiblePrefix: whd_ and
-- the 4 characters after it, or the first 4 characters of any other key.
UPDATE api_keys
SET prefix = CASE WHEN substr(prefix, 1, 4) = 'whd_' THEN substr(prefix, 1, 8) ELSE substr(prefix, 1, 4) END
WHERE length(prefix) > 4;
