-- A returning company's last completed order, found by its USCC (the
-- applicant is offered its name, legal representative and address).
CREATE INDEX orders_uscc ON orders (json_extract(body, '$.application.organization.uscc'), state, updated_at);
