-- Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d).
-- POSTGRES_DB already created `workup` (the application's database); Prefect's server keeps
-- its own state in a separate `prefect` database on the same server.
CREATE DATABASE prefect OWNER workup;
