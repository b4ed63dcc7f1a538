-- Key work compares the clock with the latest audit time, and the CRL
-- check with the latest revocation, before every run: both by index.
CREATE INDEX audit_at ON audit (at);
CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE state = 'revoked';
