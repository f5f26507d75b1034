-- ADMIN_EMAILS is now read on every request and never copied into "user".role, so that removing an address
-- from the list takes the role away. Before this version the role was copied at sign-up (verified address
-- or not) and Better Auth's admin endpoints could set it; neither is a grant an operator made knowingly.
-- Every stored admin role is therefore cleared: addresses still in ADMIN_EMAILS keep the role through the
-- list (once verified); anyone else needs `npm run credits -- admin grant --email …`.
UPDATE "user" SET "role" = 'user' WHERE "role" = 'admin';
