-- Each user's language for the pages (issue 8, "Languages"); NULL: the service's TELECARE_SERVICE_LANGUAGE.
ALTER TABLE users ADD COLUMN language text CHECK (language IN ('ca', 'es', 'en'));
