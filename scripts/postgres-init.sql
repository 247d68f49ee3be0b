-- Run once by the postgres image on an empty volume (docker-compose.yml): the orchestrator's own database,
-- beside the ones the Temporal server creates for itself.
CREATE DATABASE orchestrator;
